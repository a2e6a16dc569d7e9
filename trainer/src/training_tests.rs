//! End-to-end checks of training on the embedded synthetic `demo` catalogue: exact
//! resume, determinism, wgpu ≡ CPU, bad flags; the demo and its recipe, which
//! [`crate::quality_tests`] shares.

use std::path::Path;
use std::sync::OnceLock;

use indicatif::ProgressBar;
use mario_data::{Dataset, InteractionDrivers, Preset};

use crate::backend::{self, BackendChoice};
use crate::config::TrainConfig;
use crate::model::Mario;
use crate::tensor::to_f32;
use crate::train::optimizer::AdamOptimizer;
use crate::train::{RunOptions, RunSummary, train, train_epoch, training_pairs};

pub(crate) struct Demo {
    _dir: tempfile::TempDir,
    pub(crate) dataset: Dataset,
    pub(crate) truth: mario_data::Truth,
    /// Driving modality of each (user, item) interaction.
    pub(crate) drivers: InteractionDrivers,
}

pub(crate) fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        mario_data::generate(Preset::Demo, 7, dir.path()).expect("demo generates");
        let dataset = mario_data::load_dataset(dir.path(), None).expect("demo loads");
        let truth = mario_data::read_truth(dir.path())
            .expect("truth reads")
            .expect("truth exists");
        let drivers = mario_data::interaction_drivers(dir.path(), &truth)
            .expect("drivers align")
            .expect("the demo records drivers");
        Demo {
            _dir: dir,
            dataset,
            truth,
            drivers,
        }
    })
}

/// The demo's training recipe: the paper's defaults with lr 5e-3 (its setting for
/// the smaller datasets).
pub(crate) fn demo_config() -> TrainConfig {
    TrainConfig {
        lr: 5e-3,
        epochs: 60,
        patience: 10,
        ..TrainConfig::default()
    }
}

pub(crate) fn run(config: &TrainConfig, dir: &Path) -> RunSummary {
    let backend = backend::select(BackendChoice::Cpu).unwrap();
    train(
        &demo().dataset,
        config,
        &backend,
        dir,
        &RunOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .expect("training runs")
}

pub(crate) fn test_recall(summary: &RunSummary) -> f64 {
    summary.metrics["test"]["recall@20"]
        .as_f64()
        .expect("test recall@20")
}

#[test]
fn resume_continues_exactly_and_extends_by_epochs() {
    let config = TrainConfig {
        epochs: 4,
        patience: 100,
        ..demo_config()
    };
    let backend = backend::select(BackendChoice::Cpu).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let quiet = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let a = train(&demo().dataset, &config, &backend, whole.path(), &quiet).unwrap();
    let first = RunOptions {
        stop_after_epochs: Some(2),
        ..quiet.clone()
    };
    train(&demo().dataset, &config, &backend, split.path(), &first).unwrap();
    let resumed = RunOptions {
        resume: true,
        ..quiet
    };
    let b = train(&demo().dataset, &config, &backend, split.path(), &resumed).unwrap();
    assert_eq!(a.metrics["epochs_run"], 4);
    // The parameters themselves are bit-identical, not just the metrics.
    for (pa, pb) in a.best_params.list.iter().zip(&b.best_params.list) {
        let (va, vb) = (to_f32(pa.value.clone()), to_f32(pb.value.clone()));
        let differ = va
            .iter()
            .zip(&vb)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        let max = va
            .iter()
            .zip(&vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert_eq!(
            differ, 0,
            "{}: {differ} values differ, by up to {max}",
            pa.name
        );
    }
    assert_eq!(a.metrics["valid"], b.metrics["valid"]);
    assert_eq!(a.metrics["test"], b.metrics["test"]);
    let history = |dir: &Path| std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let strip_time = |h: String| -> Vec<serde_json::Value> {
        h.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds_training");
                v
            })
            .collect()
    };
    assert_eq!(
        strip_time(history(whole.path())),
        strip_time(history(split.path()))
    );
    for name in [
        "metrics.json",
        "history.jsonl",
        "curves.svg",
        "checkpoint.safetensors",
        "model.safetensors",
    ] {
        assert!(whole.path().join(name).exists(), "{name} written");
    }

    // A finished 2-epoch run resumed with a budget of 4 epochs is the 4-epoch run.
    let short = tempfile::tempdir().unwrap();
    let two = TrainConfig {
        epochs: 2,
        ..config.clone()
    };
    train(&demo().dataset, &two, &backend, short.path(), &quiet).unwrap();
    let c = train(&demo().dataset, &config, &backend, short.path(), &resumed).unwrap();
    assert_eq!(c.metrics["epochs_run"], 4);
    assert_eq!(a.metrics["valid"], c.metrics["valid"]);
    assert_eq!(
        strip_time(history(whole.path())),
        strip_time(history(short.path()))
    );
    // Any other change is refused.
    let other = TrainConfig {
        lr: config.lr * 2.0,
        ..config.clone()
    };
    let refused = train(&demo().dataset, &other, &backend, short.path(), &resumed);
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("configuration differs")
    );
}

