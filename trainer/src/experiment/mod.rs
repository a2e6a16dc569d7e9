//! `mario experiment`: the paper's experiments (§5.2) as commands. Each trains what
//! it needs over several seeds and writes `REPORT_DIR/<experiment>.md` (Markdown
//! tables: mean ± std over seeds of test Recall/NDCG/Precision@10/20 at the best
//! validation epoch, paired t-test p-values against full MARIO), an SVG figure,
//! `<experiment>.json` (every number), and `REPORT_DIR/README.md` indexing them.
//!
//! | command | paper | variants |
//! |---|---|---|
//! | `modalities` | Table 4 | MARIO, MARIO w/o each modality of the dataset |
//! | `fusion` | Table 5 | attention (MARIO), mean, max, fc |
//! | `mu` | Figure 6 | μ ∈ {0, 0.2, …, 1} |
//! | `backbones` | Figure 5 | BPRMF, NGCF, LightGCN alone vs MARIO with each |
//! | `preservation` | Table 6, Figure 3 | MARIO, MARIO μ = 0, early fusion |
//! | `all` | | all of the above |
//!
//! Sub-runs live in `REPORT_DIR/runs/<name>-seed<N>/` (a normal `mario train` run
//! directory plus `experiment-run.json`). `<name>` is derived from how the run's
//! configuration differs from the base one (`mario`, `wo-visual`, `fusion-mean`,
//! `mu-0.2`, `only-interaction_bprmf`, `early-fusion`, …), so identical runs are shared
//! between experiments: full MARIO is trained once per seed. A sub-run whose
//! `metrics.json` records the identical configuration (and dataset) is reused; one
//! interrupted mid-training resumes from its checkpoint.

mod backbones;
mod charts;
mod fusion;
mod markdown;
mod modalities;
mod mu;
mod preservation;
mod preservation_measure;
mod report;
mod runner;
mod stats;

use self::report::*;
use self::runner::*;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mario_data::{Dataset, DatasetFormat};
use mario_shared::FusionKind;
use serde_json::json;

use crate::backend::{self, Backend, BackendChoice};
use crate::config::{CfBackbone, FusionStage, TrainConfig};
use crate::model::{INTERACTION, Mario, Params};
use crate::train::{RunOptions, train};
use charts::{BarSeries, DensityCurve, LegendItem, LineSeries, Mark, PALETTE};
use markdown::{Align, mean_pm_std, p_value, percent_change};
use stats::{mean_std, paired_t_test};

/// Test metrics reported, as (key in `metrics.json`, column title).
const METRICS: [(&str, &str); 6] = [
    ("recall@10", "Recall@10"),
    ("recall@20", "Recall@20"),
    ("ndcg@10", "NDCG@10"),
    ("ndcg@20", "NDCG@20"),
    ("precision@10", "Precision@10"),
    ("precision@20", "Precision@20"),
];

/// The μ values of Figure 6.
const MU_VALUES: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];

/// Epochs and patience of `--quick`.
const QUICK_EPOCHS: usize = 4;
const QUICK_PATIENCE: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Table 4: MARIO vs MARIO without each modality.
    Modalities,
    /// Table 5: attention vs mean / max / fc fusion.
    Fusion,
    /// Figure 6: μ ∈ {0, 0.2, 0.4, 0.6, 0.8, 1.0}.
    Mu,
    /// Figure 5: BPRMF, NGCF, LightGCN alone vs MARIO with each.
    Backbones,
    /// Table 6 + Figure 3: modality preservation of MARIO, MARIO μ = 0, early fusion.
    Preservation,
    /// All of the above (shared sub-runs are trained once).
    All,
}

impl Which {
    const EACH: [Which; 5] = [
        Which::Modalities,
        Which::Fusion,
        Which::Mu,
        Which::Backbones,
        Which::Preservation,
    ];

    fn name(self) -> &'static str {
        match self {
            Which::Modalities => "modalities",
            Which::Fusion => "fusion",
            Which::Mu => "mu",
            Which::Backbones => "backbones",
            Which::Preservation => "preservation",
            Which::All => "all",
        }
    }

    fn paper(self) -> &'static str {
        match self {
            Which::Modalities => "Table 4 (RQ2)",
            Which::Fusion => "Table 5 (RQ3)",
            Which::Mu => "Figure 6 (RQ4-2)",
            Which::Backbones => "Figure 5 (RQ5)",
            Which::Preservation => "Table 6 + Figure 3 (RQ4-1)",
            Which::All => "",
        }
    }
}

