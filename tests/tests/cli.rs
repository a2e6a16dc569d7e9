//! End-to-end tests of the `mario` command line: the data path, training, export
//! sizes, `recommend --json` against the reference scorer, and named errors for bad input.
//!
//! They run the release binary (`cargo test --workspace --release` builds it before
//! running tests; `MARIO_BIN` overrides its path).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    for modality in ["visual", "textual", "interaction", "evidence"] {
        assert!(
            text.contains(modality),
            "explanation table mentions {modality}:\n{text}"
        );
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
    let data = dir.path().join("demo");
    let out = mario(&[
        "datagen",
        "--preset",
        "demo",
        "--seed",
        "3",
        "--out",
        s(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
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
    let data = dir.path().join("demo");
    assert!(
        mario(&[
            "datagen",
            "--preset",
            "demo",
            "--seed",
            "7",
            "--out",
            s(&data)
        ])
        .status
        .success()
    );
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
