//! A document library: the embedder and the index together, and the one way documents get in. Step by step
//! (begin / chunk / embed / commit) so a caller (the page's worker) can report progress and stop between
//! steps, or many documents at once (the CLI, the evaluations); both read, check and chunk a document the
//! same way. A document enters the index only when it is complete, so a half-finished ingest never leaves a
//! partial document behind.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::retrieval::chunker::{chunk, ChunkSpec, Chunking, Span};
use crate::retrieval::embedder::Embedder;
use crate::retrieval::format::{indexed_text, Format};
use crate::retrieval::index::{Hit, Index, Mode, NewDocument, SearchOptions};
use crate::retrieval::passage::Passage;

/// Larger documents are refused with a clear error (embedding 20 MB of text already takes many minutes).
pub const MAX_DOCUMENT_BYTES: usize = 20 << 20;

/// A document to add, as read: its text is converted from `format` when it is added.
#[derive(Debug, Clone)]
pub struct RawDocument {
    pub id: String,
    pub title: String,
    pub text: String,
    pub format: Format,
    pub tags: Vec<String>,
}

/// The text `d` is indexed and cited as, after the checks every document passes: a non-empty id, at most
/// [`MAX_DOCUMENT_BYTES`], and some text.
fn indexed_document_text(id: &str, title: &str, raw: &str, format: Format) -> Result<String> {
    if id.is_empty() {
        return Err(Error::Invalid("a document needs a non-empty id".into()));
    }
    if raw.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::Invalid(format!(
            "document `{id}` is {:.1} MB; the limit is {} MB",
            raw.len() as f64 / (1 << 20) as f64,
            MAX_DOCUMENT_BYTES >> 20
        )));
    }
    let text = indexed_text(title, raw, format);
    if text.trim().is_empty() {
        return Err(Error::Invalid(format!("document `{id}` has no text")));
    }
    Ok(text)
}

/// Chunks embedded per batch by [`Library::add_documents`]: enough to share each weight pass among many
/// short documents, few enough that progress moves.
const BATCH_CHUNKS: usize = 64;

struct Pending {
    id: String,
    title: String,
    tags: Vec<String>,
    text: String,
    /// While the text is being chunked (`chunk_pending`); then `None` and `spans` holds the chunks.
    chunking: Option<Chunking>,
    spans: Vec<Span>,
    vectors: Vec<Vec<f32>>,
}

/// The pending document once it is chunked (what embedding it needs), shared or mutable.
fn chunked<P: std::ops::Deref<Target = Pending>>(p: Option<P>) -> Result<P> {
    let p = p.ok_or_else(|| Error::Invalid("no document is being added".into()))?;
    if p.chunking.is_some() {
        return Err(Error::Invalid("the document is still being chunked".into()));
    }
    Ok(p)
}

impl Pending {
    /// The texts of chunks `range`.
    fn texts(&self, range: Range<usize>) -> Vec<&str> {
        self.spans[range].iter().map(|s| &self.text[s.start..s.end]).collect()
    }

    /// The embedded document, as the index takes it.
    fn into_document(self) -> NewDocument {
        NewDocument {
            id: self.id,
            title: self.title,
            tags: self.tags,
            text: self.text,
            spans: self.spans,
            vectors: self.vectors,
        }
    }
}

pub struct Library {
    pub embedder: Embedder,
    pub index: Index,
    pub spec: ChunkSpec,
    pending: Option<Pending>,
    /// Ids of the documents that came from a read-only index (a site's prebuilt one): searched like the
    /// others, but never removed, replaced or saved with the user's own ([`Library::own_index_bytes`]).
    read_only: Vec<String>,
}

impl Library {
    pub fn new(embedder: Embedder, spec: ChunkSpec) -> Library {
        let index = Index::new(embedder.dim());
        Library { embedder, index, spec, pending: None, read_only: Vec::new() }
    }

    fn check_dim(&self, index: &Index) -> Result<()> {
        if index.dim() != self.embedder.dim() {
            return Err(Error::Invalid(format!(
                "the index holds {}-d vectors but the embedder makes {}-d",
                index.dim(),
                self.embedder.dim()
            )));
        }
        Ok(())
    }

    /// Replaces the user's own documents (e.g. with an index loaded from bytes); its dimension must match the
    /// embedder's. The read-only documents stay, except one whose id the new index uses: the user's document
    /// wins (another tab, without the read-only index, saved a document of that name).
    pub fn set_index(&mut self, mut index: Index) -> Result<()> {
        self.check_dim(&index)?;
        let kept: Vec<String> = self.read_only.iter().filter(|id| index.document(id).is_none()).cloned().collect();
        for id in &kept {
            let d = self.index.document(id).expect("read-only documents are in the index").to_new();
            index.add(d)?;
        }
        self.index = index;
        self.read_only = kept;
        Ok(())
    }

