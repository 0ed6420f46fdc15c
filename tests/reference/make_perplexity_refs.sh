#!/usr/bin/env bash
# Perplexity reference figures from llama.cpp's llama-perplexity (reference only).
#
#   bash tests/reference/make_perplexity_refs.sh [SQUAD_JSON]
#
# SQUAD_JSON defaults to ../shared/data/squad-dev-a/dev-v1.1-a.json (relative to
# the repo root). Builds target/ppl.txt with make_ppl_text.py, then for each model
#   llama-perplexity -m MODEL -f target/ppl.txt -c 512 -b 512 -t 2 [--chunks 8]
# and writes tests/reference/perplexity.json (logs in target/ppl-<id>.log).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SQUAD="${1:-../shared/data/squad-dev-a/dev-v1.1-a.json}"
BIN="target/llama.cpp/build/bin"
TEXT="target/ppl.txt"
OUT="tests/reference/perplexity.json"
CTX=512
MAX_CHUNKS_FULL=16   # above this many chunks, evaluate only the first LIMIT_CHUNKS
LIMIT_CHUNKS=8

bash tests/reference/build_llama_cpp.sh
python3 models/fetch.py --only smollm2-135m-instruct gemma3-270m qwen2.5-coder-0.5b-instruct

mkdir -p target
python3 tests/reference/make_ppl_text.py "$SQUAD" "$TEXT" > target/ppl.meta
cat target/ppl.meta

declare -A MODEL=(
    [smollm2-135m-instruct]="models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    [gemma3-270m]="models/cache/gemma3-270m/gemma-3-270m-q4_k_m.gguf"
    [qwen2.5-coder-0.5b-instruct]="models/cache/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
)
IDS=(${PPL_MODELS:-smollm2-135m-instruct gemma3-270m qwen2.5-coder-0.5b-instruct})

for id in "${IDS[@]}"; do
    m="${MODEL[$id]}"
    # The exact token sequence llama-perplexity evaluates: whole text, the model's
    # default BOS handling, special tokens NOT parsed (common_tokenize(ctx, text, true)).
    "$BIN/llama-tokenize" -m "$m" -f "$TEXT" --ids --no-escape --no-parse-special --log-disable \
        > "target/ppl-$id.tokens"
    # BOS probe: how llama.cpp tokenizes "a" with the model's default BOS handling
    printf 'a' > target/ppl-probe.txt
    "$BIN/llama-tokenize" -m "$m" -f target/ppl-probe.txt --ids --no-escape --no-parse-special --log-disable \
        | tail -n1 > "target/ppl-$id.bosprobe"
    n=$(python3 -c 'import json,sys; print(len(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])))' \
        "target/ppl-$id.tokens")
    chunks=$((n / CTX))
    flags="-c $CTX -b $CTX -t 2"
    if [ "$chunks" -gt "$MAX_CHUNKS_FULL" ]; then flags="$flags --chunks $LIMIT_CHUNKS"; fi
    echo "[$id] $n tokens = $chunks full chunks of $CTX; llama-perplexity -m $m -f $TEXT $flags"
    # shellcheck disable=SC2086
    "$BIN/llama-perplexity" -m "$m" -f "$TEXT" $flags > "target/ppl-$id.log" 2>&1
    grep -E 'Final estimate' "target/ppl-$id.log"
    echo "$flags" > "target/ppl-$id.flags"
done

VERSION="$("$BIN/llama-perplexity" --version 2>&1 | grep -E '^version' | head -n1 || true)"
python3 - "$SQUAD" "$OUT" "$VERSION" "${IDS[@]}" <<'PY'
import json, os, re, sys
squad, out, version, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
meta = dict(l.split(" ", 1) for l in open("target/ppl.meta").read().split("\n") if l)
vf = "target/llama.cpp/src/HEARTH_VERSION.txt"
if os.path.exists(vf):
    version += " (" + open(vf).read().strip().replace("\n", ", ") + ")"
res = {"text": {"source": squad.replace("\\", "/"), "recipe": "python3 tests/reference/make_ppl_text.py: unique "
                "paragraph contexts of the first 3 articles, joined with \\n\\n, no trailing newline",
                "sha256": meta["sha256"], "bytes": int(meta["bytes"])},
       "ctx": 512, "llama_cpp_version": version, "models": {}}
all_flags, all_chunks = set(), set()
for mid in ids:
    log = open(f"target/ppl-{mid}.log", encoding="utf-8", errors="replace").read()
    flags = open(f"target/ppl-{mid}.flags").read().strip()
    toks = json.loads(open(f"target/ppl-{mid}.tokens").read().strip().splitlines()[-1])
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
    if not m:
        sys.exit(f"no final estimate in target/ppl-{mid}.log")
    per = [float(x) for x in re.findall(r"\[\d+\]([0-9.]+),", log)]
    mc = re.search(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+), batch_size=(\d+), n_seq=(\d+)", log)
    chunks, n_ctx = int(mc.group(1)), int(mc.group(2))
    assert len(per) == chunks, (len(per), chunks)
    probe = json.loads(open(f"target/ppl-{mid}.bosprobe").read())   # tokenize("a") with default BOS
    add_bos = len(probe) == 2
    bos = probe[0] if add_bos else None
    assert not add_bos or toks[0] == bos
    all_flags.add(flags); all_chunks.add(chunks)
    res["models"][mid] = {
        "ppl": float(m.group(1)), "ppl_stderr": float(m.group(2)),
        "per_chunk_running_ppl": per,
        "n_tokens_text": len(toks),
        "add_bos": add_bos, "bos_id": bos,
        "tokens_per_chunk": n_ctx,
        "scored_per_chunk": n_ctx - n_ctx // 2 - 1,
        "bos_replaces_first_token_of_each_chunk": add_bos,
        "seconds_per_chunk_llama_cpp": float(re.search(r"([0-9.]+) seconds per pass", log).group(1)),
        "eval_tokens": toks[: chunks * n_ctx],
    }
res["chunks"] = all_chunks.pop() if len(all_chunks) == 1 else None
res["flags"] = "-m MODEL -f target/ppl.txt " + (all_flags.pop() if len(all_flags) == 1 else " | ".join(sorted(all_flags)))
res["method"] = ("llama-perplexity (tools/perplexity/perplexity.cpp, perplexity()): tokenize the whole text once "
                 "with add_special=true (BOS prepended iff tokenizer.ggml.add_bos_token) and parse_special=false; "
                 "chunk i = tokens[i*512:(i+1)*512] (no overlap, remainder dropped); if add_bos, the chunk's FIRST "
                 "token is REPLACED by BOS (chunk stays 512 long); KV cache cleared per chunk; positions 0..511; "
                 "logits at positions 256..510 score tokens 257..511 (255 per chunk); PPL = exp(mean NLL over all "
                 "scored tokens); per_chunk_running_ppl[k] = PPL over chunks 1..k+1; "
                 "stderr = sqrt(var(nll)/(count-1)) * PPL. eval_tokens = the evaluated tokens before BOS replacement.")
# compact output: one line per token list
text = json.dumps(res, indent=1, ensure_ascii=False)
text = re.sub(r"\[\s*([-0-9.,\s]+?)\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
json.loads(text)
open(out, "w", encoding="utf-8").write(text + "\n")
print(f"wrote {out}")
for mid in ids:
    r = res["models"][mid]
    print(f"  {mid}: PPL {r['ppl']} +/- {r['ppl_stderr']} over {res['chunks']} chunks, add_bos={r['add_bos']}")
PY
