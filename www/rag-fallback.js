// Stand-ins for the wasm package's Model.beginRag and citeAnswer, used only when the package in pkg/ predates
// them (same inputs and outputs; the worker prefers the wasm versions). The prompt: a system message with the
// numbered passages, then the question, in the model's own chat template.

const INSTRUCTION =
  'Answer the question using only the numbered passages below. After each sentence, cite the passages it ' +
  'uses like [1]. If the passages do not contain the answer, say that you do not know.';

export function beginRag(model, question, passages, options = {}) {
  const budget = model.contextSize() - (options.max_tokens ?? 256) - 16;
  const render = (n) => {
    const numbered = passages.slice(0, n).map((p, i) => `[${i + 1}] (${p.title}) ${p.text.trim()}`).join('\n\n');
    const system = [options.system ?? INSTRUCTION, numbered].filter(Boolean).join('\n\n');
    return [{ role: 'system', content: system }, { role: 'user', content: question }];
  };
  const size = (messages) => messages.reduce((sum, m) => sum + model.tokenize(m.content, false).length + 8, 0);
  let used = passages.length;
  while (used > 0 && size(render(used)) > budget) used--;
  const messages = render(used);
  const { system, ...generate } = options;
  model.beginChat(messages, generate);
  return { used, prompt_tokens: size(messages) };
}

const MARKER = /\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]/g;

export function citeAnswer(answer, passages) {
  const sentences = answer.match(/[^.!?\n]+(?:[.!?]+(?:\s*\[[\d,;\s]+\])*|\n|$)\s*/g) ?? [];
  return sentences
    .map((sentence) => {
      const citations = [];
      const text = sentence.replace(MARKER, (_, list) => {
        for (const n of list.split(/[,;]/).map(Number)) if (n >= 1 && n <= passages.length && !citations.includes(n)) citations.push(n);
        return '';
      });
      return { text, citations };
    })
    .filter((s) => s.text.trim() || s.citations.length);
}
