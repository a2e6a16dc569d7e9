//! Command-line interface: argument parsing (clap) and the command dispatch.

pub mod bench;
pub mod bench_kernels;
pub mod bench_products;
pub mod data;
pub mod train;
pub mod tune;
pub mod weights;

pub use self::train::{HyperArgs, TrainArgs};

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mario_data::{DatasetFormat, Preset};
use mario_shared::{FusionKind, StorageDtype};

use crate::backend::{self, BackendChoice};
use crate::config::{
    CfBackbone, DecodeTarget, FeatureScaling, FusionStage, L2Target, MpNorm, TrainConfig,
};
use crate::dataset::load;
use crate::eval::Split;
use crate::train::{RunOptions, train};

#[derive(Debug, Parser)]
#[command(
    name = "mario",
    version,
    about = "MARIO: modality-aware attention and modality-preserving decoders for multimedia recommendation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the `Train` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic dataset (MMRec format + items.jsonl + truth.json) with planted modality structure.
    Datagen {
        #[arg(long, default_value = "demo", value_parser = parse_preset)]
        preset: Preset,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Dataset inspection.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Train MARIO and write RUN_DIR (metrics.json, history.jsonl, curves.svg, checkpoint, model.safetensors).
    Train(TrainArgs),
    /// Search hyperparameters (grid or random, successive halving) on validation Recall@20;
    /// writes a leaderboard, a chart and best.toml for `mario train --config`.
    Tune(crate::commands::tune::TuneArgs),
    /// Re-encode a run's weights (f32, f16 or int8) into one file for the browser or Python.
    Export {
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value = "f16", value_parser = parse_dtype)]
        dtype: StorageDtype,
        #[arg(long)]
        out: PathBuf,
        /// Skip the explorer's item maps (a 2D t-SNE per modality, stored as `map.<modality>`).
        #[arg(long)]
        no_map: bool,
        /// Also print each map's trustworthiness@10 against cosine neighbours in its modality
        /// (1 = no false neighbours; O(n²) time).
        #[arg(long, conflicts_with = "no_map")]
        map_quality: bool,
    },
    /// Top-N recommendations for a user from a weights file, optionally explained.
    Recommend {
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        user: usize,
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Per-modality attention, affinity, contribution and evidence from the user's history.
        #[arg(long)]
        explain: bool,
        #[arg(long)]
        json: bool,
    },
    /// Full-ranking evaluation of an exported weights file on a dataset.
    Eval {
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_parser = parse_format)]
        format: Option<DatasetFormat>,
        #[arg(long, default_value = "test", value_parser = ["valid", "test"])]
        split: String,
    },
    /// Non-learnt baselines scored by the same evaluator.
    Baseline {
        /// `popularity`: rank items by training-interaction count.
        #[arg(value_parser = ["popularity"])]
        name: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_parser = parse_format)]
        format: Option<DatasetFormat>,
    },
    /// Print seconds per epoch / evaluation / kNN rebuild per backend, and peak RSS.
    Bench(crate::commands::bench::BenchArgs),
    /// Reproduce the paper's experiments (tables + plots into a report directory).
    Experiment(crate::experiment::ExperimentArgs),
    /// List the wgpu adapters this machine offers and what `--backend auto` picks.
    Devices,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Table 2 statistics (users, items, interactions, sparsity, dims) and split sizes.
    Stats {
        dir: PathBuf,
        #[arg(long, value_parser = parse_format)]
        format: Option<DatasetFormat>,
    },
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    s.parse().map_err(|e| format!("{e}"))
}
fn parse_format(s: &str) -> Result<DatasetFormat, String> {
    s.parse().map_err(|e| format!("{e}"))
}
fn parse_dtype(s: &str) -> Result<StorageDtype, String> {
    s.parse()
}
fn parse_fusion(s: &str) -> Result<FusionKind, String> {
    s.parse()
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Datagen { preset, seed, out } => data::datagen(preset, seed, &out),
        Command::Data {
            command: DataCommand::Stats { dir, format },
        } => data::stats(&dir, format),
        Command::Train(args) => train::run_train(args),
        Command::Tune(args) => tune::run_tune(args),
        Command::Export {
            run,
            dtype,
            out,
            no_map,
            map_quality,
        } => crate::commands::weights::export_command(&run, dtype, &out, !no_map, map_quality),
        Command::Recommend {
            weights,
            user,
            top,
            explain,
            json,
        } => crate::commands::weights::recommend_command(&weights, user, top, explain, json),
        Command::Eval {
            weights,
            data,
            format,
            split,
        } => {
            let split = if split == "valid" {
                Split::Valid
            } else {
                Split::Test
            };
            crate::commands::weights::eval_command(&weights, &data, format, split)
        }
        Command::Baseline {
            name: _,
            data,
            format,
        } => data::popularity(&data, format),
        Command::Bench(args) => crate::commands::bench::run(args),
        Command::Experiment(args) => crate::experiment::run(args),
        Command::Devices => {
            match backend::cuda_backend() {
                Ok(cuda) => println!("GPU {} (CUDA)", cuda.adapter),
                Err(why) => println!("CUDA: skipped: {why}"),
            }
            let adapters = backend::wgpu_adapters();
            if adapters.is_empty() {
                println!(
                    "no wgpu adapter (install a Vulkan driver, e.g. mesa-vulkan-drivers, for lavapipe)"
                );
            }
            for a in &adapters {
                println!("{} {}", if a.is_gpu { "GPU" } else { "CPU" }, a.description);
            }
            let chosen = backend::select(BackendChoice::Auto)?;
            println!("--backend auto → {} [{}]", chosen.name, chosen.adapter);
            Ok(())
        }
    }
}
