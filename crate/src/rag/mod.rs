//! Retrieval-augmented answers: retrieved passages → a chat prompt with numbered passages that fits the
//! context window → (the model answers) → the answer split into sentences, each with the passages it cites.
//!
//! Small models often forget to write citation markers, so a sentence without one is attributed to the
//! passage that shares most of its content words, when that overlap is strong; markers the model did write
//! are kept (if they name a passage that exists) and removed from the displayed text.

pub mod followup;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::chat_template::Message;
use crate::llm::model::Model;
use crate::llm::session::GenerateParams;
use crate::rag::followup::Turn;
use crate::retrieval::chunker::sentence_spans;
use crate::retrieval::index::bm25::Bm25;
use crate::retrieval::Passage;

/// Short on purpose: a 135M-parameter model follows two plain sentences better than a long instruction.
pub const DEFAULT_SYSTEM: &str = "Answer the question using the passages. Cite passages like [1].";

/// A worked example that can be put before the conversation (as an earlier turn), in the hope that a small
/// model copies the form of a short, cited answer. Off by default: on SQuAD dev half A (100 questions,
/// SmolLM2) it lowered "answer contains" from 0.38 to 0.30 and added 78 prompt tokens.
pub fn example_turn() -> Turn {
    let passage = |text: &str| Passage {
        doc_id: "example".into(),
        title: "Example".into(),
        text: text.into(),
        end: text.len(),
        ..Passage::default()
    };
    Turn {
        question: "When does the Larkspur office open?".into(),
        passages: vec![
            passage("The Larkspur office is in Harbour Street."),
            passage("The Larkspur office opens at 8 am on weekdays."),
            passage("Visitors sign in at the front desk."),
        ],
        answer: "At 8 am on weekdays [2].".into(),
    }
}

/// The most bytes of one passage that go into a prompt. Chunks are capped below this
/// ([`crate::retrieval::chunker::ChunkSpec::max_bytes`]); an index made with a huge chunk size, or before that cap,
/// could otherwise put megabytes into one prompt (and into every attempt to fit it).
pub const MAX_PASSAGE_BYTES: usize = 4096;

/// The user turn: the numbered passages, each on one line, then the question.
pub fn user_message(question: &str, passages: &[Passage]) -> String {
    let mut s = String::new();
    for (i, p) in passages.iter().enumerate() {
        // One line per passage: with the document's own line breaks kept, a small model tends to copy the
        // passage out instead of answering.
        let mut end = p.text.len().min(MAX_PASSAGE_BYTES);
        while !p.text.is_char_boundary(end) {
            end -= 1;
        }
        let flat: Vec<&str> = p.text[..end].split_whitespace().collect();
        let more = if end < p.text.len() { " …" } else { "" };
        // A sentence that opens by pointing back ("Its wifi password is …") gets its document's title in
        // front: without it two such sentences of two documents cannot be told apart. (Titles in front of
        // every passage cost answers on SQuAD dev half A: 0.32 against 0.38 contain the gold answer.)
        let title = p.title.split_whitespace().collect::<Vec<_>>().join(" ");
        let flat = flat.join(" ");
        let lead = if title.is_empty() || !crate::rag::followup::opens_by_pointing_back(&flat) {
            String::new()
        } else {
            format!("{title}: ")
        };
        s.push_str(&format!("[{}] {lead}{flat}{more}\n\n", i + 1));
    }
    s.push_str("Question: ");
    s.push_str(question.trim());
    s
}

