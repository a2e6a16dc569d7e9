//! The MARIO model in burn (paper §4), one function per component:
//!
//! | paper | here |
//! |---|---|
//! | Eq. 1 compression `v̄ᵐ = vᵐWᵐ` | [`Mario::modality_embeddings`] |
//! | Eq. 2 kNN graphs `Aᵐ` (raw features, fixed) and `Āᵐ` (compressed, refreshed) | [`ItemGraphs`], [`crate::model::graph::knn_cosine`] |
//! | Eq. 3 `Gᵐ = λAᵐ + (1−λ)Āᵐ`, Eq. 4 `D^{-1/2}GD^{-1/2}` and L GCN layers | [`Mario::modality_embeddings`] |
//! | CF backbone (LightGCN / BPRMF / NGCF): users and the interaction modality | [`Mario::cf_embeddings`] |
//! | Eq. 5 attention, Eq. 6 personalised item, Eq. 7 score | [`fuse_and_score`] |
//! | Eq. 8 decoders, Eq. 10 MP loss | [`Mario::loss`] |
//! | Eq. 9 BPR, Eq. 11 joint loss | [`Mario::loss`] |
//!
//! Parameters are plain tensors held by [`Params`]; [`crate::train::optimizer`] updates them
//! with burn's Adam. The forward pass runs on any burn device: with autodiff leaves
//! for training, without for evaluation and export.

use burn::tensor::{Device, Int, Tensor, activation};
use mario_data::Dataset;
use mario_shared::FusionKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{CfBackbone, DecodeTarget, FeatureScaling, FusionStage, TrainConfig};
pub mod graph;

use self::graph::{
    BipartiteGraph, aggregate, float_tensor, int_tensor, knn_cosine, l2_normalize_rows,
};
use crate::sparse::{self, FanIndex};
use std::sync::Arc;

pub const INTERACTION: &str = mario_shared::weights::INTERACTION;

/// A named trainable tensor.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Tensor<2>,
}

/// All trainable tensors, in a fixed order (the checkpoint order).
#[derive(Debug, Clone)]
pub struct Params {
    pub list: Vec<Param>,
}

impl Params {
    pub fn get(&self, name: &str) -> &Tensor<2> {
        &self
            .list
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .value
    }

    /// Leaves that require gradients, for one training step.
    pub fn to_autodiff(&self) -> Params {
        Params {
            list: self
                .list
                .iter()
                .map(|p| Param {
                    name: p.name.clone(),
                    value: p.value.clone().autodiff().require_grad(),
                })
                .collect(),
        }
    }

    pub fn count(&self) -> usize {
        self.list
            .iter()
            .map(|p| p.value.dims().iter().product::<usize>())
            .sum()
    }
}

/// Xavier-uniform initialisation, drawn on the CPU from the run's seed so that
/// every backend starts from identical weights.
fn xavier(rng: &mut ChaCha8Rng, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let bound = (6.0 / (rows + cols) as f32).sqrt();
    let values = (0..rows * cols)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    float_tensor(values, [rows, cols], device)
}

/// Features of one modality (`n × dim`, row-major) scaled as `scaling` says.
pub fn scale_features(values: &[f32], dim: usize, scaling: FeatureScaling) -> Vec<f32> {
    match scaling {
        FeatureScaling::None => values.to_vec(),
        FeatureScaling::UnitNorm => {
            let rows = values.len() / dim.max(1);
            let total: f64 = values
                .chunks_exact(dim.max(1))
                .map(|row| {
                    row.iter()
                        .map(|&x| f64::from(x) * f64::from(x))
                        .sum::<f64>()
                        .sqrt()
                })
                .sum();
            let mean_norm = total / rows.max(1) as f64;
            if mean_norm > 0.0 {
                values
                    .iter()
                    .map(|&x| (f64::from(x) / mean_norm) as f32)
                    .collect()
            } else {
                values.to_vec()
            }
        }
    }
}

