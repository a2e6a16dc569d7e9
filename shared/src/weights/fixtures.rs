//! Test fixtures shared by this crate's tests and other crates' tests.

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
        maps: Vec::new(),
        catalogue: (0..n_items as u32).map(ItemInfo::anonymous).collect(),
    }
}
