//! Host kernels of the sparse graph operations: CSR products and fixed-fan-in
//! gathers over `f32` row-major tables, parallel over output rows with rayon.
//!
//! Every output row is summed serially in a fixed order, so results do not depend on
//! the number of threads. These functions know nothing of burn; [`super::ops`]
//! wraps them as differentiable burn operations.

use mario_shared::modality_attention;
use rayon::prelude::*;

pub(super) use super::simd::dot;
use super::simd::{self, RowKernel, weighted_rows};
use super::table::par_blocks;

/// Rows per rayon task: small rows (d = 64) are too cheap to schedule one by one.
pub(super) const ROWS_PER_TASK: usize = 64;

/// A fresh `n_rows × width` table whose row `r` is written by `kernel.row(r, row)`, in
/// parallel over blocks of [`ROWS_PER_TASK`] rows (each compiled for the CPU's widest
/// vectors, [`simd::rows`], and zeroed by its own task, [`table::par_blocks`]); each row
/// is written by one call only.
pub(super) fn rows_table(n_rows: usize, width: usize, kernel: &impl RowKernel) -> Vec<f32> {
    rows_table_from(0..n_rows, width, kernel)
}

/// [`rows_table`] for the rows `rows` of the result (row `rows.start` first).
fn rows_table_from(
    rows: std::ops::Range<usize>,
    width: usize,
    kernel: &impl RowKernel,
) -> Vec<f32> {
    par_blocks(rows.len() * width, width * ROWS_PER_TASK, |task, block| {
        simd::rows(block, width, rows.start + task * ROWS_PER_TASK, kernel);
    })
}

#[inline]
pub(super) fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Start offsets of `n` buckets (`n + 1` entries, the last = total) for keys in `0..n`:
/// the first half of a counting sort, shared by CSR rows and the reverse fan index.
fn bucket_offsets(keys: impl Iterator<Item = usize>, n: usize) -> Vec<usize> {
    let mut offsets = vec![0usize; n + 1];
    for k in keys {
        offsets[k + 1] += 1;
    }
    for b in 0..n {
        offsets[b + 1] += offsets[b];
    }
    offsets
}

/// A sparse `n_rows × n_cols` matrix in compressed sparse row form.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub n_rows: usize,
    pub n_cols: usize,
    /// `row_ptr[r]..row_ptr[r + 1]` are row `r`'s entries.
    pub row_ptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f32>,
}

impl Csr {
    /// Builds from `(row, col, value)` triplets; entries keep their order within a row.
    pub fn from_triplets(n_rows: usize, n_cols: usize, triplets: &[(u32, u32, f32)]) -> Self {
        let row_ptr = bucket_offsets(triplets.iter().map(|&(r, _, _)| r as usize), n_rows);
        let mut fill = row_ptr.clone();
        let mut cols = vec![0u32; triplets.len()];
        let mut vals = vec![0f32; triplets.len()];
        for &(r, c, v) in triplets {
            let at = &mut fill[r as usize];
            cols[*at] = c;
            vals[*at] = v;
            *at += 1;
        }
        Self {
            n_rows,
            n_cols,
            row_ptr,
            cols,
            vals,
        }
    }

    /// The transposed matrix (entries of a row ordered by their original row).
    #[cfg(test)]
    pub fn transpose(&self) -> Self {
        let mut triplets = Vec::with_capacity(self.vals.len());
        for r in 0..self.n_rows {
            for e in self.row_ptr[r]..self.row_ptr[r + 1] {
                triplets.push((self.cols[e], r as u32, self.vals[e]));
            }
        }
        Self::from_triplets(self.n_cols, self.n_rows, &triplets)
    }

    /// `A·x` for a row-major `n_cols × d` table `x`: `n_rows × d`.
    pub fn matmul(&self, x: &[f32], d: usize) -> Vec<f32> {
        assert_eq!(x.len(), self.n_cols * d, "spmm: x is not n_cols × d");
        rows_table(self.n_rows, d, &SpmmRows { a: self, x })
    }

