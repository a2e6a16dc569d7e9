//! The sparse operations against the dense reference path of `crate::model::graph`:
//! forward values and gradients on random data, on flex under autodiff.

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::model::graph::{BipartiteGraph, aggregate, float_tensor, int_tensor, to_f32};

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// A random fixed-fan graph over `n` rows, neighbours possibly repeated.
fn random_ids(rng: &mut ChaCha8Rng, n: usize, fan: usize) -> Vec<u32> {
    (0..n * fan)
        .map(|_| rng.random_range(0..n as u32))
        .collect()
}

/// Each user's training items: up to `per_user` random items, sorted, no repeats.
fn random_train(
    rng: &mut ChaCha8Rng,
    n_users: usize,
    n_items: usize,
    per_user: usize,
) -> Vec<Vec<u32>> {
    (0..n_users)
        .map(|_| {
            let mut items: Vec<u32> = (0..per_user)
                .map(|_| rng.random_range(0..n_items as u32))
                .collect();
            items.sort();
            items.dedup();
            items
        })
        .collect()
}

#[test]
fn spmm_matches_edge_list_propagation_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n_users, n_items, d) = (23, 17, 5);
    let train = random_train(&mut rng, n_users, n_items, 4);
    let device = Device::flex().autodiff();
    let graph = BipartiteGraph::new(&train, n_items, true, &Device::flex());
    let n = n_users + n_items;
    let x_values = random(&mut rng, n * d);
    let probe = float_tensor(random(&mut rng, n * d), [n, d], &Device::flex());

    let run = |fast: bool| {
        let x = float_tensor(x_values.clone(), [n, d], &device).require_grad();
        let y = if fast {
            spmm(
                x.clone(),
                graph.matrix.as_ref().expect("flex graphs carry a CSR"),
            )
        } else {
            graph.propagate_dense(x.clone())
        };
        let loss = (y.clone() * probe.clone()).sum();
        let grads = loss.backward();
        (
            to_f32(y.inner()),
            to_f32(x.grad(&grads).expect("x has a gradient")),
        )
    };
    let (fast_y, fast_g) = run(true);
    let (ref_y, ref_g) = run(false);
    assert_close(&fast_y, &ref_y, "A·x");
    assert_close(&fast_g, &ref_g, "∂x");
}

#[test]
fn self_dot_kernels_match_gather_reference_values_and_gradients() {
    // The learnt graph's cosines (`FanIndex::pair_dots` of a table with itself) and
    // their backward (`FanIndex::self_dots_grad`), as `sparse::item_graph_embeddings`
    // uses them, against burn's gather and its autodiff.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (n, fan, d) = (29, 4, 6);
    let ids = random_ids(&mut rng, n, fan);
    let index = FanIndex::new(ids.clone(), n, n);
    let device = Device::flex().autodiff();
    let id_tensor = int_tensor(ids.iter().map(|&i| i as i64).collect(), &Device::flex());
    let av = random(&mut rng, n * d);
    let probe_values = random(&mut rng, n * fan);
    let probe = float_tensor(probe_values.clone(), [n, fan], &Device::flex());
    let a = float_tensor(av.clone(), [n, d], &device).require_grad();
    let rows: Tensor<3> = a.clone().select(0, id_tensor).reshape([n, fan, d]);
    let y: Tensor<2> = (rows * a.clone().unsqueeze_dim::<3>(1))
        .sum_dim(2)
        .reshape([n, fan]);
    let grads = (y.clone() * probe).sum().backward();
    let reference = (to_f32(y.inner()), to_f32(a.grad(&grads).unwrap()));
    assert_close(&index.pair_dots(&av, &av, d), &reference.0, "a·a[ids]");
    assert_close(
        &index.self_dots_grad(&probe_values, &av, d),
        &reference.1,
        "∂a",
    );
}

