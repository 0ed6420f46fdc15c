// <hearth-chat>: a drop-in question box for a site's documents. One <script type="module"> includes it:
//
//   <script type="module" src="/node_modules/hearth-web/widget.js"></script>
//   <hearth-chat model-src="models/smollm2.gguf" index-src="site.hix" embedder-src="models/minilm-l6-v2/"></hearth-chat>
//
// Attributes: model-src (a GGUF), index-src (a prebuilt index from `hearth index build`, loaded read-only),
// embedder-src (the embedder's folder), base-url (where relative URLs resolve; default the page's), threads.
// Shadow DOM; style it through its parts: ::part(form|input|ask|status|answer|citation|evidence|mark).
// Events (bubbling, composed): `hearth-ready` {model}, `hearth-answer` {AskResult}, `hearth-citations`
// {citations}, `hearth-error` {code, message}. Text only: nothing a document or the model writes becomes markup.

import { createHearth } from './client.js';

const STYLE = `
:host { display: block; font: inherit; color: inherit; }
form { display: flex; gap: .5em; }
textarea { flex: 1; font: inherit; min-height: 2.5em; }
[part=status] { font-size: .9em; opacity: .8; margin: .4em 0; }
[part=answer] { white-space: pre-wrap; margin: .5em 0; }
[part=citation] { font: inherit; font-size: .8em; vertical-align: super; padding: 0 .2em; cursor: pointer; }
[part=evidence] { margin: .3em 0; padding: .3em .5em; border-left: 3px solid #999; }
[part=evidence][hidden] { display: none; }
`;

let shared = null;
const sheet = () => {
  if (!shared) {
    shared = new CSSStyleSheet();
    shared.replaceSync(STYLE);
  }
  return shared;
};

const el = (tag, part, text) => {
  const e = document.createElement(tag);
  if (part) e.setAttribute('part', part);
  if (text !== undefined) e.textContent = text;
  return e;
};

export class HearthChat extends HTMLElement {
  static observedAttributes = ['model-src', 'index-src', 'embedder-src', 'base-url', 'threads'];

  #ai = null;
  #ready = null;
  #busy = false;
  #ui = {};

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    // A constructed stylesheet, not a <style> element: strict CSPs (style-src 'self') block inline styles.
    root.adoptedStyleSheets = [sheet()];
    const form = el('form', 'form');
    const input = el('textarea', 'input');
    input.setAttribute('aria-label', 'Question');
    input.placeholder = 'Ask a question about this site…';
    const ask = el('button', 'ask', 'Ask');
    ask.type = 'submit';
    form.append(input, ask);
    const status = el('div', 'status', 'Starting…');
    status.setAttribute('role', 'status');
    const answer = el('div', 'answer');
    answer.setAttribute('role', 'log');
    answer.setAttribute('aria-label', 'Answer');
    const evidence = el('div');
    root.append(form, status, answer, evidence);
    this.#ui = { form, input, ask, status, answer, evidence };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ask(input.value);
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.ask(input.value);
      }
    });
  }

  connectedCallback() {
    this.#start();
  }

  disconnectedCallback() {
    this.#ai?.dispose();
    this.#ai = null;
    this.#ready = null;
  }

  attributeChangedCallback() {
    if (this.isConnected && this.#ai) this.#start(); // new sources: start again
  }

  /** The client in use (createHearth's), once started. */
  get client() {
    return this.#ai;
  }

  #start() {
    this.#ai?.dispose();
    const base = this.getAttribute('base-url') || undefined;
    const embedder = this.getAttribute('embedder-src') || undefined;
    const modelSrc = this.getAttribute('model-src');
    const indexSrc = this.getAttribute('index-src');
    const threads = Number(this.getAttribute('threads')) || undefined;
    this.#ready = (async () => {
      const ai = (this.#ai = await createHearth({ baseUrl: base, embedder }));
      if (!modelSrc) throw Object.assign(new Error('<hearth-chat> needs a model-src attribute'), { code: 'invalid_argument' });
      this.#status('Loading the model…');
      const model = await ai.load(modelSrc, {
        threads,
        onProgress: (p) => p.total && this.#status(`Loading the model… ${Math.floor((100 * p.loaded) / p.total)}%`),
      });
      if (indexSrc) {
        this.#status("Loading this site's documents…");
        await ai.index.load(indexSrc, { readOnly: true });
      } else await ai.loadEmbedder();
      this.#status('Ready');
      this.#emit('hearth-ready', { model });
      return ai;
    })();
    this.#ready.catch((e) => this.#fail(e));
  }

  /** Asks `question`; resolves to the answer (AskResult), as the `hearth-answer` event carries it. */
  async ask(question) {
    question = String(question ?? '').trim();
    if (!question || this.#busy) return null;
    this.#busy = true;
    this.#ui.ask.disabled = true;
    const { answer, evidence } = this.#ui;
    answer.textContent = '';
    evidence.replaceChildren();
    try {
      const ai = await this.#ready;
      this.#status('Searching…');
      let result = null;
      for await (const chunk of ai.ask(question, { stream: true })) {
        if (chunk.type === 'delta') {
          if (!answer.textContent) this.#status('Answering…');
          answer.textContent += chunk.delta;
        } else result = chunk;
      }
      this.#render(result);
      this.#status(result.abstained ? 'Not found in the documents' : 'Answered');
      this.#emit('hearth-answer', result);
      this.#emit('hearth-citations', { citations: result.citations });
      return result;
    } catch (e) {
      this.#fail(e);
      return null;
    } finally {
      this.#busy = false;
      this.#ui.ask.disabled = false;
    }
  }

  // The answer's sentences, each followed by a button per evidence it cites ([n]) that shows that evidence
  // sentence, highlighted in its passage, with its document's title.
  #render(result) {
    const { answer, evidence } = this.#ui;
    answer.replaceChildren();
    const shown = new Map(); // n -> its evidence element
    for (const e of result.evidence) {
      const box = el('blockquote', 'evidence');
      box.hidden = true;
      box.id = `hearth-evidence-${e.n}`;
      box.append(el('strong', null, `[${e.n}] ${e.title || e.doc_id}: `), document.createTextNode(e.before ?? ''), el('mark', 'mark', e.text), document.createTextNode(e.after ?? ''));
      evidence.append(box);
      shown.set(e.n, box);
    }
    for (const s of result.segments) {
      answer.append(document.createTextNode(s.text));
      for (const n of s.citations) {
        const box = shown.get(n);
        if (!box) continue;
        const cite = el('button', 'citation', `[${n}]`);
        cite.type = 'button';
        cite.setAttribute('aria-label', `Source ${n}: ${result.evidence[n - 1].title || result.evidence[n - 1].doc_id}`);
        cite.setAttribute('aria-controls', box.id);
        cite.addEventListener('click', () => (box.hidden = !box.hidden));
        answer.append(cite);
      }
      answer.append(document.createTextNode(' '));
    }
  }

  #status(text) {
    this.#ui.status.textContent = text;
  }

  #fail(e) {
    this.#status(`Error: ${e.message}`);
    this.#emit('hearth-error', { code: e.code ?? 'error', message: e.message });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get('hearth-chat')) customElements.define('hearth-chat', HearthChat);
