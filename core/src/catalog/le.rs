//! Little-endian integers that can be read in place from a mapped file.
//!
//! The catalogue is little-endian on every platform. These wrappers are plain byte arrays
//! (alignment 1), so bytemuck can view any byte range of the map as `&[U32Le]` without
//! copying and without alignment checks that could fail; `get()` is a single load on
//! little-endian targets and a byte swap on big-endian ones.

use bytemuck::{Pod, Zeroable};

use super::CatalogError;

/// A `u32` stored little-endian.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
#[repr(transparent)]
pub struct U32Le([u8; 4]);

impl U32Le {
    /// Encodes `value`.
    pub const fn new(value: u32) -> Self {
        U32Le(value.to_le_bytes())
    }

    /// Decodes the value.
    #[inline]
    pub const fn get(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

impl std::fmt::Debug for U32Le {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// A `u64` stored little-endian, readable in place at any alignment like [`U32Le`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
#[repr(transparent)]
pub struct U64Le([u8; 8]);

impl U64Le {
    /// Encodes `value`.
    pub const fn new(value: u64) -> Self {
        U64Le(value.to_le_bytes())
    }

    /// Decodes the value.
    #[inline]
    pub const fn get(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

impl std::fmt::Debug for U64Le {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// Views `bytes` as little-endian `u64`s; `None` when the length is not a multiple of 8.
pub fn u64_slice(bytes: &[u8]) -> Option<&[U64Le]> {
    bytemuck::try_cast_slice(bytes).ok()
}

/// Views `bytes` as little-endian `u32`s; `None` when the length is not a multiple of 4.
pub fn u32_slice(bytes: &[u8]) -> Option<&[U32Le]> {
    bytemuck::try_cast_slice(bytes).ok()
}

/// The consecutive arrays of a section, taken front to back. Lengths were checked when the
/// catalogue was opened; should they not hold, an array comes out short instead of a panic.
pub(crate) struct Arrays<'a>(pub &'a [U32Le]);

impl<'a> Arrays<'a> {
    /// The next `n` values (fewer if the section ends first).
    pub(crate) fn take(&mut self, n: usize) -> &'a [U32Le] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
}

/// Appends `values` little-endian to `out`.
pub fn extend_u32(out: &mut Vec<u8>, values: impl IntoIterator<Item = u32>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Row `i` of a CSR pair, bounds-checked.
pub(crate) fn csr<'a>(
    offsets: &[U32Le],
    values: &'a [U32Le],
    i: usize,
    section: &'static str,
) -> Result<&'a [U32Le], CatalogError> {
    let bad = || CatalogError::corrupt(section, format!("bad offsets for row {i}"));
    let start = offsets.get(i).ok_or_else(bad)?.get() as usize;
    let end = offsets.get(i + 1).ok_or_else(bad)?.get() as usize;
    values.get(start..end).ok_or_else(bad)
}
