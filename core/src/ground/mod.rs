//! Elastic grounding: from a generated TID (which may not exist) to ranked catalogue items.
//!
//! **Direct mapping.** When every term is in the dictionary and the tuple is a catalogue TID,
//! all items carrying it are returned first, with score 1.0, ascending by item id.
//!
//! **Structural mapping** fills the rest of the `k` results (or all of them when there is no
//! exact TID). With query terms `q_0..q_{n-1}`, catalogue TID terms `t_0..t_{L-1}` and the
//! term matches of [`fuzzy`] (similarity `sim`):
//!
//! ```text
//! score(T) = Σ_i  max_{j, m ∈ matches(q_i), t_j = m}  sim(m) · DECAY[|i − j|]   /  max(n, L)
//! ```
//!
//! `DECAY = [1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.25, …]` rewards a term at the same position and still
//! credits a shifted one (a dropped or reordered term). Scores lie in `[0, 1)`; only an exact
//! TID reaches 1.0. Items are ranked by score, then by ascending item id. Only items sharing
//! at least one matched term are candidates, so fewer than `k` results may come back.
//!
//! Candidates come from (term, position) inverted lists, shortest first; the search stops
//! when the best score an unseen TID could still reach falls below the current k-th score
//! (MaxScore), and each candidate is scored exactly from its stored terms. Once no single
//! remaining list can reach the k-th score, long lists are only swept for TIDs met twice
//! ("pair mode", see [`Grounder`]). A query never scans the vocabulary or the item table, and
//! the result equals scoring every TID (a property test checks it).

pub mod fuzzy;
mod structural;

pub use structural::Grounder;

use crate::catalog::{Catalog, CatalogError};
use crate::filter::ItemFilter;
use crate::tid::{Tid, TidParseError};

/// How an item was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The query is exactly this item's TID.
    Direct,
    /// The item's TID shares (possibly fuzzy) terms with the query.
    Structural,
}

/// One grounded item.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Grounded {
    /// External item id.
    pub item: u32,
    /// 1.0 for direct matches, `[0, 1)` for structural ones (formula above).
    pub score: f32,
    /// How it was found.
    pub method: Method,
}

/// Why grounding failed.
#[derive(Debug, thiserror::Error)]
pub enum GroundError {
    /// The query text is not a TID.
    #[error("invalid TID: {0}")]
    Parse(#[from] TidParseError),
    /// The catalogue is corrupt.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl Catalog {
    /// Grounds `query` to at most `k` items. Allocates scratch space per call; use a
    /// [`Grounder`] to reuse it across queries.
    pub fn ground(&self, query: &Tid, k: usize, filter: &ItemFilter) -> Result<Vec<Grounded>, CatalogError> {
        Grounder::new(self).ground(query, k, filter)
    }

    /// Parses `text` (TID text form) and grounds it.
    pub fn ground_text(&self, text: &str, k: usize, filter: &ItemFilter) -> Result<Vec<Grounded>, GroundError> {
        let tid = Tid::parse(text, None)?;
        Ok(self.ground(&tid, k, filter)?)
    }
}

#[cfg(test)]
mod tests;
