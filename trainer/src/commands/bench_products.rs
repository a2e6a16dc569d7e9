//! `mario bench --kernels`, second table: the dense products of the compression (Eq. 1)
//! and the MP decoders (Eq. 8, 10) one call at a time, at a preset's own shapes and
//! through the very calls a training step makes ([`matmul_par`] for `x·W` and
//! `∂W = xᵀ·g`, [`MpRows::decode_loss_with_grad`] for the fused MP loss and its two
//! gradients), next to a 1024³ product through the same [`matmul_par`].
//!
//! The stage table's floors take every product at the 1024³ rate; these products are
//! thin (`k` or `n` is `d` = 64) and run slower than that on the same cores. The last
//! line adds them up for one epoch (the number of steps × each call): the time the
//! compression and MP stages cannot go under with these products, to read the stage
//! table's ratios against.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use mario_shared::matmul::{MatRef, matmul_par};

use crate::sparse::MpRows;

/// The products' work per call: at least this many FLOPs' worth of calls are timed
/// (one call of baby's `x·W` is 3.7 GFLOP: a few calls; dense's 0.03: a few hundred).
const FLOPS_TIMED: f64 = 2e10;

/// Calls timed per product: at most this many, at least [`MIN_CALLS`].
const MAX_CALLS: usize = 200;
const MIN_CALLS: usize = 5;

/// One product's timing.
pub struct ProductTime {
    pub product: String,
    pub flops: f64,
    pub median_us: f64,
    /// Calls of it in one training step (0 for the 1024³ reference).
    pub calls_per_step: usize,
}

impl ProductTime {
    pub fn gflops(&self) -> f64 {
        self.flops / (self.median_us * 1e3)
    }
}

/// What a preset's products are made of: its item count, each side modality's name
/// and features (`[items, dₘ]`), the model width `d` and the batch size.
pub struct ProductShapes<'a> {
    pub items: usize,
    pub modalities: Vec<(&'a str, &'a [f32])>,
    pub d: usize,
    pub batch: usize,
}

/// Median microseconds of `f`, over as many calls as [`FLOPS_TIMED`] allows (after one
/// unmeasured call).
fn time(flops: f64, f: impl FnMut()) -> f64 {
    let calls = ((FLOPS_TIMED / flops.max(1.0)) as usize).clamp(MIN_CALLS, MAX_CALLS);
    super::bench_kernels::time_calls(1, calls, f).0
}

/// The batch's MP rows as training draws them: `2·batch` items (the positives and the
/// negatives; here all uniform, as [`crate::roofline::expected_distinct`] assumes),
/// distinct and counted.
fn batch_rows(items: usize, batch: usize, rng: &mut ChaCha8Rng) -> MpRows {
    let mut counts = vec![0f32; items];
    for _ in 0..2 * batch {
        counts[rng.random_range(0..items)] += 1.0;
    }
    let (ids, weights) = counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0.0)
        .map(|(i, &c)| (i as u32, c))
        .unzip();
    MpRows {
        ids,
        weights,
        draws: 2 * batch,
    }
}

/// Times a 1024³ product and, per side modality, the compression's two products and
/// the fused MP loss at `shapes`, with the pool's workers kept awake as in an epoch.
pub fn run(shapes: &ProductShapes<'_>) -> Vec<ProductTime> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut random =
        |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-0.1..0.1)).collect() };
    let (items, d) = (shapes.items, shapes.d);
    let n = 1024;
    let (a, b) = (random(n * n), random(n * n));
    let rows = batch_rows(items, shapes.batch, &mut ChaCha8Rng::seed_from_u64(12));
    let distinct = rows.ids.len();
    let mut inputs = Vec::new();
    for &(name, x) in &shapes.modalities {
        let dm = x.len() / items.max(1);
        inputs.push((
            name,
            x,
            dm,
            random(dm * d),
            random(items * d),
            random(distinct * d),
        ));
    }
    crate::keep_awake::with_workers_awake(|| {
        let mut out = Vec::new();
        let mut product = |product: String, flops: f64, calls_per_step, f: &mut dyn FnMut()| {
            let median_us = time(flops, f);
            out.push(ProductTime {
                product,
                flops,
                median_us,
                calls_per_step,
            });
        };
        let mut c = vec![0f32; n * n];
        product(
            "1024³ (the stage table's rate)".into(),
            2.0 * (n * n * n) as f64,
            0,
            &mut || matmul_par(mat(&a, n, n), mat(&b, n, n), &mut c),
        );
        for (name, x, dm, w, g, code) in &inputs {
            let (dm, flops) = (*dm, 2.0 * (items * dm * d) as f64);
            let mut code_out = vec![0f32; items * d];
            product(
                format!("{name}: x·W [{items}, {dm}]·[{dm}, {d}]"),
                flops,
                1,
                &mut || matmul_par(mat(x, items, dm), mat(w, dm, d), &mut code_out),
            );
            let mut grad_w = vec![0f32; dm * d];
            product(
                format!("{name}: ∂W = xᵀ·g [{dm}, {items}]·[{items}, {d}]"),
                flops,
                1,
                &mut || matmul_par(mat(x, items, dm).t(), mat(g, items, d), &mut grad_w),
            );
            product(
                format!("{name}: MP loss + ∂code, ∂W̃ ({distinct} distinct items, dₘ = {dm})"),
                6.0 * (distinct * d * dm) as f64,
                1,
                // `w` is `[dₘ, d]`, as long as a `[d, dₘ]` decoder: its values serve.
                &mut || {
                    std::hint::black_box(rows.decode_loss_with_grad(code, w, x, d, dm));
                },
            );
        }
        out
    })
}

