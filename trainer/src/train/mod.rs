//! The training loop: BPR with uniform negative sampling, Adam, periodic
//! full-ranking evaluation with early stopping on validation Recall@20, checkpoints
//! and exact resume, and the run directory's outputs:
//!
//! - `metrics.json` — backend, adapter, epochs, best epoch, timings, config, valid/test metrics;
//! - `history.jsonl` — one line per evaluation; `curves.svg` — the training curves;
//! - `checkpoint.safetensors` — everything needed for `--resume`;
//! - `model.safetensors` — the compact weights of the best epoch (f16).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mario_data::Dataset;
use mario_shared::metrics::MetricsReport;
use rand::seq::SliceRandom;
use serde_json::json;

use crate::backend::Backend;
pub mod checkpoint;
pub mod optimizer;
mod ranked;
mod sampling;

#[cfg(test)]
pub use self::ranked::model_scores;
pub use self::ranked::{RankedModel, evaluate_model};
use self::sampling::epoch_rng;
pub use self::sampling::{drop_edges, sample_triples, training_pairs};

use self::checkpoint::LoopState;
use self::optimizer::AdamOptimizer;
use crate::config::TrainConfig;
use crate::eval::Split;
use crate::model::graph::BipartiteGraph;
use crate::model::{Mario, Params};
use crate::tensor::to_f32;

/// What a finished run reports (also written as `metrics.json`).
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub metrics: serde_json::Value,
    pub model: Mario,
    pub best_params: Params,
}

/// What a run directory records about its inputs (`run.json`), so `mario train --resume`
/// needs nothing else.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInputs {
    pub data: std::path::PathBuf,
    pub format: Option<String>,
    pub backend: crate::backend::BackendChoice,
    pub config: TrainConfig,
}

/// Options of one `mario train` invocation that are not hyperparameters.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub quiet: bool,
    /// Continue from `run_dir/checkpoint.safetensors`.
    pub resume: bool,
    /// Stop after this many epochs in this invocation (for tests of resume).
    pub stop_after_epochs: Option<usize>,
    /// Stop once this many epochs are done in total (a rung of `mario tune`).
    pub until_epoch: Option<usize>,
    /// Never score the test split during the run (tuning trials: selection reads only
    /// validation). A later invocation without it scores test once, for the best epoch.
    pub skip_test: bool,
    /// Skip writing `model.safetensors` (experiments that only need metrics).
    pub skip_export: bool,
}

/// The learning rate of `epoch` (0-based): `lr · lr_decay^(epoch / 50)`.
pub fn learning_rate(config: &TrainConfig, epoch: usize) -> f64 {
    config.lr * config.lr_decay.powf(epoch as f64 / 50.0)
}

/// Whether early stopping fires: `min_epochs` done and `patience` epochs since the best.
fn early_stop(config: &TrainConfig, epochs_done: usize, best_epoch: Option<usize>) -> bool {
    epochs_done >= config.min_epochs
        && best_epoch.is_some_and(|b| epochs_done.saturating_sub(b) >= config.patience)
}

/// Summed batch losses of one epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct EpochLosses {
    pub total: f64,
    pub bpr: f64,
    pub mp: f64,
    pub l2: f64,
}

