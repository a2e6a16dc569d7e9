//! The training batch's gathers fused with what reads them, on flex: the BPR score
//! differences (Eq. 5–7 for the positive and the negative of every triple, Eq. 9's
//! argument) and the L2 sum of squares over gathered rows, each one operation with
//! its own backward that adds straight into the full tables' gradients.
//!
//! Through burn's ops the same batch costs a `select` per (modality, side) — each
//! backward a zeroed full-table tensor, a scatter, then adds to sum them — plus two
//! stacks and their backward copies. Here the forward scores the rows where they lie
//! ([`kernels::attention_scores`] over [`BatchRows::gathered`], no copies), and the
//! backward adds each triple's gradient rows into one table-sized buffer, in parallel
//! over blocks of table rows, each block visiting the triples in batch order
//! ([`kernels::scatter_rows`]: the same bits for any thread count).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use rayon::prelude::*;

use super::kernels::{self, BatchRows};
use super::ops::{flex_tensor, host, record};

/// A batch of (user, positive, negative) triples as row indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Triples {
    pub users: Vec<u32>,
    pub pos: Vec<u32>,
    pub neg: Vec<u32>,
}

/// The batch operations a backend can run natively.
#[backend_extension(Autodiff, Flex)]
pub trait BatchBackend: Backend {
    /// `r(u, pos) − r(u, neg)` per triple (`[B]`), `r` the attention score (Eq. 5–7):
    /// `users` is `[U, d]`, `items` `[I, M, d]` (the M modalities of every item).
    fn bpr_differences(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        triples: Arc<Triples>,
    ) -> FloatTensor<Self>;
    /// `Σᵦ ‖table[ids[b]]‖²` (`[1]`) for `table` `[N, d]`.
    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self>;
}

/// What the backward of [`BatchBackend::bpr_differences`] needs: the two tables (their
/// rows are read again in place), each side's `∂r/∂sᵐ`, and the table shapes.
#[derive(Debug, Clone)]
struct BprState {
    triples: Arc<Triples>,
    users: FloatTensor<Flex>,
    items: FloatTensor<Flex>,
    pos_dscore: Arc<Vec<f32>>,
    neg_dscore: Arc<Vec<f32>>,
    users_shape: [usize; 2],
    items_shape: [usize; 3],
}

fn bpr_forward(
    users: &FloatTensor<Flex>,
    items: &FloatTensor<Flex>,
    triples: Arc<Triples>,
) -> (FloatTensor<Flex>, BprState) {
    let (us, uv) = host(users);
    let (is, iv) = host(items);
    let (d, m) = (us[1], is[1]);
    assert_eq!(is[2], d, "bpr: items are not [I, M, d]");
    let user_rows = BatchRows::gathered(&uv, &triples.users, d);
    let (pos_scores, pos_dscore) = kernels::attention_scores(
        user_rows,
        BatchRows::gathered(&iv, &triples.pos, m * d),
        m,
        d,
    );
    let (neg_scores, neg_dscore) = kernels::attention_scores(
        user_rows,
        BatchRows::gathered(&iv, &triples.neg, m * d),
        m,
        d,
    );
    let diff: Vec<f32> = pos_scores
        .iter()
        .zip(&neg_scores)
        .map(|(p, n)| p - n)
        .collect();
    let b = diff.len();
    let out = Flex::float_from_data(TensorData::new(diff, [b]), &users.device());
    let state = BprState {
        triples,
        users: users.clone(),
        items: items.clone(),
        pos_dscore: Arc::new(pos_dscore),
        neg_dscore: Arc::new(neg_dscore),
        users_shape: [us[0], d],
        items_shape: [is[0], m, d],
    };
    (out, state)
}

/// `Σᵦ ‖table[ids[b]]‖²`: the rows' squares in parallel, summed in batch order.
fn square_sum_forward(table: &FloatTensor<Flex>, ids: &[u32]) -> FloatTensor<Flex> {
    let (shape, values) = host(table);
    let rows = BatchRows::gathered(&values, ids, shape[1]);
    let squares: Vec<f32> = (0..ids.len())
        .into_par_iter()
        .map(|b| kernels::dot(rows.row(b), rows.row(b)))
        .collect();
    let sum: f32 = squares.iter().sum();
    Flex::float_from_data(TensorData::new(vec![sum], [1]), &table.device())
}

impl BatchBackend for Flex {
    fn bpr_differences(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        triples: Arc<Triples>,
    ) -> FloatTensor<Self> {
        bpr_forward(&users, &items, triples).0
    }

    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self> {
        square_sum_forward(&table, &ids)
    }
}

/// Backward of the BPR differences: each side's attention backward (the terms of
/// [`kernels::attention_scores_grad`], `g` for the positive, `−g` for the negative),
/// formed and added straight into the users' and items' tables, in parallel over row
/// blocks ([`kernels::scatter_rows`]). The state keeps the two tables, not
/// copies of the batch's rows: `[I, M, d]` lives until the backward.
#[derive(Debug)]
struct BprDifferencesBackward;

