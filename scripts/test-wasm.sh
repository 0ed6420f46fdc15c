#!/usr/bin/env bash
# Runs the wasm-bindgen tests in headless Chromium (Debian's chromium + chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
cd crate
# webdriver.json (in crate/) passes the Chromium flags this machine needs.
wasm-pack test --mode no-install --headless --chrome --release
# The same tests on the relaxed-SIMD build (its kernels must give the same exact integer sums).
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$PWD/../$WASM_RELAXED_TARGET_DIR" \
  wasm-pack test --mode no-install --headless --chrome --release