fn parse_format(s: &str) -> Result<DatasetFormat, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// Flags of `mario experiment`.
#[derive(Debug, Clone, Args)]
pub struct ExperimentArgs {
    /// Which experiment to run.
    #[arg(value_enum)]
    pub which: Which,
    /// Dataset directory (MMRec or LATTICE layout).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_parser = parse_format)]
    pub format: Option<DatasetFormat>,
    /// Report directory: `<experiment>.md`, `.svg`, `.json`, `README.md`, `runs/`.
    #[arg(long)]
    pub out: PathBuf,
    /// Seeds of the repeated runs, e.g. `1,2,3` [default: 1,2,3; with --quick: 1,2].
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// A few epochs per run (4, patience 2), to check the pipeline (CI).
    #[arg(long)]
    pub quick: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Base configuration (TOML, fields of `mario train --print-config`); the
    /// experiments vary the modalities, fusion, μ and backbone around it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Learning rate of every run [default: 5e-4, the paper's; 5e-3 suits `demo`].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Maximum epochs per run [default: 200; with --quick: 4].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Evaluations without improvement before stopping [default: 10; with --quick: 2].
    #[arg(long)]
    pub patience: Option<usize>,
    /// High-degree items of the preservation experiment: more than this many
    /// training interactions (the paper's 38).
    #[arg(long, default_value_t = 38)]
    pub high_degree: usize,
    /// Hide the training progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// One configuration of an experiment, shown as `label`.
#[derive(Debug, Clone)]
struct Variant {
    label: String,
    config: TrainConfig,
}

/// A finished sub-run.
#[derive(Debug, Clone)]
struct RunResult {
    seed: u64,
    /// The `test` object of `metrics.json` (best validation epoch).
    test: serde_json::Value,
    best_epoch: Option<u64>,
    epochs_run: u64,
    seconds: f64,
    reused: bool,
    /// Per side modality, per item: the preservation measure (when computed).
    preservation: Option<BTreeMap<String, Vec<f32>>>,
}

impl RunResult {
    fn metric(&self, key: &str) -> f64 {
        self.test[key].as_f64().unwrap_or(f64::NAN)
    }
}

/// One row of a report: a variant and its runs, in seed order.
#[derive(Debug, Clone)]
struct Row {
    label: String,
    key: String,
    runs: Vec<RunResult>,
}

impl Row {
    fn values(&self, metric: &str) -> Vec<f64> {
        self.runs.iter().map(|r| r.metric(metric)).collect()
    }
    fn mean(&self, metric: &str) -> f64 {
        mean_std(&self.values(metric)).0
    }
}

/// What an experiment produced.
struct Outcome {
    title: String,
    markdown: String,
    svg: String,
    json: serde_json::Value,
    /// One line for README.md: does the paper's ordering hold?
    headline: String,
    /// Every sub-run the report uses.
    runs: Vec<RunResult>,
}

/// State shared by the experiments of one invocation.
struct Lab {
    dataset: Dataset,
    data_dir: PathBuf,
    backend: Backend,
    base: TrainConfig,
    seeds: Vec<u64>,
    quick: bool,
    quiet: bool,
    high_degree: usize,
    out: PathBuf,
    commit: String,
    fingerprint: serde_json::Value,
    results: HashMap<(String, u64), RunResult>,
}

pub fn run(args: ExperimentArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut base = match &args.config {
        Some(path) => TrainConfig::from_toml_file(path)?,
        None => TrainConfig::default(),
    };
    if args.quick {
        base.epochs = QUICK_EPOCHS;
        base.patience = QUICK_PATIENCE;
    }
    if let Some(lr) = args.lr {
        base.lr = lr;
    }
    if let Some(epochs) = args.epochs {
        base.epochs = epochs;
    }
    if let Some(patience) = args.patience {
        base.patience = patience;
    }
    base.seed = 0;
    base.validate()?;
    let seeds = args.seeds.clone().unwrap_or_else(|| {
        if args.quick {
            vec![1, 2]
        } else {
            vec![1, 2, 3]
        }
    });
    anyhow::ensure!(!seeds.is_empty(), "--seeds must list at least one seed");
    let mut unique = seeds.clone();
    unique.sort_unstable();
    unique.dedup();
    anyhow::ensure!(
        unique.len() == seeds.len(),
        "--seeds lists a seed twice: {seeds:?}"
    );
    let dataset = crate::dataset::load(&args.data, args.format)?;
    let backend = backend::select(args.backend)?;
    std::fs::create_dir_all(args.out.join("runs"))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    eprintln!(
        "mario experiment {}: {} ({} users, {} items, {} train interactions) on {} [{}], seeds {:?}{}",
        args.which.name(),
        dataset.name,
        dataset.n_users,
        dataset.n_items,
        dataset.n_train(),
        backend.name,
        backend.adapter,
        seeds,
        if args.quick { ", quick" } else { "" }
    );
    let fingerprint = json!({
        "name": dataset.name,
        "n_users": dataset.n_users,
        "n_items": dataset.n_items,
        "n_train": dataset.n_train(),
        "modalities": dataset.modalities.iter().map(|m| json!([m.name, m.dim])).collect::<Vec<_>>(),
    });
    let mut lab = Lab {
        data_dir: std::fs::canonicalize(&args.data).unwrap_or_else(|_| args.data.clone()),
        dataset,
        backend,
        base,
        seeds,
        quick: args.quick,
        quiet: args.quiet,
        high_degree: args.high_degree,
        out: args.out.clone(),
        commit: git_commit(),
        fingerprint,
        results: HashMap::new(),
    };
    let which: Vec<Which> = if args.which == Which::All {
        Which::EACH.to_vec()
    } else {
        vec![args.which]
    };
    for w in which {
        let t0 = Instant::now();
        let outcome = match w {
            Which::Modalities => lab.modalities()?,
            Which::Fusion => lab.fusion()?,
            Which::Mu => lab.mu()?,
            Which::Backbones => lab.backbones()?,
            Which::Preservation => lab.preservation()?,
            Which::All => unreachable!("expanded above"),
        };
        lab.write(w, outcome, t0.elapsed().as_secs_f64())?;
    }
    write_index(&lab.out)?;
    println!(
        "wrote {} in {:.0} s",
        lab.out.join("README.md").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_name_the_difference() {
        let all: Vec<String> = ["visual", "textual", "interaction"]
            .map(String::from)
            .to_vec();
        let base = TrainConfig::default();
        let key = |edit: &dyn Fn(&mut TrainConfig)| {
            let mut c = base.clone();
            edit(&mut c);
            run_key(&base, &c, &all)
        };
        assert_eq!(key(&|_| {}), "mario");
        assert_eq!(key(&|c| c.seed = 9), "mario");
        // Listing every modality is the same run as listing none.
        assert_eq!(key(&|c| c.modalities = all.clone()), "mario");
        assert_eq!(
            key(&|c| c.modalities = vec!["textual".into(), "interaction".into()]),
            "wo-visual"
        );
        assert_eq!(
            key(&|c| {
                c.modalities = vec!["interaction".into()];
                c.cf = CfBackbone::Bprmf;
            }),
            "only-interaction_bprmf"
        );
        assert_eq!(key(&|c| c.mu = 0.2), "mu-0.2");
        assert_eq!(key(&|c| c.mu = 1.0), "mario");
        assert_eq!(key(&|c| c.fusion = FusionKind::Fc), "fusion-fc");
        assert_eq!(
            key(&|c| c.fusion_stage = FusionStage::Early),
            "early-fusion"
        );
        let other = key(&|c| c.lr = 0.1);
        assert!(other.starts_with("cfg-") && other != key(&|c| c.lr = 0.2));
    }

    #[test]
    fn utc_dates() {
        let now = utc_now();
        assert!(
            now.len() == 20 && now.ends_with(" UTC") && now.starts_with("20"),
            "{now}"
        );
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3725.0), "1 h 02 min");
    }
}
