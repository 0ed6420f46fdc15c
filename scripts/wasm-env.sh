#!/usr/bin/env bash
# Sourced by the wasm scripts: exports the settings of wasm-pack.toml as shell variables.
eval "$(python3 - <<'PY'
import tomllib, shlex
c = tomllib.load(open("wasm-pack.toml", "rb"))
b, o, t, r = c["build"], c["wasm-opt"], c["tools"], c["relaxed"]
v = {
    "WASM_TARGET": b["target"], "WASM_OUT_DIR": b["out_dir"], "WASM_PROFILE": b["profile"],
    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS": b["rustflags"],
    "WASM_OPT_ENABLED": "1" if o["enabled"] else "0", "WASM_OPT_ARGS": " ".join(o["args"]),
    "WASM_RELAXED_RUSTFLAGS": r["rustflags"], "WASM_RELAXED_OUT_DIR": r["out_dir"], "WASM_RELAXED_TARGET_DIR": r["target_dir"],
    "WASM_BINDGEN_VERSION": t["wasm_bindgen"], "WASM_PACK_VERSION": t["wasm_pack"], "BINARYEN_VERSION": t["binaryen"],
}
for k, x in v.items():
    print(f"export {k}={shlex.quote(x)}")
PY
)"
export PATH="$HOME/.cargo/bin:$PATH"
