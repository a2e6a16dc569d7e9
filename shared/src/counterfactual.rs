//! Counterfactual modality explanations: an attention weight is not an influence on the
//! ranking, so for an item we ask what its score and rank would be **without** modality m
//! (the softmax of Eq. 5 over the remaining modalities, Eq. 6–7 otherwise unchanged) and
//! **with only** m (the score is then the affinity `u·v̄ᵐ`).
//!
//! Ranks are 1-based among the user's candidate items (training items excluded), ties to
//! the lower item id: the order of [`crate::metrics::TopK`]. Every item is re-scored under
//! each modality mask from one table of affinities. Defined for attention and mean fusion
//! (mean: the average over the kept modalities); `max` and `fc` fusion have no
//! per-modality removal that leaves the model's form intact, so they are refused.

use std::cmp::Ordering;

use crate::attention::modality_attention;
pub use crate::attention::{ModalityMask, all_modalities, masked_attention_score};
use crate::metrics::top_k_with_scores;
use crate::scorer::Recommendation;
use crate::weights::{FusionKind, ModelWeights};

/// `u·v` in the order of the WGSL kernel: four lanes accumulated with fused multiply-adds
/// over the vec4s of `d` (zero padding changes nothing), then `(x + y) + (z + w)`. Ranks
/// among a thousand close scores depend on the last bit, so the CPU what-if ranks use the
/// GPU's arithmetic.
pub fn kernel_order_dot(u: &[f32], v: &[f32]) -> f32 {
    let mut acc = [0f32; 4];
    for (uc, vc) in u.chunks(4).zip(v.chunks(4)) {
        for ((a, x), y) in acc.iter_mut().zip(uc).zip(vc) {
            *a = x.mul_add(*y, *a);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Mean fusion over the kept modalities; `None` when none is kept.
fn masked_mean_score(affinities: &[f32], keep: ModalityMask) -> Option<f32> {
    let (mut n, mut sum) = (0usize, 0f32);
    for (m, &a) in affinities.iter().enumerate() {
        if keep >> m & 1 == 1 {
            n += 1;
            sum += a;
        }
    }
    (n > 0).then(|| sum / n as f32)
}

/// Why counterfactuals cannot be computed for a weights file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CounterfactualError {
    #[error(
        "counterfactual modality ranks are defined for attention and mean fusion; this file \
         uses {0} fusion"
    )]
    Fusion(FusionKind),
    #[error("more than 32 modalities")]
    TooManyModalities,
}

/// The affinities `u·v̄ᵐ` of every item for one user: `[n_items × M]`, item-major.
pub struct Affinities<'w> {
    weights: &'w ModelWeights,
    values: Vec<f32>,
}

/// Whether per-modality quantities (counterfactual ranks, dropping a modality, the item
/// map's dominant modality and personalised space) are defined for `fusion`: attention and
/// mean fusion score as a sum over modalities; max and fc do not.
pub fn fusion_supported(fusion: FusionKind) -> bool {
    matches!(fusion, FusionKind::Attention | FusionKind::Mean)
}

impl<'w> Affinities<'w> {
    pub fn new(weights: &'w ModelWeights, user: &[f32]) -> Result<Self, CounterfactualError> {
        let (m, d, n) = (
            weights.meta.modalities.len(),
            weights.meta.d,
            weights.meta.n_items,
        );
        if !fusion_supported(weights.meta.fusion) {
            return Err(CounterfactualError::Fusion(weights.meta.fusion));
        }
        if m > 32 {
            return Err(CounterfactualError::TooManyModalities);
        }
        let mut values = vec![0f32; n * m];
        for (k, table) in weights.item_embedding.iter().enumerate() {
            for (j, v) in table.chunks_exact(d).enumerate() {
                values[j * m + k] = kernel_order_dot(user, v);
            }
        }
        Ok(Self { weights, values })
    }

    fn m(&self) -> usize {
        self.weights.meta.modalities.len()
    }

    /// The affinities of one item.
    pub fn item(&self, item: usize) -> &[f32] {
        let m = self.m();
        &self.values[item * m..(item + 1) * m]
    }

    /// Every item's score with only the modalities in `keep` (`None`: nothing kept).
    pub fn scores(&self, keep: ModalityMask) -> Option<Vec<f32>> {
        let scale = 1.0 / (self.weights.meta.d as f32).sqrt();
        let attention = self.weights.meta.fusion == FusionKind::Attention;
        self.values
            .chunks_exact(self.m().max(1))
            .map(|a| {
                if attention {
                    masked_attention_score(a, scale, keep)
                } else {
                    masked_mean_score(a, keep)
                }
            })
            .collect()
    }
}

