//! `<out>.partial`: the progress of a `grlm-train terms` run, kept so that a killed run can
//! go on where it stopped and still write the same file.
//!
//! Every line carries its own checksum: eight hex digits of the CRC32 of the JSON that
//! follows, a space, the JSON. The first line is the run's configuration; then, for each
//! group of items in order, one record per item and a line closing the group:
//!
//! ```text
//! 1c291ca3 {"grlm_terms_partial":1,"config":{"terms":5,...}}
//! 0a8f5e21 {"item":1,"terms":["hair-mask",...],"resolved":"none","collided":false}
//! 77c0d3b2 {"group":0,"items":8}
//! ```
//!
//! A group is appended, flushed and fsynced at once. Reading back keeps whole groups only:
//! records after the last closed group, and a last line that a crash cut short or damaged,
//! are dropped (and cut from the file before appending). A damaged line anywhere else is
//! an error — that is not what a crash leaves.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resolve::Resolved;
use super::TermsError;

/// The format version in the header line.
pub(crate) const VERSION: u64 = 1;

/// One item's result as the progress file keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// External item id.
    pub item: u32,
    /// The TID's terms.
    pub terms: Vec<String>,
    /// How the TID became unique.
    pub resolved: Resolved,
    /// Whether the first TID generated for the item was already taken.
    pub collided: bool,
}

#[derive(Serialize, Deserialize)]
struct GroupEnd {
    group: usize,
    items: usize,
}

/// The progress file, open for appending.
#[derive(Debug)]
pub struct PartialFile {
    file: File,
    path: PathBuf,
    groups: usize,
}

/// The progress file of `out`: `<out>.partial`.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

pub(crate) fn encode(json: &str) -> String {
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

/// The JSON of a line whose checksum holds.
fn decode(line: &[u8]) -> Option<Value> {
    let (crc, json) = (line.get(..8)?, line.get(9..)?);
    if line.get(8) != Some(&b' ') {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    (crc == crc32fast::hash(json)).then(|| serde_json::from_slice(json).ok())?
}

impl PartialFile {
    /// Starts a new progress file for a run with `config`. Refuses to replace one that
    /// exists: its work would be lost.
    pub fn create(path: &Path, config: &Value) -> Result<Self, TermsError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => TermsError::Partial {
                    path: path.to_owned(),
                    reason: "an interrupted run left this progress file: pass --resume to continue it, or delete it to start over".into(),
                },
                _ => TermsError::Io {
                    path: path.to_owned(),
                    source: e,
                },
            })?;
        let mut partial = PartialFile {
            file,
            path: path.to_owned(),
            groups: 0,
        };
        let header = serde_json::json!({"grlm_terms_partial": VERSION, "config": config});
        partial.append(&encode(&header.to_string()))?;
        Ok(partial)
    }

    /// Opens an existing progress file to continue it: checks that it was made with
    /// `config`, returns the records of its closed groups and cuts anything after them.
    pub fn resume(path: &Path, config: &Value) -> Result<(Self, Vec<Vec<Record>>), TermsError> {
        let bytes = std::fs::read(path).map_err(TermsError::io(path))?;
        let Parsed {
            groups,
            valid_len,
            header_seen,
        } = parse(&bytes, config).map_err(|reason| TermsError::Partial {
            path: path.to_owned(),
            reason,
        })?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(TermsError::io(path))?;
        let mut partial = PartialFile {
            file,
            path: path.to_owned(),
            groups: groups.len(),
        };
        if !header_seen {
            // A crash while the header was written: nothing to continue, start the file anew.
            partial.file.set_len(0).map_err(TermsError::io(path))?;
            let header = serde_json::json!({"grlm_terms_partial": VERSION, "config": config});
            partial.append(&encode(&header.to_string()))?;
            return Ok((partial, groups));
        }
        partial.file.set_len(valid_len as u64).map_err(TermsError::io(path))?;
        partial.file.sync_all().map_err(TermsError::io(path))?;
        Ok((partial, groups))
    }

    /// Groups closed so far.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one group's records and closes it, durably.
    pub fn write_group(&mut self, records: &[Record]) -> Result<(), TermsError> {
        let mut text = String::new();
        for record in records {
            let json = serde_json::to_string(record).map_err(|e| TermsError::Partial {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
            text.push_str(&encode(&json));
        }
        let end = GroupEnd {
            group: self.groups,
            items: records.len(),
        };
        text.push_str(&encode(
            &serde_json::json!({"group": end.group, "items": end.items}).to_string(),
        ));
        self.append(&text)?;
        self.groups += 1;
        Ok(())
    }

    fn append(&mut self, text: &str) -> Result<(), TermsError> {
        use std::io::Seek;
        let io = TermsError::io(&self.path);
        let result = self
            .file
            .seek(std::io::SeekFrom::End(0))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data());
        result.map_err(io)
    }
}

