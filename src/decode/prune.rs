//! Which trie nodes a request may enter: those with at least one eligible item below them.

use std::collections::HashSet;

use crate::catalog::{Catalog, CatalogError, TokenTrie};
use crate::filter::ItemFilter;

/// The live part of the trie for one request's [`ItemFilter`].
///
/// Built by walking up from the leaves the filter touches — O(filter size × trie depth ×
/// fan-out), independent of the catalogue size — rather than by marking the whole trie.
#[derive(Debug, Default)]
pub(crate) struct Pruning {
    /// With an allow-list: every node on a path to an allowed TID.
    reachable: Option<HashSet<u32>>,
    /// Nodes whose every eligible item is excluded.
    dead: HashSet<u32>,
}

impl Pruning {
    pub(crate) fn new(catalog: &Catalog, trie: &TokenTrie<'_>, filter: &ItemFilter) -> Result<Self, CatalogError> {
        let mut pruning = Pruning::default();
        if let Some(allowed) = filter.allowed() {
            let mut reachable = HashSet::new();
            for &item in allowed {
                let Some(tid) = tid_index(catalog, item)? else { continue };
                let mut node = Some(trie.leaf_of(tid)?);
                while let Some(n) = node {
                    if !reachable.insert(n) {
                        break;
                    }
                    node = trie.parent(n)?;
                }
            }
            pruning.reachable = Some(reachable);
        }
        // A leaf dies when none of its TID's items is eligible; an inner node when all its
        // children have died.
        let mut touched: Vec<u32> = Vec::new();
        for &item in filter.excluded() {
            if let Some(tid) = tid_index(catalog, item)? {
                touched.push(tid);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for tid in touched {
            if catalog.tid_members(tid as usize)?.any(|(_, id)| filter.permits(id)) {
                continue;
            }
            let mut node = trie.leaf_of(tid)?;
            pruning.dead.insert(node);
            while let Some(parent) = trie.parent(node)? {
                if pruning.dead.contains(&parent) || !pruning.all_children_dead(trie, parent)? {
                    break;
                }
                pruning.dead.insert(parent);
                node = parent;
            }
        }
        Ok(pruning)
    }

    fn all_children_dead(&self, trie: &TokenTrie<'_>, node: u32) -> Result<bool, CatalogError> {
        let (tokens, first) = trie.children(node)?;
        Ok((0..tokens.len() as u32).all(|i| !self.alive(first + i)))
    }

    /// Whether a request may enter `node`.
    #[inline]
    pub(crate) fn alive(&self, node: u32) -> bool {
        !self.dead.contains(&node) && self.reachable.as_ref().is_none_or(|r| r.contains(&node))
    }
}

fn tid_index(catalog: &Catalog, item: u32) -> Result<Option<u32>, CatalogError> {
    match catalog.item_index(item) {
        Some(index) => Ok(Some(catalog.item_tid_index(index)? as u32)),
        None => Ok(None),
    }
}
