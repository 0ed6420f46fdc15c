#!/usr/bin/env bash
# Copies the page's third-party runtime files from tests/node_modules (npm, pinned in tests/package.json) into
# www/vendor/ (a build output, not committed): pdf.js for reading PDF text in the worker. Idempotent.
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