fn mat(data: &[f32], rows: usize, cols: usize) -> MatRef<'_> {
    MatRef::row_major(data, rows, cols)
}

/// Seconds an epoch of `steps` steps spends in these products at the measured rates.
pub fn epoch_seconds(times: &[ProductTime], steps: usize) -> f64 {
    let step_us: f64 = times
        .iter()
        .map(|t| t.median_us * t.calls_per_step as f64)
        .sum();
    step_us * steps as f64 * 1e-6
}

/// The products' table: median µs per call, GFLOP/s, and each call's time over what
/// it would take at the 1024³ product's rate; then the epoch's sum at both rates.
pub fn print(preset: &str, steps: usize, times: &[ProductTime]) {
    let Some(reference) = times.iter().find(|t| t.calls_per_step == 0) else {
        return;
    };
    let rate = reference.gflops();
    println!();
    println!(
        "{preset}: compression and MP products, one call each at the preset's shapes (median; \
         through matmul_par and the fused MP loss, as a step calls them)"
    );
    println!("| product | median µs | GFLOP/s | × the 1024³ rate's time |");
    println!("|---|---:|---:|---:|");
    for t in times {
        println!(
            "| {} | {:.1} | {:.1} | {:.2}× |",
            t.product,
            t.median_us,
            t.gflops(),
            rate / t.gflops()
        );
    }
    let at_rate: f64 = times
        .iter()
        .map(|t| t.flops * t.calls_per_step as f64)
        .sum::<f64>()
        * steps as f64
        / (rate * 1e9);
    println!(
        "{preset}: these products in one epoch ({steps} steps): {:.3} s at their own rates, \
         {at_rate:.3} s at the 1024³ rate",
        epoch_seconds(times, steps)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each modality gets its three products with their FLOPs from the shapes, the
    /// batch's distinct items count `2·batch` draws, and the epoch sums calls × steps.
    #[test]
    fn products_follow_the_shapes() {
        let (items, d, batch) = (40, 8, 16);
        let image: Vec<f32> = (0..items * 12).map(|k| (k % 7) as f32 * 0.1).collect();
        let text: Vec<f32> = (0..items * 5).map(|k| (k % 3) as f32 * 0.1).collect();
        let shapes = ProductShapes {
            items,
            modalities: vec![("image", &image), ("text", &text)],
            d,
            batch,
        };
        let rows = batch_rows(items, batch, &mut ChaCha8Rng::seed_from_u64(12));
        assert_eq!(rows.weights.iter().sum::<f32>(), (2 * batch) as f32);
        assert!(
            rows.ids.windows(2).all(|w| w[0] < w[1]),
            "distinct, in order"
        );
        let times = run(&shapes);
        assert_eq!(times.len(), 1 + 2 * 3);
        assert_eq!(times[0].calls_per_step, 0);
        for (m, dm) in [(0, 12), (1, 5)] {
            let [xw, grad, mp] = [1, 2, 3].map(|k| &times[3 * m + k]);
            assert_eq!(xw.flops, 2.0 * (items * dm * d) as f64);
            assert_eq!(grad.flops, xw.flops);
            assert_eq!(mp.flops, 6.0 * (rows.ids.len() * d * dm) as f64);
            assert!(mp.product.contains(&format!("dₘ = {dm}")), "{}", mp.product);
        }
        assert!(
            times
                .iter()
                .all(|t| t.median_us > 0.0 && t.gflops().is_finite())
        );
        let per_step: f64 = times[1..].iter().map(|t| t.median_us).sum();
        assert!((epoch_seconds(&times, 3) - 3.0 * per_step * 1e-6).abs() < 1e-12);
    }
}
