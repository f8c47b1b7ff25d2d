//! Writing TIDs through an OpenAI-compatible chat-completions server (`grlm-train terms
//! --endpoint URL`), for catalogues too large for one machine's backbone: vLLM, llama.cpp's
//! `llama-server`, llama-cpp-python's server, or a hosted API.
//!
//! Each item is one request to `URL/chat/completions`, temperature 0: the term-generation
//! header as the system message, the worked examples of the local prompt as user/assistant
//! turns (a small chat model copies the bracket format from turns, while the same examples
//! inside one system message only got prose back from SmolLM2-135M), then the item's part
//! of the prompt (its text, its neighbours' text and TIDs, the line asking for N keywords)
//! as the user message. A server
//! cannot be made to follow the TID grammar, so the reply is checked instead
//! ([`parse_reply`]): the first `[...]` in it, each term normalised as the engine does,
//! must be exactly N distinct terms that the local grammar accepts and that keep the rules
//! of [`super::rules`] for the item's text (as local decoding does). An invalid reply gets
//! up to [`CORRECTIONS`] more turns that say what was wrong; an item whose replies all
//! fail gets a TID of words from its own text ([`from_own_text`]) and is counted, so one
//! bad reply never stops a long run. Collisions are resolved as in local runs, except that
//! regenerating the last term is a request that names the taken terms.
//!
//! Requests run concurrently, at most `--parallel` at a time (a group). Transport errors,
//! HTTP 429 and 5xx are retried [`RETRIES`] times with growing pauses; any other HTTP
//! error (a wrong URL, a rejected key) stops the run at once with the server's message.
//! Progress is kept in `<out>.partial` after every group as in local runs, so `--resume`
//! continues after a failure. Whether a resumed run writes the same bytes as an
//! uninterrupted one depends on the server: greedy decoding in vLLM or llama.cpp is
//! repeatable for the same batch shapes, but not promised across batch shapes.
//!
//! The key, if the server wants one, is read from the environment variable
//! [`API_KEY_VAR`] and sent as `Authorization: Bearer`; it never appears on the command
//! line or in any output.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::prompts::{self, TermExample};
use grlm::prompt;
use grlm::tid::normalize_term;
use grlm::Tid;
use serde_json::{json, Value};

use super::grammar::TidGrammar;
use super::resolve::own_words;
use super::rules::{self, ItemRules};
use super::rules::{MAX_GENERATED_TERM_BYTES, MAX_WORDS_PER_TERM};
use super::TermsError;

/// The environment variable holding the server's API key.
pub const API_KEY_VAR: &str = "GRLM_ENDPOINT_KEY";

/// Further turns after an invalid reply, each saying what was wrong with the last one.
pub const CORRECTIONS: usize = 2;

/// Retries of a request that failed in transport or with HTTP 429 or 5xx.
pub const RETRIES: u32 = 4;

/// The longest a single request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The most tokens a reply may have: a TID with room for a few words around it.
const MAX_REPLY_TOKENS: u32 = 96;

/// The most bytes of a server's reply quoted in an error message.
const QUOTE_BYTES: usize = 300;

/// What one item's request gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The TID, when a reply was valid.
    pub tid: Option<Tid>,
    /// Requests made for it (1 + corrections).
    pub requests: usize,
}

/// A chat-completions client bound to one server, model and TID grammar.
#[derive(Debug)]
pub struct Endpoint {
    agent: ureq::Agent,
    url: String,
    model: String,
    key: Option<String>,
    /// The messages every request starts with: system, then the worked examples.
    head: Vec<Value>,
    grammar: TidGrammar,
    concurrency: usize,
}

