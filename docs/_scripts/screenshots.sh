#!/usr/bin/env bash
# Headless screenshots of a few docs pages, to check the layout by eye.
#
# From the repository root:
#
#     bash docs/_scripts/screenshots.sh            # build if needed, then shoot
#     BUILD=1 bash docs/_scripts/screenshots.sh    # always rebuild first
#     HTML=/tmp/html bash docs/_scripts/screenshots.sh   # shoot another build
#
# Needs chromium (Debian: apt-get install -y chromium). The build, if run,
# skips the gallery (-D plot_gallery=0) unless PLOT_GALLERY=1; build the docs
# fully first (the README's docs command) to see the example figures.
# Writes docs/_build/screenshots/*.png (not committed).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
HTML=${HTML:-docs/_build/html}
OUT=docs/_build/screenshots
WIDTH=${WIDTH:-1400}
HEIGHT=${HEIGHT:-1000}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$CHROMIUM" ] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 1; }

if [ "${BUILD:-0}" = 1 ] || [ ! -f "$HTML/index.html" ]; then
  plot=()
  [ "${PLOT_GALLERY:-0}" = 1 ] || plot=(-D plot_gallery=0)
  "$PYTHON" -m sphinx -W --keep-going -b html "${plot[@]}" docs "$HTML"
fi

mkdir -p "$OUT"
# A fresh browser profile each run: no stale cached CSS or images.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# name  page (relative to the HTML root)  window height  [tiles]
# Headless chromium draws a blank page for a URL with a #fragment, so long
# pages are shot whole (a tall window) and cut into 1000-px-high tiles,
# NAME-1.png, NAME-2.png ..., when a tile count is given.
pages=(
  "landing index.html 1400"
  "api-detector gen_modules/skcae.ConvAutoencoderOutlierDetector.html 1000"
  "api-transformer gen_modules/skcae.ConvAutoencoder.html 1000"
  "gallery auto_examples/index.html 1100"
  "example-threshold auto_examples/plot_choosing_a_threshold.html 6000 6"
  "example-colour auto_examples/plot_colour_patches.html 6000 6"
  "user-guide user_guide.html 22000 22"
)
for entry in "${pages[@]}"; do
  read -r name page height tiles <<<"$entry"
  file="$HTML/$page"
  [ -f "$file" ] || { echo "skip $name: $file not built" >&2; continue; }
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --virtual-time-budget=3000 --window-size="$WIDTH,${height:-$HEIGHT}" \
    --screenshot="$OUT/$name.png" "file://$(realpath "$file")" >/dev/null 2>&1
  echo "wrote $OUT/$name.png  ($page)"
  if [ -n "${tiles:-}" ]; then
    "$PYTHON" - "$OUT/$name.png" "$tiles" <<'PY'
import sys
from pathlib import Path

from PIL import Image

path, tiles = Path(sys.argv[1]), int(sys.argv[2])
image = Image.open(path)
for i in range(tiles):
    top = i * 1000
    if top >= image.height:
        break
    tile = image.crop((0, top, image.width, min(top + 1000, image.height)))
    if tile.convert("L").getextrema() == (255, 255):
        break  # blank: past the end of the page
    tile.save(path.with_name(f"{path.stem}-{i + 1}.png"))
PY
  fi
done
