// Renders the conversation into the "Answer" region. Text only (textContent / Text nodes, never HTML),
// so nothing a model, a document or a user writes can become markup.

import { renderCitedAnswer, sourcesList } from './citations.js';

export class ConversationView {
  constructor(root) {
    this.root = root;
  }

  clear() {
    this.root.replaceChildren();
  }

  /** Adds the user's question. */
  addUser(text, label = 'You') {
    this.#turn('user', label).body.textContent = text;
  }

  /** Adds an empty assistant turn and returns a handle to stream into it. */
  addAssistant(label = 'Assistant') {
    const { turn, body } = this.#turn('assistant', label);
    turn.classList.add('pending');
    const text = document.createTextNode('');
    body.append(text);
    return {
      append: (piece) => {
        const stick = this.#atBottom();
        text.appendData(piece);
        if (stick) this.root.scrollTop = this.root.scrollHeight;
      },
      /** Shows the passages the answer is built from (before it streams). */
      sources: (passages) => {
        turn.querySelector('.sources')?.remove();
        if (passages.length) turn.append(sourcesList(passages));
      },
      /** Re-renders the finished answer as cited segments. */
      cite: (segments, passages) => {
        text.remove();
        turn.dataset.citations = String(renderCitedAnswer(body, segments, passages).citations);
      },
      finish: (stats) => {
        turn.classList.remove('pending');
        if (!body.textContent) text.data = '(no answer)';
        const line = el('p', 'stats', formatStats(stats));
        line.dataset.generatedTokens = String(stats.generated_tokens);
        line.dataset.stopReason = stats.stop_reason ?? '';
        turn.append(line);
        this.root.scrollTop = this.root.scrollHeight;
      },
      fail: (message) => {
        turn.classList.remove('pending');
        turn.classList.add('failed');
        turn.append(el('p', 'stats', `Failed: ${message}`));
      },
    };
  }

  /** Adds a one-line note (e.g. which model was loaded). */
  addNote(text) {
    this.root.append(el('p', 'note', text));
  }

  #turn(role, label) {
    const turn = el('article', `turn ${role}`);
    turn.dataset.role = role;
    const body = el('p', 'text');
    turn.append(el('h3', 'who', label), body);
    this.root.append(turn);
    this.root.scrollTop = this.root.scrollHeight;
    return { turn, body };
  }

  #atBottom() {
    const r = this.root;
    return r.scrollHeight - r.scrollTop - r.clientHeight < 40;
  }
}

const STOP_REASONS = {
  eos: 'end of answer',
  stop_string: 'stop string',
  max_tokens: 'max tokens reached',
  cancelled: 'stopped',
  context_full: 'context full',
  repetition: 'it began to repeat itself',
  not_found: 'not in your documents',
};

export function formatStats(s) {
  const n = (x, d = 1) => Number(x).toFixed(d);
  const parts = [
    `${s.generated_tokens} tokens`,
    `${n(s.decode_tokens_per_s)} tokens/s`,
    `prompt ${s.prompt_tokens} tokens (${s.cached_tokens} cached, ${n(s.prefill_tokens_per_s, 0)} tokens/s)`,
  ];
  if (s.stop_reason) parts.push(`${STOP_REASONS[s.stop_reason] ?? s.stop_reason} (${s.stop_reason})`);
  return parts.join(' · ');
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
