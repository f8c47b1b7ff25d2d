//! The token trie: every unique TID as the backbone tokenizer writes it, for constrained
//! decoding. One optional catalogue section ([`super::format::SectionKind::TokenTrie`]); a catalogue built
//! without a model has none and still grounds.
//!
//! The trie is *truncated*: a node whose subtree holds a single TID is a leaf. Below such a
//! node every token is forced, and forced tokens add nothing to a constrained score
//! (log 1 = 0), so the decoder never needs them — that is what makes it small and what lets
//! beam search finish a beam as soon as its prefix names one TID.
//!
//! ```text
//! offset  size  field (all little-endian)
//!      0     8  magic "GRLMTRIE"
//!      8     8  tokenizer fingerprint (u64), see `llm::Model::fingerprint`
//!     16     4  vocabulary size: every token id is below it
//!     20     4  node count M >= 1; node 0 is the root
//!     24     4  TID count T (equals the catalogue's)
//!     28     4  depth: most edges on a root-to-leaf path
//!     32     1  tokenizer name length (<= 31), then the UTF-8 name, zero-padded to 64
//!     64        child_offsets u32 × (M+1): node n's edges are child_offsets[n]..[n+1]
//!               edge_tokens   u32 × (M−1): ascending within a node
//!               node_tid      u32 × M: the TID index of a leaf, u32::MAX for inner nodes
//!               node_parent   u32 × M: u32::MAX for the root
//!               tid_leaf      u32 × T: the leaf of each TID
//! ```
//! Nodes are numbered breadth-first with siblings in token order, so edge `e` leads to node
//! `e + 1` and needs no stored target.

use super::le::{csr, extend_u32, read_u32, read_u64, u32_slice, Arrays, U32Le};
use super::CatalogError;
use crate::tokenizer::TokenizerFingerprint;

/// First bytes of the trie section.
pub const TRIE_MAGIC: [u8; 8] = *b"GRLMTRIE";
const TRIE_HEADER_LEN: usize = 64;
/// Longest tokenizer name the section stores (longer names are cut at a char boundary).
pub const MAX_TOKENIZER_NAME: usize = 31;
/// Marks "no TID" in `node_tid` and "no parent" in `node_parent`.
pub const NONE: u32 = u32::MAX;
const SECTION: &str = "TokenTrie";

/// Why a token trie could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrieBuildError {
    /// Two TIDs have the same token sequence: the tokenizer cannot tell them apart.
    #[error("TIDs {first:?} and {second:?} tokenize identically")]
    #[allow(missing_docs)] // the fields are named for what they hold
    SameTokens { first: String, second: String },
    /// One TID's tokens are a prefix of another's, so decoding could not tell where it ends.
    #[error("the tokens of TID {prefix:?} are a prefix of those of {longer:?}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    NotPrefixFree { prefix: String, longer: String },
    /// A TID tokenized to nothing.
    #[error("TID {0:?} tokenizes to no tokens")]
    Empty(String),
    /// A token id is not below the vocabulary size.
    #[error("token {token} of TID {tid:?} is outside the vocabulary ({vocab_size} tokens)")]
    #[allow(missing_docs)] // the fields are named for what they hold
    TokenOutOfRange { tid: String, token: u32, vocab_size: u32 },
    /// The tokenizer failed.
    #[error("tokenizing {tid:?}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Tokenizer { tid: String, reason: String },
    /// More nodes than 32-bit ids allow.
    #[error("token trie too large for 32-bit node ids")]
    TooLarge,
}

