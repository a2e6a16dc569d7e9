//! Export of the compact weights file (`mario-shared`'s format) from a trained
//! model: the final user embeddings and per-modality item embeddings the attention
//! sees, the training-items CSR, the catalogue, and the run's config and metrics.

use std::path::Path;

use mario_data::Dataset;
use mario_shared::weights::{ModelWeights, SizeBreakdown, StorageDtype, WeightsMeta};
use mario_shared::{FusionKind, ItemInfo};

use crate::graph::to_f32;
use crate::train::RunSummary;

/// Builds the weights (f32 in memory; `dtype` is how they will be stored).
pub fn build_weights(summary: &RunSummary, dataset: &Dataset, dtype: StorageDtype) -> ModelWeights {
    let model = &summary.model;
    let params = &summary.best_params;
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
                "valid": summary.metrics["valid"],
                "test": summary.metrics["test"],
                "best_epoch": summary.metrics["best_epoch"],
                "backend": summary.metrics["backend"],
            }),
        },
        user_embedding: to_f32(emb.users),
        item_embedding: emb.items.into_iter().map(to_f32).collect(),
        train_indptr,
        train_indices,
        fusion_fc,
        catalogue,
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
