// The document formats the page accepts, by file extension (shared by the page and the worker).

const FORMATS = { txt: 'text', text: 'text', md: 'markdown', markdown: 'markdown', html: 'html', htm: 'html', pdf: 'pdf' };

/** 'text' | 'markdown' | 'html' | 'pdf' for a file name, or '' when it is not a supported document. */
export const formatOf = (name) => FORMATS[/\.([a-z0-9]+)$/i.exec(name)?.[1].toLowerCase()] ?? '';

export const isModelFile = (name) => /\.gguf$/i.test(name);
