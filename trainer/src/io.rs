//! File output helpers: every file the trainer writes goes through
//! [`write_atomic`] (temp file in the same directory, then rename).

use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    mario_data::fsutil::write_atomic(path, |w| std::io::Write::write_all(w, bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes pretty JSON atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
