//! The explorer's item maps: a 2D t-SNE (Barnes-Hut, the `bhtsne` crate) of every item in
//! each modality's embedding space, on cosine distance (rows are L2-normalised, so the
//! Euclidean distance between them is monotone in cosine), and the trustworthiness that
//! measures how well a map keeps each item's nearest neighbours.
//!
//! The start is a seeded Gaussian, so the input to t-SNE is fixed by `seed`; its parallel
//! force sums may still differ in the last bits between runs.

use mario_shared::ModelWeights;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// Rows scaled to unit length (zero rows stay zero).
fn unit_rows(table: &[f32], d: usize) -> Vec<f32> {
    let mut out = table.to_vec();
    for row in out.chunks_exact_mut(d.max(1)) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

/// Gradient steps of the t-SNE. 1,000 (the usual default) leaves a 7,050-item catalogue
/// unconverged: on `baby` the interaction map's trustworthiness@10 was 0.80 at 1,000 steps
/// and 0.91 at 3,000 (visual 0.987 → 0.994; perplexity 10–50 and θ = 0.2 moved it by ≤ 0.02).
const TSNE_EPOCHS: usize = 3000;

/// t-SNE of the `n × d` table `table` to `n × 2`, perplexity 30 (capped for tiny tables).
pub fn tsne_map(table: &[f32], d: usize, seed: u64) -> Vec<f32> {
    let n = table.len() / d.max(1);
    if n < 4 {
        return (0..n).flat_map(|i| [i as f32, 0.0]).collect();
    }
    let unit = unit_rows(table, d);
    let rows: Vec<&[f32]> = unit.chunks_exact(d).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1e-4).expect("valid normal");
    let start: Vec<f32> = (0..n * 2).map(|_| normal.sample(&mut rng)).collect();
    let perplexity = 30f32.min((n as f32 - 1.0) / 3.0);
    bhtsne::tSNE::<f32, &[f32], 2>::new(&rows)
        .perplexity(perplexity)
        .epochs(TSNE_EPOCHS)
        .initial_embedding(start)
        .barnes_hut(0.5, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        })
        .embedding()
}

/// A map of every modality table of `weights`, named like the modalities.
pub fn item_maps(weights: &ModelWeights, seed: u64) -> Vec<(String, Vec<f32>)> {
    let d = weights.meta.d;
    weights
        .meta
        .modalities
        .iter()
        .zip(&weights.item_embedding)
        .map(|(name, table)| (name.clone(), tsne_map(table, d, seed)))
        .collect()
}

/// Row `i`'s neighbours (every other row) ordered by `dist(i, ·)`, nearest first, ties by
/// lower index.
fn neighbour_order(i: usize, n: usize, dist: &(impl Fn(usize, usize) -> f32 + Sync)) -> Vec<u32> {
    let dists: Vec<f32> = (0..n).map(|j| dist(i, j)).collect();
    let mut order: Vec<u32> = (0..n as u32).filter(|&j| j as usize != i).collect();
    order.sort_by(|&a, &b| {
        dists[a as usize]
            .total_cmp(&dists[b as usize])
            .then(a.cmp(&b))
    });
    order
}

/// Trustworthiness (Venna & Kaski) at `k` of the 2D map `low` against cosine neighbours of
/// the `n × d` table `high`: 1 − 2/(nk(2n − 3k − 1)) · Σᵢ Σ_{j ∈ Uₖ(i)} (r(i, j) − k), where
/// Uₖ(i) are i's k nearest in the map that are not among its k nearest in the table and
/// r(i, j) is j's rank in the table. 1 means no false neighbours.
///
/// One row at a time (parallel over rows): O(n) memory per thread and O(n² (d + log n))
/// time, so a catalogue of ~10k items takes seconds.
pub fn trustworthiness(high: &[f32], d: usize, low: &[f32], k: usize) -> f64 {
    let n = low.len() / 2;
    assert!(k < n / 2, "trustworthiness needs k < n / 2");
    let unit = unit_rows(high, d);
    let cos = |i: usize, j: usize| -> f32 {
        let (a, b) = (&unit[i * d..(i + 1) * d], &unit[j * d..(j + 1) * d]);
        1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
    };
    let euclid = |i: usize, j: usize| -> f32 {
        let (dx, dy) = (low[2 * i] - low[2 * j], low[2 * i + 1] - low[2 * j + 1]);
        dx * dx + dy * dy
    };
    let penalty: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut high_rank = vec![0u32; n];
            for (r, &j) in neighbour_order(i, n, &cos).iter().enumerate() {
                high_rank[j as usize] = r as u32 + 1;
            }
            neighbour_order(i, n, &euclid)[..k]
                .iter()
                .map(|&j| high_rank[j as usize] as usize)
                .filter(|&r| r > k)
                .map(|r| (r - k) as f64)
                .sum::<f64>()
        })
        .sum();
    let (n, k) = (n as f64, k as f64);
    1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
}

/// Trustworthiness@10 of every stored map of `weights` against its modality's table.
pub fn map_quality(weights: &ModelWeights) -> Vec<(String, f64)> {
    weights
        .maps
        .iter()
        .filter_map(|(space, xy)| {
            let m = weights.modality_index(space)?;
            let t = trustworthiness(&weights.item_embedding[m], weights.meta.d, xy, 10);
            Some((space.clone(), t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on two far-apart circles in 8-d: a map that keeps the circles apart and the
    /// order along them is trustworthy; a random map is not.
    #[test]
    fn trustworthiness_tells_a_faithful_map_from_a_random_one() {
        let n = 120;
        let d = 8;
        let mut high = vec![0f32; n * d];
        let mut faithful = vec![0f32; n * 2];
        for i in 0..n {
            let t = (i % 60) as f32 / 60.0 * std::f32::consts::TAU;
            let group = i / 60;
            high[i * d + 4 * group] = 1.0;
            high[i * d + 4 * group + 1] = t.cos() * 0.5;
            high[i * d + 4 * group + 2] = t.sin() * 0.5;
            faithful[2 * i] = t.cos() + 10.0 * group as f32;
            faithful[2 * i + 1] = t.sin();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let random: Vec<f32> = (0..n * 2).map(|_| normal.sample(&mut rng)).collect();
        let good = trustworthiness(&high, d, &faithful, 10);
        let bad = trustworthiness(&high, d, &random, 10);
        assert!(good > 0.95, "faithful map {good}");
        assert!(bad < 0.7, "random map {bad}");
        // t-SNE itself finds the structure.
        let map = tsne_map(&high, d, 1);
        assert_eq!(map.len(), n * 2);
        let t = trustworthiness(&high, d, &map, 10);
        assert!(t > 0.9, "t-SNE map {t}");
    }
}
