//! Graphs: the top-k cosine item-item kNN graphs of Eq. 2 and the normalised
//! user-item bipartite graph the CF backbones propagate over.
//!
//! burn has no sparse tensors, so a kNN graph is a pair of dense tensors,
//! neighbour ids `[I·k]` (Int) and edge weights `[I, k]`; aggregating it is a `select`
//! of neighbour rows into `[I, k, d]`, a weighting and a sum (O(I·k·d), differentiable).
//! The bipartite graph is an edge list propagated with a segment sum
//! (`select_assign(…, IndexingUpdateOp::Add)`). That is the dense *reference* path,
//! used on wgpu; on the flex CPU backend the same products run as the sparse
//! operations of [`crate::sparse`] (CSR / fixed-fan-in passes with their own
//! backward, no `[E, d]` message tensors), tested against this path.
//!
//! kNN graphs are built blockwise (a block of rows against all items as one matrix
//! product on the device, then a partial selection per row on the CPU, in parallel),
//! so no dense items × items matrix ever exists. As in LATTICE's code, the top-k of a
//! row includes the item itself (its cosine with itself is the maximum).

use std::sync::Arc;

use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor};

pub use crate::tensor::{float_tensor, int_tensor, to_f32};

use mario_shared::metrics::TopK;
use rayon::prelude::*;

use crate::sparse::{self, Csr, SparseMatrix};

/// Rows per block when building kNN graphs.
const KNN_BLOCK_ROWS: usize = 1024;

/// Top-k cosine neighbours of every row of `x` (`[n, dim]`, on any device).
/// Returns neighbour ids (row-major `[n, k]`) and cosine similarities.
pub fn knn_cosine(x: Tensor<2>, k: usize) -> (Vec<i64>, Vec<f32>) {
    let [n, _] = x.dims();
    let k = k.min(n);
    let normed = l2_normalize_rows(x);
    let transposed = normed.clone().transpose();
    let mut ids = Vec::with_capacity(n * k);
    let mut sims = Vec::with_capacity(n * k);
    let mut start = 0;
    while start < n {
        let end = (start + KNN_BLOCK_ROWS).min(n);
        let block = normed.clone().narrow(0, start, end - start);
        let similarity = to_f32(block.matmul(transposed.clone()));
        let rows: Vec<(Vec<i64>, Vec<f32>)> = similarity
            .par_chunks(n)
            .map(|row| top_k_row(row, k))
            .collect();
        for (row_ids, row_sims) in rows {
            ids.extend(row_ids);
            sims.extend(row_sims);
        }
        start = end;
    }
    (ids, sims)
}

/// The `k` largest entries of one similarity row, best first, in
/// [`mario_shared::metrics::TopK`]'s order (ties to the lower index, NaN as −∞): one
/// scan against the current k-th best, so most entries cost a single compare.
fn top_k_row(row: &[f32], k: usize) -> (Vec<i64>, Vec<f32>) {
    let mut top = TopK::new(k);
    let mut threshold = f32::NEG_INFINITY;
    for (j, &s) in row.iter().enumerate() {
        // Strictly below the k-th best cannot enter; NaN compares false and is offered.
        if s < threshold {
            continue;
        }
        top.offer(j as u32, s);
        threshold = top.threshold();
    }
    top.into_sorted()
        .into_iter()
        .map(|(j, _)| (i64::from(j), row[j as usize]))
        .unzip()
}

/// Divides every row by its L2 norm (rows of norm 0 stay 0).
pub fn l2_normalize_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

/// `out[i] = Σⱼ weight[i, j] · x[ids[i, j]]`: one aggregation over a fixed-fan-in graph.
/// `ids` has `n·fan` entries, `weight` is `[n, fan]`.
pub fn aggregate(x: Tensor<2>, ids: &Tensor<1, Int>, weight: Tensor<2>) -> Tensor<2> {
    let [n, fan] = weight.dims();
    let [_, dim] = x.dims();
    let rows: Tensor<3> = x.select(0, ids.clone()).reshape([n, fan, dim]);
    (rows * weight.unsqueeze_dim::<3>(2))
        .sum_dim(1)
        .reshape([n, dim])
}

/// The symmetric-normalised user-item graph Â = D^{-1/2} A D^{-1/2} over
/// `U + I` nodes (users first), as an edge list in both directions.
#[derive(Debug, Clone)]
pub struct BipartiteGraph {
    pub n_nodes: usize,
    /// Source node of each directed edge.
    pub src: Tensor<1, Int>,
    /// Destination node of each directed edge.
    pub dst: Tensor<1, Int>,
    /// `1/√(deg(src)·deg(dst))`, `[E, 1]`.
    pub weight: Tensor<2>,
    /// Â in CSR form (symmetric), when the CF stage runs fused ([`sparse::spmm`]).
    pub matrix: Option<Arc<SparseMatrix>>,
}

