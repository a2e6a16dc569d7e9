//! The item graphs' operation (Eq. 2–4 and the L layers, `sparse::item_graph`) on a
//! CubeCL device: the same passes as flex's, each one launch, over the mixed graph
//! uploaded once per rebuild of the learnt neighbours ([`DeviceMixedGraph`]).
//!
//! Forward: the unit rows and norms; the cosines, mixed weights and degrees; `Ḡ`; one
//! [`kernels::fan_sum`] per layer. Backward: per layer from the last the weights'
//! gradient ([`kernels::fan_dots`], summed over layers) and `Ḡᵀ·∂h`; the cosines'
//! gradient through the degrees; the last pass writes each row of `∂x` once.

use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::item_graph_kernels as kernels;
use super::launch::{elementwise as launch_dims, upload_u32 as upload, vectors};
use std::sync::Arc;

use burn::backend::tensor::FloatTensor;

use crate::sparse::{FanIndex, ItemGraphKernels, MixedGraph};

fn offsets(values: &[usize]) -> Vec<u32> {
    values
        .iter()
        .map(|&o| u32::try_from(o).expect("item graph: fewer than 2^32 edges"))
        .collect()
}

/// A [`FanIndex`] on a device: its ids and its reverse index.
#[derive(Debug, Clone)]
struct DeviceFan {
    fan: usize,
    ids: CubeTensor,
    rev_ptr: CubeTensor,
    rev_edges: CubeTensor,
}

impl DeviceFan {
    fn upload(index: &FanIndex, device: &cubecl::Device) -> Self {
        Self {
            fan: index.fan,
            ids: upload(&index.ids, device),
            rev_ptr: upload(&offsets(&index.rev_ptr), device),
            rev_edges: upload(&index.rev_edges, device),
        }
    }
}

/// A [`MixedGraph`] on a device.
#[derive(Debug, Clone)]
pub struct DeviceMixedGraph {
    n_rows: usize,
    raw_weight: CubeTensor,
    learnt: DeviceFan,
    all: DeviceFan,
    lambda: f32,
}

impl DeviceMixedGraph {
    pub fn upload(graph: &MixedGraph, device: &cubecl::Device) -> Self {
        let raw = if graph.raw_weight.is_empty() {
            vec![0.0]
        } else {
            graph.raw_weight.clone()
        };
        let n_raw = raw.len();
        Self {
            n_rows: graph.all.n_rows,
            raw_weight: CubeBackend::float_from_data(TensorData::new(raw, [n_raw]), device),
            learnt: DeviceFan::upload(&graph.learnt, device),
            all: DeviceFan::upload(&graph.all, device),
            lambda: graph.lambda,
        }
    }

    fn k_raw(&self) -> usize {
        self.all.fan - self.learnt.fan
    }
}

/// What the backward reads: the weights' forward values, `x` and `h_1 … h_{L−1}`.
#[derive(Debug, Clone)]
pub struct DeviceItemGraphState {
    graph: DeviceMixedGraph,
    norms: CubeTensor,
    norm_clamped: CubeTensor,
    unit: CubeTensor,
    cos: CubeTensor,
    weight: CubeTensor,
    inv_sqrt_degree: CubeTensor,
    degree_clamped: CubeTensor,
    gbar: CubeTensor,
    /// `h_0 = x, h_1, …, h_{L−1}`.
    inputs: Vec<CubeTensor>,
}

/// A function that allocates contiguous tensors on `like`'s device, of its type (a
/// shape with no element as one element: a binding needs a buffer).
fn empty_like(like: &CubeTensor) -> impl Fn(Vec<usize>) -> CubeTensor + use<> {
    let (client, device, dtype) = (like.client.clone(), like.device.clone(), like.dtype);
    move |shape: Vec<usize>| {
        let shape = if shape.iter().product::<usize>() == 0 {
            vec![1]
        } else {
            shape
        };
        empty_device_contiguous_dtype(client.clone(), device.clone(), Shape::from(shape), dtype)
    }
}

fn u32_of(v: usize) -> u32 {
    u32::try_from(v).expect("item graph: sizes fit u32")
}

