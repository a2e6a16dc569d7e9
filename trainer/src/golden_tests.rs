//! Proof that the burn model is MARIO: its forward pass, attention and loss match an
//! independent NumPy implementation (`trainer/tests/golden/mario_reference.py`,
//! fixture `golden.json`) to 1e-5, and its gradients match finite differences.

use burn::tensor::Device;
use mario_data::{Dataset, DatasetFormat, FeatureModality, LoadReport};
use serde_json::Value;

use crate::config::TrainConfig;
use crate::model::graph::{float_tensor, int_tensor, to_f32};
use crate::model::{Mario, Param, Params, fuse_and_score};

const FIXTURE: &str = include_str!("../tests/golden/golden.json");

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

fn golden_model(device: &Device) -> (Value, Mario, Params) {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    let n_users = fx["n_users"].as_u64().unwrap() as usize;
    let n_items = fx["n_items"].as_u64().unwrap() as usize;
    let train: Vec<Vec<u32>> = fx["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ints(r).into_iter().map(|i| i as u32).collect())
        .collect();
    let modalities = ["visual", "textual"]
        .iter()
        .map(|m| FeatureModality {
            name: m.to_string(),
            dim: fx["features"][m]["dim"].as_u64().unwrap() as usize,
            features: floats(&fx["features"][m]["values"]),
            source: "golden.json".into(),
        })
        .collect();
    let dataset = Dataset {
        name: "golden".into(),
        format: DatasetFormat::Mmrec,
        n_users,
        n_items,
        train,
        valid: vec![vec![]; n_users],
        test: vec![vec![]; n_users],
        modalities,
        catalogue: None,
        report: LoadReport::default(),
    };
    let c = &fx["config"];
    let config = TrainConfig {
        dim: c["dim"].as_u64().unwrap() as usize,
        knn_k: c["knn_k"].as_u64().unwrap() as usize,
        lambda: c["lambda"].as_f64().unwrap() as f32,
        mu: c["mu"].as_f64().unwrap() as f32,
        reg: c["reg"].as_f64().unwrap(),
        item_layers: c["item_layers"].as_u64().unwrap() as usize,
        cf_layers: c["cf_layers"].as_u64().unwrap() as usize,
        feature_scaling: serde_json::from_value(c["feature_scaling"].clone())
            .expect("feature_scaling"),
        ..TrainConfig::default()
    };
    let (mut model, params) = Mario::new(&dataset, &config, device).expect("model builds");
    let list = params
        .list
        .iter()
        .map(|p| {
            let spec = &fx["params"][&p.name];
            let shape = ints(&spec["shape"]);
            Param {
                name: p.name.clone(),
                value: float_tensor(
                    floats(&spec["values"]),
                    [shape[0] as usize, shape[1] as usize],
                    device,
                ),
            }
        })
        .collect();
    let params = Params { list };
    model.refresh_learnt_graphs(&params);
    (fx, model, params)
}

fn batch(fx: &Value) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    (
        ints(&fx["batch"]["users"]),
        ints(&fx["batch"]["pos"]),
        ints(&fx["batch"]["neg"]),
    )
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{name}[{i}]: burn {g} vs NumPy {w}");
    }
}

