//! Full ranking at the limit of the hardware: the top-K items of many users without
//! materialising a users × items × modalities tensor.
//!
//! Users are taken in tiles and items in blocks. For each (tile, block) the
//! per-modality affinities `u·v̄ᵐ` are one small matrix product per modality (kept in
//! cache), then every (user, item) pair is finished in registers:
//!
//! 1. **Threshold reject.** Attention weights are a convex combination, so the score
//!    `Σₘ aᵐsᵐ` (Eq. 7, `sᵐ = u·v̄ᵐ`) is `max s − Σₘ aᵐδᵐ` with `δᵐ = max s − sᵐ ≥ 0`,
//!    and as `aᵐ ≥ e^{−δᵐ/√d} / M ≥ (1 − δᵐ/√d) / M` it is at most
//!    `max s − Σₘ max(0, δᵐ(1 − δᵐ/√d)) / M` (shrunk by 0.1 % against rounding): near
//!    the score when the affinities are close, where `max s` alone is loose. An item
//!    whose bound is below the user's current K-th best score cannot enter and is
//!    skipped before any `exp` (on `demo` 10 % of the pairs are scored instead of
//!    35–42 % with `max s`).
//! 2. **Mask.** Training items are skipped with a cursor over the user's sorted list.
//! 3. **Score** with [`crate::attention::attention_score`] (Eq. 5–7) and offer it to a
//!    bounded [`crate::metrics::TopK`] (ties to the lower id).
//!
//! The fusion ablations reduce to one fused table per item (`mean`, `max`, `fc` do
//! not depend on the user), scored by a single dot product.
//!
//! Natively the products go through the `gemm` crate (runtime-selected SIMD) and
//! user tiles run in parallel with rayon; on wasm32 the same code runs with plain
//! loops on one thread. Results do not depend on the thread count.

use std::borrow::Cow;

use crate::attention::attention_score;
use crate::matmul::matmul_abt;
use crate::metrics::TopK;
use crate::weights::{FusionKind, ModelWeights};

/// Users per tile (one rayon task natively).
const USER_TILE: usize = 64;
/// Items per block: `M × USER_TILE × ITEM_BLOCK` affinities stay in L2.
const ITEM_BLOCK: usize = 512;
/// Items tested against the threshold at once before looking at any one of them.
const REJECT_CHUNK: usize = 16;

/// A lower bound on `aᵐδᵐ·M` for a modality whose affinity is `delta` below the
/// largest (`scale` = 1/√d): `δ·max(0, 1 − δ/√d)`, since `aᵐ ≥ e^{−δ/√d} / M`.
#[inline(always)]
fn bound_penalty(delta: f32, scale: f32) -> f32 {
    (delta * (1.0 - delta * scale)).max(0.0)
}

/// How scores are formed from the item tables.
#[derive(Debug, Clone)]
enum Tables<'a> {
    /// Eq. 5–7: one `[I, d]` table per modality, borrowed from a weights file or owned.
    Attention(Vec<Cow<'a, [f32]>>),
    /// One fused `[I, d]` table; the score is `u·f`.
    Fused(Vec<f32>),
}

/// Item embeddings prepared for full ranking. The attention tables are borrowed when
/// they come from a [`ModelWeights`] (nothing is copied per query) and owned otherwise.
#[derive(Debug, Clone)]
pub struct RankingModel<'a> {
    d: usize,
    n_items: usize,
    tables: Tables<'a>,
}

