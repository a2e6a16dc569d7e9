//! The batch's BPR differences and L2 sums on a CubeCL device: the forward one launch
//! each, the backward a zeroed gradient table and one launch that writes the rows the
//! batch touched. Several triples add into one row (a user drawn twice, an item that is
//! a positive and a negative): each row's terms are listed on the host in pass and
//! batch order ([`Segments`]) and one unit per element sums its row's list, a sorted
//! segmented reduction instead of float atomics, so every run gives the same bits and
//! no device needs atomic float adds.

use std::sync::Arc;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device_contiguous_dtype, zeros};
use burn_cubecl::tensor::CubeTensor;
use cubecl::CubeDim;

use super::kernels;
use super::launch::{elementwise, upload_u32 as upload};
use crate::sparse::{BatchKernels, ScoreTables, Triples};

/// The terms a table's rows receive, grouped by row: `rows[t]` receives the entries
/// `entries[seg_ptr[t]..seg_ptr[t + 1]]`, each `pass·B + b`, in pass then batch order.
#[derive(Debug, Clone)]
pub struct Segments {
    pub rows: Vec<u32>,
    pub seg_ptr: Vec<u32>,
    pub entries: Vec<u32>,
}

impl Segments {
    /// Groups `passes[p][b]` (the table row of pass `p`'s entry `b`) by row, each row's
    /// entries in pass then batch order; rows in ascending order.
    pub fn group(passes: &[&[u32]], batch: usize) -> Self {
        let mut pairs: Vec<(u32, u32)> = passes
            .iter()
            .enumerate()
            .flat_map(|(p, rows)| {
                rows.iter()
                    .enumerate()
                    .map(move |(b, &row)| (row, (p * batch + b) as u32))
            })
            .collect();
        // Stable: a row's entries keep their pass and batch order.
        pairs.sort_by_key(|&(row, _)| row);
        let mut segments = Self {
            rows: Vec::new(),
            seg_ptr: vec![0],
            entries: Vec::with_capacity(pairs.len()),
        };
        for (row, entry) in pairs {
            if segments.rows.last() != Some(&row) {
                if !segments.rows.is_empty() {
                    segments.seg_ptr.push(segments.entries.len() as u32);
                }
                segments.rows.push(row);
            }
            segments.entries.push(entry);
        }
        segments.seg_ptr.push(segments.entries.len() as u32);
        if segments.rows.is_empty() {
            segments.seg_ptr = vec![0];
        }
        segments
    }
}

/// Segments on the device: (rows, seg_ptr, entries).
fn upload_segments(s: &Segments, device: &cubecl::Device) -> [CubeTensor; 3] {
    [
        upload(&s.rows, device),
        upload(&s.seg_ptr, device),
        upload(&s.entries, device),
    ]
}

/// What the BPR differences' backward needs on the device.
#[derive(Debug, Clone)]
pub struct BprDeviceState {
    pub triples: Arc<Triples>,
    pub tables: ScoreTables,
    pub cf: CubeTensor,
    pub side: CubeTensor,
    users: CubeTensor,
    items: CubeTensor,
    sizes: CubeTensor,
    dscore: CubeTensor,
}

/// `[U, I, n_side, M, d, B]` on the device, as the batch kernels read them.
fn sizes(tables: ScoreTables, d: usize, b: usize, device: &cubecl::Device) -> CubeTensor {
    let narrow = |v: usize| u32::try_from(v).expect("bpr: sizes fit u32");
    let values = [
        tables.n_users,
        tables.n_items,
        tables.side,
        tables.modalities(),
        d,
        b,
    ]
    .map(narrow);
    upload(&values, device)
}

