//! `mario tune`: the flags of a hyperparameter search and its summary; the search itself
//! is [`crate::tune`].

use super::*;
use crate::tune::{self, TuneRequest};

/// Flags of `mario tune`.
#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// Dataset directory (MMRec or LATTICE layout).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_parser = parse_format)]
    pub format: Option<DatasetFormat>,
    /// Search space (TOML: [fixed], [space], [search]; keys as `mario train --print-config`).
    #[arg(long)]
    pub space: PathBuf,
    /// Output directory: trials/, tune.json, leaderboard.md, trials.svg, best.toml.
    /// Rerunning with the same flags continues the search.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of trials (random search), or a random subset of the grid [default: the space's, else 16].
    #[arg(long)]
    pub trials: Option<usize>,
    /// Stop starting new runs after this many minutes (rerun to continue).
    #[arg(long)]
    pub budget_minutes: Option<f64>,
    /// Seeds each trial is trained with, e.g. `1,2`; the score is their mean [default: the config's seed].
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Smoke test: at most 3 trials of 3 epochs (rungs at 1, 2 and 3 epochs).
    #[arg(long)]
    pub quick: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run_tune(args: TuneArgs) -> anyhow::Result<()> {
    if args.budget_minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
        anyhow::bail!("--budget-minutes must be > 0");
    }
    let request = TuneRequest {
        data: args.data.clone(),
        format: args.format,
        space_file: args.space.clone(),
        out: args.out.clone(),
        trials: args.trials,
        budget_minutes: args.budget_minutes,
        seeds: args.seeds.clone(),
        quick: args.quick,
        backend: args.backend,
        quiet: args.quiet,
    };
    // Check the space before the (possibly long) dataset load.
    tune::space::Space::from_file(&args.space)?;
    let dataset = load(&args.data, args.format)?;
    let backend = backend::select(args.backend)?;
    eprintln!(
        "mario tune: {} ({} users, {} items) on {} [{}]",
        dataset.name, dataset.n_users, dataset.n_items, backend.name, backend.adapter
    );
    let outcome = tune::run(&request, &dataset, &backend)?;
    let state = &outcome.state;
    let (total, done) = (
        state.rungs.iter().map(|r| r.trials).sum::<usize>() * state.seeds.len(),
        state.records.len(),
    );
    match &state.chosen {
        Some(c) if outcome.complete => {
            let t = &state.trials[c.trial];
            println!(
                "chosen trial {} ({}): valid recall@20 {:.4} · test recall@20 {:.4} ndcg@20 {:.4}",
                c.trial,
                t.params
                    .iter()
                    .map(|(k, v)| format!("{k}={}", tune::report::cell(v)))
                    .collect::<Vec<_>>()
                    .join(", "),
                c.valid["recall@20"].as_f64().unwrap_or(f64::NAN),
                c.test["recall@20"].as_f64().unwrap_or(f64::NAN),
                c.test["ndcg@20"].as_f64().unwrap_or(f64::NAN),
            );
        }
        _ => println!(
            "search incomplete: {done} of {total} runs done; rerun the same command to continue"
        ),
    }
    println!(
        "wrote {} (leaderboard.md, trials.svg, best.toml, tune.json)",
        outcome.report_dir.display()
    );
    Ok(())
}
