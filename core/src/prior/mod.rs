//! The collaborative prior of one request: a distribution over the items a request may
//! return, from the catalogue's transition counts and the user's history.
//!
//! With history h₁…hₙ (most recent last), window `W`, decay `d` and smoothing `α`:
//!
//! ```text
//! T(j) = Σ_{i<W} dⁱ · c(h_{n−i} → j)          c: how often j directly followed h
//! P(j) = (1−α) · T(j) / Σ T  +  α · pop(j) / Σ pop     (P(j) = pop(j) / Σ pop when Σ T = 0)
//! ```
//! where `pop(j)` is the item's count in the counted sequences plus one (so that no item
//! has zero mass) and both sums run over the items the request may return (its filter, and
//! the history unless the request keeps it): P sums to 1 over exactly those items.
//!
//! Constrained decoding fuses it as a product of experts: an item scores
//! `s_LLM(TID) + λ · ln P(item)`, and a beam prefix `s_LLM(prefix) + λ · ln M(prefix)`,
//! where `M` is the prior mass of the eligible items below the prefix ([`NodeMasses`]).
//! Both terms only fall along a path, so a prefix's score bounds every item below it.
//!
//! The product lets the counts veto: an item no history item led to gets `λ · ln(α ·
//! pop/Σpop)`, hundreds of nats below any successor at the default λ, so a new item (no
//! sales yet) never reaches the top. [`Fusion::Mixture`] instead scores
//! `ln((1 − β) · P + β · P_LLM)`, β the model's share and `P_LLM` the model's probability
//! of the prefix or item (of its TID, shared among the TID's items in proportion to `P`):
//! where the counts know nothing, the model's confidence alone can bring an item up. Both
//! parts of the mixture also only fall along a path, so the search stays exact.
//!
//! Neither fusion can bring up an item the counts have never seen when the prior is sure of
//! others: its share of the top places goes to what the counts know. Cold slots
//! ([`PriorParams::cold_slots`]) keep the last places of the list for the best *cold*
//! items — those the counted log never shows (no sale: a new item), over which the prior
//! is flat, so the model orders them — found by a second search confined to them, so the
//! counts rank what they know and the model speaks for what they cannot know. A pick takes
//! its place only where the model is about as sure of it as of the item it pushes out, or
//! surer ([`PriorParams::cold_margin`]).
//!
//! With an evidence scale `κ > 0` the prior's part shrinks with how much the counts know
//! about this history — the weight becomes `λ · ΣT / (ΣT + κ)`, the mixture's prior share
//! `(1 − β) · ΣT / (ΣT + κ)` — so a history whose window reached few successors leaves the
//! ranking mostly to the model. Both are fixed before the search starts, so the search
//! stays exact.

use std::collections::HashMap;

use crate::catalog::{Catalog, CatalogError, TokenTrie, TransitionTable};
use crate::filter::ItemFilter;

/// λ when a request does not choose one and the catalogue has a prior. Chosen on the Beauty
/// validation split (docs/results.md, "The model fused with the prior").
pub const DEFAULT_WEIGHT: f64 = 32.0;
/// History items the prior looks back over.
pub const DEFAULT_WINDOW: usize = 5;
/// Each step further back counts this much less.
pub const DEFAULT_DECAY: f64 = 0.5;
/// Share of the popularity part. Small: it ranks items the history's successors do not
/// reach, and breaks ties among those it does.
pub const DEFAULT_SMOOTHING: f64 = 0.01;
/// κ, the transition mass at which the prior keeps half its weight. 0: the weight does not
/// depend on the evidence.
pub const DEFAULT_EVIDENCE: f64 = 0.0;
/// β, the model's share of a [`Fusion::Mixture`].
pub const DEFAULT_MODEL_SHARE: f64 = 0.5;
/// Places of a fused list of `k` kept for cold items when a request leaves it to the
/// library ([`PriorParams::cold_slots`] `None`): one in ten, none in a list shorter than
/// ten. Chosen on Beauty's validation split with new items (docs/results.md): with one
/// slot in a list of 10, R@10 over the new and known slices together scored above none,
/// with two or three below.
pub fn default_cold_slots(k: usize) -> usize {
    k / 10
}
/// m, in nats, when a request leaves it to the library ([`PriorParams::cold_margin`]): a
/// cold pick may trail the item it pushes out by up to a third of a nat. Chosen on Beauty's
/// validation split with new items (docs/results.md, "New items"): the middle of the range
/// of margins with the best R@10, which kept all 7 new-slice targets the slot found there
/// and 4 of the 6 known ones it pushed out, opening the slot for 87% of users.
pub const DEFAULT_COLD_MARGIN: f64 = -0.34;

