//! Full-ranking evaluation: top-K selection without a full sort, and the ranking
//! metrics of the paper (Recall, Precision, NDCG at K).
//!
//! # Conventions (exact formulas)
//!
//! For a user with relevant (test) set `T`, ranked list `r_1..r_K` (training items
//! excluded), `hit_i = [r_i ∈ T]`:
//!
//! - `recall@K    = Σ_{i≤K} hit_i / |T|`
//! - `precision@K = Σ_{i≤K} hit_i / K`
//! - `ndcg@K` (standard, as in MMRec): `DCG = Σ_{i≤K} hit_i / log2(i + 1)`,
//!   `IDCG = Σ_{i≤min(|T|,K)} 1 / log2(i + 1)`.
//!
//! This `ndcg@K` is the one every published table we compare with reports: MMRec's
//! `ndcg`, and LATTICE's and NGCF's `ndcg_at_k`, which call `dcg_at_k(method=1)`, i.e.
//! `Σ hitᵢ / log₂(i + 1)`. Their `method=0` variant (`[1, 1, 1/log₂3, …]`: ranks 1 and 2
//! weigh the same) is not used by any of them, so it is not reported here (an earlier
//! `ndcg_lattice@K` key computed it under a wrong name; it is gone).
//!
//! Users with an empty relevant set are skipped and counted (`users_skipped`).
//! Metrics are means over evaluated users.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// A candidate in the selection heap, ordered so that the *worst* kept item is on top.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    item: u32,
}

impl Candidate {
    /// `Less` means `self` ranks better (higher score, then lower id).
    fn rank_cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.item.cmp(&other.item))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.rank_cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank_cmp(other)
    }
}

/// The `k` best items by score, best first, skipping `exclude` (sorted ascending).
/// Ties are broken by the lower item id; NaN scores rank last.
/// O(I log k) with a bounded heap — no full sort.
pub fn top_k_excluding(scores: &[f32], exclude: &[u32], k: usize) -> Vec<u32> {
    top_k_with_scores(scores, exclude, k)
        .into_iter()
        .map(|(item, _)| item)
        .collect()
}

/// Like [`top_k_excluding`] but also returns the scores.
pub fn top_k_with_scores(scores: &[f32], exclude: &[u32], k: usize) -> Vec<(u32, f32)> {
    let mut top = TopK::new(k);
    let mut excluded = exclude.iter().peekable();
    for (item, &score) in scores.iter().enumerate() {
        let item = item as u32;
        while excluded.next_if(|&&e| e < item).is_some() {}
        if excluded.peek() == Some(&&item) {
            continue;
        }
        top.offer(item, score);
    }
    top.into_sorted()
}

/// A bounded selection of the `k` best (item, score) pairs: higher score first, ties
/// to the lower item id, NaN as −∞. The one definition of that order, shared by
/// [`top_k_with_scores`] and the tiled full-ranking scorer ([`crate::ranking`]).
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// A score strictly below this can never enter (−∞ until `k` items are held).
    /// Lets callers skip items by an upper bound of their score.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.score)
        }
    }

    /// Considers one item.
    #[inline]
    pub fn offer(&mut self, item: u32, score: f32) {
        if self.k == 0 {
            return;
        }
        let score = if score.is_nan() {
            f32::NEG_INFINITY
        } else {
            score
        };
        let c = Candidate { score, item };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(worst) = self.heap.peek()
            && c < *worst
        {
            self.heap.pop();
            self.heap.push(c);
        }
    }

    /// The kept pairs, best first.
    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        let mut out = self.heap.into_vec();
        out.sort();
        out.into_iter().map(|c| (c.item, c.score)).collect()
    }
}

/// Discount of 1-based rank `i` in the standard convention.
fn discount_standard(rank: usize) -> f64 {
    1.0 / ((rank + 1) as f64).log2()
}

/// Per-user metric values at one cut-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserMetrics {
    pub recall: f64,
    pub precision: f64,
    pub ndcg: f64,
}

