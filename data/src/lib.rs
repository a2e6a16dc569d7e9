//! `mario-data`: datasets for the MARIO recommender (CIKM 2022).
//!
//! - [`load_dataset`] reads a dataset directory in MMRec (`<name>.inter` +
//!   `*_feat.npy`) or LATTICE (`5-core/*.json` + `*_feat.npy`) layout, validates
//!   it with file/line-precise errors ([`DataError`]) and normalises it
//!   (dedupe, drop users without train items; see [`dataset`]).
//! - [`generate`] writes the synthetic catalogue (MMRec layout plus
//!   `items.jsonl` and `truth.json`) with planted per-user modality preferences.
//! - [`read_truth`] reads that ground truth back; [`popularity_scores`] is the
//!   popularity baseline.

pub mod dataset;
pub mod error;
pub mod features;
pub mod fsutil;
pub mod items;
pub mod lattice;
pub mod mmrec;
pub mod npy;
pub mod raw;
pub mod split;
pub mod synth;
pub mod truth;

pub use dataset::{
    Dataset, DatasetFormat, DatasetStats, FeatureModality, LoadReport, detect_format, load_dataset,
    popularity_scores,
};
pub use error::DataError;
pub use split::{split_counts, split_label};
pub use synth::{GeneratedSummary, Preset, generate};
pub use truth::{InteractionDrivers, Truth, interaction_drivers, read_truth};
