//! The normalised edge weights of one side modality's mixed item graph (Eq. 2–4) as
//! one flex operation with its own backward: from the compressed embeddings `x`
//! (`[I, d]`) to `Ḡ = D^{-1/2}(λAᵐ ⊕ (1−λ)·relu(cos Āᵐ))D^{-1/2}` over the union of both
//! neighbour lists (`[I, k_raw + k_learnt]`, raw first in each row).
//!
//! Through burn's ops this is about 16 small operations forward (row norms, the
//! cosines, relu, the concatenation, degrees, their inverse square roots, the
//! neighbours' factors, two products) and as many backward, each with its own
//! allocation; here it is a few passes over `[I, fan]` and `[I, d]` rows. The
//! cosines and their backward are [`FanIndex::pair_dots`] and
//! [`FanIndex::self_dots_grad`]; the degree normalisation's backward runs through
//! the reverse index (`∂rᵢ` collects the edges that read `rᵢ` as a neighbour).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use rayon::prelude::*;

use super::kernels::{self, FanIndex, ROWS_PER_TASK};
use super::ops::{flex_tensor, host, record};

/// The constant part of one modality's graph: `λ·sᵐ` of the raw neighbours
/// (`[I·k_raw]`), the learnt neighbours, the union (raw then learnt per row) and `λ`.
#[derive(Debug, Clone)]
pub struct MixedGraph {
    pub raw_weight: Vec<f32>,
    pub learnt: Arc<FanIndex>,
    pub all: Arc<FanIndex>,
    pub lambda: f32,
}

/// Row norms under this are clamped (as `l2_normalize_rows` does), degrees likewise.
const TINY: f32 = 1e-12;

/// The normalised weights operation a backend can run natively.
#[backend_extension(Autodiff, Flex)]
pub trait GraphWeightsBackend: Backend {
    /// `Ḡ` `[I, fan]` of `graph` for the compressed embeddings `x` `[I, d]`.
    fn mixed_graph_weights(x: FloatTensor<Self>, graph: Arc<MixedGraph>) -> FloatTensor<Self>;
}

