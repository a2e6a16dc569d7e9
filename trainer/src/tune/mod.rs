//! `mario tune`: hyperparameter search with successive halving, selected strictly on
//! validation Recall@20, resumable, with a report.
//!
//! - `space.rs` reads the search space (`[fixed]`, `[space]`, `[search]`);
//! - `halving.rs` is the rung schedule;
//! - this file runs it: every (trial, seed) is a normal run directory
//!   `OUT/trials/<trial>/seed-<seed>/` that is resumed from its checkpoint to each rung's
//!   budget, and `OUT/tune.json` records each finished (trial, seed, rung) atomically, so a
//!   killed search continues where it stopped and never reruns finished work;
//! - `report.rs` writes `leaderboard.md`, `trials.svg` and `best.toml`.
//!
//! Test is scored once, for the chosen configuration only, after the search; it is
//! reported and never used to choose.

pub mod halving;
pub mod report;
mod report_chart;
pub mod space;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mario_data::{Dataset, DatasetFormat};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use self::halving::Rung;
use self::space::{Method, Params, Space};
use crate::backend::{Backend, BackendChoice};
use crate::config::TrainConfig;
use crate::train::{RunInputs, RunOptions, train};

/// What `mario tune` was asked to do.
#[derive(Debug, Clone)]
pub struct TuneRequest {
    pub data: PathBuf,
    pub format: Option<DatasetFormat>,
    pub space_file: PathBuf,
    pub out: PathBuf,
    pub trials: Option<usize>,
    pub budget_minutes: Option<f64>,
    /// Seeds every trial is trained with; empty: the configuration's seed.
    pub seeds: Vec<u64>,
    /// CI smoke mode: at most 3 trials of 3 epochs, rungs at 1, 2, 3 epochs.
    pub quick: bool,
    pub backend: BackendChoice,
    pub quiet: bool,
}

/// One configuration of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    pub id: usize,
    /// The varied settings (TOML values, as drawn).
    pub params: Params,
    pub config: TrainConfig,
}

/// One (trial, seed) trained to one rung's budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub trial: usize,
    pub seed: u64,
    pub rung: usize,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    /// Best validation Recall@20 so far (the selection score).
    pub valid_recall: f64,
    /// Early stopping fired before the rung's budget: the run is over.
    pub stopped_early: bool,
    pub seconds: f64,
}

/// `OUT/tune.json`: the search, as planned and as far as it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneState {
    pub format_version: u32,
    /// The space file's text: a rerun must use the same one.
    pub space_text: String,
    pub data: PathBuf,
    pub seeds: Vec<u64>,
    pub quick: bool,
    pub rungs: Vec<Rung>,
    pub trials: Vec<Trial>,
    pub records: Vec<Record>,
    /// Test metrics of the chosen trial (mean over seeds), once the search is complete.
    pub chosen: Option<Chosen>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chosen {
    pub trial: usize,
    pub valid: serde_json::Value,
    pub test: serde_json::Value,
}

const STATE_FILE: &str = "tune.json";
const STATE_VERSION: u32 = 1;

impl TuneState {
    fn record(&self, trial: usize, seed: u64, rung: usize) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.trial == trial && r.seed == seed && r.rung == rung)
    }

    /// Mean validation Recall@20 of `trial` over the seeds at `rung` (all seeds done).
    pub fn score(&self, trial: usize, rung: usize) -> Option<f64> {
        let values: Option<Vec<f64>> = self
            .seeds
            .iter()
            .map(|&s| self.record(trial, s, rung).map(|r| r.valid_recall))
            .collect();
        values.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64)
    }

    /// The highest rung `trial` completed, with its score.
    pub fn reached(&self, trial: usize) -> Option<(usize, f64)> {
        (0..self.rungs.len())
            .rev()
            .find_map(|r| self.score(trial, r).map(|s| (r, s)))
    }

    /// Trials trained at `rung`: all at rung 0, then the best of the previous rung.
    pub fn alive(&self, rung: usize) -> Option<Vec<usize>> {
        if rung == 0 {
            return Some(self.trials.iter().map(|t| t.id).collect());
        }
        let previous = self.alive(rung - 1)?;
        let mut scored: Vec<(usize, f64)> = previous
            .iter()
            .map(|&t| self.score(t, rung - 1).map(|s| (t, s)))
            .collect::<Option<_>>()?;
        scored.sort_by(best_first);
        scored.truncate(self.rungs[rung].trials);
        Some(scored.into_iter().map(|(t, _)| t).collect())
    }

    /// The best trial of the last rung, once it is complete.
    pub fn winner(&self) -> Option<usize> {
        let last = self.rungs.len().checked_sub(1)?;
        let alive = self.alive(last)?;
        alive
            .iter()
            .map(|&t| self.score(t, last).map(|s| (t, s)))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min_by(best_first)
            .map(|(t, _)| t)
    }

    /// Units of work (one trial × seed × rung) in the whole plan, and done so far.
    fn units(&self) -> (u64, u64) {
        let total =
            self.rungs.iter().map(|r| r.trials as u64).sum::<u64>() * self.seeds.len() as u64;
        (total, self.records.len() as u64)
    }
}