impl BipartiteGraph {
    /// The graph of the training interactions `train` (items per user); with `fused`,
    /// also as the CSR matrix of the fused products.
    pub fn new(train: &[Vec<u32>], n_items: usize, fused: bool, device: &Device) -> Self {
        let n_users = train.len();
        let mut degree = vec![0f32; n_users + n_items];
        for (u, items) in train.iter().enumerate() {
            degree[u] += items.len() as f32;
            for &i in items {
                degree[n_users + i as usize] += 1.0;
            }
        }
        let (mut src, mut dst, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for (u, items) in train.iter().enumerate() {
            for &i in items {
                let item_node = n_users + i as usize;
                let norm = 1.0 / (degree[u] * degree[item_node]).sqrt();
                src.extend([u as i64, item_node as i64]);
                dst.extend([item_node as i64, u as i64]);
                w.extend([norm, norm]);
            }
        }
        let n_edges = w.len();
        let n_nodes = n_users + n_items;
        let matrix = fused.then(|| {
            // Row = destination, column = source: (Â·x)[dst] = Σ w · x[src].
            let triplets: Vec<(u32, u32, f32)> = dst
                .iter()
                .zip(&src)
                .zip(&w)
                .map(|((&d, &s), &v)| (d as u32, s as u32, v))
                .collect();
            Arc::new(SparseMatrix::symmetric(Csr::from_triplets(
                n_nodes, n_nodes, &triplets,
            )))
        });
        Self {
            n_nodes,
            src: int_tensor(src, device),
            dst: int_tensor(dst, device),
            weight: float_tensor(w, [n_edges, 1], device),
            matrix,
        }
    }

    /// One propagation `Â·x`: the sparse operation where the device has it, else
    /// [`Self::propagate_dense`].
    pub fn propagate(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.matrix {
            Some(matrix) => sparse::spmm(x, matrix),
            None => self.propagate_dense(x),
        }
    }

    /// The reference `Â·x` from dense ops (segment sum of weighted source rows).
    pub fn propagate_dense(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, dim] = x.dims();
        let messages = x.clone().select(0, self.src.clone()) * self.weight.clone();
        Tensor::zeros([self.n_nodes, dim], &x.device()).select_assign(
            0,
            self.dst.clone(),
            messages,
            IndexingUpdateOp::Add,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_matches_brute_force_and_includes_self() {
        let device = Device::flex();
        let n = 37;
        let dim = 5;
        let values: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 23) as f32 - 11.0)
            .collect();
        let (ids, sims) = knn_cosine(float_tensor(values.clone(), [n, dim], &device), 4);
        let row = |i: usize| &values[i * dim..(i + 1) * dim];
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (na * nb)
        };
        for i in 0..n {
            let mut all: Vec<f32> = (0..n).map(|j| cos(row(i), row(j))).collect();
            all.sort_by(|a, b| b.total_cmp(a));
            for r in 0..4 {
                let j = ids[i * 4 + r] as usize;
                assert!((sims[i * 4 + r] - cos(row(i), row(j))).abs() < 1e-4);
                assert!((sims[i * 4 + r] - all[r]).abs() < 1e-4, "row {i} rank {r}");
            }
            assert!(
                (sims[i * 4] - 1.0).abs() < 1e-4,
                "self is the nearest neighbour"
            );
        }
    }

    /// Best first, ties to the lower index, NaN after every number, and fewer than `k`
    /// entries give them all.
    #[test]
    fn top_k_row_orders_ties_and_nan() {
        let row = [0.5, f32::NAN, 0.9, 0.5, -1.0, 0.9, 0.1];
        assert_eq!(top_k_row(&row, 3).0, vec![2, 5, 0]);
        assert_eq!(top_k_row(&row, 4).0, vec![2, 5, 0, 3]);
        let (ids, sims) = top_k_row(&row, 10);
        assert_eq!(ids, vec![2, 5, 0, 3, 6, 4, 1]);
        assert!(sims[6].is_nan());
        assert_eq!(&sims[..6], &[0.9, 0.9, 0.5, 0.5, 0.1, -1.0]);
    }

    #[test]
    fn bipartite_propagation_is_normalised_adjacency() {
        let device = Device::flex();
        let train = vec![vec![0u32, 1], vec![1]];
        let g = BipartiteGraph::new(&train, 2, true, &device);
        // nodes: u0, u1, i0, i1; degrees: u0 = 2, u1 = 1, i0 = 1, i1 = 2.
        let x = float_tensor(vec![1.0, 10.0, 100.0, 1000.0], [4, 1], &device);
        let y = to_f32(g.propagate(x));
        let s = |a: f32, b: f32| 1.0 / (a * b).sqrt();
        let expected = [
            100.0 * s(2.0, 1.0) + 1000.0 * s(2.0, 2.0),
            1000.0 * s(1.0, 2.0),
            1.0 * s(2.0, 1.0),
            1.0 * s(2.0, 2.0) + 10.0 * s(1.0, 2.0),
        ];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }
}
