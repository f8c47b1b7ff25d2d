//! `grlm-train terms`: every item's TID, written by the backbone.
//!
//! Items are taken in file order in fixed consecutive groups of `--parallel`; a group's
//! items are decoded together ([`super::generate`]), each prompt showing the item's text,
//! its neighbours' text (`--neighbors`, from `grlm-train neighbors`) and the TIDs of those
//! neighbours that earlier groups finished. Collisions are resolved in item order within a
//! group: a TID already given out is regenerated with its first N−1 terms kept and its last
//! term forbidden to repeat one taken under that prefix (up to [`MAX_REGENERATIONS`]
//! times), then replaced by a word of the item's own text, then suffixed
//! ([`super::resolve`]).
//!
//! After each group its results are appended to `<out>.partial` ([`super::partial`]). A
//! run with `--resume` reads them back and goes on with the next group; since the groups
//! are the same and a group's work depends only on what earlier groups wrote, the output
//! is byte for byte the one an uninterrupted run writes. The output is written atomically
//! at the end, in input order, and the progress file removed:
//!
//! ```text
//! {"item":1,"terms":["hair-mask","restructuring","citrus","unisex","phyto"],"resolved":"none"}
//! ```
//!
//! `grlm catalog build --tids` reads this file (it ignores `resolved`).
//!
//! With `--endpoint URL` instead of `--model`, the same prompts go to an OpenAI-compatible
//! chat-completions server ([`super::endpoint`]), `--parallel` requests at a time; the
//! groups, collision resolution and progress file work as above.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::prompts::{
    default_term_examples, detail_lines, term_generation_ask, term_generation_head, term_generation_item, ItemDetails,
    TermExample, TermNeighbor, TERMS_HEADER,
};
use grlm::catalog::input::for_each_line;
use grlm::llm::{Model, ModelParams};
use grlm::Tid;
use serde::Serialize;
use serde_json::{json, Value};

use super::endpoint::{self, Endpoint};
use super::examples::read_examples;
use super::generate::{Generator, GeneratorParams, ItemPrompt};
use super::partial::{partial_path, PartialFile, Record};
use super::resolve::{Assigned, Resolved};
use super::rules::{ItemRules, Lexicon};
use super::{ItemLines, TermsError};
use crate::neighbors::text::{read_items, ItemText};

/// Times the last term of a colliding TID is generated again before the fallbacks.
pub const MAX_REGENERATIONS: usize = 2;

/// The most tokens of one item's part of the prompt; farther neighbours are left out to fit.
pub const MAX_PROMPT_TOKENS: usize = 1536;

/// The most bytes of one item's part of a prompt sent to `--endpoint` (whose tokenizer is
/// unknown here): about [`MAX_PROMPT_TOKENS`] tokens of English.
pub const MAX_PROMPT_BYTES: usize = 4 * MAX_PROMPT_TOKENS;

/// The most requests in flight with `--endpoint`.
pub const MAX_ENDPOINT_PARALLEL: usize = 256;

/// How many skipped items are named on stderr before only counting the rest.
const SKIP_WARNINGS: usize = 5;

/// Seconds between two progress lines.
const PROGRESS_EVERY_S: f64 = 2.0;

