//! The TID text form as a byte-level automaton, so that generation can only write TIDs.
//!
//! The language is the canonical text form the engine prints ([`grlm::Tid`]'s `Display`)
//! restricted to terms that are already normalised, so that what the model writes is
//! exactly what [`grlm::Tid::parse`] gives back:
//!
//! ```text
//! tid  = "[" term ( ", " term ){N-1} "]"
//! term = word ( "-" word ){0,2}    at most `max_term_bytes` bytes
//! word = [a-z0-9]+
//! ```
//!
//! Three words at most, because a small model left free strings category paths into one
//! term (`hair-care-styling-accessories-cl…`) until the byte limit cuts it.
//!
//! Terms are ASCII: upper case, spaces and `_` would be rewritten by the normaliser (so two
//! different texts would be one term, and the collision rules below would compare the wrong
//! thing), and other characters would need multi-byte UTF-8 checks for little gain.
//!
//! [`Cursor`] adds what one generation needs beyond the automaton's state: the terms
//! written so far (a term may not repeat an earlier one of the same TID — the small model
//! otherwise writes `[hair-care, hair-care, …]`), the text of the term being written (to
//! refuse a finished TID whose last term is forbidden, which is how collisions are
//! regenerated) and how many tokens it took (capped, so that a model that keeps writing
//! one term still ends it).

use std::collections::BTreeSet;

use grlm::tid::{MAX_TERM_BYTES, MAX_TID_LEN};

/// The longest term generation may write, in bytes. Real TID terms are under 30 bytes; the
/// engine's own limit is [`MAX_TERM_BYTES`].
pub const MAX_GENERATED_TERM_BYTES: usize = 32;

/// The most tokens one term may take. Past it only a token that ends the term is allowed
/// (or one that completes a term left ending in `-`).
pub const MAX_TOKENS_PER_TERM: usize = 12;

/// The most `-`-joined words in one term.
pub const MAX_WORDS_PER_TERM: usize = 3;

/// Where the automaton stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Nothing read; `[` comes next.
    Open,
    /// At the start of term `index` (0-based): a letter or digit comes next.
    TermStart {
        /// The term.
        index: usize,
    },
    /// Inside term `index`, `len` bytes and `words` words written, the last byte being `-`
    /// when `dash`.
    InTerm {
        /// The term.
        index: usize,
        /// Bytes written.
        len: usize,
        /// Words begun.
        words: usize,
        /// Whether the last byte was `-` (which cannot end a term or be doubled).
        dash: bool,
    },
    /// After the `,` that ends term `index`; a space comes next.
    Separator {
        /// The term just ended.
        index: usize,
    },
    /// After the closing `]`: nothing more may follow.
    Done,
}

/// The automaton for TIDs of a fixed number of terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TidGrammar {
    terms: usize,
    max_term_bytes: usize,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

impl TidGrammar {
    /// TIDs of `terms` terms, each at most [`MAX_GENERATED_TERM_BYTES`] bytes.
    pub fn new(terms: usize) -> Result<Self, String> {
        Self::with_max_term_bytes(terms, MAX_GENERATED_TERM_BYTES)
    }

    /// TIDs of `terms` terms (1..=[`MAX_TID_LEN`]), each at most `max_term_bytes` bytes
    /// (1..=[`MAX_TERM_BYTES`]).
    pub fn with_max_term_bytes(terms: usize, max_term_bytes: usize) -> Result<Self, String> {
        if !(1..=MAX_TID_LEN).contains(&terms) {
            return Err(format!("a TID has 1 to {MAX_TID_LEN} terms, not {terms}"));
        }
        if !(1..=MAX_TERM_BYTES).contains(&max_term_bytes) {
            return Err(format!("a term has 1 to {MAX_TERM_BYTES} bytes, not {max_term_bytes}"));
        }
        Ok(TidGrammar { terms, max_term_bytes })
    }

    /// Terms per TID.
    pub fn terms(&self) -> usize {
        self.terms
    }

    /// Longest term, in bytes.
    pub fn max_term_bytes(&self) -> usize {
        self.max_term_bytes
    }

