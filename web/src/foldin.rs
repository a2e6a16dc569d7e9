//! New-user mode: fold a user vector in from a handful of liked items, in the browser.
//!
//! # Method
//!
//! The item tables stay fixed; only a fresh user vector `u ∈ ℝᵈ` is learnt.
//!
//! 1. **Start** from the mean of the liked items' `interaction`-modality embeddings
//!    (the collaborative space; the mean over all modalities when the file has no
//!    `interaction` table).
//! 2. **BPR on the user vector alone** ([`FoldInConfig::steps`] epochs, default 300): in each
//!    epoch, for every liked item `i` draw a negative `j` uniformly from the items *not*
//!    liked (a SplitMix64 stream with a fixed seed, so the same likes always give the same
//!    vector) and take one SGD step on
//!    `−ln σ(r(u,i) − r(u,j)) + λ‖u‖²`, where `r` is the model's own score with its
//!    fusion (for MARIO, the attention-weighted score of paper Eq. 5–7). The learning rate
//!    decays as `lr / (1 + t / 100)`.
//! 3. The page then re-scores every item with the folded vector, on the GPU or the CPU,
//!    excluding the liked items.
//!
//! The gradient of the attention score `r = Σₘ aᵐ xᵐ` with `xᵐ = u·vᵐ` and
//! `a = softmax(x/√d)` is `∂r/∂u = Σₘ aᵐ vᵐ + (1/√d) Σₘ aᵐ (xᵐ − r) vᵐ`
//! (the personalised item vector plus the attention's own sensitivity). For the ablation
//! fusions the gradient is the fused item vector (`mean`, `max`: exact almost everywhere;
//! `fc`: exact, `Wᵀ[v¹;…;vᴹ] + b`).

use mario_shared::{FusionKind, ModelWeights, modality_attention};

/// Hyper-parameters of the fold-in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldInConfig {
    /// Epochs over the liked items.
    pub steps: usize,
    /// Initial learning rate.
    pub lr: f32,
    /// L2 regularisation `λ`.
    pub reg: f32,
    /// Seed of the negative sampler.
    pub seed: u64,
}

impl Default for FoldInConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            lr: 0.05,
            reg: 0.01,
            seed: 0x004D_4152_494F,
        }
    }
}

/// SplitMix64: a tiny, good, seedable generator (also used by [`crate::synth`]).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.next_f32().max(1e-7);
        let u2 = self.next_f32();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The model's score of `item` for `u`, with its gradient with respect to `u` written into `grad`.
pub fn score_and_grad(w: &ModelWeights, u: &[f32], item: usize, grad: &mut [f32]) -> f32 {
    let d = w.meta.d;
    let m_count = w.meta.modalities.len();
    let v = |m: usize| &w.item_embedding[m][item * d..(item + 1) * d];
    grad.iter_mut().for_each(|g| *g = 0.0);
    match w.meta.fusion {
        FusionKind::Attention => {
            let x: Vec<f32> = (0..m_count).map(|m| dot(u, v(m))).collect();
            let mut a = vec![0f32; m_count];
            modality_attention(&x, d, &mut a);
            let r: f32 = a.iter().zip(&x).map(|(a, x)| a * x).sum();
            let inv_sqrt_d = 1.0 / (d as f32).sqrt();
            for m in 0..m_count {
                let coef = a[m] * (1.0 + inv_sqrt_d * (x[m] - r));
                for (g, vk) in grad.iter_mut().zip(v(m)) {
                    *g += coef * vk;
                }
            }
            r
        }
        FusionKind::Mean => {
            for m in 0..m_count {
                for (g, vk) in grad.iter_mut().zip(v(m)) {
                    *g += vk / m_count as f32;
                }
            }
            dot(u, grad)
        }
        FusionKind::Max => {
            for (k, g) in grad.iter_mut().enumerate() {
                *g = (0..m_count)
                    .map(|m| v(m)[k])
                    .fold(f32::NEG_INFINITY, f32::max);
            }
            dot(u, grad)
        }
        FusionKind::Fc => {
            let Some((weight, bias)) = &w.fusion_fc else {
                return 0.0;
            };
            grad.copy_from_slice(bias);
            for m in 0..m_count {
                for (r, vr) in v(m).iter().enumerate() {
                    let row = &weight[(m * d + r) * d..(m * d + r + 1) * d];
                    for (g, wk) in grad.iter_mut().zip(row) {
                        *g += vr * wk;
                    }
                }
            }
            dot(u, grad)
        }
    }
}

/// Step 1 of the method: the mean of the liked items' interaction embeddings.
pub fn initial_vector(w: &ModelWeights, liked: &[u32]) -> Vec<f32> {
    let d = w.meta.d;
    let tables: Vec<usize> = match w.modality_index(mario_shared::weights::INTERACTION) {
        Some(m) => vec![m],
        None => (0..w.meta.modalities.len()).collect(),
    };
    let mut u = vec![0f32; d];
    let count = (liked.len() * tables.len()).max(1) as f32;
    for &item in liked {
        for &m in &tables {
            let v = &w.item_embedding[m][item as usize * d..(item as usize + 1) * d];
            for (x, y) in u.iter_mut().zip(v) {
                *x += y / count;
            }
        }
    }
    u
}

