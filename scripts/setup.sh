#!/usr/bin/env bash
# Installs what the build, the demo and the tests need; skips whatever is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
say() { echo "setup: $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  # Not --locked: that fails to resolve one of its dependencies.
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
  say "installing wasm-pack $WASM_PACK_VERSION (about 2 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --force
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -x /usr/bin/firefox-esr ]; then
  say "installing Debian's firefox-esr (the Firefox smoke test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq firefox-esr >/dev/null
fi
if [ ! -x /usr/bin/WebKitWebDriver ] || [ ! -x /usr/bin/Xvfb ]; then
  say "installing Debian's webkit2gtk-driver and xvfb (the WebKit smoke test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq webkit2gtk-driver xvfb >/dev/null
fi
if [ ! -x tests/node_modules/.bin/wasm-opt ] || [ ! -f tests/node_modules/pdfjs-dist/package.json ] || [ ! -f tests/node_modules/@wllama/wllama/package.json ] || [ ! -f tests/node_modules/puppeteer-core/package.json ] || [ tests/package.json -nt tests/node_modules/.package-lock.json ]; then
  say "installing the test and build npm packages"
  (cd tests && npm install --no-audit --no-fund)
fi
scripts/vendor.sh
say "tools ready ($SECONDS s)"
