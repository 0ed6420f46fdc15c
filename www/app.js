// The page: model choice and loading, documents, chat and settings. Rendering only — the model, the embedder
// and the index live in worker.js, reached through ModelClient. With documents indexed, a question is answered
// from its best passages with citations (the worker's `rag`); without, it is plain chat.

import { ModelClient } from './model-client.js';
import { ConversationView } from './conversation.js';
import { DocumentsPanel } from './documents.js';
import { formatOf, isModelFile } from './formats.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  error: $('error'),
  modelForm: $('model-form'),
  modelSelect: $('model-select'),
  modelUrl: $('model-url'),
  modelFile: $('model-file'),
  progress: $('download-progress'),
  initProgress: $('init-progress'),
  phase: $('phase'),
  modelInfo: $('model-info'),
  embedderInfo: $('embedder-info'),
  cacheInfo: $('cache-info'),
  storageWarning: $('storage-warning'),
  clearCache: $('clear-cache'),
  askForm: $('ask-form'),
  question: $('question'),
  ask: $('ask'),
  stop: $('stop'),
  newChat: $('new-chat'),
  systemPrompt: $('system-prompt'),
  temperature: $('temperature'),
  maxTokens: $('max-tokens'),
  passages: $('passages'),
  contextSize: $('context-size'),
  dropOverlay: $('drop-overlay'),
};

// Project-written sample documents (www/samples/), added by "Add sample documents".
const SAMPLES = ['hearth-guide.md', 'tea-kettle-care.txt', 'harbour-lighthouse.html'];

// `?test` in the page's URL exposes the worker client to the e2e tests (tests/e2e/recovery.test.mjs injects a
// trap or a hang through it), and with it `?watchdog=<ms>` sets how long the worker may stay silent with work
// to do before it is restarted (tests use a short one; default 60 s); never otherwise.
const pageParams = new URLSearchParams(location.search);
const testMode = pageParams.has('test');
const watchdogParam = testMode ? Number(pageParams.get('watchdog')) : NaN;
const client = new ModelClient(watchdogParam > 0 ? { watchdogMs: watchdogParam } : {});
if (testMode) window.__hearthClient = client;
const view = new ConversationView($('conversation'));
const docs = new DocumentsPanel({ add: addFiles, remove: removeDocument, samples: addSamples, cancel: () => client.cancelIngest() });

const state = {
  model: null, // info of the loaded model
  modelLabel: '', // its name for the user
  modelChoice: '', // its entry in the model select ('' = other URL or file)
  completion: false, // a base model: continue the text instead of chatting
  loading: null, // { phase, loaded, total, source } while a model load runs
  embedder: 'idle', // 'idle' | 'loading' | 'ready' | 'failed'
  embedderLoading: null, // { phase, loaded, total, source } while the embedder loads
  documents: [], // [{id, title, tags, chunks, bytes}] in the index
  ingest: null, // { name, phase, loaded, total } of the document being indexed
  ingestPending: 0, // documents sent to the worker and not finished
  generating: false,
  searching: false, // a question with documents, before its first token
  starting: true, // until the model list is read
  history: [], // [{role, content}] of the current chat (plain chat only)
  ragHistory: [], // [{question, answer, passages}] of the current conversation with documents
  loadNote: '', // how the model in use was loaded
  restarting: false, // the engine (the worker) crashed and is being restarted and restored
};
const manifestFiles = new Map(); // model URL -> {sha256, size} from the manifest
// `?threads=N` (a positive integer) overrides how many workers share the model; by default the worker
// decides (every core up to 4 when cross-origin isolated, else 1). For tests and comparisons.
const threadsParam = Number(new URLSearchParams(location.search).get('threads'));
const threads = Number.isInteger(threadsParam) && threadsParam > 0 ? threadsParam : undefined;

// ---- status and controls -------------------------------------------------------------------------

const pct = (p) => (p.total ? ` ${Math.floor((100 * p.loaded) / p.total)}%` : '');

