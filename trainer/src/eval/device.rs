//! Full ranking on the training device (a GPU through CubeCL): users in tiles, each
//! tile's affinities computed where the embeddings are (one matrix product), then the
//! fusion, the masking of the user's training items and the top-k selection in two
//! launches there (`sparse::cube::top_k`), so only `tile × k` ids come back, never a
//! score row.
//!
//! With the attention fusion the tile is `u·v̄ᵐ` for every scored modality side by
//! side and the kernel applies Eq. 5–7 per pair; with the others it is the model's own
//! fused scores (`Mario::score_users`). Both are held to the host's tiled scorer
//! (`mario_shared::ranking`) in the tests.

use burn::backend::Cube;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Bytes one tile's affinities may take on the device.
const TILE_BYTES: usize = 256 << 20;

/// A tile's scores for [`top_k_on_device`]: `[tile, tables · n_items]`, table after
/// table; with `attention` (its `1/√d`), fused per pair by Eq. 5–7, else `tables` is 1
/// and they are the scores.
pub struct TileScores {
    pub scores: Tensor<2>,
    pub tables: usize,
    pub attention: Option<f32>,
}

/// How many users a tile scores: `TILE_BYTES` (or the device's largest binding,
/// `max_binding`, where smaller) over `tables + 1` rows of `n_items` floats a user
/// (the affinities and the product's own), at least one; so a tile's affinities always
/// fit one binding.
pub fn tile_users(n_items: usize, tables: usize, max_binding: Option<u64>) -> usize {
    let budget = max_binding.map_or(TILE_BYTES, |b| TILE_BYTES.min(b as usize));
    (budget / (4 * n_items.max(1) * (tables + 1))).max(1)
}

/// The top `k` items of each user in `users` (best first, ties to the lower id),
/// excluding the user's `train` items (ascending ids), scored tile by tile on
/// `device` by `score_tile` (a tile's user ids to its [`TileScores`]). A user with
/// fewer than `k` candidates gets them all.
pub fn top_k_on_device(
    users: &[u32],
    train: &[Vec<u32>],
    n_items: usize,
    k: usize,
    tile: usize,
    device: &Device,
    score_tile: impl Fn(Tensor<1, Int>) -> TileScores,
) -> anyhow::Result<Vec<Vec<u32>>> {
    let mut ranked = Vec::with_capacity(users.len());
    for chunk in users.chunks(tile.max(1)) {
        let ids: Vec<i64> = chunk.iter().map(|&u| i64::from(u)).collect();
        let tile = score_tile(Tensor::from_data(
            TensorData::new(ids, [chunk.len()]),
            device,
        ));
        anyhow::ensure!(
            tile.scores.dims() == [chunk.len(), tile.tables * n_items],
            "a tile of {} users × {} tables × {n_items} items has scores of shape {:?}",
            chunk.len(),
            tile.tables,
            tile.scores.dims()
        );
        let scores = tile
            .scores
            .try_into_primitive::<Cube>()
            .map_err(|e| anyhow::anyhow!("ranking on the device needs a CubeCL tensor: {e:?}"))?;
        let excluded: Vec<&[u32]> = chunk
            .iter()
            .map(|&u| train[u as usize].as_slice())
            .collect();
        ranked.extend(crate::sparse::cube::top_k(
            scores,
            &excluded,
            n_items,
            tile.tables,
            tile.attention,
            k,
        )?);
    }
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mario_shared::metrics::top_k_excluding;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// On wgpu (lavapipe), tile by tile against the host's top-k of the same scores:
    /// distinct random scores, so the lists are equal item for item; tiles of 7 over 40
    /// users (a ragged last one), training lists from none to all but 3 of the items
    /// (fewer candidates than `k`), and users out of order.
    #[test]
    fn device_top_k_equals_the_hosts_on_the_same_scores() {
        let device = crate::backend::select(crate::backend::BackendChoice::Wgpu)
            .expect(
                "no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs lavapipe)",
            )
            .device;
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        let (n_users, n_items, k) = (40, 300, 20);
        let scores: Vec<f32> = (0..n_users * n_items)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let train: Vec<Vec<u32>> = (0..n_users)
            .map(|u| match u % 4 {
                0 => vec![],
                1 => (0..n_items as u32 - 3).collect(),
                _ => {
                    let mut items: Vec<u32> = (0..30)
                        .map(|_| rng.random_range(0..n_items as u32))
                        .collect();
                    items.sort_unstable();
                    items.dedup();
                    items
                }
            })
            .collect();
        let table = crate::tensor::float_tensor(scores.clone(), [n_users, n_items], &device);
        let users: Vec<u32> = (0..n_users as u32).rev().collect();
        let ranked = top_k_on_device(&users, &train, n_items, k, 7, &device, |ids| TileScores {
            scores: table.clone().select(0, ids),
            tables: 1,
            attention: None,
        })
        .unwrap();
        for (&u, list) in users.iter().zip(&ranked) {
            let u = u as usize;
            let row = &scores[u * n_items..(u + 1) * n_items];
            assert_eq!(list, &top_k_excluding(row, &train[u], k), "user {u}");
        }
        assert_eq!(ranked[users.iter().position(|&u| u == 1).unwrap()].len(), 3);

        // Attention over three tables of affinities, fused on the host in f64 (Eq. 5–7).
        let (tables, scale) = (3, 0.25f32);
        let affinities: Vec<f32> = (0..n_users * tables * n_items)
            .map(|_| rng.random_range(-4.0..4.0))
            .collect();
        let table =
            crate::tensor::float_tensor(affinities.clone(), [n_users, tables * n_items], &device);
        let ranked = top_k_on_device(&users, &train, n_items, k, 16, &device, |ids| TileScores {
            scores: table.clone().select(0, ids),
            tables,
            attention: Some(scale),
        })
        .unwrap();
        for (&u, list) in users.iter().zip(&ranked) {
            let u = u as usize;
            let fused: Vec<f32> = (0..n_items)
                .map(|i| {
                    let a: Vec<f64> = (0..tables)
                        .map(|m| f64::from(affinities[(u * tables + m) * n_items + i]))
                        .collect();
                    let top = a.iter().fold(f64::MIN, |t, &x| t.max(x * f64::from(scale)));
                    let w: Vec<f64> = a
                        .iter()
                        .map(|&x| (x * f64::from(scale) - top).exp())
                        .collect();
                    (w.iter().zip(&a).map(|(w, a)| w * a).sum::<f64>() / w.iter().sum::<f64>())
                        as f32
                })
                .collect();
            assert_eq!(
                list,
                &top_k_excluding(&fused, &train[u], k),
                "attention, user {u}"
            );
        }
        let tile = tile_users(7050, 4, None);
        assert!(tile >= 1000, "baby's tile: {tile}");
        // A device whose bindings hold 128 MiB: baby's four tables of affinities fit one.
        let tile = tile_users(7050, 4, Some(128 << 20));
        assert!(
            tile * 4 * 7050 * 4 <= 128 << 20 && tile >= 500,
            "tile {tile}"
        );
        let wrong = top_k_on_device(&users, &train, n_items, k, 7, &device, |ids| TileScores {
            scores: table.clone().select(0, ids),
            tables: 2,
            attention: None,
        });
        assert!(
            wrong.unwrap_err().to_string().contains("shape"),
            "a mis-shaped tile is an error"
        );
    }
}
