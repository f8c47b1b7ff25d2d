//! What makes a TID one a person would write, beyond its format.
//!
//! The grammar ([`super::grammar`]) holds every generated TID to these rules as it is
//! written, and [`check`] says whether a finished TID keeps them (for replies of a server,
//! fallbacks and statistics). Each rule answers a failure the untuned 135M backbone showed
//! on new catalogues, measured against the paper's reference TIDs for Beauty:
//!
//! - **No word twice in one TID**, across terms and within a term ([`same_word`]: a plural
//!   ending aside, equal, one beginning with the other, or the same first five letters). A
//!   term that repeats or extends an earlier one (`comedy-relief`, `comedy-relief-film`)
//!   carries nothing new, and `children` beside `childrens`, `drama` beside `dramatic` or
//!   `theater` beside `theatre` is one word spelled twice. 192 of 200 movie TIDs did this;
//!   2.5% of the reference TIDs for Beauty do.
//! - **Digits only in a word the item's own text has** ([`ItemRules::for_text`]): a year,
//!   a size or a model number is a fact about the item, while `thriller1993` or a
//!   numeric tail is a token the backbone cannot read meaning into. The word must be whole
//!   (`1995`, `spf15` where the text writes `SPF15`), not glued to another.
//! - **No function word** ([`FUNCTION_WORDS`]) as a word of a term: `the-drama` means
//!   `drama`. The reference has none at a term's start or end.
//! - **At most two words per term** ([`MAX_WORDS_PER_TERM`]): the reference
//!   averages 1.18 words per term and 0.4% of its terms have three.
//! - **Every word a real word** when a [`Lexicon`] is given (`grlm-train terms --words`:
//!   by default the words of the catalogue's text, or those and the backbone's whole-word
//!   tokens). Held to the rules above and nothing more, the small model glued words
//!   together instead (`dramamovies`, `comedygoesbam`) or padded them (`sevenjj`).
//!
//! A collision's last term may also be barred ([`ItemRules::forbidden_last`]), which is how
//! a taken TID is written again.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// The longest term generation may write, in bytes. Real TID terms are under 30 bytes; the
/// engine's own limit is [`grlm::tid::MAX_TERM_BYTES`].
pub const MAX_GENERATED_TERM_BYTES: usize = 32;

/// The most `-`-joined words in one term.
pub const MAX_WORDS_PER_TERM: usize = 2;

/// Words that are never a word of a term: they only join or point at other words.
pub const FUNCTION_WORDS: [&str; 31] = [
    "a", "an", "and", "are", "at", "by", "for", "from", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our",
    "that", "the", "their", "them", "these", "they", "this", "those", "to", "we", "with", "you", "your",
];

/// The form two words are compared in: the word with one plural ending removed
/// (`-ies` → `-y`, `-es` after `s`, `x`, `z`, `ch`, `sh`, else a final `-s` that is not
/// `-ss`, `-us` or `-is`), so that `children` and `childrens`, `comedy` and `comedies`,
/// `brush` and `brushes` are one word. Short words are left alone (`gas`, `bus`).
pub fn word_key(word: &[u8]) -> Vec<u8> {
    let n = word.len();
    if n > 4 && word.ends_with(b"ies") {
        let mut key = word[..n - 3].to_vec();
        key.push(b'y');
        return key;
    }
    if n > 4 && word.ends_with(b"es") {
        let stem = &word[..n - 2];
        if [&b"s"[..], b"x", b"z", b"ch", b"sh"].iter().any(|e| stem.ends_with(e)) {
            return stem.to_vec();
        }
    }
    if n > 3 && word.ends_with(b"s") && ![&b"ss"[..], b"us", b"is"].iter().any(|e| word.ends_with(e)) {
        return word[..n - 1].to_vec();
    }
    word.to_vec()
}

/// Letters two words may share at their start before they count as one word.
const SHARED_START: usize = 5;

