//! The side modalities' item-graph embeddings as one flex operation with its own
//! backward (all modalities at once, over their tables stacked along rows and their
//! graphs stacked block-diagonally, [`MixedGraph::stacked`]; below, one graph): from the
//! compressed embeddings `x` (`[I, d]`) through the normalised mixed graph
//! `Ḡ = D^{-1/2}(λAᵐ ⊕ (1−λ)·relu(cos Āᵐ))D^{-1/2}` (Eq. 2–4, over the union of both
//! neighbour lists, `[I, k_raw + k_learnt]`, raw first in each row) and its L GCN
//! layers `h_l = Ḡ·h_{l−1}`, `h_0 = x`, to `h_L`.
//!
//! Through burn's ops the weights are about 16 small operations forward (row norms, the
//! cosines, relu, the concatenation, degrees, their inverse square roots, the
//! neighbours' factors, two products) and as many backward, each with its own
//! allocation; here they are a few passes over `[I, fan]` and `[I, d]` rows, and `Ḡ`
//! never leaves the operation. The cosines and their backward are
//! [`FanIndex::pair_dots`] and the rows of [`FanIndex::self_dots_grad`]; the degree
//! normalisation's backward runs through the reverse index (`∂rᵢ` collects the edges
//! that read `rᵢ` as a neighbour). The backward's last pass writes each row of `∂x`
//! once: the cosines' part through the unit rows and the first layer's `Ḡᵀ·∂h₁`.

use std::sync::{Arc, OnceLock};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use rayon::prelude::*;

use super::cube::DeviceMixedGraph;
use super::kernels::{self, FanIndex, ROWS_PER_TASK, SelfDotsGradRows};
use super::ops::{flex_tensor, host, record};
use super::simd::{RowKernel, weighted_rows_add};
use super::table::par_blocks;
use crate::stage_clock::{self, Stage};

/// The constant part of one modality's graph (or of several stacked,
/// [`MixedGraph::stacked`]): `λ·sᵐ` of the raw neighbours
/// (`[I·k_raw]`), the learnt neighbours, the union (raw then learnt per row) and `λ`.
#[derive(Debug, Clone)]
pub struct MixedGraph {
    pub raw_weight: Vec<f32>,
    pub learnt: Arc<FanIndex>,
    pub all: Arc<FanIndex>,
    pub lambda: f32,
    /// The graph on the CubeCL device of the first operation on one.
    on_device: OnceLock<(cubecl::Device, DeviceMixedGraph)>,
}

/// One modality's graph over `n` items before it is indexed: `λ·sᵐ` of the raw
/// neighbours (`[n·k_raw]`), the learnt neighbours (`[n·k_learnt]`) and the union,
/// raw then learnt in each row (`[n·(k_raw + k_learnt)]`).
#[derive(Debug, Clone, Copy)]
pub struct GraphParts<'a> {
    pub raw_weight: &'a [f32],
    pub learnt_ids: &'a [u32],
    pub all_ids: &'a [u32],
}

