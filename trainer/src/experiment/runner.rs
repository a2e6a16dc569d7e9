//! Running the variants an experiment needs: sub-run names derived from how a
//! configuration differs from the base one, reuse of finished sub-runs, resume of
//! interrupted ones, and the per-item preservation measures they record.

use super::*;

impl Lab {
    pub(super) fn all_modalities(&self) -> Vec<String> {
        self.dataset.modality_names()
    }

    /// The modalities full MARIO uses (the base config's, or all).
    pub(super) fn full_modalities(&self) -> Vec<String> {
        let all = self.all_modalities();
        if self.base.modalities.is_empty() {
            all
        } else {
            all.into_iter()
                .filter(|m| self.base.modalities.contains(m))
                .collect()
        }
    }

    pub(super) fn side_modalities(&self) -> Vec<String> {
        self.full_modalities()
            .into_iter()
            .filter(|m| m != INTERACTION)
            .collect()
    }

    pub(super) fn mario(&self) -> Variant {
        Variant {
            label: "MARIO".into(),
            config: self.base.clone(),
        }
    }

    pub(super) fn variant(
        &self,
        label: impl Into<String>,
        edit: impl FnOnce(&mut TrainConfig),
    ) -> Variant {
        let mut config = self.base.clone();
        edit(&mut config);
        Variant {
            label: label.into(),
            config,
        }
    }

    pub(super) fn key(&self, v: &Variant) -> String {
        run_key(&self.base, &v.config, &self.all_modalities())
    }

    /// Trains (or reuses) every variant for every seed.
    pub(super) fn rows(
        &mut self,
        variants: &[Variant],
        need_preservation: bool,
    ) -> anyhow::Result<Vec<Row>> {
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
    pub(super) fn ensure(
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

    pub(super) fn result_from(
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
    pub(super) fn load_preservation(
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
}

/// `git rev-parse --short HEAD` (with `-dirty` for uncommitted changes to tracked
/// files) in the working directory, else in the directory of the `mario` binary
/// (`target/release/` of a checkout), else `unknown`.
pub(super) fn git_commit() -> String {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    std::iter::once(None)
        .chain(exe_dir.map(Some))
        .find_map(|dir| git_commit_in(dir.as_deref()))
        .unwrap_or_else(|| "unknown".into())
}

pub(super) fn git_commit_in(dir: Option<&Path>) -> Option<String> {
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
pub(super) fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

/// The run name: how `config` differs from `base` (`mario` when it does not).
pub(super) fn run_key(
    base: &TrainConfig,
    config: &TrainConfig,
    all_modalities: &[String],
) -> String {
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
pub(super) fn preservation_of(model: &Mario, params: &Params) -> BTreeMap<String, Vec<f32>> {
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
        let diffs = preservation_measure::per_item_differences(
            m.features.clone(),
            emb.items[idx].clone(),
            preservation_measure::BLOCK_ROWS,
        );
        out.insert(m.name.clone(), diffs);
    }
    out
}

pub(super) fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
