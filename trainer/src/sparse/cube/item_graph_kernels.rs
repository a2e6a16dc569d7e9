//! The CubeCL kernel sources of the item graphs' operation (`sparse::item_graph`, Eq.
//! 2–4 and the layers), launched by [`super::item_graph`]: the same passes as flex's
//! host kernels, in the same order of operations within each row, without atomics.

use cubecl::prelude::*;

/// Row norms under this are clamped (as `l2_normalize_rows` does), degrees likewise
/// (`sparse::item_graph`'s `TINY`).
const TINY: f32 = 1e-12;

/// Item graphs, forward 1: per row `i` (one unit), `‖xᵢ‖` clamped at `TINY` and whether
/// it was clamped (1 or 0), and the unit row `xᵢ/‖xᵢ‖`.
#[cube(launch)]
pub fn unit_rows(
    x: &Tensor<f32>,
    norms: &mut Tensor<f32>,
    clamped: &mut Tensor<f32>,
    unit: &mut Tensor<f32>,
) {
    let i = ABSOLUTE_POS;
    if i >= norms.len() {
        terminate!();
    }
    let d = x.shape(1);
    let mut sum = 0.0f32;
    for c in 0..d {
        let v = x[i * d + c];
        sum += v * v;
    }
    let norm = f32::sqrt(sum);
    let mut kept = norm;
    let mut flag = 0.0f32;
    if norm < TINY {
        kept = TINY;
        flag = 1.0f32;
    }
    norms[i] = kept;
    clamped[i] = flag;
    for c in 0..d {
        unit[i * d + c] = x[i * d + c] / kept;
    }
}

/// Item graphs, forward 2 (Eq. 2–3): per row `i` (one unit) the learnt neighbours'
/// cosines, the mixed weights `[λ·sᵐ (raw) | (1−λ)·relu(cos) (learnt)]`, the row's degree
/// as `max(deg, TINY)^{-1/2}` and whether it was clamped.
#[cube(launch)]
pub fn mixed_weights(
    unit: &Tensor<f32>,
    learnt_ids: &Tensor<u32>,
    raw_weight: &Tensor<f32>,
    cos: &mut Tensor<f32>,
    weight: &mut Tensor<f32>,
    inv_sqrt_degree: &mut Tensor<f32>,
    degree_clamped: &mut Tensor<f32>,
    k_raw: u32,
    k_learnt: u32,
    lambda: f32,
) {
    let i = ABSOLUTE_POS;
    if i >= inv_sqrt_degree.len() {
        terminate!();
    }
    let d = unit.shape(1);
    let (k_raw, k_learnt) = (k_raw as usize, k_learnt as usize);
    let fan = k_raw + k_learnt;
    let mut degree = 0.0f32;
    for j in 0..k_raw {
        let w = raw_weight[i * k_raw + j];
        weight[i * fan + j] = w;
        degree += w;
    }
    for j in 0..k_learnt {
        let s = learnt_ids[i * k_learnt + j] as usize;
        let mut dot = 0.0f32;
        for c in 0..d {
            dot += unit[i * d + c] * unit[s * d + c];
        }
        cos[i * k_learnt + j] = dot;
        let w = f32::max(dot, 0.0f32) * (1.0f32 - lambda);
        weight[i * fan + k_raw + j] = w;
        degree += w;
    }
    let mut flag = 0.0f32;
    let mut kept = degree;
    if degree < TINY {
        kept = TINY;
        flag = 1.0f32;
    }
    inv_sqrt_degree[i] = f32::powf(kept, -0.5f32);
    degree_clamped[i] = flag;
}

/// Item graphs, forward 3 (Eq. 4): per edge `e = i·fan + j`, `Ḡ[e] = w[e]·rᵢ·r_{ids[e]}`.
#[cube(launch)]
pub fn normalised_weights(
    weight: &Tensor<f32>,
    inv_sqrt_degree: &Tensor<f32>,
    ids: &Tensor<u32>,
    out: &mut Tensor<f32>,
    fan: u32,
) {
    let e = ABSOLUTE_POS;
    if e >= out.len() {
        terminate!();
    }
    let i = e / fan as usize;
    out[e] = weight[e] * inv_sqrt_degree[i] * inv_sqrt_degree[ids[e] as usize];
}