impl MixedGraph {
    /// The graphs of `M` modalities over the same `n` items as one graph over their
    /// tables stacked along rows (`[M·n, d]`): block-diagonal, modality `m`'s rows and
    /// neighbours shifted by `m·n` (one modality: its own graph). Every row has the same
    /// neighbours, weights and edge order as in its own graph (its reverse list too), so
    /// one operation over the stacked table gives each modality's rows to the bit, in
    /// one parallel pass per step of the operation instead of one per modality; rayon
    /// halves the rows first, so with two modalities on two cores each modality's rows
    /// mostly stay on the core that wrote them in the pass before.
    ///
    /// # Panics
    /// If the parts differ in fan or do not cover `n` rows each.
    pub fn stacked(parts: &[GraphParts<'_>], n: usize, lambda: f32) -> MixedGraph {
        MixedGraph {
            raw_weight: parts
                .iter()
                .flat_map(|p| p.raw_weight.iter().copied())
                .collect(),
            learnt: Arc::new(shifted_index(parts, n, |p| p.learnt_ids)),
            all: Arc::new(shifted_index(parts, n, |p| p.all_ids)),
            lambda,
            on_device: OnceLock::new(),
        }
    }

    /// The graph on `device`, uploaded on first use (a second device gets a copy of its
    /// own each call).
    pub(super) fn on_device(&self, device: &cubecl::Device) -> DeviceMixedGraph {
        let cached = self
            .on_device
            .get_or_init(|| (device.clone(), DeviceMixedGraph::upload(self, device)));
        if &cached.0 == device {
            cached.1.clone()
        } else {
            DeviceMixedGraph::upload(self, device)
        }
    }
}

/// The fan index of the parts' `ids` lists stacked block-diagonally: part `m`'s rows
/// and neighbours shifted by `m·n`.
fn shifted_index<'a>(
    parts: &[GraphParts<'a>],
    n: usize,
    ids: impl Fn(&GraphParts<'a>) -> &'a [u32],
) -> FanIndex {
    let fan = parts.first().map_or(0, |p| ids(p).len() / n.max(1));
    for part in parts {
        assert_eq!(ids(part).len(), n * fan, "stack: the graphs differ in fan");
    }
    let stacked = parts
        .iter()
        .enumerate()
        .flat_map(|(m, part)| ids(part).iter().map(move |&s| s + (m * n) as u32))
        .collect();
    let rows = parts.len() * n;
    FanIndex::new(stacked, rows, rows)
}

/// Row norms under this are clamped (as `l2_normalize_rows` does), degrees likewise.
const TINY: f32 = 1e-12;

/// The item-graph embeddings operation a backend can run natively.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait ItemGraphBackend: Backend {
    /// `h_L` `[I, d]`: `layers` (≥ 1) products of `Ḡ` of `graph` with the compressed
    /// embeddings `x` `[I, d]`.
    fn item_graph_embeddings(
        x: FloatTensor<Self>,
        graph: Arc<MixedGraph>,
        layers: usize,
    ) -> FloatTensor<Self>;
}

/// The item-graph kernels a backend supplies (flex's below, CubeCL's in
/// [`super::cube`]); the autodiff bookkeeping around them is written once.
pub trait ItemGraphKernels: Backend {
    /// What the backward reads, as the forward left it.
    type State: Clone + Send + std::fmt::Debug + 'static;
    /// `h_L` for `layers` ≥ 1 and the backward's state.
    fn embeddings_forward(
        x: FloatTensor<Self>,
        graph: &Arc<MixedGraph>,
        layers: usize,
    ) -> (FloatTensor<Self>, Self::State);
    /// `∂x` for `g = ∂L/∂h_L`.
    fn embeddings_backward(g: FloatTensor<Self>, state: Self::State) -> FloatTensor<Self>;
}

/// The weights' forward values the backward reuses.
#[derive(Debug, Clone)]
struct Forward {
    /// `‖xᵢ‖` clamped at [`TINY`], and whether it was clamped.
    norms: Vec<(f32, bool)>,
    /// Unit rows `nᵢ = xᵢ / ‖xᵢ‖`, `[I, d]`.
    unit: Vec<f32>,
    /// Learnt cosines `[I, k_learnt]`.
    cos: Vec<f32>,
    /// Mixed weights `w` `[I, fan]` before normalisation.
    weight: Vec<f32>,
    /// `rᵢ = max(degᵢ, TINY)^{-1/2}` and whether the degree was clamped.
    inv_sqrt_degree: Vec<(f32, bool)>,
    /// `Ḡ` `[I, fan]`.
    out: Vec<f32>,
}

fn forward(x: &[f32], d: usize, graph: &MixedGraph) -> Forward {
    let n = graph.all.n_rows;
    let (fan, k_learnt) = (graph.all.fan, graph.learnt.fan);
    let k_raw = fan - k_learnt;
    let norms: Vec<(f32, bool)> = x
        .par_chunks_exact(d)
        .with_min_len(ROWS_PER_TASK)
        .map(|row| {
            let norm = kernels::dot(row, row).sqrt();
            (norm.max(TINY), norm < TINY)
        })
        .collect();
    let unit = par_blocks(n * d, ROWS_PER_TASK * d, |task, block| {
        for (r, u) in block.chunks_exact_mut(d).enumerate() {
            let i = task * ROWS_PER_TASK + r;
            let norm = norms[i].0;
            for (u, &v) in u.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                *u = v / norm;
            }
        }
    });
    let cos = graph.learnt.pair_dots(&unit, &unit, d);
    let mut weight = vec![0f32; n * fan];
    let inv_sqrt_degree: Vec<(f32, bool)> = weight
        .par_chunks_exact_mut(fan.max(1))
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .map(|(i, row)| {
            row[..k_raw].copy_from_slice(&graph.raw_weight[i * k_raw..(i + 1) * k_raw]);
            for (w, &c) in row[k_raw..]
                .iter_mut()
                .zip(&cos[i * k_learnt..(i + 1) * k_learnt])
            {
                *w = c.max(0.0) * (1.0 - graph.lambda);
            }
            let degree: f32 = row.iter().sum();
            (degree.max(TINY).powf(-0.5), degree < TINY)
        })
        .collect();
    let out = par_blocks(n * fan, ROWS_PER_TASK * fan, |task, block| {
        for (r, row) in block.chunks_exact_mut(fan).enumerate() {
            let i = task * ROWS_PER_TASK + r;
            let ri = inv_sqrt_degree[i].0;
            for (j, o) in row.iter_mut().enumerate() {
                let e = i * fan + j;
                *o = weight[e] * ri * inv_sqrt_degree[graph.all.ids[e] as usize].0;
            }
        }
    });
    Forward {
        norms,
        unit,
        cos,
        weight,
        inv_sqrt_degree,
        out,
    }
}

