//! `grlm_session`: one user's (or one thread's) KV cache and history, and `grlm_recommend`.

use std::sync::{Mutex, MutexGuard, TryLockError};

use super::args::{self, try_ids, try_out, try_params, try_ref, try_versioned_params};
use super::engine::grlm_engine;
use super::results::grlm_results;
use super::status::*;
use crate::engine::{Engine, Mode, RecommendParams, Session, SessionParams};
use crate::filter::ItemFilter;
use crate::prior::{Fusion, PriorParams};

/// How a recommendation's beams become items: one of the `GRLM_MODE_*` values. A plain
/// integer rather than an enum so that a stray value is refused, never undefined.
pub type grlm_mode = u32;
/// Beam search inside the catalogue's token trie: every result is a real, eligible item.
pub const GRLM_MODE_CONSTRAINED: grlm_mode = 0;
/// Unconstrained beams, then grounding of what the model wrote (the paper's setting).
pub const GRLM_MODE_FREE: grlm_mode = 1;
/// The catalogue's collaborative prior alone ranks the eligible items; the model is not
/// run. Needs a catalogue with a prior.
pub const GRLM_MODE_PRIOR: grlm_mode = 2;

/// `prior_weight` value meaning: the catalogue's prior at the library's default weight when
/// it has one, none when it has not.
pub const GRLM_PRIOR_WEIGHT_AUTO: f64 = -1.0;

/// How constrained decoding combines the model with the prior: one of the `GRLM_FUSION_*`
/// values.
pub type grlm_fusion = u32;
/// A product of experts, `s_LLM + λ · ln P`: the counts rank, the model reorders what they
/// find about equally likely.
pub const GRLM_FUSION_PRODUCT: grlm_fusion = 0;
/// A mixture, `ln((1 − β) · P + β · P_LLM)` with β = `prior_model_share`: an item the counts
/// know nothing of (a new one) can still rank where the model is confident. `prior_weight`
/// only switches the prior on (0: the model alone).
pub const GRLM_FUSION_MIXTURE: grlm_fusion = 1;

/// `beams` value meaning: the library's width for the request, 10 for a constrained search
/// fused with the prior and 20 otherwise, never below `k` in constrained mode.
pub const GRLM_BEAMS_AUTO: u32 = 0;

/// `prior_cold_slots` value meaning: the library's number for the request, one place in ten
/// of a fused list (none when `k` is below 10).
pub const GRLM_COLD_SLOTS_AUTO: u32 = u32::MAX;

/// How a session is set up. Initialise with `grlm_session_default_params()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct grlm_session_params {
    /// `sizeof(grlm_session_params)`; set by `grlm_session_default_params`.
    pub size: u32,
    /// CPU threads for llama.cpp, 1..=256. Default: the machine's available parallelism.
    pub threads: u32,
    /// KV cache cells: the prompt plus room for every beam; 64 up to the model's trained
    /// context. Default 2048.
    pub n_ctx: u32,
    /// Most beams a request may ask for, 1..=255. Default 32.
    pub max_beams: u32,
    /// 1 to show item titles after the TIDs in the prompt (must match the model's
    /// training), 0 not to. Default 0.
    pub titles: u32,
}