/// `grlm-train terms`: write every item's TID with the backbone.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct TermsArgs {
    /// Items, one JSON object per line: `item` (u32) and any of `title`, `brand`,
    /// `categories`, `description`; items with none of these are skipped.
    #[cfg_attr(feature = "cli", arg(long))]
    pub items: PathBuf,
    /// The backbone, a GGUF model (e.g. SmolLM2-135M-Instruct), run here with llama.cpp.
    #[cfg_attr(
        feature = "cli",
        arg(long, required_unless_present = "endpoint", conflicts_with = "endpoint")
    )]
    pub model: Option<PathBuf>,
    /// Instead of `--model`: an OpenAI-compatible server's base URL (e.g.
    /// http://127.0.0.1:8080/v1); prompts go to its chat completions. An API key, if it
    /// wants one, is read from the environment variable GRLM_ENDPOINT_KEY.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub endpoint: Option<String>,
    /// The `model` named in `--endpoint` requests.
    #[cfg_attr(feature = "cli", arg(long, default_value = "default", value_name = "NAME"))]
    pub endpoint_model: String,
    /// Output JSONL, one `{"item", "terms", "resolved"}` per item; progress is kept in
    /// `<out>.partial` until the run ends.
    #[cfg_attr(feature = "cli", arg(long))]
    pub out: PathBuf,
    /// Each item's nearest neighbours, as written by `grlm-train neighbors`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub neighbors: Option<PathBuf>,
    /// Terms per TID.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = grlm::tid::DEFAULT_TID_LEN))]
    pub terms: usize,
    /// Neighbours shown per item, closest first.
    #[cfg_attr(feature = "cli", arg(short, default_value_t = 5))]
    pub k: usize,
    /// Read only the first N items of the file.
    #[cfg_attr(feature = "cli", arg(long))]
    pub limit: Option<usize>,
    /// Continue the run that left `<out>.partial`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub resume: bool,
    /// llama.cpp CPU threads (default: all cores).
    #[cfg_attr(feature = "cli", arg(long))]
    pub threads: Option<u32>,
    /// Items decoded together, in one llama.cpp batch (with `--endpoint`: requests in
    /// flight). Changing it changes the groups, so a resumed run must use the same value.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 8))]
    pub parallel: usize,
    /// Which words a term may use (words with digits always come from the item's own
    /// text).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Words::Catalogue))]
    pub words: Words,
    /// Worked examples for the prompt instead of the built-in ones: a few TIDs written by
    /// hand for items of `--items`, one `{"item", "terms"}` per line (the output's format;
    /// at most 8). Each must have `--terms` terms and keep the term rules. The example
    /// items still get generated TIDs like every other.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub examples: Option<PathBuf>,
    /// Items new to this catalogue: a term may use the words of the catalogue's TIDs and
    /// the item's own words, never another new item's (instead of every word of `--items`),
    /// and no TID repeats one of the catalogue's (collisions are resolved as among the new
    /// items). With `--words backbone`, the backbone's whole-word tokens too. Not with
    /// `--endpoint`, whose replies are checked without a lexicon.
    #[cfg_attr(feature = "cli", arg(long, value_name = "CATALOG.grlm", conflicts_with = "endpoint"))]
    pub catalog: Option<PathBuf>,
    /// Write with the jointly tuned model: this LoRA adapter of `--model`, prompted as it
    /// was trained (the term-internalisation prompt: an item's title, categories and brand,
    /// then its TID), under the same grammar and term rules. Neighbours are not shown.
    #[cfg_attr(feature = "cli", arg(long, value_name = "ADAPTER.gguf", requires = "model", conflicts_with_all = ["endpoint", "examples"]))]
    pub lora: Option<PathBuf>,
    /// Stop (with an error) after this many groups of this invocation; for tests of
    /// --resume.
    #[cfg_attr(feature = "cli", arg(long, hide = true))]
    pub stop_after_groups: Option<usize>,
}

/// The words a generated term may use ([`Lexicon`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Words {
    /// Words of the items' text.
    Catalogue,
    /// Those and every whole-word token of the backbone's vocabulary.
    Backbone,
    /// Any run of letters.
    Any,
}

/// Items by how their TID became unique.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ResolvedCounts {
    /// The first TID was free.
    pub none: usize,
    /// The last term was regenerated.
    pub regenerated: usize,
    /// The last term is a word of the item's text.
    pub own_text: usize,
    /// The last term has a numeric suffix.
    pub suffix: usize,
    /// `--endpoint` never replied with a valid TID: its terms are words of the item's text.
    pub from_text: usize,
}

