// The stats line under an answer (www/conversation.js formatStats): what the e2e tests and users read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStats } from '../../www/conversation.js';

const stats = { generated_tokens: 12, decode_tokens_per_s: 41.26, prompt_tokens: 162, cached_tokens: 107, prefill_tokens_per_s: 88.4 };

test('tokens, speed, the prompt with its cached part', () => {
  assert.equal(formatStats(stats), '12 tokens · 41.3 tokens/s · prompt 162 tokens (107 cached, 88 tokens/s)');
});

test('why it stopped, in words and by its code', () => {
  assert.match(formatStats({ ...stats, stop_reason: 'repetition' }), /it began to repeat itself \(repetition\)$/);
  assert.match(formatStats({ ...stats, stop_reason: 'something_new' }), /something_new \(something_new\)$/);
});