/// Metrics of one ranked list against a relevant set (sorted ascending) at cut-off `k`.
/// `ranked` may be longer than `k`. Returns `None` when `relevant` is empty.
pub fn user_metrics(ranked: &[u32], relevant: &[u32], k: usize) -> Option<UserMetrics> {
    if relevant.is_empty() || k == 0 {
        return None;
    }
    let mut hits = 0usize;
    let mut dcg = 0.0;
    for (i, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += discount_standard(i + 1);
        }
    }
    let ideal = relevant.len().min(k);
    let idcg: f64 = (1..=ideal).map(discount_standard).sum();
    Some(UserMetrics {
        recall: hits as f64 / relevant.len() as f64,
        precision: hits as f64 / k as f64,
        ndcg: dcg / idcg,
    })
}

/// Accumulates per-user metrics at several cut-offs into means.
#[derive(Debug, Clone)]
pub struct MetricsAccumulator {
    ks: Vec<usize>,
    sums: Vec<UserMetrics>,
    users_evaluated: usize,
    users_skipped: usize,
}

impl MetricsAccumulator {
    pub fn new(ks: &[usize]) -> Self {
        let zero = UserMetrics {
            recall: 0.0,
            precision: 0.0,
            ndcg: 0.0,
        };
        Self {
            ks: ks.to_vec(),
            sums: vec![zero; ks.len()],
            users_evaluated: 0,
            users_skipped: 0,
        }
    }

    /// Largest cut-off: how many items a ranked list must hold.
    pub fn max_k(&self) -> usize {
        self.ks.iter().copied().max().unwrap_or(0)
    }

    /// Adds one user (`relevant` sorted). Users without relevant items are counted as skipped.
    pub fn add(&mut self, ranked: &[u32], relevant: &[u32]) {
        if relevant.is_empty() {
            self.users_skipped += 1;
            return;
        }
        self.users_evaluated += 1;
        for (k, sum) in self.ks.iter().zip(self.sums.iter_mut()) {
            if let Some(m) = user_metrics(ranked, relevant, *k) {
                sum.recall += m.recall;
                sum.precision += m.precision;
                sum.ndcg += m.ndcg;
            }
        }
    }

    /// Merges another accumulator with the same cut-offs (for parallel evaluation).
    pub fn merge(&mut self, other: &Self) {
        debug_assert_eq!(self.ks, other.ks);
        self.users_evaluated += other.users_evaluated;
        self.users_skipped += other.users_skipped;
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.recall += b.recall;
            a.precision += b.precision;
            a.ndcg += b.ndcg;
        }
    }

    pub fn finish(&self) -> MetricsReport {
        let n = self.users_evaluated.max(1) as f64;
        let mut values = BTreeMap::new();
        for (k, s) in self.ks.iter().zip(&self.sums) {
            values.insert(format!("recall@{k}"), s.recall / n);
            values.insert(format!("precision@{k}"), s.precision / n);
            values.insert(format!("ndcg@{k}"), s.ndcg / n);
        }
        MetricsReport {
            values,
            users_evaluated: self.users_evaluated,
            users_skipped: self.users_skipped,
        }
    }
}

/// Mean metrics, keyed `recall@20`, `ndcg@10`, `precision@10`, ….
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsReport {
    pub values: BTreeMap<String, f64>,
    pub users_evaluated: usize,
    pub users_skipped: usize,
}

