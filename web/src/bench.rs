//! The in-page benchmark: score + top-N (readback included) for the loaded file and for
//! a seeded synthetic 100k-item model generated in the browser, on the CPU reference
//! scorer and on the WebGPU kernel; median of [`RUNS`] timed runs after one warm-up.
//! Also the item map at 100k items: the personalised space and one draw of every point.

use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use mario_shared::metrics::top_k_with_scores;
use mario_shared::{FusionKind, ModelWeights, Scorer, StorageDtype};
use yew::Callback;

use crate::format::{median, ms};
use crate::gpu::{GpuContext, GpuModel};
use crate::load::now_ms;
use crate::map_draw::{MapPoints, bench_draw};
use crate::synth::{SynthSpec, synthetic_model};
use mario_shared::item_map::personal_map;

/// Timed runs per row (after one warm-up run).
pub const RUNS: usize = 7;
impl BenchRow {
    /// A row from its timed runs (median, minimum, count).
    fn timed(
        task: &'static str,
        model: String,
        items: usize,
        backend: &'static str,
        times: &[f64],
        note: String,
    ) -> Self {
        Self {
            task,
            model,
            items,
            backend,
            median_ms: median(times),
            min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
            runs: times.len(),
            note,
        }
    }
}

/// The task of the scoring rows.
pub const SCORE_TASK: &str = "score every item + top-20";
/// Top-N length in the benchmark.
pub const TOP_N: usize = 20;

/// One line of the results table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What one run does: [`SCORE_TASK`], or one of the item map's steps.
    pub task: &'static str,
    pub model: String,
    pub items: usize,
    pub backend: &'static str,
    pub median_ms: f64,
    pub min_ms: f64,
    pub runs: usize,
    pub note: String,
}

/// The synthetic model of the benchmark: 100k items, 3 modalities, d = 64 (76.8 MB of f32 tables).
pub fn synthetic_spec() -> SynthSpec {
    SynthSpec {
        n_users: 16,
        n_items: 100_000,
        d: 64,
        seed: 42,
        dtype: StorageDtype::F32,
        history: (10, 40),
        dataset: "synthetic-100k".into(),
    }
}

async fn tick() {
    TimeoutFuture::new(0).await;
}

/// The item map at 100k items: computing the personalised space of a user (Eq. 5–7 per
/// item, the fused vectors and their principal axis) and drawing every point.
async fn map_rows(w: &ModelWeights, status: &Callback<String>, rows: &mut Vec<BenchRow>) {
    let Some(u) = w.user_vector(0) else { return };
    status.emit("item map: personalised space…".into());
    tick().await;
    let mut compute = Vec::new();
    let mut points = None;
    for _ in 0..3 {
        let t = now_ms();
        let result = personal_map(w, u);
        compute.push(now_ms() - t);
        points = Some(result);
    }
    let (xy, dominant) = match points {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            status.emit(format!("item map skipped: {e}"));
            return;
        }
        None => return,
    };
    rows.push(BenchRow::timed(
        "item map: personalised space",
        "synthetic 100k".into(),
        w.meta.n_items,
        "cpu",
        &compute,
        "one user: Eq. 5–7 per item, fused vectors, their principal axis".into(),
    ));
    status.emit("item map: drawing…".into());
    tick().await;
    let points = MapPoints {
        xy,
        colour: dominant.iter().map(|&k| k as u16).collect(),
        palette: vec![[230, 159, 0], [0, 114, 178], [0, 158, 115]],
        legend: Vec::new(),
    };
    let top: Vec<u32> = (0..TOP_N as u32).collect();
    match bench_draw(&points, &top, RUNS + 1) {
        Ok(mut times) => {
            times.remove(0);
            rows.push(BenchRow::timed(
                "item map: draw every point",
                "synthetic 100k".into(),
                w.meta.n_items,
                "canvas",
                &times,
                "960 × 520 canvas, one ImageData write + overlays".into(),
            ))
        }
        Err(e) => status.emit(format!("item map draw failed: {e}")),
    }
}

