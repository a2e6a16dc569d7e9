//! The model's final embeddings read back for full ranking ([`RankedModel`]), and the
//! evaluation of a split through `mario_shared::ranking` (Eq. 5–7 outside burn).

use mario_data::Dataset;
use mario_shared::metrics::MetricsReport;
use mario_shared::ranking::RankingModel;

use crate::eval::{Split, evaluate_ranked};
use crate::model::{Mario, Params};
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

/// The model's final embeddings read back for full ranking: user vectors and the
/// item tables as a [`RankingModel`].
pub struct RankedModel {
    pub users: Vec<f32>,
    pub ranking: RankingModel<'static>,
}

impl RankedModel {
    pub fn new(model: &Mario, params: &Params) -> Self {
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
        Self {
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
        evaluate_ranked(dataset, split, ks, &self.users, &self.ranking)
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
