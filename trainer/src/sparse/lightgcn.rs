//! LightGCN's readout over the user-item graph as one operation with its own
//! backward: `E = mean(E⁰, ÂE⁰, …, Â^L E⁰)` for the ego table `E⁰ = [users; items]`.
//! The backward's bookkeeping is written once for every backend; the kernels are each
//! backend's [`GraphKernels`] (below, flex's host passes; [`super::cube`] the same
//! steps as CubeCL launches).
//!
//! Through burn's ops the readout is a concatenation, L products, L additions, a
//! division and, backward, as many again plus the concatenation's split — each a
//! table-sized tensor. Here the forward is L CSR products ([`Csr::matmul`]) summed
//! in place, the last one added and divided in its own pass
//! ([`Csr::matmul_add`]), and the backward is Horner's rule on the same
//! products, `∂E⁰ = Σₗ (Âᵀ)ˡ q = q + Âᵀ(q + Âᵀ(q + …))` with `q = ∂E / (L + 1)`,
//! each `Âᵀacc + q` one pass, the last written straight into the users' and the
//! items' gradients.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::ops::{flex_tensor, host, record};
use super::spmm::{GraphKernels, SparseMatrix};
use super::table::par_blocks;
use crate::stage_clock::{self, Stage};

/// The normalised user-item adjacency `Â` (users first) and the number of layers.
#[derive(Debug)]
pub struct LightGcnGraph {
    pub matrix: Arc<SparseMatrix>,
    pub layers: usize,
}

/// The readout operation a backend can run natively.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait LightGcnBackend: Backend {
    /// `mean(E⁰, ÂE⁰, …, Â^L E⁰)` (`[U + I, d]`) for `E⁰ = [users; items]`.
    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: Arc<LightGcnGraph>,
    ) -> FloatTensor<Self>;
}

/// Elements per rayon task of the table-wide additions.
const CHUNK: usize = 1 << 14;

/// `acc += x`, element by element, in parallel.
fn add_assign(acc: &mut [f32], x: &[f32]) {
    acc.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(a, x)| a.iter_mut().zip(x).for_each(|(a, &x)| *a += x));
}

fn forward(users: &[f32], items: &[f32], d: usize, graph: &LightGcnGraph) -> Vec<f32> {
    let mut sum = Vec::with_capacity(users.len() + items.len());
    sum.extend_from_slice(users);
    sum.extend_from_slice(items);
    if graph.layers == 0 {
        return sum;
    }
    // `sum` holds E⁰ + … + Eˡ; `layer` is Eˡ once l ≥ 1 (before that, E⁰ is `sum`).
    let mut layer: Option<Vec<f32>> = None;
    for _ in 1..graph.layers {
        let next = graph
            .matrix
            .forward
            .matmul(layer.as_deref().unwrap_or(&sum), d);
        add_assign(&mut sum, &next);
        layer = Some(next);
    }
    // The last layer, added to the sum and divided by L + 1 in the same pass.
    let matrix = &graph.matrix.forward;
    matrix.matmul_add(
        layer.as_deref().unwrap_or(&sum),
        d,
        &sum,
        graph.layers as f32 + 1.0,
        0..matrix.n_rows,
    )
}

/// `(∂users, ∂items)` for `g = ∂L/∂E` (`[U + I, d]`) by Horner's rule, each layer's
/// `Âᵀacc + q` one pass, the last written straight into the two tables.
fn backward(g: &[f32], d: usize, n_users: usize, graph: &LightGcnGraph) -> (Vec<f32>, Vec<f32>) {
    let layers = graph.layers as f32 + 1.0;
    // In vectorised blocks: an element-wise `par_iter` collect took about twice as
    // long (demo: 2.3–2.9 ms an epoch against 1.2–1.3).
    let mut q = par_blocks(g.len(), CHUNK, |block, out| {
        for (o, &x) in out.iter_mut().zip(&g[block * CHUNK..]) {
            *o = x / layers;
        }
    });
    if graph.layers == 0 {
        let items = q.split_off(n_users * d);
        return (q, items);
    }
    let transpose = graph.matrix.backward();
    let n = transpose.n_rows;
    let mut acc: Option<Vec<f32>> = None;
    for _ in 1..graph.layers {
        acc = Some(transpose.matmul_add(acc.as_deref().unwrap_or(&q), d, &q, 1.0, 0..n));
    }
    let acc = acc.as_deref().unwrap_or(&q);
    let users = transpose.matmul_add(acc, d, &q, 1.0, 0..n_users);
    let items = transpose.matmul_add(acc, d, &q, 1.0, n_users..n);
    (users, items)
}

/// The readout on flex (see [`GraphKernels::lightgcn_readout`]).
pub(super) fn flex_readout(
    users: FloatTensor<Flex>,
    items: FloatTensor<Flex>,
    graph: &LightGcnGraph,
) -> FloatTensor<Flex> {
    let (us, uv) = host(&users);
    let (is, iv) = host(&items);
    assert_eq!(us[1], is[1], "lightgcn: users and items differ in width");
    let out = forward(&uv, &iv, us[1], graph);
    flex_tensor(out, [us[0] + is[0], us[1]], &users)
}

/// The readout's backward on flex (see [`GraphKernels::lightgcn_readout_backward`]).
pub(super) fn flex_readout_backward(
    grad: FloatTensor<Flex>,
    n_users: usize,
    graph: &LightGcnGraph,
) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
    let (shape, g) = host(&grad);
    let d = shape[1];
    let (users, items) = backward(&g, d, n_users, graph);
    let rows = shape[0] - n_users;
    (
        flex_tensor(users, [n_users, d], &grad),
        flex_tensor(items, [rows, d], &grad),
    )
}

/// Every backend with graph kernels (flex, CubeCL) runs the readout without autodiff
/// through them.
impl<B: GraphKernels> LightGcnBackend for B {
    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: Arc<LightGcnGraph>,
    ) -> FloatTensor<Self> {
        <Self as GraphKernels>::lightgcn_readout(users, items, &graph)
    }
}

#[derive(Debug)]
struct LightGcnReadoutBackward;

impl<B: GraphKernels> Backward<B, 2> for LightGcnReadoutBackward {
    /// (graph, users' rows).
    type State = (Arc<LightGcnGraph>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Cf);
        let [parent_users, parent_items] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (graph, n_users) = ops.state;
        let (users, items) = B::lightgcn_readout_backward(grad, n_users, &graph);
        if let Some(node) = parent_users {
            grads.register::<B>(node.id, users);
        }
        if let Some(node) = parent_items {
            grads.register::<B>(node.id, items);
        }
    }
}

impl<B: GraphKernels, C: CheckpointStrategy> LightGcnBackend for Autodiff<B, C> {
    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: Arc<LightGcnGraph>,
    ) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Cf);
        let kind = LightGcnReadoutBackward
            .prepare::<C>([users.node(), items.node()])
            .compute_bound()
            .stateful();
        let (up, ip) = (users.into_primitive(), items.into_primitive());
        let n_users = up.shape()[0];
        let out = B::lightgcn_readout(up, ip, &graph);
        record(kind, (graph, n_users), out)
    }
}

/// LightGCN's readout on any device with graph kernels (see [`LightGcnBackend::lightgcn_readout`]):
/// users `[U, d]`, items `[I, d]` → `[U + I, d]`.
pub fn lightgcn_readout(
    users: Tensor<2>,
    items: Tensor<2>,
    graph: &Arc<LightGcnGraph>,
) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as LightGcnBackend>::lightgcn_readout(
        users.into_dispatch(),
        items.into_dispatch(),
        graph.clone(),
    ))
}