/// The operation's forward for `layers` ≥ 1: the weights' values, the hidden layers
/// `h_1 … h_{L−1}` (the backward's inputs besides `x`) and the output `h_L`.
fn embeddings_forward(
    x: &[f32],
    d: usize,
    graph: &MixedGraph,
    layers: usize,
) -> (Forward, Vec<Vec<f32>>, Vec<f32>) {
    let f = forward(x, d, graph);
    let mut hidden: Vec<Vec<f32>> = Vec::with_capacity(layers);
    for _ in 0..layers.max(1) {
        let input = hidden.last().map_or(x, Vec::as_slice);
        let next = graph.all.weighted_sum(input, &f.out, d);
        hidden.push(next);
    }
    let out = hidden.pop().expect("at least one layer");
    (f, hidden, out)
}

/// `∂x` `[I, d]` given `g = ∂L/∂h_L` `[I, d]`; `inputs` are `h_0 … h_{L−1}`.
fn backward(f: &Forward, inputs: &[&[f32]], g: &[f32], d: usize, graph: &MixedGraph) -> Vec<f32> {
    let all = &graph.all;
    let n = all.n_rows;
    let (fan, k_learnt) = (all.fan, graph.learnt.fan);
    let k_raw = fan - k_learnt;
    // Layer by layer from the last: ∂Ḡ += ∂h_l · h_{l−1}[ids] (summed in that order,
    // as the layers' gradients would be), ∂h_{l−1} = Ḡᵀ·∂h_l; the first layer's
    // `Ḡᵀ·∂h₁` is left to the last pass below.
    let mut d_h = std::borrow::Cow::Borrowed(g);
    let mut d_gbar: Vec<f32> = Vec::new();
    for (l, input) in inputs.iter().enumerate().rev() {
        let dots = all.pair_dots(&d_h, input, d);
        if d_gbar.is_empty() {
            d_gbar = dots;
        } else {
            for (a, b) in d_gbar.iter_mut().zip(&dots) {
                *a += b;
            }
        }
        if l > 0 {
            d_h = std::borrow::Cow::Owned(all.weighted_sum_grad_x(&d_h, &f.out, d));
        }
    }
    let r = |i: usize| f.inv_sqrt_degree[i].0;
    // Per row i: ∂rᵢ, as the row factor of its own edges and as the neighbour factor
    // of the edges that gather i (reverse index, in edge order); then
    // ∂deg = ∂r · (−½)·deg^{-3/2} = ∂r · (−½)·r³ (none where the degree was clamped),
    // which every weight of the row adds. Only the learnt weights depend on x.
    let d_cos = par_blocks(n * k_learnt, ROWS_PER_TASK * k_learnt, |task, block| {
        for (offset, d_cos_row) in block.chunks_exact_mut(k_learnt).enumerate() {
            let i = task * ROWS_PER_TASK + offset;
            let own: f32 = (i * fan..(i + 1) * fan)
                .map(|e| d_gbar[e] * f.weight[e] * r(all.ids[e] as usize))
                .sum();
            let reverse: f32 = all.rev_edges[all.rev_ptr[i]..all.rev_ptr[i + 1]]
                .iter()
                .map(|&e| {
                    let e = e as usize;
                    d_gbar[e] * f.weight[e] * r(e / fan)
                })
                .sum();
            let d_r = own + reverse;
            let (ri, clamped) = f.inv_sqrt_degree[i];
            let d_degree = if clamped {
                0.0
            } else {
                d_r * -0.5 * ri * ri * ri
            };
            for (j, dc) in d_cos_row.iter_mut().enumerate() {
                let e = i * fan + k_raw + j;
                let d_weight = d_gbar[e] * ri * r(all.ids[e] as usize) + d_degree;
                *dc = if f.cos[i * k_learnt + j] > 0.0 {
                    d_weight * (1.0 - graph.lambda)
                } else {
                    0.0
                };
            }
        }
    });
    kernels::rows_table(
        n,
        d,
        &InputGradRows {
            cosines: SelfDotsGradRows {
                index: &graph.learnt,
                g: &d_cos,
                a: &f.unit,
            },
            f,
            all,
            d_h1: &d_h,
        },
    )
}

