//! `grlm-train terms-stats`: what a TID file looks like — how many distinct terms it uses,
//! how often items share a TID, whether every TID is valid, whether its TIDs read like a
//! person's ([`Properties`], beside the reference's for the same items), how consistent
//! neighbours' terms are, and how far it agrees with a reference TID file.
//!
//! Shared terms are counted position-free: `[soap, shea]` and `[shea, bar]` share one.
//! Only valid TIDs (exactly N terms that normalise) enter the term, collision, neighbour
//! and reference figures.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use grlm::catalog::input::for_each_line;
use grlm::tid::normalize_term;
use grlm::Tid;
use serde::Serialize;
use serde_json::Value;

use crate::neighbors::text::read_items;
use crate::terms::rules::{self, is_function_word, same_word, text_words, word_key, ItemRules};
use crate::terms::tids::read_neighbors;
use crate::terms::{ItemLines, TermsError};

/// `grlm-train terms-stats`: statistics of a TID file.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct StatsArgs {
    /// The TID file (`{"item": ID, "terms": [...]}` per line).
    pub tids: PathBuf,
    /// A reference TID file to measure agreement with.
    #[cfg_attr(feature = "cli", arg(long))]
    pub reference: Option<PathBuf>,
    /// The items file, to report how many items with text have a TID.
    #[cfg_attr(feature = "cli", arg(long))]
    pub items: Option<PathBuf>,
    /// Neighbours (from `grlm-train neighbors`), to measure how many terms they share.
    #[cfg_attr(feature = "cli", arg(long))]
    pub neighbors: Option<PathBuf>,
    /// Terms a valid TID has.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = grlm::tid::DEFAULT_TID_LEN))]
    pub terms: usize,
    /// Print JSON instead of text.
    #[cfg_attr(feature = "cli", arg(long))]
    pub json: bool,
}

/// Statistics of a TID file.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TermsStats {
    /// Lines (items) in the file.
    pub items: usize,
    /// Items whose terms normalise to a TID of exactly N terms.
    pub valid: usize,
    /// `valid` over `items`.
    pub validity: f64,
    /// Share of items whose terms were already written normalised.
    pub normalised: f64,
    /// Distinct valid TIDs.
    pub unique_tids: usize,
    /// Distinct terms over all positions.
    pub unique_terms: usize,
    /// Distinct terms at each position.
    pub unique_terms_per_position: Vec<usize>,
    /// Share of valid items whose TID another item also has.
    pub collision_rate: f64,
    /// How the valid TIDs read.
    pub properties: Properties,
    /// The same for the reference's TIDs of the items valid in both files, with
    /// `--reference`.
    pub reference_properties: Option<Properties>,
    /// Coverage of the items file, with `--items`.
    pub coverage: Option<Coverage>,
    /// Neighbour consistency, with `--neighbors`.
    pub neighbors: Option<NeighborStats>,
    /// Agreement with `--reference`.
    pub reference: Option<Agreement>,
}

/// How many items with text have a valid TID.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Coverage {
    /// Items with text in the items file.
    pub items_with_text: usize,
    /// Of those, items with a valid TID.
    pub with_tid: usize,
    /// `with_tid` over `items_with_text`.
    pub share: f64,
}

/// How many terms an item's TID shares with its neighbours'.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NeighborStats {
    /// Items with a valid TID and at least one neighbour with one.
    pub items: usize,
    /// Mean over those items of the mean shared terms with their neighbours.
    pub mean_shared_terms: f64,
    /// The same for a fixed pairing of unrelated items (item i with item i + n/2), the
    /// baseline neighbours should beat.
    pub unrelated_mean_shared_terms: f64,
    /// Neighbour references to items without a valid TID here, ignored.
    pub unknown: usize,
}

/// Agreement with a reference TID file, over items valid in both.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Agreement {
    /// Items with a valid TID in both files.
    pub items: usize,
    /// Share of them sharing at least one term with the reference.
    pub share_at_least_1: f64,
    /// Share sharing at least three.
    pub share_at_least_3: f64,
    /// Mean shared terms.
    pub mean_shared_terms: f64,
    /// Share with exactly the reference's TID.
    pub exact: f64,
}

