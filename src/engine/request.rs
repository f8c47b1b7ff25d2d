//! A request: what a caller asks for ([`RecommendParams`]), what it gets back
//! ([`Response`]), and the plan between them. A request is checked once, against the
//! catalogue and the session's limits, into a `Plan` that holds every setting resolved
//! (beam width, filter, the prior's effective weight); the session and the searches run the
//! plan and never look at the parameters again.

use std::time::Instant;

use super::EngineError;
use crate::catalog::Catalog;
use crate::decode::SearchStats;
use crate::filter::ItemFilter;
use crate::prior::{HistoryPrior, PriorParams};
use crate::tid::Tid;

/// Beam width of a request that does not choose one, unless it fuses the prior.
pub const DEFAULT_BEAMS: usize = 20;
/// Beam width of a constrained request fused with the prior that does not choose one (never
/// below its `k`): the prior keeps good candidates among the beams, so half the width scored
/// within noise of 20 on the Beauty validation split, and decodes 77 beam tokens a request
/// in `grlm bench` instead of 131 (docs/results.md).
pub const DEFAULT_FUSED_BEAMS: usize = 10;

/// How the model's output becomes items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Beam search inside the catalogue's token trie: every answer is a real, eligible item.
    #[default]
    Constrained,
    /// The paper's setting: unconstrained beams, then grounding of the generated texts.
    Free,
    /// The collaborative prior alone ranks every eligible item; the model is not run.
    Prior,
}

/// One request.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendParams {
    /// Items to return (at most; fewer when fewer are eligible).
    pub k: usize,
    /// Beam width, at most the session's `max_beams` and at least `k` in constrained mode.
    /// `None`: [`DEFAULT_FUSED_BEAMS`] for a constrained search fused with the prior,
    /// [`DEFAULT_BEAMS`] otherwise, raised to `k` in constrained mode
    /// ([`RecommendParams::beam_width`]).
    pub beams: Option<usize>,
    /// Constrained or free decoding.
    pub mode: Mode,
    /// Leave the history's items out of the results.
    pub exclude_history: bool,
    /// Further exclusions and an optional allow-list; in constrained mode they prune the
    /// trie, so beams are never spent on ineligible items.
    pub filter: ItemFilter,
    /// Only the last `max_history` history items are shown to the model (the paper uses
    /// 20); all of them are still excluded from the results.
    pub max_history: usize,
    /// Free mode: most tokens a beam may generate.
    pub max_tokens: usize,
    /// How the catalogue's collaborative prior is used: its weight in constrained
    /// decoding, and its window, decay and smoothing (also in prior mode).
    pub prior: PriorParams,
}

impl Default for RecommendParams {
    fn default() -> Self {
        RecommendParams {
            k: 10,
            beams: None,
            mode: Mode::Constrained,
            exclude_history: true,
            filter: ItemFilter::none(),
            max_history: 20,
            max_tokens: 48,
            prior: PriorParams::default(),
        }
    }
}

impl RecommendParams {
    /// The beam width this request searches with on a catalogue that has a prior
    /// (`has_prior`) or not: `beams` when it is set, else the default for its mode and
    /// prior weight.
    pub fn beam_width(&self, has_prior: bool) -> usize {
        if let Some(beams) = self.beams {
            return beams;
        }
        let fused = self.prior.weight_for(has_prior).is_some_and(|w| w > 0.0);
        match self.mode {
            Mode::Constrained if fused => DEFAULT_FUSED_BEAMS.max(self.k),
            Mode::Constrained => DEFAULT_BEAMS.max(self.k),
            Mode::Free | Mode::Prior => DEFAULT_BEAMS,
        }
    }
}

/// One recommended item.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// The item id.
    pub item: u32,
    /// Constrained mode: the log-probability of its TID renormalised over eligible TIDs,
    /// plus `λ · ln P(item)` when the prior is fused (items sharing a TID then come most
    /// probable first; without the prior they share the score and come in ascending id
    /// order; so do items in cold slots). Free mode: the generating beam's plain
    /// log-probability. Prior mode: `ln P(item)`.
    pub score: f64,
    /// Constrained mode: the model's own part of the score, the log-probability of the
    /// item's TID renormalised over eligible TIDs (without the prior, the score itself).
    /// It says how sure the model is of an item the prior placed. `None` in free and
    /// prior modes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_score: Option<f64>,
    /// The item's TID.
    #[serde(serialize_with = "tid_text")]
    pub tid: Tid,
    /// Its title, if the catalogue has one.
    pub title: Option<String>,
}

fn tid_text<S: serde::Serializer>(tid: &Tid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&tid.to_string())
}

/// A free-mode beam before grounding.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Generated {
    /// What the model wrote.
    pub text: String,
    /// Its log-probability.
    pub score: f64,
    /// Whether it parses as a TID of the catalogue's length.
    pub valid: bool,
    /// Whether it names a catalogue TID exactly.
    pub direct: bool,
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Response {
    /// Best first.
    pub results: Vec<Recommendation>,
    /// Free mode: every beam's text (empty in constrained mode, where every beam is valid).
    pub generated: Vec<Generated>,
    /// What the request cost.
    pub stats: SearchStats,
}