/// One epoch of BPR training with uniform negatives (`negatives` per pair): shuffles the
/// training pairs with the epoch's random stream and takes one Adam step per batch.
pub fn train_epoch(
    model: &Mario,
    params: &mut Params,
    optim: &mut AdamOptimizer,
    dataset: &Dataset,
    pairs: &[(u32, u32)],
    epoch: usize,
    batch_bar: &ProgressBar,
) -> anyhow::Result<EpochLosses> {
    let config = &model.config;
    let mut rng = epoch_rng(config.seed, epoch);
    let mut order = pairs.to_vec();
    order.shuffle(&mut rng);
    let mut sums = EpochLosses::default();
    let n_neg = config.negatives.max(1);
    // Its own stream, so that dropping edges leaves the negatives as they were.
    let mut dropout_rng = epoch_rng(config.seed ^ 0x9E37_79B9_7F4A_7C15, epoch);
    // A step is ~100 small parallel loops with serial code between them: the other
    // workers poll through the epoch instead of sleeping and being woken for each.
    //
    // The next batch's triples are sampled while this batch's step runs, as a job the
    // idle worker can take (`rayon::join`: the step stays on this thread, with its
    // stage clock); `rng` draws them in the same order as one batch after another.
    crate::keep_awake::with_workers_awake(|| {
        let batches: Vec<&[(u32, u32)]> = order.chunks(config.batch_size).collect();
        let mut next = batches
            .first()
            .map(|batch| sample_triples(&mut rng, batch, dataset, n_neg));
        for following in (1..=batches.len()).map(|k| batches.get(k)) {
            let (users, pos, neg) = next.take().expect("each batch is sampled before its step");
            let (step, sampled) = rayon::join(
                || -> anyhow::Result<()> {
                    let leaves = params.to_autodiff();
                    let loss = if config.edge_dropout > 0.0 {
                        let kept =
                            drop_edges(&mut dropout_rng, &dataset.train, config.edge_dropout);
                        let graph = BipartiteGraph::new(
                            &kept,
                            dataset.n_items,
                            model.fused.cf,
                            &model.device,
                        );
                        model.loss_over(&leaves, &users, &pos, &neg, &graph)
                    } else {
                        model.loss(&leaves, &users, &pos, &neg)
                    };
                    let mut grads = loss.total.backward();
                    let current = std::mem::take(&mut *params);
                    let clock = crate::stage_clock::time(crate::stage_clock::Stage::Adam);
                    *params = optim.step(learning_rate(config, epoch), current, leaves, &mut grads);
                    drop(clock);
                    let total = to_f32(loss.total.inner())[0] as f64;
                    anyhow::ensure!(
                        total.is_finite(),
                        "the loss became {total} at epoch {epoch}: lower --lr or check the features for extreme values"
                    );
                    sums.total += total;
                    sums.bpr += to_f32(loss.bpr.inner())[0] as f64;
                    sums.l2 += to_f32(loss.l2.inner())[0] as f64;
                    if let Some(mp) = loss.mp {
                        sums.mp += to_f32(mp.inner())[0] as f64;
                    }
                    batch_bar.inc(1);
                    batch_bar.set_message(format!("loss {total:.4}"));
                    Ok(())
                },
                || following.map(|batch| sample_triples(&mut rng, batch, dataset, n_neg)),
            );
            step?;
            next = sampled;
        }
        Ok(sums)
    })
}