/// One request. Initialise with `grlm_recommend_default_params()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct grlm_recommend_params {
    /// `sizeof(grlm_recommend_params)`; set by `grlm_recommend_default_params`.
    pub size: u32,
    /// Items to return, at least 1 and at most the catalogue's size (fewer come back when
    /// fewer are eligible). Default 10.
    pub k: u32,
    /// Beam width, 1..=the session's `max_beams`; at least `k` in constrained mode.
    /// `GRLM_BEAMS_AUTO` (0, default) for the library's width for the request.
    pub beams: u32,
    /// `GRLM_MODE_CONSTRAINED` (default), `GRLM_MODE_FREE` or `GRLM_MODE_PRIOR`.
    pub mode: grlm_mode,
    /// 1 (default) to leave the history's items out of the results, 0 to allow them.
    pub exclude_history: u32,
    /// Only the last `max_history` history items are shown to the model; all are still
    /// excluded. Default 20, as in the paper.
    pub max_history: u32,
    /// Free mode: most tokens a beam may generate. Default 48.
    pub max_tokens: u32,
    /// Items never to return (ids not in the catalogue are ignored). May be NULL when
    /// `exclude_len` is 0 (then it is not read).
    pub exclude: *const u32,
    /// Length of `exclude`.
    pub exclude_len: usize,
    /// 1: results come only from the `allow_len` items at `allow` (none when `allow_len`
    /// is 0). 0 (default): every item is allowed and `allow` is not read. A flag of its own,
    /// so that an empty list from a binding (often a NULL pointer) cannot silently mean
    /// "everything".
    pub use_allow: u32,
    /// The allow-list; may be NULL when `allow_len` is 0.
    pub allow: *const u32,
    /// Length of `allow`.
    pub allow_len: usize,
    // Appended after the first version: a caller built against a header without them
    // passes the shorter struct (its `size` says so) and they take their defaults.
    /// λ, the weight of the collaborative prior in constrained decoding:
    /// `GRLM_PRIOR_WEIGHT_AUTO` (-1, default) for the library's default weight when the
    /// catalogue has a prior and none when it has not; 0 for the model alone; a positive
    /// weight needs a prior (`GRLM_STATUS_NO_PRIOR`). Other negative values, NaN and
    /// infinities are refused.
    pub prior_weight: f64,
    /// History items the prior looks back over, at least 1. Default 5.
    pub prior_window: u32,
    /// Weight of each step further back, in (0, 1]. Default 0.5.
    pub prior_decay: f64,
    /// Share of popularity in the prior, in [0, 1]. Default 0.01.
    pub prior_smoothing: f64,
    // Appended in the third version.
    /// κ, finite and >= 0: the prior's weight becomes `λ · ΣT / (ΣT + κ)`, where `ΣT` is
    /// the history window's transition mass, so a history the counts know little about is
    /// left mostly to the model. Default 0: the weight is `λ` whatever the evidence.
    pub prior_evidence: f64,
    // Appended in the fourth version.
    /// `GRLM_FUSION_PRODUCT` (default) or `GRLM_FUSION_MIXTURE`.
    pub prior_fusion: grlm_fusion,
    /// β, the model's share of the mixture, in [0, 1]. Default 0.5.
    pub prior_model_share: f64,
    // Appended in the fifth version.
    /// Cold slots, at most `k`: the last places of a fused list go to the best eligible
    /// items that the prior's counts never saw (a new item), which the model orders, unless
    /// the list already holds them higher up; the list stays in score order. Used only
    /// where the model and the prior are fused. `GRLM_COLD_SLOTS_AUTO` (default): one
    /// place in ten (none when `k` is below 10); 0: none.
    pub prior_cold_slots: u32,
    // Appended in the sixth version.
    /// m, in nats: a cold item takes its slot only where the model's log-probability of its
    /// TID is at least m above that of the item it would push out, so the counts keep a
    /// place the model is not surer of; `-INFINITY`: the slots always open. NaN is refused.
    /// Default: the library's margin, chosen on Beauty's validation split.
    pub prior_cold_margin: f64,
}

/// The first version of `grlm_recommend_params`, as callers built against it still pass
/// it; only its size is used.
#[repr(C)]
#[allow(dead_code)]
struct RecommendParamsV1 {
    size: u32,
    k: u32,
    beams: u32,
    mode: grlm_mode,
    exclude_history: u32,
    max_history: u32,
    max_tokens: u32,
    exclude: *const u32,
    exclude_len: usize,
    use_allow: u32,
    allow: *const u32,
    allow_len: usize,
}

