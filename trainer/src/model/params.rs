//! The trainable tensors of MARIO ([`Params`], in checkpoint order), their
//! Xavier initialisation from the run's seed, and the feature scaling applied
//! before Eq. 1.

use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::FeatureScaling;
use crate::tensor::float_tensor;

/// A named trainable tensor.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Tensor<2>,
}

/// All trainable tensors, in a fixed order (the checkpoint order).
#[derive(Debug, Clone, Default)]
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
pub(crate) fn xavier(rng: &mut ChaCha8Rng, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
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
