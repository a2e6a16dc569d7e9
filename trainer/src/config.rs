//! Training configuration: every hyperparameter of MARIO, with the paper's defaults
//! (§5.1: d = 64, k = 10, λ = 0.9, μ = 1, batch 1024, reg 1e-5) except where measurement
//! said otherwise: lr 5e-3 (the paper's 5e-4 has not converged after 200 epochs here), and
//! early stopping after 20 epochs without improvement, never before epoch 30
//! (`docs/defaults.md`).
//!
//! Precedence: built-in defaults < `--config FILE.toml` < explicit command-line flags.
//!
//! # Loss normalisation (so that μ = 1 is a sensible default)
//! - BPR (Eq. 9) is the *mean* of `−ln σ(r̂ᵤᵢ − r̂ᵤⱼ)` over the batch's triples.
//! - MP (Eq. 10) is, per side modality, the *mean* absolute error over the batch's
//!   positive and negative items and all `dₘ` elements of the features as scaled by
//!   [`FeatureScaling`] (unit mean row norm by default); the modalities are summed,
//!   as in Eq. 10. Per element this is O(1/√dₘ), a gentle pull. On the demo
//!   catalogue (`mario experiment mu`, 3 seeds) μ = 1 beats μ = 0 by 21% in test
//!   Recall@20 and sits on a plateau from μ = 0.2 to 1; an MP normalised to O(1)
//!   per modality instead (dividing by the mean |vᵐ|, about 15–20× stronger here)
//!   cost 17% Recall@20 at μ = 1 and flattened the attention.
//! - L2 (Eq. 11's regulariser) is `reg · (‖u‖² + ‖iₚ‖² + ‖iₙ‖²) / (2B)` on the batch's
//!   ego (layer-0) embeddings, as LightGCN does.

use std::path::Path;

use anyhow::{Context, bail};
use clap::ValueEnum;
use mario_shared::FusionKind;
use serde::{Deserialize, Serialize};

/// The collaborative-filtering backbone that yields user embeddings and the
/// interaction modality of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum CfBackbone {
    #[default]
    Lightgcn,
    Bprmf,
    Ngcf,
}

impl std::fmt::Display for CfBackbone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CfBackbone::Lightgcn => "lightgcn",
            CfBackbone::Bprmf => "bprmf",
            CfBackbone::Ngcf => "ngcf",
        })
    }
}

/// Which modality embedding the decoders (Eq. 8) reconstruct features from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum DecodeTarget {
    /// The final modality embedding after the item-graph GCN (what attention sees).
    #[default]
    Final,
    /// The compressed embedding of Eq. 1, before the GCN.
    Compressed,
}

/// How side-modality features are scaled before the compression layer (Eq. 1).
///
/// The compression `vᵐWᵐ` and the ID embeddings are both Xavier-initialised, so
/// the compressed embeddings start `‖vᵐ‖` times larger than a unit-norm input
/// would give. Pre-trained features are far from unit norm (CNN fc7 rows have
/// norms in the tens), and the side modalities then dominate every dot product of
/// the attention (Eq. 5) from the first step, so the interaction modality is
/// learnt late and weighted little. Dividing each modality by one constant, its
/// mean row norm, fixes the start without changing the model class (`Wᵐ`
/// absorbs any constant) or any kNN graph (cosine is scale-free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureScaling {
    /// Divide each side modality's features by their mean row L2 norm.
    #[default]
    UnitNorm,
    /// Use the features as stored.
    None,
}

/// How the modality-preservation loss (Eq. 10) weighs the modalities against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MpNorm {
    /// Mean absolute error per feature element: every modality weighs the same.
    #[default]
    Element,
    /// The paper's Σ over features: a modality weighs in proportion to its dimension dₘ
    /// (4096-d visual ≈ 10× 384-d text), rescaled so the mean weight over modalities is 1
    /// and μ keeps its meaning.
    FeatureSum,
}

/// Which embeddings the L2 term of Eq. 11 penalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum L2Target {
    /// The ego (layer-0) user and item embeddings of the batch, as LightGCN and LATTICE do.
    #[default]
    Ego,
    /// The final embeddings the score is made of: the propagated user and every modality's
    /// item vector of the batch's items (NGCF's and MMRec's BPR models' choice).
    Final,
}