/// The messages for `question` after the earlier turns `history` (oldest first), with as many of
/// `passages` (best first) as `fits` accepts: the oldest turns are dropped first, then passages from the
/// end, until the prompt fits. Earlier turns are rendered as they were asked, so a session reuses their
/// cached prefix. Returns the messages and how many passages they number.
pub fn build_messages(
    system: &str,
    question: &str,
    passages: &[Passage],
    history: &[Turn],
    mut fits: impl FnMut(&[Message]) -> Result<bool>,
) -> Result<(Vec<Message>, usize)> {
    if question.trim().is_empty() {
        return Err(Error::Invalid("the question is empty".into()));
    }
    let ask = |q: &str, ps: &[Passage]| if ps.is_empty() { q.trim().to_string() } else { user_message(q, ps) };
    let make = |n: usize, turns: &[Turn]| {
        let mut m = vec![Message::new("system", system)];
        for t in turns {
            m.push(Message::new("user", &ask(&t.question, &t.passages)));
            m.push(Message::new("assistant", t.answer.trim()));
        }
        m.push(Message::new("user", &ask(question, &passages[..n])));
        m
    };
    for n in (0..=passages.len()).rev() {
        for drop in 0..=history.len() {
            let m = make(n, &history[drop..]);
            if fits(&m)? {
                return Ok((m, n));
            }
        }
    }
    // Not even the bare question fits: the session reports it with the sizes.
    Ok((make(0, &[]), 0))
}

/// Generation options plus the system prompt (default [`DEFAULT_SYSTEM`]).
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RagOptions {
    pub system: Option<String>,
    /// Passages scoring below this share of the best passage's score are left out: a tiny model answers
    /// better from one relevant passage than from that passage plus distractors.
    pub min_score_ratio: Option<f32>,
    /// The conversation so far (oldest first), for a follow-up question.
    pub history: Vec<Turn>,
    /// Put [`example_turn`] before the conversation (default false).
    pub example: Option<bool>,
    #[serde(flatten)]
    pub generate: GenerateParams,
}

pub const DEFAULT_MIN_SCORE_RATIO: f32 = 0.5;

/// How many of `passages` (best first) score at least `ratio` × the best score. Scores that are all zero
/// or negative (no scores given) keep every passage.
pub fn relevant(passages: &[Passage], ratio: f32) -> usize {
    let best = passages.iter().map(|p| p.score).fold(0.0f32, f32::max);
    if best <= 0.0 {
        return passages.len();
    }
    passages.iter().take_while(|p| p.score >= ratio * best).count()
}

/// The prompt tokens for `question` in `model`'s chat template, with as many passages as fit in a window
/// of `n_ctx` tokens while leaving room for the answer (`max_tokens`, at most half the window).
/// Returns the tokens and the number of passages used.
pub fn prompt_tokens(
    model: &Model,
    question: &str,
    passages: &[Passage],
    o: &RagOptions,
    n_ctx: usize,
) -> Result<(Vec<u32>, usize)> {
    let budget = n_ctx.saturating_sub(o.generate.max_tokens.min(n_ctx / 2));
    let system = o.system.as_deref().unwrap_or(DEFAULT_SYSTEM);
    let passages = &passages[..relevant(passages, o.min_score_ratio.unwrap_or(DEFAULT_MIN_SCORE_RATIO))];
    // Keep the tokens of the prompt that fitted rather than tokenising it again.
    let mut fitted = None;
    let example = o.example.unwrap_or(false).then(example_turn);
    let turns: Vec<Turn> = example.into_iter().chain(o.history.iter().cloned()).collect();
    let (messages, used) = build_messages(system, question, passages, &turns, |m| {
        let tokens = model.chat_tokens(m)?;
        let fits = tokens.len() <= budget;
        if fits {
            fitted = Some(tokens);
        }
        Ok(fits)
    })?;
    let tokens = match fitted {
        Some(t) => t,
        None => model.chat_tokens(&messages)?,
    };
    Ok((tokens, used))
}

/// A sentence of a retrieved passage chosen to answer the question: what the prompt numbers and a citation
/// quotes, with where it is in its document.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Evidence {
    pub doc_id: String,
    pub title: String,
    /// The sentence, as in the document.
    pub text: String,
    /// Which passage (1-based, of those searched) holds it, and that passage's chunk number in its document.
    pub passage: usize,
    pub chunk: usize,
    /// Byte range of the sentence in the document's text (as the passage's `start`/`end`).
    pub start: usize,
    pub end: usize,
    /// How well it answers the question: the share of the question's content (IDF-weighted terms) it holds,
    /// plus its embedding similarity to the question when vectors are given.
    pub score: f32,
    /// The passage's text before and after the sentence, to show it highlighted in place.
    pub before: String,
    pub after: String,
}

