// The page: model choice, loading progress, chat and settings. Rendering only — the model runs in
// worker.js, reached through ModelClient. A documents panel (later) plugs in as another panel whose
// retrieved passages feed buildMessages().

import { ModelClient } from './model-client.js';
import { ConversationView } from './conversation.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  error: $('error'),
  modelForm: $('model-form'),
  modelSelect: $('model-select'),
  modelUrl: $('model-url'),
  modelFile: $('model-file'),
  progress: $('download-progress'),
  phase: $('phase'),
  modelInfo: $('model-info'),
  askForm: $('ask-form'),
  question: $('question'),
  ask: $('ask'),
  stop: $('stop'),
  newChat: $('new-chat'),
  systemPrompt: $('system-prompt'),
  temperature: $('temperature'),
  maxTokens: $('max-tokens'),
  contextSize: $('context-size'),
  dropOverlay: $('drop-overlay'),
};

const client = new ModelClient();
const view = new ConversationView($('conversation'));

const state = {
  model: null, // info of the loaded model
  modelLabel: '', // its name for the user
  modelChoice: '', // its entry in the model select ('' = other URL or file)
  completion: false, // a base model: continue the text instead of chatting
  loading: null, // { phase, loaded, total, fromFile } while a load runs
  generating: false,
  starting: true, // until the model list is read
  history: [], // [{role, content}] of the current chat
};

// ---- status and controls -------------------------------------------------------------------------

function statusText() {
  const l = state.loading;
  if (l) {
    if (l.phase === 'init') return 'Initialising model…';
    const pct = l.total ? ` ${Math.floor((100 * l.loaded) / l.total)}%` : '';
    return `${l.fromFile ? 'Reading model file…' : 'Downloading model…'}${pct}`;
  }
  if (state.generating) return 'Generating…';
  if (state.model) return 'Ready';
  return state.starting ? 'Starting…' : 'No model loaded';
}

function render() {
  const text = statusText();
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.state = text === 'Ready' ? 'ready' : state.generating || state.loading ? 'busy' : 'idle';
  ui.ask.disabled = !state.model || !!state.loading || state.generating;
  ui.stop.disabled = !state.generating;
}

function showError(message) {
  ui.error.textContent = message;
}

function clearError() {
  ui.error.textContent = '';
}

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
  }
  ui.modelSelect.append(new Option('Other (URL or file)', ''));
  return models.find((m) => m.id === manifest.default) ?? models[0];
}

const modelUrl = (m) => `/models/${encodeURIComponent(m.id)}/${m.file.name.split('/').map(encodeURIComponent).join('/')}`;

/**
 * Loads a model from a URL or a File; the current model stays in use until the new one is ready.
 * A 'base' model (no chat tuning) continues the text it is given instead of answering in a chat.
 */
async function loadModel(source, label, kind = 'chat') {
  const seq = ++loadSeq;
  const fromFile = typeof source !== 'string';
  if (state.generating) client.stop();
  clearError();
  state.loading = { phase: 'download', loaded: 0, total: fromFile ? source.size : 0, fromFile };
  showProgress(state.loading);
  render();
  const t0 = performance.now();
  try {
    const info = await client.load(source, {
      nCtx: contextSize(),
      onProgress: (p) => {
        if (seq !== loadSeq) return;
        state.loading = { ...p, fromFile };
        showProgress(state.loading);
        render();
      },
    });
    if (seq !== loadSeq) return;
    state.model = info;
    state.modelLabel = label;
    state.modelChoice = ui.modelSelect.value;
    state.completion = kind === 'base';
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    ui.phase.textContent = `Loaded ${label} in ${secs} s.`;
    ui.progress.value = 1;
    ui.modelInfo.textContent = describe(info);
    clearChat();
    view.addNote(`Model: ${label}${state.completion ? ' — a base model: it continues your text' : ''}`);
  } catch (e) {
    if (seq !== loadSeq) return;
    // The model loaded before (if any) is still in use.
    ui.progress.value = state.model ? 1 : 0;
    ui.phase.textContent = state.model ? `Still using ${state.modelLabel}.` : '';
    if (state.model) ui.modelSelect.value = state.modelChoice;
    showError(`Could not load ${label}: ${e.message}`);
  } finally {
    if (seq === loadSeq) {
      state.loading = null;
      render();
    }
  }
}

function showProgress({ phase, loaded, total }) {
  if (phase === 'init') {
    ui.progress.value = 1;
    ui.phase.textContent = 'Initialising model…';
  } else if (total) {
    ui.progress.value = loaded / total;
    ui.phase.textContent = `${MB(loaded)} of ${MB(total)}`;
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
    info.simd ? 'SIMD' : 'no SIMD',
  ].join(' · ');
}

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

// Drag and drop a .gguf anywhere on the page.
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
  const file = e.dataTransfer.files[0];
  if (!file) return;
  if (!/\.gguf$/i.test(file.name)) return showError(`${file.name} is not a .gguf model file.`);
  ui.modelSelect.value = '';
  loadModel(file, file.name);
});

// ---- chat ------------------------------------------------------------------------------------------

const contextSize = () => Math.max(128, Number(ui.contextSize.value) || 2048);

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

async function ask(question) {
  clearError();
  const completion = state.completion;
  const messages = buildMessages(question);
  if (!completion) state.history.push({ role: 'user', content: question });
  view.addUser(question, completion ? 'Text' : 'You');
  const turn = view.addAssistant(completion ? 'Continuation' : 'Assistant');
  state.generating = true;
  render();
  try {
    const { text, stats } = completion
      ? await client.complete(question, generationOptions(), turn.append)
      : await client.chat(messages, generationOptions(), turn.append);
    if (!completion) state.history.push({ role: 'assistant', content: text });
    turn.finish(stats);
  } catch (e) {
    if (!completion) state.history.pop();
    turn.fail(e.message);
    showError(e.message);
  } finally {
    state.generating = false;
    render();
  }
}

function clearChat() {
  state.history = [];
  view.clear();
}

async function newChat() {
  if (state.generating) client.stop();
  clearChat();
  clearError();
  if (state.model) await client.reset().catch((e) => showError(e.message));
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
    showError(e.message);
  }
});

// ---- start -----------------------------------------------------------------------------------------

render();
loadManifest()
  .then((model) => {
    if (!model) throw new Error('the model list has no chat model');
    ui.modelSelect.value = modelUrl(model);
    ui.modelUrl.value = modelUrl(model);
    return loadModel(modelUrl(model), model.id, model.kind);
  })
  .catch((e) => showError(`${e.message}. Choose a model file instead.`))
  .finally(() => {
    state.starting = false;
    render();
  });
