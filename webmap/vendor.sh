#!/usr/bin/env bash
# Reproduce webmap/static/vendor/ from the npm registry. The output is committed, so neither `make`
# nor the running app needs node or network access (the map runs on the government intranet).
# Run by hand to upgrade: edit the versions below, run `bash webmap/vendor.sh`, commit the result.
set -euo pipefail

PACKAGES=(
  "maplibre-gl@6.17.0"                     # the map (ES modules: main bundle + its worker)
  "terra-draw@1.35.0"                      # drawing and editing lines / polygons
  "terra-draw-maplibre-gl-adapter@1.4.1"   # terra-draw on a MapLibre map
  "@maplibre/maplibre-gl-style-spec@26.6.0" # the style validator (tests/test_style.py runs it with node; not served)
  "swagger-ui-dist@5.35.0"                 # the API's interactive docs at /api/docs (no CDN on the intranet)
  "echarts@6.1.0"                          # charts of the statistics pages
  "openseadragon@6.1.1"                    # deep-zoom viewer of review drawings (its own buttons are not used)
)
# Files taken from each package's tarball (paths inside it), copied flat into vendor/<name>/.
declare -A FILES=(
  [maplibre-gl]="dist/maplibre-gl.mjs dist/maplibre-gl-worker.mjs dist/maplibre-gl.css LICENSE.txt"
  [terra-draw]="dist/terra-draw.modern.js package.json"  # MIT (no LICENSE file in the tarball)
  [terra-draw-maplibre-gl-adapter]="dist/terra-draw-maplibre-gl-adapter.modern.js package.json"  # MIT
  [@maplibre/maplibre-gl-style-spec]="dist/gl-style-validate.mjs LICENSE.txt"
  [swagger-ui-dist]="swagger-ui-bundle.js swagger-ui.css LICENSE"
  [echarts]="dist/echarts.min.js LICENSE"
  [openseadragon]="build/openseadragon/openseadragon.min.js LICENSE.txt"
)
# Where each package goes (default: static/vendor/<name>, served to the browser).
declare -A DEST=(
  [@maplibre/maplibre-gl-style-spec]="$(cd "$(dirname "$0")" && pwd)/tools/maplibre-gl-style-spec"
)

here=$(cd "$(dirname "$0")" && pwd)
out="$here/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
rm -rf "$out" "${DEST[@]}"
mkdir -p "$out"
echo "# npm package@version, then the first 32 hex digits of the sha512 of its tarball" > "$out/VERSIONS"
for spec in "${PACKAGES[@]}"; do
  name=${spec%@*}
  dir=${DEST[$name]:-$out/$name}
  tarball=$(npm pack --silent "$spec")
  mkdir -p "$name" && tar -xzf "$tarball" -C "$name"
  mkdir -p "$dir"
  for f in ${FILES[$name]}; do
    src="$name/package/$f"
    test -f "$src" || { echo "missing $src in $spec" >&2; exit 1; }
    dest="$dir/$(basename "$src")"
    # Source maps are not shipped: drop the comment pointing at them.
    sed -e '/^\/\/# sourceMappingURL=/d' -e 's|//# sourceMappingURL=[^ ]*\.map$||' "$src" > "$dest"
  done
  echo "$spec $(sha512sum "$tarball" | cut -c1-32)" >> "$out/VERSIONS"
done
du -sh "$out"
