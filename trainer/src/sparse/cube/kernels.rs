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

/// `±g[b]·∂r/∂sᵏ` for triple `b` of `n`, side `s` (0 the positive, `+`; 1 the negative,
/// `−`) and modality `k` of `m`.
#[cube]
fn bpr_weight(
    g: &Tensor<f32>,
    dscore: &Tensor<f32>,
    b: usize,
    s: usize,
    k: usize,
    n: usize,
    m: usize,
) -> f32 {
    let w = g[b] * dscore[(s * n + b) * m + k];
    let mut signed = w;
    if s == 1 {
        signed = -w;
    }
    signed
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
        if pass < 2 {
            let item = items[s * n + b] as usize;
            let mut sum = 0.0f32;
            for k in 0..m {
                let w = bpr_weight(g, dscore, b, s, k, n, m);
                let (in_side, row) = item_row(item, k, n_users, n_items, n_side, d);
                if in_side {
                    sum += w * side[row + c];
                } else {
                    sum += w * cf[row + c];
                }
            }
            acc += sum;
        } else {
            let w = bpr_weight(g, dscore, b, s, m - 1, n, m);
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
        let w = bpr_weight(g, dscore, b, pass % 2, pass / 2, n, m);
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
