//! A session's saved state: the history of its last request, the prompt tokens it holds
//! and those tokens' KV cells, so that a returning user's next request evaluates only what
//! is new ([`super::Session::save_state`], [`super::Session::restore_state`]).
//!
//! ```text
//! offset  size  field (all little-endian)
//!      0     8  magic "GRLMSTAT"
//!      8     4  format version (1)
//!     12     4  zero (reserved)
//!     16     8  binding: FNV-1a of the libgrlm version, the model's and the adapter's
//!               identities, the adapter's scale, the catalogue's content fingerprint and
//!               the session's titles flag
//!     24     4  history items H
//!     28     4  prompt tokens T
//!     32     8  KV bytes K
//!     40   4·H  history item ids, oldest first
//!          4·T  prompt tokens
//!            K  llama.cpp's serialisation of the prompt sequence
//!  end−4     4  CRC-32 of every byte before it
//! ```
//!
//! A session hands the KV bytes to llama.cpp only after the checksum and the binding
//! match, so a damaged or foreign state is refused with a message, never parsed by
//! llama.cpp.

use crate::llm::Token;

/// First bytes of a saved state.
pub const STATE_MAGIC: [u8; 8] = *b"GRLMSTAT";
/// The format version written and read.
pub const STATE_VERSION: u32 = 1;
/// Most history items a state may name: far beyond any history a prompt shows, and a
/// bound on what a forged header can make the reader allocate.
pub const MAX_STATE_HISTORY: u32 = 1 << 20;
const HEADER_LEN: usize = 40;
const CRC_LEN: usize = 4;

/// Why saved state bytes cannot be restored. The session that refused them is left empty
/// (its next request is a cold one) and usable.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Fewer bytes than a header and a checksum.
    #[error("{0} bytes are not a saved session state (too short)")]
    TooShort(usize),
    /// The bytes do not start with the magic.
    #[error("not a saved session state (bad magic bytes)")]
    Magic,
    /// Written by a format version this library does not read.
    #[error("saved session state of format version {0}; this libgrlm reads version {STATE_VERSION}")]
    Version(u32),
    /// The checksum does not match: the bytes were damaged or cut.
    #[error("damaged saved session state (CRC-32 {stored:08x}, the bytes give {actual:08x})")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Checksum { stored: u32, actual: u32 },
    /// The header's sizes do not describe the bytes.
    #[error("malformed saved session state: {0}")]
    Layout(String),
    /// Saved by a session of another model, adapter, catalogue, titles setting or libgrlm
    /// version: its cache would not be this session's.
    #[error("the saved session state belongs to another model, adapter, catalogue or libgrlm version; the session starts cold")]
    OtherEngine,
    /// The state holds more prompt tokens than this session's context has cells.
    #[error("the saved session state holds {tokens} prompt tokens, more than this session's {n_ctx} cells")]
    #[allow(missing_docs)] // the fields are named for what they hold
    TooLong { tokens: usize, n_ctx: u32 },
}

/// What a saved state holds; its KV bytes are borrowed from the state's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState<'a> {
    /// What the state is bound to (see the module docs); a session refuses a state whose
    /// binding is not its own.
    pub binding: u64,
    /// The history of the request the cache was filled for, oldest first.
    pub history: Vec<u32>,
    /// The prompt tokens whose cells the state holds.
    pub tokens: Vec<Token>,
    /// llama.cpp's serialisation of those cells.
    pub kv: &'a [u8],
}

