//! What an item is embedded from: its text, read from `items.jsonl` by the one items reader.

use std::path::Path;

use grlm::catalog::input::ItemRecord;

use super::NeighborsError;

/// One item read from the input.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemText {
    /// External item id.
    pub item: u32,
    /// The text it is embedded from.
    pub text: String,
}

/// What [`read_items`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadItems {
    /// Items with text, in file order.
    pub items: Vec<ItemText>,
    /// (line, item id) of each item without text.
    pub skipped: Vec<(u64, u32)>,
}

/// The text an item is embedded from, or `None` when it has none: whichever of its title,
/// brand (as `Brand: …`), categories (paths joined by `; `, names by ` > `, a repeated path
/// once) and description it has, in that order, joined by `. `.
pub fn item_text(item: &ItemRecord) -> Option<String> {
    let mut parts: Vec<String> = item.title.iter().cloned().collect();
    if let Some(brand) = &item.brand {
        parts.push(format!("Brand: {brand}"));
    }
    let mut paths: Vec<String> = Vec::with_capacity(item.categories.len());
    for path in item.categories.iter().map(|names| names.join(" > ")) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    if !paths.is_empty() {
        parts.push(format!("Categories: {}", paths.join("; ")));
    }
    parts.extend(item.description.iter().cloned());
    (!parts.is_empty()).then(|| parts.join(". "))
}

/// Reads `path` with the one items reader ([`grlm::catalog::input::read_items`]), keeping
/// the first `limit` items (with or without text).
pub fn read_items(path: &Path, limit: Option<usize>) -> Result<ReadItems, NeighborsError> {
    let mut records = grlm::catalog::input::read_items(path)?;
    records.truncate(limit.unwrap_or(usize::MAX));
    let mut read = ReadItems::default();
    for record in &records {
        match item_text(record) {
            Some(text) => read.items.push(ItemText {
                item: record.item,
                text,
            }),
            None => read.skipped.push((record.line, record.item)),
        }
    }
    Ok(read)
}