function statusText() {
  if (state.restarting) return 'Restarting the engine…';
  const l = state.loading;
  if (l) {
    if (l.phase === 'init') return 'Initialising model…';
    const verb = { file: 'Reading model file…', cache: 'Reading model from the browser cache…' }[l.source] ?? 'Downloading model…';
    return `${verb}${pct(l)}`;
  }
  if (state.generating) return state.searching ? 'Searching documents…' : 'Generating…';
  if (state.ingestPending) {
    const i = state.ingest;
    if (!i) return 'Indexing…';
    if (i.phase === 'embed') return `Indexing ${i.name}: ${i.loaded}/${i.total} chunks`;
    if (i.phase === 'chunk') return `Splitting ${i.name} into passages…`;
    return `Reading ${i.name}…`;
  }
  const e = state.embedderLoading;
  if (e) return e.phase === 'init' ? 'Initialising embedder…' : `Loading embedder…${pct(e)}`;
  if (state.model && state.embedder === 'ready') return 'Ready';
  if (state.model && state.embedder === 'failed') return 'Ready for chat (documents unavailable)';
  if (state.model && state.embedder === 'loading') return 'Loading embedder…';
  if (state.model) return 'Ready for chat';
  return state.starting ? 'Starting…' : 'No model loaded';
}

function busy() {
  return state.restarting || !!state.loading || state.generating || state.ingestPending > 0 || state.embedder === 'loading';
}

function render() {
  const text = statusText();
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.state = text === 'Ready' ? 'ready' : busy() ? 'busy' : 'idle';
  ui.ask.disabled = !state.model || busy();
  ui.stop.disabled = !state.generating;
  docs.setEnabled(state.embedder === 'ready');
  docs.setIngest(state.ingestPending ? state.ingest ?? { phase: 'read' } : null, Math.max(0, state.ingestPending - 1));
}

function showError(message) {
  ui.error.textContent = message;
}

function clearError() {
  ui.error.textContent = '';
}

// Warnings (storage short, cache damaged, index not saved) pile up until the next model load.
function warn(message) {
  const shown = ui.storageWarning.textContent;
  if (!shown.split('\n').includes(message)) ui.storageWarning.textContent = shown ? `${shown}\n${message}` : message;
}
client.onWarning = warn;

// ---- crashes ---------------------------------------------------------------------------------------
// A trap in the wasm module (a Rust panic) kills the worker; the client starts a new one and restores the
// model, the embedder and the saved index. The requests that were running fail with the panic message
// (`code: 'worker_crashed'`): the crash notice below says it once, so they add no error of their own.

const crashed = (e) => e?.code === 'worker_crashed';
let crashNotice = '';

client.onRestart = ({ message }) => {
  state.restarting = true;
  crashNotice = `The engine crashed and is being restarted: ${message}`;
  showError(crashNotice);
  render();
};

client.onRecovered = ({ message, model, modelError, embedder, embedderError }) => {
  state.restarting = false;
  const problems = [];
  if (modelError) {
    state.model = null;
    ui.modelInfo.textContent = '';
    ui.phase.textContent = '';
    ui.progress.value = 0;
    ui.initProgress.value = 0;
    problems.push(`the model could not be loaded again (${modelError.message})`);
  } else if (model) {
    state.model = model;
    ui.modelInfo.textContent = describe(model);
  }
  if (embedderError) {
    state.embedder = 'failed';
    setDocuments([]);
    problems.push(`the embedder could not be loaded again (${embedderError.message}); documents cannot be added`);
  } else if (embedder) {
    state.embedder = 'ready';
    setDocuments(embedder.documents);
    if (embedder.indexError) problems.push(embedder.indexError);
  }
  const text = `The engine crashed and was restarted: ${message}${problems.length ? ` — but ${problems.join('; ')}` : ''}`;
  // Unless something newer is shown (the notice is cleared by the next action).
  if (ui.error.textContent === crashNotice) showError(text);
  else if (problems.length) showError(`After a crash: ${problems.join('; ')}`);
  crashNotice = '';
  render();
  refreshCache();
};

// ---- models ----------------------------------------------------------------------------------------

const MB = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
let loadSeq = 0;

