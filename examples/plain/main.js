// hearth-web in a plain page: the typed client, streaming an OpenAI-shaped chat completion.
import { createHearth, HearthError } from './node_modules/hearth-web/client.js';

const $ = (id) => document.getElementById(id);
const ai = await createHearth({ baseUrl: '/' }); // models are served under /models/ by this site
window.hearth = { ai, HearthError }; // for the end-to-end test (tests/e2e/npm-package.test.mjs)

await ai.load('models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf', {
  onProgress: (p) => p.total && ($('status').textContent = `Loading… ${Math.round((100 * p.loaded) / p.total)}%`),
});
$('status').textContent = 'Ready';

$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('answer').textContent = '';
  const messages = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: $('question').value },
  ];
  const stream = await ai.chat.completions.create({ messages, stream: true });
  for await (const chunk of stream) $('answer').textContent += chunk.choices[0].delta.content ?? '';
});
