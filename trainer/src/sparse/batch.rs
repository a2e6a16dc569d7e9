//! The training batch's gathers fused with what reads them (flex; CubeCL in `cube/`): the BPR score
//! differences (Eq. 5–7 for the positive and the negative of every triple, Eq. 9's
//! argument) and the L2 sum of squares over gathered rows, each one operation with
//! its own backward that adds straight into the full tables' gradients.
//!
//! Through burn's ops the same batch costs a `select` per (modality, side) — each
//! backward a zeroed full-table tensor, a scatter, then adds to sum them — plus the
//! stack of the modalities and the split of the CF table into users and items, each
//! with copies forward and backward. Here the scores read the rows where the model
//! made them ([`ScoreTables`]: the CF backbone's `[U + I, d]` table and the side
//! modalities' tables stacked along rows, no copies), and the backward adds each
//! triple's gradient rows into one buffer per table, in parallel over blocks of table
//! rows, each block visiting the triples in batch order ([`kernels::scatter_rows`]:
//! the same bits for any thread count).

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
use crate::stage_clock::{self, Stage};

/// A batch of (user, positive, negative) triples as row indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Triples {
    pub users: Vec<u32>,
    pub pos: Vec<u32>,
    pub neg: Vec<u32>,
}

/// Where the rows of the scores live, as the model lays its tables out: user `u` is
/// row `u` of the CF backbone's table `cf` (`[U + I, d]`: users, then the interaction
/// modality's items); side modality `k < side` of item `i` is row `k·I + i` of `side`
/// (the side modalities' `[I, d]` tables stacked along rows); with `interaction`, the
/// last scored modality of item `i` is row `U + i` of `cf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreTables {
    pub n_users: usize,
    pub n_items: usize,
    pub side: usize,
    pub interaction: bool,
}

impl ScoreTables {
    /// The scored modalities: the side ones, then the interaction one.
    pub fn modalities(&self) -> usize {
        self.side + usize::from(self.interaction)
    }

    /// Item `item`'s modality `k` row in `cf` or `side` (`d` wide).
    #[inline]
    fn item_row<'t>(
        &self,
        cf: &'t [f32],
        side: &'t [f32],
        item: u32,
        k: usize,
        d: usize,
    ) -> &'t [f32] {
        let row = if k < self.side {
            &side[(k * self.n_items + item as usize) * d..]
        } else {
            &cf[(self.n_users + item as usize) * d..]
        };
        &row[..d]
    }
}

/// The batch operations a backend can run natively.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait BatchBackend: Backend {
    /// `r(u, pos) − r(u, neg)` per triple (`[B]`), `r` the attention score (Eq. 5–7)
    /// over the rows [`ScoreTables`] places in `cf` and `side`.
    fn bpr_differences(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> FloatTensor<Self>;
    /// `Σᵦ ‖table[ids[b]]‖²` (`[1]`) for `table` `[N, d]`.
    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self>;
}