/// How constrained decoding combines the model with the prior, when the prior is used at
/// all (a weight λ > 0; λ = 0 is the model alone in either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// A product of experts, `s_LLM + λ · ln P`: the counts rank, the model reorders what
    /// they find about equally likely.
    #[default]
    Product,
    /// A mixture, `ln((1 − β) · P + β · P_LLM)` with β the model's share
    /// ([`PriorParams::model_share`]); λ only switches the prior on.
    Mixture,
}

impl Fusion {
    /// The name `--fusion` takes.
    pub fn name(self) -> &'static str {
        match self {
            Fusion::Product => "product",
            Fusion::Mixture => "mixture",
        }
    }
}

/// What the search does with the prior of one history: [`PriorParams::combine`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Combine {
    /// `s_LLM + weight · ln P`, weight > 0.
    Product {
        /// λ after the evidence scale.
        weight: f64,
    },
    /// `ln(prior_share · P + (1 − prior_share) · P_LLM)`, prior_share in (0, 1].
    Mixture {
        /// `1 − β` after the evidence scale.
        prior_share: f64,
    },
}

/// How a request uses the catalogue's prior.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PriorParams {
    /// λ, the prior's weight in constrained decoding. `None`: [`DEFAULT_WEIGHT`] when the
    /// catalogue has a prior, none when it has not. `Some(0.0)`: the LLM alone. A positive
    /// weight needs a catalogue with a prior.
    pub weight: Option<f64>,
    /// `W`: history items looked back over, at least 1.
    pub window: usize,
    /// `d`: weight of each step further back, in (0, 1].
    pub decay: f64,
    /// `α`: share of popularity, in [0, 1].
    pub smoothing: f64,
    /// `κ`, finite and >= 0: the weight is `λ · ΣT / (ΣT + κ)` (the mixture's prior share
    /// `(1 − β) · ΣT / (ΣT + κ)`), where `ΣT` is the window's decayed transition mass over
    /// the eligible items. 0 keeps them whatever the evidence.
    pub evidence: f64,
    /// How the model and the prior are combined.
    pub fusion: Fusion,
    /// β, the model's share of a [`Fusion::Mixture`], in [0, 1]: 0 ranks by the prior, 1
    /// by the model alone. Unused by the product.
    pub model_share: f64,
    /// Cold slots, at most the request's `k`: the last places of a fused list go to the
    /// best eligible cold items (never counted: [`cold_items`]) by the same fused score,
    /// unless the list already holds them higher up. The prior is flat over them, so the
    /// model orders them. `None`: [`default_cold_slots`] of the request's `k`. Used only
    /// where the model and the prior are fused (constrained mode, λ > 0).
    pub cold_slots: Option<usize>,
    /// m, in nats, not NaN: a cold item takes a slot only where the model's own
    /// log-probability of its TID is at least m above that of the item it would push out
    /// (the i-th best cold item against the list's i-th last item), so the counts keep a
    /// place the model is not surer of. `f64::NEG_INFINITY`: the slots always open.
    pub cold_margin: f64,
}