/// `h_L` and the backward's state, for `layers` ≥ 1.
pub fn forward(
    x: CubeTensor,
    graph: &DeviceMixedGraph,
    layers: usize,
) -> (CubeTensor, DeviceItemGraphState) {
    let x = into_contiguous(x);
    let [n, d] = [x.meta.shape()[0], x.meta.shape()[1]];
    assert_eq!(
        n, graph.n_rows,
        "item graph: x has {n} rows, the graph {}",
        graph.n_rows
    );
    let client = x.client.clone();
    let empty = empty_like(&x);
    let (k_raw, k_learnt, fan) = (graph.k_raw(), graph.learnt.fan, graph.all.fan);
    let (norms, norm_clamped, unit) = (empty(vec![n]), empty(vec![n]), empty(vec![n, d]));
    let (count, dim) = launch_dims(&client, n);
    kernels::unit_rows::launch(
        &client,
        count.clone(),
        dim,
        x.clone().into_tensor_arg(),
        norms.clone().into_tensor_arg(),
        norm_clamped.clone().into_tensor_arg(),
        unit.clone().into_tensor_arg(),
    );
    let (cos, weight) = (empty(vec![n * k_learnt]), empty(vec![n * fan]));
    let (inv_sqrt_degree, degree_clamped) = (empty(vec![n]), empty(vec![n]));
    kernels::mixed_weights::launch(
        &client,
        count,
        dim,
        unit.clone().into_tensor_arg(),
        graph.learnt.ids.clone().into_tensor_arg(),
        graph.raw_weight.clone().into_tensor_arg(),
        cos.clone().into_tensor_arg(),
        weight.clone().into_tensor_arg(),
        inv_sqrt_degree.clone().into_tensor_arg(),
        degree_clamped.clone().into_tensor_arg(),
        u32_of(k_raw),
        u32_of(k_learnt),
        graph.lambda,
    );
    let gbar = empty(vec![n * fan]);
    let (count, dim) = launch_dims(&client, n * fan);
    kernels::normalised_weights::launch(
        &client,
        count,
        dim,
        weight.clone().into_tensor_arg(),
        inv_sqrt_degree.clone().into_tensor_arg(),
        graph.all.ids.clone().into_tensor_arg(),
        gbar.clone().into_tensor_arg(),
        u32_of(fan),
    );
    let mut inputs = vec![x];
    let mut h = None;
    for _ in 0..layers.max(1) {
        let input = h.take().unwrap_or_else(|| inputs[0].clone());
        let next = empty(vec![n, d]);
        let (vector, units) = vectors(n, d);
        let (count, dim) = launch_dims(&client, units);
        kernels::fan_sum::launch(
            &client,
            count,
            dim,
            vector,
            input.into_tensor_arg(),
            graph.all.ids.clone().into_tensor_arg(),
            gbar.clone().into_tensor_arg(),
            next.clone().into_tensor_arg(),
            u32_of(units),
            u32_of(d / vector),
            u32_of(fan),
        );
        // h_1 … h_{L−1} are kept for the backward.
        if inputs.len() < layers {
            inputs.push(next.clone());
        }
        h = Some(next);
    }
    let out = h.expect("at least one layer");
    let state = DeviceItemGraphState {
        graph: graph.clone(),
        norms,
        norm_clamped,
        unit,
        cos,
        weight,
        inv_sqrt_degree,
        degree_clamped,
        gbar,
        inputs,
    };
    (out, state)
}

