//! The embedding cache: every item's vector, kept beside a run's output (`<out>.emb`) so a
//! rerun embeds only items that are new or whose text changed.
//!
//! # Format (version 1, all integers little-endian)
//!
//! ```text
//! 0   8 bytes   magic "GRLMEMB\0"
//! 8   u32       format version (1)
//! 12  u32       dimension D
//! 16  u64       model fingerprint (SentenceEmbedder::fingerprint)
//! 24  u64       entry count N
//! 32  N entries, sorted by item id, each:
//!       u32     item id
//!       u64     text hash (FNV-1a 64 of the exact text that was embedded)
//!       D × f32 the unit vector
//! end u32       CRC32 of every byte before it
//! ```
//!
//! # What a load accepts
//!
//! A file that is truncated, too long, of another magic or version, has a bad checksum,
//! an absurd dimension or count, or repeats an item is an error ([`NeighborsError::Cache`]):
//! never a panic and never silently reused. Every length is checked with checked
//! arithmetic against the file's real size before anything is allocated from it.
//!
//! A file whose dimension differs from the embedder's is a [`NeighborsError::Dimension`]
//! error rather than a silent rebuild: it almost always means `--embedder` points at
//! another model than intended. A file of the same dimension but another model
//! fingerprint (another checkpoint, tokenizer or encoder version) is stale as a whole: see
//! [`CacheStatus::OtherModel`]; the caller recomputes every item and overwrites it. Within
//! a matching file an item is reused only when its text hash matches, so an item whose
//! text changed is recomputed alone.

pub use grlm::fnv::Fnv64;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::NeighborsError;

/// First bytes of every cache file.
pub const MAGIC: [u8; 8] = *b"GRLMEMB\0";
/// The format version this code reads and writes.
pub const VERSION: u32 = 1;
/// Largest accepted dimension: far above sentence embedders (384–4096), small enough that
/// entry sizes cannot overflow.
pub const MAX_DIMENSION: usize = 1 << 16;
/// Largest accepted cache file (16 GiB, about ten million 384-dimensional entries): a
/// corrupt size never turns into an unbounded read.
pub const MAX_FILE_BYTES: u64 = 16 << 30;

const HEADER_BYTES: usize = 32;
pub(crate) const CHECKSUM_BYTES: usize = 4;

/// The hash stored with an item's vector: the vector is reused only for the same text.
pub fn text_hash(text: &str) -> u64 {
    let mut h = Fnv64::new();
    h.write(text.as_bytes());
    h.finish()
}

/// One cached vector.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    text_hash: u64,
    vector: Vec<f32>,
}

/// Vectors of one model, by item id.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingCache {
    fingerprint: u64,
    dimension: usize,
    entries: HashMap<u32, Entry>,
}

/// How an existing cache file relates to the embedder at hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// No file yet.
    Absent,
    /// Same model: entries are reused where the text matches.
    Reused,
    /// Another model of the same dimension wrote it; all `entries` are stale and are
    /// recomputed, and the file is replaced.
    OtherModel {
        /// Entries the file held.
        entries: usize,
    },
}

impl EmbeddingCache {
    /// An empty cache for a model.
    pub fn new(fingerprint: u64, dimension: usize) -> Self {
        EmbeddingCache {
            fingerprint,
            dimension,
            entries: HashMap::new(),
        }
    }

    /// Opens the cache at `path` for an embedder with `fingerprint` and `dimension`,
    /// applying the policy in the module docs: absent or of another model → empty; of
    /// another dimension or corrupt → error.
    pub fn open_for(path: &Path, fingerprint: u64, dimension: usize) -> Result<(Self, CacheStatus), NeighborsError> {
        let Some(found) = Self::load(path)? else {
            return Ok((Self::new(fingerprint, dimension), CacheStatus::Absent));
        };
        if found.dimension != dimension {
            return Err(NeighborsError::Dimension {
                actual: dimension,
                expected: found.dimension,
                context: format!(
                    "the embedding cache {} holds {}-dimensional vectors; delete it or use the model that wrote it",
                    path.display(),
                    found.dimension
                ),
            });
        }
        if found.fingerprint != fingerprint {
            let entries = found.len();
            return Ok((Self::new(fingerprint, dimension), CacheStatus::OtherModel { entries }));
        }
        Ok((found, CacheStatus::Reused))
    }