#[test]
fn csr_transpose_round_trips_and_reverse_index_groups_edges() {
    let triplets = [(0, 2, 1.0), (1, 0, 2.0), (1, 2, 3.0), (2, 1, 4.0)];
    let a = Csr::from_triplets(3, 3, &triplets);
    assert_eq!(a.transpose().transpose(), a);
    let x = [1.0, 10.0, 100.0];
    assert_eq!(a.matmul(&x, 1), vec![100.0, 302.0, 40.0]);
    let index = FanIndex::new(vec![2, 2, 0, 1], 2, 3);
    assert_eq!(index.rev_ptr, vec![0, 1, 2, 4]);
    assert_eq!(index.rev_edges, vec![2, 3, 0, 1]);
}

#[test]
fn attention_scores_match_fuse_and_score_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let (b, m, d) = (37, 3, 8);
    let device = Device::flex().autodiff();
    let uv = random(&mut rng, b * d);
    let vv: Vec<Vec<f32>> = (0..m).map(|_| random(&mut rng, b * d)).collect();
    let probe = float_tensor(random(&mut rng, b), [b], &Device::flex());
    let run = |fast: bool| {
        let u = float_tensor(uv.clone(), [b, d], &device).require_grad();
        let v: Vec<Tensor<2>> = vv
            .iter()
            .map(|x| float_tensor(x.clone(), [b, d], &device).require_grad())
            .collect();
        let r = if fast {
            attention_scores(u.clone(), Tensor::stack(v.clone(), 1))
        } else {
            crate::model::fuse_and_score(
                u.clone(),
                v.clone(),
                mario_shared::FusionKind::Attention,
                None,
            )
            .0
        };
        let grads = (r.clone() * probe.clone()).sum().backward();
        let mut out = vec![to_f32(r.inner()), to_f32(u.grad(&grads).unwrap())];
        out.extend(v.iter().map(|t| to_f32(t.grad(&grads).unwrap())));
        out
    };
    let fast = run(true);
    let reference = run(false);
    for (k, (f, r)) in fast.iter().zip(&reference).enumerate() {
        assert_close(f, r, &format!("output {k} (score, ∂u, ∂v…)"));
    }
}

