//! The item-item graphs of the side modalities: the fixed raw-feature kNN graph
//! `Aᵐ`, the learnt graph `Āᵐ` over the compressed embeddings (neighbour sets
//! refreshed every `--knn-refresh-epochs`, weights differentiable every step), and
//! the side-modality embeddings: compression (Eq. 1), the mixed normalised graph
//! `D^{-1/2}(λAᵐ + (1−λ)Āᵐ)D^{-1/2}` (Eq. 2–4) and L GCN layers (on flex the graph
//! and the layers of every side modality are one fused operation over their stacked
//! tables, [`sparse::item_graph_embeddings`] on [`ItemGraphs::stacked`]).

use std::sync::Arc;

use burn::tensor::{Int, Tensor, activation};

use super::graph::{aggregate, knn_cosine, l2_normalize_rows};
use super::{Mario, Params};
use crate::sparse::{self, GraphParts, MixedGraph};
use crate::tensor::{int_tensor, to_f32};

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
}

/// Item-item graph state of all side modalities.
#[derive(Debug, Clone)]
pub struct ItemGraphs {
    pub modalities: Vec<SideModality>,
    /// Every side modality's graph as one over their stacked tables (flex only;
    /// [`MixedGraph::stacked`]): the operation [`sparse::item_graph_embeddings`] runs on.
    pub stacked: Option<Arc<MixedGraph>>,
}

impl Mario {
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

    /// Uploads the neighbour-id tensors after `learnt_ids` changed and (flex) stacks
    /// every side modality's graph into [`ItemGraphs::stacked`].
    pub fn rebuild_index_tensors(&mut self) {
        let n = self.n_items;
        let to_u32 = |ids: &[i64]| ids.iter().map(|&i| i as u32).collect::<Vec<_>>();
        let mut parts = Vec::new();
        for m in &mut self.graphs.modalities {
            let k_raw = m.raw_ids.len() / n;
            let k_learnt = m.learnt_ids.len() / n;
            let mut all = Vec::with_capacity(m.raw_ids.len() + m.learnt_ids.len());
            for j in 0..n {
                all.extend_from_slice(&m.raw_ids[j * k_raw..(j + 1) * k_raw]);
                all.extend_from_slice(&m.learnt_ids[j * k_learnt..(j + 1) * k_learnt]);
            }
            if self.fused.item_graphs {
                parts.push((
                    to_f32(m.raw_weight.clone()),
                    to_u32(&m.learnt_ids),
                    to_u32(&all),
                ));
            }
            m.all_ids = int_tensor(all, &self.device);
            m.learnt = int_tensor(m.learnt_ids.clone(), &self.device);
        }
        self.graphs.stacked = (!parts.is_empty()).then(|| {
            let parts: Vec<GraphParts<'_>> = parts
                .iter()
                .map(|(raw_weight, learnt_ids, all_ids)| GraphParts {
                    raw_weight,
                    learnt_ids,
                    all_ids,
                })
                .collect();
            Arc::new(MixedGraph::stacked(&parts, n, self.config.lambda))
        });
    }

    /// Side-modality embeddings: compression (Eq. 1), the mixed normalised graph
    /// (Eq. 2–4) and L GCN layers. Returns the final and the compressed table of each
    /// side modality, and (flex) the final tables stacked along rows, `[M·I, d]`, as
    /// the one operation over [`ItemGraphs::stacked`] made them (the fused BPR scores
    /// read that table; the per-modality ones are its row blocks).
    pub fn modality_embeddings(
        &self,
        params: &Params,
    ) -> (Vec<Tensor<2>>, Vec<Tensor<2>>, Option<Tensor<2>>) {
        let compressed: Vec<Tensor<2>> = self
            .graphs
            .modalities
            .iter()
            .map(|m| {
                let weight = params.get(&format!("compress.{}", m.name)).clone();
                if self.fused.compression {
                    sparse::compress(m.features.clone(), weight)
                } else {
                    m.features.clone().matmul(weight)
                }
            })
            .collect();
        if let Some(graph) = &self.graphs.stacked {
            // Eq. 2–4 and the L layers of every side modality as one operation with
            // its own backward, over the compressed tables stacked along rows.
            let stacked = sparse::item_graph_embeddings(
                Tensor::cat(compressed.clone(), 0),
                graph,
                self.config.item_layers,
            );
            let n = self.n_items;
            let finals = (0..compressed.len())
                .map(|m| stacked.clone().narrow(0, m * n, n))
                .collect();
            return (finals, compressed, Some(stacked));
        }
        let finals = self
            .graphs
            .modalities
            .iter()
            .zip(&compressed)
            .map(|(m, compressed)| {
                let normalised = mixed_graph_weights_dense(
                    compressed.clone(),
                    m.raw_weight.clone(),
                    &m.learnt,
                    &m.all_ids,
                    self.config.lambda,
                );
                let mut h = compressed.clone();
                for _ in 0..self.config.item_layers {
                    h = aggregate(h, &m.all_ids, normalised.clone());
                }
                h
            })
            .collect();
        (finals, compressed, None)
    }
}

/// `Ḡᵐ = D^{-1/2}(λAᵐ + (1−λ)Āᵐ)D^{-1/2}` (Eq. 2–4) over the union of both neighbour
/// lists, `[I, k_raw + k_learnt]`, through burn's tensor operations: the path of wgpu,
/// and the reference [`sparse::item_graph_embeddings`] is tested against. `raw_weight`
/// is `λ·sᵐ` `[I, k_raw]`; `learnt` (`[I·k_learnt]`) and `all_ids` (raw then learnt per
/// row, `[I·(k_raw + k_learnt)]`) are the neighbour ids.
pub fn mixed_graph_weights_dense(
    compressed: Tensor<2>,
    raw_weight: Tensor<2>,
    learnt: &Tensor<1, Int>,
    all_ids: &Tensor<1, Int>,
    lambda: f32,
) -> Tensor<2> {
    let [n, _] = compressed.dims();
    let k_learnt = learnt.dims()[0] / n.max(1);
    // Āᵐ edge weights: cosine of compressed embeddings, differentiable.
    let normed = l2_normalize_rows(compressed);
    let neighbours = aggregate_rows(normed.clone(), learnt, n, k_learnt);
    let cos: Tensor<2> = (neighbours * normed.unsqueeze_dim::<3>(1))
        .sum_dim(2)
        .squeeze_dim(2);
    let learnt_weight = activation::relu(cos) * (1.0 - lambda);
    // Gᵐ = λAᵐ + (1−λ)Āᵐ over the union of both neighbour sets (Eq. 3).
    let weight = Tensor::cat(vec![raw_weight, learnt_weight], 1);
    let fan = weight.dims()[1];
    // Eq. 4: Ḡ = D^{-1/2} G D^{-1/2}, D = row sums.
    let inv_sqrt_degree = weight.clone().sum_dim(1).clamp_min(1e-12).powf_scalar(-0.5);
    let neighbour_norm: Tensor<2> = inv_sqrt_degree
        .clone()
        .select(0, all_ids.clone())
        .reshape([n, fan]);
    weight * inv_sqrt_degree * neighbour_norm
}

/// Selects `k` rows per item: `[n, k, dim]`.
fn aggregate_rows(x: Tensor<2>, ids: &Tensor<1, Int>, n: usize, k: usize) -> Tensor<3> {
    let [_, dim] = x.dims();
    x.select(0, ids.clone()).reshape([n, k, dim])
}
