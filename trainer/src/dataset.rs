//! Loading a dataset directory for the commands (one place, with the error that
//! names the directory).

use std::path::Path;

use mario_data::{DatasetFormat, load_dataset};

/// Reads the dataset in `dir` (format detected unless `format` is given).
pub fn load(dir: &Path, format: Option<DatasetFormat>) -> anyhow::Result<mario_data::Dataset> {
    // Loader warnings are reported through `tracing` (shown by default).
    Ok(load_dataset(dir, format)?)
}