/// The second version of `grlm_recommend_params`: the first plus the prior's fields.
#[repr(C)]
#[allow(dead_code)]
struct RecommendParamsV2 {
    v1: RecommendParamsV1,
    prior_weight: f64,
    prior_window: u32,
    prior_decay: f64,
    prior_smoothing: f64,
}

/// The third version: the second plus the evidence scale.
#[repr(C)]
#[allow(dead_code)]
struct RecommendParamsV3 {
    v2: RecommendParamsV2,
    prior_evidence: f64,
}

/// The fourth version: the third plus the fusion.
#[repr(C)]
#[allow(dead_code)]
struct RecommendParamsV4 {
    v3: RecommendParamsV3,
    prior_fusion: grlm_fusion,
    prior_model_share: f64,
}

/// The fifth version: the fourth plus the cold slots.
#[repr(C)]
#[allow(dead_code)]
struct RecommendParamsV5 {
    v4: RecommendParamsV4,
    prior_cold_slots: u32,
}

/// Sizes of the older versions of `grlm_recommend_params` still accepted.
const RECOMMEND_PARAMS_OLDER: [usize; 5] = [
    std::mem::size_of::<RecommendParamsV1>(),
    std::mem::size_of::<RecommendParamsV2>(),
    std::mem::size_of::<RecommendParamsV3>(),
    std::mem::size_of::<RecommendParamsV4>(),
    std::mem::size_of::<RecommendParamsV5>(),
];
// Each older version must be a prefix of the current one, with nothing in between.
const _: () =
    assert!(std::mem::size_of::<RecommendParamsV1>() == std::mem::offset_of!(grlm_recommend_params, prior_weight));
const _: () =
    assert!(std::mem::size_of::<RecommendParamsV2>() == std::mem::offset_of!(grlm_recommend_params, prior_evidence));
const _: () =
    assert!(std::mem::size_of::<RecommendParamsV3>() == std::mem::offset_of!(grlm_recommend_params, prior_fusion));
const _: () =
    assert!(std::mem::size_of::<RecommendParamsV4>() == std::mem::offset_of!(grlm_recommend_params, prior_cold_slots));
const _: () =
    assert!(std::mem::size_of::<RecommendParamsV5>() == std::mem::offset_of!(grlm_recommend_params, prior_cold_margin));

/// One KV cache and one history: make one per user whose prompt should stay cached, or
/// one per thread.
///
/// Thread safety: use a session from one thread at a time (it may move between threads).
/// A call made while another thread is inside a call on the same session returns
/// `GRLM_STATUS_SESSION_BUSY` instead of racing.
pub struct grlm_session {
    engine: Engine,
    state: Mutex<State>,
}

struct State {
    session: Session,
    history: Vec<u32>,
}

impl grlm_session {
    fn lock(&self) -> Result<MutexGuard<'_, State>, Error> {
        lock_exclusive(&self.state)
    }

    fn check_known(&self, items: &[u32]) -> Result<(), Error> {
        let catalog = self.engine.catalog();
        match items.iter().find(|&&item| !catalog.contains(item)) {
            Some(item) => Err(Error::new(
                GRLM_STATUS_UNKNOWN_ITEM,
                format!("item {item} is not in the catalogue"),
            )),
            None => Ok(()),
        }
    }
}

/// Locks what one call on a session needs. A second caller gets `SESSION_BUSY` at once
/// rather than waiting (a session serves one thread at a time, so a wait would hide a bug
/// in the app), and a state left behind by a panic is refused (`POISONED`), never trusted.
pub(super) fn lock_exclusive<T>(state: &Mutex<T>) -> Result<MutexGuard<'_, T>, Error> {
    state.try_lock().map_err(|e| match e {
        TryLockError::WouldBlock => Error::new(
            GRLM_STATUS_SESSION_BUSY,
            "another thread is using this session; a session serves one thread at a time",
        ),
        TryLockError::Poisoned(_) => Error::new(
            GRLM_STATUS_POISONED,
            "an earlier call on this session panicked; free the session and make a new one",
        ),
    })
}