/// One side modality: its features and its fixed raw-feature kNN graph `Aᵐ`.
#[derive(Debug, Clone)]
pub struct SideModality {
    pub name: String,
    /// `[I, dₘ]`, after [`FeatureScaling`].
    pub features: Tensor<2>,
    /// Neighbours of `Aᵐ` (`[I·k]`) and λ-weighted cosines `λ·sᵐ` (`[I, k]`).
    pub raw_ids: Vec<i64>,
    pub raw_weight: Tensor<2>,
    /// Current neighbours of the learnt graph `Āᵐ` (`[I·k]`).
    pub learnt_ids: Vec<i64>,
    /// `learnt_ids` on the device.
    pub learnt: Tensor<1, Int>,
    /// `raw_ids ++ learnt_ids` as one `[I·2k]` index tensor, row-interleaved per item.
    pub all_ids: Tensor<1, Int>,
    /// The same two graphs for the sparse operations (flex): `learnt_ids` and `all_ids`.
    pub learnt_index: Arc<FanIndex>,
    pub all_index: Arc<FanIndex>,
}

/// Item-item graph state of all side modalities.
#[derive(Debug, Clone)]
pub struct ItemGraphs {
    pub modalities: Vec<SideModality>,
}

/// Everything the forward pass produces for all users and items.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// `[U, d]`.
    pub users: Tensor<2>,
    /// One `[I, d]` table per scored modality (side modalities, then `interaction`).
    pub items: Vec<Tensor<2>>,
    /// Compressed (pre-GCN) side-modality embeddings, for `--decode compressed`.
    pub compressed: Vec<Tensor<2>>,
}

/// The MARIO model: configuration, fixed data on the device, and parameters.
#[derive(Debug, Clone)]
pub struct Mario {
    pub config: TrainConfig,
    pub n_users: usize,
    pub n_items: usize,
    pub graphs: ItemGraphs,
    pub bipartite: BipartiteGraph,
    /// Whether the CF interaction modality is scored.
    pub use_interaction: bool,
    pub device: Device,
    /// Whether graph products run as [`crate::sparse`] operations (flex) instead of
    /// the dense reference path (wgpu).
    pub sparse: bool,
}

impl Mario {
    /// Builds the fixed graphs and draws initial parameters.
    pub fn new(
        dataset: &Dataset,
        config: &TrainConfig,
        device: &Device,
    ) -> anyhow::Result<(Self, Params)> {
        let wanted = &config.modalities;
        let available: Vec<String> = dataset.modality_names();
        for name in wanted {
            if !available.contains(name) {
                anyhow::bail!(
                    "--modalities names `{name}`, but the dataset has {}",
                    available.join(", ")
                );
            }
        }
        let keep = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
        let use_interaction = keep(INTERACTION);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let d = config.dim;
        let mut list = vec![
            Param {
                name: "user_embedding".into(),
                value: xavier(&mut rng, dataset.n_users, d, device),
            },
            Param {
                name: "item_embedding".into(),
                value: xavier(&mut rng, dataset.n_items, d, device),
            },
        ];
        let mut modalities = Vec::new();
        for m in dataset.modalities.iter().filter(|m| keep(&m.name)) {
            let values = scale_features(&m.features, m.dim, config.feature_scaling);
            let features = float_tensor(values, [dataset.n_items, m.dim], device);
            let (raw_ids, raw_sims) = knn_cosine(features.clone(), config.knn_k);
            let k = raw_ids.len() / dataset.n_items;
            let raw_weight = float_tensor(
                raw_sims
                    .iter()
                    .map(|s| config.lambda * s.max(0.0))
                    .collect(),
                [dataset.n_items, k],
                device,
            );
            list.push(Param {
                name: format!("compress.{}", m.name),
                value: xavier(&mut rng, m.dim, d, device),
            });
            list.push(Param {
                name: format!("decode.{}", m.name),
                value: xavier(&mut rng, d, m.dim, device),
            });
            modalities.push(SideModality {
                name: m.name.clone(),
                features,
                learnt_ids: raw_ids.clone(),
                learnt: int_tensor(Vec::new(), device),
                all_ids: int_tensor(Vec::new(), device),
                learnt_index: Arc::new(FanIndex::new(Vec::new(), 0, 0)),
                all_index: Arc::new(FanIndex::new(Vec::new(), 0, 0)),
                raw_ids,
                raw_weight,
            });
        }
        if modalities.is_empty() && !use_interaction {
            anyhow::bail!(
                "--modalities selects nothing: name at least one of {}",
                available.join(", ")
            );
        }
        if config.cf == CfBackbone::Ngcf {
            for l in 0..config.cf_layers {
                list.push(Param {
                    name: format!("ngcf.w1.{l}"),
                    value: xavier(&mut rng, d, d, device),
                });
                list.push(Param {
                    name: format!("ngcf.w2.{l}"),
                    value: xavier(&mut rng, d, d, device),
                });
            }
        }
        let n_scored = modalities.len() + usize::from(use_interaction);
        if config.fusion == FusionKind::Fc {
            list.push(Param {
                name: "fusion.fc.weight".into(),
                value: xavier(&mut rng, n_scored * d, d, device),
            });
            list.push(Param {
                name: "fusion.fc.bias".into(),
                value: Tensor::zeros([1, d], device),
            });
        }
        let mut model = Self {
            config: config.clone(),
            n_users: dataset.n_users,
            n_items: dataset.n_items,
            graphs: ItemGraphs { modalities },
            bipartite: BipartiteGraph::new(&dataset.train, dataset.n_items, device),
            use_interaction,
            device: device.clone(),
            sparse: sparse::supported(device),
        };
        let params = Params { list };
        model.refresh_learnt_graphs(&params);
        Ok((model, params))
    }

