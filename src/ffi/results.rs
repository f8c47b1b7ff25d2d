//! `grlm_results`: what a recommendation, a grounding or a lookup returns. The list owns
//! its strings, so it outlives the session and engine that made it.

use std::ffi::{c_char, CString};

use super::args::{try_out, try_ref};
use super::status::*;
use crate::catalog::Catalog;
use crate::engine::Response;
use crate::ground::{Grounded, Method};

/// How a result was found: one of the `GRLM_METHOD_*` values (a plain integer type, like
/// `grlm_status`).
pub type grlm_method = u32;
/// Recommended by the model (`grlm_recommend`).
pub const GRLM_METHOD_RECOMMENDED: grlm_method = 0;
/// Grounding: the query is exactly this item's TID.
pub const GRLM_METHOD_DIRECT: grlm_method = 1;
/// Grounding: the item's TID shares (possibly fuzzy) terms with the query.
pub const GRLM_METHOD_STRUCTURAL: grlm_method = 2;
/// Looked up by id (`grlm_engine_items`).
pub const GRLM_METHOD_LOOKUP: grlm_method = 3;

/// One item of a `grlm_results` list, as `grlm_results_get` writes it.
///
/// The strings belong to the list: valid until `grlm_results_free`, UTF-8, never NULL
/// except `title`, which is NULL when the catalogue has no title for the item.
#[repr(C)]
pub struct grlm_result {
    /// The item's id in the catalogue.
    pub item: u32,
    /// How it was found.
    pub method: grlm_method,
    /// Recommendations: the log-probability of the item's TID (higher is better; items
    /// sharing a TID share it). Grounding: 1 for a direct match, [0, 1) for a structural
    /// one. Lookups: 0.
    pub score: f64,
    /// The item's TID, `"[term, term, ...]"`.
    pub tid: *const c_char,
    /// The item's title, or NULL.
    pub title: *const c_char,
}

/// One free-mode beam before grounding, as `grlm_results_generated_get` writes it.
#[repr(C)]
pub struct grlm_generated {
    /// What the model wrote, owned by the list, never NULL. Byte sequences the model wrote
    /// that are not UTF-8 appear as U+FFFD; a beam that wrote nothing is "".
    pub text: *const c_char,
    /// Its log-probability.
    pub score: f64,
    /// 1 when it parses as a TID of the catalogue's length, else 0.
    pub valid: u32,
    /// 1 when it names a catalogue TID exactly, else 0.
    pub direct: u32,
}

/// What a recommendation cost, as `grlm_results_stats` writes it (all 0 for grounding and
/// lookups).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct grlm_stats {
    /// Prompt tokens evaluated: what differs from the session's cached prompt, and at
    /// least the last token, whose logits start the search.
    pub prompt_tokens: u64,
    /// Prompt tokens reused from the session's cache.
    pub cached_tokens: u64,
    /// Tokens evaluated by the beam search.
    pub evaluated_tokens: u64,
    /// Beam search steps (one llama.cpp call each).
    pub steps: u32,
    /// Milliseconds inside llama.cpp decode calls.
    pub decode_ms: f64,
    /// Milliseconds for the whole request.
    pub total_ms: f64,
}

struct Entry {
    item: u32,
    method: grlm_method,
    score: f64,
    tid: CString,
    title: Option<CString>,
}

struct GeneratedEntry {
    text: CString,
    score: f64,
    valid: bool,
    direct: bool,
}

/// A list of results, best first. Made by `grlm_recommend`, `grlm_ground` and
/// `grlm_engine_items`; released with `grlm_results_free`. Independent of the engine and
/// session that made it.
///
/// Thread safety: immutable; any number of threads may read one list at once. Free it
/// once, after every reader is done.
pub struct grlm_results {
    entries: Vec<Entry>,
    generated: Vec<GeneratedEntry>,
    stats: grlm_stats,
}

impl grlm_results {
    pub(crate) fn from_response(response: Response) -> Self {
        let entries = response
            .results
            .into_iter()
            .map(|r| Entry {
                item: r.item,
                method: GRLM_METHOD_RECOMMENDED,
                score: r.score,
                tid: c_string(&r.tid.to_string()),
                title: r.title.as_deref().map(c_string),
            })
            .collect();
        let generated = response
            .generated
            .into_iter()
            .map(|g| GeneratedEntry {
                text: c_string(&g.text),
                score: g.score,
                valid: g.valid,
                direct: g.direct,
            })
            .collect();
        let s = response.stats;
        grlm_results {
            entries,
            generated,
            stats: grlm_stats {
                prompt_tokens: s.prompt_tokens,
                cached_tokens: s.cached_tokens,
                evaluated_tokens: s.evaluated,
                steps: s.steps,
                decode_ms: s.decode_time.as_secs_f64() * 1e3,
                total_ms: s.total_time.as_secs_f64() * 1e3,
            },
        }
    }