/// Builds the section bytes from the token sequence of every TID, in TID-index order.
pub fn build_trie(
    texts: &[String],
    tokens: &[Vec<u32>],
    fingerprint: &TokenizerFingerprint,
) -> Result<Vec<u8>, TrieBuildError> {
    debug_assert_eq!(texts.len(), tokens.len());
    let t = tokens.len();
    for (i, seq) in tokens.iter().enumerate() {
        if seq.is_empty() {
            return Err(TrieBuildError::Empty(texts[i].clone()));
        }
        if let Some(&token) = seq.iter().find(|&&tok| tok >= fingerprint.vocab_size) {
            return Err(TrieBuildError::TokenOutOfRange {
                tid: texts[i].clone(),
                token,
                vocab_size: fingerprint.vocab_size,
            });
        }
    }
    let mut order: Vec<usize> = (0..t).collect();
    order.sort_unstable_by(|&a, &b| tokens[a].cmp(&tokens[b]));
    for w in order.windows(2) {
        let (a, b) = (&tokens[w[0]], &tokens[w[1]]);
        if a == b {
            return Err(TrieBuildError::SameTokens {
                first: texts[w[0]].clone(),
                second: texts[w[1]].clone(),
            });
        }
        // In sorted order a prefix sits right before some sequence that extends it.
        if b.starts_with(a) {
            return Err(TrieBuildError::NotPrefixFree {
                prefix: texts[w[0]].clone(),
                longer: texts[w[1]].clone(),
            });
        }
    }

    // Breadth-first over ranges of `order` that share a prefix of `depth` tokens.
    let mut child_offsets: Vec<u32> = Vec::new();
    let mut edge_tokens: Vec<u32> = Vec::new();
    let mut node_tid: Vec<u32> = Vec::new();
    let mut node_parent: Vec<u32> = vec![NONE];
    let mut tid_leaf = vec![NONE; t];
    let mut max_depth = 0u32;
    let mut queue = std::collections::VecDeque::from([(0usize, t, 0usize)]);
    let mut node = 0u32;
    while let Some((lo, hi, depth)) = queue.pop_front() {
        child_offsets.push(edge_tokens.len() as u32);
        if hi - lo == 1 {
            node_tid.push(order[lo] as u32);
            tid_leaf[order[lo]] = node;
            max_depth = max_depth.max(depth as u32);
        } else {
            node_tid.push(NONE);
            let mut start = lo;
            while start < hi {
                // Prefix-freeness guarantees every sequence in a multi-TID range is longer
                // than `depth`.
                let token = tokens[order[start]][depth];
                let mut end = start + 1;
                while end < hi && tokens[order[end]][depth] == token {
                    end += 1;
                }
                edge_tokens.push(token);
                node_parent.push(node);
                queue.push_back((start, end, depth + 1));
                start = end;
            }
        }
        node = node.checked_add(1).ok_or(TrieBuildError::TooLarge)?;
        if edge_tokens.len() >= NONE as usize {
            return Err(TrieBuildError::TooLarge);
        }
    }
    child_offsets.push(edge_tokens.len() as u32);
    let m = node_tid.len();

    let mut out = Vec::with_capacity(TRIE_HEADER_LEN + 4 * (4 * m + t));
    out.extend_from_slice(&TRIE_MAGIC);
    out.extend_from_slice(&fingerprint.hash.to_le_bytes());
    extend_u32(&mut out, [fingerprint.vocab_size, m as u32, t as u32, max_depth]);
    let name = truncate_name(&fingerprint.name);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.resize(TRIE_HEADER_LEN, 0);
    for array in [&child_offsets, &edge_tokens, &node_tid, &node_parent, &tid_leaf] {
        extend_u32(&mut out, array.iter().copied());
    }
    Ok(out)
}

fn truncate_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_TOKENIZER_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The parsed header of a trie section; the arrays stay in the mapped file.
#[derive(Clone, Debug)]
pub(crate) struct TrieMeta {
    pub fingerprint: TokenizerFingerprint,
    pub nodes: usize,
    pub depth: u32,
}

