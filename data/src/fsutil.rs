//! Atomic file writing: content goes to a temporary file in the target's
//! directory and is renamed over the target only once it is complete, so a
//! crash never leaves a half-written dataset file behind.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// Writes `path` atomically: `fill` writes into a buffered temp file in the same
/// directory, which is flushed, synced and renamed onto `path`. On any error the
/// temp file is removed and `path` is left untouched.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<(), DataError>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(DataError::io(path, source));
    }
    Ok(())
}

/// Reads a whole file, mapping "not found" to [`DataError::MissingFile`] with `hint`.
pub(crate) fn read_to_string(path: &Path, hint: &str) -> Result<String, DataError> {
    fs::read_to_string(path).map_err(|e| not_found_or_io(path, e, hint))
}

/// Opens a file, mapping "not found" to [`DataError::MissingFile`] with `hint`.
pub(crate) fn open(path: &Path, hint: &str) -> Result<File, DataError> {
    File::open(path).map_err(|e| not_found_or_io(path, e, hint))
}

fn not_found_or_io(path: &Path, e: std::io::Error, hint: &str) -> DataError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DataError::MissingFile {
            path: path.to_path_buf(),
            hint: hint.to_owned(),
        }
    } else {
        DataError::io(path, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, |w| w.write_all(b"one")).unwrap();
        write_atomic(&p, |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        let err = write_atomic(&p, |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert!(err.to_string().contains("a.txt"), "{err}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temp file left behind");
    }
}