/// How a set of TIDs reads: what a person writing TIDs avoids, measured.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Properties {
    /// TIDs measured.
    pub tids: usize,
    /// Share of TIDs in which a word appears twice, across terms or within one
    /// ([`same_word`]: a plural, a longer form or a respelling counts as the same word).
    pub word_reuse: f64,
    /// Share of TIDs with a term that begins with an earlier term of the same TID
    /// (`comedy-relief`, then `comedy-relief-film` or `comedy-relief1996`).
    pub extends_earlier_term: f64,
    /// Share of terms with a word that mixes letters and digits (`thriller1993`, `spf15`).
    pub glued_digits: f64,
    /// Share of terms with a function word (`the`, `of`, …) as a word.
    pub function_words: f64,
    /// Mean `-`-joined words per term.
    pub words_per_term: f64,
    /// With `--items`: share of terms with a word that has digits the item's text does not
    /// have as a word.
    pub numbers_not_in_text: Option<f64>,
    /// With `--items`: share of terms each of whose words is a word of the item's text
    /// (plural endings ignored).
    pub terms_in_own_text: Option<f64>,
    /// With `--items`: share of TIDs that break a rule generation is held to
    /// ([`crate::terms::rules`]).
    pub breaking_rules: Option<f64>,
    /// With `--items`: share of terms with a word (without digits) that the item's own
    /// text lacks but another item's text in the file has: a word borrowed from a
    /// neighbour, which fits the neighbour and may not fit the item.
    #[serde(default)]
    pub borrowed_words: Option<f64>,
}

/// Measures `tids`; `texts` gives each item's text where known.
fn properties(tids: &[(u32, &Tid)], texts: Option<&HashMap<u32, &str>>) -> Properties {
    let (mut reuse, mut extends, mut glued, mut function, mut words, mut terms) = (0, 0, 0, 0, 0, 0);
    let (mut with_text, mut numbers, mut in_text, mut breaking, mut text_tids) = (0, 0, 0, 0, 0);
    let mut borrowed = 0;
    let everyone: BTreeSet<Vec<u8>> = texts
        .map(|t| {
            t.values()
                .flat_map(|text| text_words(text))
                .map(|w| word_key(w.as_bytes()))
                .collect()
        })
        .unwrap_or_default();
    for &(item, tid) in tids {
        let list: Vec<&str> = tid.terms().iter().map(|t| t.as_str()).collect();
        let words_of: Vec<&[u8]> = list.iter().flat_map(|t| t.split('-')).map(str::as_bytes).collect();
        reuse += usize::from((0..words_of.len()).any(|j| words_of[..j].iter().any(|e| same_word(e, words_of[j]))));
        extends += usize::from(
            list.iter()
                .enumerate()
                .any(|(j, t)| list[..j].iter().any(|e| t.starts_with(e))),
        );
        for term in &list {
            let split: Vec<&str> = term.split('-').collect();
            terms += 1;
            words += split.len();
            let mixed = |w: &&str| w.bytes().any(|b| b.is_ascii_digit()) && w.bytes().any(|b| b.is_ascii_lowercase());
            glued += usize::from(split.iter().any(mixed));
            function += usize::from(split.iter().any(|w| is_function_word(w.as_bytes())));
        }
        let Some(text) = texts.and_then(|t| t.get(&item)) else {
            continue;
        };
        let rules = ItemRules::for_text(text);
        let own: BTreeSet<Vec<u8>> = text_words(text).map(|w| word_key(w.as_bytes())).collect();
        text_tids += 1;
        breaking += usize::from(rules::check(&list, &rules).is_err());
        for term in &list {
            with_text += 1;
            numbers += usize::from(
                term.split('-')
                    .any(|w| w.bytes().any(|b| b.is_ascii_digit()) && !rules.allows_number(w.as_bytes())),
            );
            in_text += usize::from(term.split('-').all(|w| own.contains(&word_key(w.as_bytes()))));
            borrowed += usize::from(term.split('-').any(|w| {
                let key = word_key(w.as_bytes());
                !w.bytes().any(|b| b.is_ascii_digit()) && !own.contains(&key) && everyone.contains(&key)
            }));
        }
    }
    let measured = texts.is_some();
    Properties {
        tids: tids.len(),
        word_reuse: share(reuse, tids.len()),
        extends_earlier_term: share(extends, tids.len()),
        glued_digits: share(glued, terms),
        function_words: share(function, terms),
        words_per_term: share(words, terms),
        numbers_not_in_text: measured.then(|| share(numbers, with_text)),
        terms_in_own_text: measured.then(|| share(in_text, with_text)),
        breaking_rules: measured.then(|| share(breaking, text_tids)),
        borrowed_words: measured.then(|| share(borrowed, with_text)),
    }
}

/// One line of a TID file: the item and its TID when valid.
struct Entry {
    item: u32,
    tid: Option<Tid>,
    normalised: bool,
}