    /// Catalogue items with their TIDs and titles (grounding hits or a lookup).
    pub(crate) fn from_items(
        catalog: &Catalog,
        items: impl IntoIterator<Item = (u32, grlm_method, f64)>,
    ) -> Result<Self, Error> {
        let mut entries = Vec::new();
        for (item, method, score) in items {
            let tid = catalog
                .tid_of(item)?
                .ok_or_else(|| Error::new(GRLM_STATUS_UNKNOWN_ITEM, format!("item {item} is not in the catalogue")))?;
            entries.push(Entry {
                item,
                method,
                score,
                tid: c_string(&tid.to_string()),
                title: catalog.title_of(item)?.map(c_string),
            });
        }
        Ok(grlm_results {
            entries,
            generated: Vec::new(),
            stats: grlm_stats::default(),
        })
    }

    pub(crate) fn from_grounded(catalog: &Catalog, hits: &[Grounded]) -> Result<Self, Error> {
        Self::from_items(
            catalog,
            hits.iter().map(|h| {
                let method = match h.method {
                    Method::Direct => GRLM_METHOD_DIRECT,
                    Method::Structural => GRLM_METHOD_STRUCTURAL,
                };
                (h.item, method, f64::from(h.score))
            }),
        )
    }
}

fn index_error(what: &str, index: usize, len: usize) -> Error {
    Error::new(
        GRLM_STATUS_INDEX_OUT_OF_RANGE,
        format!("{what} index {index} is past the end of a list of {len}"),
    )
}

/// Number of results in `results`; 0 for NULL. Thread-safe.
///
/// # Safety
/// `results` is NULL or a live list from this library.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_len(results: *const grlm_results) -> usize {
    // SAFETY: NULL or live (caller).
    guard_value(0, || unsafe { results.as_ref() }.map_or(0, |r| r.entries.len()))
}

/// Writes result `index` (0 = best) to `*out`. Its strings stay valid until the list is
/// freed. Thread-safe.
///
/// Errors: `GRLM_STATUS_NULL_ARGUMENT`, `GRLM_STATUS_INDEX_OUT_OF_RANGE`.
///
/// # Safety
/// `results` is NULL or a live list; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_get(
    results: *const grlm_results,
    index: usize,
    out: *mut grlm_result,
) -> grlm_status {
    guard(|| {
        let results = try_ref!(results);
        let out = try_out!(out);
        let e = results
            .entries
            .get(index)
            .ok_or_else(|| index_error("result", index, results.entries.len()))?;
        let value = grlm_result {
            item: e.item,
            method: e.method,
            score: e.score,
            tid: e.tid.as_ptr(),
            title: e.title.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
        };
        out.write(value);
        Ok(())
    })
}

/// Number of free-mode beams in `results` (0 for constrained recommendations, grounding,
/// lookups and NULL). Thread-safe.
///
/// # Safety
/// `results` is NULL or a live list from this library.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_generated_len(results: *const grlm_results) -> usize {
    // SAFETY: NULL or live (caller).
    guard_value(0, || unsafe { results.as_ref() }.map_or(0, |r| r.generated.len()))
}

/// Writes free-mode beam `index` (0 = most probable) to `*out`. Its text stays valid until
/// the list is freed. Thread-safe.
///
/// Errors: `GRLM_STATUS_NULL_ARGUMENT`, `GRLM_STATUS_INDEX_OUT_OF_RANGE`.
///
/// # Safety
/// `results` is NULL or a live list; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_generated_get(
    results: *const grlm_results,
    index: usize,
    out: *mut grlm_generated,
) -> grlm_status {
    guard(|| {
        let results = try_ref!(results);
        let out = try_out!(out);
        let g = results
            .generated
            .get(index)
            .ok_or_else(|| index_error("generated", index, results.generated.len()))?;
        let value = grlm_generated {
            text: g.text.as_ptr(),
            score: g.score,
            valid: u32::from(g.valid),
            direct: u32::from(g.direct),
        };
        out.write(value);
        Ok(())
    })
}

/// Writes what the request cost to `*out`. Thread-safe.
///
/// Errors: `GRLM_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `results` is NULL or a live list; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_stats(results: *const grlm_results, out: *mut grlm_stats) -> grlm_status {
    guard(|| {
        let results = try_ref!(results);
        let out = try_out!(out);
        out.write(results.stats);
        Ok(())
    })
}

/// Frees a list and its strings. NULL is ignored; freeing twice is undefined behaviour.
///
/// # Safety
/// `results` is NULL or a list from this library not yet freed, and no thread uses it.
#[no_mangle]
pub unsafe extern "C" fn grlm_results_free(results: *mut grlm_results) {
    // SAFETY: as this function's contract.
    unsafe { super::args::free_handle(results) }
}
