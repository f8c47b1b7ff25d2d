//! `sequences.txt`: one user per line, `USER ITEM ITEM ...`, items oldest first — the
//! interaction log that evaluation, training data and the catalogue's prior are made from —
//! and the leave-one-out splits of a sequence; and item lists (`--new-items`), one item id
//! a line, with the log as if those items had never been bought ([`without_items`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Longest line `read_sequences` accepts: bounds memory on a file that is not a sequence
/// file at all.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One user's interactions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    /// The user id.
    pub user: u32,
    /// Item ids, oldest first.
    pub items: Vec<u32>,
}

impl Sequence {
    /// Everything before the target.
    pub fn history(&self) -> &[u32] {
        &self.items[..self.items.len().saturating_sub(1)]
    }

    /// The last item.
    pub fn target(&self) -> Option<u32> {
        self.items.last().copied()
    }
}

/// Why a sequences file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// A line is malformed.
    #[error("{path}:{line}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Parse { path: PathBuf, line: usize, reason: String },
}

/// Reads a sequences file. Blank lines are skipped; every other line needs a user id and at
/// least one item, all unsigned 32-bit integers separated by whitespace.
pub fn read_sequences(path: &Path) -> Result<Vec<Sequence>, SequenceError> {
    read_parsed(path, parse_sequences)
}

/// Reads the file at `path` and runs `parse` on its bytes; errors name the file, and the
/// line where `parse` gives one.
fn read_parsed<T>(path: &Path, parse: impl FnOnce(&[u8]) -> Result<T, (usize, String)>) -> Result<T, SequenceError> {
    let bytes = std::fs::read(path).map_err(|source| SequenceError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes).map_err(|(line, reason)| SequenceError::Parse {
        path: path.to_owned(),
        line,
        reason,
    })
}

/// Parses the bytes of a sequences file; errors carry the 1-based line number.
pub fn parse_sequences(bytes: &[u8]) -> Result<Vec<Sequence>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        if raw.len() > MAX_LINE_BYTES {
            return Err((line, format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(raw).map_err(|_| (line, "not UTF-8".to_owned()))?;
        let mut fields = text.split_ascii_whitespace();
        let Some(user) = fields.next() else { continue };
        let number = |f: &str| {
            f.parse::<u32>()
                .map_err(|_| (line, format!("{f:?} is not an unsigned 32-bit id")))
        };
        let user = number(user)?;
        let items = fields.map(number).collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() {
            return Err((line, format!("user {user} has no items")));
        }
        out.push(Sequence { user, items });
    }
    Ok(out)
}

/// Reads an item list: one item id per line ([`parse_item_list`]).
pub fn read_item_list(path: &Path) -> Result<BTreeSet<u32>, SequenceError> {
    read_parsed(path, parse_item_list)
}

/// Parses an item list: one unsigned 32-bit item id per line, surrounding whitespace
/// ignored; blank lines and lines starting with `#` are skipped. An id listed twice is an
/// error (two lists pasted together, most likely), as is a list with no id at all.
pub fn parse_item_list(bytes: &[u8]) -> Result<BTreeSet<u32>, (usize, String)> {
    let mut items = BTreeSet::new();
    let mut lines = 0;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        lines = line;
        if raw.len() > MAX_LINE_BYTES {
            return Err((line, format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(raw)
            .map_err(|_| (line, "not UTF-8".to_owned()))?
            .trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let item = text
            .parse::<u32>()
            .map_err(|_| (line, format!("{text:?} is not an unsigned 32-bit item id")))?;
        if !items.insert(item) {
            return Err((line, format!("item {item} is listed twice")));
        }
    }
    if items.is_empty() {
        return Err((lines.max(1), "the list names no item".to_owned()));
    }
    Ok(items)
}

/// The log as if `items` had never been bought before the held-out part: each sequence
/// without those items in its first `len - holdout` items (its last `holdout` items stay as
/// they are, so every split's target is unchanged). A listed item then has no popularity
/// count and no transition in what is counted or learned, and appears in no history a split
/// shows; its neighbours in a sequence become consecutive.
pub fn without_items(sequences: &[Sequence], holdout: usize, items: &BTreeSet<u32>) -> Vec<Sequence> {
    sequences
        .iter()
        .map(|s| {
            let counted = s.counted(holdout);
            let kept = counted.iter().copied().filter(|item| !items.contains(item));
            Sequence {
                user: s.user,
                items: kept.chain(s.items[counted.len()..].iter().copied()).collect(),
            }
        })
        .collect()
}

/// Which held-out item of each sequence a measurement predicts. The last item is the test
/// target and the one before it the validation target; settings are chosen on validation
/// and reported on test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The target is the last item; the history is everything before it.
    #[default]
    Test,
    /// The target is the second-to-last item; the history is everything before it.
    Valid,
}

impl Split {
    /// How many items at the end of every sequence this split must keep out of anything
    /// learned or counted: its target and every later item.
    pub fn holdout(self) -> usize {
        match self {
            Split::Test => 1,
            Split::Valid => 2,
        }
    }

    /// The split's name, as `--split` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Valid => "valid",
        }
    }
}