impl<'a> SavedState<'a> {
    /// Reads and checks `bytes`: magic, version, checksum, and sizes that add up exactly.
    /// Whether the state fits a session (its binding, its length) is the session's check.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, StateError> {
        if bytes.len() < HEADER_LEN + CRC_LEN {
            return Err(StateError::TooShort(bytes.len()));
        }
        if bytes[..8] != STATE_MAGIC {
            return Err(StateError::Magic);
        }
        let u32_at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
        let version = u32_at(8);
        if version != STATE_VERSION {
            return Err(StateError::Version(version));
        }
        let body = bytes.len() - CRC_LEN;
        let stored = u32_at(body);
        let actual = crc32fast::hash(&bytes[..body]);
        if stored != actual {
            return Err(StateError::Checksum { stored, actual });
        }
        if u32_at(12) != 0 {
            return Err(StateError::Layout("reserved field is not zero".into()));
        }
        let history = u32_at(24);
        if history > MAX_STATE_HISTORY {
            return Err(StateError::Layout(format!(
                "{history} history items, more than {MAX_STATE_HISTORY}"
            )));
        }
        let tokens = u32_at(28) as usize;
        let ids_end = (history as usize)
            .checked_add(tokens)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(HEADER_LEN));
        let expected = ids_end.and_then(|end| usize::try_from(u64_at(32)).ok().and_then(|kv| end.checked_add(kv)));
        let (Some(ids_end), Some(expected)) = (ids_end, expected) else {
            return Err(StateError::Layout("sizes overflow".into()));
        };
        if expected != body {
            return Err(StateError::Layout(format!(
                "the header describes {expected} bytes before the checksum, there are {body}"
            )));
        }
        let mut ids = bytes[HEADER_LEN..ids_end]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        Ok(SavedState {
            binding: u64_at(16),
            history: ids.by_ref().take(history as usize).collect(),
            tokens: ids.collect(),
            kv: &bytes[ids_end..body],
        })
    }

    /// The state's bytes, as [`SavedState::parse`] reads them.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StateError> {
        let too_big = |what: &str| StateError::Layout(format!("{what} do not fit the format"));
        let history = u32::try_from(self.history.len())
            .ok()
            .filter(|&h| h <= MAX_STATE_HISTORY)
            .ok_or_else(|| too_big("history items"))?;
        let tokens = u32::try_from(self.tokens.len()).map_err(|_| too_big("prompt tokens"))?;
        let ids = 4 * (self.history.len() + self.tokens.len());
        let mut out = Vec::with_capacity(HEADER_LEN + ids + self.kv.len() + CRC_LEN);
        out.extend_from_slice(&STATE_MAGIC);
        out.extend_from_slice(&STATE_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.binding.to_le_bytes());
        out.extend_from_slice(&history.to_le_bytes());
        out.extend_from_slice(&tokens.to_le_bytes());
        out.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        for &value in self.history.iter().chain(&self.tokens) {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(self.kv);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(history: &[u32], tokens: &[u32], kv: &[u8]) -> Vec<u8> {
        let state = SavedState {
            binding: 0x0123_4567_89ab_cdef,
            history: history.to_vec(),
            tokens: tokens.to_vec(),
            kv,
        };
        state.to_bytes().unwrap()
    }

    fn decode(bytes: &[u8]) -> Result<SavedState<'_>, StateError> {
        SavedState::parse(bytes)
    }

    proptest! {
        #[test]
        fn states_round_trip(
            history in prop::collection::vec(any::<u32>(), 0..40),
            tokens in prop::collection::vec(any::<u32>(), 0..200),
            kv in prop::collection::vec(any::<u8>(), 0..2000),
        ) {
            let bytes = encode(&history, &tokens, &kv);
            let state = decode(&bytes).unwrap();
            prop_assert_eq!(&state.history, &history);
            prop_assert_eq!(&state.tokens, &tokens);
            prop_assert_eq!(state.kv, &kv[..]);
            prop_assert_eq!(state.binding, 0x0123_4567_89ab_cdef);
            prop_assert_eq!(state.to_bytes().unwrap(), bytes);
        }

        #[test]
        fn every_damage_is_refused(
            kv in prop::collection::vec(any::<u8>(), 1..300),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode(&[7, 8], &[1, 2, 3], &kv);
            let mut damaged = bytes.clone();
            damaged[at.index(bytes.len())] ^= flip;
            prop_assert!(decode(&damaged).is_err());
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(decode(short).is_err());
        }
    }

    #[test]
    fn bad_headers_name_what_is_wrong() {
        let good = encode(&[7], &[1, 2], b"kv");
        assert!(matches!(decode(&good[..10]), Err(StateError::TooShort(10))));
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(matches!(decode(&magic), Err(StateError::Magic)));
        // A later version with a valid checksum is refused for its version.
        let mut version = good[..good.len() - 4].to_vec();
        version[8] = 2;
        let crc = crc32fast::hash(&version);
        version.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&version), Err(StateError::Version(2))));
        // Sizes that promise more than there is, with a valid checksum.
        let mut lying = good[..good.len() - 4].to_vec();
        lying[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32fast::hash(&lying);
        lying.extend_from_slice(&crc.to_le_bytes());
        let e = decode(&lying).unwrap_err();
        assert!(matches!(e, StateError::Layout(_)), "{e}");
        let mut absurd = good[..good.len() - 4].to_vec();
        absurd[24..28].copy_from_slice(&(MAX_STATE_HISTORY + 1).to_le_bytes());
        let crc = crc32fast::hash(&absurd);
        absurd.extend_from_slice(&crc.to_le_bytes());
        assert!(decode(&absurd).unwrap_err().to_string().contains("history items"));
    }
}
