//! Answer-quality evaluation (`make eval-rag`) on SQuAD-format data: every paragraph is a document; each
//! question is retrieved, answered by the model and scored with SQuAD's measures (exact match, token F1,
//! contains-gold after normalisation), plus paragraph recall, evidence recall, citation precision,
//! abstention on questions whose article is left out of the results, and time per question.

use std::collections::HashMap;

use serde::Serialize;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::llm::model::Model;
use crate::llm::session::{Session, StopReason};
use crate::rag::followup::{self, Turn};
use crate::rag::{self, Evidence, Prepared, RagOptions};
use crate::retrieval::embedder::Embedder;
use crate::retrieval::index::{Index, SearchOptions};
use crate::retrieval::Passage;
use crate::retrieval::RawDocument;

pub struct Question {
    /// SQuAD's id of the question.
    pub id: String,
    pub question: String,
    pub answers: Vec<String>,
    /// The paragraph (document id) that answers it, and its article.
    pub doc_id: String,
    pub article: usize,
}

/// Reads SQuAD v1.1 JSON: paragraphs as documents (`a<article>p<paragraph>`, titled by the article) and the
/// questions.
pub fn read_squad(json: &str) -> Result<(Vec<RawDocument>, Vec<Question>)> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::Invalid(format!("SQuAD JSON: {e}")))?;
    let articles = v["data"].as_array().ok_or_else(|| Error::Invalid("SQuAD JSON has no `data` list".into()))?;
    let (mut docs, mut questions) = (Vec::new(), Vec::new());
    for (a, art) in articles.iter().enumerate() {
        let title = art["title"].as_str().unwrap_or("").replace('_', " ");
        for (p, para) in art["paragraphs"].as_array().into_iter().flatten().enumerate() {
            let doc_id = format!("a{a}p{p}");
            docs.push(RawDocument {
                id: doc_id.clone(),
                title: title.clone(),
                text: para["context"].as_str().unwrap_or("").to_string(),
                format: crate::retrieval::format::Format::Text,
                tags: vec![],
            });
            for qa in para["qas"].as_array().into_iter().flatten() {
                let answers = qa["answers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["text"].as_str().map(str::to_string))
                    .collect();
                questions.push(Question {
                    id: qa["id"].as_str().unwrap_or("").to_string(),
                    question: qa["question"].as_str().unwrap_or("").to_string(),
                    answers,
                    doc_id: doc_id.clone(),
                    article: a,
                });
            }
        }
    }
    Ok((docs, questions))
}

/// SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces.
pub fn normalize(s: &str) -> String {
    let lower: String =
        s.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' }).collect();
    lower.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

pub fn exact_match(pred: &str, golds: &[String]) -> bool {
    let p = normalize(pred);
    golds.iter().any(|g| normalize(g) == p)
}

/// The best token F1 of `pred` against any gold answer.
pub fn token_f1(pred: &str, golds: &[String]) -> f64 {
    let p = normalize(pred);
    let pt: Vec<&str> = p.split_whitespace().collect();
    golds
        .iter()
        .map(|g| {
            let g = normalize(g);
            let gt: Vec<&str> = g.split_whitespace().collect();
            let mut counts: HashMap<&str, i32> = HashMap::new();
            for t in &gt {
                *counts.entry(t).or_default() += 1;
            }
            let common = pt
                .iter()
                .filter(|t| {
                    counts.get(*t).is_some_and(|c| *c > 0) && {
                        *counts.get_mut(*t).unwrap() -= 1;
                        true
                    }
                })
                .count() as f64;
            if common == 0.0 {
                return 0.0;
            }
            let (prec, rec) = (common / pt.len() as f64, common / gt.len() as f64);
            2.0 * prec * rec / (prec + rec)
        })
        .fold(0.0, f64::max)
}

/// Whether a gold answer appears in `text`, as whole normalised words.
pub fn contains_gold(text: &str, golds: &[String]) -> bool {
    let t = format!(" {} ", normalize(text));
    golds.iter().any(|g| {
        let g = normalize(g);
        !g.is_empty() && t.contains(&format!(" {g} "))
    })
}

/// How one configuration answers (see [`run`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Passages retrieved per question.
    pub k: usize,
    /// Evidence sentences in the prompt; 0 puts the whole passages there instead (the old way).
    pub evidence: usize,
    /// Best-evidence score under which the answer is [`rag::NOT_FOUND`] without asking the model.
    pub min_evidence: f32,
    pub rag: RagOptions,
    pub n_ctx: usize,
}