/// Runs the whole benchmark, reporting progress through `status`.
pub async fn run(
    loaded: Rc<ModelWeights>,
    loaded_name: String,
    gpu: Option<Rc<GpuContext>>,
    status: Callback<String>,
) -> Result<Vec<BenchRow>, String> {
    let mut rows = Vec::new();
    status.emit("generating the synthetic 100k-item model…".into());
    tick().await;
    let t0 = now_ms();
    let synthetic = Rc::new(synthetic_model(&synthetic_spec()));
    let gen_ms = now_ms() - t0;
    let models = [
        (loaded_name, loaded, String::new()),
        (
            "synthetic 100k".to_string(),
            synthetic,
            format!("generated in {} ms", ms(gen_ms)),
        ),
    ];
    map_rows(&models[1].1, &status, &mut rows).await;
    for (name, w, gen_note) in models {
        let users: Vec<usize> = (0..w.meta.n_users.min(5)).collect();
        if users.is_empty() {
            continue;
        }
        let scorer = Scorer::new(&w);
        let mut cpu_times = Vec::new();
        let mut cpu_last = Vec::new();
        for run in 0..=RUNS {
            status.emit(format!("{name}: CPU run {run}/{RUNS}"));
            tick().await;
            let user = users[run % users.len()];
            let u = w.user_vector(user).unwrap_or(&[]);
            let t = now_ms();
            let recs = scorer.recommend_vector(u, w.train_items(user), TOP_N);
            let dt = now_ms() - t;
            if run > 0 {
                cpu_times.push(dt);
            }
            cpu_last = recs;
        }
        rows.push(BenchRow::timed(
            SCORE_TASK,
            name.clone(),
            w.meta.n_items,
            "cpu",
            &cpu_times,
            gen_note.clone(),
        ));
        let Some(ctx) = gpu.clone() else { continue };
        if w.meta.fusion != FusionKind::Attention {
            rows.push(BenchRow {
                task: SCORE_TASK,
                model: name.clone(),
                items: w.meta.n_items,
                backend: "webgpu",
                median_ms: f64::NAN,
                min_ms: f64::NAN,
                runs: 0,
                note: format!(
                    "skipped: {} fusion is scored on the CPU only",
                    w.meta.fusion
                ),
            });
            continue;
        }
        status.emit(format!("{name}: uploading to the GPU…"));
        tick().await;
        let t = now_ms();
        let model = match GpuModel::new(ctx, &w, None).await {
            Ok(m) => m,
            Err(e) => {
                rows.push(BenchRow {
                    task: SCORE_TASK,
                    model: name.clone(),
                    items: w.meta.n_items,
                    backend: "webgpu",
                    median_ms: f64::NAN,
                    min_ms: f64::NAN,
                    runs: 0,
                    note: e,
                });
                continue;
            }
        };
        let upload_ms = now_ms() - t;
        let mut gpu_times = Vec::new();
        let mut agree = String::new();
        for run in 0..=RUNS {
            status.emit(format!("{name}: WebGPU run {run}/{RUNS}"));
            tick().await;
            let user = users[run % users.len()];
            let u = w.user_vector(user).unwrap_or(&[]);
            let exclude = w.train_items(user);
            let t = now_ms();
            let out = model.score(u, exclude).await?;
            let top = top_k_with_scores(&out.scores, exclude, TOP_N);
            let dt = now_ms() - t;
            if run > 0 {
                gpu_times.push(dt);
            }
            if run == RUNS {
                let same = top.iter().map(|t| t.0).eq(cpu_last.iter().map(|r| r.item));
                let delta = top
                    .iter()
                    .zip(&cpu_last)
                    .map(|(g, c)| (g.1 - c.score).abs())
                    .fold(0f32, f32::max);
                agree = format!(
                    "top-{TOP_N} {} CPU (max |Δscore| {delta:.1e})",
                    if same { "identical to" } else { "DIFFERS from" }
                );
            }
        }
        rows.push(BenchRow::timed(
            SCORE_TASK,
            name,
            w.meta.n_items,
            "webgpu",
            &gpu_times,
            format!(
                "upload + warm-up pass {} ms, {} chunk(s); {agree}",
                ms(upload_ms),
                model.chunk_count()
            ),
        ));
    }
    status.emit("done".into());
    Ok(rows)
}
