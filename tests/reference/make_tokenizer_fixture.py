#!/usr/bin/env python3
"""Build tests/reference/tokenizer_fixture.json with llama.cpp's llama-tokenize.

For every text in tokenizer_texts.json and every GGUF chat/base model in
models/manifest.json, run

    llama-tokenize -m MODEL -f TEXTFILE --ids --no-bos --no-escape --log-disable --no-parse-special

(the text is written byte-exact to a temp file; this llama-tokenize reads -f
files verbatim, keeping a trailing newline).  Texts that contain literal
"<...>" markup are tokenized a second time with special-token parsing on
(the tool's default: the same flags without --no-parse-special).

Each result is cross-checked by decoding the ids with the GGUF vocabulary
(gguf PyPI package) and comparing with the input bytes, which proves the text
reached the tokenizer unchanged.  Texts that fail this check are dropped and
listed in the output's "dropped".

Usage: python3 tests/reference/make_tokenizer_fixture.py [--bin PATH] [--out PATH]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "tests", "reference")
DEFAULT_BIN = os.path.join(ROOT, "target", "llama.cpp", "build", "bin", "llama-tokenize")
MODELS = ["smollm2-135m-instruct", "gemma3-270m", "qwen2.5-coder-0.5b-instruct"]
BASE_FLAGS = ["--ids", "--no-bos", "--no-escape", "--log-disable"]
NO_SPECIAL = ["--no-parse-special"]


def model_path(mid):
    with open(os.path.join(ROOT, "models", "manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    for m in man["models"]:
        if m["id"] == mid:
            gguf = [fe["name"] for fe in m["files"] if fe["name"].endswith(".gguf")]
            return os.path.join(ROOT, "models", "cache", mid, gguf[0])
    raise SystemExit(f"model {mid} not in manifest")


def llama_cpp_version(binary):
    out = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    v = next((l.strip() for l in out.splitlines() if l.startswith("version:")), out.strip()[:200])
    vf = os.path.join(ROOT, "target", "llama.cpp", "src", "HEARTH_VERSION.txt")
    if os.path.exists(vf):
        v += " (" + open(vf).read().strip().replace("\n", ", ") + ")"
    return v


def tokenize(binary, model, text, parse_special):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as tf:
        tf.write(text.encode("utf-8"))
        path = tf.name
    try:
        cmd = [binary, "-m", model, "-f", path] + BASE_FLAGS + ([] if parse_special else NO_SPECIAL)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"llama-tokenize failed ({p.returncode}): {p.stderr[-2000:]}")
        lines = [l for l in p.stdout.splitlines() if l.startswith("[")]
        if not lines:
            raise RuntimeError(f"no id list in output: {p.stdout[-500:]!r}")
        return json.loads(lines[-1])
    finally:
        os.unlink(path)


class Vocab:
    """Minimal detokenizer from GGUF metadata (for the round-trip check only)."""

    def __init__(self, path):
        try:
            from gguf import GGUFReader
        except ImportError:  # this script installs its own tools: the gguf reader from PyPI
            subprocess.run([sys.executable, "-m", "pip", "install", "--user", "-q", "--disable-pip-version-check", "gguf"], check=True)
            import site, importlib
            sys.path.append(site.getusersitepackages())
            importlib.invalidate_caches()
            from gguf import GGUFReader
        r = GGUFReader(path)
        f = r.fields
        t = f["tokenizer.ggml.tokens"]
        self.tokens = [bytes(t.parts[i]).decode("utf-8") for i in t.data]
        tt = f["tokenizer.ggml.token_type"]
        self.types = [int(tt.parts[i][0]) for i in tt.data]
        m = f["tokenizer.ggml.model"]
        self.model = bytes(m.parts[m.data[0]]).decode()
        if self.model == "gpt2":
            bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
                list(range(ord("®"), ord("ÿ") + 1))
            cs = bs[:]
            n = 0
            for b in range(256):
                if b not in bs:
                    bs.append(b)
                    cs.append(256 + n)
                    n += 1
            self.byte_dec = {chr(c): b for b, c in zip(bs, cs)}

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            s = self.tokens[i]
            if self.types[i] == 3:          # control token: its text
                out += s.encode()
            elif self.model == "gpt2":
                if self.types[i] == 4:      # user-defined: raw text
                    out += s.encode()
                else:
                    out += bytes(self.byte_dec[c] for c in s)
            else:                           # SentencePiece (llama)
                m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", s)
                if self.types[i] == 6 and m:
                    out.append(int(m.group(1), 16))
                else:
                    out += s.replace("\u2581", " ").encode()
        return out.decode("utf-8", errors="replace")


def write_compact(path, obj):
    """JSON with one line per fixture entry (diff-friendly, not one line per id)."""
    models = obj["models"]
    head = {k: v for k, v in obj.items() if k != "models"}
    parts = []
    for mid, entries in models.items():
        rows = ",\n".join("   " + json.dumps(e, ensure_ascii=False) for e in entries)
        parts.append(f"  {json.dumps(mid)}: [\n{rows}\n  ]")
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    text += ',\n "models": {\n' + ",\n".join(parts) + "\n }\n}\n"
    json.loads(text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--texts", default=os.path.join(HERE, "tokenizer_texts.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "tokenizer_fixture.json"))
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"error: {args.bin} not found; run tests/reference/build_llama_cpp.sh first")
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)

    # sanity check: leading/trailing whitespace must reach the tokenizer unchanged
    probe_model = model_path(MODELS[0])
    a = tokenize(args.bin, probe_model, "Hello", False)
    b = tokenize(args.bin, probe_model, "Hello\n", False)
    c = tokenize(args.bin, probe_model, " Hello", False)
    if not (len(b) == len(a) + 1 and b[:len(a)] == a and c != a):
        sys.exit(f"error: llama-tokenize does not receive the file verbatim: {a} {b} {c}")

    fixture = {
        "llama_cpp_version": llama_cpp_version(args.bin),
        "flags": {
            "parse_special_false": " ".join(["-m", "MODEL", "-f", "FILE"] + BASE_FLAGS + NO_SPECIAL),
            "parse_special_true": " ".join(["-m", "MODEL", "-f", "FILE"] + BASE_FLAGS),
        },
        "notes": "No BOS/EOS added. Text passed byte-exact through a file (llama-tokenize reads -f verbatim; "
                 "--no-escape keeps backslashes). Every entry round-trips: decoding ids with the GGUF vocab "
                 "gives the text back.",
        "models": {},
        "dropped": [],
    }
    total = 0
    for mid in MODELS:
        path = model_path(mid)
        vocab = Vocab(path)
        entries = []
        for text in texts:
            for ps in ([False, True] if re.search(r"<[^<>]+>", text) else [False]):
                ids = tokenize(args.bin, path, text, ps)
                back = vocab.decode(ids)
                if back != text:
                    print(f"[{mid}] DROP (round-trip mismatch) {text!r} -> {back!r}", flush=True)
                    fixture["dropped"].append({"model": mid, "text": text, "parse_special": ps,
                                               "decoded": back})
                    continue
                entries.append({"text": text, "parse_special": ps, "ids": ids})
        fixture["models"][mid] = entries
        total += len(entries)
        print(f"[{mid}] {len(entries)} entries ({vocab.model} vocab, {len(vocab.tokens)} tokens)", flush=True)
    write_compact(args.out, fixture)
    print(f"wrote {args.out}: {total} entries, {len(fixture['dropped'])} dropped")


if __name__ == "__main__":
    main()
