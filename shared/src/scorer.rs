//! The reference MARIO scorer: scores, fusion weights and explanations of one user's
//! items, through the formulas of [`crate::attention`].
//!
//! For user `u` and item `j` with final modality embeddings `v̄ʲᵐ` (interaction included):
//!
//! - Eq. 5, modality-aware attention: `aᵐ = softmaxₘ(u·v̄ᵐ / √d)` ([`modality_attention`]).
//! - Eq. 6, personalised item embedding: `vᵤⱼ = Σₘ aᵐ v̄ᵐ`.
//! - Eq. 7, score: `r = u·vᵤⱼ = Σₘ aᵐ (u·v̄ᵐ)`, so modality `m` contributes
//!   `aᵐ · (u·v̄ᵐ)` and the contributions sum to the score.
//!
//! The fusion ablations (paper Table 5) are scored too: `mean` (aᵐ = 1/M), `max`
//! (element-wise max over modalities; the reported weight of a modality is the share
//! of dimensions it supplies) and `fc` (a linear layer on the concatenation; the
//! weight of a modality is its share of the absolute contributions).
//!
//! The browser's WebGPU kernel and the trainer's burn model are tested against this.

pub use crate::attention::{attention_score, modality_attention};
use crate::metrics::top_k_with_scores;
use crate::ranking::RankingModel;
use crate::weights::{FusionKind, ModelWeights};

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One scored item with the per-modality weights of its fusion.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recommendation {
    pub item: u32,
    pub score: f32,
    /// Per modality, in the weights' modality order; sums to 1.
    pub attention: Vec<f32>,
}

/// History items close to the recommended item in one modality's embedding space.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub item: u32,
    /// Cosine similarity of final modality embeddings.
    pub similarity: f32,
}

/// Why one item was recommended, modality by modality.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModalityExplanation {
    pub modality: String,
    /// Fusion weight (attention for MARIO).
    pub weight: f32,
    /// `u·v̄ᵐ`.
    pub affinity: f32,
    /// This modality's share of the score; contributions sum to `score`.
    pub contribution: f32,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    pub item: u32,
    pub score: f32,
    pub modalities: Vec<ModalityExplanation>,
}

/// Scores items for a user vector with the fusion recorded in the weights.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    pub weights: &'a ModelWeights,
}

impl<'a> Scorer<'a> {
    pub fn new(weights: &'a ModelWeights) -> Self {
        Self { weights }
    }

    fn d(&self) -> usize {
        self.weights.meta.d
    }

    fn n_modalities(&self) -> usize {
        self.weights.meta.modalities.len()
    }

