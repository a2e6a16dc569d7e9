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

mod charts;
mod markdown;
mod preservation;
mod stats;

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

/// `git rev-parse --short HEAD` (with `-dirty` for uncommitted changes to tracked
/// files) in the working directory, else in the directory of the `mario` binary
/// (`target/release/` of a checkout), else `unknown`.
fn git_commit() -> String {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    std::iter::once(None)
        .chain(exe_dir.map(Some))
        .find_map(|dir| git_commit_in(dir.as_deref()))
        .unwrap_or_else(|| "unknown".into())
}

fn git_commit_in(dir: Option<&Path>) -> Option<String> {
    let git = |args: &[&str]| {
        let mut cmd = std::process::Command::new("git");
        if let Some(d) = dir {
            cmd.arg("-C").arg(d);
        }
        cmd.args(args).output().ok().filter(|o| o.status.success())
    };
    let out = git(&["rev-parse", "--short", "HEAD"])?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if hash.is_empty() {
        return None;
    }
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

/// A short, stable hash (FNV-1a) for run names of unusual configurations.
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

/// The run name: how `config` differs from `base` (`mario` when it does not).
fn run_key(base: &TrainConfig, config: &TrainConfig, all_modalities: &[String]) -> String {
    let effective = |c: &TrainConfig| -> Vec<String> {
        if c.modalities.is_empty() {
            all_modalities.to_vec()
        } else {
            all_modalities
                .iter()
                .filter(|m| c.modalities.contains(m))
                .cloned()
                .collect()
        }
    };
    let (b, c) = (effective(base), effective(config));
    let mut parts = Vec::new();
    if b != c {
        let added = c.iter().any(|m| !b.contains(m));
        if added {
            parts.push(format!("only-{}", c.join("-")));
        } else {
            let removed: Vec<&str> = b
                .iter()
                .filter(|m| !c.contains(m))
                .map(String::as_str)
                .collect();
            if c.len() == 1 {
                parts.push(format!("only-{}", c[0]));
            } else {
                parts.push(format!("wo-{}", removed.join("-")));
            }
        }
    }
    if config.cf != base.cf {
        parts.push(config.cf.to_string());
    }
    if config.fusion != base.fusion {
        parts.push(format!("fusion-{}", config.fusion));
    }
    if config.fusion_stage != base.fusion_stage {
        parts.push(match config.fusion_stage {
            FusionStage::Early => "early-fusion".into(),
            FusionStage::Late => "late-fusion".into(),
        });
    }
    if config.mu != base.mu {
        parts.push(format!("mu-{}", config.mu));
    }
    // Anything else that differs gets a hash, so distinct configs never share a name.
    let mut rest = config.clone();
    rest.modalities = base.modalities.clone();
    rest.cf = base.cf;
    rest.fusion = base.fusion;
    rest.fusion_stage = base.fusion_stage;
    rest.mu = base.mu;
    rest.seed = base.seed;
    if rest != *base {
        parts.push(format!(
            "cfg-{}",
            fnv(&serde_json::to_string(&rest).unwrap_or_default())
        ));
    }
    if parts.is_empty() {
        "mario".into()
    } else {
        parts.join("_")
    }
}

/// Per item: the per-side-modality preservation measure of a trained model.
fn preservation_of(model: &Mario, params: &Params) -> BTreeMap<String, Vec<f32>> {
    let emb = model.embeddings(params);
    let names = model.modality_names();
    let mut out = BTreeMap::new();
    for m in &model.graphs.modalities {
        // Early fusion scores one fused item table (`interaction`); late fusion
        // keeps one final embedding per modality.
        let idx = if model.config.fusion_stage == FusionStage::Early {
            0
        } else {
            names.iter().position(|n| *n == m.name).unwrap_or(0)
        };
        let diffs = preservation::per_item_differences(
            m.features.clone(),
            emb.items[idx].clone(),
            preservation::BLOCK_ROWS,
        );
        out.insert(m.name.clone(), diffs);
    }
    out
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Seconds → `1 h 02 min`, `3 min 05 s`, `12.3 s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s >= 3600.0 {
        format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

impl Lab {
    fn all_modalities(&self) -> Vec<String> {
        self.dataset.modality_names()
    }

    /// The modalities full MARIO uses (the base config's, or all).
    fn full_modalities(&self) -> Vec<String> {
        let all = self.all_modalities();
        if self.base.modalities.is_empty() {
            all
        } else {
            all.into_iter()
                .filter(|m| self.base.modalities.contains(m))
                .collect()
        }
    }

    fn side_modalities(&self) -> Vec<String> {
        self.full_modalities()
            .into_iter()
            .filter(|m| m != INTERACTION)
            .collect()
    }

    fn mario(&self) -> Variant {
        Variant {
            label: "MARIO".into(),
            config: self.base.clone(),
        }
    }

    fn variant(&self, label: impl Into<String>, edit: impl FnOnce(&mut TrainConfig)) -> Variant {
        let mut config = self.base.clone();
        edit(&mut config);
        Variant {
            label: label.into(),
            config,
        }
    }

    fn key(&self, v: &Variant) -> String {
        run_key(&self.base, &v.config, &self.all_modalities())
    }

    /// Trains (or reuses) every variant for every seed.
    fn rows(&mut self, variants: &[Variant], need_preservation: bool) -> anyhow::Result<Vec<Row>> {
        let total = variants.len() * self.seeds.len();
        let mut rows = Vec::new();
        let mut done = 0;
        for v in variants {
            let mut runs = Vec::new();
            for seed in self.seeds.clone() {
                done += 1;
                runs.push(self.ensure(v, seed, need_preservation, (done, total))?);
            }
            rows.push(Row {
                label: v.label.clone(),
                key: self.key(v),
                runs,
            });
        }
        Ok(rows)
    }

    /// One sub-run: from memory, from disk when its configuration matches, resumed
    /// from its checkpoint when interrupted, or trained.
    fn ensure(
        &mut self,
        v: &Variant,
        seed: u64,
        need_preservation: bool,
        (done, total): (usize, usize),
    ) -> anyhow::Result<RunResult> {
        let key = self.key(v);
        let mut config = v.config.clone();
        config.seed = seed;
        let dir = self.out.join("runs").join(format!("{key}-seed{seed}"));
        if let Some(r) = self.results.get(&(key.clone(), seed)) {
            let mut r = r.clone();
            if need_preservation && r.preservation.is_none() {
                r.preservation = Some(self.load_preservation(&dir, &config)?);
                self.results.insert((key, seed), r.clone());
            }
            return Ok(r);
        }
        let config_json = serde_json::to_value(&config)?;
        let record_path = dir.join("experiment-run.json");
        let record = read_json(&record_path);
        let same_data = record
            .as_ref()
            .is_none_or(|r| r["data"] == self.fingerprint);
        let finished = read_json(&dir.join("metrics.json"))
            .filter(|m| m["config"] == config_json && same_data && m["test"].is_object());
        let mut result = if let Some(metrics) = finished {
            let r = self.result_from(seed, &metrics, record.as_ref(), true);
            eprintln!(
                "[{done}/{total}] {key} seed {seed}: reused ({})",
                summary_line(&r)
            );
            r
        } else {
            let resumable = same_data
                && record.as_ref().is_some_and(|r| r["config"] == config_json)
                && dir.join("checkpoint.safetensors").exists();
            if dir.exists() && !resumable {
                // A run of another configuration or dataset under this name: replace it.
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot clear stale run {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir)?;
            eprintln!(
                "[{done}/{total}] {key} seed {seed}: {} …",
                if resumable { "resuming" } else { "training" }
            );
            let previous = record
                .as_ref()
                .filter(|_| resumable)
                .and_then(|r| r["seconds"].as_f64())
                .unwrap_or(0.0);
            let mut rec = json!({
                "label": v.label,
                "data": self.fingerprint,
                "data_dir": self.data_dir,
                "backend": self.backend.name,
                "adapter": self.backend.adapter,
                "commit": self.commit,
                "config": config_json,
                "seconds": previous,
                "finished": false,
            });
            crate::io::write_json(&record_path, &rec)?;
            let t0 = Instant::now();
            let options = RunOptions {
                quiet: self.quiet,
                resume: resumable,
                skip_export: true,
                ..Default::default()
            };
            let summary = train(&self.dataset, &config, &self.backend, &dir, &options)
                .with_context(|| format!("sub-run {}", dir.display()))?;
            // A resumed run's earlier part is in its metrics (per-epoch and per-eval times).
            let m = &summary.metrics;
            let logged = m["seconds_per_epoch"].as_f64().unwrap_or(0.0)
                * m["epochs_run"].as_f64().unwrap_or(0.0)
                + m["seconds_per_eval"].as_f64().unwrap_or(0.0)
                    * 2.0
                    * (m["epochs_run"].as_f64().unwrap_or(0.0) / config.eval_every as f64).ceil();
            let elapsed = previous + t0.elapsed().as_secs_f64();
            rec["seconds"] = json!(if resumable {
                elapsed.max(logged)
            } else {
                elapsed
            });
            rec["finished"] = json!(true);
            crate::io::write_json(&record_path, &rec)?;
            let mut r = self.result_from(seed, &summary.metrics, Some(&rec), false);
            if need_preservation {
                let p = preservation_of(&summary.model, &summary.best_params);
                crate::io::write_json(&dir.join("preservation.json"), &p)?;
                r.preservation = Some(p);
            }
            eprintln!("    → {}", summary_line(&r));
            r
        };
        if need_preservation && result.preservation.is_none() {
            result.preservation = Some(self.load_preservation(&dir, &config)?);
        }
        self.results.insert((key, seed), result.clone());
        Ok(result)
    }

    fn result_from(
        &self,
        seed: u64,
        metrics: &serde_json::Value,
        record: Option<&serde_json::Value>,
        reused: bool,
    ) -> RunResult {
        let epochs_run = metrics["epochs_run"].as_u64().unwrap_or(0);
        let seconds = record
            .and_then(|r| r["seconds"].as_f64())
            .filter(|s| *s > 0.0)
            .unwrap_or_else(|| {
                metrics["seconds_per_epoch"].as_f64().unwrap_or(0.0) * epochs_run as f64
            });
        RunResult {
            seed,
            test: metrics["test"].clone(),
            best_epoch: metrics["best_epoch"].as_u64(),
            epochs_run,
            seconds,
            reused,
            preservation: None,
        }
    }

    /// `preservation.json` of a finished run, or recomputed from its checkpoint's
    /// best parameters (and written).
    fn load_preservation(
        &self,
        dir: &Path,
        config: &TrainConfig,
    ) -> anyhow::Result<BTreeMap<String, Vec<f32>>> {
        let path = dir.join("preservation.json");
        let wanted = self.side_modalities();
        if let Some(v) = read_json(&path)
            && let Ok(p) = serde_json::from_value::<BTreeMap<String, Vec<f32>>>(v)
            && wanted
                .iter()
                .all(|m| p.get(m).is_some_and(|d| d.len() == self.dataset.n_items))
        {
            return Ok(p);
        }
        let device = &self.backend.device;
        let (mut model, params) = Mario::new(&self.dataset, config, device)?;
        let names: Vec<String> = params.list.iter().map(|p| p.name.clone()).collect();
        let loaded =
            crate::train::checkpoint::load(&dir.join("checkpoint.safetensors"), &names, device)
                .with_context(|| {
                    format!(
                        "the preservation measure needs the embeddings of {}",
                        dir.display()
                    )
                })?;
        model.set_learnt_ids(&loaded.state.best_learnt_ids);
        let p = preservation_of(&model, &loaded.best);
        crate::io::write_json(&path, &p)?;
        Ok(p)
    }

    // ----------------------------------------------------------------- experiments

    fn modalities(&mut self) -> anyhow::Result<Outcome> {
        let full = self.full_modalities();
        let mut variants = vec![self.mario()];
        for m in &full {
            let rest: Vec<String> = full.iter().filter(|x| *x != m).cloned().collect();
            if rest.is_empty() {
                continue;
            }
            variants.push(self.variant(format!("MARIO w/o {m}"), |c| c.modalities = rest));
        }
        let rows = self.rows(&variants, false)?;
        let mut md = self.header(
            Which::Modalities,
            "MARIO vs MARIO without each modality",
            "Each row drops one modality (its encoder, graph and attention input); the \
             paper reports that MARIO with all modalities is best on every metric.",
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let (holds, findings) = versus_reference(&rows);
        let headline = format!(
            "MARIO beats {holds}/{} ablations on all 6 metrics (paper: all)",
            rows.len() - 1
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Modalities, &rows));
        let svg = self.metric_bars("Table 4 — modalities", &rows);
        Ok(Outcome {
            title: "MARIO vs MARIO w/o each modality".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, 0),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    fn fusion(&mut self) -> anyhow::Result<Outcome> {
        let mut variants = vec![Variant {
            label: format!("MARIO ({})", self.base.fusion),
            config: self.base.clone(),
        }];
        for f in [
            FusionKind::Attention,
            FusionKind::Mean,
            FusionKind::Max,
            FusionKind::Fc,
        ] {
            if f != self.base.fusion {
                variants.push(self.variant(format!("MARIO_{f}"), |c| {
                    c.fusion = f;
                    c.fusion_stage = FusionStage::Late;
                }));
            }
        }
        let rows = self.rows(&variants, false)?;
        let mut md = self.header(
            Which::Fusion,
            "modality-aware attention vs mean / max / fc fusion",
            "Only the fusion of the modality embeddings differs: `mean` and `max` pool them, \
             `fc` applies a learnt linear layer to their concatenation. The paper reports \
             attention ≥ mean > max > fc.",
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let (holds, mut findings) = versus_reference(&rows);
        findings.push(ordering_line(&rows, "recall@20", "Recall@20"));
        findings.push(ordering_line(&rows, "ndcg@20", "NDCG@20"));
        let headline = format!(
            "attention beats {holds}/{} other fusions on all 6 metrics (paper: all)",
            rows.len() - 1
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Fusion, &rows));
        let svg = self.metric_bars("Table 5 — fusion", &rows);
        Ok(Outcome {
            title: "Attention vs mean / max / fc fusion".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, 0),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    fn mu(&mut self) -> anyhow::Result<Outcome> {
        let variants: Vec<Variant> = MU_VALUES
            .iter()
            .map(|&mu| {
                let label = if mu == self.base.mu {
                    format!("μ = {mu} = MARIO")
                } else {
                    format!("μ = {mu}")
                };
                self.variant(label, |c| c.mu = mu)
            })
            .collect();
        let rows = self.rows(&variants, false)?;
        // p-values against full MARIO, which is the base μ when it is in the sweep.
        let reference = MU_VALUES
            .iter()
            .position(|&m| m == self.base.mu)
            .unwrap_or(MU_VALUES.len() - 1);
        let mut md = self.header(
            Which::Mu,
            "weight μ of the modality-preservation loss",
            "μ scales the MP loss (Eq. 11); μ = 0 disables the decoders. The paper finds \
             accuracy worst at μ = 0 and best at μ = 1.",
        );
        md.push_str(&self.accuracy_section(&rows, reference));
        let mut findings = Vec::new();
        let mut best_at_one = 0;
        let mut worst_at_zero = 0;
        for (key, title) in METRICS {
            let means: Vec<f64> = rows.iter().map(|r| r.mean(key)).collect();
            let hi = argmax(&means);
            let lo = argmax(&means.iter().map(|v| -v).collect::<Vec<_>>());
            best_at_one += usize::from(hi == MU_VALUES.len() - 1);
            worst_at_zero += usize::from(lo == 0);
            findings.push(format!(
                "{title}: best at μ = {} ({:.4}), worst at μ = {} ({:.4}); μ = 1 vs μ = 0: {} (p = {})",
                MU_VALUES[hi],
                means[hi],
                MU_VALUES[lo],
                means[lo],
                percent_change(means[MU_VALUES.len() - 1], means[0]),
                p_value(paired_t_test(
                    &rows[MU_VALUES.len() - 1].values(key),
                    &rows[0].values(key)
                )),
            ));
        }
        let headline = format!(
            "best at μ = 1 on {best_at_one}/6 metrics, worst at μ = 0 on {worst_at_zero}/6 (paper: 6/6, 6/6)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Mu, &rows));
        let series = |key: &str, colour: &'static str, dashed: bool| LineSeries {
            points: rows
                .iter()
                .zip(MU_VALUES)
                .map(|(r, mu)| {
                    let (m, s) = mean_std(&r.values(key));
                    (mu as f64, m, s)
                })
                .collect(),
            colour,
            dashed,
        };
        let panel = (480.0, 340.0);
        let panels = vec![
            charts::line_panel(
                panel,
                "Recall",
                "μ (weight of the MP loss)",
                "Recall (test)",
                &MU_VALUES.map(f64::from),
                &[
                    series("recall@20", PALETTE[0], false),
                    series("recall@10", PALETTE[0], true),
                ],
            ),
            charts::line_panel(
                panel,
                "NDCG",
                "μ (weight of the MP loss)",
                "NDCG (test)",
                &MU_VALUES.map(f64::from),
                &[
                    series("ndcg@20", PALETTE[3], false),
                    series("ndcg@10", PALETTE[3], true),
                ],
            ),
        ];
        let legend = [
            legend_line("Recall@20", PALETTE[0], Mark::Line),
            legend_line("Recall@10", PALETTE[0], Mark::Dotted),
            legend_line("NDCG@20", PALETTE[3], Mark::Line),
            legend_line("NDCG@10", PALETTE[3], Mark::Dotted),
        ];
        let svg = charts::figure(
            "Figure 6 — accuracy vs μ",
            Some(&self.figure_subtitle()),
            &legend,
            &panels,
            2,
            panel,
        );
        Ok(Outcome {
            title: "Accuracy vs μ (weight of the MP loss)".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, reference),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    fn backbones(&mut self) -> anyhow::Result<Outcome> {
        let cfs = [CfBackbone::Bprmf, CfBackbone::Ngcf, CfBackbone::Lightgcn];
        let pretty = |cf: CfBackbone| match cf {
            CfBackbone::Bprmf => "BPRMF",
            CfBackbone::Ngcf => "NGCF",
            CfBackbone::Lightgcn => "LightGCN",
        };
        let mut variants = Vec::new();
        for cf in cfs {
            variants.push(self.variant(pretty(cf), |c| {
                c.cf = cf;
                c.modalities = vec![INTERACTION.to_string()];
                c.fusion = FusionKind::Attention;
                c.fusion_stage = FusionStage::Late;
            }));
            variants.push(self.variant(format!("MARIO ({})", pretty(cf)), |c| c.cf = cf));
        }
        let rows = self.rows(&variants, false)?;
        let reference = rows
            .iter()
            .position(|r| r.key == "mario")
            .unwrap_or(rows.len() - 1);
        let mut md = self.header(
            Which::Backbones,
            "CF backbones alone vs MARIO equipped with each",
            "A backbone alone is MARIO restricted to the interaction modality (no side \
             modalities, so no decoders or attention choice). The paper reports that MARIO \
             improves every backbone on every metric and that MARIO (LightGCN) is best.",
        );
        md.push_str(&self.accuracy_section(&rows, reference));
        // Relative improvement of MARIO (X) over X, with the paired test between them.
        let mut header = vec!["Backbone"];
        let mut cells_rows = Vec::new();
        let mut improved_all = 0;
        let mut findings = Vec::new();
        for pair in rows.chunks(2) {
            let (alone, with) = (&pair[0], &pair[1]);
            let mut cells = vec![alone.label.clone()];
            let mut wins = 0;
            for (key, _) in METRICS {
                let (a, w) = (alone.mean(key), with.mean(key));
                wins += usize::from(w > a);
                cells.push(format!(
                    "{} (p = {})",
                    percent_change(w, a),
                    p_value(paired_t_test(&with.values(key), &alone.values(key)))
                ));
            }
            improved_all += usize::from(wins == METRICS.len());
            findings.push(format!(
                "{} vs {}: better on {wins}/6 metrics; Recall@20 {:.4} vs {:.4} ({}), NDCG@20 {:.4} vs {:.4} ({})",
                with.label,
                alone.label,
                with.mean("recall@20"),
                alone.mean("recall@20"),
                percent_change(with.mean("recall@20"), alone.mean("recall@20")),
                with.mean("ndcg@20"),
                alone.mean("ndcg@20"),
                percent_change(with.mean("ndcg@20"), alone.mean("ndcg@20")),
            ));
            cells_rows.push(cells);
        }
        header.extend(METRICS.iter().map(|(_, t)| *t));
        let _ = write!(
            md,
            "\n### Relative improvement of MARIO (X) over X\n\n\
             Change of the mean; p: paired t-test of MARIO (X) vs X over seeds.\n\n{}",
            markdown::table(
                &header,
                &[&[Align::Left][..], &[Align::Right; 6][..]].concat(),
                &cells_rows
            )
        );
        let marios: Vec<&Row> = rows.iter().skip(1).step_by(2).collect();
        let best_mario = marios
            .iter()
            .max_by(|a, b| a.mean("recall@20").total_cmp(&b.mean("recall@20")))
            .map(|r| r.label.clone())
            .unwrap_or_default();
        findings.push(format!(
            "Best MARIO by Recall@20: {best_mario} (paper: MARIO (LightGCN)); {}",
            ordering_line(&rows, "recall@20", "all six by Recall@20")
        ));
        let headline = format!(
            "MARIO improves {improved_all}/3 backbones on all 6 metrics; best MARIO: {best_mario} (paper: 3/3, LightGCN)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Backbones, &rows));
        let groups: Vec<String> = cfs.iter().map(|&c| pretty(c).to_string()).collect();
        let panel = (500.0, 360.0);
        let panels: Vec<String> = [("recall@20", "Recall@20"), ("ndcg@20", "NDCG@20")]
            .iter()
            .map(|(key, title)| {
                let alone = BarSeries {
                    values: rows
                        .iter()
                        .step_by(2)
                        .map(|r| Some(mean_std(&r.values(key))))
                        .collect(),
                    labels: vec![None; 3],
                };
                let with = BarSeries {
                    values: rows
                        .iter()
                        .skip(1)
                        .step_by(2)
                        .map(|r| Some(mean_std(&r.values(key))))
                        .collect(),
                    labels: rows
                        .chunks(2)
                        .map(|p| {
                            let (a, w) = (p[0].mean(key), p[1].mean(key));
                            Some(format!("{w:.3}\n{}", percent_change(w, a)))
                        })
                        .collect(),
                };
                charts::bar_panel(
                    panel,
                    title,
                    &format!("{title} (test)"),
                    &groups,
                    &[alone, with],
                )
            })
            .collect();
        let legend = [
            legend_line("backbone alone (interactions only)", PALETTE[0], Mark::Bar),
            legend_line("MARIO with the backbone", PALETTE[1], Mark::Bar),
        ];
        let svg = charts::figure(
            "Figure 5 — CF backbones alone vs MARIO with each",
            Some(&self.figure_subtitle()),
            &legend,
            &panels,
            2,
            panel,
        );
        Ok(Outcome {
            title: "CF backbones alone vs MARIO with each".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, reference),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    fn preservation(&mut self) -> anyhow::Result<Outcome> {
        let sides = self.side_modalities();
        anyhow::ensure!(
            !sides.is_empty(),
            "the preservation experiment needs a side modality (visual, textual, …) in the dataset"
        );
        let variants = vec![
            self.mario(),
            self.variant("MARIO μ = 0 (no MP loss)", |c| c.mu = 0.0),
            self.variant("early fusion", |c| {
                c.fusion_stage = FusionStage::Early;
                c.fusion = FusionKind::Attention;
            }),
        ];
        let rows = self.rows(&variants, true)?;
        let mut degree = vec![0u32; self.dataset.n_items];
        for items in &self.dataset.train {
            for &i in items {
                degree[i as usize] += 1;
            }
        }
        let threshold = self.high_degree;
        let high: Vec<bool> = degree.iter().map(|&d| d as usize > threshold).collect();
        let n_high = high.iter().filter(|&&h| h).count();
        // Per (row, modality): the per-seed averages over all / high-degree items.
        let averages = |row: &Row, m: &str, high_only: bool| -> Vec<f64> {
            row.runs
                .iter()
                .filter_map(|r| {
                    let diffs = r.preservation.as_ref()?.get(m)?;
                    preservation::masked_mean(diffs, |i| !high_only || high[i])
                })
                .collect()
        };
        let mut md = self.header(
            Which::Preservation,
            "modality preservation of the final item embeddings",
            "For every item, the mean over all other items of |cos(raw features) − cos(final \
             embedding)| for each side modality (§3's p- vs f-similarities; smaller = better \
             preserved), averaged over all items and over high-degree items. MARIO's final \
             embedding of modality m is its m-modality embedding (the input of the attention); \
             the early-fusion variant adds the side-modality embeddings to the CF item \
             embedding before propagation and has one fused item embedding. The paper reports \
             MARIO smallest everywhere, and early fusion (MMGCN) far larger.",
        );
        let _ = writeln!(
            md,
            "High-degree items: more than {threshold} training interactions (`--high-degree`): \
             {n_high} of {} items (training degree: median {}, max {}).\n",
            self.dataset.n_items,
            median(&degree),
            degree.iter().max().copied().unwrap_or(0)
        );
        let _ = writeln!(
            md,
            "## Table 6 — average |p-similarity − f-similarity| (mean ± std over seeds; smaller is better)\n"
        );
        let mut header = vec!["Items", "Modality"];
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        header.extend(labels.iter().map(String::as_str));
        let mut table_rows = Vec::new();
        let mut mario_smallest = 0;
        let mut mario_below_early = 0;
        let mut mario_below_mu0 = 0;
        let mut cells_total = 0;
        let mut spread = [0.0f64; 3];
        let mut json_cells = Vec::new();
        for (scope, high_only) in [("All items", false), ("High-degree", true)] {
            for m in &sides {
                let per_row: Vec<Vec<f64>> =
                    rows.iter().map(|r| averages(r, m, high_only)).collect();
                if per_row.iter().all(Vec::is_empty) {
                    table_rows.push(
                        [scope.to_string(), m.clone()]
                            .into_iter()
                            .chain(rows.iter().map(|_| "n/a (no such items)".to_string()))
                            .collect(),
                    );
                    continue;
                }
                let means: Vec<f64> = per_row.iter().map(|v| mean_std(v).0).collect();
                for (acc, v) in spread.iter_mut().zip(&per_row) {
                    *acc += mean_std(v).1;
                }
                let best = argmax(&means.iter().map(|v| -v).collect::<Vec<_>>());
                cells_total += 1;
                mario_smallest += usize::from(best == 0);
                mario_below_mu0 += usize::from(means[0] < means[1]);
                mario_below_early += usize::from(means[0] < means[2]);
                let mut cells = vec![scope.to_string(), m.clone()];
                for (i, v) in per_row.iter().enumerate() {
                    let mut c = mean_pm_std(v, 4);
                    if i == best {
                        c = format!("**{c}**");
                    }
                    if i > 0 && self.seeds.len() >= 2 {
                        let _ = write!(c, " (p = {})", p_value(paired_t_test(v, &per_row[0])));
                    }
                    cells.push(c);
                }
                json_cells.push(json!({
                    "items": scope, "modality": m,
                    "per_variant": rows.iter().zip(&per_row).map(|(r, v)| json!({"label": r.label, "per_seed": v})).collect::<Vec<_>>(),
                }));
                table_rows.push(cells);
            }
        }
        let align: Vec<Align> = [Align::Left, Align::Left]
            .into_iter()
            .chain(rows.iter().map(|_| Align::Right))
            .collect();
        md.push_str(&markdown::table(&header, &align, &table_rows));
        let _ = writeln!(
            md,
            "\nBold: smallest in the row. p: paired t-test against MARIO over seeds{}.\n",
            if self.seeds.len() < 2 {
                format!(" ({})", markdown::NEEDS_SEEDS)
            } else {
                String::new()
            }
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let findings = vec![
            format!(
                "MARIO has the smallest difference in {mario_smallest}/{cells_total} cells (paper: all)"
            ),
            format!(
                "MARIO < MARIO μ = 0 in {mario_below_mu0}/{cells_total} cells: {}",
                if mario_below_mu0 == cells_total {
                    "the MP loss improves preservation everywhere"
                } else if mario_below_mu0 == 0 {
                    "the MP loss does not improve preservation here"
                } else {
                    "the MP loss's effect on preservation is mixed here"
                }
            ),
            format!(
                "Seed-to-seed spread (std over seeds, mean over cells): MARIO {:.4}, MARIO μ = 0 {:.4}, early fusion {:.4}",
                spread[0] / cells_total.max(1) as f64,
                spread[1] / cells_total.max(1) as f64,
                spread[2] / cells_total.max(1) as f64
            ),
            format!(
                "MARIO < early fusion in {mario_below_early}/{cells_total} cells (paper: early fusion is far worse)"
            ),
        ];
        let headline = format!(
            "MARIO smallest in {mario_smallest}/{cells_total} cells; below μ = 0 in {mario_below_mu0}/{cells_total}, below early fusion in {mario_below_early}/{cells_total} (paper: all)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Preservation, &rows));
        // Figure 3: densities of the per-item differences, pooled over seeds.
        let pooled = |row: &Row, m: &str, high_only: bool| -> Vec<f64> {
            row.runs
                .iter()
                .filter_map(|r| r.preservation.as_ref()?.get(m))
                .flat_map(|d| {
                    d.iter()
                        .enumerate()
                        .filter(|(i, _)| !high_only || high[*i])
                        .map(|(_, v)| *v as f64)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let all_values: Vec<f64> = rows
            .iter()
            .flat_map(|r| sides.iter().flat_map(move |m| pooled(r, m, false)))
            .collect();
        let lo = all_values.iter().copied().fold(f64::MAX, f64::min);
        let hi = all_values.iter().copied().fold(f64::MIN, f64::max);
        let span = (hi - lo).max(0.02);
        let x = ((lo - span * 0.15).max(0.0), hi + span * 0.15);
        let mut curves_per_panel = Vec::new();
        let mut y_max = 0.0f64;
        for row in &rows {
            for m in &sides {
                let all = pooled(row, m, false);
                let hd = pooled(row, m, true);
                let c_all = charts::kde(&all, x, 240);
                let c_hd = charts::kde(&hd, x, 240);
                y_max = c_all.iter().chain(&c_hd).map(|p| p.1).fold(y_max, f64::max);
                let mean = |v: &[f64]| (!v.is_empty()).then(|| mean_std(v).0);
                curves_per_panel.push((
                    format!("{} — {m}", row.label),
                    vec![
                        DensityCurve {
                            points: c_all,
                            mean: mean(&all),
                            colour: PALETTE[0],
                        },
                        DensityCurve {
                            points: c_hd,
                            mean: mean(&hd),
                            colour: PALETTE[3],
                        },
                    ],
                ));
            }
        }
        let panel = (470.0, 300.0);
        let panels: Vec<String> = curves_per_panel
            .iter()
            .map(|(title, curves)| {
                charts::density_panel(
                    panel,
                    title,
                    "average |p-similarity − f-similarity| per item",
                    x,
                    y_max,
                    curves,
                )
            })
            .collect();
        let legend = [
            legend_line(
                &format!("all items (n = {})", self.dataset.n_items),
                PALETTE[0],
                Mark::Line,
            ),
            legend_line(
                &format!("high-degree items, > {threshold} interactions (n = {n_high})"),
                PALETTE[3],
                Mark::Line,
            ),
            legend_line("mean (dotted)", "#555", Mark::Dotted),
        ];
        let svg = charts::figure(
            "Figure 3 — density of per-item similarity differences",
            Some(&format!(
                "{} · {} seed{} pooled · smaller = modality better preserved{}",
                self.dataset.name,
                self.seeds.len(),
                if self.seeds.len() == 1 { "" } else { "s" },
                if self.quick { " · QUICK RUN" } else { "" }
            )),
            &legend,
            &panels,
            sides.len(),
            panel,
        );
        let mut json = self.rows_json(&rows, 0);
        json["table6"] = json!(json_cells);
        json["high_degree_threshold"] = json!(threshold);
        json["high_degree_items"] = json!(n_high);
        Ok(Outcome {
            title: "Modality preservation (p- vs f-similarities)".into(),
            markdown: md,
            svg,
            json,
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    // ------------------------------------------------------------------ rendering

    fn header(&self, which: Which, title: &str, intro: &str) -> String {
        let mut md = format!(
            "# {} — {title}\n\nPaper: MARIO (CIKM 2022), {}. {intro}\n\n",
            which.name(),
            which.paper()
        );
        if self.quick {
            let _ = writeln!(
                md,
                "> **Quick run** (`--quick`: at most {} epochs, patience {}): these numbers check \
                 the pipeline and are not converged; do not draw conclusions from them.\n",
                self.base.epochs, self.base.patience
            );
        }
        md
    }

    fn figure_subtitle(&self) -> String {
        format!(
            "{} · {} seed{} · mean ± std{}",
            self.dataset.name,
            self.seeds.len(),
            if self.seeds.len() == 1 { "" } else { "s" },
            if self.quick { " · QUICK RUN" } else { "" }
        )
    }

    /// The accuracy table (mean ± std) and the paired t-test table against `reference`.
    fn accuracy_section(&self, rows: &[Row], reference: usize) -> String {
        let mut md = format!(
            "## Accuracy (test split at the best validation epoch; mean ± std over {} seed{})\n\n",
            self.seeds.len(),
            if self.seeds.len() == 1 { "" } else { "s" }
        );
        let mut header = vec!["Model"];
        header.extend(METRICS.iter().map(|(_, t)| *t));
        let align: Vec<Align> = [Align::Left]
            .into_iter()
            .chain(METRICS.iter().map(|_| Align::Right))
            .collect();
        let best: Vec<usize> = METRICS
            .iter()
            .map(|(k, _)| argmax(&rows.iter().map(|r| r.mean(k)).collect::<Vec<_>>()))
            .collect();
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut cells = vec![if i == reference {
                    format!("{} (reference)", r.label)
                } else {
                    r.label.clone()
                }];
                for (j, (k, _)) in METRICS.iter().enumerate() {
                    let c = mean_pm_std(&r.values(k), 4);
                    cells.push(if best[j] == i { format!("**{c}**") } else { c });
                }
                cells
            })
            .collect();
        md.push_str(&markdown::table(&header, &align, &table_rows));
        md.push_str("\nBold: best mean per column.\n\n");
        let _ = writeln!(
            md,
            "### Paired t-test against {} (two-sided p over seeds; * p < 0.05)\n",
            rows[reference].label
        );
        let p_rows: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != reference)
            .map(|(_, r)| {
                let mut cells = vec![r.label.clone()];
                for (k, _) in METRICS {
                    cells.push(p_value(paired_t_test(
                        &r.values(k),
                        &rows[reference].values(k),
                    )));
                }
                cells
            })
            .collect();
        md.push_str(&markdown::table(&header, &align, &p_rows));
        md.push('\n');
        md
    }

    fn figure_and_runs(&self, which: Which, rows: &[Row]) -> String {
        let mut md = format!(
            "## Figure\n\n![{} figure]({}.svg)\n\n## Runs\n\n",
            which.name(),
            which.name()
        );
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let epochs: Vec<String> = r
                    .runs
                    .iter()
                    .map(|x| {
                        format!(
                            "{}: {}/{}",
                            x.seed,
                            x.best_epoch.map_or("—".into(), |e| e.to_string()),
                            x.epochs_run
                        )
                    })
                    .collect();
                let seconds: f64 = r.runs.iter().map(|x| x.seconds).sum();
                let reused = r.runs.iter().filter(|x| x.reused).count();
                vec![
                    r.label.clone(),
                    format!("`runs/{}-seed<N>/`", r.key),
                    epochs.join(", "),
                    duration(seconds),
                    format!("{reused}/{}", r.runs.len()),
                ]
            })
            .collect();
        md.push_str(&markdown::table(
            &[
                "Model",
                "Run directories",
                "seed: best epoch / epochs run",
                "Training time (all seeds)",
                "Reused",
            ],
            &[
                Align::Left,
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
            ],
            &table_rows,
        ));
        md.push('\n');
        md
    }

    /// The setup section: data, config, seeds, backend, commit, wall time.
    fn setup_section(
        &self,
        wall: f64,
        train_seconds: f64,
        trained: usize,
        reused: usize,
    ) -> String {
        let mut config = self.base.clone();
        config.seed = 0;
        let toml = toml::to_string(&config).unwrap_or_default();
        let toml: String = toml
            .lines()
            .filter(|l| !l.starts_with("seed ="))
            .map(|l| format!("{l}\n"))
            .collect();
        format!(
            "## Setup\n\n\
             - Data: `{}` — {} ({} users, {} items, {} training interactions; modalities {})\n\
             - Seeds: {} (each seed is one run per variant; p-values pair runs by seed)\n\
             - Mode: {}\n\
             - Backend: {} [{}]\n\
             - Commit: `{}`\n\
             - Wall time of this experiment: {} ({} sub-runs trained by this invocation, {} reused \
               from an earlier one); training time of its sub-runs: {}\n\
             - Written: {}\n\n\
             Base configuration (every variant changes only what its name says; `seed` is set per run):\n\n\
             ```toml\n{}```\n",
            self.data_dir.display(),
            self.dataset.name,
            self.dataset.n_users,
            self.dataset.n_items,
            self.dataset.n_train(),
            self.all_modalities().join(", "),
            self.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if self.quick {
                format!(
                    "**quick** (`--quick`: ≤ {} epochs, patience {})",
                    self.base.epochs, self.base.patience
                )
            } else {
                format!(
                    "full (≤ {} epochs, early stopping after {} evaluations without a better validation Recall@20)",
                    self.base.epochs, self.base.patience
                )
            },
            self.backend.name,
            self.backend.adapter,
            self.commit,
            duration(wall),
            trained,
            reused,
            duration(train_seconds),
            utc_now(),
            toml
        )
    }

    /// Bars of Recall/NDCG@10/20 per variant (Tables 4 and 5).
    fn metric_bars(&self, title: &str, rows: &[Row]) -> String {
        let keys = [
            ("recall@10", "Recall@10"),
            ("recall@20", "Recall@20"),
            ("ndcg@10", "NDCG@10"),
            ("ndcg@20", "NDCG@20"),
        ];
        let groups: Vec<String> = keys.iter().map(|(_, t)| t.to_string()).collect();
        let series: Vec<BarSeries> = rows
            .iter()
            .map(|r| BarSeries {
                values: keys
                    .iter()
                    .map(|(k, _)| Some(mean_std(&r.values(k))))
                    .collect(),
                labels: vec![None; keys.len()],
            })
            .collect();
        let panel = (940.0, 400.0);
        let bars = charts::bar_panel(panel, "", "test accuracy", &groups, &series);
        let legend: Vec<LegendItem> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| legend_line(&r.label, PALETTE[i % PALETTE.len()], Mark::Bar))
            .collect();
        charts::figure(
            title,
            Some(&format!("{}; error bars: ±1 std", self.figure_subtitle())),
            &legend,
            &[bars],
            1,
            panel,
        )
    }

    fn rows_json(&self, rows: &[Row], reference: usize) -> serde_json::Value {
        json!({
            "reference": rows[reference].label,
            "rows": rows.iter().map(|r| {
                let metrics: serde_json::Map<String, serde_json::Value> = METRICS.iter().map(|(k, _)| {
                    let v = r.values(k);
                    let (m, s) = mean_std(&v);
                    let t = paired_t_test(&v, &rows[reference].values(k));
                    ((*k).to_string(), json!({"per_seed": v, "mean": m, "std": s, "p_vs_reference": t.map(|t| t.p)}))
                }).collect();
                json!({
                    "label": r.label,
                    "run": r.key,
                    "seeds": r.runs.iter().map(|x| x.seed).collect::<Vec<_>>(),
                    "best_epochs": r.runs.iter().map(|x| x.best_epoch).collect::<Vec<_>>(),
                    "epochs_run": r.runs.iter().map(|x| x.epochs_run).collect::<Vec<_>>(),
                    "seconds": r.runs.iter().map(|x| x.seconds).collect::<Vec<_>>(),
                    "test": metrics,
                })
            }).collect::<Vec<_>>(),
        })
    }

    /// Writes `<experiment>.md/.svg/.json` and refreshes `README.md`.
    fn write(&self, which: Which, mut outcome: Outcome, wall: f64) -> anyhow::Result<()> {
        let runs = &outcome.runs;
        let trained = runs.iter().filter(|r| !r.reused).count();
        let reused = runs.len() - trained;
        let train_seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        outcome
            .markdown
            .push_str(&self.setup_section(wall, train_seconds, trained, reused));
        let name = which.name();
        crate::io::write_atomic(
            &self.out.join(format!("{name}.md")),
            outcome.markdown.as_bytes(),
        )?;
        crate::io::write_atomic(
            &self.out.join(format!("{name}.svg")),
            outcome.svg.as_bytes(),
        )?;
        let mut json = outcome.json;
        json["experiment"] = json!(name);
        json["paper"] = json!(which.paper());
        json["title"] = json!(outcome.title);
        json["headline"] = json!(outcome.headline);
        json["seeds"] = json!(self.seeds);
        json["quick"] = json!(self.quick);
        json["backend"] = json!(self.backend.name);
        json["adapter"] = json!(self.backend.adapter);
        json["commit"] = json!(self.commit);
        json["dataset"] = self.fingerprint.clone();
        json["data_dir"] = json!(self.data_dir);
        json["config"] = serde_json::to_value(&self.base)?;
        json["wall_seconds"] = json!(wall);
        json["training_seconds"] = json!(train_seconds);
        json["written"] = json!(utc_now());
        crate::io::write_json(&self.out.join(format!("{name}.json")), &json)?;
        eprintln!(
            "{name}: {} — wrote {}",
            outcome.headline,
            self.out.join(format!("{name}.md")).display()
        );
        write_index(&self.out)
    }
}

/// `README.md`: one line per experiment report present in `out`.
fn write_index(out: &Path) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut setup = None;
    for w in Which::EACH {
        let Some(j) = read_json(&out.join(format!("{}.json", w.name()))) else {
            continue;
        };
        let name = w.name();
        rows.push(vec![
            format!("[{name}]({name}.md)"),
            w.paper().to_string(),
            j["title"].as_str().unwrap_or("").to_string(),
            j["headline"].as_str().unwrap_or("").to_string(),
            format!("[{name}.svg]({name}.svg)"),
            format!(
                "{}{}",
                j["seeds"]
                    .as_array()
                    .map(|s| s
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                if j["quick"].as_bool() == Some(true) {
                    " (quick)"
                } else {
                    ""
                }
            ),
            duration(j["wall_seconds"].as_f64().unwrap_or(0.0)),
            j["written"].as_str().unwrap_or("").to_string(),
        ]);
        setup.get_or_insert(j);
    }
    let mut md = String::from(
        "# MARIO experiment reports\n\nThe paper's experiments (MARIO, CIKM 2022, §5.2) \
         reproduced with `mario experiment`. Each report has the accuracy table (mean ± std \
         over seeds, test split at the best validation epoch), paired t-tests against full \
         MARIO, the figure, the sub-runs and the setup.\n\n",
    );
    if rows.is_empty() {
        md.push_str("No report yet.\n");
    } else {
        md.push_str(&markdown::table(
            &[
                "Report",
                "Paper",
                "What",
                "Paper's ordering here",
                "Figure",
                "Seeds",
                "Wall time",
                "Written",
            ],
            &[Align::Left; 8],
            &rows,
        ));
    }
    if let Some(j) = setup {
        let _ = write!(
            md,
            "\nData: `{}` ({}); backend {} [{}]; commit `{}`.{}\n\nSub-runs are in `runs/<name>-seed<N>/` \
             (normal `mario train` run directories) and are reused by later invocations with \
             the same configuration.\n",
            j["data_dir"].as_str().unwrap_or("?"),
            j["dataset"]["name"].as_str().unwrap_or("?"),
            j["backend"].as_str().unwrap_or("?"),
            j["adapter"].as_str().unwrap_or("?"),
            j["commit"].as_str().unwrap_or("?"),
            if j["quick"].as_bool() == Some(true) {
                " **Quick run**: not converged, for checking the pipeline only."
            } else {
                ""
            }
        );
    }
    crate::io::write_atomic(&out.join("README.md"), md.as_bytes())
}

fn legend_line(name: &str, colour: &'static str, mark: Mark) -> LegendItem {
    LegendItem {
        name: name.to_string(),
        colour,
        mark,
    }
}

/// Index of the largest value (NaN loses); 0 for an empty slice.
fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn median(values: &[u32]) -> u32 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Compares the reference row (`rows[0]`) with every other row: (how many rows it
/// beats on every metric, one finding line per row).
fn versus_reference(rows: &[Row]) -> (usize, Vec<String>) {
    let mut holds = 0;
    let findings = rows[1..]
        .iter()
        .map(|row| {
            let (wins, text) = versus(&rows[0], row);
            holds += usize::from(wins == METRICS.len());
            text
        })
        .collect();
    (holds, findings)
}

/// How `a` compares with `b` on every metric: (metrics where `a` is higher, a line).
fn versus(a: &Row, b: &Row) -> (usize, String) {
    let wins = METRICS
        .iter()
        .filter(|(k, _)| a.mean(k) > b.mean(k))
        .count();
    let losses: Vec<String> = METRICS
        .iter()
        .filter(|(k, _)| a.mean(k) <= b.mean(k))
        .map(|(k, t)| format!("{t} {:.4} vs {:.4}", a.mean(k), b.mean(k)))
        .collect();
    let detail = |k: &str, t: &str| {
        format!(
            "{t} {:.4} vs {:.4} ({}, p = {})",
            a.mean(k),
            b.mean(k),
            percent_change(a.mean(k), b.mean(k)),
            p_value(paired_t_test(&a.values(k), &b.values(k)))
        )
    };
    let mut line = format!(
        "{} vs {}: {} higher on {wins}/6 metrics — {}; {}",
        a.label,
        b.label,
        a.label,
        detail("recall@20", "Recall@20"),
        detail("ndcg@20", "NDCG@20")
    );
    if !losses.is_empty() {
        let _ = write!(line, "; not higher on: {}", losses.join(", "));
    }
    (wins, line)
}

/// `Recall@20: A (0.16) > B (0.15) > …`.
fn ordering_line(rows: &[Row], key: &str, title: &str) -> String {
    let mut order: Vec<(&str, f64)> = rows
        .iter()
        .map(|r| (r.label.as_str(), r.mean(key)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    format!(
        "Ordering by {title}: {}",
        order
            .iter()
            .map(|(l, v)| format!("{l} ({v:.4})"))
            .collect::<Vec<_>>()
            .join(" > ")
    )
}

/// `test Recall@20 0.1583 NDCG@20 0.0677 (best epoch 20 of 30, 38.0 s)`.
fn summary_line(r: &RunResult) -> String {
    format!(
        "test Recall@20 {:.4} NDCG@20 {:.4} (best epoch {} of {}, {})",
        r.metric("recall@20"),
        r.metric("ndcg@20"),
        r.best_epoch.map_or("—".into(), |e| e.to_string()),
        r.epochs_run,
        duration(r.seconds)
    )
}

fn findings_section(headline: &str, findings: &[String]) -> String {
    let mut md = format!("## Findings\n\n**{headline}.**\n\n");
    for f in findings {
        let _ = writeln!(md, "- {f}");
    }
    md.push('\n');
    md
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
