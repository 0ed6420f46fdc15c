// The model worker: hosts the hearth wasm module, loads one model and generates with it.
// The page talks to it only through the messages described in PROTOCOL.md.

import init, { ModelLoader, simdEnabled } from './pkg/hearth.js';

const ready = init();
let model = null;
let generating = false;
let loadAbort = null;
let queue = Promise.resolve();

const post = (msg) => self.postMessage(msg);
const errorText = (e) => (e && e.message) || String(e);

self.onmessage = ({ data: msg }) => {
  // stop acts at once (between two tokens); everything else runs in order.
  if (msg.type === 'stop') {
    if (generating) model.stop();
    return;
  }
  if (msg.type === 'load') loadAbort?.abort(); // a new load supersedes one still streaming
  const abort = msg.type === 'load' ? (loadAbort = new AbortController()) : null;
  queue = queue.then(() => handle(msg, abort)).catch((e) => post({ type: 'error', id: msg.id, message: errorText(e) }));
};

async function handle(msg, abort) {
  await ready;
  switch (msg.type) {
    case 'load': return load(msg, abort.signal);
    case 'chat': return generate(msg.id, () => model.beginChat(msg.messages, msg.options ?? {}));
    case 'complete': return generate(msg.id, () => model.beginCompletion(msg.prompt, msg.options ?? {}));
    case 'reset':
      if (!model) return;
      if (msg.nCtx) model.setContextSize(msg.nCtx);
      else model.reset();
      return post({ type: 'reset', id: msg.id, contextSize: model.contextSize() });
    default: throw new Error(`unknown message type ${msg.type}`);
  }
}

// Streams the GGUF (a URL or a File/Blob) chunk by chunk into wasm memory, then builds the model.
async function load({ id, url, file, nCtx }, signal) {
  let stream, total;
  if (file) {
    stream = file.stream();
    total = file.size;
  } else {
    const res = await fetch(url, { signal });
    if (!res.ok) throw new Error(`cannot download ${url}: HTTP ${res.status}`);
    stream = res.body;
    total = Number(res.headers.get('Content-Length')) || 0;
  }
  const reader = stream.getReader();
  let loader;
  try {
    loader = new ModelLoader(total);
    let loaded = 0;
    let lastPost = 0;
    post({ type: 'progress', id, phase: 'download', loaded, total });
    for (;;) {
      if (signal.aborted) throw new Error('loading cancelled');
      const { done, value } = await reader.read();
      if (done) break;
      loader.push(value);
      loaded += value.byteLength;
      const now = performance.now();
      if (now - lastPost > 50) {
        lastPost = now;
        post({ type: 'progress', id, phase: 'download', loaded, total });
      }
    }
    post({ type: 'progress', id, phase: 'download', loaded, total });
    post({ type: 'progress', id, phase: 'init', loaded, total });
  } catch (e) {
    reader.cancel().catch(() => {});
    loader?.free();
    throw e;
  }
  const next = loader.finish(nCtx || undefined); // consumes the loader, even when it throws
  model?.free(); // the previous model stays usable until the new one is built
  model = next;
  post({
    type: 'loaded',
    id,
    info: { ...model.info(), context_size: model.contextSize(), memory_bytes: model.memoryBytes(), simd: simdEnabled() },
  });
}

// Lets queued messages (a stop) run between two tokens. A MessageChannel task is not clamped like setTimeout.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const nextTask = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });

// Prefills (begin), then streams one token per task until the end, the token limit or a stop.
async function generate(id, begin) {
  if (!model) throw new Error('no model is loaded');
  generating = true;
  try {
    begin();
    let text = '';
    for (;;) {
      await nextTask();
      const piece = model.nextPiece();
      if (piece === undefined) break;
      if (piece) {
        text += piece;
        post({ type: 'token', id, text: piece });
      }
    }
    post({ type: 'done', id, text, stats: model.stats() });
  } finally {
    generating = false;
  }
}