    /// The state after `byte`, or `None` when the format does not allow it here.
    pub fn step(&self, state: State, byte: u8) -> Option<State> {
        match state {
            State::Open => (byte == b'[').then_some(State::TermStart { index: 0 }),
            State::TermStart { index } => is_word_byte(byte).then_some(State::InTerm {
                index,
                len: 1,
                words: 1,
                dash: false,
            }),
            State::InTerm {
                index,
                len,
                words,
                dash,
            } => {
                if is_word_byte(byte) {
                    (len < self.max_term_bytes).then_some(State::InTerm {
                        index,
                        len: len + 1,
                        words: words + usize::from(dash),
                        dash: false,
                    })
                } else if dash {
                    None
                } else if byte == b'-' {
                    // A dash needs room for the letter that must follow it.
                    (len + 2 <= self.max_term_bytes && words < MAX_WORDS_PER_TERM).then_some(State::InTerm {
                        index,
                        len: len + 1,
                        words,
                        dash: true,
                    })
                } else if byte == b',' && index + 1 < self.terms {
                    Some(State::Separator { index })
                } else if byte == b']' && index + 1 == self.terms {
                    Some(State::Done)
                } else {
                    None
                }
            }
            State::Separator { index } => (byte == b' ').then_some(State::TermStart { index: index + 1 }),
            State::Done => None,
        }
    }

    /// The state after all of `bytes`, or `None` when one is refused.
    pub fn feed(&self, state: State, bytes: &[u8]) -> Option<State> {
        bytes.iter().try_fold(state, |s, &b| self.step(s, b))
    }

    /// Whether `text` is a whole TID of this grammar.
    pub fn accepts(&self, text: &str) -> bool {
        self.feed(State::Open, text.as_bytes()) == Some(State::Done)
    }
}

/// The fuzz target's body (fuzz/fuzz_targets/tid_grammar.rs), here so that the corpus smoke
/// test runs exactly the same checks: the first byte picks 1 to 6 terms, the rest is text
/// fed to the automaton, which must never panic; accepted text must parse as a TID of that
/// many terms and print back unchanged. Returns whether the text was accepted.
#[doc(hidden)]
pub fn exercise(data: &[u8]) -> bool {
    let Some((&n, rest)) = data.split_first() else {
        return false;
    };
    let terms = usize::from(n % 6) + 1;
    let grammar = TidGrammar::new(terms).expect("1 to 6 terms is a valid grammar");
    let end = grammar.feed(State::Open, rest);
    let Ok(text) = std::str::from_utf8(rest) else {
        assert_ne!(end, Some(State::Done), "accepted bytes that are not UTF-8");
        return false;
    };
    if !grammar.accepts(text) {
        return false;
    }
    let tid = grlm::Tid::parse(text, Some(terms)).expect("accepted text parses as a TID");
    assert_eq!(tid.to_string(), text, "accepted text is canonical");
    true
}

/// One generation in progress: the automaton's state, the terms written, the term being
/// written and the tokens it took so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The automaton's state.
    pub state: State,
    /// The finished terms of this TID.
    pub terms: Vec<Vec<u8>>,
    /// The bytes of the current term (empty between terms).
    pub term: Vec<u8>,
    /// Tokens that wrote bytes of the current term.
    pub term_tokens: usize,
}

impl Cursor {
    /// A cursor at `state` with no term under way (a state between terms, or
    /// [`State::Open`]).
    pub fn at(state: State) -> Self {
        Cursor {
            state,
            terms: Vec::new(),
            term: Vec::new(),
            term_tokens: 0,
        }
    }

    /// Whether the TID is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

/// Where a token's bytes leave a cursor, without allocating for the common token: the
/// state, the offset in the token where the current term began (`None` when it began in
/// an earlier token), whether the token wrote bytes of the term it ends in, and the terms
/// it finished (start in the token or `None` for the cursor's term, end in the token).
struct Walk {
    state: State,
    term_start: Option<usize>,
    wrote_term: bool,
    finished: Vec<(Option<usize>, usize)>,
}

/// Whether `head` followed by `tail` spells `f`.
fn spells(f: &[u8], head: &[u8], tail: &[u8]) -> bool {
    f.len() == head.len() + tail.len() && f.starts_with(head) && &f[head.len()..] == tail
}

impl TidGrammar {
    /// Whether the term `head` + `tail` may not end here: it repeats an earlier term of the
    /// TID (of the cursor's, or `finished` in this token) or, as the last term, a forbidden
    /// one.
    fn refused(
        &self,
        cursor: &Cursor,
        bytes: &[u8],
        finished: &[(Option<usize>, usize)],
        term: (&[u8], &[u8]),
        last: bool,
        forbidden_last: &BTreeSet<String>,
    ) -> bool {
        let (head, tail) = term;
        cursor.terms.iter().any(|t| spells(t, head, tail))
            || finished.iter().any(|&(s, e)| match s {
                Some(s) => spells(&bytes[s..e], head, tail),
                None => spells(&[&cursor.term[..], &bytes[..e]].concat(), head, tail),
            })
            || last && forbidden_last.iter().any(|f| spells(f.as_bytes(), head, tail))
    }

