//! BM25 over chunks: Unicode-aware terms (lower-cased, split on anything that is not a letter or digit,
//! each CJK ideograph a term of its own), English stop words dropped and Snowball stems, Lucene's IDF.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

pub const K1: f32 = 1.5;
pub const B: f32 = 0.75;

/// A chunk's key: (document slot, chunk number) packed into a u64.
pub type ChunkKey = u64;

pub fn key(doc: u32, chunk: u32) -> ChunkKey {
    ((doc as u64) << 32) | chunk as u64
}

pub struct Bm25 {
    postings: HashMap<String, Vec<(ChunkKey, u32)>>,
    lengths: HashMap<ChunkKey, u32>,
    total_len: u64,
    stemmer: Stemmer,
}

impl Default for Bm25 {
    fn default() -> Self {
        Bm25 {
            postings: HashMap::new(),
            lengths: HashMap::new(),
            total_len: 0,
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl Bm25 {
    /// The terms of `text` as indexed and queried.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let flush = |w: &mut String, out: &mut Vec<String>| {
            if !w.is_empty() {
                if !is_stop_word(w) {
                    out.push(self.stemmer.stem(w).into_owned());
                }
                w.clear();
            }
        };
        for c in text.chars() {
            if is_cjk(c) {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else if c == '\'' || c == '’' {
                // "don't" → "dont"; possessive "'s" drops with the stem.
            } else {
                flush(&mut word, &mut out);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Counts of each term of a chunk (computed before anything changes, so adding cannot fail midway).
    pub fn term_counts(&self, text: &str) -> (HashMap<String, u32>, u32) {
        let terms = self.terms(text);
        let n = terms.len() as u32;
        let mut tf = HashMap::new();
        for t in terms {
            *tf.entry(t).or_insert(0) += 1;
        }
        (tf, n)
    }

    pub fn insert(&mut self, key: ChunkKey, counts: HashMap<String, u32>, len: u32) {
        for (t, c) in counts {
            self.postings.entry(t).or_default().push((key, c));
        }
        self.lengths.insert(key, len);
        self.total_len += len as u64;
    }

    /// Removes every chunk of document slot `doc`.
    pub fn remove_doc(&mut self, doc: u32) {
        let of_doc = |k: &ChunkKey| (k >> 32) as u32 == doc;
        self.postings.retain(|_, list| {
            list.retain(|(k, _)| !of_doc(k));
            !list.is_empty()
        });
        let removed: u64 = self.lengths.iter().filter(|(k, _)| of_doc(k)).map(|(_, &l)| l as u64).sum();
        self.lengths.retain(|k, _| !of_doc(k));
        self.total_len -= removed;
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Scores of every chunk that shares a term with `query` and passes `keep`.
    pub fn scores(&self, query: &str, keep: &dyn Fn(ChunkKey) -> bool) -> HashMap<ChunkKey, f32> {
        let n = self.lengths.len() as f32;
        let avgdl = if n > 0.0 { self.total_len as f32 / n } else { 1.0 };
        // A term the query repeats counts once per occurrence, as in Lucene and rank_bm25: a long query (a
        // whole paragraph) names its subject many times and its passing words once.
        // (In term order, so scores add up the same way every time.)
        let mut qtf: std::collections::BTreeMap<String, f32> = std::collections::BTreeMap::new();
        for t in self.terms(query) {
            *qtf.entry(t).or_insert(0.0) += 1.0;
        }
        let mut scores: HashMap<ChunkKey, f32> = HashMap::new();
        for (t, q) in qtf {
            let Some(list) = self.postings.get(&t) else { continue };
            let df = list.len() as f32;
            let idf = q * (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(k, tf) in list {
                if !keep(k) {
                    continue;
                }
                let dl = self.lengths[&k] as f32;
                let tf = tf as f32;
                *scores.entry(k).or_insert(0.0) +=
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl.max(1e-6)));
            }
        }
        scores
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3040..=0x30FF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// English stop words (the common NLTK/scikit-learn core).
fn is_stop_word(w: &str) -> bool {
    const STOP: &[&str] = &[
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ];
    STOP.binary_search(&w).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(is_stop_word("the") && is_stop_word("yourselves") && is_stop_word("a") && !is_stop_word("policy"));
    }

    #[test]
    fn terms_are_stemmed_lowercased_and_unicode_aware() {
        let b = Bm25::default();
        assert_eq!(b.terms("The Travelling expenses, RUNNING costs!"), ["travel", "expens", "run", "cost"]);
        assert_eq!(b.terms("Café über 東京"), ["café", "über", "東", "京"]);
        assert!(b.terms("the of and").is_empty());
    }

    #[test]
    fn ranks_by_bm25_and_removes_documents() {
        let mut b = Bm25::default();
        for (i, t) in ["travel expenses need approval", "meal allowance per day", "travel travel travel insurance"]
            .iter()
            .enumerate()
        {
            let (c, n) = b.term_counts(t);
            b.insert(key(i as u32, 0), c, n);
        }
        let s = b.scores("travel approval", &|_| true);
        assert!(s[&key(0, 0)] > s[&key(2, 0)], "{s:?}");
        assert!(!s.contains_key(&key(1, 0)));
        b.remove_doc(0);
        let s = b.scores("travel approval", &|_| true);
        assert_eq!(s.len(), 1);
        assert_eq!(b.len(), 2);
        // A term the query repeats weighs once per occurrence.
        let once = b.scores("travel meal", &|_| true);
        let thrice = b.scores("travel travel travel meal", &|_| true);
        assert!((thrice[&key(2, 0)] - 3.0 * once[&key(2, 0)]).abs() < 1e-5);
        assert_eq!(thrice[&key(1, 0)], once[&key(1, 0)]);
    }
}
