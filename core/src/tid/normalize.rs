//! Term normalisation: the one place that decides when two keyword spellings are the same.
//!
//! Rules, applied in this order:
//! 1. surrounding whitespace is trimmed;
//! 2. surrounding quotes and brackets (`" ' `` ` `` “ ” ‘ ’ [ ] ( ) { } < >`) are stripped,
//!    repeatedly, with whitespace between them (`"[ 'Hair Mask' ]"` → `Hair Mask`);
//! 3. the text is lower-cased (Unicode lower case);
//! 4. every run of whitespace, `_` or `-` becomes a single `-`, and `-` at either end is
//!    dropped (`hair  mask`, `hair_mask`, `hair - mask` → `hair-mask`);
//! 5. the result must be non-empty, at most [`MAX_TERM_BYTES`] bytes, and free of `,`, `[`,
//!    `]` and control characters, since those would not survive the TID text form.
//!
//! Words are not reduced to a base form here: `hair-masks` and `hair-mask` stay distinct
//! terms. Structural grounding matches them through edit distance instead, which needs no
//! language-specific lemmatiser on a phone.

use std::fmt;

/// Longest term accepted, in bytes after normalisation. Real TID terms are under 30 bytes;
/// the cap keeps a runaway generation or a hostile file from making huge terms.
pub const MAX_TERM_BYTES: usize = 64;

/// Why a string is not a valid term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    /// Nothing was left after trimming and stripping quotes/brackets.
    #[error("term is empty")]
    Empty,
    /// The normalised term is longer than [`MAX_TERM_BYTES`].
    #[error("term is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Length in bytes after normalisation.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The term holds a character that the TID text form cannot carry.
    #[error("term contains {ch:?}, which is not allowed in a term")]
    #[allow(missing_docs)] // the fields are named for what they hold
    ForbiddenChar { ch: char },
}

/// A normalised term. Constructed only through [`Term::new`], so holding one proves the
/// rules above hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term(String);

impl Term {
    /// Normalises `raw` into a term.
    pub fn new(raw: &str) -> Result<Self, TermError> {
        normalize_term(raw).map(Term)
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the term, returning its text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Term {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '`' | '“' | '”' | '‘' | '’' | '[' | ']' | '(' | ')' | '{' | '}' | '<' | '>'
    )
}

/// Applies the normalisation rules of this module to `raw`.
pub fn normalize_term(raw: &str) -> Result<String, TermError> {
    let stripped = raw.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '_' || is_wrapper(c));
    let mut out = String::with_capacity(stripped.len());
    let mut pending_dash = false;
    for c in stripped.chars() {
        if c.is_whitespace() || c == '_' || c == '-' {
            pending_dash = !out.is_empty();
            continue;
        }
        if c == ',' || c == '[' || c == ']' || c.is_control() {
            return Err(TermError::ForbiddenChar { ch: c });
        }
        if pending_dash {
            out.push('-');
            pending_dash = false;
        }
        out.extend(c.to_lowercase());
        if out.len() > 4 * MAX_TERM_BYTES {
            // Stop early on absurd input; the exact length is not interesting past this.
            return Err(TermError::TooLong {
                len: out.len(),
                max: MAX_TERM_BYTES,
            });
        }
    }
    if out.is_empty() {
        return Err(TermError::Empty);
    }
    if out.len() > MAX_TERM_BYTES {
        return Err(TermError::TooLong {
            len: out.len(),
            max: MAX_TERM_BYTES,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_rules() {
        let cases = [
            ("hair-mask", "hair-mask"),
            ("  Hair Mask ", "hair-mask"),
            ("\"hair mask\"", "hair-mask"),
            ("[ 'Hair   Mask' ]", "hair-mask"),
            ("hair_mask", "hair-mask"),
            ("hair - mask", "hair-mask"),
            ("-hair-mask-", "hair-mask"),
            ("“Citrus”", "citrus"),
            ("ÉCLAT", "éclat"),
            ("anti-aging", "anti-aging"),
            ("3-in-1", "3-in-1"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_term(raw).as_deref(), Ok(want), "input {raw:?}");
        }
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(normalize_term(""), Err(TermError::Empty));
        assert_eq!(normalize_term("  \"\" "), Err(TermError::Empty));
        assert_eq!(normalize_term(" - "), Err(TermError::Empty));
        assert_eq!(normalize_term("a,b"), Err(TermError::ForbiddenChar { ch: ',' }));
        assert_eq!(normalize_term("a[b"), Err(TermError::ForbiddenChar { ch: '[' }));
        assert_eq!(normalize_term("a\u{7}b"), Err(TermError::ForbiddenChar { ch: '\u{7}' }));
        let long = "x".repeat(MAX_TERM_BYTES + 1);
        assert_eq!(
            normalize_term(&long),
            Err(TermError::TooLong {
                len: MAX_TERM_BYTES + 1,
                max: MAX_TERM_BYTES
            })
        );
        assert!(normalize_term(&"y".repeat(MAX_TERM_BYTES)).is_ok());
        assert!(matches!(
            normalize_term(&"z".repeat(10_000)),
            Err(TermError::TooLong { .. })
        ));
    }

    #[test]
    fn normalisation_is_idempotent_on_examples() {
        for raw in ["Hair Mask", "x", "ÀB c", "a--b", "q'uote"] {
            let once = normalize_term(raw).unwrap();
            assert_eq!(normalize_term(&once).unwrap(), once);
        }
    }
}