/// The top `n` items (not in `exclude`, sorted) attending only to the modalities in `keep`,
/// with the attention weights of each (0 for a dropped modality): the "drop modality m"
/// view of the recommendation list. `None` when `keep` is empty.
pub fn recommend_masked(
    weights: &ModelWeights,
    user: &[f32],
    exclude: &[u32],
    n: usize,
    keep: ModalityMask,
) -> Result<Option<Vec<Recommendation>>, CounterfactualError> {
    let aff = Affinities::new(weights, user)?;
    let Some(scores) = aff.scores(keep) else {
        return Ok(None);
    };
    let m = weights.meta.modalities.len();
    let d = weights.meta.d;
    let attention = weights.meta.fusion == FusionKind::Attention;
    let kept: Vec<usize> = (0..m).filter(|k| keep >> k & 1 == 1).collect();
    let recs = top_k_with_scores(&scores, exclude, n)
        .into_iter()
        .map(|(item, score)| {
            let a = aff.item(item as usize);
            let mut w = vec![0f32; m];
            if attention {
                let kept_aff: Vec<f32> = kept.iter().map(|&k| a[k]).collect();
                let mut out = vec![0f32; kept.len()];
                modality_attention(&kept_aff, d, &mut out);
                for (&k, o) in kept.iter().zip(out) {
                    w[k] = o;
                }
            } else {
                for &k in &kept {
                    w[k] = 1.0 / kept.len() as f32;
                }
            }
            Recommendation {
                item,
                score,
                attention: w,
            }
        })
        .collect();
    Ok(Some(recs))
}

/// 1-based rank of `item` by `scores` among the items not in `exclude` (sorted), ties to
/// the lower id, NaN last. `item` itself need not be a candidate.
pub fn rank_of(scores: &[f32], exclude: &[u32], item: u32) -> usize {
    let s = scores[item as usize];
    let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
    let ahead = |j: usize| match key(scores[j]).total_cmp(&key(s)) {
        Ordering::Greater => true,
        Ordering::Equal => (j as u32) < item,
        Ordering::Less => false,
    };
    1 + (0..scores.len())
        .filter(|&j| j as u32 != item && exclude.binary_search(&(j as u32)).is_err() && ahead(j))
        .count()
}

/// What-if figures of one item for one modality.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModalityCounterfactual {
    pub modality: String,
    /// Rank and score with `modality` removed from the attention (`None`: it is the only one).
    pub rank_without: Option<usize>,
    pub score_without: Option<f32>,
    /// Rank and score with `modality` alone.
    pub rank_only: usize,
    pub score_only: f32,
}

/// The item's actual rank and score, and its counterfactuals per modality.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counterfactuals {
    pub item: u32,
    pub rank: usize,
    pub score: f32,
    pub modalities: Vec<ModalityCounterfactual>,
}

/// Scores under every mask of interest, computed once and reused for many items.
pub struct CounterfactualTable {
    names: Vec<String>,
    full: Vec<f32>,
    /// Per modality: scores without it, scores with it alone.
    without: Vec<Option<Vec<f32>>>,
    only: Vec<Vec<f32>>,
}

impl CounterfactualTable {
    /// Scores every item for `user` under all 2·M single-modality masks.
    pub fn new(weights: &ModelWeights, user: &[f32]) -> Result<Self, CounterfactualError> {
        let aff = Affinities::new(weights, user)?;
        let m = weights.meta.modalities.len();
        let all = all_modalities(m);
        let full = aff.scores(all).unwrap_or_default();
        let without = (0..m).map(|k| aff.scores(all & !(1 << k))).collect();
        let only = (0..m)
            .map(|k| aff.scores(1 << k).unwrap_or_default())
            .collect();
        Ok(Self {
            names: weights.meta.modalities.clone(),
            full,
            without,
            only,
        })
    }

