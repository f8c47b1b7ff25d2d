//! Reading the build inputs: `items.jsonl` and `tids.jsonl`.
//!
//! One JSON object per line; blank lines are skipped. `items.jsonl` needs `item` (an
//! integer id that fits in u32, each listed once) and may have `title` and `brand` (a
//! string or null), `categories` (a list of category paths, each a list of names, or of
//! plain names, each a path of one) and `description` (a string or a list of strings);
//! other fields are ignored. Text is read one way for every user of the file (the
//! catalogue, SFT data, term generation): HTML entities decoded
//! ([`decode_entities`]), whitespace trimmed, empty values absent. `tids.jsonl` needs
//! `item` and `terms` (a list of strings, normalised on read). Every error names the file
//! and the 1-based line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

pub use super::entities::decode_entities;
pub use crate::lines::{for_each_line, for_each_raw_line, InputError, MAX_LINE_BYTES};
use crate::tid::Tid;

/// One line of `items.jsonl`, its text decoded and trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemRecord {
    /// External item id.
    pub item: u32,
    /// Display title, if any.
    pub title: Option<String>,
    /// Brand, if any.
    pub brand: Option<String>,
    /// Category paths, most general name first; empty names and paths left out.
    pub categories: Vec<Vec<String>>,
    /// Description, its lines joined by a space, if any.
    pub description: Option<String>,
    /// 1-based line number, for later error messages.
    pub line: u64,
}

/// One line of `tids.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TidRecord {
    /// External item id.
    pub item: u32,
    /// The normalised TID.
    pub tid: Tid,
    /// 1-based line number.
    pub line: u64,
}

#[derive(Deserialize)]
struct ItemLine {
    item: u32,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    categories: Option<Vec<CategoryPath>>,
    #[serde(default)]
    description: Option<Description>,
}

