#!/usr/bin/env python3
"""The tables of `make bench` (scripts/bench.sh) from its raw figures, ending with one JSON line.

    python3 scripts/bench_report.py OUT_DIR MODEL_ID [...]

OUT_DIR holds browser.jsonl (tests/bench/browser.mjs: one line per model, engine and thread count, each with
its runs), native-<id>.json (`hearth bench --json`), llamacpp-<id>.json (`llama-bench -o json`, optional) and
scale.txt (optional). Every ratio is hearth divided by its peer, of medians. The last line is
{"decode_ratio_1t", "decode_ratio_2t", "prefill_ratio_1t", "prefill_ratio_2t", "decode_vs_native_1t",
"prefill_vs_native_1t", "peak_mem_ratio"} for the first model: browser ratios against wllama at 1 and 2
threads (hearth's threads are its row-split worker pool), hearth in Chromium against llama.cpp's native
llama-bench, and peak_mem_ratio of the renderers' peak resident memory: the larger of the 1- and 2-thread
ratios (each is also printed, as peak_mem_ratio_1t / _2t on the per-model lines); then, when the documents
benchmark ran (rag.jsonl from tests/bench/rag.mjs, ingest-native-<threads>.txt from `hearth index build`),
ingest_passages_per_s_2t (median passages per second adding the fixed corpus in Chromium at 2 threads, whole
add: read, chunk, embed, commit and save) and rag_ttft_ms_2t (median time to an answer's first token, over 4
passages, in Chromium at 2 threads, with the first model).
"""

import re

import json
import os
import statistics
import sys

MB = 2**20


def load_json(path):
    if os.path.exists(path) and os.path.getsize(path):
        with open(path) as f:
            return json.load(f)
    return None


