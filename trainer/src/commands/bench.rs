//! `mario bench`: the trainer's performance table. For each preset and backend it
//! measures, in one process and one run:
//!
//! - building the model (raw-feature kNN graphs `Aᵐ`, blockwise top-k),
//! - one rebuild of the learnt kNN graphs `Āᵐ`,
//! - one training epoch (`--epochs` averaged),
//! - one full-ranking evaluation of the validation split,
//!
//! the last three `--repeat` times in turn (default 3), reported as the median with
//! the range below the table (the stage split is the median epoch's repeat);
//! with `--kernels`, the graph kernels one call at a time ([`super::bench_kernels`])
//! and the compression's and MP loss's products likewise ([`super::bench_products`]),
//! and, with `--rss`, trains one epoch of the `sports` preset in a child `mario
//! train` process and reports its peak RSS.
//! Synthetic datasets are generated once into `--cache` and reused.
//!
//! Next to each time it prints the floor from [`crate::roofline`]: the stage's FLOPs
//! and bytes at this machine's measured matrix-product rate (a 1024³ product on the
//! backend) and memory bandwidth (a 256 MiB copy), and measured ÷ floor. Where the
//! epoch ran the flex operations, a second table splits it by stage
//! ([`crate::stage_clock`]): each stage's seconds, its floor and the ratio, and the
//! rest of the epoch (sampling, burn's graph, the small ops between the fused ones).
//! On a CubeCL device (wgpu, CUDA) both tables also give the kernel launches per
//! training step, in all and by stage, and the main one the peak bytes of the
//! device's memory pools ([`crate::device_meter`], read at the stage edges).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use mario_data::Preset;

use crate::backend::{self, BackendChoice};
use crate::config::TrainConfig;
use crate::eval::Split;
use crate::model::Mario;
use crate::roofline::Shapes;
use crate::stage_clock::{self, Stage};
use crate::train::optimizer::AdamOptimizer;
use crate::train::{evaluate_model, peak_rss_mib, train_epoch, training_pairs};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Presets to measure.
    #[arg(long, value_delimiter = ',', default_value = "demo,dense,baby")]
    pub presets: Vec<String>,
    /// Backends to measure (`wgpu` needs a Vulkan/Metal/DX12 adapter, lavapipe counts; `cuda`
    /// needs a build with the `cuda` feature and a CUDA device; an unavailable one is skipped).
    #[arg(long, value_delimiter = ',', default_value = "cpu,wgpu")]
    pub backends: Vec<String>,
    /// Training epochs to average over (0: skip the epoch, e.g. to time evaluation alone).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Also measure peak RSS of one `sports` training epoch (CPU backend).
    #[arg(long)]
    pub rss: bool,
    /// Also time the graph stages' gather kernels and the compression's and MP loss's
    /// products one call at a time at each preset's shape (`bench_kernels.rs`,
    /// `bench_products.rs`): for comparing two versions of a kernel, and for the
    /// products' own rate next to the 1024³ one the floors assume.
    #[arg(long)]
    pub kernels: bool,
    /// Times each measure (kNN rebuild, `--epochs` epochs, evaluation) this many times in
    /// turn and reports the median, with the range below the table.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Where generated datasets are kept.
    #[arg(long, default_value = "target/bench-data")]
    pub cache: PathBuf,
    /// Also write every number of the tables to this JSON file (temp file, then rename),
    /// for scripts and tests that should not parse Markdown.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn dataset_dir(cache: &Path, preset: Preset) -> anyhow::Result<PathBuf> {
    let dir = cache.join(preset.to_string());
    if !dir.join("truth.json").exists() {
        eprintln!("generating the {preset} preset into {} …", dir.display());
        mario_data::generate(preset, 7, &dir)?;
    }
    Ok(dir)
}

#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    preset: String,
    backend: String,
    build_s: f64,
    knn_s: f64,
    epoch_s: f64,
    eval_s: f64,
    /// Over the repeats.
    ranges: Ranges,
    /// Floors at the measured rates.
    floors: Floors,
    rss_mib: f64,
    /// The rates the floors use.
    rates: Rates,
    /// Seconds per epoch in each [`Stage`] and their floors (all zero off flex).
    stages: [f64; Stage::ALL.len()],
    stage_floors: [f64; Stage::ALL.len()],
    /// On a CubeCL device: kernel launches per training step, in each [`Stage`] and in
    /// all (the stages' and the rest's), and the peak pool bytes over the epochs and the
    /// evaluation.
    device: Option<DeviceCounts>,
}

