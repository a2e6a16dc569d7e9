//! The CubeCL kernels on wgpu (lavapipe on a machine without a GPU) against flex's
//! host kernels: forward values and every gradient within 1e-4 relative, at shapes
//! that span several cubes and end in a ragged one.

use std::sync::Arc;

use burn::optim::{AdamConfig, Optimizer};
use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{self, BackendChoice};
use crate::sparse::{
    Csr, GraphParts, LightGcnGraph, MixedGraph, MpRows, ScoreTables, SparseMatrix, Triples,
    bpr_differences, gathered_square_sum, item_graph_embeddings, lightgcn_readout, mp_loss, spmm,
};
use crate::tensor::{float_tensor, to_f32};
use crate::train::optimizer::device_step;

fn wgpu() -> Device {
    backend::select(BackendChoice::Wgpu)
        .expect("no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs lavapipe)")
        .device
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * y.abs().max(1e-2),
            "{what}[{i}]: {x} (wgpu) vs {y} (flex)"
        );
    }
}

/// A random non-symmetric `n × n` matrix with rows of 0 to 7 entries (some empty) and its
/// transpose: the backward must read the transpose.
fn random_matrix(rng: &mut ChaCha8Rng, n: usize) -> Arc<SparseMatrix> {
    let triplets: Vec<(u32, u32, f32)> = (0..n)
        .flat_map(|r| {
            let fan = (r * 7) % 8;
            (0..fan).map(move |j| (r as u32, ((r * 13 + j * 29) % n) as u32))
        })
        .map(|(r, c)| (r, c, rng.random_range(-1.0..1.0)))
        .collect();
    let forward = Csr::from_triplets(n, n, &triplets);
    let transpose = forward.transpose();
    Arc::new(SparseMatrix::new(forward, transpose))
}

/// `A·x` and `∂x = Aᵀ·g` on wgpu equal flex's: 301 rows × 37 columns is 44 cubes of
/// 256 units, the last one ragged.
#[test]
fn spmm_on_wgpu_matches_flex() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (n, d) = (301, 37);
    let matrix = random_matrix(&mut rng, n);
    let (x, probe) = (random(&mut rng, n * d), random(&mut rng, n * d));
    let run = |device: &Device| {
        let grad_device = device.clone().autodiff();
        let x = float_tensor(x.clone(), [n, d], &grad_device).require_grad();
        let out = spmm(x.clone(), &matrix);
        let grads = (out.clone() * float_tensor(probe.clone(), [n, d], &grad_device))
            .sum()
            .backward();
        (
            to_f32(out.inner()),
            to_f32(x.grad(&grads).expect("x has a gradient")),
        )
    };
    let (flex_out, flex_grad) = run(&Device::flex());
    let (gpu_out, gpu_grad) = run(&wgpu());
    assert_close(&gpu_out, &flex_out, "A·x");
    assert_close(&gpu_grad, &flex_grad, "∂x");
    assert!(
        flex_grad.iter().any(|&g| g != 0.0),
        "the gradient is not all zero"
    );
}

