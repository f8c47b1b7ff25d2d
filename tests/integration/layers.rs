//! The workspace's layering, checked from its sources. In `grlm-core` and `grlm` every
//! module may use only modules of a lower layer; in every crate no top-level modules use
//! each other in a cycle, and neither do the files of one module (unit tests aside). A `use`
//! that points up or sideways fails here with the file and line, so the architecture
//! described in ARCHITECTURE.md cannot drift silently. Between crates, Cargo itself keeps
//! the core from reaching the model runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules in layers, lowest first. A module may use the modules of any earlier layer;
/// modules of one layer do not use each other.
type Layers = &'static [&'static [&'static str]];

/// `grlm-core`'s top-level modules.
const CORE: Layers = &[
    &["atomic_write", "fnv", "rng", "tid", "filter", "sequences", "tokenizer"],
    &["lines"],
    &["catalog"],
    &["ground", "prior"],
];

/// `grlm`'s top-level modules, above the core's (which it re-exports under their names).
const ENGINE: Layers = &[
    &[
        "atomic_write",
        "fnv",
        "rng",
        "tid",
        "filter",
        "sequences",
        "tokenizer",
        "lines",
        "catalog",
        "ground",
        "prior",
    ],
    &["prompt", "llm"],
    &["decode"],
    &["engine"],
    &["ffi"],
];

fn layer_of(layers: Layers, module: &str) -> Option<usize> {
    layers.iter().position(|layer| layer.contains(&module))
}

fn source(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without a trailing `//` comment; `None` for comment lines.
fn code(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return None;
    }
    Some(line.split(" //").next().unwrap_or(line))
}

/// The path segments that follow each occurrence of `prefix` in `code` (`crate::catalog::le`
/// gives `["catalog", "le"]`; a group, `crate::{catalog, ground::Hit}`, gives one path a
/// member).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let segments = |text: &'a str| -> Vec<&'a str> {
        text.split("::")
            .map(|s| {
                s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")
            })
            .take_while(|s| !s.is_empty())
            .collect()
    };
    code.match_indices(prefix)
        .filter(|(at, _)| {
            // `crate::` inside a longer identifier (`my_crate::`) is not a crate path.
            code[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .flat_map(|(at, _)| {
            let rest = &code[at + prefix.len()..];
            match rest.strip_prefix('{') {
                // Members of a group on this line; nested groups count by their first name.
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|member| segments(member.trim().trim_start_matches('{')))
                    .filter(|path| !path.is_empty())
                    .collect(),
                None => vec![segments(rest)],
            }
        })
        .collect()
}

/// For each line of `text`, whether it is in an inline unit-test module: below a
/// `#[cfg(test)]` that opens a `mod ... {` (not one that declares `mod tests;`).
fn test_lines(text: &str) -> Vec<bool> {
    let lines: Vec<&str> = text.lines().collect();
    let mut in_tests = false;
    let mut out = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            let item = lines[n + 1..].iter().map(|l| l.trim()).find(|l| !l.starts_with("#["));
            in_tests |= item.is_some_and(|l| l.contains("mod ") && l.ends_with('{'));
        }
        out.push(in_tests);
    }
    out
}

/// One use of another top-level module.
struct Edge {
    file: String,
    line: usize,
    from: String,
    to: String,
    /// In a unit-test module (`tests.rs`, or below `#[cfg(test)]`), which may check a
    /// module's output with its consumer's reader.
    in_tests: bool,
}

/// Uses of other top-level modules, and uses of the crate root's re-exports
/// (`crate::Catalog`) outside `lib.rs`, which hide the real edge.
fn crate_edges(src: &Path) -> (Vec<Edge>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = Vec::new();
    let mut hidden = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        if rel == "lib.rs" {
            continue;
        }
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let test_file = rel.ends_with("/tests.rs");
        let in_tests = test_lines(&text);
        for (n, line) in text.lines().enumerate() {
            let Some(code) = code(line) else { continue };
            for path in paths_after(code, "crate::") {
                let Some(first) = path.first() else { continue };
                if first.starts_with(char::is_uppercase) {
                    hidden.push(format!("{rel}:{}: crate::{first} (name the module it lives in)", n + 1));
                } else if *first != module {
                    edges.push(Edge {
                        file: rel.clone(),
                        line: n + 1,
                        from: module.clone(),
                        to: first.to_string(),
                        in_tests: test_file || in_tests[n],
                    });
                }
            }
        }
    }
    (edges, hidden)
}