/// `out[i, c] = Σⱼ w[i·fan + j] · x[ids[i·fan + j], c]` (a GCN layer over a fixed-fan
/// graph), one unit per `N` consecutive columns (`units` of them, `d / N` a row).
#[cube(launch)]
pub fn fan_sum<N: Size>(
    x: &Tensor<Vector<f32, N>>,
    ids: &Tensor<u32>,
    w: &Tensor<f32>,
    out: &mut Tensor<Vector<f32, N>>,
    units: u32,
    vectors_per_row: u32,
    fan: u32,
) {
    let at = ABSOLUTE_POS;
    if at >= units as usize {
        terminate!();
    }
    let dv = vectors_per_row as usize;
    let (i, c) = (at / dv, at % dv);
    let fan = fan as usize;
    let mut acc = Vector::new(0.0f32);
    for j in 0..fan {
        let e = i * fan + j;
        acc += Vector::new(w[e]) * x[ids[e] as usize * dv + c];
    }
    out[at] = acc;
}

/// `out[s, c] = Σ_{e : ids[e] = s} w[e] · g[e / fan, c]` (the transpose of [`fan_sum`],
/// through the reverse index, in edge order), one unit per `N` consecutive columns.
#[cube(launch)]
pub fn fan_sum_transposed<N: Size>(
    g: &Tensor<Vector<f32, N>>,
    w: &Tensor<f32>,
    rev_ptr: &Tensor<u32>,
    rev_edges: &Tensor<u32>,
    out: &mut Tensor<Vector<f32, N>>,
    units: u32,
    vectors_per_row: u32,
    fan: u32,
) {
    let at = ABSOLUTE_POS;
    if at >= units as usize {
        terminate!();
    }
    let dv = vectors_per_row as usize;
    let (s, c) = (at / dv, at % dv);
    let mut acc = Vector::new(0.0f32);
    for k in rev_ptr[s] as usize..rev_ptr[s + 1] as usize {
        let e = rev_edges[k] as usize;
        acc += Vector::new(w[e]) * g[(e / fan as usize) * dv + c];
    }
    out[at] = acc;
}

/// `out[e] = a[e / fan] · b[ids[e]]` (plus `prev[e]` when `accumulate`), one unit per
/// edge: the gradient of [`fan_sum`] with respect to its weights, summed over layers.
#[cube(launch)]
pub fn fan_dots(
    a: &Tensor<f32>,
    b: &Tensor<f32>,
    ids: &Tensor<u32>,
    prev: &Tensor<f32>,
    out: &mut Tensor<f32>,
    fan: u32,
    #[comptime] accumulate: bool,
) {
    let e = ABSOLUTE_POS;
    if e >= out.len() {
        terminate!();
    }
    let d = a.shape(1);
    let i = e / fan as usize;
    let s = ids[e] as usize;
    let mut dot = 0.0f32;
    for c in 0..d {
        dot += a[i * d + c] * b[s * d + c];
    }
    if accumulate {
        dot += prev[e];
    }
    out[e] = dot;
}

/// Item graphs, backward through Eq. 4 and 3: per row `i` (one unit), `∂rᵢ` from its own
/// edges and (reverse index) the edges that read it as a neighbour, `∂deg = ∂r·(−½)r³`
/// (none where the degree was clamped), then each learnt neighbour's `∂cos` (zero where
/// the cosine was not positive).
#[cube(launch)]
pub fn cosine_grads(
    d_gbar: &Tensor<f32>,
    weight: &Tensor<f32>,
    inv_sqrt_degree: &Tensor<f32>,
    degree_clamped: &Tensor<f32>,
    cos: &Tensor<f32>,
    ids: &Tensor<u32>,
    rev_ptr: &Tensor<u32>,
    rev_edges: &Tensor<u32>,
    d_cos: &mut Tensor<f32>,
    k_raw: u32,
    k_learnt: u32,
    lambda: f32,
) {
    let i = ABSOLUTE_POS;
    if i >= inv_sqrt_degree.len() {
        terminate!();
    }
    let (k_raw, k_learnt) = (k_raw as usize, k_learnt as usize);
    let fan = k_raw + k_learnt;
    let mut own = 0.0f32;
    for j in 0..fan {
        let e = i * fan + j;
        own += d_gbar[e] * weight[e] * inv_sqrt_degree[ids[e] as usize];
    }
    let mut reverse = 0.0f32;
    for k in rev_ptr[i] as usize..rev_ptr[i + 1] as usize {
        let e = rev_edges[k] as usize;
        reverse += d_gbar[e] * weight[e] * inv_sqrt_degree[e / fan];
    }
    let d_r = own + reverse;
    let ri = inv_sqrt_degree[i];
    let mut d_degree = 0.0f32;
    if degree_clamped[i] == 0.0f32 {
        d_degree = d_r * -0.5f32 * ri * ri * ri;
    }
    for j in 0..k_learnt {
        let e = i * fan + k_raw + j;
        let d_weight = d_gbar[e] * ri * inv_sqrt_degree[ids[e] as usize] + d_degree;
        let mut g = 0.0f32;
        if cos[i * k_learnt + j] > 0.0f32 {
            g = d_weight * (1.0f32 - lambda);
        }
        d_cos[i * k_learnt + j] = g;
    }
}