/// Where side-modality information enters. `late` is MARIO; `early` is the
/// early-fusion variant used by the modality-preservation experiment (Table 6):
/// the side-modality embeddings are added to the CF item embedding before
/// propagation and scoring uses that single fused embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum FusionStage {
    #[default]
    Late,
    Early,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Embedding size d.
    pub dim: usize,
    /// Neighbours per item in each kNN graph (k).
    pub knn_k: usize,
    /// Weight λ of the raw-feature graph in Gᵐ = λAᵐ + (1 − λ)Āᵐ.
    pub lambda: f32,
    /// Weight μ of the modality-preservation loss (0 disables the decoders).
    pub mu: f32,
    pub batch_size: usize,
    pub lr: f64,
    /// L2 regularisation weight.
    pub reg: f64,
    /// What the L2 term penalises.
    pub l2_on: L2Target,
    /// Negatives sampled per positive: each (user, item) pair makes this many BPR triples.
    pub negatives: usize,
    /// Edge dropout on the user-item graph: each training step propagates over a copy
    /// with this fraction of the interactions dropped (degrees renormalised, as SGL's
    /// edge dropout); evaluation always uses the whole graph. 0 = off.
    pub edge_dropout: f32,
    /// Adam ε (burn's default is 1e-5; PyTorch's, which the paper used, is 1e-8).
    pub adam_eps: f64,
    /// GCN layers L over the item-item graphs.
    pub item_layers: usize,
    pub cf: CfBackbone,
    /// Propagation layers of LightGCN / NGCF over the user-item graph.
    pub cf_layers: usize,
    pub fusion: FusionKind,
    pub fusion_stage: FusionStage,
    /// Modalities to use (side modality names and/or `interaction`); empty = all.
    pub modalities: Vec<String>,
    pub decode: DecodeTarget,
    /// How the MP loss weighs the modalities.
    pub mp_norm: MpNorm,
    /// Scaling of the side-modality features before compression.
    pub feature_scaling: FeatureScaling,
    /// Rebuild the neighbour sets of the learnt graphs Āᵐ every this many epochs
    /// (their edge weights are recomputed, differentiably, at every step).
    pub knn_refresh_epochs: usize,
    pub epochs: usize,
    /// Evaluate on the validation split every this many epochs.
    pub eval_every: usize,
    /// Stop once this many epochs have passed since the best validation Recall@20
    /// (counted in epochs, so it means the same whatever `eval_every` is).
    pub patience: usize,
    /// Early stopping cannot fire before this many epochs: full-ranking validation on
    /// dense data first rises (popular items), dips, then climbs for much longer.
    pub min_epochs: usize,
    /// Learning-rate decay: the rate at epoch e is `lr · lr_decay^(e / 50)` (LATTICE's
    /// schedule uses 0.96); 1 keeps it constant.
    pub lr_decay: f64,
    /// Cut-offs reported by the evaluator.
    pub ks: Vec<usize>,
    /// Users per scoring batch in full-ranking evaluation.
    pub eval_batch: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            knn_k: 10,
            lambda: 0.9,
            mu: 1.0,
            batch_size: 1024,
            lr: 5e-3,
            reg: 1e-5,
            l2_on: L2Target::Ego,
            negatives: 1,
            edge_dropout: 0.0,
            adam_eps: 1e-8,
            item_layers: 1,
            cf: CfBackbone::Lightgcn,
            cf_layers: 2,
            fusion: FusionKind::Attention,
            fusion_stage: FusionStage::Late,
            modalities: Vec::new(),
            decode: DecodeTarget::Final,
            mp_norm: MpNorm::Element,
            feature_scaling: FeatureScaling::UnitNorm,
            knn_refresh_epochs: 1,
            epochs: 200,
            eval_every: 1,
            patience: 20,
            min_epochs: 30,
            lr_decay: 1.0,
            ks: vec![10, 20],
            eval_batch: 1024,
            seed: 2022,
        }
    }
}

impl TrainConfig {
    /// Whether `other` is the same run with perhaps another epoch budget: the budget
    /// bounds the loop and nothing else, so `--resume RUN --epochs N` may change it.
    pub fn same_run_as(&self, other: &TrainConfig) -> bool {
        let with_my_budget = TrainConfig {
            epochs: self.epochs,
            ..other.clone()
        };
        *self == with_my_budget
    }

    /// Reads a TOML file of (a subset of) the fields above.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| {
            format!(
                "invalid config file {}: fields are those printed by `mario train --print-config`",
                path.display()
            )
        })
    }

    /// Rejects values that cannot train.
    pub fn validate(&self) -> anyhow::Result<()> {
        let fail = |msg: String| -> anyhow::Result<()> { bail!("invalid configuration: {msg}") };
        if self.dim == 0 {
            return fail("--dim must be at least 1".into());
        }
        if self.knn_k == 0 {
            return fail("--knn-k must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return fail(format!("--lambda must lie in [0, 1], got {}", self.lambda));
        }
        if !(self.mu >= 0.0 && self.mu.is_finite()) {
            return fail(format!("--mu must be ≥ 0, got {}", self.mu));
        }
        if self.batch_size == 0 || self.eval_batch == 0 {
            return fail("--batch-size and --eval-batch must be at least 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return fail(format!("--lr must be > 0, got {}", self.lr));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return fail(format!(
                "--lr-decay must lie in (0, 1], got {}",
                self.lr_decay
            ));
        }
        if !(self.reg >= 0.0 && self.reg.is_finite()) {
            return fail(format!("--reg must be ≥ 0, got {}", self.reg));
        }
        if !(0.0..0.95).contains(&self.edge_dropout) {
            return fail(format!(
                "--edge-dropout must lie in [0, 0.95), got {}",
                self.edge_dropout
            ));
        }
        if !(1..=64).contains(&self.negatives) {
            return fail(format!(
                "--negatives must lie in 1..=64, got {}",
                self.negatives
            ));
        }
        if self.eval_every == 0 || self.knn_refresh_epochs == 0 {
            return fail("--eval-every and --knn-refresh-epochs must be at least 1".into());
        }
        if self.ks.is_empty() || self.ks.contains(&0) {
            return fail("--ks must list positive cut-offs, e.g. 10,20".into());
        }
        if !self.ks.contains(&20) {
            return fail("--ks must include 20: model selection uses validation Recall@20".into());
        }
        if self.fusion != FusionKind::Attention && self.fusion_stage == FusionStage::Early {
            return fail(
                "--fusion-stage early fuses before scoring; use it with --fusion attention".into(),
            );
        }
        Ok(())
    }
}
