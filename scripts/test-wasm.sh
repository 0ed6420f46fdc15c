#!/usr/bin/env bash
# Runs the wasm-bindgen tests in headless Chromium (Debian's chromium + chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
cd crate
# webdriver.json (in crate/) passes the Chromium flags this machine needs.
wasm-pack test --mode no-install --headless --chrome --release