    fn walk(&self, cursor: &Cursor, bytes: &[u8], forbidden_last: &BTreeSet<String>) -> Option<Walk> {
        if bytes.is_empty() {
            // Control tokens spell nothing; end of generation is decided by `]`, not by them.
            return None;
        }
        if let State::InTerm { index, dash: false, .. } = cursor.state {
            // Past the cap a term must end — unless ending it is refused, where it must go on.
            if cursor.term_tokens >= MAX_TOKENS_PER_TERM
                && (is_word_byte(bytes[0]) || bytes[0] == b'-')
                && !self.refused(
                    cursor,
                    bytes,
                    &[],
                    (&cursor.term, &[]),
                    index + 1 == self.terms,
                    forbidden_last,
                )
            {
                return None;
            }
        }
        let mut state = cursor.state;
        let mut term_start = None;
        let mut wrote_term = false;
        let mut finished: Vec<(Option<usize>, usize)> = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            let next = self.step(state, b)?;
            let (ends, full) = match (state, next) {
                (State::InTerm { .. }, State::Separator { .. } | State::Done) => (Some(i), false),
                // A term at the length limit can only end: refuse now what could not end then.
                (_, State::InTerm { len, .. }) if len == self.max_term_bytes => (Some(i + 1), true),
                _ => (None, false),
            };
            if let Some(end) = ends {
                let term: (&[u8], &[u8]) = match term_start {
                    Some(start) => (&[], &bytes[start..end]),
                    None => (&cursor.term, &bytes[..end]),
                };
                let last = match next {
                    State::InTerm { index, .. } => index + 1 == self.terms,
                    other => other == State::Done,
                };
                if self.refused(cursor, bytes, &finished, term, last, forbidden_last) {
                    return None;
                }
                if !full {
                    finished.push((term_start, i));
                }
            }
            match next {
                State::TermStart { .. } => {
                    term_start = Some(i + 1);
                    wrote_term = false;
                }
                State::InTerm { .. } => wrote_term = true,
                _ => {}
            }
            state = next;
        }
        Some(Walk {
            state,
            term_start,
            wrote_term,
            finished,
        })
    }

    /// Whether a token of `bytes` may follow `cursor`: every byte is in the format, no term
    /// repeats an earlier one of the TID, the TID is not finished with a last term in
    /// `forbidden_last`, and a term past [`MAX_TOKENS_PER_TERM`] tokens is not continued.
    pub fn allows(&self, cursor: &Cursor, bytes: &[u8], forbidden_last: &BTreeSet<String>) -> bool {
        self.walk(cursor, bytes, forbidden_last).is_some()
    }

    /// The cursor after a token of `bytes`, or `None` when [`TidGrammar::allows`] refuses it.
    pub fn advance(&self, cursor: &Cursor, bytes: &[u8], forbidden_last: &BTreeSet<String>) -> Option<Cursor> {
        let walk = self.walk(cursor, bytes, forbidden_last)?;
        let mut terms = cursor.terms.clone();
        for &(start, end) in &walk.finished {
            terms.push(match start {
                Some(s) => bytes[s..end].to_vec(),
                None => [&cursor.term[..], &bytes[..end]].concat(),
            });
        }
        let in_term = matches!(walk.state, State::InTerm { .. });
        let (term, term_tokens) = match (walk.term_start, in_term) {
            (_, false) => (Vec::new(), 0),
            (Some(start), true) => (bytes[start..].to_vec(), usize::from(walk.wrote_term)),
            (None, true) => {
                let mut term = cursor.term.clone();
                term.extend_from_slice(bytes);
                (term, cursor.term_tokens + 1)
            }
        };
        Some(Cursor {
            state: walk.state,
            terms,
            term,
            term_tokens,
        })
    }

