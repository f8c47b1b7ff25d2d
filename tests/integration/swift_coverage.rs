//! The Swift binding (`bindings/swift/Sources/Grlm`) mirrors `include/grlm.h` one to one.
//! No Swift compiler runs in CI here, so this test reads both as text and fails with a list
//! of what the binding lacks: a C function it never calls, a status, method or mode value
//! without a Swift enum case of the same raw value (and name), a field of a struct the
//! library writes that Swift never reads, or a field of a parameter struct that Swift
//! never sets. A header change that the binding does not follow therefore fails here, on
//! Linux, before anyone opens Xcode.
//!
//! Both files are tokenised with comments and string literals removed, so a function
//! named in a doc comment does not count as called.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Structs the library writes; every field must reach a Swift value.
const OUT_STRUCTS: [&str; 5] = [
    "grlm_result",
    "grlm_generated",
    "grlm_stats",
    "grlm_catalog_info",
    "grlm_prior_info",
];

/// C enumerators and constants, each with the Swift enum that must mirror it.
const ENUMS: [(&str, &str); 4] = [
    ("GRLM_STATUS_", "Status"),
    ("GRLM_METHOD_", "MatchMethod"),
    ("GRLM_MODE_", "Mode"),
    ("GRLM_FUSION_", "Fusion"),
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(u64),
    Str,
    Punct(String),
}

impl Token {
    fn ident(&self) -> Option<&str> {
        match self {
            Token::Ident(s) => Some(s),
            _ => None,
        }
    }

    fn is(&self, punct: &str) -> bool {
        matches!(self, Token::Punct(p) if p == punct)
    }
}

/// Characters that run together into one operator token, so that `==` is never mistaken
/// for an assignment.
fn is_operator_char(c: char) -> bool {
    "=!<>+-*/%&|^~?".contains(c)
}

/// Tokenises C or Swift. Comments vanish (nested ones too when `nested_comments`, as in
/// Swift); a string literal becomes one `Str` token whatever it holds; backticks around a
/// Swift identifier are dropped.
fn tokenize(text: &str, nested_comments: bool) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() || c == '`' {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') && (depth == 0 || nested_comments) {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            let triple = chars.get(i..i + 3) == Some(&['"', '"', '"'][..]);
            i += if triple { 3 } else { 1 };
            while i < chars.len() {
                if chars[i] == '\\' {
                    i += 2;
                } else if triple && chars.get(i..i + 3) == Some(&['"', '"', '"'][..]) {
                    i += 3;
                    break;
                } else if !triple && chars[i] == '"' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            tokens.push(Token::Str);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
            let literal: String = chars[start..i].iter().filter(|&&c| c != '_').collect();
            let value = match literal.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => literal.parse().ok(),
            };
            // Floats and suffixed literals are never raw values; keep them out of the way.
            tokens.push(value.map_or(Token::Punct(literal), Token::Number));
        } else if is_operator_char(c) {
            let start = i;
            while i < chars.len() && is_operator_char(chars[i]) && !(chars[i] == '/' && i > start) {
                i += 1;
            }
            tokens.push(Token::Punct(chars[start..i].iter().collect()));
        } else if c == '.' {
            let start = i;
            while i < chars.len() && chars[i] == '.' {
                i += 1;
            }
            tokens.push(Token::Punct(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Punct(c.to_string()));
            i += 1;
        }
    }
    tokens
}

#[derive(Debug, Default)]
struct Header {
    /// Function name → the struct it returns by value, if any.
    functions: BTreeMap<String, Option<String>>,
    /// Enumerators and `#define`d constants with a `GRLM_` prefix, with their values.
    constants: Vec<(String, u64)>,
    /// Struct name → its fields in order.
    structs: BTreeMap<String, Vec<String>>,
}