#[test]
fn same_seed_same_metrics() {
    let config = TrainConfig {
        epochs: 2,
        ..demo_config()
    };
    let a = run(&config, tempfile::tempdir().unwrap().path());
    let b = run(&config, tempfile::tempdir().unwrap().path());
    assert_eq!(a.metrics["test"], b.metrics["test"]);
    let c = run(
        &TrainConfig {
            seed: config.seed + 1,
            ..config
        },
        tempfile::tempdir().unwrap().path(),
    );
    assert_ne!(
        a.metrics["test"], c.metrics["test"],
        "a different seed changes the run"
    );
}

/// A few batches on burn-wgpu (lavapipe on a machine without a GPU) give the same
/// losses as the CPU backend from the same seed.
#[test]
fn wgpu_training_matches_cpu() {
    let wgpu = backend::select(BackendChoice::Wgpu).expect(
        "no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs mesa-vulkan-drivers for lavapipe)",
    );
    let cpu = backend::select(BackendChoice::Cpu).unwrap();
    let dataset = &demo().dataset;
    let config = TrainConfig {
        batch_size: 256,
        ..demo_config()
    };
    let pairs = training_pairs(dataset);
    let losses = |b: &backend::Backend| -> Vec<f64> {
        let (model, mut params) = Mario::new(dataset, &config, &b.device).unwrap();
        let mut optim = AdamOptimizer::new(config.adam_eps, params.list.len());
        (0..3)
            .map(|step| {
                let batch = &pairs[step * 256..(step + 1) * 256];
                train_epoch(
                    &model,
                    &mut params,
                    &mut optim,
                    dataset,
                    batch,
                    step,
                    &ProgressBar::hidden(),
                )
                .unwrap()
                .total
            })
            .collect()
    };
    let (on_cpu, on_wgpu) = (losses(&cpu), losses(&wgpu));
    for (c, g) in on_cpu.iter().zip(&on_wgpu) {
        assert!(
            (c - g).abs() <= 1e-3 * c.abs().max(1.0),
            "cpu {c} vs wgpu {g} ({})",
            wgpu.adapter
        );
    }
    assert!(
        on_cpu[2] < on_cpu[0],
        "the loss decreases over the first steps: {on_cpu:?}"
    );
}

/// Five demo epochs on wgpu (lavapipe here), where every stage but the compression runs
/// the CubeCL kernels: the same seed on the same device gives the same metrics, and the
/// final loss and the validation Recall@20 are within 1 % of flex's.
#[test]
fn wgpu_five_epochs_are_deterministic_and_match_flex() {
    let wgpu = backend::select(BackendChoice::Wgpu).expect(
        "no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs mesa-vulkan-drivers for lavapipe)",
    );
    let cpu = backend::select(BackendChoice::Cpu).unwrap();
    let config = TrainConfig {
        epochs: 5,
        eval_every: 5,
        patience: 100,
        ..demo_config()
    };
    let work = tempfile::tempdir().unwrap();
    let run_on = |b: &backend::Backend, name: &str| {
        let options = RunOptions {
            quiet: true,
            ..Default::default()
        };
        train(
            &demo().dataset,
            &config,
            b,
            &work.path().join(name),
            &options,
        )
        .expect("training runs")
    };
    let (first, second, flex) = (run_on(&wgpu, "a"), run_on(&wgpu, "b"), run_on(&cpu, "cpu"));
    assert_eq!(
        first.metrics["valid"], second.metrics["valid"],
        "same seed, same device"
    );
    assert_eq!(
        first.metrics["test"], second.metrics["test"],
        "same seed, same device"
    );
    let valid = |s: &RunSummary| s.metrics["valid"]["recall@20"].as_f64().expect("recall@20");
    let (g, c) = (valid(&first), valid(&flex));
    assert!(
        (g - c).abs() <= 0.01 * c,
        "valid Recall@20: wgpu {g} vs flex {c}"
    );
    let loss = |name: &str| -> f64 {
        let history = std::fs::read_to_string(work.path().join(name).join("history.jsonl"))
            .expect("history.jsonl");
        let last: serde_json::Value =
            serde_json::from_str(history.lines().last().expect("an epoch")).expect("json");
        last["loss"].as_f64().expect("loss")
    };
    let (g, c) = (loss("a"), loss("cpu"));
    assert!(
        (g - c).abs() <= 0.01 * c.abs(),
        "loss: wgpu {g} vs flex {c}"
    );
}

/// Regression: `--knn-k` at or above the item count used to build a dense "kNN" graph
/// silently (slowly); it is refused, naming the flag and the count. Without a side
/// modality no graph is built, so the value does not matter.
#[test]
fn knn_k_not_below_the_item_count_is_refused() {
    let device = backend::select(BackendChoice::Cpu).unwrap().device;
    let n_items = demo().dataset.n_items;
    let config = TrainConfig {
        knn_k: n_items,
        ..TrainConfig::default()
    };
    let err = match Mario::new(&demo().dataset, &config, &device) {
        Ok(_) => panic!("--knn-k {n_items} was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("--knn-k {n_items}")) && err.contains(&format!("({n_items})")),
        "{err}"
    );
    let cf_only = TrainConfig {
        modalities: vec!["interaction".into()],
        ..config
    };
    assert!(Mario::new(&demo().dataset, &cf_only, &device).is_ok());
}