def stats(runs, key):
    v = [r[key] for r in runs]
    return min(v), statistics.median(v)


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def main():
    out, models = sys.argv[1], sys.argv[2:]
    rows = {}
    with open(os.path.join(out, "browser.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[(r["model"], r["engine"], r["threads"])] = r
    any_row = next(iter(rows.values()))
    n_runs = len(any_row["runs"])
    p, g = any_row["runs"][0]["prompt_tokens"], any_row["runs"][0]["generated_tokens"]

    print(f"\nBrowser: headless Chromium, cross-origin isolated; a {p}-token prompt then {g} greedy tokens; "
          f"{n_runs} runs each (a fresh browser per run), min / median")
    print("\n| model | engine | threads | load ms | prefill tok/s | decode tok/s | renderer peak MB | private peak MB (median) | runs redone |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in models:
        for (model, engine, threads), r in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][1] != "hearth")):
            if model != m:
                continue
            runs = r["runs"]
            name = "hearth" if engine == "hearth" else "wllama 2.3.7"
            build = r["note"].removeprefix("hearth ") if r.get("note") else r["build"]
            cells = []
            for key, scale, fmt in (("load_ms", 1, ".0f"), ("prefill_tokens_per_s", 1, ".1f"),
                                    ("decode_tokens_per_s", 1, ".1f"), ("hwm_bytes", MB, ".0f")):
                lo, med = stats(runs, key)
                cells.append(f"{lo / scale:{fmt}} / {med / scale:{fmt}}")
            cells.append(f"{statistics.median(x['peak_bytes'] for x in runs) / MB:.0f}")
            redone = sum(x["attempts"] - 1 for x in runs)
            flagged = sum(1 for x in runs if x["disturbed"])
            tokens = {(x["prompt_tokens"], x["generated_tokens"]) for x in runs}
            extra = "" if tokens == {(p, g)} else f", tokens {sorted(tokens)}"
            print(f"| {m} | {name} ({build}) | {threads} | " + " | ".join(cells) +
                  f" | {redone}{f' ({flagged} still disturbed)' if flagged else ''}{extra} |")

    print("\nhearth / wllama (medians):\n")
    print("| model | threads | load ms | prefill | decode | renderer peak | same prompt tokens |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    browser_1t = {}
    for m in models:
        for t in sorted({k[2] for k in rows if k[0] == m}):
            h, w = rows.get((m, "hearth", t)), rows.get((m, "wllama", t))
            if not (h and w):
                continue
            med = lambda r, k: statistics.median(x[k] for x in r["runs"])
            rr = {k: ratio(med(h, k), med(w, k)) for k in
                  ("load_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "hwm_bytes")}
            summary.setdefault(m, {})
            summary[m][f"decode_ratio_{t}t"] = rr["decode_tokens_per_s"]
            summary[m][f"prefill_ratio_{t}t"] = rr["prefill_tokens_per_s"]
            summary[m][f"peak_mem_ratio_{t}t"] = rr["hwm_bytes"]
            summary[m]["peak_mem_ratio"] = max(x for x in (summary[m].get("peak_mem_ratio"), rr["hwm_bytes"]) if x is not None)
            if t == 1:
                # hearth in Chromium, for the comparison with native llama.cpp below.
                browser_1t[m] = {k: med(h, k) for k in ("prefill_tokens_per_s", "decode_tokens_per_s")}
            print(f"| {m} | {t} | {rr['load_ms']} | {rr['prefill_tokens_per_s']} | {rr['decode_tokens_per_s']} | "
                  f"{rr['hwm_bytes']} | {'yes' if h.get('prompt_match') else h.get('prompt_match')} |")

    native_head = ["\nNative, 1 thread (hearth CLI vs llama.cpp llama-bench; hearth median, llama-bench mean):\n",
                   "| model | runtime | prefill tok/s | decode tok/s |", "|---|---|---|---|"]
    for m in models:
        nat = load_json(os.path.join(out, f"native-{m}.json"))
        ref = {}
        for t in load_json(os.path.join(out, f"llamacpp-{m}.json")) or []:
            ref["pp" if t["n_prompt"] else "tg"] = t["avg_ts"]
        if (nat or ref) and native_head:
            print("\n".join(native_head))
            native_head = None
        if nat:
            print(f"| {m} | hearth, native CLI (AVX2, VNNI where present) | {nat['prefill_tokens_per_s']:.1f} | {nat['decode_tokens_per_s']:.1f} |")
        if ref:
            print(f"| {m} | llama.cpp, native llama-bench | {ref.get('pp', 0):.1f} | {ref.get('tg', 0):.1f} |")
        if ref and m in browser_1t:
            # The ceiling: hearth in Chromium (1 thread) against native llama.cpp (1 thread).
            summary.setdefault(m, {})
            summary[m]["decode_vs_native_1t"] = ratio(browser_1t[m]["decode_tokens_per_s"], ref.get("tg"))
            summary[m]["prefill_vs_native_1t"] = ratio(browser_1t[m]["prefill_tokens_per_s"], ref.get("pp"))
        if nat and ref:
            # Extra keys: hearth's native CLI against llama-bench, both on one thread.
            summary.setdefault(m, {})
            summary[m]["cli_decode_vs_native_1t"] = ratio(nat["decode_tokens_per_s"], ref.get("tg"))
            summary[m]["cli_prefill_vs_native_1t"] = ratio(nat["prefill_tokens_per_s"], ref.get("pp"))

    docs = documents(out)
    kernels(out)
    scale = os.path.join(out, "scale.txt")
    if os.path.exists(scale) and os.path.getsize(scale):
        print()
        print(open(scale).read().rstrip())
    print()
    keys = ["decode_ratio_1t", "decode_ratio_2t", "prefill_ratio_1t", "prefill_ratio_2t", "decode_vs_native_1t",
            "prefill_vs_native_1t", "peak_mem_ratio"]
    for m in models:
        print(json.dumps({"model": m, **{k: summary.get(m, {}).get(k) for k in keys + ["peak_mem_ratio_1t", "peak_mem_ratio_2t", "cli_decode_vs_native_1t", "cli_prefill_vs_native_1t"]}}))
    print(json.dumps({**{k: summary.get(models[0], {}).get(k) for k in keys}, **docs}))


def kernels(out):
    """Prints the kernels' figures against their bound (when that step ran)."""
    rows = []
    for runtime, name in (("native", "native (x86-64)"), ("browser", "Chromium")):
        path = os.path.join(out, f"kernels-{runtime}.jsonl")
        if os.path.exists(path):
            rows += [(name, json.loads(line)) for line in open(path) if line.strip()]
    if not rows:
        return
    print("\nKernels against their bound, one thread: decode is one token's matmul over a matrix of about 64 MB of "
          "each type (rows of 640, as Gemma 3's), in GB/s of weights read, against summing the same bytes (the memory "
          "bound); prefill is a 128-token batch through 256 rows, in G multiply-adds/s. Best of 5.\n")
    print("| runtime | build | type | decode GB/s | read GB/s | decode / read | prefill GMAC/s |")
    print("|---|---|---|---|---|---|---|")
    build = lambda r: {"pkg-relaxed": "relaxed SIMD", "pkg": "SIMD128"}.get(r.get("build"), "CLI")
    for name, r in rows:
        if "ty" in r:
            print(f"| {name} | {build(r)} | {r['ty']} | {r['decode_gb_per_s']:.2f} | {r['read_gb_per_s']:.2f} | "
                  f"{r['of_read_bound']:.2f} | {r['prefill_gmac_per_s']:.1f} |")
    attention = [(name, r) for name, r in rows if "heads" in r]
    if attention:
        print("\nAttention over the KV cache, one layer, one thread (scores and weighted values, G multiply-adds/s; "
              "best of 5): one token over the cache (decode) and a batch of tokens ending there (prefill).\n")
        print("| runtime | build | heads × size / KV heads | positions | decode GMAC/s | decode ms a layer | prefill GMAC/s |")
        print("|---|---|---|---|---|---|---|")
        for name, r in attention:
            print(f"| {name} | {build(r)} | {r['heads']} × {r['hd']} / {r['kv_heads']} | {r['positions']} | "
                  f"{r['decode_gmac_per_s']:.2f} | {r['decode_ms']:.3f} | {r['prefill_gmac_per_s']:.2f} |")


def documents(out):
    """Prints the documents benchmark's tables; returns its JSON keys (empty when it did not run)."""
    path = os.path.join(out, "rag.jsonl")
    if not (os.path.exists(path) and os.path.getsize(path)):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    keys = {}
    print("\nAdding documents: the first 100 SciFact abstracts as one Markdown document; passages/s over the whole add "
          "(read, chunk, embed, commit, save), min / median; then the embed phase alone (the worker's own figure, median)\n")
    print("| runtime | threads | passages | seconds | passages/s | embed phase passages/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["kind"] != "ingest":
            continue
        runs = r["runs"]
        lo, med = stats(runs, "passages_per_s")
        secs = statistics.median(x["ms"] for x in runs) / 1000
        embed = statistics.median(x["embed_passages_per_s"] or 0 for x in runs)
        print(f"| Chromium (page client) | {r['threads']} | {runs[0]['chunks']} | {secs:.1f} | {lo:.1f} / {med:.1f} | {embed:.1f} |")
        keys[f"ingest_passages_per_s_{r['threads']}t"] = round(med, 2)
    for t in (1, 2):
        f = os.path.join(out, f"ingest-native-{t}.txt")
        m = re.search(r"(\d+) chunks, .* in ([\d.]+) s", open(f).read()) if os.path.exists(f) else None
        if m:
            n, secs = int(m.group(1)), float(m.group(2))
            print(f"| native CLI (`hearth index build`, q8) | {t} | {n} | {secs:.1f} | {n / secs:.1f} | |")
            keys[f"native_ingest_passages_per_s_{t}t"] = round(n / secs, 2)
    for r in rows:
        if r["kind"] != "rag":
            continue
        runs = r["runs"]
        print(f"\nTime to first token of a cited answer ({r['model']}, {r['threads']} threads, k = {r['k']} passages; "
              f"one warm-up question, then one timed question per run, each a fresh browser), min / median:\n")
        print("| first token ms | search ms | evidence ms | prefill ms | prompt tokens (cached) | abstained |")
        print("|---|---|---|---|---|---|")
        lo, med = stats(runs, "ttft_ms")
        med_of = lambda k: statistics.median(x.get(k) or 0 for x in runs)
        toks = ", ".join(f"{x['prompt_tokens']} ({x['cached_tokens']})" for x in runs)
        print(f"| {lo:.0f} / {med:.0f} | {med_of('search_ms'):.0f} | {med_of('evidence_ms'):.0f} | {med_of('prefill_ms'):.0f} | "
              f"{toks} | {sum(x['abstained'] for x in runs)} of {len(runs)} |")
        keys[f"rag_ttft_ms_{r['threads']}t"] = round(med)
    return keys


if __name__ == "__main__":
    main()
