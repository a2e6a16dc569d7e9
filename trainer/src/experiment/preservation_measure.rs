//! The modality-preservation measure of §3 / Table 6: for item `i`,
//!
//! `diff(i) = 1/(I − 1) · Σ_{j ≠ i} |cos(vᵢᵐ, vⱼᵐ) − cos(eᵢ, eⱼ)|`
//!
//! between the raw (pre-trained) features `vᵐ` of a side modality (*p-similarities*)
//! and the final item embeddings `e` (*f-similarities*). Computed blockwise on the
//! device: a block of rows of both cosine matrices at a time (two `[B, I]` matmuls),
//! so no dense `I × I` matrix is ever kept; O(I²·(dₘ + d)) work.

use burn::tensor::Tensor;

use crate::model::graph::{l2_normalize_rows, to_f32};

/// Rows per block: two `[B, I]` f32 matrices live at once (~150 MB at I = 18k).
pub const BLOCK_ROWS: usize = 1024;

/// Per-item mean absolute difference between the cosine similarities of `features`
/// (`[I, dₘ]`) and of `embeddings` (`[I, d]`) over all other items. Rows of norm 0
/// have cosine 0 with every item. Fewer than two items give zeros.
pub fn per_item_differences(
    features: Tensor<2>,
    embeddings: Tensor<2>,
    block_rows: usize,
) -> Vec<f32> {
    let [n, _] = features.dims();
    assert_eq!(
        embeddings.dims()[0],
        n,
        "features and embeddings differ in item count"
    );
    if n < 2 {
        return vec![0.0; n];
    }
    let xn = l2_normalize_rows(features);
    let en = l2_normalize_rows(embeddings);
    let xt = xn.clone().transpose();
    let et = en.clone().transpose();
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + block_rows.max(1)).min(n);
        let xb = xn.clone().narrow(0, start, end - start);
        let eb = en.clone().narrow(0, start, end - start);
        let p_sim = xb.clone().matmul(xt.clone());
        let f_sim = eb.clone().matmul(et.clone());
        let row_sums = (p_sim - f_sim).abs().sum_dim(1);
        // The j = i term, |‖x̂ᵢ‖² − ‖êᵢ‖²| (0 unless one row has norm 0), is excluded.
        let self_x = (xb.clone() * xb).sum_dim(1);
        let self_e = (eb.clone() * eb).sum_dim(1);
        let self_term = (self_x - self_e).abs();
        let mean = (row_sums - self_term) / (n - 1) as f32;
        out.extend(to_f32(mean));
        start = end;
    }
    out
}

/// Mean of `values` over the items `keep` selects (`None` when it selects none).
pub fn masked_mean(values: &[f32], keep: impl Fn(usize) -> bool) -> Option<f64> {
    let (sum, count) = values
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .fold((0.0f64, 0usize), |(s, c), (_, v)| (s + *v as f64, c + 1));
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::float_tensor;
    use burn::tensor::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn cos(a: &[f64], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            dot / (na * nb)
        }
    }

    #[test]
    fn matches_brute_force_on_a_random_case() {
        let device = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (n, dm, d) = (29, 7, 4);
        let mut feats: Vec<f32> = (0..n * dm).map(|_| rng.random_range(-1.0..1.0)).collect();
        let emb: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        // One all-zero feature row: its cosines are 0, including with itself.
        for v in &mut feats[5 * dm..6 * dm] {
            *v = 0.0;
        }
        let row = |v: &[f32], i: usize, w: usize| -> Vec<f64> {
            v[i * w..(i + 1) * w].iter().map(|&x| x as f64).collect()
        };
        let brute: Vec<f64> = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        (cos(&row(&feats, i, dm), &row(&feats, j, dm))
                            - cos(&row(&emb, i, d), &row(&emb, j, d)))
                        .abs()
                    })
                    .sum::<f64>()
                    / (n - 1) as f64
            })
            .collect();
        // Block sizes that do and do not divide n, and one block for everything.
        for block in [4, 8, 29, 1000] {
            let got = per_item_differences(
                float_tensor(feats.clone(), [n, dm], &device),
                float_tensor(emb.clone(), [n, d], &device),
                block,
            );
            assert_eq!(got.len(), n);
            for (i, (g, b)) in got.iter().zip(&brute).enumerate() {
                assert!(
                    (*g as f64 - b).abs() < 1e-5,
                    "block {block} item {i}: {g} vs {b}"
                );
            }
        }
        // Identical geometry (embeddings = features) preserves everything.
        let same = per_item_differences(
            float_tensor(emb.clone(), [n, d], &device),
            float_tensor(emb.iter().map(|v| v * 3.0).collect(), [n, d], &device),
            8,
        );
        assert!(same.iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn masked_mean_selects() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(masked_mean(&v, |_| true), Some(2.5));
        assert_eq!(masked_mean(&v, |i| i >= 2), Some(3.5));
        assert_eq!(masked_mean(&v, |_| false), None);
    }
}
