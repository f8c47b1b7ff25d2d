//! Reading the inputs of `sft`. Items and TIDs go through the engine's readers
//! ([`grlm::catalog::input`]), so an item reads here as it does in the catalogue and in term
//! generation, and sequences through the engine's parser
//! ([`grlm::sequences::parse_sequences`]); the neighbours file has no reader in the engine.
//!
//! Consistency is checked across files: an item listed twice is an error, and so is a
//! sequence or neighbours item without a TID (it could not be written in a prompt; a
//! silent skip would shift every later target of that user).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;

use grlm::catalog::input::{InputError, ItemRecord};
use grlm::tid::Tid;

use super::{SftArgs, SftError};

/// An item's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ItemMeta {
    pub title: Option<String>,
    pub categories: Vec<Vec<String>>,
    pub brand: Option<String>,
}

/// One user's items, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserSequence {
    pub user: u32,
    pub items: Vec<u32>,
}

/// One anchor's neighbours, closest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Neighbors {
    pub anchor: u32,
    pub neighbors: Vec<u32>,
}

/// Everything `build` needs, in file order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Data {
    /// Items of the items file, in file order.
    pub items: Vec<(u32, ItemMeta)>,
    /// Items with a TID, in TIDs-file order.
    pub tids: Vec<(u32, Tid)>,
    pub sequences: Vec<UserSequence>,
    pub neighbors: Vec<Neighbors>,
    /// `--new-items` (empty without it).
    pub new_items: BTreeSet<u32>,
}

pub(crate) fn read_all(args: &SftArgs) -> Result<Data, SftError> {
    let items = read_items(&args.items)?;
    let records = grlm::catalog::input::read_tids(&args.tids, None)?;
    let mut first_line = HashMap::with_capacity(records.len());
    let mut tids = Vec::with_capacity(records.len());
    for record in records {
        if let Some(first) = first_line.insert(record.item, record.line) {
            return Err(SftError::Line {
                path: args.tids.clone(),
                line: record.line,
                reason: format!("item {} already has a TID on line {first}", record.item),
            });
        }
        tids.push((record.item, record.tid));
    }
    let known = |item: &u32| first_line.contains_key(item);
    let sequences = read_sequences(&args.sequences)?;
    for (line, sequence) in &sequences {
        if let Some(item) = sequence.items.iter().find(|i| !known(i)) {
            return Err(unknown(&args.sequences, *line, &args.tids, *item));
        }
    }
    let mut neighbors = Vec::new();
    if let Some(path) = &args.neighbors {
        for (line, row) in read_neighbors(path)? {
            if let Some(item) = std::iter::once(&row.anchor).chain(&row.neighbors).find(|i| !known(i)) {
                return Err(unknown(path, line, &args.tids, *item));
            }
            neighbors.push(row);
        }
    }
    let mut new_items = BTreeSet::new();
    if let Some(path) = &args.new_items {
        new_items = grlm::sequences::read_item_list(path).map_err(|e| match e {
            grlm::sequences::SequenceError::Io { path, source } => SftError::Read { path, source },
            grlm::sequences::SequenceError::Parse { path, line, reason } => SftError::Line {
                path,
                line: line as u64,
                reason,
            },
        })?;
        let refuse = |reason: String| SftError::Read {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        };
        if let Some(item) = new_items.iter().find(|i| !known(i)) {
            return Err(refuse(format!("new item {item} has no TID in {}", args.tids.display())));
        }
        if new_items.len() == tids.len() {
            return Err(refuse(format!(
                "every item with a TID in {} is new, so no example could teach anything",
                args.tids.display()
            )));
        }
    }
    Ok(Data {
        items,
        tids,
        sequences: sequences.into_iter().map(|(_, s)| s).collect(),
        neighbors,
        new_items,
    })
}

fn unknown(path: &Path, line: u64, tids: &Path, item: u32) -> SftError {
    SftError::Line {
        path: path.to_owned(),
        line,
        reason: format!("item {item} has no TID in {}", tids.display()),
    }
}

