//! Side-modality feature files: every `<stem>_feat.npy` in the dataset
//! directory is one modality (`image` → `visual`, `text` → `textual`, any
//! other stem keeps its name). Modalities are ordered visual, textual, then the
//! rest alphabetically; all must have the same number of rows (one per item).

use std::path::Path;

use crate::error::DataError;
use crate::npy;
use crate::raw::FeatureModality;

/// The modality name for a feature-file stem.
pub fn modality_name(stem: &str) -> String {
    match stem {
        "image" => "visual".to_owned(),
        "text" => "textual".to_owned(),
        other => other.to_owned(),
    }
}

fn rank(name: &str) -> u8 {
    match name {
        "visual" => 0,
        "textual" => 1,
        _ => 2,
    }
}

/// Loads all `*_feat.npy` files of `dir`. Returns the modalities (ordered) and
/// warnings (e.g. no visual or textual file). Errors when two files map to the
/// same modality or the row counts disagree.
pub(crate) fn load_modalities(
    dir: &Path,
) -> Result<(Vec<FeatureModality>, Vec<String>), DataError> {
    let mut warnings = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("_feat.npy") {
            if stem.is_empty() {
                warnings.push(format!(
                    "{}: ignored, a feature file needs a modality name before `_feat.npy`",
                    entry.path().display()
                ));
                continue;
            }
            files.push((modality_name(stem), entry.path()));
        }
    }
    files.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
    for pair in files.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(DataError::invalid(
                &pair[1].1,
                format!(
                    "modality `{}` is also provided by {}; keep only one of the two files",
                    pair[0].0,
                    pair[0].1.display()
                ),
            ));
        }
    }
    let mut modalities: Vec<FeatureModality> = Vec::with_capacity(files.len());
    for (name, path) in files {
        let m = npy::read_matrix(&path)?;
        if let Some(first) = modalities.first()
            && m.rows != first.features.len() / first.dim
        {
            return Err(DataError::RowMismatch {
                path,
                rows: m.rows,
                n_items: first.features.len() / first.dim,
                why: format!("{} has that many rows", first.source.display()),
            });
        }
        modalities.push(FeatureModality {
            name,
            dim: m.dim,
            features: m.data,
            source: path,
        });
    }
    for (want, file) in [("visual", "image_feat.npy"), ("textual", "text_feat.npy")] {
        if !modalities.iter().any(|m| m.name == want) {
            warnings.push(format!(
                "{}: not found, the dataset has no {want} modality",
                dir.join(file).display()
            ));
        }
    }
    Ok((modalities, warnings))
}

/// Row count shared by all modalities (None without any).
pub(crate) fn feature_rows(modalities: &[FeatureModality]) -> Option<(usize, &Path)> {
    modalities
        .first()
        .map(|m| (m.features.len() / m.dim.max(1), m.source.as_path()))
}