/// LightGCN's readout and both gradients on wgpu equal flex's, for 0 to 3 layers over
/// a non-symmetric matrix (the backward takes the transpose); 20 columns take the
/// kernel's four-column path (the product test above, 37, the one-column path).
#[test]
fn lightgcn_readout_on_wgpu_matches_flex() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let (n_users, n_items, d) = (190, 123, 20);
    let n = n_users + n_items;
    let matrix = random_matrix(&mut rng, n);
    let users = random(&mut rng, n_users * d);
    let items = random(&mut rng, n_items * d);
    let probe = random(&mut rng, n * d);
    let gpu = wgpu();
    for layers in 0..=3 {
        let graph = Arc::new(LightGcnGraph {
            matrix: matrix.clone(),
            layers,
        });
        let run = |device: &Device| {
            let grad_device = device.clone().autodiff();
            let u = float_tensor(users.clone(), [n_users, d], &grad_device).require_grad();
            let i = float_tensor(items.clone(), [n_items, d], &grad_device).require_grad();
            let out = lightgcn_readout(u.clone(), i.clone(), &graph);
            let probe = float_tensor(probe.clone(), [n, d], &grad_device);
            let grads = (out.clone() * probe).sum().backward();
            let grad = |t: &Tensor<2>| to_f32(t.grad(&grads).expect("a gradient"));
            (to_f32(out.inner()), grad(&u), grad(&i))
        };
        let (flex_out, flex_gu, flex_gi) = run(&Device::flex());
        let (gpu_out, gpu_gu, gpu_gi) = run(&gpu);
        assert_close(&gpu_out, &flex_out, &format!("readout, L = {layers}"));
        assert_close(&gpu_gu, &flex_gu, &format!("∂users, L = {layers}"));
        assert_close(&gpu_gi, &flex_gi, &format!("∂items, L = {layers}"));
    }
}

/// The one-launch Adam step on wgpu gives burn's `Adam` on flex: parameters and both
/// moments over four steps (the first-step branch, bias correction, a changing rate),
/// 1,000 × 3 values (12 cubes, the last ragged).
#[test]
fn adam_kernel_on_wgpu_matches_burns_adam() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let shape = [1000, 3];
    let n = shape[0] * shape[1];
    let start = random(&mut rng, n);
    let adam = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .build();
    let (flex, gpu) = (Device::flex(), wgpu());
    let mut reference = float_tensor(start.clone(), shape, &flex);
    let mut on_gpu = float_tensor(start.clone(), shape, &gpu);
    let (mut ref_state, mut gpu_state) = (None, None);
    for step in 0..4 {
        let lr = 1e-2 / (step + 1) as f64;
        let grad = random(&mut rng, n);
        let (r, s) = adam.step(
            lr,
            reference,
            float_tensor(grad.clone(), shape, &flex),
            ref_state.take(),
        );
        (reference, ref_state) = (r, s);
        let (p, s) = device_step(
            lr,
            1e-8,
            on_gpu,
            float_tensor(grad, shape, &gpu),
            gpu_state.take(),
        );
        (on_gpu, gpu_state) = (p, Some(s));
        assert_close(
            &to_f32(on_gpu.clone()),
            &to_f32(reference.clone()),
            &format!("p, step {step}"),
        );
        let (rs, gs) = (ref_state.clone().unwrap(), gpu_state.clone().unwrap());
        assert_eq!(rs.momentum.time, gs.momentum.time);
        let m = |t: Tensor<2>| to_f32(t);
        assert_close(
            &m(gs.momentum.moment_1),
            &m(rs.momentum.moment_1),
            &format!("m, step {step}"),
        );
        assert_close(
            &m(gs.momentum.moment_2),
            &m(rs.momentum.moment_2),
            &format!("v, step {step}"),
        );
    }
    assert_ne!(to_f32(on_gpu), start, "the steps moved the parameters");
}