    /// Names of the scored modalities, in embedding order.
    pub fn modality_names(&self) -> Vec<String> {
        if self.config.fusion_stage == FusionStage::Early {
            return vec![INTERACTION.to_string()];
        }
        let mut names: Vec<String> = self
            .graphs
            .modalities
            .iter()
            .map(|m| m.name.clone())
            .collect();
        if self.use_interaction {
            names.push(INTERACTION.to_string());
        }
        names
    }

    /// Recomputes the neighbour sets of every learnt graph `Āᵐ` from the current
    /// compressed embeddings (Eq. 2, right).
    pub fn refresh_learnt_graphs(&mut self, params: &Params) {
        let k = self.config.knn_k;
        for m in &mut self.graphs.modalities {
            let compressed = m
                .features
                .clone()
                .matmul(params.get(&format!("compress.{}", m.name)).clone().inner());
            m.learnt_ids = knn_cosine(compressed.inner(), k).0;
        }
        self.rebuild_index_tensors();
    }

    /// The learnt graphs' current neighbour ids, by modality.
    pub fn learnt_ids(&self) -> Vec<(String, Vec<i64>)> {
        self.graphs
            .modalities
            .iter()
            .map(|m| (m.name.clone(), m.learnt_ids.clone()))
            .collect()
    }

    /// Restores neighbour ids saved by [`Mario::learnt_ids`].
    pub fn set_learnt_ids(&mut self, saved: &[(String, Vec<i64>)]) {
        for (name, ids) in saved {
            if let Some(m) = self.graphs.modalities.iter_mut().find(|m| &m.name == name) {
                m.learnt_ids = ids.clone();
            }
        }
        self.rebuild_index_tensors();
    }

    /// Uploads the neighbour-id tensors after `learnt_ids` changed.
    pub fn rebuild_index_tensors(&mut self) {
        for m in &mut self.graphs.modalities {
            let k_raw = m.raw_ids.len() / self.n_items;
            let k_learnt = m.learnt_ids.len() / self.n_items;
            let mut all = Vec::with_capacity(m.raw_ids.len() + m.learnt_ids.len());
            for j in 0..self.n_items {
                all.extend_from_slice(&m.raw_ids[j * k_raw..(j + 1) * k_raw]);
                all.extend_from_slice(&m.learnt_ids[j * k_learnt..(j + 1) * k_learnt]);
            }
            let to_u32 = |ids: &[i64]| ids.iter().map(|&i| i as u32).collect::<Vec<_>>();
            m.all_index = Arc::new(FanIndex::new(to_u32(&all), self.n_items, self.n_items));
            m.learnt_index = Arc::new(FanIndex::new(
                to_u32(&m.learnt_ids),
                self.n_items,
                self.n_items,
            ));
            m.all_ids = int_tensor(all, &self.device);
            m.learnt = int_tensor(m.learnt_ids.clone(), &self.device);
        }
    }

