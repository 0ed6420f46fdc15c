#!/usr/bin/env bash
# Builds the Chrome MV3 extension "hearth: ask this page" (make extension) into extension/dist/: the
# extension's own files (extension/), the hearth-web package as staged by scripts/package.sh, and the weights
# it bundles (SmolLM2-135M-Instruct and the MiniLM embedder, from models/cache: run make models first).
# Load it with chrome://extensions → "Load unpacked" → extension/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=target/package/hearth-web
[ -f "$PKG/client.js" ] || { echo "extension: $PKG is missing: run make package first" >&2; exit 1; }
GGUF=models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
EMB=models/cache/minilm-l6-v2
for f in "$GGUF" "$EMB/model.safetensors" "$EMB/config.json" "$EMB/tokenizer.json"; do
  [ -f "$f" ] || { echo "extension: $f is missing: run make models first" >&2; exit 1; }
done
DIST=extension/dist
rm -rf "$DIST"
mkdir -p "$DIST/models/minilm-l6-v2"
cp extension/manifest.json extension/*.js extension/*.html extension/*.css "$DIST/"
cp -r "$PKG" "$DIST/hearth-web"
rm -f "$DIST/hearth-web/"*.d.ts "$DIST/hearth-web/pkg"*/*.d.ts "$DIST/hearth-web/package.json" "$DIST/hearth-web/README.md"
# Hard links where the file system allows (the weights are 190 MB), copies otherwise.
link() { ln -f "$1" "$2" 2>/dev/null || cp "$1" "$2"; }
link "$GGUF" "$DIST/models/$(basename "$GGUF")"
for f in model.safetensors config.json tokenizer.json; do link "$EMB/$f" "$DIST/models/minilm-l6-v2/$f"; done
# The bundled model's size and sha256 (from models/manifest.json): chrome-extension:// responses carry no
# Content-Length, and without the size up front the model cannot be split across threads.
python3 - "$DIST/models/model.json" <<'PY'
import json, sys
m = json.load(open("models/manifest.json"))
f = next(e for e in m["models"] if e["id"] == "smollm2-135m-instruct")["files"][0]
json.dump({"file": f["name"], "size": f["size"], "sha256": f["sha256"]}, open(sys.argv[1], "w"))
PY
echo "extension: $DIST ($(du -shL "$DIST" | cut -f1)); load it unpacked from chrome://extensions"
