//! The prompts that only training builds; the recommendation prompt they sit beside is
//! the engine's (`grlm::prompt`), shared with inference. Each is a [`PromptAnswer`]: prompt segments, then the
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
//!
//! Term generation ([`term_generation_head`], [`term_generation_item`]), which writes an
//! item's TID with the backbone itself: a fixed head shared by every item (the order of
//! the terms and worked examples: two built-in ones, one shown here, or the run's own),
//! then the item's text, its nearest neighbours' text and — once they have one — their
//! TIDs, and a line asking for exactly N terms that ends where the model writes `[`:
//! ```text
//! Term IDs describe a product with lowercase keywords in this order: category, function, features, audience, distinctive point.
//!
//! Product: Men's trail running shoes, lightweight and breathable. Categories: Clothing > Shoes > Running
//! Term ID, 5 keywords (category, function, features, audience, distinctive point): [running-shoes, trail, lightweight, men, breathable-mesh]
//!
//! Product: Raw African Black Soap from Ghana 1 Lb. Categories: Beauty > Bath & Body > Soaps
//! Similar product: Organic Shea Butter Soap Bar
//! Its Term ID: [soap, cleanse, shea-butter, natural, organic]
//! Term ID, 5 keywords (category, function, features, audience, distinctive point): [
//! ```

use grlm::prompt::{answer_segments, clean_line, clean_title, target, Segment};
use grlm::Tid;

/// The first line of a term-internalisation prompt ([`terms`]).
pub const TERMS_HEADER: &str = "A product's details, then its Term ID: [keyword, ...].\n";

/// The first line of a collaborative-neighbours prompt ([`neighbors`]).
pub const NEIGHBORS_HEADER: &str =
    "A product's Term ID, then those of products its shoppers also bought, one per line.\n";

/// Category paths longer than this many characters (after joining) are cut in prompts.
pub const MAX_CATEGORY_CHARS: usize = 120;

/// At most this many category paths of an item are shown: a few items sit in many
/// categories, and the first ones are the most specific listing.
pub const MAX_CATEGORY_PATHS: usize = 2;

/// Brands longer than this many characters are cut in prompts.
pub const MAX_BRAND_CHARS: usize = 60;

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

/// The first line of a term-generation prompt ([`term_generation_head`]): what each position of
/// a TID stands for, in the GRLM paper's order.
pub const TERM_GENERATION_HEADER: &str = "Term IDs describe a product with lowercase keywords in this order: category, function, features, audience, distinctive point.\n";

/// What each position of a TID stands for, in order (the GRLM paper's scheme).
pub const TERM_ROLES: [&str; 5] = ["category", "function", "features", "audience", "distinctive point"];

/// The item's own text is cut to this many characters in a term-generation prompt: the
/// title, brand and categories come first in it and carry most of the meaning.
pub const MAX_TERM_ITEM_CHARS: usize = 240;

/// A neighbour's text is cut to this many characters: it only has to say what the
/// neighbour is, and every neighbour costs prompt tokens for every item.
pub const MAX_TERM_NEIGHBOR_CHARS: usize = 100;

/// The worked examples in the head of every term-generation prompt unless a run gives its
/// own, as (text, terms). A small model copies a format from examples far better than from
/// instructions; they come from other domains than beauty so that their terms are not
/// copied into beauty TIDs. They keep the rules generation is held to
/// ([`crate::terms::rules`]): a model copies a repeated word from an example as readily as
/// the format.
pub const TERM_EXAMPLES: [(&str, [&str; 5]); 2] = [
    (
        "Men's trail running shoes, lightweight and breathable. Categories: Clothing > Shoes > Running",
        ["running-shoes", "trail", "lightweight", "men", "breathable-mesh"],
    ),
    (
        "Stainless Steel Chef Knife, 8 inch. Brand: Wusthof. Categories: Home & Kitchen > Cutlery",
        ["chef-knife", "cutting", "stainless-steel", "home-cooks", "forged-blade"],
    ),
];

/// A worked example in the head of a term-generation prompt: an item's text and its TID's
/// terms, as many as the TIDs being written have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermExample {
    /// The item's text (cut to [`MAX_TERM_ITEM_CHARS`] when shown, like the item's own).
    pub text: String,
    /// Its terms.
    pub terms: Vec<String>,
}

/// [`TERM_EXAMPLES`] cut to `n_terms` terms; none when TIDs are longer than theirs, since a
/// shorter example would teach the wrong length.
pub fn default_term_examples(n_terms: usize) -> Vec<TermExample> {
    if n_terms > TERM_ROLES.len() {
        return Vec::new();
    }
    TERM_EXAMPLES
        .iter()
        .map(|(text, terms)| TermExample {
            text: (*text).to_owned(),
            terms: terms[..n_terms].iter().map(|t| (*t).to_owned()).collect(),
        })
        .collect()
}

/// A neighbour of the item in a term-generation prompt: its text, and its TID once it has
/// one.
#[derive(Clone, Copy, Debug)]
pub struct TermNeighbor<'a> {
    /// The neighbour's text (cut to [`MAX_TERM_NEIGHBOR_CHARS`]).
    pub text: &'a str,
    /// Its TID, when already generated.
    pub tid: Option<&'a Tid>,
}

