//! `cargo xtask gpu-bench`: a self-contained bundle that a bare GPU machine (no Rust
//! toolchain, no network) runs in one go, and its local dry run.
//!
//! The bundle (`target/gpu-bench/`, well under 64 MiB) holds the stripped release
//! `mario` compressed with xz, Debian's Vulkan loader (`libvulkan1`, unpacked at run
//! time, no root needed), and `run.sh`. `run.sh OUT_DIR` generates the presets with
//! `mario datagen`, runs `mario bench` on cuda (where the build has it), wgpu and cpu and
//! writes the tables (each stage of the epoch next to its floor) to
//! `OUT_DIR/gpu-bench.md` (plus the log), inside a 10-minute budget.
//!
//! `--local` runs the same `run.sh` here on the CPU backend and the `demo` preset only:
//! everything up to the point where a GPU is needed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use crate::cmd::{self, note, step};
use crate::setup::Ctx;

/// The script the GPU machine runs. `$1` is the output directory.
const RUN_SH: &str = r##"#!/usr/bin/env bash
# MARIO GPU benchmark: unpack, generate the presets, bench wgpu and cpu, write one table.
# usage: run.sh OUT_DIR [PRESETS] [BACKENDS]   (defaults: demo,dense,baby,sports and cuda,wgpu,cpu;
# a backend this machine or this build lacks is skipped with the reason in the log)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: run.sh OUT_DIR [PRESETS] [BACKENDS]}"
presets="${2:-demo,dense,baby,sports}"
backends="${3:-cuda,wgpu,cpu}"
mkdir -p "$out"
work="$(mktemp -d)"
xz -dc "$here/mario.xz" > "$work/mario" && chmod +x "$work/mario"
# The Vulkan loader, unpacked beside the binary (no root, no network).
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  for deb in "$here"/*.deb; do dpkg -x "$deb" "$work/root"; done
  export LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
fi
# NVIDIA's ICD where the container has it but the loader does not find it.
for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
           /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
done
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$work}"
{
  echo "# mario gpu-bench on $(hostname) - $(date -u +%FT%TZ)"
  nproc | sed 's/^/cores: /'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$work/mario" devices || true
} > "$out/gpu-bench.log" 2>&1
for p in ${presets//,/ }; do
  "$work/mario" datagen --preset "$p" --seed 7 --out "$work/data/$p" >> "$out/gpu-bench.log" 2>&1
done
"$work/mario" bench --presets "$presets" --backends "$backends" --repeat 1 --cache "$work/data" \
  > "$out/gpu-bench.md" 2>> "$out/gpu-bench.log"
cat "$out/gpu-bench.md"
rm -rf "$work"
"##;

fn bundle_dir(ctx: &Ctx) -> PathBuf {
    ctx.target_dir().join("gpu-bench")
}

/// Builds the bundle; with `local`, also runs it here on `demo` with the CPU backend.
pub fn run(ctx: &Ctx, mario: &Path, local: bool) -> Result<()> {
    let dir = bundle_dir(ctx);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    step("bundle: stripped, xz-compressed mario");
    let stripped = dir.join("mario");
    std::fs::copy(mario, &stripped)
        .with_context(|| format!("cannot copy {} (build it first)", mario.display()))?;
    cmd::Cmd::new("strip").arg(&stripped).run()?;
    let xz = dir.join("mario.xz");
    let _ = std::fs::remove_file(&xz);
    cmd::Cmd::new("xz")
        .args(["-T2", "-6", "-f"])
        .arg(&stripped)
        .run()?;
    ensure!(xz.is_file(), "xz did not write {}", xz.display());
    if !has_deb(&dir, "libvulkan1")? {
        step("bundle: Debian's Vulkan loader (libvulkan1)");
        cmd::Cmd::new("apt-get")
            .args(["download", "libvulkan1"])
            .current_dir(&dir)
            .run()
            .context("apt-get download libvulkan1 failed: run `apt-get update` once and retry")?;
    }
    let script = dir.join("run.sh");
    std::fs::write(&script, RUN_SH)
        .with_context(|| format!("cannot write {}", script.display()))?;
    cmd::Cmd::new("chmod").arg("+x").arg(&script).run()?;
    let total: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    note(format!(
        "bundle {} is {:.1} MiB; on the GPU machine: bash run.sh \"$OUT\"",
        dir.display(),
        total as f64 / (1 << 20) as f64
    ));
    ensure!(
        total < 64 << 20,
        "the bundle is over the 64 MiB a GPU machine accepts"
    );
    if local {
        step("local dry run: run.sh on demo with the cpu backend");
        let out = dir.join("local-out");
        cmd::Cmd::new("bash")
            .arg(&script)
            .arg(&out)
            .args(["demo", "cpu"])
            .run()?;
        let table = std::fs::read_to_string(out.join("gpu-bench.md"))?;
        ensure!(
            table.contains("| demo |"),
            "run.sh wrote no demo row into {}",
            out.join("gpu-bench.md").display()
        );
    }
    Ok(())
}

fn has_deb(dir: &Path, name: &str) -> Result<bool> {
    Ok(std::fs::read_dir(dir)?.filter_map(|e| e.ok()).any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.starts_with(&format!("{name}_")) && n.ends_with(".deb")
    }))
}