/// Index of the token after the `}` matching the `{` at `open`.
fn matching_brace(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is("{") {
            depth += 1;
        } else if token.is("}") {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    tokens.len()
}

fn parse_header(text: &str) -> Header {
    let mut header = Header::default();
    // `#define`s are the only preprocessor lines that carry API; the rest (include guards,
    // `extern "C"` guards, C23 enum types) would only confuse the token scan.
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(define) = trimmed.strip_prefix("#define ") {
            let mut parts = define.split_whitespace();
            if let (Some(name), Some(value)) = (parts.next(), parts.next()) {
                if let (true, Ok(value)) = (name.starts_with("GRLM_"), value.parse()) {
                    header.constants.push((name.to_string(), value));
                }
            }
        }
        if !trimmed.starts_with('#') {
            code.push_str(line);
        }
        code.push('\n');
    }

    let tokens = tokenize(&code, false);
    let mut in_extern = false;
    let mut i = 0;
    while i < tokens.len() {
        let next_is_brace = tokens.get(i + 2).is_some_and(|t| t.is("{"));
        // A definition's body opens before the next `;` (after `: uint32_t` in C++/C23
        // enums); a forward declaration or a use as a type has none.
        let body_open = tokens[i..]
            .iter()
            .position(|t| t.is("{") || t.is(";"))
            .map(|p| p + i)
            .filter(|&p| tokens[p].is("{"));
        match &tokens[i] {
            Token::Ident(kw) if kw == "extern" && tokens.get(i + 1) == Some(&Token::Str) && next_is_brace => {
                in_extern = true;
                i += 3;
            }
            Token::Ident(kw) if (kw == "enum" || kw == "struct") && body_open.is_some() => {
                let open = body_open.unwrap_or(i);
                let end = matching_brace(&tokens, open);
                let body = &tokens[open + 1..end - 1];
                if kw == "enum" {
                    for entry in body.split(|t| t.is(",")) {
                        if let [Token::Ident(name), eq, Token::Number(value)] = entry {
                            if eq.is("=") {
                                header.constants.push((name.clone(), *value));
                            }
                        }
                    }
                } else if let Some(name) = tokens[i + 1].ident() {
                    let fields = body
                        .split(|t| t.is(";"))
                        .filter_map(|decl| decl.iter().rev().find_map(Token::ident))
                        .map(str::to_string)
                        .collect();
                    header.structs.insert(name.to_string(), fields);
                }
                i = end;
            }
            Token::Punct(p) if p == "}" && in_extern => {
                in_extern = false;
                i += 1;
            }
            Token::Ident(name)
                if in_extern && name.starts_with("grlm_") && tokens.get(i + 1).is_some_and(|t| t.is("(")) =>
            {
                let returns = tokens[..i].last().and_then(Token::ident).map(str::to_string);
                header.functions.insert(name.clone(), returns);
                while i < tokens.len() && !tokens[i].is(";") {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    // Only by-value struct returns matter (they bind Swift variables to a struct type).
    for returns in header.functions.values_mut() {
        if returns.as_ref().is_some_and(|r| !header.structs.contains_key(r)) {
            *returns = None;
        }
    }
    header
}

#[derive(Debug, Default)]
struct Swift {
    /// `grlm_*` identifiers followed by `(`: calls, and struct initialisers.
    calls: BTreeSet<String>,
    /// Variable name → the C struct types it is bound to anywhere in the sources.
    bindings: BTreeMap<String, BTreeSet<String>>,
    /// `variable.field` that is not assigned to.
    reads: BTreeSet<(String, String)>,
    /// `variable.field = ...`.
    writes: BTreeSet<(String, String)>,
    /// Enum name → its `case name = value` entries.
    enums: BTreeMap<String, Vec<(String, u64)>>,
}

fn parse_swift(text: &str, header: &Header) -> Swift {
    let tokens = tokenize(text, true);
    let mut swift = Swift::default();
    let struct_of = |name: &str| -> Option<String> {
        if header.structs.contains_key(name) {
            Some(name.to_string())
        } else {
            header.functions.get(name).cloned().flatten()
        }
    };
    for (i, token) in tokens.iter().enumerate() {
        let Some(name) = token.ident() else { continue };
        let at = |offset: usize| tokens.get(i + offset);
        if name.starts_with("grlm_") && at(1).is_some_and(|t| t.is("(")) {
            swift.calls.insert(name.to_string());
        }
        // `name: grlm_x` (a parameter or typed variable), `name = grlm_x()` (a zeroed
        // struct) or `name = grlm_f()` (a function returning grlm_x by value).
        let bound = match (at(1), at(2).and_then(Token::ident), at(3)) {
            (Some(colon), Some(ty), _) if colon.is(":") && header.structs.contains_key(ty) => Some(ty.to_string()),
            (Some(eq), Some(callee), Some(paren)) if eq.is("=") && paren.is("(") => struct_of(callee),
            _ => None,
        };
        if let Some(ty) = bound {
            swift.bindings.entry(name.to_string()).or_default().insert(ty);
        }
        let member_of_something = i > 0 && tokens[i - 1].is(".");
        if let (false, Some(dot), Some(field)) = (member_of_something, at(1), at(2).and_then(Token::ident)) {
            if dot.is(".") {
                let access = (name.to_string(), field.to_string());
                if at(3).is_some_and(|t| t.is("=")) {
                    swift.writes.insert(access);
                } else {
                    swift.reads.insert(access);
                }
            }
        }
        if name == "enum" {
            let Some(enum_name) = at(1).and_then(Token::ident) else {
                continue;
            };
            let Some(open) = tokens[i..].iter().position(|t| t.is("{")).map(|p| p + i) else {
                continue;
            };
            let end = matching_brace(&tokens, open);
            let mut cases = Vec::new();
            let mut depth = 0usize;
            let mut in_case = false;
            for (j, t) in tokens.iter().enumerate().take(end - 1).skip(open + 1) {
                if t.is("{") {
                    depth += 1;
                } else if t.is("}") {
                    depth -= 1;
                } else if depth == 0 && t.ident() == Some("case") {
                    in_case = true;
                } else if depth == 0 && in_case && t.is("=") {
                    if let (Some(case), Some(Token::Number(value))) = (tokens[j - 1].ident(), tokens.get(j + 1)) {
                        cases.push((case.to_string(), *value));
                    }
                } else if depth == 0 && in_case && !t.is(",") && t.ident().is_none() && !matches!(t, Token::Number(_)) {
                    in_case = false;
                }
            }
            swift.enums.insert(enum_name.to_string(), cases);
        }
    }
    swift
}

/// `GRLM_STATUS_INVALID_UTF8` and `invalidUTF8` both become `invalidutf8`.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|&c| c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Everything the Swift sources lack, one line each; empty when they mirror the header.
fn check(header_text: &str, swift_text: &str) -> Vec<String> {
    let header = parse_header(header_text);
    let swift = parse_swift(swift_text, &header);
    let mut problems = Vec::new();

    for function in header.functions.keys() {
        if !swift.calls.contains(function) {
            problems.push(format!("C function {function} is never called from Swift"));
        }
    }
    for called in &swift.calls {
        if !header.functions.contains_key(called) && !header.structs.contains_key(called) {
            problems.push(format!("Swift calls {called}, which grlm.h does not declare"));
        }
    }

    for (prefix, swift_enum) in ENUMS {
        let Some(cases) = swift.enums.get(swift_enum) else {
            problems.push(format!("Swift has no enum {swift_enum} for the {prefix}* values"));
            continue;
        };
        let c_values: Vec<_> = header
            .constants
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .collect();
        for (c_name, value) in &c_values {
            match cases.iter().find(|(_, v)| v == value) {
                None => problems.push(format!("{c_name} = {value} has no case in Swift enum {swift_enum}")),
                Some((case, _)) if normalize(case) != normalize(&c_name[prefix.len()..]) => problems.push(format!(
                    "{swift_enum}.{case} has raw value {value}, which is {c_name} in grlm.h"
                )),
                Some(_) => {}
            }
        }
        for (case, value) in cases {
            if !c_values.iter().any(|(_, v)| v == value) {
                problems.push(format!("{swift_enum}.{case} = {value} is no {prefix}* value of grlm.h"));
            }
        }
    }

    for (name, fields) in &header.structs {
        let out = OUT_STRUCTS.contains(&name.as_str());
        if !out && fields.first().map(String::as_str) != Some("size") {
            problems.push(format!(
                "{name} is neither a known out-struct nor a sized parameter struct"
            ));
            continue;
        }
        let accesses = if out { &swift.reads } else { &swift.writes };
        let variables: Vec<_> = swift
            .bindings
            .iter()
            .filter(|(_, types)| types.contains(name))
            .map(|(v, _)| v)
            .collect();
        // `size` is set by the library's default-params function, never by callers.
        for field in fields.iter().filter(|f| out || f.as_str() != "size") {
            if !variables
                .iter()
                .any(|v| accesses.contains(&((*v).clone(), field.clone())))
            {
                let verb = if out { "read" } else { "set" };
                problems.push(format!("{name}.{field} is never {verb} in Swift"));
            }
        }
    }
    for name in OUT_STRUCTS {
        if !header.structs.contains_key(name) {
            problems.push(format!("out-struct {name} is not in grlm.h"));
        }
    }
    problems
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header_text() -> String {
    std::fs::read_to_string(root().join("include/grlm.h")).expect("read include/grlm.h")
}

/// Every `.swift` file of the `Grlm` target, in name order.
fn swift_text() -> String {
    let dir = root().join("bindings/swift/Sources/Grlm");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "swift"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no Swift sources in {}", dir.display());
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn swift_binding_covers_the_c_api() {
    let header_text = header_text();
    let header = parse_header(&header_text);

    // The parser must see the whole API, or an empty parse would pass everything. Counted
    // independently: declarations start at column 0, comments and preprocessor lines do not.
    let declared = header_text
        .lines()
        .filter(|line| {
            line.starts_with(|c: char| c.is_ascii_alphabetic()) && line.contains("grlm_") && line.contains('(')
        })
        .count();
    assert_eq!(
        header.functions.len(),
        declared,
        "functions parsed: {:?}",
        header.functions.keys()
    );
    for (prefix, _) in ENUMS {
        let declared = header_text.matches(prefix).count();
        let parsed = header
            .constants
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .count();
        assert!(
            parsed >= 2 && parsed <= declared,
            "{prefix}*: parsed {parsed} of at most {declared}"
        );
    }
    assert!(header.constants.contains(&("GRLM_STATUS_INTERNAL".to_string(), 100)));
    assert!(header.constants.contains(&("GRLM_MODE_FREE".to_string(), 1)));
    // The collaborative prior's additions, so that a parse that misses them cannot pass.
    assert!(header.constants.contains(&("GRLM_MODE_PRIOR".to_string(), 2)));
    assert!(header.constants.contains(&("GRLM_STATUS_NO_PRIOR".to_string(), 17)));
    assert!(header.functions.contains_key("grlm_engine_prior_info"));
    assert_eq!(
        header.structs.get("grlm_prior_info").map(Vec::as_slice),
        Some(&["present", "holdout", "users", "transitions", "bytes"].map(String::from)[..])
    );
    assert!(header.structs["grlm_recommend_params"].ends_with(
        &[
            "prior_weight",
            "prior_window",
            "prior_decay",
            "prior_smoothing",
            "prior_evidence",
            "prior_fusion",
            "prior_model_share",
            "prior_cold_slots",
            "prior_cold_margin"
        ]
        .map(String::from)
    ));
    assert!(header.constants.contains(&("GRLM_FUSION_MIXTURE".to_string(), 1)));
    for name in OUT_STRUCTS {
        assert!(
            header.structs.get(name).is_some_and(|f| f.len() >= 4),
            "{name}: {:?}",
            header.structs.get(name)
        );
    }
    assert_eq!(
        header.functions.get("grlm_recommend_default_params"),
        Some(&Some("grlm_recommend_params".to_string()))
    );

    let problems = check(&header_text, &swift_text());
    assert!(
        problems.is_empty(),
        "bindings/swift does not mirror include/grlm.h:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn checker_reports_exactly_a_removed_call() {
    let header_text = header_text();
    let swift = swift_text();
    let removed = "grlm_session_history_len";
    let without = swift.replace(&format!("{removed}("), "removedCall(");
    assert_ne!(without, swift, "the Swift sources do not call {removed}");
    assert_eq!(
        check(&header_text, &without),
        [format!("C function {removed} is never called from Swift")]
    );

    // Every other function too: its removal is reported, and as the only missing call.
    for function in parse_header(&header_text).functions.keys() {
        let without = swift.replace(&format!("{function}("), "removedCall(");
        let missing: Vec<_> = check(&header_text, &without)
            .into_iter()
            .filter(|problem| problem.starts_with("C function"))
            .collect();
        assert_eq!(missing, [format!("C function {function} is never called from Swift")]);
    }
}

#[test]
fn checker_reports_a_missing_status_case_and_an_unread_field() {
    let header_text = header_text();
    let swift = swift_text();

    let without_case = swift.replace("case sessionBusy = 24", "");
    assert_ne!(without_case, swift);
    assert_eq!(
        check(&header_text, &without_case),
        ["GRLM_STATUS_SESSION_BUSY = 24 has no case in Swift enum Status"]
    );

    let renumbered = swift.replace("case sessionBusy = 24", "case sessionBusy = 26");
    assert_eq!(
        check(&header_text, &renumbered),
        [
            "GRLM_STATUS_SESSION_BUSY = 24 has no case in Swift enum Status",
            "Status.sessionBusy = 26 is no GRLM_STATUS_* value of grlm.h",
        ]
    );

    let without_read = swift.replace("result.title", "result.tid");
    assert_ne!(without_read, swift);
    assert_eq!(
        check(&header_text, &without_read),
        ["grlm_result.title is never read in Swift"]
    );

    // A mention in a comment is not a call.
    let commented = swift.replace("grlm_results_stats(", "// grlm_results_stats(");
    assert_eq!(
        check(&header_text, &commented),
        ["C function grlm_results_stats is never called from Swift"]
    );
}

#[test]
fn checker_reports_each_missing_piece_of_the_prior() {
    let header_text = header_text();
    let swift = swift_text();
    assert!(check(&header_text, &swift).is_empty());

    let cases = [
        (
            "case prior = 2",
            "",
            "GRLM_MODE_PRIOR = 2 has no case in Swift enum Mode",
        ),
        (
            "case noPrior = 17",
            "",
            "GRLM_STATUS_NO_PRIOR = 17 has no case in Swift enum Status",
        ),
        (
            "grlm_engine_prior_info(",
            "removedCall(",
            "C function grlm_engine_prior_info is never called from Swift",
        ),
        (
            "info.transitions",
            "info.users",
            "grlm_prior_info.transitions is never read in Swift",
        ),
        (
            "native.prior_weight =",
            "let unused =",
            "grlm_recommend_params.prior_weight is never set in Swift",
        ),
        (
            "native.prior_smoothing =",
            "let unused =",
            "grlm_recommend_params.prior_smoothing is never set in Swift",
        ),
        (
            "native.prior_evidence =",
            "let unused =",
            "grlm_recommend_params.prior_evidence is never set in Swift",
        ),
    ];
    for (present, replacement, problem) in cases {
        let without = swift.replace(present, replacement);
        assert_ne!(without, swift, "the Swift sources lack {present:?}");
        assert_eq!(check(&header_text, &without), [problem], "without {present:?}");
    }
}
