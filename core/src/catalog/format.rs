//! The `.grlm` byte layout: header, section table, section kinds. Nothing here touches files.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "GRLMCAT\0"
//!      8     2  format major version (u16 LE) — readers accept exactly MAJOR
//!     10     2  format minor version (u16 LE) — any; a minor bump only adds optional sections
//!     12     4  header length in bytes (u32 LE) = 128
//!     16     8  file length in bytes (u64 LE)
//!     24     4  TID length L (u32 LE), 1..=16
//!     28     4  item count N
//!     32     4  unique TID count T
//!     36     4  unique term count V
//!     40     4  section count S, at most 64
//!     44     4  flags, 0 (reserved)
//!     48    76  zero (reserved)
//!    124     4  CRC32 of bytes 0..124 followed by the section table
//!    128  32*S  section table: kind u32, flags u32 (bit 0 = required), offset u64, length u64,
//!               CRC32 u32 of the section bytes, reserved u32
//! ```
//! Sections start at multiples of 64 bytes; padding is zero. All integers are little-endian.
//! A reader refuses a section marked required whose kind it does not know, and skips unknown
//! optional ones: that is how 1.1 added the token trie (with its tokenizer fingerprint) and
//! 1.2 the collaborative prior without breaking older readers.

use super::le::{read_u16, read_u32, read_u64};
use super::CatalogError;

/// First 8 bytes of every catalogue.
pub const MAGIC: [u8; 8] = *b"GRLMCAT\0";
/// Format major version written and the only one read.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version written. Readers accept any minor of [`FORMAT_MAJOR`].
pub const FORMAT_MINOR: u16 = 2;
/// Fixed header length.
pub const HEADER_LEN: usize = 128;
/// One section-table entry.
pub const SECTION_ENTRY_LEN: usize = 32;
/// Alignment of every section start.
pub const SECTION_ALIGN: usize = 64;
/// Most sections a file may declare; bounds the table a reader parses.
pub const MAX_SECTIONS: usize = 64;
const HEADER_CRC_AT: usize = 124;
/// Section flag: a reader that does not know this kind must refuse the file.
pub const SECTION_REQUIRED: u32 = 1;

macro_rules! section_kinds {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// Section kinds. Values are never reused, even when a kind is retired.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum SectionKind { $($(#[$doc])* $name = $value,)* }

        impl SectionKind {
            /// Every kind this version knows, in file order.
            pub const ALL: &'static [SectionKind] = &[$(SectionKind::$name,)*];

            /// The kind for a raw value, if known.
            pub fn from_u32(value: u32) -> Option<Self> {
                match value { $($value => Some(SectionKind::$name),)* _ => None }
            }

            /// A stable name for messages and `inspect`.
            pub fn name(self) -> &'static str {
                match self { $(SectionKind::$name => stringify!($name),)* }
            }
        }
    };
}

section_kinds! {
    /// `fst::Map` term → term id; ids are the terms' byte-wise sorted ranks.
    TermFst = 1,
    /// `u32 × (V+1)` offsets into `TermBytes`, so a term id finds its text.
    TermOffsets = 2,
    /// Concatenated UTF-8 term texts in term-id order.
    TermBytes = 3,
    /// `u32 × N` external item ids, strictly ascending; the position is the item index.
    ItemIds = 4,
    /// `u32 × N` the TID index of each item.
    ItemTid = 5,
    /// `u32 × T × L` term ids of each unique TID; rows strictly ascending.
    TidTerms = 6,
    /// `u32 × (T+1)` offsets into `TidItems`.
    TidItemOffsets = 7,
    /// `u32 × N` item indices grouped by TID, ascending within a group.
    TidItems = 8,
    /// `u32 × (L·V+1)` offsets into `PosPostings`, keyed by `position · V + term`.
    PosPostingOffsets = 9,
    /// TID indices, ascending within each (position, term) list.
    PosPostings = 10,
    /// `u32 × (V+1)` offsets into `TermPostings`.
    TermPostingOffsets = 11,
    /// TID indices holding a term at any position, ascending and unique within a list.
    TermPostings = 12,
    /// `u32 × (N+1)` offsets into `TitleBytes`; an empty range means no title.
    TitleOffsets = 13,
    /// Concatenated UTF-8 titles in item-index order.
    TitleBytes = 14,
    /// Optional (since 1.1): the TIDs as a backbone tokenizer writes them, for constrained
    /// decoding, with that tokenizer's fingerprint. Layout in [`super::trie`].
    TokenTrie = 15,
    /// Optional (since 1.2): item-to-next-item counts and popularity, the collaborative
    /// prior. Layout in [`super::transitions`].
    Prior = 16,
}

impl SectionKind {
    /// Whether every catalogue has this section. Optional sections may be absent, and
    /// readers that do not know them skip them.
    pub fn is_required(self) -> bool {
        !matches!(self, SectionKind::TokenTrie | SectionKind::Prior)
    }
}