/// The selection order of (trial, score): best score first, ties to the lower trial id,
/// NaN (a diverged run) last.
fn best_first(a: &(usize, f64), b: &(usize, f64)) -> std::cmp::Ordering {
    let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0))
}

fn run_dir(out: &Path, trial: usize, seed: u64) -> PathBuf {
    out.join("trials")
        .join(format!("{trial:03}"))
        .join(format!("seed-{seed}"))
}

/// Draws the trials and the schedule of a new search.
fn plan(space: &Space, request: &TuneRequest, text: String) -> anyhow::Result<TuneState> {
    let mut base = space.base.clone();
    let mut halving = space.search.halving;
    let mut n_trials = request.trials.or(space.search.trials);
    if request.quick {
        base.epochs = 3;
        base.eval_every = 1;
        n_trials = Some(n_trials.unwrap_or(3).min(3));
        halving = Some(space::Halving {
            min_epochs: 1,
            eta: 2,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(base.seed);
    let params: Vec<Params> = match space.search.method {
        Method::Grid => {
            let mut grid = space.grid();
            if let Some(n) = n_trials.filter(|&n| n < grid.len()) {
                // A random subset of the grid, kept in grid order.
                let mut idx: Vec<usize> = (0..grid.len()).collect();
                idx.shuffle(&mut rng);
                idx.truncate(n);
                idx.sort_unstable();
                grid = idx.into_iter().map(|i| grid[i].clone()).collect();
            }
            grid
        }
        Method::Random => {
            let n = n_trials.unwrap_or(16);
            (0..n).map(|_| space.sample(&mut rng)).collect()
        }
    };
    if params.is_empty() {
        bail!("the search has no trial: --trials must be at least 1");
    }
    let trials = params
        .into_iter()
        .enumerate()
        .map(|(id, params)| {
            let config =
                space::apply(&base, &params).with_context(|| format!("trial {id}: {params:?}"))?;
            Ok(Trial { id, params, config })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let max_epochs = base.epochs;
    let mut rungs = match halving {
        Some(h) => halving::schedule(trials.len(), h.min_epochs, max_epochs, h.eta),
        None => halving::schedule(trials.len(), max_epochs, max_epochs, 1),
    };
    halving::align_to_evaluations(&mut rungs, base.eval_every, max_epochs);
    let seeds = if request.seeds.is_empty() {
        vec![base.seed]
    } else {
        request.seeds.clone()
    };
    Ok(TuneState {
        format_version: STATE_VERSION,
        space_text: text,
        data: request.data.clone(),
        seeds,
        quick: request.quick,
        rungs,
        trials,
        records: Vec::new(),
        chosen: None,
    })
}

/// Loads `OUT/tune.json` if it belongs to this request, else plans a new search.
fn load_or_plan(request: &TuneRequest) -> anyhow::Result<(Space, TuneState)> {
    let text = std::fs::read_to_string(&request.space_file)
        .with_context(|| format!("cannot read search space {}", request.space_file.display()))?;
    let space = Space::parse(&text)
        .with_context(|| format!("invalid search space {}", request.space_file.display()))?;
    let path = request.out.join(STATE_FILE);
    if path.is_file() {
        let saved: TuneState = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| {
                format!("{} is corrupt; move it away to start over", path.display())
            })?;
        let fresh = plan(&space, request, text)?;
        let same = saved.format_version == STATE_VERSION
            && saved.space_text == fresh.space_text
            && saved.data == fresh.data
            && saved.seeds == fresh.seeds
            && saved.quick == fresh.quick
            && saved.trials.len() == fresh.trials.len();
        if !same {
            bail!(
                "{} holds a different search (space file, data, --seeds, --trials or --quick \
                 differ); continue it with the same flags, or pass a new --out",
                request.out.display()
            );
        }
        return Ok((space, saved));
    }
    Ok((space.clone(), plan(&space, request, text)?))
}

fn save_state(out: &Path, state: &TuneState) -> anyhow::Result<()> {
    crate::io::write_json(&out.join(STATE_FILE), state)
}

/// Trains (or resumes) one (trial, seed) run to `until` epochs.
fn train_unit(
    dataset: &Dataset,
    backend: &Backend,
    request: &TuneRequest,
    config: &TrainConfig,
    dir: &Path,
    until: usize,
    final_pass: bool,
) -> anyhow::Result<serde_json::Value> {
    let resume = dir.join("checkpoint.safetensors").is_file();
    if !resume {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let inputs = RunInputs {
            data: request.data.clone(),
            format: request.format.map(|f| f.to_string()),
            backend: request.backend,
            config: config.clone(),
        };
        crate::io::write_json(&dir.join("run.json"), &inputs)?;
    }
    let options = RunOptions {
        quiet: true,
        resume,
        until_epoch: Some(until),
        skip_test: !final_pass,
        skip_export: !final_pass,
        ..Default::default()
    };
    Ok(train(dataset, config, backend, dir, &options)?.metrics)
}

/// What the search ended with.
#[derive(Debug)]
pub struct TuneOutcome {
    pub complete: bool,
    pub state: TuneState,
    pub report_dir: PathBuf,
}

/// Runs (or continues) a search.
pub fn run(
    request: &TuneRequest,
    dataset: &Dataset,
    backend: &Backend,
) -> anyhow::Result<TuneOutcome> {
    let (space, mut state) = load_or_plan(request)?;
    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    save_state(&request.out, &state)?;
    let started = Instant::now();
    let over_budget = || {
        request
            .budget_minutes
            .is_some_and(|m| started.elapsed().as_secs_f64() > m * 60.0)
    };
    let (total, done) = state.units();
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if request.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("tune {pos}/{len} runs [{bar:30}] {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_position(done);
    let mut complete = true;
    'rungs: for (r, rung) in state.rungs.clone().iter().enumerate() {
        let alive = state
            .alive(r)
            .context("internal: a rung started before the previous one finished")?;
        for &t in &alive {
            for &seed in &state.seeds.clone() {
                if state.record(t, seed, r).is_some() {
                    continue;
                }
                // A run that stopped early stays stopped: carry its result forward.
                let previous = r
                    .checked_sub(1)
                    .and_then(|p| state.record(t, seed, p))
                    .filter(|p| p.stopped_early)
                    .cloned();
                let record = match previous {
                    Some(p) => Record {
                        rung: r,
                        seconds: 0.0,
                        ..p
                    },
                    None => {
                        if over_budget() {
                            complete = false;
                            break 'rungs;
                        }
                        let mut config = state.trials[t].config.clone();
                        config.seed = seed;
                        bar.set_message(format!(
                            "trial {t} seed {seed} → {} epochs{}",
                            rung.epochs,
                            best_message(&state)
                        ));
                        let t0 = Instant::now();
                        let dir = run_dir(&request.out, t, seed);
                        let metrics = train_unit(
                            dataset,
                            backend,
                            request,
                            &config,
                            &dir,
                            rung.epochs,
                            false,
                        )
                        .with_context(|| format!("trial {t} (seed {seed}) in {}", dir.display()))?;
                        let epochs_run = metrics["epochs_run"].as_u64().unwrap_or(0) as usize;
                        Record {
                            trial: t,
                            seed,
                            rung: r,
                            epochs_run,
                            best_epoch: metrics["best_epoch"].as_u64().map(|e| e as usize),
                            valid_recall: metrics["valid"]["recall@20"]
                                .as_f64()
                                .unwrap_or(f64::NAN),
                            stopped_early: epochs_run < rung.epochs,
                            seconds: t0.elapsed().as_secs_f64(),
                        }
                    }
                };
                state.records.push(record);
                save_state(&request.out, &state)?;
                bar.inc(1);
                bar.set_message(best_message(&state));
            }
        }
    }
    if complete
        && state.chosen.is_none()
        && let Some(w) = state.winner()
    {
        // Test is read now, once, for the chosen configuration only.
        bar.set_message(format!("scoring test for the chosen trial {w}"));
        let last = state.rungs.len() - 1;
        let mut valid = Vec::new();
        let mut test = Vec::new();
        for &seed in &state.seeds.clone() {
            let mut config = state.trials[w].config.clone();
            config.seed = seed;
            let until = state
                .record(w, seed, last)
                .map_or(config.epochs, |r| r.epochs_run);
            let metrics = train_unit(
                dataset,
                backend,
                request,
                &config,
                &run_dir(&request.out, w, seed),
                until,
                true,
            )?;
            valid.push(metrics["valid"].clone());
            test.push(metrics["test"].clone());
        }
        state.chosen = Some(Chosen {
            trial: w,
            valid: report::mean_metrics(&valid),
            test: report::mean_metrics(&test),
        });
        save_state(&request.out, &state)?;
    }
    bar.finish_and_clear();
    report::write(&request.out, &space, &state, complete)?;
    Ok(TuneOutcome {
        complete,
        state,
        report_dir: request.out.clone(),
    })
}

fn best_message(state: &TuneState) -> String {
    let best = state
        .trials
        .iter()
        .filter_map(|t| state.reached(t.id).map(|(r, s)| (t.id, r, s)))
        .max_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)));
    match best {
        Some((t, r, s)) => format!(" · best: trial {t}, valid R@20 {s:.4} (rung {r})"),
        None => String::new(),
    }
}