/// The roles of `n_terms` positions: the paper's five, cut or extended.
fn term_roles(n_terms: usize) -> String {
    let shown = TERM_ROLES[..n_terms.min(TERM_ROLES.len())].join(", ");
    match n_terms.saturating_sub(TERM_ROLES.len()) {
        0 => shown,
        more => format!("{shown}, then {more} more details"),
    }
}

/// The line asking for the TID, without its answer: it ends with the `[` the model's
/// answer continues (`Term ID, 5 keywords (category, …, distinctive point): [`).
pub fn term_generation_ask(n_terms: usize) -> String {
    format!("Term ID, {n_terms} keywords ({}): [", term_roles(n_terms))
}

/// The head of every term-generation prompt: [`TERM_GENERATION_HEADER`] and each example
/// as a product line and its answered ask line. The same for every item, so a generator
/// evaluates it once and shares it.
pub fn term_generation_head(n_terms: usize, examples: &[TermExample]) -> Segment {
    let mut text = TERM_GENERATION_HEADER.to_owned();
    for example in examples {
        text.push_str(&format!(
            "\nProduct: {}\n{}{}]\n",
            clean_line(&example.text, MAX_TERM_ITEM_CHARS),
            term_generation_ask(n_terms),
            example.terms.join(", ")
        ));
    }
    text.push('\n');
    Segment {
        text,
        begins_text: true,
    }
}

/// An item's part of a term-generation prompt, after the shared head
/// ([`term_generation_head`]): its `text`, each neighbour's text and TID (`Similar product:
/// …` and `Its Term ID: […]`, closest first), and the ask line ([`term_generation_ask`]).
/// The model's answer continues after the final `[` with the terms and `]`.
pub fn term_generation_item(text: &str, neighbors: &[TermNeighbor<'_>], n_terms: usize) -> Segment {
    let mut item = format!("Product: {}\n", clean_line(text, MAX_TERM_ITEM_CHARS));
    for neighbor in neighbors {
        let shown = clean_line(neighbor.text, MAX_TERM_NEIGHBOR_CHARS);
        if shown.is_empty() {
            continue;
        }
        item.push_str(&format!("Similar product: {shown}\n"));
        if let Some(tid) = neighbor.tid {
            item.push_str(&format!("Its Term ID: {}\n", target(tid)));
        }
    }
    item.push_str(&term_generation_ask(n_terms));
    plain(item)
}

/// A segment inside a prompt (never the first).
fn plain(text: String) -> Segment {
    Segment {
        text,
        begins_text: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grlm::prompt::{item_segments, PromptItem};

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

    #[test]
    fn term_generation_prompt_ends_where_the_terms_begin() {
        let soap = Tid::parse("[soap, cleanse, shea-butter, natural, organic]", None).unwrap();
        let neighbors = [
            TermNeighbor {
                text: "Organic Shea\nButter Soap Bar",
                tid: Some(&soap),
            },
            TermNeighbor {
                text: &"x".repeat(300),
                tid: None,
            },
            TermNeighbor { text: " ", tid: None },
        ];
        let item = term_generation_item("Raw African Black Soap", &neighbors, 5);
        assert!(!item.begins_text);
        let head = term_generation_head(5, &default_term_examples(5));
        assert!(head.begins_text);
        assert!(head.text.starts_with(TERM_GENERATION_HEADER));
        assert!(head
            .text
            .contains("(category, function, features, audience, distinctive point): [running-shoes, trail, lightweight, men, breathable-mesh]\n"));
        let x = "x".repeat(MAX_TERM_NEIGHBOR_CHARS);
        assert_eq!(
            item.text,
            format!(
                "Product: Raw African Black Soap\nSimilar product: Organic Shea Butter Soap Bar\nIts Term ID: [soap, cleanse, shea-butter, natural, organic]\nSimilar product: {x}\nTerm ID, 5 keywords (category, function, features, audience, distinctive point): ["
            )
        );
        // Another length asks for it, and the built-in examples follow it or step aside.
        let three = term_generation_head(3, &default_term_examples(3)).text;
        assert!(three
            .contains("Term ID, 3 keywords (category, function, features): [chef-knife, cutting, stainless-steel]\n"));
        assert!(default_term_examples(7).is_empty());
        assert_eq!(term_generation_head(7, &[]).text, format!("{TERM_GENERATION_HEADER}\n"));
        assert!(term_generation_ask(7).contains("distinctive point, then 2 more details): ["));
    }

    #[test]
    fn a_runs_own_examples_replace_the_built_in_ones() {
        let own = [TermExample {
            text: format!("Argan  Oil\nHair Serum {}", "y".repeat(400)),
            terms: vec!["hair-serum".into(), "argan".into()],
        }];
        let head = term_generation_head(2, &own).text;
        let y = "y".repeat(MAX_TERM_ITEM_CHARS - "Argan Oil Hair Serum ".len());
        assert_eq!(
            head,
            format!(
                "{TERM_GENERATION_HEADER}\nProduct: Argan Oil Hair Serum {y}\nTerm ID, 2 keywords (category, function): [hair-serum, argan]\n\n"
            )
        );
        assert!(!head.contains("running-shoes"));
    }

    #[test]
    fn the_worked_examples_keep_the_rules() {
        use crate::terms::rules::{check, ItemRules};
        for (text, terms) in TERM_EXAMPLES {
            assert_eq!(check(&terms, &ItemRules::for_text(text)), Ok(()), "{text}");
        }
    }
}
