#!/usr/bin/env bash
# Reproduce layers/standard_sites/web/mobile/static/vendor/ (the phone app's third-party scripts) from the npm registry, as
# webmap/vendor.sh does for the map page. The output is committed: neither `make` nor the running app needs node
# or network access, and the service worker caches it with the rest of the app shell (sw.js SHELL).
# Run by hand to upgrade: edit the version and the tarball's integrity below (`npm view NAME@VERSION
# dist.integrity`), run `bash layers/standard_sites/web/mobile/vendor.sh`, add the new files to sw.js's SHELL, commit the result.
set -euo pipefail

PACKAGES=(
  # EXIF written into the photos of the in-app camera (capture time, GPS position); MIT. Classic script: window.piexif.
  "piexifjs@1.0.6 sha512-0wVyH0cKohzBQ5Gi2V1BuxYpxWfxF3cSqfFXfPIpl5tl9XLS5z4ogqhUCD20AbHi0h9aJkqXNJnkVev6gwh2ag=="
)
# Files taken from each package's tarball (paths inside it), copied flat into vendor/<name>/.
declare -A FILES=(
  [piexifjs]="piexif.js LICENSE.txt"
)

here=$(cd "$(dirname "$0")" && pwd)
out="$here/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
rm -rf "$out"
mkdir -p "$out"
echo "# npm package@version, then the integrity (sha512, as the registry publishes it) of its tarball" > "$out/VERSIONS"
for entry in "${PACKAGES[@]}"; do
  spec=${entry%% *}
  integrity=${entry#* }
  name=${spec%@*}
  tarball=$(npm pack --silent "$spec")
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "integrity mismatch for $spec: expected $integrity, got $got" >&2
    exit 1
  fi
  mkdir -p "$name" && tar -xzf "$tarball" -C "$name"
  mkdir -p "$out/$name"
  for f in ${FILES[$name]}; do
    src="$name/package/$f"
    test -f "$src" || { echo "missing $src in $spec" >&2; exit 1; }
    sed -e '/^\/\/# sourceMappingURL=/d' "$src" > "$out/$name/$(basename "$src")"
  done
  echo "$spec $integrity" >> "$out/VERSIONS"
done
du -sh "$out"
