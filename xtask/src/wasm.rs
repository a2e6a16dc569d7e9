//! `mario-web` → wasm32 → wasm-bindgen → `static/pkg/`.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};

use crate::cmd::{Cmd, note, step};
use crate::setup::{Ctx, Toolchain, WASM_TARGET, WasmToolchain};

/// getrandom 0.3 needs this cfg on wasm32 (shared/notes/toolchain.md). Only in the wasm build:
/// RUSTFLAGS is part of every unit's fingerprint, so setting it for native builds would
/// rebuild the burn tree.
const WASM_RUSTFLAGS: &str = r#"--cfg getrandom_backend="wasm_js""#;

/// The wasm build's own target dir: it never invalidates the native build in `target/`.
pub fn wasm_target_dir(ctx: &Ctx) -> PathBuf {
    ctx.root.join("target").join("wasm")
}

pub fn static_dir(ctx: &Ctx) -> PathBuf {
    ctx.root.join("static")
}

/// Build the web app into `static/pkg/`. With `clippy_env`, the web crate (and `shared/`) are
/// compiled through clippy-driver with `-D warnings` (the same trick as the native test build,
/// see `main.rs`), so the wasm32-only code is linted without a second pass over the deps.
pub fn build(ctx: &Ctx, tc: &Toolchain, clippy_env: Option<&[(String, String)]>) -> Result<()> {
    step(format!(
        "wasm: build mario-web for {WASM_TARGET} ({})",
        match tc.wasm {
            WasmToolchain::Rustup => "rustup toolchain",
            WasmToolchain::Debian => "Debian rustc-web, -Zbuild-std",
        }
    ));
    let target_dir = wasm_target_dir(ctx);
    let common = [
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "-p",
        "mario-web",
        "--target-dir",
    ];
    let mut cmd = match tc.wasm {
        WasmToolchain::Rustup => {
            let mut c = ctx.cargo().args(common).arg(&target_dir);
            if let Some(env) = clippy_env {
                for (k, v) in env {
                    c = c.env(k, v);
                }
            }
            c
        }
        WasmToolchain::Debian => {
            if clippy_env.is_some() {
                note(
                    "clippy on wasm32 skipped: the rustup clippy-driver cannot drive Debian's \
                     rustc; the native clippy pass still covers shared/ and web/'s portable code",
                );
            }
            Cmd::new("/usr/bin/cargo")
                .current_dir(&ctx.root)
                .env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld-16")
                .env_remove("RUSTC_WORKSPACE_WRAPPER")
                .env_remove("RUSTUP_TOOLCHAIN")
                .args(common)
                .arg(&target_dir)
                .arg("-Zbuild-std=std,panic_abort")
        }
    };
    cmd = cmd.env("RUSTFLAGS", WASM_RUSTFLAGS);
    cmd.run()?;

    let wasm = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join("mario_web.wasm");
    ensure!(wasm.is_file(), "{} was not produced", wasm.display());
    let out_dir = static_dir(ctx).join("pkg");
    step("wasm: wasm-bindgen → static/pkg/");
    Cmd::new(&tc.wasm_bindgen)
        .current_dir(&ctx.root)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(rel(ctx, &out_dir))
        .arg(rel(ctx, &wasm))
        .run()?;
    for f in ["mario_web.js", "mario_web_bg.wasm"] {
        let p = out_dir.join(f);
        let len = std::fs::metadata(&p)
            .with_context(|| format!("{} missing after wasm-bindgen", p.display()))?
            .len();
        note(format!("static/pkg/{f}: {} KiB", len.div_ceil(1024)));
    }
    if !static_dir(ctx).join("index.html").is_file() {
        note("warning: static/index.html does not exist yet (the web app's page)");
    }
    Ok(())
}

/// `path` relative to the workspace root when it is inside it (shorter printed commands).
fn rel(ctx: &Ctx, path: &std::path::Path) -> PathBuf {
    path.strip_prefix(&ctx.root)
        .map_or_else(|_| path.to_path_buf(), PathBuf::from)
}
