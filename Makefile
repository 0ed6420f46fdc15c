# hearth: two commands do everything on a fresh machine.
#   make demo   build, fetch the default model, serve the page on http://127.0.0.1:$(PORT)
#   make test   every test: native (unit + real models), wasm in headless Chromium, browser end-to-end
# The other targets are the steps they are made of. Builds run one at a time (two cores).

SHELL := /bin/bash
PORT ?= 8080
SHARED ?= ../shared
PPL_TEXT := target/ppl.txt

.PHONY: demo test setup models native wasm package extension lint test-native test-wasm test-e2e bench eval eval-rag reference fuzz clean

setup:
	scripts/setup.sh

models:
	python3 models/fetch.py

native:
	cargo build --release

wasm: setup
	scripts/build-wasm.sh
	scripts/vendor.sh

demo: setup models wasm
	PORT=$(PORT) python3 scripts/serve.py

$(PPL_TEXT): tests/reference/make_ppl_text.py
	mkdir -p target
	python3 tests/reference/make_ppl_text.py $(SHARED)/data/squad-dev-a/dev-v1.1-a.json $(PPL_TEXT)

# Each step's time is printed at the end (scripts/timed.sh), also when one fails.
test: setup models $(PPL_TEXT)
	MAKE="$(MAKE)" scripts/timed.sh lint test-native wasm test-wasm test-e2e

# The npm package hearth-web (typed client, worker, both wasm builds, <hearth-chat>, pdf.js) as
# target/hearth-web-<version>.tgz, from `npm pack`. tests/e2e/npm-package.test.mjs installs it into examples/plain.
package: wasm
	scripts/package.sh

# The Chrome MV3 extension "ask this page" in extension/dist/ (load unpacked), with the package and the default
# model and embedder bundled. tests/e2e/extension.test.mjs loads it in Chromium.
extension: package models
	scripts/build-extension.sh

# cargo fmt --check, clippy -D warnings (native and wasm32), and the JS unit tests (tests/unit).
lint: setup
	scripts/lint.sh

test-native: $(PPL_TEXT)
	cargo test --release

test-wasm:
	scripts/test-wasm.sh

test-e2e:
	scripts/vendor.sh
	scripts/test-e2e.sh

bench: setup models native wasm
	scripts/build-wasm.sh bench
	scripts/bench.sh

# BEIR SciFact (test split): nDCG@10, Recall@10/100 and latency for bm25, dense and hybrid. The first run
# embeds the 5,183 abstracts (about 10 minutes on two cores) and keeps the index in target/scifact.idx.
eval: models native
	target/release/hearth eval --data $(SHARED)/data/scifact --index target/scifact.idx

# Fuzzes every input path (GGUF, model forward step, saved index, chunker, tokenizer, chat template) from the
# seeds (fuzz/corpus, and models made by fuzz/src/seeds.rs): FUZZ_SECONDS per target at most (and each target's execution count), then a
# table of executions, crashes, hangs and memory. Findings land in fuzz/artifacts/. `make test` only replays the
# corpus and fuzz/regressions (fuzz/tests/replay.rs).
FUZZ_SECONDS ?= 600
fuzz: models
	cargo build --release -p hearth-fuzz
	target/release/hearth-fuzz --seconds $(FUZZ_SECONDS)

# Answer quality on SQuAD dev half A (../shared/data/squad-dev-a): EVAL_RAG_SAMPLE questions evenly spaced over
# the 5,696 (each asked with and without its article in the index) and the 40 follow-up pairs of
# tests/fixtures/followups.json, for each model of EVAL_RAG_MODELS (ids in models/manifest.json): per model a
# Markdown table and one JSON line. The first run embeds the 1,048 paragraphs (a few minutes) and keeps the index
# in target/squad-a.idx.
EVAL_RAG_SAMPLE ?= 100
EVAL_RAG_MODELS ?= smollm2-135m-instruct qwen2.5-coder-0.5b-instruct
eval-rag: models native
	@for id in $(EVAL_RAG_MODELS); do \
		gguf=$$(ls models/cache/$$id/*.gguf | head -n1); \
		echo "== $$id"; \
		target/release/hearth eval-rag --data $(SHARED)/data/squad-dev-a/dev-v1.1-a.json --index target/squad-a.idx \
			--model $$gguf --sample $(EVAL_RAG_SAMPLE) --followups tests/fixtures/followups.json --json || exit 1; \
	done

# Rebuilds llama.cpp (reference only) and regenerates the committed tokenizer and perplexity fixtures.
reference: models $(PPL_TEXT)
	bash tests/reference/build_llama_cpp.sh
	python3 tests/reference/make_tokenizer_fixture.py
	bash tests/reference/make_perplexity_refs.sh

clean:
	rm -rf www/pkg tests/artifacts
