#!/usr/bin/env bash
# Builds the wasm package with the settings in wasm-pack.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
# --mode no-install: use the wasm-bindgen on PATH (scripts/setup.sh installs it); never download one.
wasm-pack build crate --mode no-install --no-opt --"$WASM_PROFILE" --target "$WASM_TARGET" --out-dir "../$WASM_OUT_DIR" --no-pack
if [ "$WASM_OPT_ENABLED" = 1 ]; then
  OPT=tests/node_modules/.bin/wasm-opt
  [ -x "$OPT" ] || { echo "wasm-opt missing: run scripts/setup.sh" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$OPT" $WASM_OPT_ARGS "$WASM_OUT_DIR/hearth_bg.wasm" -o "$WASM_OUT_DIR/hearth_bg.wasm"
fi
ls -l "$WASM_OUT_DIR"/hearth_bg.wasm