/// What a run did; printed as JSON on stdout.
#[derive(Clone, Debug, Serialize)]
pub struct TermsSummary {
    /// Items with text: lines written.
    pub items: usize,
    /// Items skipped because they have no text.
    pub skipped_no_text: usize,
    /// Items whose TID was read back from the progress file of an interrupted run.
    pub resumed: usize,
    /// Items whose TID this invocation generated.
    pub generated: usize,
    /// Items whose first generated TID was already taken.
    pub collisions_before_resolution: usize,
    /// `collisions_before_resolution` over `items`.
    pub collision_rate_before_resolution: f64,
    /// Items by how their TID became unique.
    pub resolved: ResolvedCounts,
    /// Share of items whose TID another item also has, in the output.
    pub collision_rate: f64,
    /// Neighbour references to items this run does not have (ignored).
    pub neighbors_unknown: usize,
    /// Seconds this invocation took, model loading included.
    pub seconds: f64,
    /// Items generated per second by this invocation.
    pub items_per_s: f64,
    /// Chat-completions requests sent (`--endpoint` only), corrective turns included.
    pub endpoint_requests: usize,
    /// The output file.
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(args: &TermsArgs) -> Result<TermsSummary, TermsError> {
    let started = Instant::now();
    if args.parallel == 0 || args.threads == Some(0) || args.stop_after_groups == Some(0) {
        return Err(TermsError::Usage(
            "--parallel, --threads and --stop-after-groups must be at least 1".into(),
        ));
    }
    let read = read_items(&args.items, args.limit)?;
    warn_skipped(&args.items, &read.skipped);
    let items = read.items;
    let index: HashMap<u32, usize> = items.iter().enumerate().map(|(i, it)| (it.item, i)).collect();
    let (neighbors, neighbors_unknown, neighbors_crc) = match &args.neighbors {
        Some(path) => {
            let read = read_neighbors(path, &index, args.k)?;
            (read.lists, read.unknown, Some(read.crc))
        }
        None => (vec![Vec::new(); items.len()], 0, None),
    };

    let examples = match &args.examples {
        Some(path) => read_examples(path, &args.items, args.terms)?,
        None => default_term_examples(args.terms),
    };
    let head = term_generation_head(args.terms, &examples).text;
    let joined = args
        .catalog
        .as_deref()
        .map(|path| read_joined(path, &items, args.terms))
        .transpose()?;
    let catalogue_words = joined.as_ref().map(|j| j.words.as_slice());
    let mut writer = Writer::open(args, &head, &examples, &items, catalogue_words)?;
    let fingerprint = joined.as_ref().map(|j| j.fingerprint);
    let config = run_config(args, items.len(), &writer.identity(), neighbors_crc, fingerprint, &head);

    let partial_file = partial_path(&args.out);
    let (mut partial, done) = open_progress(args, &partial_file, &config)?;
    let groups: Vec<std::ops::Range<usize>> = (0..items.len())
        .step_by(args.parallel)
        .map(|s| s..(s + args.parallel).min(items.len()))
        .collect();
    let taken = joined.map(|j| j.tids).unwrap_or_default();
    let mut progress = replay_groups(done, &groups, &items, args.terms, &partial_file, taken)?;
    let resumed = progress.records.len();
    let gen_started = Instant::now();
    generate_groups(
        args,
        &items,
        &groups,
        &neighbors,
        &mut writer,
        &mut partial,
        &mut progress,
    )?;
    let Progress { records, .. } = progress;
    let generated = records.len() - resumed;
    let gen_seconds = gen_started.elapsed().as_secs_f64();

    write_output(&args.out, &records)?;
    std::fs::remove_file(&partial_file).map_err(TermsError::io(&partial_file))?;
    let mut summary = summarise(
        &records,
        read.skipped.len(),
        resumed,
        generated,
        neighbors_unknown,
        started.elapsed().as_secs_f64(),
        gen_seconds,
        &args.out,
    );
    summary.endpoint_requests = writer.requests();
    Ok(summary)
}

/// The progress file: resumed with `--resume` (its groups are returned), else started anew.
fn open_progress(
    args: &TermsArgs,
    partial_file: &Path,
    config: &Value,
) -> Result<(PartialFile, Vec<Vec<Record>>), TermsError> {
    if args.resume && partial_file.exists() {
        return PartialFile::resume(partial_file, config);
    }
    if args.resume {
        eprintln!(
            "note: {} does not exist; starting from the first item",
            partial_file.display()
        );
    }
    Ok((PartialFile::create(partial_file, config)?, Vec::new()))
}

/// What the run has so far: every item's TID once written, the records in item order,
/// and the TIDs taken (for collision resolution).
struct Progress {
    tids: Vec<Option<Tid>>,
    records: Vec<Record>,
    assigned: Assigned,
}

/// Takes the groups a resumed progress file holds, checking that they are the items file's
/// first groups and hold valid TIDs; `taken` are TIDs given out before the run (those of
/// the catalogue it writes into).
fn replay_groups(
    done: Vec<Vec<Record>>,
    groups: &[std::ops::Range<usize>],
    items: &[ItemText],
    terms: usize,
    partial_file: &Path,
    taken: Vec<Tid>,
) -> Result<Progress, TermsError> {
    if done.len() > groups.len() {
        return Err(partial_mismatch(
            partial_file,
            "it holds more groups than the items file has",
        ));
    }
    let mut progress = Progress {
        tids: vec![None; items.len()],
        records: Vec::with_capacity(items.len()),
        assigned: Assigned::default(),
    };
    for tid in taken {
        progress.assigned.assign(tid);
    }
    for (g, group) in done.into_iter().enumerate() {
        let range = groups[g].clone();
        let ids: Vec<u32> = group.iter().map(|r| r.item).collect();
        let want: Vec<u32> = items[range.clone()].iter().map(|it| it.item).collect();
        if ids != want {
            return Err(partial_mismatch(
                partial_file,
                &format!("group {g} holds items {ids:?}, the items file puts {want:?} there"),
            ));
        }
        for (i, record) in range.zip(group) {
            let tid = Tid::from_terms(&record.terms)
                .ok()
                .filter(|t| t.len() == terms)
                .ok_or_else(|| partial_mismatch(partial_file, &format!("item {} has no valid TID", record.item)))?;
            progress.assigned.assign(tid.clone());
            progress.tids[i] = Some(tid);
            progress.records.push(record);
        }
    }
    Ok(progress)
}

/// Writes the TIDs of the groups not yet done, one group at a time, each recorded in the
/// progress file before the next starts; reports the rate on stderr.
fn generate_groups(
    args: &TermsArgs,
    items: &[ItemText],
    groups: &[std::ops::Range<usize>],
    neighbors: &[Vec<usize>],
    writer: &mut Writer,
    partial: &mut PartialFile,
    progress: &mut Progress,
) -> Result<(), TermsError> {
    let first_group = partial.groups();
    let started = Instant::now();
    let mut last_report = f64::NEG_INFINITY;
    for (g, range) in groups.iter().enumerate().skip(first_group) {
        if args.stop_after_groups.is_some_and(|n| g - first_group >= n) {
            return Err(TermsError::Stopped {
                groups: g - first_group,
                path: partial_path(&args.out),
            });
        }
        let group_records = writer.write_group(
            items,
            range.clone(),
            neighbors,
            &progress.tids,
            args.terms,
            &mut progress.assigned,
        )?;
        partial.write_group(&group_records)?;
        for (i, record) in range.clone().zip(&group_records) {
            progress.tids[i] = Tid::from_terms(&record.terms).ok();
        }
        progress.records.extend(group_records);

        let elapsed = started.elapsed().as_secs_f64();
        let done_now = range.end - groups[first_group].start;
        if g + 1 == groups.len() || elapsed - last_report >= PROGRESS_EVERY_S {
            last_report = elapsed;
            let rate = done_now as f64 / elapsed.max(1e-9);
            let eta = (items.len() - range.end) as f64 / rate.max(1e-9);
            eprintln!(
                "terms: {}/{} items ({rate:.2} items/s, ETA {eta:.0} s)",
                range.end,
                items.len()
            );
        }
    }
    Ok(())
}

/// What the jointly tuned writer (`--lora`) needs besides the generator.
struct Tuned {
    adapter: u64,
    details: HashMap<u32, crate::sft::ItemMeta>,
}

/// The catalogue that `--catalog` items join.
struct Joined {
    /// Its content's fingerprint, part of the resume check.
    fingerprint: u64,
    /// The text of every term, for the lexicon.
    words: Vec<String>,
    /// Every TID, which a new item's must not repeat (it would name two items).
    tids: Vec<Tid>,
}

/// Reads the catalogue at `path`, refusing one whose TIDs are not `terms` long or that
/// already holds one of `items`.
fn read_joined(path: &Path, items: &[ItemText], terms: usize) -> Result<Joined, TermsError> {
    let bad = |e: grlm::CatalogError| TermsError::Usage(format!("--catalog {}: {e}", path.display()));
    let catalog = grlm::Catalog::open(path).map_err(bad)?;
    if catalog.tid_len() != terms {
        return Err(TermsError::Usage(format!(
            "--catalog {}: its TIDs have {} terms, --terms asks for {terms}",
            path.display(),
            catalog.tid_len()
        )));
    }
    if let Some(item) = items.iter().find(|it| catalog.contains(it.item)) {
        return Err(TermsError::Usage(format!(
            "--catalog {}: item {} is already in it (--catalog is for items new to the catalogue)",
            path.display(),
            item.item
        )));
    }
    let words = (0..catalog.term_count() as u32)
        .map(|id| catalog.term_text(id).map(str::to_owned))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    let tids = (0..catalog.tid_count())
        .map(|t| catalog.tid_at(t))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    Ok(Joined {
        fingerprint: catalog.content_fingerprint(),
        words,
        tids,
    })
}

/// An item's part of the term-internalisation prompt, as the tuned model was trained on it
/// ([`crate::prompts::terms`]): one segment per detail line, each tokenized on its own, then
/// the `[` that opens the TID. An item whose line has no title, category or brand shows
/// its text as its title.
fn tuned_prompt(
    generator: &Generator,
    details: Option<&crate::sft::ItemMeta>,
    item: &ItemText,
    limit: usize,
) -> Result<Vec<grlm::llm::Token>, TermsError> {
    let shown = ItemDetails {
        title: details.and_then(|d| d.title.as_deref()),
        categories: details.map_or(&[][..], |d| &d.categories[..]),
        brand: details.and_then(|d| d.brand.as_deref()),
    };
    let mut lines = detail_lines(&shown);
    if lines.is_empty() {
        lines = detail_lines(&ItemDetails {
            title: Some(&item.text),
            categories: &[],
            brand: None,
        });
    }
    let mut tokens: Vec<grlm::llm::Token> = lines.iter().flat_map(|line| generator.tokenize(line)).collect();
    tokens.extend(generator.tokenize("["));
    if tokens.len() > limit {
        return Err(TermsError::Generation(format!(
            "item {}: its details take {} tokens, more than {limit}",
            item.item,
            tokens.len()
        )));
    }
    Ok(tokens)
}

/// Where TIDs are written: the backbone here, or a chat-completions server.
enum Writer {
    Local {
        model: Arc<Model>,
        // Boxed: a llama.cpp context is far larger than the remote variant.
        generator: Box<Generator>,
        /// Every word without digits a term may use, unless any may be (`--words any`).
        lexicon: Option<Arc<Lexicon>>,
        /// With `--lora`: the adapter's identity and every item's details, for the
        /// term-internalisation prompt the adapter was trained on.
        tuned: Option<Tuned>,
        /// With `--catalog`: each item's own words join the catalogue's lexicon.
        own_words: bool,
    },
    Remote {
        endpoint: Endpoint,
        requests: usize,
    },
}

impl Writer {
    /// `catalogue_words`: with `--catalog`, the words of the catalogue the items join.
    fn open(
        args: &TermsArgs,
        head: &str,
        examples: &[TermExample],
        items: &[ItemText],
        catalogue_words: Option<&[String]>,
    ) -> Result<Self, TermsError> {
        if let Some(url) = &args.endpoint {
            if args.parallel > MAX_ENDPOINT_PARALLEL {
                return Err(TermsError::Usage(format!(
                    "--parallel {} with --endpoint: at most {MAX_ENDPOINT_PARALLEL} requests in flight",
                    args.parallel
                )));
            }
            let endpoint = Endpoint::new(url, &args.endpoint_model, args.terms, examples, args.parallel)?;
            return Ok(Writer::Remote { endpoint, requests: 0 });
        }
        let path = args
            .model
            .as_ref()
            .ok_or_else(|| TermsError::Usage("give --model M.gguf or --endpoint URL".into()))?;
        let mut model = Model::load(path, &ModelParams::default())?;
        let adapter = args.lora.as_ref().map(|lora| model.load_adapter(lora)).transpose()?;
        let model = Arc::new(model);
        let threads = args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)));
        // The tuned model reads the prompt it was trained on, whose shared part is its header.
        let head = if adapter.is_some() { TERMS_HEADER } else { head };
        let generator = Generator::new(
            &model,
            head,
            GeneratorParams {
                terms: args.terms,
                parallel: args.parallel,
                threads,
                max_prompt_tokens: MAX_PROMPT_TOKENS,
            },
            adapter.as_ref().map(|a| (a, 1.0)),
        )?;
        let tuned = match &adapter {
            Some(adapter) => Some(Tuned {
                adapter: adapter.identity(),
                details: crate::sft::read_item_details(&args.items)?.into_iter().collect(),
            }),
            None => None,
        };
        // The words a term may use: those of the catalogue the items join (each item adds
        // its own, see `write_group`), or those of every item being written.
        let texts: Vec<&str> = match catalogue_words {
            Some(words) => words.iter().map(String::as_str).collect(),
            None => items.iter().map(|i| i.text.as_str()).collect(),
        };
        let texts = texts.into_iter();
        let lexicon = match args.words {
            Words::Catalogue => Some(Lexicon::of_vocabulary_and_texts(&[], texts)),
            Words::Backbone => Some(Lexicon::of_vocabulary_and_texts(generator.vocab(), texts)),
            Words::Any if args.catalog.is_some() => {
                return Err(TermsError::Usage(
                    "--catalog holds terms to a lexicon; --words any allows every word".into(),
                ))
            }
            Words::Any => None,
        };
        Ok(Writer::Local {
            model,
            generator: Box::new(generator),
            lexicon: lexicon.map(Arc::new),
            tuned,
            own_words: args.catalog.is_some(),
        })
    }

    /// What wrote the TIDs, for the progress file: a resumed run must use the same.
    fn identity(&self) -> String {
        match self {
            Writer::Local { model, tuned, .. } => {
                let fingerprint = model.fingerprint();
                let bytes = std::fs::metadata(model.path()).map(|m| m.len()).unwrap_or(0);
                let adapter = match tuned {
                    Some(t) => format!(" adapter {:016x}", t.adapter),
                    None => String::new(),
                };
                format!("{} {:016x} {bytes}{adapter}", fingerprint.name, fingerprint.hash)
            }
            // Not the URL: a run may resume against the same model served elsewhere.
            Writer::Remote { endpoint, .. } => format!("endpoint model {}", endpoint.model()),
        }
    }

    fn requests(&self) -> usize {
        match self {
            Writer::Local { .. } => 0,
            Writer::Remote { requests, .. } => *requests,
        }
    }

    /// The unique TIDs of the items in `range`.
    fn write_group(
        &mut self,
        items: &[ItemText],
        range: std::ops::Range<usize>,
        neighbors: &[Vec<usize>],
        tids: &[Option<Tid>],
        terms: usize,
        assigned: &mut Assigned,
    ) -> Result<Vec<Record>, TermsError> {
        let group = &items[range.clone()];
        match self {
            Writer::Local {
                generator,
                lexicon,
                tuned,
                own_words,
                ..
            } => {
                let limit = generator.max_prompt_tokens();
                let mut prompts = Vec::with_capacity(range.len());
                for i in range {
                    let tokens = match tuned {
                        Some(tuned) => tuned_prompt(generator, tuned.details.get(&items[i].item), &items[i], limit)?,
                        None => item_prompt(
                            items,
                            &neighbors[i],
                            tids,
                            i,
                            terms,
                            &format!("{limit} tokens"),
                            |text| {
                                let tokens = generator.tokenize(text);
                                (tokens.len() <= limit).then_some(tokens)
                            },
                        )?,
                    };
                    let rules = ItemRules::for_text(&items[i].text);
                    let rules = match lexicon {
                        Some(lexicon) if *own_words => {
                            rules.with_lexicon(Arc::clone(lexicon)).with_own_words(&items[i].text)
                        }
                        Some(lexicon) => rules.with_lexicon(Arc::clone(lexicon)),
                        None => rules,
                    };
                    prompts.push(ItemPrompt { tokens, rules });
                }
                let first = generator.generate(&prompts)?;
                resolve_group(group, first, assigned, &mut |requests, _| {
                    generator.regenerate(requests)
                })
            }
            Writer::Remote { endpoint, requests } => {
                let mut prompts = Vec::with_capacity(range.len());
                for i in range {
                    let limit = format!("{MAX_PROMPT_BYTES} bytes");
                    let prompt = item_prompt(items, &neighbors[i], tids, i, terms, &limit, |text| {
                        (text.len() <= MAX_PROMPT_BYTES).then(|| text.to_owned())
                    })?;
                    prompts.push((prompt, ItemRules::for_text(&items[i].text)));
                }
                let replies = endpoint.generate(&prompts)?;
                *requests += replies.iter().map(|r| r.requests).sum::<usize>();
                let from_text: Vec<bool> = replies.iter().map(|r| r.tid.is_none()).collect();
                let first = replies
                    .into_iter()
                    .zip(group)
                    .map(|(r, item)| Some(r.tid.unwrap_or_else(|| endpoint::from_own_text(&item.text, terms))))
                    .collect();
                let sent = &mut *requests;
                let mut records = resolve_group(group, first, assigned, &mut |wanted, base| {
                    let rules: Vec<ItemRules> = wanted
                        .iter()
                        .map(|(i, forbidden)| prompts[*i].1.clone().with_forbidden_last(forbidden.clone()))
                        .collect();
                    let asks: Vec<(&str, &ItemRules, &Tid)> = wanted
                        .iter()
                        .zip(&rules)
                        .map(|((i, _), rules)| (prompts[*i].0.as_str(), rules, &base[*i]))
                        .collect();
                    let replies = endpoint.regenerate(&asks)?;
                    *sent += replies.iter().map(|r| r.requests).sum::<usize>();
                    Ok(replies.into_iter().map(|r| r.tid).collect())
                })?;
                for (record, from_text) in records.iter_mut().zip(from_text) {
                    if from_text && record.resolved == Resolved::None {
                        record.resolved = Resolved::FromText;
                    }
                }
                Ok(records)
            }
        }
    }
}