impl Default for PriorParams {
    fn default() -> Self {
        PriorParams {
            weight: None,
            window: DEFAULT_WINDOW,
            decay: DEFAULT_DECAY,
            smoothing: DEFAULT_SMOOTHING,
            evidence: DEFAULT_EVIDENCE,
            fusion: Fusion::Product,
            model_share: DEFAULT_MODEL_SHARE,
            cold_slots: None,
            cold_margin: DEFAULT_COLD_MARGIN,
        }
    }
}

impl PriorParams {
    /// Checks every field's range; the message names the field and what it accepts.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.weight {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("prior weight {w} is not a finite number >= 0"));
            }
        }
        if self.window == 0 {
            return Err("prior window must be at least 1".into());
        }
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(format!("prior decay {} is outside (0, 1]", self.decay));
        }
        if !(0.0..=1.0).contains(&self.smoothing) {
            return Err(format!("prior smoothing {} is outside [0, 1]", self.smoothing));
        }
        if !(self.evidence.is_finite() && self.evidence >= 0.0) {
            return Err(format!("prior evidence {} is not a finite number >= 0", self.evidence));
        }
        if !(0.0..=1.0).contains(&self.model_share) {
            return Err(format!("model share {} is outside [0, 1]", self.model_share));
        }
        if self.cold_margin.is_nan() {
            return Err("cold margin is NaN".into());
        }
        Ok(())
    }

    /// `ΣT / (ΣT + κ)` for a history with transition mass `mass`: 1 when `evidence` is 0,
    /// 0 when the window reached no successor.
    fn evidence_share(&self, mass: f64) -> f64 {
        if self.evidence == 0.0 {
            1.0
        } else {
            mass / (mass + self.evidence)
        }
    }

    /// How the search uses the prior at weight `weight` (λ, from [`Self::weight_for`]) for a
    /// history with transition mass `mass` (`ΣT`); `None` when it comes down to the model
    /// alone (λ = 0, β = 1, or no evidence under an evidence scale).
    pub fn combine(&self, weight: f64, mass: f64) -> Option<Combine> {
        if weight == 0.0 {
            return None;
        }
        let share = self.evidence_share(mass);
        let combine = match self.fusion {
            Fusion::Product => Combine::Product { weight: weight * share },
            Fusion::Mixture => Combine::Mixture {
                prior_share: (1.0 - self.model_share) * share,
            },
        };
        match combine {
            Combine::Product { weight: w } | Combine::Mixture { prior_share: w } if w == 0.0 => None,
            c => Some(c),
        }
    }

    /// The cold slots of a list of `k` items.
    pub fn cold_slots_for(&self, k: usize) -> usize {
        self.cold_slots.unwrap_or_else(|| default_cold_slots(k))
    }

    /// λ for a catalogue that has a prior (`has_prior`) or not; `None` when a positive
    /// weight was asked of a catalogue without one.
    pub fn weight_for(&self, has_prior: bool) -> Option<f64> {
        match (self.weight, has_prior) {
            (None, true) => Some(DEFAULT_WEIGHT),
            (None, false) => Some(0.0),
            (Some(w), false) if w > 0.0 => None,
            (Some(w), _) => Some(w),
        }
    }
}

/// The items the catalogue's counts never saw (popularity 0: no occurrence in the counted
/// log, as with `--new-items`), ascending by id; empty without a prior. O(items).
pub fn cold_items(catalog: &Catalog) -> Result<Vec<u32>, CatalogError> {
    let Some(table) = catalog.transitions() else {
        return Ok(Vec::new());
    };
    let mut cold = Vec::new();
    for index in 0..catalog.len() {
        if table.popularity(index)? == 0 {
            cold.push(
                catalog
                    .item_id(index)
                    .ok_or_else(|| CatalogError::corrupt("Prior", format!("no item id at index {index}")))?,
            );
        }
    }
    cold.sort_unstable();
    Ok(cold)
}

/// One item the prior ranked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriorItem {
    /// Its position in the catalogue (item-index order).
    pub index: usize,
    /// Its external id.
    pub item: u32,
    /// `P(item)`, over the request's eligible items.
    pub probability: f64,
}

