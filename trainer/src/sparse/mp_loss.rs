//! The modality-preservation loss (Eq. 8, 10) of one modality as a burn operation on
//! every backend with MP kernels ([`MpKernels`]: flex's fused host pass in
//! [`super::mp`], the CubeCL launches in [`super::cube`]), with its backward's
//! bookkeeping written once: the batch's distinct rows of the code table are decoded
//! and compared with their feature rows inside the operation, and its gradient is
//! written back to those rows alone (no burn `select`, whose backward is a serial
//! scatter over a zeroed table).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::mp::MpRows;
use super::ops::{flex_tensor, host};
use super::table::{gather_rows, scatter_distinct_rows};
use crate::stage_clock::{self, Stage};

/// The MP loss a backend can run natively.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait MpBackend: Backend {
    /// Eq. 8 + 10 fused for one modality: decode the rows `first_row + rows.ids`
    /// (distinct) of `table` (`[I, d]`, or the modalities' tables stacked along rows,
    /// read in place of a burn `select` or `narrow`) with `decoder` (`[d, dₘ]`) and
    /// return `[1]`, the weighted mean absolute error against the rows `rows.ids` of
    /// `target` (`[I, dₘ]`, a constant).
    fn mp_loss(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: FloatTensor<Self>,
        rows: Arc<MpRows>,
        first_row: usize,
    ) -> FloatTensor<Self>;
}

/// The MP kernels a backend supplies; the autodiff bookkeeping is written once.
pub trait MpKernels: Backend {
    /// The gradients (or what makes them) for an upstream gradient of 1, as the
    /// forward pass took them.
    type State: Clone + Send + std::fmt::Debug + 'static;
    /// The loss `[1]` and, when `with_grad`, the backward's state.
    fn mp_forward(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: &FloatTensor<Self>,
        rows: &MpRows,
        first_row: usize,
        with_grad: bool,
    ) -> (FloatTensor<Self>, Option<Self::State>);
    /// `(∂table, ∂decoder)` for the upstream gradient `g` (`[1]`), each when asked.
    fn mp_backward(
        g: FloatTensor<Self>,
        state: Self::State,
        table: bool,
        decoder: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>);
}

/// The rows of the decoded table that `rows` names: `first_row + rows.ids`.
pub(super) fn table_rows(rows: &MpRows, first_row: usize) -> std::borrow::Cow<'_, [u32]> {
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
pub struct MpGradients {
    grad_code: Vec<f32>,
    table_rows: Vec<u32>,
    table_shape: [usize; 2],
    grad_decoder: FloatTensor<Flex>,
}

impl MpKernels for Flex {
    type State = Arc<MpGradients>;

    fn mp_forward(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: &FloatTensor<Self>,
        rows: &MpRows,
        first_row: usize,
        with_grad: bool,
    ) -> (FloatTensor<Self>, Option<Self::State>) {
        if with_grad {
            // Training: the loss and its gradients in one pass.
            let (out, gradients) = mp_forward_with_grad(&table, &decoder, target, rows, first_row);
            (out, Some(Arc::new(gradients)))
        } else {
            (mp_forward(table, decoder, target, rows, first_row), None)
        }
    }

    /// The gradients [`MpRows::decode_loss_with_grad`] took in the forward pass (for an
    /// upstream gradient of 1), scaled by the upstream gradient where it is not 1 (the
    /// decoded rows only, before they are scattered into the table's shape).
    fn mp_backward(
        grad: FloatTensor<Self>,
        state: Self::State,
        want_table: bool,
        want_decoder: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        let (_, g) = host(&grad);
        let g = g[0];
        let state = Arc::try_unwrap(state).unwrap_or_else(|shared| (*shared).clone());
        let scaled = |values: Vec<f32>| -> Vec<f32> {
            if g == 1.0 {
                return values;
            }
            values.iter().map(|&v| v * g).collect()
        };
        let table = want_table.then(|| {
            let [n_rows, d] = state.table_shape;
            let code = scaled(state.grad_code);
            let table = scatter_distinct_rows(n_rows, d, &state.table_rows, &code);
            flex_tensor(table, [n_rows, d], &grad)
        });
        let decoder = want_decoder.then(|| {
            if g == 1.0 {
                state.grad_decoder
            } else {
                let shape = state.grad_decoder.shape();
                let (_, values) = host(&state.grad_decoder);
                let values = scaled(values.into_owned());
                flex_tensor(values, [shape[0], shape[1]], &state.grad_decoder)
            }
        });
        (table, decoder)
    }
}

/// Every backend with MP kernels (flex, CubeCL) runs the loss without autodiff through
/// them.
impl<B: MpKernels> MpBackend for B {
    fn mp_loss(
        table: FloatTensor<Self>,
        decoder: FloatTensor<Self>,
        target: FloatTensor<Self>,
        rows: Arc<MpRows>,
        first_row: usize,
    ) -> FloatTensor<Self> {
        Self::mp_forward(table, decoder, &target, &rows, first_row, false).0
    }
}

/// Backward of the fused MP loss through the backend's [`MpKernels`].
#[derive(Debug)]
struct MpLossBackward;

impl<B: MpKernels> Backward<B, 2> for MpLossBackward {
    type State = B::State;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Mp);
        let [parent_table, parent_decoder] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (table, decoder) = B::mp_backward(
            grad,
            ops.state,
            parent_table.is_some(),
            parent_decoder.is_some(),
        );
        if let (Some(node), Some(g)) = (parent_table, table) {
            grads.register::<B>(node.id, g);
        }
        if let (Some(node), Some(g)) = (parent_decoder, decoder) {
            grads.register::<B>(node.id, g);
        }
    }
}

impl<B: MpKernels, C: CheckpointStrategy> MpBackend for Autodiff<B, C> {
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
        let target = target.primitive();
        match kind {
            OpsKind::Tracked(prep) => {
                let (out, state) = B::mp_forward(cp, dp, target, &rows, first_row, true);
                prep.finish(state.expect("a forward with its gradients"), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::mp_forward(cp, dp, target, &rows, first_row, false).0)
            }
        }
    }
}

/// The fused MP loss of one modality on any device with MP kernels (see
/// [`MpBackend::mp_loss`]): the rows `first_row + rows.ids` of `table` decoded against
/// the rows `rows.ids` of `target`.
pub fn mp_loss(
    table: Tensor<2>,
    decoder: Tensor<2>,
    target: Tensor<2>,
    rows: &Arc<MpRows>,
    first_row: usize,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as MpBackend>::mp_loss(
        table.into_dispatch(),
        decoder.into_dispatch(),
        target.into_dispatch(),
        rows.clone(),
        first_row,
    ))
}
