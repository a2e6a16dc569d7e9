//! Full ranking's selection on a CubeCL device: each user's best `k` items from a tile
//! of affinities, the user's training items skipped, the attention fusion (Eq. 5–7)
//! applied on the way, in two launches: every unit takes one user's segment of the
//! items and keeps its best `k` in registers, then one unit per user merges its
//! segments' lists. Only `users × k` ids come back to the host.
//!
//! The order is the host's (`mario_shared::metrics::TopK`): higher score first, ties
//! to the lower item id; a NaN score ranks below every number.

use burn::backend::Cube;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::launch::{elementwise, upload_u32};

/// No item: an empty slot of a list (it loses to every item).
const EMPTY: u32 = u32::MAX;
/// Items a unit of the first launch scans.
const SEGMENT: usize = 256;

/// Whether `(score, item)` ranks above `(other, other_item)`: the host's order.
#[cube]
fn ranks_above(score: f32, item: u32, other: f32, other_item: u32) -> bool {
    other_item == EMPTY || score > other || (score == other && item < other_item)
}

/// Offers `(score, item)` to the list `(top_s, top_i)` kept sorted best first, whose
/// last slot is `last` (a runtime value: the insertion's cursor moves at run time).
#[cube]
fn offer(top_s: &mut Array<f32>, top_i: &mut Array<u32>, score: f32, item: u32, last: u32) {
    let end = last as usize;
    if ranks_above(score, item, top_s[end], top_i[end]) {
        // Shift the worse entries down one slot, then write the new one.
        let mut j = end;
        loop {
            if j == 0 {
                break;
            }
            if !ranks_above(score, item, top_s[j - 1], top_i[j - 1]) {
                break;
            }
            top_s[j] = top_s[j - 1];
            top_i[j] = top_i[j - 1];
            j -= 1;
        }
        top_s[j] = score;
        top_i[j] = item;
    }
}

/// One unit per (tile row `b`, segment `s`): the best `k` items of the segment for row
/// `b`, skipping row `b`'s training items (`train_items[train_ptr[b]..train_ptr[b + 1]]`,
/// ascending). `scores` is `[rows, tables · n_items]`, table after table; with
/// `attention`, an item's score is `Σₘ softmaxₘ(sₘ·scale)·sₘ` over its `tables`
/// affinities, else the one affinity itself. `last` is `k − 1` as a runtime value (the
/// insertion's cursor must be a runtime variable, and a comptime `k − 1` is not one).
#[cube(launch)]
#[allow(
    clippy::too_many_arguments,
    clippy::neg_cmp_op_on_partial_ord,
    reason = "a kernel's arguments are its bindings; `!(x >= MIN)` is the NaN test"
)]
pub fn segment_top_k(
    scores: &Tensor<f32>,
    train_ptr: &Tensor<u32>,
    train_items: &Tensor<u32>,
    out_scores: &mut Tensor<f32>,
    out_items: &mut Tensor<u32>,
    units: u32,
    segments: u32,
    n_items: u32,
    scale: f32,
    last: u32,
    #[comptime] tables: usize,
    #[comptime] attention: bool,
    #[comptime] k: usize,
) {
    let at = ABSOLUTE_POS;
    if at >= units as usize {
        terminate!();
    }
    let segments = segments as usize;
    let n = n_items as usize;
    let (b, s) = (at / segments, at % segments);
    let start = s * SEGMENT;
    let mut end = start + SEGMENT;
    if end > n {
        end = n;
    }
    let mut top_s = Array::<f32>::new(k);
    let mut top_i = Array::<u32>::new(k);
    for j in 0..k {
        top_s[j] = f32::MIN;
        top_i[j] = EMPTY;
    }
    let mut t = train_ptr[b] as usize;
    let t_end = train_ptr[b + 1] as usize;
    let row = b * tables * n;
    for i in start..end {
        loop {
            if t >= t_end {
                break;
            }
            if train_items[t] as usize >= i {
                break;
            }
            t += 1;
        }
        let trained = t < t_end && train_items[t] as usize == i;
        if !trained {
            let mut score = scores[row + i];
            if attention {
                let mut top = score * scale;
                for m in 1..tables {
                    top = f32::max(top, scores[row + m * n + i] * scale);
                }
                let mut weights = 0.0f32;
                let mut sum = 0.0f32;
                for m in 0..tables {
                    let a = scores[row + m * n + i];
                    let w = f32::exp(a * scale - top);
                    weights += w;
                    sum += w * a;
                }
                score = sum / weights;
            }
            // NaN compares false with everything: rank it below every number.
            if !(score >= f32::MIN) {
                score = f32::MIN;
            }
            let item = i as u32;
            offer(&mut top_s, &mut top_i, score, item, last);
        }
    }
    for j in 0..k {
        out_scores[at * k + j] = top_s[j];
        out_items[at * k + j] = top_i[j];
    }
}

