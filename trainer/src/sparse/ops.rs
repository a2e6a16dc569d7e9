//! The compression, the batch's attention scores and the MP loss as burn operations
//! with hand-written backward passes, on burn's `flex` CPU backend (plain and under
//! autodiff).
//!
//! The operations are declared once as a burn backend extension
//! ([`SparseBackend`]), implemented for `Flex` and for `Autodiff<Flex>`, and called
//! through [`compress`], [`attention_scores`] and [`mp_loss`] on ordinary `Tensor`s.
//! On other devices the model keeps the dense reference path in [`crate::model`],
//! and tests check the two against each other, values and gradients. (The graph
//! products, on every backend, are in [`super::spmm`] and [`super::lightgcn`].)

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
use super::mp::MpRows;
use super::table::{gather_rows, scatter_distinct_rows};
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
    /// Eq. 8 + 10 fused for one modality: decode the rows `first_row + rows.ids`
    /// (distinct) of `table` (`[I, d]`, or the modalities' tables stacked along rows,
    /// read in place of a burn `select` or `narrow`, whose backward is a serial scatter)
    /// with `decoder` (`[d, dₘ]`) and return `[1]`, the weighted mean absolute error
    /// against the rows `rows.ids` of `target` (`[I, dₘ]`, a constant).
    fn mp_loss(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: FloatTensor<Self>,
        rows: Arc<MpRows>,
        first_row: usize,
    ) -> FloatTensor<Self>;
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

    fn mp_loss(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: FloatTensor<Self>,
        rows: Arc<MpRows>,
        first_row: usize,
    ) -> FloatTensor<Self> {
        mp_forward(table, decoder, &target, &rows, first_row)
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

/// The rows of the decoded table that `rows` names: `first_row + rows.ids`.
fn table_rows(rows: &MpRows, first_row: usize) -> std::borrow::Cow<'_, [u32]> {
    if first_row == 0 {
        return std::borrow::Cow::Borrowed(&rows.ids);
    }
    let shift = u32::try_from(first_row).expect("mp: table rows fit u32");
    std::borrow::Cow::Owned(rows.ids.iter().map(|&i| i + shift).collect())
}

/// The MP loss `[1]`, decoding the rows `first_row + rows.ids` of `table`.
fn mp_forward(
    table: FloatTensor<Flex>,
    decoder: FloatTensor<Flex>,
    target: &FloatTensor<Flex>,
    rows: &MpRows,
    first_row: usize,
) -> FloatTensor<Flex> {
    let device = table.device();
    let (shape, values) = host(&table);
    let code = gather_rows(&values, shape[1], &table_rows(rows, first_row));
    let (dec_shape, dec) = host(&decoder);
    let (_, tgt) = host(target);
    let (loss, _) = rows.decode_loss(&code, &dec, &tgt, shape[1], dec_shape[1]);
    Flex::float_from_data(TensorData::new(vec![loss as f32], [1]), &device)
}

/// The MP loss `[1]` and what its backward needs, in one pass
/// ([`MpRows::decode_loss_with_grad`]).
fn mp_forward_with_grad(
    table: &FloatTensor<Flex>,
    decoder: &FloatTensor<Flex>,
    target: &FloatTensor<Flex>,
    rows: &MpRows,
    first_row: usize,
) -> (FloatTensor<Flex>, MpGradients) {
    let (shape, values) = host(table);
    let [n_rows, d] = [shape[0], shape[1]];
    let table_rows = table_rows(rows, first_row).into_owned();
    let code = gather_rows(&values, d, &table_rows);
    let (dec_shape, dec) = host(decoder);
    let (_, tgt) = host(target);
    let dm = dec_shape[1];
    let fused = rows.decode_loss_with_grad(&code, &dec, &tgt, d, dm);
    let out = Flex::float_from_data(
        TensorData::new(vec![fused.loss as f32], [1]),
        &table.device(),
    );
    let gradients = MpGradients {
        grad_code: fused.grad_code,
        table_rows,
        table_shape: [n_rows, d],
        grad_decoder: flex_tensor(fused.grad_decoder, [d, dm], decoder),
    };
    (out, gradients)
}