/// The batch's fused BPR differences and L2 sums against burn's selects and the
/// dense fusion, with users and items repeated in the batch (their gradient rows
/// must add up), values and gradients of every table.
#[test]
fn batch_bpr_and_square_sums_match_selects_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // Tables of more than one block of `kernels::scatter_rows` (16+ rows a block), so
    // that rows are added at offsets into later blocks too.
    let (n_users, n_items, m, d, b) = (53, 47, 3, 8, 150);
    let device = Device::flex().autodiff();
    let users_v = random(&mut rng, n_users * d);
    let items_v: Vec<Vec<f32>> = (0..m).map(|_| random(&mut rng, n_items * d)).collect();
    let draw = |rng: &mut ChaCha8Rng, n: usize| -> Vec<u32> {
        (0..b).map(|_| rng.random_range(0..n as u32)).collect()
    };
    let triples = Arc::new(Triples {
        users: draw(&mut rng, n_users),
        pos: draw(&mut rng, n_items),
        neg: draw(&mut rng, n_items),
    });
    let probe = float_tensor(random(&mut rng, b), [b], &Device::flex());
    // The last modality read from the CF table (as the model's interaction modality)
    // or all of them from the stacked side tables.
    let run = |fast: bool, interaction: bool| {
        let users = float_tensor(users_v.clone(), [n_users, d], &device).require_grad();
        let items: Vec<Tensor<2>> = items_v
            .iter()
            .map(|x| float_tensor(x.clone(), [n_items, d], &device).require_grad())
            .collect();
        let ids = |v: &[u32]| int_tensor(v.iter().map(|&i| i as i64).collect(), &device);
        let (diff, squares) = if fast {
            let n_side = m - usize::from(interaction);
            let cf = if interaction {
                Tensor::cat(vec![users.clone(), items[m - 1].clone()], 0)
            } else {
                users.clone()
            };
            let side = Tensor::cat(items[..n_side].to_vec(), 0);
            let tables = ScoreTables {
                n_users,
                n_items,
                side: n_side,
                interaction,
            };
            let diff = bpr_differences(cf, side, &triples, tables);
            let drawn = Arc::new([triples.pos.clone(), triples.neg.clone()].concat());
            let squares = gathered_square_sum(users.clone(), &Arc::new(triples.users.clone()))
                + gathered_square_sum(items[0].clone(), &drawn);
            (diff, squares)
        } else {
            let u = users.clone().select(0, ids(&triples.users));
            let score = |side: &[u32]| {
                let v = items
                    .iter()
                    .map(|t| t.clone().select(0, ids(side)))
                    .collect();
                crate::model::fuse_and_score(
                    u.clone(),
                    v,
                    mario_shared::FusionKind::Attention,
                    None,
                )
                .0
            };
            let sq = |t: Tensor<2>| t.powf_scalar(2.0).sum();
            let squares = sq(u.clone())
                + sq(items[0].clone().select(0, ids(&triples.pos)))
                + sq(items[0].clone().select(0, ids(&triples.neg)));
            (score(&triples.pos) - score(&triples.neg), squares)
        };
        let loss = (diff.clone() * probe.clone()).sum() + squares.clone() * 0.37;
        let grads = loss.backward();
        let mut out = vec![
            to_f32(diff.inner()),
            to_f32(squares.inner()),
            to_f32(users.grad(&grads).unwrap()),
        ];
        out.extend(items.iter().map(|t| to_f32(t.grad(&grads).unwrap())));
        out
    };
    let reference = run(false, false);
    for interaction in [true, false] {
        let fast = run(true, interaction);
        for (k, (f, r)) in fast.iter().zip(&reference).enumerate() {
            assert_close(
                f,
                r,
                &format!(
                    "output {k} (differences, squares, ∂users, ∂items…), interaction in the CF table: {interaction}"
                ),
            );
        }
    }
}

/// The fused item-graph embeddings (Eq. 2–4 and L layers) against the burn chain
/// (`mixed_graph_weights_dense` and `aggregate` L times), values and the gradient of
/// the compressed embeddings, for L = 0, 1, 2, 3: neighbours repeated and including
/// the row itself, and negative cosines (relu's zero side).
#[test]
fn item_graph_embeddings_match_the_burn_chain_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let (n, k_raw, k_learnt, d, lambda) = (29, 4, 5, 6, 0.7f32);
    let device = Device::flex().autodiff();
    let xv = random(&mut rng, n * d);
    let raw_ids = random_ids(&mut rng, n, k_raw);
    let learnt_ids = random_ids(&mut rng, n, k_learnt);
    let raw_weight: Vec<f32> = (0..n * k_raw)
        .map(|_| lambda * rng.random_range(0.0..1.0f32))
        .collect();
    let all_ids: Vec<u32> = (0..n)
        .flat_map(|i| {
            let raw = &raw_ids[i * k_raw..(i + 1) * k_raw];
            let learnt = &learnt_ids[i * k_learnt..(i + 1) * k_learnt];
            raw.iter().chain(learnt).copied().collect::<Vec<_>>()
        })
        .collect();
    let part = GraphParts {
        raw_weight: &raw_weight,
        learnt_ids: &learnt_ids,
        all_ids: &all_ids,
    };
    let graph = Arc::new(MixedGraph::stacked(&[part], n, lambda));
    let probe = float_tensor(random(&mut rng, n * d), [n, d], &Device::flex());
    let ids = |v: &[u32]| int_tensor(v.iter().map(|&i| i as i64).collect(), &device);
    let run = |fast: bool, layers: usize| {
        let x = float_tensor(xv.clone(), [n, d], &device).require_grad();
        let h = if fast {
            item_graph_embeddings(x.clone(), &graph, layers)
        } else {
            let w = crate::model::mixed_graph_weights_dense(
                x.clone(),
                float_tensor(raw_weight.clone(), [n, k_raw], &device),
                &ids(&learnt_ids),
                &ids(&all_ids),
                lambda,
            );
            let mut h = x.clone();
            for _ in 0..layers {
                h = aggregate(h, &ids(&all_ids), w.clone());
            }
            h
        };
        // x also feeds the loss directly, as the compressed embeddings feed the MP loss.
        let loss = (h.clone() * probe.clone()).sum() + (x.clone() * x.clone()).sum() * 0.5;
        let grads = loss.backward();
        (to_f32(h.inner()), to_f32(x.grad(&grads).unwrap()))
    };
    for layers in 0..=3 {
        let (fast_h, fast_g) = run(true, layers);
        let (ref_h, ref_g) = run(false, layers);
        assert_close(&fast_h, &ref_h, &format!("h_{layers}"));
        assert_close(&fast_g, &ref_g, &format!("∂x, {layers} layers"));
    }
    // Some learnt cosine is negative, so relu's zero side is exercised.
    let unit: Vec<f32> = xv
        .chunks(d)
        .flat_map(|r| {
            let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(move |v| v / norm)
        })
        .collect();
    assert!(
        graph
            .learnt
            .pair_dots(&unit, &unit, d)
            .iter()
            .any(|&c| c < 0.0)
    );
}