fn warn_skipped(path: &Path, skipped: &[(u64, u32)]) {
    for (line, item) in skipped.iter().take(SKIP_WARNINGS) {
        eprintln!(
            "warning: {}:{line}: item {item} has no title, brand, categories or description; skipped",
            path.display()
        );
    }
    if skipped.len() > SKIP_WARNINGS {
        eprintln!(
            "warning: {} more items without text skipped",
            skipped.len() - SKIP_WARNINGS
        );
    }
}

fn partial_mismatch(path: &Path, what: &str) -> TermsError {
    TermsError::Partial {
        path: path.to_owned(),
        reason: format!("{what}: the items changed since it was written; delete it to start over"),
    }
}

/// What must not change between a run and its resumption: anything that changes a TID.
/// The number of items is part of it because it decides which neighbours exist (a
/// different `--limit` shows different neighbours in the same prompts).
fn run_config(
    args: &TermsArgs,
    items: usize,
    writer: &str,
    neighbors_crc: Option<u32>,
    catalog: Option<u64>,
    head: &str,
) -> Value {
    let prompt = format!("{head}{}", term_generation_ask(args.terms));
    json!({
        "terms": args.terms,
        "parallel": args.parallel,
        "items": items,
        "k": args.k,
        "model": writer,
        "neighbors": neighbors_crc.map(|c| format!("{c:08x}")),
        "words": args.words,
        "catalog": catalog.map(|c| format!("{c:016x}")),
        "prompt": format!("{:08x}", crc32fast::hash(prompt.as_bytes())),
    })
}

