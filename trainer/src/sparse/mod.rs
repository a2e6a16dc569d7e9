//! Sparse graph operations without materialised message tensors: CSR `A·x` for the
//! user-item graph and fixed-fan-in gathers for the item kNN graphs, plus the batch's
//! attention scores (Eq. 5–7) and the MP loss (Eq. 8, 10) fused into one pass each;
//! every operation has its own backward ([`ops`]), over host kernels parallel across
//! rows ([`kernels`]; the MP loss's in [`mp`]); the batch's gathers fused with the BPR scores and the L2 sum
//! ([`batch`]); a side modality's mixed, normalised item graph (Eq. 2–4) and its GCN
//! layers in one operation ([`item_graph`]); and LightGCN's whole readout, `mean(Â^l E⁰)`
//! ([`lightgcn`]).

mod batch;
pub mod cube;
mod item_graph;
mod kernels;
mod lightgcn;
pub(crate) mod mp;
pub(crate) mod mp_loss;
mod ops;
pub(crate) mod simd;
mod spmm;
mod stages;
mod table;
#[cfg(test)]
mod tests;

pub use batch::{BatchKernels, ScoreTables, Triples, bpr_differences, gathered_square_sum};
pub use item_graph::{GraphParts, ItemGraphKernels, MixedGraph, item_graph_embeddings};
pub use kernels::{Csr, FanIndex, MAX_FUSED_MODALITIES};
pub use lightgcn::{LightGcnGraph, lightgcn_readout};
pub use mp::MpRows;
pub use mp_loss::{MpKernels, mp_loss};
pub use ops::{attention_scores, compress};
pub use spmm::{GraphKernels, SparseMatrix, spmm};
pub use stages::{FusedStages, is_flex};
