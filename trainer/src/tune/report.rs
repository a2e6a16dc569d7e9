//! The report of a search: `leaderboard.md` (every trial by validation Recall@20, the rung
//! it reached, the chosen one's test metrics), `trials.svg` (the score per trial and per
//! hyperparameter) and `best.toml` (the chosen configuration, for `mario train --config`).

use std::fmt::Write as _;
use std::path::Path;

use super::TuneState;
use super::space::Space;

/// The mean of each numeric field over several metric objects.
pub fn mean_metrics(values: &[serde_json::Value]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(first) = values.first().and_then(|v| v.as_object()) {
        for key in first.keys() {
            let xs: Vec<f64> = values.iter().filter_map(|v| v[key].as_f64()).collect();
            if xs.len() == values.len() {
                out.insert(
                    key.clone(),
                    serde_json::json!(xs.iter().sum::<f64>() / xs.len() as f64),
                );
            }
        }
    }
    serde_json::Value::Object(out)
}

/// A setting's value for a table cell: floats to 4 significant digits.
pub fn cell(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) => number_cell(*f),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value in a table: 4 significant digits, no trailing zeros (`0.96`, `1`, `1.514e-3`).
fn number_cell(f: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if f != 0.0 && f.abs() < 1e-2 {
        let s = format!("{f:.3e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim(mantissa.to_string())),
            None => s,
        }
    } else {
        trim(format_sig(f))
    }
}

