//! The compact weights file: everything the browser (and `mario recommend`) needs,
//! in one [safetensors](https://github.com/huggingface/safetensors) file.
//!
//! # Stable tensor names
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `user_embedding` | f32 / f16 / i8 | `[U, d]` |
//! | `item_embedding.<modality>` (one per entry of `modalities`, `interaction` included) | f32 / f16 / i8 | `[I, d]` |
//! | `<tensor>.scale` beside each int8 embedding tensor | f32 | `[rows]` |
//! | `train_items.indptr` | u32 | `[U + 1]` |
//! | `train_items.indices` | u32 | `[nnz]` |
//! | `fusion.fc.weight`, `fusion.fc.bias` (only for `fusion = "fc"`) | f32 | `[M·d, d]`, `[d]` |
//! | `catalogue` | u8 | `[bytes]`: UTF-8 JSON lines, one [`ItemInfo`] per item in id order |
//! | `map.<space>` (optional, any number; `<space>` a modality name) | f32 | `[I, 2]`: the item map's coordinates |
//!
//! The safetensors `__metadata__` block holds `format = "mario-weights"`,
//! `version` (see [`FORMAT_VERSION`]) and `meta`: the JSON of [`WeightsMeta`]
//! (modality order, d, counts, dtype, fusion, training config and metrics).
//!
//! Reading validates everything (header, version, dtypes, shapes against each other,
//! CSR bounds, finite values) and never allocates more than a small multiple of the
//! file's own size: every tensor's byte length is checked by safetensors against the
//! buffer before any copy.
//!
//! Layout: this file holds the types and the accessors; `encode.rs` writes (quantisation,
//! serialisation, [`SizeBreakdown`]), `decode.rs` reads and validates, `fixtures.rs` has the
//! tiny deterministic model the tests of several crates use.

mod decode;
mod encode;
pub mod fixtures;
#[cfg(test)]
mod tests;

pub use encode::SizeBreakdown;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use safetensors::tensor::SafeTensorError;
use serde::{Deserialize, Serialize};

use crate::catalogue::ItemInfo;

/// Version of the layout described in the module docs. Readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;
/// Value of the `format` metadata key.
pub const FORMAT_NAME: &str = "mario-weights";
/// Name of the implicit modality learnt from interactions by the CF backbone.
pub const INTERACTION: &str = "interaction";

/// How embedding tables are stored on disk. Scores are always computed in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageDtype {
    F32,
    #[default]
    F16,
    /// Symmetric int8 with one f32 scale per row (`scale = max|row| / 127`).
    Int8,
}

impl StorageDtype {
    /// Bytes per embedding parameter, excluding per-row scales.
    pub fn bytes_per_value(self) -> usize {
        match self {
            StorageDtype::F32 => 4,
            StorageDtype::F16 => 2,
            StorageDtype::Int8 => 1,
        }
    }
}

impl fmt::Display for StorageDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageDtype::F32 => "f32",
            StorageDtype::F16 => "f16",
            StorageDtype::Int8 => "int8",
        })
    }
}

impl FromStr for StorageDtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(StorageDtype::F32),
            "f16" | "float16" | "half" => Ok(StorageDtype::F16),
            "int8" | "i8" => Ok(StorageDtype::Int8),
            other => Err(format!("unknown dtype `{other}`: use f32, f16 or int8")),
        }
    }
}

/// How the modality embeddings of an item are fused into one item vector.
/// MARIO is `Attention` (paper Eq. 5–6); the others are the paper's ablations (Table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FusionKind {
    #[default]
    Attention,
    Mean,
    Max,
    /// Concatenate the modality embeddings and apply a learnt linear layer.
    Fc,
}

impl fmt::Display for FusionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FusionKind::Attention => "attention",
            FusionKind::Mean => "mean",
            FusionKind::Max => "max",
            FusionKind::Fc => "fc",
        })
    }
}

impl FromStr for FusionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "attention" => Ok(FusionKind::Attention),
            "mean" => Ok(FusionKind::Mean),
            "max" => Ok(FusionKind::Max),
            "fc" => Ok(FusionKind::Fc),
            other => Err(format!(
                "unknown fusion `{other}`: use attention, mean, max or fc"
            )),
        }
    }
}

/// The JSON stored under the `meta` metadata key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsMeta {
    /// Modality names in tensor order; the interaction modality is named `interaction`.
    pub modalities: Vec<String>,
    pub d: usize,
    pub n_users: usize,
    pub n_items: usize,
    pub dtype: StorageDtype,
    #[serde(default)]
    pub fusion: FusionKind,
    /// Dataset name (free text).
    #[serde(default)]
    pub dataset: String,
    /// The training configuration, as the trainer wrote it.
    #[serde(default)]
    pub config: serde_json::Value,
    /// The training metrics (`valid` / `test` blocks of `metrics.json`).
    #[serde(default)]
    pub metrics: serde_json::Value,
}