/// The prior of one history under one filter.
#[derive(Debug)]
pub struct HistoryPrior<'a> {
    catalog: &'a Catalog,
    table: TransitionTable<'a>,
    filter: &'a ItemFilter,
    smoothing: f64,
    /// `T(j) > 0` of eligible items, by ascending item index.
    transition: Vec<(u32, f64)>,
    transition_total: f64,
    popularity_total: f64,
}

impl<'a> HistoryPrior<'a> {
    /// The prior for `history` (external ids, oldest first; all must be in the catalogue)
    /// over the items `filter` permits. The catalogue must have a prior.
    pub fn new(
        catalog: &'a Catalog,
        history: &[u32],
        filter: &'a ItemFilter,
        params: &PriorParams,
    ) -> Result<Self, CatalogError> {
        let table = catalog.transitions().ok_or(CatalogError::MissingSection("Prior"))?;
        let eligible = |index: usize| catalog.item_id(index).is_some_and(|id| filter.permits(id));
        let mut mass: HashMap<u32, f64> = HashMap::new();
        let mut weight = 1.0;
        for &item in history.iter().rev().take(params.window) {
            if let Some(from) = catalog.item_index(item) {
                let (items, counts) = table.successors(from)?;
                for (to, count) in items.iter().zip(counts) {
                    if eligible(to.get() as usize) {
                        *mass.entry(to.get()).or_default() += weight * f64::from(count.get());
                    }
                }
            }
            weight *= params.decay;
        }
        let mut transition: Vec<(u32, f64)> = mass.into_iter().collect();
        transition.sort_unstable_by_key(|&(index, _)| index);
        // Summed in index order, so that the result never depends on hashing.
        let transition_total = transition.iter().map(|t| t.1).sum();
        let popularity_total = eligible_popularity(catalog, &table, filter)? as f64;
        Ok(HistoryPrior {
            catalog,
            table,
            filter,
            smoothing: params.smoothing,
            transition,
            transition_total,
            popularity_total,
        })
    }

    /// `ΣT`: the window's decayed transition mass over the eligible items.
    pub fn transition_total(&self) -> f64 {
        self.transition_total
    }

    /// `S`: how many eligible items the window leads to (`T(j) > 0`).
    pub fn successors(&self) -> usize {
        self.transition.len()
    }

    /// `T(j)` of the item at `index`: its decayed transition count from the window (0 for
    /// an item no window item led to, or one the request may not return).
    pub fn transition_mass(&self, index: usize) -> f64 {
        self.transition
            .binary_search_by_key(&(index as u32), |t| t.0)
            .map_or(0.0, |at| self.transition[at].1)
    }

    /// `P(j)` of an eligible item from its transition mass and popularity.
    fn probability_of(&self, transition: f64, popularity: u32) -> f64 {
        let pop = (f64::from(popularity) + 1.0) / self.popularity_total;
        if self.transition_total > 0.0 {
            (1.0 - self.smoothing) * transition / self.transition_total + self.smoothing * pop
        } else {
            pop
        }
    }

    /// `P(j)` of the item at `index`; 0 for an item the request may not return.
    pub fn probability(&self, index: usize) -> Result<f64, CatalogError> {
        let permitted = self.catalog.item_id(index).is_some_and(|id| self.filter.permits(id));
        if !permitted || self.popularity_total == 0.0 {
            return Ok(0.0);
        }
        Ok(self.probability_of(self.transition_mass(index), self.table.popularity(index)?))
    }