/// The median and range of each repeated measure.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Ranges {
    knn: Spread,
    epoch: Spread,
    eval: Spread,
}

/// Seconds each measure would take at the measured rates ([`crate::roofline`]).
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Floors {
    epoch_s: f64,
    eval_s: f64,
    knn_s: f64,
}

/// The machine's measured rates on a backend ([`measure_rates`]).
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Rates {
    gflops: f64,
    gbs: f64,
}

/// What a CubeCL device reported over the median repeat's epochs (and its evaluation).
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct DeviceCounts {
    stage_launches_per_step: [f64; Stage::ALL.len()],
    launches_per_step: f64,
    peak_reserved_mib: f64,
}

/// The machine's measured rates on a backend: (GFLOP/s of a 1024³ matrix product,
/// GB/s of a 256 MiB host copy), each the best of three.
fn measure_rates(device: &burn::tensor::Device) -> (f64, f64) {
    use burn::tensor::{Distribution, Tensor};
    let n = 1024;
    let a = Tensor::<2>::random([n, n], Distribution::Default, device);
    let b = Tensor::<2>::random([n, n], Distribution::Default, device);
    let _ = crate::tensor::to_f32(a.clone().matmul(b.clone()).sum()); // warm-up
    let mut gemm_s = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let _ = crate::tensor::to_f32(a.clone().matmul(b.clone()).sum());
        gemm_s = gemm_s.min(started.elapsed().as_secs_f64());
    }
    let src = vec![1u8; 256 << 20];
    let mut dst = vec![0u8; 256 << 20];
    let mut copy_s = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        dst.copy_from_slice(&src);
        std::hint::black_box(&mut dst);
        copy_s = copy_s.min(started.elapsed().as_secs_f64());
    }
    // A copy reads and writes every byte.
    (
        2.0 * (n * n * n) as f64 / gemm_s / 1e9,
        2.0 * src.len() as f64 / copy_s / 1e9,
    )
}

