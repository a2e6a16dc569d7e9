//! Planted-modality recovery: on a synthetic dataset (`truth.json`), does MARIO's
//! attention recover each user's planted preference over modalities?
//!
//! For every user with test items, the mean attention weight per modality over
//! those (user, item) pairs is compared with the planted preference by Spearman
//! rank correlation across users, one coefficient per modality.
//!
//! With ~1.4 test items per user (the demo's split), the test items themselves
//! say little about a user's preference, so the same correlation is computed for
//! an oracle that knows which modality drove each test interaction: the
//! reference MARIO's figure should be read against.

use mario_data::{Dataset, InteractionDrivers, Truth};
use mario_shared::scorer::Scorer;
use mario_shared::weights::ModelWeights;

/// How well one modality's attention recovers the planted preference.
#[derive(Debug, Clone, PartialEq)]
pub struct ModalityRecovery {
    pub modality: String,
    /// Spearman correlation, across users, of the user's mean attention on this
    /// modality over their test items with their planted preference for it.
    pub spearman: f64,
    /// The same correlation for an oracle that knows which modality drove each
    /// test interaction (the share of the user's test items this modality drove):
    /// how much of the planted preference a handful of test items reveals at all.
    /// `None` when the truth records no drivers.
    pub driver_oracle: Option<f64>,
    /// Users compared (those with test items and a planted preference).
    pub users: usize,
}

/// Recovery per modality named in both the truth and the weights. `drivers` maps
/// (on-disk user id, item) to the index (in `truth.modalities`) of the modality
/// that drove the interaction ([`mario_data::interaction_drivers`]).
pub fn planted_recovery(
    weights: &ModelWeights,
    dataset: &Dataset,
    truth: &Truth,
    drivers: Option<&InteractionDrivers>,
) -> Vec<ModalityRecovery> {
    let scorer = Scorer::new(weights);
    let m_count = weights.meta.modalities.len();
    let t_count = truth.modalities.len();
    let mut mean_attention: Vec<Vec<f64>> = Vec::new();
    let mut driver_share: Vec<Vec<f64>> = Vec::new();
    let mut planted: Vec<&Vec<f32>> = Vec::new();
    let (mut w, mut c) = (vec![0f32; m_count], vec![0f32; m_count]);
    for (u, items) in dataset.test.iter().enumerate() {
        // Truth rows follow the on-disk user ids; the loader may have re-indexed.
        let original = dataset
            .report
            .original_user_ids
            .get(u)
            .copied()
            .unwrap_or(u as u32);
        let (Some(user), Some(pref)) = (
            weights.user_vector(u),
            truth.user_preference.get(original as usize),
        ) else {
            continue;
        };
        if items.is_empty() {
            continue;
        }
        let mut sum = vec![0f64; m_count];
        let mut drove = vec![0f64; t_count];
        for &i in items {
            scorer.score_item(user, i as usize, &mut w, &mut c);
            for (s, a) in sum.iter_mut().zip(&w) {
                *s += *a as f64;
            }
            if let Some(&m) = drivers.and_then(|d| d.get(&(original, i))) {
                drove[usize::from(m)] += 1.0;
            }
        }
        let n = items.len() as f64;
        mean_attention.push(sum.iter().map(|s| s / n).collect());
        driver_share.push(drove.iter().map(|k| k / n).collect());
        planted.push(pref);
    }
    truth
        .modalities
        .iter()
        .enumerate()
        .filter_map(|(t_idx, name)| {
            let m_idx = weights.modality_index(name)?;
            let y: Vec<f64> = planted.iter().map(|p| p[t_idx] as f64).collect();
            let column =
                |rows: &[Vec<f64>], k: usize| -> Vec<f64> { rows.iter().map(|r| r[k]).collect() };
            Some(ModalityRecovery {
                modality: name.clone(),
                spearman: spearman(&column(&mean_attention, m_idx), &y),
                driver_oracle: drivers.map(|_| spearman(&column(&driver_share, t_idx), &y)),
                users: y.len(),
            })
        })
        .collect()
}

/// Average ranks (ties share the mean rank).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Spearman rank correlation.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_known_cases() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Monotone but non-linear still gives 1.
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 8.0, 27.0]) - 1.0).abs() < 1e-12);
        // Ties: ranks [1.5, 1.5, 3] vs [1, 2, 3] → Pearson of those.
        let expected = pearson(&[1.5, 1.5, 3.0], &[1.0, 2.0, 3.0]);
        assert!((spearman(&[5.0, 5.0, 9.0], &[1.0, 2.0, 3.0]) - expected).abs() < 1e-12);
    }
}