/// The fused MP loss's gradients for an upstream gradient of 1, as its forward pass
/// took them: the decoded rows' `∂code` (`[n, d]`, to be scattered into the table's
/// rows `table_rows`, the table being `table_shape`, which may be several modalities'
/// stack) and `∂W̃` (`[d, dₘ]`).
#[derive(Debug, Clone)]
struct MpGradients {
    grad_code: Vec<f32>,
    table_rows: Vec<u32>,
    table_shape: [usize; 2],
    grad_decoder: FloatTensor<Flex>,
}

/// Backward of the fused MP loss: the gradients [`MpRows::decode_loss_with_grad`] took
/// in the forward pass (for an upstream gradient of 1), scaled by the upstream
/// gradient where it is not 1 (the decoded rows only, before they are scattered into
/// the table's shape).
#[derive(Debug)]
struct MpLossBackward;

impl Backward<Flex, 2> for MpLossBackward {
    type State = Arc<MpGradients>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Mp);
        let [parent_table, parent_decoder] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (_, g) = host(&grad);
        let g = g[0];
        let state = Arc::try_unwrap(ops.state).unwrap_or_else(|shared| (*shared).clone());
        let scaled = |values: Vec<f32>| -> Vec<f32> {
            if g == 1.0 {
                return values;
            }
            values.iter().map(|&v| v * g).collect()
        };
        if let Some(node) = parent_table {
            let [n_rows, d] = state.table_shape;
            let code = scaled(state.grad_code);
            let table = scatter_distinct_rows(n_rows, d, &state.table_rows, &code);
            grads.register::<Flex>(node.id, flex_tensor(table, [n_rows, d], &grad));
        }
        if let Some(node) = parent_decoder {
            let gradient = if g == 1.0 {
                state.grad_decoder
            } else {
                let shape = state.grad_decoder.shape();
                let (_, values) = host(&state.grad_decoder);
                let values = scaled(values.into_owned());
                flex_tensor(values, [shape[0], shape[1]], &state.grad_decoder)
            };
            grads.register::<Flex>(node.id, gradient);
        }
    }
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

    fn mp_loss(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: FloatTensor<Self>,
        rows: Arc<MpRows>,
        first_row: usize,
    ) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Mp);
        let kind = MpLossBackward
            .prepare::<C>([table.node(), decoder.node()])
            .compute_bound()
            .stateful();
        let (cp, dp) = (table.into_primitive(), decoder.into_primitive());
        match kind {
            // Training: the loss and its gradients in one pass.
            OpsKind::Tracked(prep) => {
                let (out, gradients) =
                    mp_forward_with_grad(&cp, &dp, target.primitive(), &rows, first_row);
                prep.finish(Arc::new(gradients), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(mp_forward(cp, dp, target.primitive(), &rows, first_row))
            }
        }
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

/// The fused MP loss of one modality on flex tensors (see [`SparseBackend::mp_loss`]):
/// the rows `first_row + rows.ids` of `table` decoded against the rows `rows.ids` of
/// `target`.
pub fn mp_loss(
    table: Tensor<2>,
    decoder: Tensor<2>,
    target: Tensor<2>,
    rows: &Arc<MpRows>,
    first_row: usize,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SparseBackend>::mp_loss(
        table.into_dispatch(),
        decoder.into_dispatch(),
        target.into_dispatch(),
        rows.clone(),
        first_row,
    ))
}

/// Eq. 5–7 for a batch on flex tensors: `u` `[B, d]`, `v` `[B, M, d]` → `[B]`.
pub fn attention_scores(u: Tensor<2>, v: Tensor<3>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SparseBackend>::attention_scores(
        u.into_dispatch(),
        v.into_dispatch(),
    ))
}