    /// The final embedding of `item` in modality `m`.
    pub fn item_vector(&self, m: usize, item: usize) -> &'a [f32] {
        let d = self.d();
        &self.weights.item_embedding[m][item * d..(item + 1) * d]
    }

    /// Score of one item and its per-modality weights and contributions.
    pub fn score_item(
        &self,
        user: &[f32],
        item: usize,
        weights_out: &mut [f32],
        contrib_out: &mut [f32],
    ) -> f32 {
        let m_count = self.n_modalities();
        let d = self.d();
        let aff: Vec<f32> = (0..m_count)
            .map(|m| dot(user, self.item_vector(m, item)))
            .collect();
        match self.weights.meta.fusion {
            FusionKind::Attention => {
                modality_attention(&aff, d, weights_out);
                let mut score = 0.0;
                for m in 0..m_count {
                    contrib_out[m] = weights_out[m] * aff[m];
                    score += contrib_out[m];
                }
                score
            }
            FusionKind::Mean => {
                let w = 1.0 / m_count as f32;
                let mut score = 0.0;
                for m in 0..m_count {
                    weights_out[m] = w;
                    contrib_out[m] = w * aff[m];
                    score += contrib_out[m];
                }
                score
            }
            FusionKind::Max => {
                weights_out.iter_mut().for_each(|w| *w = 0.0);
                contrib_out.iter_mut().for_each(|c| *c = 0.0);
                let mut score = 0.0;
                for (k, &u_k) in user.iter().enumerate().take(d) {
                    let (best_m, best) = (0..m_count)
                        .map(|m| (m, self.item_vector(m, item)[k]))
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |acc, x| if x.1 > acc.1 { x } else { acc },
                        );
                    weights_out[best_m] += 1.0 / d as f32;
                    contrib_out[best_m] += u_k * best;
                    score += u_k * best;
                }
                score
            }
            FusionKind::Fc => {
                let (w, b) = self
                    .weights
                    .fusion_fc
                    .as_ref()
                    .expect("fc fusion weights validated on load");
                let mut score = dot(user, b);
                let mut total_abs = 0.0;
                for m in 0..m_count {
                    let v = self.item_vector(m, item);
                    // contribution_m = Σ_k u_k Σ_r v_r W[m*d + r, k]
                    let mut c = 0.0;
                    for (r, vr) in v.iter().enumerate() {
                        let row = &w[(m * d + r) * d..(m * d + r + 1) * d];
                        c += vr * dot(user, row);
                    }
                    contrib_out[m] = c;
                    total_abs += c.abs();
                    score += c;
                }
                for m in 0..m_count {
                    weights_out[m] = if total_abs > 0.0 {
                        contrib_out[m].abs() / total_abs
                    } else {
                        1.0 / m_count as f32
                    };
                }
                score
            }
        }
    }

    /// Scores of every item for `user` (Eq. 7), in item order.
    pub fn score_all(&self, user: &[f32]) -> Vec<f32> {
        let n = self.weights.meta.n_items;
        let m_count = self.n_modalities();
        if self.weights.meta.fusion == FusionKind::Attention {
            // Fast path: one pass per modality table, then the softmax per item.
            let d = self.d();
            let mut aff = vec![0f32; n * m_count];
            for m in 0..m_count {
                for (j, v) in self.weights.item_embedding[m].chunks_exact(d).enumerate() {
                    aff[j * m_count + m] = dot(user, v);
                }
            }
            let scale = 1.0 / (d as f32).sqrt();
            return aff
                .chunks_exact(m_count)
                .map(|s| attention_score(s, scale))
                .collect();
        }
        let mut w = vec![0f32; m_count];
        let mut c = vec![0f32; m_count];
        (0..n)
            .map(|j| self.score_item(user, j, &mut w, &mut c))
            .collect()
    }

    /// Top-`n` items for a user vector, excluding `exclude` (sorted), best first,
    /// ties broken by item id, with the fusion weights of each.
    /// The list comes from the tiled full-ranking scorer ([`RankingModel`]), the same
    /// one the trainer evaluates with.
    pub fn recommend_vector(&self, user: &[f32], exclude: &[u32], n: usize) -> Vec<Recommendation> {
        let ranked = RankingModel::from_weights(self.weights).top_k(user, |_| exclude, n);
        let m_count = self.n_modalities();
        let mut w = vec![0f32; m_count];
        let mut c = vec![0f32; m_count];
        ranked
            .into_iter()
            .flatten()
            .map(|(item, score)| {
                self.score_item(user, item as usize, &mut w, &mut c);
                Recommendation {
                    item,
                    score,
                    attention: w.clone(),
                }
            })
            .collect()
    }

    /// Top-`n` for a known user, excluding their training items.
    pub fn recommend(&self, user: usize, n: usize) -> Option<Vec<Recommendation>> {
        let u = self.weights.user_vector(user)?;
        Some(self.recommend_vector(u, self.weights.train_items(user), n))
    }

    /// Explains the score of `item` for a user vector with history `history`:
    /// per-modality weight, affinity, contribution, and the `evidence_n` history items
    /// most similar to `item` in each modality's embedding space.
    pub fn explain_vector(
        &self,
        user: &[f32],
        history: &[u32],
        item: usize,
        evidence_n: usize,
    ) -> Explanation {
        let m_count = self.n_modalities();
        let mut w = vec![0f32; m_count];
        let mut c = vec![0f32; m_count];
        let score = self.score_item(user, item, &mut w, &mut c);
        let modalities = (0..m_count)
            .map(|m| {
                let target = self.item_vector(m, item);
                let sims: Vec<f32> = history
                    .iter()
                    .map(|&h| cosine(target, self.item_vector(m, h as usize)))
                    .collect();
                // Select among history positions, then map back to item ids.
                let evidence = top_k_with_scores(&sims, &[], evidence_n)
                    .into_iter()
                    .map(|(pos, similarity)| Evidence {
                        item: history[pos as usize],
                        similarity,
                    })
                    .collect();
                ModalityExplanation {
                    modality: self.weights.meta.modalities[m].clone(),
                    weight: w[m],
                    affinity: dot(user, target),
                    contribution: c[m],
                    evidence,
                }
            })
            .collect();
        Explanation {
            item: item as u32,
            score,
            modalities,
        }
    }

    /// [`Scorer::explain_vector`] for a known user and their training history.
    pub fn explain(&self, user: usize, item: usize, evidence_n: usize) -> Option<Explanation> {
        let u = self.weights.user_vector(user)?;
        (item < self.weights.meta.n_items)
            .then(|| self.explain_vector(u, self.weights.train_items(user), item, evidence_n))
    }
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::StorageDtype;
    use crate::weights::fixtures::tiny_model;

    const MODS: &[&str] = &["visual", "textual", "interaction"];

    /// Eq. 5–7 written out in f64, independently of the scorer's code paths.
    fn reference_score(w: &ModelWeights, user: usize, item: usize) -> (f64, Vec<f64>) {
        let d = w.meta.d;
        let u = &w.user_embedding[user * d..(user + 1) * d];
        let logits: Vec<f64> = w
            .item_embedding
            .iter()
            .map(|t| {
                (0..d)
                    .map(|k| u[k] as f64 * t[item * d + k] as f64)
                    .sum::<f64>()
                    / (d as f64).sqrt()
            })
            .collect();
        let z: f64 = logits.iter().map(|l| l.exp()).sum();
        let a: Vec<f64> = logits.iter().map(|l| l.exp() / z).collect();
        // personalised embedding v_ij = Σ a_m v_m, then r = u · v_ij
        let score = (0..d)
            .map(|k| {
                let v: f64 = w
                    .item_embedding
                    .iter()
                    .zip(&a)
                    .map(|(t, am)| am * t[item * d + k] as f64)
                    .sum();
                u[k] as f64 * v
            })
            .sum();
        (score, a)
    }

    #[test]
    fn attention_scores_match_equations() {
        let w = tiny_model(4, 30, 16, MODS, StorageDtype::F32, 11);
        let s = Scorer::new(&w);
        for user in 0..4 {
            let all = s.score_all(w.user_vector(user).unwrap());
            for (item, &score) in all.iter().enumerate() {
                let (expected, a) = reference_score(&w, user, item);
                assert!(
                    (score as f64 - expected).abs() < 1e-5,
                    "user {user} item {item}"
                );
                let mut wo = [0f32; 3];
                let mut co = [0f32; 3];
                let one = s.score_item(w.user_vector(user).unwrap(), item, &mut wo, &mut co);
                assert!((one as f64 - expected).abs() < 1e-5);
                for m in 0..3 {
                    assert!((wo[m] as f64 - a[m]).abs() < 1e-6);
                }
                assert!((co.iter().sum::<f32>() - one).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn softmax_is_stable_and_normalised() {
        let mut out = [0f32; 3];
        modality_attention(&[1e6, 1e6 - 8.0, -1e6], 64, &mut out);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(out[0] > out[1] && out[1] > out[2]);
        assert!((out[1] / out[0] - (-1.0f32).exp()).abs() < 1e-5);
    }

    #[test]
    fn recommend_excludes_history_and_is_ordered() {
        let w = tiny_model(6, 50, 8, MODS, StorageDtype::F32, 2);
        let s = Scorer::new(&w);
        for user in 0..6 {
            let recs = s.recommend(user, 10).unwrap();
            let history = w.train_items(user);
            assert_eq!(recs.len(), 10);
            let scores = s.score_all(w.user_vector(user).unwrap());
            let mut expected: Vec<u32> = (0..50).filter(|i| !history.contains(i)).collect();
            expected.sort_by(|&a, &b| {
                scores[b as usize]
                    .total_cmp(&scores[a as usize])
                    .then(a.cmp(&b))
            });
            let got: Vec<u32> = recs.iter().map(|r| r.item).collect();
            assert_eq!(got, expected[..10]);
            for r in &recs {
                assert!((r.attention.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
        assert!(s.recommend(99, 3).is_none());
    }

    #[test]
    fn fusion_ablations_follow_their_definitions() {
        let mut w = tiny_model(2, 9, 4, MODS, StorageDtype::F32, 4);
        let u = w.user_vector(1).unwrap().to_vec();
        let item = 5;
        let v = |w: &ModelWeights, m: usize| w.item_embedding[m][item * 4..item * 4 + 4].to_vec();
        let dotf = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();

        w.meta.fusion = FusionKind::Mean;
        let mean: Vec<f32> = (0..4)
            .map(|k| (0..3).map(|m| v(&w, m)[k]).sum::<f32>() / 3.0)
            .collect();
        assert!((Scorer::new(&w).score_all(&u)[item] - dotf(&u, &mean)).abs() < 1e-5);

        w.meta.fusion = FusionKind::Max;
        let max: Vec<f32> = (0..4)
            .map(|k| (0..3).map(|m| v(&w, m)[k]).fold(f32::MIN, f32::max))
            .collect();
        assert!((Scorer::new(&w).score_all(&u)[item] - dotf(&u, &max)).abs() < 1e-5);

        w.meta.fusion = FusionKind::Fc;
        let weight: Vec<f32> = (0..12 * 4)
            .map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let bias = vec![0.1, -0.2, 0.3, 0.0];
        w.fusion_fc = Some((weight.clone(), bias.clone()));
        let concat: Vec<f32> = (0..3).flat_map(|m| v(&w, m)).collect();
        let fused: Vec<f32> = (0..4)
            .map(|k| bias[k] + (0..12).map(|r| concat[r] * weight[r * 4 + k]).sum::<f32>())
            .collect();
        let scorer = Scorer::new(&w);
        let (mut wo, mut co) = ([0f32; 3], [0f32; 3]);
        let s = scorer.score_item(&u, item, &mut wo, &mut co);
        assert!((s - dotf(&u, &fused)).abs() < 1e-5);
        assert!((wo.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn explanation_evidence_is_the_most_similar_history() {
        let w = tiny_model(3, 40, 8, MODS, StorageDtype::F32, 8);
        let s = Scorer::new(&w);
        let user = 1;
        let item = s.recommend(user, 1).unwrap()[0].item as usize;
        let e = s.explain(user, item, 2).unwrap();
        assert_eq!(e.modalities.len(), 3);
        assert!((e.modalities.iter().map(|m| m.contribution).sum::<f32>() - e.score).abs() < 1e-5);
        assert!((e.modalities.iter().map(|m| m.weight).sum::<f32>() - 1.0).abs() < 1e-5);
        for (m, me) in e.modalities.iter().enumerate() {
            let mut sims: Vec<(f32, u32)> = w
                .train_items(user)
                .iter()
                .map(|&h| {
                    (
                        cosine(s.item_vector(m, item), s.item_vector(m, h as usize)),
                        h,
                    )
                })
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let got: Vec<u32> = me.evidence.iter().map(|e| e.item).collect();
            let want: Vec<u32> = sims.iter().take(2).map(|x| x.1).collect();
            assert_eq!(got, want, "modality {}", me.modality);
        }
    }
}