/// Peak resident memory of this process in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn report_json(r: &MetricsReport) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in &r.values {
        map.insert(k.clone(), json!(v));
    }
    map.insert("users_evaluated".into(), json!(r.users_evaluated));
    map.insert("users_skipped".into(), json!(r.users_skipped));
    serde_json::Value::Object(map)
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Trains MARIO on `dataset` into `run_dir`.
pub fn train(
    dataset: &Dataset,
    config: &TrainConfig,
    backend: &Backend,
    run_dir: &Path,
    options: &RunOptions,
) -> anyhow::Result<RunSummary> {
    config.validate()?;
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create run directory {}", run_dir.display()))?;
    let device = &backend.device;
    let (mut model, mut params) = Mario::new(dataset, config, device)?;
    let names: Vec<String> = params.list.iter().map(|p| p.name.clone()).collect();
    let mut optim = AdamOptimizer::new(config.adam_eps, params.list.len());
    let checkpoint_path = run_dir.join("checkpoint.safetensors");
    let mut state = LoopState {
        config: config.clone(),
        epochs_done: 0,
        best_epoch: None,
        best_valid: None,
        best_test: None,
        evals_without_improvement: 0,
        history: Vec::new(),
        seconds_training: 0.0,
        seconds_evaluating: 0.0,
        evaluations: 0,
        splits_evaluated: 0,
        learnt_ids: Vec::new(),
        best_learnt_ids: Vec::new(),
        adam_time: vec![None; params.list.len()],
    };
    let mut best = params.clone();
    if options.resume {
        let loaded = checkpoint::load(&checkpoint_path, &names, device)
            .with_context(|| format!("cannot resume from {}", run_dir.display()))?;
        anyhow::ensure!(
            config.same_run_as(&loaded.state.config),
            "--resume: the configuration differs from the checkpoint's (see {}/metrics.json); pass the same flags",
            run_dir.display()
        );
        state = loaded.state;
        state.config = config.clone();
        params = loaded.params;
        best = loaded.best;
        optim.restore(loaded.adam);
        model.set_learnt_ids(&state.learnt_ids);
    }

    let pairs = training_pairs(dataset);
    let n_batches = pairs.len().div_ceil(config.batch_size);
    let progress = MultiProgress::with_draw_target(if options.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let epoch_bar = progress.add(ProgressBar::new(config.epochs as u64));
    epoch_bar.set_style(bar_style("epoch {pos}/{len} [{bar:30}] {elapsed} {msg}"));
    epoch_bar.set_position(state.epochs_done as u64);
    let batch_bar = progress.add(ProgressBar::new(n_batches as u64));
    batch_bar.set_style(bar_style("  batch {pos}/{len} [{bar:30}] {msg}"));
    let mut epochs_this_run = 0;

    while state.epochs_done < config.epochs
        && !early_stop(config, state.epochs_done, state.best_epoch)
    {
        if options
            .stop_after_epochs
            .is_some_and(|n| epochs_this_run >= n)
            || options.until_epoch.is_some_and(|n| state.epochs_done >= n)
        {
            break;
        }
        let epoch = state.epochs_done;
        let started = Instant::now();
        if epoch > 0 && epoch.is_multiple_of(config.knn_refresh_epochs) {
            model.refresh_learnt_graphs(&params);
        }
        batch_bar.reset();
        let losses = train_epoch(
            &model,
            &mut params,
            &mut optim,
            dataset,
            &pairs,
            epoch,
            &batch_bar,
        )?;
        let (loss_sum, bpr_sum, mp_sum) = (losses.total, losses.bpr, losses.mp);
        state.seconds_training += started.elapsed().as_secs_f64();
        state.epochs_done += 1;
        epochs_this_run += 1;
        epoch_bar.set_position(state.epochs_done as u64);
        let nb = n_batches.max(1) as f64;

        if state.epochs_done.is_multiple_of(config.eval_every) || state.epochs_done == config.epochs
        {
            let eval_started = Instant::now();
            let ranked = RankedModel::new(&model, &params);
            let valid = ranked.evaluate(dataset, Split::Valid, &config.ks)?;
            let recall = valid.get("recall@20");
            let improved = state
                .best_valid
                .as_ref()
                .and_then(|b| b.get("recall@20"))
                .and_then(|v| v.as_f64())
                .is_none_or(|b| recall > b);
            // Test is read only for a new best validation score: it is never used to
            // choose, and it is what the best epoch reports.
            let test = if improved && !options.skip_test {
                Some(ranked.evaluate(dataset, Split::Test, &config.ks)?)
            } else {
                None
            };
            state.seconds_evaluating += eval_started.elapsed().as_secs_f64();
            state.evaluations += 1;
            state.splits_evaluated += 1 + usize::from(test.is_some());
            if improved {
                state.best_epoch = Some(state.epochs_done);
                state.best_valid = Some(report_json(&valid));
                state.best_test = test.as_ref().map(report_json);
                state.evals_without_improvement = 0;
                best = params.clone();
                state.best_learnt_ids = model.learnt_ids();
            } else {
                state.evals_without_improvement += 1;
            }
            state.history.push(json!({
                "epoch": state.epochs_done,
                "loss": loss_sum / nb,
                "bpr": bpr_sum / nb,
                "mp": mp_sum / nb,
                "l2": losses.l2 / nb,
                "valid": report_json(&valid),
                "test": test.as_ref().map(report_json),
                "seconds_training": state.seconds_training,
            }));
            epoch_bar.set_message(format!(
                "loss {:.4} · valid R@20 {:.4} (best {:.4} @ {})",
                loss_sum / nb,
                recall,
                state
                    .best_valid
                    .as_ref()
                    .and_then(|b| b["recall@20"].as_f64())
                    .unwrap_or(0.0),
                state.best_epoch.unwrap_or(0)
            ));
            state.learnt_ids = model.learnt_ids();
            state.adam_time = optim
                .states
                .iter()
                .map(|s| s.as_ref().map(|s| s.momentum.time))
                .collect();
            checkpoint::save(&checkpoint_path, &state, &params, &best, &optim)?;
            write_history(run_dir, &state.history)?;
        }
    }
    epoch_bar.finish_and_clear();
    batch_bar.finish_and_clear();
    // The best parameters go with the graphs they were evaluated on.
    model.set_learnt_ids(&state.best_learnt_ids);
    if state.best_epoch.is_some() && state.best_test.is_none() && !options.skip_test {
        // The run was trained with `skip_test` (a tuning trial): score test once, now,
        // for the epoch validation chose.
        let test = RankedModel::new(&model, &best).evaluate(dataset, Split::Test, &config.ks)?;
        state.best_test = Some(report_json(&test));
        checkpoint::save(&checkpoint_path, &state, &params, &best, &optim)?;
    }

    let metrics = json!({
        "backend": backend.name,
        "adapter": backend.adapter,
        "dataset": dataset.name,
        "epochs_run": state.epochs_done,
        "best_epoch": state.best_epoch,
        "seconds_per_epoch": state.seconds_training / state.epochs_done.max(1) as f64,
        "seconds_per_eval": state.seconds_evaluating / state.splits_evaluated.max(1) as f64,
        "parameters": params.count(),
        "peak_rss_mib": peak_rss_mib(),
        "config": config,
        "valid": state.best_valid,
        "test": state.best_test,
    });
    crate::io::write_json(&run_dir.join("metrics.json"), &metrics)?;
    crate::plot::write_curves(&run_dir.join("curves.svg"), &state.history)?;
    let summary = RunSummary {
        metrics,
        model,
        best_params: best,
    };
    if !options.skip_export && state.best_epoch.is_some() {
        // The f32 master copy (for `mario export`) and the browser's f16 file.
        let weights = crate::export::build_weights(
            &summary.model,
            &summary.best_params,
            &summary.metrics,
            dataset,
            mario_shared::StorageDtype::F32,
        );
        crate::export::write_model_weights(
            &weights,
            mario_shared::StorageDtype::F32,
            &run_dir.join(crate::export::MASTER_WEIGHTS),
        )?;
        crate::export::write_model_weights(
            &weights,
            mario_shared::StorageDtype::F16,
            &run_dir.join("model.safetensors"),
        )?;
    }
    Ok(summary)
}

fn write_history(run_dir: &Path, history: &[serde_json::Value]) -> anyhow::Result<()> {
    let mut text = String::new();
    for line in history {
        text.push_str(&serde_json::to_string(line)?);
        text.push('\n');
    }
    crate::io::write_atomic(&run_dir.join("history.jsonl"), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_counts_epochs_and_waits_for_min_epochs() {
        let config = TrainConfig {
            patience: 20,
            min_epochs: 30,
            eval_every: 5,
            ..TrainConfig::default()
        };
        // Best at epoch 5 (the popularity bump), nothing better since.
        assert!(!early_stop(&config, 25, Some(5)), "before min_epochs");
        assert!(early_stop(&config, 30, Some(5)));
        // Patience is in epochs, whatever eval_every is.
        assert!(!early_stop(&config, 49, Some(30)));
        assert!(early_stop(&config, 50, Some(30)));
        // No evaluation yet: never.
        assert!(!early_stop(&config, 100, None));
    }

    #[test]
    fn learning_rate_decays_like_lattice() {
        let config = TrainConfig {
            lr: 1e-3,
            lr_decay: 0.96,
            ..TrainConfig::default()
        };
        assert_eq!(learning_rate(&config, 0), 1e-3);
        assert!((learning_rate(&config, 50) - 0.96e-3).abs() < 1e-15);
        assert!((learning_rate(&config, 25) - 1e-3 * 0.96f64.sqrt()).abs() < 1e-15);
        let constant = TrainConfig::default();
        assert_eq!(learning_rate(&constant, 137), constant.lr);
    }
}