async function loadManifest() {
  const res = await fetch('/models/manifest.json');
  if (!res.ok) throw new Error(`cannot read the model list: HTTP ${res.status}`);
  const manifest = await res.json();
  const models = (manifest.models ?? [])
    .filter((m) => m.kind === 'chat' || m.kind === 'base')
    .map((m) => ({ ...m, file: m.files.find((f) => /\.gguf$/i.test(f.name)) }))
    .filter((m) => m.file);
  for (const m of models) {
    const option = new Option(`${m.id}${m.kind === 'base' ? ' (base)' : ''} — ${MB(m.file.size)}`, modelUrl(m));
    option.title = `${m.description} Licence: ${m.licence}.`;
    option.dataset.kind = m.kind;
    ui.modelSelect.append(option);
    manifestFiles.set(modelUrl(m), { sha256: m.file.sha256, size: m.file.size });
  }
  ui.modelSelect.append(new Option('Other (URL or file)', ''));
  return {
    model: models.find((m) => m.id === manifest.default) ?? models[0],
    embedder: (manifest.models ?? []).find((m) => m.kind === 'embedding'),
  };
}

const fileUrl = (id, name) => `/models/${encodeURIComponent(id)}/${name.split('/').map(encodeURIComponent).join('/')}`;
const modelUrl = (m) => fileUrl(m.id, m.file.name);

/**
 * Loads a model from a URL or a File; the current model stays in use until the new one is ready.
 * A 'base' model (no chat tuning) continues the text it is given instead of answering in a chat.
 */
async function loadModel(source, label, kind = 'chat') {
  const seq = ++loadSeq;
  const fromFile = typeof source !== 'string';
  if (state.generating) client.stop();
  clearError();
  ui.storageWarning.textContent = '';
  state.loading = { phase: 'download', loaded: 0, total: fromFile ? source.size : 0, source: fromFile ? 'file' : 'network' };
  showProgress('model', state.loading);
  render();
  const t0 = performance.now();
  try {
    const info = await client.load(source, {
      nCtx: contextSize(),
      threads,
      ...(fromFile ? {} : manifestFiles.get(source)),
      onProgress: (p) => {
        if (seq !== loadSeq) return;
        state.loading = p;
        showProgress('model', p);
        render();
      },
    });
    if (seq !== loadSeq) return;
    state.model = info;
    state.modelLabel = label;
    state.modelChoice = ui.modelSelect.value;
    state.completion = kind === 'base';
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const from = { cache: ' from the browser cache', file: ' from the file' }[info.source] ?? '';
    state.loadNote = `Loaded ${label}${from} in ${secs} s.`;
    ui.phase.textContent = state.loadNote;
    ui.progress.value = 1;
    ui.initProgress.value = 1;
    ui.modelInfo.textContent = describe(info);
    clearChat();
    view.addNote(`Model: ${label}${state.completion ? ' — a base model: it continues your text' : ''}`);
  } catch (e) {
    if (seq !== loadSeq) return;
    // The model loaded before (if any) is still in use.
    ui.progress.value = state.model ? 1 : 0;
    ui.initProgress.value = state.model ? 1 : 0;
    ui.phase.textContent = state.model ? `Still using ${state.modelLabel}.` : '';
    if (state.model) ui.modelSelect.value = state.modelChoice;
    if (!crashed(e)) showError(`Could not load ${label}: ${e.message}`);
  } finally {
    if (seq === loadSeq) {
      state.loading = null;
      render();
      refreshCache();
    }
  }
}

// The Download and Initialisation bars show the load in progress (the model's, or the embedder's).
function showProgress(what, { phase, loaded, total, source }) {
  const name = what === 'model' ? 'model' : 'embedder';
  if (phase === 'init') {
    ui.progress.value = 1;
    ui.initProgress.removeAttribute('value'); // one step in wasm: indeterminate
    ui.phase.textContent = `Initialising ${name}…`;
    return;
  }
  ui.initProgress.value = 0;
  const from = { cache: ' (browser cache)', file: ' (file)' }[source] ?? '';
  if (total) {
    ui.progress.value = loaded / total;
    ui.phase.textContent = `${what === 'model' ? 'Model' : 'Embedder'}${from}: ${MB(loaded)} of ${MB(total)}`;
  } else {
    ui.progress.removeAttribute('value'); // size unknown: indeterminate
    ui.phase.textContent = loaded ? MB(loaded) : 'Starting…';
  }
}

function describe(info) {
  const params = info.n_params >= 1e9 ? `${(info.n_params / 1e9).toFixed(2)} B` : `${Math.round(info.n_params / 1e6)} M`;
  return [
    info.name || 'unnamed model',
    info.architecture,
    `${params} parameters`,
    `context ${info.context_size} tokens`,
    `${MB(info.memory_bytes)} in memory`,
    info.relaxed_simd ? 'relaxed SIMD' : info.simd ? 'SIMD' : 'no SIMD',
    `${info.threads ?? 1} thread${(info.threads ?? 1) > 1 ? 's' : ''}${oneThreadWhy(info)}`,
  ].join(' · ');
}

