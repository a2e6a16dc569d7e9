//! `truth.json`: the generative ground truth that [`crate::generate`] plants in
//! a synthetic dataset — each user's preference over modalities (one row per
//! user, in dataset user-id order, each row summing to 1) and, optionally, the
//! modality that drove each interaction (in `.inter` line order).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::fsutil;

/// File name of the ground truth inside a dataset directory.
pub const TRUTH_FILE: &str = "truth.json";

/// Planted structure of a synthetic dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Modality names, e.g. `["visual", "textual", "interaction"]`; the columns of
    /// `user_preference`.
    pub modalities: Vec<String>,
    /// Per user (dataset user-id order): probability that an interaction is driven
    /// by each modality. Rows sum to 1.
    pub user_preference: Vec<Vec<f32>>,
    /// Per `.inter` data line (file order, i.e. by user then time): index into
    /// `modalities` of the modality that drove that interaction. Empty when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interaction_modality: Vec<u8>,
}

/// Reads `dir/truth.json`; `Ok(None)` when the file does not exist (real datasets).
///
/// Validates that every row has one entry per modality, is finite and
/// non-negative, and sums to 1 (±1e-3), and that `interaction_modality` indexes
/// `modalities`.
pub fn read_truth(dir: &Path) -> Result<Option<Truth>, DataError> {
    let path = dir.join(TRUTH_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = fsutil::read_to_string(&path, "")?;
    let truth: Truth = serde_json::from_str(&text).map_err(|source| DataError::Json {
        path: path.clone(),
        source,
        hint: "expected {\"modalities\": [...], \"user_preference\": [[...], ...]}; \
               regenerate it with `mario generate`"
            .to_owned(),
    })?;
    let m = truth.modalities.len();
    for (u, row) in truth.user_preference.iter().enumerate() {
        if row.len() != m {
            return Err(DataError::invalid(
                &path,
                format!(
                    "user_preference row {u} has {} entries, expected {m} (one per modality)",
                    row.len()
                ),
            ));
        }
        let sum: f32 = row.iter().sum();
        if row.iter().any(|p| !p.is_finite() || *p < 0.0) || (sum - 1.0).abs() > 1e-3 {
            return Err(DataError::invalid(
                &path,
                format!(
                    "user_preference row {u} = {row:?} is not a probability vector \
                     (non-negative, summing to 1)"
                ),
            ));
        }
    }
    if let Some(pos) = truth
        .interaction_modality
        .iter()
        .position(|&k| usize::from(k) >= m)
    {
        return Err(DataError::invalid(
            &path,
            format!(
                "interaction_modality[{pos}] = {} does not index the {m} modalities",
                truth.interaction_modality[pos]
            ),
        ));
    }
    Ok(Some(truth))
}

/// Driving modality (an index into [`Truth::modalities`]) of each interaction,
/// keyed by (on-disk user id, item id).
pub type InteractionDrivers = BTreeMap<(u32, u32), u8>;

/// Which modality drove each interaction of the MMRec dataset in `dir`, keyed by
/// (on-disk user id, item id): the `.inter` data lines zipped with
/// `truth.interaction_modality`. `Ok(None)` when the truth records no drivers.
pub fn interaction_drivers(
    dir: &Path,
    truth: &Truth,
) -> Result<Option<InteractionDrivers>, DataError> {
    if truth.interaction_modality.is_empty() {
        return Ok(None);
    }
    let (_, raw, source) = crate::mmrec::read(dir, None)?;
    if raw.line_split.len() != truth.interaction_modality.len() {
        return Err(DataError::invalid(
            dir.join(TRUTH_FILE),
            format!(
                "interaction_modality has {} entries but {} has {} interaction lines; \
                 truth.json belongs to another dataset: regenerate both with `mario datagen`",
                truth.interaction_modality.len(),
                source.display(),
                raw.line_split.len()
            ),
        ));
    }
    let mut next = [0usize; 3];
    let mut drivers = BTreeMap::new();
    for (&split, &driver) in raw.line_split.iter().zip(&truth.interaction_modality) {
        let s = usize::from(split);
        drivers.insert(raw.splits[s][next[s]], driver);
        next[s] += 1;
    }
    Ok(Some(drivers))
}

/// Writes `truth` to `dir/truth.json`, atomically.
pub fn write_truth(dir: &Path, truth: &Truth) -> Result<(), DataError> {
    fsutil::write_atomic(&dir.join(TRUTH_FILE), |w| {
        serde_json::to_writer(&mut *w, truth).map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_truth(dir.path()).unwrap().is_none());
        let t = Truth {
            modalities: vec!["visual".into(), "textual".into(), "interaction".into()],
            user_preference: vec![vec![0.5, 0.25, 0.25], vec![0.0, 0.0, 1.0]],
            interaction_modality: vec![0, 2, 1],
        };
        write_truth(dir.path(), &t).unwrap();
        assert_eq!(read_truth(dir.path()).unwrap().unwrap(), t);

        let p = dir.path().join(TRUTH_FILE);
        std::fs::write(
            &p,
            r#"{"modalities":["a","b"],"user_preference":[[0.5,0.6]]}"#,
        )
        .unwrap();
        let msg = read_truth(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("truth.json") && msg.contains("row 0"), "{msg}");
        std::fs::write(&p, r#"{"modalities":["a"],"user_preference":[[1.0, 0.0]]}"#).unwrap();
        let msg = read_truth(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("expected 1"), "{msg}");
        std::fs::write(&p, "{\"modalities\": [").unwrap();
        let msg = read_truth(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("truth.json") && msg.contains("line 1"),
            "{msg}"
        );
    }
}
