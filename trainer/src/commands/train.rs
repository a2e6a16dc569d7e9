//! `mario train`: the flags of a training run (every hyperparameter of
//! [`crate::config::TrainConfig`], config files, `--print-config`, `--resume`) and the run itself.

use super::*;
use crate::train::RunInputs;

/// Flags of `mario train`; every hyperparameter is optional here and falls back to
/// `--config FILE.toml`, then to the paper's defaults.
#[derive(Debug, Clone, Args, Default)]
pub struct TrainArgs {
    /// Dataset directory (MMRec or LATTICE layout).
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    pub data: Option<PathBuf>,
    #[arg(long, value_parser = parse_format)]
    pub format: Option<DatasetFormat>,
    /// Run directory to write.
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    pub out: Option<PathBuf>,
    /// Continue the run in RUN_DIR from its last checkpoint (same data, config and
    /// backend); with `--epochs N`, up to N epochs (e.g. to extend a finished run).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["data", "out", "config"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any of the hyperparameters below.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Hide progress bars.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct HyperArgs {
    /// Embedding size d [default: 64].
    #[arg(long)]
    pub dim: Option<usize>,
    /// kNN neighbours k [default: 10].
    #[arg(long)]
    pub knn_k: Option<usize>,
    /// λ, weight of the raw-feature graph [default: 0.9].
    #[arg(long)]
    pub lambda: Option<f32>,
    /// μ, weight of the modality-preservation loss; 0 disables it [default: 1].
    #[arg(long)]
    pub mu: Option<f32>,
    /// [default: 1024]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate [default: 5e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// L2 regularisation [default: 1e-5].
    #[arg(long)]
    pub reg: Option<f64>,
    /// Adam epsilon [default: 1e-8].
    #[arg(long)]
    pub adam_eps: Option<f64>,
    /// GCN layers over the item-item graphs [default: 1].
    #[arg(long)]
    pub item_layers: Option<usize>,
    /// CF backbone [default: lightgcn].
    #[arg(long, value_enum)]
    pub cf: Option<CfBackbone>,
    /// Propagation layers of the CF backbone [default: 2].
    #[arg(long)]
    pub cf_layers: Option<usize>,
    /// attention (MARIO), mean, max or fc [default: attention].
    #[arg(long, value_parser = parse_fusion)]
    pub fusion: Option<FusionKind>,
    /// late (MARIO) or early (modality embeddings added before CF propagation) [default: late].
    #[arg(long, value_enum)]
    pub fusion_stage: Option<FusionStage>,
    /// Comma-separated subset of modalities, e.g. `visual,interaction` [default: all].
    #[arg(long, value_delimiter = ',')]
    pub modalities: Option<Vec<String>>,
    /// Decode the final (post-GCN) or the compressed embeddings [default: final].
    #[arg(long, value_enum)]
    pub decode: Option<DecodeTarget>,
    /// L2 on the batch's ego embeddings, or on the final ones the score is made of [default: ego].
    #[arg(long, value_enum)]
    pub l2_on: Option<L2Target>,
    /// Negatives per positive: each training pair makes this many BPR triples [default: 1].
    #[arg(long)]
    pub negatives: Option<usize>,
    /// Fraction of user-item edges dropped at each training step (0 = off) [default: 0].
    #[arg(long)]
    pub edge_dropout: Option<f32>,
    /// MP loss per feature element (every modality alike) or summed over features (∝ dₘ, the paper's Σ) [default: element].
    #[arg(long, value_enum)]
    pub mp_norm: Option<MpNorm>,
    /// Scale each side modality's features to unit mean row norm, or use them as stored [default: unit-norm].
    #[arg(long, value_enum)]
    pub feature_scaling: Option<FeatureScaling>,
    /// Epochs between rebuilds of the learnt graphs' neighbour sets [default: 1].
    #[arg(long)]
    pub knn_refresh_epochs: Option<usize>,
    /// Maximum epochs [default: 200].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Evaluate every E epochs [default: 1].
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Epochs without a better validation Recall@20 before stopping [default: 20].
    #[arg(long)]
    pub patience: Option<usize>,
    /// No early stop before this many epochs [default: 30].
    #[arg(long)]
    pub min_epochs: Option<usize>,
    /// Learning-rate decay per 50 epochs, applied continuously (LATTICE: 0.96) [default: 1, off].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Cut-offs, e.g. `10,20` [default: 10,20].
    #[arg(long, value_delimiter = ',')]
    pub ks: Option<Vec<usize>>,
    /// Users per evaluation batch [default: 1024].
    #[arg(long)]
    pub eval_batch: Option<usize>,
    /// Random seed [default: 2022].
    #[arg(long)]
    pub seed: Option<u64>,
}

