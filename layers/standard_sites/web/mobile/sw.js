// The phone app's service worker (scope /m): keeps the app shell so that the app starts without a network.
//
// Only the shell is cached — the page, its scripts, styles, icons and manifest. API responses are never cached
// (the service worker does not answer them at all: they go to the network as if it were not there), so nothing
// shown as the server's state is ever stale; photos taken offline wait in the page's IndexedDB queue instead.
// The shell is fetched network-first (the server revalidates with ETags), falling back to the cache when the
// network fails or takes longer than a few seconds.
const CACHE = "cj-mobile-shell-v4"; // a new name when the list changes
const SHELL = [
  "/m",
  "/m/manifest.webmanifest",
  "/m/static/mobile.css",
  "/m/static/js/app.js",
  "/m/static/js/ui.js",
  "/m/static/js/location.js",
  "/m/static/js/queue.js",
  "/m/static/js/capture.js",
  "/m/static/js/camera.js",
  "/m/static/vendor/piexifjs/piexif.js",
  "/m/static/js/screens/account.js",
  "/m/static/js/screens/bonus.js",
  "/m/static/js/screens/case.js",
  "/m/static/js/screens/evaluation.js",
  "/m/static/js/screens/projects.js",
  "/m/static/js/screens/report.js",
  "/m/static/js/screens/sites.js",
  "/m/static/js/screens/stage.js",
  "/m/static/js/screens/uploads.js",
  "/m/static/icons/icon-192.png",
  "/m/static/icons/icon-512.png",
  "/m/static/icons/icon-maskable-512.png",
  "/m/static/icons/apple-touch-icon.png",
  "/static/js/api.js",
];
const SHELL_PATHS = new Set(SHELL);
const NETWORK_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("cj-mobile-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The cache key of a request of the shell, or null for everything else (API calls, the map, photos …).
function shellKey(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return null;
  const path = url.pathname === "/m/" ? "/m" : url.pathname;
  if (SHELL_PATHS.has(path) || path.startsWith("/m/static/")) return path;
  return null;
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key, response.clone());
    return response;
  });
  network.catch(() => {}); // a late failure after the cache answered is nobody's business
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
  } catch {
    // offline or refused: the cached copy below
  }
  const cached = await cache.match(key);
  if (cached) return cached;
  return network; // nothing cached yet: wait for the network after all (or fail as the browser would)
}

self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request);
  if (key) event.respondWith(networkFirst(event.request, key));
  // Anything else: no respondWith — the browser fetches it from the network itself.
});