    /// Which tokens of `vocab` (each token's bytes) may follow `cursor`.
    pub fn mask(&self, cursor: &Cursor, vocab: &[Vec<u8>], forbidden_last: &BTreeSet<String>) -> Vec<bool> {
        vocab
            .iter()
            .map(|bytes| self.allows(cursor, bytes, forbidden_last))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grlm::Tid;
    use proptest::prelude::*;

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn accepts_exactly_canonical_normalised_tids() {
        let g = TidGrammar::new(3).unwrap();
        for ok in [
            "[a, b, c]",
            "[hair-mask, color-lock, 3-in-1]",
            "[x1, 2y, z-z-z]",
            &format!("[{}, b, c]", "q".repeat(MAX_GENERATED_TERM_BYTES)),
        ] {
            assert!(g.accepts(ok), "{ok:?}");
            assert_eq!(Tid::parse(ok, Some(3)).unwrap().to_string(), ok);
        }
        for bad in [
            "",
            "[",
            "[a, b]",
            "[a, b, c, d]",
            "[a, b, c",
            "a, b, c]",
            "[a,b, c]",
            "[a,  b, c]",
            "[a , b, c]",
            "[ a, b, c]",
            "[a, b, c ]",
            "[a, b, c]\n",
            "[a, , c]",
            "[A, b, c]",
            "[a b, c, d]",
            "[a_b, c, d]",
            "[-a, b, c]",
            "[a-, b, c]",
            "[a--b, c, d]",
            "[a-b-c-d, e, f]",
            "[é, b, c]",
            "[a, b, c]]",
            "[a, 'b', c]",
            &format!("[{}, b, c]", "q".repeat(MAX_GENERATED_TERM_BYTES + 1)),
        ] {
            assert!(!g.accepts(bad), "{bad:?}");
        }
        assert!(TidGrammar::new(0).is_err());
        assert!(TidGrammar::new(MAX_TID_LEN + 1).is_err());
        assert!(TidGrammar::with_max_term_bytes(5, MAX_TERM_BYTES + 1).is_err());
    }

    #[test]
    fn a_forbidden_last_term_cannot_be_finished_but_can_be_extended() {
        let g = TidGrammar::new(2).unwrap();
        let forbidden: BTreeSet<String> = ["mask".to_owned()].into();
        let start = g.advance(&Cursor::at(State::Open), b"[hair, ma", &forbidden).unwrap();
        assert_eq!(start.term, b"ma");
        assert!(!g.allows(&start, b"sk]", &forbidden));
        assert!(g.allows(&start, b"sk]", &none()));
        let masked = g.advance(&start, b"sk", &forbidden).unwrap();
        assert!(!g.allows(&masked, b"]", &forbidden));
        assert!(g.allows(&masked, b"s]", &forbidden));
        assert!(g.allows(&masked, b"-x]", &forbidden));
        // A term that began inside the token is checked too.
        let mid = g.advance(&Cursor::at(State::Open), b"[hair,", &forbidden).unwrap();
        assert!(!g.allows(&mid, b" mask]", &forbidden));
        assert!(g.allows(&mid, b" masks]", &forbidden));
        // Only the last term is constrained.
        let first = g.advance(&Cursor::at(State::Open), b"[", &forbidden).unwrap();
        assert!(g.allows(&first, b"mask,", &forbidden));
    }

    #[test]
    fn a_term_cannot_repeat_an_earlier_one() {
        let g = TidGrammar::new(3).unwrap();
        let c = g.advance(&Cursor::at(State::Open), b"[hair, ha", &none()).unwrap();
        assert_eq!(c.terms, vec![b"hair".to_vec()]);
        assert!(!g.allows(&c, b"ir,", &none()));
        assert!(g.allows(&c, b"irs,", &none()));
        let start = g.advance(&Cursor::at(State::Open), b"[", &none()).unwrap();
        assert!(!g.allows(&start, b"a, a,", &none()));
        assert!(!g.allows(&start, b"a, b, a]", &none()));
        let done = g.advance(&start, b"a, b, c]", &none()).unwrap();
        assert!(done.is_done());
        assert_eq!(done.terms, [&b"a"[..], b"b", b"c"]);
        let words = g.advance(&start, b"a-b-c", &none()).unwrap();
        assert!(!g.allows(&words, b"-", &none()), "a fourth word");
    }

    #[test]
    fn a_long_term_must_end_after_the_token_cap() {
        let g = TidGrammar::new(2).unwrap();
        let mut c = g.advance(&Cursor::at(State::Open), b"[", &none()).unwrap();
        for _ in 0..MAX_TOKENS_PER_TERM {
            c = g.advance(&c, b"a", &none()).unwrap();
        }
        assert_eq!(c.term_tokens, MAX_TOKENS_PER_TERM);
        assert!(!g.allows(&c, b"a", &none()));
        assert!(g.allows(&c, b",", &none()));
        let dashed = g.advance(&c, b"-", &none());
        assert!(dashed.is_none(), "a dash continues the term");
        let next = g.advance(&c, b", b", &none()).unwrap();
        assert_eq!((next.term.as_slice(), next.term_tokens), (&b"b"[..], 1));
    }

    /// A vocabulary with every single byte the format needs and some longer pieces.
    fn vocab_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let alphabet: Vec<u8> = b"ab9-, ][A_\n".to_vec();
        let piece = prop::collection::vec(prop::sample::select(alphabet), 1..6);
        prop::collection::vec(piece, 0..40).prop_map(|mut extra| {
            let mut vocab: Vec<Vec<u8>> = b"ab9-, ][".iter().map(|&b| vec![b]).collect();
            vocab.push(Vec::new());
            vocab.append(&mut extra);
            vocab
        })
    }

