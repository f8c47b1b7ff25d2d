//! What the C programs under tests/c cannot reach: the panic boundary, and facts about the
//! tables that must hold for every code.

use std::ffi::CStr;

use super::status::{self, guard, Error};
use super::*;

fn last_error() -> String {
    // SAFETY: never NULL, valid until the next status-returning call on this thread.
    unsafe { CStr::from_ptr(grlm_last_error_message()) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_panic_becomes_a_status_and_a_message() {
    let status = guard(|| panic!("boom {}", 7));
    assert_eq!(status, GRLM_STATUS_PANIC);
    assert!(last_error().contains("boom 7"), "{}", last_error());
    // The next call clears the message.
    assert_eq!(guard(|| Ok(())), GRLM_STATUS_OK);
    assert_eq!(last_error(), "");
}

#[test]
fn errors_keep_their_status_and_message() {
    let status = guard(|| Err(Error::new(GRLM_STATUS_UNKNOWN_ITEM, "item 9")));
    assert_eq!(status, GRLM_STATUS_UNKNOWN_ITEM);
    assert_eq!(last_error(), "item 9");
}

#[test]
fn messages_are_per_thread() {
    guard(|| Err(Error::new(GRLM_STATUS_IO, "here")));
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        guard(|| Err(Error::new(GRLM_STATUS_IO, "there")));
        assert_eq!(last_error(), "there");
    })
    .join()
    .unwrap();
    assert_eq!(last_error(), "here");
}

#[test]
fn status_names_are_distinct_and_match_values() {
    // The header's `#define GRLM_STATUS_<NAME> <value>` lines are the contract.
    let header = include_str!("../../include/grlm.h");
    let defined: Vec<(String, u32)> = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define GRLM_STATUS_"))
        .map(|rest| {
            let (name, value) = rest.split_once(' ').unwrap();
            (format!("GRLM_STATUS_{name}"), value.trim().parse().unwrap())
        })
        .collect();
    assert_eq!(defined.len(), status::NAMES.len());
    let mut values = std::collections::HashSet::new();
    for (name, value) in defined {
        assert!(values.insert(value), "{value} used twice");
        // SAFETY: static strings.
        assert_eq!(
            unsafe { CStr::from_ptr(grlm_status_name(value)) }.to_str().unwrap(),
            name
        );
    }
    // SAFETY: static string.
    let unknown = unsafe { CStr::from_ptr(grlm_status_name(12345)) };
    assert_eq!(unknown, c"GRLM_STATUS_UNKNOWN");
}

#[test]
fn header_version_constants_follow_the_crate_version() {
    let version = format!("{GRLM_VERSION_MAJOR}.{GRLM_VERSION_MINOR}.{GRLM_VERSION_PATCH}");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    // SAFETY: static string.
    assert_eq!(unsafe { CStr::from_ptr(grlm_version()) }.to_str().unwrap(), version);
    assert_eq!(grlm_abi_version(), GRLM_ABI_VERSION);
}

/// An engine and a one-thread session on the tiny test model, made through the C API.
fn open_session() -> (*mut grlm_engine, *mut grlm_session) {
    let fixture = crate::engine::tests::fixture();
    let model = std::ffi::CString::new(fixture.model.to_str().unwrap()).unwrap();
    let catalog = std::ffi::CString::new(fixture.catalog.to_str().unwrap()).unwrap();
    let mut params = grlm_engine_default_params();
    params.model_path = model.as_ptr();
    params.catalog_path = catalog.as_ptr();
    let mut engine = std::ptr::null_mut();
    // SAFETY: valid params and out-pointer.
    assert_eq!(unsafe { grlm_engine_open(&params, &mut engine) }, GRLM_STATUS_OK);
    let mut session_params = grlm_session_default_params();
    session_params.threads = 1;
    let mut session = std::ptr::null_mut();
    // SAFETY: live engine, valid params and out-pointer.
    assert_eq!(
        unsafe { grlm_session_new(engine, &session_params, &mut session) },
        GRLM_STATUS_OK
    );
    // SAFETY: live session; ids 1..=3 are fixture items.
    assert_eq!(
        unsafe { grlm_session_set_history(session, [1u32, 2, 3].as_ptr(), 3) },
        GRLM_STATUS_OK
    );
    (engine, session)
}

#[test]
fn a_session_in_use_is_busy_and_a_panicked_one_is_poisoned() {
    let (engine, session) = open_session();
    let mut results = std::ptr::null_mut();
    {
        // Another thread inside a call holds the lock; this is what a second caller sees.
        // SAFETY: live session.
        let _inside = unsafe { &*session }.state.lock().unwrap();
        // SAFETY: live session, NULL params = defaults, valid out-pointer.
        let status = unsafe { grlm_recommend(session, std::ptr::null(), &mut results) };
        assert_eq!(status, GRLM_STATUS_SESSION_BUSY);
        assert!(results.is_null(), "out-parameter written on failure");
        assert!(last_error().contains("another thread"), "{}", last_error());
    }
    // A panic while the state is held leaves it in an unknown state: refuse it from then on.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: live session.
        let _inside = unsafe { &*session }.state.lock().unwrap();
        panic!("inside a session call");
    }));
    let mut len = usize::MAX;
    // SAFETY: live session and out-pointer.
    assert_eq!(
        unsafe { grlm_session_history_len(session, &mut len) },
        GRLM_STATUS_POISONED
    );
    assert_eq!(len, usize::MAX);
    // SAFETY: live handles, each freed once.
    unsafe {
        grlm_session_free(session);
        grlm_engine_free(engine);
    }
}
