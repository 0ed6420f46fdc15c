// The browser's private storage (origin private file system, OPFS), used by the worker only:
//   hearth/models/<key>.bin + <key>.json   cached model files, keyed by URL, with their sha256
//   hearth/index-<gen>.hix                 the saved document index (Library.saveIndex bytes), the newest
//                                          generation and the one before it (below)
//   hearth/index.hix                       the single saved index from before generations: generation 0
//   hearth/index-damaged-<time>-gen<n>.hix an index that failed to load, kept aside, never overwritten
// Every write goes through createWritable(), which writes to a temporary file and replaces the old one only
// on close(): a tab closed mid-write leaves the previous file intact.

const MB = (n) => `${(n / 1e6).toFixed(1)} MB`;

// An engine without OPFS (WebKitGTK as shipped: navigator.storage is undefined) or without createWritable gets
// a TypeError saying so, as the missing call itself would throw (so every caller treats it the same: lookups
// find nothing, writes fail with a warning) but readable, instead of the engine's own wording ("undefined is
// not an object (evaluating 'navigator.storage.getDirectory')").
const noStorage = () => new TypeError('this browser gives pages no private file storage (OPFS)');
const noWritable = () => new TypeError('this browser cannot write files to its private storage (no createWritable)');
// (Where the interface itself is not exposed, as with the unit tests' stand-in, the handles are trusted.)
const canWrite = () =>
  typeof globalThis.FileSystemFileHandle !== 'function' || typeof FileSystemFileHandle.prototype.createWritable === 'function';

async function dir(path, create = true) {
  if (typeof globalThis.navigator?.storage?.getDirectory !== 'function') throw noStorage();
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
  await dir(path); // throws when there is no OPFS at all
  if (!canWrite()) throw noWritable();
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
  if (!canWrite()) throw noWritable(); // before the .bin file below is created empty
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
//
// Generations: every save writes a new file, hearth/index-<gen>.hix, numbered one past the highest number
// ever used (counting files kept aside), and then deletes the generations older than the one it was made
// from; so the newest and the previous generation are both on disk, and a save never writes over a file
// another save made. hearth/index.hix (the single file from before generations) is generation 0.
// A tab reads and writes the index only while holding the Web Lock `hearth-index` (withIndexLock), so two
// tabs never interleave a read-modify-write; with the lock held, a zero-length newest file can only be a save
// that was cut off (getFileHandle creates the file empty, createWritable fills it only on close()).

const INDEX_DIR = 'hearth';
const LEGACY_INDEX = 'index.hix';
const GEN_FILE = /^index-(\d+)\.hix$/;
const ASIDE_FILE = /^index-damaged-.*-gen(\d+)\.hix$/;
const genName = (gen) => `index-${gen}.hix`;

/**
 * The saved generations, newest first: { files: [{gen, name}], highest } where `highest` is the highest
 * generation number in use (files kept aside count, so a number is never used twice). No files: highest 0.
 */
export async function indexGenerations() {
  let d;
  try {
    d = await dir(INDEX_DIR, false);
  } catch (e) {
    if (e.name === 'NotFoundError' || e.name === 'TypeError') return { files: [], highest: 0 };
    throw e;
  }
  const files = [];
  let highest = 0;
  for await (const [name, handle] of d.entries()) {
    if (handle.kind !== 'file') continue;
    let m;
    if (name === LEGACY_INDEX) files.push({ gen: 0, name });
    else if ((m = GEN_FILE.exec(name))) files.push({ gen: Number(m[1]), name });
    else if ((m = ASIDE_FILE.exec(name))) highest = Math.max(highest, Number(m[1]));
  }
  files.sort((a, b) => b.gen - a.gen);
  return { files, highest: Math.max(highest, files[0]?.gen ?? 0) };
}

/** The bytes of one saved generation (`name` from indexGenerations), or null when it is gone. */
export async function readIndexFile(name) {
  const handle = await fileHandle(INDEX_DIR, name);
  if (!handle) return null;
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}

/**
 * Writes `bytes` as generation `gen` (a new file, never an existing one: the number goes up past any file
 * already there) and returns {gen, name}. On failure the new file is removed again and the error thrown.
 */
export async function writeIndexGeneration(gen, bytes) {
  while (await fileHandle(INDEX_DIR, genName(gen))) gen++;
  const name = genName(gen);
  try {
    await writeFile(INDEX_DIR, name, bytes);
  } catch (e) {
    await dir(INDEX_DIR)
      .then((d) => d.removeEntry(name))
      .catch(() => {});
    throw e;
  }
  return { gen, name };
}

/** Deletes the saved generations older than `gen` (the previous one, which is kept). */
export async function pruneIndex(gen) {
  const { files } = await indexGenerations();
  const d = await dir(INDEX_DIR);
  for (const f of files) if (f.gen < gen) await d.removeEntry(f.name).catch(() => {});
}

/**
 * Moves a saved generation that failed to read or load aside, as index-damaged-<time>-gen<gen>.hix: kept,
 * never overwritten, never loaded again. Returns its new name.
 */
export async function setIndexAside(name, gen) {
  const handle = await fileHandle(INDEX_DIR, name);
  if (!handle) return null;
  const aside = `index-damaged-${new Date().toISOString().replace(/[:.]/g, '-')}-gen${gen}.hix`;
  if (typeof handle.move === 'function') {
    await handle.move(aside);
  } else {
    await writeFile(INDEX_DIR, aside, await handle.getFile());
    await (await dir(INDEX_DIR)).removeEntry(name);
  }
  return aside;
}

// Without Web Locks (browsers before 2022) the saves of this worker are still run one at a time, but two
// tabs are not kept apart: the last one to save may then drop the other's change (nothing is damaged).
let localQueue = Promise.resolve();

/** Runs `fn` holding the origin-wide exclusive lock `hearth-index`; resolves to its result. */
export function withIndexLock(fn) {
  if (typeof navigator !== 'undefined' && navigator.locks?.request) return navigator.locks.request('hearth-index', () => fn());
  const run = localQueue.then(() => fn());
  localQueue = run.catch(() => {});
  return run;
}
