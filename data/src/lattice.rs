//! LATTICE layout: `5-core/train.json`, `5-core/val.json`, `5-core/test.json`,
//! each a JSON object `{"<user id>": [item ids, ...], ...}`, with the feature
//! files (`image_feat.npy`, `text_feat.npy`, ...) in the dataset directory
//! itself (not in `5-core/`). The dataset name is the directory name;
//! `n_users = max user id + 1` over the three files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::DataError;
use crate::fsutil;
use crate::raw::RawSplits;

/// The three split files, relative to the dataset directory.
pub const SPLIT_FILES: [&str; 3] = ["5-core/train.json", "5-core/val.json", "5-core/test.json"];

pub(crate) fn read(
    dir: &Path,
    feature_rows: Option<(usize, &Path)>,
) -> Result<(String, RawSplits, PathBuf), DataError> {
    let name = dir
        .canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".to_owned());
    let mut raw = RawSplits::default();
    for (s, rel) in SPLIT_FILES.iter().enumerate() {
        let path = dir.join(rel);
        let text = fsutil::read_to_string(
            &path,
            "a LATTICE dataset needs 5-core/train.json, 5-core/val.json and 5-core/test.json, \
             each {\"<user id>\": [item ids]}",
        )?;
        parse_split(&path, &text, feature_rows, s, &mut raw)?;
    }
    Ok((name, raw, dir.join(SPLIT_FILES[0])))
}

fn parse_split(
    path: &Path,
    text: &str,
    feature_rows: Option<(usize, &Path)>,
    split: usize,
    raw: &mut RawSplits,
) -> Result<(), DataError> {
    let value: Value = serde_json::from_str(text).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source,
        hint: "expected an object {\"<user id>\": [item ids, ...]}".to_owned(),
    })?;
    let Value::Object(map) = value else {
        return Err(DataError::invalid(
            path,
            "expected a JSON object {\"<user id>\": [item ids, ...]} at the top level",
        ));
    };
    for (key, items) in &map {
        let user: u32 = key.trim().parse().map_err(|_| {
            DataError::invalid(
                path,
                format!(
                    "key {key:?} is not a user id; keys must be 0-based non-negative integers \
                     written as strings"
                ),
            )
        })?;
        let Value::Array(items) = items else {
            return Err(DataError::invalid(
                path,
                format!("user {key:?}: expected a list of item ids, found {items}"),
            ));
        };
        for (pos, item) in items.iter().enumerate() {
            let j = item
                .as_u64()
                .and_then(|j| u32::try_from(j).ok())
                .ok_or_else(|| {
                    DataError::invalid(
                        path,
                        format!(
                            "user {key:?}, position {pos}: item id {item} is not a 0-based \
                             non-negative integer below 2^32"
                        ),
                    )
                })?;
            if let Some((rows, feat)) = feature_rows
                && j as usize >= rows
            {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "user {key:?}, position {pos}: item id {j} is out of range: {} has \
                         {rows} rows (items 0..{}); every item id must have a feature row",
                        feat.display(),
                        rows.saturating_sub(1)
                    ),
                ));
            }
            raw.item_bound = raw.item_bound.max(j as usize + 1);
            raw.splits[split].push((user, j));
        }
        raw.n_users = raw.n_users.max(user as usize + 1);
    }
    Ok(())
}
