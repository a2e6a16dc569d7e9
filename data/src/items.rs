//! `items.jsonl`: the optional item catalogue, one [`ItemInfo`] JSON object per
//! line. Read back in id order; ids must be `< n_items` and unique; ids with no
//! row get [`ItemInfo::anonymous`] and a warning.

use std::io::Write;
use std::path::Path;

use mario_shared::ItemInfo;

use crate::error::DataError;
use crate::fsutil;

/// File name of the catalogue inside a dataset directory.
pub const ITEMS_FILE: &str = "items.jsonl";

/// A catalogue in id order plus the warnings raised while reading it.
pub(crate) type CatalogueWithWarnings = (Vec<ItemInfo>, Vec<String>);

/// Reads `dir/items.jsonl` if it exists. Returns the catalogue in id order and warnings.
pub(crate) fn read_catalogue(
    dir: &Path,
    n_items: usize,
) -> Result<Option<CatalogueWithWarnings>, DataError> {
    let path = dir.join(ITEMS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = fsutil::read_to_string(&path, "")?;
    let mut slots: Vec<Option<ItemInfo>> = vec![None; n_items];
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let info: ItemInfo = serde_json::from_str(line).map_err(|e| DataError::Malformed {
            path: path.clone(),
            line: line_no,
            msg: format!(
                "not a valid item row ({e}); each line must be a JSON object like \
                     {{\"id\": 0, \"title\": \"...\"}}"
            ),
        })?;
        let id = info.id as usize;
        let Some(slot) = slots.get_mut(id) else {
            return Err(DataError::Malformed {
                path,
                line: line_no,
                msg: format!(
                    "item id {id} is out of range: the dataset has {n_items} items (ids 0..{}); \
                     remove the row or fix the id",
                    n_items.saturating_sub(1)
                ),
            });
        };
        if slot.is_some() {
            return Err(DataError::Malformed {
                path,
                line: line_no,
                msg: format!("item id {id} appears twice; keep one row per item"),
            });
        }
        *slot = Some(info);
    }
    let missing = slots.iter().filter(|s| s.is_none()).count();
    let mut warnings = Vec::new();
    if missing > 0 {
        warnings.push(format!(
            "{}: {missing} of {n_items} items have no row; they get placeholder titles",
            path.display()
        ));
    }
    let items = slots
        .into_iter()
        .enumerate()
        .map(|(id, s)| s.unwrap_or_else(|| ItemInfo::anonymous(id as u32)))
        .collect();
    Ok(Some((items, warnings)))
}

/// Writes `items` as JSON lines to `path`, atomically.
pub fn write_catalogue(path: &Path, items: &[ItemInfo]) -> Result<(), DataError> {
    fsutil::write_atomic(path, |w| {
        for item in items {
            serde_json::to_writer(&mut *w, item).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}
