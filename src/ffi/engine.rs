//! `grlm_engine`: the model, optional adapter and catalogue that every session shares;
//! also grounding and catalogue lookups, which need no session.

use std::ffi::c_char;

use super::args::{try_ids, try_optional_str, try_out, try_params, try_ref, try_str};
use super::results::{grlm_results, GRLM_METHOD_LOOKUP};
use super::status::*;
use crate::engine::{Engine, EngineParams};
use crate::filter::ItemFilter;
use crate::llm::ModelParams;
use crate::tid::Tid;

/// What `grlm_engine_open` opens. Initialise with `grlm_engine_default_params()`, then set
/// the paths.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct grlm_engine_params {
    /// `sizeof(grlm_engine_params)`; set by `grlm_engine_default_params`.
    pub size: u32,
    /// Layers to offload to the GPU in GPU builds (ignored on CPU). Default 999: more than
    /// any model has, so all of them.
    pub gpu_layers: u32,
    /// The backbone GGUF (UTF-8 path). Required.
    pub model_path: *const c_char,
    /// The catalogue, built for this model's tokenizer (UTF-8 path). Required.
    pub catalog_path: *const c_char,
    /// A LoRA adapter GGUF for the backbone (UTF-8 path), or NULL for none.
    pub lora_path: *const c_char,
    /// The adapter's scale (1 = as trained); must be finite. Default 1.
    pub lora_scale: f32,
}

/// Facts about an engine's catalogue, as `grlm_engine_catalog_info` writes them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct grlm_catalog_info {
    /// Items.
    pub items: u64,
    /// Distinct TIDs (fewer than items when items share a TID).
    pub unique_tids: u64,
    /// Distinct terms.
    pub unique_terms: u64,
    /// Terms per TID.
    pub tid_len: u32,
    /// Format version of the file, major and minor.
    pub format_major: u32,
    /// See `format_major`.
    pub format_minor: u32,
    /// Nodes of the token trie that constrains decoding.
    pub trie_nodes: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// The catalogue's collaborative prior, as `grlm_engine_prior_info` writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct grlm_prior_info {
    /// 1 when the catalogue has a prior (`GRLM_MODE_PRIOR` and prior weights work), 0 when
    /// not (then every other field is 0).
    pub present: u32,
    /// The last this many items of every sequence were held out of the counts.
    pub holdout: u32,
    /// Users whose sequences were counted.
    pub users: u64,
    /// Distinct (item, next item) pairs stored.
    pub transitions: u64,
    /// Bytes of the prior in the catalogue file.
    pub bytes: u64,
}

/// A backbone model, optional LoRA adapter and catalogue, opened once and shared.
///
/// Thread safety: all functions taking a `const grlm_engine *` may be called from any
/// number of threads at once. Sessions keep what they need alive, so the engine may be
/// freed before its sessions (its memory is released with the last of them).
pub struct grlm_engine {
    pub(crate) engine: Engine,
}

/// Defaults: no adapter (scale 1), every layer on the GPU when there is one, NULL paths.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn grlm_engine_default_params() -> grlm_engine_params {
    let defaults = grlm_engine_params {
        size: std::mem::size_of::<grlm_engine_params>() as u32,
        gpu_layers: ModelParams::default().gpu_layers,
        model_path: std::ptr::null(),
        catalog_path: std::ptr::null(),
        lora_path: std::ptr::null(),
        lora_scale: 1.0,
    };
    guard_value(defaults, || defaults)
}

/// Opens the model, the adapter and the catalogue, checks that they fit together, and
/// writes the new engine to `*out`. Free it with `grlm_engine_free`. Thread-safe.
///
/// Errors: `NULL_ARGUMENT` (params, a required path, out), `STRUCT_SIZE`, `INVALID_UTF8`,
/// `INVALID_ARGUMENT` (non-finite scale), `IO` (a file is missing or unreadable),
/// `CATALOG_CORRUPT`, `CATALOG_VERSION`, `MODEL`, `ADAPTER`, `NO_TOKEN_TRIE`,
/// `TOKENIZER_MISMATCH`, `BACKEND`.
///
/// # Safety
/// `params` is NULL or a readable params struct whose strings are NULL or NUL-terminated;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_open(
    params: *const grlm_engine_params,
    out: *mut *mut grlm_engine,
) -> grlm_status {
    guard(|| {
        let p = try_params!(params);
        let out = try_out!(out);
        let model = try_str!(p.model_path, "params.model_path");
        let catalog = try_str!(p.catalog_path, "params.catalog_path");
        let lora = try_optional_str!(p.lora_path, "params.lora_path");
        let mut engine_params = EngineParams::new(model, catalog);
        engine_params.lora = lora.map(Into::into);
        engine_params.lora_scale = p.lora_scale;
        engine_params.gpu_layers = p.gpu_layers;
        let engine = Engine::open(&engine_params)?;
        let handle = Box::into_raw(Box::new(grlm_engine { engine }));
        out.write(handle);
        Ok(())
    })
}

/// Releases the caller's reference to an engine; sessions made from it keep working. NULL
/// is ignored; freeing twice is undefined behaviour.
///
/// # Safety
/// `engine` is NULL or an engine from `grlm_engine_open` not yet freed, and no other
/// thread is inside a call with it.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_free(engine: *mut grlm_engine) {
    // SAFETY: as this function's contract.
    unsafe { super::args::free_handle(engine) }
}

