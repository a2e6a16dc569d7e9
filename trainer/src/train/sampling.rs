//! Sampling the training batches: the fixed order of the (user, item) pairs, each
//! epoch's own random stream, uniform negatives outside the user's training items
//! (BPR, Eq. 9), and `--edge-dropout`'s thinned interaction lists.

use mario_data::Dataset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The (user, item) training pairs in a fixed order.
pub fn training_pairs(dataset: &Dataset) -> Vec<(u32, u32)> {
    dataset
        .train
        .iter()
        .enumerate()
        .flat_map(|(u, items)| items.iter().map(move |&i| (u as u32, i)))
        .collect()
}

/// The epoch's random stream: independent of how many epochs ran in this process.
pub(super) fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// A uniformly sampled item the user has not interacted with in training.
fn sample_negative(rng: &mut ChaCha8Rng, train: &[u32], n_items: usize) -> u32 {
    loop {
        let j = rng.random_range(0..n_items as u32);
        if train.binary_search(&j).is_err() {
            return j;
        }
    }
}

/// Each user's training items with every interaction kept with probability `1 − p`.
pub fn drop_edges(rng: &mut ChaCha8Rng, train: &[Vec<u32>], p: f32) -> Vec<Vec<u32>> {
    train
        .iter()
        .map(|items| {
            items
                .iter()
                .copied()
                .filter(|_| rng.random::<f32>() >= p)
                .collect()
        })
        .collect()
}

/// The BPR triples (users, positives, negatives) of a batch of training pairs: each pair
/// makes `negatives` triples, its negatives drawn in turn from `rng` (with 1, one draw per
/// pair in batch order).
pub fn sample_triples(
    rng: &mut ChaCha8Rng,
    batch: &[(u32, u32)],
    dataset: &Dataset,
    negatives: usize,
) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let n = batch.len() * negatives;
    let (mut users, mut pos, mut neg) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for &(u, i) in batch {
        for _ in 0..negatives {
            users.push(u as i64);
            pos.push(i as i64);
            neg.push(sample_negative(rng, &dataset.train[u as usize], dataset.n_items) as i64);
        }
    }
    (users, pos, neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--edge-dropout p`: each interaction survives with probability 1 − p, lists stay
    /// sorted subsets, and p = 0 keeps the graph.
    #[test]
    fn edge_dropout_keeps_about_one_minus_p_of_each_list() {
        let train: Vec<Vec<u32>> = (0..200).map(|u| (u..u + 100).collect()).collect();
        let kept = drop_edges(&mut epoch_rng(3, 2), &train, 0.3);
        let total: usize = kept.iter().map(Vec::len).sum();
        let share = total as f64 / 20_000.0;
        assert!((share - 0.7).abs() < 0.02, "kept {share}");
        for (k, t) in kept.iter().zip(&train) {
            assert!(k.windows(2).all(|w| w[0] < w[1]) && k.iter().all(|i| t.contains(i)));
        }
        assert_eq!(drop_edges(&mut epoch_rng(3, 2), &train, 0.0), train);
    }

    /// `--negatives N`: N triples per pair, each negative outside the user's training set,
    /// and with N = 1 exactly the draws of one negative per pair.
    #[test]
    fn triples_repeat_each_pair_with_fresh_negatives() {
        let train = vec![vec![0u32, 1, 2], vec![3u32], vec![]];
        let dataset = Dataset {
            name: "triples".into(),
            format: mario_data::DatasetFormat::Mmrec,
            n_users: 3,
            n_items: 6,
            valid: vec![vec![]; 3],
            test: vec![vec![]; 3],
            train: train.clone(),
            modalities: Vec::new(),
            catalogue: None,
            report: Default::default(),
        };
        let batch = [(0u32, 1u32), (1, 3), (0, 2)];
        let (users, pos, neg) = sample_triples(&mut epoch_rng(7, 1), &batch, &dataset, 4);
        assert_eq!(users, vec![0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(pos, vec![1, 1, 1, 1, 3, 3, 3, 3, 2, 2, 2, 2]);
        for (&u, &j) in users.iter().zip(&neg) {
            assert!(
                !train[u as usize].contains(&(j as u32)),
                "user {u} trained on {j}"
            );
        }
        let distinct: std::collections::BTreeSet<i64> = neg[..4].iter().copied().collect();
        assert!(distinct.len() > 1, "fresh draws per triple: {neg:?}");
        let mut rng = epoch_rng(7, 1);
        let one = sample_triples(&mut epoch_rng(7, 1), &batch, &dataset, 1);
        let by_hand: Vec<i64> = batch
            .iter()
            .map(|&(u, _)| sample_negative(&mut rng, &train[u as usize], 6) as i64)
            .collect();
        assert_eq!(one.2, by_hand);
    }
}
