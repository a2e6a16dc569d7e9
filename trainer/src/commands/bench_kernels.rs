//! `mario bench --kernels`: the gather kernels behind the graph stages, one at a
//! time, at a preset's shape. The stage table says which stage of an epoch costs
//! what; this says what one kernel costs, steadily enough to compare two versions
//! of it (the median of many calls in one process, not an epoch's few).
//!
//! The CSR product runs over the preset's own user-item graph, normalised as
//! LightGCN's `Â`; the fixed-fan-in kernels over a random item graph with the
//! model's fan (`k` raw + `k` learnt neighbours). Each call reads every gathered
//! `d`-wide row once: the GB/s column is that traffic, to set against the cache's
//! bandwidth rather than memory's.

use std::time::Instant;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use burn::tensor::Device;

use crate::model::graph::BipartiteGraph;
use crate::sparse::FanIndex;

/// Calls timed per kernel, after as many unmeasured.
const CALLS: usize = 200;

/// One kernel's timing.
pub struct KernelTime {
    pub kernel: &'static str,
    /// Gathered rows per call.
    pub rows_read: usize,
    pub median_us: f64,
    pub min_us: f64,
}

/// Median and minimum microseconds of `f` over [`CALLS`] calls.
fn time(mut f: impl FnMut() -> Vec<f32>) -> (f64, f64) {
    for _ in 0..CALLS {
        std::hint::black_box(f());
    }
    let mut us: Vec<f64> = (0..CALLS)
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
    let graph = BipartiteGraph::new(train, n_items, &Device::flex());
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
        let mut measure = |kernel, rows_read, f: &mut dyn FnMut() -> Vec<f32>| {
            let (median_us, min_us) = time(f);
            out.push(KernelTime {
                kernel,
                rows_read,
                median_us,
                min_us,
            });
        };
        measure(
            "CSR Â·x (LightGCN layer)",
            adjacency.vals.len(),
            &mut || adjacency.matmul(&ego, d),
        );
        measure("fan Ḡ·x (item GCN layer)", edges, &mut || {
            index.weighted_sum(&items, &weights, d)
        });
        measure("fan Ḡᵀ·g (its backward)", edges, &mut || {
            index.weighted_sum_grad_x(&items, &weights, d)
        });
        measure("fan pair dots (cosines, ∂Ḡ)", edges, &mut || {
            index.pair_dots(&items, &items, d)
        });
        measure("fan self-dots backward (∂cos)", 2 * edges, &mut || {
            index.self_dots_grad(&weights, &items, d)
        });
        out
    })
}

/// The kernels' table: median and minimum µs per call and the gathered rows' GB/s.
pub fn print(preset: &str, d: usize, times: &[KernelTime]) {
    println!();
    println!(
        "{preset}: graph kernels, one call each (median of {CALLS}; d = {d}, rows gathered in place)"
    );
    println!("| kernel | rows gathered | median µs | min µs | GB/s gathered |");
    println!("|---|---:|---:|---:|---:|");
    for t in times {
        let bytes = (t.rows_read * d * size_of::<f32>()) as f64;
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |",
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
        assert_eq!(rows, [12, 8, 8, 8, 16]);
        for t in &times {
            assert!(
                t.min_us.is_finite() && t.min_us <= t.median_us,
                "{}",
                t.kernel
            );
        }
    }
}