/// Defaults as documented on each field. Thread-safe.
#[no_mangle]
pub extern "C" fn grlm_session_default_params() -> grlm_session_params {
    let fallback = grlm_session_params {
        size: std::mem::size_of::<grlm_session_params>() as u32,
        threads: 1,
        n_ctx: 2048,
        max_beams: 32,
        titles: 0,
    };
    guard_value(fallback, || {
        let d = SessionParams::default();
        grlm_session_params {
            size: fallback.size,
            threads: d.threads,
            n_ctx: d.n_ctx,
            max_beams: d.max_beams,
            titles: u32::from(d.titles),
        }
    })
}

/// Makes a session on `engine` with an empty history and writes it to `*out`; `params`
/// may be NULL for the defaults. Free it with `grlm_session_free`. Thread-safe.
///
/// Errors: `NULL_ARGUMENT`, `STRUCT_SIZE`, `INVALID_ARGUMENT` (threads, n_ctx, max_beams
/// or titles out of range), `BACKEND` (llama.cpp could not allocate the context).
///
/// # Safety
/// `engine` is NULL or live; `params` is NULL or readable; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_new(
    engine: *const grlm_engine,
    params: *const grlm_session_params,
    out: *mut *mut grlm_session,
) -> grlm_status {
    guard(|| {
        let engine = try_ref!(engine);
        let p = try_params!(params, or grlm_session_default_params);
        let out = try_out!(out);
        let session = engine.engine.session(SessionParams {
            threads: p.threads,
            n_ctx: p.n_ctx,
            max_beams: p.max_beams,
            titles: args::flag(p.titles, "params.titles")?,
        })?;
        let handle = grlm_session {
            engine: engine.engine.clone(),
            state: Mutex::new(State {
                session,
                history: Vec::new(),
            }),
        };
        out.write(Box::into_raw(Box::new(handle)));
        Ok(())
    })
}

/// Frees a session and its KV cache. NULL is ignored; freeing twice is undefined
/// behaviour.
///
/// # Safety
/// `session` is NULL or a session from `grlm_session_new` not yet freed, and no thread is
/// inside a call with it.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_free(session: *mut grlm_session) {
    // SAFETY: as this function's contract.
    unsafe { args::free_handle(session) }
}

/// Replaces the session's history with `len` item ids, oldest first (`len` 0 clears it;
/// `items` may then be NULL). The KV cache is kept: the next recommendation evaluates only
/// what differs from the last prompt.
///
/// Errors: `NULL_ARGUMENT`, `INVALID_ARGUMENT` (len above 2^26), `UNKNOWN_ITEM` (the
/// history is left unchanged), `SESSION_BUSY`, `POISONED`.
///
/// # Safety
/// `session` is NULL or live; `items` is NULL or points to `len` ids.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_set_history(
    session: *mut grlm_session,
    items: *const u32,
    len: usize,
) -> grlm_status {
    // SAFETY: as this function's contract.
    unsafe {
        edit_history(session, items, len, |history, items| {
            history.clear();
            history.extend_from_slice(items);
            Ok(())
        })
    }
}

/// Appends `len` item ids (oldest first) to the session's history: the cheap way to record
/// what a user just did, since the cached prompt is extended rather than recomputed.
///
/// Errors: as `grlm_session_set_history`; on error nothing is appended.
///
/// # Safety
/// `session` is NULL or live; `items` is NULL or points to `len` ids.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_append_history(
    session: *mut grlm_session,
    items: *const u32,
    len: usize,
) -> grlm_status {
    // SAFETY: as this function's contract.
    unsafe {
        edit_history(session, items, len, |history, items| {
            if history.len() + items.len() > args::MAX_LIST_LEN {
                return Err(Error::new(
                    GRLM_STATUS_INVALID_ARGUMENT,
                    format!("a history may hold at most {} items", args::MAX_LIST_LEN),
                ));
            }
            history.extend_from_slice(items);
            Ok(())
        })
    }
}

