// Page side of the worker protocol (PROTOCOL.md): turns requests into promises and routes the
// worker's progress and token messages to callbacks. No UI here.

export class ModelClient {
  #worker = new Worker('worker.js', { type: 'module' });
  #pending = new Map(); // id -> { resolve, reject, onEvent }
  #nextId = 1;

  constructor() {
    this.#worker.onmessage = ({ data: msg }) => this.#receive(msg);
    this.#worker.onerror = (e) => {
      // The worker script itself failed (e.g. the wasm package is missing): fail everything in flight.
      e.preventDefault?.();
      const error = new Error(e.message || 'the model worker failed to start');
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
  }

  /** Loads a model from a URL (string) or a File/Blob. `onProgress({phase, loaded, total})`. Resolves to its info. */
  load(source, { nCtx, onProgress } = {}) {
    const msg = typeof source === 'string' ? { type: 'load', url: source } : { type: 'load', file: source };
    if (nCtx) msg.nCtx = nCtx;
    return this.#request(msg, onProgress);
  }

  /** Generates a reply to `messages`; `onToken(text)` gets each piece. Resolves to {text, stats}. */
  chat(messages, options, onToken) {
    return this.#request({ type: 'chat', messages, options }, onToken);
  }

  /** Continues the raw text `prompt` (for base models, no chat template). Resolves to {text, stats}. */
  complete(prompt, options, onToken) {
    return this.#request({ type: 'complete', prompt, options }, onToken);
  }

  /** Ends the generation in progress; its chat() promise still resolves, with stop_reason 'cancelled'. */
  stop() {
    this.#worker.postMessage({ type: 'stop' });
  }

  /** Forgets the conversation; with `nCtx`, also resizes the context window. Resolves to {contextSize}. */
  reset(nCtx) {
    return this.#request(nCtx ? { type: 'reset', nCtx } : { type: 'reset' });
  }

  #request(msg, onEvent) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onEvent });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  #receive(msg) {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'progress': return p.onEvent?.({ phase: msg.phase, loaded: msg.loaded, total: msg.total });
      case 'token': return p.onEvent?.(msg.text);
      case 'loaded': this.#pending.delete(msg.id); return p.resolve(msg.info);
      case 'done': this.#pending.delete(msg.id); return p.resolve({ text: msg.text, stats: msg.stats });
      case 'reset': this.#pending.delete(msg.id); return p.resolve({ contextSize: msg.contextSize });
      case 'error': this.#pending.delete(msg.id); return p.reject(new Error(msg.message));
    }
  }
}