/// Whether two words are one word written twice: their [`word_key`]s are equal, or one
/// key begins with the other and the shorter has at least three letters (`drama`,
/// `dramatic`; `war`, `warfare`), or the words begin with the same five letters
/// (`theater`, `theatre`; `fashionable`, `fashioned`).
pub fn same_word(a: &[u8], b: &[u8]) -> bool {
    let shared = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (word_key(a), word_key(b));
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    a == b || (short.len() >= 3 && long.starts_with(short)) || shared >= SHARED_START
}

/// Whether every word that begins with `prefix` is [`same_word`] as `earlier`: the word
/// being written has already become that earlier word, whatever follows.
pub fn only_same_word(prefix: &[u8], earlier: &[u8]) -> bool {
    let key = word_key(earlier);
    (key.len() >= 3 && prefix.starts_with(&key))
        || (prefix.len() >= SHARED_START
            && earlier.len() >= SHARED_START
            && prefix[..SHARED_START] == earlier[..SHARED_START])
}

/// Whether `word` is one of [`FUNCTION_WORDS`].
pub fn is_function_word(word: &[u8]) -> bool {
    FUNCTION_WORDS.iter().any(|f| f.as_bytes() == word)
}

/// The words of `text` as a term may use them: runs of ASCII letters and digits,
/// lower-cased.
pub fn text_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

/// The words a term may use (besides the item's own words with digits): a sorted set that
/// also answers whether a word being written can still become one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lexicon(BTreeSet<Vec<u8>>);

impl Lexicon {
    /// The words of `words` that a term could use: lower-cased, only ASCII letters, 2 to
    /// [`MAX_GENERATED_TERM_BYTES`] bytes, not function words.
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> Self {
        Lexicon(
            words
                .into_iter()
                .map(|w| w.as_ref().to_ascii_lowercase().into_bytes())
                .filter(|w| (2..=MAX_GENERATED_TERM_BYTES).contains(&w.len()))
                .filter(|w| w.iter().all(u8::is_ascii_lowercase) && !is_function_word(w))
                .collect(),
        )
    }

    /// The lexicon of a backbone and a catalogue: every token that is a whole word (a
    /// space, then letters) and every word of `texts`.
    pub fn of_vocabulary_and_texts<'a>(tokens: &[Vec<u8>], texts: impl IntoIterator<Item = &'a str>) -> Self {
        let from_tokens = tokens
            .iter()
            .filter_map(|t| t.strip_prefix(b" "))
            .filter(|w| w.iter().all(u8::is_ascii_alphabetic))
            .map(|w| String::from_utf8_lossy(w).into_owned());
        let from_texts = texts.into_iter().flat_map(|t| text_words(t).collect::<Vec<_>>());
        Self::new(from_tokens.chain(from_texts))
    }

    /// Words in it.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no words.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `word` is in it.
    pub fn contains(&self, word: &[u8]) -> bool {
        self.0.contains(word)
    }

    /// Whether some word begins with `prefix` and is at most `room` bytes.
    pub fn has_prefix(&self, prefix: &[u8], room: usize) -> bool {
        prefix_within(&self.0, prefix, room)
    }
}

/// Whether some word of `set` begins with `prefix` and is at most `room` bytes.
fn prefix_within(set: &BTreeSet<Vec<u8>>, prefix: &[u8], room: usize) -> bool {
    set.range(prefix.to_vec()..)
        .take_while(|w| w.starts_with(prefix))
        .any(|w| w.len() <= room)
}

/// The rules one item's TID is written under: which words with digits its text allows,
/// which words exist at all, and which last terms are taken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemRules {
    /// The words of the item's text that contain a digit.
    numbers: BTreeSet<Vec<u8>>,
    /// The words without digits a term may use; any, when `None`.
    lexicon: Option<Arc<Lexicon>>,
    /// With a lexicon, the item's own words without digits, allowed besides it
    /// ([`ItemRules::with_own_words`]).
    own: Lexicon,
    /// Last terms the TID may not end with (taken under the same first N−1 terms).
    pub forbidden_last: BTreeSet<String>,
}

