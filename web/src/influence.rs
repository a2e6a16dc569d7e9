//! Modality-influence overview: how much attention each modality receives over all
//! training interactions, and which modality dominates each user.
//!
//! For every training pair `(u, j)` the attention `aᵐ(u, j)` (paper Eq. 5) is binned into
//! [`BINS`] equal-width bins over `[0, 1]` per modality (`bin = min(⌊a·BINS⌋, BINS − 1)`).
//! A user's dominant modality is the argmax over `m` of the mean attention over their
//! history (first index on ties; users without history are not counted).
//!
//! The browser computes this on the GPU (entry points `pair_attention` and
//! `dominant_modality` of [`crate::kernel::WGSL`]); [`compute_cpu`] is the reference and the
//! fallback, with the same binning and tie rule. For the ablation fusions (scored on the CPU
//! only) the histograms show the scorer's fusion weights instead of attention.

use mario_shared::{FusionKind, ModelWeights, Scorer, modality_attention};

/// Histogram bins over `[0, 1]`.
pub const BINS: usize = 20;

/// The bin of an attention weight (same arithmetic as the WGSL kernel: f32 multiply,
/// truncation, clamp to the last bin).
pub fn bin_of(a: f32, bins: usize) -> usize {
    ((a * bins as f32) as usize).min(bins - 1)
}

/// The index of the largest value, first on ties.
pub fn argmax_first(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate().skip(1) {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Attention histograms and dominant-modality counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Influence {
    /// `[M][BINS]` interaction counts.
    pub hist: Vec<Vec<u32>>,
    /// `[M]` users whose mean attention is largest for that modality.
    pub dominant: Vec<u32>,
    /// Training interactions counted.
    pub interactions: u64,
    /// Users with at least one training interaction.
    pub users: u64,
}

impl Influence {
    /// Builds from flat GPU readbacks (`hist` is `[M * bins]`).
    pub fn from_flat(hist: &[u32], dominant: &[u32], m: usize, bins: usize) -> Self {
        let hist: Vec<Vec<u32>> = (0..m)
            .map(|i| hist[i * bins..(i + 1) * bins].to_vec())
            .collect();
        let interactions = hist
            .first()
            .map(|h| h.iter().map(|&c| u64::from(c)).sum())
            .unwrap_or(0);
        let users = dominant.iter().map(|&c| u64::from(c)).sum();
        Self {
            hist,
            dominant: dominant.to_vec(),
            interactions,
            users,
        }
    }

    /// Share of users dominated by each modality.
    pub fn dominant_share(&self) -> Vec<f64> {
        let total = self.users.max(1) as f64;
        self.dominant
            .iter()
            .map(|&c| f64::from(c) / total)
            .collect()
    }

    /// Mean attention of each modality over all interactions, from the bin centres.
    pub fn mean_attention(&self) -> Vec<f64> {
        self.hist
            .iter()
            .map(|h| {
                let n: f64 = h.iter().map(|&c| f64::from(c)).sum();
                if n == 0.0 {
                    return 0.0;
                }
                let bins = h.len() as f64;
                h.iter()
                    .enumerate()
                    .map(|(b, &c)| (b as f64 + 0.5) / bins * f64::from(c))
                    .sum::<f64>()
                    / n
            })
            .collect()
    }
}

/// The CPU reference of the GPU kernels.
pub fn compute_cpu(w: &ModelWeights) -> Influence {
    let m_count = w.meta.modalities.len();
    let d = w.meta.d;
    let mut hist = vec![vec![0u32; BINS]; m_count];
    let mut dominant = vec![0u32; m_count];
    let mut aff = vec![0f32; m_count];
    let mut att = vec![0f32; m_count];
    let mut sums = vec![0f32; m_count];
    let mut contrib = vec![0f32; m_count];
    let scorer = Scorer::new(w);
    let mut interactions = 0u64;
    for user in 0..w.meta.n_users {
        let history = w.train_items(user);
        if history.is_empty() {
            continue;
        }
        let u = &w.user_embedding[user * d..(user + 1) * d];
        sums.iter_mut().for_each(|s| *s = 0.0);
        for &item in history {
            let j = item as usize;
            if w.meta.fusion == FusionKind::Attention {
                for (m, a) in aff.iter_mut().enumerate() {
                    let v = &w.item_embedding[m][j * d..(j + 1) * d];
                    *a = u.iter().zip(v).map(|(x, y)| x * y).sum();
                }
                modality_attention(&aff, d, &mut att);
            } else {
                // Ablation fusions: the scorer's per-modality fusion weights.
                scorer.score_item(u, j, &mut att, &mut contrib);
            }
            for m in 0..m_count {
                hist[m][bin_of(att[m], BINS)] += 1;
                sums[m] += att[m];
            }
            interactions += 1;
        }
        dominant[argmax_first(&sums)] += 1;
    }
    let users = dominant.iter().map(|&c| u64::from(c)).sum();
    Influence {
        hist,
        dominant,
        interactions,
        users,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mario_shared::StorageDtype;
    use mario_shared::weights::fixtures::tiny_model;

    #[test]
    fn binning_edges() {
        assert_eq!(bin_of(0.0, 20), 0);
        assert_eq!(bin_of(0.049, 20), 0);
        assert_eq!(bin_of(0.05, 20), 1);
        assert_eq!(bin_of(0.999, 20), 19);
        assert_eq!(bin_of(1.0, 20), 19);
        assert_eq!(argmax_first(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax_first(&[0.5]), 0);
    }

    #[test]
    fn counts_add_up_and_match_a_direct_computation() {
        let w = tiny_model(
            9,
            40,
            8,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            3,
        );
        let inf = compute_cpu(&w);
        let nnz = w.train_indices.len() as u64;
        assert_eq!(inf.interactions, nnz);
        for h in &inf.hist {
            assert_eq!(h.iter().map(|&c| u64::from(c)).sum::<u64>(), nnz);
        }
        let with_history = (0..9).filter(|&u| !w.train_items(u).is_empty()).count() as u64;
        assert_eq!(inf.users, with_history);
        assert!((inf.dominant_share().iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Mean attention from bin centres is within half a bin of the exact mean, and sums to ~1.
        let means = inf.mean_attention();
        assert!((means.iter().sum::<f64>() - 1.0).abs() < 0.5 * 3.0 / BINS as f64 + 1e-9);

        // Dominant modality of user 0, directly from the scorer.
        let s = mario_shared::Scorer::new(&w);
        let u = w.user_vector(0).unwrap();
        let mut sums = [0f32; 3];
        for &j in w.train_items(0) {
            let (mut a, mut c) = ([0f32; 3], [0f32; 3]);
            s.score_item(u, j as usize, &mut a, &mut c);
            for m in 0..3 {
                sums[m] += a[m];
            }
        }
        let single = compute_cpu(&ModelWeights {
            train_indptr: [vec![0], vec![w.train_items(0).len() as u32; 9]].concat(),
            train_indices: w.train_items(0).to_vec(),
            ..w.clone()
        });
        assert_eq!(single.dominant[argmax_first(&sums)], 1);
    }

    #[test]
    fn from_flat_matches_layout() {
        let inf = Influence::from_flat(&[1, 2, 3, 4, 5, 6], &[1, 1], 2, 3);
        assert_eq!(inf.hist, vec![vec![1, 2, 3], vec![4, 5, 6]]);
        assert_eq!(inf.interactions, 6);
        assert_eq!(inf.users, 2);
    }
}
