//! The fused operations' kernels on burn's CubeCL backend: one CubeCL source per
//! kernel ([`kernels`]) for every runtime it compiles to (wgpu: Vulkan, Metal, DX12;
//! CUDA), the graphs uploaded once ([`DeviceCsr`]), and the [`GraphKernels`] of
//! `CubeBackend`, which the autodiff bookkeeping in [`super::spmm`] and
//! [`super::lightgcn`] shares with flex.

mod adam;
mod batch;
mod csr;
mod item_graph;
mod item_graph_kernels;
mod kernels;
mod launch;
mod mp_loss;
#[cfg(test)]
mod tests;
mod top_k;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Scalar, TensorMetadata};
use burn::tensor::Slice;
use burn_cubecl::CubeBackend;

pub use adam::adam_step;
pub use csr::DeviceCsr;
pub use item_graph::DeviceMixedGraph;
pub use top_k::top_k;

use super::lightgcn::LightGcnGraph;
use super::spmm::{GraphKernels, SparseMatrix};

/// Whether `device` is a CubeCL device (wgpu, CUDA), plain or under autodiff.
pub fn is_cube(device: &burn::tensor::Device) -> bool {
    fn cube(device: &burn::backend::DispatchDevice) -> bool {
        match device {
            burn::backend::DispatchDevice::Cube(_) => true,
            burn::backend::DispatchDevice::Autodiff(inner) => cube(inner),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
    cube(device.as_dispatch())
}

/// `t / divisor`.
fn divided(t: FloatTensor<CubeBackend>, divisor: f32) -> FloatTensor<CubeBackend> {
    let dtype = t.dtype();
    CubeBackend::float_div_scalar(t, Scalar::new(divisor, &dtype))
}

/// The rows `rows` of `t` (`[n, d]`).
fn row_range(
    t: FloatTensor<CubeBackend>,
    rows: std::ops::Range<usize>,
) -> FloatTensor<CubeBackend> {
    let slices = [
        Slice::new(rows.start as isize, Some(rows.end as isize), 1),
        Slice::from(..),
    ];
    CubeBackend::float_slice(t, &slices)
}

impl GraphKernels for CubeBackend {
    fn csr_product(
        x: FloatTensor<Self>,
        matrix: &SparseMatrix,
        transposed: bool,
    ) -> FloatTensor<Self> {
        let csr = matrix.on_device(&x.device, transposed);
        let n = csr.n_rows;
        csr.matmul_add(x, None, 1.0, 0..n)
    }

    /// The same steps as flex's: L − 1 products each added to the sum, the last
    /// product, addition and division one launch.
    fn lightgcn_readout(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        graph: &LightGcnGraph,
    ) -> FloatTensor<Self> {
        assert_eq!(
            users.shape()[1],
            items.shape()[1],
            "lightgcn: users and items differ in width"
        );
        let mut sum = Self::float_cat(vec![users, items], 0);
        if graph.layers == 0 {
            return sum;
        }
        let csr = graph.matrix.on_device(&sum.device, false);
        let n = csr.n_rows;
        let mut layer: Option<FloatTensor<Self>> = None;
        for _ in 1..graph.layers {
            let next = csr.matmul_add(layer.unwrap_or_else(|| sum.clone()), None, 1.0, 0..n);
            sum = Self::float_add(sum, next.clone());
            layer = Some(next);
        }
        let last = layer.unwrap_or_else(|| sum.clone());
        csr.matmul_add(last, Some(sum), graph.layers as f32 + 1.0, 0..n)
    }

    /// Horner's rule as on flex: `q = g / (L + 1)`, then `acc ← Âᵀacc + q` one launch
    /// per layer, the last written as the users' and the items' rows.
    fn lightgcn_readout_backward(
        g: FloatTensor<Self>,
        n_users: usize,
        graph: &LightGcnGraph,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let n = g.shape()[0];
        let q = divided(g, graph.layers as f32 + 1.0);
        if graph.layers == 0 {
            return (row_range(q.clone(), 0..n_users), row_range(q, n_users..n));
        }
        let transpose = graph.matrix.on_device(&q.device, true);
        let mut acc: Option<FloatTensor<Self>> = None;
        for _ in 1..graph.layers {
            let x = acc.unwrap_or_else(|| q.clone());
            acc = Some(transpose.matmul_add(x, Some(q.clone()), 1.0, 0..n));
        }
        let acc = acc.unwrap_or_else(|| q.clone());
        let users = transpose.matmul_add(acc.clone(), Some(q.clone()), 1.0, 0..n_users);
        let items = transpose.matmul_add(acc, Some(q), 1.0, n_users..n);
        (users, items)
    }
}
