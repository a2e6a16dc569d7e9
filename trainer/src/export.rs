//! Export of the compact weights file (`mario-shared`'s format) from a trained
//! model: the final user embeddings and per-modality item embeddings the attention
//! sees, the training-items CSR, the catalogue, and the run's config and metrics.

use std::path::Path;

use mario_data::Dataset;
use mario_shared::weights::{ModelWeights, SizeBreakdown, StorageDtype, WeightsMeta};
use mario_shared::{FusionKind, ItemInfo};

use anyhow::Context;

use crate::model::{Mario, Params};
use crate::tensor::to_f32;

/// The f32 master copy every run keeps beside `model.safetensors` (`mario export` reads it).
pub const MASTER_WEIGHTS: &str = "weights-f32.safetensors";

/// Reads and validates a weights file, naming the file in any error.
pub fn read_weights(path: &Path) -> anyhow::Result<ModelWeights> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read weights file {}", path.display()))?;
    ModelWeights::from_bytes(&bytes)
        .with_context(|| format!("{} is not a usable MARIO weights file", path.display()))
}

/// Builds the weights (f32 in memory; `dtype` is how they will be stored) of `model`
/// with `params`; `metrics` is the run's `metrics.json` (its valid/test/best epoch/backend
/// are copied into the file's metadata).
pub fn build_weights(
    model: &Mario,
    params: &Params,
    metrics: &serde_json::Value,
    dataset: &Dataset,
    dtype: StorageDtype,
) -> ModelWeights {
    let emb = model.embeddings(params);
    let mut train_indptr = vec![0u32];
    let mut train_indices = Vec::new();
    for items in &dataset.train {
        train_indices.extend_from_slice(items);
        train_indptr.push(train_indices.len() as u32);
    }
    let fusion_fc = (model.config.fusion == FusionKind::Fc).then(|| {
        (
            to_f32(params.get("fusion.fc.weight").clone()),
            to_f32(params.get("fusion.fc.bias").clone()),
        )
    });
    let catalogue = dataset.catalogue.clone().unwrap_or_else(|| {
        (0..dataset.n_items as u32)
            .map(ItemInfo::anonymous)
            .collect()
    });
    ModelWeights {
        meta: WeightsMeta {
            modalities: model.modality_names(),
            d: model.config.dim,
            n_users: dataset.n_users,
            n_items: dataset.n_items,
            dtype,
            fusion: model.config.fusion,
            dataset: dataset.name.clone(),
            config: serde_json::to_value(&model.config).unwrap_or_default(),
            metrics: serde_json::json!({
                "valid": metrics["valid"],
                "test": metrics["test"],
                "best_epoch": metrics["best_epoch"],
                "backend": metrics["backend"],
            }),
        },
        user_embedding: to_f32(emb.users),
        item_embedding: emb.items.into_iter().map(to_f32).collect(),
        train_indptr,
        train_indices,
        fusion_fc,
        catalogue,
        maps: Vec::new(),
    }
}

/// Serialises `weights` as `dtype` and writes them atomically; returns the size breakdown.
pub fn write_model_weights(
    weights: &ModelWeights,
    dtype: StorageDtype,
    path: &Path,
) -> anyhow::Result<SizeBreakdown> {
    let mut weights = weights.clone();
    weights.meta.dtype = dtype;
    let bytes = weights.to_bytes()?;
    crate::io::write_atomic(path, &bytes)?;
    Ok(SizeBreakdown::of(&bytes)?)
}
