//! The joint loss of one batch (Eq. 11): BPR over (user, positive, negative)
//! triples (Eq. 9), the modality-preservation loss of the decoders (Eq. 8, 10) and
//! L2 on the batch's ego embeddings (or, with `--l2-on final`, on the final user and
//! per-modality item vectors the score is made of).

use std::sync::Arc;

use burn::tensor::{Int, Tensor, activation};
use mario_shared::FusionKind;

use super::{Mario, Params, fuse_and_score};
use crate::config::{DecodeTarget, FusionStage, L2Target, MpNorm};
use crate::sparse;
use crate::tensor::{float_tensor, int_tensor};

/// The terms of the joint loss for one batch.
#[derive(Debug, Clone)]
pub struct LossParts {
    pub total: Tensor<1>,
    pub bpr: Tensor<1>,
    pub mp: Option<Tensor<1>>,
    pub l2: Tensor<1>,
}

impl Mario {
    /// The joint loss (Eq. 11) of one batch of (user, positive, negative) triples.
    pub fn loss(&self, params: &Params, users: &[i64], pos: &[i64], neg: &[i64]) -> LossParts {
        self.loss_over(params, users, pos, neg, &self.bipartite)
    }

    /// [`Self::loss`] with the CF backbone over `graph` (e.g. the training graph with
    /// edges dropped for this step, `--edge-dropout`).
    pub fn loss_over(
        &self,
        params: &Params,
        users: &[i64],
        pos: &[i64],
        neg: &[i64],
        graph: &super::graph::BipartiteGraph,
    ) -> LossParts {
        let emb = self.embeddings_over(params, graph);
        let b = users.len();
        let fused = self.fused.batch
            && self.config.fusion == FusionKind::Attention
            && emb.items.len() <= sparse::MAX_FUSED_MODALITIES;
        let (bpr, l2_sum) = if fused && self.config.l2_on == L2Target::Ego {
            // The default on flex: the batch's gathers fused with what reads them, two
            // operations whose backward adds straight into the tables' gradients.
            let to_u32 = |ids: &[i64]| ids.iter().map(|&i| i as u32).collect::<Vec<_>>();
            let triples = Arc::new(sparse::Triples {
                users: to_u32(users),
                pos: to_u32(pos),
                neg: to_u32(neg),
            });
            // The interaction modality (when scored, last) is read from the CF table, the
            // side modalities from their tables stacked along rows.
            let n_side = emb.n_side;
            let interaction = emb.items.len() > n_side;
            let side = match &emb.side_table {
                _ if n_side == 0 => {
                    // Nothing is read from it; a constant, so no gradient flows to it.
                    Tensor::zeros([1, self.config.dim], &self.device)
                }
                Some(table) => table.clone(),
                None => Tensor::cat(emb.items[..n_side].to_vec(), 0),
            };
            let tables = sparse::ScoreTables {
                n_users: self.n_users,
                n_items: self.n_items,
                side: n_side,
                interaction,
            };
            let diff = sparse::bpr_differences(emb.cf_table.clone(), side, &triples, tables);
            // Eq. 9: BPR, as a batch mean.
            let bpr = activation::log_sigmoid(diff).mean().neg();
            let drawn_items = Arc::new([triples.pos.clone(), triples.neg.clone()].concat());
            let l2_sum =
                sparse::gathered_square_sum(
                    params.get("user_embedding").clone(),
                    &Arc::new(triples.users.clone()),
                ) + sparse::gathered_square_sum(params.get("item_embedding").clone(), &drawn_items);
            (bpr, l2_sum)
        } else {
            let ids = |ids: &[i64]| int_tensor(ids.to_vec(), &self.device);
            let fused = fused && self.fused.attention_scores;
            self.bpr_and_l2_sum(params, &emb, fused, (&ids(users), &ids(pos), &ids(neg)))
        };
        let l2 = l2_sum * (self.config.reg as f32 / (2.0 * b as f32));
        let mut total = bpr.clone() + l2.clone();
        let mut mp = None;
        if self.config.mu > 0.0 && !self.graphs.modalities.is_empty() {
            // Eq. 8 and 10 on the batch's items: mean |vᵐ − ṽᵐ| per modality over the
            // (scaled) feature elements of the 2B positive and negative items, summed
            // (normalisation: `crate::config`). An item drawn c times contributes c times
            // its row error, so each distinct item is decoded once and weighted by c.
            let (unique, counts) = batch_item_counts(pos, neg);
            let n_unique = unique.len();
            let mp_rows = self.fused.mp.then(|| {
                Arc::new(sparse::MpRows {
                    ids: unique.iter().map(|&i| i as u32).collect(),
                    weights: counts.clone(),
                    draws: 2 * b,
                })
            });
            let batch_items = int_tensor(unique, &self.device);
            let weights = float_tensor(counts, [n_unique, 1], &self.device);
            let dims: Vec<usize> = self
                .graphs
                .modalities
                .iter()
                .map(|m| m.features.dims()[1])
                .collect();
            let mean_dim = dims.iter().sum::<usize>() as f32 / dims.len().max(1) as f32;
            let mut sum: Option<Tensor<1>> = None;
            for (idx, m) in self.graphs.modalities.iter().enumerate() {
                let decode_final = (self.config.decode, self.config.fusion_stage)
                    == (DecodeTarget::Final, FusionStage::Late);
                let source = if decode_final {
                    &emb.items[idx]
                } else {
                    &emb.compressed[idx]
                };
                let decoder = params.get(&format!("decode.{}", m.name)).clone();
                let [_, dim] = m.features.dims();
                let err = if let Some(rows) = &mp_rows {
                    // Gather the rows, decode, compare with the feature rows in place,
                    // weight: one op.
                    // The final tables are read in the stack the item graphs made (rows
                    // `first_row..`): the gradient is scattered straight into the stack's
                    // shape, not into an `[I, d]` table that a `narrow`'s backward would
                    // copy into a zeroed stack.
                    let (table, first_row) = match &emb.side_table {
                        Some(stack) if decode_final => (stack, idx * self.n_items),
                        _ => (source, 0),
                    };
                    sparse::mp_loss(table.clone(), decoder, m.features.clone(), rows, first_row)
                } else {
                    let code = source.clone().select(0, batch_items.clone());
                    let decoded = code.matmul(decoder);
                    let target = m.features.clone().select(0, batch_items.clone());
                    let row_error: Tensor<2> = (decoded - target).abs().sum_dim(1);
                    (row_error * weights.clone()).sum() / (2 * b * dim) as f32
                };
                let err = match self.config.mp_norm {
                    MpNorm::Element => err,
                    MpNorm::FeatureSum => err * (dims[idx] as f32 / mean_dim),
                };
                sum = Some(match sum {
                    Some(s) => s + err,
                    None => err,
                });
            }
            if let Some(mp_loss) = sum {
                total = total + mp_loss.clone() * self.config.mu;
                mp = Some(mp_loss);
            }
        }
        LossParts { total, bpr, mp, l2 }
    }