// Why a model the page did not ask to keep on one thread runs on one: what this browser or host lacks.
function oneThreadWhy(info) {
  if ((info.threads ?? 1) > 1 || threads || (navigator.hardwareConcurrency || 1) < 2) return '';
  if (!crossOriginIsolated) return ' (the page is not cross-origin isolated: see docs/DEPLOY.md)';
  if (typeof SharedArrayBuffer === 'undefined') return ' (this browser cannot share memory with workers)';
  return '';
}

// A site's prebuilt index (`hearth index build`), from `<meta name="hearth-index" content="URL">` or the page's
// `?index=URL`: attached read-only next to the user's documents, so a visitor embeds only the question.
async function attachSiteIndex() {
  const url = document.querySelector('meta[name="hearth-index"]')?.content || pageParams.get('index');
  if (!url) return;
  try {
    const r = await client.loadIndex(url, { readOnly: true });
    setDocuments(r.documents);
    ui.embedderInfo.textContent += ` · ${r.attached} document${r.attached === 1 ? '' : 's'} from this site's index`;
  } catch (e) {
    if (!crashed(e)) showError(`Could not load this site's document index (${url}): ${e.message}`);
  }
}

async function loadEmbedder(entry) {
  if (!entry) {
    state.embedder = 'failed';
    showError('The model list has no embedding model: documents cannot be added.');
    return render();
  }
  const listed = [...entry.files, ...(entry.derived ?? [])];
  const file = (name) => ({ url: fileUrl(entry.id, name), ...pick(listed.find((f) => f.name === name)) });
  // The half-size f16 copy of the weights (made by `make models`) when the manifest lists one.
  const weights = listed.some((f) => f.name === 'model.f16.safetensors') ? 'model.f16.safetensors' : 'model.safetensors';
  state.embedder = 'loading';
  render();
  try {
    const r = await client.loadEmbedder(
      { model: file(weights), config: file('config.json'), tokenizer: file('tokenizer.json') },
      {
        precision: 'q8',
        threads, // ?threads=N: documents are embedded on N workers too
        onProgress: (p) => {
          state.embedderLoading = p;
          if (!state.loading) showProgress('embedder', p);
          render();
        },
      },
    );
    state.embedder = 'ready';
    setDocuments(r.documents);
    const from = r.source === 'cache' ? 'from the browser cache' : 'downloaded';
    const restored = r.documents.length ? ` · ${r.documents.length} saved document${r.documents.length === 1 ? '' : 's'} restored` : '';
    ui.embedderInfo.textContent = `Embedder: ${entry.id} (${r.precision}), ${from}${restored}${r.pdf ? '' : ' · PDF support unavailable'}`;
    if (!state.loading) {
      ui.progress.value = 1;
      ui.initProgress.value = 1;
      ui.phase.textContent = state.loadNote; // the embedder's progress is over: the model's note again
    }
    if (r.indexError) showError(r.indexError);
    await attachSiteIndex();
  } catch (e) {
    state.embedder = 'failed';
    if (!crashed(e)) showError(`Could not load the embedder: ${e.message}. Chat still works; documents cannot be added.`);
  } finally {
    state.embedderLoading = null;
    render();
    refreshCache();
  }
}

const pick = (f) => (f ? { sha256: f.sha256, size: f.size } : {});

async function refreshCache() {
  try {
    const { entries, usage, quota } = await client.cacheInfo();
    const bytes = entries.reduce((n, e) => n + (e.size || 0), 0);
    const files = entries.length ? `${entries.length} model file${entries.length === 1 ? '' : 's'} cached (${MB(bytes)})` : 'No model cached';
    const space = quota ? ` · browser storage ${MB(usage)} used of ${MB(quota)}` : '';
    ui.cacheInfo.textContent = `${files}${space}.`;
    ui.clearCache.disabled = entries.length === 0;
  } catch (e) {
    if (!crashed(e)) ui.cacheInfo.textContent = `Browser storage unavailable: ${e.message}`; // else asked again once restored
  }
}

