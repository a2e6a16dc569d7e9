//! Self-installing setup, idempotent: each step checks first and installs only what is missing.
//!
//! 1. A wasm32 std: the rustup target `wasm32-unknown-unknown` (installed, or `rustup target add`),
//!    else Debian's `rustc-web` + `rust-web-src` + `lld-16` with `-Zbuild-std` (see
//!    `shared/notes/toolchain.md`), else stop and say what to install.
//! 2. `wasm-bindgen-cli` at exactly the version of `wasm-bindgen` in Cargo.lock.
//! 3. For tests: clippy + rustfmt, Chromium + chromedriver, Mesa's Vulkan drivers (lavapipe).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, note, step, which};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// How the web crate is compiled for wasm32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmToolchain {
    /// The rustup toolchain with its `wasm32-unknown-unknown` std.
    Rustup,
    /// Debian's `/usr/bin/cargo` + `/usr/bin/rustc` (rustc-web), std built from `rust-web-src`
    /// with `-Zbuild-std`, linked by `wasm-ld-16`.
    Debian,
}

const DEBIAN_WASM_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-16"];
const BROWSER_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "mesa-vulkan-drivers",
    "libvulkan1",
];

/// Shared state of one xtask run.
#[derive(Debug)]
pub struct Ctx {
    /// The workspace root.
    pub root: PathBuf,
    /// The cargo that runs us (`$CARGO`), so nested builds use the same toolchain.
    pub cargo: PathBuf,
    apt_updated: Cell<bool>,
}

impl Ctx {
    pub fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask/ is one level below the workspace root")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        Self {
            root,
            cargo,
            apt_updated: Cell::new(false),
        }
    }

    /// `cargo` with the workspace root as working directory.
    pub fn cargo(&self) -> Cmd {
        Cmd::new(&self.cargo).current_dir(&self.root)
    }

    /// `XDG_RUNTIME_DIR` for processes that load Mesa's Vulkan drivers (which complain when it
    /// is unset): a private `target/xdg-runtime`, unless the environment has one.
    pub fn xdg_runtime_env(&self) -> Result<Option<(String, String)>> {
        if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
            return Ok(None);
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = self.root.join("target").join("xdg-runtime");
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(Some((
            "XDG_RUNTIME_DIR".to_owned(),
            dir.display().to_string(),
        )))
    }

    /// The native target dir (`$CARGO_TARGET_DIR` or `target/`).
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(d) => self.root.join(d),
            None => self.root.join("target"),
        }
    }
}

/// What setup found or installed, for the later stages.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub wasm: WasmToolchain,
    pub wasm_bindgen: PathBuf,
}

/// Steps 1 and 2 (what `demo` and `wasm` need).
pub fn wasm_tools(ctx: &Ctx) -> Result<Toolchain> {
    let wasm = ensure_wasm_std(ctx)?;
    let wasm_bindgen = ensure_wasm_bindgen(ctx)?;
    Ok(Toolchain { wasm, wasm_bindgen })
}

/// Everything (what `test` and `setup` need).
pub fn all(ctx: &Ctx) -> Result<Toolchain> {
    let tc = wasm_tools(ctx)?;
    ensure_rust_components(ctx)?;
    ensure_browser(ctx)?;
    Ok(tc)
}

fn rustup() -> Option<PathBuf> {
    which("rustup")
}

/// Step 1: a wasm32 std.
pub fn ensure_wasm_std(ctx: &Ctx) -> Result<WasmToolchain> {
    step("setup: wasm32 standard library");
    // For exercising the fallback on a machine that has the rustup target.
    let forced = std::env::var("MARIO_WASM_TOOLCHAIN").ok();
    if forced.as_deref() == Some("debian") {
        note("MARIO_WASM_TOOLCHAIN=debian: using the Debian route");
        return ensure_debian_wasm(ctx);
    }
    let rustup = rustup();
    if let Some(rustup) = &rustup
        && rustup_target_installed(rustup, &ctx.root)
    {
        note(format!(
            "rustup target {WASM_TARGET} is installed: nothing to do"
        ));
        return Ok(WasmToolchain::Rustup);
    }
    if debian_wasm_installed() {
        note(format!(
            "rustup target {WASM_TARGET} is not installed, but the Debian route ({}) is: using it \
             (run `rustup target add {WASM_TARGET}` to switch back)",
            DEBIAN_WASM_PACKAGES.join(" ")
        ));
        return Ok(WasmToolchain::Debian);
    }
    if let Some(rustup) = &rustup {
        note(format!(
            "rustup target {WASM_TARGET} is missing: adding it (can take minutes)"
        ));
        // Seen both 5 s and > 60 s on this kind of machine: allow minutes.
        let added = Cmd::new(rustup)
            .args(["target", "add", WASM_TARGET])
            .current_dir(&ctx.root)
            .run_with_timeout(Duration::from_secs(15 * 60));
        match added {
            Ok(()) if rustup_target_installed(rustup, &ctx.root) => {
                return Ok(WasmToolchain::Rustup);
            }
            Ok(()) => note("`rustup target add` exited 0 but the target is not listed"),
            Err(e) => note(format!("`rustup target add` failed: {e:#}")),
        }
        note("falling back to Debian's rustc-web + rust-web-src + lld-16 with -Zbuild-std");
    } else {
        note("no rustup on PATH: trying the Debian route");
    }
    ensure_debian_wasm(ctx)
}

