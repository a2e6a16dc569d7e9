//! End-to-end tests of the `mario` command line: the data path, training, export
//! sizes, `recommend --json` against the reference scorer, and named errors for bad input.
//!
//! They run the release binary (`cargo test --workspace --release` builds it before
//! running tests; `MARIO_BIN` overrides its path).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mario_shared::counterfactual::CounterfactualTable;
use mario_shared::scorer::Scorer;
use mario_shared::weights::StorageDtype;
use mario_shared::weights::fixtures::tiny_model;

fn mario_bin() -> PathBuf {
    let path = std::env::var_os("MARIO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| mario_e2e::workspace_root().join("target/release/mario"));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --bin mario`",
        path.display()
    );
    path
}

fn mario(args: &[&str]) -> Output {
    Command::new(mario_bin())
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("mario runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `mario datagen --preset demo --seed SEED` into `DIR/demo`.
fn demo_dataset(dir: &Path, seed: u64) -> PathBuf {
    let data = dir.join("demo");
    let out = mario(&[
        "datagen",
        "--preset",
        "demo",
        "--seed",
        &seed.to_string(),
        "--out",
        s(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    data
}

#[test]
fn recommend_json_equals_the_reference_scorer() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_model(
        7,
        40,
        8,
        &["visual", "textual", "interaction"],
        StorageDtype::F32,
        21,
    );
    let file = dir.path().join("w.safetensors");
    std::fs::write(&file, weights.to_bytes().unwrap()).unwrap();
    let scorer = Scorer::new(&weights);
    for user in [0usize, 3, 6] {
        let out = mario(&[
            "recommend",
            "--weights",
            s(&file),
            "--user",
            &user.to_string(),
            "--top",
            "10",
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).expect("JSON output");
        let want = scorer.recommend(user, 10).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g["item"].as_u64().unwrap(), w.item as u64);
            assert!((g["score"].as_f64().unwrap() - w.score as f64).abs() < 1e-6);
            for (name, a) in weights.meta.modalities.iter().zip(&w.attention) {
                assert!((g["attention"][name].as_f64().unwrap() - *a as f64).abs() < 1e-6);
            }
        }
    }
    let explained = mario(&[
        "recommend",
        "--weights",
        s(&file),
        "--user",
        "2",
        "--top",
        "3",
        "--explain",
    ]);
    assert!(explained.status.success());
    let text = stdout(&explained);
    for modality in ["visual", "textual", "interaction", "evidence", "what if"] {
        assert!(
            text.contains(modality),
            "explanation table mentions {modality}:\n{text}"
        );
    }
    // --explain --json carries the counterfactual ranks of mario_shared::counterfactual.
    let out = mario(&[
        "recommend",
        "--weights",
        s(&file),
        "--user",
        "2",
        "--top",
        "5",
        "--explain",
        "--json",
    ]);
    let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let table = CounterfactualTable::new(&weights, weights.user_vector(2).unwrap()).unwrap();
    for (rank, g) in got.iter().enumerate() {
        let item = g["item"].as_u64().unwrap() as u32;
        let want = table.item(item, weights.train_items(2));
        assert_eq!(want.rank, rank + 1);
        for m in &want.modalities {
            let c = &g["counterfactual"][&m.modality];
            assert_eq!(
                c["rank_without"].as_u64().map(|r| r as usize),
                m.rank_without,
                "{c}"
            );
            assert_eq!(c["rank_only"].as_u64().unwrap() as usize, m.rank_only);
            assert!((c["score_only"].as_f64().unwrap() - m.score_only as f64).abs() < 1e-6);
        }
    }
}

#[test]
fn bad_input_gets_named_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_model(3, 5, 4, &["visual", "interaction"], StorageDtype::F16, 1);
    let bytes = weights.to_bytes().unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let good = dir.path().join("good.safetensors");
    std::fs::write(&good, &bytes).unwrap();
    let missing = dir.path().join("nope");
    let (run, r, x) = (
        dir.path().join("run"),
        dir.path().join("r"),
        dir.path().join("x.safetensors"),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["recommend", "--weights", s(&truncated), "--user", "0"],
            "truncated",
        ),
        (
            vec!["recommend", "--weights", s(&missing), "--user", "0"],
            "cannot read weights file",
        ),
        (
            vec!["recommend", "--weights", s(&good), "--user", "99"],
            "out of range",
        ),
        (
            vec!["train", "--data", s(&missing), "--out", s(&run)],
            "nope",
        ),
        (vec!["data", "stats", s(dir.path())], "expected"),
        (
            vec![
                "train",
                "--data",
                s(dir.path()),
                "--out",
                s(&r),
                "--lambda",
                "2",
            ],
            "--lambda",
        ),
        (
            vec!["export", "--run", s(dir.path()), "--out", s(&x)],
            "weights-f32.safetensors",
        ),
    ];
    for (args, needle) in cases {
        let out = mario(&args);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} should fail cleanly:\n{err}"
        );
        assert!(
            err.contains(needle),
            "{args:?}: error should mention `{needle}`:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    }
}

#[test]
fn datagen_stats_baseline_train_export_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_dataset(dir.path(), 3);
    let stats = stdout(&mario(&["data", "stats", s(&data)]));
    assert!(
        stats.contains("2,000") && stats.contains("1,000") && stats.contains("25,000"),
        "{stats}"
    );
    let popularity = stdout(&mario(&["baseline", "popularity", "--data", s(&data)]));
    assert!(
        popularity.contains("popularity test: recall@20"),
        "{popularity}"
    );

    let run = dir.path().join("run");
    let out = mario(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--epochs",
        "2",
        "--lr",
        "0.005",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    for key in [
        "backend",
        "adapter",
        "epochs_run",
        "best_epoch",
        "seconds_per_epoch",
        "seconds_per_eval",
        "config",
        "valid",
        "test",
    ] {
        assert!(metrics.get(key).is_some(), "metrics.json has {key}");
    }
    for key in [
        "recall@10",
        "recall@20",
        "ndcg@10",
        "ndcg@20",
        "precision@10",
        "precision@20",
    ] {
        assert!(metrics["test"][key].is_number(), "test.{key}");
    }
    // The mislabelled method=0 NDCG is no longer reported (see shared/src/metrics.rs).
    assert!(metrics["test"].get("ndcg_lattice@20").is_none());
    assert_eq!(metrics["backend"], "cpu");

    for (dtype, limit) in [("f16", 2.05), ("int8", 1.1)] {
        let file = dir.path().join(format!("{dtype}.safetensors"));
        let out = mario(&[
            "export",
            "--run",
            s(&run),
            "--dtype",
            dtype,
            "--out",
            s(&file),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let per: f64 = text
            .split(" bytes/parameter")
            .next()
            .and_then(|t| t.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("size line: {text}"));
        assert!(per <= limit, "{dtype}: {per} bytes per parameter");
        let eval = mario(&["eval", "--weights", s(&file), "--data", s(&data)]);
        assert!(eval.status.success(), "{}", stderr(&eval));
        assert!(stdout(&eval).contains("recall@20"));
    }
    // The f32 master reproduces the run's test Recall@20 exactly.
    let eval = mario(&[
        "eval",
        "--weights",
        s(&run.join("weights-f32.safetensors")),
        "--data",
        s(&data),
    ]);
    let out = stdout(&eval);
    let values: serde_json::Value =
        serde_json::from_str(out.split("planted").next().unwrap()).unwrap();
    // On a synthetic dataset eval also reports planted-modality recovery, with the oracle.
    let recovery: Vec<&str> = out.lines().filter(|l| l.starts_with("planted ")).collect();
    assert_eq!(recovery.len(), 3, "{recovery:?}");
    assert!(
        recovery
            .iter()
            .all(|l| l.contains("Spearman") && l.contains("oracle")),
        "{recovery:?}"
    );
    assert!(
        (values["recall@20"].as_f64().unwrap() - metrics["test"]["recall@20"].as_f64().unwrap())
            .abs()
            < 1e-9
    );
}

/// `mario experiment all --quick` writes every report of the paper's experiments.
#[test]
fn experiment_all_quick_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_dataset(dir.path(), 7);
    let report = dir.path().join("report");
    let experiment = |which: &str| {
        mario(&[
            "experiment",
            which,
            "--data",
            s(&data),
            "--out",
            s(&report),
            "--quick",
            "--backend",
            "cpu",
        ])
    };
    let out = experiment("all");
    assert!(out.status.success(), "{}", stderr(&out));
    let index = std::fs::read_to_string(report.join("README.md")).expect("report index");
    for name in ["modalities", "fusion", "mu", "backbones", "preservation"] {
        let md = std::fs::read_to_string(report.join(format!("{name}.md")))
            .unwrap_or_else(|_| panic!("{name}.md"));
        assert!(
            md.contains("| Model") || md.contains("|:---"),
            "{name}.md has a table:\n{md}"
        );
        let svg = std::fs::read_to_string(report.join(format!("{name}.svg")))
            .unwrap_or_else(|_| panic!("{name}.svg"));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}.svg is an SVG"
        );
        assert!(
            index.contains(&format!("({name}.md)")),
            "index links {name}"
        );
    }
    // A second invocation reuses every finished sub-run.
    let again = experiment("fusion");
    assert!(again.status.success(), "{}", stderr(&again));
}

