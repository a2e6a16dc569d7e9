//! Full-ranking evaluation: every item except the user's training items is a
//! candidate.
//!
//! A model is evaluated by [`evaluate_ranked`]: the final embeddings are read back
//! once and ranked by [`mario_shared::ranking::RankingModel`] (tiles of users ×
//! items, Eq. 5–7 fused per pair, threshold reject, bounded top-K; parallel over
//! user tiles) — the same scorer `mario eval`, `mario recommend` and the browser's
//! CPU path use. On a CubeCL device the embeddings stay there and [`device`] ranks
//! tiles of users on it, reading back only each user's top-K; both paths end in
//! [`evaluate_lists`]. [`evaluate_with`] takes any scorer of full score rows (the
//! popularity baseline). Metric definitions live in [`mario_shared::metrics`].

pub mod device;
pub mod planted;

use mario_data::Dataset;
use mario_shared::metrics::{MetricsAccumulator, MetricsReport, top_k_excluding};
use mario_shared::ranking::RankingModel;
use rayon::prelude::*;

/// Which held-out split to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Valid,
    Test,
}

impl Split {
    pub fn relevant(self, dataset: &Dataset) -> &[Vec<u32>] {
        match self {
            Split::Valid => &dataset.valid,
            Split::Test => &dataset.test,
        }
    }
}

/// Evaluates any scorer. `score_batch(users)` returns `users.len() × n_items`
/// scores, row-major. Users with no relevant items are skipped (and counted).
pub fn evaluate_with(
    dataset: &Dataset,
    split: Split,
    ks: &[usize],
    batch_users: usize,
    mut score_batch: impl FnMut(&[u32]) -> anyhow::Result<Vec<f32>>,
) -> anyhow::Result<MetricsReport> {
    let relevant = split.relevant(dataset);
    let mut acc = MetricsAccumulator::new(ks);
    let max_k = acc.max_k();
    let users: Vec<u32> = (0..dataset.n_users as u32)
        .filter(|&u| !relevant[u as usize].is_empty())
        .collect();
    for _ in users.len()..dataset.n_users {
        acc.add(&[], &[]); // counted as skipped
    }
    let n_items = dataset.n_items;
    for chunk in users.chunks(batch_users.max(1)) {
        let scores = score_batch(chunk)?;
        anyhow::ensure!(
            scores.len() == chunk.len() * n_items,
            "scorer returned {} scores for {} users × {} items",
            scores.len(),
            chunk.len(),
            n_items
        );
        // Top-K in parallel, accumulated in user order so sums are deterministic.
        let ranked: Vec<Vec<u32>> = chunk
            .par_iter()
            .zip(scores.par_chunks(n_items))
            .map(|(&u, row)| top_k_excluding(row, &dataset.train[u as usize], max_k))
            .collect();
        for (&u, ranked) in chunk.iter().zip(&ranked) {
            acc.add(ranked, &relevant[u as usize]);
        }
    }
    Ok(acc.finish())
}

/// Evaluates user vectors (`[n_users, d]`, dataset user order) against `ranking`.
/// Users with no relevant items are skipped (and counted).
pub fn evaluate_ranked(
    dataset: &Dataset,
    split: Split,
    ks: &[usize],
    users: &[f32],
    ranking: &RankingModel<'_>,
) -> anyhow::Result<MetricsReport> {
    anyhow::ensure!(
        ranking.n_items() == dataset.n_items,
        "the model ranks {} items but the dataset has {}",
        ranking.n_items(),
        dataset.n_items
    );
    let d = users.len() / dataset.n_users.max(1);
    anyhow::ensure!(
        d * dataset.n_users == users.len() && d > 0,
        "{} user values do not form {} users × d",
        users.len(),
        dataset.n_users
    );
    evaluate_lists(dataset, split, ks, |evaluated, k| {
        let rows: Vec<f32> = evaluated
            .iter()
            .flat_map(|&u| users[u as usize * d..(u as usize + 1) * d].iter().copied())
            .collect();
        let ranked = ranking.top_k(&rows, |i| &dataset.train[evaluated[i] as usize], k);
        Ok(ranked
            .into_iter()
            .map(|list| list.into_iter().map(|(item, _)| item).collect())
            .collect())
    })
}

/// Metrics of the ranked lists `rank(evaluated, k)` returns: the top `k` items, best
/// first, of each user in `evaluated` (the users with relevant items in `split`, in
/// id order). Users with no relevant items are skipped (and counted).
pub fn evaluate_lists(
    dataset: &Dataset,
    split: Split,
    ks: &[usize],
    rank: impl FnOnce(&[u32], usize) -> anyhow::Result<Vec<Vec<u32>>>,
) -> anyhow::Result<MetricsReport> {
    let relevant = split.relevant(dataset);
    let mut acc = MetricsAccumulator::new(ks);
    let evaluated: Vec<u32> = (0..dataset.n_users as u32)
        .filter(|&u| !relevant[u as usize].is_empty())
        .collect();
    for _ in evaluated.len()..dataset.n_users {
        acc.add(&[], &[]); // counted as skipped
    }
    let ranked = rank(&evaluated, acc.max_k())?;
    anyhow::ensure!(
        ranked.len() == evaluated.len(),
        "{} ranked lists for {} users",
        ranked.len(),
        evaluated.len()
    );
    // Accumulated in user order, so sums do not depend on the thread count.
    for (&u, list) in evaluated.iter().zip(&ranked) {
        acc.add(list, &relevant[u as usize]);
    }
    Ok(acc.finish())
}

/// The popularity baseline: every user gets items ranked by training-interaction count.
pub fn evaluate_popularity(
    dataset: &Dataset,
    split: Split,
    ks: &[usize],
) -> anyhow::Result<MetricsReport> {
    let popularity = mario_data::popularity_scores(dataset);
    evaluate_with(dataset, split, ks, 256, |users| {
        Ok(users
            .iter()
            .flat_map(|_| popularity.iter().copied())
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mario_data::{Dataset, DatasetFormat, LoadReport};

    fn toy() -> Dataset {
        Dataset {
            name: "toy".into(),
            format: DatasetFormat::Mmrec,
            n_users: 3,
            n_items: 4,
            train: vec![vec![0], vec![1, 2], vec![3]],
            valid: vec![vec![], vec![], vec![]],
            test: vec![vec![1], vec![3], vec![]],
            modalities: vec![],
            catalogue: None,
            report: LoadReport::default(),
        }
    }

    #[test]
    fn masks_training_items_and_skips_users_without_test_items() {
        let ds = toy();
        // Every user scores items by id: 3 > 2 > 1 > 0.
        let report = evaluate_with(&ds, Split::Test, &[1], 2, |users| {
            Ok(users.iter().flat_map(|_| [0.0, 1.0, 2.0, 3.0]).collect())
        })
        .unwrap();
        // user 0: candidates 1..3 → top1 = 3, test {1} → miss.
        // user 1: candidates 0, 3 → top1 = 3 (item 2 is masked), test {3} → hit.
        assert_eq!(report.users_evaluated, 2);
        assert_eq!(report.users_skipped, 1);
        assert!((report.get("recall@1") - 0.5).abs() < 1e-12);
    }
}