impl ItemRules {
    /// The rules for an item whose text is `text`: a word with a digit must be one of its
    /// words ([`text_words`]) no longer than a generated term.
    pub fn for_text(text: &str) -> Self {
        ItemRules {
            numbers: text_words(text)
                .filter(|w| w.len() <= MAX_GENERATED_TERM_BYTES && w.bytes().any(|b| b.is_ascii_digit()))
                .map(String::into_bytes)
                .collect(),
            lexicon: None,
            own: Lexicon::default(),
            forbidden_last: BTreeSet::new(),
        }
    }

    /// These rules with the words of `text` (the item's own) allowed besides the lexicon:
    /// a new item written into an existing catalogue may use the catalogue's words and its
    /// own, but never another new item's.
    pub fn with_own_words(mut self, text: &str) -> Self {
        self.own = Lexicon::new(text_words(text));
        self
    }

    /// These rules with every word without digits held to `lexicon`.
    pub fn with_lexicon(mut self, lexicon: Arc<Lexicon>) -> Self {
        self.lexicon = Some(lexicon);
        self
    }

    /// These rules with `forbidden` as the barred last terms.
    pub fn with_forbidden_last(mut self, forbidden: BTreeSet<String>) -> Self {
        self.forbidden_last = forbidden;
        self
    }

    /// Whether `word`, which contains a digit, may be written.
    pub fn allows_number(&self, word: &[u8]) -> bool {
        self.numbers.contains(word)
    }

    /// Whether some allowed number word begins with `prefix` and is at most `room` bytes:
    /// a word with a digit that is not such a prefix can never be finished.
    pub fn number_prefix(&self, prefix: &[u8], room: usize) -> bool {
        prefix_within(&self.numbers, prefix, room)
    }

    /// Whether the word being written, `prefix`, can still become a word these rules
    /// allow within `room` bytes.
    pub fn word_prefix(&self, prefix: &[u8], room: usize) -> bool {
        if prefix.iter().any(u8::is_ascii_digit) {
            self.number_prefix(prefix, room)
        } else {
            self.lexicon.as_ref().is_none_or(|l| l.has_prefix(prefix, room))
                || self.own.has_prefix(prefix, room)
                || self.number_prefix(prefix, room)
        }
    }
}

/// The first rule a TID breaks, with what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broken {
    /// A word appears twice (the second spelling, and the first).
    WordRepeated {
        /// The later word.
        word: String,
        /// The earlier word it matches.
        earlier: String,
    },
    /// A word has a digit but is not a word of the item's text.
    Number {
        /// The word.
        word: String,
    },
    /// A function word stands as a word of a term.
    FunctionWord {
        /// The word.
        word: String,
    },
    /// A word without digits is not in the lexicon.
    NotAWord {
        /// The word.
        word: String,
    },
    /// A term has more words than a term may.
    TooManyWords {
        /// The term.
        term: String,
    },
    /// The last term is one of the barred ones.
    ForbiddenLast {
        /// The term.
        term: String,
    },
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::WordRepeated { word, earlier } if word == earlier => {
                write!(f, "the word {word:?} is used twice")
            }
            Broken::WordRepeated { word, earlier } => {
                write!(f, "{word:?} repeats the earlier word {earlier:?}")
            }
            Broken::Number { word } => write!(f, "{word:?} has digits that the product's text does not have"),
            Broken::FunctionWord { word } => write!(f, "{word:?} is not a keyword"),
            Broken::NotAWord { word } => write!(f, "{word:?} is not a word"),
            Broken::TooManyWords { term } => write!(f, "{term:?} has more than two words"),
            Broken::ForbiddenLast { term } => write!(f, "the last keyword {term:?} is taken"),
        }
    }
}

/// Whether a word may end where it is: `earlier` holds every word written before it in the
/// TID.
pub fn word_may_end<'a>(
    word: &[u8],
    earlier: impl IntoIterator<Item = &'a [u8]>,
    rules: &ItemRules,
) -> Result<(), Broken> {
    let text = || String::from_utf8_lossy(word).into_owned();
    if is_function_word(word) {
        return Err(Broken::FunctionWord { word: text() });
    }
    if word.iter().any(u8::is_ascii_digit) {
        if !rules.allows_number(word) {
            return Err(Broken::Number { word: text() });
        }
    } else if rules.lexicon.as_ref().is_some_and(|l| !l.contains(word)) && !rules.own.contains(word) {
        return Err(Broken::NotAWord { word: text() });
    }
    if let Some(first) = earlier.into_iter().find(|e| same_word(e, word)) {
        return Err(Broken::WordRepeated {
            word: text(),
            earlier: String::from_utf8_lossy(first).into_owned(),
        });
    }
    Ok(())
}

