#!/usr/bin/env bash
# Greedy continuations from llama.cpp's llama-simple, for comparing hearth's decoding token-for-token.
# Writes tests/reference/generations.json. Needs build_llama_cpp.sh's build (with examples enabled).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=target/llama.cpp/build/bin
if [ ! -x "$BIN/llama-simple" ]; then
  (cd target/llama.cpp/build && cmake -DLLAMA_BUILD_EXAMPLES=ON . >/dev/null && cmake --build . --target llama-simple -j2)
fi
python3 - "$BIN/llama-simple" <<'PY'
import json, subprocess, sys
simple = sys.argv[1]
cases = [
    ("smollm2-135m-instruct", "models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "The capital of France is"),
    ("smollm2-135m-instruct", "models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "def fibonacci(n):"),
    ("gemma3-270m", "models/cache/gemma3-270m/gemma-3-270m-q4_k_m.gguf", "The capital of France is"),
    ("gemma3-270m", "models/cache/gemma3-270m/gemma-3-270m-q4_k_m.gguf", "Once upon a time"),
    ("qwen2.5-coder-0.5b-instruct", "models/cache/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "The capital of France is"),
    ("qwen2.5-coder-0.5b-instruct", "models/cache/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "def fibonacci(n):"),
]
out = []
for mid, path, prompt in cases:
    r = subprocess.run([simple, "-m", path, "-n", "16", prompt], capture_output=True, text=True, check=True)
    text = r.stdout
    # llama-simple prints the prompt (with <bos> when added) and then the continuation.
    i = text.index(prompt) + len(prompt)
    # It ends with a newline of its own.
    out.append({"model": mid, "prompt": prompt, "n_predict": 16, "continuation": text[i:].removesuffix("\n")})
json.dump({"tool": "llama-simple (greedy, 16 tokens)", "cases": out}, open("tests/reference/generations.json", "w"), indent=1, ensure_ascii=False)
print(json.dumps(out, indent=1, ensure_ascii=False))
PY