/// The checked body of the history setters: `edit` runs on the locked history only once
/// every id is known, so a failed call changes nothing.
///
/// # Safety
/// `session` is NULL or live; `items` is NULL or points to `len` ids.
unsafe fn edit_history(
    session: *mut grlm_session,
    items: *const u32,
    len: usize,
    edit: impl FnOnce(&mut Vec<u32>, &[u32]) -> Result<(), Error>,
) -> grlm_status {
    guard(|| {
        let session = try_ref!(session.cast_const(), "session");
        let items = try_ids!(items, len);
        let mut state = session.lock()?;
        session.check_known(items)?;
        edit(&mut state.history, items)
    })
}

/// Writes the number of items in the session's history to `*out`.
///
/// Errors: `NULL_ARGUMENT`, `SESSION_BUSY`, `POISONED`.
///
/// # Safety
/// `session` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_history_len(session: *const grlm_session, out: *mut usize) -> grlm_status {
    guard(|| {
        let session = try_ref!(session);
        let out = try_out!(out);
        let len = session.lock()?.history.len();
        out.write(len);
        Ok(())
    })
}

/// A saved session state: bytes owned by the library, made by `grlm_session_save_state`
/// and released with `grlm_state_free`. Store them where the app likes (a file, a
/// database) and give them back to `grlm_session_restore_state`.
///
/// Thread safety: immutable; any number of threads may read one state at once. Free it
/// once, after every reader is done.
pub struct grlm_state {
    bytes: Vec<u8>,
}

/// Saves the session's state — its history, the prompt cached for its last
/// recommendation and that prompt's KV cells (about 23 KB a prompt token for
/// SmolLM2-135M) — and writes it to `*out`. Versioned and checksummed; a later
/// `grlm_session_restore_state` on a session of the same model, adapter and catalogue
/// continues where this one stands.
///
/// Errors: `NULL_ARGUMENT`, `SESSION_BUSY`, `POISONED`, `BACKEND`.
///
/// # Safety
/// `session` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_save_state(
    session: *const grlm_session,
    out: *mut *mut grlm_state,
) -> grlm_status {
    guard(|| {
        let session = try_ref!(session);
        let out = try_out!(out);
        let state = session.lock()?;
        let bytes = state.session.save_state_with(&state.history)?;
        out.write(Box::into_raw(Box::new(grlm_state { bytes })));
        Ok(())
    })
}

/// The state's bytes (`grlm_state_len` of them), valid until `grlm_state_free`; NULL for
/// NULL. Thread-safe.
///
/// # Safety
/// `state` is NULL or a live state from this library.
#[no_mangle]
pub unsafe extern "C" fn grlm_state_data(state: *const grlm_state) -> *const u8 {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live (caller).
        unsafe { state.as_ref() }.map_or(std::ptr::null(), |s| s.bytes.as_ptr())
    })
}

/// Number of bytes in `state`; 0 for NULL. Thread-safe.
///
/// # Safety
/// `state` is NULL or a live state from this library.
#[no_mangle]
pub unsafe extern "C" fn grlm_state_len(state: *const grlm_state) -> usize {
    // SAFETY: NULL or live (caller).
    guard_value(0, || unsafe { state.as_ref() }.map_or(0, |s| s.bytes.len()))
}

/// Frees a state. NULL is ignored; freeing twice is undefined behaviour.
///
/// # Safety
/// `state` is NULL or a state from this library not yet freed, and no thread uses it.
#[no_mangle]
pub unsafe extern "C" fn grlm_state_free(state: *mut grlm_state) {
    // SAFETY: as this function's contract.
    unsafe { args::free_handle(state) }
}

