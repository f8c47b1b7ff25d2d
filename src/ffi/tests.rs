//! What the C programs under tests/c cannot reach: the panic boundary, and facts about the
//! tables that must hold for every code.

use std::ffi::CStr;

use super::session::*;
use super::status::{self, guard, Error, *};
use super::version::*;

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
        // SAFETY: grlm_status_name returns a static NUL-terminated string.
        let named = unsafe { CStr::from_ptr(grlm_status_name(value)) };
        assert_eq!(named.to_str().unwrap(), name);
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

#[test]
fn a_session_in_use_is_busy_and_a_panicked_one_is_poisoned() {
    let state = std::sync::Mutex::new(7u32);
    {
        // Another thread inside a call holds the lock; this is what a second caller sees.
        let _inside = state.lock().unwrap();
        let status = guard(|| lock_exclusive(&state).map(|_| ()));
        assert_eq!(status, GRLM_STATUS_SESSION_BUSY);
        assert!(last_error().contains("another thread"), "{}", last_error());
    }
    assert_eq!(*lock_exclusive(&state).unwrap(), 7);
    // A panic while the state is held leaves it in an unknown state: refuse it from then on.
    let _ = std::panic::catch_unwind(|| {
        let _inside = state.lock().unwrap();
        panic!("inside a session call");
    });
    assert_eq!(guard(|| lock_exclusive(&state).map(|_| ())), GRLM_STATUS_POISONED);
    assert!(last_error().contains("free the session"), "{}", last_error());
}