/// Every edge of the crate in `dir` that does not point to a lower layer, in words.
fn misplaced(dir: &str, layers: Layers, (edges, hidden): &(Vec<Edge>, Vec<String>)) -> Vec<String> {
    let mut bad = hidden.iter().map(|h| format!("{dir}/{h}")).collect::<Vec<_>>();
    for Edge {
        file, line, from, to, ..
    } in edges
    {
        match (layer_of(layers, from), layer_of(layers, to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => bad.push(format!(
                "{dir}/{file}: module `{from}` is in no layer of tests/integration/layers.rs"
            )),
            (_, None) => bad.push(format!(
                "{dir}/{file}:{line}: `{to}` is in no layer of tests/integration/layers.rs"
            )),
            _ => bad.push(format!(
                "{dir}/{file}:{line}: `{from}` uses `{to}`, which is not below it"
            )),
        }
    }
    bad
}

#[test]
fn modules_use_only_lower_layers() {
    let core = crate_edges(&source("core/src"));
    let engine = crate_edges(&source("src"));
    let mut bad = misplaced("core/src", CORE, &core);
    bad.extend(misplaced("src", ENGINE, &engine));
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    // The check sees real edges (a scan that found nothing would pass vacuously).
    assert!(engine.0.iter().any(|e| e.from == "engine" && e.to == "decode"));
    assert!(engine.0.iter().any(|e| e.from == "decode" && e.to == "catalog"));
    assert!(core.0.iter().any(|e| e.from == "ground" && e.to == "catalog"));
}

/// Sibling files of one module (`catalog/reader.rs`, `catalog/trie.rs`) that use each other
/// through `super::`, as a graph per module.
fn sibling_graphs(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let parts: Vec<&str> = rel.split('/').collect();
        // Only files directly inside a module folder, other than its root and its tests.
        let [module, name] = parts[..] else { continue };
        let name = name.trim_end_matches(".rs");
        if name == "mod" || name == "tests" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let uses = graphs
            .entry(module.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default();
        // A unit-test module may use its siblings freely.
        let in_tests = test_lines(&text);
        for (line, _) in text.lines().zip(&in_tests).filter(|(_, &t)| !t) {
            let Some(code) = code(line) else { continue };
            let mut paths = paths_after(code, "super::");
            paths.extend(paths_after(code, &format!("crate::{module}::")));
            for path in paths {
                if let Some(first) = path.first() {
                    if *first != name && first.starts_with(char::is_lowercase) {
                        uses.insert(first.to_string());
                    }
                }
            }
        }
    }
    graphs
}

/// Every crate of the workspace, by its sources: none may have a cycle among its top-level
/// modules or among the files of one module.
const SOURCES: &[&str] = &["core/src", "src", "eval/src", "cli/src", "testkit/src", "training/src"];

/// A cycle of `graph` (its nodes in order, the first repeated last), if it has one.
fn cycle_in(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(cycle) = visit(next, graph, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn files_of_a_module_do_not_use_each_other_in_a_cycle() {
    let mut cycles = Vec::new();
    for dir in SOURCES {
        for (module, graph) in sibling_graphs(&source(dir)) {
            if let Some(cycle) = cycle_in(&graph) {
                cycles.push(format!("{dir}/{module}: {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "files that use each other:\n{}", cycles.join("\n"));
}

#[test]
fn top_level_modules_do_not_use_each_other_in_a_cycle() {
    let mut cycles = Vec::new();
    let mut edges_seen = 0;
    for dir in SOURCES {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for edge in crate_edges(&source(dir)).0.into_iter().filter(|e| !e.in_tests) {
            graph.entry(edge.to.clone()).or_default();
            graph.entry(edge.from).or_default().insert(edge.to);
            edges_seen += 1;
        }
        if let Some(cycle) = cycle_in(&graph) {
            cycles.push(format!("{dir}: {}", cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "modules that use each other:\n{}", cycles.join("\n"));
    assert!(edges_seen > 100, "the scan found only {edges_seen} edges");
}