impl HyperArgs {
    /// Overrides `config` with every flag given.
    pub fn apply(&self, config: &mut TrainConfig) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { config.$field = v.clone(); } )* };
        }
        set!(
            dim,
            knn_k,
            lambda,
            mu,
            batch_size,
            lr,
            reg,
            l2_on,
            negatives,
            edge_dropout,
            adam_eps,
            item_layers,
            cf,
            cf_layers,
            fusion,
            fusion_stage,
            modalities,
            decode,
            mp_norm,
            feature_scaling,
            knn_refresh_epochs,
            epochs,
            eval_every,
            patience,
            min_epochs,
            lr_decay,
            ks,
            eval_batch,
            seed
        );
    }
}

/// Runs `mario train` (or prints the effective config, or resumes a run directory).
pub fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    let (data, format, out, backend_choice, config, resume) = if let Some(run_dir) = &args.resume {
        let path = run_dir.join("run.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--resume {}: no run.json there; is it a run directory?",
                run_dir.display()
            )
        })?;
        let inputs: RunInputs = serde_json::from_str(&text)
            .with_context(|| format!("{} is corrupt", path.display()))?;
        let format = inputs
            .format
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // `--epochs N` extends (or shortens) the run; any other setting would make it
        // a different run.
        let mut config = inputs.config.clone();
        args.hyper.apply(&mut config);
        anyhow::ensure!(
            config.same_run_as(&inputs.config),
            "--resume {}: only --epochs may change when resuming (the other settings are the run's own, in run.json); start a new run to change them",
            run_dir.display()
        );
        if config.epochs != inputs.config.epochs {
            let inputs = RunInputs {
                config: config.clone(),
                ..inputs.clone()
            };
            crate::io::write_json(&path, &inputs)?;
        }
        (
            inputs.data,
            format,
            run_dir.clone(),
            inputs.backend,
            config,
            true,
        )
    } else {
        let mut config = match &args.config {
            Some(path) => TrainConfig::from_toml_file(path)?,
            None => TrainConfig::default(),
        };
        args.hyper.apply(&mut config);
        if args.print_config {
            print!("{}", toml::to_string(&config)?);
            return Ok(());
        }
        let data = args.data.clone().context("--data is required")?;
        let out = args.out.clone().context("--out is required")?;
        (data, args.format, out, args.backend, config, false)
    };
    config.validate()?;
    let dataset = load(&data, format)?;
    let backend = backend::select(backend_choice)?;
    eprintln!(
        "mario train: {} ({} users, {} items, {} train interactions) on {} [{}]",
        dataset.name,
        dataset.n_users,
        dataset.n_items,
        dataset.n_train(),
        backend.name,
        backend.adapter
    );
    if !resume {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let inputs = RunInputs {
            data: data.clone(),
            format: format.map(|f| f.to_string()),
            backend: backend_choice,
            config: config.clone(),
        };
        crate::io::write_json(&out.join("run.json"), &inputs)?;
    }
    let options = RunOptions {
        quiet: args.quiet,
        resume,
        ..Default::default()
    };
    let summary = train(&dataset, &config, &backend, &out, &options)?;
    let m = &summary.metrics;
    println!(
        "best epoch {} of {}: valid recall@20 {:.4} · test recall@20 {:.4} ndcg@20 {:.4} precision@20 {:.4}",
        m["best_epoch"],
        m["epochs_run"],
        m["valid"]["recall@20"].as_f64().unwrap_or(f64::NAN),
        m["test"]["recall@20"].as_f64().unwrap_or(f64::NAN),
        m["test"]["ndcg@20"].as_f64().unwrap_or(f64::NAN),
        m["test"]["precision@20"].as_f64().unwrap_or(f64::NAN),
    );
    println!("wrote {}", out.display());
    Ok(())
}