/// Weight of the embedding similarity beside the lexical share in an evidence score.
pub const EVIDENCE_DENSE_WEIGHT: f32 = 0.5;

/// The sentences of `passages` as evidence candidates (score 0), in passage order. A passage's text must be
/// the document's `start..end`; a title line that the index prepends to a document's first chunk is skipped
/// as a sentence of its own (it is shown as the title).
pub fn evidence_candidates(passages: &[Passage]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for (i, p) in passages.iter().enumerate() {
        for sp in sentence_spans(&p.text) {
            let text = &p.text[sp.start..sp.end];
            if text == p.title || text.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
                continue;
            }
            // Overlapping chunks repeat sentences: each one once, from the better passage (passages come best first).
            let (start, end) = (p.start + sp.start, p.start + sp.end);
            if out.iter().any(|e: &Evidence| e.doc_id == p.doc_id && e.start == start && e.end == end) {
                continue;
            }
            out.push(Evidence {
                doc_id: p.doc_id.clone(),
                title: p.title.clone(),
                text: text.to_string(),
                passage: i + 1,
                chunk: p.chunk,
                start,
                end,
                score: 0.0,
                before: p.text[..sp.start].to_string(),
                after: p.text[sp.end..].to_string(),
            });
        }
    }
    out
}

/// Weight of the earlier questions in the evidence score of a follow-up: they say which passage it is about
/// ("it" names no document) and, for an ellipsis ("And where?"), what it asks; half of it goes to the
/// sentence, half to the passage around it.
pub const FOLLOW_UP_CONTEXT_WEIGHT: f32 = 0.5;

/// Scores `candidates` for `question` and returns the best `k`, best first. `context` holds the earlier
/// questions a follow-up leans on ("" for none). `vectors`, when given, are the question's embedding and
/// one per candidate (same order); without them the score is lexical only.
pub fn rank_evidence(
    question: &str,
    context: &str,
    mut candidates: Vec<Evidence>,
    vectors: Option<(&[f32], &[Vec<f32>])>,
    k: usize,
) -> Vec<Evidence> {
    let bm25 = Bm25::default();
    let set = |text: &str| -> std::collections::HashSet<String> { bm25.terms(text).into_iter().collect() };
    let q = set(question);
    let ctx: std::collections::HashSet<String> = set(context).difference(&q).cloned().collect();
    let sentence_terms: Vec<_> = candidates.iter().map(|c| set(&c.text)).collect();
    // The terms of each candidate's passage, once per passage (its sentences share it).
    let mut passage_terms: std::collections::HashMap<usize, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    if !ctx.is_empty() {
        for c in &candidates {
            passage_terms
                .entry(c.passage)
                .or_insert_with(|| set(&format!("{} {} {} {}", c.title, c.before, c.text, c.after)));
        }
    }
    // IDF over the candidates: a term every sentence has (the topic's name) says little about which answers.
    let n = candidates.len().max(1) as f32;
    let weigh = |terms: &std::collections::HashSet<String>| -> Vec<(String, f32)> {
        terms
            .iter()
            .map(|t| {
                let df = sentence_terms.iter().filter(|s| s.contains(t)).count() as f32;
                (t.clone(), (1.0 + n / (1.0 + df)).ln())
            })
            .collect()
    };
    let share = |weights: &[(String, f32)], terms: &std::collections::HashSet<String>| {
        let total: f32 = weights.iter().map(|w| w.1).sum::<f32>().max(1e-6);
        weights.iter().filter(|(t, _)| terms.contains(t)).map(|w| w.1).sum::<f32>() / total
    };
    let (qw, cw) = (weigh(&q), weigh(&ctx));
    for (i, c) in candidates.iter_mut().enumerate() {
        let lexical = share(&qw, &sentence_terms[i]);
        let dense = vectors
            .map_or(0.0, |(qv, vs)| vs.get(i).map_or(0.0, |v| qv.iter().zip(v).map(|(a, b)| a * b).sum::<f32>()));
        let context = if ctx.is_empty() {
            0.0
        } else {
            0.5 * share(&cw, &sentence_terms[i]) + 0.5 * share(&cw, &passage_terms[&c.passage])
        };
        c.score = lexical + EVIDENCE_DENSE_WEIGHT * dense + FOLLOW_UP_CONTEXT_WEIGHT * context;
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)).then(a.start.cmp(&b.start)));
    candidates.truncate(k);
    candidates
}

