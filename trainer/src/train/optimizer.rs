//! Adam over the model's parameter tensors, with its state kept here so that a
//! checkpoint holds it exactly and `--resume` continues bit-for-bit.
//!
//! On flex the update is one host pass per tensor ([`adam_update`]: moments, bias
//! correction and step fused, in burn's order of operations, so the values are burn's to
//! the bit) instead of burn's ~12 tensor operations, each allocating a tensor of the
//! parameter's size, run in the parameter's own buffer: [`AdamOptimizer::step`] takes the
//! gradients out and drops the autodiff leaves first, so no parameter or gradient is
//! copied. On a CubeCL device (wgpu, CUDA) one kernel launch per tensor does the same
//! ([`crate::sparse::cube::adam_step`]); other devices use burn's [`Adam`]. Tests hold
//! both to burn's.

use burn::backend::Cube;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::{Gradients, Tensor};
use rayon::prelude::*;

use crate::model::{Param, Params};
use crate::sparse::{self, cube, simd};
use crate::tensor::{float_tensor, to_f32};

/// Adam's decay rates (burn's and PyTorch's defaults).
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;

/// Elements per rayon task of the fused update.
const ADAM_CHUNK: usize = 16 * 1024;

/// One Adam step over host slices, in place: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`
/// (`m = (1−β₁)g`, `v = (1−β₂)g²` at `time` 1), then
/// `p ← p − lr · m·c / (√v + ε·√(1−β₂ᵗ))` with `c = √(1−β₂ᵗ) / (1−β₁ᵗ)` — burn's
/// `AdaptiveMomentum` written as one loop with the same operations in the same order.
/// Element-wise, so chunking it over threads or vector widths ([`simd::widest`]) changes
/// no bit.
pub fn adam_update(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    time: i32,
    lr: f32,
    epsilon: f32,
) {
    let step = AdamConstants::new(time, lr, epsilon);
    p.par_chunks_mut(ADAM_CHUNK)
        .zip(g.par_chunks(ADAM_CHUNK))
        .zip(m.par_chunks_mut(ADAM_CHUNK))
        .zip(v.par_chunks_mut(ADAM_CHUNK))
        .for_each(|(((p, g), m), v)| simd::widest(AdamChunk { step, p, g, m, v }));
}

/// The constants of one Adam step at step `time` (from 1): what [`adam_update`] and the
/// CubeCL kernel ([`crate::sparse::cube::adam_step`]) compute them from, once.
#[derive(Debug, Clone, Copy)]
pub struct AdamConstants {
    pub first: bool,
    pub beta_1: f32,
    pub beta_2: f32,
    pub combined_factor: f32,
    pub eps: f32,
    pub lr: f32,
}

impl AdamConstants {
    pub fn new(time: i32, lr: f32, epsilon: f32) -> Self {
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(time)).sqrt();
        Self {
            first: time == 1,
            beta_1: BETA_1,
            beta_2: BETA_2,
            combined_factor: bias_correction2_sqrt / (1.0 - BETA_1.powi(time)),
            eps: epsilon * bias_correction2_sqrt,
            lr,
        }
    }
}

/// One chunk of an [`adam_update`], compiled for the CPU's widest vectors.
struct AdamChunk<'a> {
    step: AdamConstants,
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

impl simd::WideLoop for AdamChunk<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let AdamConstants {
            first,
            combined_factor,
            eps,
            lr,
            ..
        } = self.step;
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        for (((p, &g), m), v) in self.p.iter_mut().zip(self.g).zip(self.m).zip(self.v) {
            if first {
                *m = g * f1;
                *v = (g * g) * f2;
            } else {
                *m = *m * BETA_1 + g * f1;
                *v = *v * BETA_2 + (g * g) * f2;
            }
            *p -= (*m * combined_factor) / (v.sqrt() + eps) * lr;
        }
    }
}

pub struct AdamOptimizer {
    adam: Adam,
    epsilon: f32,
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
            adam: AdamConfig::new()
                .with_beta_1(BETA_1)
                .with_beta_2(BETA_2)
                .with_epsilon(epsilon as f32)
                .build(),
            epsilon: epsilon as f32,
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

