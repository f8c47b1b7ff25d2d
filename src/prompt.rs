//! The prompt of the recommendation task, defined once: the engine builds it for inference
//! and the training crate builds the same text for fine-tuning.
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
//! Training also needs two prompts that inference never builds, defined here so that their
//! wording lives beside the header's. Each is a [`PromptAnswer`]: prompt segments, then the
//! answer segments a trainer computes its loss on.
//!
//! Term internalisation ([`terms`]), an item's text to its TID:
//! ```text
//! A product's details, then its Term ID: [keyword, ...].
//! Title: Phyto Phytocitrus Restructuring Mask for Unisex, 6.7 Ounce
//! Category: Beauty > Hair Care > Conditioners
//! Brand: Phyto
//! [hair-mask, color-lock, citrus, protein, unisex]
//! ```
//! Collaborative neighbours ([`neighbors`]), an item's TID to those of items bought by the
//! same shoppers:
//! ```text
//! A product's Term ID, then those of products its shoppers also bought, one per line.
//! [hair-mask, color-lock, citrus, protein, unisex]
//! [shampoo, color, care, treated, preserve]
//! [conditioner, color, care, treated, preserve]
//! ```
//! The answers are TID lines exactly like a history line without a title, so the tokens
//! the model learns for a TID are the ones it generates at inference.

use crate::tid::Tid;

/// The first line of every prompt.
pub const HEADER: &str = "A shopper's purchases, oldest first, one per line as a Term ID: [keyword, ...].\n";

/// The first line of a term-internalisation prompt ([`terms`]).
pub const TERMS_HEADER: &str = "A product's details, then its Term ID: [keyword, ...].\n";

/// The first line of a collaborative-neighbours prompt ([`neighbors`]).
pub const NEIGHBORS_HEADER: &str =
    "A product's Term ID, then those of products its shoppers also bought, one per line.\n";

/// Titles longer than this many characters are cut (at a character boundary) in prompts.
pub const MAX_TITLE_CHARS: usize = 120;

/// Category paths longer than this many characters (after joining) are cut in prompts.
pub const MAX_CATEGORY_CHARS: usize = 120;

/// At most this many category paths of an item are shown: a few items sit in many
/// categories, and the first ones are the most specific listing.
pub const MAX_CATEGORY_PATHS: usize = 2;

/// Brands longer than this many characters are cut in prompts.
pub const MAX_BRAND_CHARS: usize = 60;

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

/// What an item's metadata offers to a term-internalisation prompt; every field may be
/// missing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ItemDetails<'a> {
    /// Its title.
    pub title: Option<&'a str>,
    /// Its category paths, each from the broadest category to the narrowest.
    pub categories: &'a [Vec<String>],
    /// Its brand.
    pub brand: Option<&'a str>,
}

/// A training prompt and the answer that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptAnswer {
    /// What the model reads.
    pub prompt: Vec<Segment>,
    /// What the model learns to write after it.
    pub answer: Vec<Segment>,
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

/// The metadata lines a term-internalisation prompt shows (`Title: …`, one `Category: …`
/// per path, `Brand: …`), each cleaned to one bounded line and ending in a newline; empty
/// when the item has no text at all.
pub fn detail_lines(details: &ItemDetails<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(title) = details.title.map(clean_title).filter(|t| !t.is_empty()) {
        lines.push(format!("Title: {title}\n"));
    }
    let mut paths: Vec<String> = Vec::new();
    for path in details.categories {
        let joined = path
            .iter()
            .map(|c| clean_line(c, MAX_CATEGORY_CHARS))
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" > ");
        let joined = clean_line(&joined, MAX_CATEGORY_CHARS);
        if !joined.is_empty() && !paths.contains(&joined) && paths.len() < MAX_CATEGORY_PATHS {
            paths.push(joined);
        }
    }
    lines.extend(paths.into_iter().map(|p| format!("Category: {p}\n")));
    if let Some(brand) = details
        .brand
        .map(|b| clean_line(b, MAX_BRAND_CHARS))
        .filter(|b| !b.is_empty())
    {
        lines.push(format!("Brand: {brand}\n"));
    }
    lines
}

/// The term-internalisation prompt: [`TERMS_HEADER`], one segment per [`detail_lines`]
/// line; the answer is the item's TID line. `None` when the item has no text to learn from.
pub fn terms(details: &ItemDetails<'_>, tid: &Tid) -> Option<PromptAnswer> {
    let lines = detail_lines(details);
    if lines.is_empty() {
        return None;
    }
    let mut prompt = vec![Segment {
        text: TERMS_HEADER.to_owned(),
        begins_text: true,
    }];
    prompt.extend(lines.into_iter().map(plain));
    Some(PromptAnswer {
        prompt,
        answer: answer_segments(tid),
    })
}

