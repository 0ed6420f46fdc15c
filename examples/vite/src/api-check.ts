// Not part of the app (nothing imports it): `tsc --noEmit` checks it, so every call of hearth-web's types is
// exercised as a user writes it: examples/plain's page (main.js) and portal (<hearth-chat>), and the rest of
// client.d.ts and widget.d.ts. The @ts-expect-error lines check that mistakes are caught (and that the types
// are not `any`: an expected error that does not happen fails the check).
import {
  createHearth,
  HearthError,
  type AskChunk,
  type AskResult,
  type CacheInfo,
  type ChatCompletion,
  type ChatCompletionChunk,
  type DocumentSummary,
  type Evidence,
  type Hearth,
  type HearthErrorCode,
  type ModelInfo,
  type Progress,
} from 'hearth-web';
import 'hearth-web/widget';
import type { HearthChat } from 'hearth-web/widget';

// examples/plain/main.js, typed.
export async function plainPage(status: HTMLElement, answer: HTMLElement, question: HTMLTextAreaElement): Promise<void> {
  const ai = await createHearth({ baseUrl: '/' });
  await ai.load('models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf', {
    onProgress: (p) => p.total && (status.textContent = `Loading… ${Math.round((100 * p.loaded) / p.total)}%`),
  });
  const stream = await ai.chat.completions.create({ messages: [{ role: 'user', content: question.value }], stream: true });
  for await (const chunk of stream) answer.textContent += chunk.choices[0].delta.content ?? '';
}

// examples/plain/portal.html: the widget, found and listened to.
export function portal(): HearthChat | null {
  const chat = document.querySelector('hearth-chat');
  chat?.addEventListener('hearth-ready', (e) => console.log(e.detail.model.name));
  chat?.addEventListener('hearth-error', (e) => console.log(e.detail.code satisfies HearthErrorCode, e.detail.message));
  // The events bubble and are composed: the document and the window hear them too.
  document.addEventListener('hearth-answer', (e) => console.log(e.detail.answer, e.detail.citations.map((c) => c.doc_id)));
  window.addEventListener('hearth-citations', (e) => console.log(e.detail.citations.length));
  const made = document.createElement('hearth-chat');
  made.setAttribute('model-src', '/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf');
  const client: Hearth | null = made.client;
  void client?.model?.context_size;
  void made.ask('What is the wifi password?').then((r: AskResult | null) => r?.answer);
  return chat;
}

