//! Line files, read and written one way everywhere: a bounded line reader whose errors name
//! the file and the 1-based line, and an atomic JSON-lines writer. The catalogue's inputs,
//! the transition counts, and the training crate's data and progress files all go through
//! these.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Longest accepted line. Real lines are under 2 KiB; the cap stops a corrupt file without
/// newlines from being read whole into memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A problem in an input file, with its location.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Io { path: PathBuf, source: std::io::Error },
    /// One line is malformed.
    #[error("{path}:{line}: {reason}")]
    #[allow(missing_docs)] // the fields are named for what they hold
    Line { path: PathBuf, line: u64, reason: String },
}

/// Calls `f` with the 1-based number and the trimmed text of every non-blank line of
/// `reader`. Lines are read with a cap of [`MAX_LINE_BYTES`] and must be UTF-8; an error
/// from `f` is reported with the line's number.
pub fn for_each_line(
    reader: impl BufRead,
    path: &Path,
    mut f: impl FnMut(u64, &str) -> Result<(), String>,
) -> Result<(), InputError> {
    for_each_raw_line(reader, path, |line_no, text| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        f(line_no, text)
    })
}

/// As [`for_each_line`], but `f` sees every line as it is, without its line ending (`\n`
/// or `\r\n`): for formats where leading or trailing tabs are fields.
pub fn for_each_raw_line(
    mut reader: impl BufRead,
    path: &Path,
    mut f: impl FnMut(u64, &str) -> Result<(), String>,
) -> Result<(), InputError> {
    let io_err = |source| InputError::Io {
        path: path.to_owned(),
        source,
    };
    let line_err = |line, reason| InputError::Line {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io_err)?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            return Err(line_err(line_no, format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|e| line_err(line_no, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        f(line_no, text).map_err(|reason| line_err(line_no, reason))?;
    }
}

/// Writes one JSON value per line to `path`, atomically: the file appears whole or not at
/// all.
pub fn write_jsonl<T: serde::Serialize>(path: &Path, rows: impl IntoIterator<Item = T>) -> std::io::Result<()> {
    crate::atomic_write::write_atomically(path, |w| {
        for row in rows {
            serde_json::to_writer(&mut *w, &row)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}
