#!/usr/bin/env bash
# make bench: prefill/decode speed of hearth natively (CLI) and in headless Chromium (wasm, one thread),
# for every LLM in the manifest, plus native llama.cpp's llama-bench when tests/reference has built it.
# Prints a Markdown table (the README's figures table is pasted from it) and a JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT=${PROMPT:-200} GEN=${GEN:-128} RUNS=${RUNS:-3}
export PROMPT GEN RUNS
OUT=$(mktemp -d)
MODELS="smollm2-135m-instruct gemma3-270m"
path() { python3 -c "import json,sys; m=[x for x in json.load(open('models/manifest.json'))['models'] if x['id']=='$1'][0]; print('models/cache/$1/'+m['files'][0]['name'])"; }

# Wait for an idle CPU before timing (other load makes figures meaningless on two cores).
wait_idle() {
  for _ in $(seq 1 60); do
    load=$(awk '{print $1}' /proc/loadavg)
    python3 -c "import sys; sys.exit(0 if $load < 0.5 else 1)" && return 0
    sleep 5
  done
  echo "bench: CPU still busy (load $(cat /proc/loadavg)); timing anyway" >&2
}

for id in $MODELS; do
  wait_idle
  echo "bench: native hearth, $id" >&2
  target/release/hearth bench --model "$(path "$id")" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --runs "$RUNS" --json > "$OUT/native-$id.json"
  if [ -x target/llama.cpp/build/bin/llama-bench ]; then
    wait_idle
    echo "bench: native llama.cpp, $id" >&2
    target/llama.cpp/build/bin/llama-bench -m "$(path "$id")" -p "$PROMPT" -n "$GEN" -t 1 -r "$RUNS" -o json > "$OUT/llamacpp-$id.json" 2>/dev/null || true
  fi
done
wait_idle
echo "bench: retrieval scale (synthetic 384-d vectors, ANN vs exact, native)" >&2
cargo run --release --quiet --example scale_bench -- --n "${SCALE_N:-100000}" > "$OUT/scale.txt"
wait_idle
echo "bench: headless Chromium (wasm, 1 thread)" >&2
node tests/bench/browser.mjs $MODELS > "$OUT/browser.jsonl"

python3 - "$OUT" $MODELS <<'PY'
import json, os, statistics, sys
out, models = sys.argv[1], sys.argv[2:]
browser = {}
for line in open(os.path.join(out, "browser.jsonl")):
    r = json.loads(line)
    browser[r["model"]] = r
def med(runs, k):
    return statistics.median(r[k] for r in runs)
rows, summary = [], {}
for m in models:
    nat = json.load(open(os.path.join(out, f"native-{m}.json")))
    b = browser[m]
    pp_b, tg_b = med(b["runs"], "prefill_tokens_per_s"), med(b["runs"], "decode_tokens_per_s")
    rows.append((m, "hearth, Chromium wasm SIMD128", "1", b["load_ms"], pp_b, tg_b))
    rows.append((m, "hearth, native CLI (AVX2)", "1", None, nat["prefill_tokens_per_s"], nat["decode_tokens_per_s"]))
    lp = os.path.join(out, f"llamacpp-{m}.json")
    ref = {}
    if os.path.exists(lp) and os.path.getsize(lp):
        for t in json.load(open(lp)):
            ref["pp" if t["n_prompt"] else "tg"] = t["avg_ts"]
        rows.append((m, "llama.cpp, native llama-bench", "1", None, ref.get("pp", 0), ref.get("tg", 0)))
    summary[m] = {"chromium_prefill": round(pp_b, 1), "chromium_decode": round(tg_b, 1),
                  "native_prefill": round(nat["prefill_tokens_per_s"], 1), "native_decode": round(nat["decode_tokens_per_s"], 1)}
    if ref:
        summary[m]["chromium_decode_vs_native_llama_cpp"] = round(tg_b / ref["tg"], 3)
        summary[m]["chromium_prefill_vs_native_llama_cpp"] = round(pp_b / ref["pp"], 3)
p, g, r = os.environ["PROMPT"], os.environ["GEN"], os.environ["RUNS"]
print(f"\n{p}-token prompt, {g} greedy tokens, median of {r} runs\n")
print("| model | runtime | threads | load ms | prefill tok/s | decode tok/s |")
print("|---|---|---|---|---|---|")
for m, rt, th, load, pp, tg in rows:
    print(f"| {m} | {rt} | {th} | {'' if load is None else f'{load:.0f}'} | {pp:.1f} | {tg:.1f} |")
print()
print(json.dumps(summary))
print()
print(open(os.path.join(out, "scale.txt")).read().rstrip())
PY
rm -rf "$OUT"