/// The measures over a set of questions. Rates are shares of the answerable (or unanswerable) questions.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub questions: usize,
    pub paragraph_recall_at_1: f64,
    pub paragraph_recall_at_3: f64,
    pub evidence_contains_at_1: f64,
    pub evidence_contains_at_2: f64,
    pub exact_match: f64,
    pub token_f1: f64,
    pub answer_contains: f64,
    /// The answer plus the evidence it shows contain the gold answer.
    pub shown_contains: f64,
    /// Of the answers citing anything: the cited evidence contains the gold answer.
    pub citation_precision: f64,
    pub false_abstention: f64,
    pub abstention_on_unanswerable: f64,
    pub hit_max_tokens: f64,
    pub prompt_tokens: f64,
    pub ttft_ms: f64,
    pub total_ms: f64,
    /// For thresholds on the best evidence score: `[threshold, abstention on unanswerable, false abstention]`
    /// had the evidence alone decided (what `min_evidence` is chosen from).
    pub calibration: Vec<[f64; 3]>,
}

/// One question's passages: the top `k` hits, skipping the documents of `exclude_article` (to ask a
/// question of an index that lacks its article).
fn passages(
    index: &Index,
    embedder: &Embedder,
    question: &str,
    k: usize,
    exclude_article: Option<usize>,
) -> Result<Vec<Passage>> {
    let qv = embedder.embed(&[question])?.remove(0);
    let hits = index.search(
        question,
        Some(&qv),
        &SearchOptions { k: k + if exclude_article.is_some() { 60 } else { 0 }, ..SearchOptions::default() },
    )?;
    let prefix = exclude_article.map(|a| format!("a{a}p"));
    Ok(hits
        .iter()
        .filter(|h| prefix.as_ref().is_none_or(|p| !h.doc_id.starts_with(p.as_str())))
        .take(k)
        .filter_map(|h| Passage::from_hit(index, h))
        .collect())
}

/// One answer, as the user sees it.
struct Answered {
    text: String,
    abstained: bool,
    /// The texts of the passages (evidence) the answer cites.
    cited: Vec<String>,
    /// The answer and the evidence shown with it.
    shown: String,
    /// The passages the prompt numbered (for the next turn's history).
    used: Vec<Passage>,
    prompt_tokens: usize,
    cached_tokens: usize,
    ttft_ms: f64,
    stop: Option<StopReason>,
}

