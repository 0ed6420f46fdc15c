// errorCode(): the stable codes scripts branch on, from the messages the engine really sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abortedError, errorCode } from '../../www/errors.js';

test('each engine message maps to its code', () => {
  const cases = [
    ['invalid GGUF at byte 0: not a GGUF file (magic is 0x00000000)', 'bad_gguf'],
    ['unsupported model: architecture `bert` is not supported', 'unsupported_model'],
    ['cannot allocate 3000000000 bytes for the model', 'model_too_large'],
    ['out of memory while receiving the model', 'model_too_large'],
    ['context overflow: the prompt is 2100 tokens but the context window is 2048 tokens', 'context_overflow'],
    ['chat template: syntax error: unexpected end of input', 'bad_template'],
    ['invalid argument: generation options: unknown option `maxTokens` (known: ignore_eos, max_tokens)', 'unknown_option'],
    ['no model is loaded', 'no_model'],
    ['the embedder is not loaded yet', 'no_embedder'],
    ['cannot download /models/x.gguf: HTTP 404', 'network'],
    ["only this site's models can be loaded (https://x.example/m.gguf is on another site): …", 'network'],
    ['cannot download /models/x.gguf: the download stalled: no data for 120 s', 'network'],
    ['the download stalled: no data for 120 s', 'network'],
    ['x.gguf failed its sha256 check (expected ab, got cd); it was not cached', 'integrity'],
    ['document `big.txt` is 20.5 MB; the limit is 20 MB', 'document_too_large'],
    ['notes.docx: unsupported file type (use .txt, .md, .html or .pdf)', 'unsupported_format'],
    ['invalid argument: index file: not a hearth index (bad magic)', 'bad_index'],
    ['adding x.pdf was cancelled', 'aborted'],
    ['something else entirely', 'error'],
  ];
  for (const [message, code] of cases) assert.equal(errorCode(new Error(message)), code, message);
});

test('a DOMException name, an explicit code and abortedError()', () => {
  assert.equal(errorCode(Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' })), 'storage_full');
  assert.equal(errorCode(Object.assign(new Error('x'), { code: 'worker_crashed' })), 'worker_crashed');
  assert.equal(errorCode('no model is loaded'), 'no_model');
  const e = abortedError('the chat request');
  assert.equal(e.code, 'aborted');
  assert.equal(e.message, 'the chat request was cancelled');
});
