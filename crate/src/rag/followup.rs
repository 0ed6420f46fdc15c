//! Conversations with documents: a follow-up question ("And who is it named after?") names what it asks
//! about only through the turns before it. Retrieval gets the earlier questions' words; the prompt gets the
//! earlier turns themselves, rendered exactly as they were, so the session reuses their KV cache.

use serde::{Deserialize, Serialize};

use crate::retrieval::Passage;

/// A finished turn: the question, the passages (evidence) its prompt numbered, and the answer given.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Turn {
    pub question: String,
    pub passages: Vec<Passage>,
    pub answer: String,
}

/// Words by which a question points back at an earlier one. ("that" and "one" are left out: they open too
/// many self-contained questions, as in "the team that won"; "there" counts unless it opens "there is/are".)
const POINTING_WORDS: &[&str] = &[
    "it", "its", "they", "them", "their", "theirs", "he", "him", "his", "she", "her", "hers", "this", "these", "those",
    "former", "latter",
];

/// Whether `text` opens with a word that points back ("Its wifi password is …"): a sentence that names what
/// it is about only through the text before it.
pub fn opens_by_pointing_back(text: &str) -> bool {
    words(text).first().is_some_and(|w| POINTING_WORDS.contains(&w.as_str()) || w == "there")
}

/// Openings that continue the previous question.
const CONTINUING_OPENINGS: &[&str] = &["and", "also", "what about", "how about", "and what", "same"];

/// Earlier questions a follow-up may draw on (a chain of follow-ups keeps its first question in reach).
const MAX_EARLIER_QUESTIONS: usize = 2;

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

/// Whether `question` leans on the turn before it: a pronoun that points back, an opening like "And …",
/// or too few words to stand alone.
pub fn is_follow_up(question: &str) -> bool {
    let w = words(question);
    let lower = question.trim().to_lowercase();
    let to_be = |x: Option<&String>| {
        x.is_some_and(|x| matches!(x.as_str(), "is" | "are" | "was" | "were" | "be" | "been" | "has" | "have" | "had"))
    };
    let place =
        (0..w.len()).any(|i| w[i] == "there" && !to_be(i.checked_sub(1).map(|j| &w[j])) && !to_be(w.get(i + 1)));
    w.len() <= 3
        || place
        || w.iter().any(|x| POINTING_WORDS.contains(&x.as_str()))
        || CONTINUING_OPENINGS
            .iter()
            .any(|o| lower.starts_with(&format!("{o} ")) || lower.starts_with(&format!("{o},")))
}

/// How to search for a question after a conversation (see [`resolve`]).
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resolved {
    /// What to search with: the earlier questions the question leans on, then itself.
    pub query: String,
    /// Those earlier questions, oldest first and joined ("" when the question stands alone).
    pub context: String,
}

/// Resolves `question` against `history` (oldest first): walking back while each question is itself a
/// follow-up, the earlier questions it leans on become its context and lead its query.
pub fn resolve(question: &str, history: &[Turn]) -> Resolved {
    let mut parts = Vec::new();
    let mut current = question;
    for t in history.iter().rev().take(MAX_EARLIER_QUESTIONS) {
        if !is_follow_up(current) {
            break;
        }
        parts.push(t.question.trim());
        current = &t.question;
    }
    parts.reverse();
    let context = parts.join(" ");
    let query = if context.is_empty() { question.trim().to_string() } else { format!("{context} {}", question.trim()) };
    Resolved { query, context }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(q: &str) -> Turn {
        Turn { question: q.into(), answer: "x".into(), passages: vec![] }
    }

    #[test]
    fn pronouns_and_openings_mark_a_follow_up() {
        assert!(is_follow_up("And who is it named after?"));
        assert!(is_follow_up("When was he born?"));
        assert!(is_follow_up("What about in 1990?"));
        assert!(is_follow_up("In what year?"));
        assert!(is_follow_up("What did the fossils found there lack?"));
        assert!(!is_follow_up("How many moons are there around Jupiter?"), "`are there` asks whether something exists");
        assert!(!is_follow_up("Why were there no elections in the Roman Republic in 49 BC?"));
        assert!(!is_follow_up("What is the center library in the Harvard library system?"));
        assert!(!is_follow_up("Which team won the game that decided the title?"));
    }

    #[test]
    fn a_follow_up_is_searched_with_the_question_it_leans_on() {
        let h = [turn("Who founded Harvard?"), turn("What is the central library of the Harvard library system?")];
        assert_eq!(
            resolve("Who is it named after?", &h).query,
            "What is the central library of the Harvard library system? Who is it named after?"
        );
        // A question that stands alone is searched as it is.
        assert_eq!(resolve("Where is the Eiffel Tower located?", &h).query, "Where is the Eiffel Tower located?");
        // A chain of follow-ups reaches back to the question that named the subject.
        let chain = [turn("Who designed the Eiffel Tower?"), turn("When was it built?")];
        assert_eq!(
            resolve("And how tall is it?", &chain).query,
            "Who designed the Eiffel Tower? When was it built? And how tall is it?"
        );
        assert_eq!(resolve("And how tall is it?", &[]).query, "And how tall is it?");
        assert_eq!(
            resolve("Who is it named after?", &h).context,
            "What is the central library of the Harvard library system?"
        );
        assert_eq!(resolve("Where is the Eiffel Tower located?", &h).context, "");
    }
}