/// One entry of the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// Raw kind (may be unknown to this reader).
    pub kind: u32,
    /// Flags, see [`SECTION_REQUIRED`].
    pub flags: u32,
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC32 (IEEE) of the section bytes.
    pub crc: u32,
}

/// The fixed header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// Declared file length.
    pub file_len: u64,
    /// Terms per TID.
    pub tid_len: u32,
    /// Items.
    pub item_count: u32,
    /// Unique TIDs.
    pub tid_count: u32,
    /// Unique terms.
    pub term_count: u32,
}

impl Header {
    /// Encodes the header and section table, CRC included.
    pub fn encode(&self, sections: &[SectionEntry]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + sections.len() * SECTION_ENTRY_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.major.to_le_bytes());
        out.extend_from_slice(&self.minor.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out.extend_from_slice(&self.file_len.to_le_bytes());
        for v in [self.tid_len, self.item_count, self.tid_count, self.term_count] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.resize(HEADER_CRC_AT, 0);
        out.extend_from_slice(&[0; 4]);
        for s in sections {
            out.extend_from_slice(&s.kind.to_le_bytes());
            out.extend_from_slice(&s.flags.to_le_bytes());
            out.extend_from_slice(&s.offset.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
            out.extend_from_slice(&s.crc.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        let crc = header_crc(&out);
        out[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks the header and section table at the start of `bytes`: magic,
    /// version, declared lengths against the real length, CRC. O(number of sections).
    pub fn decode(bytes: &[u8]) -> Result<(Header, Vec<SectionEntry>), CatalogError> {
        if bytes.is_empty() {
            return Err(CatalogError::Empty);
        }
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(CatalogError::Truncated {
                needed: HEADER_LEN as u64,
                actual: bytes.len() as u64,
            });
        }
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(CatalogError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(CatalogError::Truncated {
                needed: HEADER_LEN as u64,
                actual: bytes.len() as u64,
            });
        }
        let major = read_u16(bytes, 8);
        let minor = read_u16(bytes, 10);
        if major != FORMAT_MAJOR {
            return Err(CatalogError::UnsupportedVersion {
                major,
                minor,
                supported_major: FORMAT_MAJOR,
            });
        }
        let header_len = read_u32(bytes, 12);
        if header_len as usize != HEADER_LEN {
            return Err(CatalogError::corrupt(
                "header",
                format!("header length {header_len}, expected {HEADER_LEN}"),
            ));
        }
        let section_count = read_u32(bytes, 40) as usize;
        if section_count > MAX_SECTIONS {
            return Err(CatalogError::corrupt(
                "header",
                format!("{section_count} sections declared; at most {MAX_SECTIONS} are allowed"),
            ));
        }
        let table_end = HEADER_LEN + section_count * SECTION_ENTRY_LEN;
        if table_end > bytes.len() {
            return Err(CatalogError::Truncated {
                needed: table_end as u64,
                actual: bytes.len() as u64,
            });
        }
        let file_len = read_u64(bytes, 16);
        let stored_crc = read_u32(bytes, HEADER_CRC_AT);
        let actual_crc = header_crc(&bytes[..table_end]);
        if stored_crc != actual_crc && !super::SKIP_CHECKSUMS {
            return Err(CatalogError::ChecksumMismatch {
                section: "header",
                stored: stored_crc,
                actual: actual_crc,
            });
        }
        // Only now is the declared length trusted enough to compare.
        if file_len != bytes.len() as u64 {
            return if file_len > bytes.len() as u64 {
                Err(CatalogError::Truncated {
                    needed: file_len,
                    actual: bytes.len() as u64,
                })
            } else {
                Err(CatalogError::corrupt(
                    "header",
                    format!("declared length {file_len} but the file has {} bytes", bytes.len()),
                ))
            };
        }
        let header = Header {
            major,
            minor,
            file_len,
            tid_len: read_u32(bytes, 24),
            item_count: read_u32(bytes, 28),
            tid_count: read_u32(bytes, 32),
            term_count: read_u32(bytes, 36),
        };
        let sections = (0..section_count)
            .map(|i| {
                let at = HEADER_LEN + i * SECTION_ENTRY_LEN;
                SectionEntry {
                    kind: read_u32(bytes, at),
                    flags: read_u32(bytes, at + 4),
                    offset: read_u64(bytes, at + 8),
                    len: read_u64(bytes, at + 16),
                    crc: read_u32(bytes, at + 24),
                }
            })
            .collect();
        Ok((header, sections))
    }
}

/// CRC of the header with its CRC field taken as zero, followed by the section table.
fn header_crc(header_and_table: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header_and_table[..HEADER_CRC_AT]);
    hasher.update(&[0; 4]);
    hasher.update(&header_and_table[HEADER_LEN..]);
    hasher.finalize()
}

/// Rounds `n` up to the section alignment.
pub fn align_up(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}
