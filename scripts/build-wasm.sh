#!/usr/bin/env bash
# Builds the wasm package with the settings in wasm-pack.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
# `build-wasm.sh bench`: the benchmark packages (www/bench/pkg*, with the `bench` feature) instead of the page's.
FEATURES=()
if [ "${1:-}" = bench ]; then
  FEATURES=(-- --features bench)
  WASM_OUT_DIR=www/bench/pkg WASM_RELAXED_OUT_DIR=www/bench/pkg-relaxed
fi
build() { # out_dir, then extra wasm-opt flags
  wasm-pack build crate --mode no-install --no-opt --"$WASM_PROFILE" --target "$WASM_TARGET" --out-dir "../$1" --no-pack "${FEATURES[@]}"
  if [ "$WASM_OPT_ENABLED" = 1 ]; then
    OPT=tests/node_modules/.bin/wasm-opt
    [ -x "$OPT" ] || { echo "wasm-opt missing: run scripts/setup.sh" >&2; exit 1; }
    # shellcheck disable=SC2086
    "$OPT" $WASM_OPT_ARGS ${2:-} "$1/hearth_bg.wasm" -o "$1/hearth_bg.wasm"
  fi
  ls -l "$1"/hearth_bg.wasm
}
# --mode no-install: use the wasm-bindgen on PATH (scripts/setup.sh installs it); never download one.
build "$WASM_OUT_DIR"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$PWD/$WASM_RELAXED_TARGET_DIR" \
  build "$WASM_RELAXED_OUT_DIR" --enable-relaxed-simd
