// PassageFeed (www/embed-pool.js): a document's passages shared between the library's worker and its
// helpers, with stand-ins for the wasm Library and the helper pool. Every passage goes into the library once,
// in order, whoever embedded it and however the helpers' answers interleave; no helper has more than two
// requests queued; a helper that fails leaves the library with the passages before the first one missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassageFeed } from '../../www/embed-pool.js';

// A library whose pending document has `n` passages; passage j's vector is [j, j + 0.5].
function fakeLibrary(n) {
  const lib = {
    pushed: [],
    localEmbeds: 0,
    pendingTexts: (from, to) => Array.from({ length: Math.min(to, n) - from }, (_, k) => `passage ${from + k}`),
    embedFlat: (texts) => {
      lib.localEmbeds += texts.length;
      return Float32Array.from(texts.flatMap((t) => vector(Number(t.split(' ')[1]))));
    },
    embedNext: () => lib.pushVectors(Float32Array.from(vector(lib.pushed.length))),
    pushVectors: (flat) => {
      for (let k = 0; k < flat.length; k += 2) {
        if (flat[k] !== lib.pushed.length || !Number.isFinite(flat[k + 1])) throw new Error(`passage ${flat[k]} out of order or bad`);
        lib.pushed.push(flat[k]);
      }
      return lib.pushed.length;
    },
  };
  return lib;
}
const vector = (j) => [j, j + 0.5];

// Helpers answering after a pseudo-random delay (a few ms); `failAt`: the request number that fails.
function fakePool(size, { failAt = Infinity, badAt = Infinity, twoAt = Infinity, emptyAt = Infinity } = {}) {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pool = { size, requests: 0, byHelper: new Array(size).fill(0), queued: new Array(size).fill(0), maxQueued: 0 };
  pool.embed = (i, texts) => {
    const nth = pool.requests++;
    pool.byHelper[i]++;
    pool.maxQueued = Math.max(pool.maxQueued, ++pool.queued[i]);
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        pool.queued[i]--;
        if (nth === failAt) return reject(new Error('an embedding helper failed: it stopped'));
        const j = Number(texts[0].split(' ')[1]);
        if (nth === twoAt) return resolve(Float32Array.from([...vector(j), ...vector(j + 1)]));
        if (nth === emptyAt) return resolve(new Float32Array(0));
        resolve(Float32Array.from(nth === badAt ? [j, NaN] : vector(j)));
      }, 1 + rand() * 6),
    );
  };
  return pool;
}

// The library worker's loop (library-host.js): a step of the feed, then the event loop (the helpers' answers).
async function run(lib, feed, n) {
  let done = 0;
  while (done < n) {
    await new Promise((r) => setTimeout(r, 0));
    done = await feed.step();
  }
  return done;
}

test('every passage goes in once, in order, shared between this worker and the helpers', async () => {
  for (const [n, helpers] of [[1, 1], [2, 1], [3, 2], [37, 1], [50, 3]]) {
    const lib = fakeLibrary(n);
    const pool = fakePool(helpers);
    assert.equal(await run(lib, new PassageFeed(lib, pool, n, 0), n), n);
    assert.deepEqual(lib.pushed, Array.from({ length: n }, (_, j) => j));
    assert.equal(lib.localEmbeds + pool.requests, n, `${n} passages, ${helpers} helpers: each embedded once`);
    assert.ok(pool.maxQueued <= 2, `at most two requests queued per helper (${pool.maxQueued})`);
    assert.ok(lib.localEmbeds >= 1, 'this worker always embeds one, however short the document');
    if (n >= 37) {
      assert.ok(pool.byHelper.every((k) => k > 0), `every helper embedded some (${pool.byHelper})`);
    }
  }
});

test('a feed started part-way goes on from there', async () => {
  const lib = fakeLibrary(20);
  for (let j = 0; j < 5; j++) lib.embedNext(1);
  assert.equal(await run(lib, new PassageFeed(lib, fakePool(1), 20, 5), 20), 20);
  assert.deepEqual(lib.pushed, Array.from({ length: 20 }, (_, j) => j));
});

const faults = [
  ['fails', { failAt: 6 }, /helper failed/],
  ['sends a bad vector', { badAt: 6 }, /out of order or bad/],
  ['sends two vectors for one passage', { twoAt: 6 }, /4 floats, not 2/],
  ['sends no vector', { emptyAt: 6 }, /0 floats, not 2/],
];
for (const [what, fault, message] of faults) {
  test(`a helper that ${what} throws from step, and the library keeps the passages before it`, async () => {
    const n = 30;
    const lib = fakeLibrary(n);
    const feed = new PassageFeed(lib, fakePool(1, fault), n, 0);
    await assert.rejects(run(lib, feed, n), message);
    const kept = lib.pushed.length;
    assert.ok(kept < n, 'not all went in');
    assert.deepEqual(lib.pushed, Array.from({ length: kept }, (_, j) => j), 'a prefix, in order');
    // The caller (library-host.js) drops the pool and embeds the rest alone.
    while (lib.pushed.length < n) lib.embedNext(1);
    assert.deepEqual(lib.pushed, Array.from({ length: n }, (_, j) => j));
  });
}