    /// The rows `rows` of `(A·x + add) / divisor`, one pass (e.g. the users' rows of a
    /// user-item product, then the items'). Each element is `A·x`'s value plus `add`'s,
    /// then divided: the same bits as the three steps apart.
    pub fn matmul_add(
        &self,
        x: &[f32],
        d: usize,
        add: &[f32],
        divisor: f32,
        rows: std::ops::Range<usize>,
    ) -> Vec<f32> {
        assert_eq!(x.len(), self.n_cols * d, "spmm: x is not n_cols × d");
        assert_eq!(add.len(), self.n_rows * d, "spmm: add is not n_rows × d");
        assert!(rows.end <= self.n_rows, "spmm: rows past the matrix's");
        let kernel = SpmmAddRows {
            a: self,
            x,
            add,
            divisor,
        };
        rows_table_from(rows, d, &kernel)
    }
}

/// A graph where every row has the same number of neighbours (`fan`), e.g. a kNN
/// graph, with the reverse index its backward passes need.
#[derive(Debug, Clone, PartialEq)]
pub struct FanIndex {
    pub n_rows: usize,
    pub fan: usize,
    /// Rows of the gathered table.
    pub n_src: usize,
    /// `ids[i·fan + j]`: neighbour `j` of row `i`.
    pub ids: Vec<u32>,
    /// Edges `e = i·fan + j` grouped by source `ids[e]`: `rev_edges[rev_ptr[s]..rev_ptr[s + 1]]`.
    pub rev_ptr: Vec<usize>,
    pub rev_edges: Vec<u32>,
}

impl FanIndex {
    pub fn new(ids: Vec<u32>, n_rows: usize, n_src: usize) -> Self {
        let fan = ids.len().checked_div(n_rows).unwrap_or(0);
        assert_eq!(
            ids.len(),
            n_rows * fan,
            "fan index: ids is not n_rows × fan"
        );
        if let Some(&s) = ids.iter().find(|&&s| s as usize >= n_src) {
            panic!("fan index: neighbour {s} ≥ {n_src}");
        }
        let rev_ptr = bucket_offsets(ids.iter().map(|&s| s as usize), n_src);
        let mut fill = rev_ptr.clone();
        let mut rev_edges = vec![0u32; ids.len()];
        for (e, &s) in ids.iter().enumerate() {
            rev_edges[fill[s as usize]] = e as u32;
            fill[s as usize] += 1;
        }
        Self {
            n_rows,
            fan,
            n_src,
            ids,
            rev_ptr,
            rev_edges,
        }
    }

