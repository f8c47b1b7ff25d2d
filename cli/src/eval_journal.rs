//! `grlm eval --journal`: each evaluated user's outcome appended as soon as it is known, so
//! that an evaluation of hours that is stopped resumes where it stopped.
//!
//! The first line names the run (`{"grlm_eval_journal":1,"run":{...}}`): every setting that
//! changes a user's outcome, with the identity of each input file. A journal is only
//! resumed by the same run; the sample (`--users`, `--seed`) and `--jobs` are not part of
//! it, since they choose users but change no user's outcome, so a journal of 500 users
//! also serves a run of 3,000 that includes them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The journal format's version, in its first line.
const VERSION: u64 = 1;

/// One user's outcome as the journal keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Entry<T> {
    pub outcome: T,
    pub generated: usize,
    pub valid: usize,
    pub direct: usize,
}

/// The outcomes found in a journal, by user and target.
pub type Found<T> = HashMap<(u32, u32), Entry<T>>;

/// An open journal, positioned after its last complete line.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens `path` for `run`, creating it if it does not exist, and returns the outcomes
    /// already in it keyed by `key`. A last line cut short by a crash is dropped; a journal
    /// of another run is refused, naming the first setting that differs.
    pub fn open<T: serde::de::DeserializeOwned>(
        path: &Path,
        run: &serde_json::Value,
        key: impl Fn(&T) -> (u32, u32),
    ) -> Result<(Journal, Found<T>), String> {
        let named = |e: &dyn std::fmt::Display| format!("--journal {}: {e}", path.display());
        let header = serde_json::json!({ "grlm_eval_journal": VERSION, "run": run });
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(named(&e)),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[..complete]).map_err(|e| named(&e))?;
        let mut lines = text.lines();
        let mut entries = HashMap::new();
        let fresh = match lines.next() {
            None => true,
            Some(first) => {
                let found: serde_json::Value =
                    serde_json::from_str(first).map_err(|e| named(&format!("line 1 is not a journal header ({e})")))?;
                check_header(&found, &header).map_err(|e| named(&e))?;
                for (at, line) in lines.enumerate() {
                    let entry: Entry<T> =
                        serde_json::from_str(line).map_err(|e| named(&format!("line {}: {e}", at + 2)))?;
                    entries.insert(key(&entry.outcome), entry);
                }
                false
            }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| named(&e))?;
        // A torn last line is cut off (a fresh journal has no complete line, so it is emptied),
        // and what comes is appended after the last complete line.
        file.set_len(complete as u64).map_err(|e| named(&e))?;
        file.seek(SeekFrom::End(0)).map_err(|e| named(&e))?;
        let mut journal = Journal {
            path: path.to_owned(),
            file,
        };
        if fresh {
            journal.append_line(&header)?;
        }
        Ok((journal, entries))
    }

    /// Appends one user's outcome as one line, written whole by one call and flushed.
    pub fn append<T: serde::Serialize>(&mut self, entry: &Entry<T>) -> Result<(), String> {
        self.append_line(entry)
    }

    fn append_line(&mut self, value: &impl serde::Serialize) -> Result<(), String> {
        let mut line = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| format!("--journal {}: {e}", self.path.display()))
    }
}

/// Ok when a journal's header is `expected`; otherwise what differs, in words.
fn check_header(found: &serde_json::Value, expected: &serde_json::Value) -> Result<(), String> {
    if found.get("grlm_eval_journal") != expected.get("grlm_eval_journal") {
        return Err(format!(
            "journal version {} where this grlm writes {VERSION}",
            found.get("grlm_eval_journal").unwrap_or(&serde_json::Value::Null)
        ));
    }
    let (Some(found), Some(expected)) = (
        found.get("run").and_then(|r| r.as_object()),
        expected.get("run").and_then(|r| r.as_object()),
    ) else {
        return Err("line 1 names no run".into());
    };
    for (name, value) in expected {
        let theirs = found.get(name).unwrap_or(&serde_json::Value::Null);
        if theirs != value {
            return Err(format!(
                "written by another run ({name} was {theirs}, is now {value}); give another \
                 --journal, or remove this one to start over"
            ));
        }
    }
    if let Some(extra) = found.keys().find(|k| !expected.contains_key(*k)) {
        return Err(format!("written by another run (it has {extra}, this run has not)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Line {
        user: u32,
        target: u32,
        rank: Option<usize>,
    }

    fn entry(user: u32, rank: Option<usize>) -> Entry<Line> {
        Entry {
            outcome: Line { user, target: 7, rank },
            generated: 20,
            valid: 20,
            direct: 3,
        }
    }

    fn open(path: &Path, run: &serde_json::Value) -> Result<(Journal, Found<Line>), String> {
        Journal::open(path, run, |l: &Line| (l.user, l.target))
    }

    #[test]
    fn resumes_what_was_appended_and_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let run = serde_json::json!({ "beams": 20, "lora": { "path": "a.gguf", "identity": 5 } });
        let (mut journal, found) = open(&path, &run).unwrap();
        assert!(found.is_empty());
        journal.append(&entry(1, Some(3))).unwrap();
        journal.append(&entry(2, None)).unwrap();
        drop(journal);
        // A crash in the middle of a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"outcome\":{\"user\":3,").unwrap();
        drop(file);

        let (mut journal, found) = open(&path, &run).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[&(1, 7)].outcome.rank, Some(3));
        assert_eq!(found[&(2, 7)].outcome.rank, None);
        journal.append(&entry(3, Some(1))).unwrap();
        drop(journal);
        let (_, found) = open(&path, &run).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[&(3, 7)].direct, 3);
    }

    #[test]
    fn refuses_a_journal_of_another_run_and_names_the_difference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let run = serde_json::json!({ "beams": 20, "split": "test" });
        let (mut journal, _) = open(&path, &run).unwrap();
        journal.append(&entry(1, Some(3))).unwrap();
        drop(journal);
        let before = std::fs::read(&path).unwrap();

        let other = serde_json::json!({ "beams": 20, "split": "valid" });
        let err = open(&path, &other).err().unwrap();
        assert!(err.contains("split was \"test\", is now \"valid\""), "{err}");
        let fewer = serde_json::json!({ "beams": 20 });
        let err = open(&path, &fewer).err().unwrap();
        assert!(err.contains("it has split"), "{err}");
        // Refusing loses nothing.
        assert_eq!(std::fs::read(&path).unwrap(), before);

        std::fs::write(&path, b"not json\n").unwrap();
        let err = open(&path, &run).err().unwrap();
        assert!(err.contains("line 1 is not a journal header"), "{err}");
    }

    #[test]
    fn a_bad_entry_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let run = serde_json::json!({ "beams": 20 });
        drop(open(&path, &run).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"outcome\":{\"user\":\"x\"}}\n").unwrap();
        drop(file);
        let err = open(&path, &run).err().unwrap();
        assert!(err.contains("line 2"), "{err}");
    }
}
