// Worker side: gets a model file from the browser cache (OPFS) or the network, streaming it chunk by chunk
// into a sink (a ModelLoader, or a buffer for the embedder's files) while hashing it (the wasm Sha256).
//  - cache hit: read from OPFS slice by slice (fileChunks), the hash checked against the one stored with it
//    (and the manifest's); a damaged copy is removed and the file downloaded again, and so is one that cannot
//    be read (a read that stalls is an error), which is kept until the new download replaces it;
//  - cache miss: download, written to OPFS as it streams when there is room (quota checked first), kept only
//    if the hash matches the manifest's sha256 (when the page gave one).
// A file may come in parts (`src.parts`: URLs whose bodies, concatenated in order, are the file), for hosts
// that limit the size of one file: it is sized, hashed, reported and cached as one file.

import * as cache from './storage.js';

const PROGRESS_MS = 50;

/**
 * `src`: {url | parts, sha256?, size?, label}: `url` the file's URL, or `parts` the URLs of its parts in order
 * (their bodies concatenated are the file). `openSink(total)` returns {push(Uint8Array), abort()}.
 * `ctx`: {wasm, signal, useCache, onBytes(loaded, total, source), onWarning(message)}.
 * Resolves to {sink, source: 'cache'|'network', sha256, bytes}.
 *
 * With parts, `total` is the sum of their Content-Lengths (from HEAD requests made first, in parallel, which
 * also find a missing part before any byte is downloaded), or `size` when one is not known; the hash and the
 * progress run across all of them; the file is cached under the key `cacheKey(src)` (the part URLs, one per
 * line), as a single URL is cached under itself. A part that fails is named: `cannot download <part URL>:
 * HTTP 404 (part 3 of 5)`. A list of one part is that URL.
 */
/**
 * Throws unless `url` is on this worker's own site: the page's Content-Security-Policy (connect-src 'self')
 * blocks every other origin, and this says so rather than let the fetch fail with a bare "Failed to fetch".
 * `what`: "models", "indexes"; `instead`: what the user can do.
 */
export function checkSameSite(url, what, instead) {
  if (new URL(url, self.location.href).origin !== self.location.origin) {
    throw new Error(`only this site's ${what} can be loaded (${url} is on another site): ${instead}`);
  }
}

export async function download(src, openSink, ctx) {
  const parts = partsOf(src);
  const key = cacheKey(src);
  const { label = parts.length === 1 ? parts[0] : `${parts[0]} (${parts.length} parts)` } = src;
  if (ctx.useCache) {
    const hit = await cache.cacheLookup(key).catch(() => null);
    if (hit && src.sha256 && hit.meta.sha256 !== src.sha256) {
      await cache.cacheRemove(key); // an older version of the file: the manifest has moved on
    } else if (hit) {
      const sink = openSink(hit.file.size);
      let sha256 = null;
      let readError = null;
      try {
        sha256 = await pump(fileChunks(hit.file, { name: 'it' }), hit.file.size, sink, null, 'cache', ctx);
      } catch (e) {
        if (ctx.signal?.aborted || e.fromSink) {
          sink.abort();
          throw e;
        }
        readError = e;
      }
      if (!readError && sha256 === hit.meta.sha256) return { sink, source: 'cache', sha256, bytes: hit.file.size };
      sink.abort();
      if (readError) {
        // Not known to be damaged (a read may stall once): kept; the download below replaces it if it completes.
        ctx.onWarning?.(`The cached copy of ${label} could not be read (${readError.message}); the file is downloaded again.`);
      } else {
        await cache.cacheRemove(key);
        ctx.onWarning?.(`The cached copy of ${label} was damaged; it was removed and the file is downloaded again.`);
      }
    }
  }

  let total;
  let chunks;
  if (parts.length === 1) {
    const url = parts[0];
    const res = await fetch(url, { signal: ctx.signal });
    if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
    total = Number(res.headers.get('Content-Length')) || src.size || 0;
    chunks = byteChunks(res.body, { url });
  } else {
    total = (await partsSize(parts, ctx.signal)) || src.size || 0;
    chunks = partChunks(parts, ctx.signal);
  }
  let writer = null;
  if (ctx.useCache) {
    const made = await cache.cacheWriter(key, total, ctx.onWarning, label).catch((e) => ({
      writer: null,
      warning: `Could not cache ${label}: ${e.message}`,
    }));
    writer = made.writer;
    if (made.warning) ctx.onWarning?.(made.warning);
  }
  const sink = openSink(total);
  try {
    const sha256 = await pump(chunks, total, sink, writer, 'network', ctx);
    if (src.sha256 && sha256 !== src.sha256) {
      throw new Error(`${label} failed its sha256 check (expected ${src.sha256}, got ${sha256}); it was not cached`);
    }
    await writer?.commit(sha256);
    return { sink, source: 'network', sha256, bytes: sinkBytes(sink) };
  } catch (e) {
    await writer?.abort();
    sink.abort();
    throw e;
  }
}