/// Item `i`'s part of the prompt as `fit` takes it (tokens, text), leaving out the
/// farthest neighbours until `fit` accepts it; `limit` names what it must fit in.
fn item_prompt<T>(
    items: &[ItemText],
    neighbors: &[usize],
    tids: &[Option<Tid>],
    i: usize,
    terms: usize,
    limit: &str,
    fit: impl Fn(&str) -> Option<T>,
) -> Result<T, TermsError> {
    let shown: Vec<TermNeighbor<'_>> = neighbors
        .iter()
        .map(|&j| TermNeighbor {
            text: &items[j].text,
            tid: tids[j].as_ref(),
        })
        .collect();
    for keep in (0..=shown.len()).rev() {
        let segment = term_generation_item(&items[i].text, &shown[..keep], terms);
        if let Some(fitted) = fit(&segment.text) {
            return Ok(fitted);
        }
    }
    Err(TermsError::Usage(format!(
        "item {}: its text alone is longer than {limit}",
        items[i].item
    )))
}

/// Asks again for the last term of each `(index in the group, forbidden last terms)`,
/// given the group's current TIDs.
type Regenerate<'a> = dyn FnMut(&[(usize, BTreeSet<String>)], &[Tid]) -> Result<Vec<Option<Tid>>, TermsError> + 'a;