/// A decoded weights file; every embedding is widened to f32 in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWeights {
    pub meta: WeightsMeta,
    /// `[n_users * d]`, row-major.
    pub user_embedding: Vec<f32>,
    /// One `[n_items * d]` table per modality, in `meta.modalities` order.
    pub item_embedding: Vec<Vec<f32>>,
    /// CSR of each user's training items (sorted within a row).
    pub train_indptr: Vec<u32>,
    pub train_indices: Vec<u32>,
    /// `fusion.fc.weight` `[M*d, d]` and `fusion.fc.bias` `[d]`, only for `FusionKind::Fc`.
    pub fusion_fc: Option<(Vec<f32>, Vec<f32>)>,
    /// One row per item, in id order.
    pub catalogue: Vec<ItemInfo>,
    /// Optional 2D coordinates of every item per embedding space (`map.<space>`,
    /// `[n_items, 2]`, f32), for the explorer's item map; `mario export` computes them.
    /// Files without them load with this empty.
    pub maps: Vec<(String, Vec<f32>)>,
}

/// Everything that can be wrong with a weights file, in words a user can act on.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WeightsError {
    #[error("not a safetensors file: {0}. Export one with `mario export --run RUN_DIR --out FILE`")]
    NotSafetensors(String),
    #[error("the file is truncated or its header is corrupt: {0}")]
    Truncated(String),
    #[error(
        "this safetensors file is not a MARIO weights file (metadata `format` is {found:?}, expected \"mario-weights\")"
    )]
    WrongFormat { found: Option<String> },
    #[error(
        "unsupported weights version {found} (this build reads version {supported}); re-export with this version of `mario export`"
    )]
    UnsupportedVersion { found: String, supported: u32 },
    #[error("invalid `meta` metadata: {0}")]
    BadMeta(String),
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    #[error("tensor `{tensor}` has dtype {found}, expected {expected}")]
    WrongDtype {
        tensor: String,
        found: String,
        expected: String,
    },
    #[error("tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("tensor `{tensor}` holds a non-finite value at flat index {index}")]
    NonFinite { tensor: String, index: usize },
    #[error(
        "tensor `{tensor}` row {row}, column {column} is {value}, which {dtype} cannot store \
         (NaN and ±∞ never, f16 nothing beyond ±65504); the run diverged or the embeddings grew \
         too large: retrain with a lower --lr or a higher --reg, or export with --dtype f32 \
         for large finite values"
    )]
    Unstorable {
        tensor: String,
        row: usize,
        column: usize,
        value: f32,
        dtype: StorageDtype,
    },
    #[error("training-items CSR is invalid: {0}")]
    BadCsr(String),
    #[error("catalogue is invalid: {0}")]
    BadCatalogue(String),
    #[error("cannot write weights: {0}")]
    Write(String),
}

fn map_safetensors_error(e: SafeTensorError) -> WeightsError {
    match e {
        SafeTensorError::InvalidHeaderStart
        | SafeTensorError::InvalidHeader(_)
        | SafeTensorError::InvalidHeaderDeserialization(_)
        | SafeTensorError::HeaderTooSmall => WeightsError::NotSafetensors(format!("{e:?}")),
        SafeTensorError::HeaderTooLarge => {
            WeightsError::NotSafetensors("the header length is absurdly large".to_string())
        }
        other => WeightsError::Truncated(format!("{other:?}")),
    }
}

impl ModelWeights {
    /// Checks the in-memory invariants the writer relies on (lengths agree with `meta`).
    pub fn check_consistent(&self) -> Result<(), WeightsError> {
        let m = &self.meta;
        let expect = |name: &str, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(WeightsError::ShapeMismatch {
                    tensor: name.to_string(),
                    found: vec![found],
                    expected: vec![expected],
                })
            }
        };
        expect("user_embedding", self.user_embedding.len(), m.n_users * m.d)?;
        expect(
            "item_embedding",
            self.item_embedding.len(),
            m.modalities.len(),
        )?;
        for (name, table) in m.modalities.iter().zip(&self.item_embedding) {
            expect(
                &format!("item_embedding.{name}"),
                table.len(),
                m.n_items * m.d,
            )?;
        }
        expect("train_items.indptr", self.train_indptr.len(), m.n_users + 1)?;
        expect("catalogue", self.catalogue.len(), m.n_items)?;
        for (space, xy) in &self.maps {
            expect(&format!("map.{space}"), xy.len(), m.n_items * 2)?;
        }
        decode::validate_csr(&self.train_indptr, &self.train_indices, m.n_items)
    }

    /// Number of stored embedding parameters (users + every item table).
    pub fn embedding_parameters(&self) -> usize {
        (self.meta.n_users + self.meta.n_items * self.meta.modalities.len()) * self.meta.d
    }

    /// The training items of `user` (sorted), or an empty slice for an unknown user.
    pub fn train_items(&self, user: usize) -> &[u32] {
        match (self.train_indptr.get(user), self.train_indptr.get(user + 1)) {
            (Some(&a), Some(&b)) => &self.train_indices[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The embedding of `user`, if it exists.
    pub fn user_vector(&self, user: usize) -> Option<&[f32]> {
        let d = self.meta.d;
        self.user_embedding.get(user * d..(user + 1) * d)
    }

    /// Index of a modality by name.
    pub fn modality_index(&self, name: &str) -> Option<usize> {
        self.meta.modalities.iter().position(|m| m == name)
    }
}
