//! Sparse graph operations without materialised message tensors: CSR `A·x` for the
//! user-item graph and fixed-fan-in gathers for the item kNN graphs, each with its
//! own backward ([`ops`]), over host kernels parallel across rows ([`kernels`]).

mod kernels;
mod ops;
#[cfg(test)]
mod tests;

pub use kernels::{Csr, FanIndex};
pub use ops::{SparseMatrix, fan_self_dots, fan_weighted_sum, spmm, supported};
