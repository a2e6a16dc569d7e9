//! What the format readers return before [`crate::dataset`] assembles a
//! [`crate::Dataset`]: raw interaction splits (`mmrec.rs`, `lattice.rs`) and feature
//! matrices (`features.rs`). The readers depend on this module only, never on
//! `dataset.rs`, so the dependency runs one way: readers → raw ← dataset.

use std::path::PathBuf;

/// One side modality: an `[n_items, dim]` row-major feature matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureModality {
    /// `visual`, `textual`, or the file stem of `<stem>_feat.npy`.
    pub name: String,
    pub dim: usize,
    /// `n_items * dim` values, row `j` is item `j`.
    pub features: Vec<f32>,
    /// The `.npy` file it came from.
    pub source: PathBuf,
}

impl FeatureModality {
    /// Feature row of item `j` (empty slice when out of range).
    pub fn row(&self, j: usize) -> &[f32] {
        self.features
            .get(j * self.dim..(j + 1) * self.dim)
            .unwrap_or(&[])
    }
}

/// Interactions as parsed from disk, before normalisation.
#[derive(Debug, Default)]
pub(crate) struct RawSplits {
    /// max user id + 1.
    pub n_users: usize,
    /// max item id + 1 (0 without interactions).
    pub item_bound: usize,
    /// (user, item) pairs of train, valid, test.
    pub splits: [Vec<(u32, u32)>; 3],
    /// Split (0, 1, 2) of each data line in file order (MMRec only), so that
    /// per-line annotations such as `truth.json`'s drivers can be re-aligned.
    pub line_split: Vec<u8>,
}