/** The key `src` is cached under: its URL, or its part URLs one per line (a list of one: that URL). */
export function cacheKey(src) {
  return partsOf(src).join('\n');
}

function partsOf({ url, parts }) {
  if (parts === undefined || parts === null) {
    if (typeof url !== 'string' || !url) throw new Error('download: a url (or parts) is needed');
    return [url];
  }
  if (url !== undefined && url !== null) throw new Error('download: give url or parts, not both');
  if (!Array.isArray(parts) || !parts.length || !parts.every((p) => typeof p === 'string' && p)) {
    throw new Error('download: parts must be a non-empty array of URLs');
  }
  return parts;
}

const partText = (i, n) => `(part ${i + 1} of ${n})`;

// A failure to reach a part (or to read its body), naming it; a cancelled load's error is kept as it is.
function partError(e, url, i, n, signal) {
  if (signal?.aborted) return e;
  return new Error(`cannot download ${url}: ${e?.message ?? e} ${partText(i, n)}`, { cause: e });
}

async function fetchPart(url, i, n, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw partError(e, url, i, n, init.signal);
  }
  // A host that does not answer HEAD (405, 501) only leaves the size unknown.
  const headUnsupported = init.method === 'HEAD' && (res.status === 405 || res.status === 501);
  if (!res.ok && !headUnsupported) throw new Error(`cannot download ${url}: HTTP ${res.status} ${partText(i, n)}`);
  return res;
}

// The sum of the parts' Content-Lengths (HEAD, all at once), or 0 if one is unknown. A part that is missing
// fails here, before anything is downloaded (the first failing part in order is named).
async function partsSize(parts, signal) {
  const heads = await Promise.allSettled(parts.map((url, i) => fetchPart(url, i, parts.length, { method: 'HEAD', signal })));
  const failed = heads.find((h) => h.status === 'rejected');
  if (failed) throw failed.reason;
  const sizes = heads.map(({ value: res }) => (res.ok ? Number(res.headers.get('Content-Length')) || 0 : 0));
  return sizes.every((n) => n > 0) ? sizes.reduce((a, b) => a + b, 0) : 0;
}

// The parts' bodies one after the other, as one stream of chunks (each part fetched when the one before ends).
async function* partChunks(parts, signal) {
  for (const [i, url] of parts.entries()) {
    const res = await fetchPart(url, i, parts.length, { signal });
    try {
      yield* byteChunks(res.body);
    } catch (e) {
      throw partError(e, url, i, parts.length, signal); // the body broke off (the consumer's errors never land here)
    }
  }
}

const sinkBytes = (sink) => sink.bytes ?? 0;

const CHUNK = 1 << 20;
// A read that brings nothing for this long has stalled: an error, never a wait without end. The worker keeps
// telling the page's watchdog it is alive while it awaits a read, so the watchdog cannot see such a stall.
const FILE_STALL_MS = 20_000; // a 1 MB slice of a local file (OPFS, or one the user picked)
const NETWORK_STALL_MS = 120_000; // the next chunk of a download

