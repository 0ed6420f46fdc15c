// The documents benchmark's fixed corpus: the first `n` SciFact abstracts (../shared/data/scifact; see its
// README), as one Markdown document of titled sections, and the SciFact claims whose evidence is among them
// (the questions). `node tests/bench/corpus.mjs [n] > scifact-100.md` writes the document (for the native
// `hearth index build`, so both measure the same text).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../e2e/helpers.mjs';

export function corpus(n = 100) {
  const dir = join(resolve(ROOT, process.env.SHARED || '../shared'), 'data', 'scifact'); // the Makefile's SHARED
  const lines = readFileSync(join(dir, 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, n);
  const docs = lines.map((l) => JSON.parse(l));
  const ids = new Set(docs.map((d) => d._id));
  const text = docs.map((d) => `## ${d.title}\n\n${d.text}\n`).join('\n');
  const relevant = new Set(
    readFileSync(join(dir, 'qrels', 'test.tsv'), 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'))
      .filter((p) => ids.has(p[1]))
      .map((p) => p[0]),
  );
  const questions = readFileSync(join(dir, 'queries.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((q) => relevant.has(q._id))
    .map((q) => q.text);
  return { text, questions, docs: docs.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(corpus(Number(process.argv[2] || 100)).text);