    /// The `k` most probable eligible items, best first; ties go to the more popular item,
    /// then to the lower id. Items of probability 0 (possible only with smoothing 0) are
    /// left out. O(transitions of the window + k), never a pass over the catalogue.
    pub fn rank(&self, k: usize) -> Result<Vec<PriorItem>, CatalogError> {
        let mut scored: Vec<(PriorItem, u32)> = Vec::with_capacity(self.transition.len() + k);
        for &(index, transition) in &self.transition {
            let index = index as usize;
            let popularity = self.table.popularity(index)?;
            let item = self.item_id(index)?;
            let probability = self.probability_of(transition, popularity);
            scored.push((
                PriorItem {
                    index,
                    item,
                    probability,
                },
                popularity,
            ));
        }
        // The rest score by popularity alone, so the popularity order ranks them: the first
        // k eligible ones are all that can matter.
        let mut rest = 0;
        for entry in self.table.by_popularity() {
            if rest == k || self.popularity_total == 0.0 {
                break;
            }
            let index = entry.get() as usize;
            let item = self.item_id(index)?;
            if !self.filter.permits(item) || self.transition_mass(index) > 0.0 {
                continue;
            }
            let popularity = self.table.popularity(index)?;
            let probability = self.probability_of(0.0, popularity);
            scored.push((
                PriorItem {
                    index,
                    item,
                    probability,
                },
                popularity,
            ));
            rest += 1;
        }
        scored.retain(|(s, _)| s.probability > 0.0);
        scored.sort_unstable_by(by_probability);
        scored.truncate(k);
        Ok(scored.into_iter().map(|(s, _)| s).collect())
    }

    /// The eligible items of TID index `tid` with their probability, most probable first
    /// (ties: more popular, then lower id); items of probability 0 are left out.
    pub fn tid_items(&self, tid: usize) -> Result<Vec<PriorItem>, CatalogError> {
        let mut out = Vec::new();
        for (index, item) in self.catalog.tid_members(tid)? {
            if !self.filter.permits(item) {
                continue;
            }
            let probability = self.probability(index)?;
            if probability > 0.0 {
                out.push((
                    PriorItem {
                        index,
                        item,
                        probability,
                    },
                    self.table.popularity(index)?,
                ));
            }
        }
        out.sort_unstable_by(by_probability);
        Ok(out.into_iter().map(|(s, _)| s).collect())
    }

    fn item_id(&self, index: usize) -> Result<u32, CatalogError> {
        self.catalog
            .item_id(index)
            .ok_or_else(|| CatalogError::corrupt("Prior", format!("item index {index} out of range")))
    }

    /// The prior mass below every node of `trie`, for fused decoding.
    pub fn node_masses(&self, trie: &TokenTrie<'_>) -> Result<NodeMasses<'a>, CatalogError> {
        NodeMasses::new(self, trie)
    }
}

/// The prior's order of (item, popularity): more probable first, then more popular, then
/// the lower id (item indices follow ids).
fn by_probability((a, pop_a): &(PriorItem, u32), (b, pop_b): &(PriorItem, u32)) -> std::cmp::Ordering {
    b.probability
        .total_cmp(&a.probability)
        .then(pop_b.cmp(pop_a))
        .then(a.index.cmp(&b.index))
}

/// Σ (popularity + 1) over the items `filter` permits: walked from the filter's lists, not
/// from the catalogue.
fn eligible_popularity(
    catalog: &Catalog,
    table: &TransitionTable<'_>,
    filter: &ItemFilter,
) -> Result<u64, CatalogError> {
    let mass = |item: u32| -> Result<u64, CatalogError> {
        match catalog.item_index(item) {
            Some(index) => Ok(u64::from(table.popularity(index)?) + 1),
            None => Ok(0),
        }
    };
    if let Some(allowed) = filter.allowed() {
        let mut total = 0;
        for &item in allowed.iter().filter(|&&item| filter.permits(item)) {
            total += mass(item)?;
        }
        return Ok(total);
    }
    let mut removed = 0;
    for &item in filter.excluded() {
        removed += mass(item)?;
    }
    Ok(table.popularity_mass().saturating_sub(removed))
}

/// `M(node)`: the prior mass of the eligible items below each trie node, for one request.
/// Built by walking up from the few leaves the request touches — the window's successors
/// and the filter's items — so it costs nothing per catalogue item.
#[derive(Debug)]
pub struct NodeMasses<'a> {
    smoothing: f64,
    transition_total: f64,
    popularity_total: f64,
    /// Σ T(j) below each node that has any.
    transition: HashMap<u32, f64>,
    popularity: PopularityBelow<'a>,
}