/// Checks the header and the array lengths, in O(1). `tid_count` is the catalogue's.
pub(crate) fn parse_meta(bytes: &[u8], tid_count: usize) -> Result<TrieMeta, CatalogError> {
    let corrupt = |reason: String| CatalogError::corrupt(SECTION, reason);
    if bytes.len() < TRIE_HEADER_LEN || bytes[..8] != TRIE_MAGIC {
        return Err(corrupt("missing trie header".into()));
    }
    let hash = read_u64(bytes, 8);
    let vocab_size = read_u32(bytes, 16);
    let nodes = read_u32(bytes, 20) as usize;
    let tids = read_u32(bytes, 24) as usize;
    let depth = read_u32(bytes, 28);
    let name_len = bytes[32] as usize;
    if name_len > MAX_TOKENIZER_NAME {
        return Err(corrupt(format!("tokenizer name of {name_len} bytes")));
    }
    let name = std::str::from_utf8(&bytes[33..33 + name_len])
        .map_err(|_| corrupt("tokenizer name is not UTF-8".into()))?
        .to_owned();
    if tids != tid_count {
        return Err(corrupt(format!("{tids} TIDs, the catalogue has {tid_count}")));
    }
    if nodes == 0 || nodes == NONE as usize {
        return Err(corrupt(format!("{nodes} nodes")));
    }
    // nodes, tids < 2^32: the word count fits u64 and is compared before any slicing.
    let words = 4 * nodes as u64 + tids as u64;
    if (bytes.len() - TRIE_HEADER_LEN) as u64 != words * 4 {
        return Err(corrupt(format!(
            "{} bytes of arrays, expected {} for {nodes} nodes and {tids} TIDs",
            bytes.len() - TRIE_HEADER_LEN,
            words * 4
        )));
    }
    Ok(TrieMeta {
        fingerprint: TokenizerFingerprint { hash, vocab_size, name },
        nodes,
        depth,
    })
}

/// A view of a catalogue's token trie. Every accessor is bounds-checked: on a corrupt file
/// they return `None` or an error, never panic; [`super::Catalog::verify`] proves the whole
/// structure once.
#[derive(Clone, Copy, Debug)]
pub struct TokenTrie<'a> {
    meta: &'a TrieMeta,
    child_offsets: &'a [U32Le],
    edge_tokens: &'a [U32Le],
    node_tid: &'a [U32Le],
    node_parent: &'a [U32Le],
    tid_leaf: &'a [U32Le],
}

impl<'a> TokenTrie<'a> {
    pub(crate) fn new(meta: &'a TrieMeta, bytes: &'a [u8]) -> Self {
        let words = u32_slice(bytes.get(TRIE_HEADER_LEN..).unwrap_or(&[])).unwrap_or(&[]);
        let m = meta.nodes;
        let mut arrays = Arrays(words);
        TokenTrie {
            meta,
            child_offsets: arrays.take(m + 1),
            edge_tokens: arrays.take(m - 1),
            node_tid: arrays.take(m),
            node_parent: arrays.take(m),
            tid_leaf: arrays.take(usize::MAX),
        }
    }