/// One unit per row: the best `k` of its segments' lists, into `out[b·k ..]` (`EMPTY`
/// past the row's last candidate).
#[cube(launch)]
pub fn merge_top_k(
    seg_scores: &Tensor<f32>,
    seg_items: &Tensor<u32>,
    out: &mut Tensor<u32>,
    rows: u32,
    segments: u32,
    last: u32,
    #[comptime] k: usize,
) {
    let b = ABSOLUTE_POS;
    if b >= rows as usize {
        terminate!();
    }
    let mut top_s = Array::<f32>::new(k);
    let mut top_i = Array::<u32>::new(k);
    for j in 0..k {
        top_s[j] = f32::MIN;
        top_i[j] = EMPTY;
    }
    let first = b * segments as usize * k;
    for c in first..first + segments as usize * k {
        let item = seg_items[c];
        let score = seg_scores[c];
        if item != EMPTY {
            offer(&mut top_s, &mut top_i, score, item, last);
        }
    }
    for j in 0..k {
        out[b * k + j] = top_i[j];
    }
}

/// The best `k` items of each row of `scores` (`[rows, tables · n_items]`, see
/// [`segment_top_k`]), row `b`'s training items `train[b]` (ascending) skipped; each
/// list best first, shorter where a row has fewer than `k` candidates. A device that
/// fails (out of memory, a lost device) is an error, not a panic.
pub fn top_k(
    scores: CubeTensor,
    train: &[&[u32]],
    n_items: usize,
    tables: usize,
    attention: Option<f32>,
    k: usize,
) -> anyhow::Result<Vec<Vec<u32>>> {
    let rows = train.len();
    if k == 0 || rows == 0 {
        return Ok(vec![Vec::new(); rows]);
    }
    let scores = into_contiguous(scores);
    let (client, device) = (scores.client.clone(), scores.device.clone());
    let mut train_ptr = Vec::with_capacity(rows + 1);
    train_ptr.push(0u32);
    let mut train_items = Vec::new();
    for items in train {
        train_items.extend_from_slice(items);
        train_ptr.push(train_items.len() as u32);
    }
    let segments = n_items.div_ceil(SEGMENT).max(1);
    let units = rows * segments;
    let empty = |n: usize, dtype: burn::tensor::DType| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), [n].into(), dtype)
    };
    let seg_scores = empty(units * k, burn::tensor::DType::F32);
    let seg_items = empty(units * k, burn::tensor::DType::U32);
    let (count, dim) = elementwise(&client, units);
    segment_top_k::launch(
        &client,
        count,
        dim,
        scores.into_tensor_arg(),
        upload_u32(&train_ptr, &device).into_tensor_arg(),
        upload_u32(&train_items, &device).into_tensor_arg(),
        seg_scores.clone().into_tensor_arg(),
        seg_items.clone().into_tensor_arg(),
        units as u32,
        segments as u32,
        n_items as u32,
        attention.unwrap_or(1.0),
        (k - 1) as u32,
        tables,
        attention.is_some(),
        k,
    );
    let out = empty(rows * k, burn::tensor::DType::U32);
    let (count, dim) = elementwise(&client, rows);
    merge_top_k::launch(
        &client,
        count,
        dim,
        seg_scores.into_tensor_arg(),
        seg_items.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        rows as u32,
        segments as u32,
        (k - 1) as u32,
        k,
    );
    let ids: Vec<u32> = burn::tensor::Tensor::<1, burn::tensor::Int>::from_primitive::<Cube>(out)
        .try_into_data()
        .map_err(|e| anyhow::anyhow!("ranking on the device failed: {e}"))?
        .iter::<u32>()
        .collect();
    Ok(ids
        .chunks(k)
        .map(|list| list.iter().copied().filter(|&i| i != EMPTY).collect())
        .collect())
}