    /// The edges that gather row `s`, as `(w[e], the row e belongs to)`, in edge order:
    /// the terms of `s`'s row of `Ḡᵀ·g` for per-edge weights `w`.
    #[inline(always)]
    pub(super) fn reverse_terms<'a>(
        &'a self,
        s: usize,
        w: &'a [f32],
    ) -> impl Iterator<Item = (f32, usize)> + Clone + 'a {
        let fan = self.fan.max(1);
        self.rev_edges[self.rev_ptr[s]..self.rev_ptr[s + 1]]
            .iter()
            .map(move |&e| (w[e as usize], e as usize / fan))
    }

    /// `out[i] = Σⱼ w[i, j] · x[ids[i, j]]`: `n_rows × d`.
    pub fn weighted_sum(&self, x: &[f32], w: &[f32], d: usize) -> Vec<f32> {
        assert_eq!(x.len(), self.n_src * d);
        assert_eq!(w.len(), self.n_rows * self.fan);
        rows_table(self.n_rows, d, &FanSumRows { index: self, x, w })
    }

    /// Gradient of [`Self::weighted_sum`] with respect to `x`:
    /// `gx[s] = Σ_{(i, j): ids[i, j] = s} w[i, j] · g[i]`, `n_src × d`.
    pub fn weighted_sum_grad_x(&self, g: &[f32], w: &[f32], d: usize) -> Vec<f32> {
        assert_eq!(g.len(), self.n_rows * d);
        rows_table(self.n_src, d, &FanSumGradRows { index: self, g, w })
    }

    /// `out[i, j] = a[i]·b[ids[i, j]]`, `n_rows × fan` (also the gradient of
    /// [`Self::weighted_sum`] with respect to `w`: `gw[i, j] = g[i]·x[ids[i, j]]`).
    pub fn pair_dots(&self, a: &[f32], b: &[f32], d: usize) -> Vec<f32> {
        assert_eq!(a.len(), self.n_rows * d);
        assert_eq!(b.len(), self.n_src * d);
        let kernel = PairDotRows {
            index: self,
            a,
            b,
            d,
        };
        rows_table(self.n_rows, self.fan, &kernel)
    }

    /// Gradient of `c[i, j] = a[i]·a[ids[i, j]]` (rows and neighbours from one table,
    /// `n_rows = n_src`) with respect to `a`, given `g = ∂L/∂c`:
    /// `ga[t] = Σⱼ g[t, j] a[ids[t, j]] + Σ_{(i, j): ids[i, j] = t} g[i, j] a[i]`.
    pub fn self_dots_grad(&self, g: &[f32], a: &[f32], d: usize) -> Vec<f32> {
        assert_eq!(self.n_rows, self.n_src, "self dots need a square index");
        assert_eq!(g.len(), self.n_rows * self.fan);
        rows_table(self.n_rows, d, &SelfDotsGradRows { index: self, g, a })
    }
}

/// Row `r` of `A·x`: `Σₑ A[r, cₑ] · x[cₑ]`.
struct SpmmRows<'a> {
    a: &'a Csr,
    x: &'a [f32],
}

impl RowKernel for SpmmRows<'_> {
    #[inline(always)]
    fn row(&self, r: usize, out: &mut [f32]) {
        let edges = self.a.row_ptr[r]..self.a.row_ptr[r + 1];
        let terms = self.a.vals[edges.clone()].iter().zip(&self.a.cols[edges]);
        weighted_rows(out, self.x, terms.map(|(&v, &c)| (v, c as usize)));
    }
}

/// Row `r` of [`Csr::matmul_add`]: `(Σₑ A[r, cₑ] · x[cₑ] + add[r]) / divisor`.
struct SpmmAddRows<'a> {
    a: &'a Csr,
    x: &'a [f32],
    add: &'a [f32],
    divisor: f32,
}

impl RowKernel for SpmmAddRows<'_> {
    #[inline(always)]
    fn row(&self, r: usize, out: &mut [f32]) {
        SpmmRows {
            a: self.a,
            x: self.x,
        }
        .row(r, out);
        let add = &self.add[r * out.len()..(r + 1) * out.len()];
        for (o, &a) in out.iter_mut().zip(add) {
            *o = (*o + a) / self.divisor;
        }
    }
}

/// Row `i` of [`FanIndex::weighted_sum`].
struct FanSumRows<'a> {
    index: &'a FanIndex,
    x: &'a [f32],
    w: &'a [f32],
}

impl RowKernel for FanSumRows<'_> {
    #[inline(always)]
    fn row(&self, i: usize, out: &mut [f32]) {
        let edges = i * self.index.fan..(i + 1) * self.index.fan;
        let terms = self.w[edges.clone()].iter().zip(&self.index.ids[edges]);
        weighted_rows(out, self.x, terms.map(|(&a, &s)| (a, s as usize)));
    }
}

/// Row `s` of [`FanIndex::weighted_sum_grad_x`]: over the edges that gather `s`.
struct FanSumGradRows<'a> {
    index: &'a FanIndex,
    g: &'a [f32],
    w: &'a [f32],
}

impl RowKernel for FanSumGradRows<'_> {
    #[inline(always)]
    fn row(&self, s: usize, out: &mut [f32]) {
        weighted_rows(out, self.g, self.index.reverse_terms(s, self.w));
    }
}

