//! What an item is embedded from, and its exact nearest neighbours by cosine.
//!
//! # Scale
//!
//! [`top_k`] is exact and quadratic: every item is scored against every other, n²·d
//! multiply-adds, done as blocked matrix products (candle's CPU gemm) followed by a
//! linear-time selection per row. Measured with d = 384 on the 2-core development machine
//! (shared with other work, so one or two threads timed alike): 2,000 items take 0.1 s and
//! all 12,101 Beauty items 2.6–2.9 s, nearly all of it in the gemm. Extrapolated (×68),
//! 100,000 items take about 3 minutes — still fine for a one-off run — and a million about
//! 5 hours, which is not. Beyond about 100k items the plan is an approximate index (HNSW
//! over the same unit vectors, its recall checked against this exact search on a sample),
//! or sharding the catalogue by top-level category and searching within a shard. Memory
//! is linear: the vectors twice (row- and column-major) plus one block of scores, capped
//! at [`BLOCK_SCORES`] floats.

use std::cmp::Ordering;

use candle_core::{Device, Tensor};
use serde_json::Value;

use super::TermsError;

/// Most scores held at once: a block of rows times all items (64 MiB of f32).
pub const BLOCK_SCORES: usize = 16 << 20;

/// The text an item is embedded from, or `None` when it has none.
///
/// Built from whichever fields the item has, in this order: `title`; `brand` (as
/// `Brand: …`); `categories` (a list of category paths, each a list of names, or a flat
/// list of names; paths joined by `; `, names by ` > `, repeated paths dropped);
/// `description` (a string or a list of strings). Fields that are absent, null, empty or
/// of another type are ignored. HTML entities, which Amazon metadata carries
/// (`&amp;`, `&#39;`, `&reg;`…), are decoded ([`decode_entities`]).
pub fn item_text(item: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(title) = text_field(item.get("title")) {
        parts.push(title);
    }
    if let Some(brand) = text_field(item.get("brand")) {
        parts.push(format!("Brand: {brand}"));
    }
    if let Some(categories) = categories(item.get("categories")) {
        parts.push(format!("Categories: {categories}"));
    }
    let description = match item.get("description") {
        Some(Value::Array(lines)) => {
            let lines: Vec<String> = lines.iter().filter_map(|l| text_field(Some(l))).collect();
            (!lines.is_empty()).then(|| lines.join(" "))
        }
        other => text_field(other),
    };
    parts.extend(description);
    (!parts.is_empty()).then(|| parts.join(". "))
}

/// A non-empty string value, entities decoded, whitespace trimmed.
fn text_field(value: Option<&Value>) -> Option<String> {
    let text = decode_entities(value?.as_str()?.trim());
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn categories(value: Option<&Value>) -> Option<String> {
    let paths: Vec<String> = match value? {
        Value::Array(entries) => entries
            .iter()
            .filter_map(|entry| match entry {
                Value::Array(names) => {
                    let names: Vec<String> = names.iter().filter_map(|n| text_field(Some(n))).collect();
                    (!names.is_empty()).then(|| names.join(" > "))
                }
                other => text_field(Some(other)),
            })
            .collect(),
        _ => return None,
    };
    let mut unique: Vec<String> = Vec::with_capacity(paths.len());
    for p in paths {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    (!unique.is_empty()).then(|| unique.join("; "))
}

/// Decodes the HTML entities found in product metadata: the XML five, numeric references
/// (`&#39;`, `&#x27;`; code points 128–159 read as Windows-1252, as legacy pages meant
/// them) and a handful of named ones (`&reg;`, `&trade;`, accented letters…). Anything
/// else, including a malformed or unknown entity, is kept as written.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entity names are short; a `;` further away is not the end of one.
        let decoded = rest.as_bytes()[1..]
            .iter()
            .take(11)
            .position(|&b| b == b';')
            .and_then(|semi| decode_entity(&rest[1..1 + semi]).map(|c| (c, semi + 2)));
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return Some(windows_1252(code).unwrap_or(char::from_u32(code)?));
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "reg" => '®',
        "trade" => '™',
        "copy" => '©',
        "deg" => '°',
        "bull" => '•',
        "hearts" => '♥',
        "ordm" => 'º',
        "frac12" => '½',
        "frac14" => '¼',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "ccedil" => 'ç',
        "ntilde" => 'ñ',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        _ => return None,
    })
}

/// The characters Windows-1252 puts at 128–159, where Unicode has control codes.
fn windows_1252(code: u32) -> Option<char> {
    Some(match code {
        0x80 => '€',
        0x85 => '…',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        0x99 => '™',
        _ => return None,
    })
}

/// For each vector, the `k` others with the highest dot product (the cosine, for unit
/// vectors), best first, as `(index, score)`. Exact; an item is never its own neighbour;
/// equal scores go to the lower index; with `k ≥ n` every other item is listed. A NaN
/// score ranks last. Every vector must have the same length.
pub fn top_k(embeddings: &[Vec<f32>], k: usize) -> Result<Vec<Vec<(u32, f32)>>, TermsError> {
    top_k_blocked(embeddings, k, BLOCK_SCORES)
}

/// [`top_k`] holding at most `block_scores` scores at once (at least one row); tests use
/// tiny blocks to cross block boundaries.
pub(crate) fn top_k_blocked(
    embeddings: &[Vec<f32>],
    k: usize,
    block_scores: usize,
) -> Result<Vec<Vec<(u32, f32)>>, TermsError> {
    let n = embeddings.len();
    let keep = k.min(n.saturating_sub(1));
    if keep == 0 {
        return Ok(vec![Vec::new(); n]);
    }
    let dim = embeddings[0].len();
    if let Some((i, v)) = embeddings.iter().enumerate().find(|(_, v)| v.len() != dim) {
        return Err(TermsError::Dimension {
            actual: v.len(),
            expected: dim,
            context: format!("vector {i} given to top_k, whose first vector has {dim} components"),
        });
    }
    if u32::try_from(n).is_err() {
        return Err(TermsError::Dimension {
            actual: n,
            expected: u32::MAX as usize,
            context: "top_k indexes items with u32".into(),
        });
    }
    let flat: Vec<f32> = embeddings.iter().flatten().copied().collect();
    let rows = Tensor::from_vec(flat, (n, dim), &Device::Cpu)?;
    let columns = rows.t()?.contiguous()?;
    let block = (block_scores / n).clamp(1, n);
    let mut out = Vec::with_capacity(n);
    let mut candidates: Vec<(u32, f32)> = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = block.min(n - start);
        let scores = rows
            .narrow(0, start, len)?
            .matmul(&columns)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for (r, row) in scores.chunks_exact(n).enumerate() {
            let me = start + r;
            candidates.clear();
            // `+ 0.0` turns -0.0 into 0.0 so that the sign of a zero never breaks a tie.
            candidates.extend(
                row.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != me)
                    .map(|(j, &s)| (j as u32, s + 0.0)),
            );
            out.push(best(&mut candidates, keep));
        }
        start += len;
    }
    Ok(out)
}

/// Best first; equal scores by lower index; NaN below everything.
fn rank(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0))
}

/// The `keep` best candidates, sorted; linear time plus `keep·log keep`.
fn best(candidates: &mut [(u32, f32)], keep: usize) -> Vec<(u32, f32)> {
    if keep < candidates.len() {
        candidates.select_nth_unstable_by(keep - 1, rank);
    }
    let keep = keep.min(candidates.len());
    let top = &mut candidates[..keep];
    top.sort_unstable_by(rank);
    top.to_vec()
}
