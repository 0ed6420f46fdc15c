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

test('a follow-up question resolves its pronoun from the question before it', { timeout: 600_000 }, async () => {
  const { page, errors } = app;
  await waitReady(page);
  await addDocuments(page, OFFICES);

  const first = await askAndWait(page, 'What is the wifi password of the Bramble office?');
  console.log(`# first: ${JSON.stringify(first)}`);
  assert.match(first.text, /juniper-17/);

  const followUp = await askAndWait(page, 'And when does it open?');
  const evidence = await lastEvidence(page);
  console.log(`# follow-up: ${JSON.stringify(followUp)} evidence ${JSON.stringify(evidence)}`);
  assert.match(followUp.text, /10/, 'the Bramble office opens at 10 am (the Larkspur office at 8)');
  assert.doesNotMatch(followUp.text, /\b8 ?am\b/i);
  const sources = await page.getByRole('list', { name: 'Sources' }).last().textContent();
  assert.match(sources, /bramble-office\.txt/, 'the evidence comes from the office the conversation is about');
  await screenshot(page, 'answers-1-follow-up');

  // A new conversation forgets the first question: the same words are no longer a follow-up of it.
  await page.getByRole('button', { name: 'New chat' }).click();
  const alone = await askAndWait(page, 'And when does it open?');
  console.log(`# asked alone: ${JSON.stringify(alone)}`);
  assert.deepEqual(errors, [], 'no console errors');
});

test('Qwen2.5-Coder-0.5B-Instruct loads from the model list and answers from the documents', { timeout: 900_000 }, async () => {
  const { page, errors } = app;
  await waitReady(page);
  const option = await page.locator('#model-select option', { hasText: 'qwen2.5-coder-0.5b-instruct' }).getAttribute('value');
  const t0 = Date.now();
  await page.selectOption('#model-select', option);
  await page.waitForFunction(() => /qwen2/i.test(document.querySelector('#model-info')?.textContent ?? ''), null, { timeout: 600_000, polling: 250 });
  await waitReady(page, 600_000);
  console.log(`# qwen2.5-coder-0.5b-instruct ready after ${Date.now() - t0} ms: ${await modelInfo(page)}`);
  assert.match(await modelInfo(page), /qwen2/i);

  const t1 = Date.now();
  const answer = await askAndWait(page, 'What is the wifi password of the Larkspur office?', 300_000);
  console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
  assert.match(answer.text, /heliotrope-42/);
  assert.ok((await lastEvidence(page)).some((s) => /heliotrope-42/.test(s)), 'the sentence with the password is highlighted');
  await screenshot(page, 'answers-2-qwen');
  assert.deepEqual(errors, [], 'no console errors');
});