/// Reads a TID file leniently: a line that is not JSON or lacks an item id is an error
/// (file and line), a repeated item an error naming both lines, and terms that do not make
/// a valid TID only count as invalid.
fn read_entries(path: &Path, terms: usize) -> Result<Vec<Entry>, TermsError> {
    let file = File::open(path).map_err(TermsError::io(path))?;
    let mut out = Vec::new();
    let mut first_line = ItemLines::default();
    for_each_line(BufReader::new(file), path, |line, text| {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let item = first_line.item(&value, line)?;
        let raw: Option<Vec<&str>> = value
            .get("terms")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_str).collect());
        let tid = raw
            .as_ref()
            .and_then(|r| Tid::from_terms(r).ok())
            .filter(|t| t.len() == terms);
        let normalised = raw
            .as_ref()
            .is_some_and(|r| tid.is_some() && r.iter().all(|t| normalize_term(t).as_deref() == Ok(*t)));
        out.push(Entry { item, tid, normalised });
        Ok(())
    })?;
    Ok(out)
}

fn shared(a: &Tid, b: &Tid) -> usize {
    let a: BTreeSet<&str> = a.terms().iter().map(|t| t.as_str()).collect();
    let b: BTreeSet<&str> = b.terms().iter().map(|t| t.as_str()).collect();
    a.intersection(&b).count()
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// Computes the statistics.
pub fn run(args: &StatsArgs) -> Result<TermsStats, TermsError> {
    if !(1..=grlm::tid::MAX_TID_LEN).contains(&args.terms) {
        return Err(TermsError::Usage(format!(
            "--terms must be 1..={}",
            grlm::tid::MAX_TID_LEN
        )));
    }
    let entries = read_entries(&args.tids, args.terms)?;
    let valid: Vec<(u32, &Tid)> = entries.iter().filter_map(|e| Some((e.item, e.tid.as_ref()?))).collect();
    let mut per_position: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); args.terms];
    let mut all_terms: BTreeSet<&str> = BTreeSet::new();
    let mut counts: HashMap<&Tid, usize> = HashMap::new();
    for (_, tid) in &valid {
        for (p, t) in tid.terms().iter().enumerate() {
            per_position[p].insert(t.as_str());
            all_terms.insert(t.as_str());
        }
        *counts.entry(*tid).or_default() += 1;
    }
    let colliding: usize = counts.values().filter(|&&c| c > 1).sum();
    let by_item: HashMap<u32, &Tid> = valid.iter().copied().collect();

    let items = match &args.items {
        Some(path) => Some(read_items(path, None)?.items),
        None => None,
    };
    let texts: Option<HashMap<u32, &str>> = items
        .as_ref()
        .map(|items| items.iter().map(|i| (i.item, i.text.as_str())).collect());
    let coverage = items.as_ref().map(|items| {
        let with_tid = items.iter().filter(|i| by_item.contains_key(&i.item)).count();
        Coverage {
            items_with_text: items.len(),
            with_tid,
            share: share(with_tid, items.len()),
        }
    });
    let neighbors = match &args.neighbors {
        Some(path) => Some(neighbor_stats(path, &valid)?),
        None => None,
    };
    let reference_entries = match &args.reference {
        Some(path) => Some(read_entries(path, args.terms)?),
        None => None,
    };
    let reference_properties = reference_entries.as_ref().map(|reference| {
        let same_items: Vec<(u32, &Tid)> = reference
            .iter()
            .filter(|r| by_item.contains_key(&r.item))
            .filter_map(|r| Some((r.item, r.tid.as_ref()?)))
            .collect();
        properties(&same_items, texts.as_ref())
    });
    let reference = match &reference_entries {
        Some(reference) => {
            let (mut both, mut one, mut three, mut exact, mut total) = (0, 0, 0, 0, 0);
            for r in reference {
                let (Some(want), Some(got)) = (r.tid.as_ref(), by_item.get(&r.item)) else {
                    continue;
                };
                let s = shared(got, want);
                both += 1;
                total += s;
                one += usize::from(s >= 1);
                three += usize::from(s >= 3);
                exact += usize::from(*got == want);
            }
            Some(Agreement {
                items: both,
                share_at_least_1: share(one, both),
                share_at_least_3: share(three, both),
                mean_shared_terms: share(total, both),
                exact: share(exact, both),
            })
        }
        None => None,
    };
    Ok(TermsStats {
        items: entries.len(),
        valid: valid.len(),
        validity: share(valid.len(), entries.len()),
        normalised: share(entries.iter().filter(|e| e.normalised).count(), entries.len()),
        unique_tids: counts.len(),
        unique_terms: all_terms.len(),
        unique_terms_per_position: per_position.iter().map(BTreeSet::len).collect(),
        collision_rate: share(colliding, valid.len()),
        properties: properties(&valid, texts.as_ref()),
        reference_properties,
        coverage,
        neighbors,
        reference,
    })
}