/// The batch kernels a backend supplies, forward and backward (flex's below,
/// CubeCL's in [`super::cube`]); the autodiff bookkeeping around them is written once,
/// for `Autodiff<B>`.
pub trait BatchKernels: Backend {
    /// What the BPR differences' backward needs, as the forward left it.
    type BprState: Clone + Send + std::fmt::Debug + 'static;
    /// [`BatchBackend::bpr_differences`] and the state of its backward.
    fn bpr_forward(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> (FloatTensor<Self>, Self::BprState);
    /// The gradients of the CF and the side table, each only when asked, for the
    /// upstream gradient `g` (`[B]`).
    fn bpr_backward(
        g: FloatTensor<Self>,
        state: Self::BprState,
        cf: bool,
        side: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>);
    /// [`BatchBackend::gathered_square_sum`].
    fn square_sum(table: FloatTensor<Self>, ids: &[u32]) -> FloatTensor<Self>;
    /// Its gradient for the upstream `g` (`[1]`): `2·g·table[ids[b]]` added per `b`.
    fn square_sum_backward(
        g: FloatTensor<Self>,
        table: FloatTensor<Self>,
        ids: &[u32],
    ) -> FloatTensor<Self>;
}

/// What the backward of [`BatchBackend::bpr_differences`] needs on flex: the two
/// tables (their rows are read again in place) and each side's `∂r/∂sᵐ`.
#[derive(Debug, Clone)]
pub struct BprState {
    triples: Arc<Triples>,
    tables: ScoreTables,
    cf: FloatTensor<Flex>,
    side: FloatTensor<Flex>,
    pos_dscore: Arc<Vec<f32>>,
    neg_dscore: Arc<Vec<f32>>,
}

fn bpr_forward(
    cf: &FloatTensor<Flex>,
    side: &FloatTensor<Flex>,
    triples: Arc<Triples>,
    tables: ScoreTables,
) -> (FloatTensor<Flex>, BprState) {
    let (cs, cv) = host(cf);
    let (ss, sv) = host(side);
    let (d, m) = (cs[1], tables.modalities());
    assert!(
        cs[0] >= tables.n_users + usize::from(tables.interaction) * tables.n_items,
        "bpr: the CF table has too few rows"
    );
    assert!(
        ss[0] >= tables.side * tables.n_items && (tables.side == 0 || ss[1] == d),
        "bpr: the side tables are not [S·I, d]"
    );
    let score = |items: &[u32]| {
        kernels::attention_scores_by(
            items.len(),
            m,
            d,
            |b| &cv[triples.users[b] as usize * d..][..d],
            |b, k| tables.item_row(&cv, &sv, items[b], k, d),
        )
    };
    let (pos_scores, pos_dscore) = score(&triples.pos);
    let (neg_scores, neg_dscore) = score(&triples.neg);
    let diff: Vec<f32> = pos_scores
        .iter()
        .zip(&neg_scores)
        .map(|(p, n)| p - n)
        .collect();
    let b = diff.len();
    let out = Flex::float_from_data(TensorData::new(diff, [b]), &cf.device());
    let state = BprState {
        triples,
        tables,
        cf: cf.clone(),
        side: side.clone(),
        pos_dscore: Arc::new(pos_dscore),
        neg_dscore: Arc::new(neg_dscore),
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

/// Every backend with batch kernels (flex, CubeCL) runs the operations without autodiff
/// through them.
impl<B: BatchKernels> BatchBackend for B {
    fn bpr_differences(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> FloatTensor<Self> {
        Self::bpr_forward(cf, side, triples, tables).0
    }

    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self> {
        Self::square_sum(table, &ids)
    }
}

/// Columns of a user's gradient summed on the stack at a time.
const MAX_ROW: usize = 256;

/// On flex, the BPR differences' backward is each side's attention backward (the
/// terms of [`kernels::attention_scores_grad`], `g` for the positive, `−g` for the
/// negative), formed and added straight into the gradients of the two tables, in
/// parallel over row blocks ([`kernels::scatter_rows`]): the CF table receives the
/// users' rows and the interaction modality's item rows, the side table its
/// modalities' item rows. The state keeps the two tables, not copies of the batch's rows.
impl BatchKernels for Flex {
    type BprState = BprState;

    fn bpr_forward(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> (FloatTensor<Self>, BprState) {
        bpr_forward(&cf, &side, triples, tables)
    }

    fn bpr_backward(
        grad: FloatTensor<Self>,
        s: BprState,
        want_cf: bool,
        want_side: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        let (mut grad_cf, mut grad_side) = (None, None);
        let (_, g) = host(&grad);
        let tables = s.tables;
        let m = tables.modalities();
        let (cs, cv) = host(&s.cf);
        let (ss, sv) = host(&s.side);
        let d = cs[1];
        let t = &s.triples;
        // The positive side with `g`, then the negative with `−g`, each in batch order:
        // w = ±g[b]·∂r/∂sᵐ, ∂u[b] += Σₘ w·v[b, m], ∂v[b, m] += w·u[b].
        let sides = [
            (&t.pos, &s.pos_dscore, 1.0f32),
            (&t.neg, &s.neg_dscore, -1.0),
        ];
        let weight = |side: usize, b: usize, k: usize| {
            let (_, dscore, sign) = sides[side];
            sign * g[b] * dscore[b * m + k]
        };
        let user = |b: usize| &cv[t.users[b] as usize * d..][..d];
        let shifted =
            |ids: &[u32], by: usize| -> Vec<u32> { ids.iter().map(|&i| i + by as u32).collect() };
        if want_cf {
            // Passes 0 and 1: the users' rows; 2 and 3: the interaction modality's.
            let item_rows = tables.interaction.then(|| {
                [
                    shifted(&t.pos, tables.n_users),
                    shifted(&t.neg, tables.n_users),
                ]
            });
            let mut passes = vec![t.users.as_slice(), t.users.as_slice()];
            if let Some([pos, neg]) = &item_rows {
                passes.extend([pos.as_slice(), neg.as_slice()]);
            }
            let table = kernels::scatter_rows(cs[0], d, &passes, |pass, b, out| {
                if pass < 2 {
                    let items = sides[pass].0;
                    let mut w = [0f32; kernels::MAX_FUSED_MODALITIES];
                    let mut v: [&[f32]; kernels::MAX_FUSED_MODALITIES] =
                        [&[]; kernels::MAX_FUSED_MODALITIES];
                    for k in 0..m {
                        w[k] = weight(pass, b, k);
                        v[k] = tables.item_row(&cv, &sv, items[b], k, d);
                    }
                    // Σₘ wᵐ·v[b, m] summed from zero per element, then added: the sum first,
                    // one vectorised pass per modality over a row in registers.
                    let mut sum = [0f32; MAX_ROW];
                    for (chunk, out) in out.chunks_mut(MAX_ROW).enumerate() {
                        let sum = &mut sum[..out.len()];
                        sum.fill(0.0);
                        let at = chunk * MAX_ROW;
                        for (&w, v) in w[..m].iter().zip(&v[..m]) {
                            kernels::axpy(sum, w, &v[at..at + out.len()]);
                        }
                        out.iter_mut().zip(sum.iter()).for_each(|(o, &s)| *o += s);
                    }
                } else {
                    kernels::axpy(out, weight(pass - 2, b, m - 1), user(b));
                }
            });
            grad_cf = Some(flex_tensor(table, [cs[0], d], &grad));
        }
        if want_side {
            // Passes 2k and 2k + 1: modality k's rows of the positives and the negatives.
            let rows: Vec<Vec<u32>> = (0..tables.side)
                .flat_map(|k| {
                    let by = k * tables.n_items;
                    [shifted(&t.pos, by), shifted(&t.neg, by)]
                })
                .collect();
            let passes: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            let table = kernels::scatter_rows(ss[0], d, &passes, |pass, b, out| {
                kernels::axpy(out, weight(pass % 2, b, pass / 2), user(b));
            });
            grad_side = Some(flex_tensor(table, [ss[0], ss[1]], &grad));
        }
        (grad_cf, grad_side)
    }

    fn square_sum(table: FloatTensor<Self>, ids: &[u32]) -> FloatTensor<Self> {
        square_sum_forward(&table, ids)
    }

    fn square_sum_backward(
        grad: FloatTensor<Self>,
        table: FloatTensor<Self>,
        ids: &[u32],
    ) -> FloatTensor<Self> {
        let (shape, values) = host(&table);
        let (_, g) = host(&grad);
        let (n, d) = (shape[0], shape[1]);
        let twice_g = 2.0 * g[0];
        let out = kernels::scatter_rows(n, d, &[ids], |_, b, row| {
            let i = ids[b] as usize;
            let x = &values[i * d..(i + 1) * d];
            row.iter_mut().zip(x).for_each(|(o, &x)| *o += twice_g * x);
        });
        flex_tensor(out, [n, d], &grad)
    }
}

/// Backward of the BPR differences through the backend's [`BatchKernels`].
#[derive(Debug)]
struct BprDifferencesBackward;

impl<B: BatchKernels> Backward<B, 2> for BprDifferencesBackward {
    type State = B::BprState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Bpr);
        let [parent_cf, parent_side] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (cf, side) =
            B::bpr_backward(grad, ops.state, parent_cf.is_some(), parent_side.is_some());
        if let (Some(node), Some(g)) = (parent_cf, cf) {
            grads.register::<B>(node.id, g);
        }
        if let (Some(node), Some(g)) = (parent_side, side) {
            grads.register::<B>(node.id, g);
        }
    }
}

/// Backward of the gathered sum of squares: `∂table[ids[b]] += 2·g·table[ids[b]]`.
#[derive(Debug)]
struct GatheredSquareSumBackward;

impl<B: BatchKernels> Backward<B, 1> for GatheredSquareSumBackward {
    /// (table, ids).
    type State = (FloatTensor<B>, Arc<Vec<u32>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::Bpr);
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let (table, ids) = ops.state;
            grads.register::<B>(node.id, B::square_sum_backward(grad, table, &ids));
        }
    }
}

impl<B: BatchKernels, C: CheckpointStrategy> BatchBackend for Autodiff<B, C> {
    fn bpr_differences(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Bpr);
        let kind = BprDifferencesBackward
            .prepare::<C>([cf.node(), side.node()])
            .compute_bound()
            .stateful();
        let (cp, sp) = (cf.into_primitive(), side.into_primitive());
        let (out, state) = B::bpr_forward(cp, sp, triples, tables);
        record(kind, state, out)
    }