#[test]
fn golden_fixture_forward_attention_and_loss() {
    let device = Device::flex();
    let (fx, model, params) = golden_model(&device);
    let expected = &fx["expected"];
    let emb = model.embeddings(&params);
    let users = int_tensor((0..model.n_users as i64).collect(), &device);
    let scores = to_f32(model.score_users(&emb, &params, users));
    assert_close("scores", &scores, &floats(&expected["scores"]), 1e-5);

    let (users, pos, _) = batch(&fx);
    let u = emb
        .users
        .clone()
        .select(0, int_tensor(users.clone(), &device));
    let items = emb
        .items
        .iter()
        .map(|t| t.clone().select(0, int_tensor(pos.clone(), &device)))
        .collect();
    let (_, attention) = fuse_and_score(u, items, model.config.fusion, None);
    assert_close(
        "attention",
        &to_f32(attention.unwrap()),
        &floats(&expected["attention_pos"]),
        1e-5,
    );

    let (users, pos, neg) = batch(&fx);
    let loss = model.loss(&params, &users, &pos, &neg);
    assert_close(
        "bpr",
        &to_f32(loss.bpr),
        &[expected["bpr"].as_f64().unwrap() as f32],
        1e-5,
    );
    assert_close(
        "mp",
        &to_f32(loss.mp.unwrap()),
        &[expected["mp"].as_f64().unwrap() as f32],
        1e-5,
    );
    assert_close(
        "l2",
        &to_f32(loss.l2),
        &[expected["l2"].as_f64().unwrap() as f32],
        1e-5,
    );
    assert_close(
        "total",
        &to_f32(loss.total),
        &[expected["total"].as_f64().unwrap() as f32],
        1e-5,
    );
}

#[test]
fn gradients_match_finite_differences() {
    let device = Device::flex();
    let (fx, model, params) = golden_model(&device);
    let (users, pos, neg) = batch(&fx);
    let loss_at = |p: &Params| to_f32(model.loss(p, &users, &pos, &neg).total)[0] as f64;
    let leaves = params.to_autodiff();
    let grads = model.loss(&leaves, &users, &pos, &neg).total.backward();
    let eps = 1e-2f32;
    let mut checked = 0;
    for (index, p) in params.list.iter().enumerate() {
        let analytic = to_f32(
            leaves.list[index]
                .value
                .grad(&grads)
                .expect("every parameter has a gradient"),
        );
        let values = to_f32(p.value.clone());
        let shape = p.value.dims();
        // A few entries per tensor, spread across it.
        for e in (0..values.len()).step_by((values.len() / 4).max(1)) {
            let perturbed = |delta: f32| {
                let mut v = values.clone();
                v[e] += delta;
                let mut q = params.clone();
                q.list[index].value = float_tensor(v, shape, &device);
                loss_at(&q)
            };
            let numeric = (perturbed(eps) - perturbed(-eps)) / (2.0 * eps as f64);
            let a = analytic[e] as f64;
            assert!(
                (a - numeric).abs() <= 2e-3 + 0.03 * numeric.abs(),
                "{}[{e}]: autodiff {a} vs finite difference {numeric}",
                p.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} entries");
}

/// `--l2-on final`: the L2 term is reg/(2B) times the squared norms of the final user
/// vectors and of every modality's item vectors of the batch (summed here on the host from
/// the embeddings), and BPR is untouched.
#[test]
fn l2_on_final_penalises_the_scored_vectors() {
    let device = Device::flex();
    let (fx, mut model, params) = golden_model(&device);
    let (users, pos, neg) = batch(&fx);
    let ego = model.loss(&params, &users, &pos, &neg);
    model.config.l2_on = crate::config::L2Target::Final;
    let fin = model.loss(&params, &users, &pos, &neg);
    assert_eq!(to_f32(ego.bpr), to_f32(fin.bpr));
    let emb = model.embeddings(&params);
    let d = model.config.dim;
    let rows = |t: &burn::tensor::Tensor<2>, ids: &[i64]| -> f64 {
        let v = to_f32(t.clone());
        ids.iter()
            .map(|&i| {
                v[i as usize * d..(i as usize + 1) * d]
                    .iter()
                    .map(|&x| (x as f64) * (x as f64))
                    .sum::<f64>()
            })
            .sum()
    };
    let mut want = rows(&emb.users, &users);
    for table in &emb.items {
        want += rows(table, &pos) + rows(table, &neg);
    }
    want *= model.config.reg / (2.0 * users.len() as f64);
    let got = to_f32(fin.l2)[0] as f64;
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1e-12),
        "final-embedding L2 {got} vs host sum {want}"
    );
    assert!(
        got != to_f32(ego.l2)[0] as f64,
        "the two targets must differ"
    );
}