/// Writes facts about the engine's catalogue to `*out`. Thread-safe.
///
/// Errors: `NULL_ARGUMENT`.
///
/// # Safety
/// `engine` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_catalog_info(
    engine: *const grlm_engine,
    out: *mut grlm_catalog_info,
) -> grlm_status {
    guard(|| {
        let engine = try_ref!(engine);
        let out = try_out!(out);
        let info = engine.engine.catalog().info();
        let (major, minor) = info
            .format_version
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| {
                Error::new(
                    GRLM_STATUS_INTERNAL,
                    format!("format version {:?}", info.format_version),
                )
            })?;
        let value = grlm_catalog_info {
            items: info.items as u64,
            unique_tids: info.unique_tids as u64,
            unique_terms: info.unique_terms as u64,
            tid_len: info.tid_len as u32,
            format_major: major,
            format_minor: minor,
            trie_nodes: info.token_trie.map_or(0, |t| t.nodes as u64),
            bytes: info.bytes,
        };
        out.write(value);
        Ok(())
    })
}

/// Looks up `len` items by id and writes a list with each one's TID and title, in the
/// order given (method `GRLM_METHOD_LOOKUP`, score 0), to `*out`: for showing a history.
/// `items` may be NULL when `len` is 0. Thread-safe.
///
/// Errors: `NULL_ARGUMENT`, `INVALID_ARGUMENT` (len above 2^26), `UNKNOWN_ITEM` (nothing
/// is written; the message names the item).
///
/// # Safety
/// `engine` is NULL or live; `items` is NULL or points to `len` ids; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_items(
    engine: *const grlm_engine,
    items: *const u32,
    len: usize,
    out: *mut *mut grlm_results,
) -> grlm_status {
    guard(|| {
        let engine = try_ref!(engine);
        let items = try_ids!(items, len);
        let out = try_out!(out);
        let list = grlm_results::from_items(
            engine.engine.catalog(),
            items.iter().map(|&item| (item, GRLM_METHOD_LOOKUP, 0.0)),
        )?;
        out.write(Box::into_raw(Box::new(list)));
        Ok(())
    })
}

/// Grounds a TID text — exact or not, as a model or a person might write it
/// (`"[hair mask, colour-lock, ...]"`) — to at most `k` catalogue items, best first, and
/// writes the list (methods `DIRECT` / `STRUCTURAL`) to `*out`. No model is run. A `k`
/// above the catalogue's size returns every match. Thread-safe.
///
/// Errors: `NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_ARGUMENT` (k = 0), `INVALID_TID`.
///
/// # Safety
/// `engine` is NULL or live; `tid` is NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_ground(
    engine: *const grlm_engine,
    tid: *const c_char,
    k: u32,
    out: *mut *mut grlm_results,
) -> grlm_status {
    guard(|| {
        let engine = try_ref!(engine);
        let text = try_str!(tid, "tid");
        let out = try_out!(out);
        if k == 0 {
            return Err(Error::new(GRLM_STATUS_INVALID_ARGUMENT, "k must be at least 1"));
        }
        let query = Tid::parse(text, None).map_err(|e| Error::new(GRLM_STATUS_INVALID_TID, e.to_string()))?;
        let catalog = engine.engine.catalog();
        let hits = catalog.ground(&query, k as usize, &ItemFilter::none())?;
        let list = grlm_results::from_grounded(catalog, &hits)?;
        out.write(Box::into_raw(Box::new(list)));
        Ok(())
    })
}

/// Writes whether the engine's catalogue has a collaborative prior, and what it counted,
/// to `*out`. Thread-safe.
///
/// Errors: `NULL_ARGUMENT`.
///
/// # Safety
/// `engine` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_prior_info(engine: *const grlm_engine, out: *mut grlm_prior_info) -> grlm_status {
    guard(|| {
        let engine = try_ref!(engine);
        let out = try_out!(out);
        let info = engine
            .engine
            .catalog()
            .info()
            .prior
            .map_or_else(grlm_prior_info::default, |p| grlm_prior_info {
                present: 1,
                holdout: p.holdout,
                users: p.users,
                transitions: p.transitions,
                bytes: p.bytes,
            });
        out.write(info);
        Ok(())
    })
}

/// Writes to `*out` the name of the CPU kernels the engine runs on: in a build with
/// run-time CPU variants, the one chosen for this CPU at start-up (llama.cpp's names:
/// `"haswell"`, `"skylakex"`, `"zen4"`, `"sapphirerapids"`, …; `GRLM_CPU_VARIANT` pins
/// one), else `"built-in"`. The string is static, valid for the life of the process.
/// Thread-safe.
///
/// Errors: `NULL_ARGUMENT`.
///
/// # Safety
/// `engine` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_engine_cpu_variant(engine: *const grlm_engine, out: *mut *const c_char) -> grlm_status {
    static NAME: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    guard(|| {
        try_ref!(engine);
        let out = try_out!(out);
        // An open engine means the backend started, so the variant is known.
        let name = crate::llm::cpu_variant()?;
        let name = NAME.get_or_init(|| std::ffi::CString::new(name).unwrap_or_default());
        out.write(name.as_ptr());
        Ok(())
    })
}
