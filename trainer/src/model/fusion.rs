//! Fusion of the per-modality item embeddings and the score (Eq. 5–7 for
//! attention; the mean / max / fc ablations of Table 5), for a training batch, and
//! the dense `[B, I]` burn scores (a CubeCL device ranks with them; the tests hold the
//! shared ranking scorer to them).

use burn::tensor::{Tensor, activation};
use mario_shared::FusionKind;

use super::{Mario, Params};

impl Mario {
    pub fn fc_params(&self, params: &Params) -> Option<(Tensor<2>, Tensor<2>)> {
        (self.config.fusion == FusionKind::Fc).then(|| {
            (
                params.get("fusion.fc.weight").clone(),
                params.get("fusion.fc.bias").clone(),
            )
        })
    }

    /// Scores `[B, I]` of every item for a batch of users, from precomputed embeddings:
    /// the dense burn form of Eq. 5–7, which ranks on a CubeCL device
    /// ([`crate::eval::device`]) and which the tests hold the host's tiled scorer
    /// ([`mario_shared::ranking`]) against.
    pub fn score_users(
        &self,
        emb: &super::Embeddings,
        params: &Params,
        users: Tensor<1, burn::tensor::Int>,
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
