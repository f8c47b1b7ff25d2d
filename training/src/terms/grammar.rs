//! The TID text form as a byte-level automaton, so that generation can only write TIDs.
//!
//! The language is the canonical text form the engine prints ([`grlm::Tid`]'s `Display`)
//! restricted to terms that are already normalised, so that what the model writes is
//! exactly what [`grlm::Tid::parse`] gives back:
//!
//! ```text
//! tid  = "[" term ( ", " term ){N-1} "]"
//! term = word ( "-" word )?    at most `max_term_bytes` bytes
//! word = [a-z0-9]+
//! ```
//!
//! Two words at most: the paper's reference TIDs average 1.18 words per term, and a small
//! model left free strings category paths into one term (`hair-care-styling-accessories-cl…`)
//! until the byte limit cuts it.
//!
//! Terms are ASCII: upper case, spaces and `_` would be rewritten by the normaliser (so two
//! different texts would be one term, and the rules below would compare the wrong thing),
//! and other characters would need multi-byte UTF-8 checks for little gain.
//!
//! [`Cursor`] adds what one generation needs beyond the automaton's state: the terms
//! written so far and the term being written, so that the rules of [`super::rules`] hold
//! as each word ends (no word twice in a TID, digits only in words of the item's own text,
//! no function words, a barred last term when a collision is regenerated), and how many
//! tokens the term took (capped, so that a model that keeps writing one term still ends
//! it). A token is only allowed when the TID can still be finished after it, so the rules
//! never leave generation without a token to choose.

use grlm::tid::{MAX_TERM_BYTES, MAX_TID_LEN};

use super::rules::{self, ItemRules, MAX_GENERATED_TERM_BYTES, MAX_WORDS_PER_TERM};

/// The most tokens one term may take. Past it only a token that ends the term is allowed
/// (or one that completes a term left ending in `-`).
pub const MAX_TOKENS_PER_TERM: usize = 12;

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

    /// The word being written: the current term's bytes after its last `-`.
    fn word(&self) -> &[u8] {
        let start = self.term.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
        &self.term[start..]
    }

    /// Every word written before the current one: those of the finished terms, then the
    /// current term's earlier words.
    fn earlier_words(&self) -> impl Iterator<Item = &[u8]> {
        let head = &self.term[..self.term.len() - self.word().len()];
        self.terms
            .iter()
            .flat_map(|t| t.split(|&b| b == b'-'))
            .chain(head.split(|&b| b == b'-').filter(|w| !w.is_empty()))
    }
}

/// The bytes [`TidGrammar::finishable`] tries, in this order: ending a term first, so that
/// the search for a way to finish is short.
const FINISH_BYTES: &[u8] = b"], abcdefghijklmnopqrstuvwxyz-0123456789";

/// Cursors [`TidGrammar::finishable`] may visit before it gives up and says yes: far more
/// than any real search takes (a few dozen), a bound on a pathological one.
const FINISH_BUDGET: usize = 20_000;

impl TidGrammar {
    /// Whether the current word of `cursor` may end here ([`rules::word_may_end`]).
    fn word_may_end(&self, cursor: &Cursor, rules: &ItemRules) -> bool {
        rules::word_may_end(cursor.word(), cursor.earlier_words(), rules).is_ok()
    }

    /// Whether the current term of `cursor`, term `index`, may end here: its last word
    /// may, and as the TID's last term it is not barred.
    fn term_may_end(&self, cursor: &Cursor, index: usize, rules: &ItemRules) -> bool {
        self.word_may_end(cursor, rules)
            && (index + 1 < self.terms
                || !std::str::from_utf8(&cursor.term).is_ok_and(|t| rules.forbidden_last.contains(t)))
    }

    /// Moves `cursor` over one byte, or says the format or a rule refuses it there.
    fn step_cursor(&self, cursor: &mut Cursor, byte: u8, rules: &ItemRules) -> bool {
        let Some(next) = self.step(cursor.state, byte) else {
            return false;
        };
        match (cursor.state, next) {
            (State::InTerm { index, .. }, State::Separator { .. } | State::Done) => {
                if !self.term_may_end(cursor, index, rules) {
                    return false;
                }
                cursor.terms.push(std::mem::take(&mut cursor.term));
            }
            (State::InTerm { .. }, State::InTerm { dash: true, .. }) => {
                if !self.word_may_end(cursor, rules) {
                    return false;
                }
                cursor.term.push(byte);
            }
            (_, State::InTerm { index, len, .. }) => {
                cursor.term.push(byte);
                let word = cursor.word();
                let room = self.max_term_bytes - (len - word.len());
                if !rules.word_prefix(word, room) || cursor.earlier_words().any(|e| rules::only_same_word(word, e)) {
                    return false;
                }
                // A term at the length limit can only end: refuse now what could not end then.
                if len == self.max_term_bytes && !self.term_may_end(cursor, index, rules) {
                    return false;
                }
            }
            _ => {}
        }
        cursor.state = next;
        true
    }