/// The collaborative-neighbours prompt: [`NEIGHBORS_HEADER`] and the anchor's TID line; the
/// answer is one TID line per neighbour, in the order given (closest first).
pub fn neighbors(anchor: &Tid, neighbors: &[&Tid]) -> PromptAnswer {
    let mut prompt = vec![Segment {
        text: NEIGHBORS_HEADER.to_owned(),
        begins_text: true,
    }];
    prompt.extend(answer_segments(anchor));
    PromptAnswer {
        prompt,
        answer: neighbors.iter().flat_map(|t| answer_segments(t)).collect(),
    }
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

    fn joined(segments: &[Segment]) -> String {
        segments.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn terms_prompt_shows_what_the_item_has_then_its_tid() {
        let tid = Tid::parse("[hair-mask, color-lock, citrus, protein, unisex]", None).unwrap();
        let categories = vec![
            vec![
                "Beauty".to_owned(),
                " Hair\nCare ".to_owned(),
                "".to_owned(),
                "Conditioners".to_owned(),
            ],
            vec!["Beauty".to_owned(), "Hair Care".to_owned(), "Conditioners".to_owned()],
            vec!["Clothing".to_owned()],
            vec!["Ignored".to_owned()],
        ];
        let details = ItemDetails {
            title: Some("Phyto  Mask\n"),
            categories: &categories,
            brand: Some("Phyto"),
        };
        let made = terms(&details, &tid).unwrap();
        assert_eq!(
            joined(&made.prompt),
            format!(
                "{TERMS_HEADER}Title: Phyto Mask\nCategory: Beauty > Hair Care > Conditioners\nCategory: Clothing\nBrand: Phyto\n"
            )
        );
        assert!(made.prompt[0].begins_text && made.prompt[1..].iter().all(|s| !s.begins_text));
        assert!(made
            .prompt
            .iter()
            .all(|s| s.text.ends_with('\n') && s.text.matches('\n').count() == 1));
        assert_eq!(made.answer, answer_segments(&tid));
        assert_eq!(
            joined(&made.answer),
            "[hair-mask, color-lock, citrus, protein, unisex]\n"
        );
        // The answer is tokenized like a history line: the TID alone, then the newline.
        assert_eq!(made.answer, item_segments(PromptItem { tid: &tid, title: None }, false));

        let brand_only = ItemDetails {
            brand: Some(&"b".repeat(500)),
            ..ItemDetails::default()
        };
        let made = terms(&brand_only, &tid).unwrap();
        assert_eq!(made.prompt.len(), 2);
        assert_eq!(made.prompt[1].text.chars().count(), "Brand: \n".len() + MAX_BRAND_CHARS);
        let blank = ItemDetails {
            title: Some("  "),
            categories: &[vec![" ".to_owned()]],
            brand: Some(""),
        };
        assert_eq!(terms(&blank, &tid), None);
        let long_path = vec![vec!["c".repeat(100), "d".repeat(100)]];
        let lines = detail_lines(&ItemDetails {
            categories: &long_path,
            ..ItemDetails::default()
        });
        assert_eq!(lines[0].chars().count(), "Category: \n".len() + MAX_CATEGORY_CHARS);
    }

    #[test]
    fn neighbors_prompt_is_the_anchor_line_then_one_line_per_neighbour() {
        let a = Tid::parse("[hair-mask, color-lock, citrus, protein, unisex]", None).unwrap();
        let b = Tid::parse("[shampoo, color, care, treated, preserve]", None).unwrap();
        let c = Tid::parse("[conditioner, color, care, treated, preserve]", None).unwrap();
        let made = neighbors(&a, &[&b, &c]);
        assert_eq!(
            joined(&made.prompt),
            format!("{NEIGHBORS_HEADER}[hair-mask, color-lock, citrus, protein, unisex]\n")
        );
        assert!(made.prompt[0].begins_text);
        assert_eq!(
            joined(&made.answer),
            "[shampoo, color, care, treated, preserve]\n[conditioner, color, care, treated, preserve]\n"
        );
        assert_eq!(made.answer.len(), 4);
        assert!(neighbors(&a, &[]).answer.is_empty());
    }
}
