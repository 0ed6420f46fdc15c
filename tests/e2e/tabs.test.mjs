// Several tabs, one saved index: two pages of the app in one browser context (one OPFS, one set of Web Locks)
// add documents at the same time and neither drops the other's; an idle tab answers from a document another
// tab added; a save cut off by closing its tab, and a newest saved generation that fails its checksum, both
// leave the previous generation to load. The tests run in order and share the context.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDocuments, askAndWait, documentNames, openApp, setSettings, textFile, useServerAndBrowser, waitReady } from './helpers.mjs';

let app;
const env = useServerAndBrowser(async ({ browser, server }) => {
  app = await openApp(browser, server.url);
});

/** Another tab of the app in the same context (same OPFS), Ready. */
async function openTab() {
  const page = await app.context.newPage();
  await page.goto(env.server.url);
  await waitReady(page);
  return page;
}

/** The file names in OPFS hearth/, sorted. */
const hearthFiles = (page) =>
  page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
    const names = [];
    for await (const [name, handle] of dir.entries()) if (handle.kind === 'file') names.push(name);
    return names.sort();
  });

/** The saved generation numbers (hearth/index-<gen>.hix), ascending. */
const generations = (files) =>
  files
    .map((n) => /^index-(\d+)\.hix$/.exec(n))
    .filter(Boolean)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);

const alertText = (page) => page.getByRole('alert').textContent();

// Long enough for several passages each, so that two tabs embed at the same time.
const story = (title, fact, filler) =>
  `${title}\n\n${fact}\n\n` + Array.from({ length: 40 }, (_, i) => `${filler} Note ${i}: nothing else of interest happened on day ${i}.`).join('\n\n');
const DOC_A = textFile('quillfield-depot.txt', story('Quillfield depot', 'The gate code of the Quillfield depot is amber-3141.', 'The depot stores grain.'));
const DOC_B = textFile('osprey-ferry.txt', story('Osprey ferry', 'The ferry to Osprey Island leaves at 7:25 from pier nine.', 'The ferry carries bicycles.'));
const DOC_D = textFile(
  'tamarind-library.txt',
  'Tamarind library\n\nThe archivist of the Tamarind library is Ilse Brandt. The reading room closes at 6 pm on Saturdays.\n',
);
const DOC_E = textFile('heron-pond.txt', 'Heron pond\n\nThe heron pond is eleven metres deep at its centre.\n');
const DOC_F = textFile('kiln-yard.txt', 'Kiln yard\n\nThe kiln yard fires its pots every second Thursday.\n');

test('two tabs add documents at the same time: both are kept, and an idle tab sees the other tab\'s', { timeout: 480_000 }, async () => {
  const p1 = app.page;
  await waitReady(p1);
  assert.deepEqual(await documentNames(p1), []);
  const p2 = await openTab();
  assert.deepEqual(await documentNames(p2), []);

  // Both tabs loaded the (empty) index before either adds: without reloading the other tab's save under the
  // lock, the second save would drop the first tab's document.
  await Promise.all([addDocuments(p1, [DOC_A]), addDocuments(p2, [DOC_B])]);
  const lists = [(await documentNames(p1)).sort(), (await documentNames(p2)).sort()];
  console.log(`# after adding at once: tab 1 ${JSON.stringify(lists[0])}, tab 2 ${JSON.stringify(lists[1])}`);
  assert.ok(
    lists.some((l) => l.length === 2),
    'the tab that saved second lists both documents',
  );
  const p3 = await openTab();
  assert.deepEqual((await documentNames(p3)).sort(), [DOC_B.name, DOC_A.name].sort(), 'a new tab loads both documents');
  assert.equal(await alertText(p3), '');
  await p3.close();

  // Tab 2 adds a document while tab 1 is idle; tab 1 then answers from it (it reloaded the other tab's save).
  await addDocuments(p2, [DOC_D]);
  assert.deepEqual((await documentNames(p2)).sort(), [DOC_B.name, DOC_A.name, DOC_D.name].sort());
  await p1.waitForTimeout(1000); // the other tab's save is announced at once; the reload takes milliseconds
  await setSettings(p1, { maxTokens: 4 });
  await askAndWait(p1, 'Who is the archivist of the Tamarind library?');
  const sources = await p1.getByRole('list', { name: 'Sources' }).last().textContent();
  assert.match(sources, /tamarind-library\.txt/, 'the idle tab searched the document the other tab added');

  // Tab 1 removes a document: the document tab 2 added meanwhile stays.
  await p1.getByRole('button', { name: `Remove ${DOC_A.name}` }).click();
  await p1.waitForFunction((n) => !document.querySelector('ul[aria-label="Documents"]').textContent.includes(n), DOC_A.name);
  await waitReady(p1);
  assert.deepEqual((await documentNames(p1)).sort(), [DOC_B.name, DOC_D.name].sort());

  // The newest generation and the one before it are kept; older ones are deleted.
  const files = await hearthFiles(p1);
  console.log(`# hearth/: ${JSON.stringify(files)}`);
  const gens = generations(files);
  assert.equal(gens.length, 2, `two generations kept: ${files}`);
  await p2.close();
});