/// Item graphs, the backward's last pass, part 1: for row `t` and `N` consecutive
/// columns (one unit), the cosines' gradient through the unit rows,
/// `∂nₜ = Σⱼ ∂cos[t·k + j]·n[idsⱼ] + Σ_{e : ids[e] = t} ∂cos[e]·n[e / k]` (its own learnt
/// neighbours, then the rows that have it as one), and row `t` of the first layer's
/// `Ḡᵀ·∂h₁`. [`input_grad_finish`] puts them together.
#[cube(launch)]
pub fn input_grad_parts<N: Size>(
    d_cos: &Tensor<f32>,
    unit: &Tensor<Vector<f32, N>>,
    learnt_ids: &Tensor<u32>,
    learnt_rev_ptr: &Tensor<u32>,
    learnt_rev_edges: &Tensor<u32>,
    gbar: &Tensor<f32>,
    d_h1: &Tensor<Vector<f32, N>>,
    all_rev_ptr: &Tensor<u32>,
    all_rev_edges: &Tensor<u32>,
    d_unit: &mut Tensor<Vector<f32, N>>,
    first: &mut Tensor<Vector<f32, N>>,
    units: u32,
    vectors_per_row: u32,
    k_learnt: u32,
    fan: u32,
) {
    let at = ABSOLUTE_POS;
    if at >= units as usize {
        terminate!();
    }
    let dv = vectors_per_row as usize;
    let (t, c) = (at / dv, at % dv);
    let (k_learnt, fan) = (k_learnt as usize, fan as usize);
    let mut dn = Vector::new(0.0f32);
    for j in 0..k_learnt {
        let e = t * k_learnt + j;
        dn += Vector::new(d_cos[e]) * unit[learnt_ids[e] as usize * dv + c];
    }
    for k in learnt_rev_ptr[t] as usize..learnt_rev_ptr[t + 1] as usize {
        let e = learnt_rev_edges[k] as usize;
        dn += Vector::new(d_cos[e]) * unit[(e / k_learnt) * dv + c];
    }
    d_unit[at] = dn;
    let mut acc = Vector::new(0.0f32);
    for k in all_rev_ptr[t] as usize..all_rev_ptr[t + 1] as usize {
        let e = all_rev_edges[k] as usize;
        acc += Vector::new(gbar[e]) * d_h1[(e / fan) * dv + c];
    }
    first[at] = acc;
}

/// Item graphs, the backward's last pass, part 2: row `t` of `∂x` (one unit per row),
/// `∂nₜ` through `nₜ = xₜ/‖xₜ‖` as `(∂nₜ − nₜ(nₜ·∂nₜ))/‖xₜ‖` (`∂nₜ/TINY` where the norm
/// was clamped), plus row `t` of `Ḡᵀ·∂h₁`.
#[cube(launch)]
pub fn input_grad_finish(
    d_unit: &Tensor<f32>,
    first: &Tensor<f32>,
    unit: &Tensor<f32>,
    norms: &Tensor<f32>,
    norm_clamped: &Tensor<f32>,
    out: &mut Tensor<f32>,
) {
    let t = ABSOLUTE_POS;
    if t >= norms.len() {
        terminate!();
    }
    let d = unit.shape(1);
    let mut along = 0.0f32;
    for c in 0..d {
        along += unit[t * d + c] * d_unit[t * d + c];
    }
    if norm_clamped[t] != 0.0f32 {
        along = 0.0f32;
    }
    let norm = norms[t];
    for c in 0..d {
        let at = t * d + c;
        out[at] = (d_unit[at] - unit[at] * along) / norm + first[at];
    }
}