/// Σ (popularity + 1) of the eligible items below a node.
#[derive(Debug)]
enum PopularityBelow<'a> {
    /// Without an allow-list: the catalogue's per-node sum, less the excluded items'.
    AllButExcluded {
        table: TransitionTable<'a>,
        removed: HashMap<u32, u64>,
    },
    /// With an allow-list: the allowed, non-excluded items' own sums.
    Allowed(HashMap<u32, u64>),
}

/// Calls `f` on `leaf` and every node above it.
fn for_each_ancestor(trie: &TokenTrie<'_>, leaf: u32, mut f: impl FnMut(u32)) -> Result<(), CatalogError> {
    let mut node = Some(leaf);
    while let Some(n) = node {
        f(n);
        node = trie.parent(n)?;
    }
    Ok(())
}

impl<'a> NodeMasses<'a> {
    fn new(prior: &HistoryPrior<'a>, trie: &TokenTrie<'_>) -> Result<Self, CatalogError> {
        let catalog = prior.catalog;
        if prior.table.node_popularity(TokenTrie::ROOT)?.is_none() {
            return Err(CatalogError::corrupt(
                "Prior",
                "no per-node sums: the prior was built without the token trie; rebuild the catalogue with --model",
            ));
        }
        let leaf_of =
            |index: usize| -> Result<u32, CatalogError> { trie.leaf_of(catalog.item_tid_index(index)? as u32) };
        let mut transition: HashMap<u32, f64> = HashMap::new();
        for &(index, mass) in &prior.transition {
            for_each_ancestor(trie, leaf_of(index as usize)?, |n| {
                *transition.entry(n).or_default() += mass
            })?;
        }
        let mut sums: HashMap<u32, u64> = HashMap::new();
        let (items, allowed): (&[u32], bool) = match prior.filter.allowed() {
            Some(allowed) => (allowed, true),
            None => (prior.filter.excluded(), false),
        };
        for &item in items {
            if allowed && !prior.filter.permits(item) {
                continue;
            }
            let Some(index) = catalog.item_index(item) else {
                continue;
            };
            let mass = u64::from(prior.table.popularity(index)?) + 1;
            for_each_ancestor(trie, leaf_of(index)?, |n| *sums.entry(n).or_default() += mass)?;
        }
        let popularity = if allowed {
            PopularityBelow::Allowed(sums)
        } else {
            PopularityBelow::AllButExcluded {
                table: prior.table,
                removed: sums,
            }
        };
        Ok(NodeMasses {
            smoothing: prior.smoothing,
            transition_total: prior.transition_total,
            popularity_total: prior.popularity_total,
            transition,
            popularity,
        })
    }

    /// `M(node)`, in [0, 1]: 1 at a node above every eligible item, 0 at one with none.
    pub fn mass(&self, node: u32) -> Result<f64, CatalogError> {
        if self.popularity_total == 0.0 {
            return Ok(0.0);
        }
        let popularity = match &self.popularity {
            PopularityBelow::AllButExcluded { table, removed } => {
                let all = table.node_popularity(node)?.unwrap_or(0);
                all.saturating_sub(removed.get(&node).copied().unwrap_or(0))
            }
            PopularityBelow::Allowed(sums) => sums.get(&node).copied().unwrap_or(0),
        } as f64
            / self.popularity_total;
        if self.transition_total > 0.0 {
            let transition = self.transition.get(&node).copied().unwrap_or(0.0) / self.transition_total;
            Ok((1.0 - self.smoothing) * transition + self.smoothing * popularity)
        } else {
            Ok(popularity)
        }
    }
}

#[cfg(test)]
mod tests;