ui.clearCache.addEventListener('click', async () => {
  clearError();
  try {
    await client.clearCache();
    ui.storageWarning.textContent = 'Cached models cleared: the models in use stay loaded; the next visit downloads them again.';
  } catch (e) {
    if (!crashed(e)) showError(`Could not clear the cache: ${e.message}`);
  }
  refreshCache();
});

ui.modelSelect.addEventListener('change', () => {
  if (!ui.modelSelect.value) return ui.modelUrl.focus();
  ui.modelUrl.value = ui.modelSelect.value;
  ui.modelForm.requestSubmit();
});

ui.modelForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const url = ui.modelUrl.value.trim();
  if (!url) return showError('Enter the URL of a .gguf file, or choose a file.');
  const known = [...ui.modelSelect.options].find((o) => o.value === url);
  ui.modelSelect.value = known ? url : '';
  loadModel(url, known ? known.text.split(' — ')[0] : url, known?.dataset.kind);
});

ui.modelFile.addEventListener('change', () => {
  const file = ui.modelFile.files[0];
  if (!file) return;
  ui.modelSelect.value = '';
  loadModel(file, file.name);
  ui.modelFile.value = ''; // choosing the same file again loads it again
});

// Drag and drop anywhere on the page: a .gguf loads as the model, documents are indexed.
let dragDepth = 0;
const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth++;
  ui.dropOverlay.hidden = false;
});
document.addEventListener('dragover', (e) => {
  if (hasFiles(e)) e.preventDefault();
});
document.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    ui.dropOverlay.hidden = true;
  }
});
document.addEventListener('drop', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  ui.dropOverlay.hidden = true;
  const files = [...e.dataTransfer.files];
  if (!files.length) return;
  const model = files.find((f) => isModelFile(f.name));
  if (model) {
    ui.modelSelect.value = '';
    return loadModel(model, model.name);
  }
  const documents = files.filter((f) => formatOf(f.name));
  if (!documents.length) return showError(`${files[0].name} is not a .gguf model file or a .txt, .md, .html or .pdf document.`);
  addFiles(documents);
});

// ---- documents -------------------------------------------------------------------------------------

function setDocuments(documents) {
  state.documents = documents;
  docs.setDocuments(documents);
}

function addFiles(files) {
  clearError();
  if (state.embedder !== 'ready') return showError('The embedder is not loaded yet: documents cannot be added.');
  const skipped = files.filter((f) => !formatOf(f.name));
  if (skipped.length) showError(`Not added (not .txt, .md, .html or .pdf): ${skipped.map((f) => f.name).join(', ')}`);
  for (const file of files) if (formatOf(file.name)) ingest(file.name, (onProgress) => client.addDocument(file, { onProgress }));
}

