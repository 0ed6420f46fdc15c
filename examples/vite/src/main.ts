// hearth-web in a Vite app: the typed client streaming an OpenAI-shaped chat completion.
import { createHearth, HearthError, type Hearth } from 'hearth-web';

declare global {
  interface Window {
    /** For the end-to-end test (tests/e2e/vite.test.mjs). */
    hearth: { ai: Hearth; HearthError: typeof HearthError };
  }
}

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing`);
  return e as T;
};
const status = $<HTMLParagraphElement>('status');
const answer = $<HTMLPreElement>('answer');
const question = $<HTMLTextAreaElement>('question');

const ai = await createHearth({ baseUrl: '/' }); // models are served under /models/ by this site
window.hearth = { ai, HearthError };

try {
  const model = await ai.load('models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf', {
    onProgress: (p) => {
      if (p.total) status.textContent = `Loading… ${Math.round((100 * p.loaded) / p.total)}%`;
    },
  });
  console.info(`hearth: ${model.name} (${model.architecture}), ${model.threads} thread(s)`);
  status.textContent = 'Ready';
} catch (e) {
  status.textContent = e instanceof HearthError ? `Could not load the model (${e.code}): ${e.message}` : String(e);
  throw e;
}

$<HTMLFormElement>('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  answer.textContent = '';
  const stream = await ai.chat.completions.create({
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: question.value },
    ],
    stream: true,
  });
  for await (const chunk of stream) answer.textContent += chunk.choices[0].delta.content ?? '';
});