    /// Side-modality embeddings: compression (Eq. 1), the mixed normalised graph
    /// (Eq. 2–4) and L GCN layers. Returns (final, compressed) per side modality.
    pub fn modality_embeddings(&self, params: &Params) -> (Vec<Tensor<2>>, Vec<Tensor<2>>) {
        let lambda = self.config.lambda;
        let mut finals = Vec::new();
        let mut compressed_all = Vec::new();
        for m in &self.graphs.modalities {
            let weight = params.get(&format!("compress.{}", m.name)).clone();
            let compressed = if self.sparse {
                sparse::compress(m.features.clone(), weight)
            } else {
                m.features.clone().matmul(weight)
            };
            let k_learnt = m.learnt_ids.len() / self.n_items;
            // Āᵐ edge weights: cosine of compressed embeddings, differentiable.
            let normed = l2_normalize_rows(compressed.clone());
            let cos: Tensor<2> = if self.sparse {
                sparse::fan_self_dots(normed, &m.learnt_index)
            } else {
                let neighbours = aggregate_rows(normed.clone(), &m.learnt, self.n_items, k_learnt);
                (neighbours * normed.unsqueeze_dim::<3>(1))
                    .sum_dim(2)
                    .squeeze_dim(2)
            };
            let learnt_weight = activation::relu(cos) * (1.0 - lambda);
            // Gᵐ = λAᵐ + (1−λ)Āᵐ over the union of both neighbour sets (Eq. 3).
            let weight = Tensor::cat(vec![m.raw_weight.clone(), learnt_weight], 1);
            let fan = weight.dims()[1];
            // Eq. 4: Ḡ = D^{-1/2} G D^{-1/2}, D = row sums.
            let inv_sqrt_degree = weight.clone().sum_dim(1).clamp_min(1e-12).powf_scalar(-0.5);
            let neighbour_norm: Tensor<2> = inv_sqrt_degree
                .clone()
                .select(0, m.all_ids.clone())
                .reshape([self.n_items, fan]);
            let normalised = weight * inv_sqrt_degree * neighbour_norm;
            let mut h = compressed.clone();
            for _ in 0..self.config.item_layers {
                h = if self.sparse {
                    sparse::fan_weighted_sum(h, normalised.clone(), &m.all_index)
                } else {
                    aggregate(h, &m.all_ids, normalised.clone())
                };
            }
            finals.push(h);
            compressed_all.push(compressed);
        }
        (finals, compressed_all)
    }

    /// The CF backbone over the user-item graph: (users `[U, d]`, items `[I, d]`).
    /// `extra_item` is added to the ego item embeddings first (early fusion only).
    pub fn cf_embeddings(
        &self,
        params: &Params,
        extra_item: Option<Tensor<2>>,
    ) -> (Tensor<2>, Tensor<2>) {
        let users = params.get("user_embedding").clone();
        let mut items = params.get("item_embedding").clone();
        if let Some(extra) = extra_item {
            items = items + extra;
        }
        let ego = Tensor::cat(vec![users, items], 0);
        let out = match self.config.cf {
            CfBackbone::Bprmf => ego,
            CfBackbone::Lightgcn => {
                // Mean of layer outputs 0..=L (LightGCN's readout).
                let mut sum = ego.clone();
                let mut h = ego;
                for _ in 0..self.config.cf_layers {
                    h = self.bipartite.propagate(h);
                    sum = sum + h.clone();
                }
                sum / (self.config.cf_layers as f32 + 1.0)
            }
            CfBackbone::Ngcf => {
                // NGCF: e' = LeakyReLU((Âe + e)W₁ + (Âe ⊙ e)W₂), L2-normalised per
                // layer; readout is the mean of the layers (not the concatenation) so
                // that the interaction modality lives in the same d-space as the others.
                let mut sum = ego.clone();
                let mut h = ego;
                for l in 0..self.config.cf_layers {
                    let side = self.bipartite.propagate(h.clone());
                    let sum_part = (side.clone() + h.clone())
                        .matmul(params.get(&format!("ngcf.w1.{l}")).clone());
                    let bi_part = (side * h).matmul(params.get(&format!("ngcf.w2.{l}")).clone());
                    h = activation::leaky_relu(sum_part + bi_part, 0.2);
                    sum = sum + l2_normalize_rows(h.clone());
                }
                sum / (self.config.cf_layers as f32 + 1.0)
            }
        };
        let users = out.clone().narrow(0, 0, self.n_users);
        let items = out.narrow(0, self.n_users, self.n_items);
        (users, items)
    }

    /// The full forward pass for all users and items.
    pub fn embeddings(&self, params: &Params) -> Embeddings {
        let (side, compressed) = self.modality_embeddings(params);
        if self.config.fusion_stage == FusionStage::Early {
            let extra = side.into_iter().reduce(|a, b| a + b);
            let (users, items) = self.cf_embeddings(params, extra);
            return Embeddings {
                users,
                items: vec![items],
                compressed,
            };
        }
        let (users, cf_items) = self.cf_embeddings(params, None);
        let mut items = side;
        if self.use_interaction {
            items.push(cf_items);
        }
        Embeddings {
            users,
            items,
            compressed,
        }
    }