impl MetricsReport {
    pub fn get(&self, key: &str) -> f64 {
        self.values.get(key).copied().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deliberately naive reference: full sort, then the definitions above.
    fn brute_force(
        scores: &[f32],
        exclude: &[u32],
        relevant: &[u32],
        k: usize,
    ) -> (Vec<u32>, UserMetrics) {
        let mut items: Vec<u32> = (0..scores.len() as u32)
            .filter(|i| !exclude.contains(i))
            .collect();
        items.sort_by(|&a, &b| {
            scores[b as usize]
                .partial_cmp(&scores[a as usize])
                .unwrap()
                .then(a.cmp(&b))
        });
        items.truncate(k);
        let (mut hits, mut dcg) = (0.0, 0.0);
        for (i, it) in items.iter().enumerate() {
            if relevant.contains(it) {
                hits += 1.0;
                dcg += 1.0 / (i as f64 + 2.0).log2();
            }
        }
        let ideal = relevant.len().min(k);
        let idcg: f64 = (0..ideal).map(|i| 1.0 / (i as f64 + 2.0).log2()).sum();
        let m = UserMetrics {
            recall: hits / relevant.len() as f64,
            precision: hits / k as f64,
            ndcg: dcg / idcg,
        };
        (items, m)
    }

    /// Tiny deterministic generator so the test needs no dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn hand_computed_example() {
        // Ranked [5, 1, 7, 2]; relevant {1, 2, 9}; K = 4.
        let m = user_metrics(&[5, 1, 7, 2], &[1, 2, 9], 4).unwrap();
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.precision - 0.5).abs() < 1e-12);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((m.ndcg - dcg / idcg).abs() < 1e-12);
    }

    /// Regression (issue: `ndcg_lattice@K` was `dcg_at_k(method=0)` under LATTICE's name):
    /// LATTICE's `ndcg_at_k` is `method=1`, `Σ hitᵢ / log₂(i + 1)`. One relevant item at
    /// rank 2 scores 1/log₂3 ≈ 0.631 there; `method=0` would give 1.
    #[test]
    fn ndcg_is_lattice_method_one_and_no_other_variant_is_reported() {
        let m = user_metrics(&[4, 9, 1], &[9], 3).unwrap();
        assert!((m.ndcg - 1.0 / 3f64.log2()).abs() < 1e-12, "{}", m.ndcg);
        let mut acc = MetricsAccumulator::new(&[20]);
        acc.add(&[4, 9, 1], &[9]);
        let keys: Vec<String> = acc.finish().values.into_keys().collect();
        assert_eq!(keys, ["ndcg@20", "precision@20", "recall@20"]);
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let m = user_metrics(&[3, 4, 8, 0], &[3, 4], 2).unwrap();
        assert_eq!((m.recall, m.precision, m.ndcg), (1.0, 1.0, 1.0));
        assert!(user_metrics(&[1], &[], 10).is_none());
    }

    #[test]
    fn top_k_masks_training_items_and_breaks_ties_by_id() {
        let scores = [0.5, 0.9, 0.9, 0.1, 0.9, f32::NAN];
        assert_eq!(top_k_excluding(&scores, &[2], 3), vec![1, 4, 0]);
        assert_eq!(top_k_excluding(&scores, &[], 10), vec![1, 2, 4, 0, 3, 5]);
        assert_eq!(
            top_k_excluding(&scores, &[0, 1, 2, 3, 4, 5], 3),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn agrees_with_brute_force_on_random_cases() {
        let mut rng = Lcg(42);
        for case in 0..500 {
            let n = 1 + (rng.next() % 60) as usize;
            // Coarse scores to force many ties.
            let scores: Vec<f32> = (0..n).map(|_| (rng.next() % 7) as f32 * 0.25).collect();
            let mut exclude: Vec<u32> = (0..n as u32)
                .filter(|_| rng.next().is_multiple_of(4))
                .collect();
            exclude.dedup();
            let relevant: Vec<u32> = (0..n as u32)
                .filter(|i| !exclude.contains(i) && rng.next().is_multiple_of(5))
                .collect();
            let k = 1 + (rng.next() % 25) as usize;
            let ranked = top_k_excluding(&scores, &exclude, k);
            let (expected_ranked, expected) = brute_force(&scores, &exclude, &relevant, k);
            assert_eq!(ranked, expected_ranked, "case {case}");
            if let Some(m) = user_metrics(&ranked, &relevant, k) {
                for (a, b) in [
                    (m.recall, expected.recall),
                    (m.precision, expected.precision),
                    (m.ndcg, expected.ndcg),
                ] {
                    assert!((a - b).abs() < 1e-6, "case {case}: {a} vs {b}");
                }
            } else {
                assert!(relevant.is_empty());
            }
        }
    }

    #[test]
    fn accumulator_means_and_skips() {
        let mut acc = MetricsAccumulator::new(&[1, 2]);
        acc.add(&[1, 2], &[1]); // recall@1 = 1, recall@2 = 1
        acc.add(&[3, 1], &[1]); // recall@1 = 0, recall@2 = 1
        acc.add(&[3, 1], &[]); // skipped
        let r = acc.finish();
        assert_eq!(r.users_evaluated, 2);
        assert_eq!(r.users_skipped, 1);
        assert!((r.get("recall@1") - 0.5).abs() < 1e-12);
        assert!((r.get("recall@2") - 1.0).abs() < 1e-12);
        assert!((r.get("precision@2") - 0.5).abs() < 1e-12);
        let mut other = MetricsAccumulator::new(&[1, 2]);
        other.add(&[9], &[9]);
        acc.merge(&other);
        assert!((acc.finish().get("recall@1") - 2.0 / 3.0).abs() < 1e-12);
    }
}
