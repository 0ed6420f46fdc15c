#!/usr/bin/env bash
# make bench: hearth against its peers, for every LLM in the manifest.
#  - browser: hearth (wasm) vs wllama 2.3.7 (llama.cpp in wasm), side by side in headless Chromium with
#    COOP/COEP, at 1 and 2 threads, RUNS runs each (tests/bench/browser.mjs; hearth's 2 threads are its
#    model split by rows across two workers, www/shard-pool.js);
#  - native: hearth's CLI vs llama.cpp's llama-bench (when tests/reference has built it), 1 thread;
#  - documents (tests/bench/rag.mjs): adding a fixed corpus (100 SciFact abstracts, one document) through the
#    page's own client in Chromium at 1 and 2 threads and natively (`hearth index build`, 1 and 2 threads), and
#    the page's time to the first token of a cited answer over 4 passages with the first model at 2 threads
#    (RAG=0 skips it);
#  - the retrieval scale benchmark (ANN vs exact; SCALE_N=0 skips it);
#  - the matmul kernels of each weight type against their bound, natively (`hearth bench --kernels`) and in
#    Chromium on both wasm builds (tests/bench/kernels.mjs): decode against a plain read of the same bytes,
#    and prefill batches in multiply-adds per second; then attention over the KV cache with SmolLM2's and
#    Gemma 3's heads (KERNELS=0 skips it).
# Prints Markdown tables (the README's figures are pasted from them) and ends with one JSON line of ratios
# (scripts/bench_report.py). Each timed step first waits for an idle CPU (tests/bench/wait-idle.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT=${PROMPT:-200} GEN=${GEN:-128} RUNS=${RUNS:-3}
export PROMPT GEN RUNS
OUT=$(mktemp -d)
MODELS=${MODELS:-"smollm2-135m-instruct gemma3-270m qwen2.5-coder-0.5b-instruct"}
path() { python3 -c "import json,sys; m=[x for x in json.load(open('models/manifest.json'))['models'] if x['id']=='$1'][0]; print('models/cache/$1/'+m['files'][0]['name'])"; }

# Wait for an idle CPU before timing (other load makes figures meaningless on two cores).
wait_idle() { node tests/bench/wait-idle.mjs; }

for id in $MODELS; do
  wait_idle
  echo "bench: native hearth, $id" >&2
  # One thread, like llama-bench -t 1 (the CLI otherwise splits big matmuls over both cores).
  RAYON_NUM_THREADS=1 target/release/hearth bench --model "$(path "$id")" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --runs "$RUNS" --json > "$OUT/native-$id.json"
  if [ -x target/llama.cpp/build/bin/llama-bench ]; then
    wait_idle
    echo "bench: native llama.cpp, $id" >&2
    target/llama.cpp/build/bin/llama-bench -m "$(path "$id")" -p "$PROMPT" -n "$GEN" -t 1 -r "$RUNS" -o json > "$OUT/llamacpp-$id.json" 2>/dev/null || true
  fi
done
if [ "${KERNELS:-1}" != 0 ]; then
  wait_idle
  echo "bench: native kernels against their bound" >&2
  RAYON_NUM_THREADS=1 target/release/hearth bench --kernels --runs 5 --json > "$OUT/kernels-native.jsonl"
fi
if [ "${RAG:-1}" != 0 ]; then
  mkdir -p "$OUT/corpus"
  node tests/bench/corpus.mjs 100 > "$OUT/corpus/scifact-100.md"
  for t in 1 2; do
    wait_idle
    echo "bench: native ingest, $t thread(s)" >&2
    RAYON_NUM_THREADS=$t target/release/hearth index build --input "$OUT/corpus" --out "$OUT/corpus.hix" --precision q8 2> "$OUT/ingest-native-$t.txt"
  done
fi
if [ "${SCALE_N:-100000}" != 0 ]; then
  wait_idle
  echo "bench: retrieval scale (synthetic 384-d vectors, ANN vs exact, native)" >&2
  cargo run --release --quiet --example scale_bench -- --n "${SCALE_N:-100000}" --save "$OUT/ann" > "$OUT/scale.txt"
  echo "bench: the same ANN queries in wasm (Node)" >&2
  node scripts/ann-wasm-bench.mjs "$OUT/ann" 128,256 >> "$OUT/scale.txt"
fi
scripts/vendor.sh >&2
echo "bench: headless Chromium, hearth vs wllama (a fresh browser per run)" >&2
node tests/bench/browser.mjs $MODELS > "$OUT/browser.jsonl"
if [ "${RAG:-1}" != 0 ]; then
  echo "bench: headless Chromium, adding documents and asking (the page's client)" >&2
  node tests/bench/rag.mjs ${MODELS%% *} > "$OUT/rag.jsonl"
fi
if [ "${KERNELS:-1}" != 0 ]; then
  wait_idle
  echo "bench: headless Chromium, kernels against their bound" >&2
  node tests/bench/kernels.mjs > "$OUT/kernels-browser.jsonl"
fi
python3 scripts/bench_report.py "$OUT" $MODELS
rm -rf "$OUT"