/// `mario tune --quick` end to end: a grid of three learning rates under successive
/// halving, the report files, `best.toml` accepted by `mario train --config`, a rerun that
/// redoes nothing, and a search cut short (by `--budget-minutes`, and by `kill -9`) that,
/// continued, ends exactly where the uninterrupted one did.
#[test]
fn tune_quick_reports_resumes_and_never_reruns_finished_trials() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_dataset(dir.path(), 4);
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "[space]\nlr = [1e-3, 5e-3, 2e-2]\n[search]\nmethod = \"grid\"\n",
    )
    .unwrap();
    let tune = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "tune",
            "--data",
            s(&data),
            "--space",
            s(&space),
            "--out",
            s(out),
            "--quick",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        mario(&args)
    };
    let a = dir.path().join("a");
    let out = tune(&a, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("chosen trial"), "{}", stdout(&out));
    for f in ["leaderboard.md", "trials.svg", "best.toml", "tune.json"] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("tune.json")).unwrap()).unwrap();
    // Rungs 3 → 2 → 1 trials at 1, 2, 3 epochs: six runs in all.
    assert_eq!(state["records"].as_array().unwrap().len(), 6);
    let chosen = state["chosen"]["trial"].as_u64().unwrap() as usize;
    let lr = state["trials"][chosen]["config"]["lr"].as_f64().unwrap();
    // The winner is the trial with the best validation score at the last rung.
    let board = std::fs::read_to_string(a.join("leaderboard.md")).unwrap();
    assert!(
        board.contains("**chosen**") && board.contains("| test |"),
        "{board}"
    );
    let printed = stdout(&mario(&[
        "train",
        "--print-config",
        "--config",
        s(&a.join("best.toml")),
    ]));
    assert!(printed.contains(&format!("lr = {lr}")), "{printed}");
    assert!(
        std::fs::read_to_string(a.join("trials.svg"))
            .unwrap()
            .contains("by lr")
    );

    // A rerun of a finished search trains nothing and changes nothing.
    let before = std::fs::read(a.join("tune.json")).unwrap();
    let out = tune(&a, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(a.join("tune.json")).unwrap(), before);

    // A different space in the same --out is refused.
    std::fs::write(
        &space,
        "[space]\nlr = [1e-3, 5e-3]\n[search]\nmethod = \"grid\"\n",
    )
    .unwrap();
    let out = tune(&a, &[]);
    assert!(
        !out.status.success() && stderr(&out).contains("different search"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &space,
        "[space]\nlr = [1e-3, 5e-3, 2e-2]\n[search]\nmethod = \"grid\"\n",
    )
    .unwrap();

    // Cut short by the budget, then continued: the same leaderboard as in one go.
    let b = dir.path().join("b");
    let out = tune(&b, &["--budget-minutes", "0.00001"]);
    assert!(
        stdout(&out).contains("search incomplete"),
        "{}",
        stdout(&out)
    );
    assert!(
        std::fs::read_to_string(b.join("leaderboard.md"))
            .unwrap()
            .contains("**Incomplete**")
    );
    assert!(tune(&b, &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(b.join("leaderboard.md")).unwrap(),
        board
    );

    // Killed (SIGKILL) mid-search, then continued: the same again.
    let c = dir.path().join("c");
    let mut child = Command::new(mario_bin())
        .args([
            "tune",
            "--data",
            s(&data),
            "--space",
            s(&space),
            "--out",
            s(&c),
            "--quick",
            "--quiet",
        ])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let records = std::fs::read_to_string(c.join("tune.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(0, |v| v["records"].as_array().map_or(0, Vec::len));
        if records >= 2 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(tune(&c, &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(c.join("leaderboard.md")).unwrap(),
        board
    );
}

/// `mario bench` on the CPU, read through `--json`: each reported median inside its
/// range over the repeats, positive floors, the stage split inside the epoch it
/// reports, no device counts off a CubeCL device; and the Markdown table has the row.
#[test]
fn bench_reports_medians_inside_their_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let json = dir.path().join("bench.json");
    let out = mario(&[
        "bench",
        "--presets",
        "demo",
        "--backends",
        "cpu",
        "--epochs",
        "1",
        "--repeat",
        "3",
        "--cache",
        s(&cache),
        "--json",
        s(&json),
    ]);
    assert!(out.status.success(), "bench failed: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("| demo | ")),
        "no demo row in:\n{text}"
    );
    assert!(text.contains("medians of 3 repeats"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    let row = &rows[0];
    assert_eq!(row["preset"], "demo");
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    for measure in ["knn", "epoch", "eval"] {
        let r = &row["ranges"][measure];
        let (lo, m, hi) = (num(&r["min"]), num(&r["median"]), num(&r["max"]));
        assert!(
            lo > 0.0 && lo <= m && m <= hi,
            "{measure}: median {m} outside {lo}–{hi}"
        );
        assert!(
            num(&row["floors"][format!("{measure}_s")]) > 0.0,
            "{measure}'s floor"
        );
    }
    let epoch = num(&row["ranges"]["epoch"]["median"]);
    assert_eq!(num(&row["epoch_s"]), epoch);
    let stages: Vec<f64> = row["stages"].as_array().unwrap().iter().map(num).collect();
    assert_eq!(stages.len(), report["stages"].as_array().unwrap().len());
    let total: f64 = stages.iter().sum();
    assert!(
        stages.iter().all(|&t| t >= 0.0) && total > 0.0 && total <= epoch,
        "stages {stages:?} in an epoch of {epoch}"
    );
    assert!(
        row["device"].is_null(),
        "flex has no launches to count: {row}"
    );
}

/// `--backend cuda` on a build or machine without CUDA is refused in one line naming
/// the backend and the way out, before any file is written; `mario devices` says why
/// CUDA was skipped and what `auto` picks.
#[test]
fn cuda_without_cuda_is_one_named_line() {
    let work = tempfile::tempdir().unwrap();
    let data = demo_dataset(work.path(), 3);
    let run = work.path().join("run");
    let out = mario(&[
        "train",
        "--backend",
        "cuda",
        "--data",
        s(&data),
        "--out",
        s(&run),
    ]);
    if out.status.success() {
        // A machine with CUDA: nothing to check here.
        return;
    }
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(
        lines[0].contains("--backend cuda") && lines[0].contains("--backend wgpu"),
        "{err}"
    );
    assert!(!run.join("metrics.json").exists(), "nothing was written");
    let devices = mario(&["devices"]);
    assert!(devices.status.success(), "{}", stderr(&devices));
    let listing = stdout(&devices);
    assert!(listing.contains("CUDA: skipped:"), "{listing}");
    assert!(listing.contains("--backend auto →"), "{listing}");
}
