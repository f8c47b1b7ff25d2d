//! The prompt of the recommendation task, defined once: the engine builds it for inference
//! and the training crate builds the same text for fine-tuning (its other prompts, which
//! inference never builds, live in `grlm-train`).
//!
//! ```text
//! A shopper's purchases, oldest first, one per line as a Term ID: [keyword, ...].
//! [hair-mask, color-lock, citrus, protein, unisex]
//! [shampoo, color, care, treated, preserve]
//! ```
//! The prompt ends with the newline after the last history item; the model's answer is the
//! next line, a TID in the same text form ([`target`]); training appends `"\n"` after it.
//! With titles, each history line is `[t1, …] Title`: the answer is still only the TID.
//!
//! The history sits at the end of the prompt on purpose: appending one item appends its
//! line, so a session's cached prompt stays a prefix and only the new line is evaluated.
//! Every piece is tokenized on its own ([`segments`]), which is what keeps the tokens of a
//! history TID identical to the tokens the model generates for it (and to the catalogue's
//! token trie).
//!

use crate::tid::Tid;

/// The first line of every prompt.
pub const HEADER: &str = "A shopper's purchases, oldest first, one per line as a Term ID: [keyword, ...].\n";

/// Titles longer than this many characters are cut (at a character boundary) in prompts.
pub const MAX_TITLE_CHARS: usize = 120;

/// One history item as the prompt shows it.
#[derive(Clone, Copy, Debug)]
pub struct PromptItem<'a> {
    /// Its TID.
    pub tid: &'a Tid,
    /// Its title, shown only when titles are on.
    pub title: Option<&'a str>,
}

/// One separately tokenized piece of a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The text.
    pub text: String,
    /// Whether the model's start-of-text token precedes it (only the header).
    pub begins_text: bool,
}

/// The TID text the model writes as its answer (and that history lines start with).
pub fn target(tid: &Tid) -> String {
    tid.to_string()
}

/// `text` on one line, whitespace collapsed, at most `max_chars` characters (cut at a
/// character boundary).
pub fn clean_line(text: &str, max_chars: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(max_chars) {
        Some((cut, _)) => collapsed[..cut].trim_end().to_owned(),
        None => collapsed,
    }
}

/// A title as a prompt shows it: on one line, whitespace collapsed, at most
/// [`MAX_TITLE_CHARS`] characters.
pub fn clean_title(title: &str) -> String {
    clean_line(title, MAX_TITLE_CHARS)
}

/// The header's segment.
pub fn header() -> Segment {
    Segment {
        text: HEADER.to_owned(),
        begins_text: true,
    }
}

/// The segments of one history line.
pub fn item_segments(item: PromptItem<'_>, titles: bool) -> Vec<Segment> {
    let plain = |text: String| Segment {
        text,
        begins_text: false,
    };
    let mut out = vec![plain(target(item.tid))];
    if titles {
        if let Some(title) = item.title.map(clean_title).filter(|t| !t.is_empty()) {
            out.push(plain(format!(" {title}")));
        }
    }
    out.push(plain("\n".to_owned()));
    out
}

/// Every segment of the prompt for `history` (oldest first).
pub fn segments(history: &[PromptItem<'_>], titles: bool) -> Vec<Segment> {
    let mut out = vec![header()];
    for item in history {
        out.extend(item_segments(*item, titles));
    }
    out
}

/// The prompt as one string (what a training example's input is).
pub fn text(history: &[PromptItem<'_>], titles: bool) -> String {
    segments(history, titles).into_iter().map(|s| s.text).collect()
}

fn plain(text: String) -> Segment {
    Segment {
        text,
        begins_text: false,
    }
}

/// A TID written as an answer line: the TID, then the newline that ends it (the same
/// segments as a history line without a title).
pub fn answer_segments(tid: &Tid) -> Vec<Segment> {
    vec![plain(target(tid)), plain("\n".to_owned())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ends_where_the_next_tid_begins() {
        let a = Tid::parse("[hair-mask, color-lock, citrus, protein, unisex]", None).unwrap();
        let b = Tid::parse("[shampoo, color, care, treated, preserve]", None).unwrap();
        let items = [
            PromptItem {
                tid: &a,
                title: Some("Mask\n  for hair"),
            },
            PromptItem { tid: &b, title: None },
        ];
        let plain = text(&items, false);
        assert_eq!(
            plain,
            format!(
                "{HEADER}[hair-mask, color-lock, citrus, protein, unisex]\n[shampoo, color, care, treated, preserve]\n"
            )
        );
        let titled = text(&items, true);
        assert!(titled.contains("unisex] Mask for hair\n[shampoo"), "{titled}");
        // Appending an item only appends text.
        assert!(text(&items, false).starts_with(&text(&items[..1], false)));
    }

    #[test]
    fn titles_are_one_bounded_line() {
        let long = "x".repeat(500);
        assert_eq!(clean_title(&long).chars().count(), MAX_TITLE_CHARS);
        assert_eq!(clean_title(" a\tb\r\nc "), "a b c");
        assert_eq!(clean_title(&"é".repeat(200)).chars().count(), MAX_TITLE_CHARS);
    }
}
