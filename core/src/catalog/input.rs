//! Reading the build inputs: `items.jsonl` and `tids.jsonl`.
//!
//! One JSON object per line; blank lines are skipped. `items.jsonl` needs `item` (an
//! integer id that fits in u32) and may have `title` (string or null); other fields are
//! ignored. `tids.jsonl` needs `item` and `terms` (a list of strings, normalised on read).
//! Every error names the file and the 1-based line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

pub use crate::lines::{for_each_line, for_each_raw_line, InputError, MAX_LINE_BYTES};
use crate::tid::Tid;

/// One line of `items.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    /// External item id.
    pub item: u32,
    /// Display title, if any (an empty string counts as none).
    pub title: Option<String>,
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
    for_each_line(reader, path, |line_no, text| {
        let parsed: ItemLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let title = parsed.title.filter(|t| !t.is_empty());
        out.push(ItemRecord {
            item: parsed.item,
            title,
            line: line_no,
        });
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
                title: Some("A &amp; B".into()),
                line: 1
            }
        );
        assert_eq!(
            got[1],
            ItemRecord {
                item: 2,
                title: None,
                line: 3
            }
        );
        let got = tids("{\"item\": 4, \"terms\": [\"Hair Mask\", \"x\"]}").unwrap();
        assert_eq!(got[0].tid.to_string(), "[hair-mask, x]");
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases: Vec<(Result<(), InputError>, &str)> = vec![
            (items("{\"item\": 1}\n{\"item\": -3}").map(drop), "items.jsonl:2:"),
            (items("{\"item\": 1}\nnot json").map(drop), "items.jsonl:2:"),
            (items("{\"title\": \"no id\"}").map(drop), "items.jsonl:1:"),
            (items("{\"item\": 4294967296}").map(drop), "items.jsonl:1:"),
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
