//! The collaborative-filtering backbone over the user-item graph: LightGCN (the
//! default), BPRMF or NGCF; it gives the user embeddings and the interaction modality.

use std::sync::Arc;

use burn::tensor::{Tensor, activation};

use super::graph::{BipartiteGraph, l2_normalize_rows};
use super::{Mario, Params};
use crate::config::CfBackbone;
use crate::sparse::{self, LightGcnGraph};

impl Mario {
    /// The CF backbone over the user-item graph `graph` (normally `self.bipartite`):
    /// its output table `[U + I, d]` (users, then items). `extra_item` is added to the
    /// ego item embeddings first (early fusion only).
    pub fn cf_embeddings(
        &self,
        params: &Params,
        extra_item: Option<Tensor<2>>,
        graph: &BipartiteGraph,
    ) -> Tensor<2> {
        let users = params.get("user_embedding").clone();
        let mut items = params.get("item_embedding").clone();
        if let Some(extra) = extra_item {
            items = items + extra;
        }
        match (self.config.cf, &graph.matrix) {
            (CfBackbone::Lightgcn, Some(matrix)) => {
                // flex: the whole readout as one operation with its own backward.
                let readout = Arc::new(LightGcnGraph {
                    matrix: matrix.clone(),
                    layers: self.config.cf_layers,
                });
                sparse::lightgcn_readout(users, items, &readout)
            }
            (CfBackbone::Bprmf, _) => Tensor::cat(vec![users, items], 0),
            (CfBackbone::Lightgcn, None) => {
                let ego = Tensor::cat(vec![users, items], 0);
                // Mean of layer outputs 0..=L (LightGCN's readout).
                let mut sum = ego.clone();
                let mut h = ego;
                for _ in 0..self.config.cf_layers {
                    h = graph.propagate(h);
                    sum = sum + h.clone();
                }
                sum / (self.config.cf_layers as f32 + 1.0)
            }
            (CfBackbone::Ngcf, _) => {
                let ego = Tensor::cat(vec![users, items], 0);
                // NGCF: e' = LeakyReLU((Âe + e)W₁ + (Âe ⊙ e)W₂), L2-normalised per
                // layer; readout is the mean of the layers (not the concatenation) so
                // that the interaction modality lives in the same d-space as the others.
                let mut sum = ego.clone();
                let mut h = ego;
                for l in 0..self.config.cf_layers {
                    let side = graph.propagate(h.clone());
                    let sum_part = (side.clone() + h.clone())
                        .matmul(params.get(&format!("ngcf.w1.{l}")).clone());
                    let bi_part = (side * h).matmul(params.get(&format!("ngcf.w2.{l}")).clone());
                    h = activation::leaky_relu(sum_part + bi_part, 0.2);
                    sum = sum + l2_normalize_rows(h.clone());
                }
                sum / (self.config.cf_layers as f32 + 1.0)
            }
        }
    }

    /// A CF table's users `[U, d]` and items `[I, d]`.
    pub fn split_cf_table(&self, table: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let users = table.clone().narrow(0, 0, self.n_users);
        let items = table.clone().narrow(0, self.n_users, self.n_items);
        (users, items)
    }
}
