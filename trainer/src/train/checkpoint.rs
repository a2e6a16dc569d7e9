//! Training checkpoints: parameters, Adam state, the best parameters so far, the
//! learnt-graph neighbour sets and the loop's counters, in one safetensors file
//! (`RUN_DIR/checkpoint.safetensors`) written atomically. Resuming from it continues
//! exactly as an uninterrupted run with the same seed on the same backend would.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use burn::tensor::{Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::model::graph::{float_tensor, to_f32};
use crate::model::{Param, Params};
use crate::train::optimizer::AdamOptimizer;

/// The loop's state between epochs (the checkpoint's JSON metadata).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoopState {
    pub config: TrainConfig,
    /// Epochs completed (the next epoch to run).
    pub epochs_done: usize,
    pub best_epoch: Option<usize>,
    pub best_valid: Option<serde_json::Value>,
    pub best_test: Option<serde_json::Value>,
    pub evals_without_improvement: usize,
    /// One JSON object per evaluation so far.
    pub history: Vec<serde_json::Value>,
    pub seconds_training: f64,
    pub seconds_evaluating: f64,
    pub evaluations: usize,
    /// Splits scored so far (validation every evaluation, test only at a new best).
    #[serde(default)]
    pub splits_evaluated: usize,
    /// Neighbour ids of each learnt graph, by modality name.
    pub learnt_ids: Vec<(String, Vec<i64>)>,
    /// The learnt graphs' neighbour ids at the best epoch (they shape the best embeddings).
    pub best_learnt_ids: Vec<(String, Vec<i64>)>,
    /// Adam step count per parameter (`None` before the first step).
    pub adam_time: Vec<Option<usize>>,
}

struct Owned {
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn to_owned(t: &Tensor<2>) -> Owned {
    let shape = t.dims().to_vec();
    let data = to_f32(t.clone())
        .into_iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    Owned { shape, data }
}

/// Metadata key of the [`LoopState`] JSON. Its floats (the best epoch's metrics)
/// must come back bit for bit on resume: serde_json's `float_roundtrip` feature,
/// enabled in the workspace, makes its parser exact.
const STATE_KEY: &str = "mario_checkpoint";

/// Serialises the checkpoint and writes it atomically.
pub fn save(
    path: &Path,
    state: &LoopState,
    params: &Params,
    best: &Params,
    optim: &AdamOptimizer,
) -> anyhow::Result<()> {
    let mut tensors: Vec<(String, Owned)> = Vec::new();
    for p in &params.list {
        tensors.push((format!("param.{}", p.name), to_owned(&p.value)));
    }
    for p in &best.list {
        tensors.push((format!("best.{}", p.name), to_owned(&p.value)));
    }
    for (p, s) in params.list.iter().zip(&optim.states) {
        if let Some(s) = s {
            tensors.push((
                format!("adam.m1.{}", p.name),
                to_owned(&s.momentum.moment_1),
            ));
            tensors.push((
                format!("adam.m2.{}", p.name),
                to_owned(&s.momentum.moment_2),
            ));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, o)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, o.shape.clone(), &o.data)?,
            ))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow::anyhow!("checkpoint tensors: {e:?}"))?;
    let mut meta = HashMap::new();
    meta.insert(STATE_KEY.to_string(), serde_json::to_string(state)?);
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| anyhow::anyhow!("checkpoint: {e:?}"))?;
    crate::io::write_atomic(path, &bytes)
}

/// A loaded checkpoint.
pub struct Loaded {
    pub state: LoopState,
    pub params: Params,
    pub best: Params,
    pub adam: Vec<Option<(usize, Tensor<2>, Tensor<2>)>>,
}

/// Reads a checkpoint; `names` are the parameter names the model expects, in order.
pub fn load(path: &Path, names: &[String], device: &Device) -> anyhow::Result<Loaded> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid checkpoint ({e:?}); delete it to start afresh",
            path.display()
        )
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let state: LoopState = serde_json::from_str(
        header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .with_context(|| format!("{} has no MARIO checkpoint metadata", path.display()))?,
    )?;
    let read = |name: &str| -> anyhow::Result<Tensor<2>> {
        let view = st
            .tensor(name)
            .map_err(|_| anyhow::anyhow!("checkpoint {} lacks tensor `{name}`", path.display()))?;
        let shape = view.shape();
        if shape.len() != 2 || view.dtype() != Dtype::F32 {
            bail!("checkpoint tensor `{name}` has an unexpected layout");
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(float_tensor(values, [shape[0], shape[1]], device))
    };
    if state.adam_time.len() != names.len() {
        bail!(
            "checkpoint {} was written for a model with {} parameters, this one has {}: the configuration differs",
            path.display(),
            state.adam_time.len(),
            names.len()
        );
    }
    let mut params = Vec::new();
    let mut best = Vec::new();
    let mut adam = Vec::new();
    for (name, time) in names.iter().zip(&state.adam_time) {
        params.push(Param {
            name: name.clone(),
            value: read(&format!("param.{name}"))?,
        });
        best.push(Param {
            name: name.clone(),
            value: read(&format!("best.{name}"))?,
        });
        adam.push(match time {
            Some(t) => Some((
                *t,
                read(&format!("adam.m1.{name}"))?,
                read(&format!("adam.m2.{name}"))?,
            )),
            None => None,
        });
    }
    Ok(Loaded {
        state,
        params: Params { list: params },
        best: Params { list: best },
        adam,
    })
}

#[cfg(test)]
mod float_tests {
    use rand::{Rng, SeedableRng};

    /// Floats survive the checkpoint's JSON metadata bit for bit, integers stay
    /// integers (this fails without serde_json's `float_roundtrip` feature).
    #[test]
    fn metadata_floats_round_trip_exactly() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let floats: Vec<f64> = (0..2000)
            .map(|_| rng.random::<f64>() * 10f64.powi(rng.random_range(-6..3)))
            .chain([0.010850000000000009, 0.1 + 0.2, 2.0])
            .collect();
        let value = serde_json::json!({"a": floats, "n": 7, "nested": [{"x": 0.3}]});
        let parsed: serde_json::Value = serde_json::from_str(&value.to_string()).unwrap();
        assert_eq!(parsed["n"].as_u64(), Some(7));
        assert_eq!(
            parsed["nested"][0]["x"].as_f64().map(f64::to_bits),
            Some(0.3f64.to_bits())
        );
        for (a, b) in parsed["a"].as_array().unwrap().iter().zip(&floats) {
            assert_eq!(a.as_f64().unwrap().to_bits(), b.to_bits());
        }
    }
}