#[test]
fn mp_loss_matches_dense_decoder_loss_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // 600 distinct rows: nine full decode tiles (64) and a ragged tenth, two full
    // backward chunks (256) and a ragged third; 37 features: two full sets of the
    // absolute-difference lanes (16) and a ragged third.
    let (n_items, d, dm) = (700, 6, 37);
    let ids: Vec<u32> = (0..600).map(|i| (i * 13) % n_items as u32).collect();
    let weights: Vec<f32> = (0..600).map(|i| (i % 3 + 1) as f32).collect();
    let draws = weights.iter().sum::<f32>() as usize;
    let scale = 1.0 / (draws * dm) as f32;
    let rows = Arc::new(MpRows {
        ids: ids.clone(),
        weights: weights.clone(),
        draws,
    });
    let device = Device::flex().autodiff();
    let target = float_tensor(
        random(&mut rng, n_items * dm),
        [n_items, dm],
        &Device::flex(),
    );
    // The code table has a row per item: the op reads the batch's rows in place
    // (and its gradient is zero on the other 100 rows), the reference selects them.
    let (cv, wv) = (random(&mut rng, n_items * d), random(&mut rng, d * dm));
    let id_tensor = int_tensor(ids.iter().map(|&i| i as i64).collect(), &device);
    let w_tensor = float_tensor(weights.clone(), [ids.len(), 1], &Device::flex());
    let run = |fast: bool| {
        let code = float_tensor(cv.clone(), [n_items, d], &device).require_grad();
        let decoder = float_tensor(wv.clone(), [d, dm], &device).require_grad();
        let loss = if fast {
            mp_loss(code.clone(), decoder.clone(), target.clone(), &rows, 0)
        } else {
            let t = target.clone().select(0, id_tensor.clone().inner());
            let code = code.clone().select(0, id_tensor.clone());
            let decoded = code.matmul(decoder.clone());
            let row_error: Tensor<2> = (decoded - t).abs().sum_dim(1);
            (row_error * w_tensor.clone()).sum() * scale
        };
        let grads = (loss.clone() * 3.0).backward();
        (
            to_f32(loss.inner()),
            to_f32(code.grad(&grads).unwrap()),
            to_f32(decoder.grad(&grads).unwrap()),
        )
    };
    let fast = run(true);
    let reference = run(false);
    assert_close(&fast.0, &reference.0, "MP loss");
    assert_close(&fast.1, &reference.1, "∂code");
    assert_close(&fast.2, &reference.2, "∂decoder");
}

