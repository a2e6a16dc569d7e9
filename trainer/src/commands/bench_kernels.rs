//! `mario bench --kernels`: the gather kernels behind the graph stages, one at a
//! time, at a preset's shape. The stage table says which stage of an epoch costs
//! what; this says what one kernel costs, steadily enough to compare two versions
//! of it (the median of many calls in one process, not an epoch's few).
//!
//! The CSR product runs over the preset's own user-item graph, normalised as
//! LightGCN's `Â`; the fixed-fan-in kernels over a random item graph with the
//! model's fan (`k` raw + `k` learnt neighbours). Each call reads every gathered
//! `d`-wide row once: the GB/s column is that traffic, to set against the cache's
//! bandwidth rather than memory's. Two more rows measure that bandwidth: the same
//! gathers as the CSR product and as the fan kernels, each row only added into
//! registers (no weight, no index arithmetic, nothing written), the most those
//! gathers can go on this machine; the last column is each kernel's time over its
//! ceiling's.

use std::time::Instant;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use burn::tensor::Device;
use rayon::prelude::*;

use crate::model::graph::BipartiteGraph;
use crate::sparse::FanIndex;
use crate::sparse::simd::{self, WideLoop};

/// Calls timed per kernel, after as many unmeasured.
const CALLS: usize = 200;

/// One kernel's timing.
pub struct KernelTime {
    pub kernel: &'static str,
    /// Gathered rows per call.
    pub rows_read: usize,
    pub median_us: f64,
    pub min_us: f64,
    /// The [`GATHER_CEILING`] row of the same gathers (its index in the list).
    pub ceiling: Option<usize>,
}

/// The label of the gather-only rows.
pub const GATHER_CEILING: &str = "gathers only";

/// Gathered rows per rayon task of [`gather_only`].
const GATHERS_PER_TASK: usize = 4096;

/// `Σ x[ids[t]]` in registers, 64 columns at a time into two sets of accumulators
/// (even and odd rows, so that no add waits on the one before): a gather with nothing
/// else. Columns past the last whole 64 are left out, so `d` under 64 reads nothing.
struct SumRows<'a> {
    x: &'a [f32],
    ids: &'a [u32],
    d: usize,
}

impl WideLoop for SumRows<'_> {
    type Output = f32;
    #[inline(always)]
    fn run(self) -> f32 {
        const W: usize = 64;
        let (mut even, mut odd) = ([0f32; W], [0f32; W]);
        let block = |s: u32, start: usize| -> &[f32; W] {
            self.x[s as usize * self.d + start..][..W]
                .try_into()
                .expect("a block of W columns")
        };
        for start in (0..self.d / W * W).step_by(W) {
            let pairs = self.ids.chunks_exact(2);
            if let &[last] = pairs.remainder() {
                let row = block(last, start);
                for l in 0..W {
                    even[l] += row[l];
                }
            }
            for pair in pairs {
                let (a, b) = (block(pair[0], start), block(pair[1], start));
                for l in 0..W {
                    even[l] += a[l];
                    odd[l] += b[l];
                }
            }
        }
        even.iter().zip(&odd).map(|(a, b)| a + b).sum()
    }
}

/// The rows `ids` of the `d`-wide table `x`, read in parallel blocks and summed in
/// registers ([`SumRows`]); one value back, so that the reads are not optimised away.
fn gather_only(x: &[f32], ids: &[u32], d: usize) -> Vec<f32> {
    let sum = ids
        .par_chunks(GATHERS_PER_TASK)
        .map(|ids| simd::widest(SumRows { x, ids, d }))
        .sum();
    vec![sum]
}

/// Median and minimum microseconds of `f` over [`CALLS`] calls, after as many unmeasured.
fn time(f: impl FnMut() -> Vec<f32>) -> (f64, f64) {
    time_calls(CALLS, CALLS, f)
}

/// Median and minimum microseconds of `f` over `calls` calls, after `warm_up` unmeasured
/// ones; each result passes through `black_box`, so the work is not optimised away.
pub(super) fn time_calls<R>(warm_up: usize, calls: usize, mut f: impl FnMut() -> R) -> (f64, f64) {
    for _ in 0..warm_up {
        std::hint::black_box(f());
    }
    let mut us: Vec<f64> = (0..calls.max(1))
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[0])
}

