// Types of the hearth-web package's client (client.js). Checked by `tsc --noEmit` on examples/.

/** Stable error codes (PROTOCOL.md "Error codes"). */
export type HearthErrorCode =
  | 'aborted'
  | 'bad_gguf'
  | 'unsupported_model'
  | 'model_too_large'
  | 'context_overflow'
  | 'bad_template'
  | 'unknown_option'
  | 'no_model'
  | 'no_embedder'
  | 'storage_full'
  | 'integrity'
  | 'network'
  | 'document_too_large'
  | 'unsupported_format'
  | 'bad_index'
  | 'invalid_argument'
  | 'worker_crashed'
  | 'worker_failed'
  | 'disposed'
  | 'error';

export declare class HearthError extends Error {
  readonly name: 'HearthError';
  readonly code: HearthErrorCode;
  constructor(message: string, code?: HearthErrorCode, options?: { cause?: unknown });
  static from(e: unknown): HearthError;
}

export interface HearthOptions {
  /** Where relative model, embedder and index URLs resolve (default: the page's URL). */
  baseUrl?: string | URL;
  /** The embedding model's folder (config.json, tokenizer.json, model.safetensors) or its three files. */
  embedder?: string | URL | { model: string | FileSpec; config: string | FileSpec; tokenizer: string | FileSpec };
  /** Starts the engine's module worker (default: the package's worker.js, next to client.js). */
  worker?: string | URL | (() => Worker);
  /** Silence (ms) after which a busy worker counts as hung and is restarted (default 60000; 0: never). */
  watchdogMs?: number;
}

export interface FileSpec {
  url: string;
  sha256?: string;
  size?: number;
}

export interface Progress {
  phase: 'download' | 'init' | 'read' | 'chunk' | 'embed';
  loaded: number;
  total: number;
  source?: 'network' | 'cache' | 'file';
  name?: string;
  /** `embed` phase: passages embedded per second so far, and the workers embedding them. */
  passages_per_s?: number;
  threads?: number;
}

export interface LoadOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Context window in tokens (default 2048, capped at the model's). */
  nCtx?: number;
  /** Workers sharing the model (default: every core up to 4 when cross-origin isolated, else 1). */
  threads?: number;
  sha256?: string;
  size?: number;
  /** Keep a downloaded model in the browser's storage (default true). */
  cache?: boolean;
}