/// Whether the terms of a TID keep every rule for an item with `rules`, the last of them
/// being its last term. The terms must already be in the TID format (normalised words
/// joined by `-`).
pub fn check<S: AsRef<str>>(terms: &[S], rules: &ItemRules) -> Result<(), Broken> {
    let mut earlier: Vec<&[u8]> = Vec::new();
    for term in terms {
        let term = term.as_ref();
        if term.split('-').count() > MAX_WORDS_PER_TERM {
            return Err(Broken::TooManyWords { term: term.to_owned() });
        }
        for word in term.split('-') {
            word_may_end(word.as_bytes(), earlier.iter().copied(), rules)?;
            earlier.push(word.as_bytes());
        }
    }
    if let Some(last) = terms.last().map(AsRef::as_ref) {
        if rules.forbidden_last.contains(last) {
            return Err(Broken::ForbiddenLast { term: last.to_owned() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_endings_are_one_word_with_their_singular() {
        for (a, b) in [
            ("children", "childrens"),
            ("comedy", "comedies"),
            ("brush", "brushes"),
            ("box", "boxes"),
            ("show", "shows"),
            ("accessory", "accessories"),
        ] {
            assert_eq!(word_key(a.as_bytes()), word_key(b.as_bytes()), "{a} {b}");
        }
        for kept in ["dress", "citrus", "analysis", "gas", "bus"] {
            assert_eq!(word_key(kept.as_bytes()), kept.as_bytes().to_vec(), "{kept}");
        }
        assert_ne!(word_key(b"drama"), word_key(b"dramatic"));
    }

    #[test]
    fn one_word_spelled_twice_is_one_word() {
        for (a, b) in [
            ("drama", "dramatic"),
            ("war", "warfare"),
            ("theater", "theatre"),
            ("fashionable", "fashioned"),
            ("children", "childrens"),
            ("comedy", "comedies"),
        ] {
            assert!(
                same_word(a.as_bytes(), b.as_bytes()) && same_word(b.as_bytes(), a.as_bytes()),
                "{a} {b}"
            );
        }
        for (a, b) in [
            ("action", "active"),
            ("hair", "mask"),
            ("an", "anti"),
            ("comedy", "comic"),
        ] {
            assert!(!same_word(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
        // What `only_same_word` rules out, every completion of the prefix is indeed.
        for (prefix, earlier) in [
            ("drama", "drama"),
            ("dramat", "dramas"),
            ("theat", "theater"),
            ("brushes", "brush"),
        ] {
            assert!(
                only_same_word(prefix.as_bytes(), earlier.as_bytes()),
                "{prefix} {earlier}"
            );
            for tail in ["", "s", "es", "ies", "x", "ally", "rical"] {
                let word = format!("{prefix}{tail}");
                assert!(same_word(word.as_bytes(), earlier.as_bytes()), "{word} {earlier}");
            }
        }
        assert!(!only_same_word(b"dra", b"drama"), "dram, dray…");
    }

    #[test]
    fn the_rules_catch_what_the_small_model_wrote() {
        let movie = ItemRules::for_text("Firm, The (1993). Categories: Movies > Drama > Thriller");
        let ok = ["legal-thriller", "drama", "law-firm", "adults", "1993"];
        assert_eq!(check(&ok, &movie), Ok(()));
        let broken = |terms: &[&str]| check(terms, &movie).unwrap_err();
        assert_eq!(
            broken(&["the-drama", "thriller", "x", "y", "z"]),
            Broken::FunctionWord { word: "the".into() }
        );
        assert_eq!(
            broken(&["drama-thriller", "thriller1993", "x", "y", "z"]),
            Broken::Number {
                word: "thriller1993".into()
            }
        );
        assert_eq!(
            broken(&["comedy-relief", "comedy-film", "x", "y", "z"]),
            Broken::WordRepeated {
                word: "comedy".into(),
                earlier: "comedy".into()
            }
        );
        assert_eq!(
            broken(&["children", "toys", "childrens", "y", "z"]),
            Broken::WordRepeated {
                word: "childrens".into(),
                earlier: "children".into()
            }
        );
        assert_eq!(
            broken(&["a-b-c", "x", "y", "z", "w"]),
            Broken::TooManyWords { term: "a-b-c".into() }
        );
        assert_eq!(
            broken(&["adventure-adventure", "x", "y", "z", "w"]),
            Broken::WordRepeated {
                word: "adventure".into(),
                earlier: "adventure".into()
            }
        );
        assert_eq!(
            broken(&["drama", "x", "y", "z", "1994"]),
            Broken::Number { word: "1994".into() }
        );
        let taken = movie.clone().with_forbidden_last(["1993".to_owned()].into());
        assert_eq!(check(&ok, &taken), Err(Broken::ForbiddenLast { term: "1993".into() }));
    }

    #[test]
    fn number_words_come_whole_from_the_text() {
        let rules = ItemRules::for_text("Neutrogena SPF30 sunscreen, 3.4 oz, model X-100");
        for ok in ["spf30", "3", "4", "100"] {
            assert!(rules.allows_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["spf", "30", "34", "x100", "1001"] {
            assert!(!rules.allows_number(bad.as_bytes()), "{bad}");
        }
        assert!(rules.number_prefix(b"spf", 5));
        assert!(!rules.number_prefix(b"spf", 4), "no room for spf30");
        assert!(rules.number_prefix(b"10", 3));
        assert!(!rules.number_prefix(b"2", 32));
        assert!(!ItemRules::default().number_prefix(b"1", 32));
    }

    #[test]
    fn own_words_join_the_lexicon_for_their_item_only() {
        let catalogue = Arc::new(Lexicon::new(["shampoo", "hair", "color"]));
        let new_item = ItemRules::for_text("Argan oil mask, 2 pack")
            .with_lexicon(Arc::clone(&catalogue))
            .with_own_words("Argan oil mask, 2 pack");
        let other = ItemRules::for_text("Rose soap").with_lexicon(Arc::clone(&catalogue));
        assert_eq!(check(&["hair", "argan", "mask"], &new_item), Ok(()));
        assert_eq!(
            check(&["hair", "argan"], &other),
            Err(Broken::NotAWord { word: "argan".into() }),
            "another item's words stay out"
        );
        assert!(new_item.word_prefix(b"arg", 10) && !other.word_prefix(b"arg", 10));
        assert!(new_item.word_prefix(b"sham", 10));
    }

    #[test]
    fn a_lexicon_holds_words_without_digits() {
        let tokens: Vec<Vec<u8>> = [" Drama", " the", "ama", " x", " thr", "-ish"]
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        let lexicon = Arc::new(Lexicon::of_vocabulary_and_texts(&tokens, ["Comedy (1995), Movies"]));
        assert_eq!(lexicon.len(), 4, "drama, thr, comedy, movies: {lexicon:?}");
        let rules = ItemRules::for_text("Toy Story (1995)").with_lexicon(lexicon);
        assert_eq!(check(&["drama", "comedy-movies", "1995"], &rules), Ok(()));
        assert_eq!(
            check(&["dramamovies"], &rules),
            Err(Broken::NotAWord {
                word: "dramamovies".into()
            })
        );
        assert_eq!(
            check(&["toy"], &rules),
            Err(Broken::NotAWord { word: "toy".into() }),
            "only the texts given"
        );
        assert!(rules.word_prefix(b"com", 6));
        assert!(!rules.word_prefix(b"com", 5), "comedy needs six bytes");
        assert!(!rules.word_prefix(b"dramam", 32));
        assert!(rules.word_prefix(b"19", 4));
    }
}
