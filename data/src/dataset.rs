//! The in-memory [`Dataset`] and [`load_dataset`], which reads a real or
//! synthetic dataset directory in MMRec or LATTICE layout and validates it.
//!
//! Normalisation applied while loading (all counted in [`LoadReport`]):
//!
//! - **Duplicates**: a (user, item) pair repeated within a split is kept once; a
//!   pair that is already in an earlier split (train < valid < test) is removed
//!   from the later one. Each removal counts in `duplicates_removed`.
//! - **Users without train items** are dropped: users that only have valid/test
//!   items (`users_dropped_no_train`) and ids that have no interaction at all
//!   (`users_dropped_empty`, gaps in the id range). The remaining users are
//!   re-indexed densely **keeping their order**; `original_user_ids[k]` is the
//!   on-disk id of dense user `k`.
//! - Items are never re-indexed: an item id is a row of every feature matrix.
//!
//! An empty train split is an error.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::error::DataError;
pub use crate::raw::FeatureModality;
use crate::raw::RawSplits;
use crate::{features, items, lattice, mmrec};

/// On-disk layout of a dataset directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DatasetFormat {
    /// MMRec: `<name>.inter` (TSV with `x_label`) + `*_feat.npy`.
    Mmrec,
    /// LATTICE: `5-core/{train,val,test}.json` + `*_feat.npy`.
    Lattice,
}

impl FromStr for DatasetFormat {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mmrec" => Ok(Self::Mmrec),
            "lattice" => Ok(Self::Lattice),
            _ => Err(DataError::UnknownFormat(s.to_owned())),
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mmrec => "mmrec",
            Self::Lattice => "lattice",
        })
    }
}

/// What loading changed or noticed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Repeated (user, item) pairs removed (within and across splits).
    pub duplicates_removed: usize,
    /// Users with valid/test interactions but no train interaction (dropped).
    pub users_dropped_no_train: usize,
    /// User ids below the maximum id with no interaction at all (dropped).
    pub users_dropped_empty: usize,
    /// Original (on-disk) id of each dense user id: `original_user_ids[k]` is the
    /// file's id of dataset user `k`.
    pub original_user_ids: Vec<u32>,
    pub train_interactions: usize,
    pub valid_interactions: usize,
    pub test_interactions: usize,
    /// Human-readable warnings (also logged with `tracing::warn!`).
    pub warnings: Vec<String>,
}

/// A loaded, validated dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub format: DatasetFormat,
    pub n_users: usize,
    pub n_items: usize,
    /// Per user: sorted, deduplicated item ids.
    pub train: Vec<Vec<u32>>,
    pub valid: Vec<Vec<u32>>,
    pub test: Vec<Vec<u32>>,
    /// Side modalities, ordered: visual, textual, then others alphabetically.
    pub modalities: Vec<FeatureModality>,
    /// From `items.jsonl` when present (one row per item, id order).
    pub catalogue: Option<Vec<mario_shared::ItemInfo>>,
    pub report: LoadReport,
}

/// Table-2 style statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    pub users: usize,
    pub items: usize,
    /// train + valid + test.
    pub interactions: usize,
    /// `1 - interactions / (users * items)`, e.g. 0.9988.
    pub sparsity: f64,
    /// `(modality, dim)` for each side modality.
    pub dims: Vec<(String, usize)>,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
}

fn thousands(n: usize) -> String {
    mario_shared::format::thousands(n as u64)
}

impl fmt::Display for DatasetStats {
    /// Two lines like the paper's Table 2 plus a split line:
    ///
    /// ```text
    ///  # User   # Item  # Interaction  Sparsity  Dim. of visual / textual
    ///  19,445    7,050        160,792    99.88%  4096 / 1024
    /// split: train 118,551 / valid 21,120 / test 21,121
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.dims.iter().map(|(n, _)| n.as_str()).collect();
        let dims: Vec<String> = self.dims.iter().map(|(_, d)| d.to_string()).collect();
        let (names, dims) = if dims.is_empty() {
            ("(none)".to_owned(), "-".to_owned())
        } else {
            (names.join(" / "), dims.join(" / "))
        };
        writeln!(
            f,
            "{:>8} {:>8} {:>14} {:>9}  Dim. of {names}",
            "# User", "# Item", "# Interaction", "Sparsity"
        )?;
        writeln!(
            f,
            "{:>8} {:>8} {:>14} {:>8.2}%  {dims}",
            thousands(self.users),
            thousands(self.items),
            thousands(self.interactions),
            self.sparsity * 100.0
        )?;
        write!(
            f,
            "split: train {} / valid {} / test {}",
            thousands(self.train),
            thousands(self.valid),
            thousands(self.test)
        )
    }
}