/// `∂x` for `g = ∂L/∂h_L`.
pub fn backward(g: CubeTensor, s: &DeviceItemGraphState) -> CubeTensor {
    let g = into_contiguous(g);
    let graph = &s.graph;
    let [n, d] = [g.meta.shape()[0], g.meta.shape()[1]];
    let client = g.client.clone();
    let empty = empty_like(&g);
    let (k_raw, k_learnt, fan) = (graph.k_raw(), graph.learnt.fan, graph.all.fan);
    // Layer by layer from the last: ∂Ḡ += ∂h_l · h_{l−1}[ids], ∂h_{l−1} = Ḡᵀ·∂h_l (the
    // first layer's Ḡᵀ·∂h₁ is left to the last pass).
    let mut d_h = g;
    let mut d_gbar: Option<CubeTensor> = None;
    for (l, input) in s.inputs.iter().enumerate().rev() {
        let out = empty(vec![n * fan]);
        let (count, dim) = launch_dims(&client, n * fan);
        let accumulate = d_gbar.is_some();
        let prev = d_gbar.take().unwrap_or_else(|| out.clone());
        kernels::fan_dots::launch(
            &client,
            count,
            dim,
            d_h.clone().into_tensor_arg(),
            input.clone().into_tensor_arg(),
            graph.all.ids.clone().into_tensor_arg(),
            prev.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            u32_of(fan),
            accumulate,
        );
        d_gbar = Some(out);
        if l > 0 {
            let next = empty(vec![n, d]);
            let (vector, units) = vectors(n, d);
            let (count, dim) = launch_dims(&client, units);
            kernels::fan_sum_transposed::launch(
                &client,
                count,
                dim,
                vector,
                d_h.into_tensor_arg(),
                s.gbar.clone().into_tensor_arg(),
                graph.all.rev_ptr.clone().into_tensor_arg(),
                graph.all.rev_edges.clone().into_tensor_arg(),
                next.clone().into_tensor_arg(),
                u32_of(units),
                u32_of(d / vector),
                u32_of(fan),
            );
            d_h = next;
        }
    }
    let d_gbar = d_gbar.expect("at least one layer");
    let d_cos = empty(vec![n * k_learnt]);
    let (count, dim) = launch_dims(&client, n);
    kernels::cosine_grads::launch(
        &client,
        count.clone(),
        dim,
        d_gbar.into_tensor_arg(),
        s.weight.clone().into_tensor_arg(),
        s.inv_sqrt_degree.clone().into_tensor_arg(),
        s.degree_clamped.clone().into_tensor_arg(),
        s.cos.clone().into_tensor_arg(),
        graph.all.ids.clone().into_tensor_arg(),
        graph.all.rev_ptr.clone().into_tensor_arg(),
        graph.all.rev_edges.clone().into_tensor_arg(),
        d_cos.clone().into_tensor_arg(),
        u32_of(k_raw),
        u32_of(k_learnt),
        graph.lambda,
    );
    let (d_unit, first) = (empty(vec![n, d]), empty(vec![n, d]));
    let (vector, units) = vectors(n, d);
    let (parts_count, parts_dim) = launch_dims(&client, units);
    kernels::input_grad_parts::launch(
        &client,
        parts_count,
        parts_dim,
        vector,
        d_cos.into_tensor_arg(),
        s.unit.clone().into_tensor_arg(),
        graph.learnt.ids.clone().into_tensor_arg(),
        graph.learnt.rev_ptr.clone().into_tensor_arg(),
        graph.learnt.rev_edges.clone().into_tensor_arg(),
        s.gbar.clone().into_tensor_arg(),
        d_h.into_tensor_arg(),
        graph.all.rev_ptr.clone().into_tensor_arg(),
        graph.all.rev_edges.clone().into_tensor_arg(),
        d_unit.clone().into_tensor_arg(),
        first.clone().into_tensor_arg(),
        u32_of(units),
        u32_of(d / vector),
        u32_of(k_learnt),
        u32_of(fan),
    );
    let d_x = empty(vec![n, d]);
    kernels::input_grad_finish::launch(
        &client,
        count,
        dim,
        d_unit.into_tensor_arg(),
        first.into_tensor_arg(),
        s.unit.clone().into_tensor_arg(),
        s.norms.clone().into_tensor_arg(),
        s.norm_clamped.clone().into_tensor_arg(),
        d_x.clone().into_tensor_arg(),
    );
    d_x
}

impl ItemGraphKernels for CubeBackend {
    type State = DeviceItemGraphState;

    fn embeddings_forward(
        x: FloatTensor<Self>,
        graph: &Arc<MixedGraph>,
        layers: usize,
    ) -> (FloatTensor<Self>, DeviceItemGraphState) {
        let on_device = graph.on_device(&x.device);
        forward(x, &on_device, layers)
    }

    fn embeddings_backward(g: FloatTensor<Self>, state: DeviceItemGraphState) -> FloatTensor<Self> {
        backward(g, &state)
    }
}
