#!/usr/bin/env bash
# Build llama.cpp's llama-tokenize, llama-perplexity and llama-bench as a
# REFERENCE-ONLY tool (never shipped with hearth).
#
# The sources come from the llama-cpp-python sdist on PyPI (vendor/llama.cpp),
# extracted into target/llama.cpp/src and built into target/llama.cpp/build
# (CPU only, Release, GGML_NATIVE=ON, no CURL/OpenSSL, static libs, -j2).
# Idempotent: does nothing when the three binaries already exist.
#
# Env: LLAMA_CPP_PYTHON_VERSION (default 0.3.36), JOBS (default 2),
#      WAIT_FOR (file to wait for before compiling; default /tmp/cargo_installs_done,
#      polled every 20 s for at most WAIT_MAX seconds, default 1500; set WAIT_FOR= to skip).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
JOBS="${JOBS:-2}"
WAIT_FOR="${WAIT_FOR-/tmp/cargo_installs_done}"
WAIT_MAX="${WAIT_MAX:-1500}"
BASE="$ROOT/target/llama.cpp"
SRC="$BASE/src"
BUILD="$BASE/build"
BIN="$BUILD/bin"
TARGETS=(llama-tokenize llama-perplexity llama-bench)

have_all() {
    for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
}

if have_all; then
    echo "llama.cpp reference binaries already built in $BIN"
    exit 0
fi

# 1. sources
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "downloading llama-cpp-python==$VERSION sdist from PyPI"
    # --no-binary only for this package: with ':all:' pip would also compile its
    # build dependencies (ninja, cmake) from source just to read the metadata.
    python3 -m pip download --no-deps --no-binary llama-cpp-python \
        --disable-pip-version-check -d "$tmp" "llama-cpp-python==$VERSION"
    sdist="$(ls "$tmp"/llama_cpp_python-*.tar.gz | head -n1)"
    [ -f "$sdist" ] || { echo "error: sdist not downloaded" >&2; exit 1; }
    echo "extracting vendor/llama.cpp from $(basename "$sdist")"
    tar -xzf "$sdist" -C "$tmp"
    top="$(ls -d "$tmp"/llama_cpp_python-*/ | head -n1)"
    [ -f "$top/vendor/llama.cpp/CMakeLists.txt" ] || { echo "error: no vendor/llama.cpp in sdist" >&2; exit 1; }
    rm -rf "$SRC"
    mkdir -p "$BASE"
    cp -a "$top/vendor/llama.cpp" "$SRC"
    rm -f "$SRC/.git"   # dangling submodule gitlink; build info comes from the CHANGELOG below
    # llama-cpp-python's CHANGELOG names the vendored llama.cpp commit.
    commit="$(awk -v v="## [$VERSION]" '$0==v{f=1;next} /^## \[/{if(f)exit} f' "$top/CHANGELOG.md" \
        | grep -o 'llama.cpp@[0-9a-f]*' | head -n1 | cut -d@ -f2 || true)"
    printf 'llama-cpp-python==%s\nllama.cpp commit %s\n' "$VERSION" "${commit:-unknown}" > "$SRC/HEARTH_VERSION.txt"
    rm -rf "$tmp"
    trap - EXIT
fi
COMMIT="$(sed -n 's/^llama.cpp commit //p' "$SRC/HEARTH_VERSION.txt" 2>/dev/null || echo unknown)"
echo "llama.cpp sources: $SRC (commit ${COMMIT:-unknown})"

# 2. wait for the other CPU-heavy job (2 cores only)
if [ -n "$WAIT_FOR" ] && [ ! -e "$WAIT_FOR" ]; then
    echo "waiting for $WAIT_FOR before compiling (poll 20 s, max ${WAIT_MAX} s)"
    waited=0
    while [ ! -e "$WAIT_FOR" ] && [ "$waited" -lt "$WAIT_MAX" ]; do
        sleep 20; waited=$((waited + 20))
    done
    [ -e "$WAIT_FOR" ] && echo "$WAIT_FOR appeared after ${waited} s" \
        || echo "still no $WAIT_FOR after ${waited} s; building anyway"
fi

# 3. configure + build (cmake from PyPI when the machine has none: this script installs its own tools)
if ! command -v cmake >/dev/null 2>&1; then
    echo "cmake not found: installing it from PyPI (pip install --user cmake)"
    python3 -m pip install --user --disable-pip-version-check -q cmake
    PATH="$(python3 -m site --user-base)/bin:$PATH"
    export PATH
fi
cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_RPC=OFF \
    -DLLAMA_BUILD_COMMIT="${COMMIT:-unknown}" \
    -DLLAMA_BUILD_NUMBER=0
cmake --build "$BUILD" --config Release -j "$JOBS" --target "${TARGETS[@]}"

have_all || { echo "error: build finished but binaries are missing in $BIN" >&2; exit 1; }
echo "built: ${TARGETS[*]} in $BIN"
"$BIN/llama-tokenize" --version 2>&1 | tail -n 2 || true
