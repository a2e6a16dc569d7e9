//! The compression and the batch's attention scores as burn operations
//! with hand-written backward passes, on burn's `flex` CPU backend (plain and under
//! autodiff).
//!
//! The operations are declared once as a burn backend extension
//! ([`SparseBackend`]), implemented for `Flex` and for `Autodiff<Flex>`, and called
//! through [`compress`] and [`attention_scores`] on ordinary `Tensor`s.
//! On other devices the model keeps the dense reference path in [`crate::model`],
//! and tests check the two against each other, values and gradients. (The graph
//! products, the item graphs, the batch's BPR scores and the MP loss, on every backend,
//! are in [`super::spmm`], [`super::lightgcn`], [`super::item_graph`], [`super::batch`]
//! and [`super::mp_loss`].)

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use mario_shared::matmul::{MatRef, matmul_par};

use super::kernels;
use crate::stage_clock::{self, Stage};

/// Sparse graph operations a backend can run natively.
#[backend_extension(Autodiff, Flex)]
pub trait SparseBackend: Backend {
    /// Eq. 1, `x·W` for features `x` `[I, dₘ]` and `W` `[dₘ, d]`, forward and
    /// backward (`∂W = xᵀ·g`) through [`matmul_par`]: blocks of rows in parallel, each
    /// one single-threaded product (at baby's shape 1.2× and 1.8× gemm's own threading).
    fn compress(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Eq. 5–7 fused: `u` `[B, d]`, `v` `[B, M, d]` → scores `[B]`.
    fn attention_scores(u: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The `f32` values of a flex tensor, in row-major order, and its shape.
pub(super) fn host(t: &FloatTensor<Flex>) -> (Vec<usize>, std::borrow::Cow<'_, [f32]>) {
    let shape = t.shape().to_vec();
    match t.as_slice::<f32>() {
        Some(values) => (shape, std::borrow::Cow::Borrowed(values)),
        None => {
            let values = t
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("sparse ops take f32 tensors");
            (shape, std::borrow::Cow::Owned(values))
        }
    }
}

pub(super) fn flex_tensor(
    values: Vec<f32>,
    shape: [usize; 2],
    like: &FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape), &like.device())
}

/// `a·b` as a flex tensor on `like`'s device, through [`matmul_par`] (row blocks in
/// parallel, the same bits for any thread count).
fn product(a: MatRef<'_>, b: MatRef<'_>, like: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let mut out = vec![0f32; a.rows() * b.cols()];
    matmul_par(a, b, &mut out);
    flex_tensor(out, [a.rows(), b.cols()], like)
}

impl SparseBackend for Flex {
    fn compress(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xs, xv) = host(&x);
        let (ws, wv) = host(&w);
        let lhs = MatRef::row_major(&xv, xs[0], xs[1]);
        product(lhs, MatRef::row_major(&wv, ws[0], ws[1]), &x)
    }

    fn attention_scores(u: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        attention_forward(&u, &v).0
    }
}

/// The scores `[B]` and the `∂r/∂sᵐ` their backward needs.
fn attention_forward(
    u: &FloatTensor<Flex>,
    v: &FloatTensor<Flex>,
) -> (FloatTensor<Flex>, Vec<f32>) {
    let (shape, uv) = host(u);
    let (vshape, vv) = host(v);
    let (m, d) = (vshape[1], shape[1]);
    let (scores, dscore) = kernels::attention_scores(
        kernels::BatchRows::contiguous(&uv, d),
        kernels::BatchRows::contiguous(&vv, m * d),
        m,
        d,
    );
    let out = Flex::float_from_data(TensorData::new(scores, [shape[0]]), &u.device());
    (out, dscore)
}

/// Backward of the compression: `∂W = xᵀ·g` (the features read in place through a
/// transposed view), `∂x = g·Wᵀ`.
#[derive(Debug)]
struct CompressBackward;

impl Backward<Flex, 2> for CompressBackward {
    /// (x, W).
    type State = (FloatTensor<Flex>, FloatTensor<Flex>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Compression);
        let [parent_x, parent_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, w) = ops.state;
        let (gs, gv) = host(&grad);
        let g = MatRef::row_major(&gv, gs[0], gs[1]);
        if let Some(node) = parent_x {
            let (ws, wv) = host(&w);
            let w_t = MatRef::row_major(&wv, ws[0], ws[1]).t();
            grads.register::<Flex>(node.id, product(g, w_t, &grad));
        }
        if let Some(node) = parent_w {
            let (xs, xv) = host(&x);
            let x_t = MatRef::row_major(&xv, xs[0], xs[1]).t();
            grads.register::<Flex>(node.id, product(x_t, g, &grad));
        }
    }
}

/// Backward of the fused attention scores.
#[derive(Debug)]
struct AttentionScoresBackward;

impl Backward<Flex, 2> for AttentionScoresBackward {
    /// (u, v, ∂r/∂s per (b, m)).
    type State = (FloatTensor<Flex>, FloatTensor<Flex>, Arc<Vec<f32>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Bpr);
        let [parent_u, parent_v] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (u, v, dscore) = ops.state;
        let (ushape, uv) = host(&u);
        let (vshape, vv) = host(&v);
        let (_, g) = host(&grad);
        let (m, d) = (vshape[1], ushape[1]);
        let (gu, gv) = kernels::attention_scores_grad(&uv, &vv, &dscore, &g, m, d);
        if let Some(node) = parent_u {
            grads.register::<Flex>(node.id, flex_tensor(gu, [ushape[0], d], &grad));
        }
        if let Some(node) = parent_v {
            let data = TensorData::new(gv, [vshape[0], m, d]);
            grads.register::<Flex>(node.id, Flex::float_from_data(data, &grad.device()));
        }
    }
}

/// Finishes recording an operation whose output `out` was computed once from the
/// inputs: with its backward `state` when an input needs a gradient, else as a constant.
pub(super) fn record<B, BO, S, C, const N: usize>(
    kind: OpsKind<BO, B, S, C, N>,
    state: S,
    out: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    S: Clone + Send + std::fmt::Debug + 'static,
    BO: Backward<B, N, State = S>,
{
    match kind {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

// Each operation takes its input nodes first (`prepare`), then consumes the
// primitives, computes the forward once and records it with [`record`].
impl<C: CheckpointStrategy> SparseBackend for Autodiff<Flex, C> {
    fn compress(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Compression);
        let kind = CompressBackward
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful();
        let (xp, wp) = (x.into_primitive(), w.into_primitive());
        let out = Flex::compress(xp.clone(), wp.clone());
        record(kind, (xp, wp), out)
    }

    fn attention_scores(u: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Bpr);
        let kind = AttentionScoresBackward
            .prepare::<C>([u.node(), v.node()])
            .compute_bound()
            .stateful();
        let (up, vp) = (u.into_primitive(), v.into_primitive());
        let (out, dscore) = attention_forward(&up, &vp);
        record(kind, (up, vp, Arc::new(dscore)), out)
    }
}

/// Eq. 1 on flex tensors (see [`SparseBackend::compress`]).
pub fn compress(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as SparseBackend>::compress(
        x.into_dispatch(),
        w.into_dispatch(),
    ))
}

/// Eq. 5–7 for a batch on flex tensors: `u` `[B, d]`, `v` `[B, M, d]` → `[B]`.
pub fn attention_scores(u: Tensor<2>, v: Tensor<3>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SparseBackend>::attention_scores(
        u.into_dispatch(),
        v.into_dispatch(),
    ))
}
