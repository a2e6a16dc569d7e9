//! `cargo xtask`: MARIO's build orchestration.
//!
//! - `cargo xtask demo`  — set up, build the web app, train demo weights if there are none, serve
//!   `static/` on http://127.0.0.1:8080 (`--no-serve` stops before serving).
//! - `cargo xtask test`  — set up, fmt, clippy, `cargo test --workspace`, `check --features
//!   cuda`, wasm build (+ clippy on wasm32), real-browser tests. `.ci/run` calls exactly this.
//! - `cargo xtask setup` — only the installs (idempotent).
//! - `cargo xtask wasm`  — only the web app build into `static/pkg/`.
//! - `cargo xtask gpu-bench` — the one-script bundle a bare GPU machine runs (`--local`: dry run here).

mod cmd;
mod gpu_bench;
mod setup;
mod tidy;
mod wasm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use clap::{Parser, Subcommand};

use cmd::{Stages, note, step};
use setup::Ctx;

/// The demo weights: `mario datagen --preset demo --seed 7`, then `mario train --seed 7`.
const DEFAULT_PRESET: &str = "demo";
const DEFAULT_SEED: u64 = 7;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "MARIO build orchestration"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install what is missing: wasm32 std, wasm-bindgen-cli (Cargo.lock's version), clippy,
    /// rustfmt, Chromium + chromedriver, Mesa Vulkan. Idempotent.
    Setup,
    /// Build the web app (wasm32, own target dir `target/wasm`) and run wasm-bindgen into
    /// `static/pkg/`.
    Wasm,
    /// Build the web app, train demo weights into `static/demo/` if missing, serve `static/`.
    Demo {
        /// Address to serve on. Loopback by default; anything else exposes the demo.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Do everything but serve (for scripts).
        #[arg(long)]
        no_serve: bool,
        /// Dataset preset for `mario datagen`.
        #[arg(long, default_value = DEFAULT_PRESET)]
        preset: String,
        /// Seed for data generation and training.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Build `target/gpu-bench/` (stripped mario.xz, the Vulkan loader, run.sh) for a bare
    /// GPU machine; `--local` also runs it here on `demo` with the CPU backend.
    GpuBench {
        #[arg(long)]
        local: bool,
    },
    /// fmt + clippy + `cargo test --workspace` + wasm build + browser tests (what CI runs).
    Test {
        /// Run the remaining independent stages after a failure; fail at the end.
        #[arg(long)]
        keep_going: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let ctx = Ctx::new();
    let res = match cli.cmd {
        Command::Setup => {
            let mut st = Stages::new();
            let r = st.run("setup", || setup::all(&ctx)).map(drop);
            st.print_summary("setup");
            r
        }
        Command::Wasm => {
            let mut st = Stages::new();
            let r = run_wasm(&ctx, &mut st);
            st.print_summary("wasm");
            r
        }
        Command::Demo {
            addr,
            no_serve,
            preset,
            seed,
        } => demo(&ctx, addr, no_serve, &preset, seed),
        Command::Test { keep_going } => test(&ctx, keep_going),
        Command::GpuBench { local } => {
            let mut st = Stages::new();
            let r = st
                .run("build mario", || build_mario(&ctx, &clippy_env(&ctx)?))
                .and_then(|mario| {
                    st.run("gpu-bench bundle", || gpu_bench::run(&ctx, &mario, local))
                });
            st.print_summary("gpu-bench");
            r
        }
    };
    if let Err(e) = res {
        eprintln!("\nerror: {e:#}");
        std::process::exit(1);
    }
}

fn run_wasm(ctx: &Ctx, st: &mut Stages) -> Result<()> {
    let tc = st.run("setup (wasm tools)", || setup::wasm_tools(ctx))?;
    st.run("wasm build", || wasm::build(ctx, &tc, None))
}

// ---------------------------------------------------------------------------------------------
// demo

fn demo(ctx: &Ctx, addr: SocketAddr, no_serve: bool, preset: &str, seed: u64) -> Result<()> {
    let mut st = Stages::new();
    let res = (|| {
        run_wasm(ctx, &mut st)?;
        st.run("demo weights", || demo_weights(ctx, preset, seed, &[]))
    })();
    st.print_summary("demo");
    res?;
    let root = wasm::static_dir(ctx);
    if no_serve {
        step(format!(
            "--no-serve: not serving (run `cargo xtask demo` to serve {})",
            rel(ctx, &root).display()
        ));
        return Ok(());
    }
    if !addr.ip().is_loopback() {
        note(format!(
            "warning: serving on {addr}, which is reachable from other machines"
        ));
    }
    println!();
    mario_e2e::serve::serve_until_ctrl_c(&root, addr, |bound| {
        step(format!(
            "serving {} on http://{bound}/",
            rel(ctx, &root).display()
        ));
        println!("\n    MARIO demo: http://{bound}/\n\n    Ctrl-C stops the server.");
    })?;
    println!();
    step("stopped");
    Ok(())
}

/// `cargo build --release --workspace --bin mario --examples`; returns the binary's path.
///
/// Same dependency artifacts as `cargo xtask test`: cargo unifies dependency features over the
/// *selected* packages, and over dev-dependencies only when a selected target needs them.
/// `-p mario-trainer` alone would resolve serde, bitflags, … with other features than the
/// workspace test build and so compile the whole burn tree a second time (~30 min).
/// `--workspace` selects every member; `--examples` (cheap) makes cargo count dev-dependencies.
fn build_mario(ctx: &Ctx, env: &[(String, String)]) -> Result<PathBuf> {
    with_env(ctx.cargo(), env)
        .args([
            "build",
            "--release",
            "--workspace",
            "--bin",
            "mario",
            "--examples",
        ])
        .run()?;
    Ok(ctx.target_dir().join("release").join("mario"))
}

fn demo_weights_path(ctx: &Ctx) -> PathBuf {
    wasm::static_dir(ctx).join("demo").join("model.safetensors")
}

/// Train on the generated demo dataset and export `static/demo/model.safetensors` (with the
/// item maps), unless it is
/// there already. `build_env` goes to the trainer's cargo build (the test command passes its
/// clippy environment so that the workspace crates it already built are reused).
fn demo_weights(ctx: &Ctx, preset: &str, seed: u64, build_env: &[(String, String)]) -> Result<()> {
    let dest = demo_weights_path(ctx);
    if dest.is_file() {
        let len = std::fs::metadata(&dest)?.len();
        note(format!(
            "{} exists ({} KiB): keeping it (delete it to retrain)",
            rel(ctx, &dest).display(),
            len.div_ceil(1024)
        ));
        return Ok(());
    }
    step("demo weights: build the trainer");
    let mario = build_mario(ctx, build_env)?;
    let xdg: Vec<(String, String)> = ctx.xdg_runtime_env()?.into_iter().collect();
    let seed = seed.to_string();
    step("demo weights: generate the demo dataset");
    with_env(cmd::Cmd::new(&mario), &xdg)
        .current_dir(&ctx.root)
        .args([
            "datagen",
            "--preset",
            preset,
            "--seed",
            &seed,
            "--out",
            "target/demo-data",
        ])
        .run()?;
    step("demo weights: train");
    with_env(cmd::Cmd::new(&mario), &xdg)
        .current_dir(&ctx.root)
        .args([
            "train",
            "--data",
            "target/demo-data",
            "--out",
            "target/demo-run",
            "--seed",
            &seed,
            // The paper's learning rate for its smaller datasets; the demo converges in ~20 epochs.
            "--lr",
            "0.005",
            "--backend",
            "cpu",
        ])
        .run()?;
    // `mario export` re-encodes the run (f16, like `mario train`'s own file) and adds the
    // explorer's item maps (a t-SNE per modality).
    step("demo weights: export with the item maps");
    let produced = ctx.root.join("target/demo-run/model-with-maps.safetensors");
    with_env(cmd::Cmd::new(&mario), &xdg)
        .current_dir(&ctx.root)
        .args([
            "export",
            "--run",
            "target/demo-run",
            "--out",
            "target/demo-run/model-with-maps.safetensors",
        ])
        .run()?;
    ensure!(
        produced.is_file(),
        "`mario export` finished but did not write {}",
        produced.display()
    );
    let dir = dest.parent().expect("has a parent");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".model.safetensors.tmp");
    std::fs::copy(&produced, &tmp)
        .with_context(|| format!("copy {} → {}", produced.display(), tmp.display()))?;
    std::fs::rename(&tmp, &dest)?;
    note(format!(
        "wrote {} ({} KiB)",
        rel(ctx, &dest).display(),
        std::fs::metadata(&dest)?.len().div_ceil(1024)
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// test

/// Clippy without a second compilation of the dependency tree.
///
/// `cargo clippy` = `cargo check` with `RUSTC_WORKSPACE_WRAPPER=clippy-driver` and the lint
/// flags in `CLIPPY_ARGS` (separated by `__CLIPPY_HACKERY__`; checked on Rust 1.95 by logging
/// what cargo-clippy passes). A separate check build of the burn tree costs ~10 min on 2 cores.
/// Instead the *test build itself* runs through clippy-driver: it compiles like rustc (full
/// codegen) and lints the workspace crates; dependencies are compiled by plain rustc and their
/// artifacts are shared with every other release build (verified: `Fresh` after a plain build).
/// Lint warnings fail the build with `-D warnings` (verified with a deliberate
/// `clippy::needless_return` in a scratch crate: exit 101). The wrapper changes the workspace
/// crates' metadata hash, so their clippy-built and plain-built artifacts live side by side and
/// nothing ping-pongs; the test *run* uses the same env so nothing is rebuilt.
fn clippy_env(ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let sibling = ctx.cargo.parent().map(|d| d.join("clippy-driver"));
    let driver = sibling
        .filter(|p| p.is_file())
        .or_else(|| {
            cmd::Cmd::new("rustup")
                .args(["which", "clippy-driver"])
                .current_dir(&ctx.root)
                .output_quiet()
                .map(PathBuf::from)
        })
        .or_else(|| cmd::which("clippy-driver"))
        .context("clippy-driver not found (rustup component add clippy)")?;
    Ok(vec![
        (
            "RUSTC_WORKSPACE_WRAPPER".to_owned(),
            driver.display().to_string(),
        ),
        (
            "CLIPPY_ARGS".to_owned(),
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".to_owned(),
        ),
    ])
}

fn with_env(mut c: cmd::Cmd, env: &[(String, String)]) -> cmd::Cmd {
    for (k, v) in env {
        c = c.env(k, v);
    }
    c
}

fn test(ctx: &Ctx, keep_going: bool) -> Result<()> {
    let mut st = Stages::new();
    let res = test_stages(ctx, &mut st, keep_going);
    st.print_summary("test");
    if res.is_ok() {
        step("all stages passed");
    }
    res
}

fn test_stages(ctx: &Ctx, st: &mut Stages, keep_going: bool) -> Result<()> {
    let mut failed: Vec<String> = Vec::new();
    // With --keep-going a failed stage is recorded and the next independent one still runs.
    let mut soft = |res: Result<()>| -> Result<bool> {
        match res {
            Ok(()) => Ok(true),
            Err(e) if keep_going => {
                eprintln!("error: {e:#}\n(--keep-going: continuing)");
                failed.push(format!("{e}"));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    };
    let tc = st.run("setup", || setup::all(ctx))?;
    soft(st.run("fmt", || {
        ctx.cargo().args(["fmt", "--all", "--check"]).run()
    }))?;
    let clippy = clippy_env(ctx)?;
    let mut test_env = clippy.clone();
    test_env.extend(ctx.xdg_runtime_env()?);
    let built = soft(st.run("native build + clippy", || {
        with_env(ctx.cargo(), &clippy)
            .args([
                "test",
                "--workspace",
                "--release",
                "--all-targets",
                "--no-run",
            ])
            .run()?;
        // The `mario` binary itself: tests/cli.rs runs it, and `cargo test` only builds a
        // package's binaries for that package's own integration tests. Same selection as the
        // demo's build (see `demo_weights`), so only the binary is compiled here.
        build_mario(ctx, &clippy).map(drop)
    }))?;
    if built {
        soft(st.run("native tests", || {
            with_env(ctx.cargo(), &test_env)
                .args(["test", "--workspace", "--release"])
                .run()
        }))?;
    }
    soft(st.run("check --features cuda", || check_cuda(ctx)))?;
    // The app loads `demo/model.safetensors` by default: a clean clone has none, so train it
    // exactly as `cargo xtask demo` does (skipped when present).
    let weights_ok = (built || demo_weights_path(ctx).is_file())
        && soft(st.run("demo weights", || {
            demo_weights(ctx, DEFAULT_PRESET, DEFAULT_SEED, &clippy)
        }))?;
    let wasm_ok = soft(st.run("wasm build + clippy (wasm32)", || {
        wasm::build(ctx, &tc, Some(&clippy))
    }))?;
    let static_dir = wasm::static_dir(ctx);
    if wasm_ok && weights_ok {
        soft(st.run("browser tests", || {
            with_env(ctx.cargo(), &test_env)
                .env(mario_e2e::STATIC_ENV, &static_dir)
                // `--workspace`, not `-p mario-e2e`: cargo resolves features over the selected
                // packages, and only the same selection as the native build reuses its artifacts.
                .args([
                    "test",
                    "--release",
                    "--workspace",
                    "--features",
                    "mario-e2e/browser",
                    "--test",
                    "browser",
                    "--test",
                    "browser_map",
                ])
                .run()
        }))?;
    } else {
        note("browser tests skipped: they need the wasm build and the demo weights");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} stage(s) failed:\n  {}",
            failed.len(),
            failed.join("\n  ")
        )
    }
}

/// `cargo check --features cuda` of the trainer, all targets, in `target/cuda-check`: every
/// `cfg(feature = "cuda")` path type-checks against burn's CUDA runtime without a CUDA
/// toolkit. CubeCL's CUDA runtime pulls `cubecl-llvm`, whose build scripts (its own and
/// `tracel-llvm-bundler`'s) download a prebuilt LLVM from GitHub, out of reach offline; both
/// return early under `DOCS_RS`, which nothing else in the tree reads, and a check links
/// nothing. A runnable CUDA binary (`cargo build --features cuda`) needs that download.
/// Cold: ~3 min on 2 cores (its own target directory: the features differ from the test
/// build's, which it would otherwise invalidate).
fn check_cuda(ctx: &Ctx) -> Result<()> {
    let target = ctx.target_dir().join("cuda-check");
    ctx.cargo()
        .env("DOCS_RS", "1")
        .args([
            "check",
            "--release",
            "-p",
            "mario-trainer",
            "--features",
            "cuda",
            "--all-targets",
            "--target-dir",
        ])
        .arg(&target)
        .run()
}

/// `path` relative to the workspace root, for messages.
fn rel(ctx: &Ctx, path: &Path) -> PathBuf {
    path.strip_prefix(&ctx.root)
        .map_or_else(|_| path.to_path_buf(), PathBuf::from)
}