impl Backward<Flex, 2> for BprDifferencesBackward {
    type State = BprState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_users, parent_items] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (_, g) = host(&grad);
        let [_, m, d] = s.items_shape;
        let (_, uv) = host(&s.users);
        let (_, iv) = host(&s.items);
        let t = &s.triples;
        // The positive side with `g`, then the negative with `−g`, each in batch order:
        // w = ±g[b]·∂r/∂sᵐ, ∂u[b] += Σₘ w·v[b, m], ∂v[b, m] += w·u[b].
        let sides = [
            (&t.pos, &s.pos_dscore, 1.0f32),
            (&t.neg, &s.neg_dscore, -1.0),
        ];
        if let Some(node) = parent_users {
            let mut table = vec![0f32; s.users_shape[0] * d];
            kernels::scatter_rows(
                &mut table,
                d,
                &[t.users.as_slice(), t.users.as_slice()],
                |side, b, out| {
                    let (item_ids, dscore, sign) = sides[side];
                    let v = &iv[item_ids[b] as usize * m * d..][..m * d];
                    let mut w = [0f32; kernels::MAX_FUSED_MODALITIES];
                    for (k, w) in w[..m].iter_mut().enumerate() {
                        *w = sign * g[b] * dscore[b * m + k];
                    }
                    // Σₘ wᵐ·v[b, m] summed from zero per element, then added: the sum first.
                    for (e, o) in out.iter_mut().enumerate() {
                        let mut sum = 0f32;
                        for (k, &w) in w[..m].iter().enumerate() {
                            sum += w * v[k * d + e];
                        }
                        *o += sum;
                    }
                },
            );
            grads.register::<Flex>(node.id, flex_tensor(table, s.users_shape, &grad));
        }
        if let Some(node) = parent_items {
            let mut table = vec![0f32; s.items_shape.iter().product()];
            kernels::scatter_rows(
                &mut table,
                m * d,
                &[t.pos.as_slice(), t.neg.as_slice()],
                |side, b, out| {
                    let (_, dscore, sign) = sides[side];
                    let u = &uv[t.users[b] as usize * d..][..d];
                    for k in 0..m {
                        let w = sign * g[b] * dscore[b * m + k];
                        kernels::axpy(&mut out[k * d..(k + 1) * d], w, u);
                    }
                },
            );
            let data = TensorData::new(table, s.items_shape);
            grads.register::<Flex>(node.id, Flex::float_from_data(data, &grad.device()));
        }
    }
}

/// Backward of the gathered sum of squares: `∂table[ids[b]] += 2·g·table[ids[b]]`.
#[derive(Debug)]
struct GatheredSquareSumBackward;

impl Backward<Flex, 1> for GatheredSquareSumBackward {
    /// (table, ids).
    type State = (FloatTensor<Flex>, Arc<Vec<u32>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (table, ids) = ops.state;
            let (shape, values) = host(&table);
            let (_, g) = host(&grad);
            let (n, d) = (shape[0], shape[1]);
            let twice_g = 2.0 * g[0];
            let mut out = vec![0f32; n * d];
            kernels::scatter_rows(&mut out, d, &[ids.as_slice()], |_, b, row| {
                let i = ids[b] as usize;
                let x = &values[i * d..(i + 1) * d];
                row.iter_mut().zip(x).for_each(|(o, &x)| *o += twice_g * x);
            });
            grads.register::<Flex>(node.id, flex_tensor(out, [n, d], &grad));
        }
    }
}

impl<C: CheckpointStrategy> BatchBackend for Autodiff<Flex, C> {
    fn bpr_differences(
        users: FloatTensor<Self>,
        items: FloatTensor<Self>,
        triples: Arc<Triples>,
    ) -> FloatTensor<Self> {
        let kind = BprDifferencesBackward
            .prepare::<C>([users.node(), items.node()])
            .compute_bound()
            .stateful();
        let (up, ip) = (users.into_primitive(), items.into_primitive());
        let (out, state) = bpr_forward(&up, &ip, triples);
        record(kind, state, out)
    }

    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self> {
        let kind = GatheredSquareSumBackward
            .prepare::<C>([table.node()])
            .compute_bound()
            .stateful();
        let tp = table.into_primitive();
        let out = square_sum_forward(&tp, &ids);
        record(kind, (tp, ids), out)
    }
}

/// `r(u, pos) − r(u, neg)` per triple on flex tensors (see
/// [`BatchBackend::bpr_differences`]): `users` `[U, d]`, `items` `[I, M, d]`.
pub fn bpr_differences(users: Tensor<2>, items: Tensor<3>, triples: &Arc<Triples>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as BatchBackend>::bpr_differences(
        users.into_dispatch(),
        items.into_dispatch(),
        triples.clone(),
    ))
}

/// `Σᵦ ‖table[ids[b]]‖²` on a flex tensor (see [`BatchBackend::gathered_square_sum`]).
pub fn gathered_square_sum(table: Tensor<2>, ids: &Arc<Vec<u32>>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as BatchBackend>::gathered_square_sum(
        table.into_dispatch(),
        ids.clone(),
    ))
}