/// The one-pass loss-and-gradient of training gives the loss of the forward alone and
/// the gradients of the separate backward (upstream gradient 1) to the bit, at a small
/// ragged shape and at a real one (d = 64, chunks of full gemm tiles).
#[test]
fn mp_loss_with_grad_is_forward_then_backward_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    for (n_items, n, d, dm) in [(700, 600, 6, 37), (400, 300, 64, 384)] {
        let ids: Vec<u32> = (0..n as u32).map(|i| (i * 13) % n_items as u32).collect();
        let weights: Vec<f32> = (0..n).map(|i| (i % 3 + 1) as f32).collect();
        let rows = MpRows {
            ids,
            draws: weights.iter().sum::<f32>() as usize,
            weights,
        };
        let target = random(&mut rng, n_items * dm);
        let (code, decoder) = (random(&mut rng, n * d), random(&mut rng, d * dm));
        let (loss, signs) = rows.decode_loss(&code, &decoder, &target, d, dm);
        let (grad_code, grad_decoder) = rows.decode_loss_grad(&signs, 1.0, &code, &decoder, d, dm);
        let fused = rows.decode_loss_with_grad(&code, &decoder, &target, d, dm);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(fused.loss.to_bits(), loss.to_bits(), "loss at d = {d}");
        assert_eq!(bits(&fused.grad_code), bits(&grad_code), "∂code at d = {d}");
        assert_eq!(
            bits(&fused.grad_decoder),
            bits(&grad_decoder),
            "∂W̃ at d = {d}"
        );
        assert!(
            grad_decoder.iter().any(|&v| v != 0.0),
            "the gradient is not all zero"
        );
    }
}

#[test]
fn compress_matches_matmul_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let (n, dm, d) = (23, 9, 5);
    let device = Device::flex().autodiff();
    let (xv, wv) = (random(&mut rng, n * dm), random(&mut rng, dm * d));
    let probe = float_tensor(random(&mut rng, n * d), [n, d], &Device::flex());
    let run = |fast: bool| {
        let x = float_tensor(xv.clone(), [n, dm], &device).require_grad();
        let w = float_tensor(wv.clone(), [dm, d], &device).require_grad();
        let y = if fast {
            compress(x.clone(), w.clone())
        } else {
            x.clone().matmul(w.clone())
        };
        let grads = (y.clone() * probe.clone()).sum().backward();
        (
            to_f32(y.inner()),
            to_f32(x.grad(&grads).unwrap()),
            to_f32(w.grad(&grads).unwrap()),
        )
    };
    let fast = run(true);
    let reference = run(false);
    assert_close(&fast.0, &reference.0, "x·W");
    assert_close(&fast.1, &reference.1, "∂x");
    assert_close(&fast.2, &reference.2, "∂W");
}

#[test]
fn lightgcn_readout_matches_the_burn_chain_values_and_gradients() {
    // One block of the backward's scaled copy `q`, then tables of several (16,384
    // values a block), the users' or the items' rows spanning more than one.
    for (n_users, n_items) in [(19, 13), (2_900, 41), (41, 2_900)] {
        lightgcn_readout_matches_at(n_users, n_items);
    }
}