impl Dataset {
    /// Number of train interactions.
    pub fn n_train(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }

    /// Table-2 statistics.
    pub fn stats(&self) -> DatasetStats {
        let count = |s: &[Vec<u32>]| s.iter().map(Vec::len).sum::<usize>();
        let (train, valid, test) = (count(&self.train), count(&self.valid), count(&self.test));
        let interactions = train + valid + test;
        let cells = (self.n_users as f64) * (self.n_items as f64);
        let sparsity = if cells > 0.0 {
            1.0 - interactions as f64 / cells
        } else {
            1.0
        };
        DatasetStats {
            users: self.n_users,
            items: self.n_items,
            interactions,
            sparsity,
            dims: self
                .modalities
                .iter()
                .map(|m| (m.name.clone(), m.dim))
                .collect(),
            train,
            valid,
            test,
        }
    }

    /// Side modality names in order, then `"interaction"` last.
    pub fn modality_names(&self) -> Vec<String> {
        self.modalities
            .iter()
            .map(|m| m.name.clone())
            .chain(std::iter::once("interaction".to_owned()))
            .collect()
    }

    /// The side modality called `name`, if any.
    pub fn modality(&self, name: &str) -> Option<&FeatureModality> {
        self.modalities.iter().find(|m| m.name == name)
    }
}

/// Train-interaction count of every item: the popularity baseline's item scores.
pub fn popularity_scores(ds: &Dataset) -> Vec<f32> {
    let mut counts = vec![0f32; ds.n_items];
    for &j in ds.train.iter().flatten() {
        if let Some(c) = counts.get_mut(j as usize) {
            *c += 1.0;
        }
    }
    counts
}

/// Sanity bound on `max item id + 1` when no feature file fixes `n_items`.
const MAX_ITEMS_WITHOUT_FEATURES: usize = 50_000_000;

/// The format a directory is in: `*.inter` → MMRec, `5-core/train.json` → LATTICE.
pub fn detect_format(dir: &Path) -> Result<DatasetFormat, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFile {
            path: dir.to_path_buf(),
            hint: "pass the dataset directory (the one holding `<name>.inter` or `5-core/`)"
                .to_owned(),
        });
    }
    let inter = mmrec::inter_files(dir)?;
    let lattice = dir.join("5-core").join("train.json").is_file();
    match (inter.len(), lattice) {
        (1, false) => Ok(DatasetFormat::Mmrec),
        (0, true) => Ok(DatasetFormat::Lattice),
        (0, false) => Err(DataError::UnknownLayout {
            dir: dir.to_path_buf(),
            found: "found neither".to_owned(),
        }),
        (n, l) => Err(DataError::UnknownLayout {
            dir: dir.to_path_buf(),
            found: format!(
                "found {n} `.inter` files{}",
                if l { " and 5-core/train.json" } else { "" }
            ),
        }),
    }
}

/// Loads and validates the dataset in `dir`; `format: None` auto-detects it.
pub fn load_dataset(dir: &Path, format: Option<DatasetFormat>) -> Result<Dataset, DataError> {
    let format = match format {
        Some(f) => f,
        None => detect_format(dir)?,
    };
    let (modalities, mut warnings) = features::load_modalities(dir)?;
    if format == DatasetFormat::Lattice
        && let Ok(entries) = std::fs::read_dir(dir.join("5-core"))
    {
        let mut misplaced: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with("_feat.npy"))
            .collect();
        misplaced.sort();
        for name in misplaced {
            warnings.push(format!(
                "{}: ignored; LATTICE feature files belong in the dataset directory, move it to {}",
                dir.join("5-core").join(&name).display(),
                dir.join(&name).display()
            ));
        }
    }
    let feature_rows = features::feature_rows(&modalities);
    let (name, raw, source) = match format {
        DatasetFormat::Mmrec => mmrec::read(dir, feature_rows)?,
        DatasetFormat::Lattice => lattice::read(dir, feature_rows)?,
    };
    let n_items = match feature_rows {
        Some((rows, _)) => rows,
        None if raw.item_bound > MAX_ITEMS_WITHOUT_FEATURES => {
            return Err(DataError::invalid(
                &source,
                format!(
                    "largest item id is {}, but there are no feature files to confirm that \
                     many items; re-map item ids to 0..n_items or add `*_feat.npy` files",
                    raw.item_bound - 1
                ),
            ));
        }
        None => raw.item_bound,
    };
    let (train, valid, test, mut report) = normalise(raw, &source)?;
    // BPR draws a negative the user has not trained on: a user with every item has none.
    if let Some(u) = train.iter().position(|items| items.len() >= n_items) {
        return Err(DataError::invalid(
            &source,
            format!(
                "user {} has all {n_items} items in its training split, so BPR has no negative \
                 item to sample for them; remove that user's interactions or add items",
                report.original_user_ids[u]
            ),
        ));
    }
    report.warnings.splice(0..0, warnings.drain(..));
    let n_users = train.len();
    let catalogue = match items::read_catalogue(dir, n_items)? {
        Some((cat, w)) => {
            report.warnings.extend(w);
            Some(cat)
        }
        None => None,
    };
    let mut seen = vec![false; n_items];
    for &j in train.iter().flatten() {
        if let Some(s) = seen.get_mut(j as usize) {
            *s = true;
        }
    }
    let cold = seen.iter().filter(|s| !**s).count();
    if cold > 0 {
        report.warnings.push(format!(
            "{cold} of {n_items} items have no train interaction (cold items)"
        ));
    }
    for w in &report.warnings {
        tracing::warn!(dataset = %name, "{w}");
    }
    Ok(Dataset {
        name,
        format,
        n_users,
        n_items,
        train,
        valid,
        test,
        modalities,
        catalogue,
        report,
    })
}

