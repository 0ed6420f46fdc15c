// Worker side: gets a model file from the browser cache (OPFS) or the network, streaming it chunk by chunk
// into a sink (a ModelLoader, or a buffer for the embedder's files) while hashing it (the wasm Sha256).
//  - cache hit: read from OPFS, the hash checked against the one stored with it (and the manifest's); a
//    damaged copy is removed and the file downloaded again;
//  - cache miss: download, written to OPFS as it streams when there is room (quota checked first), kept only
//    if the hash matches the manifest's sha256 (when the page gave one).

import * as cache from './storage.js';

const PROGRESS_MS = 50;

/**
 * `src`: {url, sha256?, size?, label}. `openSink(total)` returns {push(Uint8Array), abort()}.
 * `ctx`: {wasm, signal, useCache, onBytes(loaded, total, source), onWarning(message)}.
 * Resolves to {sink, source: 'cache'|'network', sha256, bytes}.
 */
export async function download(src, openSink, ctx) {
  const { url, label = url } = src;
  if (ctx.useCache) {
    const hit = await cache.cacheLookup(url).catch(() => null);
    if (hit && src.sha256 && hit.meta.sha256 !== src.sha256) {
      await cache.cacheRemove(url); // an older version of the file: the manifest has moved on
    } else if (hit) {
      const sink = openSink(hit.file.size);
      let sha256 = null;
      try {
        sha256 = await pump(hit.file.stream(), hit.file.size, sink, null, 'cache', ctx);
      } catch (e) {
        if (ctx.signal?.aborted || e.fromSink) {
          sink.abort();
          throw e;
        }
      }
      if (sha256 === hit.meta.sha256) return { sink, source: 'cache', sha256, bytes: hit.file.size };
      sink.abort();
      await cache.cacheRemove(url);
      ctx.onWarning?.(`The cached copy of ${label} was damaged; it was removed and the file is downloaded again.`);
    }
  }

  const res = await fetch(url, { signal: ctx.signal });
  if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('Content-Length')) || src.size || 0;
  let writer = null;
  if (ctx.useCache) {
    const made = await cache.cacheWriter(url, total, ctx.onWarning, label).catch((e) => ({
      writer: null,
      warning: `Could not cache ${label}: ${e.message}`,
    }));
    writer = made.writer;
    if (made.warning) ctx.onWarning?.(made.warning);
  }
  const sink = openSink(total);
  try {
    const sha256 = await pump(res.body, total, sink, writer, 'network', ctx);
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

const sinkBytes = (sink) => sink.bytes ?? 0;

const CHUNK = 1 << 20;

/**
 * The bytes of `stream` as Uint8Arrays, each valid only until the next is asked for: where the stream
 * allows it (a byte stream, as fetch bodies and Blobs are in Chromium) they are read into one buffer used
 * over and over, so a 100 MB download leaves no 100 MB of garbage for the JS heap to collect (which showed as
 * a renderer peak that varied by 100 MB from run to run). Elsewhere, the stream's own chunks.
 */
export async function* byteChunks(stream) {
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
    let buf = new ArrayBuffer(CHUNK);
    for (;;) {
      const { done, value } = byob ? await reader.read(new Uint8Array(buf, 0, CHUNK)) : await reader.read();
      if (done) break;
      yield value;
      if (byob) buf = value.buffer; // the read took the buffer over; it comes back with the bytes
    }
    finished = true;
  } finally {
    if (!finished) reader.cancel().catch(() => {});
  }
}

// Reads `stream` to its end into `sink` (and `writer`), hashing; returns the hex SHA-256.
async function pump(stream, total, sink, writer, source, ctx) {
  const hash = new ctx.wasm.Sha256(); // incremental, in wasm: the file is never held twice
  let loaded = 0;
  let last = 0;
  ctx.onBytes?.(0, total, source);
  try {
    for await (const value of byteChunks(stream)) {
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