/// Row `t` of `∂x`: the cosines' gradient `∂nₜ` (its own learnt neighbours, then the
/// rows that have it as one), through `nₜ = xₜ/‖xₜ‖` as `(∂nₜ − nₜ(nₜ·∂nₜ)) / ‖xₜ‖`
/// (just `∂nₜ/TINY` if the norm was clamped), plus row `t` of the first layer's `Ḡᵀ·∂h₁`.
struct InputGradRows<'a> {
    cosines: SelfDotsGradRows<'a>,
    f: &'a Forward,
    all: &'a FanIndex,
    d_h1: &'a [f32],
}

impl RowKernel for InputGradRows<'_> {
    #[inline(always)]
    fn row(&self, t: usize, out: &mut [f32]) {
        self.cosines.row(t, out);
        let d = out.len();
        let (norm, clamped) = self.f.norms[t];
        let u = &self.f.unit[t * d..(t + 1) * d];
        let along = if clamped { 0.0 } else { kernels::dot(u, out) };
        for (o, &a) in out.iter_mut().zip(u) {
            *o = (*o - a * along) / norm;
        }
        weighted_rows_add(out, self.d_h1, self.all.reverse_terms(t, &self.f.out));
    }
}

/// Every backend with item-graph kernels (flex, CubeCL) runs the operation without
/// autodiff through them.
impl<B: ItemGraphKernels> ItemGraphBackend for B {
    fn item_graph_embeddings(
        x: FloatTensor<Self>,
        graph: Arc<MixedGraph>,
        layers: usize,
    ) -> FloatTensor<Self> {
        Self::embeddings_forward(x, &graph, layers).0
    }
}

/// What the backward reads on flex: the weights' forward values, `x` and
/// `h_1 … h_{L−1}`.
#[derive(Debug, Clone)]
pub struct State {
    weights: Arc<Forward>,
    x: FloatTensor<Flex>,
    hidden: Arc<Vec<Vec<f32>>>,
    graph: Arc<MixedGraph>,
}

impl ItemGraphKernels for Flex {
    type State = State;