type Splits = Vec<Vec<u32>>;

/// Dedupes, drops users without train items, re-indexes users densely.
fn normalise(
    raw: RawSplits,
    source: &Path,
) -> Result<(Splits, Splits, Splits, LoadReport), DataError> {
    let mut report = LoadReport::default();
    let mut triples: Vec<(u32, u8, u32)> =
        Vec::with_capacity(raw.splits.iter().map(Vec::len).sum());
    for (s, pairs) in raw.splits.iter().enumerate() {
        triples.extend(pairs.iter().map(|&(u, j)| (u, s as u8, j)));
    }
    drop(raw.splits);
    triples.sort_unstable();
    let (mut within, mut across, mut present) = (0usize, 0usize, 0usize);
    let mut out: [Splits; 3] = Default::default();
    let mut rest = triples.as_slice();
    while let Some(&(u, _, _)) = rest.first() {
        let len = rest.iter().take_while(|t| t.0 == u).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        present += 1;
        let mut lists: [Vec<u32>; 3] = Default::default();
        for &(_, s, j) in group {
            let list = &mut lists[usize::from(s)];
            if list.last() == Some(&j) {
                within += 1;
            } else {
                list.push(j);
            }
        }
        let [train, valid, test] = &mut lists;
        let before = valid.len() + test.len();
        test.retain(|j| train.binary_search(j).is_err() && valid.binary_search(j).is_err());
        valid.retain(|j| train.binary_search(j).is_err());
        across += before - valid.len() - test.len();
        if train.is_empty() {
            report.users_dropped_no_train += 1;
            continue;
        }
        report.original_user_ids.push(u);
        for (o, l) in out.iter_mut().zip(lists) {
            o.push(l);
        }
    }
    report.users_dropped_empty = raw.n_users - present;
    report.duplicates_removed = within + across;
    if within > 0 {
        report.warnings.push(format!(
            "{}: removed {within} repeated (user, item) pairs within a split",
            source.display()
        ));
    }
    if across > 0 {
        report.warnings.push(format!(
            "{}: removed {across} valid/test pairs already in an earlier split",
            source.display()
        ));
    }
    if out[0].is_empty() {
        return Err(DataError::EmptyTrain {
            path: source.to_path_buf(),
        });
    }
    if report.users_dropped_no_train > 0 {
        report.warnings.push(format!(
            "{}: dropped {} users that have valid/test items but no train item; remaining \
             users were re-indexed densely (see LoadReport::original_user_ids)",
            source.display(),
            report.users_dropped_no_train
        ));
    }
    if report.users_dropped_empty > 0 {
        report.warnings.push(format!(
            "{}: {} user ids below the maximum have no interaction and were skipped",
            source.display(),
            report.users_dropped_empty
        ));
    }
    let count = |s: &Splits| s.iter().map(Vec::len).sum::<usize>();
    report.train_interactions = count(&out[0]);
    report.valid_interactions = count(&out[1]);
    report.test_interactions = count(&out[2]);
    let [a, b, c] = out;
    Ok((a, b, c, report))
}

#[cfg(test)]
mod tests;