/// A request checked and resolved: everything decoding needs, worked out once.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub mode: Mode,
    /// Items to return.
    pub k: usize,
    /// Beams kept per step (unused in prior mode).
    pub width: usize,
    /// The request's filter, with the history excluded when it asks so.
    pub filter: ItemFilter,
    /// The prior's effective weight λ in constrained decoding; 0 is the model alone.
    pub weight: f64,
    /// The prior's settings (window, decay, smoothing, fusion).
    pub prior: PriorParams,
    /// History items shown in the prompt: the last `max_history`.
    pub max_history: usize,
    /// Free mode: most tokens a beam may generate.
    pub max_tokens: usize,
}

impl Plan {
    /// Checks `params` for `history` on `catalog` and resolves them. What every request
    /// needs: a non-empty history of catalogue items, `k` within the catalogue, valid prior
    /// settings, and a prior when the request asks for one. A request that runs the model
    /// also needs a width within the session's `max_beams` (`None`: a prior-mode request
    /// made without a session) and, in constrained mode, at least `k` beams.
    pub(crate) fn new(
        catalog: &Catalog,
        history: &[u32],
        params: &RecommendParams,
        max_beams: Option<u32>,
    ) -> Result<Plan, EngineError> {
        let invalid = |m: String| Err(EngineError::InvalidRequest(m));
        if history.is_empty() {
            return Err(EngineError::EmptyHistory);
        }
        if let Some(&unknown) = history.iter().find(|&&item| !catalog.contains(item)) {
            return Err(EngineError::UnknownItem(unknown));
        }
        if params.k == 0 {
            return invalid("k must be at least 1".into());
        }
        if params.k > catalog.len() {
            return invalid(format!(
                "k = {} exceeds the catalogue's {} items",
                params.k,
                catalog.len()
            ));
        }
        if params.max_history == 0 {
            return invalid("max_history must be at least 1".into());
        }
        params.prior.validate().map_err(EngineError::InvalidRequest)?;
        if let Some(slots) = params.prior.cold_slots.filter(|&slots| slots > params.k) {
            return invalid(format!("cold_slots = {slots} exceeds k = {}", params.k));
        }
        let has_prior = catalog.transitions().is_some();
        let weight = params.prior.weight_for(has_prior).ok_or(EngineError::NoPrior)?;
        if params.mode == Mode::Prior && !has_prior {
            return Err(EngineError::NoPrior);
        }
        let width = params.beam_width(has_prior);
        if params.mode != Mode::Prior {
            let max_beams = max_beams.map_or(usize::MAX, |m| m as usize);
            if width == 0 || width > max_beams {
                return invalid(format!(
                    "{width} beams{}; this session allows 1..={max_beams} (SessionParams::max_beams)",
                    if params.beams.is_none() {
                        " (the default width for this request)"
                    } else {
                        ""
                    },
                ));
            }
            if params.mode == Mode::Constrained && params.k > width {
                return invalid(format!(
                    "k = {} exceeds the beam width {width}: constrained search finds at most about one TID per beam; raise beams",
                    params.k
                ));
            }
            if params.mode == Mode::Free && params.max_tokens == 0 {
                return invalid("max_tokens must be at least 1".into());
            }
        }
        let mut filter = params.filter.clone();
        if params.exclude_history {
            filter = filter.exclude(history.iter().copied());
        }
        Ok(Plan {
            mode: params.mode,
            k: params.k,
            width,
            filter,
            weight,
            prior: params.prior,
            max_history: params.max_history,
            max_tokens: params.max_tokens,
        })
    }

    /// The history items the prompt shows.
    pub(crate) fn shown<'h>(&self, history: &'h [u32]) -> &'h [u32] {
        &history[history.len().saturating_sub(self.max_history)..]
    }
}

/// A result with its TID and title, for the item at `index`.
pub(crate) fn recommendation(
    catalog: &Catalog,
    index: usize,
    item: u32,
    score: f64,
    model_score: Option<f64>,
) -> Result<Recommendation, EngineError> {
    Ok(Recommendation {
        item,
        score,
        model_score,
        tid: catalog.tid_at(catalog.item_tid_index(index)?)?,
        title: catalog.title_at(index)?.map(str::to_owned),
    })
}

/// Prior mode without a model: the catalogue's prior ranks the items `params` allows for
/// `history` (its `mode` is ignored; beams and decoding fields are not used). The same
/// results as a session's prior mode.
pub fn recommend_by_prior(
    catalog: &Catalog,
    history: &[u32],
    params: &RecommendParams,
) -> Result<Response, EngineError> {
    let params = RecommendParams {
        mode: Mode::Prior,
        ..params.clone()
    };
    let plan = Plan::new(catalog, history, &params, None)?;
    rank_by_prior(catalog, history, &plan)
}

/// Prior mode: the prior ranks the eligible items; no model call.
pub(crate) fn rank_by_prior(catalog: &Catalog, history: &[u32], plan: &Plan) -> Result<Response, EngineError> {
    let started = Instant::now();
    let prior = HistoryPrior::new(catalog, history, &plan.filter, &plan.prior)?;
    let results = prior
        .rank(plan.k)?
        .into_iter()
        .map(|p| recommendation(catalog, p.index, p.item, p.probability.ln(), None))
        .collect::<Result<_, _>>()?;
    Ok(Response {
        results,
        generated: Vec::new(),
        stats: SearchStats {
            total_time: started.elapsed(),
            ..SearchStats::default()
        },
    })
}