    /// The cursor after a token of `bytes` under the format and the rules alone, not yet
    /// asking whether the TID can still be finished.
    fn walk(&self, cursor: &Cursor, bytes: &[u8], rules: &ItemRules) -> Option<Cursor> {
        if bytes.is_empty() {
            // Control tokens spell nothing; end of generation is decided by `]`, not by them.
            return None;
        }
        if let State::InTerm { index, dash: false, .. } = cursor.state {
            // Past the cap a term must end — unless ending it is refused, where it must go on.
            if cursor.term_tokens >= MAX_TOKENS_PER_TERM
                && (is_word_byte(bytes[0]) || bytes[0] == b'-')
                && self.term_may_end(cursor, index, rules)
            {
                return None;
            }
        }
        let mut next = cursor.clone();
        // Whether a term began inside the token, and whether the token then wrote into it.
        let (mut began, mut wrote) = (false, false);
        for &byte in bytes {
            if !self.step_cursor(&mut next, byte, rules) {
                return None;
            }
            match next.state {
                State::TermStart { .. } => (began, wrote) = (true, false),
                State::InTerm { .. } => wrote = true,
                _ => {}
            }
        }
        next.term_tokens = match next.state {
            State::InTerm { .. } if began => usize::from(wrote),
            State::InTerm { .. } => cursor.term_tokens + 1,
            _ => 0,
        };
        Some(next)
    }

    /// Whether single-byte tokens can take `cursor` to a finished TID under `rules`; a
    /// depth-first search that tries ending the term first. Every vocabulary this runs
    /// with has a token for each byte of the TID format, so a cursor this accepts never
    /// leaves generation without a token to choose.
    fn finishable(&self, cursor: &Cursor, rules: &ItemRules, budget: &mut usize) -> bool {
        if cursor.is_done() || *budget == 0 {
            return true;
        }
        *budget -= 1;
        FINISH_BYTES.iter().any(|&b| {
            self.walk(cursor, &[b], rules)
                .is_some_and(|next| self.finishable(&next, rules, budget))
        })
    }

    /// The cursor after a token of `bytes`, or `None` when the token breaks the format or a
    /// rule ([`super::rules`]) or leaves a TID that can no longer be finished.
    pub fn advance(&self, cursor: &Cursor, bytes: &[u8], rules: &ItemRules) -> Option<Cursor> {
        let next = self.walk(cursor, bytes, rules)?;
        let mut budget = FINISH_BUDGET;
        self.finishable(&next, rules, &mut budget).then_some(next)
    }

    /// Whether a token of `bytes` may follow `cursor` ([`TidGrammar::advance`]).
    pub fn allows(&self, cursor: &Cursor, bytes: &[u8], rules: &ItemRules) -> bool {
        self.advance(cursor, bytes, rules).is_some()
    }