function addSamples() {
  clearError();
  if (state.embedder !== 'ready') return;
  for (const name of SAMPLES) {
    ingest(name, async (onProgress) => {
      const res = await fetch(`samples/${name}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return client.addDocument({ name, text: await res.text() }, { onProgress });
    });
  }
}

// One document through the worker's queue; the status and the panel show its progress.
async function ingest(name, start) {
  state.ingestPending++;
  render();
  try {
    const r = await start((p) => {
      state.ingest = p;
      render();
    });
    setDocuments(r.documents);
    if (r.warning) warn(r.warning);
  } catch (e) {
    if (/was cancelled/.test(e.message)) view.addNote(`Not added: ${name} (cancelled).`);
    else if (crashed(e)) view.addNote(`Not added: ${name} (the engine crashed).`);
    else showError(`Could not add ${name}: ${e.message}`);
  } finally {
    state.ingestPending--;
    if (!state.ingestPending) state.ingest = null;
    render();
  }
}

async function removeDocument(id) {
  clearError();
  try {
    const r = await client.removeDocument(id);
    setDocuments(r.documents);
    if (r.warning) warn(r.warning);
  } catch (e) {
    if (!crashed(e)) showError(`Could not remove ${id}: ${e.message}`); // the restored list shows what is there
  }
  render();
}

// ---- chat ------------------------------------------------------------------------------------------

const contextSize = () => Math.max(128, Number(ui.contextSize.value) || 2048);
const passageCount = () => Math.min(10, Math.max(1, Math.floor(Number(ui.passages.value) || 3)));

function generationOptions() {
  const temperature = Math.max(0, Number(ui.temperature.value) || 0);
  const options = { max_tokens: Math.max(1, Math.floor(Number(ui.maxTokens.value) || 256)), temperature };
  if (temperature > 0) options.seed = Math.floor(Math.random() * 2 ** 32);
  return options;
}

/** The messages sent for `question`: system prompt, the chat so far, the question. */
function buildMessages(question) {
  const system = ui.systemPrompt.value.trim();
  return [...(system ? [{ role: 'system', content: system }] : []), ...state.history, { role: 'user', content: question }];
}

// Earlier turns a question about documents is asked after (the oldest go first when the context is short).
const MAX_RAG_TURNS = 3;

async function ask(question) {
  clearError();
  const completion = state.completion;
  // With documents indexed, every question is answered from its passages, after the earlier questions and
  // answers of this conversation (a follow-up is searched with the question it points back at).
  const withDocuments = !completion && state.embedder === 'ready' && state.documents.length > 0;
  const chatting = !completion && !withDocuments;
  const messages = buildMessages(question);
  if (chatting) state.history.push({ role: 'user', content: question });
  view.addUser(question, completion ? 'Text' : 'You');
  const turn = view.addAssistant(completion ? 'Continuation' : 'Assistant');
  state.generating = true;
  state.searching = withDocuments;
  render();
  const onToken = (piece) => {
    if (state.searching) {
      state.searching = false;
      render();
    }
    turn.append(piece);
  };
  try {
    if (withDocuments) {
      const r = await client.rag(question, generationOptions(), passageCount(), {
        history: state.ragHistory.slice(-MAX_RAG_TURNS),
        onToken,
        onSources: (passages) => {
          turn.sources(passages);
          state.searching = false;
          render();
        },
      });
      if (r.segments) turn.cite(r.segments, r.passages);
      if (r.stats?.stop_reason !== 'cancelled') state.ragHistory.push({ question, answer: r.text, passages: r.passages ?? [] });
      turn.finish(r.stats);
    } else {
      const { text, stats } = completion
        ? await client.complete(question, generationOptions(), onToken)
        : await client.chat(messages, generationOptions(), onToken);
      if (chatting) state.history.push({ role: 'assistant', content: text });
      turn.finish(stats);
    }
  } catch (e) {
    if (chatting) state.history.pop();
    turn.fail(e.message);
    if (!crashed(e)) showError(e.message);
  } finally {
    state.generating = false;
    state.searching = false;
    render();
  }
}

function clearChat() {
  state.history = [];
  state.ragHistory = [];
  view.clear();
}

async function newChat() {
  if (state.generating) client.stop();
  clearChat();
  clearError();
  if (state.model) await client.reset().catch((e) => crashed(e) || showError(e.message));
  ui.question.focus();
}

ui.askForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const question = ui.question.value.trim();
  if (!question || ui.ask.disabled) return;
  ui.question.value = '';
  ui.question.focus();
  ask(question);
});

ui.question.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.askForm.requestSubmit();
  }
});

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.generating) client.stop();
});

ui.stop.addEventListener('click', () => client.stop());
ui.newChat.addEventListener('click', newChat);

ui.contextSize.addEventListener('change', async () => {
  if (!state.model || state.loading) return; // used by the next load
  if (state.generating) client.stop();
  clearChat();
  try {
    const { contextSize: n } = await client.reset(contextSize());
    state.model = { ...state.model, context_size: n };
    ui.modelInfo.textContent = describe(state.model);
  } catch (e) {
    if (!crashed(e)) showError(e.message);
  }
});

// ---- start -----------------------------------------------------------------------------------------

render();
refreshCache();
loadManifest()
  .then(({ model, embedder }) => {
    // The worker runs requests in order: the language model loads first, then the embedder (and the index).
    const loads = [];
    if (model) {
      ui.modelSelect.value = modelUrl(model);
      ui.modelUrl.value = modelUrl(model);
      loads.push(loadModel(modelUrl(model), model.id, model.kind));
    }
    loads.push(loadEmbedder(embedder));
    if (!model) throw new Error('the model list has no chat model');
    return Promise.all(loads);
  })
  .catch((e) => showError(`${e.message}. Choose a model file instead.`))
  .finally(() => {
    state.starting = false;
    render();
  });
