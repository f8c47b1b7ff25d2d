//! The rules of a TID a person would write, held by real generation: the tiny llama.cpp
//! model (random weights, so it writes anything the grammar lets it) decodes random items
//! whose text is full of what the rules refuse (repeated and plural words, function words,
//! numbers, glued digits), and every TID it writes keeps every rule — first writes and
//! regenerations of a last term against a random catalogue of taken ones alike, with and
//! without a lexicon. An item with almost no text still gets a TID.

use std::collections::BTreeSet;
use std::sync::Arc;

use grlm::llm::{Model, ModelParams};
use grlm_train::prompts::{default_term_examples, term_generation_head, term_generation_item};
use grlm_train::terms::generate::{Generator, GeneratorParams, ItemPrompt};
use grlm_train::terms::rules::{check, ItemRules, Lexicon};
use proptest::prelude::*;

use crate::common;

const TERMS: usize = 5;

fn generator(dir: &std::path::Path) -> Generator {
    let model = Arc::new(Model::load(common::tiny_model(dir), &ModelParams::default()).unwrap());
    Generator::new(
        &model,
        &term_generation_head(TERMS, &default_term_examples(TERMS)).text,
        GeneratorParams {
            terms: TERMS,
            parallel: 4,
            threads: 1,
            max_prompt_tokens: 512,
        },
        None,
    )
    .unwrap()
}

/// Item text made of words the rules have something to say about.
fn text_strategy() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "hair",
        "hairs",
        "mask",
        "masks",
        "the",
        "of",
        "for",
        "1995",
        "spf15",
        "8oz",
        "x-100",
        "shampoo",
        "children",
        "childrens",
        "comedy",
        "comedies",
        "a",
        "Drama",
        "(1993)",
        "3.4",
        "oz",
    ]);
    prop_oneof![
        1 => prop::sample::select(vec!["a", "1", "x", "The", "-"]).prop_map(str::to_owned),
        4 => prop::collection::vec(word, 1..12).prop_map(|w| w.join(" ")),
    ]
}

fn terms_of(tid: &grlm::Tid) -> Vec<&str> {
    tid.terms().iter().map(|t| t.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_tid_keeps_the_rules(
        texts in prop::collection::vec(text_strategy(), 1..=4),
        taken in prop::collection::btree_set("[a-z]{1,6}", 0..30),
        with_lexicon in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut g = generator(dir.path());
        let lexicon = Arc::new(Lexicon::of_vocabulary_and_texts(g.vocab(), texts.iter().map(String::as_str)));
        let rules_of = |text: &str| {
            let rules = ItemRules::for_text(text);
            if with_lexicon { rules.with_lexicon(Arc::clone(&lexicon)) } else { rules }
        };
        let prompts: Vec<ItemPrompt> = texts
            .iter()
            .map(|text| ItemPrompt {
                tokens: g.tokenize(&term_generation_item(text, &[], TERMS).text),
                rules: rules_of(text),
            })
            .collect();
        let first = g.generate(&prompts).unwrap();
        for (text, tid) in texts.iter().zip(&first) {
            let tid = tid.as_ref().expect("every item gets a TID, however little text it has");
            prop_assert_eq!(check(&terms_of(tid), &rules_of(text)), Ok(()), "{} for {:?}", tid, text);
        }
        // Regenerate every last term, barred from the first one and a catalogue of others.
        let requests: Vec<(usize, BTreeSet<String>)> = first
            .iter()
            .enumerate()
            .map(|(i, tid)| {
                let mut barred = taken.clone();
                barred.insert(tid.as_ref().unwrap().terms()[TERMS - 1].as_str().to_owned());
                (i, barred)
            })
            .collect();
        let again = g.regenerate(&requests).unwrap();
        for ((text, (_, barred)), (before, after)) in texts.iter().zip(&requests).zip(first.iter().zip(&again)) {
            let (before, after) = (before.as_ref().unwrap(), after.as_ref().expect("a last term can always be rewritten"));
            prop_assert_eq!(&before.terms()[..TERMS - 1], &after.terms()[..TERMS - 1]);
            let rules = rules_of(text).with_forbidden_last(barred.clone());
            prop_assert_eq!(check(&terms_of(after), &rules), Ok(()), "{} for {:?}", after, text);
        }
    }
}
