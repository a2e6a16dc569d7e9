//! The model's final embeddings ready for full ranking ([`RankedModel`]), and the
//! evaluation of a split: through `mario_shared::ranking` on the host (Eq. 5–7 outside
//! burn), or on a CubeCL device through the model's own scores and a top-k there.

use mario_data::Dataset;
use mario_shared::metrics::MetricsReport;
use mario_shared::ranking::RankingModel;

use burn::tensor::Tensor;
use mario_shared::FusionKind;

use crate::eval::device::{self, TileScores};
use crate::eval::{Split, evaluate_lists, evaluate_ranked};
use crate::model::{Embeddings, Mario, Params};
use crate::tensor::to_f32;

/// Scores every item for a batch of users with the model's final embeddings
/// (the burn reference, for tests).
#[cfg(test)]
pub fn model_scores(
    model: &Mario,
    emb: &crate::model::Embeddings,
    params: &Params,
    users: &[u32],
) -> Vec<f32> {
    let ids = crate::tensor::int_tensor(users.iter().map(|&u| u as i64).collect(), &model.device);
    to_f32(model.score_users(emb, params, ids))
}

/// The model's final embeddings, ready for full ranking: read back as user vectors and
/// a [`RankingModel`] on the host (flex), or kept on a CubeCL device and ranked there
/// tile by tile ([`crate::eval::device`]), only each user's top-K read back.
#[allow(
    clippy::large_enum_variant,
    reason = "one per evaluation, never in a collection"
)]
pub enum RankedModel<'m> {
    Host {
        users: Vec<f32>,
        ranking: RankingModel<'static>,
    },
    Device {
        model: &'m Mario,
        params: &'m Params,
        embeddings: Embeddings,
        /// With the attention fusion: every scored table side by side, transposed,
        /// `[d, tables · n_items]`, so that a tile's affinities are one product.
        tables_t: Option<Tensor<2>>,
    },
}

impl<'m> RankedModel<'m> {
    /// On a CubeCL device the embeddings stay there; elsewhere, [`Self::on_host`].
    pub fn new(model: &'m Mario, params: &'m Params) -> Self {
        if crate::sparse::cube::is_cube(&model.device) {
            let embeddings = model.embeddings(params);
            let tables_t = (model.config.fusion == FusionKind::Attention)
                .then(|| Tensor::cat(embeddings.items.clone(), 0).transpose());
            return RankedModel::Device {
                model,
                params,
                embeddings,
                tables_t,
            };
        }
        Self::on_host(model, params)
    }

    /// The embeddings read back and ranked by `mario_shared` on the host.
    pub fn on_host(model: &Mario, params: &Params) -> Self {
        let emb = model.embeddings(params);
        let d = model.config.dim;
        let fc = model.fc_params(params).map(|(w, b)| (to_f32(w), to_f32(b)));
        let tables: Vec<Vec<f32>> = emb.items.iter().cloned().map(to_f32).collect();
        let ranking = RankingModel::new(
            d,
            model.n_items,
            tables,
            model.config.fusion,
            fc.as_ref().map(|(w, b)| (w.as_slice(), b.as_slice())),
        );
        RankedModel::Host {
            users: to_f32(emb.users),
            ranking,
        }
    }

    pub fn evaluate(
        &self,
        dataset: &Dataset,
        split: Split,
        ks: &[usize],
    ) -> anyhow::Result<MetricsReport> {
        match self {
            RankedModel::Host { users, ranking } => {
                evaluate_ranked(dataset, split, ks, users, ranking)
            }
            RankedModel::Device {
                model,
                params,
                embeddings,
                tables_t,
            } => {
                anyhow::ensure!(
                    model.n_items == dataset.n_items,
                    "the model ranks {} items but the dataset has {}",
                    model.n_items,
                    dataset.n_items
                );
                let tables = embeddings.items.len();
                let scale = 1.0 / (model.config.dim as f32).sqrt();
                let score_tile = |ids| match tables_t {
                    Some(t) => TileScores {
                        scores: embeddings.users.clone().select(0, ids).matmul(t.clone()),
                        tables,
                        attention: Some(scale),
                    },
                    None => TileScores {
                        scores: model.score_users(embeddings, params, ids),
                        tables: 1,
                        attention: None,
                    },
                };
                let max_binding = crate::device_meter::max_binding_bytes(&model.device);
                let tile = device::tile_users(model.n_items, tables, max_binding);
                evaluate_lists(dataset, split, ks, |users, k| {
                    let train = &dataset.train;
                    device::top_k_on_device(
                        users,
                        train,
                        model.n_items,
                        k,
                        tile,
                        &model.device,
                        score_tile,
                    )
                })
            }
        }
    }
}

/// Evaluates the model on a split.
pub fn evaluate_model(
    model: &Mario,
    params: &Params,
    dataset: &Dataset,
    split: Split,
) -> anyhow::Result<MetricsReport> {
    RankedModel::new(model, params).evaluate(dataset, split, &model.config.ks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, BackendChoice};
    use crate::config::TrainConfig;

    /// On wgpu (lavapipe), ranking on the device and reading back the embeddings to rank
    /// them on the host give the same metrics on both splits, and the same again.
    #[test]
    fn device_and_host_ranking_agree_on_wgpu() {
        let wgpu = backend::select(BackendChoice::Wgpu).expect(
            "no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs lavapipe)",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        mario_data::generate(mario_data::Preset::Demo, 3, dir.path()).expect("demo generates");
        let dataset = mario_data::load_dataset(dir.path(), None).expect("demo loads");
        let config = TrainConfig {
            dim: 16,
            ..TrainConfig::default()
        };
        let (model, params) = Mario::new(&dataset, &config, &wgpu.device).expect("a model");
        let device = RankedModel::new(&model, &params);
        assert!(matches!(device, RankedModel::Device { .. }));
        let host = RankedModel::on_host(&model, &params);
        for split in [Split::Valid, Split::Test] {
            let on_device = device.evaluate(&dataset, split, &config.ks).unwrap();
            let on_host = host.evaluate(&dataset, split, &config.ks).unwrap();
            assert_eq!(on_device.users_evaluated, on_host.users_evaluated);
            for key in ["recall@10", "recall@20", "ndcg@20", "precision@20"] {
                let (a, b) = (on_device.get(key), on_host.get(key));
                assert!(
                    (a - b).abs() <= 2e-3,
                    "{split:?} {key}: device {a} vs host {b}"
                );
            }
            let again = device.evaluate(&dataset, split, &config.ks).unwrap();
            assert_eq!(
                format!("{again:?}"),
                format!("{on_device:?}"),
                "deterministic"
            );
        }
    }
}
