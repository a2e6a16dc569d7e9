//! `mario-shared`: what the trainer and the browser app must agree on.
//!
//! - [`weights`]: the compact safetensors weights file (writer and validating reader).
//! - [`attention`]: Eq. 5–7 on the host (the attention, the fused score, the score over a
//!   subset of modalities); the one home of that maths outside burn and WGSL.
//! - [`scorer`]: the reference MARIO scorer and explanations, through [`attention`].
//! - [`metrics`]: full-ranking top-K selection and Recall / Precision / NDCG.
//! - [`matmul`]: dense CPU matrix products over strided views (the one `gemm` caller).
//! - [`ranking`]: the tiled full-ranking scorer (top-K of many users, no `[B, I, M]` tensor).
//! - [`counterfactual`]: an item's rank and score without each modality, and with it alone.
//! - [`item_map`]: the explorer's item map (spaces, the personalised space, view, hit test, search).
//! - [`catalogue`]: item display metadata.
//!
//! Compiles natively and for `wasm32-unknown-unknown`.

pub mod attention;
pub mod catalogue;
pub mod counterfactual;
pub mod format;
pub mod item_map;
pub mod matmul;

pub use catalogue::{ItemInfo, PictureDescriptor};
pub mod metrics;
pub mod ranking;
pub mod scorer;
pub mod weights;

pub use metrics::{MetricsAccumulator, MetricsReport, top_k_excluding};
pub use scorer::{Explanation, Recommendation, Scorer, modality_attention};
pub use weights::{
    FusionKind, ModelWeights, SizeBreakdown, StorageDtype, WeightsError, WeightsMeta,
};
