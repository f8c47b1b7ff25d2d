//! The real backbone, SmolLM2-135M-Instruct Q4_1 (fetched by `scripts/fetch-model.sh`), on
//! the real Beauty catalogue (../shared/data/beauty). One thread per context: the test
//! machine has two cores and other tests run beside these.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use grlm::engine::token_trie_spec;
use grlm::llm::{Model, ModelParams};
use grlm::sequences::read_sequences;
use grlm::{CatalogBuilder, Engine, EngineError, EngineParams, Mode, RecommendParams, Session, SessionParams};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_path() -> PathBuf {
    let path = std::env::var_os("GRLM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-model.sh (the test command does)",
        path.display()
    );
    path
}

fn data() -> PathBuf {
    let dir = root().join("../shared/data/beauty");
    assert!(
        dir.is_dir(),
        "{} is missing: these tests need the shared data",
        dir.display()
    );
    dir
}

struct Setup {
    _dir: tempfile::TempDir,
    catalog: PathBuf,
    engine: Engine,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("beauty.grlm");
        let vocab = Arc::new(
            Model::load(
                model_path(),
                &ModelParams {
                    vocab_only: true,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        CatalogBuilder::from_jsonl(&data().join("items.jsonl"), &data().join("reference_tids.jsonl"), false)
            .unwrap()
            .with_token_trie(token_trie_spec(&vocab))
            .write(&catalog)
            .unwrap();
        let engine = Engine::open(&EngineParams::new(model_path(), &catalog)).unwrap();
        Setup {
            _dir: dir,
            catalog,
            engine,
        }
    })
}

fn session() -> Session {
    setup()
        .engine
        .session(SessionParams {
            threads: 1,
            ..Default::default()
        })
        .unwrap()
}

/// The first user's history (leave-one-out: the last item is the target).
fn history() -> Vec<u32> {
    let seqs = read_sequences(&data().join("sequences.txt")).unwrap();
    seqs[0].history().to_vec()
}

#[test]
fn catalogue_trie_verifies_and_names_the_tokenizer() {
    let c = grlm::Catalog::open(&setup().catalog).unwrap();
    c.verify().unwrap();
    let info = c.info();
    let trie = info.token_trie.unwrap();
    assert_eq!(trie.vocab_size, 49_152);
    assert!(
        trie.nodes > info.unique_tids && trie.nodes < 4 * info.unique_tids,
        "{}",
        trie.nodes
    );
}

#[test]
fn constrained_recommendations_are_real_unseen_items_and_warm_equals_cold() {
    let engine = &setup().engine;
    let history = history();
    let params = RecommendParams::default();
    let mut warm = session();
    warm.recommend(&history[..history.len() - 1], &params).unwrap();
    let incremental = warm.recommend(&history, &params).unwrap();
    let cold = session().recommend(&history, &params).unwrap();
    assert_eq!(cold.results.len(), 10);
    for r in &cold.results {
        assert!(engine.catalog().contains(r.item));
        assert!(!history.contains(&r.item));
        assert_eq!(engine.catalog().tid_of(r.item).unwrap().as_ref(), Some(&r.tid));
    }
    let items = |r: &grlm::Response| r.results.iter().map(|x| x.item).collect::<Vec<_>>();
    assert_eq!(items(&incremental), items(&cold));
    for (a, b) in incremental.results.iter().zip(&cold.results) {
        assert!((a.score - b.score).abs() < 1e-3, "{} vs {}", a.score, b.score);
    }
    assert!(incremental.stats.prompt_tokens < 40, "{:?}", incremental.stats);
    assert!(incremental.stats.cached_tokens > 50);
}

#[test]
fn free_mode_reports_what_the_model_wrote() {
    let engine = &setup().engine;
    let history = history();
    let params = RecommendParams {
        mode: Mode::Free,
        beams: Some(6),
        k: 6,
        ..Default::default()
    };
    let r = session().recommend(&history, &params).unwrap();
    assert_eq!(r.generated.len(), 6);
    for g in &r.generated {
        let parsed = grlm::Tid::parse(&g.text, Some(5));
        assert_eq!(g.valid, parsed.is_ok(), "{g:?}");
        if g.direct {
            assert!(!engine.catalog().items_with_tid(&parsed.unwrap()).unwrap().is_empty());
        }
    }
    // Untuned, the model still continues the list with bracketed keywords most of the time.
    assert!(r.generated.iter().filter(|g| g.valid).count() >= 2, "{:?}", r.generated);
    for item in r.results.iter().map(|x| x.item) {
        assert!(engine.catalog().contains(item) && !history.contains(&item));
    }
}

#[test]
fn a_catalogue_for_another_tokenizer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.gguf");
    grlm_testkit::tiny::write_tiny_model(&tiny, &["[a, b]\n"], &Default::default()).unwrap();
    let e = Engine::open(&EngineParams::new(&tiny, &setup().catalog)).unwrap_err();
    assert!(matches!(e, EngineError::TokenizerMismatch { .. }), "{e}");
    assert!(e.to_string().contains("grlm-tiny"), "{e}");
}

#[test]
fn history_longer_than_the_context_is_an_error() {
    let mut s = setup()
        .engine
        .session(SessionParams {
            threads: 1,
            n_ctx: 256,
            ..Default::default()
        })
        .unwrap();
    let long: Vec<u32> = (1..=40).collect();
    let params = RecommendParams {
        max_history: 40,
        ..Default::default()
    };
    let e = s.recommend(&long, &params).unwrap_err();
    assert!(matches!(e, EngineError::PromptTooLong { .. }), "{e}");
}