    /// Applies one update. `leaves` are the autodiff leaves the loss was computed from,
    /// `grads` the gradients its backward returned.
    ///
    /// Every gradient is taken out of `grads` and the leaves are dropped before any
    /// update, so that each parameter's buffer has one owner: on flex, reading a uniquely
    /// owned tensor into a `Vec` and a `Vec` back into a tensor move the buffer, and the
    /// fused update runs in place (copies of every parameter and gradient would otherwise
    /// dominate the step).
    pub fn step(
        &mut self,
        lr: f64,
        params: Params,
        leaves: Params,
        grads: &mut Gradients,
    ) -> Params {
        let gradients: Vec<Option<Tensor<2>>> = leaves
            .list
            .iter()
            .map(|leaf| leaf.value.grad_remove(grads))
            .collect();
        drop(leaves);
        let list = params
            .list
            .into_iter()
            .zip(gradients)
            .zip(self.states.iter_mut())
            .map(|((p, grad), state)| {
                let value = match grad {
                    // On flex, the fused host update ([`adam_update`]).
                    Some(grad) if sparse::is_flex(&grad.device()) => {
                        let (value, new_state) =
                            fused_step(lr, self.epsilon, p.value, grad, state.take());
                        *state = Some(new_state);
                        value
                    }
                    // On a CubeCL device, one kernel launch ([`cube::adam_step`]).
                    Some(grad) if cube::is_cube(&grad.device()) => {
                        let (value, new_state) =
                            device_step(lr, self.epsilon, p.value, grad, state.take());
                        *state = Some(new_state);
                        value
                    }
                    Some(grad) => {
                        let (value, new_state) = self.adam.step(lr, p.value, grad, state.take());
                        *state = new_state;
                        value
                    }
                    None => p.value,
                };
                Param {
                    name: p.name,
                    value,
                }
            })
            .collect();
        Params { list }
    }
}

/// One parameter's step through [`adam_update`], its moments kept as burn's state.
fn fused_step(
    lr: f64,
    epsilon: f32,
    value: Tensor<2>,
    grad: Tensor<2>,
    state: Option<AdamState<2>>,
) -> (Tensor<2>, AdamState<2>) {
    let shape = value.dims();
    let device = value.device();
    let mut p = to_f32(value);
    let g = to_f32(grad);
    let (time, mut m, mut v) = match state {
        Some(s) => (
            s.momentum.time + 1,
            to_f32(s.momentum.moment_1),
            to_f32(s.momentum.moment_2),
        ),
        None => (1, vec![0.0; p.len()], vec![0.0; p.len()]),
    };
    adam_update(&mut p, &g, &mut m, &mut v, time as i32, lr as f32, epsilon);
    let momentum = AdaptiveMomentumState::new(
        time,
        float_tensor(m, shape, &device),
        float_tensor(v, shape, &device),
    );
    (float_tensor(p, shape, &device), AdamState::new(momentum))
}

/// One parameter's step on a CubeCL device: one launch of [`cube::adam_step`] writes
/// the parameter and both moments.
pub(crate) fn device_step(
    lr: f64,
    epsilon: f32,
    value: Tensor<2>,
    grad: Tensor<2>,
    state: Option<AdamState<2>>,
) -> (Tensor<2>, AdamState<2>) {
    let primitive = |t: Tensor<2>| {
        t.try_into_primitive::<Cube>()
            .expect("adam: a CubeCL tensor outside autodiff")
    };
    let (time, moments) = match state {
        Some(s) => (
            s.momentum.time + 1,
            Some((
                primitive(s.momentum.moment_1),
                primitive(s.momentum.moment_2),
            )),
        ),
        None => (1, None),
    };
    let constants = AdamConstants::new(time as i32, lr as f32, epsilon);
    let (p, m, v) = cube::adam_step(primitive(value), primitive(grad), moments, constants);
    let momentum = AdaptiveMomentumState::new(
        time,
        Tensor::from_primitive::<Cube>(m),
        Tensor::from_primitive::<Cube>(v),
    );
    (Tensor::from_primitive::<Cube>(p), AdamState::new(momentum))
}

impl AdamOptimizer {
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

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// The fused host update gives burn's Adam to the bit, over steps with the
    /// first-step branch, bias correction and a changing learning rate.
    #[test]
    fn fused_update_is_burns_adam_to_the_bit() {
        let device = Device::flex();
        let shape = [37, 11];
        let n = shape[0] * shape[1];
        let values = |seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0) * 0.3)
                .collect()
        };
        let adam = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(1e-8)
            .build();
        let mut reference = float_tensor(values(0), shape, &device);
        let mut fused = reference.clone();
        let (mut ref_state, mut fused_state) = (None, None);
        for step in 0..4 {
            let lr = 1e-2 / (step + 1) as f64;
            let grad = float_tensor(values(step + 1), shape, &device);
            let (r, s) = adam.step(lr, reference, grad.clone(), ref_state.take());
            (reference, ref_state) = (r, s);
            let (f, s) = fused_step(lr, 1e-8, fused, grad, fused_state.take());
            (fused, fused_state) = (f, Some(s));
            assert_eq!(
                to_f32(reference.clone()),
                to_f32(fused.clone()),
                "step {step}"
            );
            let (rs, fs) = (ref_state.clone().unwrap(), fused_state.clone().unwrap());
            assert_eq!(rs.momentum.time, fs.momentum.time);
            assert_eq!(to_f32(rs.momentum.moment_1), to_f32(fs.momentum.moment_1));
            assert_eq!(to_f32(rs.momentum.moment_2), to_f32(fs.momentum.moment_2));
        }
        // The update moved the values (the test compares something).
        assert_ne!(to_f32(fused), values(0));
    }
}