fn rustup_target_installed(rustup: &Path, root: &Path) -> bool {
    Cmd::new(rustup)
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output_quiet()
        .is_some_and(|out| out.lines().any(|l| l.trim() == WASM_TARGET))
}

pub fn debian_wasm_installed() -> bool {
    Path::new("/usr/bin/cargo").is_file()
        && Path::new("/usr/bin/rustc").is_file()
        && Path::new("/usr/lib/rustlib/src/rust").is_dir()
        && which("wasm-ld-16").is_some()
        && DEBIAN_WASM_PACKAGES.iter().all(|p| dpkg_installed(p))
}

fn ensure_debian_wasm(ctx: &Ctx) -> Result<WasmToolchain> {
    if debian_wasm_installed() {
        note("Debian route already installed: nothing to do");
        return Ok(WasmToolchain::Debian);
    }
    apt_install(
        ctx,
        DEBIAN_WASM_PACKAGES,
        &format!(
            "no wasm32 standard library: install either the rustup target \
             (`rustup target add {WASM_TARGET}`) or, as root, the Debian packages"
        ),
    )?;
    if !debian_wasm_installed() {
        bail!(
            "installed {} but /usr/bin/cargo, /usr/bin/rustc, /usr/lib/rustlib/src/rust or \
             wasm-ld-16 is still missing",
            DEBIAN_WASM_PACKAGES.join(" ")
        );
    }
    Ok(WasmToolchain::Debian)
}

/// The `wasm-bindgen` version pinned in Cargo.lock.
pub fn locked_wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock_path = root.join("Cargo.lock");
    let text = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("read {}", lock_path.display()))?;
    let lock: toml::Table = toml::from_str(&text).context("parse Cargo.lock")?;
    let versions: Vec<String> = lock
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter(|p| p.get("name").and_then(|n| n.as_str()) == Some("wasm-bindgen"))
        .filter_map(|p| p.get("version").and_then(|v| v.as_str()).map(str::to_owned))
        .collect();
    match versions.as_slice() {
        [v] => Ok(v.clone()),
        [] => bail!("Cargo.lock has no `wasm-bindgen` package: does web/ depend on wasm-bindgen?"),
        many => bail!("Cargo.lock has several wasm-bindgen versions: {many:?}"),
    }
}

