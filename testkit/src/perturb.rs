//! Seeded perturbations of real TIDs, to measure how grounding copes with what a model gets
//! wrong: a dropped term, a misspelt term, two terms swapped.

pub use grlm_core::rng::SplitMix64;
use grlm_core::tid::{Term, Tid};

/// A kind of damage done to a TID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Perturbation {
    /// One term removed (the TID is one term shorter).
    Drop,
    /// One term of 4+ bytes gets one random edit: swap, delete, insert or substitute a letter.
    Misspell,
    /// Two different terms change places.
    Reorder,
}

impl Perturbation {
    /// All kinds, in report order.
    pub const ALL: [Perturbation; 3] = [Perturbation::Drop, Perturbation::Misspell, Perturbation::Reorder];
}

/// Applies `kind` to `tid`; `None` when the TID cannot take it (one term, no term long
/// enough to misspell, all terms equal).
pub fn perturb(tid: &Tid, kind: Perturbation, rng: &mut SplitMix64) -> Option<Tid> {
    let mut terms: Vec<String> = tid.terms().iter().map(|t| t.as_str().to_owned()).collect();
    match kind {
        Perturbation::Drop => {
            if terms.len() < 2 {
                return None;
            }
            terms.remove(rng.below(terms.len()));
        }
        Perturbation::Reorder => {
            let pairs: Vec<(usize, usize)> = (0..terms.len())
                .flat_map(|a| (a + 1..terms.len()).map(move |b| (a, b)))
                .filter(|&(a, b)| terms[a] != terms[b])
                .collect();
            if pairs.is_empty() {
                return None;
            }
            let (a, b) = pairs[rng.below(pairs.len())];
            terms.swap(a, b);
        }
        Perturbation::Misspell => {
            let long: Vec<usize> = (0..terms.len()).filter(|&i| terms[i].chars().count() >= 4).collect();
            if long.is_empty() {
                return None;
            }
            let target = long[rng.below(long.len())];
            let mut chars: Vec<char> = terms[target].chars().collect();
            let letter = (b'a' + rng.below(26) as u8) as char;
            let at = 1 + rng.below(chars.len() - 2);
            match rng.below(4) {
                0 => chars.swap(at, at + 1),
                1 => {
                    chars.remove(at);
                }
                2 => chars.insert(at, letter),
                _ => chars[at] = letter,
            }
            let text: String = chars.into_iter().collect();
            terms[target] = Term::new(&text).ok()?.into_string();
        }
    }
    Tid::from_terms(&terms).ok()
}