/// Makes each TID of a group unique, in item order, and says how.
fn resolve_group(
    items: &[ItemText],
    first: Vec<Option<Tid>>,
    assigned: &mut Assigned,
    regenerate: &mut Regenerate<'_>,
) -> Result<Vec<Record>, TermsError> {
    let n = items.len();
    let mut base: Vec<Tid> = Vec::with_capacity(n);
    for (item, tid) in items.iter().zip(first) {
        base.push(tid.ok_or_else(|| {
            TermsError::Generation(format!(
                "item {}: the model's vocabulary cannot spell a TID (it needs tokens for a-z, 0-9, '-', ',', ' ' and ']')",
                item.item
            ))
        })?);
    }
    let mut current: Vec<Option<Tid>> = base.iter().cloned().map(Some).collect();
    let mut path = vec![Resolved::None; n];
    let mut collided = vec![false; n];
    let mut finals: Vec<Option<Tid>> = vec![None; n];
    let mut pending: Vec<usize> = (0..n).collect();
    for attempt in 0..=MAX_REGENERATIONS {
        let mut again = Vec::new();
        for &i in &pending {
            match current[i].take() {
                Some(tid) if !assigned.is_taken(&tid) => {
                    assigned.assign(tid.clone());
                    finals[i] = Some(tid);
                }
                Some(_) if attempt < MAX_REGENERATIONS => {
                    collided[i] |= attempt == 0;
                    again.push(i);
                }
                // Out of attempts, or regeneration found no free last term.
                _ => {
                    collided[i] |= attempt == 0;
                    let (tid, how) = assigned.fallback(&base[i], &items[i].text);
                    assigned.assign(tid.clone());
                    finals[i] = Some(tid);
                    path[i] = how;
                }
            }
        }
        if again.is_empty() {
            break;
        }
        let requests: Vec<(usize, _)> = again.iter().map(|&i| (i, assigned.forbidden_last(&base[i]))).collect();
        let regenerated = regenerate(&requests, &base)?;
        for (&i, tid) in again.iter().zip(regenerated) {
            if let Some(tid) = &tid {
                base[i] = tid.clone();
                path[i] = Resolved::Regenerated;
            }
            current[i] = tid;
        }
        pending = again;
    }
    Ok(items
        .iter()
        .zip(finals)
        .enumerate()
        .map(|(i, (item, tid))| Record {
            item: item.item,
            terms: tid
                .map(|t| t.terms().iter().map(|x| x.as_str().to_owned()).collect())
                .unwrap_or_default(),
            resolved: path[i],
            collided: collided[i],
        })
        .collect())
}

