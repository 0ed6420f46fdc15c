// The documents panel: the list of indexed documents (each with Remove), the file input, the sample button
// and the indexing progress. Rendering only: app.js decides what happens (it owns the worker client).

const KB = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} KB`);

export class DocumentsPanel {
  /** `on`: {add(files), remove(id), samples(), cancel()}. */
  constructor(on) {
    const $ = (id) => document.getElementById(id);
    this.list = $('documents');
    this.empty = $('documents-empty');
    this.input = $('doc-files');
    this.samples = $('add-samples');
    this.box = $('ingest-box');
    this.progress = $('ingest-progress');
    this.phase = $('ingest-phase');
    this.cancel = $('cancel-ingest');
    this.on = on;
    this.input.addEventListener('change', () => {
      const files = [...this.input.files];
      this.input.value = ''; // choosing the same files again adds them again
      if (files.length) on.add(files);
    });
    this.samples.addEventListener('click', () => on.samples());
    this.cancel.addEventListener('click', () => on.cancel());
  }

  /** Whether documents can be added (the embedder is loaded). */
  setEnabled(enabled) {
    this.input.disabled = !enabled;
    this.samples.disabled = !enabled;
  }

  /** Shows `documents` ([{id, title, chunks, bytes}]), each with a Remove button. */
  setDocuments(documents) {
    const items = [...this.list.children];
    const focusedItem = document.activeElement?.closest?.('#documents li');
    const focused = focusedItem?.dataset.id;
    const focusedAt = items.indexOf(focusedItem);
    this.list.replaceChildren(
      ...documents.map((d) => {
        const item = document.createElement('li');
        item.dataset.id = d.id;
        const name = document.createElement('span');
        name.className = 'doc-name';
        name.textContent = d.title || d.id;
        const meta = document.createElement('span');
        meta.className = 'doc-meta';
        meta.textContent = `${d.chunks} ${d.chunks === 1 ? 'passage' : 'passages'} · ${KB(d.bytes)}`;
        if (d.read_only) {
          // From the site's prebuilt index: searched like the others, not the user's to remove.
          meta.textContent += ' · from this site';
          item.append(name, meta);
          return item;
        }
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'remove';
        remove.textContent = 'Remove';
        remove.setAttribute('aria-label', `Remove ${d.title || d.id}`);
        remove.addEventListener('click', () => this.on.remove(d.id));
        item.append(name, meta, remove);
        return item;
      }),
    );
    this.empty.hidden = documents.length > 0;
    // Keyboard users keep their place: focus moves to the next Remove button (or the file input).
    if (focused !== undefined && !documents.some((d) => d.id === focused)) {
      const buttons = this.list.querySelectorAll('button.remove');
      (buttons[Math.min(focusedAt, buttons.length - 1)] ?? this.input).focus();
    }
  }

  /** Shows the progress of the document being indexed: {name, phase, loaded, total}, `queued` more; null hides it. */
  setIngest(ingest, queued = 0) {
    this.box.hidden = !ingest;
    if (!ingest) return;
    const more = queued > 0 ? ` (${queued} more queued)` : '';
    if (ingest.phase === 'embed' && ingest.total) {
      this.progress.value = ingest.loaded / ingest.total;
      const on = ingest.threads > 1 ? ` on ${ingest.threads} threads` : '';
      const rate = ingest.passages_per_s ? `, ${ingest.passages_per_s.toFixed(1)} passages/s${on}` : '';
      this.phase.textContent = `${ingest.name}: ${ingest.loaded} of ${ingest.total} passages embedded${rate}${more}`;
    } else if (ingest.phase === 'chunk' && ingest.total) {
      this.progress.value = ingest.loaded / ingest.total;
      this.phase.textContent = `${ingest.name}: splitting into passages, ${Math.round((100 * ingest.loaded) / ingest.total)}%${more}`;
    } else {
      this.progress.removeAttribute('value');
      const pages = ingest.total ? ` page ${ingest.loaded} of ${ingest.total}` : '';
      this.phase.textContent = `Reading ${ingest.name ?? ''}${pages}…${more}`;
    }
  }
}