/// Answers `question` from `passages` after the turns `history`, in `session` (whose cache the earlier
/// turns may have filled); `context`: the earlier questions a follow-up leans on ("" for none).
#[allow(clippy::too_many_arguments)]
fn answer(
    model: &Model,
    embedder: &Embedder,
    session: &mut Session,
    question: &str,
    context: &str,
    passages: &[Passage],
    history: &[Turn],
    c: &Config,
) -> Result<(Answered, Vec<Evidence>)> {
    let o = RagOptions { history: history.to_vec(), ..c.rag.clone() };
    // Every hit excluded (the question's own article filled them): nothing to answer from, which this
    // evaluation has always counted as "not found" (the CLI and the page ask the model with no passages).
    let prepared = if c.evidence > 0 && passages.is_empty() {
        Prepared::NotFound { evidence: Vec::new() }
    } else {
        rag::prepare(model, Some(embedder), question, context, passages, c.evidence, c.min_evidence, &o, c.n_ctx)?
    };
    let (prompt, used, ev) = match prepared {
        Prepared::NotFound { evidence } => {
            let shown = evidence.iter().map(|e| e.text.as_str()).collect::<Vec<_>>().join(" ");
            let a = Answered {
                text: rag::NOT_FOUND.into(),
                abstained: true,
                cited: vec![],
                shown,
                used: vec![],
                prompt_tokens: 0,
                cached_tokens: 0,
                ttft_ms: 0.0,
                stop: None,
            };
            return Ok((a, evidence));
        }
        Prepared::Prompt { tokens, passages, evidence } => (tokens, passages, evidence),
    };
    let t0 = now_ms();
    let mut ttft = None;
    let out = session.generate(model, &prompt, c.rag.generate.clone(), |_| {
        ttft.get_or_insert_with(|| now_ms() - t0);
        true
    })?;
    let segments = rag::cite(&out.text, &used);
    let cited: Vec<String> =
        segments.iter().flat_map(|s| s.citations.iter().map(|&i| used[i - 1].text.clone())).collect();
    let shown = format!(
        "{} {}",
        out.text,
        if c.evidence > 0 {
            used.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" ")
        } else {
            cited.join(" ")
        }
    );
    let abstained = rag::says_not_found(&out.text);
    let a = Answered {
        abstained,
        cited,
        shown,
        used,
        prompt_tokens: prompt.len(),
        cached_tokens: out.stats.cached_tokens,
        ttft_ms: ttft.unwrap_or(out.stats.prefill_ms),
        stop: out.stats.stop_reason,
        text: out.text,
    };
    Ok((a, ev))
}

/// A first question and its follow-up (see `tests/fixtures/followups.json`).
pub struct FollowUp<'q> {
    pub first: &'q Question,
    /// The question the follow-up was written from (same paragraph, its subject spelled out).
    pub whole: &'q Question,
    /// `whole` as a user would ask it after `first`: the subject is a pronoun or left out.
    pub followup: String,
}

