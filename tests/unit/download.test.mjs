// The download helpers (www/download.js) on streams built in node: the bytes arrive whole and in order,
// whether the stream lends a reusable buffer (a byte stream) or hands out its own chunks; and download() of
// a file in parts, with fetch and the browser's storage replaced by stand-ins.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { bufferSink, byteChunks, cacheKey, download, fileChunks } from '../../www/download.js';
import { cacheList } from '../../www/storage.js';

const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 251);

async function collect(stream) {
  const sink = bufferSink(0);
  // Each chunk is valid only until the next is asked for: copy it now, as the real sinks do.
  for await (const c of byteChunks(stream)) sink.push(c);
  return sink.result();
}

test('a plain stream: its chunks, in order', async () => {
  const data = bytes(300_000);
  const parts = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000)];
  const stream = new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p.slice());
      c.close();
    },
  });
  assert.deepEqual(await collect(stream), data);
});

test('a byte stream: read into one reused buffer, every byte kept', async () => {
  const data = bytes(3 * (1 << 20) + 123);
  let at = 0;
  const stream = new ReadableStream({
    type: 'bytes',
    pull(c) {
      const n = Math.min(500_000, data.length - at);
      if (n === 0) {
        c.close();
        c.byobRequest?.respond(0); // a read waiting on its own buffer ends (the spec's close of a byte stream)
        return;
      }
      c.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
  assert.deepEqual(await collect(stream), data);
});

test('a file (Blob) read slice by slice: every byte, in order, in chunks of at most 1 MB', async () => {
  const data = bytes(2 * (1 << 20) + 5);
  const sink = bufferSink(0);
  const sizes = [];
  for await (const c of fileChunks(new Blob([data]))) sizes.push(c.byteLength), sink.push(c);
  assert.deepEqual(sizes, [1 << 20, 1 << 20, 5]);
  assert.deepEqual(sink.result(), data);
  for await (const c of fileChunks(new Blob([]))) assert.fail(`an empty file has no chunk, got ${c.byteLength} bytes`);
});

test('a read that never ends is an error naming where it stalled, not a wait without end', async () => {
  // A file whose second slice never arrives (as a cached copy's stream did in Chromium).
  const data = bytes(1.5 * (1 << 20));
  const file = {
    name: 'model.gguf',
    size: data.length,
    slice: (a, b) => ({ arrayBuffer: () => (a === 0 ? Promise.resolve(data.slice(a, b).buffer) : new Promise(() => {})) }),
  };
  const got = [];
  await assert.rejects(
    (async () => {
      for await (const c of fileChunks(file, { stallMs: 50 })) got.push(c.byteLength);
    })(),
    (e) => e.stalled === true && e.message === `reading model.gguf stalled at byte ${1 << 20} of ${data.length}`,
  );
  assert.deepEqual(got, [1 << 20], 'the first slice arrived');
  // A download whose body sends one chunk, then nothing.
  let cancelled = false;
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(bytes(10));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assert.rejects(
    (async () => {
      for await (const _ of byteChunks(stream, { stallMs: 50, url: '/m/model.gguf' }));
    })(),
    (e) => e.stalled === true && e.message === 'cannot download /m/model.gguf: the download stalled: no data for 0.05 s',
  );
  assert.ok(cancelled, 'the stalled body is cancelled');
});

test('bufferSink grows past its announced size and trims to what arrived', () => {
  const sink = bufferSink(4);
  sink.push(bytes(3));
  sink.push(bytes(10));
  assert.equal(sink.bytes, 13);
  assert.deepEqual(sink.result(), Uint8Array.from([...bytes(3), ...bytes(10)]));
  const exact = bufferSink(5);
  exact.push(bytes(5));
  assert.equal(exact.result().length, 5);
});

// ---- a file in parts (`src.parts`) -------------------------------------------------------------------------
// download() with fetch, the wasm Sha256 and the browser's storage (OPFS) replaced by node stand-ins.

const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');

/** The wasm package's incremental Sha256, as download() uses it. */
class Sha256 {
  #hash = createHash('sha256');
  update(chunk) {
    this.#hash.update(chunk);
  }
  hex() {
    return this.#hash.digest('hex');
  }
  free() {}
}

/**
 * A fetch serving `files` ({url: Uint8Array | {status} | {bytes, breakAfter}}) in 10,000-byte chunks, with
 * Content-Length unless `lengths` is false; HEAD answered as GET without the body (or with `headStatus`).
 * `calls` records "METHOD url" in order.
 */
function fakeFetch(files, { lengths = true, headStatus } = {}) {
  const calls = [];
  const fetch = async (url, { method = 'GET', signal } = {}) => {
    calls.push(`${method} ${url}`);
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const file = files[url];
    if (!file) return new Response('not found', { status: 404 });
    if (file.status) return new Response('', { status: file.status });
    const bytes = file instanceof Uint8Array ? file : file.bytes;
    const headers = lengths ? { 'Content-Length': String(bytes.length) } : {};
    if (method === 'HEAD') return new Response(null, { status: headStatus ?? 200, headers });
    let at = 0;
    const body = new ReadableStream({
      pull(c) {
        if (file.breakAfter !== undefined && at >= file.breakAfter) return c.error(new TypeError('network error'));
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.slice(at, at + 10_000));
        at += 10_000;
      },
    });
    return new Response(body, { headers });
  };
  return { fetch, calls };
}

/** A sink collecting the file, recording the total it was opened with and whether it was aborted. */
function recordingSink() {
  const opened = { total: undefined, sink: null };
  const open = (total) => {
    opened.total = total;
    const sink = bufferSink(total);
    opened.sink = Object.assign(sink, { aborted: false, abort: () => (sink.aborted = true) });
    return sink;
  };
  return { opened, open };
}

// A model split as `split -b` does: parts of equal size, the last one shorter.
const whole = bytes(95_000);
const PARTS = ['/m/model.gguf.part-aa', '/m/model.gguf.part-ab', '/m/model.gguf.part-ac'];
const served = Object.fromEntries(PARTS.map((u, i) => [u, whole.slice(i * 40_000, (i + 1) * 40_000)]));

async function withFetch(fake, fn) {
  const saved = globalThis.fetch;
  globalThis.fetch = fake.fetch;
  try {
    return await fn();
  } finally {
    globalThis.fetch = saved;
  }
}

const ctxOf = (extra = {}) => ({ wasm: { Sha256 }, useCache: false, ...extra });

test('parts: their bodies concatenated in order are the file, sized from their Content-Lengths', async () => {
  const fake = fakeFetch(served);
  const { opened, open } = recordingSink();
  const got = await withFetch(fake, () => download({ parts: PARTS, label: 'model.gguf' }, open, ctxOf()));
  assert.equal(opened.total, whole.length, 'the sink is opened with the sum of the parts');
  assert.deepEqual(got.sink.result(), whole);
  assert.equal(got.source, 'network');
  assert.equal(got.bytes, whole.length);
  // Every part's size first (a missing part fails before any download), then the bodies one after the other.
  assert.deepEqual(fake.calls, [...PARTS.map((u) => `HEAD ${u}`), ...PARTS.map((u) => `GET ${u}`)]);
});

test('parts: the hash runs across all of them and is checked against the whole file\'s', async () => {
  const fake = fakeFetch(served);
  const got = await withFetch(fake, () => download({ parts: PARTS, sha256: sha256Hex(whole) }, recordingSink().open, ctxOf()));
  assert.equal(got.sha256, sha256Hex(whole));
  const wrong = '0'.repeat(64);
  const { opened, open } = recordingSink();
  await assert.rejects(
    withFetch(fakeFetch(served), () => download({ parts: PARTS, sha256: wrong, label: 'model.gguf' }, open, ctxOf())),
    { message: `model.gguf failed its sha256 check (expected ${wrong}, got ${sha256Hex(whole)}); it was not cached` },
  );
  assert.ok(opened.sink.aborted, 'the sink is aborted');
});

test('parts: a missing part is named, and found before anything is downloaded', async () => {
  const five = ['/p/a', '/p/b', '/p/c', '/p/d', '/p/e'];
  const files = Object.fromEntries(five.map((u) => [u, bytes(1000)]));
  delete files['/p/c'];
  files['/p/e'] = { status: 500 }; // a later failure too: the first part in order is the one named
  const fake = fakeFetch(files);
  const { opened, open } = recordingSink();
  await assert.rejects(withFetch(fake, () => download({ parts: five }, open, ctxOf())), {
    message: 'cannot download /p/c: HTTP 404 (part 3 of 5)',
  });
  assert.equal(opened.sink, null, 'no sink was opened');
  assert.ok(fake.calls.every((c) => c.startsWith('HEAD ')), 'no body was requested');
});

test('parts: a part failing after the sizes were known is named, and the sink aborted', async () => {
  // HEAD succeeds, GET fails (a host that changed in between).
  const fake = fakeFetch(served);
  const inner = fake.fetch;
  fake.fetch = (url, init = {}) => (url === PARTS[1] && init.method !== 'HEAD' ? Promise.resolve(new Response('', { status: 503 })) : inner(url, init));
  const { opened, open } = recordingSink();
  await assert.rejects(withFetch(fake, () => download({ parts: PARTS }, open, ctxOf())), {
    message: `cannot download ${PARTS[1]}: HTTP 503 (part 2 of 3)`,
  });
  assert.ok(opened.sink.aborted);

  // A body that breaks off midway.
  const broken = { ...served, [PARTS[2]]: { bytes: served[PARTS[2]], breakAfter: 10_000 } };
  const second = recordingSink();
  await assert.rejects(withFetch(fakeFetch(broken), () => download({ parts: PARTS }, second.open, ctxOf())), {
    message: `cannot download ${PARTS[2]}: network error (part 3 of 3)`,
  });
  assert.ok(second.opened.sink.aborted);
});

test('parts: progress counts across all of them, against the total of all', async () => {
  const calls = [];
  await withFetch(fakeFetch(served), () =>
    download({ parts: PARTS }, recordingSink().open, ctxOf({ onBytes: (loaded, total, source) => calls.push({ loaded, total, source }) })),
  );
  assert.deepEqual(calls[0], { loaded: 0, total: whole.length, source: 'network' });
  assert.deepEqual(calls.at(-1), { loaded: whole.length, total: whole.length, source: 'network' });
  assert.ok(calls.every((c, i) => c.total === whole.length && (i === 0 || c.loaded >= calls[i - 1].loaded)));
});

test('parts: without every Content-Length the total is `size` (or unknown), and a host refusing HEAD is fine', async () => {
  const noLength = recordingSink();
  await withFetch(fakeFetch(served, { lengths: false }), () => download({ parts: PARTS, size: whole.length }, noLength.open, ctxOf()));
  assert.equal(noLength.opened.total, whole.length);
  const unknown = recordingSink();
  const got = await withFetch(fakeFetch(served, { headStatus: 405 }), () => download({ parts: PARTS }, unknown.open, ctxOf()));
  assert.equal(unknown.opened.total, 0);
  assert.deepEqual(got.sink.result(), whole);
});

test('parts: a bad list is refused; a list of one part is that URL', async () => {
  for (const src of [{ parts: [] }, { parts: ['/a', ''] }, { parts: '/a' }, { url: '/a', parts: ['/a'] }, {}]) {
    await assert.rejects(download(src, recordingSink().open, ctxOf()), /download: /);
  }
  const fake = fakeFetch(served);
  const got = await withFetch(fake, () => download({ parts: [PARTS[0]] }, recordingSink().open, ctxOf()));
  assert.deepEqual(got.sink.result(), served[PARTS[0]]);
  assert.deepEqual(fake.calls, [`GET ${PARTS[0]}`]);
  assert.equal(cacheKey({ parts: [PARTS[0]] }), PARTS[0]);
  assert.equal(cacheKey({ url: PARTS[0] }), PARTS[0]);
  assert.equal(cacheKey({ parts: PARTS }), PARTS.join('\n'));
});

// ---- the cache (storage.js) on an in-memory stand-in for the origin private file system -------------------

class MemoryFile {
  kind = 'file';
  data = new Uint8Array(0);
  constructor(name) {
    this.name = name;
  }
  async getFile() {
    return new File([this.data], this.name);
  }
  async createWritable() {
    const chunks = [];
    return {
      write: async (c) => void chunks.push(typeof c === 'string' ? new TextEncoder().encode(c) : new Uint8Array(c)),
      close: async () => void (this.data = new Uint8Array(Buffer.concat(chunks))),
      abort: async () => {},
    };
  }
}

class MemoryDir {
  kind = 'directory';
  entriesMap = new Map();
  async #get(name, create, Kind) {
    let e = this.entriesMap.get(name);
    if (!e) {
      if (!create) throw new DOMException(`${name} not found`, 'NotFoundError');
      this.entriesMap.set(name, (e = new Kind(name)));
    }
    if (!(e instanceof Kind)) throw new DOMException(`${name} is of the other kind`, 'TypeMismatchError');
    return e;
  }
  getDirectoryHandle(name, { create = false } = {}) {
    return this.#get(name, create, MemoryDir);
  }
  getFileHandle(name, { create = false } = {}) {
    return this.#get(name, create, MemoryFile);
  }
  async removeEntry(name) {
    if (!this.entriesMap.delete(name)) throw new DOMException(`${name} not found`, 'NotFoundError');
  }
  async *entries() {
    yield* this.entriesMap.entries();
  }
}

test('parts: cached as one file under the list of their URLs, read back from the cache next time', async () => {
  const root = new MemoryDir();
  const hadNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', {
    value: { storage: { getDirectory: async () => root, estimate: async () => ({ usage: 0, quota: 1e9 }) } },
    configurable: true,
  });
  try {
    const src = { parts: PARTS, sha256: sha256Hex(whole) };
    const first = fakeFetch(served);
    const got = await withFetch(first, () => download(src, recordingSink().open, ctxOf({ useCache: true })));
    assert.equal(got.source, 'network');
    const [entry, ...others] = await cacheList();
    assert.equal(others.length, 0);
    assert.deepEqual({ url: entry.url, sha256: entry.sha256, size: entry.size }, { url: PARTS.join('\n'), sha256: sha256Hex(whole), size: whole.length });

    const again = fakeFetch(served);
    const progress = [];
    const hit = await withFetch(again, () =>
      download(src, recordingSink().open, ctxOf({ useCache: true, onBytes: (loaded, total, source) => progress.push([loaded, total, source]) })),
    );
    assert.equal(hit.source, 'cache');
    assert.deepEqual(hit.sink.result(), whole);
    assert.deepEqual(again.calls, [], 'nothing fetched');
    assert.deepEqual(progress.at(-1), [whole.length, whole.length, 'cache']);

    // A cached copy that cannot be read (as one whose reads stalled): downloaded again, with a warning, and cached anew.
    const [bin] = [...root.entriesMap.get('hearth').entriesMap.get('models').entriesMap.values()].filter((e) => e.name.endsWith('.bin'));
    const getFile = bin.getFile;
    bin.getFile = async () => {
      const file = await getFile.call(bin);
      return { name: file.name, size: file.size, slice: () => ({ arrayBuffer: () => Promise.reject(new DOMException('the file could not be read', 'NotReadableError')) }) };
    };
    const warnings = [];
    const reread = fakeFetch(served);
    const redone = await withFetch(reread, () => download(src, recordingSink().open, ctxOf({ useCache: true, onWarning: (w) => warnings.push(w) })));
    bin.getFile = getFile;
    assert.equal(redone.source, 'network');
    assert.deepEqual(redone.sink.result(), whole);
    assert.deepEqual(warnings, [`The cached copy of ${PARTS[0]} (3 parts) could not be read (the file could not be read); the file is downloaded again.`]);
    assert.equal((await cacheList()).length, 1, 'cached anew');
    const back = await withFetch(fakeFetch(served), () => download(src, recordingSink().open, ctxOf({ useCache: true })));
    assert.equal(back.source, 'cache', 'and read from the cache next time');

    // The first part alone is another file: not the cached whole.
    const alone = fakeFetch(served);
    const single = await withFetch(alone, () => download({ url: PARTS[0] }, recordingSink().open, ctxOf({ useCache: true })));
    assert.equal(single.source, 'network');
    assert.deepEqual(single.sink.result(), served[PARTS[0]]);
  } finally {
    if (hadNavigator) Object.defineProperty(globalThis, 'navigator', hadNavigator);
    else delete globalThis.navigator;
  }
});
