//! Turning C arguments into Rust values: NULL checks, UTF-8 checks, length caps, flags,
//! struct sizes, and out-parameters that are written only on success.

use std::ffi::{c_char, CStr};

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
/// `ptr` must be NULL or point to a readable `T` — a struct of that C type, which the C
/// compiler aligned for it — whose first field is its `u32` size; only the size is read
/// before it is checked, so an older or newer header's smaller or larger struct is refused
/// rather than read past.
pub(crate) unsafe fn params<'a, T: Sized>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and every params struct starts with its `u32` size (caller); the
    // read is unaligned-safe, so it assumes nothing about the struct yet.
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
    // SAFETY: the caller passed a pointer to a C struct of type `T`, so it is aligned for
    // `T` (repr(C) gives both sides one alignment), and its size field says it is whole.
    Ok(unsafe { &*ptr })
}

/// A parameter struct that grew by appending fields: a caller built against an older header
/// passes one of `older_sizes`, and the fields it does not know keep their values in
/// `defaults`. Any other size is refused, as by [`params`].
///
/// # Safety
/// `ptr` must be NULL or point to a readable struct whose first field is its `u32` size and
/// which is at least that many bytes long; each of `older_sizes` must be the size of an
/// earlier version of `T`, whose fields are a prefix of `T`'s at the same offsets.
pub(crate) unsafe fn versioned_params<T: Copy>(
    ptr: *const T,
    name: &str,
    older_sizes: &[usize],
    defaults: T,
) -> Result<T, Error> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and every params struct starts with its `u32` size (caller).
    let size = unsafe { ptr.cast::<u32>().read_unaligned() } as usize;
    if !older_sizes.contains(&size) {
        // SAFETY: as this function's contract, which includes `params`'s.
        return unsafe { params(ptr, name) }.copied();
    }
    let mut value = defaults;
    // SAFETY: the caller's struct holds `size` readable bytes (its own size field says so),
    // `size` is below `size_of::<T>()` (an older, shorter version), and the older version's
    // fields sit at the same offsets in `T`, so the copy fills exactly those fields; the
    // bytes are copied, never read as a `T` from the caller's memory.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), std::ptr::from_mut(&mut value).cast::<u8>(), size);
    }
    Ok(value)
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

/// A checked, non-NULL out-parameter, written once, after the call succeeded.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks an out-parameter before any work is done, so a NULL one fails early.
    ///
    /// # Safety
    /// `ptr` must be NULL or valid for writing a `T` until [`Out::write`] is called.
    pub(crate) unsafe fn new(ptr: *mut T, name: &str) -> Result<Self, Error> {
        if ptr.is_null() {
            Err(null(name))
        } else {
            Ok(Out(ptr))
        }
    }

    /// Writes `value` without reading or dropping what the caller's memory held.
    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL and writable, as promised to `Out::new`; `write` does not drop
        // the uninitialised old value.
        unsafe { self.0.write(value) }
    }
}

// The macros below turn a C argument into a Rust value or return the error that names it,
// so that each export reads as its contract. Each may be used only in an `unsafe extern "C"`
// function whose `# Safety` section promises what the macro's SAFETY line relies on.

/// `&T` behind a handle argument that must not be NULL.
macro_rules! try_ref {
    ($ptr:expr) => {
        try_ref!($ptr, stringify!($ptr))
    };
    ($ptr:expr, $name:expr) => {
        // SAFETY: the enclosing function's contract: the handle is NULL or live.
        unsafe { $crate::ffi::args::handle($ptr, $name) }?
    };
}

/// A parameter struct, copied: NULL gives `$default()` when a default is named, else an
/// error.
macro_rules! try_params {
    ($ptr:expr) => {
        // SAFETY: the enclosing function's contract: NULL or a readable struct.
        *unsafe { $crate::ffi::args::params($ptr, stringify!($ptr)) }?
    };
    ($ptr:expr, or $default:expr) => {
        if $ptr.is_null() {
            $default()
        } else {
            try_params!($ptr)
        }
    };
}

/// A parameter struct that may come from an older header (see `versioned_params`): NULL
/// gives `$default()`.
macro_rules! try_versioned_params {
    ($ptr:expr, older $sizes:expr, or $default:expr) => {
        if $ptr.is_null() {
            $default()
        } else {
            // SAFETY: the enclosing function's contract: NULL or a readable struct of this
            // type or of one of its older versions.
            unsafe { $crate::ffi::args::versioned_params($ptr, stringify!($ptr), $sizes, $default()) }?
        }
    };
}

/// A required NUL-terminated UTF-8 string.
macro_rules! try_str {
    ($ptr:expr, $name:expr) => {
        // SAFETY: the enclosing function's contract: NULL or NUL-terminated.
        unsafe { $crate::ffi::args::string($ptr, $name) }?
    };
}

/// An optional NUL-terminated UTF-8 string (NULL: none).
macro_rules! try_optional_str {
    ($ptr:expr, $name:expr) => {
        // SAFETY: the enclosing function's contract: NULL or NUL-terminated.
        unsafe { $crate::ffi::args::optional_string($ptr, $name) }?
    };
}

/// A list of ids and its length.
macro_rules! try_ids {
    ($ptr:expr, $len:expr) => {
        try_ids!($ptr, $len, stringify!($ptr))
    };
    ($ptr:expr, $len:expr, $name:expr) => {
        // SAFETY: the enclosing function's contract: NULL or `$len` readable ids.
        unsafe { $crate::ffi::args::ids($ptr, $len, $name) }?
    };
}

/// An out-parameter, checked now and written on success.
macro_rules! try_out {
    ($ptr:expr) => {
        // SAFETY: the enclosing function's contract: NULL or writable.
        unsafe { $crate::ffi::args::Out::new($ptr, stringify!($ptr)) }?
    };
}

pub(crate) use {try_ids, try_optional_str, try_out, try_params, try_ref, try_str, try_versioned_params};

fn null(name: &str) -> Error {
    Error::new(GRLM_STATUS_NULL_ARGUMENT, format!("{name} is NULL"))
}

/// Frees a handle the library handed out with `Box::into_raw`: the body of every
/// `grlm_*_free`. NULL is ignored; a panic in a destructor stays on this side.
///
/// # Safety
/// `handle` is NULL or came from `Box::into_raw(Box<T>)` in this library, is not yet
/// freed, and no thread is inside a call with it.
pub(crate) unsafe fn free_handle<T>(handle: *mut T) {
    guard_value((), || {
        if !handle.is_null() {
            // SAFETY: made by Box::into_raw in this library and not yet freed (caller).
            drop(unsafe { Box::from_raw(handle) });
        }
    })
}
