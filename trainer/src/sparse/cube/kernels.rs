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
/// and the division in the same pass when `with_add`. One unit per `N` consecutive
/// columns of an output row (`units` of them, `d / N` per row), in row-major order, so
/// a cube's units read consecutive vectors of each row of `x`.
#[cube(launch)]
pub fn csr_matmul_add<N: Size>(
    x: &Tensor<Vector<f32, N>>,
    row_ptr: &Tensor<u32>,
    cols: &Tensor<u32>,
    vals: &Tensor<f32>,
    add: &Tensor<Vector<f32, N>>,
    out: &mut Tensor<Vector<f32, N>>,
    units: u32,
    vectors_per_row: u32,
    first_row: u32,
    divisor: f32,
    #[comptime] with_add: bool,
) {
    let i = ABSOLUTE_POS;
    if i >= units as usize {
        terminate!();
    }
    let dv = vectors_per_row as usize;
    let c = i % dv;
    let row = i / dv + first_row as usize;
    let start = row_ptr[row] as usize;
    let end = row_ptr[row + 1] as usize;
    let mut acc = Vector::new(0.0f32);
    for e in start..end {
        let j = cols[e] as usize;
        acc += Vector::new(vals[e]) * x[j * dv + c];
    }
    if with_add {
        acc = (acc + add[row * dv + c]) / Vector::new(divisor);
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

/// Where row `item`'s modality `k` lives in the layout of `sparse::ScoreTables`: side
/// modality `k < n_side` is row `k·I + item` of `side`, the interaction modality row
/// `U + item` of `cf`. Returns (whether in `side`, the row's first element).
#[cube]
fn item_row(
    item: usize,
    k: usize,
    n_users: usize,
    n_items: usize,
    n_side: usize,
    d: usize,
) -> (bool, usize) {
    let in_side = k < n_side;
    let mut row = n_users + item;
    if in_side {
        row = k * n_items + item;
    }
    (in_side, row * d)
}

/// Eq. 5–7 for the positive and the negative of triple `b` (one unit each triple):
/// `diff[b] = r(u, pos) − r(u, neg)`, and `dscore[(side·B + b)·M + k] = ∂r/∂sᵏ =
/// aᵏ(1 + (sᵏ − r)/√d)` for the backward (the affinities `sᵏ = u·vᵏ` are kept there
/// first). `items` holds the positives, then the negatives; `sizes` is
/// `[U, I, n_side, M, d, B]`. The softmax is
/// `mario_shared::scorer::modality_attention`'s, in its order of operations.
#[cube(launch)]
pub fn bpr_scores(
    cf: &Tensor<f32>,
    side: &Tensor<f32>,
    users: &Tensor<u32>,
    items: &Tensor<u32>,
    sizes: &Tensor<u32>,
    diff: &mut Tensor<f32>,
    dscore: &mut Tensor<f32>,
    scale: f32,
) {
    let b = ABSOLUTE_POS;
    let n = sizes[5] as usize;
    if b >= n {
        terminate!();
    }
    let (n_users, n_items, n_side) = (sizes[0] as usize, sizes[1] as usize, sizes[2] as usize);
    let (m, d) = (sizes[3] as usize, sizes[4] as usize);
    let user = users[b] as usize * d;
    let mut score = 0.0f32;
    for s in 0..2usize {
        let item = items[s * n + b] as usize;
        let at = (s * n + b) * m;
        let mut max = 0.0f32;
        for k in 0..m {
            let (in_side, row) = item_row(item, k, n_users, n_items, n_side, d);
            let mut dot = 0.0f32;
            if in_side {
                for c in 0..d {
                    dot += cf[user + c] * side[row + c];
                }
            } else {
                for c in 0..d {
                    dot += cf[user + c] * cf[row + c];
                }
            }
            dscore[at + k] = dot;
            if k == 0 {
                max = dot * scale;
            } else {
                max = f32::max(max, dot * scale);
            }
        }
        let mut total = 0.0f32;
        for k in 0..m {
            total += f32::exp(dscore[at + k] * scale - max);
        }
        let mut r = 0.0f32;
        for k in 0..m {
            let a = f32::exp(dscore[at + k] * scale - max) / total;
            r += a * dscore[at + k];
        }
        for k in 0..m {
            let sk = dscore[at + k];
            let a = f32::exp(sk * scale - max) / total;
            dscore[at + k] = a * (1.0f32 + (sk - r) * scale);
        }
        if s == 0 {
            score = r;
        } else {
            score -= r;
        }
    }
    diff[b] = score;
}

/// The BPR differences' gradient for the CF table's rows the batch touched: unit
/// (`t`, `c`) sums, in the order of its segment, the terms of row `rows[t]` (entries
/// `code = pass·B + b`: passes 0 and 1 a user's `Σₖ wᵏ·vᵏ` for the positive and the
/// negative, 2 and 3 the interaction item's `w·u`, with `w = ±g[b]·∂r/∂sᵏ`) and
/// writes that element; the other rows stay as they are (zero).
#[cube(launch)]
pub fn bpr_grad_cf(
    cf: &Tensor<f32>,
    side: &Tensor<f32>,
    users: &Tensor<u32>,
    items: &Tensor<u32>,
    sizes: &Tensor<u32>,
    g: &Tensor<f32>,
    dscore: &Tensor<f32>,
    rows: &Tensor<u32>,
    seg_ptr: &Tensor<u32>,
    entries: &Tensor<u32>,
    out: &mut Tensor<f32>,
) {
    let i = ABSOLUTE_POS;
    let (n_users, n_items, n_side) = (sizes[0] as usize, sizes[1] as usize, sizes[2] as usize);
    let (m, d, n) = (sizes[3] as usize, sizes[4] as usize, sizes[5] as usize);
    if i >= rows.len() * d {
        terminate!();
    }
    let (t, c) = (i / d, i % d);
    let mut acc = 0.0f32;
    for e in seg_ptr[t] as usize..seg_ptr[t + 1] as usize {
        let code = entries[e] as usize;
        let (pass, b) = (code / n, code % n);
        let s = pass % 2;
        let mut sign = 1.0f32;
        if s == 1 {
            sign = -1.0f32;
        }
        let weights = (s * n + b) * m;
        if pass < 2 {
            let item = items[s * n + b] as usize;
            let mut sum = 0.0f32;
            for k in 0..m {
                let w = sign * g[b] * dscore[weights + k];
                let (in_side, row) = item_row(item, k, n_users, n_items, n_side, d);
                if in_side {
                    sum += w * side[row + c];
                } else {
                    sum += w * cf[row + c];
                }
            }
            acc += sum;
        } else {
            let w = sign * g[b] * dscore[weights + m - 1];
            acc += w * cf[users[b] as usize * d + c];
        }
    }
    out[rows[t] as usize * d + c] = acc;
}

/// The BPR differences' gradient for the side table's touched rows: entries
/// `code = pass·B + b` with `pass = 2k + side`, each `±g[b]·∂r/∂sᵏ·u[b]`.
#[cube(launch)]
pub fn bpr_grad_side(
    cf: &Tensor<f32>,
    users: &Tensor<u32>,
    sizes: &Tensor<u32>,
    g: &Tensor<f32>,
    dscore: &Tensor<f32>,
    rows: &Tensor<u32>,
    seg_ptr: &Tensor<u32>,
    entries: &Tensor<u32>,
    out: &mut Tensor<f32>,
) {
    let i = ABSOLUTE_POS;
    let (m, d, n) = (sizes[3] as usize, sizes[4] as usize, sizes[5] as usize);
    if i >= rows.len() * d {
        terminate!();
    }
    let (t, c) = (i / d, i % d);
    let mut acc = 0.0f32;
    for e in seg_ptr[t] as usize..seg_ptr[t + 1] as usize {
        let code = entries[e] as usize;
        let (pass, b) = (code / n, code % n);
        let s = pass % 2;
        let mut sign = 1.0f32;
        if s == 1 {
            sign = -1.0f32;
        }
        let w = sign * g[b] * dscore[(s * n + b) * m + pass / 2];
        acc += w * cf[users[b] as usize * d + c];
    }
    out[rows[t] as usize * d + c] = acc;
}

/// `out[b] = ‖table[ids[b]]‖²`, one unit per row, summed in order.
#[cube(launch)]
pub fn row_squares(table: &Tensor<f32>, ids: &Tensor<u32>, out: &mut Tensor<f32>) {
    let b = ABSOLUTE_POS;
    if b >= ids.len() {
        terminate!();
    }
    let d = table.shape(1);
    let row = ids[b] as usize;
    let mut sum = 0.0f32;
    for c in 0..d {
        let x = table[row * d + c];
        sum += x * x;
    }
    out[b] = sum;
}

/// The gathered sum of squares' gradient for its touched rows: row `rows[t]` drawn
/// `seg_ptr[t + 1] − seg_ptr[t]` times receives `2·g·x` that many times.
#[cube(launch)]
pub fn row_squares_grad(
    table: &Tensor<f32>,
    g: &Tensor<f32>,
    rows: &Tensor<u32>,
    seg_ptr: &Tensor<u32>,
    out: &mut Tensor<f32>,
) {
    let i = ABSOLUTE_POS;
    let d = table.shape(1);
    if i >= rows.len() * d {
        terminate!();
    }
    let (t, c) = (i / d, i % d);
    let at = rows[t] as usize * d + c;
    let twice_g = 2.0f32 * g[0];
    let mut acc = 0.0f32;
    for _ in seg_ptr[t]..seg_ptr[t + 1] {
        acc += twice_g * table[at];
    }
    out[at] = acc;
}

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

/// Item graphs, the backward's last pass: row `t` of `∂x` (one unit per row): the
/// cosines' gradient `∂nₜ` (its own learnt neighbours, then the rows that have it as
/// one), through `nₜ = xₜ/‖xₜ‖` as `(∂nₜ − nₜ(nₜ·∂nₜ))/‖xₜ‖` (`∂nₜ/TINY` where the norm
/// was clamped), plus row `t` of the first layer's `Ḡᵀ·∂h₁`.
#[cube(launch)]
pub fn input_grads(
    d_cos: &Tensor<f32>,
    unit: &Tensor<f32>,
    norms: &Tensor<f32>,
    norm_clamped: &Tensor<f32>,
    learnt_ids: &Tensor<u32>,
    learnt_rev_ptr: &Tensor<u32>,
    learnt_rev_edges: &Tensor<u32>,
    gbar: &Tensor<f32>,
    d_h1: &Tensor<f32>,
    all_rev_ptr: &Tensor<u32>,
    all_rev_edges: &Tensor<u32>,
    out: &mut Tensor<f32>,
    k_learnt: u32,
    fan: u32,
) {
    let t = ABSOLUTE_POS;
    if t >= norms.len() {
        terminate!();
    }
    let d = unit.shape(1);
    let (k_learnt, fan) = (k_learnt as usize, fan as usize);
    let mut along = 0.0f32;
    for c in 0..d {
        let mut dn = 0.0f32;
        for j in 0..k_learnt {
            let e = t * k_learnt + j;
            dn += d_cos[e] * unit[learnt_ids[e] as usize * d + c];
        }
        for k in learnt_rev_ptr[t] as usize..learnt_rev_ptr[t + 1] as usize {
            let e = learnt_rev_edges[k] as usize;
            dn += d_cos[e] * unit[(e / k_learnt) * d + c];
        }
        out[t * d + c] = dn;
        along += unit[t * d + c] * dn;
    }
    if norm_clamped[t] != 0.0f32 {
        along = 0.0f32;
    }
    let norm = norms[t];
    for c in 0..d {
        let mut first = 0.0f32;
        for k in all_rev_ptr[t] as usize..all_rev_ptr[t + 1] as usize {
            let e = all_rev_edges[k] as usize;
            first += gbar[e] * d_h1[(e / fan) * d + c];
        }
        let at = t * d + c;
        out[at] = (out[at] - unit[at] * along) / norm + first;
    }
}

/// `out[i, c] = table[ids[i], c]`, one unit per element.
#[cube(launch)]
pub fn gather_rows(table: &Tensor<f32>, ids: &Tensor<u32>, out: &mut Tensor<f32>) {
    let at = ABSOLUTE_POS;
    if at >= out.len() {
        terminate!();
    }
    let d = out.shape(1);
    out[at] = table[ids[at / d] as usize * d + at % d];
}

/// `out[ids[i], c] = rows[i, c]` for distinct `ids` (the other rows of `out` as they
/// are), one unit per element of `rows`.
#[cube(launch)]
pub fn scatter_rows(rows: &Tensor<f32>, ids: &Tensor<u32>, out: &mut Tensor<f32>) {
    let at = ABSOLUTE_POS;
    if at >= rows.len() {
        terminate!();
    }
    let d = rows.shape(1);
    out[ids[at / d] as usize * d + at % d] = rows[at];
}

/// The MP loss's comparison (Eq. 10), one unit per element `(i, e)` of the decoded
/// rows: `abs[i, e] = wᵢ·|dec[i, e] − target[ids[i], e]|` and, when `with_grad`,
/// `grad[i, e] = wᵢ·sign(…)·scale` (sign 0 at 0), the loss's gradient with respect to
/// the decoded row for an upstream gradient of 1.
#[cube(launch)]
pub fn mp_compare(
    decoded: &Tensor<f32>,
    target: &Tensor<f32>,
    ids: &Tensor<u32>,
    weights: &Tensor<f32>,
    abs: &mut Tensor<f32>,
    grad: &mut Tensor<f32>,
    scale: f32,
    #[comptime] with_grad: bool,
) {
    let at = ABSOLUTE_POS;
    if at >= decoded.len() {
        terminate!();
    }
    let dm = decoded.shape(1);
    let (i, e) = (at / dm, at % dm);
    let diff = decoded[at] - target[ids[i] as usize * dm + e];
    let w = weights[i];
    abs[at] = w * f32::abs(diff);
    if with_grad {
        let mut sign = 0.0f32;
        if diff > 0.0f32 {
            sign = 1.0f32;
        }
        if diff < 0.0f32 {
            sign = -1.0f32;
        }
        grad[at] = w * sign * scale;
    }
}

/// `out[i] = x[i]·g[0]`, one unit per element.
#[cube(launch)]
pub fn scaled_by(x: &Tensor<f32>, g: &Tensor<f32>, out: &mut Tensor<f32>) {
    let at = ABSOLUTE_POS;
    if at >= out.len() {
        terminate!();
    }
    out[at] = x[at] * g[0];
}