/// Folds in a user vector for `liked` items (see the module docs). Returns the zero
/// vector when nothing is liked.
pub fn fold_in(w: &ModelWeights, liked: &[u32], cfg: &FoldInConfig) -> Vec<f32> {
    let d = w.meta.d;
    let n_items = w.meta.n_items;
    let mut liked: Vec<u32> = liked
        .iter()
        .copied()
        .filter(|&i| (i as usize) < n_items)
        .collect();
    liked.sort_unstable();
    liked.dedup();
    let mut u = initial_vector(w, &liked);
    if liked.is_empty() || liked.len() >= n_items {
        return u;
    }
    let mut rng = SplitMix64(cfg.seed);
    let (mut gi, mut gj) = (vec![0f32; d], vec![0f32; d]);
    for t in 0..cfg.steps {
        let lr = cfg.lr / (1.0 + t as f32 / 100.0);
        for &i in &liked {
            let j = loop {
                let j = rng.below(n_items) as u32;
                if liked.binary_search(&j).is_err() {
                    break j;
                }
            };
            let ri = score_and_grad(w, &u, i as usize, &mut gi);
            let rj = score_and_grad(w, &u, j as usize, &mut gj);
            // d/du of ln σ(ri − rj) is σ(rj − ri) (∇ri − ∇rj).
            let coef = 1.0 / (1.0 + (ri - rj).exp());
            for k in 0..d {
                u[k] += lr * (coef * (gi[k] - gj[k]) - cfg.reg * u[k]);
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthSpec, synthetic_model};
    use mario_shared::Scorer;
    use mario_shared::StorageDtype;
    use mario_shared::weights::fixtures::tiny_model;

    /// 0-based ranks of `items` among all items by score (higher first, lower id on ties).
    fn ranks(scores: &[f32], items: &[u32]) -> Vec<usize> {
        items
            .iter()
            .map(|&i| {
                let s = scores[i as usize];
                scores
                    .iter()
                    .enumerate()
                    .filter(|&(j, &x)| x > s || (x == s && (j as u32) < i))
                    .count()
            })
            .collect()
    }

    fn mean(v: &[usize]) -> f64 {
        v.iter().sum::<usize>() as f64 / v.len() as f64
    }

    #[test]
    fn gradient_matches_finite_differences_for_every_fusion() {
        let mut w = tiny_model(
            2,
            6,
            5,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            8,
        );
        let u: Vec<f32> = (0..5).map(|k| 0.3 * (k as f32 - 2.0)).collect();
        for fusion in [FusionKind::Attention, FusionKind::Mean, FusionKind::Fc] {
            w.meta.fusion = fusion;
            w.fusion_fc = (fusion == FusionKind::Fc).then(|| {
                (
                    (0..15 * 5)
                        .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
                        .collect(),
                    vec![0.1; 5],
                )
            });
            let s = Scorer::new(&w);
            let mut g = vec![0f32; 5];
            for item in 0..6 {
                let r = score_and_grad(&w, &u, item, &mut g);
                assert!((r - s.score_all(&u)[item]).abs() < 1e-4, "{fusion} score");
                for k in 0..5 {
                    let h = 1e-3;
                    let (mut up, mut dn) = (u.clone(), u.clone());
                    up[k] += h;
                    dn[k] -= h;
                    let fd = (s.score_all(&up)[item] - s.score_all(&dn)[item]) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < 2e-2 * (1.0 + fd.abs()),
                        "{fusion} item {item} k {k}: {fd} vs {}",
                        g[k]
                    );
                }
            }
        }
    }

    #[test]
    fn fold_in_raises_the_liked_items_ranks() {
        let w = synthetic_model(&SynthSpec {
            n_users: 50,
            n_items: 400,
            d: 32,
            seed: 5,
            ..SynthSpec::default()
        });
        let s = Scorer::new(&w);
        // A "new user" who likes the training history of an existing user (a coherent taste).
        for user in [3usize, 17, 41] {
            let liked = w.train_items(user).to_vec();
            assert!(liked.len() >= 3);
            let init = initial_vector(&w, &liked);
            let folded = fold_in(&w, &liked, &FoldInConfig::default());
            let before = mean(&ranks(&s.score_all(&init), &liked));
            let after = mean(&ranks(&s.score_all(&folded), &liked));
            let random = mean(&ranks(
                &s.score_all(w.user_vector((user + 1) % 50).unwrap()),
                &liked,
            ));
            assert!(
                after < before,
                "user {user}: mean rank {after} after vs {before} before"
            );
            assert!(
                after < random,
                "user {user}: {after} vs a random user's {random}"
            );
            assert!(
                after < 0.1 * 400.0,
                "user {user}: liked items should be in the top 10% ({after})"
            );
        }
    }

    #[test]
    fn fold_in_is_deterministic_and_handles_edge_cases() {
        let w = tiny_model(3, 20, 4, &["visual", "interaction"], StorageDtype::F32, 1);
        let cfg = FoldInConfig {
            steps: 20,
            ..FoldInConfig::default()
        };
        assert_eq!(
            fold_in(&w, &[1, 5, 9], &cfg),
            fold_in(&w, &[9, 5, 1, 1], &cfg)
        );
        assert_eq!(fold_in(&w, &[], &cfg), vec![0.0; 4]);
        let all: Vec<u32> = (0..20).collect();
        assert_eq!(fold_in(&w, &all, &cfg), initial_vector(&w, &all));
        assert!(fold_in(&w, &[99], &cfg).iter().all(|&x| x == 0.0));
        // The initial vector uses the interaction table only.
        let init = initial_vector(&w, &[2]);
        assert_eq!(init, w.item_embedding[1][8..12].to_vec());
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = SplitMix64(1);
        let mut counts = [0usize; 10];
        for _ in 0..10_000 {
            counts[r.below(10)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        let n: Vec<f32> = (0..10_000).map(|_| r.normal()).collect();
        let m = n.iter().sum::<f32>() / n.len() as f32;
        let v = n.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / n.len() as f32;
        assert!(m.abs() < 0.05 && (v - 1.0).abs() < 0.08, "{m} {v}");
    }
}