/// Times each kernel at the shape of `train` (`n_items` items), width `d` and an item
/// graph of `fan` neighbours per item, with the pool's workers kept awake as in a
/// training epoch.
pub fn run(train: &[Vec<u32>], n_items: usize, d: usize, fan: usize) -> Vec<KernelTime> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // LightGCN's own `Â` of this graph.
    let graph = BipartiteGraph::new(train, n_items, true, &Device::flex());
    let adjacency = &graph
        .matrix
        .as_ref()
        .expect("flex runs the sparse operations")
        .forward;
    let n = adjacency.n_rows;
    let mut table =
        |rows: usize| -> Vec<f32> { (0..rows * d).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let ego = table(n);
    let items = table(n_items);
    let fan = fan.min(n_items);
    let ids = (0..n_items)
        .flat_map(|_| sample(&mut rng, n_items, fan).into_iter().map(|s| s as u32))
        .collect();
    let index = FanIndex::new(ids, n_items, n_items);
    let weights: Vec<f32> = (0..n_items * fan)
        .map(|_| rng.random_range(0.0..0.1))
        .collect();
    let edges = n_items * fan;
    crate::keep_awake::with_workers_awake(|| {
        let mut out = Vec::new();
        // Pushes a row and returns its index (a kernel's `ceiling` names a row by it).
        let mut measure = |kernel, rows_read, ceiling, f: &mut dyn FnMut() -> Vec<f32>| {
            let (median_us, min_us) = time(f);
            out.push(KernelTime {
                kernel,
                rows_read,
                median_us,
                min_us,
                ceiling,
            });
            out.len() - 1
        };
        let csr_ceiling = Some(measure(
            GATHER_CEILING,
            adjacency.cols.len(),
            None,
            &mut || gather_only(&ego, &adjacency.cols, d),
        ));
        measure(
            "CSR Â·x (LightGCN layer)",
            adjacency.vals.len(),
            csr_ceiling,
            &mut || adjacency.matmul(&ego, d),
        );
        let fan_ceiling = Some(measure(GATHER_CEILING, edges, None, &mut || {
            gather_only(&items, &index.ids, d)
        }));
        measure(
            "fan Ḡ·x (item GCN layer)",
            edges,
            fan_ceiling,
            &mut || index.weighted_sum(&items, &weights, d),
        );
        measure(
            "fan Ḡᵀ·g (its backward)",
            edges,
            fan_ceiling,
            &mut || index.weighted_sum_grad_x(&items, &weights, d),
        );
        measure(
            "fan pair dots (cosines, ∂Ḡ)",
            edges,
            fan_ceiling,
            &mut || index.pair_dots(&items, &items, d),
        );
        measure(
            "fan self-dots backward (∂cos)",
            2 * edges,
            fan_ceiling,
            &mut || index.self_dots_grad(&weights, &items, d),
        );
        out
    })
}

/// A kernel's median time per gathered row over that of its gather-only row.
pub fn times_ceiling(times: &[KernelTime], t: &KernelTime) -> Option<f64> {
    let c = &times[t.ceiling?];
    Some((t.median_us / t.rows_read as f64) / (c.median_us / c.rows_read as f64))
}

/// The kernels' table: median and minimum µs per call, the gathered rows' GB/s and
/// the time per gathered row over the gather-only row's.
pub fn print(preset: &str, d: usize, times: &[KernelTime]) {
    println!();
    println!(
        "{preset}: graph kernels, one call each (median of {CALLS}; d = {d}, rows gathered in place; \
         \"{GATHER_CEILING}\": the rows of the kernels below it read and summed in registers, nothing else)"
    );
    println!("| kernel | rows gathered | median µs | min µs | GB/s gathered | × gathers only |");
    println!("|---|---:|---:|---:|---:|---:|");
    for t in times {
        let bytes = (t.rows_read * d * size_of::<f32>()) as f64;
        let ratio = times_ceiling(times, t).map_or("–".to_string(), |r| format!("{r:.2}×"));
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {ratio} |",
            t.kernel,
            t.rows_read,
            t.median_us,
            t.min_us,
            bytes / (t.median_us * 1e-6) / 1e9
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_is_timed_with_the_rows_it_gathers() {
        // 3 users, 4 items, 6 pairs: Â has 12 entries; fan 2 over 4 items: 8 edges.
        let train = vec![vec![0, 1], vec![1, 2], vec![2, 3]];
        let times = run(&train, 4, 8, 2);
        let rows: Vec<usize> = times.iter().map(|t| t.rows_read).collect();
        assert_eq!(rows, [12, 12, 8, 8, 8, 8, 16]);
        for t in &times {
            assert!(
                t.min_us.is_finite() && t.min_us <= t.median_us,
                "{}",
                t.kernel
            );
            // Each kernel points at the gather-only row of its own gathers.
            match t.ceiling {
                None => assert_eq!(t.kernel, GATHER_CEILING),
                Some(c) => {
                    assert_eq!(times[c].kernel, GATHER_CEILING);
                    let per_row = |t: &KernelTime| t.median_us / t.rows_read as f64;
                    let ratio = times_ceiling(&times, t).unwrap();
                    assert!((ratio - per_row(t) / per_row(&times[c])).abs() < 1e-9);
                }
            }
        }
        assert_eq!(times[1].ceiling, Some(0));
        assert!(times[3..].iter().all(|t| t.ceiling == Some(2)));
    }
}