#[derive(Serialize)]
struct OutLine<'a> {
    item: u32,
    terms: &'a [String],
    resolved: Resolved,
}

fn write_output(out: &Path, records: &[Record]) -> Result<(), TermsError> {
    grlm::atomic_write::write_atomically(out, |w: &mut dyn Write| {
        for r in records {
            serde_json::to_writer(
                &mut *w,
                &OutLine {
                    item: r.item,
                    terms: &r.terms,
                    resolved: r.resolved,
                },
            )?;
            w.write_all(b"\n")?;
        }
        Ok::<(), std::io::Error>(())
    })
    .map_err(TermsError::io(out))
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    records: &[Record],
    skipped: usize,
    resumed: usize,
    generated: usize,
    neighbors_unknown: usize,
    seconds: f64,
    gen_seconds: f64,
    out: &Path,
) -> TermsSummary {
    let mut resolved = ResolvedCounts::default();
    let mut counts: HashMap<&[String], usize> = HashMap::new();
    for r in records {
        match r.resolved {
            Resolved::None => resolved.none += 1,
            Resolved::Regenerated => resolved.regenerated += 1,
            Resolved::OwnText => resolved.own_text += 1,
            Resolved::Suffix => resolved.suffix += 1,
            Resolved::FromText => resolved.from_text += 1,
        }
        *counts.entry(&r.terms).or_default() += 1;
    }
    let shared = counts.values().filter(|&&c| c > 1).sum::<usize>();
    let collisions = records.iter().filter(|r| r.collided).count();
    let share = |n: usize| {
        if records.is_empty() {
            0.0
        } else {
            n as f64 / records.len() as f64
        }
    };
    TermsSummary {
        items: records.len(),
        skipped_no_text: skipped,
        resumed,
        generated,
        collisions_before_resolution: collisions,
        collision_rate_before_resolution: share(collisions),
        resolved,
        collision_rate: share(shared),
        neighbors_unknown,
        seconds,
        items_per_s: generated as f64 / gen_seconds.max(1e-9),
        endpoint_requests: 0,
        out: out.to_owned(),
    }
}