/// `r(u, pos) − r(u, neg)` per triple (`[B]`) and the backward's state: one launch.
pub fn bpr_forward(
    cf: CubeTensor,
    side: CubeTensor,
    triples: Arc<Triples>,
    tables: ScoreTables,
) -> (CubeTensor, BprDeviceState) {
    let (cf, side) = (into_contiguous(cf), into_contiguous(side));
    let d = cf.meta.shape()[1];
    let b = triples.users.len();
    let m = tables.modalities();
    assert!(
        cf.meta.shape()[0] >= tables.n_users + usize::from(tables.interaction) * tables.n_items,
        "bpr: the CF table has too few rows"
    );
    assert!(
        side.meta.shape()[0] >= tables.side * tables.n_items
            && (tables.side == 0 || side.meta.shape()[1] == d),
        "bpr: the side tables are not [S·I, d]"
    );
    let device = cf.device.clone();
    let users = upload(&triples.users, &device);
    let items = upload(
        &[triples.pos.as_slice(), triples.neg.as_slice()].concat(),
        &device,
    );
    let sizes = sizes(tables, d, b, &device);
    let client = cf.client.clone();
    let empty = |shape: Vec<usize>| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), Shape::from(shape), cf.dtype)
    };
    let diff = empty(vec![b]);
    let dscore = empty(vec![2 * b * m]);
    if b > 0 {
        let (count, dim) = elementwise(&client, b);
        kernels::bpr_scores::launch(
            &client,
            count,
            dim,
            cf.clone().into_tensor_arg(),
            side.clone().into_tensor_arg(),
            users.clone().into_tensor_arg(),
            items.clone().into_tensor_arg(),
            sizes.clone().into_tensor_arg(),
            diff.clone().into_tensor_arg(),
            dscore.clone().into_tensor_arg(),
            1.0 / (d as f32).sqrt(),
        );
    }
    let state = BprDeviceState {
        triples,
        tables,
        cf,
        side,
        users,
        items,
        sizes,
        dscore,
    };
    (diff, state)
}

/// A zeroed gradient shaped like `table` whose rows the batch touched are written by
/// `launch`, given the segments of `passes` (each pass the table rows of the batch's
/// entries) on the device as (rows, seg_ptr, entries), its launch size (one unit per
/// touched element) and the output.
fn segmented_grad(
    table: &CubeTensor,
    passes: &[&[u32]],
    batch: usize,
    launch: impl FnOnce([CubeTensor; 3], (cubecl::CubeCount, CubeDim), CubeTensor),
) -> CubeTensor {
    let segments = Segments::group(passes, batch);
    let out = zeros(
        table.device.clone(),
        table.meta.shape().clone(),
        table.dtype,
    );
    let d = table.meta.shape()[1];
    if !segments.rows.is_empty() && d > 0 {
        let on_device = upload_segments(&segments, &table.device);
        let size = elementwise(&table.client, segments.rows.len() * d);
        launch(on_device, size, out.clone());
    }
    out
}

/// Item rows `ids` shifted by `by`.
fn shifted(ids: &[u32], by: usize) -> Vec<u32> {
    ids.iter().map(|&i| i + by as u32).collect()
}

