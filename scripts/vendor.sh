#!/usr/bin/env bash
# Copies the page's third-party runtime files from tests/node_modules (npm, pinned in tests/package.json) into
# www/vendor/ (a build output, not committed): pdf.js for reading PDF text in the worker, and wllama (llama.cpp in
# wasm; a dev dependency) for the side-by-side benchmark page www/bench/index.html only. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=tests/node_modules/pdfjs-dist
DST=www/vendor/pdfjs
if [ ! -f "$SRC/build/pdf.min.mjs" ]; then
  echo "vendor: $SRC is missing: run scripts/setup.sh (npm install in tests/)" >&2
  exit 1
fi
mkdir -p "$DST"
for f in build/pdf.min.mjs build/pdf.worker.min.mjs LICENSE; do
  cmp -s "$SRC/$f" "$DST/$(basename "$f")" || cp "$SRC/$f" "$DST/$(basename "$f")"
done
node -e 'process.stdout.write(require("./'"$SRC"'/package.json").version)' > "$DST/VERSION"
echo "vendor: pdf.js $(cat "$DST/VERSION") in $DST"

# wllama: its ES module (self-contained; it starts its workers from blob: URLs) and both wasm builds.
W=tests/node_modules/@wllama/wllama
WDST=www/vendor/wllama
if [ -f "$W/esm/index.js" ]; then
  mkdir -p "$WDST/single-thread" "$WDST/multi-thread"
  for f in esm/index.js esm/single-thread/wllama.wasm esm/multi-thread/wllama.wasm LICENCE; do
    d="$WDST/${f#esm/}"
    cmp -s "$W/$f" "$d" || cp "$W/$f" "$d"
  done
  node -e 'process.stdout.write(require("./'"$W"'/package.json").version)' > "$WDST/VERSION"
  echo "vendor: wllama $(cat "$WDST/VERSION") in $WDST (benchmark only)"
else
  echo "vendor: $W is missing (only make bench needs it): run scripts/setup.sh" >&2
fi