test('a save cut off by closing its tab, or a newest generation that fails its checksum, leaves the previous one', { timeout: 480_000 }, async () => {
  const p1 = app.page;
  await waitReady(p1);
  const names = (await documentNames(p1)).sort();
  const before = generations(await hearthFiles(p1));
  const newest = before.at(-1);

  // A tab that dies in the middle of a save: it holds the lock (as the worker does while saving), has created
  // the next generation's file and written half of it, and is closed before the write completes.
  const dying = await app.context.newPage();
  await dying.goto(`${env.server.url}/style.css`); // same origin, without starting the app
  await dying.evaluate(
    (gen) =>
      new Promise((started) => {
        navigator.locks.request('hearth-index', async () => {
          const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
          const bytes = new Uint8Array(await (await (await dir.getFileHandle(`index-${gen}.hix`)).getFile()).arrayBuffer());
          const w = await (await dir.getFileHandle(`index-${gen + 1}.hix`, { create: true })).createWritable();
          await w.write(bytes.subarray(0, bytes.length >> 1));
          started();
          await new Promise(() => {}); // never finishes: the tab closes first
        });
      }),
    newest,
  );
  await dying.close();

  const p4 = await openTab();
  console.log(`# after the cut-off save: ${JSON.stringify(await hearthFiles(p4))}`);
  assert.equal(await alertText(p4), '', 'a save that never completed is not an error');
  assert.deepEqual((await documentNames(p4)).sort(), names, 'the last complete generation is loaded');
  // And it saves on top of it.
  await addDocuments(p4, [DOC_E]);
  const withE = [...names, DOC_E.name].sort();
  assert.deepEqual((await documentNames(p4)).sort(), withE);
  await p4.close();

  // The newest generation is damaged (it fails its checksum): it is kept aside, the previous one is loaded.
  const files = await hearthFiles(p1);
  const damaged = generations(files).at(-1);
  assert.ok(damaged > newest + 1, `the next save took a new number: ${files}`);
  assert.ok(generations(files).includes(newest), `the generation before it is kept: ${files}`);
  await p1.evaluate(async (gen) => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
    const w = await (await dir.getFileHandle(`index-${gen}.hix`)).createWritable({ keepExistingData: true });
    await w.write({ type: 'write', position: 40, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
    await w.close();
  }, damaged);
  const p5 = await openTab();
  const message = await alertText(p5);
  console.log(`# alert: ${message}`);
  assert.match(message, /saved document index could not be loaded/);
  assert.match(message, /previous save was loaded instead/);
  assert.match(message, /index-damaged-/);
  assert.deepEqual((await documentNames(p5)).sort(), names, 'the previous generation is loaded');
  const after = await hearthFiles(p5);
  assert.ok(after.some((n) => new RegExp(`^index-damaged-.*-gen${damaged}\\.hix$`).test(n)), `kept aside: ${after}`);
  assert.ok(!after.includes(`index-${damaged}.hix`), 'not loaded again');

  // Saving again goes on from the previous generation, and the damaged file stays.
  await addDocuments(p5, [DOC_F]);
  const withF = [...names, DOC_F.name].sort();
  assert.deepEqual((await documentNames(p5)).sort(), withF);
  await p5.close();
  const p6 = await openTab();
  assert.equal(await alertText(p6), '');
  assert.deepEqual((await documentNames(p6)).sort(), withF);
  const last = await hearthFiles(p6);
  assert.ok(last.some((n) => /^index-damaged-/.test(n)), `the damaged file is still kept: ${last}`);
  const gens = generations(last);
  assert.ok(gens.at(-1) > damaged, `a damaged file's number is not used again: ${last}`);
  assert.ok(gens.includes(newest), `the generation the save was made from is kept: ${last}`);
  assert.ok(gens.every((g) => g >= newest), `older generations were deleted: ${last}`);
  await p6.close();
});

test('an index saved before generations (hearth/index.hix) is loaded as generation 0 and kept one save more', { timeout: 300_000 }, async () => {
  const p1 = app.page;
  await waitReady(p1);
  // The state an older version of the page left: one hearth/index.hix, no generations.
  const names = [DOC_B.name, DOC_D.name, DOC_F.name].sort(); // where the test before left the index
  await p1.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth');
    const gens = [];
    const aside = [];
    for await (const name of dir.keys()) {
      const m = /^index-(\d+)\.hix$/.exec(name);
      if (m) gens.push(Number(m[1]));
      if (/^index-damaged-/.test(name)) aside.push(name);
    }
    gens.sort((a, b) => a - b);
    const bytes = await (await (await dir.getFileHandle(`index-${gens.at(-1)}.hix`)).getFile()).arrayBuffer();
    const w = await (await dir.getFileHandle('index.hix', { create: true })).createWritable();
    await w.write(bytes);
    await w.close();
    for (const name of [...gens.map((g) => `index-${g}.hix`), ...aside]) await dir.removeEntry(name);
  });
  const p2 = await openTab();
  assert.equal(await alertText(p2), '');
  assert.deepEqual((await documentNames(p2)).sort(), names, 'the old index.hix is loaded');
  await addDocuments(p2, [DOC_A]);
  let files = await hearthFiles(p2);
  assert.ok(files.includes('index.hix'), `kept as the previous generation: ${files}`);
  assert.deepEqual(generations(files), [1]);
  await p2.getByRole('button', { name: `Remove ${DOC_A.name}` }).click();
  await p2.waitForFunction((n) => !document.querySelector('ul[aria-label="Documents"]').textContent.includes(n), DOC_A.name);
  await waitReady(p2);
  files = await hearthFiles(p2);
  assert.ok(!files.includes('index.hix'), `deleted once two generations are newer: ${files}`);
  assert.deepEqual(generations(files), [1, 2]);
  await p2.close();
  const p3 = await openTab();
  assert.deepEqual((await documentNames(p3)).sort(), names);
  await p3.close();
});
