//! Term IDs: ordered, fixed-length tuples of normalised keywords.
//!
//! A [`Tid`] is what the model writes for an item, e.g.
//! `[hair-mask, color-lock, citrus, protein, unisex]`. Its terms are [`Term`]s: strings that
//! passed [`normalize_term`], so two spellings that mean the same keyword ("Hair Mask",
//! `"hair-mask"`) compare equal everywhere in the engine.

mod normalize;
mod parse;

pub use normalize::{normalize_term, Term, TermError, MAX_TERM_BYTES};
pub use parse::TidParseError;

use std::fmt;

/// The number of terms in a TID when nothing else says otherwise (the paper's setting).
pub const DEFAULT_TID_LEN: usize = 5;

/// The most terms a TID may have; a bound so that a corrupt header or a runaway generation
/// cannot ask for absurd allocations.
pub const MAX_TID_LEN: usize = 16;

/// An ordered tuple of normalised terms.
///
/// The length is not part of the type: a catalogue stores the length all its TIDs share and
/// checks it when TIDs are added or parsed with an expected length.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid {
    terms: Vec<Term>,
}

impl Tid {
    /// Builds a TID from raw term strings, normalising each one.
    ///
    /// Fails on the first term that does not normalise, naming its 1-based position, or when
    /// there are no terms or more than [`MAX_TID_LEN`].
    pub fn from_terms<I, S>(terms: I) -> Result<Self, TidParseError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for (index, raw) in terms.into_iter().enumerate() {
            if index >= MAX_TID_LEN {
                return Err(TidParseError::TooManyTerms { max: MAX_TID_LEN });
            }
            let term = Term::new(raw.as_ref()).map_err(|source| TidParseError::BadTerm {
                position: index + 1,
                text: raw.as_ref().to_owned(),
                source,
            })?;
            out.push(term);
        }
        if out.is_empty() {
            return Err(TidParseError::Empty);
        }
        Ok(Tid { terms: out })
    }

    /// Parses the text form `[t1, t2, ...]`.
    ///
    /// Tolerated: whitespace around terms and brackets, a missing `[` and/or `]`, and whatever
    /// [`normalize_term`] repairs inside a term. Rejected, saying why: empty input, an empty
    /// term, text after `]`, a term that does not normalise (with its 1-based position), and
    /// — when `expected_len` is given — any other number of terms.
    pub fn parse(text: &str, expected_len: Option<usize>) -> Result<Self, TidParseError> {
        parse::parse_tid(text, expected_len)
    }

    /// The terms, in order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Always false: a TID has at least one term. Present because clippy expects it beside `len`.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// Writes the canonical text form `[t1, t2, t3]`, which [`Tid::parse`] reads back unchanged.
impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(term.as_str())?;
        }
        f.write_str("]")
    }
}

impl std::str::FromStr for Tid {
    type Err = TidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tid::parse(s, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Normalising twice changes nothing, and every TID prints in a form that parses
        /// back to the same TID.
        #[test]
        fn normalisation_is_idempotent_and_text_form_round_trips(raw in prop::collection::vec(any::<String>(), 1..8)) {
            for r in &raw {
                if let Ok(once) = normalize_term(r) {
                    prop_assert_eq!(normalize_term(&once), Ok(once.clone()));
                }
            }
            if let Ok(tid) = Tid::from_terms(&raw) {
                let text = tid.to_string();
                prop_assert_eq!(Tid::parse(&text, Some(tid.len())), Ok(tid.clone()));
                prop_assert_eq!(text.parse::<Tid>(), Ok(tid));
            }
        }

        #[test]
        fn arbitrary_text_parses_to_a_tid_that_prints_back(text in any::<String>()) {
            for expected in [None, Some(DEFAULT_TID_LEN)] {
                if let Ok(tid) = Tid::parse(&text, expected) {
                    prop_assert_eq!(Tid::parse(&tid.to_string(), expected), Ok(tid));
                }
            }
        }
    }
}
