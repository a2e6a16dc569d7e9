//! Adam over the model's parameter tensors, using burn's [`Adam`] update rule per
//! tensor, with its state kept here so that a checkpoint holds it exactly and
//! `--resume` continues bit-for-bit.

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::{Gradients, Tensor};

use crate::model::{Param, Params};

pub struct AdamOptimizer {
    adam: Adam,
    /// One state per parameter, in `Params` order; `None` before the first step.
    pub states: Vec<Option<AdamState<2>>>,
}

impl std::fmt::Debug for AdamOptimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdamOptimizer")
            .field("steps", &self.steps())
            .finish()
    }
}

impl AdamOptimizer {
    pub fn new(epsilon: f64, n_params: usize) -> Self {
        Self {
            adam: AdamConfig::new().with_epsilon(epsilon as f32).build(),
            states: vec![None; n_params],
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.states
            .iter()
            .flatten()
            .map(|s| s.momentum.time)
            .max()
            .unwrap_or(0)
    }

    /// Applies one update. `leaves` are the autodiff leaves the loss was computed from.
    pub fn step(&mut self, lr: f64, params: &Params, leaves: &Params, grads: &Gradients) -> Params {
        let list = params
            .list
            .iter()
            .zip(&leaves.list)
            .zip(self.states.iter_mut())
            .map(|((p, leaf), state)| {
                let value = match leaf.value.grad(grads) {
                    Some(grad) => {
                        let (value, new_state) =
                            self.adam.step(lr, p.value.clone(), grad, state.take());
                        *state = new_state;
                        value
                    }
                    None => p.value.clone(),
                };
                Param {
                    name: p.name.clone(),
                    value,
                }
            })
            .collect();
        Params { list }
    }

    /// Restores states from (time, first moment, second moment) per parameter.
    pub fn restore(&mut self, saved: Vec<Option<(usize, Tensor<2>, Tensor<2>)>>) {
        self.states = saved
            .into_iter()
            .map(|s| {
                s.map(|(time, m1, m2)| AdamState::new(AdaptiveMomentumState::new(time, m1, m2)))
            })
            .collect();
    }
}
