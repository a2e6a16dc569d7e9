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
//!
//! The safetensors `__metadata__` block holds `format = "mario-weights"`,
//! `version` (see [`FORMAT_VERSION`]) and `meta`: the JSON of [`WeightsMeta`]
//! (modality order, d, counts, dtype, fusion, training config and metrics).
//!
//! Reading validates everything (header, version, dtypes, shapes against each other,
//! CSR bounds, finite values) and never allocates more than a small multiple of the
//! file's own size: every tensor's byte length is checked by safetensors against the
//! buffer before any copy.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
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

/// Quantises a row-major table for storage.
fn encode_table(
    values: &[f32],
    cols: usize,
    dtype: StorageDtype,
) -> (Dtype, Vec<u8>, Option<Vec<u8>>) {
    match dtype {
        StorageDtype::F32 => (
            Dtype::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            None,
        ),
        StorageDtype::F16 => (
            Dtype::F16,
            values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            None,
        ),
        StorageDtype::Int8 => {
            let rows = values.len().checked_div(cols).unwrap_or(0);
            let mut q = Vec::with_capacity(values.len());
            let mut scales = Vec::with_capacity(rows * 4);
            for row in values.chunks_exact(cols.max(1)) {
                let max_abs = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
                scales.extend_from_slice(&scale.to_le_bytes());
                q.extend(
                    row.iter()
                        .map(|v| ((v / scale).round().clamp(-127.0, 127.0) as i8) as u8),
                );
            }
            (Dtype::I8, q, Some(scales))
        }
    }
}

