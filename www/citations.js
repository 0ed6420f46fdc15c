// Renders the parts of an answer built from documents: the "Sources" list of the passages that went into the
// prompt, and the finished answer as segments, each followed by one button per passage it cites ("[2]") that
// reveals that passage and its document. Text only (textContent / Text nodes, never HTML): a document or the
// model can write anything, none of it becomes markup.

let nextUid = 1;

// A chunk's text starts with its document's title (the index embeds title + body); shown under that title
// already, it is left out.
const body = (p) => (p.title && p.text.startsWith(p.title) ? p.text.slice(p.title.length).trimStart() : p.text);

// The passage as a paragraph: an evidence sentence (a passage with `before`/`after`, its passage's text around
// it) is shown in place and highlighted (<mark>), the rest as plain text.
function passageText(p) {
  const para = el('p', 'passage-text');
  if (p.before === undefined && p.after === undefined) {
    para.textContent = body(p);
    return para;
  }
  const before = p.title && p.before?.startsWith(p.title) ? p.before.slice(p.title.length).trimStart() : p.before ?? '';
  para.append(document.createTextNode(before), el('mark', 'evidence', p.text), document.createTextNode(p.after ?? ''));
  return para;
}

/** The "Sources" list for `passages` ([{doc_id, title, text}]), numbered as in the prompt. */
export function sourcesList(passages) {
  const box = el('section', 'sources');
  const heading = el('h4', 'sources-heading', `Sources (${passages.length})`);
  heading.id = `sources-${nextUid++}`;
  const list = el('ol', 'sources-list');
  list.setAttribute('aria-label', 'Sources');
  passages.forEach((p, i) => {
    const item = el('li');
    const details = el('details');
    details.append(el('summary', null, `[${i + 1}] ${p.title || p.doc_id}`), passageText(p));
    item.append(details);
    list.append(item);
  });
  box.append(heading, list);
  return box;
}

/**
 * Replaces the content of `target` (the answer's text element) with `segments` ([{text, citations}]) and
 * their citation buttons; inserts the box that shows a cited passage right after `target`.
 */
export function renderCitedAnswer(target, segments, passages) {
  const uid = nextUid++;
  const reveal = el('div', 'cited-passage');
  reveal.id = `cited-${uid}`;
  reveal.hidden = true;
  reveal.setAttribute('role', 'region');
  reveal.setAttribute('aria-label', 'Cited passage');
  reveal.setAttribute('aria-live', 'polite');

  const buttons = [];
  let shown = 0;
  const show = (n) => {
    shown = shown === n ? 0 : n;
    for (const b of buttons) b.setAttribute('aria-expanded', String(Number(b.dataset.source) === shown));
    reveal.hidden = !shown;
    if (!shown) return reveal.replaceChildren();
    const p = passages[n - 1];
    const title = el('p', 'cited-title');
    title.append(el('strong', null, `[${n}] `), document.createTextNode(p.title || p.doc_id));
    if (p.title && p.title !== p.doc_id) title.append(document.createTextNode(` (${p.doc_id})`));
    reveal.replaceChildren(title, passageText(p));
  };

  target.replaceChildren();
  let last = '';
  for (const seg of segments) {
    let text = seg.text;
    if (last && !/\s$/.test(last) && text && !/^\s/.test(text)) text = ` ${text}`;
    if (text) target.append(document.createTextNode(text));
    last = text || last;
    for (const n of seg.citations ?? []) {
      const p = passages[n - 1];
      if (!p) continue;
      const b = el('button', 'cite', `[${n}]`);
      b.type = 'button';
      b.dataset.source = String(n);
      b.setAttribute('aria-label', `Source ${n}: ${p.title || p.doc_id}`);
      b.setAttribute('aria-expanded', 'false');
      b.setAttribute('aria-controls', reveal.id);
      b.addEventListener('click', () => show(n));
      buttons.push(b);
      target.append(b);
      last = ']';
    }
  }
  if (!target.textContent) target.textContent = '(no answer)';
  target.after(reveal);
  return { citations: buttons.length };
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