    /// Adds the documents of a prebuilt index read-only, in place of those of a read-only index added
    /// before; returns how many. Nothing changes on an error (a dimension mismatch, an id the user's own
    /// documents already use).
    pub fn attach_read_only(&mut self, prebuilt: Index) -> Result<usize> {
        self.check_dim(&prebuilt)?;
        let docs: Vec<NewDocument> = prebuilt.documents().map(|d| d.to_new()).collect();
        if let Some(d) = docs.iter().find(|d| self.index.document(&d.id).is_some() && !self.is_read_only(&d.id)) {
            return Err(Error::Invalid(format!(
                "document `{}` of the read-only index has the id of one of your documents",
                d.id
            )));
        }
        for id in std::mem::take(&mut self.read_only) {
            self.index.remove(&id);
        }
        let n = docs.len();
        for d in docs {
            // Checked when the prebuilt index was read (spans, dimensions, finite vectors): cannot fail here.
            self.read_only.push(d.id.clone());
            self.index.add(d)?;
        }
        Ok(n)
    }

    pub fn is_read_only(&self, id: &str) -> bool {
        self.read_only.iter().any(|r| r == id)
    }

    /// Removes one of the user's documents; returns whether it was there. A read-only one is an error.
    pub fn remove(&mut self, id: &str) -> Result<bool> {
        if self.is_read_only(id) {
            return Err(Error::Invalid(format!("document `{id}` is part of a read-only index and cannot be removed")));
        }
        Ok(self.index.remove(id))
    }

    /// The user's own documents as an index file: without the read-only ones (they are loaded from their
    /// own file each time).
    pub fn own_index_bytes(&self) -> Vec<u8> {
        if self.read_only.is_empty() {
            return self.index.to_bytes();
        }
        let mut own = Index::new(self.index.dim());
        for d in self.index.documents().filter(|d| !self.is_read_only(&d.id)) {
            own.add(d.to_new()).expect("a document of an index is valid");
        }
        own.to_bytes()
    }

    /// Reads a document; returns the bytes of text to chunk. Then `chunk_pending` until it gives the number of
    /// chunks, `embed_pending` until all are embedded, and `commit_document`.
    pub fn begin_document(
        &mut self,
        id: &str,
        title: &str,
        raw: &str,
        format: Format,
        tags: Vec<String>,
    ) -> Result<usize> {
        self.pending = None;
        if self.is_read_only(id) {
            return Err(Error::Invalid(format!("document `{id}` is part of a read-only index and cannot be replaced")));
        }
        let text = indexed_document_text(id, title, raw, format)?;
        let chunking = Chunking::new(&text, self.spec);
        let bytes = chunking.progress().1;
        self.pending = Some(Pending {
            id: id.into(),
            title: title.into(),
            tags,
            text,
            chunking: Some(chunking),
            spans: Vec::new(),
            vectors: Vec::new(),
        });
        Ok(bytes)
    }

    /// Chunks about `budget_bytes` more of the pending document's text; returns the number of chunks once all
    /// of it is chunked, else `None` (call again). Each call's work is bounded, so a caller can stop in between.
    pub fn chunk_pending(&mut self, budget_bytes: usize) -> Result<Option<usize>> {
        let p = self.pending.as_mut().ok_or_else(|| Error::Invalid("no document is being added".into()))?;
        if let Some(c) = p.chunking.as_mut() {
            if !c.step(&p.text, budget_bytes, &|s| self.embedder.count_tokens(s)) {
                return Ok(None);
            }
            p.spans = p.chunking.take().unwrap().finish();
            p.vectors.reserve_exact(p.spans.len());
        }
        Ok(Some(p.spans.len()))
    }

    /// Bytes of the pending document chunked so far, and in all.
    pub fn chunk_progress(&self) -> (usize, usize) {
        match self.pending.as_ref() {
            Some(Pending { chunking: Some(c), .. }) => c.progress(),
            Some(p) => (p.text.len(), p.text.len()),
            None => (0, 0),
        }
    }

