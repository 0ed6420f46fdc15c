// Conversations with documents, and the stronger model: a follow-up that names its subject only by a pronoun
// is searched and answered with the question before it; Qwen2.5-Coder-0.5B-Instruct (the qwen2
// architecture) loads from the model list and answers from the documents with a cited, highlighted sentence.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDocuments, askAndWait, modelInfo, openApp, screenshot, textFile, useServerAndBrowser, waitReady } from './helpers.mjs';

let app;
useServerAndBrowser(async ({ browser, server }) => {
  app = await openApp(browser, server.url);
});

// Two offices described alike: "it" in the follow-up can only be told apart by the question before it.
const office = (name, street, hour, password) =>
  textFile(
    `${name.toLowerCase()}-office.txt`,
    `${name} office notes\n\nThe ${name} office is in ${street}. It opens at ${hour} on weekdays. Its wifi password is ${password}.\n`,
  );
const OFFICES = [office('Larkspur', 'Harbour Street', '8 am', 'heliotrope-42'), office('Bramble', 'Mill Lane', '10 am', 'juniper-17')];

/** The highlighted evidence sentences of the last answer's sources. */
const lastEvidence = (page) =>
  page.evaluate(() => {
    const turns = document.querySelectorAll('[role="region"][aria-label="Answer"] [data-role="assistant"]');
    return [...(turns[turns.length - 1]?.querySelectorAll('mark.evidence') ?? [])].map((m) => m.textContent);
  });

test('Qwen2.5-Coder-0.5B-Instruct loads from the model list and answers from the documents', { timeout: 480_000 }, async () => {
  const { page, errors } = app;
  await waitReady(page);
  await addDocuments(page, OFFICES);
  const option = await page.locator('#model-select option', { hasText: 'qwen2.5-coder-0.5b-instruct' }).getAttribute('value');
  const t0 = Date.now();
  await page.selectOption('#model-select', option);
  await page.waitForFunction(() => /qwen2/i.test(document.querySelector('#model-info')?.textContent ?? ''), null, { timeout: 300_000, polling: 250 });
  await waitReady(page, 300_000);
  console.log(`# qwen2.5-coder-0.5b-instruct ready after ${Date.now() - t0} ms: ${await modelInfo(page)}`);
  assert.match(await modelInfo(page), /qwen2/i);

  const t1 = Date.now();
  const answer = await askAndWait(page, 'What is the wifi password of the Bramble office?', 300_000);
  console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
  assert.match(answer.text, /juniper-17/i);
  assert.ok((await lastEvidence(page)).some((s) => /juniper-17/.test(s)), 'the sentence with the password is highlighted');
  await screenshot(page, 'answers-2-qwen');
  assert.deepEqual(errors, [], 'no console errors');
});

test('a follow-up question resolves its pronoun from the question before it', { timeout: 480_000 }, async () => {
  // With the 0.5B model of the test before (SmolLM2 often answers the first question with the wrong
  // sentence of the right document, which is not what this test is about).
  const { page, errors } = app;
  await waitReady(page);
  assert.match(await modelInfo(page), /qwen2/i);
  await page.getByRole('button', { name: 'New chat' }).click();

  const first = await askAndWait(page, 'What is the wifi password of the Bramble office?', 300_000);
  console.log(`# first: ${JSON.stringify(first)}`);
  assert.match(first.text, /juniper-17/i);

  const followUp = await askAndWait(page, 'And when does it open?', 300_000);
  const evidence = await lastEvidence(page);
  console.log(`# follow-up: ${JSON.stringify(followUp)} evidence ${JSON.stringify(evidence)}`);
  // The conversation decides which office "it" is: the best evidence is the Bramble office's opening hour.
  // (The model's own answer is logged, not asserted: the 0.5B model sometimes copies the second, weaker
  // sentence, from the other office; see issue 13's note.)
  assert.equal(evidence[0], 'It opens at 10 am on weekdays.');
  assert.match(followUp.stats, /\(([1-9]\d*) cached/, 'the earlier turn came from the KV cache');
  const sources = await page.getByRole('list', { name: 'Sources' }).last().locator('li').first().textContent();
  assert.match(sources, /bramble-office\.txt/, 'the first source is the office the conversation is about');
  await screenshot(page, 'answers-1-follow-up');

  assert.deepEqual(errors, [], 'no console errors');
});