/// Restores a state saved by `grlm_session_save_state` (in this process or an earlier
/// one): the session's history becomes the saved one and its cache holds the saved prompt,
/// so the next recommendation for that history, or for it with items appended, evaluates
/// only what is new and answers exactly as the saved session would have. The bytes are
/// copied; the caller keeps them.
///
/// Errors: `NULL_ARGUMENT`, `INVALID_ARGUMENT` (len above 2^31), `STATE_REFUSED` (damaged,
/// another format version, or saved on another model, adapter, adapter scale, catalogue,
/// titles setting or libgrlm version: the session is then empty, cold and usable),
/// `SESSION_BUSY`, `POISONED`, `BACKEND`.
///
/// # Safety
/// `session` is NULL or live; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn grlm_session_restore_state(
    session: *mut grlm_session,
    data: *const u8,
    len: usize,
) -> grlm_status {
    guard(|| {
        let session = try_ref!(session.cast_const(), "session");
        if data.is_null() {
            return Err(Error::new(GRLM_STATUS_NULL_ARGUMENT, "data is NULL"));
        }
        if len > MAX_STATE_BYTES {
            return Err(Error::new(
                GRLM_STATUS_INVALID_ARGUMENT,
                format!("len {len} is above the largest state accepted ({MAX_STATE_BYTES} bytes)"),
            ));
        }
        // SAFETY: `data` is non-NULL and points to `len` readable bytes (caller).
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        let mut state = session.lock()?;
        state.history.clear();
        let history = state.session.restore_state(bytes)?;
        state.history = history;
        Ok(())
    })
}

/// The largest state `grlm_session_restore_state` reads: a 2 GiB slice is far beyond any
/// context's cells, so a larger length is a caller's bug.
const MAX_STATE_BYTES: usize = 1 << 31;

/// Defaults as documented on each field. Thread-safe.
#[no_mangle]
pub extern "C" fn grlm_recommend_default_params() -> grlm_recommend_params {
    let defaults = RecommendParams::default();
    let params = grlm_recommend_params {
        size: std::mem::size_of::<grlm_recommend_params>() as u32,
        k: defaults.k as u32,
        beams: defaults.beams.map_or(GRLM_BEAMS_AUTO, |b| b as u32),
        mode: GRLM_MODE_CONSTRAINED,
        exclude_history: u32::from(defaults.exclude_history),
        max_history: defaults.max_history as u32,
        max_tokens: defaults.max_tokens as u32,
        exclude: std::ptr::null(),
        exclude_len: 0,
        use_allow: 0,
        allow: std::ptr::null(),
        allow_len: 0,
        prior_weight: defaults.prior.weight.unwrap_or(GRLM_PRIOR_WEIGHT_AUTO),
        prior_window: defaults.prior.window as u32,
        prior_decay: defaults.prior.decay,
        prior_smoothing: defaults.prior.smoothing,
        prior_evidence: defaults.prior.evidence,
        prior_fusion: match defaults.prior.fusion {
            Fusion::Product => GRLM_FUSION_PRODUCT,
            Fusion::Mixture => GRLM_FUSION_MIXTURE,
        },
        prior_model_share: defaults.prior.model_share,
        prior_cold_slots: defaults.prior.cold_slots.map_or(GRLM_COLD_SLOTS_AUTO, |n| n as u32),
        prior_cold_margin: defaults.prior.cold_margin,
    };
    guard_value(params, || params)
}