struct OwnedTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
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
        validate_csr(&self.train_indptr, &self.train_indices, m.n_items)
    }

    /// Serialises to safetensors bytes with embeddings stored as `self.meta.dtype`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WeightsError> {
        self.check_consistent()?;
        let m = &self.meta;
        let mut tensors: Vec<(String, OwnedTensor)> = Vec::new();
        let mut push_table = |name: String, values: &[f32], rows: usize| {
            let (dtype, data, scales) = encode_table(values, m.d, m.dtype);
            if let Some(scales) = scales {
                tensors.push((
                    format!("{name}.scale"),
                    OwnedTensor {
                        dtype: Dtype::F32,
                        shape: vec![rows],
                        data: scales,
                    },
                ));
            }
            tensors.push((
                name,
                OwnedTensor {
                    dtype,
                    shape: vec![rows, m.d],
                    data,
                },
            ));
        };
        push_table(
            "user_embedding".to_string(),
            &self.user_embedding,
            m.n_users,
        );
        for (name, table) in m.modalities.iter().zip(&self.item_embedding) {
            push_table(format!("item_embedding.{name}"), table, m.n_items);
        }
        let u32_bytes = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        tensors.push((
            "train_items.indptr".into(),
            OwnedTensor {
                dtype: Dtype::U32,
                shape: vec![self.train_indptr.len()],
                data: u32_bytes(&self.train_indptr),
            },
        ));
        tensors.push((
            "train_items.indices".into(),
            OwnedTensor {
                dtype: Dtype::U32,
                shape: vec![self.train_indices.len()],
                data: u32_bytes(&self.train_indices),
            },
        ));
        if let Some((w, b)) = &self.fusion_fc {
            let md = m.modalities.len() * m.d;
            tensors.push((
                "fusion.fc.weight".into(),
                OwnedTensor {
                    dtype: Dtype::F32,
                    shape: vec![md, m.d],
                    data: f32_bytes(w),
                },
            ));
            tensors.push((
                "fusion.fc.bias".into(),
                OwnedTensor {
                    dtype: Dtype::F32,
                    shape: vec![m.d],
                    data: f32_bytes(b),
                },
            ));
        }
        let mut catalogue = Vec::new();
        for item in &self.catalogue {
            let line =
                serde_json::to_string(item).map_err(|e| WeightsError::Write(e.to_string()))?;
            catalogue.extend_from_slice(line.as_bytes());
            catalogue.push(b'\n');
        }
        tensors.push((
            "catalogue".into(),
            OwnedTensor {
                dtype: Dtype::U8,
                shape: vec![catalogue.len()],
                data: catalogue,
            },
        ));

        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(name, t)| {
                TensorView::new(t.dtype, t.shape.clone(), &t.data)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| WeightsError::Write(format!("{name}: {e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let mut metadata = HashMap::new();
        metadata.insert("format".to_string(), FORMAT_NAME.to_string());
        metadata.insert("version".to_string(), FORMAT_VERSION.to_string());
        metadata.insert(
            "meta".to_string(),
            serde_json::to_string(&self.meta).map_err(|e| WeightsError::Write(e.to_string()))?,
        );
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| WeightsError::Write(format!("{e:?}")))
    }

    /// Parses and validates a weights file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let st = SafeTensors::deserialize(bytes).map_err(map_safetensors_error)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(map_safetensors_error)?;
        let md = header.metadata().clone().unwrap_or_default();
        let format = md.get("format").cloned();
        if format.as_deref() != Some(FORMAT_NAME) {
            return Err(WeightsError::WrongFormat { found: format });
        }
        let version = md.get("version").cloned().unwrap_or_default();
        if version.parse::<u32>().ok() != Some(FORMAT_VERSION) {
            return Err(WeightsError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let meta: WeightsMeta = serde_json::from_str(
            md.get("meta")
                .ok_or_else(|| WeightsError::BadMeta("missing".into()))?,
        )
        .map_err(|e| WeightsError::BadMeta(e.to_string()))?;
        if meta.d == 0 || meta.d > 4096 {
            return Err(WeightsError::BadMeta(format!(
                "d = {} is out of range 1..=4096",
                meta.d
            )));
        }
        if meta.modalities.is_empty() {
            return Err(WeightsError::BadMeta("no modalities".into()));
        }
        for (i, name) in meta.modalities.iter().enumerate() {
            if meta.modalities[..i].contains(name) {
                return Err(WeightsError::BadMeta(format!(
                    "modality `{name}` listed twice"
                )));
            }
        }
        // Guard against metadata that claims more values than the file could hold.
        let budget = bytes.len();
        let claimed = meta
            .n_users
            .checked_add(meta.n_items.saturating_mul(meta.modalities.len()))
            .and_then(|rows| rows.checked_mul(meta.d));
        if claimed.is_none_or(|c| c > budget) {
            return Err(WeightsError::BadMeta(format!(
                "n_users = {}, n_items = {}, d = {} claim more values than the file's {} bytes",
                meta.n_users, meta.n_items, meta.d, budget
            )));
        }

        let user_embedding = read_table(&st, "user_embedding", meta.n_users, meta.d, meta.dtype)?;
        let item_embedding = meta
            .modalities
            .iter()
            .map(|m| {
                read_table(
                    &st,
                    &format!("item_embedding.{m}"),
                    meta.n_items,
                    meta.d,
                    meta.dtype,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let train_indptr = read_u32(&st, "train_items.indptr", Some(meta.n_users + 1))?;
        let train_indices = read_u32(&st, "train_items.indices", None)?;
        validate_csr(&train_indptr, &train_indices, meta.n_items)?;
        let fusion_fc = if meta.fusion == FusionKind::Fc {
            let md = meta.modalities.len() * meta.d;
            Some((
                read_f32(&st, "fusion.fc.weight", &[md, meta.d])?,
                read_f32(&st, "fusion.fc.bias", &[meta.d])?,
            ))
        } else {
            None
        };
        let catalogue = read_catalogue(&st, meta.n_items)?;
        Ok(Self {
            meta,
            user_embedding,
            item_embedding,
            train_indptr,
            train_indices,
            fusion_fc,
            catalogue,
        })
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

/// Where the bytes of a weights file go (printed by `mario export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeBreakdown {
    pub total: usize,
    /// User and item embedding tables, with their int8 scales.
    pub embeddings: usize,
    pub embedding_parameters: usize,
    /// The training-items CSR.
    pub history: usize,
    pub catalogue: usize,
    /// Header, metadata and any other tensors.
    pub other: usize,
}

impl SizeBreakdown {
    /// Stored bytes per embedding parameter (scales included): 4 for f32,
    /// 2 for f16, 1 + 4/d for int8.
    pub fn bytes_per_embedding_parameter(&self) -> f64 {
        self.embeddings as f64 / self.embedding_parameters.max(1) as f64
    }

    /// Measures a serialised weights file.
    pub fn of(bytes: &[u8]) -> Result<Self, WeightsError> {
        let weights = ModelWeights::from_bytes(bytes)?;
        let st = SafeTensors::deserialize(bytes).map_err(map_safetensors_error)?;
        let (mut embeddings, mut history, mut catalogue) = (0, 0, 0);
        for (name, view) in st.tensors() {
            let len = view.data().len();
            if name.starts_with("user_embedding") || name.starts_with("item_embedding.") {
                embeddings += len;
            } else if name.starts_with("train_items.") {
                history += len;
            } else if name == "catalogue" {
                catalogue += len;
            }
        }
        Ok(Self {
            total: bytes.len(),
            embeddings,
            embedding_parameters: weights.embedding_parameters(),
            history,
            catalogue,
            other: bytes.len() - embeddings - history - catalogue,
        })
    }
}

fn tensor<'a>(st: &'a SafeTensors<'a>, name: &str) -> Result<TensorView<'a>, WeightsError> {
    st.tensor(name)
        .map_err(|_| WeightsError::MissingTensor(name.to_string()))
}

fn check_shape(name: &str, found: &[usize], expected: &[usize]) -> Result<(), WeightsError> {
    if found != expected {
        return Err(WeightsError::ShapeMismatch {
            tensor: name.to_string(),
            found: found.to_vec(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

fn wrong_dtype(name: &str, found: Dtype, expected: &str) -> WeightsError {
    WeightsError::WrongDtype {
        tensor: name.to_string(),
        found: format!("{found:?}"),
        expected: expected.to_string(),
    }
}

fn check_finite(name: &str, values: &[f32]) -> Result<(), WeightsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(WeightsError::NonFinite {
            tensor: name.to_string(),
            index,
        }),
        None => Ok(()),
    }
}

fn f32_from_le(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f32(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
    let t = tensor(st, name)?;
    if t.dtype() != Dtype::F32 {
        return Err(wrong_dtype(name, t.dtype(), "F32"));
    }
    check_shape(name, t.shape(), shape)?;
    let values = f32_from_le(t.data());
    check_finite(name, &values)?;
    Ok(values)
}

fn read_table(
    st: &SafeTensors<'_>,
    name: &str,
    rows: usize,
    cols: usize,
    dtype: StorageDtype,
) -> Result<Vec<f32>, WeightsError> {
    let t = tensor(st, name)?;
    check_shape(name, t.shape(), &[rows, cols])?;
    let values = match (dtype, t.dtype()) {
        (StorageDtype::F32, Dtype::F32) => f32_from_le(t.data()),
        (StorageDtype::F16, Dtype::F16) => t
            .data()
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        (StorageDtype::Int8, Dtype::I8) => {
            let scales = read_f32(st, &format!("{name}.scale"), &[rows])?;
            t.data()
                .chunks_exact(cols.max(1))
                .zip(&scales)
                .flat_map(|(row, s)| row.iter().map(move |q| f32::from(*q as i8) * s))
                .collect()
        }
        (expected, found) => {
            let expected = match expected {
                StorageDtype::F32 => "F32",
                StorageDtype::F16 => "F16",
                StorageDtype::Int8 => "I8",
            };
            return Err(wrong_dtype(name, found, expected));
        }
    };
    check_finite(name, &values)?;
    Ok(values)
}

fn read_u32(
    st: &SafeTensors<'_>,
    name: &str,
    len: Option<usize>,
) -> Result<Vec<u32>, WeightsError> {
    let t = tensor(st, name)?;
    if t.dtype() != Dtype::U32 {
        return Err(wrong_dtype(name, t.dtype(), "U32"));
    }
    if t.shape().len() != 1 {
        return Err(WeightsError::ShapeMismatch {
            tensor: name.to_string(),
            found: t.shape().to_vec(),
            expected: vec![len.unwrap_or(0)],
        });
    }
    if let Some(len) = len {
        check_shape(name, t.shape(), &[len])?;
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn validate_csr(indptr: &[u32], indices: &[u32], n_items: usize) -> Result<(), WeightsError> {
    if indptr.first() != Some(&0) {
        return Err(WeightsError::BadCsr("indptr must start at 0".into()));
    }
    if let Some(w) = indptr.windows(2).position(|w| w[0] > w[1]) {
        return Err(WeightsError::BadCsr(format!(
            "indptr decreases at user {w}"
        )));
    }
    if indptr.last().map(|&l| l as usize) != Some(indices.len()) {
        return Err(WeightsError::BadCsr(format!(
            "indptr ends at {:?} but there are {} indices",
            indptr.last(),
            indices.len()
        )));
    }
    if let Some(pos) = indices.iter().position(|&i| i as usize >= n_items) {
        return Err(WeightsError::BadCsr(format!(
            "item index {} at position {pos} is out of range (n_items = {n_items})",
            indices[pos]
        )));
    }
    Ok(())
}

fn read_catalogue(st: &SafeTensors<'_>, n_items: usize) -> Result<Vec<ItemInfo>, WeightsError> {
    let t = tensor(st, "catalogue")?;
    if t.dtype() != Dtype::U8 {
        return Err(wrong_dtype("catalogue", t.dtype(), "U8"));
    }
    let text =
        std::str::from_utf8(t.data()).map_err(|e| WeightsError::BadCatalogue(e.to_string()))?;
    let mut items = Vec::with_capacity(n_items.min(text.len()));
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item: ItemInfo = serde_json::from_str(line)
            .map_err(|e| WeightsError::BadCatalogue(format!("line {}: {e}", line_no + 1)))?;
        if item.id as usize != items.len() {
            return Err(WeightsError::BadCatalogue(format!(
                "line {}: item id {} out of order (expected {})",
                line_no + 1,
                item.id,
                items.len()
            )));
        }
        items.push(item);
    }
    if items.len() != n_items {
        return Err(WeightsError::BadCatalogue(format!(
            "{} rows for {n_items} items",
            items.len()
        )));
    }
    Ok(items)
}

/// Test fixtures shared by this crate's tests and other crates' tests.
pub mod fixtures {
    use super::*;

    /// A small random model (deterministic in `seed`) with a catalogue and a CSR history.
    pub fn tiny_model(
        n_users: usize,
        n_items: usize,
        d: usize,
        modalities: &[&str],
        dtype: StorageDtype,
        seed: u64,
    ) -> ModelWeights {
        let mut state = seed
            .wrapping_mul(2862933555777941757)
            .wrapping_add(3037000493);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let user_embedding = (0..n_users * d).map(|_| next()).collect();
        let item_embedding = modalities
            .iter()
            .map(|_| (0..n_items * d).map(|_| next()).collect())
            .collect();
        let mut train_indptr = vec![0u32];
        let mut train_indices = Vec::new();
        for u in 0..n_users {
            for j in 0..n_items {
                if (u * 7 + j * 3) % 5 == 0 {
                    train_indices.push(j as u32);
                }
            }
            train_indptr.push(train_indices.len() as u32);
        }
        ModelWeights {
            meta: WeightsMeta {
                modalities: modalities.iter().map(|s| s.to_string()).collect(),
                d,
                n_users,
                n_items,
                dtype,
                fusion: FusionKind::Attention,
                dataset: "tiny".into(),
                config: serde_json::json!({"seed": seed}),
                metrics: serde_json::json!({"test": {"recall@20": 0.5}}),
            },
            user_embedding,
            item_embedding,
            train_indptr,
            train_indices,
            fusion_fc: None,
            catalogue: (0..n_items as u32).map(ItemInfo::anonymous).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::tiny_model;
    use super::*;

    const MODS: &[&str] = &["visual", "textual", "interaction"];

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn round_trip_every_dtype() {
        for (dtype, tol) in [
            (StorageDtype::F32, 0.0),
            (StorageDtype::F16, 1e-3),
            (StorageDtype::Int8, 1.0 / 127.0),
        ] {
            let w = tiny_model(5, 11, 8, MODS, dtype, 3);
            let bytes = w.to_bytes().unwrap();
            let r = ModelWeights::from_bytes(&bytes).unwrap();
            assert_eq!(r.meta, w.meta);
            assert_eq!(r.train_indptr, w.train_indptr);
            assert_eq!(r.train_indices, w.train_indices);
            assert_eq!(r.catalogue, w.catalogue);
            assert!(
                max_abs_diff(&r.user_embedding, &w.user_embedding) <= tol,
                "{dtype}"
            );
            for (a, b) in r.item_embedding.iter().zip(&w.item_embedding) {
                assert!(max_abs_diff(a, b) <= tol, "{dtype}");
            }
            if dtype == StorageDtype::F32 {
                assert_eq!(r, w);
            }
        }
    }

    #[test]
    fn fc_fusion_round_trips() {
        let mut w = tiny_model(3, 4, 2, MODS, StorageDtype::F32, 1);
        w.meta.fusion = FusionKind::Fc;
        w.fusion_fc = Some(((0..12).map(|x| x as f32).collect(), vec![0.5, -0.5]));
        assert_eq!(ModelWeights::from_bytes(&w.to_bytes().unwrap()).unwrap(), w);
    }

    #[test]
    fn size_per_parameter_meets_targets() {
        for (dtype, lo, limit) in [
            (StorageDtype::F32, 4.0, 4.0),
            (StorageDtype::F16, 2.0, 2.05),
            (StorageDtype::Int8, 1.0, 1.1),
        ] {
            let w = tiny_model(400, 300, 64, MODS, dtype, 9);
            let bytes = w.to_bytes().unwrap();
            let size = SizeBreakdown::of(&bytes).unwrap();
            let per = size.bytes_per_embedding_parameter();
            assert!(
                per >= lo && per <= limit,
                "{dtype}: {per} bytes per parameter"
            );
            assert_eq!(
                size.history,
                (w.train_indptr.len() + w.train_indices.len()) * 4
            );
            assert_eq!(
                size.embeddings + size.history + size.catalogue + size.other,
                bytes.len()
            );
        }
    }

    /// Re-serialises a file with one tensor replaced (or removed) and metadata edited.
    fn rebuild(
        w: &ModelWeights,
        edit_tensor: impl Fn(&str, Dtype, Vec<usize>, Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)>,
        edit_meta: impl Fn(&mut HashMap<String, String>),
    ) -> Vec<u8> {
        let bytes = w.to_bytes().unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut md = header.metadata().clone().unwrap();
        edit_meta(&mut md);
        let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter_map(|(n, v)| {
                edit_tensor(&n, v.dtype(), v.shape().to_vec(), v.data().to_vec())
                    .map(|(d, s, b)| (n, d, s, b))
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, Some(md)).unwrap()
    }

    fn keep(_: &str, d: Dtype, s: Vec<usize>, b: Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)> {
        Some((d, s, b))
    }

    #[test]
    fn corrupted_and_hostile_files_give_named_errors() {
        let w = tiny_model(4, 6, 4, MODS, StorageDtype::F16, 5);
        let good = w.to_bytes().unwrap();
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        type Case = (&'static str, Vec<u8>, fn(&WeightsError) -> bool);
        let mut cases: Vec<Case> = vec![
            ("empty", vec![], |e| {
                matches!(e, WeightsError::NotSafetensors(_))
            }),
            ("seven bytes", good[..7].to_vec(), |e| {
                matches!(e, WeightsError::NotSafetensors(_))
            }),
            (
                "truncated in header",
                good[..8 + header_len / 2].to_vec(),
                |e| {
                    matches!(
                        e,
                        WeightsError::Truncated(_) | WeightsError::NotSafetensors(_)
                    )
                },
            ),
            (
                "truncated after header",
                good[..8 + header_len].to_vec(),
                |e| matches!(e, WeightsError::Truncated(_)),
            ),
            ("truncated mid data", good[..good.len() / 2].to_vec(), |e| {
                matches!(e, WeightsError::Truncated(_))
            }),
            (
                "truncated last byte",
                good[..good.len() - 1].to_vec(),
                |e| matches!(e, WeightsError::Truncated(_)),
            ),
            (
                "absurd header length",
                {
                    let mut b = good.clone();
                    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                    b
                },
                |e| matches!(e, WeightsError::NotSafetensors(_)),
            ),
            ("html page", b"<!doctype html><html></html>".to_vec(), |e| {
                matches!(e, WeightsError::NotSafetensors(_))
            }),
        ];
        cases.push((
            "wrong format",
            rebuild(&w, keep, |m| {
                m.insert("format".into(), "something-else".into());
            }),
            |e| matches!(e, WeightsError::WrongFormat { .. }),
        ));
        cases.push((
            "no metadata format",
            rebuild(&w, keep, |m| {
                m.remove("format");
            }),
            |e| matches!(e, WeightsError::WrongFormat { found: None }),
        ));
        cases.push((
            "wrong version",
            rebuild(&w, keep, |m| {
                m.insert("version".into(), "99".into());
            }),
            |e| matches!(e, WeightsError::UnsupportedVersion { .. }),
        ));
        cases.push((
            "meta not json",
            rebuild(&w, keep, |m| {
                m.insert("meta".into(), "{not json".into());
            }),
            |e| matches!(e, WeightsError::BadMeta(_)),
        ));
        cases.push((
            "meta claims huge counts",
            rebuild(&w, keep, |m| {
                let mut meta: WeightsMeta = serde_json::from_str(&m["meta"]).unwrap();
                meta.n_items = usize::MAX / 2;
                m.insert("meta".into(), serde_json::to_string(&meta).unwrap());
            }),
            |e| matches!(e, WeightsError::BadMeta(_)),
        ));
        cases.push((
            "missing item table",
            rebuild(
                &w,
                |n, d, s, b| (n != "item_embedding.textual").then_some((d, s, b)),
                |_| {},
            ),
            |e| matches!(e, WeightsError::MissingTensor(n) if n == "item_embedding.textual"),
        ));
        cases.push(("shape mismatch", rebuild(&w, |n, d, s, b| {
            if n == "user_embedding" { Some((d, vec![s[0] * 2, s[1] / 2], b)) } else { Some((d, s, b)) }
        }, |_| {}), |e| matches!(e, WeightsError::ShapeMismatch { tensor, .. } if tensor == "user_embedding")));
        cases.push(("wrong dtype", rebuild(&w, |n, d, s, b| {
            if n == "item_embedding.visual" { Some((Dtype::I16, s, b)) } else { Some((d, s, b)) }
        }, |_| {}), |e| matches!(e, WeightsError::WrongDtype { tensor, .. } if tensor == "item_embedding.visual")));
        cases.push(("NaN in an embedding", rebuild(&w, |n, d, s, mut b| {
            if n == "item_embedding.interaction" { b[6..8].copy_from_slice(&half::f16::NAN.to_le_bytes()); }
            Some((d, s, b))
        }, |_| {}), |e| matches!(e, WeightsError::NonFinite { tensor, index: 3 } if tensor == "item_embedding.interaction")));
        cases.push((
            "CSR index out of range",
            rebuild(
                &w,
                |n, d, s, mut b| {
                    if n == "train_items.indices" {
                        b[..4].copy_from_slice(&1000u32.to_le_bytes());
                    }
                    Some((d, s, b))
                },
                |_| {},
            ),
            |e| matches!(e, WeightsError::BadCsr(msg) if msg.contains("out of range")),
        ));
        cases.push((
            "CSR indptr decreasing",
            rebuild(
                &w,
                |n, d, s, mut b| {
                    if n == "train_items.indptr" {
                        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                    }
                    Some((d, s, b))
                },
                |_| {},
            ),
            |e| matches!(e, WeightsError::BadCsr(_)),
        ));
        cases.push((
            "catalogue not json",
            rebuild(
                &w,
                |n, d, _s, b| {
                    if n == "catalogue" {
                        Some((d, vec![5], b"nope\n".to_vec()))
                    } else {
                        Some((d, _s, b))
                    }
                },
                |_| {},
            ),
            |e| matches!(e, WeightsError::BadCatalogue(_)),
        ));
        assert!(cases.len() >= 15);
        for (name, bytes, ok) in cases {
            match ModelWeights::from_bytes(&bytes) {
                Ok(_) => panic!("{name}: accepted a bad file"),
                Err(e) => {
                    assert!(ok(&e), "{name}: unexpected error {e:?}");
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // Every prefix of a valid file is rejected without panicking.
        for cut in (0..good.len()).step_by(7) {
            assert!(
                ModelWeights::from_bytes(&good[..cut]).is_err(),
                "prefix {cut}"
            );
        }
    }
}