/// What a progress file holds.
pub(crate) struct Parsed {
    /// The records of every closed group.
    pub(crate) groups: Vec<Vec<Record>>,
    /// Bytes up to the end of the last closed group (or the header).
    pub(crate) valid_len: usize,
    /// Whether a whole header line was there.
    pub(crate) header_seen: bool,
}

/// Reads a progress file's bytes (see the module docs); the error says which line is wrong.
pub(crate) fn parse(bytes: &[u8], config: &Value) -> Result<Parsed, String> {
    let bad = |line: usize, reason: String| format!("line {line}: {reason}");
    let mut groups: Vec<Vec<Record>> = Vec::new();
    let mut pending: Vec<Record> = Vec::new();
    let mut valid_len = 0usize;
    let mut header_seen = false;
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let end = bytes[start..].iter().position(|&b| b == b'\n').map(|i| start + i);
        let value = end.and_then(|end| decode(&bytes[start..end]));
        let Some(value) = value else {
            if end.is_none_or(|e| e + 1 == bytes.len()) {
                // The last line, cut short or garbled by a crash: its group never closed.
                break;
            }
            return Err(bad(
                line_no,
                "damaged (bad checksum or JSON) before the end of the file".into(),
            ));
        };
        let next = end.map_or(bytes.len(), |e| e + 1);
        if !header_seen {
            if value.get("grlm_terms_partial").and_then(Value::as_u64) != Some(VERSION) {
                return Err(bad(line_no, "not a progress file of grlm-train terms".into()));
            }
            check_config(value.get("config").unwrap_or(&Value::Null), config)?;
            header_seen = true;
            valid_len = next;
        } else if value.get("group").is_some() {
            let end: GroupEnd =
                serde_json::from_value(value).map_err(|e| bad(line_no, format!("bad group line: {e}")))?;
            if end.group != groups.len() || end.items != pending.len() {
                return Err(bad(
                    line_no,
                    format!(
                        "group {} of {} items closes after group {} and {} records",
                        end.group,
                        end.items,
                        groups.len(),
                        pending.len()
                    ),
                ));
            }
            groups.push(std::mem::take(&mut pending));
            valid_len = next;
        } else {
            let record: Record = serde_json::from_value(value).map_err(|e| bad(line_no, format!("bad record: {e}")))?;
            pending.push(record);
        }
        start = next;
    }
    Ok(Parsed {
        groups,
        valid_len,
        header_seen,
    })
}

/// Whether a progress file's configuration is this run's; the error names what differs.
fn check_config(found: &Value, want: &Value) -> Result<(), String> {
    if found == want {
        return Ok(());
    }
    let keys: Vec<String> = match (found.as_object(), want.as_object()) {
        (Some(f), Some(w)) => w
            .iter()
            .filter(|(k, v)| f.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} was {} and is now {v}", f.get(k).unwrap_or(&Value::Null)))
            .collect(),
        _ => vec!["the configuration is unreadable".into()],
    };
    Err(format!(
        "made by a run with other settings ({}): rerun with the same settings, or delete it to start over",
        keys.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(item: u32) -> Record {
        Record {
            item,
            terms: vec!["a".into(), format!("t{item}")],
            resolved: Resolved::None,
            collided: false,
        }
    }

    #[test]
    fn closed_groups_survive_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.partial");
        let config = serde_json::json!({"terms": 2, "parallel": 2});
        let mut p = PartialFile::create(&path, &config).unwrap();
        p.write_group(&[record(1), record(2)]).unwrap();
        p.write_group(&[record(3)]).unwrap();
        drop(p);
        let whole = std::fs::read(&path).unwrap();
        // An unclosed group and a torn last line are both dropped.
        let mut torn = whole.clone();
        torn.extend_from_slice(encode(&serde_json::to_string(&record(4)).unwrap()).as_bytes());
        torn.extend_from_slice(b"0000");
        std::fs::write(&path, &torn).unwrap();
        let (mut p, groups) = PartialFile::resume(&path, &config).unwrap();
        assert_eq!(groups, vec![vec![record(1), record(2)], vec![record(3)]]);
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        p.write_group(&[record(4)]).unwrap();
        let (_, groups) = PartialFile::resume(&path, &config).unwrap();
        assert_eq!(groups.len(), 3);

        // Damage before the end is an error; so are other settings and an existing file.
        let mut damaged = std::fs::read(&path).unwrap();
        let at = damaged.iter().position(|&b| b == b'\n').unwrap() + 20;
        damaged[at] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let err = PartialFile::resume(&path, &config).unwrap_err().to_string();
        assert!(err.contains("line 2: damaged"), "{err}");
        std::fs::write(&path, &whole).unwrap();
        let err = PartialFile::resume(&path, &serde_json::json!({"terms": 3, "parallel": 2}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("terms was 2 and is now 3"), "{err}");
        let err = PartialFile::create(&path, &config).unwrap_err().to_string();
        assert!(err.contains("--resume"), "{err}");
    }
}
