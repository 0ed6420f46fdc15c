#!/usr/bin/env bash
# Formatting and lints, as `make test` runs them: rustfmt (rustfmt.toml), clippy with warnings as errors
# natively and for wasm32 (with the relaxed build's flags, so the SIMD128 and relaxed-SIMD kernels are
# linted too, in that build's own target dir), and the JS unit tests of the page's pure helpers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$PWD/$WASM_RELAXED_TARGET_DIR" \
  cargo clippy --target wasm32-unknown-unknown -p hearth --features bench --lib --tests -- -D warnings
(cd tests && node --test unit/)
