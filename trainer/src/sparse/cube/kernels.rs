//! The CubeCL kernel sources: one source for every CubeCL runtime burn runs on (wgpu:
//! Vulkan, Metal, DX12; CUDA; ROCm), launched by the sibling modules.
//!
//! Each unit writes one output element and reads its inputs in a fixed order, so a
//! kernel's result does not depend on the launch shape, and no kernel uses atomics:
//! where several inputs add into one output row the kernel walks that row's inputs
//! itself (a sorted, segmented reduction whose segments are built on the host), which
//! keeps runs deterministic on every device.

use cubecl::prelude::*;

/// `out[r, c] = (Σ_{e ∈ row r0 + r} vals[e] · x[cols[e], c] + add[r0 + r, c]) / divisor`
/// for the output rows `r0 + r`, `r < out.shape(0)`: a CSR product, with the addition
/// and the division in the same pass when `with_add`. One unit per output element, in
/// row-major order, so a cube's units read consecutive columns of each row of `x`.
#[cube(launch)]
pub fn csr_matmul_add(
    x: &Tensor<f32>,
    row_ptr: &Tensor<u32>,
    cols: &Tensor<u32>,
    vals: &Tensor<f32>,
    add: &Tensor<f32>,
    out: &mut Tensor<f32>,
    first_row: u32,
    divisor: f32,
    #[comptime] with_add: bool,
) {
    let i = ABSOLUTE_POS;
    if i >= out.len() {
        terminate!();
    }
    let d = x.shape(1);
    let c = i % d;
    let row = i / d + first_row as usize;
    let start = row_ptr[row] as usize;
    let end = row_ptr[row + 1] as usize;
    let mut acc = 0.0f32;
    for e in start..end {
        let j = cols[e] as usize;
        acc += vals[e] * x[j * d + c];
    }
    if with_add {
        acc = (acc + add[row * d + c]) / divisor;
    }
    out[i] = acc;
}

/// One Adam step per element, burn's `AdaptiveMomentum` order of operations
/// (see `train/optimizer.rs` `adam_update`): the new parameter, first and second
/// moments. `first` is step 1 (the moments start from the gradient).
#[cube(launch)]
pub fn adam_step(
    p: &Tensor<f32>,
    g: &Tensor<f32>,
    m: &Tensor<f32>,
    v: &Tensor<f32>,
    p_out: &mut Tensor<f32>,
    m_out: &mut Tensor<f32>,
    v_out: &mut Tensor<f32>,
    beta_1: f32,
    beta_2: f32,
    combined_factor: f32,
    eps: f32,
    lr: f32,
    #[comptime] first: bool,
) {
    let i = ABSOLUTE_POS;
    if i >= p.len() {
        terminate!();
    }
    let gi = g[i];
    let f1 = 1.0f32 - beta_1;
    let f2 = 1.0f32 - beta_2;
    let mut mi = gi * f1;
    let mut vi = (gi * gi) * f2;
    if !first {
        mi = m[i] * beta_1 + gi * f1;
        vi = v[i] * beta_2 + (gi * gi) * f2;
    }
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = p[i] - (mi * combined_factor) / (f32::sqrt(vi) + eps) * lr;
}