/// Row `i` of [`FanIndex::pair_dots`]: `fan` dot products of `d`-wide rows.
struct PairDotRows<'a> {
    index: &'a FanIndex,
    a: &'a [f32],
    b: &'a [f32],
    d: usize,
}

impl RowKernel for PairDotRows<'_> {
    #[inline(always)]
    fn row(&self, i: usize, out: &mut [f32]) {
        let (d, fan) = (self.d, self.index.fan);
        let ai = &self.a[i * d..(i + 1) * d];
        let ids = &self.index.ids[i * fan..(i + 1) * fan];
        simd::dots_with_rows(ai, self.b, ids, d, out);
    }
}

/// Row `t` of [`FanIndex::self_dots_grad`]: its own neighbours first, then the rows
/// that have it as a neighbour.
pub(super) struct SelfDotsGradRows<'a> {
    pub index: &'a FanIndex,
    pub g: &'a [f32],
    pub a: &'a [f32],
}

impl RowKernel for SelfDotsGradRows<'_> {
    #[inline(always)]
    fn row(&self, t: usize, out: &mut [f32]) {
        let index = self.index;
        let edges = t * index.fan..(t + 1) * index.fan;
        let forward = self.g[edges.clone()].iter().zip(&index.ids[edges]);
        let forward = forward.map(|(&ge, &s)| (ge, s as usize));
        simd::weighted_rows_then(out, self.a, forward, index.reverse_terms(t, self.g));
    }
}

/// The rows of a batch: row `b` of a table, or row `ids[b]` of it (read in place,
/// never gathered into a copy).
#[derive(Debug, Clone, Copy)]
pub struct BatchRows<'a> {
    table: &'a [f32],
    ids: Option<&'a [u32]>,
    width: usize,
}

impl<'a> BatchRows<'a> {
    /// Row `b` is `table[b]`.
    pub fn contiguous(table: &'a [f32], width: usize) -> Self {
        Self {
            table,
            ids: None,
            width,
        }
    }

    /// Row `b` is `table[ids[b]]`.
    pub fn gathered(table: &'a [f32], ids: &'a [u32], width: usize) -> Self {
        Self {
            table,
            ids: Some(ids),
            width,
        }
    }

    pub(super) fn len(&self) -> usize {
        match self.ids {
            Some(ids) => ids.len(),
            None => self.table.len() / self.width.max(1),
        }
    }

    #[inline]
    pub(super) fn row(&self, b: usize) -> &'a [f32] {
        let r = self.ids.map_or(b, |ids| ids[b] as usize);
        &self.table[r * self.width..(r + 1) * self.width]
    }
}

/// Eq. 5–7 for a batch, fused: `r[b] = Σₘ aᵐ sᵐ` with `sᵐ = u[b]·v[b, m]` and
/// `a = softmaxₘ(s/√d)`. `u` has rows of `d`, `v` rows of `M·d` (the M modalities of
/// an item). Returns the scores and, per (b, m), `∂r/∂sᵐ = aᵐ(1 + (sᵐ − r)/√d)`,
/// which is all the backward needs.
pub fn attention_scores(
    u: BatchRows<'_>,
    v: BatchRows<'_>,
    m: usize,
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let b = u.len();
    assert_eq!(v.len(), b, "attention: u and v have different batch sizes");
    assert!(
        u.width == d && v.width == m * d,
        "attention: rows are not d and M·d wide"
    );
    attention_scores_by(
        b,
        m,
        d,
        |row| u.row(row),
        |row, k| &v.row(row)[k * d..(k + 1) * d],
    )
}