/// Evidence sentences in the prompt by default (measured by `make eval-rag`).
pub const DEFAULT_EVIDENCE: usize = 3;

/// Token limit of an answer from documents by default (the page's default too); answers end long before it,
/// at the end of their turn or when they start repeating themselves.
pub const DEFAULT_RAG_MAX_TOKENS: usize = 256;

/// Generation defaults for answers from documents: greedy, stopped when it starts repeating itself.
pub fn default_generate() -> GenerateParams {
    GenerateParams {
        max_tokens: DEFAULT_RAG_MAX_TOKENS,
        sampler: crate::llm::sampler::SamplerParams::greedy(),
        ..GenerateParams::default()
    }
}

/// What the answer says when the evidence is too weak to answer from.
pub const NOT_FOUND: &str = "I could not find this in your documents.";

/// Below this best-evidence score the question is not answered (calibrated on SQuAD dev half A by
/// `make eval-rag`: questions whose article is not in the index against those whose article is).
pub const DEFAULT_MIN_EVIDENCE: f32 = 0.5;

/// The best `k` evidence sentences of `passages` for `question`, scored lexically and with the embedder;
/// `context`: the earlier questions a follow-up leans on ("" for none; see [`rank_evidence`]).
pub fn select_evidence(
    embedder: &crate::retrieval::embedder::Embedder,
    question: &str,
    context: &str,
    passages: &[Passage],
    k: usize,
) -> Result<Vec<Evidence>> {
    let cands = evidence_candidates(passages);
    let vecs = embedder.embed(&texts_to_embed(question, &cands))?;
    rank_with_vectors(question, context, cands, &vecs, k)
}

/// What [`select_evidence`] embeds: the question, then each evidence candidate of `passages`. The page
/// spreads them over its workers and passes the vectors to [`rank_embedded_evidence`].
pub fn evidence_texts(question: &str, passages: &[Passage]) -> Vec<String> {
    texts_to_embed(question, &evidence_candidates(passages)).into_iter().map(String::from).collect()
}

/// [`select_evidence`] with `vecs`, the embeddings of [`evidence_texts`] in order, made elsewhere: the same
/// evidence, since a text embeds the same alone or batched.
pub fn rank_embedded_evidence(
    question: &str,
    context: &str,
    passages: &[Passage],
    vecs: &[Vec<f32>],
    k: usize,
) -> Result<Vec<Evidence>> {
    rank_with_vectors(question, context, evidence_candidates(passages), vecs, k)
}

/// The question, then each candidate's sentence: the texts whose embeddings score the candidates.
fn texts_to_embed<'a>(question: &'a str, cands: &'a [Evidence]) -> Vec<&'a str> {
    std::iter::once(question).chain(cands.iter().map(|c| c.text.as_str())).collect()
}

/// [`rank_evidence`] with `vecs`, the embeddings of [`texts_to_embed`] for `cands`.
fn rank_with_vectors(
    question: &str,
    context: &str,
    cands: Vec<Evidence>,
    vecs: &[Vec<f32>],
    k: usize,
) -> Result<Vec<Evidence>> {
    if vecs.len() != cands.len() + 1 {
        return Err(crate::Error::Invalid(format!(
            "{} evidence vectors for the question and {} sentences",
            vecs.len(),
            cands.len()
        )));
    }
    Ok(rank_evidence(question, context, cands, Some((&vecs[0], &vecs[1..])), k))
}

/// A question made ready to answer, evidence first ([`prepare`]).
#[derive(Debug, Clone)]
pub enum Prepared {
    /// The best evidence scores under the threshold: the answer is [`NOT_FOUND`], shown with these closest
    /// sentences, and the model is not asked.
    NotFound { evidence: Vec<Evidence> },
    /// The prompt, the passages it numbers [1]..[n] (those that fitted; citations point into them) and the
    /// evidence they are (empty when whole passages were given).
    Prompt { tokens: Vec<u32>, passages: Vec<Passage>, evidence: Vec<Evidence> },
}