/// Amazon metadata lists category paths; other catalogues list plain names.
#[derive(Deserialize)]
#[serde(untagged)]
enum CategoryPath {
    Path(Vec<String>),
    Name(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Description {
    Text(String),
    Lines(Vec<String>),
}

/// `text` decoded and trimmed; `None` when nothing is left.
fn clean(text: &str) -> Option<String> {
    let decoded = decode_entities(text.trim());
    let trimmed = decoded.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

impl ItemLine {
    fn into_record(self, line: u64) -> ItemRecord {
        let categories = self
            .categories
            .unwrap_or_default()
            .into_iter()
            .map(|c| match c {
                CategoryPath::Path(names) => names.iter().filter_map(|n| clean(n)).collect(),
                CategoryPath::Name(name) => clean(&name).into_iter().collect(),
            })
            .filter(|path: &Vec<String>| !path.is_empty())
            .collect();
        let description = match self.description {
            Some(Description::Text(text)) => clean(&text),
            Some(Description::Lines(lines)) => {
                let lines: Vec<String> = lines.iter().filter_map(|l| clean(l)).collect();
                (!lines.is_empty()).then(|| lines.join(" "))
            }
            None => None,
        };
        ItemRecord {
            item: self.item,
            title: self.title.as_deref().and_then(clean),
            brand: self.brand.as_deref().and_then(clean),
            categories,
            description,
            line,
        }
    }
}

#[derive(Deserialize)]
struct TidLine {
    item: u32,
    terms: Vec<String>,
}

/// Reads `items.jsonl`.
pub fn read_items(path: &Path) -> Result<Vec<ItemRecord>, InputError> {
    parse_items(open(path)?, path)
}

/// Reads `tids.jsonl`. `expected_len`, when given, is enforced on every line.
pub fn read_tids(path: &Path, expected_len: Option<usize>) -> Result<Vec<TidRecord>, InputError> {
    parse_tids(open(path)?, path, expected_len)
}

fn open(path: &Path) -> Result<BufReader<File>, InputError> {
    File::open(path).map(BufReader::new).map_err(|source| InputError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Parses items JSONL from any reader; `path` only labels errors.
pub fn parse_items(reader: impl BufRead, path: &Path) -> Result<Vec<ItemRecord>, InputError> {
    let mut out = Vec::new();
    let mut first_line = std::collections::HashMap::new();
    for_each_line(reader, path, |line_no, text| {
        let parsed: ItemLine = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => format!("not JSON: {e}"),
            _ => e.to_string(),
        })?;
        if let Some(first) = first_line.insert(parsed.item, line_no) {
            return Err(format!("item {} is already listed on line {first}", parsed.item));
        }
        out.push(parsed.into_record(line_no));
        Ok(())
    })?;
    Ok(out)
}

/// Parses TIDs JSONL from any reader; `path` only labels errors.
pub fn parse_tids(
    reader: impl BufRead,
    path: &Path,
    expected_len: Option<usize>,
) -> Result<Vec<TidRecord>, InputError> {
    let mut out = Vec::new();
    for_each_line(reader, path, |line_no, text| {
        let parsed: TidLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let tid = Tid::from_terms(&parsed.terms).map_err(|e| format!("item {}: {e}", parsed.item))?;
        if let Some(expected) = expected_len {
            if tid.len() != expected {
                return Err(format!(
                    "item {}: TID has {} terms, expected {expected}",
                    parsed.item,
                    tid.len()
                ));
            }
        }
        out.push(TidRecord {
            item: parsed.item,
            tid,
            line: line_no,
        });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Result<Vec<ItemRecord>, InputError> {
        parse_items(text.as_bytes(), Path::new("items.jsonl"))
    }

    fn tids(text: &str) -> Result<Vec<TidRecord>, InputError> {
        parse_tids(text.as_bytes(), Path::new("tids.jsonl"), Some(2))
    }

    #[test]
    fn reads_records_with_line_numbers() {
        let got = items("{\"item\": 4, \"title\": \"A &amp; B\", \"brand\": null}\n\n{\"item\": 2, \"title\": null}\n")
            .unwrap();
        assert_eq!(
            got[0],
            ItemRecord {
                item: 4,
                title: Some("A & B".into()),
                line: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            got[1],
            ItemRecord {
                item: 2,
                line: 3,
                ..Default::default()
            }
        );
        let got = tids("{\"item\": 4, \"terms\": [\"Hair Mask\", \"x\"]}").unwrap();
        assert_eq!(got[0].tid.to_string(), "[hair-mask, x]");
    }

    #[test]
    fn every_field_is_decoded_trimmed_and_empty_values_left_out() {
        let full = items(concat!(
            r#"{"item": 1, "title": " Mask &#39;n&#39; more ", "brand": "Phyto&reg;", "#,
            r#""categories": [["Hair", " Masks &amp; Treatments "], ["", " "], "Beauty"], "#,
            r#""description": ["Restores.", "", " Citrus &quot;scent&quot;. "], "asin": "B01"}"#,
        ))
        .unwrap();
        assert_eq!(
            full[0],
            ItemRecord {
                item: 1,
                title: Some("Mask 'n' more".into()),
                brand: Some("Phyto®".into()),
                categories: vec![vec!["Hair".into(), "Masks & Treatments".into()], vec!["Beauty".into()]],
                description: Some("Restores. Citrus \"scent\".".into()),
                line: 1,
            }
        );
        let empty = items(r#"{"item": 2, "title": "  ", "brand": "", "categories": [[]], "description": "&nbsp;"}"#);
        assert_eq!(
            empty.unwrap()[0],
            ItemRecord {
                item: 2,
                line: 1,
                ..Default::default()
            }
        );
        let text = items(r#"{"item": 3, "description": "One text."}"#).unwrap();
        assert_eq!(text[0].description.as_deref(), Some("One text."));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases: Vec<(Result<(), InputError>, &str)> = vec![
            (items("{\"item\": 1}\n{\"item\": -3}").map(drop), "items.jsonl:2:"),
            (items("{\"item\": 1}\nnot json").map(drop), "items.jsonl:2: not JSON"),
            (
                items("{\"item\": 1, \"title\": \"x\"").map(drop),
                "items.jsonl:1: not JSON",
            ),
            (
                items("{\"title\": \"no id\"}").map(drop),
                "items.jsonl:1: missing field `item`",
            ),
            (items("{\"item\": 4294967296}").map(drop), "items.jsonl:1:"),
            (
                items("{\"item\": 7}\n\n{\"item\": 7}").map(drop),
                "items.jsonl:3: item 7 is already listed on line 1",
            ),
            (items("{\"item\": 1, \"title\": 5}").map(drop), "items.jsonl:1:"),
            (items("{\"item\": 1, \"brand\": [\"x\"]}").map(drop), "items.jsonl:1:"),
            (
                items("{\"item\": 1, \"categories\": \"Beauty\"}").map(drop),
                "items.jsonl:1:",
            ),
            (items("{\"item\": 1, \"description\": {}}").map(drop), "items.jsonl:1:"),
            (
                tids("{\"item\": 1, \"terms\": [\"a\"]}").map(drop),
                "tids.jsonl:1: item 1: TID has 1 terms, expected 2",
            ),
            (
                tids("{\"item\": 1, \"terms\": [\"a\", \"\"]}").map(drop),
                "tids.jsonl:1: item 1: term 2",
            ),
            (tids("{\"item\": 1, \"terms\": \"a, b\"}").map(drop), "tids.jsonl:1:"),
        ];
        for (result, want) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.starts_with(want), "{message:?} should start with {want:?}");
        }
        let bad_utf8 = parse_items(&b"{\"item\": 1, \"title\": \"\xff\"}"[..], Path::new("f"));
        assert!(bad_utf8.unwrap_err().to_string().contains("f:1: invalid UTF-8"));
    }

    #[test]
    fn absurd_lines_are_refused_without_reading_them_whole() {
        let mut text = vec![b'{'; MAX_LINE_BYTES + 10];
        text.push(b'\n');
        let message = parse_items(&text[..], Path::new("f")).unwrap_err().to_string();
        assert!(message.contains("line longer than"), "{message}");
    }
}