/// Reads the items file with the one items reader; an item listed twice is an error.
pub(crate) fn read_items(path: &Path) -> Result<Vec<(u32, ItemMeta)>, SftError> {
    let records = grlm::catalog::input::read_items(path)?;
    Ok(records.into_iter().map(ItemMeta::from_record).collect())
}

impl ItemMeta {
    /// The metadata an example shows of a record of the items file.
    pub(crate) fn from_record(record: ItemRecord) -> (u32, ItemMeta) {
        let meta = ItemMeta {
            title: record.title,
            categories: record.categories,
            brand: record.brand,
        };
        (record.item, meta)
    }
}

/// Reads a sequences file with the engine's parser, keeping each sequence's line number
/// for later errors; a user listed twice is an error (the split is per user).
pub(crate) fn read_sequences(path: &Path) -> Result<Vec<(u64, UserSequence)>, SftError> {
    let bytes = std::fs::read(path).map_err(|source| SftError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_sequences(&bytes, path)
}

pub(crate) fn parse_sequences(bytes: &[u8], path: &Path) -> Result<Vec<(u64, UserSequence)>, SftError> {
    let line_err = |line: u64, reason: String| SftError::Line {
        path: path.to_owned(),
        line,
        reason,
    };
    let sequences = grlm::sequences::parse_sequences(bytes).map_err(|(line, reason)| line_err(line as u64, reason))?;
    // The parser skips exactly the lines without a field; it succeeded, so all are UTF-8.
    let lines = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, raw)| raw.split(|b| b.is_ascii_whitespace()).any(|f| !f.is_empty()))
        .map(|(i, _)| i as u64 + 1);
    let mut first_line = HashMap::with_capacity(sequences.len());
    let mut out = Vec::with_capacity(sequences.len());
    for (sequence, line) in sequences.into_iter().zip(lines) {
        if let Some(first) = first_line.insert(sequence.user, line) {
            return Err(line_err(
                line,
                format!("user {} is already listed on line {first}", sequence.user),
            ));
        }
        out.push((
            line,
            UserSequence {
                user: sequence.user,
                items: sequence.items,
            },
        ));
    }
    Ok(out)
}

/// Reads a neighbours file: whitespace-separated ids, the anchor first, after an optional
/// header line whose first field is `anchor`. An anchor listed twice is an error.
pub(crate) fn read_neighbors(path: &Path) -> Result<Vec<(u64, Neighbors)>, SftError> {
    let file = std::fs::File::open(path).map_err(|source| SftError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_neighbors(BufReader::new(file), path)
}

pub(crate) fn parse_neighbors(reader: impl BufRead, path: &Path) -> Result<Vec<(u64, Neighbors)>, SftError> {
    let mut out = Vec::new();
    let mut first_line = HashMap::new();
    let mut seen_data = false;
    for_each_line(reader, path, |line, text| {
        let mut fields = text.split_ascii_whitespace();
        let first = fields.next().unwrap_or_default();
        if !seen_data && first.eq_ignore_ascii_case("anchor") {
            return Ok(());
        }
        seen_data = true;
        let id = |f: &str| {
            f.parse::<u32>()
                .map_err(|_| format!("{f:?} is not an unsigned 32-bit item id"))
        };
        let anchor = id(first)?;
        let neighbors = fields.map(id).collect::<Result<Vec<_>, _>>()?;
        if let Some(first) = first_line.insert(anchor, line) {
            return Err(format!("anchor {anchor} is already listed on line {first}"));
        }
        out.push((line, Neighbors { anchor, neighbors }));
        Ok(())
    })?;
    Ok(out)
}

/// The engine's bounded line reader ([`grlm::catalog::input::for_each_line`]), with its
/// errors as [`SftError`]s.
fn for_each_line(
    reader: impl BufRead,
    path: &Path,
    f: impl FnMut(u64, &str) -> Result<(), String>,
) -> Result<(), SftError> {
    grlm::catalog::input::for_each_line(reader, path, f).map_err(|e| match e {
        InputError::Io { path, source } => SftError::Read { path, source },
        InputError::Line { path, line, reason } => SftError::Line { path, line, reason },
    })
}
