#!/usr/bin/env bash
# Builds the npm package hearth-web (make package): the typed client (client.js + client.d.ts), the engine's
# module worker and its modules, both wasm builds (SIMD128 and relaxed SIMD), the <hearth-chat> widget and
# pdf.js (optional: only a PDF document loads it), staged in target/package/ and packed by `npm pack` into
# target/hearth-web-<version>.tgz. The wasm packages must be built first (make wasm). No model weights.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' crate/Cargo.toml | head -n1)
STAGE=target/package/hearth-web
for f in www/pkg/hearth_bg.wasm www/pkg-relaxed/hearth_bg.wasm www/vendor/pdfjs/pdf.min.mjs; do
  [ -f "$f" ] || { echo "package: $f is missing: run make wasm first" >&2; exit 1; }
done
rm -rf "$STAGE"
mkdir -p "$STAGE/pkg" "$STAGE/pkg-relaxed" "$STAGE/vendor/pdfjs"
# The modules the client and the worker import (nothing of the demo page: app.js, index.html, style.css…).
MODULES=(client.js client.d.ts widget.js widget.d.ts model-client.js errors.js worker.js download.js library-host.js
  storage.js formats.js pdf-text.js wasm-package.js wasm-build.js model-host.js shard-pool.js shard-host.js embed-pool.js
  shard-worker.js PROTOCOL.md)
for f in "${MODULES[@]}"; do cp "www/$f" "$STAGE/$f"; done
for d in pkg pkg-relaxed; do
  cp www/$d/hearth.js www/$d/hearth.d.ts www/$d/hearth_bg.wasm www/$d/hearth_bg.wasm.d.ts "$STAGE/$d/"
done
cp www/vendor/pdfjs/pdf.min.mjs www/vendor/pdfjs/pdf.worker.min.mjs www/vendor/pdfjs/LICENSE "$STAGE/vendor/pdfjs/"
cp scripts/package-readme.md "$STAGE/README.md"
cat > "$STAGE/package.json" <<JSON
{
  "name": "hearth-web",
  "version": "$VERSION",
  "description": "A small language model and document retrieval that run in the browser (WebAssembly SIMD, CPU): chat, cited answers from your documents, nothing sent anywhere.",
  "type": "module",
  "license": "Apache-2.0",
  "main": "./client.js",
  "types": "./client.d.ts",
  "exports": {
    ".": { "types": "./client.d.ts", "default": "./client.js" },
    "./widget": { "types": "./widget.d.ts", "default": "./widget.js" },
    "./worker.js": "./worker.js",
    "./package.json": "./package.json"
  },
  "sideEffects": ["./widget.js"],
  "files": ["*.js", "*.d.ts", "PROTOCOL.md", "pkg/", "pkg-relaxed/", "vendor/"],
  "keywords": ["llm", "webassembly", "wasm", "simd", "rag", "gguf", "offline", "privacy", "openai"]
}
JSON
(cd target && npm pack --silent "./package/hearth-web" >/dev/null)
TGZ="target/hearth-web-$VERSION.tgz"
[ -f "$TGZ" ] || { echo "package: npm pack did not write $TGZ" >&2; exit 1; }
echo "package: $TGZ ($(du -h "$TGZ" | cut -f1); $(tar tzf "$TGZ" | wc -l) files)"
