// The browser's private storage (origin private file system, OPFS), used by the worker only:
//   hearth/models/<key>.bin + <key>.json   cached model files, keyed by URL, with their sha256
//   hearth/index.hix                       the saved document index (Library.saveIndex bytes)
//   hearth/index-damaged-<time>.hix        an index that failed to load, kept aside, never overwritten
// Every write goes through createWritable(), which writes to a temporary file and replaces the old one only
// on close(): a tab closed mid-write leaves the previous file intact.

const MB = (n) => `${(n / 1e6).toFixed(1)} MB`;

async function dir(path, create = true) {
  let d = await navigator.storage.getDirectory();
  for (const part of path.split('/')) d = await d.getDirectoryHandle(part, { create });
  return d;
}

async function fileHandle(path, name, create = false) {
  try {
    return await (await dir(path, create)).getFileHandle(name, { create });
  } catch (e) {
    if (e.name === 'NotFoundError' || e.name === 'TypeError') return null;
    throw e;
  }
}

async function writeFile(path, name, data) {
  const handle = await fileHandle(path, name, true);
  const w = await handle.createWritable();
  try {
    await w.write(data);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
}

export async function estimate() {
  const { usage = 0, quota = 0 } = (await navigator.storage?.estimate?.()) ?? {};
  return { usage, quota };
}

// ---- model cache ---------------------------------------------------------------------------------------

const MODELS = 'hearth/models';
const keyOf = async (url) =>
  [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url)))]
    .slice(0, 16)
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');

/** The cached copy of `url`: { file: File, meta: {url, sha256, size, savedAt} }, or null. */
export async function cacheLookup(url) {
  const key = await keyOf(url);
  const metaHandle = await fileHandle(MODELS, `${key}.json`);
  const dataHandle = metaHandle && (await fileHandle(MODELS, `${key}.bin`));
  if (!dataHandle) return null;
  try {
    const meta = JSON.parse(await (await metaHandle.getFile()).text());
    const file = await dataHandle.getFile();
    if (meta.url !== url || file.size !== meta.size || !/^[0-9a-f]{64}$/.test(meta.sha256)) return null;
    return { file, meta };
  } catch {
    return null;
  }
}

/** Removes the cached copy of `url` (if any). */
export async function cacheRemove(url) {
  const key = await keyOf(url);
  const d = await dir(MODELS);
  for (const name of [`${key}.json`, `${key}.bin`]) await d.removeEntry(name).catch(() => {});
}

/**
 * A writer that caches `url` while it streams: write(chunk) as bytes arrive, then commit(sha256) or abort().
 * Returns { writer: null, warning } when the browser's storage is too short for `size` bytes; a write that
 * runs out of space later turns the writer off (with a warning through `onWarning`) without failing the load.
 */
export async function cacheWriter(url, size, onWarning, label) {
  const { usage, quota } = await estimate();
  const free = quota - usage;
  if (quota && size && free < size * 1.05 + 5e6) {
    return {
      writer: null,
      warning:
        `Not enough browser storage to cache ${label} (needs ${MB(size)}, ${MB(Math.max(0, free))} free): it is loaded ` +
        'without caching and will be downloaded again next time. "Clear cached models" or the browser\'s site ' +
        'settings free space.',
    };
  }
  const key = await keyOf(url);
  const d = await dir(MODELS);
  await d.removeEntry(`${key}.json`).catch(() => {}); // no metadata may point at a half-replaced file
  const w = await (await d.getFileHandle(`${key}.bin`, { create: true })).createWritable();
  let ok = true;
  let bytes = 0;
  const fail = async (e) => {
    ok = false;
    await w.abort().catch(() => {});
    onWarning?.(`Could not cache ${label} (${e.name === 'QuotaExceededError' ? 'browser storage is full' : e.message}): it is loaded without caching.`);
  };
  return {
    writer: {
      async write(chunk) {
        if (!ok) return;
        try {
          await w.write(chunk);
          bytes += chunk.byteLength;
        } catch (e) {
          await fail(e);
        }
      },
      async commit(sha256) {
        if (!ok) return false;
        try {
          await w.close();
          await writeFile(MODELS, `${key}.json`, JSON.stringify({ url, sha256, size: bytes, savedAt: new Date().toISOString() }));
          return true;
        } catch (e) {
          await fail(e);
          await cacheRemove(url);
          return false;
        }
      },
      async abort() {
        if (!ok) return;
        ok = false;
        await w.abort().catch(() => {});
      },
    },
  };
}

/** [{url, sha256, size, savedAt}] of the cached files. */
export async function cacheList() {
  const entries = [];
  let d;
  try {
    d = await dir(MODELS, false);
  } catch {
    return entries;
  }
  for await (const [name, handle] of d.entries()) {
    if (!name.endsWith('.json')) continue;
    try {
      entries.push(JSON.parse(await (await handle.getFile()).text()));
    } catch {
      // unreadable metadata: the entry is not usable, clearCache removes it
    }
  }
  return entries.sort((a, b) => a.url.localeCompare(b.url));
}

/** Removes every cached model file (the document index stays). */
export async function cacheClear() {
  const root = await dir('hearth');
  await root.removeEntry('models', { recursive: true }).catch((e) => {
    if (e.name !== 'NotFoundError') throw e;
  });
}

// ---- the document index ----------------------------------------------------------------------------------

const INDEX_DIR = 'hearth';
const INDEX_FILE = 'index.hix';

/** The saved index bytes, or null when nothing was saved. */
export async function readIndex() {
  const handle = await fileHandle(INDEX_DIR, INDEX_FILE);
  if (!handle) return null;
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}

/** Replaces the saved index with `bytes`, atomically. */
export async function writeIndex(bytes) {
  await writeFile(INDEX_DIR, INDEX_FILE, bytes);
}

/** Moves a saved index that failed to load aside (never overwritten later); returns its new name. */
export async function setIndexAside() {
  const handle = await fileHandle(INDEX_DIR, INDEX_FILE);
  if (!handle) return null;
  const name = `index-damaged-${new Date().toISOString().replace(/[:.]/g, '-')}.hix`;
  if (typeof handle.move === 'function') {
    await handle.move(name);
  } else {
    await writeFile(INDEX_DIR, name, await handle.getFile());
    await (await dir(INDEX_DIR)).removeEntry(INDEX_FILE);
  }
  return name;
}