impl<'a> RankingModel<'a> {
    /// From per-modality `[n_items, d]` tables (row-major, `Vec<f32>` or `&[f32]`) and
    /// the fusion. `fc` is `(weight [M·d, d], bias [d])` for [`FusionKind::Fc`].
    pub fn new<T: Into<Cow<'a, [f32]>>>(
        d: usize,
        n_items: usize,
        tables: Vec<T>,
        fusion: FusionKind,
        fc: Option<(&[f32], &[f32])>,
    ) -> Self {
        let tables: Vec<Cow<'a, [f32]>> = tables.into_iter().map(Into::into).collect();
        assert!(!tables.is_empty(), "ranking needs at least one modality");
        for t in &tables {
            assert_eq!(t.len(), n_items * d, "an item table is not n_items × d");
        }
        let m_count = tables.len();
        let tables = match fusion {
            FusionKind::Attention => Tables::Attention(tables),
            FusionKind::Mean => {
                let mut fused = vec![0f32; n_items * d];
                for t in &tables {
                    for (f, &v) in fused.iter_mut().zip(t.iter()) {
                        *f += v;
                    }
                }
                let inv = 1.0 / m_count as f32;
                fused.iter_mut().for_each(|f| *f *= inv);
                Tables::Fused(fused)
            }
            FusionKind::Max => {
                let mut fused = tables[0].to_vec();
                for t in &tables[1..] {
                    for (f, &v) in fused.iter_mut().zip(t.iter()) {
                        *f = f.max(v);
                    }
                }
                Tables::Fused(fused)
            }
            FusionKind::Fc => {
                let (w, b) = fc.expect("fc fusion needs its weights");
                assert_eq!(w.len(), m_count * d * d, "fc weight is not [M·d, d]");
                let mut fused = Vec::with_capacity(n_items * d);
                for j in 0..n_items {
                    let mut row = b.to_vec();
                    for (m, t) in tables.iter().enumerate() {
                        for (r, &v) in t[j * d..(j + 1) * d].iter().enumerate() {
                            let w_row = &w[(m * d + r) * d..(m * d + r + 1) * d];
                            for (o, &wk) in row.iter_mut().zip(w_row) {
                                *o += v * wk;
                            }
                        }
                    }
                    fused.extend(row);
                }
                Tables::Fused(fused)
            }
        };
        Self { d, n_items, tables }
    }

    /// From a weights file, borrowing its item tables.
    pub fn from_weights(w: &'a ModelWeights) -> Self {
        let fc = w
            .fusion_fc
            .as_ref()
            .map(|(weight, bias)| (weight.as_slice(), bias.as_slice()));
        Self::new(
            w.meta.d,
            w.meta.n_items,
            w.item_embedding.iter().map(Vec::as_slice).collect(),
            w.meta.fusion,
            fc,
        )
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The top-`k` (item, score) of each user, best first. `users` is `[n, d]`
    /// row-major; `exclude(i)` gives user row `i`'s excluded items, sorted ascending.
    pub fn top_k<'e>(
        &self,
        users: &[f32],
        exclude: impl Fn(usize) -> &'e [u32] + Sync,
        k: usize,
    ) -> Vec<Vec<(u32, f32)>> {
        let d = self.d;
        assert_eq!(users.len() % d.max(1), 0, "users is not n × d");
        let n_users = users.len() / d.max(1);
        let tiles: Vec<(usize, &[f32])> = users
            .chunks(USER_TILE * d)
            .enumerate()
            .map(|(t, u)| (t * USER_TILE, u))
            .collect();
        let rank_tile = |&(first, tile): &(usize, &[f32])| -> Vec<Vec<(u32, f32)>> {
            let excludes: Vec<&[u32]> = (0..tile.len() / d).map(|i| exclude(first + i)).collect();
            self.rank_tile(tile, &excludes, k)
        };
        #[cfg(not(target_arch = "wasm32"))]
        let ranked: Vec<Vec<Vec<(u32, f32)>>> = {
            use rayon::prelude::*;
            tiles.par_iter().map(rank_tile).collect()
        };
        #[cfg(target_arch = "wasm32")]
        let ranked: Vec<Vec<Vec<(u32, f32)>>> = tiles.iter().map(rank_tile).collect();
        let out: Vec<Vec<(u32, f32)>> = ranked.into_iter().flatten().collect();
        debug_assert_eq!(out.len(), n_users);
        out
    }

    fn rank_tile(&self, users: &[f32], excludes: &[&[u32]], k: usize) -> Vec<Vec<(u32, f32)>> {
        let d = self.d;
        let t = users.len() / d;
        let mut tops: Vec<TopK> = (0..t).map(|_| TopK::new(k)).collect();
        let mut cursors = vec![0usize; t];
        let scale = 1.0 / (d as f32).sqrt();
        let tables: Vec<&[f32]> = match &self.tables {
            Tables::Attention(tables) => tables.iter().map(|t| &**t).collect(),
            Tables::Fused(fused) => vec![fused.as_slice()],
        };
        let attention = matches!(self.tables, Tables::Attention(_));
        let m_count = tables.len();
        let mut aff = vec![0f32; m_count * t * ITEM_BLOCK];
        let mut bound = vec![0f32; ITEM_BLOCK];
        let mut penalty = vec![0f32; ITEM_BLOCK];
        let shrink = 0.999 / m_count as f32;
        let mut pair = vec![0f32; m_count];
        let mut start = 0;
        while start < self.n_items {
            let nb = ITEM_BLOCK.min(self.n_items - start);
            for (m, table) in tables.iter().enumerate() {
                let block = &table[start * d..(start + nb) * d];
                matmul_abt(
                    users,
                    block,
                    t,
                    nb,
                    d,
                    &mut aff[m * t * nb..(m + 1) * t * nb],
                );
            }
            for u in 0..t {
                let row = |m: usize| &aff[(m * t + u) * nb..(m * t + u + 1) * nb];
                // The bound maxₘ u·v̄ᵐ of every item of the block, one vectorisable pass
                // per modality (f32::max skips NaN; an all-NaN item keeps NaN, which
                // passes the test below and is ranked last by TopK).
                let bound = &mut bound[..nb];
                bound.copy_from_slice(row(0));
                for m in 1..m_count {
                    for (b, &a) in bound.iter_mut().zip(row(m)) {
                        *b = b.max(a);
                    }
                }
                if attention && m_count > 1 {
                    // Tighter: the score is maxₘ sᵐ − Σₘ aᵐδᵐ (δᵐ = max − sᵐ ≥ 0), and
                    // aᵐ = e^{−δᵐ/√d} / Z ≥ (1 − δᵐ/√d) / M (Z ≤ M, eˣ ≥ 1 + x): subtract
                    // Σₘ max(0, δᵐ(1 − δᵐ/√d)) / M, shrunk by 0.1 % against rounding.
                    let penalty = &mut penalty[..nb];
                    penalty.fill(0.0);
                    for m in 0..m_count {
                        for (p, (&b, &a)) in penalty.iter_mut().zip(bound.iter().zip(row(m))) {
                            *p += bound_penalty(b - a, scale);
                        }
                    }
                    for (b, &p) in bound.iter_mut().zip(penalty.iter()) {
                        *b -= p * shrink;
                    }
                }
                let top = &mut tops[u];
                let exclude = excludes[u];
                let cursor = &mut cursors[u];
                let mut threshold = top.threshold();
                for (chunk_index, chunk) in bound.chunks(REJECT_CHUNK).enumerate() {
                    // Most chunks hold no candidate once the top-K is full: one
                    // branch-free test for the whole chunk.
                    if chunk
                        .iter()
                        .fold(true, |all_below, &b| all_below & (b < threshold))
                    {
                        continue;
                    }
                    for (offset, &b) in chunk.iter().enumerate() {
                        if b < threshold {
                            continue;
                        }
                        let j = chunk_index * REJECT_CHUNK + offset;
                        let item = (start + j) as u32;
                        while *cursor < exclude.len() && exclude[*cursor] < item {
                            *cursor += 1;
                        }
                        if exclude.get(*cursor) == Some(&item) {
                            continue;
                        }
                        let score = if attention {
                            for (m, p) in pair.iter_mut().enumerate() {
                                *p = row(m)[j];
                            }
                            attention_score(&pair, scale)
                        } else {
                            row(0)[j]
                        };
                        top.offer(item, score);
                        threshold = top.threshold();
                    }
                }
            }
            start += nb;
        }
        tops.into_iter().map(TopK::into_sorted).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::top_k_with_scores;
    use crate::scorer::Scorer;
    use crate::weights::StorageDtype;
    use crate::weights::fixtures::tiny_model;

    const MODS: &[&str] = &["visual", "textual", "interaction"];

    /// Every fusion: the tiled top-K equals a full score-then-select with the
    /// reference scorer (same items in the same order, scores within float noise).
    #[test]
    fn tiled_top_k_matches_reference_scorer_for_every_fusion() {
        for fusion in [
            FusionKind::Attention,
            FusionKind::Mean,
            FusionKind::Max,
            FusionKind::Fc,
        ] {
            // More items than one block and more users than one tile.
            let mut w = tiny_model(70, 1300, 8, MODS, StorageDtype::F32, 11);
            w.meta.fusion = fusion;
            if fusion == FusionKind::Fc {
                let weight = (0..3 * 8 * 8).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5);
                w.fusion_fc = Some((weight.collect(), vec![0.1; 8]));
            }
            let model = RankingModel::from_weights(&w);
            let scorer = Scorer::new(&w);
            let ranked = model.top_k(&w.user_embedding, |u| w.train_items(u), 20);
            assert_eq!(ranked.len(), 70);
            for (u, got) in ranked.iter().enumerate() {
                let scores = scorer.score_all(w.user_vector(u).unwrap());
                let want = top_k_with_scores(&scores, w.train_items(u), 20);
                assert_eq!(got.len(), want.len());
                for (g, e) in got.iter().zip(&want) {
                    assert!(
                        (g.1 - e.1).abs() < 1e-4,
                        "{fusion:?} user {u}: {g:?} vs {e:?}"
                    );
                }
                let got_items: Vec<u32> = got.iter().map(|g| g.0).collect();
                let want_items: Vec<u32> = want.iter().map(|e| e.0).collect();
                assert_eq!(got_items, want_items, "{fusion:?} user {u}");
                for item in &got_items {
                    assert!(
                        w.train_items(u).binary_search(item).is_err(),
                        "training item ranked"
                    );
                }
            }
        }
    }

    /// The reject bound `max s − 0.999 · Σₘ penalty(max s − sᵐ) / M` is never below
    /// Eq. 5–7's score, over spreads from far below to far above √d and 2–5 modalities,
    /// and is much tighter than `max s` where the spread is small.
    #[test]
    fn reject_bound_is_never_below_the_attention_score() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        // Over spreads below √d: how much of the gap between max s and the score the
        // bound closes.
        let (mut closed, mut gap) = (0f64, 0f64);
        for d in [8usize, 64, 256] {
            let scale = 1.0 / (d as f32).sqrt();
            for spread in [0.01f32, 0.3, 3.0, 30.0, 300.0] {
                for m in 2..=5 {
                    for _ in 0..400 {
                        let s: Vec<f32> = (0..m).map(|_| (uniform() - 0.5) * spread).collect();
                        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let penalty: f32 = s.iter().map(|&x| bound_penalty(max - x, scale)).sum();
                        let bound = max - penalty * 0.999 / m as f32;
                        let score = attention_score(&s, scale);
                        assert!(
                            score <= bound,
                            "d {d}, s {s:?}: score {score} > bound {bound}"
                        );
                        if spread * scale < 1.0 {
                            closed += f64::from(max - bound);
                            gap += f64::from(max - score);
                        }
                    }
                }
            }
        }
        // Where affinities differ by less than √d the weights are nearly uniform and
        // the bound nearly the score (max s alone would close none of the gap).
        assert!(
            closed > 0.8 * gap,
            "the bound closes {closed} of a gap of {gap}"
        );
    }

    #[test]
    fn ties_go_to_the_lower_item_id_and_k_larger_than_candidates() {
        // Two modalities of identical constant tables: every item scores the same.
        let d = 4;
        let n = 600;
        let tables = vec![vec![0.5f32; n * d], vec![0.5f32; n * d]];
        let model = RankingModel::new(d, n, tables, FusionKind::Attention, None);
        let users = vec![1.0f32; d];
        let excluded = [0u32, 2, 3];
        let ranked = model.top_k(&users, |_| &excluded[..], 5);
        let items: Vec<u32> = ranked[0].iter().map(|r| r.0).collect();
        assert_eq!(items, vec![1, 4, 5, 6, 7]);
        let all = model.top_k(&users, |_| &excluded[..], n + 10);
        assert_eq!(all[0].len(), n - excluded.len());
    }
}