    /// Embeds up to `max_chunks` more chunks of the pending document; returns (embedded, total).
    pub fn embed_pending(&mut self, max_chunks: usize) -> Result<(usize, usize)> {
        let p = chunked(self.pending.as_mut())?;
        let done = p.vectors.len();
        let end = (done + max_chunks.max(1)).min(p.spans.len());
        let v = self.embedder.embed(&p.texts(done..end))?;
        p.vectors.extend(v);
        Ok((p.vectors.len(), p.spans.len()))
    }

    /// The texts of the pending document's chunks `from..to` (clamped to its chunks), for embedding elsewhere
    /// (the page's other workers) and handing the vectors back with [`Library::push_vectors`].
    pub fn pending_texts(&self, from: usize, to: usize) -> Result<Vec<&str>> {
        let p = chunked(self.pending.as_ref())?;
        let to = to.min(p.spans.len());
        Ok(p.texts(from.min(to)..to))
    }

    /// Takes the embeddings of the pending document's next chunks, made elsewhere from [`Library::pending_texts`]
    /// (`flat`: one vector after another); returns (embedded, total). Checked whole before anything is kept.
    pub fn push_vectors(&mut self, flat: &[f32]) -> Result<(usize, usize)> {
        let dim = self.embedder.dim();
        let p = chunked(self.pending.as_mut())?;
        let left = p.spans.len() - p.vectors.len();
        if !flat.len().is_multiple_of(dim) || flat.len() / dim > left {
            return Err(Error::Invalid(format!(
                "{} floats are not whole {dim}-d vectors for at most the {left} chunks left",
                flat.len()
            )));
        }
        if flat.iter().any(|v| !v.is_finite()) {
            return Err(Error::Invalid("a vector holds a value that is not finite".into()));
        }
        p.vectors.extend(flat.chunks_exact(dim).map(<[f32]>::to_vec));
        Ok((p.vectors.len(), p.spans.len()))
    }

    /// Adds the fully embedded pending document to the index (replacing one with the same id).
    pub fn commit_document(&mut self) -> Result<()> {
        let p = self.pending.take().ok_or_else(|| Error::Invalid("no document is being added".into()))?;
        if p.vectors.len() != p.spans.len() {
            let (done, total) = (p.vectors.len(), p.spans.len());
            self.pending = Some(p);
            return Err(Error::Invalid(format!("only {done} of {total} chunks are embedded")));
        }
        self.index.add(p.into_document())
    }

    pub fn cancel_document(&mut self) {
        self.pending = None;
    }

    /// Chunks, embeds and adds a document in one call; returns its number of chunks.
    pub fn add_document(
        &mut self,
        id: &str,
        title: &str,
        raw: &str,
        format: Format,
        tags: Vec<String>,
    ) -> Result<usize> {
        self.begin_document(id, title, raw, format, tags)?;
        let n = self.chunk_pending(usize::MAX)?.expect("chunked in one step");
        self.embed_pending(usize::MAX)?;
        self.commit_document()?;
        Ok(n)
    }

    /// Adds many documents at once (folders, corpora), each read and checked as by [`Library::begin_document`].
    /// Every document is read and chunked before anything is embedded, so one that cannot be added stops the
    /// batch with the index unchanged. Chunks are then embedded in batches of whole documents of
    /// [`BATCH_CHUNKS`] chunks or a little more (short documents share a weight pass), and each document
    /// enters the index whole. Reports `(chunks embedded, chunks in all)`.
    pub fn add_documents(&mut self, docs: Vec<RawDocument>, mut progress: impl FnMut(usize, usize)) -> Result<()> {
        self.pending = None;
        let count = |s: &str| self.embedder.count_tokens(s);
        let mut prepared = docs
            .into_iter()
            .map(|d| {
                let text = indexed_document_text(&d.id, &d.title, &d.text, d.format)?;
                let spans = chunk(&text, self.spec, &count);
                Ok(Pending { id: d.id, title: d.title, tags: d.tags, text, chunking: None, spans, vectors: Vec::new() })
            })
            .collect::<Result<Vec<_>>>()?;
        let total: usize = prepared.iter().map(|p| p.spans.len()).sum();
        let mut done = 0;
        progress(0, total);
        let mut rest = prepared.as_mut_slice();
        while !rest.is_empty() {
            // Whole documents until the batch holds BATCH_CHUNKS chunks or more.
            let mut n = 0;
            let mut chunks = 0;
            while n < rest.len() && chunks < BATCH_CHUNKS {
                chunks += rest[n].spans.len();
                n += 1;
            }
            let (batch, tail) = std::mem::take(&mut rest).split_at_mut(n);
            let texts: Vec<&str> = batch.iter().flat_map(|p| p.spans.iter().map(|s| &p.text[s.start..s.end])).collect();
            let mut vectors = self.embedder.embed(&texts)?.into_iter();
            for p in batch.iter_mut() {
                p.vectors = vectors.by_ref().take(p.spans.len()).collect();
            }
            done += chunks;
            progress(done, total);
            rest = tail;
        }
        for p in prepared {
            self.index.add(p.into_document())?;
        }
        Ok(())
    }

