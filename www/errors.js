// Stable error codes (PROTOCOL.md "Error codes"): the worker sends one with every `error`, the client's
// HearthError carries it. Scripts branch on the code; the message is for people and may change.

// The first pattern that matches an error's message (or its DOMException name) gives its code.
const RULES = [
  ['aborted', /was cancelled|request was aborted|^AbortError$/],
  ['bad_gguf', /^invalid GGUF|not a GGUF/],
  ['unsupported_model', /^unsupported model/],
  ['model_too_large', /cannot allocate \d+ bytes|out of memory/],
  ['context_overflow', /^context overflow/],
  ['bad_template', /^chat template/],
  ['unknown_option', /unknown option/],
  ['no_model', /no model is loaded/],
  ['no_embedder', /embedder is not loaded/],
  ['storage_full', /^QuotaExceededError$|quota|not enough (browser )?storage/i],
  ['integrity', /sha256 check/],
  ['network', /cannot download|HTTP \d{3}|Failed to fetch|NetworkError|on another site|the download stalled/],
  ['document_too_large', /the limit is \d+ MB/],
  ['unsupported_format', /unsupported file type|no text found|document is empty/],
  ['bad_index', /index file|ANN index bytes|saved index/],
  ['invalid_argument', /^invalid argument|is missing|is needed|must be/],
];

/** The code for an error (an Error, a DOMException, or a message string): one of RULES's, else 'error'. */
export function errorCode(e) {
  if (e && typeof e === 'object' && typeof e.code === 'string') return e.code;
  const name = e?.name ?? '';
  const message = typeof e === 'string' ? e : String(e?.message ?? e ?? '');
  for (const [code, re] of RULES) if (re.test(name) || re.test(message)) return code;
  return 'error';
}

/** An Error with `code` (for requests ended by their AbortSignal or a `cancel`). */
export const abortedError = (what = 'the request') => Object.assign(new Error(`${what} was cancelled`), { code: 'aborted' });