/// The BPR differences and the L2 sums with their gradients on wgpu equal flex's:
/// two side modalities and the interaction one, users and items drawn more than once
/// (rows whose terms the segmented reduction adds), 700 triples (3 cubes).
#[test]
fn batch_bpr_and_l2_on_wgpu_match_flex() {
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let (n_users, n_items, d, b) = (150, 90, 24, 700);
    let tables = ScoreTables {
        n_users,
        n_items,
        side: 2,
        interaction: true,
    };
    let draw = |rng: &mut ChaCha8Rng, n: usize| -> Vec<u32> {
        (0..b).map(|_| rng.random_range(0..n as u32)).collect()
    };
    let triples = Arc::new(Triples {
        users: draw(&mut rng, n_users),
        pos: draw(&mut rng, n_items),
        neg: draw(&mut rng, n_items),
    });
    let cf = random(&mut rng, (n_users + n_items) * d);
    let side = random(&mut rng, 2 * n_items * d);
    let probe = random(&mut rng, b);
    let items: Arc<Vec<u32>> = Arc::new([triples.pos.clone(), triples.neg.clone()].concat());
    let run = |device: &Device| {
        let grad_device = device.clone().autodiff();
        let cf = float_tensor(cf.clone(), [n_users + n_items, d], &grad_device).require_grad();
        let side = float_tensor(side.clone(), [2 * n_items, d], &grad_device).require_grad();
        let diff = bpr_differences(cf.clone(), side.clone(), &triples, tables);
        let l2 = gathered_square_sum(cf.clone(), &items);
        let loss = (diff.clone() * float_tensor(probe.clone(), [b], &grad_device)).sum()
            + l2.clone() * 0.5;
        let grads = loss.backward();
        let grad = |t: &Tensor<2>| to_f32(t.grad(&grads).expect("a gradient"));
        (
            to_f32(diff.inner()),
            to_f32(l2.inner()),
            grad(&cf),
            grad(&side),
        )
    };
    let (flex_diff, flex_l2, flex_gcf, flex_gside) = run(&Device::flex());
    let (gpu_diff, gpu_l2, gpu_gcf, gpu_gside) = run(&wgpu());
    assert_close(&gpu_diff, &flex_diff, "r(u, pos) − r(u, neg)");
    assert_close(&gpu_l2, &flex_l2, "Σ‖x‖²");
    assert_close(&gpu_gcf, &flex_gcf, "∂cf");
    assert_close(&gpu_gside, &flex_gside, "∂side");
    assert!(
        flex_gside.iter().any(|&g| g != 0.0),
        "the side gradient is not all zero"
    );
}

/// Segments list each row's terms once, in pass then batch order, rows ascending.
#[test]
fn segments_group_terms_by_row_in_pass_then_batch_order() {
    let s = super::batch::Segments::group(&[&[4, 1, 4], &[1, 7, 4]], 3);
    assert_eq!(s.rows, vec![1, 4, 7]);
    assert_eq!(s.seg_ptr, vec![0, 2, 5, 6]);
    // Row 1: pass 0 entry 1, pass 1 entry 0; row 4: pass 0 entries 0 and 2, pass 1 entry 2.
    assert_eq!(s.entries, vec![1, 3, 0, 2, 5, 4]);
    let empty = super::batch::Segments::group(&[&[]], 0);
    assert!(empty.rows.is_empty() && empty.entries.is_empty());
    assert_eq!(empty.seg_ptr, vec![0]);
}