/// Reads the follow-up fixture: pairs of SQuAD ids and the rewritten second question.
pub fn read_followups<'q>(json: &str, questions: &'q [Question]) -> Result<Vec<FollowUp<'q>>> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::Invalid(format!("follow-up fixture: {e}")))?;
    let by_id: HashMap<&str, &Question> = questions.iter().map(|q| (q.id.as_str(), q)).collect();
    let find = |id: &serde_json::Value| {
        id.as_str()
            .and_then(|s| by_id.get(s).copied())
            .ok_or_else(|| Error::Invalid(format!("follow-up fixture: question {id} is not in the data")))
    };
    v["pairs"]
        .as_array()
        .ok_or_else(|| Error::Invalid("follow-up fixture has no `pairs` list".into()))?
        .iter()
        .map(|p| {
            Ok(FollowUp {
                first: find(&p["first_id"])?,
                whole: find(&p["followup_id"])?,
                followup: p["followup"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Follow-ups against the same questions asked whole. Rates are shares of the pairs.
#[derive(Debug, Default, Serialize)]
pub struct FollowUpReport {
    pub pairs: usize,
    /// Paragraph recall@3 of the follow-up searched with the conversation, searched alone, and of the
    /// question asked whole.
    pub recall_at_3: f64,
    pub recall_at_3_alone: f64,
    pub recall_at_3_whole: f64,
    /// The follow-up's answer (and what is shown with it) contains the gold answer; the same for the
    /// question asked whole, in a fresh conversation.
    pub answer_contains: f64,
    pub shown_contains: f64,
    pub answer_contains_whole: f64,
    pub token_f1: f64,
    pub token_f1_whole: f64,
    /// Prompt tokens of the follow-up, and how many of them came from the KV cache of the first turn.
    pub prompt_tokens: f64,
    pub cached_tokens: f64,
    pub ttft_ms: f64,
}

/// Asks each pair's first question, then its follow-up in the same conversation (history, resolved
/// retrieval, shared KV cache); and the whole question in a fresh one, to compare.
pub fn run_followups(
    model: &Model,
    embedder: &Embedder,
    index: &Index,
    pairs: &[FollowUp],
    c: &Config,
    mut progress: impl FnMut(usize, usize),
) -> Result<FollowUpReport> {
    let mut r = FollowUpReport { pairs: pairs.len(), ..FollowUpReport::default() };
    let rank3 = |ps: &[Passage], doc: &str| ps.iter().take(3).any(|p| p.doc_id == doc) as u8 as f64;
    for (i, p) in pairs.iter().enumerate() {
        let mut session = Session::new(model, c.n_ctx);
        let q1 = &p.first.question;
        let ps1 = passages(index, embedder, q1, c.k, None)?;
        let (a1, _) = answer(model, embedder, &mut session, q1, "", &ps1, &[], c)?;
        let history = [Turn { question: q1.clone(), passages: a1.used.clone(), answer: a1.text.clone() }];
        let resolved = followup::resolve(&p.followup, &history);
        let ps2 = passages(index, embedder, &resolved.query, c.k, None)?;
        r.recall_at_3 += rank3(&ps2, &p.whole.doc_id);
        r.recall_at_3_alone += rank3(&passages(index, embedder, &p.followup, c.k, None)?, &p.whole.doc_id);
        let (a2, _) = answer(model, embedder, &mut session, &p.followup, &resolved.context, &ps2, &history, c)?;
        r.answer_contains += contains_gold(&a2.text, &p.whole.answers) as u8 as f64;
        r.shown_contains += contains_gold(&a2.shown, &p.whole.answers) as u8 as f64;
        r.token_f1 += token_f1(&a2.text, &p.whole.answers);
        r.prompt_tokens += a2.prompt_tokens as f64;
        r.cached_tokens += a2.cached_tokens as f64;
        r.ttft_ms += a2.ttft_ms;
        let qw = &p.whole.question;
        let psw = passages(index, embedder, qw, c.k, None)?;
        r.recall_at_3_whole += rank3(&psw, &p.whole.doc_id);
        let (aw, _) = answer(model, embedder, &mut Session::new(model, c.n_ctx), qw, "", &psw, &[], c)?;
        r.answer_contains_whole += contains_gold(&aw.text, &p.whole.answers) as u8 as f64;
        r.token_f1_whole += token_f1(&aw.text, &p.whole.answers);
        progress(i + 1, pairs.len());
    }
    let n = pairs.len().max(1) as f64;
    for x in [
        &mut r.recall_at_3,
        &mut r.recall_at_3_alone,
        &mut r.recall_at_3_whole,
        &mut r.answer_contains,
        &mut r.shown_contains,
        &mut r.answer_contains_whole,
        &mut r.token_f1,
        &mut r.token_f1_whole,
        &mut r.prompt_tokens,
        &mut r.cached_tokens,
        &mut r.ttft_ms,
    ] {
        *x /= n;
    }
    Ok(r)
}

/// Evenly spaced questions (every article represented), `n` of them.
pub fn sample(questions: &[Question], n: usize) -> Vec<&Question> {
    let n = n.min(questions.len()).max(1);
    (0..n).map(|i| &questions[i * questions.len() / n]).collect()
}

/// Runs `questions` answerable (index as is) and unanswerable (their article's paragraphs left out of the
/// results); `progress(i, n)` after each.
pub fn run(
    model: &Model,
    embedder: &Embedder,
    index: &Index,
    questions: &[&Question],
    c: &Config,
    mut progress: impl FnMut(usize, usize),
) -> Result<Report> {
    let mut r = Report { questions: questions.len(), ..Report::default() };
    let n = questions.len().max(1) as f64;
    let mut cited_answers = 0usize;
    let mut cited_right = 0usize;
    let (mut best_answerable, mut best_unanswerable) = (Vec::new(), Vec::new());
    for (i, q) in questions.iter().enumerate() {
        let t0 = now_ms();
        let ps = passages(index, embedder, &q.question, c.k, None)?;
        let rank = ps.iter().position(|p| p.doc_id == q.doc_id);
        r.paragraph_recall_at_1 += (rank == Some(0)) as u8 as f64;
        r.paragraph_recall_at_3 += rank.is_some_and(|x| x < 3) as u8 as f64;
        let (a, ev) = answer(model, embedder, &mut Session::new(model, c.n_ctx), &q.question, "", &ps, &[], c)?;
        let ev = if ev.is_empty() { rag::select_evidence(embedder, &q.question, "", &ps, 2)? } else { ev };
        r.evidence_contains_at_1 += ev.first().is_some_and(|e| contains_gold(&e.text, &q.answers)) as u8 as f64;
        r.evidence_contains_at_2 += ev.iter().take(2).any(|e| contains_gold(&e.text, &q.answers)) as u8 as f64;
        r.exact_match += exact_match(&a.text, &q.answers) as u8 as f64;
        r.token_f1 += token_f1(&a.text, &q.answers);
        r.answer_contains += contains_gold(&a.text, &q.answers) as u8 as f64;
        r.shown_contains += contains_gold(&a.shown, &q.answers) as u8 as f64;
        r.false_abstention += a.abstained as u8 as f64;
        r.hit_max_tokens += (a.stop == Some(StopReason::MaxTokens)) as u8 as f64;
        if !a.cited.is_empty() {
            cited_answers += 1;
            cited_right += a.cited.iter().any(|t| contains_gold(t, &q.answers)) as usize;
        }
        r.prompt_tokens += a.prompt_tokens as f64;
        r.ttft_ms += a.ttft_ms;
        r.total_ms += now_ms() - t0;
        let ps = passages(index, embedder, &q.question, c.k, Some(q.article))?;
        best_answerable.push(ev.first().map_or(0.0, |e| e.score));
        let (u, uev) = answer(model, embedder, &mut Session::new(model, c.n_ctx), &q.question, "", &ps, &[], c)?;
        let uev = if uev.is_empty() { rag::select_evidence(embedder, &q.question, "", &ps, 1)? } else { uev };
        best_unanswerable.push(uev.first().map_or(0.0, |e| e.score));
        r.abstention_on_unanswerable += u.abstained as u8 as f64;
        progress(i + 1, questions.len());
    }
    for x in [
        &mut r.paragraph_recall_at_1,
        &mut r.paragraph_recall_at_3,
        &mut r.evidence_contains_at_1,
        &mut r.evidence_contains_at_2,
        &mut r.exact_match,
        &mut r.token_f1,
        &mut r.answer_contains,
        &mut r.shown_contains,
        &mut r.false_abstention,
        &mut r.abstention_on_unanswerable,
        &mut r.hit_max_tokens,
        &mut r.prompt_tokens,
        &mut r.ttft_ms,
        &mut r.total_ms,
    ] {
        *x /= n;
    }
    r.citation_precision = cited_right as f64 / cited_answers.max(1) as f64;
    let below = |v: &[f32], t: f32| v.iter().filter(|&&x| x < t).count() as f64 / v.len().max(1) as f64;
    r.calibration = (4..=24)
        .map(|i| i as f32 * 0.05)
        .map(|t| [t as f64, below(&best_unanswerable, t), below(&best_answerable, t)])
        .collect();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_measures() {
        let g = vec!["the Denver Broncos".to_string(), "Broncos".to_string()];
        assert!(exact_match("Denver Broncos.", &g));
        assert!(contains_gold("It was the Broncos, in 2016.", &g));
        assert!(!contains_gold("The Broncosaurus", &g));
        assert!((token_f1("Denver", &g) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(normalize("An  Apple, the PIE!"), "apple pie");
    }
}