/// The answer pipeline's middle, one implementation for the CLI (`hearth ask`) and the evaluation
/// (`make eval-rag`); the page's worker runs the same steps through the bindings (`selectEvidence`,
/// `beginRag`). With `evidence` > 0: the passages' best `evidence` sentences (scored with `embedder` when
/// given, else lexically), "not found" when the best scores under `min_evidence`, else a prompt that numbers
/// those sentences. With `evidence` = 0, or no passages: a prompt with the passages themselves.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    model: &Model,
    embedder: Option<&crate::retrieval::embedder::Embedder>,
    question: &str,
    context: &str,
    passages: &[Passage],
    evidence: usize,
    min_evidence: f32,
    o: &RagOptions,
    n_ctx: usize,
) -> Result<Prepared> {
    let (mut numbered, evidence) = if evidence > 0 && !passages.is_empty() {
        let ev = match embedder {
            Some(e) => select_evidence(e, question, context, passages, evidence)?,
            None => rank_evidence(question, context, evidence_candidates(passages), None, evidence),
        };
        if ev.first().is_none_or(|e| e.score < min_evidence) {
            return Ok(Prepared::NotFound { evidence: ev });
        }
        (evidence_passages(&ev), ev)
    } else {
        (passages.to_vec(), Vec::new())
    };
    let (tokens, used) = prompt_tokens(model, question, &numbered, o, n_ctx)?;
    numbered.truncate(used);
    Ok(Prepared::Prompt { tokens, passages: numbered, evidence })
}

/// The evidence as the passages the prompt numbers and citations point at: each sentence on its own.
pub fn evidence_passages(evidence: &[Evidence]) -> Vec<Passage> {
    evidence
        .iter()
        .map(|e| Passage {
            doc_id: e.doc_id.clone(),
            title: e.title.clone(),
            text: e.text.clone(),
            chunk: e.chunk,
            start: e.start,
            end: e.end,
            score: e.score,
        })
        .collect()
}

/// Whether an answer says, in one of the ways small models do, that the evidence does not answer.
pub fn says_not_found(answer: &str) -> bool {
    let a = answer.to_lowercase();
    [
        "not mentioned",
        "not mention",
        "n't mention",
        "no information",
        "not provided",
        "cannot find",
        "could not find",
        "can't find",
        "don't know",
        "do not know",
        "not specified",
        "not stated",
        "does not say",
        "doesn't say",
        "not in the passage",
        "not in your documents",
    ]
    .iter()
    .any(|p| a.contains(p))
}

/// A sentence of the answer and the passages (1-based) it cites.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Segment {
    pub text: String,
    pub citations: Vec<usize>,
}

/// Share of a sentence's content words that must appear in a passage to attribute it there.
const MIN_OVERLAP: f32 = 0.5;

/// Splits `answer` into sentences with their citations (see the module comment).
pub fn cite(answer: &str, passages: &[Passage]) -> Vec<Segment> {
    let bm25 = Bm25::default();
    let passage_terms: Vec<std::collections::HashSet<String>> =
        passages.iter().map(|p| bm25.terms(&format!("{} {}", p.title, p.text)).into_iter().collect()).collect();
    let mut out: Vec<Segment> = Vec::new();
    for span in sentence_spans(answer) {
        let (text, mut citations) = strip_markers(&answer[span.start..span.end], passages.len());
        if text.trim().chars().all(|c| !c.is_alphanumeric()) {
            // Only markers (or punctuation): they belong to the sentence before.
            match out.last_mut() {
                Some(prev) => {
                    for c in citations {
                        if !prev.citations.contains(&c) {
                            prev.citations.push(c);
                        }
                    }
                    prev.text.push_str(text.trim_end());
                }
                None if !text.trim().is_empty() || !citations.is_empty() => out.push(Segment { text, citations }),
                None => {}
            }
            continue;
        }
        let terms = bm25.terms(&text);
        // A marker stands only if its passage supports the sentence (shares a content word with it): a small
        // model often cites [1] by habit, and a citation must point at what the answer actually used.
        if !terms.is_empty() {
            citations.retain(|&c| terms.iter().any(|t| passage_terms[c - 1].contains(t)));
        }
        if citations.is_empty() {
            citations.extend(best_overlap(&terms, &passage_terms));
        }
        out.push(Segment { text, citations });
    }
    out
}

