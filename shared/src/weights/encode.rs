//! Writing a weights file: per-row quantisation of the embedding tables (f32, f16, int8
//! with a scale per row), serialisation to safetensors, and the size breakdown of a file.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::*;

/// Largest finite f16 magnitude.
const F16_MAX: f32 = 65504.0;

/// Refuses a table that `dtype` cannot store faithfully: a NaN or ±∞ anywhere (int8 would
/// turn it into 0, f16 and f32 would write a file every reader refuses), or, for f16, a
/// finite value beyond ±65504 (it would become ±∞). The error names the tensor, row and
/// column.
fn check_storable(
    tensor: &str,
    values: &[f32],
    cols: usize,
    dtype: StorageDtype,
) -> Result<(), WeightsError> {
    let limit = if dtype == StorageDtype::F16 {
        F16_MAX
    } else {
        f32::MAX
    };
    match values.iter().position(|v| v.is_nan() || v.abs() > limit) {
        None => Ok(()),
        Some(i) => Err(WeightsError::Unstorable {
            tensor: tensor.to_string(),
            row: i / cols.max(1),
            column: i % cols.max(1),
            value: values[i],
            dtype,
        }),
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
    /// Serialises to safetensors bytes with embeddings stored as `self.meta.dtype`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WeightsError> {
        self.check_consistent()?;
        let m = &self.meta;
        let mut tensors: Vec<(String, OwnedTensor)> = Vec::new();
        let mut push_table = |name: String, values: &[f32], rows: usize| {
            check_storable(&name, values, m.d, m.dtype)?;
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
            Ok::<(), WeightsError>(())
        };
        push_table(
            "user_embedding".to_string(),
            &self.user_embedding,
            m.n_users,
        )?;
        for (name, table) in m.modalities.iter().zip(&self.item_embedding) {
            push_table(format!("item_embedding.{name}"), table, m.n_items)?;
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
            check_storable("fusion.fc.weight", w, m.d, StorageDtype::F32)?;
            check_storable("fusion.fc.bias", b, m.d, StorageDtype::F32)?;
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
        for (space, xy) in &self.maps {
            let name = format!("map.{space}");
            check_storable(&name, xy, 2, StorageDtype::F32)?;
            tensors.push((
                name,
                OwnedTensor {
                    dtype: Dtype::F32,
                    shape: vec![m.n_items, 2],
                    data: f32_bytes(xy),
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
