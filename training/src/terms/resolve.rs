//! The last resorts of collision resolution, after regenerating the last term has not made
//! an item's TID unique: a distinguishing word of the item's own text as the last term (or
//! two adjacent ones), and failing that a numeric suffix on the last term (which always
//! succeeds).
//!
//! All keep the first N−1 terms, like regeneration, so an item only ever differs from the
//! TID it collided with in its distinctive point. Words of the item's text keep the rules
//! of [`super::rules`]; the numeric suffix is the one output that breaks them (a digit the
//! text may not have), which is why it comes last and is counted.

use std::collections::{BTreeSet, HashMap, HashSet};

use grlm::tid::{Term, MAX_TERM_BYTES};
use grlm::Tid;
use serde::{Deserialize, Serialize};

use super::rules::MAX_GENERATED_TERM_BYTES;
use super::rules::{self, ItemRules};

/// How an item's TID became unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolved {
    /// The first generated TID was free.
    None,
    /// The last term was generated again, forbidden to repeat a taken one.
    Regenerated,
    /// The last term is a word of the item's own text.
    OwnText,
    /// The last term carries a numeric suffix.
    Suffix,
    /// `--endpoint` never replied with a valid TID; the terms are words of the item's text.
    FromText,
}

/// Words too common to distinguish one item from another.
const STOP_WORDS: &[&str] = &[
    "and",
    "for",
    "the",
    "with",
    "from",
    "this",
    "that",
    "your",
    "you",
    "are",
    "all",
    "its",
    "our",
    "new",
    "brand",
    "categories",
    "beauty",
    "pack",
    "set",
    "count",
    "size",
    "inch",
    "ounce",
    "ounces",
    "oz",
    "fl",
];

/// Words of `text` that could stand as a term, in order of appearance, each once: runs of
/// ASCII letters and digits, lower-cased, 3 to [`MAX_GENERATED_TERM_BYTES`] bytes, with at
/// least one letter, not a stop word. Each is a normalised term as written.
pub fn own_words(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| (3..=MAX_GENERATED_TERM_BYTES).contains(&w.len()))
        .filter(|w| w.bytes().any(|b| b.is_ascii_lowercase()))
        .filter(|w| !STOP_WORDS.contains(w))
        .filter(|w| seen.insert(w.to_string()))
        .map(str::to_owned)
        .collect()
}

/// `tid` with its last term replaced by `last`, when that makes a valid TID.
fn with_last(tid: &Tid, last: &str) -> Option<Tid> {
    let n = tid.len();
    let terms = tid.terms()[..n - 1].iter().map(Term::as_str).chain([last]);
    Tid::from_terms(terms).ok().filter(|t| t.len() == n)
}

/// The TIDs the own-text step tries, in order, as `tid`'s last term: each of [`own_words`]
/// of `text`, then each two of them that follow each other (`moroccan-oil`), where the
/// TID keeps the rules ([`rules::check`]).
pub fn own_text_candidates<'a>(tid: &'a Tid, text: &str) -> impl Iterator<Item = Tid> + 'a {
    let rules = ItemRules::for_text(text);
    let words = own_words(text);
    let pairs: Vec<String> = words.windows(2).map(|w| format!("{}-{}", w[0], w[1])).collect();
    words
        .into_iter()
        .chain(pairs)
        .filter_map(|w| with_last(tid, &w))
        .filter(move |t| rules::check(t.terms(), &rules).is_ok())
}

/// `tid` with `-k` appended to its last term (the term cut first where it would not fit).
pub fn suffixed(tid: &Tid, k: u64) -> Tid {
    let last = tid.terms()[tid.len() - 1].as_str();
    let suffix = format!("-{k}");
    let mut keep = last.len().min(MAX_TERM_BYTES.saturating_sub(suffix.len()));
    while !last.is_char_boundary(keep) {
        keep -= 1;
    }
    let stem = last[..keep].trim_end_matches('-');
    // A term of digits and dashes only is still a term; an empty stem gives "k" alone.
    let candidate = if stem.is_empty() {
        k.to_string()
    } else {
        format!("{stem}{suffix}")
    };
    with_last(tid, &candidate).unwrap_or_else(|| tid.clone())
}

