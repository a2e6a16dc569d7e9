//! The MARIO model in burn (paper §4): [`Mario`] holds the configuration and the
//! fixed graphs, [`Params`] the trainable tensors; one file per component:
//!
//! | paper | file | here |
//! |---|---|---|
//! | Eq. 1 compression `v̄ᵐ = vᵐWᵐ` | `item_graphs.rs` | [`Mario::modality_embeddings`] |
//! | Eq. 2 kNN graphs `Aᵐ` (raw, fixed) and `Āᵐ` (compressed, refreshed) | `item_graphs.rs`, `graph.rs` | [`ItemGraphs`], [`graph::knn_cosine`] |
//! | Eq. 3 `Gᵐ = λAᵐ + (1−λ)Āᵐ`, Eq. 4 `D^{-1/2}GD^{-1/2}`, L GCN layers | `item_graphs.rs` | [`Mario::modality_embeddings`] |
//! | CF backbone (LightGCN / BPRMF / NGCF): users and the interaction modality | `cf.rs`, `graph.rs` | [`Mario::cf_embeddings`], [`graph::BipartiteGraph`] |
//! | Eq. 5 attention, Eq. 6 personalised item, Eq. 7 score | `fusion.rs` | [`fuse_and_score`] |
//! | Eq. 8 decoders, Eq. 10 MP loss; Eq. 9 BPR; Eq. 11 joint loss | `loss.rs` | [`Mario::loss`] |
//! | parameters, Xavier initialisation, feature scaling | `params.rs` | [`Params`], [`scale_features`] |
//!
//! [`crate::train::optimizer`] updates the parameters with burn's Adam. The forward
//! pass runs on any burn device: with autodiff leaves for training, without for
//! evaluation and export. On flex the graph products and the fused batch operations
//! run through [`crate::sparse`]; elsewhere the dense tensor ops here are used.

use burn::tensor::{Device, Tensor};
use mario_data::Dataset;
use mario_shared::FusionKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{CfBackbone, FusionStage, TrainConfig};
use crate::sparse;
use crate::tensor::{float_tensor, int_tensor};

mod cf;
mod fusion;
pub mod graph;
mod item_graphs;
mod loss;
mod params;

pub use self::fusion::fuse_and_score;
use self::graph::{BipartiteGraph, knn_cosine};
pub use self::item_graphs::{ItemGraphs, SideModality, mixed_graph_weights_dense};
pub use self::loss::LossParts;
use self::params::xavier;
pub use self::params::{Param, Params, scale_features};

pub const INTERACTION: &str = mario_shared::weights::INTERACTION;

/// Everything the forward pass produces for all users and items.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// `[U, d]`.
    pub users: Tensor<2>,
    /// One `[I, d]` table per scored modality (side modalities, then `interaction`).
    pub items: Vec<Tensor<2>>,
    /// Compressed (pre-GCN) side-modality embeddings, for `--decode compressed`.
    pub compressed: Vec<Tensor<2>>,
    /// The CF backbone's output `[U + I, d]`, of which `users` and the interaction
    /// modality are the two parts: the fused BPR scores read it in place.
    pub cf_table: Tensor<2>,
    /// The side modalities' final tables stacked along rows, `[n_side·I, d]`, where
    /// the model made them as one (flex): the fused BPR scores read it in place.
    pub side_table: Option<Tensor<2>>,
    /// How many of `items`, first, are side-modality tables; the one after them, if
    /// any, is `cf_table`'s items (early fusion: none, the CF items only).
    pub n_side: usize,
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
    /// Which stages run as [`crate::sparse`]'s fused operations on this device instead
    /// of the dense reference path: chosen once, here.
    pub fused: sparse::FusedStages,
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
        let side_modalities = dataset.modalities.iter().filter(|m| keep(&m.name)).count();
        if side_modalities > 0 && config.knn_k >= dataset.n_items {
            anyhow::bail!(
                "--knn-k {} is not below the number of items ({}): every item would be every \
                 item's neighbour, a dense graph rather than a kNN one; use a small k (the paper \
                 uses 10)",
                config.knn_k,
                dataset.n_items
            );
        }
        let fused = sparse::FusedStages::for_device(device);
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
            graphs: ItemGraphs {
                modalities,
                stacked: None,
            },
            bipartite: BipartiteGraph::new(&dataset.train, dataset.n_items, fused.cf, device),
            use_interaction,
            device: device.clone(),
            fused,
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

    /// The full forward pass for all users and items.
    pub fn embeddings(&self, params: &Params) -> Embeddings {
        self.embeddings_over(params, &self.bipartite)
    }

    /// The forward pass with the CF backbone propagating over `graph` (the training graph,
    /// or a copy with edges dropped for one step).
    pub fn embeddings_over(&self, params: &Params, graph: &BipartiteGraph) -> Embeddings {
        let (side, compressed, side_table) = self.modality_embeddings(params);
        if self.config.fusion_stage == FusionStage::Early {
            let extra = side.into_iter().reduce(|a, b| a + b);
            let cf_table = self.cf_embeddings(params, extra, graph);
            let (users, items) = self.split_cf_table(&cf_table);
            return Embeddings {
                users,
                items: vec![items],
                compressed,
                cf_table,
                side_table: None,
                n_side: 0,
            };
        }
        let cf_table = self.cf_embeddings(params, None, graph);
        let (users, cf_items) = self.split_cf_table(&cf_table);
        let n_side = side.len();
        let mut items = side;
        if self.use_interaction {
            items.push(cf_items);
        }
        Embeddings {
            users,
            items,
            compressed,
            cf_table,
            side_table,
            n_side,
        }
    }
}