    /// The tokenizer the trie was built with.
    pub fn fingerprint(&self) -> &'a TokenizerFingerprint {
        &self.meta.fingerprint
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.meta.nodes
    }

    /// Most tokens the decoder reads before a beam names one TID.
    pub fn depth(&self) -> u32 {
        self.meta.depth
    }

    /// The root.
    pub const ROOT: u32 = 0;

    /// The tokens leading out of `node`, ascending, and the node the first one leads to (the
    /// `i`-th leads to `first + i`).
    pub fn children(&self, node: u32) -> Result<(&'a [U32Le], u32), CatalogError> {
        let row = csr(self.child_offsets, self.edge_tokens, node as usize, SECTION)?;
        let start = self.child_offsets[node as usize].get();
        Ok((row, start + 1))
    }

    /// The child of `node` reached by `token`.
    pub fn child(&self, node: u32, token: u32) -> Result<Option<u32>, CatalogError> {
        let (tokens, first) = self.children(node)?;
        Ok(tokens
            .binary_search_by_key(&token, |t| t.get())
            .ok()
            .map(|i| first + i as u32))
    }

    /// The TID index of a leaf; `None` for an inner node.
    pub fn leaf_tid(&self, node: u32) -> Result<Option<u32>, CatalogError> {
        node_value(self.node_tid, node)
    }

    /// The parent of `node`; `None` for the root.
    pub fn parent(&self, node: u32) -> Result<Option<u32>, CatalogError> {
        node_value(self.node_parent, node)
    }

    /// The leaf of TID index `tid`.
    pub fn leaf_of(&self, tid: u32) -> Result<u32, CatalogError> {
        self.tid_leaf
            .get(tid as usize)
            .map(|l| l.get())
            .filter(|&l| (l as usize) < self.meta.nodes)
            .ok_or_else(|| CatalogError::corrupt(SECTION, format!("no leaf for TID {tid}")))
    }

    /// Checks every invariant the decoder relies on: O(nodes).
    pub(crate) fn verify(&self) -> Result<(), CatalogError> {
        let corrupt = |reason: String| CatalogError::corrupt(SECTION, reason);
        let m = self.meta.nodes;
        let vocab = self.meta.fingerprint.vocab_size;
        if self.child_offsets.first().map(|o| o.get()) != Some(0) {
            return Err(corrupt("first child offset is not 0".into()));
        }
        let mut leaves = 0usize;
        let mut depth = vec![0u32; m];
        for node in 0..m as u32 {
            let (tokens, first) = self.children(node)?;
            let tid = self.leaf_tid(node)?;
            match (tokens.is_empty(), tid) {
                (true, Some(tid)) => {
                    if self.leaf_of(tid)? != node {
                        return Err(corrupt(format!("TID {tid} does not lead back to leaf {node}")));
                    }
                    leaves += 1;
                    if depth[node as usize] > self.meta.depth {
                        return Err(corrupt(format!("leaf {node} deeper than the declared depth")));
                    }
                }
                (false, None) => {}
                _ => return Err(corrupt(format!("node {node}: leaf flag and children disagree"))),
            }
            for (i, t) in tokens.iter().enumerate() {
                let child = first + i as u32;
                if child <= node || child as usize >= m {
                    return Err(corrupt(format!("node {node}: child {child} out of order")));
                }
                if t.get() >= vocab {
                    return Err(corrupt(format!("token {} outside the vocabulary", t.get())));
                }
                if i > 0 && tokens[i - 1].get() >= t.get() {
                    return Err(corrupt(format!("node {node}: tokens not ascending")));
                }
                if self.parent(child)? != Some(node) {
                    return Err(corrupt(format!("node {child}: wrong parent")));
                }
                depth[child as usize] = depth[node as usize] + 1;
            }
        }
        if self.child_offsets.get(m).map(|o| o.get() as usize) != Some(m - 1) {
            return Err(corrupt("edge count is not nodes − 1".into()));
        }
        if self.parent(0)?.is_some() {
            return Err(corrupt("the root has a parent".into()));
        }
        if leaves != self.tid_leaf.len() {
            return Err(corrupt(format!("{leaves} leaves for {} TIDs", self.tid_leaf.len())));
        }
        Ok(())
    }
}

