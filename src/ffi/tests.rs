//! What the C programs under tests/c cannot reach: the panic boundary, and facts about the
//! tables that must hold for every code.

use std::ffi::CStr;

use super::status::{guard, Error};
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
    assert_eq!(status, grlm_status::Panic);
    assert!(last_error().contains("boom 7"), "{}", last_error());
    // The next call clears the message.
    assert_eq!(guard(|| Ok(())), grlm_status::Ok);
    assert_eq!(last_error(), "");
}

#[test]
fn errors_keep_their_status_and_message() {
    let status = guard(|| Err(Error::new(grlm_status::UnknownItem, "item 9")));
    assert_eq!(status, grlm_status::UnknownItem);
    assert_eq!(last_error(), "item 9");
}

#[test]
fn messages_are_per_thread() {
    guard(|| Err(Error::new(grlm_status::Io, "here")));
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        guard(|| Err(Error::new(grlm_status::Io, "there")));
        assert_eq!(last_error(), "there");
    })
    .join()
    .unwrap();
    assert_eq!(last_error(), "here");
}

#[test]
fn status_names_are_distinct_and_match_values() {
    let mut seen = std::collections::HashSet::new();
    for status in grlm_status::ALL {
        // SAFETY: static strings.
        let name = unsafe { CStr::from_ptr(grlm_status_name(status as u32)) };
        assert!(seen.insert(name.to_owned()), "{name:?} twice");
        assert!(name.to_str().unwrap().starts_with("GRLM_STATUS_"));
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
