// Text of a PDF, with pdf.js (pdfjs-dist from npm, copied to vendor/pdfjs by scripts/vendor.sh; no CDN).
// Runs inside the model worker. pdf.js's own worker code is imported into this thread (its "fake worker"),
// so no nested worker, no eval (pdf.js 6 has none) and no fetch: fonts, CMaps and image decoders are not
// needed for text and are turned off. preload() imports both modules ahead of time, so adding a PDF later
// makes no network request at all. The imports name their files literally (relative to this module), so a
// bundler (Vite, webpack, Rollup) follows them and emits pdf.js as lazy chunks of the worker; without one they
// load from vendor/pdfjs/ next to this file.

let loading = null;

/** Imports pdf.js (once). Resolves to the pdf.js module. */
export function preload() {
  loading ??= (async () => {
    const [pdfjs, worker] = await Promise.all([import('./vendor/pdfjs/pdf.min.mjs'), import('./vendor/pdfjs/pdf.worker.min.mjs')]);
    // pdf.js then runs its worker side in this thread (a "fake worker"): with this global set it never reads
    // GlobalWorkerOptions.workerSrc, so none is given (a URL there would make bundlers copy the file again).
    globalThis.pdfjsWorker = worker;
    return pdfjs;
  })();
  loading.catch(() => (loading = null));
  return loading;
}

/**
 * The text of the PDF in `bytes` (Uint8Array): pages in order, separated by blank lines; a line break where
 * pdf.js marks the end of a line. `onPage(done, total)` reports progress.
 */
export async function pdfText(bytes, onPage) {
  const pdfjs = await preload();
  const task = pdfjs.getDocument({
    data: bytes,
    disableFontFace: true,
    useSystemFonts: false,
    useWasm: false,
    useWorkerFetch: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    disableWorkerRendering: true,
    stopAtErrors: false,
    verbosity: 0,
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (e) {
    await task.destroy().catch(() => {});
    throw new Error(`not a readable PDF (${e.message})`);
  }
  try {
    const pages = [];
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) {
        if (typeof item.str !== 'string') continue;
        text += item.str + (item.hasEOL ? '\n' : '');
      }
      pages.push(text.trim());
      page.cleanup();
      onPage?.(n, doc.numPages);
    }
    return pages.filter(Boolean).join('\n\n');
  } finally {
    await task.destroy().catch(() => {});
  }
}