/// The passage (1-based) holding the largest share (≥ [`MIN_OVERLAP`]) of `terms`, if any.
fn best_overlap(terms: &[String], passages: &[std::collections::HashSet<String>]) -> Option<usize> {
    if terms.is_empty() {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (i, p) in passages.iter().enumerate() {
        let share = terms.iter().filter(|t| p.contains(*t)).count() as f32 / terms.len() as f32;
        if share >= MIN_OVERLAP && best.is_none_or(|(_, s)| share > s) {
            best = Some((i + 1, share));
        }
    }
    best.map(|(i, _)| i)
}

/// Removes markers like `[1]`, `[1, 3]` or `[2][3]` naming passages 1..=n; returns the text and the
/// numbers in order of appearance. Brackets that are not such markers stay as they are.
fn strip_markers(s: &str, n: usize) -> (String, Vec<usize>) {
    let mut text = String::with_capacity(s.len());
    let mut cites = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        let inner = &rest[open + 1..close];
        let nums: Option<Vec<usize>> =
            inner.split(',').map(|x| x.trim().parse::<usize>().ok().filter(|&v| v >= 1 && v <= n)).collect();
        match nums {
            Some(v) if !inner.trim().is_empty() => {
                text.push_str(rest[..open].trim_end_matches(' '));
                for c in v {
                    if !cites.contains(&c) {
                        cites.push(c);
                    }
                }
            }
            _ => text.push_str(&rest[..=close]),
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    (text, cites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(title: &str, text: &str) -> Passage {
        Passage { doc_id: format!("{title}.txt"), title: title.into(), text: text.into(), ..Passage::default() }
    }

    /// Evidence first: the sentence that answers is picked out of its passage, with its place in the
    /// document; the title line of a first chunk is not a sentence of its own.
    #[test]
    fn evidence_is_the_sentence_that_answers() {
        let doc = "Harvard Library\n\nThe library system has many buildings. Widener Library is the center of the system. It opened in 1915.";
        let start = doc.find("The library").unwrap();
        let passages = vec![
            Passage {
                doc_id: "lib.txt".into(),
                title: "Harvard Library".into(),
                text: doc.into(),
                chunk: 0,
                start: 0,
                end: doc.len(),
                score: 1.0,
            },
            Passage {
                doc_id: "x.txt".into(),
                title: "Weather".into(),
                text: "Rain is common in spring. Snow falls in winter.".into(),
                chunk: 3,
                start: 0,
                end: 47,
                score: 0.5,
            },
        ];
        let cands = evidence_candidates(&passages);
        assert!(cands.iter().all(|c| c.text != "Harvard Library"), "the title line is not evidence");
        assert_eq!(cands.len(), 5);
        let best = rank_evidence("What is the center of the library system?", "", cands, None, 2);
        assert_eq!(best[0].text, "Widener Library is the center of the system.");
        assert_eq!(&doc[best[0].start..best[0].end], best[0].text);
        assert!(
            best[0].start > start
                && best[0].before.ends_with("many buildings. ")
                && best[0].after == " It opened in 1915."
        );
        assert_eq!((best[0].passage, best[0].chunk), (1, 0));
        assert!(best[0].score > best[1].score);
        let ps = evidence_passages(&best);
        assert_eq!(ps[0].text, best[0].text);
        assert!(says_not_found("The passages do not mention it.") && !says_not_found("Widener Library."));
    }

    /// Consecutive chunks overlap by whole sentences: a sentence in two retrieved passages is one candidate
    /// (from the better passage), not two evidence slots holding the same text.
    #[test]
    fn a_sentence_in_two_overlapping_passages_is_one_candidate() {
        let doc = "Kettles\n\nFill it with vinegar. Let it stand for one hour. Pour the mixture away. Rinse it.";
        let at = |s: &str| doc.find(s).unwrap();
        let chunk = |n: usize, from: &str, to: &str, score: f32| Passage {
            doc_id: "kettle.txt".into(),
            title: "Kettles".into(),
            text: doc[at(from)..at(to) + to.len()].into(),
            chunk: n,
            start: at(from),
            end: at(to) + to.len(),
            score,
        };
        let passages =
            vec![chunk(1, "Let it stand", "Rinse it.", 0.9), chunk(0, "Kettles", "Pour the mixture away.", 0.8)];
        let cands = evidence_candidates(&passages);
        let texts: Vec<&str> = cands.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Let it stand for one hour.", "Pour the mixture away.", "Rinse it.", "Fill it with vinegar."],
            "each sentence once"
        );
        assert_eq!((cands[0].passage, cands[0].chunk), (1, 1), "kept from the better passage");
    }

    /// "And when does it open?" names no office: the earlier question says which passage it is about, while
    /// the follow-up itself picks the sentence.
    #[test]
    fn a_follow_up_takes_its_evidence_from_the_passage_the_earlier_question_was_about() {
        let office = |name: &str, hour: &str, pw: &str| {
            let text = format!(
                "The {name} office is in Harbour Street. It opens at {hour} on weekdays. Its wifi password is {pw}."
            );
            Passage {
                doc_id: format!("{name}.txt"),
                title: format!("{name} office notes"),
                end: text.len(),
                text,
                ..Passage::default()
            }
        };
        let ps = [office("Larkspur", "8 am", "heliotrope-42"), office("Bramble", "10 am", "juniper-17")];
        let q = "And when does it open?";
        let alone = rank_evidence(q, "", evidence_candidates(&ps), None, 1);
        assert_eq!(alone[0].doc_id, "Larkspur.txt", "without the conversation the first passage wins a tie");
        let best =
            rank_evidence(q, "What is the wifi password of the Bramble office?", evidence_candidates(&ps), None, 2);
        assert_eq!(
            (best[0].doc_id.as_str(), best[0].text.as_str()),
            ("Bramble.txt", "It opens at 10 am on weekdays."),
            "{best:?}"
        );
    }

    #[test]
    fn prompt_numbers_passages_and_drops_what_does_not_fit() {
        let ps = [
            p("wifi", "The Larkspur office wifi password is heliotrope-42."),
            p("travel", "Trains are booked two weeks ahead."),
        ];
        let (m, n) = build_messages(DEFAULT_SYSTEM, "What is the wifi password?", &ps, &[], |_| Ok(true)).unwrap();
        assert_eq!(n, 2);
        assert_eq!(m[0].role, "system");
        assert!(m[1].content.starts_with("[1] The Larkspur"), "{}", m[1].content);
        assert!(m[1].content.contains("\n\n[2] Trains"));
        // A sentence that names its subject only by pointing back is led by its document's title.
        let its = [p("Larkspur office notes", "Its wifi password is heliotrope-42.")];
        assert!(user_message("q?", &its).starts_with("[1] Larkspur office notes: Its wifi password"));
        assert!(m[1].content.ends_with("Question: What is the wifi password?"));
        // A budget of 150 characters keeps only the first passage.
        let (m, n) =
            build_messages(DEFAULT_SYSTEM, "What is the wifi password?", &ps, &[], |m| Ok(m[1].content.len() < 120))
                .unwrap();
        assert_eq!(n, 1);
        assert!(!m[1].content.contains("[2]"));
        let (m, n) = build_messages("s", "q?", &ps, &[], |_| Ok(false)).unwrap();
        assert_eq!((n, m[1].content.as_str()), (0, "q?"));
        assert!(build_messages("s", "  ", &ps, &[], |_| Ok(true)).is_err());
    }

    #[test]
    fn earlier_turns_come_before_the_question_and_go_first_when_short_of_room() {
        let ps = [
            p("lib", "Widener Library is the center of the library system."),
            p("name", "It is named after Harry Elkins Widener."),
        ];
        let history = [
            Turn { question: "Who founded it?".into(), passages: vec![], answer: "John Harvard.".into() },
            Turn {
                question: "What is the center library?".into(),
                passages: ps[..1].to_vec(),
                answer: "Widener Library [1].".into(),
            },
        ];
        let (m, n) = build_messages("s", "Who is it named after?", &ps[1..], &history, |_| Ok(true)).unwrap();
        let roles: Vec<&str> = m.iter().map(|x| x.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "assistant", "user"]);
        assert_eq!(n, 1);
        // An earlier turn is rendered exactly as its own prompt was (so its KV cache is reused).
        assert_eq!(m[3].content, user_message("What is the center library?", &ps[..1]));
        assert_eq!(m[4].content, "Widener Library [1].");
        // Short of room, the oldest turn goes before any of this question's passages.
        let (m, n) = build_messages("s", "Who is it named after?", &ps[1..], &history, |m| Ok(m.len() <= 4)).unwrap();
        assert_eq!((m.len(), n), (4, 1));
        assert_eq!(m[1].content, user_message("What is the center library?", &ps[..1]));
    }

    /// A passage of megabytes (an index saved with a huge chunk size) puts at most MAX_PASSAGE_BYTES into
    /// the prompt, cut at a character boundary.
    #[test]
    fn each_passage_in_the_prompt_is_capped() {
        let huge = p("big", &"Déjà vu élan ".repeat(200_000));
        let m = user_message("Why?", &[huge.clone(), huge]);
        assert!(m.len() < 2 * MAX_PASSAGE_BYTES + 100, "{} bytes", m.len());
        assert!(m.contains("élan …") || m.contains(" …"), "the cut is marked");
        assert!(m.ends_with("Question: Why?"));
    }

    #[test]
    fn passages_far_below_the_best_are_left_out() {
        let mut ps = vec![p("a", "x"), p("b", "y"), p("c", "z")];
        assert_eq!(relevant(&ps, 0.5), 3, "no scores: keep all");
        for (q, s) in ps.iter_mut().zip([2.25, 1.3, 0.5]) {
            q.score = s;
        }
        assert_eq!(relevant(&ps, 0.5), 2);
        assert_eq!(relevant(&ps, 0.0), 3);
    }

    #[test]
    fn explicit_markers_are_kept_valid_only_and_removed_from_text() {
        let ps = [p("a", "alpha"), p("b", "beta")];
        let segs = cite("Alpha is first [1]. Both beta and alpha [1, 2][2] matter. Not a passage [7] or [x].", &ps);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0], Segment { text: "Alpha is first.".into(), citations: vec![1] });
        assert_eq!(segs[1], Segment { text: "Both beta and alpha matter.".into(), citations: vec![1, 2] });
        assert_eq!(segs[2].text, "Not a passage [7] or [x].");
        // "[7]" is not a passage; no words overlap with any passage either.
        assert!(segs[2].citations.is_empty());
    }

    /// A marker whose passage shares no word with the sentence is not kept: the sentence goes to the
    /// passage that does support it, or to none.
    #[test]
    fn a_citation_must_be_supported_by_its_passage() {
        let ps = [
            p("lib", "Widener Library is the center of the library system."),
            p("yard", "Harvard Yard is the oldest part of the campus."),
        ];
        let segs = cite("The center is Widener Library [2].", &ps);
        assert_eq!(segs[0].citations, vec![1], "{segs:?}");
        let segs = cite("Richard Stallman [1].", &ps);
        assert!(segs[0].citations.is_empty(), "{segs:?}");
        let segs = cite("Harvard Yard [2].", &ps);
        assert_eq!(segs[0].citations, vec![2]);
    }

    #[test]
    fn marker_after_the_full_stop_joins_the_sentence_before() {
        let segs = cite("The password is heliotrope-42. [1]", &[p("wifi", "x")]);
        assert_eq!(segs, vec![Segment { text: "The password is heliotrope-42.".into(), citations: vec![1] }]);
    }

    #[test]
    fn unmarked_sentences_are_attributed_by_word_overlap() {
        let ps = [
            p("travel", "Trains are booked two weeks ahead by the travel desk."),
            p("wifi", "The Larkspur office wifi password is heliotrope-42."),
        ];
        let segs = cite("The wifi password is heliotrope-42. I like turtles very much.", &ps);
        assert_eq!(segs[0].citations, vec![2]);
        assert!(segs[1].citations.is_empty(), "{segs:?}");
        assert!(cite("", &ps).is_empty());
    }
}