    /// Reads the cache at `path`; `None` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>, NeighborsError> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(NeighborsError::io(path)(source)),
        };
        let size = file.metadata().map_err(NeighborsError::io(path))?.len();
        if size > MAX_FILE_BYTES {
            return Err(cache_err(
                path,
                format!("{size} bytes is over the {MAX_FILE_BYTES}-byte limit"),
            ));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE_BYTES + 1), &mut bytes)
            .map_err(NeighborsError::io(path))?;
        Self::parse(&bytes).map(Some).map_err(|reason| cache_err(path, reason))
    }

    /// Decodes a whole cache file; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
            return Err(format!("truncated: {} bytes is shorter than the header", bytes.len()));
        }
        if bytes[..8] != MAGIC {
            return Err("not an embedding cache (bad magic)".into());
        }
        let mut r = Reader { bytes, at: 8 };
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!(
                "format version {version}, this grlm-train reads version {VERSION}"
            ));
        }
        let dimension = r.u32()? as usize;
        if dimension == 0 || dimension > MAX_DIMENSION {
            return Err(format!("dimension {dimension} is out of range 1..={MAX_DIMENSION}"));
        }
        let fingerprint = r.u64()?;
        let count = r.u64()?;
        let entry_bytes = 12 + 4 * dimension;
        let expected = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(entry_bytes))
            .and_then(|n| n.checked_add(HEADER_BYTES + CHECKSUM_BYTES));
        if expected != Some(bytes.len()) {
            return Err(format!(
                "{} bytes, but {count} entries of dimension {dimension} need {}: truncated or corrupt",
                bytes.len(),
                expected.map_or_else(|| "more than can be addressed".to_string(), |n| n.to_string())
            ));
        }
        let body_end = bytes.len() - CHECKSUM_BYTES;
        let stored = u32::from_le_bytes(le_array(&bytes[body_end..])?);
        let actual = crc32fast::hash(&bytes[..body_end]);
        if stored != actual {
            return Err(format!(
                "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
            ));
        }
        // `count` entries fit in the file, so this capacity is bounded by its size.
        let mut entries = HashMap::with_capacity(count as usize);
        for _ in 0..count {
            let item = r.u32()?;
            let text_hash = r.u64()?;
            let vector = (0..dimension).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
            if entries.insert(item, Entry { text_hash, vector }).is_some() {
                return Err(format!("item {item} appears twice"));
            }
        }
        Ok(EmbeddingCache {
            fingerprint,
            dimension,
            entries,
        })
    }

    /// The whole file, entries sorted by item id (so equal caches give equal bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut items: Vec<u32> = self.entries.keys().copied().collect();
        items.sort_unstable();
        let mut out = Vec::with_capacity(HEADER_BYTES + items.len() * (12 + 4 * self.dimension) + CHECKSUM_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        // `save` refuses a dimension over MAX_DIMENSION, so a written one fits in u32.
        out.extend_from_slice(&(self.dimension as u32).to_le_bytes());
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        out.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for item in items {
            let e = &self.entries[&item];
            out.extend_from_slice(&item.to_le_bytes());
            out.extend_from_slice(&e.text_hash.to_le_bytes());
            for x in &e.vector {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Writes the cache to `path` crash-safely (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), NeighborsError> {
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            // Such a file could not be read back; refuse it now rather than then.
            return Err(NeighborsError::Usage(format!(
                "{}: cannot store {}-dimensional vectors (the format allows 1..={MAX_DIMENSION})",
                path.display(),
                self.dimension
            )));
        }
        let bytes = self.to_bytes();
        grlm::atomic_write::write_atomically(path, |w: &mut dyn Write| w.write_all(&bytes))
            .map_err(NeighborsError::io(path))
    }

    /// The vector of `item` if it was computed from text with this hash.
    pub fn get(&self, item: u32, text_hash: u64) -> Option<&[f32]> {
        self.entries
            .get(&item)
            .filter(|e| e.text_hash == text_hash)
            .map(|e| &e.vector[..])
    }

    /// Stores (or replaces) the vector of `item`.
    pub fn insert(&mut self, item: u32, text_hash: u64, vector: Vec<f32>) -> Result<(), NeighborsError> {
        if vector.len() != self.dimension {
            return Err(NeighborsError::Dimension {
                actual: vector.len(),
                expected: self.dimension,
                context: format!("a vector stored in the embedding cache for item {item}"),
            });
        }
        self.entries.insert(item, Entry { text_hash, vector });
        Ok(())
    }

    /// The model fingerprint the vectors belong to.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The length of every vector.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Number of cached items.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no item is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn cache_err(path: &Path, reason: String) -> NeighborsError {
    NeighborsError::Cache {
        path: path.to_owned(),
        reason,
    }
}

fn le_array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| "truncated".to_string())
}

/// Little-endian reads that fail instead of panicking past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let end = self.at.checked_add(N).ok_or("truncated")?;
        let chunk = self.bytes.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        le_array(chunk)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.take().map(u64::from_le_bytes)
    }
    fn f32(&mut self) -> Result<f32, String> {
        self.take().map(f32::from_le_bytes)
    }
}