fn neighbor_stats(path: &Path, valid: &[(u32, &Tid)]) -> Result<NeighborStats, TermsError> {
    let index: HashMap<u32, usize> = valid.iter().enumerate().map(|(i, (item, _))| (*item, i)).collect();
    let read = read_neighbors(path, &index, usize::MAX)?;
    let (lists, unknown) = (read.lists, read.unknown);
    let (mut items, mut sum) = (0usize, 0.0f64);
    for (i, list) in lists.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let total: usize = list.iter().map(|&j| shared(valid[i].1, valid[j].1)).sum();
        items += 1;
        sum += total as f64 / list.len() as f64;
    }
    let n = valid.len();
    let unrelated: usize = (0..n).map(|i| shared(valid[i].1, valid[(i + n / 2) % n].1)).sum();
    Ok(NeighborStats {
        items,
        mean_shared_terms: if items == 0 { 0.0 } else { sum / items as f64 },
        unrelated_mean_shared_terms: share(unrelated, n),
        unknown,
    })
}

/// The statistics as text lines, for people.
pub fn render(stats: &TermsStats) -> String {
    let mut out = format!(
        "items: {}\nvalid: {} ({:.2}%)\nnormalised as written: {:.2}%\nunique TIDs: {}\nunique terms: {}\nunique terms per position: {:?}\ncollision rate: {:.4}%\n",
        stats.items,
        stats.valid,
        stats.validity * 100.0,
        stats.normalised * 100.0,
        stats.unique_tids,
        stats.unique_terms,
        stats.unique_terms_per_position,
        stats.collision_rate * 100.0
    );
    out.push_str(&render_properties(
        &stats.properties,
        stats.reference_properties.as_ref(),
    ));
    if let Some(c) = &stats.coverage {
        out.push_str(&format!(
            "items with text that have a TID: {}/{} ({:.2}%)\n",
            c.with_tid,
            c.items_with_text,
            c.share * 100.0
        ));
    }
    if let Some(n) = &stats.neighbors {
        out.push_str(&format!(
            "shared terms with neighbours: {:.3} (unrelated items: {:.3}) over {} items\n",
            n.mean_shared_terms, n.unrelated_mean_shared_terms, n.items
        ));
    }
    if let Some(r) = &stats.reference {
        out.push_str(&format!(
            "agreement with the reference over {} items: ≥1 term {:.2}%, ≥3 terms {:.2}%, mean {:.3} shared, exact {:.2}%\n",
            r.items,
            r.share_at_least_1 * 100.0,
            r.share_at_least_3 * 100.0,
            r.mean_shared_terms,
            r.exact * 100.0
        ));
    }
    out
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn percent_or_dash(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), percent)
}

/// A row of the properties table: its label and how it shows a value.
type PropertyRow = (&'static str, fn(&Properties) -> String);

/// The properties as a table, with the reference's beside them when there is one.
fn render_properties(ours: &Properties, reference: Option<&Properties>) -> String {
    let rows: [PropertyRow; 9] = [
        ("TIDs repeating a word", |p| percent(p.word_reuse)),
        ("TIDs with a term extending an earlier one", |p| {
            percent(p.extends_earlier_term)
        }),
        ("terms gluing digits to letters", |p| percent(p.glued_digits)),
        ("terms with a function word", |p| percent(p.function_words)),
        ("words per term", |p| format!("{:.2}", p.words_per_term)),
        ("terms with digits not in the item's text", |p| {
            percent_or_dash(p.numbers_not_in_text)
        }),
        ("terms found in the item's own text", |p| {
            percent_or_dash(p.terms_in_own_text)
        }),
        ("TIDs breaking a rule", |p| percent_or_dash(p.breaking_rules)),
        ("terms borrowing another item's word", |p| {
            percent_or_dash(p.borrowed_words)
        }),
    ];
    let mut out = format!("{:<42} {:>9}", "", "these");
    if reference.is_some() {
        out.push_str(&format!(" {:>9}", "reference"));
    }
    out.push('\n');
    for (name, value) in rows {
        out.push_str(&format!("{name:<42} {:>9}", value(ours)));
        if let Some(r) = reference {
            out.push_str(&format!(" {:>9}", value(r)));
        }
        out.push('\n');
    }
    out
}
