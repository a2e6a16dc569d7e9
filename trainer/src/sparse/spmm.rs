//! The user-item graph's product `Â·x` as a burn operation on every backend that has
//! graph kernels ([`GraphKernels`]: flex's host kernels, the CubeCL kernels of
//! [`super::cube`] on wgpu and CUDA), with one backward for all of them.
//!
//! burn has no sparse tensors: expressed with dense ops, one propagation over a graph
//! of `E` edges materialises an `[E, d]` message tensor forward and another backward.
//! Here the product is one pass over the edges that writes only its `[n, d]` output,
//! and its backward is the same kind of pass with the transpose (`Aᵀ·g`).

use std::sync::{Arc, OnceLock};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use super::cube::DeviceCsr;
use super::kernels::Csr;
use super::lightgcn::LightGcnGraph;
use super::ops::{flex_tensor, host};
use crate::stage_clock::{self, Stage};

/// A sparse matrix and its transpose, for `A·x` forward and `Aᵀ·g` backward, and
/// their copies on a CubeCL device once a product has run there.
#[derive(Debug)]
pub struct SparseMatrix {
    pub forward: Csr,
    /// `None` when the matrix is symmetric (the backward reuses `forward`).
    pub transpose: Option<Csr>,
    /// `forward` and `transpose` uploaded to the device of the first product on one.
    on_device: OnceLock<(cubecl::Device, DeviceCsr, Option<DeviceCsr>)>,
}

impl SparseMatrix {
    /// A matrix and its transpose.
    pub fn new(forward: Csr, transpose: Csr) -> Self {
        Self {
            forward,
            transpose: Some(transpose),
            on_device: OnceLock::new(),
        }
    }

    /// A symmetric matrix: its transpose is itself.
    pub fn symmetric(matrix: Csr) -> Self {
        Self {
            forward: matrix,
            transpose: None,
            on_device: OnceLock::new(),
        }
    }

    pub(super) fn backward(&self) -> &Csr {
        self.transpose.as_ref().unwrap_or(&self.forward)
    }

    /// The matrix (`transposed`: its transpose) on `device`, uploaded on first use;
    /// a second device gets a copy of its own each call.
    pub(super) fn on_device(&self, device: &cubecl::Device, transposed: bool) -> DeviceCsr {
        let upload = || {
            let forward = DeviceCsr::upload(&self.forward, device);
            let transpose = self
                .transpose
                .as_ref()
                .map(|t| DeviceCsr::upload(t, device));
            (device.clone(), forward, transpose)
        };
        let cached = self.on_device.get_or_init(upload);
        let pick = |(_, forward, transpose): &(cubecl::Device, DeviceCsr, Option<DeviceCsr>)| match (
            transposed, transpose,
        ) {
            (true, Some(t)) => t.clone(),
            _ => forward.clone(),
        };
        if &cached.0 == device {
            pick(cached)
        } else {
            pick(&upload())
        }
    }
}

/// The graph kernels a backend supplies, forward and backward; the autodiff
/// bookkeeping around them is written once ([`SpmmBackend`] and
/// [`super::LightGcnBackend`] for `Autodiff<B>`).
pub trait GraphKernels: Backend {
    /// `A·x` (`transposed`: `Aᵀ·x`), `x` `[n_cols, d]` (`[n_rows, d]`).
    fn csr_product(
        x: FloatTensor<Self>,
        matrix: &SparseMatrix,
        transposed: bool,
    ) -> FloatTensor<Self>;
    /// LightGCN's readout `mean(E⁰, ÂE⁰, …, Â^L E⁰)` (`[U + I, d]`) for
    /// `E⁰ = [users; items]`.
    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: &LightGcnGraph,
    ) -> FloatTensor<Self>;
    /// The readout's backward for `g = ∂L/∂E` (`[U + I, d]`): `(∂users, ∂items)`.
    fn lightgcn_readout_backward(
        g: FloatTensor<Self>,
        n_users: usize,
        graph: &LightGcnGraph,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// The product operation a backend can run natively.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait SpmmBackend: Backend {
    /// `A·x`: `x` is `[n_cols, d]`, the result `[n_rows, d]`.
    fn spmm(x: FloatTensor<Self>, matrix: Arc<SparseMatrix>) -> FloatTensor<Self>;
}

impl GraphKernels for Flex {
    fn csr_product(
        x: FloatTensor<Self>,
        matrix: &SparseMatrix,
        transposed: bool,
    ) -> FloatTensor<Self> {
        let (shape, values) = host(&x);
        let csr = if transposed {
            matrix.backward()
        } else {
            &matrix.forward
        };
        let out = csr.matmul(&values, shape[1]);
        flex_tensor(out, [csr.n_rows, shape[1]], &x)
    }

    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: &LightGcnGraph,
    ) -> FloatTensor<Self> {
        super::lightgcn::flex_readout(users, items, graph)
    }

    fn lightgcn_readout_backward(
        g: FloatTensor<Self>,
        n_users: usize,
        graph: &LightGcnGraph,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        super::lightgcn::flex_readout_backward(g, n_users, graph)
    }
}

/// Every backend with graph kernels (flex, CubeCL) runs the product without autodiff
/// through them.
impl<B: GraphKernels> SpmmBackend for B {
    fn spmm(x: FloatTensor<Self>, matrix: Arc<SparseMatrix>) -> FloatTensor<Self> {
        Self::csr_product(x, &matrix, false)
    }
}

/// Backward of `A·x`: `∂x = Aᵀ·g`.
#[derive(Debug)]
struct SpmmBackward;

impl<B: GraphKernels> Backward<B, 1> for SpmmBackward {
    type State = Arc<SparseMatrix>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Cf);
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            grads.register::<B>(node.id, B::csr_product(grad, &ops.state, true));
        }
    }
}

impl<B: GraphKernels, C: CheckpointStrategy> SpmmBackend for Autodiff<B, C> {
    fn spmm(x: FloatTensor<Self>, matrix: Arc<SparseMatrix>) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Cf);
        let kind = SpmmBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let out = B::csr_product(x.into_primitive(), &matrix, false);
        super::ops::record(kind, matrix, out)
    }
}

/// `A·x` on any device with graph kernels (plain or autodiff).
pub fn spmm(x: Tensor<2>, matrix: &Arc<SparseMatrix>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as SpmmBackend>::spmm(
        x.into_dispatch(),
        matrix.clone(),
    ))
}
