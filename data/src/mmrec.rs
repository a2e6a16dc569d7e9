//! MMRec layout: one `<name>.inter` file, tab-separated with a header line.
//! Columns are located by name: `userID`, `itemID` and `x_label` are required
//! (0 = train, 1 = valid, 2 = test); `rating`, `timestamp` and any extra columns
//! are tolerated and ignored. Ids are 0-based; `n_users = max userID + 1`.
//! When feature files exist every itemID must be below their row count.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::fsutil;
use crate::raw::RawSplits;

/// The header the generator writes and the error messages suggest.
pub const INTER_HEADER: &str = "userID\titemID\trating\ttimestamp\tx_label";

/// All `*.inter` files in `dir`, sorted.
pub(crate) fn inter_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "inter") && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Parses an id column value; `what` is the column name for messages.
fn parse_id(field: &str, what: &str) -> Result<u32, String> {
    let v: i64 = field.trim().parse().map_err(|_| {
        format!("{what} `{field}` is not an integer; ids must be 0-based non-negative integers")
    })?;
    if v < 0 {
        return Err(format!(
            "negative {what} {v}; ids must be 0-based non-negative integers (re-map them)"
        ));
    }
    u32::try_from(v).map_err(|_| format!("{what} {v} is out of range (must be < 2^32)"))
}

/// Reads the single `.inter` file of `dir`. `feature_rows`: row count and file of the
/// first feature matrix, to range-check item ids. Returns the dataset name (file stem).
pub(crate) fn read(
    dir: &Path,
    feature_rows: Option<(usize, &Path)>,
) -> Result<(String, RawSplits, PathBuf), DataError> {
    let files = inter_files(dir)?;
    let path = match files.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(DataError::MissingFile {
                path: dir.join("<name>.inter"),
                hint: format!(
                    "an MMRec dataset needs one tab-separated `<name>.inter` file with the \
                     header `{}`",
                    INTER_HEADER.replace('\t', " ")
                ),
            });
        }
        many => {
            return Err(DataError::invalid(
                dir,
                format!(
                    "{} `.inter` files found ({}); keep exactly one per dataset directory",
                    many.len(),
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let raw = parse_inter(&path, feature_rows)?;
    Ok((name, raw, path))
}

fn split_fields(line: &str, tab: bool) -> Vec<&str> {
    if tab {
        line.split('\t').map(str::trim).collect()
    } else {
        line.split_whitespace().collect()
    }
}

/// Parses one `.inter` file.
pub(crate) fn parse_inter(
    path: &Path,
    feature_rows: Option<(usize, &Path)>,
) -> Result<RawSplits, DataError> {
    let text = fsutil::read_to_string(path, "")?;
    let mut lines = text.lines().enumerate();
    let expected = format!(
        "the first line must be a header naming the columns, e.g. `{}` (tab-separated)",
        INTER_HEADER.replace('\t', " ")
    );
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break l.trim_start_matches('\u{feff}').trim_end_matches('\r'),
            None => {
                return Err(DataError::BadHeader {
                    path: path.to_path_buf(),
                    msg: format!("file is empty; {expected}"),
                });
            }
        }
    };
    let tab = header.contains('\t');
    let cols = split_fields(header, tab);
    if cols.iter().all(|c| c.parse::<f64>().is_ok()) {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            msg: format!("header missing: the first line `{header}` looks like data; {expected}"),
        });
    }
    let find = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(cu), Some(ci), Some(cx)) = (find("userID"), find("itemID"), find("x_label")) else {
        let missing: Vec<&str> = ["userID", "itemID", "x_label"]
            .into_iter()
            .filter(|n| find(n).is_none())
            .collect();
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            msg: format!(
                "header lacks column(s) {} (found {:?}); {expected}",
                missing.join(", "),
                cols
            ),
        });
    };
    let mut raw = RawSplits::default();
    for (i, line) in lines {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |msg: String| DataError::Malformed {
            path: path.to_path_buf(),
            line: line_no,
            msg,
        };
        let fields = split_fields(line, tab);
        if fields.len() != cols.len() {
            return Err(malformed(format!(
                "expected {} {}fields ({}), found {}",
                cols.len(),
                if tab { "tab-separated " } else { "" },
                cols.join(", "),
                fields.len()
            )));
        }
        let u = parse_id(fields[cu], "userID").map_err(malformed)?;
        let j = parse_id(fields[ci], "itemID").map_err(malformed)?;
        let x: usize = match fields[cx].trim() {
            "0" => 0,
            "1" => 1,
            "2" => 2,
            other => {
                return Err(malformed(format!(
                    "x_label must be 0 (train), 1 (valid) or 2 (test), found `{other}`"
                )));
            }
        };
        if let Some((rows, feat)) = feature_rows
            && j as usize >= rows
        {
            return Err(malformed(format!(
                "itemID {j} is out of range: {} has {rows} rows (items 0..{}); every item id \
                 must have a feature row",
                feat.display(),
                rows.saturating_sub(1)
            )));
        }
        raw.n_users = raw.n_users.max(u as usize + 1);
        raw.item_bound = raw.item_bound.max(j as usize + 1);
        raw.splits[x].push((u, j));
        raw.line_split.push(x as u8);
    }
    Ok(raw)
}