impl Sequence {
    /// The history and the target of this sequence under `split`; `None` when the sequence
    /// is too short to have both.
    pub fn split(&self, split: Split) -> Option<(&[u32], u32)> {
        let at = self.items.len().checked_sub(split.holdout())?;
        (at > 0).then(|| (&self.items[..at], self.items[at]))
    }

    /// The part of the sequence that may be learned from or counted when the last
    /// `holdout` items are held out.
    pub fn counted(&self, holdout: usize) -> &[u32] {
        &self.items[..self.items.len().saturating_sub(holdout)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_bad_lines() {
        let seqs = parse_sequences(b"1 1 2 3\n\n2 4 5\r\n").unwrap();
        assert_eq!(seqs.len(), 2);
        assert_eq!(seqs[0].history(), &[1, 2]);
        assert_eq!(seqs[0].target(), Some(3));
        assert_eq!(seqs[1].items, vec![4, 5]);
        assert_eq!(parse_sequences(b"1 2\n3\n").unwrap_err().0, 2);
        assert_eq!(parse_sequences(b"1 x 2\n").unwrap_err().0, 1);
        assert_eq!(parse_sequences(b"1 99999999999\n").unwrap_err().0, 1);
        assert_eq!(parse_sequences(b"1 2\n\xff 3\n").unwrap_err().0, 2);
    }

    #[test]
    fn item_lists_parse_and_name_the_bad_line() {
        let items = parse_item_list(b"# new items\n7\n\n 3 \r\n12").unwrap();
        assert_eq!(items.into_iter().collect::<Vec<_>>(), vec![3, 7, 12]);
        assert_eq!(
            parse_item_list(b"7\n7\n").unwrap_err(),
            (2, "item 7 is listed twice".into())
        );
        assert_eq!(parse_item_list(b"7\n7 8\n").unwrap_err().0, 2);
        assert_eq!(parse_item_list(b"7\n-1\n").unwrap_err().0, 2);
        assert_eq!(parse_item_list(b"\xff\n").unwrap_err().0, 1);
        assert!(parse_item_list(b"# nothing\n\n").unwrap_err().1.contains("no item"));
        assert!(parse_item_list(b"").is_err());
    }

    #[test]
    fn without_items_keeps_the_held_out_part() {
        let seqs = parse_sequences(b"1 5 9 6 9 7\n2 9 9\n3 4\n").unwrap();
        let new: BTreeSet<u32> = [9].into();
        let forgotten = without_items(&seqs, 2, &new);
        assert_eq!(
            forgotten[0].items,
            vec![5, 6, 9, 7],
            "held-out 9 stays, earlier ones go"
        );
        assert_eq!(forgotten[1].items, vec![9, 9]);
        assert_eq!(forgotten[2].items, vec![4]);
        assert_eq!(
            forgotten[0].split(Split::Valid),
            seqs[0].split(Split::Valid).map(|(_, t)| (&[5, 6][..], t))
        );
        assert_eq!(without_items(&seqs, 0, &new)[0].items, vec![5, 6, 7]);
    }

    #[test]
    fn splits_hold_out_the_right_items() {
        let s = Sequence {
            user: 1,
            items: vec![4, 5, 6, 7],
        };
        assert_eq!(s.split(Split::Test), Some((&[4, 5, 6][..], 7)));
        assert_eq!(s.split(Split::Valid), Some((&[4, 5][..], 6)));
        assert_eq!(s.counted(2), &[4, 5]);
        assert_eq!(s.counted(9), &[] as &[u32]);
        let short = Sequence {
            user: 2,
            items: vec![4, 5],
        };
        assert_eq!(short.split(Split::Test), Some((&[4][..], 5)));
        assert_eq!(short.split(Split::Valid), None);
        assert_eq!(
            Sequence {
                user: 3,
                items: vec![4]
            }
            .split(Split::Test),
            None
        );
    }
}