/// [`attention_scores`] for rows found by `user(b)` and `item(b, m)`: the one
/// implementation of the fused score, for any layout of the tables.
pub fn attention_scores_by<'t>(
    b: usize,
    m: usize,
    d: usize,
    user: impl Fn(usize) -> &'t [f32] + Sync,
    item: impl Fn(usize, usize) -> &'t [f32] + Sync,
) -> (Vec<f32>, Vec<f32>) {
    let scale = 1.0 / (d as f32).sqrt();
    let mut scores = vec![0f32; b];
    let mut dscore = vec![0f32; b * m];
    scores
        .par_iter_mut()
        .zip(dscore.par_chunks_mut(m.max(1)))
        .enumerate()
        .for_each(|(row, (score, ds))| {
            let ur = user(row);
            let mut s = [0f32; MAX_FUSED_MODALITIES];
            for (k, s) in s[..m].iter_mut().enumerate() {
                *s = dot(ur, item(row, k));
            }
            // Eq. 5 through the one shared softmax, then Eq. 7.
            let mut a = [0f32; MAX_FUSED_MODALITIES];
            modality_attention(&s[..m], d, &mut a[..m]);
            let r: f32 = (0..m).map(|k| a[k] * s[k]).sum();
            *score = r;
            for k in 0..m {
                ds[k] = a[k] * (1.0 + (s[k] - r) * scale);
            }
        });
    (scores, dscore)
}

/// The most modalities [`attention_scores`] fuses (more fall back to the dense path).
pub const MAX_FUSED_MODALITIES: usize = 8;

/// Backward of [`attention_scores`] given `g = ∂L/∂r` (`[B]`) and its `∂r/∂s`:
/// `∂u[b] = Σₘ g[b]·∂sᵐ·v[b, m]`, `∂v[b, m] = g[b]·∂sᵐ·u[b]`.
pub fn attention_scores_grad(
    u: &[f32],
    v: &[f32],
    dscore: &[f32],
    g: &[f32],
    m: usize,
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let b = g.len();
    let mut gu = vec![0f32; b * d];
    let mut gv = vec![0f32; b * m * d];
    gu.par_chunks_mut(d)
        .zip(gv.par_chunks_mut(m * d))
        .enumerate()
        .for_each(|(row, (gu_row, gv_row))| {
            let ur = &u[row * d..(row + 1) * d];
            for k in 0..m {
                let w = g[row] * dscore[row * m + k];
                axpy(gu_row, w, &v[(row * m + k) * d..(row * m + k + 1) * d]);
                axpy(&mut gv_row[k * d..(k + 1) * d], w, ur);
            }
        });
    (gu, gv)
}

/// A fresh `n_rows × width` table of sums, formed in parallel and deterministically:
/// for every pass `p` and every `b` of `passes[p]`, in that order, `add(p, b, row)`
/// adds batch entry `b`'s term into `row`, table row `passes[p][b]`. The rows are split
/// into blocks, one task each (which zeroes its block, [`par_blocks`]), and every task
/// visits all the passes in order but calls `add` only for its own rows: each row
/// receives its terms in pass and batch order, whatever the number of threads.
pub(super) fn scatter_rows(
    n_rows: usize,
    width: usize,
    passes: &[&[u32]],
    add: impl Fn(usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    // A few blocks per thread, so that a crowded block does not hold up the rest.
    let per_block = n_rows.div_ceil(4 * rayon::current_num_threads()).max(16);
    par_blocks(n_rows * width, per_block * width, |block, rows| {
        simd::widest(ScatterBlock {
            rows,
            width,
            first: block * per_block,
            passes,
            add: &add,
        });
    })
}

/// One block of [`scatter_rows`], compiled for the CPU's widest vectors: an `add`
/// closure the compiler inlines gets the full width (the L2 sum's backward does; the
/// BPR backward's larger closures stay functions of their own, compiled for the baseline).
struct ScatterBlock<'a, F> {
    rows: &'a mut [f32],
    width: usize,
    first: usize,
    passes: &'a [&'a [u32]],
    add: &'a F,
}

impl<F: Fn(usize, usize, &mut [f32])> simd::WideLoop for ScatterBlock<'_, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let (first, width) = (self.first, self.width);
        let own = first..first + self.rows.len() / width;
        for (p, ids) in self.passes.iter().enumerate() {
            for (b, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if own.contains(&id) {
                    (self.add)(p, b, &mut self.rows[(id - first) * width..][..width]);
                }
            }
        }
    }
}