    /// BPR (Eq. 9) and the L2 sum of squares through burn's tensor operations: every
    /// fusion and L2 target, on every device (the reference the fused path is held to).
    fn bpr_and_l2_sum(
        &self,
        params: &Params,
        emb: &super::Embeddings,
        fused: bool,
        (user_ids, pos_ids, neg_ids): (&Tensor<1, Int>, &Tensor<1, Int>, &Tensor<1, Int>),
    ) -> (Tensor<1>, Tensor<1>) {
        let u = emb.users.clone().select(0, user_ids.clone());
        let gather = |ids: &Tensor<1, Int>| {
            emb.items
                .iter()
                .map(|t| t.clone().select(0, ids.clone()))
                .collect::<Vec<_>>()
        };
        let fc = self.fc_params(params);
        let score = |items: Vec<Tensor<2>>, u: Tensor<2>| -> Tensor<1> {
            if fused {
                // One pass with its own backward instead of ~15 tensor ops each way.
                sparse::attention_scores(u, Tensor::stack(items, 1))
            } else {
                fuse_and_score(u, items, self.config.fusion, fc.clone()).0
            }
        };
        // Every modality's vectors of the batch's items, gathered once (scores and L2).
        let (pos_items, neg_items) = (gather(pos_ids), gather(neg_ids));
        let pos_score = score(pos_items.clone(), u.clone());
        let neg_score = score(neg_items.clone(), u.clone());
        // Eq. 9: BPR, as a batch mean.
        let bpr = activation::log_sigmoid(pos_score - neg_score).mean().neg();
        // L2 on the batch's ego embeddings, or on the final ones the score is made of.
        let squares = |t: Tensor<2>| t.powf_scalar(2.0).sum();
        let l2_sum = match self.config.l2_on {
            L2Target::Ego => {
                let items = params.get("item_embedding");
                squares(
                    params
                        .get("user_embedding")
                        .clone()
                        .select(0, user_ids.clone()),
                ) + squares(items.clone().select(0, pos_ids.clone()))
                    + squares(items.clone().select(0, neg_ids.clone()))
            }
            L2Target::Final => pos_items
                .into_iter()
                .chain(neg_items)
                .fold(squares(u), |acc, t| acc + squares(t)),
        };
        (bpr, l2_sum)
    }
}

/// The distinct items of a batch's positives and negatives, ascending, with how
/// often each occurs (as `f32` weights).
fn batch_item_counts(pos: &[i64], neg: &[i64]) -> (Vec<i64>, Vec<f32>) {
    let mut all: Vec<i64> = pos.iter().chain(neg).copied().collect();
    all.sort_unstable();
    let mut unique = Vec::new();
    let mut counts: Vec<f32> = Vec::new();
    for item in all {
        if unique.last() == Some(&item) {
            *counts.last_mut().expect("a count per item") += 1.0;
        } else {
            unique.push(item);
            counts.push(1.0);
        }
    }
    (unique, counts)
}