    fn embeddings_forward(
        x: FloatTensor<Self>,
        graph: &Arc<MixedGraph>,
        layers: usize,
    ) -> (FloatTensor<Self>, State) {
        let (shape, values) = host(&x);
        let d = shape[1];
        let (f, hidden, out) = embeddings_forward(&values, d, graph, layers);
        drop(values);
        let out = flex_tensor(out, [graph.all.n_rows, d], &x);
        let state = State {
            weights: Arc::new(f),
            x,
            hidden: Arc::new(hidden),
            graph: graph.clone(),
        };
        (out, state)
    }

    fn embeddings_backward(grad: FloatTensor<Self>, state: State) -> FloatTensor<Self> {
        let (shape, g) = host(&grad);
        let (_, x) = host(&state.x);
        let d = shape[1];
        let inputs: Vec<&[f32]> = std::iter::once(&*x)
            .chain(state.hidden.iter().map(Vec::as_slice))
            .collect();
        let d_x = backward(&state.weights, &inputs, &g, d, &state.graph);
        flex_tensor(d_x, [state.graph.all.n_rows, d], &grad)
    }
}

#[derive(Debug)]
struct ItemGraphBackward;

impl<B: ItemGraphKernels> Backward<B, 1> for ItemGraphBackward {
    type State = B::State;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _clock = stage_clock::time(Stage::ItemGraphs);
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            grads.register::<B>(node.id, B::embeddings_backward(grad, ops.state));
        }
    }
}

impl<B: ItemGraphKernels, C: CheckpointStrategy> ItemGraphBackend for Autodiff<B, C> {
    fn item_graph_embeddings(
        x: FloatTensor<Self>,
        graph: Arc<MixedGraph>,
        layers: usize,
    ) -> FloatTensor<Self> {
        let _clock = stage_clock::time(Stage::ItemGraphs);
        let kind = ItemGraphBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let (out, state) = B::embeddings_forward(x.into_primitive(), &graph, layers);
        record(kind, state, out)
    }
}

