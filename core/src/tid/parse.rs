//! The TID text form: `[t1, t2, t3, t4, t5]`.
//!
//! Tolerated: whitespace anywhere around terms and brackets, a missing `[` and/or `]`, and
//! anything [`super::normalize_term`] repairs inside a term (case, quotes, inner spaces).
//! Rejected with the exact reason: empty input, an empty term (`[a, , c]`, a trailing comma),
//! text after the closing `]`, a term that does not normalise (naming its 1-based position),
//! and, when a length is expected, any other number of terms.

use super::{normalize::TermError, Term, Tid, MAX_TID_LEN};

/// Why a TID text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TidParseError {
    /// The text holds no terms at all.
    #[error("empty TID: expected terms like [t1, t2, t3]")]
    Empty,
    /// Something other than whitespace follows the closing bracket.
    #[error("unexpected text after ']': {trailing:?}")]
    TrailingText {
        /// What followed the bracket.
        trailing: String,
    },
    /// One term is not valid.
    #[error("term {position} ({text:?}): {source}")]
    BadTerm {
        /// 1-based position of the term.
        position: usize,
        /// The term as written.
        text: String,
        /// What is wrong with it.
        source: TermError,
    },
    /// More terms than any TID may have.
    #[error("too many terms: a TID has at most {max}")]
    TooManyTerms {
        /// The limit, [`MAX_TID_LEN`].
        max: usize,
    },
    /// The number of terms differs from the required length.
    #[error("expected {expected} terms, found {found}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    WrongLength { expected: usize, found: usize },
}

pub(super) fn parse_tid(text: &str, expected_len: Option<usize>) -> Result<Tid, TidParseError> {
    let mut body = text.trim();
    if let Some(rest) = body.strip_prefix('[') {
        body = rest;
    }
    if let Some(close) = body.find(']') {
        let trailing = body[close + 1..].trim();
        if !trailing.is_empty() {
            return Err(TidParseError::TrailingText {
                trailing: trailing.to_owned(),
            });
        }
        body = &body[..close];
    }
    if body.trim().is_empty() {
        return Err(TidParseError::Empty);
    }
    let mut terms = Vec::new();
    for (index, raw) in body.split(',').enumerate() {
        if index >= MAX_TID_LEN {
            return Err(TidParseError::TooManyTerms { max: MAX_TID_LEN });
        }
        let term = Term::new(raw).map_err(|source| TidParseError::BadTerm {
            position: index + 1,
            text: raw.trim().to_owned(),
            source,
        })?;
        terms.push(term);
    }
    if let Some(expected) = expected_len {
        if terms.len() != expected {
            return Err(TidParseError::WrongLength {
                expected,
                found: terms.len(),
            });
        }
    }
    Ok(Tid { terms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tid: &Tid) -> Vec<&str> {
        tid.terms().iter().map(Term::as_str).collect()
    }

    #[test]
    fn canonical_form_round_trips() {
        let tid = Tid::parse("[hair-mask, color-lock, citrus, protein, unisex]", Some(5)).unwrap();
        assert_eq!(texts(&tid), ["hair-mask", "color-lock", "citrus", "protein", "unisex"]);
        assert_eq!(tid.to_string(), "[hair-mask, color-lock, citrus, protein, unisex]");
        assert_eq!(Tid::parse(&tid.to_string(), Some(5)).unwrap(), tid);
    }

    #[test]
    fn tolerated_variations() {
        let want = ["a", "b-c", "d"];
        for text in [
            "[a, b c, d]",
            "a, b c, d",
            "[a,b c,d",
            "a, b c, d]",
            "  [  A ,  'B C' ,d  ]  ",
            "[\"a\", \"b c\", \"d\"]",
        ] {
            let tid = Tid::parse(text, Some(3)).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(texts(&tid), want, "{text:?}");
        }
    }

    #[test]
    fn precise_errors() {
        assert_eq!(Tid::parse("", None), Err(TidParseError::Empty));
        assert_eq!(Tid::parse(" [ ] ", None), Err(TidParseError::Empty));
        assert_eq!(
            Tid::parse("[a, b] c", None),
            Err(TidParseError::TrailingText { trailing: "c".into() })
        );
        assert_eq!(
            Tid::parse("[a, , c]", None),
            Err(TidParseError::BadTerm {
                position: 2,
                text: String::new(),
                source: TermError::Empty
            })
        );
        assert_eq!(
            Tid::parse("[a, b,]", None),
            Err(TidParseError::BadTerm {
                position: 3,
                text: String::new(),
                source: TermError::Empty
            })
        );
        assert_eq!(
            Tid::parse("[a, b, c, d]", Some(5)),
            Err(TidParseError::WrongLength { expected: 5, found: 4 })
        );
        assert_eq!(
            Tid::parse("[a, [b], c]", None),
            Err(TidParseError::TrailingText {
                trailing: ", c]".into()
            })
        );
        let many = vec!["t"; MAX_TID_LEN + 1].join(", ");
        assert_eq!(
            Tid::parse(&many, None),
            Err(TidParseError::TooManyTerms { max: MAX_TID_LEN })
        );
        let msg = Tid::parse("[a, b\u{1}, c]", None).unwrap_err().to_string();
        assert!(msg.starts_with("term 2"), "{msg}");
    }
}