// `promise`, or a rejection with `message` (and `stalled: true`) if it has not settled after `ms`.
async function within(promise, ms, message) {
  let timer;
  const stalled = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(message), { stalled: true })), ms);
  });
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The bytes of `file` (a File or Blob: a cached copy in OPFS, or one the user picked) as Uint8Arrays of up to
 * 1 MB, read slice by slice. Not through file.stream(): in Chromium, the stream of a cached file opened just
 * after the page ended a worker sometimes delivered nothing, ever (tests/e2e/recovery.test.mjs, about one run
 * in three on a loaded machine); slices did not stall in 15 such runs. A slice that stalls anyway is an error.
 */
export async function* fileChunks(file, { name = file.name || 'the file', stallMs = FILE_STALL_MS } = {}) {
  for (let offset = 0; offset < file.size; offset += CHUNK) {
    const slice = file.slice(offset, Math.min(file.size, offset + CHUNK));
    yield new Uint8Array(await within(slice.arrayBuffer(), stallMs, `reading ${name} stalled at byte ${offset} of ${file.size}`));
  }
}

/**
 * The bytes of `stream` (a download's body) as Uint8Arrays, each valid only until the next is asked for: where
 * the stream allows it (a byte stream, as fetch bodies are in Chromium) they are read into one buffer used over
 * and over, so a 100 MB download leaves no 100 MB of garbage for the JS heap to collect (which showed as a
 * renderer peak that varied by 100 MB from run to run). Elsewhere, the stream's own chunks. No data for
 * `stallMs` is an error (naming `url`, if given). Files are read by fileChunks, one new buffer a slice.
 */
export async function* byteChunks(stream, { stallMs = NETWORK_STALL_MS, url } = {}) {
  let reader;
  let byob = true;
  try {
    reader = stream.getReader({ mode: 'byob' });
  } catch {
    reader = stream.getReader(); // not a byte stream
    byob = false;
  }
  let finished = false;
  try {
    const stalled = `${url ? `cannot download ${url}: ` : ''}the download stalled: no data for ${stallMs / 1000} s`;
    let buf = new ArrayBuffer(CHUNK);
    for (;;) {
      const read = byob ? reader.read(new Uint8Array(buf, 0, CHUNK)) : reader.read();
      const { done, value } = await within(read, stallMs, stalled);
      if (done) break;
      yield value;
      if (byob) buf = value.buffer; // the read took the buffer over; it comes back with the bytes
    }
    finished = true;
  } finally {
    if (!finished) reader.cancel().catch(() => {});
  }
}

// Reads `chunks` (fileChunks, byteChunks of a stream, or of parts one after the other) to the end into `sink` (and
// `writer`), hashing; returns the hex SHA-256.
async function pump(chunks, total, sink, writer, source, ctx) {
  const hash = new ctx.wasm.Sha256(); // incremental, in wasm: the file is never held twice
  let loaded = 0;
  let last = 0;
  ctx.onBytes?.(0, total, source);
  try {
    for await (const value of chunks) {
      if (ctx.signal?.aborted) throw new Error('loading cancelled');
      try {
        await sink.push(value); // a split model's pool may ask the stream to wait
      } catch (e) {
        e.fromSink = true; // the loader's failure, not the file's: never taken for a damaged cache
        throw e;
      }
      hash.update(value);
      if (writer) await writer.write(value);
      loaded += value.byteLength;
      const now = performance.now();
      if (now - last > PROGRESS_MS) {
        last = now;
        ctx.onBytes?.(loaded, total, source);
      }
    }
    ctx.onBytes?.(loaded, total, source);
    return hash.hex();
  } finally {
    hash.free();
  }
}

/** A sink that collects a file into one Uint8Array (for the embedder's files). */
export function bufferSink(total) {
  let buf = new Uint8Array(total || 1 << 16);
  let len = 0;
  return {
    push(chunk) {
      if (len + chunk.byteLength > buf.length) {
        const grown = new Uint8Array(Math.max(buf.length * 2, len + chunk.byteLength));
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      buf.set(chunk, len);
      len += chunk.byteLength;
    },
    abort() {
      buf = null;
    },
    get bytes() {
      return len;
    },
    result() {
      return len === buf.length ? buf : buf.subarray(0, len);
    },
  };
}