/// `h_L` of one side modality, or of several stacked along rows over their stacked
/// graph ([`MixedGraph::stacked`]), on a flex tensor (see [`ItemGraphBackend`]): `x`
/// itself when `layers` is 0.
pub fn item_graph_embeddings(x: Tensor<2>, graph: &Arc<MixedGraph>, layers: usize) -> Tensor<2> {
    if layers == 0 {
        return x;
    }
    Tensor::from_dispatch(<Dispatch as ItemGraphBackend>::item_graph_embeddings(
        x.into_dispatch(),
        graph.clone(),
        layers,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::graph::{float_tensor, to_f32};
    use crate::sparse::{MpRows, mp_loss};

    /// A random graph's parts over `n` rows: (raw weights, learnt ids, all ids).
    fn parts(
        rng: &mut ChaCha8Rng,
        n: usize,
        k_raw: usize,
        k_learnt: usize,
    ) -> (Vec<f32>, Vec<u32>, Vec<u32>) {
        let mut ids = |fan: usize| -> Vec<u32> {
            (0..n * fan)
                .map(|_| rng.random_range(0..n as u32))
                .collect()
        };
        let (raw, learnt) = (ids(k_raw), ids(k_learnt));
        let all = (0..n)
            .flat_map(|i| {
                let raw = &raw[i * k_raw..(i + 1) * k_raw];
                raw.iter()
                    .chain(&learnt[i * k_learnt..(i + 1) * k_learnt])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        let raw_weight = (0..n * k_raw)
            .map(|_| 0.6 * rng.random_range(0.0..1.0f32))
            .collect();
        (raw_weight, learnt, all)
    }

    /// Two modalities' item graphs stacked into one ([`MixedGraph::stacked`]) give, over
    /// the stacked tables, each modality's embeddings and gradients exactly as their own
    /// operations do, with the MP loss of each read from its rows of the stack
    /// (`first_row`) instead of its own table: for 1 and 2 layers.
    #[test]
    fn stacked_graphs_give_each_modality_its_own_values_and_gradients() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let (n, d, dm) = (37, 8, 5);
        let modalities = [parts(&mut rng, n, 3, 4), parts(&mut rng, n, 3, 4)];
        fn view(
            (raw_weight, learnt_ids, all_ids): &(Vec<f32>, Vec<u32>, Vec<u32>),
        ) -> GraphParts<'_> {
            GraphParts {
                raw_weight,
                learnt_ids,
                all_ids,
            }
        }
        let graphs = modalities
            .each_ref()
            .map(|m| Arc::new(MixedGraph::stacked(&[view(m)], n, 0.6)));
        let stacked = Arc::new(MixedGraph::stacked(
            &modalities.each_ref().map(view),
            n,
            0.6,
        ));
        let mut random =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let xs = [random(n * d), random(n * d)];
        let probes = [random(n * d), random(n * d)];
        let decoders = [random(d * dm), random(d * dm)];
        let targets = [random(n * dm), random(n * dm)];
        let rows = Arc::new(MpRows {
            ids: (0..n as u32).filter(|i| i % 3 != 0).collect(),
            weights: (0..n)
                .filter(|i| i % 3 != 0)
                .map(|i| (i % 2 + 1) as f32)
                .collect(),
            draws: 40,
        });
        let device = Device::flex().autodiff();
        let tensor = |v: &[f32], shape: [usize; 2]| float_tensor(v.to_vec(), shape, &device);
        for layers in [1, 2] {
            // Per modality: (h, ∂x, ∂W̃, MP) of `h·probe + MP(h)`.
            let run_apart = |m: usize| {
                let x = tensor(&xs[m], [n, d]).require_grad();
                let decoder = tensor(&decoders[m], [d, dm]).require_grad();
                let h = item_graph_embeddings(x.clone(), &graphs[m], layers);
                let mp = mp_loss(
                    h.clone(),
                    decoder.clone(),
                    tensor(&targets[m], [n, dm]),
                    &rows,
                    0,
                );
                let loss = (h.clone() * tensor(&probes[m], [n, d])).sum() + mp.clone();
                let grads = loss.backward();
                (
                    to_f32(h.inner()),
                    to_f32(x.grad(&grads).unwrap()),
                    to_f32(decoder.grad(&grads).unwrap()),
                    to_f32(mp.inner()),
                )
            };
            let apart = [run_apart(0), run_apart(1)];
            let x = tensor(&[xs[0].clone(), xs[1].clone()].concat(), [2 * n, d]).require_grad();
            let decoder: Vec<Tensor<2>> = (0..2)
                .map(|m| tensor(&decoders[m], [d, dm]).require_grad())
                .collect();
            let h = item_graph_embeddings(x.clone(), &stacked, layers);
            let probe = tensor(&[probes[0].clone(), probes[1].clone()].concat(), [2 * n, d]);
            let mut loss = (h.clone() * probe).sum();
            let mut mp = Vec::new();
            for m in 0..2 {
                let target = tensor(&targets[m], [n, dm]);
                mp.push(mp_loss(h.clone(), decoder[m].clone(), target, &rows, m * n));
                loss = loss + mp[m].clone();
            }
            let grads = loss.backward();
            let (h, grad_x) = (to_f32(h.inner()), to_f32(x.grad(&grads).unwrap()));
            for m in 0..2 {
                let block = m * n * d..(m + 1) * n * d;
                assert_eq!(
                    h[block.clone()],
                    apart[m].0[..],
                    "h, modality {m}, {layers} layers"
                );
                assert_eq!(
                    grad_x[block],
                    apart[m].1[..],
                    "∂x, modality {m}, {layers} layers"
                );
                let value = to_f32(mp[m].clone().inner());
                assert_eq!(value, apart[m].3, "MP, modality {m}, {layers} layers");
                let grad_decoder = to_f32(decoder[m].grad(&grads).unwrap());
                assert_eq!(
                    grad_decoder, apart[m].2,
                    "∂W̃, modality {m}, {layers} layers"
                );
                assert!(apart[m].1.iter().any(|&g| g != 0.0));
            }
        }
    }
}
