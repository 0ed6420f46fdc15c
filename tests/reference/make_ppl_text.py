#!/usr/bin/env python3
"""Build the deterministic perplexity text from a SQuAD v1.1 JSON file.

Text = the unique paragraph contexts (in order of first appearance) of the
first N articles (default 3), joined with one blank line ("\\n\\n"), UTF-8,
with NO trailing newline (llama-perplexity's -f strips one trailing newline,
so leaving none keeps the file bytes and the evaluated text identical).

Usage: python3 tests/reference/make_ppl_text.py ../shared/data/squad-dev-a/dev-v1.1-a.json target/ppl.txt
Prints: sha256 and byte length of the written file.
"""

import argparse
import hashlib
import json
import os
import sys


def build(squad_path, n_articles):
    with open(squad_path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    seen = set()
    contexts = []
    for article in data[:n_articles]:
        for para in article["paragraphs"]:
            c = para["context"]
            if c not in seen:
                seen.add(c)
                contexts.append(c)
    return "\n\n".join(contexts), [a["title"] for a in data[:n_articles]], len(contexts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("squad_json")
    ap.add_argument("output")
    ap.add_argument("--articles", type=int, default=3)
    args = ap.parse_args()
    text, titles, n = build(args.squad_json, args.articles)
    data = text.encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "wb") as f:
        f.write(data)
    print(f"articles: {', '.join(titles)}; {n} unique contexts", file=sys.stderr)
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"bytes {len(data)}")


if __name__ == "__main__":
    main()
