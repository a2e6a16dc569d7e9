//! MARIO (CIKM 2022) in burn: the library behind the `mario` command line.
//!
//! | module | one job |
//! |---|---|
//! | [`model`] | the model: parameters, item graphs (Eq. 1–4), CF backbones, fusion (Eq. 5–7), the joint loss (Eq. 8–11) |
//! | [`sparse`] | sparse and fused operations with their own backward on the flex CPU backend |
//! | [`train`] | the training loop: sampling, Adam, checkpoints and exact resume, the run directory |
//! | [`eval`] | full-ranking evaluation through `mario_shared::ranking`, planted-modality recovery |
//! | [`export`] | the compact weights file of a run |
//! | [`map`] | the explorer's 2D item maps (t-SNE) and their trustworthiness |
//! | [`commands`] | the `mario` subcommands, one file each, thin over the modules above |
//! | [`experiment`] | the paper's experiments (Tables 4–6, Figures 3, 5, 6) |
//! | [`tune`] | hyperparameter search: successive halving on validation Recall@20, resumable, with a report |
//! | [`dataset`] | loading a dataset directory for the commands |
//! | [`config`], [`backend`] | hyperparameters; the burn device (flex or wgpu) |
//! | [`roofline`], [`plot`], [`io`], [`tensor`] | floors for the bench; SVG curves; atomic writes; tensor ↔ `Vec` helpers |
//! | [`stage_clock`], [`device_meter`] | the bench's time per stage; a CubeCL device's launches and pool bytes at the stage edges |
//! | [`keep_awake`] | the pool's other workers polling for work through a training epoch instead of sleeping between its small loops |
//!
//! Data flow: `dataset::load` → [`model::Mario::new`] → [`train::train`] (evaluating
//! with [`eval`]) → [`export`] → `mario_shared::ModelWeights` for the browser.

pub mod backend;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod device_meter;
pub mod eval;
pub mod experiment;
pub mod export;
#[cfg(test)]
mod golden_tests;
pub mod io;
pub mod keep_awake;
pub mod map;
pub mod model;
pub mod plot;
#[cfg(test)]
mod quality_tests;
pub mod roofline;
pub mod sparse;
pub mod stage_clock;
pub mod tensor;
pub mod train;
#[cfg(test)]
mod training_tests;
pub mod tune;