// The rest of the client.
export async function everything(file: File, signal: AbortSignal): Promise<void> {
  const ai: Hearth = await createHearth({
    baseUrl: new URL('https://example.org/app/'),
    embedder: { model: 'e/model.safetensors', config: { url: 'e/config.json', sha256: 'ab', size: 10 }, tokenizer: 'e/tokenizer.json' },
    worker: () => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }),
    watchdogMs: 0,
  });
  await createHearth({ embedder: 'models/minilm-l6-v2/', worker: '/w.js' });
  const progress: (p: Progress) => void = (p) => console.log(p.phase, p.source, p.name);
  const info: ModelInfo = await ai.load(file, { nCtx: 1024, threads: 2, cache: false, signal, onProgress: progress });
  await ai.load({ parts: ['m.gguf.part1', 'm.gguf.part2'], sha256: 'ab', size: 2 });
  await ai.load(new URL('https://example.org/m.gguf'), { sha256: 'ab', size: 2 });
  console.log(info.architecture, info.threads, info.relaxed_simd, info.chat_template?.length, ai.model?.name);

  const whole: ChatCompletion = await ai.chat.completions.create({
    messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Hi' }],
    max_tokens: 16,
    temperature: 0.7,
    top_k: 40,
    top_p: 0.9,
    min_p: 0.05,
    repeat_penalty: 1.1,
    repeat_last_n: 64,
    seed: 1,
    stop: ['\n\n'],
    ignore_eos: false,
    stop_repetition: true,
    model: 'any',
    signal,
  });
  console.log(whole.choices[0].message.content, whole.choices[0].finish_reason, whole.usage.extra.decode_tokens_per_s);
  const chunks: AsyncIterable<ChatCompletionChunk> = await ai.chat.completions.create({ messages: [], stream: true });
  for await (const c of chunks) if (c.usage) console.log(c.usage.total_tokens, c.choices[0].finish_reason);
  const either = await ai.chat.completions.create({ messages: [], stream: Math.random() > 0.5 });
  if (!(Symbol.asyncIterator in either)) console.log(either.object);
  ai.stop();

  await ai.loadEmbedder({ signal, onProgress: progress });
  const doc: DocumentSummary = await ai.documents.add('The door code is 7341.', { title: 'notes.txt', tags: ['private'], format: 'text', signal });
  await ai.documents.add(file, { onProgress: progress });
  await ai.documents.add(new Blob(['%PDF-1.4']), { title: 'a.pdf', format: 'pdf' });
  const removed: boolean = await ai.documents.remove(doc.id);
  const list: DocumentSummary[] = await ai.documents.list();
  console.log(removed, list.filter((d) => d.read_only).map((d) => [d.title, d.tags, d.chunks, d.bytes]));

  const result: AskResult = await ai.ask('What is the door code?', { k: 4, docs: [doc.id], tags: ['private'], evidence: 3, min_evidence: 1, system: 'Answer briefly.', min_score_ratio: 0.5, max_tokens: 64, signal });
  const cited: Evidence[] = result.citations;
  console.log(result.answer, result.abstained, result.query, result.usage.prompt_tokens, result.segments.map((s) => s.citations), result.passages[0]?.text);
  console.log(cited.map((e) => [e.n, e.doc_id, e.title, e.text, e.chunk, e.start, e.end, e.score, e.before, e.after]));
  const followUp: AsyncIterable<AskChunk> = ai.ask('And on which days is it open?', { stream: true, history: [result] });
  for await (const c of followUp) {
    if (c.type === 'delta') console.log(c.delta);
    else console.log(c.citations.length, c.evidence.length);
  }

  const vectors: number[][] = await ai.embed(['a', 'b'], { signal });
  await ai.embed('one');
  const attached: DocumentSummary[] = await ai.index.load('site.hix', { readOnly: true, sha256: 'ab', signal });
  await ai.index.load(new Uint8Array(8));
  await ai.index.load(new ArrayBuffer(8), { readOnly: false });
  const exported: Uint8Array = await ai.index.export();
  const cache: CacheInfo = await ai.cache.list();
  await ai.cache.clear();
  console.log(vectors.length, attached.length, exported.byteLength, cache.usage, cache.quota, cache.entries.map((e) => [e.url, e.sha256, e.size, e.savedAt]));

  try {
    await ai.load('missing.gguf');
  } catch (e) {
    const err = HearthError.from(e);
    const code: HearthErrorCode = err.code;
    if (e instanceof HearthError && e.code === 'network') console.log(e.message, e.name, code);
  }
  throw new HearthError('stopped here', 'aborted', { cause: 'test' });
}

// Mistakes the types catch.
export async function mistakes(ai: Hearth): Promise<void> {
  // @ts-expect-error camelCase is not an option (max_tokens is)
  await ai.chat.completions.create({ messages: [], maxTokens: 3 });
  // @ts-expect-error a role the chat template does not know
  await ai.chat.completions.create({ messages: [{ role: 'tool', content: 'x' }] });
  // @ts-expect-error not an error code
  new HearthError('x', 'oops');
  // @ts-expect-error ask streams only with stream: true, and is then not a promise
  await ai.ask('q', { stream: true }).then((r) => r);
  // @ts-expect-error the widget has no such property
  document.querySelector('hearth-chat')?.modelSrc;
  // @ts-expect-error createHearth checks its options' names
  await createHearth({ baseURL: '/' });
}