impl Endpoint {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080/v1`), asking `model`
    /// for TIDs of `terms` terms.
    pub fn new(
        base: &str,
        model: &str,
        terms: usize,
        examples: &[TermExample],
        concurrency: usize,
    ) -> Result<Self, TermsError> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TermsError::Usage(format!(
                "--endpoint {base:?}: expected an http:// or https:// URL such as http://127.0.0.1:8080/v1"
            )));
        }
        if concurrency == 0 {
            return Err(TermsError::Usage("--parallel must be at least 1".into()));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .max_idle_connections_per_host(concurrency)
            .build();
        Ok(Endpoint {
            agent,
            url: format!("{base}/chat/completions"),
            model: model.to_owned(),
            key: std::env::var(API_KEY_VAR).ok().filter(|k| !k.is_empty()),
            head: chat_head(terms, examples),
            grammar: TidGrammar::new(terms).map_err(TermsError::Usage)?,
            concurrency,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The model requests name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One reply per `(prompt, rules of the item's TID)`, in order; at most `concurrency`
    /// requests in flight.
    pub fn generate(&self, prompts: &[(String, ItemRules)]) -> Result<Vec<Reply>, TermsError> {
        self.each(prompts.len(), |i| self.ask(&prompts[i].0, &prompts[i].1, None))
    }

    /// For each `(prompt, rules, tid)`: `tid` with its last term written again by the
    /// server, which must be none of the rules' barred last terms (the reply's `tid` is
    /// `None` where no reply obliged).
    pub fn regenerate(&self, requests: &[(&str, &ItemRules, &Tid)]) -> Result<Vec<Reply>, TermsError> {
        self.each(requests.len(), |i| {
            let (prompt, rules, tid) = requests[i];
            self.ask(prompt, rules, Some(tid))
        })
    }

    /// Runs `job` for 0..n on up to `concurrency` threads; results in order, or the first
    /// error.
    fn each(
        &self,
        n: usize,
        job: impl Fn(usize) -> Result<Reply, TermsError> + Sync,
    ) -> Result<Vec<Reply>, TermsError> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Reply, TermsError>>>> = Mutex::new((0..n).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency.min(n) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let result = job(i);
                    let failed = result.is_err();
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    if failed {
                        // Let the other threads stop after their request in flight.
                        next.store(n, Ordering::Relaxed);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        // Every slot before the first failure was filled; after one, some may be empty.
        let mut replies = Vec::with_capacity(n);
        for result in results {
            match result {
                Some(Ok(reply)) => replies.push(reply),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Ok(replies)
    }

    /// Asks for one TID (or, with `regenerate`, for a new last term of that TID), with up
    /// to [`CORRECTIONS`] corrective turns.
    fn ask(&self, prompt: &str, rules: &ItemRules, regenerate: Option<&Tid>) -> Result<Reply, TermsError> {
        let n = self.grammar.terms();
        let mut messages = self.head.clone();
        messages.push(json!({"role": "user", "content": chat_turn(prompt)}));
        if let Some(tid) = regenerate {
            let keep: Vec<&str> = tid.terms()[..n - 1].iter().map(|t| t.as_str()).collect();
            let taken: Vec<&str> = rules.forbidden_last.iter().map(String::as_str).collect();
            messages.push(json!({"role": "assistant", "content": prompt::target(tid)}));
            messages.push(json!({"role": "user", "content": format!(
                "Another product already has that Term ID. Keep the first {} keywords ({}) and write a different last keyword, none of: {}. Answer with the whole Term ID only.",
                n - 1, keep.join(", "), taken.join(", ")
            )}));
        }
        for attempt in 0..=CORRECTIONS {
            let content = self.complete(&messages)?;
            let verdict = parse_reply(&content, &self.grammar, rules).and_then(|tid| match regenerate {
                Some(old) => {
                    let kept = tid.terms()[..n - 1] == old.terms()[..n - 1];
                    let last = tid.terms()[n - 1].as_str();
                    if !kept {
                        Err(format!("it changed the first {} keywords", n - 1))
                    } else if old.terms()[n - 1].as_str() == last {
                        Err(format!("its last keyword {last:?} is taken"))
                    } else {
                        Ok(tid)
                    }
                }
                None => Ok(tid),
            });
            match verdict {
                Ok(tid) => {
                    return Ok(Reply {
                        tid: Some(tid),
                        requests: attempt + 1,
                    })
                }
                Err(why) => {
                    messages.push(json!({"role": "assistant", "content": content}));
                    messages.push(json!({"role": "user", "content": format!(
                        "That is not a valid answer: {why}. Answer with exactly {n} lowercase keywords, separated by commas, inside square brackets, and nothing else."
                    )}));
                }
            }
        }
        Ok(Reply {
            tid: None,
            requests: CORRECTIONS + 1,
        })
    }

    /// One chat-completions call: the reply's text.
    fn complete(&self, messages: &[Value]) -> Result<String, TermsError> {
        let body = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_REPLY_TOKENS,
        });
        let mut pause = Duration::from_millis(500);
        let mut tries = 0;
        loop {
            let mut request = self.agent.post(&self.url);
            if let Some(key) = &self.key {
                request = request.set("Authorization", &format!("Bearer {key}"));
            }
            let failure = match request.send_json(&body) {
                Ok(response) => {
                    let text = response
                        .into_string()
                        .map_err(|e| self.error(format!("reading the reply: {e}")))?;
                    return reply_content(&text).map_err(|why| self.error(why));
                }
                Err(ureq::Error::Status(code, response)) => {
                    let text = response.into_string().unwrap_or_default();
                    let message = format!("HTTP {code}: {}", quote(&text));
                    if code != 429 && code < 500 {
                        return Err(self.error(message));
                    }
                    message
                }
                Err(ureq::Error::Transport(t)) => t.to_string(),
            };
            tries += 1;
            if tries > RETRIES {
                return Err(self.error(format!("{failure} (after {RETRIES} retries)")));
            }
            std::thread::sleep(pause);
            pause *= 2;
        }
    }

    fn error(&self, reason: String) -> TermsError {
        TermsError::Endpoint {
            url: self.url.clone(),
            reason,
        }
    }
}

/// The local prompt ends where the model writes `[`; a chat reply writes it itself.
fn chat_turn(prompt: &str) -> &str {
    prompt.trim_end_matches('[').trim_end()
}

/// The system message and the worked examples as turns.
fn chat_head(terms: usize, examples: &[TermExample]) -> Vec<Value> {
    let mut head = vec![json!({"role": "system", "content": format!(
        "{} Answer with the Term ID only, as [keyword, ...].",
        prompts::TERM_GENERATION_HEADER.trim_end()
    )})];
    let ask = prompts::term_generation_ask(terms);
    for example in examples {
        let text = prompt::clean_line(&example.text, prompts::MAX_TERM_ITEM_CHARS);
        head.push(json!({"role": "user", "content": format!("Product: {text}\n{}", chat_turn(&ask))}));
        head.push(json!({"role": "assistant", "content": format!("[{}]", example.terms.join(", "))}));
    }
    head
}

/// The text of the first choice of a chat-completions response body.
pub(crate) fn reply_content(body: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the reply is not JSON ({e}): {}", quote(body)))?;
    value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the reply has no choices[0].message.content: {}", quote(body)))
}

fn quote(text: &str) -> String {
    let mut end = text.len().min(QUOTE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < text.len() { "…" } else { "" };
    format!("{:?}{more}", &text[..end])
}

/// The TID in a server's reply: the first `[...]`, split at commas, each term normalised
/// as the engine does; it must then be exactly the grammar's N distinct terms, each one the
/// grammar allows, keeping `rules` (what local generation guarantees by construction). The
/// error says what was wrong, for the corrective turn.
pub fn parse_reply(reply: &str, grammar: &TidGrammar, rules: &ItemRules) -> Result<Tid, String> {
    let open = reply.find('[').ok_or("there is no [")?;
    let inner = &reply[open + 1..];
    let close = inner.find(']').ok_or("the [ is never closed with ]")?;
    let mut terms = Vec::new();
    for raw in inner[..close].split(',') {
        let term = normalize_term(raw).map_err(|e| format!("keyword {:?}: {e}", raw.trim()))?;
        terms.push(term);
    }
    let n = grammar.terms();
    if terms.len() != n {
        return Err(format!("it has {} keywords, not {n}", terms.len()));
    }
    let distinct: std::collections::HashSet<&String> = terms.iter().collect();
    if distinct.len() != n {
        return Err("keywords must be distinct".into());
    }
    if !grammar.accepts(&format!("[{}]", terms.join(", "))) {
        return Err(format!(
            "each keyword must be lowercase letters and digits, at most {MAX_WORDS_PER_TERM} dash-joined words and {MAX_GENERATED_TERM_BYTES} characters"
        ));
    }
    rules::check(&terms, rules).map_err(|broken| broken.to_string())?;
    Tid::from_terms(&terms).map_err(|e| e.to_string())
}

/// Words that pad a TID of an item whose text has too few usable words: plain, and as many
/// as a TID has terms, so that enough are left after those the text already uses.
const PADDING: [&str; grlm::tid::MAX_TID_LEN] = [
    "item", "product", "general", "other", "misc", "plain", "basic", "extra", "standard", "classic", "common",
    "simple", "regular", "unit", "piece", "goods",
];

/// A TID of words from an item's own text, for an item whose replies were all invalid: its
/// first usable words ([`own_words`]) that keep the rules, padded with plain words
/// (`item`, `product`, …) when it has fewer than N.
pub fn from_own_text(text: &str, terms: usize) -> Tid {
    let rules = ItemRules::for_text(text);
    let mut words: Vec<String> = Vec::with_capacity(terms);
    let candidates = own_words(text)
        .into_iter()
        .chain(PADDING.iter().map(|p| (*p).to_owned()));
    for word in candidates {
        if words.len() == terms {
            break;
        }
        words.push(word);
        if rules::check(&words, &rules).is_err() {
            words.pop();
        }
    }
    Tid::from_terms(&words).expect("own words and padding are normalised and distinct")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grammar(n: usize) -> TidGrammar {
        TidGrammar::new(n).unwrap()
    }

    #[test]
    fn replies_are_read_from_their_first_brackets_and_normalised() {
        let none = ItemRules::default();
        let tid = parse_reply(
            "Sure! [Hair Mask, COLOR-lock, citrus , protein, unisex] hope it helps",
            &grammar(5),
            &none,
        )
        .unwrap();
        assert_eq!(prompt::target(&tid), "[hair-mask, color-lock, citrus, protein, unisex]");
        let rules = ItemRules::for_text("A1 and B2");
        let tid = parse_reply("Term ID: [a1, b2]\n[x, y]", &grammar(2), &rules).unwrap();
        assert_eq!(prompt::target(&tid), "[a1, b2]");
    }

    #[test]
    fn invalid_replies_say_what_is_wrong() {
        let g = grammar(3);
        let cases = [
            ("no brackets here", "no ["),
            ("[a, b, c", "never closed"),
            ("[a, b]", "2 keywords, not 3"),
            ("[a, b, c, d]", "4 keywords, not 3"),
            ("[x, x, y]", "distinct"),
            ("[x, , y]", "keyword \"\""),
            ("[one two three, b, c]", "at most 2 dash-joined words"),
            ("[the-mask, b, c]", "\"the\" is not a keyword"),
            ("[mask, masks, c]", "\"masks\" repeats the earlier word \"mask\""),
            ("[mask, x1, c]", "\"x1\" has digits"),
            ("[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, b, c]", "32 characters"),
            ("[café, b, c]", "lowercase letters and digits"),
        ];
        for (reply, want) in cases {
            let err = parse_reply(reply, &g, &ItemRules::default()).unwrap_err();
            assert!(err.contains(want), "{reply:?}: {err:?} should mention {want:?}");
        }
    }

    #[test]
    fn own_text_tids_have_n_distinct_terms_even_from_short_text() {
        let tid = from_own_text("Argan Oil Shampoo, 8 oz: argan oil for dry hair", 5);
        assert_eq!(prompt::target(&tid), "[argan, oil, shampoo, dry, hair]");
        let tid = from_own_text("Soap", 3);
        assert_eq!(prompt::target(&tid), "[soap, item, product]");
        let tid = from_own_text("Items: soaps and soap, 2 pack", 4);
        assert_eq!(
            prompt::target(&tid),
            "[items, soaps, product, general]",
            "a word once, and no padding that repeats one"
        );
        assert_eq!(from_own_text("", 2).len(), 2);
    }

    #[test]
    fn response_bodies_without_content_are_errors_that_quote_them() {
        assert_eq!(
            reply_content(r#"{"choices":[{"message":{"role":"assistant","content":"[a]"}}]}"#),
            Ok("[a]".to_owned())
        );
        let err = reply_content(r#"{"error":{"message":"model not found"}}"#).unwrap_err();
        assert!(
            err.contains("choices[0].message.content") && err.contains("model not found"),
            "{err}"
        );
        let err = reply_content(&"x".repeat(1000)).unwrap_err();
        assert!(
            err.contains("not JSON") && err.ends_with('…') && err.len() < 500,
            "{err}"
        );
    }

    #[test]
    fn bad_urls_and_zero_concurrency_are_usage_errors() {
        let e = Endpoint::new("localhost:8080/v1", "m", 5, &[], 4).unwrap_err();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
        assert!(Endpoint::new("http://127.0.0.1:1/v1", "m", 5, &[], 0).is_err());
        let ok = Endpoint::new("http://127.0.0.1:1/v1/", "m", 5, &[], 4).unwrap();
        assert_eq!(ok.url(), "http://127.0.0.1:1/v1/chat/completions");
    }

    #[test]
    fn the_head_shows_the_examples_as_turns() {
        let head = chat_head(3, &prompts::default_term_examples(3));
        let roles: Vec<&str> = head.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "assistant"]);
        assert_eq!(head[2]["content"], "[running-shoes, trail, lightweight]");
        let ask = head[1]["content"].as_str().unwrap();
        assert!(
            ask.starts_with("Product: Men's trail") && ask.ends_with("(category, function, features):"),
            "{ask}"
        );
        assert_eq!(chat_head(7, &[]).len(), 1, "only the system message");
        let own = [TermExample {
            text: "Argan Oil\nHair   Serum".into(),
            terms: vec!["hair-serum".into(), "argan".into()],
        }];
        let head = chat_head(2, &own);
        assert_eq!(head.len(), 3);
        assert_eq!(
            head[1]["content"],
            "Product: Argan Oil Hair Serum\nTerm ID, 2 keywords (category, function):"
        );
        assert_eq!(head[2]["content"], "[hair-serum, argan]");
    }

    #[test]
    fn the_fuzz_body_accepts_what_the_parser_accepts() {
        assert!(crate::fuzz::endpoint_reply(b"\x04[v, b, c, d, e]"));
        assert!(
            !crate::fuzz::endpoint_reply(b"\x04[the, b, c, d, e]"),
            "a function word"
        );
        assert!(!crate::fuzz::endpoint_reply(b"\x04[a, b]"));
        assert!(!crate::fuzz::endpoint_reply(b""));
        assert!(!crate::fuzz::endpoint_reply(&[0, 0xff, 0xfe, b'[']));
    }
}