/// What [`read_neighbors`] found.
#[derive(Clone, Debug, Default)]
pub struct NeighborLists {
    /// Each item's neighbours, by index in the items, closest first.
    pub lists: Vec<Vec<usize>>,
    /// Lines and references about unknown items, ignored.
    pub unknown: usize,
    /// The file's CRC32, part of a run's configuration.
    pub crc: u32,
}

/// Reads a neighbours file (`{"item": ID, "neighbors": [{"item": ID, ...}, ...]}` per
/// line, or bare ids in the list) into each item's first `k` neighbours by index. Lines
/// and references about items this run does not have are ignored and counted; a repeated
/// item is an error naming both lines.
pub fn read_neighbors(path: &Path, index: &HashMap<u32, usize>, k: usize) -> Result<NeighborLists, TermsError> {
    let bytes = std::fs::read(path).map_err(TermsError::io(path))?;
    let crc = crc32fast::hash(&bytes);
    let file = File::open(path).map_err(TermsError::io(path))?;
    let mut lists = vec![Vec::new(); index.len()];
    let mut first_line = ItemLines::default();
    let mut unknown = 0usize;
    for_each_line(BufReader::new(file), path, |line, text| {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let item = first_line.item(&value, line)?;
        let list = value
            .get("neighbors")
            .and_then(Value::as_array)
            .ok_or("\"neighbors\" is missing or not a list")?;
        let ids = list.iter().map(|n| {
            n.get("item")
                .unwrap_or(n)
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or("a neighbour without an integer item id")
        });
        let Some(&anchor) = index.get(&item) else {
            unknown += 1;
            return Ok(());
        };
        for id in ids {
            let id = id?;
            match index.get(&id) {
                Some(&j) if j != anchor => {
                    if lists[anchor].len() < k {
                        lists[anchor].push(j);
                    }
                }
                Some(_) => {}
                None => unknown += 1,
            }
        }
        Ok(())
    })?;
    Ok(NeighborLists { lists, unknown, crc })
}