    /// The figures of `item`, ranked among the items not in `exclude` (sorted).
    pub fn item(&self, item: u32, exclude: &[u32]) -> Counterfactuals {
        let i = item as usize;
        let modalities = self
            .names
            .iter()
            .enumerate()
            .map(|(k, name)| ModalityCounterfactual {
                modality: name.clone(),
                rank_without: self.without[k].as_ref().map(|s| rank_of(s, exclude, item)),
                score_without: self.without[k].as_ref().map(|s| s[i]),
                rank_only: rank_of(&self.only[k], exclude, item),
                score_only: self.only[k][i],
            })
            .collect();
        Counterfactuals {
            item,
            rank: rank_of(&self.full, exclude, item),
            score: self.full[i],
            modalities,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::{Scorer, attention_score};
    use crate::weights::StorageDtype;
    use crate::weights::fixtures::tiny_model;

    #[test]
    fn full_mask_is_the_model_and_one_modality_is_its_affinity() {
        let w = tiny_model(
            4,
            30,
            8,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            5,
        );
        let u = w.user_vector(2).unwrap().to_vec();
        let aff = Affinities::new(&w, &u).unwrap();
        let full = aff.scores(all_modalities(3)).unwrap();
        let reference = Scorer::new(&w).score_all(&u);
        for (a, b) in full.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let only_text = aff.scores(0b010).unwrap();
        for (j, s) in only_text.iter().enumerate() {
            assert!((s - aff.item(j)[1]).abs() < 1e-6);
        }
        assert!(aff.scores(0).is_none());
        // Without visual = the attention score of the other two, computed independently.
        let without_visual = aff.scores(0b110).unwrap();
        let scale = 1.0 / 8f32.sqrt();
        for (j, s) in without_visual.iter().enumerate() {
            let a = aff.item(j);
            assert!((s - attention_score(&a[1..], scale)).abs() < 1e-6);
        }
    }

    #[test]
    fn ranks_exclude_training_items_and_break_ties_by_id() {
        let scores = [0.5, 0.9, 0.9, 0.1, 0.7];
        assert_eq!(rank_of(&scores, &[], 1), 1);
        assert_eq!(rank_of(&scores, &[], 2), 2);
        assert_eq!(rank_of(&scores, &[1], 2), 1);
        assert_eq!(rank_of(&scores, &[1, 2], 3), 3);
        // A training item still gets the rank it would have among the candidates.
        assert_eq!(rank_of(&scores, &[4], 4), 3);
    }

    #[test]
    fn table_ranks_agree_with_a_full_sort() {
        let w = tiny_model(
            5,
            40,
            8,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            9,
        );
        let u = w.user_vector(3).unwrap();
        let exclude = w.train_items(3);
        let table = CounterfactualTable::new(&w, u).unwrap();
        let recs = Scorer::new(&w).recommend_vector(u, exclude, 40);
        for (pos, r) in recs.iter().enumerate() {
            let c = table.item(r.item, exclude);
            assert_eq!(c.rank, pos + 1, "item {}", r.item);
            assert!((c.score - r.score).abs() < 1e-5);
            // Without a modality: the rank in an independent sort of those scores.
            for (k, mc) in c.modalities.iter().enumerate() {
                let s = Affinities::new(&w, u)
                    .unwrap()
                    .scores(0b111 & !(1 << k))
                    .unwrap();
                let mut order: Vec<u32> = (0..40u32)
                    .filter(|j| exclude.binary_search(j).is_err())
                    .collect();
                order.sort_by(|&a, &b| s[b as usize].total_cmp(&s[a as usize]).then(a.cmp(&b)));
                let expected = order.iter().position(|&j| j == r.item).unwrap() + 1;
                assert_eq!(mc.rank_without, Some(expected));
            }
        }
    }

    #[test]
    fn masked_recommendations_are_the_model_at_full_mask_and_zero_dropped_weights() {
        let w = tiny_model(
            5,
            40,
            8,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            2,
        );
        let u = w.user_vector(1).unwrap();
        let ex = w.train_items(1);
        let full = recommend_masked(&w, u, ex, 10, 0b111).unwrap().unwrap();
        let reference = Scorer::new(&w).recommend_vector(u, ex, 10);
        assert_eq!(
            full.iter().map(|r| r.item).collect::<Vec<_>>(),
            reference.iter().map(|r| r.item).collect::<Vec<_>>()
        );
        for (a, b) in full.iter().zip(&reference) {
            for (x, y) in a.attention.iter().zip(&b.attention) {
                assert!((x - y).abs() < 1e-5);
            }
        }
        let no_visual = recommend_masked(&w, u, ex, 10, 0b110).unwrap().unwrap();
        let table = CounterfactualTable::new(&w, u).unwrap();
        for (pos, r) in no_visual.iter().enumerate() {
            assert_eq!(r.attention[0], 0.0);
            assert!((r.attention[1] + r.attention[2] - 1.0).abs() < 1e-5);
            assert_eq!(
                table.item(r.item, ex).modalities[0].rank_without,
                Some(pos + 1)
            );
        }
        assert!(recommend_masked(&w, u, ex, 10, 0).unwrap().is_none());
    }

    #[test]
    fn max_and_fc_fusion_are_refused_and_one_modality_has_no_without() {
        let mut w = tiny_model(3, 10, 4, &["visual", "interaction"], StorageDtype::F32, 1);
        w.meta.fusion = FusionKind::Max;
        let u = w.user_vector(0).unwrap().to_vec();
        assert!(matches!(
            CounterfactualTable::new(&w, &u),
            Err(CounterfactualError::Fusion(_))
        ));
        let w1 = tiny_model(3, 10, 4, &["interaction"], StorageDtype::F32, 1);
        let t = CounterfactualTable::new(&w1, w1.user_vector(0).unwrap()).unwrap();
        let c = t.item(4, &[]);
        assert_eq!(c.modalities[0].rank_without, None);
        assert_eq!(c.modalities[0].rank_only, c.rank);
    }
}