/// The gradients of the CF and the side table (each only if asked) for the upstream
/// gradient `g` (`[B]`).
pub fn bpr_backward(
    g: CubeTensor,
    s: &BprDeviceState,
    want_cf: bool,
    want_side: bool,
) -> (Option<CubeTensor>, Option<CubeTensor>) {
    let g = into_contiguous(g);
    let (t, tables) = (&s.triples, s.tables);
    let b = t.users.len();
    let client = s.cf.client.clone();
    let cf = want_cf.then(|| {
        // Passes 0 and 1: the users' rows; 2 and 3: the interaction modality's.
        let (pos, neg) = (
            shifted(&t.pos, tables.n_users),
            shifted(&t.neg, tables.n_users),
        );
        let mut passes = vec![t.users.as_slice(), t.users.as_slice()];
        if tables.interaction {
            passes.extend([pos.as_slice(), neg.as_slice()]);
        }
        segmented_grad(
            &s.cf,
            &passes,
            b,
            |[rows, seg_ptr, entries], (count, dim), out| {
                kernels::bpr_grad_cf::launch(
                    &client,
                    count,
                    dim,
                    s.cf.clone().into_tensor_arg(),
                    s.side.clone().into_tensor_arg(),
                    s.users.clone().into_tensor_arg(),
                    s.items.clone().into_tensor_arg(),
                    s.sizes.clone().into_tensor_arg(),
                    g.clone().into_tensor_arg(),
                    s.dscore.clone().into_tensor_arg(),
                    rows.into_tensor_arg(),
                    seg_ptr.into_tensor_arg(),
                    entries.into_tensor_arg(),
                    out.into_tensor_arg(),
                );
            },
        )
    });
    let side = want_side.then(|| {
        // Passes 2k and 2k + 1: modality k's rows of the positives and the negatives.
        let rows: Vec<Vec<u32>> = (0..tables.side)
            .flat_map(|k| {
                let by = k * tables.n_items;
                [shifted(&t.pos, by), shifted(&t.neg, by)]
            })
            .collect();
        let passes: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        segmented_grad(
            &s.side,
            &passes,
            b,
            |[rows, seg_ptr, entries], (count, dim), out| {
                kernels::bpr_grad_side::launch(
                    &client,
                    count,
                    dim,
                    s.cf.clone().into_tensor_arg(),
                    s.users.clone().into_tensor_arg(),
                    s.sizes.clone().into_tensor_arg(),
                    g.clone().into_tensor_arg(),
                    s.dscore.clone().into_tensor_arg(),
                    rows.into_tensor_arg(),
                    seg_ptr.into_tensor_arg(),
                    entries.into_tensor_arg(),
                    out.into_tensor_arg(),
                );
            },
        )
    });
    (cf, side)
}

/// `‖table[ids[b]]‖²` per id (`[B]`; the caller sums them): one launch.
pub fn row_squares(table: CubeTensor, ids: &[u32]) -> CubeTensor {
    let table = into_contiguous(table);
    let client = table.client.clone();
    let out = empty_device_contiguous_dtype(
        client.clone(),
        table.device.clone(),
        Shape::new([ids.len()]),
        table.dtype,
    );
    if !ids.is_empty() {
        let ids = upload(ids, &table.device);
        let (count, dim) = elementwise(&client, ids.meta.shape()[0]);
        kernels::row_squares::launch(
            &client,
            count,
            dim,
            table.into_tensor_arg(),
            ids.into_tensor_arg(),
            out.clone().into_tensor_arg(),
        );
    }
    out
}

/// The gradient of `Σᵦ ‖table[ids[b]]‖²` times the upstream `g` (`[1]`).
pub fn row_squares_grad(table: CubeTensor, ids: &[u32], g: CubeTensor) -> CubeTensor {
    let table = into_contiguous(table);
    let g = into_contiguous(g);
    let client = table.client.clone();
    segmented_grad(
        &table,
        &[ids],
        ids.len(),
        |[rows, seg_ptr, _], (count, dim), out| {
            kernels::row_squares_grad::launch(
                &client,
                count,
                dim,
                table.clone().into_tensor_arg(),
                g.into_tensor_arg(),
                rows.into_tensor_arg(),
                seg_ptr.into_tensor_arg(),
                out.into_tensor_arg(),
            );
        },
    )
}

impl BatchKernels for CubeBackend {
    type BprState = BprDeviceState;

    fn bpr_forward(
        cf: FloatTensor<Self>,
        side: FloatTensor<Self>,
        triples: Arc<Triples>,
        tables: ScoreTables,
    ) -> (FloatTensor<Self>, BprDeviceState) {
        bpr_forward(cf, side, triples, tables)
    }

    fn bpr_backward(
        g: FloatTensor<Self>,
        state: BprDeviceState,
        cf: bool,
        side: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        bpr_backward(g, &state, cf, side)
    }

    fn square_sum(table: FloatTensor<Self>, ids: &[u32]) -> FloatTensor<Self> {
        CubeBackend::float_sum(row_squares(table, ids))
    }

    fn square_sum_backward(
        g: FloatTensor<Self>,
        table: FloatTensor<Self>,
        ids: &[u32],
    ) -> FloatTensor<Self> {
        row_squares_grad(table, ids, g)
    }
}