    fn gathered_square_sum(table: FloatTensor<Self>, ids: Arc<Vec<u32>>) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::Bpr);
        let kind = GatheredSquareSumBackward
            .prepare::<C>([table.node()])
            .compute_bound()
            .stateful();
        let tp = table.into_primitive();
        let out = B::square_sum(tp.clone(), &ids);
        record(kind, (tp, ids), out)
    }
}

/// `r(u, pos) − r(u, neg)` per triple on any device with batch kernels (see
/// [`BatchBackend::bpr_differences`]): `cf` the CF backbone's `[U + I, d]` table,
/// `side` the side modalities' `[I, d]` tables stacked along rows, as [`ScoreTables`]
/// says.
pub fn bpr_differences(
    cf: Tensor<2>,
    side: Tensor<2>,
    triples: &Arc<Triples>,
    tables: ScoreTables,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as BatchBackend>::bpr_differences(
        cf.into_dispatch(),
        side.into_dispatch(),
        triples.clone(),
        tables,
    ))
}

/// `Σᵦ ‖table[ids[b]]‖²` on any device with batch kernels (see [`BatchBackend::gathered_square_sum`]).
pub fn gathered_square_sum(table: Tensor<2>, ids: &Arc<Vec<u32>>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as BatchBackend>::gathered_square_sum(
        table.into_dispatch(),
        ids.clone(),
    ))
}
