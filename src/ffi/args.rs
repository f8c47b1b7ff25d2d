//! Turning C arguments into Rust values: NULL checks, UTF-8 checks, length caps, flags,
//! struct sizes, and out-parameters that are written only on success.

use std::ffi::{c_char, CStr, CString};

use super::status::*;

/// Most ids a list argument (history, exclusions, allow-list, lookups) may hold: far above
/// any real use, low enough that a garbage length is refused before it is read.
pub(crate) const MAX_LIST_LEN: usize = 1 << 26;

/// A shared reference to the object behind a handle.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` made by this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller guarantees a non-NULL `ptr` points to a live `T`.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// A parameter struct, after checking its `size` field.
///
/// # Safety
/// `ptr` must be NULL or point to at least `size_of::<u32>()` readable bytes that start a
/// `T` whose first field is its `size`; the rest is read only when `size` matches.
pub(crate) unsafe fn params<'a, T: Sized>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and every params struct starts with its `u32` size (caller).
    let size = unsafe { ptr.cast::<u32>().read_unaligned() };
    if size as usize != std::mem::size_of::<T>() {
        return Err(Error::new(
            GRLM_STATUS_STRUCT_SIZE,
            format!(
                "{name}.size is {size}, but this libgrlm reads {} bytes: initialise it with its \
                 grlm_*_default_params function and build against the libgrlm header you link",
                std::mem::size_of::<T>()
            ),
        ));
    }
    // SAFETY: the size matches, so the caller's struct is a whole `T`.
    Ok(unsafe { &*ptr })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn string<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        Error::new(
            GRLM_STATUS_INVALID_UTF8,
            format!("{name} is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// An optional string argument: NULL means none.
///
/// # Safety
/// As [`string`].
pub(crate) unsafe fn optional_string<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: as the caller guarantees for `string`.
        unsafe { string(ptr, name) }.map(Some)
    }
}

/// A list of `len` ids at `ptr`; `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable `u32`s that outlive `'a`.
pub(crate) unsafe fn ids<'a>(ptr: *const u32, len: usize, name: &str) -> Result<&'a [u32], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    if len > MAX_LIST_LEN {
        return Err(Error::new(
            GRLM_STATUS_INVALID_ARGUMENT,
            format!("{name} has {len} ids; at most {MAX_LIST_LEN} are accepted"),
        ));
    }
    // SAFETY: non-NULL, `len` readable ids (caller), and `len * 4` is far below isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A `uint32_t` flag: 0 or 1, nothing else (a stray value is more likely a bug than "true").
pub(crate) fn flag(value: u32, name: &str) -> Result<bool, Error> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Error::new(
            GRLM_STATUS_INVALID_ARGUMENT,
            format!("{name} is {value}; flags are 0 or 1"),
        )),
    }
}

/// Checks an out-parameter before any work is done, so a NULL one fails early.
pub(crate) fn out<T>(ptr: *mut T, name: &str) -> Result<Out<T>, Error> {
    if ptr.is_null() {
        Err(null(name))
    } else {
        Ok(Out(ptr))
    }
}

/// A checked, non-NULL out-parameter; written once, after the call succeeded.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes `value` without reading or dropping what the caller's memory held.
    ///
    /// # Safety
    /// The pointer given to [`out`] must be valid for writing a `T`.
    pub unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `out`) and writable (caller); `write` does not
        // drop the uninitialised old value.
        unsafe { self.0.write(value) }
    }
}

fn null(name: &str) -> Error {
    Error::new(GRLM_STATUS_NULL_ARGUMENT, format!("{name} is NULL"))
}

/// `text` as a C string; interior NULs (possible in titles) become U+FFFD so the text is
/// never cut short silently.
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| CString::new(text.replace('\0', "\u{FFFD}")).expect("no NUL bytes are left"))
}