export interface ModelInfo {
  name: string;
  architecture: string;
  file_bytes: number;
  n_params: number;
  n_vocab: number;
  n_layers: number;
  dim: number;
  context_length: number;
  context_size: number;
  memory_bytes: number;
  chat_template: string | null;
  simd: boolean;
  relaxed_simd: boolean;
  threads: number;
  source: 'network' | 'cache' | 'file';
  [key: string]: unknown;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Generation options (snake_case, as OpenAI's where they exist). */
export interface GenerationOptions {
  max_tokens?: number;
  /** 0 (the default here): greedy. */
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repeat_penalty?: number;
  repeat_last_n?: number;
  seed?: number;
  stop?: string[];
  ignore_eos?: boolean;
  stop_repetition?: boolean;
}

export interface ChatCompletionParams extends GenerationOptions {
  messages: ChatMessage[];
  stream?: boolean;
  signal?: AbortSignal;
  /** Accepted for compatibility; the loaded model answers. */
  model?: string;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  extra: {
    cached_tokens: number;
    prefill_tokens_per_s: number;
    decode_tokens_per_s: number;
    stop_reason: string;
    prefill_ms: number;
    /** ask only: searching the documents, then picking the evidence sentences (before the prefill). */
    search_ms?: number;
    evidence_ms?: number;
  };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }[];
  /** On the last chunk only. */
  usage?: Usage;
}

export interface DocumentSummary {
  id: string;
  title: string;
  tags: string[];
  chunks: number;
  bytes: number;
  /** From a read-only (prebuilt) index: searched, never removed or saved here. */
  read_only: boolean;
}

export interface AddDocumentOptions {
  /** The document's id and title (default: the file's name; needed for text). Adding a title again replaces it. */
  title?: string;
  tags?: string[];
  format?: 'text' | 'markdown' | 'html' | 'pdf';
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** An evidence sentence, numbered as the answer cites it ([n]). */
export interface Evidence {
  n: number;
  doc_id: string;
  title: string;
  /** The sentence. */
  text: string;
  chunk: number;
  /** Byte range of the sentence in the document's indexed text. */
  start: number;
  end: number;
  score: number;
  /** The rest of its passage, before and after it. */
  before?: string;
  after?: string;
}

export interface AskResult {
  question: string;
  answer: string;
  /** The evidence the answer cites, each once, in the order first cited. */
  citations: Evidence[];
  /** Every evidence sentence given to the model. */
  evidence: Evidence[];
  /** The passages the evidence comes from. */
  passages: { doc_id: string; title: string; chunk: number; text: string }[];
  /** The answer's sentences with the evidence numbers each cites. */
  segments: { text: string; citations: number[] }[];
  /** "I could not find this in your documents.": the evidence was too weak to ask the model. */
  abstained: boolean;
  query: string;
  usage: Usage;
}

export interface AskOptions extends GenerationOptions {
  /** Passages searched (default 4). */
  k?: number;
  /** Only these documents (ids). */
  docs?: string[];
  /** Only documents carrying one of these tags. */
  tags?: string[];
  /** Earlier results of ask, oldest first: makes this a follow-up. */
  history?: Pick<AskResult, 'question' | 'answer' | 'evidence'>[];
  stream?: boolean;
  signal?: AbortSignal;
  /** Evidence sentences given to the model (default 3; 0: whole passages). */
  evidence?: number;
  min_evidence?: number;
  system?: string;
  min_score_ratio?: number;
}

export type AskChunk = { type: 'delta'; delta: string } | ({ type: 'answer' } & AskResult);

export interface CacheInfo {
  entries: { url: string; sha256: string; size: number; savedAt: number }[];
  usage: number;
  quota: number;
}

export declare class Hearth {
  /** The loaded model's info (null before load). */
  readonly model: ModelInfo | null;
  /** A GGUF: URL (relative to baseUrl), File/Blob, or a file split in parts. */
  load(model: string | URL | Blob | { url?: string; parts?: string[]; sha256?: string; size?: number }, options?: LoadOptions): Promise<ModelInfo>;
  readonly chat: {
    completions: {
      create(params: ChatCompletionParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(params: ChatCompletionParams & { stream?: false }): Promise<ChatCompletion>;
      create(params: ChatCompletionParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  /** Ends the generation in progress and those asked for that have not begun (finish_reason 'abort'). */
  stop(): void;
  loadEmbedder(options?: { onProgress?: (p: Progress) => void; signal?: AbortSignal; threads?: number }): Promise<unknown>;
  readonly documents: {
    add(source: File | Blob | string, options?: AddDocumentOptions): Promise<DocumentSummary>;
    remove(id: string): Promise<boolean>;
    list(): Promise<DocumentSummary[]>;
  };
  ask(question: string, options: AskOptions & { stream: true }): AsyncIterable<AskChunk>;
  ask(question: string, options?: AskOptions & { stream?: false }): Promise<AskResult>;
  embed(texts: string | string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  readonly index: {
    /** A prebuilt index (`hearth index build`): read-only by default, searched next to the user's documents. */
    load(source: string | URL | Uint8Array | ArrayBuffer, options?: { readOnly?: boolean; sha256?: string; signal?: AbortSignal }): Promise<DocumentSummary[]>;
    /** The user's own documents as an index file. */
    export(): Promise<Uint8Array>;
  };
  readonly cache: {
    list(): Promise<CacheInfo>;
    clear(): Promise<CacheInfo>;
  };
  dispose(): void;
}

export declare function createHearth(options?: HearthOptions): Promise<Hearth>;
