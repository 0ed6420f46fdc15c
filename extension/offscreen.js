// The offscreen document owns the engine (hearth-web's client and its module worker) for as long as the
// browser runs, so the model stays loaded while the side panel opens and closes. The side panel talks to it
// over a runtime Port named 'hearth': {type:'ask', id, question, page} → {type:'status'|'delta'|'answer'|'error', id, …}.
// Weights are bundled in the extension (models/); nothing is downloaded, nothing is sent anywhere.
import { createHearth } from './hearth-web/client.js';

// The bundled model: its file, size and sha256 (written by scripts/build-extension.sh). The size lets the
// model be split across threads (extension responses carry no Content-Length).
const MODEL = await (await fetch('models/model.json')).json();

const ai = await createHearth({ baseUrl: chrome.runtime.getURL('/'), embedder: 'models/minilm-l6-v2/' });
let ready = null;
const start = (post) =>
  (ready ??= (async () => {
    post({ type: 'status', text: 'Loading the model…' });
    // Bundled with the extension: read in place, not copied into the browser's storage.
    const model = await ai.load(`models/${MODEL.file}`, { cache: false, size: MODEL.size, sha256: MODEL.sha256 });
    await ai.loadEmbedder();
    return model;
  })().catch((e) => {
    ready = null;
    throw e;
  }));

const indexed = new Map(); // page URL -> the text indexed for it (indexed again when it changed)

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== 'hearth') return;
  const post = (m) => {
    try {
      port.postMessage(m);
    } catch {
      // the panel closed
    }
  };
  port.onMessage.addListener(async (msg) => {
    if (msg?.type !== 'ask') return;
    const { id, question, page } = msg;
    try {
      const model = await start((m) => post({ ...m, id }));
      if (indexed.get(page.url) !== page.text) {
        post({ type: 'status', id, text: 'Reading the page…' });
        await ai.documents.add(page.text, { title: page.url, format: 'text' });
        indexed.set(page.url, page.text);
      }
      post({ type: 'status', id, text: `Answering with ${model.name}…` });
      let result = null;
      for await (const c of ai.ask(question, { docs: [page.url], stream: true })) {
        if (c.type === 'delta') post({ type: 'delta', id, delta: c.delta });
        else result = c;
      }
      const engine = `${model.name} · ${model.relaxed_simd ? 'relaxed SIMD' : 'SIMD'} · ${model.threads} thread${model.threads > 1 ? 's' : ''}${model.threads > 1 ? '' : crossOriginIsolated ? '' : ' (the offscreen document is not cross-origin isolated)'}`;
      post({ type: 'answer', id, result: { ...result, type: undefined }, engine });
    } catch (e) {
      post({ type: 'error', id, code: e.code ?? 'error', message: e.message });
    }
  });
});