    /// The joint loss (Eq. 11) of one batch of (user, positive, negative) triples.
    pub fn loss(&self, params: &Params, users: &[i64], pos: &[i64], neg: &[i64]) -> LossParts {
        let emb = self.embeddings(params);
        let b = users.len();
        let user_ids = int_tensor(users.to_vec(), &self.device);
        let pos_ids = int_tensor(pos.to_vec(), &self.device);
        let neg_ids = int_tensor(neg.to_vec(), &self.device);
        let u = emb.users.clone().select(0, user_ids.clone());
        let gather = |ids: &Tensor<1, Int>| {
            emb.items
                .iter()
                .map(|t| t.clone().select(0, ids.clone()))
                .collect::<Vec<_>>()
        };
        let fc = self.fc_params(params);
        let fused = self.sparse
            && self.config.fusion == FusionKind::Attention
            && emb.items.len() <= sparse::MAX_FUSED_MODALITIES;
        let score = |ids: &Tensor<1, Int>, u: Tensor<2>| -> Tensor<1> {
            if fused {
                // One pass with its own backward instead of ~15 tensor ops each way.
                sparse::attention_scores(u, Tensor::stack(gather(ids), 1))
            } else {
                fuse_and_score(u, gather(ids), self.config.fusion, fc.clone()).0
            }
        };
        let pos_score = score(&pos_ids, u.clone());
        let neg_score = score(&neg_ids, u);
        // Eq. 9: BPR, as a batch mean.
        let bpr = activation::log_sigmoid(pos_score - neg_score).mean().neg();
        // L2 on the batch's ego embeddings.
        let ego_u = params.get("user_embedding").clone().select(0, user_ids);
        let ego_p = params
            .get("item_embedding")
            .clone()
            .select(0, pos_ids.clone());
        let ego_n = params
            .get("item_embedding")
            .clone()
            .select(0, neg_ids.clone());
        let l2 = (ego_u.powf_scalar(2.0).sum()
            + ego_p.powf_scalar(2.0).sum()
            + ego_n.powf_scalar(2.0).sum())
            * (self.config.reg as f32 / (2.0 * b as f32));
        let mut total = bpr.clone() + l2.clone();
        let mut mp = None;
        if self.config.mu > 0.0 && !self.graphs.modalities.is_empty() {
            // Eq. 8 and 10 on the batch's items: mean |vᵐ − ṽᵐ| per modality over the
            // (scaled) feature elements of the 2B positive and negative items, summed
            // (normalisation: `crate::config`). An item drawn c times contributes c times
            // its row error, so each distinct item is decoded once and weighted by c.
            let (unique, counts) = batch_item_counts(pos, neg);
            let n_unique = unique.len();
            let mp_rows = self.sparse.then(|| sparse::MpRows {
                ids: unique.iter().map(|&i| i as u32).collect(),
                weights: counts.clone(),
                scale: 1.0,
            });
            let batch_items = int_tensor(unique, &self.device);
            let weights = float_tensor(counts, [n_unique, 1], &self.device);
            let mut sum: Option<Tensor<1>> = None;
            for (idx, m) in self.graphs.modalities.iter().enumerate() {
                let source = match (self.config.decode, self.config.fusion_stage) {
                    (DecodeTarget::Final, FusionStage::Late) => &emb.items[idx],
                    _ => &emb.compressed[idx],
                };
                let code = source.clone().select(0, batch_items.clone());
                let decoder = params.get(&format!("decode.{}", m.name)).clone();
                let [_, dim] = m.features.dims();
                let err = if let Some(rows) = &mp_rows {
                    // Decode, compare with the feature rows in place, weight: one op.
                    let rows = Arc::new(sparse::MpRows {
                        scale: 1.0 / (2 * b * dim) as f32,
                        ..rows.clone()
                    });
                    sparse::mp_loss(code, decoder, m.features.clone(), &rows)
                } else {
                    let decoded = code.matmul(decoder);
                    let target = m.features.clone().select(0, batch_items.clone());
                    let row_error: Tensor<2> = (decoded - target).abs().sum_dim(1);
                    (row_error * weights.clone()).sum() / (2 * b * dim) as f32
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

    pub fn fc_params(&self, params: &Params) -> Option<(Tensor<2>, Tensor<2>)> {
        (self.config.fusion == FusionKind::Fc).then(|| {
            (
                params.get("fusion.fc.weight").clone(),
                params.get("fusion.fc.bias").clone(),
            )
        })
    }

    /// Scores `[B, I]` of every item for a batch of users, from precomputed embeddings:
    /// the dense burn reference of Eq. 5–7 that the tests hold the shared tiled
    /// scorer ([`mario_shared::ranking`], used for evaluation) against.
    #[cfg(test)]
    pub fn score_users(
        &self,
        emb: &Embeddings,
        params: &Params,
        users: Tensor<1, Int>,
    ) -> Tensor<2> {
        let u = emb.users.clone().select(0, users);
        let [b, d] = u.dims();
        let scale = 1.0 / (d as f32).sqrt();
        match self.config.fusion {
            FusionKind::Attention => {
                // [B, I] affinities per modality → softmax over modalities (Eq. 5) →
                // Σ aᵐ (u·v̄ᵐ) (Eq. 6–7).
                let affinities: Vec<Tensor<2>> = emb
                    .items
                    .iter()
                    .map(|v| u.clone().matmul(v.clone().transpose()))
                    .collect();
                let stacked: Tensor<3> = Tensor::stack(affinities, 2);
                let attention = activation::softmax(stacked.clone() * scale, 2);
                (attention * stacked).sum_dim(2).squeeze_dim(2)
            }
            FusionKind::Mean => {
                let mean = emb
                    .items
                    .iter()
                    .cloned()
                    .reduce(|a, b| a + b)
                    .expect("one modality")
                    / emb.items.len() as f32;
                u.matmul(mean.transpose())
            }
            FusionKind::Max => {
                // Element-wise max over modalities depends only on the item.
                let stacked: Tensor<3> = Tensor::stack(emb.items.clone(), 0);
                let max: Tensor<2> = stacked.max_dim(0).squeeze_dim(0);
                u.matmul(max.transpose())
            }
            FusionKind::Fc => {
                let (w, bias) = self.fc_params(params).expect("fc parameters");
                let fused = Tensor::cat(emb.items.clone(), 1).matmul(w) + bias;
                let _ = b;
                u.matmul(fused.transpose())
            }
        }
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

/// Selects `k` rows per item: `[n, k, dim]`.
fn aggregate_rows(x: Tensor<2>, ids: &Tensor<1, Int>, n: usize, k: usize) -> Tensor<3> {
    let [_, dim] = x.dims();
    x.select(0, ids.clone()).reshape([n, k, dim])
}

/// Fuses per-modality item embeddings for a batch and scores them (Eq. 5–7 for
/// attention). `u` is `[B, d]`, `items[m]` is `[B, d]`. Returns (scores `[B]`,
/// attention `[B, M]` when the fusion is attention).
pub fn fuse_and_score(
    u: Tensor<2>,
    items: Vec<Tensor<2>>,
    fusion: FusionKind,
    fc: Option<(Tensor<2>, Tensor<2>)>,
) -> (Tensor<1>, Option<Tensor<2>>) {
    let [b, d] = u.dims();
    let m = items.len();
    let fused: Tensor<2> = match fusion {
        FusionKind::Attention => {
            let stacked: Tensor<3> = Tensor::stack(items, 1); // [B, M, d]
            let logits: Tensor<2> = (stacked.clone() * u.clone().unsqueeze_dim::<3>(1))
                .sum_dim(2)
                .reshape([b, m])
                / (d as f32).sqrt();
            let attention = activation::softmax(logits, 1);
            let personalised: Tensor<2> = (stacked * attention.clone().unsqueeze_dim::<3>(2))
                .sum_dim(1)
                .reshape([b, d]);
            let score = (u * personalised).sum_dim(1).reshape([b]);
            return (score, Some(attention));
        }
        FusionKind::Mean => {
            items
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("one modality")
                / m as f32
        }
        FusionKind::Max => {
            let stacked: Tensor<3> = Tensor::stack(items, 1);
            stacked.max_dim(1).reshape([b, d])
        }
        FusionKind::Fc => {
            let (w, bias) = fc.expect("fc fusion needs its parameters");
            Tensor::cat(items, 1).matmul(w) + bias
        }
    };
    ((u * fused).sum_dim(1).reshape([b]), None)
}

/// The terms of the joint loss for one batch.
#[derive(Debug, Clone)]
pub struct LossParts {
    pub total: Tensor<1>,
    pub bpr: Tensor<1>,
    pub mp: Option<Tensor<1>>,
    pub l2: Tensor<1>,
}