/// Recommends the next items for the session's history and writes the list (best first,
/// method `GRLM_METHOD_RECOMMENDED`) to `*out`; `params` may be NULL for the defaults.
/// Free the list with `grlm_results_free`; it does not depend on the session.
///
/// The session keeps the prompt in its KV cache: a later call after appending to the
/// history evaluates only the new items. Results are the same as from a fresh session.
///
/// Errors: `NULL_ARGUMENT`, `STRUCT_SIZE`, `INVALID_ARGUMENT` (k = 0, k above the
/// catalogue's size or the beam width, beams above `max_beams`, unknown mode, ...),
/// `EMPTY_HISTORY`, `PROMPT_TOO_LONG`, `SESSION_BUSY`, `POISONED`, `BACKEND`.
///
/// # Safety
/// `session` is NULL or live; `params` is NULL or readable, with `exclude`/`allow` NULL or
/// pointing to their lengths' ids; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn grlm_recommend(
    session: *mut grlm_session,
    params: *const grlm_recommend_params,
    out: *mut *mut grlm_results,
) -> grlm_status {
    guard(|| {
        let session = try_ref!(session.cast_const(), "session");
        let p = try_versioned_params!(params, older &RECOMMEND_PARAMS_OLDER, or grlm_recommend_default_params);
        let out = try_out!(out);
        // SAFETY: the lists are NULL or hold their lengths' ids (caller).
        let request = unsafe { recommend_params(&p) }?;
        let mut state = session.lock()?;
        let State { session, history } = &mut *state;
        let response = session.recommend(history, &request)?;
        let list = grlm_results::from_response(response);
        out.write(Box::into_raw(Box::new(list)));
        Ok(())
    })
}

/// The engine's request for `p`.
///
/// # Safety
/// `p.exclude` and `p.allow` are NULL or point to their lengths' ids.
unsafe fn recommend_params(p: &grlm_recommend_params) -> Result<RecommendParams, Error> {
    let mode = match p.mode {
        GRLM_MODE_CONSTRAINED => Mode::Constrained,
        GRLM_MODE_FREE => Mode::Free,
        GRLM_MODE_PRIOR => Mode::Prior,
        other => {
            return Err(Error::new(
                GRLM_STATUS_INVALID_ARGUMENT,
                format!("mode {other} is not GRLM_MODE_CONSTRAINED (0), GRLM_MODE_FREE (1) or GRLM_MODE_PRIOR (2)"),
            ))
        }
    };
    let weight = match p.prior_weight {
        GRLM_PRIOR_WEIGHT_AUTO => None,
        w if w.is_finite() && w >= 0.0 => Some(w),
        w => {
            return Err(Error::new(
                GRLM_STATUS_INVALID_ARGUMENT,
                format!("params.prior_weight is {w}; use GRLM_PRIOR_WEIGHT_AUTO (-1), 0, or a finite positive weight"),
            ))
        }
    };
    let fusion = match p.prior_fusion {
        GRLM_FUSION_PRODUCT => Fusion::Product,
        GRLM_FUSION_MIXTURE => Fusion::Mixture,
        other => {
            return Err(Error::new(
                GRLM_STATUS_INVALID_ARGUMENT,
                format!("params.prior_fusion {other} is not GRLM_FUSION_PRODUCT (0) or GRLM_FUSION_MIXTURE (1)"),
            ))
        }
    };
    let exclude = try_ids!(p.exclude, p.exclude_len, "params.exclude");
    let mut filter = ItemFilter::none().exclude(exclude.iter().copied());
    if args::flag(p.use_allow, "params.use_allow")? {
        let allow = try_ids!(p.allow, p.allow_len, "params.allow");
        filter = filter.allow(allow.iter().copied());
    }
    Ok(RecommendParams {
        k: p.k as usize,
        beams: (p.beams != GRLM_BEAMS_AUTO).then_some(p.beams as usize),
        mode,
        exclude_history: args::flag(p.exclude_history, "params.exclude_history")?,
        filter,
        max_history: p.max_history as usize,
        max_tokens: p.max_tokens as usize,
        prior: PriorParams {
            weight,
            window: p.prior_window as usize,
            decay: p.prior_decay,
            smoothing: p.prior_smoothing,
            evidence: p.prior_evidence,
            fusion,
            model_share: p.prior_model_share,
            cold_slots: (p.prior_cold_slots != GRLM_COLD_SLOTS_AUTO).then_some(p.prior_cold_slots as usize),
            cold_margin: p.prior_cold_margin,
        },
    })
}