    /// Searches, embedding the query when the mode needs it.
    pub fn search(&self, query: &str, o: &SearchOptions) -> Result<Vec<Hit>> {
        let qv = if o.mode == Mode::Bm25 { None } else { Some(self.embedder.embed(&[query])?.remove(0)) };
        self.index.search(query, qv.as_deref(), o)
    }

    /// [`Library::search`]'s hits as passages, with their text and title.
    pub fn search_passages(&self, query: &str, o: &SearchOptions) -> Result<Vec<Passage>> {
        Ok(self.search(query, o)?.iter().filter_map(|h| Passage::from_hit(&self.index, h)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::embedder::Precision;
    use crate::testutil::tiny_bert;

    fn retriever() -> Library {
        let (st, cfg, tok) = tiny_bert(1);
        Library::new(
            Embedder::new(&st, &cfg, &tok, 64, Precision::F32).unwrap(),
            ChunkSpec { max_tokens: 12, overlap_tokens: 0 },
        )
    }

    #[test]
    fn stepwise_ingest_commits_whole_documents_only() {
        let mut r = retriever();
        let text = "Travel expenses need approval. Meal allowance per day is 500 eur. Report a lost phone.";
        let bytes = r.begin_document("p", "Policy", text, Format::Text, vec![]).unwrap();
        assert!(r.embed_pending(1).unwrap_err().to_string().contains("still being chunked"));
        // One sentence per step: the caller regains control between steps (to report progress, or stop).
        let mut steps = 0;
        let n = loop {
            steps += 1;
            if let Some(n) = r.chunk_pending(1).unwrap() {
                break n;
            }
            let (done, total) = r.chunk_progress();
            assert!(done < total && total == bytes, "{done}/{total} of {bytes}");
        };
        assert_eq!((steps, r.chunk_pending(1).unwrap()), (4, Some(n)), "title + three sentences");
        assert!(n >= 2, "{n} chunks");
        assert_eq!(r.embed_pending(1).unwrap(), (1, n));
        assert!(r.commit_document().unwrap_err().to_string().contains(&format!("only 1 of {n}")));
        assert!(r.index.is_empty(), "nothing is indexed before the document is complete");
        r.embed_pending(100).unwrap();
        r.commit_document().unwrap();
        assert_eq!(r.index.len(), 1);
        let hits = r.search("lost phone", &SearchOptions { mode: Mode::Bm25, k: 1, ..Default::default() }).unwrap();
        assert!(r.index.document("p").unwrap().text[hits[0].start..hits[0].end].contains("lost phone"));
        let hits = r.search("lost phone", &SearchOptions::default()).unwrap();
        assert!(!hits.is_empty());
    }

    #[test]
    fn vectors_made_elsewhere_index_as_the_library_own() {
        let text = "Travel expenses need approval. Meal allowance per day is 500 eur. Report a lost phone.";
        let mut own = retriever();
        own.add_document("p", "Policy", text, Format::Text, vec![]).unwrap();
        // Another embedder (the page's other worker) embeds chunks 1.. while this one embeds chunk 0.
        let (mut r, other) = (retriever(), retriever());
        r.begin_document("p", "Policy", text, Format::Text, vec![]).unwrap();
        let n = r.chunk_pending(usize::MAX).unwrap().unwrap();
        assert!(n >= 2, "{n} chunks");
        let texts: Vec<String> = r.pending_texts(1, usize::MAX).unwrap().into_iter().map(String::from).collect();
        assert_eq!(texts.len(), n - 1);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let flat: Vec<f32> = other.embedder.embed(&refs).unwrap().concat();
        assert_eq!(r.embed_pending(1).unwrap(), (1, n));
        // Wrong sizes and non-finite values are refused and keep nothing.
        let dim = r.embedder.dim();
        for bad in [&flat[..dim - 1], &[flat.as_slice(), &flat[..dim]].concat()[..], &vec![f32::NAN; dim][..]] {
            assert!(r.push_vectors(bad).is_err());
        }
        assert_eq!(r.push_vectors(&flat).unwrap(), (n, n));
        r.commit_document().unwrap();
        assert_eq!(r.index.to_bytes(), own.index.to_bytes(), "the same index as embedding it all here");
    }

    #[test]
    fn bad_documents_are_refused_and_change_nothing() {
        let mut r = retriever();
        r.add_document("a", "", "travel policy.", Format::Text, vec![]).unwrap();
        let before = r.index.to_bytes();
        assert!(r.add_document("", "", "x", Format::Text, vec![]).unwrap_err().to_string().contains("non-empty id"));
        assert!(r
            .add_document("e", "", "   \n ", Format::Text, vec![])
            .unwrap_err()
            .to_string()
            .contains("has no text"));
        let huge = "a ".repeat(MAX_DOCUMENT_BYTES / 2 + 1);
        assert!(r
            .add_document("h", "", &huge, Format::Text, vec![])
            .unwrap_err()
            .to_string()
            .contains("the limit is 20 MB"));
        let html = "<p>Travel</p><script>alert('x')</script><img src=x onerror=alert(1)>";
        r.add_document("html", "", html, Format::Html, vec![]).unwrap();
        assert_eq!(r.index.document("html").unwrap().text, "Travel");
        r.index.remove("html");
        assert_eq!(r.index.to_bytes(), before);
        let lossy = String::from_utf8_lossy(b"travel \xff\xfe policy").into_owned();
        r.add_document("bin", "", &lossy, Format::Text, vec![]).unwrap();
        assert!(r.index.document("bin").unwrap().text.contains('\u{FFFD}'));
    }

    #[test]
    fn a_read_only_index_is_searched_but_never_removed_replaced_or_saved() {
        // The site's prebuilt index, as `hearth index build` writes it.
        let mut site = retriever();
        site.add_document("handbook.md", "", "The Larkspur office wifi password is heron42.", Format::Markdown, vec![])
            .unwrap();
        let prebuilt = site.index.to_bytes();
        let mut r = retriever();
        r.add_document("mine.txt", "", "My own note about lost phones.", Format::Text, vec![]).unwrap();
        let own = r.index.to_bytes();
        assert_eq!(r.attach_read_only(Index::from_bytes(&prebuilt).unwrap()).unwrap(), 1);
        let bm25 = SearchOptions { mode: Mode::Bm25, k: 1, ..Default::default() };
        assert_eq!(r.search("wifi password", &bm25).unwrap()[0].doc_id, "handbook.md");
        assert_eq!(r.search("lost phones", &bm25).unwrap()[0].doc_id, "mine.txt");
        assert_eq!(r.own_index_bytes(), own, "the saved index holds the user's documents only");
        for e in [
            r.remove("handbook.md").unwrap_err(),
            r.add_document("handbook.md", "", "x", Format::Text, vec![]).unwrap_err(),
        ] {
            assert!(e.to_string().contains("read-only"), "{e}");
        }
        // Reloading the user's saved index (another tab saved) keeps the read-only documents; attaching the
        // prebuilt index again replaces them rather than doubling them.
        r.set_index(Index::from_bytes(&own).unwrap()).unwrap();
        r.attach_read_only(Index::from_bytes(&prebuilt).unwrap()).unwrap();
        assert_eq!(r.index.len(), 2);
        assert_eq!(r.search("wifi password", &bm25).unwrap()[0].doc_id, "handbook.md");
        assert!(r.remove("mine.txt").unwrap());
        // Another tab saved a document under a read-only id: reloading its save, the user's document wins.
        let mut other = retriever();
        other.add_document("mine.txt", "", "My own note about lost phones.", Format::Text, vec![]).unwrap();
        other.add_document("handbook.md", "", "My own handbook.", Format::Markdown, vec![]).unwrap();
        r.set_index(Index::from_bytes(&other.index.to_bytes()).unwrap()).unwrap();
        assert!(!r.is_read_only("handbook.md") && r.remove("handbook.md").unwrap());
        r.remove("mine.txt").unwrap();
        r.attach_read_only(Index::from_bytes(&prebuilt).unwrap()).unwrap();
        // A prebuilt index that uses one of the user's ids is refused, and nothing changes.
        r.add_document("handbook2.md", "", "Mine.", Format::Text, vec![]).unwrap();
        let before = r.own_index_bytes();
        site.add_document("handbook2.md", "", "Theirs.", Format::Text, vec![]).unwrap();
        let e = r.attach_read_only(Index::from_bytes(&site.index.to_bytes()).unwrap()).unwrap_err();
        assert!(e.to_string().contains("`handbook2.md`"), "{e}");
        assert_eq!((r.own_index_bytes(), r.index.len()), (before, 2));
    }
}
