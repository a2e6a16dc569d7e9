//! `mario bench`: the trainer's performance table. For each preset and backend it
//! measures, in one process and one run:
//!
//! - building the model (raw-feature kNN graphs `Aᵐ`, blockwise top-k),
//! - one rebuild of the learnt kNN graphs `Āᵐ`,
//! - one training epoch (`--epochs` averaged),
//! - one full-ranking evaluation of the validation split,
//!
//! and, with `--rss`, trains one epoch of the `sports` preset in a child `mario
//! train` process and reports its peak RSS (the 4 GiB bound).
//! Synthetic datasets are generated once into `--cache` and reused.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use mario_data::Preset;

use crate::backend::{self, BackendChoice};
use crate::config::TrainConfig;
use crate::evaluate::Split;
use crate::model::Mario;
use crate::optimizer::AdamOptimizer;
use crate::train::{evaluate_model, train_epoch, training_pairs};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Presets to measure.
    #[arg(long, value_delimiter = ',', default_value = "demo,baby")]
    pub presets: Vec<String>,
    /// Backends to measure (`wgpu` needs a Vulkan/Metal/DX12 adapter; lavapipe counts).
    #[arg(long, value_delimiter = ',', default_value = "cpu,wgpu")]
    pub backends: Vec<String>,
    /// Training epochs to average over.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Also measure peak RSS of one `sports` training epoch (CPU backend).
    #[arg(long)]
    pub rss: bool,
    /// Where generated datasets are kept.
    #[arg(long, default_value = "target/bench-data")]
    pub cache: PathBuf,
}

fn dataset_dir(cache: &Path, preset: Preset) -> anyhow::Result<PathBuf> {
    let dir = cache.join(preset.to_string());
    if !dir.join("truth.json").exists() {
        eprintln!("generating the {preset} preset into {} …", dir.display());
        mario_data::generate(preset, 7, &dir)?;
    }
    Ok(dir)
}

struct Row {
    preset: String,
    backend: String,
    build_s: f64,
    knn_s: f64,
    epoch_s: f64,
    eval_s: f64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for preset_name in &args.presets {
        let preset: Preset = preset_name
            .parse()
            .map_err(|e| anyhow::anyhow!("--presets: {e}"))?;
        let dir = dataset_dir(&args.cache, preset)?;
        let dataset = crate::cli::load(&dir, None)?;
        for backend_name in &args.backends {
            let choice = match backend_name.as_str() {
                "cpu" => BackendChoice::Cpu,
                "wgpu" => BackendChoice::Wgpu,
                other => anyhow::bail!("--backends: unknown backend `{other}` (use cpu, wgpu)"),
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
            let started = Instant::now();
            let (mut model, mut params) = Mario::new(&dataset, &config, &backend.device)?;
            let build_s = started.elapsed().as_secs_f64();
            let mut optim = AdamOptimizer::new(config.adam_eps, params.list.len());
            let pairs = training_pairs(&dataset);
            // Warm-up: compile kernels (wgpu) and touch every code path once.
            let hidden = ProgressBar::hidden();
            train_epoch(
                &model,
                &mut params,
                &mut optim,
                &dataset,
                &pairs[..pairs.len().min(config.batch_size)],
                0,
                &hidden,
            )?;
            evaluate_model(&model, &params, &dataset, Split::Valid)?;
            let started = Instant::now();
            model.refresh_learnt_graphs(&params);
            let knn_s = started.elapsed().as_secs_f64();
            let started = Instant::now();
            for epoch in 0..args.epochs.max(1) {
                train_epoch(
                    &model,
                    &mut params,
                    &mut optim,
                    &dataset,
                    &pairs,
                    epoch,
                    &hidden,
                )?;
            }
            let epoch_s = started.elapsed().as_secs_f64() / args.epochs.max(1) as f64;
            let started = Instant::now();
            evaluate_model(&model, &params, &dataset, Split::Valid)?;
            let eval_s = started.elapsed().as_secs_f64();
            rows.push(Row {
                preset: preset.to_string(),
                backend: backend.adapter.clone(),
                build_s,
                knn_s,
                epoch_s,
                eval_s,
            });
        }
    }
    println!(
        "| preset | backend | build (raw kNN) s | kNN rebuild s | epoch s | full-ranking eval s | eval / epoch |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.preset,
            r.backend,
            r.build_s,
            r.knn_s,
            r.epoch_s,
            r.eval_s,
            r.eval_s / r.epoch_s
        );
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
            "sports (35,598 × 18,357, 4096/1024 dims): one epoch + evaluation + export on cpu in {:.1} s, peak RSS {:.0} MiB (limit 4096 MiB)",
            started.elapsed().as_secs_f64(),
            metrics["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
