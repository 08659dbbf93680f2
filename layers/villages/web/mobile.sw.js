// The service worker of the farmhouse inspection phone page (scope /m/villages): keeps the page's shell so that it
// starts without a network on site. Only the shell is cached (the page, its script and style, the shared API
// helper and the icon); API responses never are — inspections recorded offline wait in the page's IndexedDB queue,
// and the house records read before are kept by the page itself. Network first (the server revalidates with ETags),
// the cached copy when the network fails or is slow.
const CACHE = "cj-villages-shell-v1";
const SHELL = ["/m/villages", "/m/villages/mobile.js", "/m/villages/mobile.css", "/static/js/api.js",
  "/m/static/icons/icon-192.png"];
const NETWORK_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("cj-villages-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function shellKey(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return null;
  const path = url.pathname === "/m/villages/" ? "/m/villages" : url.pathname;
  return SHELL.includes(path) ? path : null;
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key, response.clone());
    return response;
  });
  network.catch(() => {});
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
  } catch {
    // offline: the cached copy below
  }
  const cached = await cache.match(key);
  return cached || network;
}

self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request);
  if (key) event.respondWith(networkFirst(event.request, key));
});