/// The item graphs' operation (Eq. 2–4 and the layers) and its gradient on wgpu equal
/// flex's: two modalities stacked block-diagonally, neighbours repeated, raw weights
/// with zeros, 1 to 3 layers; 2 × 150 rows × 20 (and 21) columns span several cubes.
#[test]
fn item_graph_on_wgpu_matches_flex() {
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let (n, d, k_raw, k_learnt, lambda) = (150, 20, 3, 4, 0.7);
    let ids = |rng: &mut ChaCha8Rng, k: usize| -> Vec<u32> {
        (0..n * k).map(|_| rng.random_range(0..n as u32)).collect()
    };
    let parts: Vec<(Vec<f32>, Vec<u32>, Vec<u32>)> = (0..2)
        .map(|_| {
            let raw = ids(&mut rng, k_raw);
            let learnt = ids(&mut rng, k_learnt);
            let weight: Vec<f32> = (0..n * k_raw)
                .map(|e| {
                    if e % 5 == 0 {
                        0.0
                    } else {
                        lambda * rng.random_range(0.0..1.0f32)
                    }
                })
                .collect();
            let all = (0..n)
                .flat_map(|i| {
                    let r = &raw[i * k_raw..(i + 1) * k_raw];
                    let l = &learnt[i * k_learnt..(i + 1) * k_learnt];
                    r.iter().chain(l).copied().collect::<Vec<_>>()
                })
                .collect();
            (weight, learnt, all)
        })
        .collect();
    let graph_parts: Vec<GraphParts<'_>> = parts
        .iter()
        .map(|(raw_weight, learnt_ids, all_ids)| GraphParts {
            raw_weight,
            learnt_ids,
            all_ids,
        })
        .collect();
    let graph = Arc::new(MixedGraph::stacked(&graph_parts, n, lambda));
    let gpu = wgpu();
    // 20 columns: the kernels' four-column path; 21: the one-column path.
    for (d, layers) in [(d, 1), (d, 2), (d, 3), (d + 1, 2)] {
        let x = random(&mut rng, 2 * n * d);
        let probe = random(&mut rng, 2 * n * d);
        let run = |device: &Device| {
            let grad_device = device.clone().autodiff();
            let x = float_tensor(x.clone(), [2 * n, d], &grad_device).require_grad();
            let h = item_graph_embeddings(x.clone(), &graph, layers);
            let probe = float_tensor(probe.clone(), [2 * n, d], &grad_device);
            let grads = (h.clone() * probe).sum().backward();
            (
                to_f32(h.inner()),
                to_f32(x.grad(&grads).expect("x has a gradient")),
            )
        };
        let (flex_h, flex_grad) = run(&Device::flex());
        let (gpu_h, gpu_grad) = run(&gpu);
        assert_close(&gpu_h, &flex_h, &format!("h_L, d = {d}, L = {layers}"));
        assert_close(&gpu_grad, &flex_grad, &format!("∂x, d = {d}, L = {layers}"));
    }
}

/// The MP loss and both gradients on wgpu equal flex's: the rows of the second block
/// of a stacked table (`first_row`), counts above one, a 700-d modality (the decoded
/// rows span several cubes), and an upstream gradient other than 1.
#[test]
fn mp_loss_on_wgpu_matches_flex() {
    let mut rng = ChaCha8Rng::seed_from_u64(26);
    let (n_items, d, dm) = (120, 16, 700);
    let ids: Vec<u32> = (0..n_items as u32).filter(|i| i % 3 != 1).collect();
    let weights: Vec<f32> = ids.iter().map(|&i| 1.0 + (i % 4) as f32).collect();
    let draws = weights.iter().sum::<f32>() as usize;
    let rows = Arc::new(MpRows {
        ids,
        weights,
        draws,
    });
    let table = random(&mut rng, 2 * n_items * d);
    let decoder = random(&mut rng, d * dm);
    let target = random(&mut rng, n_items * dm);
    let run = |device: &Device| {
        let grad_device = device.clone().autodiff();
        let table = float_tensor(table.clone(), [2 * n_items, d], &grad_device).require_grad();
        let decoder = float_tensor(decoder.clone(), [d, dm], &grad_device).require_grad();
        let target = float_tensor(target.clone(), [n_items, dm], &grad_device);
        let loss = mp_loss(table.clone(), decoder.clone(), target, &rows, n_items);
        let grads = (loss.clone() * 3.0).backward();
        let grad = |t: &Tensor<2>| to_f32(t.grad(&grads).expect("a gradient"));
        (to_f32(loss.inner()), grad(&table), grad(&decoder))
    };
    let (flex_loss, flex_gt, flex_gd) = run(&Device::flex());
    let (gpu_loss, gpu_gt, gpu_gd) = run(&wgpu());
    assert_close(&gpu_loss, &flex_loss, "MP loss");
    assert_close(&gpu_gt, &flex_gt, "∂table");
    assert_close(&gpu_gd, &flex_gd, "∂decoder");
    assert!(
        flex_gt[..n_items * d].iter().all(|&g| g == 0.0),
        "the first block gets no gradient"
    );
}