fn wasm_bindgen_version(bin: &Path) -> Option<String> {
    // "wasm-bindgen 0.2.130"
    let out = Cmd::new(bin).arg("--version").output_quiet()?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

fn cargo_home_bin() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// Step 2: `wasm-bindgen` (the CLI) at the Cargo.lock version; returns its path.
pub fn ensure_wasm_bindgen(ctx: &Ctx) -> Result<PathBuf> {
    step("setup: wasm-bindgen CLI");
    let want = locked_wasm_bindgen_version(&ctx.root)?;
    let mut candidates = Vec::new();
    if let Some(bin) = cargo_home_bin() {
        candidates.push(bin.join("wasm-bindgen"));
    }
    candidates.extend(which("wasm-bindgen"));
    let mut seen = Vec::new();
    for c in &candidates {
        if !c.is_file() {
            continue;
        }
        match wasm_bindgen_version(c) {
            Some(v) if v == want => {
                note(format!(
                    "{} is {v}, as in Cargo.lock: nothing to do",
                    c.display()
                ));
                return Ok(c.clone());
            }
            v => seen.push(format!(
                "{} is {}",
                c.display(),
                v.as_deref().unwrap_or("?")
            )),
        }
    }
    if seen.is_empty() {
        note(format!("wasm-bindgen not found; Cargo.lock wants {want}"));
    } else {
        note(format!("{}; Cargo.lock wants {want}", seen.join(", ")));
    }
    note("installing wasm-bindgen-cli (about 7 min on 2 cores, once)");
    // No `--locked`: one crate of the CLI's own lockfile is missing from the registry mirror
    // (shared/notes/toolchain.md).
    ctx.cargo()
        .args(["install", "wasm-bindgen-cli", "--version", &want])
        .run()?;
    let installed = cargo_home_bin()
        .map(|b| b.join("wasm-bindgen"))
        .filter(|p| p.is_file())
        .or_else(|| which("wasm-bindgen"))
        .context("`cargo install wasm-bindgen-cli` finished but wasm-bindgen is not found")?;
    let got = wasm_bindgen_version(&installed);
    if got.as_deref() != Some(want.as_str()) {
        bail!(
            "{} reports version {got:?}, expected {want}",
            installed.display()
        );
    }
    Ok(installed)
}

/// clippy and rustfmt for the test command.
pub fn ensure_rust_components(ctx: &Ctx) -> Result<()> {
    step("setup: clippy and rustfmt");
    let have = |tool: &str| ctx.cargo().args([tool, "--version"]).succeeds_quiet();
    let missing: Vec<&str> = [("clippy", "clippy"), ("fmt", "rustfmt")]
        .into_iter()
        .filter(|(sub, _)| !have(sub))
        .map(|(_, component)| component)
        .collect();
    if missing.is_empty() {
        note("installed: nothing to do");
        return Ok(());
    }
    let Some(rustup) = rustup() else {
        bail!(
            "cargo {} not available and no rustup: install the rustup components {}",
            missing.join("/"),
            missing.join(" ")
        );
    };
    Cmd::new(rustup)
        .args(["component", "add"])
        .args(&missing)
        .current_dir(&ctx.root)
        .run_with_timeout(Duration::from_secs(15 * 60))
}

/// Step 3: Chromium, chromedriver and Mesa's Vulkan drivers (lavapipe, for native wgpu on CPU).
pub fn ensure_browser(ctx: &Ctx) -> Result<()> {
    step("setup: Chromium, chromedriver, Mesa Vulkan (lavapipe)");
    let bins_ok =
        Path::new("/usr/bin/chromium").is_file() && Path::new("/usr/bin/chromedriver").is_file();
    let have_dpkg = which("dpkg-query").is_some();
    let missing: Vec<&str> = if have_dpkg {
        BROWSER_PACKAGES
            .iter()
            .copied()
            .filter(|p| !dpkg_installed(p))
            .collect()
    } else if bins_ok {
        Vec::new()
    } else {
        BROWSER_PACKAGES.to_vec()
    };
    if missing.is_empty() && bins_ok {
        note(format!(
            "{}: installed, nothing to do",
            BROWSER_PACKAGES.join(" ")
        ));
        return Ok(());
    }
    let missing = if missing.is_empty() {
        BROWSER_PACKAGES.to_vec()
    } else {
        missing
    };
    apt_install(
        ctx,
        &missing,
        "the browser tests need Chromium and chromedriver",
    )?;
    if !(Path::new("/usr/bin/chromium").is_file() && Path::new("/usr/bin/chromedriver").is_file()) {
        bail!(
            "installed {} but /usr/bin/chromium or /usr/bin/chromedriver is missing",
            missing.join(" ")
        );
    }
    Ok(())
}

fn dpkg_installed(pkg: &str) -> bool {
    Cmd::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output_quiet()
        .is_some_and(|s| s.contains("install ok installed"))
}

/// `apt-get install -y PKGS` as root (or through passwordless sudo), after one `apt-get update`.
/// Without either, stop with a message that names exactly what to install.
fn apt_install(ctx: &Ctx, pkgs: &[&str], why: &str) -> Result<()> {
    let list = pkgs.join(" ");
    if which("apt-get").is_none() {
        bail!("{why}: this is not an apt system; install the equivalents of: {list}");
    }
    let is_root = Cmd::new("id").arg("-u").output_quiet().as_deref() == Some("0");
    let sudo = !is_root
        && which("sudo").is_some()
        && Cmd::new("sudo").args(["-n", "true"]).succeeds_quiet();
    if !is_root && !sudo {
        bail!(
            "{why}. Not root and no passwordless sudo: as root, run\n    apt-get update && apt-get install -y {list}\nthen run this command again"
        );
    }
    let apt = |args: &[&str]| {
        let c = if sudo {
            Cmd::new("sudo").args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"])
        } else {
            Cmd::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive")
        };
        c.args(args).current_dir(&ctx.root)
    };
    if !ctx.apt_updated.get() {
        apt(&["update"]).run()?;
        ctx.apt_updated.set(true);
    }
    apt(&["install", "-y"]).args(pkgs).run()
}
