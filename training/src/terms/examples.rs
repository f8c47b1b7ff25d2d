//! The worked examples a run shows the model instead of the built-in ones
//! (`grlm-train terms --examples`): a few TIDs written by hand in the catalogue's own style.
//! A small model imitates the examples in its prompt far more than it follows instructions,
//! so examples from the catalogue's own domain teach it which words make a term there.

use std::collections::HashMap;
use std::path::Path;

use grlm::catalog::input::read_tids;

use super::rules::{check, ItemRules};
use super::TermsError;
use crate::neighbors::text::read_items;
use crate::prompts::TermExample;

/// The most examples a run may give: each one lengthens every item's prompt.
pub const MAX_EXAMPLES: usize = 8;

/// Reads `path` (`{"item", "terms"}` per line, the format `terms` writes) and finds each
/// example's text in `items`. Every example must have `n_terms` terms and keep the term
/// rules for its own text (the grammar would never let the model write what it shows);
/// words outside the catalogue's lexicon are allowed, since a person may know better words.
pub fn read_examples(path: &Path, items: &Path, n_terms: usize) -> Result<Vec<TermExample>, TermsError> {
    let fail = |reason: String| TermsError::Examples {
        path: path.to_owned(),
        reason,
    };
    let records = read_tids(path, Some(n_terms))?;
    if records.is_empty() {
        return Err(fail("no examples in the file".into()));
    }
    if records.len() > MAX_EXAMPLES {
        return Err(fail(format!(
            "{} examples; at most {MAX_EXAMPLES} (each one lengthens every prompt)",
            records.len()
        )));
    }
    let mut lines: HashMap<u32, u64> = HashMap::new();
    for record in &records {
        if let Some(first) = lines.insert(record.item, record.line) {
            return Err(fail(format!(
                "line {}: item {} is already an example on line {first}",
                record.line, record.item
            )));
        }
    }
    let read = read_items(items, None)?;
    let texts: HashMap<u32, String> = read
        .items
        .into_iter()
        .filter(|i| lines.contains_key(&i.item))
        .map(|i| (i.item, i.text))
        .collect();
    records
        .into_iter()
        .map(|record| {
            let text = texts.get(&record.item).ok_or_else(|| {
                let why = if read.skipped.iter().any(|&(_, id)| id == record.item) {
                    "has no text"
                } else {
                    "is not"
                };
                fail(format!(
                    "line {}: item {} {why} in {}",
                    record.line,
                    record.item,
                    items.display()
                ))
            })?;
            let terms: Vec<String> = record.tid.terms().iter().map(|t| t.as_str().to_owned()).collect();
            check(&terms, &ItemRules::for_text(text)).map_err(|broken| {
                fail(format!(
                    "line {}: item {}'s example breaks a term rule: {broken}",
                    record.line, record.item
                ))
            })?;
            Ok(TermExample {
                text: text.clone(),
                terms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEMS: &str = r#"{"item": 1, "title": "Argan Oil Hair Serum 2 oz", "categories": [["Beauty", "Hair Care"]]}
{"item": 2, "title": "Rose Lip Balm"}
{"item": 3, "title": " "}
"#;

    /// `read_examples` on `examples` against [`ITEMS`], for 3-term TIDs.
    fn read(examples: &str) -> Result<Vec<TermExample>, TermsError> {
        let dir = tempfile::tempdir().unwrap();
        let (items, path) = (dir.path().join("items.jsonl"), dir.path().join("examples.jsonl"));
        std::fs::write(&items, ITEMS).unwrap();
        std::fs::write(&path, examples).unwrap();
        read_examples(&path, &items, 3)
    }

    fn fails_with(examples: &str, expected: &str) {
        let err = read(examples).unwrap_err().to_string();
        assert!(err.contains("examples.jsonl") && err.contains(expected), "{err}");
    }

    #[test]
    fn examples_come_with_their_items_text_in_file_order() {
        let read = read(
            "{\"item\": 2, \"terms\": [\"lip-balm\", \"rose\", \"moisture\"]}\n\n{\"item\": 1, \"terms\": [\"Hair Serum\", \"argan-oil\", \"2\"]}\n",
        )
        .unwrap();
        assert_eq!(
            read,
            [
                TermExample {
                    text: "Rose Lip Balm".into(),
                    terms: vec!["lip-balm".into(), "rose".into(), "moisture".into()],
                },
                TermExample {
                    text: "Argan Oil Hair Serum 2 oz. Categories: Beauty > Hair Care".into(),
                    terms: vec!["hair-serum".into(), "argan-oil".into(), "2".into()],
                },
            ]
        );
    }

    #[test]
    fn unusable_examples_fail_naming_the_line_and_the_reason() {
        fails_with("", "no examples");
        fails_with(
            &"{\"item\": 2, \"terms\": [\"a\", \"b\", \"c\"]}\n".repeat(MAX_EXAMPLES + 1),
            "at most 8",
        );
        fails_with(
            "{\"item\": 2, \"terms\": [\"lip-balm\", \"rose\", \"moisture\"]}\n{\"item\": 2, \"terms\": [\"balm\", \"rose\", \"lips\"]}\n",
            "line 2: item 2 is already an example on line 1",
        );
        fails_with(
            "{\"item\": 2, \"terms\": [\"lip-balm\", \"rose\"]}\n",
            "2 terms, expected 3",
        );
        fails_with("{\"item\": 2, \"terms\": [\"lip-balm\", \"rose\", ", "examples.jsonl:1");
        fails_with(
            "{\"item\": 9, \"terms\": [\"lip-balm\", \"rose\", \"moisture\"]}\n",
            "line 1: item 9 is not in",
        );
        fails_with(
            "{\"item\": 3, \"terms\": [\"lip-balm\", \"rose\", \"moisture\"]}\n",
            "line 1: item 3 has no text in",
        );
        fails_with(
            "{\"item\": 2, \"terms\": [\"lip-balm\", \"rose\", \"balms\"]}\n",
            "item 2's example breaks a term rule: \"balms\" repeats the earlier word \"balm\"",
        );
        fails_with(
            "{\"item\": 1, \"terms\": [\"hair-serum\", \"argan\", \"serum50\"]}\n",
            "digits that the product's text does not have",
        );
        fails_with(
            "{\"item\": 1, \"terms\": [\"hair-serum\", \"for\", \"argan\"]}\n",
            "\"for\" is not a keyword",
        );
    }
}