/// The TIDs given out so far, and for each prefix of N−1 terms the last terms taken under
/// it (what a regeneration must not write again).
#[derive(Clone, Debug, Default)]
pub struct Assigned {
    taken: HashSet<Tid>,
    last_terms: HashMap<Vec<Term>, BTreeSet<String>>,
}

impl Assigned {
    /// Whether `tid` is given out.
    pub fn is_taken(&self, tid: &Tid) -> bool {
        self.taken.contains(tid)
    }

    /// Gives `tid` out.
    pub fn assign(&mut self, tid: Tid) {
        let n = tid.len();
        self.last_terms
            .entry(tid.terms()[..n - 1].to_vec())
            .or_default()
            .insert(tid.terms()[n - 1].as_str().to_owned());
        self.taken.insert(tid);
    }

    /// The last terms a TID with `tid`'s first N−1 terms must avoid.
    pub fn forbidden_last(&self, tid: &Tid) -> BTreeSet<String> {
        let n = tid.len();
        self.last_terms.get(&tid.terms()[..n - 1]).cloned().unwrap_or_default()
    }

    /// The first free TID of the fallbacks for `tid` (a taken TID) and the path that gave
    /// it: a word of `text`, else the lowest free numeric suffix.
    pub fn fallback(&self, tid: &Tid, text: &str) -> (Tid, Resolved) {
        if let Some(own) = own_text_candidates(tid, text).find(|t| !self.is_taken(t)) {
            return (own, Resolved::OwnText);
        }
        // At most |taken| suffixes are taken, so this ends.
        let free = (2u64..)
            .map(|k| suffixed(tid, k))
            .find(|t| !self.is_taken(t))
            .unwrap_or_else(|| tid.clone());
        (free, Resolved::Suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(text: &str) -> Tid {
        Tid::parse(text, None).unwrap()
    }

    #[test]
    fn own_words_are_normalised_distinct_and_meaningful() {
        assert_eq!(
            own_words("Men's Argan-Oil SHAMPOO for the hair, 8 oz & 2-pack; argan 33.8oz Crème"),
            ["men", "argan", "oil", "shampoo", "hair", "8oz"]
        );
        for w in own_words("Ünïcode naïve text, x1 12345 abc") {
            assert_eq!(grlm::tid::normalize_term(&w).as_deref(), Ok(w.as_str()));
        }
    }

    #[test]
    fn fallbacks_keep_the_prefix_and_end_free() {
        let base = tid("[shampoo, argan, oil, women, silky]");
        let mut assigned = Assigned::default();
        assigned.assign(base.clone());
        assert!(assigned.is_taken(&base));
        assert_eq!(
            assigned.forbidden_last(&tid("[shampoo, argan, oil, women, other]")),
            BTreeSet::from(["silky".to_owned()])
        );
        let (own, path) = assigned.fallback(&base, "Argan Shampoo, Silky Moroccan");
        assert_eq!(
            (own.to_string().as_str(), path),
            ("[shampoo, argan, oil, women, moroccan]", Resolved::OwnText)
        );
        assigned.assign(own);
        let (pair, path) = assigned.fallback(&base, "Argan Shampoo, Silky Moroccan");
        assert_eq!(
            (pair.to_string().as_str(), path),
            ("[shampoo, argan, oil, women, silky-moroccan]", Resolved::OwnText),
            "two adjacent words of the text, the first pair that repeats no word"
        );
        assigned.assign(pair);
        let (s2, path) = assigned.fallback(&base, "Argan Shampoo, Silky Moroccan");
        assert_eq!(
            (s2.to_string().as_str(), path),
            ("[shampoo, argan, oil, women, silky-2]", Resolved::Suffix)
        );
        assigned.assign(s2);
        let (s3, _) = assigned.fallback(&base, "");
        assert_eq!(s3.to_string(), "[shampoo, argan, oil, women, silky-3]");
        let long = tid(&format!("[a, {}]", "x".repeat(MAX_TERM_BYTES)));
        let cut = suffixed(&long, 12);
        assert_eq!(cut.terms()[1].as_str().len(), MAX_TERM_BYTES);
        assert!(cut.terms()[1].as_str().ends_with("x-12"));
    }
}