/// An axis tick: whole numbers plainly, small values in scientific notation.
pub fn format_tick(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-2 {
        format!("{v:.0e}")
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format_sig(v);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

fn format_sig(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let digits = (3 - f.abs().log10().floor() as i32).max(0) as usize;
    if f.abs() < 1e-3 {
        format!("{f:.3e}")
    } else {
        format!("{f:.digits$}")
    }
}

/// Seed spread of a trial at a rung: (mean, standard deviation).
fn spread(state: &TuneState, trial: usize, rung: usize) -> Option<(f64, f64)> {
    let xs: Vec<f64> = state
        .records
        .iter()
        .filter(|r| r.trial == trial && r.rung == rung)
        .map(|r| r.valid_recall)
        .collect();
    if xs.len() != state.seeds.len() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Some((mean, var.sqrt()))
}

/// Trials best first: by the rung reached, then the score there.
fn ranking(state: &TuneState) -> Vec<(usize, Option<(usize, f64)>)> {
    let mut rows: Vec<(usize, Option<(usize, f64)>)> = state
        .trials
        .iter()
        .map(|t| (t.id, state.reached(t.id)))
        .collect();
    rows.sort_by(|a, b| match (a.1, b.1) {
        (Some((ra, sa)), Some((rb, sb))) => rb.cmp(&ra).then(sb.total_cmp(&sa)).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    rows
}

fn leaderboard(space: &Space, state: &TuneState, complete: bool) -> String {
    let keys: Vec<&String> = space.params.keys().collect();
    let mut md = String::new();
    let _ = writeln!(md, "# Tuning leaderboard\n");
    let _ = writeln!(
        md,
        "{} trials × {} seed(s) ({}), successive halving over rungs {}. Ranked by **validation** \
         Recall@20 (mean over seeds, best epoch within the rung's budget); test is read only for \
         the chosen trial.\n",
        state.trials.len(),
        state.seeds.len(),
        state
            .seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        state
            .rungs
            .iter()
            .map(|r| format!("{} trials → {} epochs", r.trials, r.epochs))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !complete {
        let _ = writeln!(
            md,
            "**Incomplete** (stopped by --budget-minutes or interrupted): {} of {} runs done. \
             Rerun the same command to continue; finished runs are not repeated.\n",
            state.units().1,
            state.units().0
        );
    }
    let _ = write!(md, "| rank | trial |");
    for k in &keys {
        let _ = write!(md, " {k} |");
    }
    let _ = writeln!(md, " epochs | valid R@20 | ± sd (seeds) | status |");
    let _ = write!(md, "|---|---|");
    for _ in &keys {
        let _ = write!(md, "---|");
    }
    let _ = writeln!(md, "---|---|---|---|");
    let last = state.rungs.len().saturating_sub(1);
    for (rank, (t, reached)) in ranking(state).into_iter().enumerate() {
        let trial = &state.trials[t];
        let _ = write!(md, "| {} | {t} |", rank + 1);
        for k in &keys {
            let _ = write!(
                md,
                " {} |",
                trial.params.get(*k).map(cell).unwrap_or_default()
            );
        }
        match reached {
            Some((r, score)) => {
                let sd = match spread(state, t, r) {
                    Some((_, sd)) if state.seeds.len() > 1 => format!("{sd:.4}"),
                    _ => "–".to_string(),
                };
                let at_rung = || state.records.iter().filter(|x| x.trial == t && x.rung == r);
                // Epochs actually trained (the most over the seeds): early stopping may end
                // a run before the rung's budget.
                let epochs = at_rung().map(|x| x.epochs_run).max().unwrap_or(0);
                let stopped = at_rung().any(|x| x.stopped_early);
                let status = if state.chosen.as_ref().is_some_and(|c| c.trial == t) {
                    "**chosen**".to_string()
                } else if r == last {
                    "finished".to_string()
                } else {
                    format!("stopped at rung {r}")
                };
                let early = if stopped { " (early stop)" } else { "" };
                let _ = writeln!(md, " {epochs}{early} | {score:.4} | {sd} | {status} |");
            }
            None => {
                let _ = writeln!(md, " – | – | – | pending |");
            }
        }
    }
    if let Some(c) = &state.chosen {
        let get = |v: &serde_json::Value, k: &str| {
            v[k].as_f64().map_or("–".into(), |x| format!("{x:.4}"))
        };
        let _ = writeln!(
            md,
            "\n## Chosen: trial {}\n\n| split | Recall@20 | NDCG@20 | Precision@20 | Recall@10 | NDCG@10 |\n|---|---|---|---|---|---|",
            c.trial
        );
        for (name, v) in [("valid", &c.valid), ("test", &c.test)] {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} |",
                get(v, "recall@20"),
                get(v, "ndcg@20"),
                get(v, "precision@20"),
                get(v, "recall@10"),
                get(v, "ndcg@10")
            );
        }
        let _ = writeln!(
            md,
            "\nMeans over the seeds. `best.toml` holds its configuration: \
             `mario train --data DIR --out RUN --config best.toml`."
        );
    }
    md
}

/// Writes the three report files into `out`.
pub fn write(out: &Path, space: &Space, state: &TuneState, complete: bool) -> anyhow::Result<()> {
    crate::io::write_atomic(
        &out.join("leaderboard.md"),
        leaderboard(space, state, complete).as_bytes(),
    )?;
    crate::io::write_atomic(
        &out.join("trials.svg"),
        super::report_chart::svg(space, state).as_bytes(),
    )?;
    let best = state.chosen.as_ref().map(|c| c.trial).or_else(|| {
        ranking(state)
            .first()
            .filter(|r| r.1.is_some())
            .map(|r| r.0)
    });
    if let Some(t) = best {
        let trial = &state.trials[t];
        let mut config = trial.config.clone();
        config.seed = state.seeds[0];
        let note = if state.chosen.is_some() {
            format!("# Chosen by `mario tune` on validation Recall@20: trial {t}.\n")
        } else {
            format!("# Best so far (search incomplete): trial {t}.\n")
        };
        let text = format!("{note}{}", toml::to_string(&config)?);
        crate::io::write_atomic(&out.join("best.toml"), text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_ticks_are_short_and_exact_enough() {
        assert_eq!(number_cell(1.0), "1");
        assert_eq!(number_cell(0.96), "0.96");
        assert_eq!(number_cell(0.015135296), "0.01514");
        assert_eq!(number_cell(0.0015135296), "1.514e-3");
        assert_eq!(number_cell(0.5199085), "0.5199");
        assert_eq!(number_cell(5e-4), "5e-4");
        assert_eq!(format_tick(10.0), "10");
        assert_eq!(format_tick(0.001), "1e-3");
        assert_eq!(format_tick(0.25), "0.25");
    }
}