    proptest! {
        /// The grammar accepts a text exactly when the engine parses it to N terms that
        /// print back to the same text, within the length limit and in its alphabet.
        #[test]
        fn grammar_agrees_with_the_engine_parser(text in "[\\[\\]ab9A, \\-_]{0,24}", n in 1usize..4) {
            let g = TidGrammar::with_max_term_bytes(n, 4).unwrap();
            let engine = Tid::parse(&text, Some(n)).ok().filter(|t| {
                t.to_string() == text
                    && t.terms().iter().all(|term| {
                        term.as_str().len() <= 4
                            && term.as_str().split('-').count() <= MAX_WORDS_PER_TERM
                            && term.as_str().bytes().all(|b| is_word_byte(b) || b == b'-')
                    })
            });
            prop_assert_eq!(g.accepts(&text), engine.is_some());
        }

        /// Whatever allowed tokens are picked, generation ends, within its bound, in a TID of
        /// exactly N normalised terms whose last term is not forbidden.
        #[test]
        fn every_allowed_token_path_ends_in_a_tid(
            vocab in vocab_strategy(),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 400),
            n in 1usize..5,
            forbid in prop::collection::btree_set("[ab9]{1,3}", 0..4),
        ) {
            let g = TidGrammar::with_max_term_bytes(n, 6).unwrap();
            let mut cursor = g.advance(&Cursor::at(State::Open), b"[", &forbid).unwrap();
            let mut text = b"[".to_vec();
            for (step, pick) in picks.iter().enumerate() {
                if cursor.is_done() {
                    break;
                }
                let allowed: Vec<usize> = g.mask(&cursor, &vocab, &forbid)
                    .iter().enumerate().filter(|(_, ok)| **ok).map(|(i, _)| i).collect();
                prop_assert!(!allowed.is_empty(), "stuck after {:?}", String::from_utf8_lossy(&text));
                let token = &vocab[allowed[pick.index(allowed.len())]];
                cursor = g.advance(&cursor, token, &forbid).unwrap();
                text.extend_from_slice(token);
                prop_assert!(step < 2 + n * 8, "no end in sight");
            }
            prop_assert!(cursor.is_done(), "{:?}", String::from_utf8_lossy(&text));
            let text = String::from_utf8(text).unwrap();
            let tid = Tid::parse(&text, Some(n)).unwrap();
            prop_assert_eq!(tid.to_string(), text.clone());
            prop_assert!(tid.terms().iter().all(|t| !t.as_str().is_empty() && t.as_str().len() <= 6));
            prop_assert!(!forbid.contains(tid.terms()[n - 1].as_str()));
            let distinct: BTreeSet<&str> = tid.terms().iter().map(|t| t.as_str()).collect();
            prop_assert_eq!(distinct.len(), n, "a term repeats in {}", text);
            prop_assert_eq!(cursor.terms.len(), n);
        }
    }
}