fn lightgcn_readout_matches_at(n_users: usize, n_items: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let d = 6;
    let train = random_train(&mut rng, n_users, n_items, 5);
    let device = Device::flex().autodiff();
    let graph = BipartiteGraph::new(&train, n_items, true, &Device::flex());
    let n = n_users + n_items;
    let user_values = random(&mut rng, n_users * d);
    let item_values = random(&mut rng, n_items * d);
    let probe = float_tensor(random(&mut rng, n * d), [n, d], &Device::flex());
    for layers in [0, 1, 2, 3] {
        let run = |fast: bool| {
            let users = float_tensor(user_values.clone(), [n_users, d], &device).require_grad();
            let items = float_tensor(item_values.clone(), [n_items, d], &device).require_grad();
            let out = if fast {
                let readout = Arc::new(LightGcnGraph {
                    matrix: graph.matrix.clone().expect("flex graphs carry a CSR"),
                    layers,
                });
                lightgcn_readout(users.clone(), items.clone(), &readout)
            } else {
                // LightGCN's readout written out with burn's ops over the edge list.
                let mut h = Tensor::cat(vec![users.clone(), items.clone()], 0);
                let mut sum = h.clone();
                for _ in 0..layers {
                    h = graph.propagate_dense(h);
                    sum = sum + h.clone();
                }
                sum / (layers as f32 + 1.0)
            };
            let loss = (out.clone() * probe.clone()).sum();
            let grads = loss.backward();
            (
                to_f32(out.inner()),
                to_f32(users.grad(&grads).expect("users have a gradient")),
                to_f32(items.grad(&grads).expect("items have a gradient")),
            )
        };
        let (fast_out, fast_gu, fast_gi) = run(true);
        let (ref_out, ref_gu, ref_gi) = run(false);
        assert_close(&fast_out, &ref_out, &format!("readout, L = {layers}"));
        assert_close(&fast_gu, &ref_gu, &format!("∂users, L = {layers}"));
        assert_close(&fast_gi, &ref_gi, &format!("∂items, L = {layers}"));
    }
}

/// The readout's backward must take `Âᵀ` where `Â` is not symmetric: here a random
/// square matrix with its transpose, against the same chain of [`spmm`] operations
/// (whose backward is tested against the edge-list path above).
#[test]
fn lightgcn_readout_takes_the_transpose_backward() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (n_users, n_items, d, layers) = (9, 8, 4, 2);
    let n = n_users + n_items;
    let triplets: Vec<(u32, u32, f32)> = (0..n)
        .flat_map(|r| (0..3).map(move |j| (r as u32, ((r * 5 + j * 7) % n) as u32, 0.0)))
        .map(|(r, c, _)| (r, c, rng.random_range(-1.0..1.0)))
        .collect();
    let forward = Csr::from_triplets(n, n, &triplets);
    let transpose = forward.transpose();
    let matrix = Arc::new(SparseMatrix::new(forward, transpose));
    let device = Device::flex().autodiff();
    let user_values = random(&mut rng, n_users * d);
    let item_values = random(&mut rng, n_items * d);
    let probe = float_tensor(random(&mut rng, n * d), [n, d], &Device::flex());
    let run = |fast: bool| {
        let users = float_tensor(user_values.clone(), [n_users, d], &device).require_grad();
        let items = float_tensor(item_values.clone(), [n_items, d], &device).require_grad();
        let out = if fast {
            let readout = Arc::new(LightGcnGraph {
                matrix: matrix.clone(),
                layers,
            });
            lightgcn_readout(users.clone(), items.clone(), &readout)
        } else {
            let mut h = Tensor::cat(vec![users.clone(), items.clone()], 0);
            let mut sum = h.clone();
            for _ in 0..layers {
                h = spmm(h, &matrix);
                sum = sum + h.clone();
            }
            sum / (layers as f32 + 1.0)
        };
        let grads = (out.clone() * probe.clone()).sum().backward();
        (
            to_f32(out.inner()),
            to_f32(users.grad(&grads).expect("users have a gradient")),
            to_f32(items.grad(&grads).expect("items have a gradient")),
        )
    };
    let (fast_out, fast_gu, fast_gi) = run(true);
    let (ref_out, ref_gu, ref_gi) = run(false);
    assert_close(&fast_out, &ref_out, "readout");
    assert_close(&fast_gu, &ref_gu, "∂users");
    assert_close(&fast_gi, &ref_gi, "∂items");
}
