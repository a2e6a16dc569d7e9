//! Writes a *placeholder* weights file for the browser app until the trainer's real demo
//! weights exist (`cargo xtask demo` overwrites it):
//!
//! ```sh
//! cargo run --release -p mario-web --example placeholder_weights -- static/demo/model.safetensors
//! ```
//!
//! The model is [`mario_web::synth::synthetic_model`]: a structured synthetic catalogue
//! (pictures, categories) with generator-made embeddings, not a trained MARIO.

use mario_web::synth::{SynthSpec, synthetic_model};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "static/demo/model.safetensors".to_string());
    // Optional second argument: a fusion ablation (`mean`, `max`) to exercise the CPU-only path.
    let fusion: Option<mario_shared::FusionKind> = args
        .next()
        .map(|f| f.parse().expect("fusion: attention, mean, max or fc"));
    let spec = SynthSpec {
        n_users: 400,
        n_items: 800,
        d: 64,
        seed: 2022,
        dataset: "synthetic-baby (placeholder)".into(),
        ..SynthSpec::default()
    };
    let mut w = synthetic_model(&spec);
    if let Some(f) = fusion {
        w.meta.fusion = f;
    }
    let bytes = w.to_bytes().expect("serialise");
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).expect("create output folder");
    }
    std::fs::write(&out, &bytes).expect("write weights");
    println!(
        "wrote {out}: {} bytes, {} users, {} items, {} interactions, metrics {}",
        bytes.len(),
        w.meta.n_users,
        w.meta.n_items,
        w.train_indices.len(),
        w.meta.metrics["test"]
    );
    let influence = mario_web::influence::compute_cpu(&w);
    println!(
        "dominant modality shares {:?}, mean attention {:?}",
        influence.dominant_share(),
        influence.mean_attention()
    );
}
