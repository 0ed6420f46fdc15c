// The page's document formats by file name (www/formats.js): the twin of crate/src/retrieval/format.rs, plus PDF.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOf, isModelFile } from '../../www/formats.js';

test('document formats come from the extension, in any case', () => {
  assert.equal(formatOf('notes.TXT'), 'text');
  assert.equal(formatOf('guide.md'), 'markdown');
  assert.equal(formatOf('guide.markdown'), 'markdown');
  assert.equal(formatOf('page.htm'), 'html');
  assert.equal(formatOf('a.b/report.PDF'), 'pdf');
});

test('anything else is not a document, and models are told apart', () => {
  for (const name of ['model.gguf', 'README', 'archive.tar.gz', 'photo.jpg', '.md.exe']) assert.equal(formatOf(name), '', name);
  assert.ok(isModelFile('SmolLM2.Q4_1.GGUF'));
  assert.ok(!isModelFile('notes.txt'));
});
