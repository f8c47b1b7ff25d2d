//! Crash-safe output files: write a temporary file beside the destination, sync it, rename
//! it over the destination. A failure or a crash leaves whatever was at the destination
//! before; a reader that has the old file open or mapped keeps a consistent view.

use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically with the bytes `write` produces (through a 1 MiB buffer).
///
/// The file gets ordinary permissions (0644 on Unix), not the owner-only mode of temporary
/// files: outputs are assets to share, not secrets.
pub fn write_atomically<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{file_name}.");
    let mut options = tempfile::Builder::new();
    options.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        options.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut temp = options.tempfile_in(dir)?;
    {
        let mut writer = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        write(&mut writer)?;
        writer.flush()?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable; a platform that cannot open a directory only loses
    // that extra guarantee.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
