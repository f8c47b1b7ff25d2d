//! The bodies of the fuzz targets over the training formats (`fuzz/fuzz_targets/`), here
//! rather than in the modules they check so that the corpus tests
//! (`training/tests/integration/fuzz_corpus.rs`) run exactly what the fuzzer runs, and
//! production modules carry no fuzzing code. Each body must never panic on any input
//! except where a check it makes fails.

use std::path::Path;

use crate::lora::data::{self, Tokenized};
use crate::lora::prefix;
use crate::neighbors::cache;
use crate::sft::{input, Example, Task};
use crate::terms::grammar::{self, TidGrammar};
use crate::terms::rules::ItemRules;
use crate::terms::{endpoint, partial};

/// The embedding cache: `data` with its CRC fixed up must parse or be refused, and what
/// parses must round-trip through `EmbeddingCache::to_bytes`. Returns whether it parsed.
pub fn emb_cache_parse(data: &[u8]) -> bool {
    let mut bytes = data.to_vec();
    if let Some(body_end) = bytes.len().checked_sub(cache::CHECKSUM_BYTES) {
        let crc = crc32fast::hash(&bytes[..body_end]);
        bytes[body_end..].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(cache) = cache::EmbeddingCache::parse(&bytes) else {
        return false;
    };
    let again = cache::EmbeddingCache::parse(&cache.to_bytes()).expect("written bytes parse");
    assert_eq!(again.to_bytes(), cache.to_bytes(), "round trip");
    assert_eq!(
        (again.fingerprint(), again.dimension(), again.len()),
        (cache.fingerprint(), cache.dimension(), cache.len())
    );
    true
}

/// The progress file of `grlm-train terms`. The first byte's low bit says whether to fix up every
/// line's checksum first (so that mutations reach the structure behind it); the rest is a
/// progress file for a fixed configuration. What reading accepts
/// must write back, group by group, to a file that reads the same. Returns whether it held
/// a header.
pub fn terms_partial(data: &[u8]) -> bool {
    let Some((&flags, rest)) = data.split_first() else {
        return false;
    };
    let bytes: Vec<u8> = if flags & 1 == 1 {
        rest.split_inclusive(|&b| b == b'\n')
            .flat_map(|line| {
                let (text, newline) = match line.strip_suffix(b"\n") {
                    Some(text) => (text, true),
                    None => (line, false),
                };
                let json = text.get(9..).unwrap_or_default();
                let mut fixed = format!("{:08x} ", crc32fast::hash(json)).into_bytes();
                fixed.extend_from_slice(json);
                if newline {
                    fixed.push(b'\n');
                }
                fixed
            })
            .collect()
    } else {
        rest.to_vec()
    };
    let config = serde_json::json!({"terms": 2});
    let Ok(parsed) = partial::parse(&bytes, &config) else {
        return false;
    };
    assert!(parsed.valid_len <= bytes.len());
    let mut again =
        partial::encode(&serde_json::json!({"grlm_terms_partial": partial::VERSION, "config": config}).to_string());
    for (g, records) in parsed.groups.iter().enumerate() {
        for record in records {
            again.push_str(&partial::encode(
                &serde_json::to_string(record).expect("records serialise"),
            ));
        }
        again.push_str(&partial::encode(
            &serde_json::json!({"group": g, "items": records.len()}).to_string(),
        ));
    }
    let reread = partial::parse(again.as_bytes(), &config).expect("what was written reads back");
    assert_eq!(reread.groups, parsed.groups);
    assert_eq!(reread.valid_len, again.len());
    parsed.header_seen
}

/// A chat endpoint's reply: the first byte picks 1 to 6 terms, the rest (lossily decoded)
/// is a response body or a bare reply; a TID the parsers accept must have that many terms
/// and survive the engine's own TID parser unchanged. Returns whether one was accepted.
pub fn endpoint_reply(data: &[u8]) -> bool {
    let Some((&n, rest)) = data.split_first() else {
        return false;
    };
    let terms = usize::from(n % 6) + 1;
    let grammar = TidGrammar::new(terms).expect("1..=6 terms");
    let body = String::from_utf8_lossy(rest);
    // A whole response body is read for its reply; anything else is taken as the reply.
    let reply = endpoint::reply_content(&body).unwrap_or_else(|_| body.into_owned());
    match endpoint::parse_reply(&reply, &grammar, &ItemRules::for_text(&reply)) {
        Ok(tid) => {
            assert_eq!(tid.len(), terms);
            let printed = grlm::prompt::target(&tid);
            assert_eq!(grlm::Tid::parse(&printed, Some(terms)).as_ref(), Ok(&tid), "{printed}");
            true
        }
        Err(_) => false,
    }
}

/// The TID grammar: the first byte picks 1 to 6 terms, the rest is text fed to the
/// automaton; accepted text must parse as a TID of that many terms and print back
/// unchanged. Returns whether the text was accepted.
pub fn tid_grammar(data: &[u8]) -> bool {
    let Some((&n, rest)) = data.split_first() else {
        return false;
    };
    let terms = usize::from(n % 6) + 1;
    let grammar = TidGrammar::new(terms).expect("1 to 6 terms is a valid grammar");
    let end = grammar.feed(grammar::State::Open, rest);
    let Ok(text) = std::str::from_utf8(rest) else {
        assert_ne!(end, Some(grammar::State::Done), "accepted bytes that are not UTF-8");
        return false;
    };
    if !grammar.accepts(text) {
        return false;
    }
    let tid = grlm::Tid::parse(text, Some(terms)).expect("accepted text parses as a TID");
    assert_eq!(tid.to_string(), text, "accepted text is canonical");
    true
}

/// The SFT examples reader: every example it accepts keeps `check_example`'s promises,
/// the task filter only drops, and the examples written back as JSON lines read back the
/// same. Returns whether `bytes` was accepted.
pub fn sft_examples(bytes: &[u8]) -> bool {
    let path = Path::new("fuzz");
    let Ok(examples) = data::parse_examples(bytes, path, &Task::ALL) else {
        return false;
    };
    for example in &examples {
        assert_eq!(data::check_example(example), Ok(()));
    }
    let sequences = data::parse_examples(bytes, path, &[Task::Sequence]).expect("accepted once, accepted again");
    let expected: Vec<&Example> = examples.iter().filter(|e| e.task == Task::Sequence).collect();
    assert_eq!(sequences.iter().collect::<Vec<_>>(), expected);
    let mut written = Vec::new();
    for example in &examples {
        serde_json::to_writer(&mut written, example).expect("an example serialises");
        written.push(b'\n');
    }
    assert_eq!(
        data::parse_examples(&written[..], path, &Task::ALL).expect("written back, read back"),
        examples
    );
    true
}

/// The prefix-chunk reader, on `bytes` as the chunk of three examples of 1, 2 and 3 tokens
/// with 4 values a token: when it accepts, every example gets exactly its values, and they
/// write back to the same bytes. Returns whether `bytes` was accepted.
pub fn prefix_chunk(bytes: &[u8]) -> bool {
    let mut examples: Vec<Tokenized> = (1..=3)
        .map(|n| Tokenized {
            tokens: vec![0; n],
            ..Default::default()
        })
        .collect();
    let accepted = prefix::parse_chunk(bytes, &mut examples, &[0, 1, 2], 4);
    if accepted {
        for e in &examples {
            assert_eq!(e.prefix.len(), e.tokens.len() * 4);
        }
        assert_eq!(prefix::chunk_bytes(&examples, &[0, 1, 2]), bytes);
    }
    accepted
}

/// The three readers of `sft`'s inputs (items, sequences, neighbours) on `bytes`: ids are
/// unique, lines in file order, item text trimmed and never empty, and every sequence or
/// neighbours line number points at a line of `bytes` that begins with the id read from
/// it. Returns which readers accepted `bytes` (items, sequences, neighbours).
pub fn sft_inputs(bytes: &[u8]) -> [bool; 3] {
    let path = Path::new("fuzz");
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let first_field = |line: u64| {
        let raw = lines[usize::try_from(line - 1).expect("line fits")];
        let text = std::str::from_utf8(raw).expect("accepted lines are UTF-8");
        text.trim()
            .split_ascii_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    // Lines in file order, each id once.
    let ordered_and_unique = |rows: &[(u64, u32)]| {
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "lines in file order");
        let mut ids: Vec<u32> = rows.iter().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "an id listed twice was accepted");
    };
    // And each on the line that starts with it.
    let check_rows = |rows: Vec<(u64, u32)>| {
        ordered_and_unique(&rows);
        for &(line, id) in &rows {
            assert_eq!(first_field(line).parse::<u32>().ok(), Some(id));
        }
    };
    let mut accepted = [false; 3];
    if let Ok(items) = grlm::catalog::input::parse_items(bytes, path) {
        accepted[0] = true;
        ordered_and_unique(&items.iter().map(|r| (r.line, r.item)).collect::<Vec<_>>());
        for record in &items {
            let texts = record.title.iter().chain(&record.brand).chain(&record.description);
            assert!(texts
                .chain(record.categories.iter().flatten())
                .all(|t| !t.is_empty() && t.trim() == t));
            assert!(record.categories.iter().all(|path| !path.is_empty()));
        }
    }
    if let Ok(sequences) = input::parse_sequences(bytes, path) {
        accepted[1] = true;
        check_rows(sequences.iter().map(|(line, s)| (*line, s.user)).collect());
    }
    if let Ok(rows) = input::parse_neighbors(bytes, path) {
        accepted[2] = true;
        check_rows(rows.iter().map(|(line, r)| (*line, r.anchor)).collect());
    }
    accepted
}