/// Entry `node` of a per-node array, with [`NONE`] read as `None`.
fn node_value(array: &[U32Le], node: u32) -> Result<Option<u32>, CatalogError> {
    let value = array
        .get(node as usize)
        .ok_or_else(|| CatalogError::corrupt(SECTION, format!("node {node} out of range")))?
        .get();
    Ok((value != NONE).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> TokenizerFingerprint {
        TokenizerFingerprint {
            hash: 7,
            vocab_size: 100,
            name: "test".into(),
        }
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tid{i}")).collect()
    }

    fn open(bytes: &[u8], t: usize) -> TrieMeta {
        parse_meta(bytes, t).unwrap()
    }

    #[test]
    fn truncates_single_tid_subtrees_and_numbers_breadth_first() {
        // TIDs 0 and 1 share [1, 2]; TID 2 starts with 5 and is alone below the root.
        let seqs = vec![vec![1, 2, 3, 9], vec![1, 2, 4], vec![5, 6, 7]];
        let bytes = build_trie(&texts(3), &seqs, &fp()).unwrap();
        let meta = open(&bytes, 3);
        let trie = TokenTrie::new(&meta, &bytes);
        trie.verify().unwrap();
        // root -> {1: n1, 5: n2 (leaf TID 2)}; n1 -> {2: n3}; n3 -> {3: leaf 0, 4: leaf 1}
        assert_eq!(trie.node_count(), 6);
        let n1 = trie.child(0, 1).unwrap().unwrap();
        let n2 = trie.child(0, 5).unwrap().unwrap();
        assert_eq!(trie.leaf_tid(n2).unwrap(), Some(2));
        assert_eq!(trie.leaf_tid(n1).unwrap(), None);
        let n3 = trie.child(n1, 2).unwrap().unwrap();
        assert_eq!(trie.leaf_tid(trie.child(n3, 3).unwrap().unwrap()).unwrap(), Some(0));
        assert_eq!(trie.leaf_tid(trie.child(n3, 4).unwrap().unwrap()).unwrap(), Some(1));
        assert_eq!(trie.child(n3, 9).unwrap(), None);
        assert_eq!(trie.depth(), 3);
        assert_eq!(trie.parent(trie.leaf_of(1).unwrap()).unwrap(), Some(n3));
        assert_eq!(trie.fingerprint(), &fp());
    }

    #[test]
    fn one_tid_is_a_root_leaf() {
        let bytes = build_trie(&texts(1), &[vec![3, 4]], &fp()).unwrap();
        let meta = open(&bytes, 1);
        let trie = TokenTrie::new(&meta, &bytes);
        trie.verify().unwrap();
        assert_eq!(trie.leaf_tid(0).unwrap(), Some(0));
    }

    #[test]
    fn refuses_ambiguous_token_sequences() {
        let e = build_trie(&texts(2), &[vec![1, 2], vec![1, 2]], &fp()).unwrap_err();
        assert!(matches!(e, TrieBuildError::SameTokens { .. }), "{e}");
        let e = build_trie(&texts(2), &[vec![1, 2, 3], vec![1, 2]], &fp()).unwrap_err();
        assert!(matches!(e, TrieBuildError::NotPrefixFree { .. }), "{e}");
        let e = build_trie(&texts(1), &[vec![]], &fp()).unwrap_err();
        assert!(matches!(e, TrieBuildError::Empty(_)), "{e}");
        let e = build_trie(&texts(1), &[vec![100]], &fp()).unwrap_err();
        assert!(matches!(e, TrieBuildError::TokenOutOfRange { .. }), "{e}");
    }

    #[test]
    fn corrupt_sections_are_errors() {
        let seqs = vec![vec![1, 2, 3], vec![1, 2, 4], vec![5]];
        let bytes = build_trie(&texts(3), &seqs, &fp()).unwrap();
        assert!(parse_meta(&bytes, 4).is_err(), "TID count must match the catalogue");
        assert!(parse_meta(&bytes[..bytes.len() - 4], 3).is_err());
        assert!(parse_meta(&bytes[..40], 3).is_err());
        // Flip every byte of the arrays in turn: verify must catch or tolerate each, never
        // panic.
        for at in TRIE_HEADER_LEN..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x41;
            let meta = open(&b, 3);
            let trie = TokenTrie::new(&meta, &b);
            let _ = trie.verify();
            for node in 0..8 {
                let _ = trie.children(node);
                let _ = trie.child(node, 2);
                let _ = trie.leaf_tid(node);
                let _ = trie.parent(node);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn every_tid_is_reached_by_its_tokens(
            raw in proptest::collection::btree_set(proptest::collection::vec(0u32..6, 1..7), 1..40)
        ) {
            // Make the set prefix-free by ending every sequence with a terminator token.
            let seqs: Vec<Vec<u32>> = raw.into_iter().map(|mut s| { s.push(99); s }).collect();
            let bytes = build_trie(&texts(seqs.len()), &seqs, &fp()).unwrap();
            let meta = open(&bytes, seqs.len());
            let trie = TokenTrie::new(&meta, &bytes);
            trie.verify().unwrap();
            for (tid, seq) in seqs.iter().enumerate() {
                let mut node = 0;
                let mut steps = 0;
                while trie.leaf_tid(node).unwrap().is_none() {
                    node = trie.child(node, seq[steps]).unwrap().unwrap();
                    steps += 1;
                }
                proptest::prop_assert_eq!(trie.leaf_tid(node).unwrap(), Some(tid as u32));
                proptest::prop_assert_eq!(trie.leaf_of(tid as u32).unwrap(), node);
                proptest::prop_assert!(steps as u32 <= trie.depth());
            }
        }
    }
}