/// The forward's values the backward reuses.
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
    let mut unit = vec![0f32; n * d];
    let norms: Vec<(f32, bool)> = x
        .par_chunks_exact(d)
        .zip(unit.par_chunks_exact_mut(d))
        .with_min_len(ROWS_PER_TASK)
        .map(|(row, u)| {
            let norm = kernels::dot(row, row).sqrt();
            let clamped = norm < TINY;
            let norm = norm.max(TINY);
            for (u, &v) in u.iter_mut().zip(row) {
                *u = v / norm;
            }
            (norm, clamped)
        })
        .collect();
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
    let mut out = vec![0f32; n * fan];
    out.par_chunks_exact_mut(fan.max(1))
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(i, row)| {
            let ri = inv_sqrt_degree[i].0;
            for (j, o) in row.iter_mut().enumerate() {
                let e = i * fan + j;
                *o = weight[e] * ri * inv_sqrt_degree[graph.all.ids[e] as usize].0;
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

/// `∂x` `[I, d]` given `g = ∂L/∂Ḡ` `[I, fan]`.
fn backward(f: &Forward, g: &[f32], d: usize, graph: &MixedGraph) -> Vec<f32> {
    let all = &graph.all;
    let n = all.n_rows;
    let (fan, k_learnt) = (all.fan, graph.learnt.fan);
    let k_raw = fan - k_learnt;
    let r = |i: usize| f.inv_sqrt_degree[i].0;
    // ∂rᵢ: as the row factor of its own edges, and as the neighbour factor of the
    // edges that gather i (reverse index, in edge order).
    let d_r: Vec<f32> = (0..n)
        .into_par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map(|i| {
            let own: f32 = (i * fan..(i + 1) * fan)
                .map(|e| g[e] * f.weight[e] * r(all.ids[e] as usize))
                .sum();
            let reverse: f32 = all.rev_edges[all.rev_ptr[i]..all.rev_ptr[i + 1]]
                .iter()
                .map(|&e| {
                    let e = e as usize;
                    g[e] * f.weight[e] * r(e / fan)
                })
                .sum();
            own + reverse
        })
        .collect();
    // ∂deg = ∂r · (−½)·deg^{-3/2} = ∂r · (−½)·r³ (none where the degree was clamped);
    // every weight of the row adds it. Only the learnt weights depend on x.
    let mut d_cos = vec![0f32; n * k_learnt];
    d_cos
        .par_chunks_exact_mut(k_learnt.max(1))
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(i, d_cos_row)| {
            let (ri, clamped) = f.inv_sqrt_degree[i];
            let d_degree = if clamped {
                0.0
            } else {
                d_r[i] * -0.5 * ri * ri * ri
            };
            for (j, dc) in d_cos_row.iter_mut().enumerate() {
                let e = i * fan + k_raw + j;
                let d_weight = g[e] * ri * r(all.ids[e] as usize) + d_degree;
                *dc = if f.cos[i * k_learnt + j] > 0.0 {
                    d_weight * (1.0 - graph.lambda)
                } else {
                    0.0
                };
            }
        });
    let d_unit = graph.learnt.self_dots_grad(&d_cos, &f.unit, d);
    // Through nᵢ = xᵢ/‖xᵢ‖: ∂xᵢ = (∂nᵢ − nᵢ(nᵢ·∂nᵢ)) / ‖xᵢ‖ (just ∂nᵢ/TINY if clamped).
    let mut d_x = vec![0f32; n * d];
    d_x.par_chunks_exact_mut(d)
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(i, out)| {
            let (norm, clamped) = f.norms[i];
            let (u, du) = (&f.unit[i * d..(i + 1) * d], &d_unit[i * d..(i + 1) * d]);
            let along = if clamped { 0.0 } else { kernels::dot(u, du) };
            for ((o, &a), &b) in out.iter_mut().zip(u).zip(du) {
                *o = (b - a * along) / norm;
            }
        });
    d_x
}

impl GraphWeightsBackend for Flex {
    fn mixed_graph_weights(x: FloatTensor<Self>, graph: Arc<MixedGraph>) -> FloatTensor<Self> {
        let (shape, values) = host(&x);
        let f = forward(&values, shape[1], &graph);
        flex_tensor(f.out, [graph.all.n_rows, graph.all.fan], &x)
    }
}

#[derive(Debug)]
struct MixedGraphWeightsBackward;

impl Backward<Flex, 1> for MixedGraphWeightsBackward {
    /// (the forward's values, d, graph).
    type State = (Arc<Forward>, usize, Arc<MixedGraph>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (f, d, graph) = ops.state;
            let (_, g) = host(&grad);
            let d_x = backward(&f, &g, d, &graph);
            grads.register::<Flex>(node.id, flex_tensor(d_x, [graph.all.n_rows, d], &grad));
        }
    }
}

impl<C: CheckpointStrategy> GraphWeightsBackend for Autodiff<Flex, C> {
    fn mixed_graph_weights(x: FloatTensor<Self>, graph: Arc<MixedGraph>) -> FloatTensor<Self> {
        let kind = MixedGraphWeightsBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let xp = x.into_primitive();
        let (shape, values) = host(&xp);
        let d = shape[1];
        let mut f = forward(&values, d, &graph);
        let out = flex_tensor(
            std::mem::take(&mut f.out),
            [graph.all.n_rows, graph.all.fan],
            &xp,
        );
        record(kind, (Arc::new(f), d, graph), out)
    }
}

/// `Ḡ` of one side modality on a flex tensor (see [`GraphWeightsBackend`]).
pub fn mixed_graph_weights(x: Tensor<2>, graph: &Arc<MixedGraph>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as GraphWeightsBackend>::mixed_graph_weights(
        x.into_dispatch(),
        graph.clone(),
    ))
}
