//! The crate's one error type, [`DataError`]. Every variant that comes from a
//! file names that file (and the line, row, column or field where it applies)
//! and says how to fix the input.

use std::path::PathBuf;

/// Everything that can go wrong while loading, validating or generating a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O failure on a file that does exist (or a directory we had to create).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file the format needs is not there.
    #[error("{}: file not found; {hint}", path.display())]
    MissingFile { path: PathBuf, hint: String },

    /// Auto-detection found neither an MMRec nor a LATTICE layout (or both).
    #[error(
        "{}: cannot tell the dataset format: {found}; expected either one `<name>.inter` file \
         (MMRec) or `5-core/train.json`, `5-core/val.json`, `5-core/test.json` (LATTICE), \
         or pass the format explicitly (`mmrec` or `lattice`)",
        dir.display()
    )]
    UnknownLayout { dir: PathBuf, found: String },

    /// A `--format` string that is neither `mmrec` nor `lattice`.
    #[error("unknown dataset format {0:?}; expected `mmrec` or `lattice`")]
    UnknownFormat(String),

    /// A preset name that is not `demo`, `baby`, `sports` or `dense`.
    #[error("unknown preset {0:?}; expected `demo`, `baby`, `sports` or `dense`")]
    UnknownPreset(String),

    /// The header line of an `.inter` file is missing or lacks a required column.
    #[error("{}:1: {msg}", path.display())]
    BadHeader { path: PathBuf, msg: String },

    /// A data line (1-based line number) that cannot be parsed or is out of range.
    #[error("{}:{line}: {msg}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        msg: String,
    },

    /// JSON that does not parse, with serde's line and column.
    #[error("{}: invalid JSON: {source}; {hint}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
        hint: String,
    },

    /// Structurally valid input with invalid content (bad ids, wrong shapes...).
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },

    /// A `.npy` file whose dtype is not float32 / float16.
    #[error(
        "{}: unsupported dtype {dtype}; features must be float32 or float16, \
         convert with np.save(path, arr.astype(np.float32))",
        path.display()
    )]
    Dtype { path: PathBuf, dtype: String },

    /// A `.npy` file stored in Fortran (column-major) order.
    #[error(
        "{}: array is stored in Fortran order (fortran_order: True); rows must be contiguous, \
         convert with np.save(path, np.ascontiguousarray(arr))",
        path.display()
    )]
    FortranOrder { path: PathBuf },

    /// A `.npy` file that is not a 2-D `[n_items, dim]` matrix.
    #[error(
        "{}: expected a 2-D array of shape [n_items, dim] with dim > 0, found shape {shape:?}; \
         reshape with np.save(path, arr.reshape(n_items, -1))",
        path.display()
    )]
    Shape { path: PathBuf, shape: Vec<u64> },

    /// A NaN or infinite feature value.
    #[error(
        "{}: row {row} (item {row}), column {column} is {value}; features must be finite, \
         replace with np.nan_to_num(arr) before saving",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        row: usize,
        column: usize,
        value: f32,
    },

    /// A feature matrix whose row count differs from the number of items.
    #[error(
        "{}: {rows} feature rows, but the dataset has {n_items} items ({why}); every feature \
         file needs exactly one row per item id",
        path.display()
    )]
    RowMismatch {
        path: PathBuf,
        rows: usize,
        n_items: usize,
        why: String,
    },

    /// No training interaction at all.
    #[error(
        "{}: the train split is empty; MMRec needs rows with x_label 0, LATTICE a non-empty \
         5-core/train.json",
        path.display()
    )]
    EmptyTrain { path: PathBuf },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