fn shapes(dataset: &mario_data::Dataset, config: &TrainConfig, params: usize) -> Shapes {
    Shapes {
        users: dataset.n_users,
        items: dataset.n_items,
        nnz: dataset.train.iter().map(Vec::len).sum(),
        d: config.dim,
        side_dims: dataset.modalities.iter().map(|m| m.dim).collect(),
        scored: dataset.modalities.len() + 1,
        knn_k: config.knn_k,
        item_layers: config.item_layers,
        cf_layers: config.cf_layers,
        batch: config.batch_size,
        params,
        eval_users: dataset.valid.iter().filter(|v| !v.is_empty()).count(),
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut kernel_tables = Vec::new();
    let mut product_tables = Vec::new();
    for preset_name in &args.presets {
        let preset: Preset = preset_name
            .parse()
            .map_err(|e| anyhow::anyhow!("--presets: {e}"))?;
        let dir = dataset_dir(&args.cache, preset)?;
        let dataset = crate::dataset::load(&dir, None)?;
        if args.kernels {
            let config = TrainConfig::default();
            let times = super::bench_kernels::run(
                &dataset.train,
                dataset.n_items,
                config.dim,
                2 * config.knn_k,
            );
            kernel_tables.push((preset.to_string(), config.dim, times));
            let products = super::bench_products::run(&super::bench_products::ProductShapes {
                items: dataset.n_items,
                modalities: dataset
                    .modalities
                    .iter()
                    .map(|m| (m.name.as_str(), m.features.as_slice()))
                    .collect(),
                d: config.dim,
                batch: config.batch_size,
            });
            let steps = shapes(&dataset, &config, 0).steps_per_epoch();
            product_tables.push((preset.to_string(), steps, products));
        }
        for backend_name in &args.backends {
            let choice = match backend_name.as_str() {
                "cpu" => BackendChoice::Cpu,
                "wgpu" => BackendChoice::Wgpu,
                "cuda" => BackendChoice::Cuda,
                other => {
                    anyhow::bail!("--backends: unknown backend `{other}` (use cpu, wgpu, cuda)")
                }
            };
            let backend = match backend::select(choice) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("skipping {backend_name}: {e:#}");
                    continue;
                }
            };
            eprintln!("{preset} on {} [{}] …", backend.name, backend.adapter);
            let config = TrainConfig {
                lr: 5e-3,
                ..TrainConfig::default()
            };
            // Peak RSS from here on (Linux: writing 5 to clear_refs resets VmHWM), so the
            // column is this preset's; the rates are measured after it is read.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let started = Instant::now();
            let (mut model, mut params) = Mario::new(&dataset, &config, &backend.device)?;
            let build_s = started.elapsed().as_secs_f64();
            let mut optim = AdamOptimizer::new(config.adam_eps, params.list.len());
            let pairs = training_pairs(&dataset);
            // Warm-up: compile kernels (wgpu) and touch every code path once, at both batch
            // sizes an epoch has (a full batch and the ragged last one), so that no kernel
            // is compiled or autotuned inside a measured epoch.
            let hidden = ProgressBar::hidden();
            let ragged = pairs.len() % config.batch_size;
            train_epoch(
                &model,
                &mut params,
                &mut optim,
                &dataset,
                &pairs[..pairs.len().min(config.batch_size + ragged)],
                0,
                &hidden,
            )?;
            evaluate_model(&model, &params, &dataset, Split::Valid)?;
            // Each repeat: a kNN rebuild, `--epochs` epochs, an evaluation, in that order.
            let (mut knn, mut epoch, mut eval) = (Vec::new(), Vec::new(), Vec::new());
            let mut stages_by_repeat = Vec::new();
            let steps = shapes(&dataset, &config, 0).steps_per_epoch() as f64;
            let on_cube = crate::sparse::cube::is_cube(&model.device);
            let launch_counter = on_cube.then(crate::device_meter::LaunchCounter::install);
            for repeat in 0..args.repeat as usize {
                let started = Instant::now();
                model.refresh_learnt_graphs(&params);
                knn.push(started.elapsed().as_secs_f64());
                let started = Instant::now();
                let launched_before = crate::device_meter::launches();
                if on_cube {
                    // Kernels run asynchronously: each stage waits for the device at its
                    // edges, so its time is the device's; the edges also count its
                    // launches and sample its pools.
                    let (sync_on, pools_of) = (model.device.clone(), model.device.clone());
                    stage_clock::start_on_device(stage_clock::DeviceProbe {
                        sync: Box::new(move || {
                            sync_on.sync().expect("the device fails to finish its work");
                        }),
                        launches: Box::new(crate::device_meter::launches),
                        reserved_bytes: Box::new(move || {
                            crate::device_meter::reserved_bytes(&pools_of).unwrap_or(0)
                        }),
                    });
                } else {
                    stage_clock::start();
                }
                for e in 0..args.epochs {
                    train_epoch(
                        &model,
                        &mut params,
                        &mut optim,
                        &dataset,
                        &pairs,
                        repeat * args.epochs + e,
                        &hidden,
                    )?;
                }
                let epochs = args.epochs as f64;
                let report = stage_clock::stop();
                let launched = (crate::device_meter::launches() - launched_before) as f64;
                let per_step = |n: f64| n / (epochs * steps).max(1.0);
                stages_by_repeat.push((
                    report.seconds.map(|s| s / epochs.max(1.0)),
                    launch_counter.as_ref().map(|_| DeviceCounts {
                        stage_launches_per_step: report.launches.map(|n| per_step(n as f64)),
                        launches_per_step: per_step(launched),
                        peak_reserved_mib: mib(report.peak_reserved_bytes),
                    }),
                ));
                epoch.push(if args.epochs == 0 {
                    f64::NAN
                } else {
                    started.elapsed().as_secs_f64() / epochs
                });
                let started = Instant::now();
                evaluate_model(&model, &params, &dataset, Split::Valid)?;
                eval.push(started.elapsed().as_secs_f64());
                // The pools after the evaluation too (its score tiles), once it has run.
                if let (Some((_, Some(counts))), Some(bytes)) = (
                    stages_by_repeat.last_mut(),
                    crate::device_meter::reserved_bytes(&model.device),
                ) {
                    counts.peak_reserved_mib = counts.peak_reserved_mib.max(mib(bytes));
                }
            }
            let (knn, epoch, eval) = (Spread::of(&knn), Spread::of(&epoch), Spread::of(&eval));
            // The stage split of the median epoch's repeat: its stages add up to it.
            let (stages, device) = stages_by_repeat[epoch.median_at];
            drop(launch_counter);
            let rss_mib = peak_rss_mib().unwrap_or(f64::NAN);
            let (gflops, gbs) = measure_rates(&backend.device);
            eprintln!("  measured: {gflops:.1} GFLOP/s (1024³ product), {gbs:.1} GB/s (copy)");
            let shape = shapes(&dataset, &config, params.count());
            rows.push(Row {
                preset: preset.to_string(),
                backend: backend.adapter.clone(),
                build_s,
                knn_s: knn.median,
                epoch_s: epoch.median,
                eval_s: eval.median,
                ranges: Ranges { knn, epoch, eval },
                floors: Floors {
                    epoch_s: shape.epoch_seconds(gflops, gbs),
                    eval_s: shape.eval().seconds(gflops, gbs),
                    knn_s: shape.knn_rebuild().seconds(gflops, gbs),
                },
                rss_mib,
                rates: Rates { gflops, gbs },
                stages,
                stage_floors: shape.epoch_stage_seconds(gflops, gbs),
                device,
            });
        }
    }
    println!(
        "| preset | backend | build (raw kNN) s | kNN rebuild s (floor, ×) | epoch s (floor, ×) | full-ranking eval s (floor, ×) | peak RSS MiB | peak device MiB | launches / step |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        // A stage not measured (`--epochs 0`) says so instead of printing NaN.
        let cell = |t: f64, floor: f64| {
            if t.is_nan() {
                format!("skipped (floor {floor:.3})")
            } else {
                format!("{t:.3} ({floor:.3}, {:.1}×)", t / floor)
            }
        };
        // Off a CubeCL device there are no pools or launches to count.
        let (device_mib, launches) = match r.device {
            Some(d) if !r.epoch_s.is_nan() => (
                format!("{:.0}", d.peak_reserved_mib),
                format!("{:.0}", d.launches_per_step),
            ),
            _ => ("—".to_owned(), "—".to_owned()),
        };
        println!(
            "| {} | {} | {:.3} | {} | {} | {} | {:.0} | {device_mib} | {launches} |",
            r.preset,
            r.backend,
            r.build_s,
            cell(r.knn_s, r.floors.knn_s),
            cell(r.epoch_s, r.floors.epoch_s),
            cell(r.eval_s, r.floors.eval_s),
            r.rss_mib
        );
    }
    if args.repeat > 1 {
        println!(
            "medians of {} repeats; their ranges (min–max, s):",
            args.repeat
        );
        for r in &rows {
            let range = |s: &Spread| {
                if s.median.is_nan() {
                    "skipped".to_owned()
                } else {
                    format!("{:.3}–{:.3}", s.min, s.max)
                }
            };
            let Ranges { knn, epoch, eval } = &r.ranges;
            println!(
                "  {} on {}: kNN rebuild {}, epoch {}, eval {}",
                r.preset,
                r.backend,
                range(knn),
                range(epoch),
                range(eval)
            );
        }
    }
    for r in &rows {
        println!(
            "floors for {} on {}: {:.1} GFLOP/s (1024³ product), {:.1} GB/s (copy), measured in this run",
            r.preset, r.backend, r.rates.gflops, r.rates.gbs
        );
    }
    for r in rows.iter().filter(|r| r.stages.iter().any(|&s| s > 0.0)) {
        print_stages(r);
    }
    for (preset, d, times) in &kernel_tables {
        super::bench_kernels::print(preset, *d, times);
    }
    for (preset, steps, times) in &product_tables {
        super::bench_products::print(preset, *steps, times);
    }
    for preset in args.presets.iter() {
        let on: Vec<&Row> = rows.iter().filter(|r| &r.preset == preset).collect();
        if let [cpu, other, ..] = on.as_slice() {
            println!(
                "{preset}: epoch time {} / {} = {:.2}×",
                other.backend,
                cpu.backend,
                other.epoch_s / cpu.epoch_s
            );
        }
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "rows": rows,
            "stages": Stage::ALL.map(|s| s.label()),
        });
        crate::io::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if args.rss {
        let dir = dataset_dir(&args.cache, Preset::Sports)?;
        let run_dir = args.cache.join("sports-rss-run");
        let exe = std::env::current_exe().context("cannot locate the mario executable")?;
        let started = Instant::now();
        let status = std::process::Command::new(exe)
            .args([
                "train",
                "--backend",
                "cpu",
                "--epochs",
                "1",
                "--quiet",
                "--data",
            ])
            .arg(&dir)
            .arg("--out")
            .arg(&run_dir)
            .status()
            .context("cannot start `mario train` for the RSS measurement")?;
        anyhow::ensure!(status.success(), "`mario train` on sports failed");
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json"))?)?;
        println!(
            "sports (35,598 × 18,357, 4096/1024 dims): one epoch + evaluation + export on cpu in {:.1} s, peak RSS {:.0} MiB",
            started.elapsed().as_secs_f64(),
            metrics["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The median and range of one measure over the repeats, and which repeat is the
/// median (the lower one of an even count; NaNs, a skipped measure, sort last).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    median_at: usize,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "a measure is repeated at least once");
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let median_at = order[(order.len() - 1) / 2];
        Spread {
            median: values[median_at],
            min: values[order[0]],
            max: values[order[order.len() - 1]],
            median_at,
        }
    }
}

/// One row's epoch split by stage: seconds, floor, measured ÷ floor, share.
fn print_stages(r: &Row) {
    println!();
    println!(
        "{} on {}: one epoch by stage (wall time inside each stage's operations, forward and backward; \
         on a GPU each stage waits for the device at its edges)",
        r.preset, r.backend
    );
    println!("| stage | s / epoch | floor s | × | share of the epoch | launches / step |");
    println!("|---|---:|---:|---:|---:|---:|");
    let share = |t: f64| 100.0 * t / r.epoch_s;
    // Launches are counted on a CubeCL device only.
    let launches = |n: Option<f64>| n.map_or("—".to_owned(), |n| format!("{n:.1}"));
    for (i, stage) in Stage::ALL.iter().enumerate() {
        let (t, floor) = (r.stages[i], r.stage_floors[i]);
        if t == 0.0 {
            // No fused operation of this stage ran: the device runs its dense reference,
            // whose time is in the rest.
            println!(
                "| {} | — (reference path, in the rest) | {floor:.3} | — | — | — |",
                stage.label()
            );
            continue;
        }
        println!(
            "| {} | {t:.3} | {floor:.3} | {:.1}× | {:.0} % | {} |",
            stage.label(),
            t / floor,
            share(t),
            launches(r.device.map(|d| d.stage_launches_per_step[i]))
        );
    }
    let rest = r.epoch_s - r.stages.iter().sum::<f64>();
    let rest_launches = r
        .device
        .map(|d| d.launches_per_step - d.stage_launches_per_step.iter().sum::<f64>());
    println!(
        "| rest: sampling, burn's graph, small ops, reference stages | {rest:.3} | — | — | {:.0} % | {} |",
        share(rest),
        launches(rest_launches)
    );
    let floor: f64 = r.stage_floors.iter().sum();
    println!(
        "| **epoch** | {:.3} | {floor:.3} | {:.1}× | 100 % | {} |",
        r.epoch_s,
        r.epoch_s / floor,
        launches(r.device.map(|d| d.launches_per_step))
    );
    if let Some(d) = r.device {
        println!(
            "peak device memory (CubeCL's pools, sampled at every stage edge and after the evaluation): {:.0} MiB; peak RSS {:.0} MiB",
            d.peak_reserved_mib, r.rss_mib
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_is_the_median_repeat_and_the_range() {
        let s = Spread::of(&[0.30, 0.10, 0.20]);
        assert_eq!((s.median, s.min, s.max, s.median_at), (0.20, 0.10, 0.30, 2));
        // An even count takes the lower middle value, and says which repeat it was.
        let s = Spread::of(&[0.4, 0.1, 0.3, 0.2]);
        assert_eq!((s.median, s.median_at), (0.2, 3));
        let one = Spread::of(&[0.5]);
        assert_eq!(
            (one.median, one.min, one.max, one.median_at),
            (0.5, 0.5, 0.5, 0)
        );
        // A skipped measure (NaN every time) stays NaN.
        assert!(Spread::of(&[f64::NAN, f64::NAN]).median.is_nan());
    }
}