    /// Which tokens of `vocab` (each token's bytes) may follow `cursor`.
    pub fn mask(&self, cursor: &Cursor, vocab: &[Vec<u8>], rules: &ItemRules) -> Vec<bool> {
        vocab.iter().map(|bytes| self.allows(cursor, bytes, rules)).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use grlm::Tid;
    use proptest::prelude::*;

    fn none() -> ItemRules {
        ItemRules::default()
    }

    fn after(g: &TidGrammar, text: &str, rules: &ItemRules) -> Cursor {
        g.advance(&Cursor::at(State::Open), text.as_bytes(), rules).unwrap()
    }

    #[test]
    fn accepts_exactly_canonical_normalised_tids() {
        let g = TidGrammar::new(3).unwrap();
        for ok in [
            "[a, b, c]",
            "[hair-mask, color-lock, 3-in]",
            "[x1, 2y, z-z]",
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
            "[a-b-c, e, f]",
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
        let forbidden = none().with_forbidden_last(["mask".to_owned()].into());
        let start = after(&g, "[hair, ma", &forbidden);
        assert_eq!(start.term, b"ma");
        assert!(!g.allows(&start, b"sk]", &forbidden));
        assert!(g.allows(&start, b"sk]", &none()));
        let masked = g.advance(&start, b"sk", &forbidden).unwrap();
        assert!(!g.allows(&masked, b"]", &forbidden));
        assert!(g.allows(&masked, b"er]", &forbidden));
        assert!(g.allows(&masked, b"-x]", &forbidden));
        // A term that began inside the token is checked too.
        let mid = after(&g, "[hair,", &forbidden);
        assert!(!g.allows(&mid, b" mask]", &forbidden));
        assert!(g.allows(&mid, b" maskx]", &forbidden));
        // Only the last term is constrained.
        let first = after(&g, "[", &forbidden);
        assert!(g.allows(&first, b"mask,", &forbidden));
    }

    #[test]
    fn no_word_is_written_twice_in_one_tid() {
        let g = TidGrammar::new(3).unwrap();
        let c = after(&g, "[hair, ha", &none());
        assert_eq!(c.terms, vec![b"hair".to_vec()]);
        assert!(!g.allows(&c, b"ir,", &none()), "a repeated term");
        assert!(!g.allows(&c, b"irs,", &none()), "a plural of an earlier word");
        assert!(!g.allows(&c, b"iry,", &none()), "a longer form of an earlier word");
        assert!(g.allows(&c, b"ze,", &none()));
        let start = after(&g, "[", &none());
        assert!(!g.allows(&start, b"x, x,", &none()));
        assert!(!g.allows(&start, b"x, y, x]", &none()));
        assert!(
            !g.allows(&start, b"comedy-relief, comedy", &none()),
            "every word beginning so is comedy again"
        );
        assert!(
            g.allows(&start, b"comedy-relief, dram", &none()),
            "a word still being written"
        );
        assert!(
            !g.allows(&start, b"comedy-relief, relief-film,", &none()),
            "an extended term"
        );
        assert!(!g.allows(&start, b"children, childrens,", &none()));
        assert!(!g.allows(&start, b"war-war,", &none()), "a word twice in a term");
        let done = g.advance(&start, b"x, y, z]", &none()).unwrap();
        assert!(done.is_done());
        assert_eq!(done.terms, [&b"x"[..], b"y", b"z"]);
        let words = g.advance(&start, b"x-y", &none()).unwrap();
        assert!(!g.allows(&words, b"-", &none()), "a third word");
    }

    #[test]
    fn digits_only_in_words_of_the_items_text() {
        let g = TidGrammar::new(3).unwrap();
        let rules = ItemRules::for_text("Crimson Tide (1995), SPF15");
        let start = after(&g, "[", &rules);
        assert!(g.allows(&start, b"1995, drama, spf15]", &rules));
        assert!(!g.allows(&start, b"drama1995,", &rules), "a year glued to a word");
        assert!(!g.allows(&start, b"drama1", &rules), "no word of the text begins so");
        assert!(!g.allows(&start, b"199,", &rules), "part of a number");
        assert!(!g.allows(&start, b"1996", &rules));
        assert!(g.allows(&start, b"drama-199", &rules), "on its way to 1995");
        assert!(!g.allows(&after(&g, "[", &none()), b"1", &none()), "no text, no digits");
    }

    #[test]
    fn function_words_are_not_words_of_a_term() {
        let g = TidGrammar::new(2).unwrap();
        let start = after(&g, "[", &none());
        for refused in ["the-", "the,", "drama-of,", "a,", "in-"] {
            assert!(!g.allows(&start, refused.as_bytes(), &none()), "{refused}");
        }
        for allowed in ["theater,", "ofx-", "theme-park,"] {
            assert!(g.allows(&start, allowed.as_bytes(), &none()), "{allowed}");
        }
    }

    #[test]
    fn a_long_term_must_end_after_the_token_cap() {
        let g = TidGrammar::new(2).unwrap();
        let mut c = after(&g, "[", &none());
        for _ in 0..MAX_TOKENS_PER_TERM {
            c = g.advance(&c, b"b", &none()).unwrap();
        }
        assert_eq!(c.term_tokens, MAX_TOKENS_PER_TERM);
        assert!(!g.allows(&c, b"b", &none()));
        assert!(g.allows(&c, b",", &none()));
        let dashed = g.advance(&c, b"-", &none());
        assert!(dashed.is_none(), "a dash continues the term");
        let next = g.advance(&c, b", c", &none()).unwrap();
        assert_eq!((next.term.as_slice(), next.term_tokens), (&b"c"[..], 1));
    }

    #[test]
    fn a_term_that_cannot_end_goes_on_past_the_cap() {
        let g = TidGrammar::new(2).unwrap();
        let forbidden = none().with_forbidden_last([("b".repeat(MAX_TOKENS_PER_TERM))].into());
        let mut c = after(&g, "[x, ", &forbidden);
        for _ in 0..MAX_TOKENS_PER_TERM {
            c = g.advance(&c, b"b", &forbidden).unwrap();
        }
        assert!(!g.allows(&c, b"]", &forbidden));
        assert!(g.allows(&c, b"b", &forbidden));
    }

    /// Every byte a TID may hold, as single-byte tokens (the vocabularies generation runs
    /// with have them), and longer random pieces.
    fn vocab_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let alphabet: Vec<u8> = b"ab9s-, ][A_\n".to_vec();
        let piece = prop::collection::vec(prop::sample::select(alphabet), 1..6);
        prop::collection::vec(piece, 0..40).prop_map(|mut extra| {
            let mut vocab: Vec<Vec<u8>> = FINISH_BYTES.iter().map(|&b| vec![b]).collect();
            vocab.push(Vec::new());
            vocab.append(&mut extra);
            vocab
        })
    }

    /// A term of words that tempt the rules: repeats, plurals, function words, digits.
    fn term_strategy() -> impl Strategy<Value = String> {
        let word = prop::sample::select(vec!["a", "the", "b", "bs", "ab", "9", "a9", "99", "s", "bab"]);
        prop::collection::vec(word, 1..4).prop_map(|w| w.join("-"))
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

        /// Written as one token, a whole TID is allowed exactly when it is in the format
        /// and keeps every rule ([`rules::check`]); written byte by byte, every byte is
        /// allowed then too, so the rules checked word by word are the rules.
        #[test]
        fn the_grammar_enforces_exactly_the_rules(
            terms in prop::collection::vec(term_strategy(), 1..4),
            text in prop::sample::select(vec!["", "a9 99", "9", "99 bab9"]),
            forbid in prop::collection::btree_set(term_strategy(), 0..3),
        ) {
            let g = TidGrammar::with_max_term_bytes(terms.len(), 10).unwrap();
            let rules = ItemRules::for_text(text).with_forbidden_last(forbid);
            let tid = format!("[{}]", terms.join(", "));
            let keeps = g.accepts(&tid) && rules::check(&terms, &rules).is_ok();
            let start = Cursor::at(State::Open);
            prop_assert_eq!(g.allows(&start, tid.as_bytes(), &rules), keeps, "{}", tid);
            if keeps {
                let mut c = start;
                for b in tid.bytes() {
                    c = g.advance(&c, &[b], &rules).unwrap();
                }
                prop_assert!(c.is_done());
            }
        }

        /// Whatever allowed tokens are picked, generation ends, within its bound, in a TID of
        /// exactly N normalised terms that keeps every rule.
        #[test]
        fn every_allowed_token_path_ends_in_a_tid(
            vocab in vocab_strategy(),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 400),
            n in 1usize..5,
            text in prop::sample::select(vec!["", "a9 99 9", "b9b"]),
            forbid in prop::collection::btree_set("[ab9s]{1,3}", 0..4),
        ) {
            let g = TidGrammar::with_max_term_bytes(n, 6).unwrap();
            let rules = ItemRules::for_text(text).with_forbidden_last(forbid.iter().cloned().collect::<BTreeSet<_>>());
            let mut cursor = g.advance(&Cursor::at(State::Open), b"[", &rules).unwrap();
            let mut text = b"[".to_vec();
            for (step, pick) in picks.iter().enumerate() {
                if cursor.is_done() {
                    break;
                }
                let allowed: Vec<usize> = g.mask(&cursor, &vocab, &rules)
                    .iter().enumerate().filter(|(_, ok)| **ok).map(|(i, _)| i).collect();
                prop_assert!(!allowed.is_empty(), "stuck after {:?}", String::from_utf8_lossy(&text));
                let token = &vocab[allowed[pick.index(allowed.len())]];
                cursor = g.advance(&cursor, token, &rules).unwrap();
                text.extend_from_slice(token);
                prop_assert!(step < 2 + n * 8, "no end in sight");
            }
            prop_assert!(cursor.is_done(), "{:?}", String::from_utf8_lossy(&text));
            let text = String::from_utf8(text).unwrap();
            let tid = Tid::parse(&text, Some(n)).unwrap();
            prop_assert_eq!(tid.to_string(), text.clone());
            prop_assert!(tid.terms().iter().all(|t| !t.as_str().is_empty() && t.as_str().len() <= 6));
            let terms: Vec<&str> = tid.terms().iter().map(|t| t.as_str()).collect();
            prop_assert_eq!(rules::check(&terms, &rules), Ok(()), "{}", text);
            prop_assert_eq!(cursor.terms.len(), n);
        }
    }
}
