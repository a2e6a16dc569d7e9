//! Loading a model and choosing what scores it: the streamed download, parsing, the choice
//! between the WGSL kernel and the CPU scorer, and the fall-back when the GPU fails.

use std::rc::Rc;

use gloo_timers::callback::Interval;
use mario_shared::{FusionKind, ModelWeights};
use yew::prelude::*;

use super::App;
use crate::gpu::GpuModel;
use crate::kernel;
use crate::load::{self, now_ms};
use crate::params::BackendPref;
use crate::state::{BenchState, Engine, GpuState, Loaded, Msg, Phase, Shared, Source};

impl App {
    pub(super) fn reset_for_new_model(&mut self) {
        self.generation += 1;
        self.model = None;
        self.result = None;
        self.selected = None;
        self.dropped = 0;
        self.what_if = None;
        self.influence = None;
        self.check = None;
        self.liked.clear();
        self.folded = None;
        self.scoring = false;
        self._poll = None;
        self.engine = Engine::Pending;
        self.engine_note = None;
        self.bench = Shared::new(BenchState::Idle);
        self.compare = crate::state::CompareState::Off;
        self.compare_recs = None;
    }

    pub(super) fn start_download(&mut self, ctx: &Context<Self>) {
        self.reset_for_new_model();
        let url = self.params.weights.clone();
        self.source = Source::Url(url.clone());
        self.phase = Phase::Loading {
            received: 0,
            total: None,
            validating: false,
        };
        let generation = self.generation;
        let progress = ctx
            .link()
            .callback(|(r, t): (u64, Option<u64>)| Msg::Progress(r, t));
        let last = std::cell::Cell::new(0.0f64);
        ctx.link().send_future(async move {
            let result = load::fetch_bytes(&url, |received, total| {
                // At most ~30 progress renders a second.
                let t = now_ms();
                if t - last.get() > 33.0 || total == Some(received) {
                    last.set(t);
                    progress.emit((received, total));
                }
            })
            .await;
            Msg::Downloaded(generation, result)
        });
    }

    pub(super) fn accept_bytes(&mut self, ctx: &Context<Self>, bytes: Vec<u8>) {
        let size = bytes.len() as u64;
        match ModelWeights::from_bytes(&bytes) {
            Ok(w) => {
                drop(bytes);
                if self.user >= w.meta.n_users {
                    self.user = 0;
                }
                self.user_text = self.user.to_string();
                if matches!(self.source, Source::Url(_)) {
                    self.restore_view(&w);
                }
                self.model = Some(Shared::new(Loaded::new(w, size)));
                self.phase = Phase::Ready;
                if matches!(self.source, Source::Url(_)) {
                    self.start_compare_download(ctx);
                }
                self.decide_engine(ctx);
            }
            Err(e) => self.phase = Phase::Failed(e.to_string()),
        }
    }

    /// Applies the view the URL describes (selected item, new-user likes, dropped
    /// modalities) to a freshly loaded model; what does not fit the model is ignored.
    fn restore_view(&mut self, w: &ModelWeights) {
        let n = w.meta.n_items;
        self.selected = self.params.item.filter(|&i| (i as usize) < n);
        self.dropped = 0;
        for name in &self.params.drop {
            if let Some(k) = w.meta.modalities.iter().position(|m| m == name) {
                self.dropped |= 1 << k;
            }
        }
        if self.dropped == kernel::all_modalities(w.meta.modalities.len()) {
            self.dropped = 0;
        }
        if self.params.new_user {
            self.mode = crate::state::Mode::NewUser;
            self.liked = self
                .params
                .liked
                .iter()
                .copied()
                .filter(|&i| (i as usize) < n)
                .collect();
        }
    }

    fn use_cpu(&mut self, note: Option<String>) {
        self.engine = Engine::Cpu;
        self.engine_note = note;
        self._poll = None;
    }

    /// Picks the backend once both the model and the GPU context (if any) are known.
    pub(super) fn decide_engine(&mut self, ctx: &Context<Self>) {
        let Some(model) = &self.model else { return };
        if !matches!(self.engine, Engine::Pending) {
            return;
        }
        let w = model.w.clone();
        let forced = self.params.backend == BackendPref::WebGpu;
        if self.params.backend == BackendPref::Cpu {
            self.use_cpu(Some("CPU scorer (forced by ?backend=cpu).".into()));
        } else if w.meta.fusion != FusionKind::Attention {
            self.use_cpu(Some(format!(
                "This file uses {} fusion; the WGSL kernel implements MARIO's attention fusion, so it is scored by the CPU reference scorer.",
                w.meta.fusion
            )));
        } else if w.meta.modalities.len() > kernel::MAX_M {
            self.use_cpu(Some(format!(
                "{} modalities: more than the kernel's {}; scored on the CPU.",
                w.meta.modalities.len(),
                kernel::MAX_M
            )));
        } else {
            match &self.gpu {
                GpuState::Pending => return,
                GpuState::Off => self.use_cpu(None),
                GpuState::Failed(e) => self.use_cpu(Some(format!(
                    "{}WebGPU is unavailable ({e}); using the CPU scorer.",
                    if forced {
                        "?backend=webgpu was requested, but "
                    } else {
                        ""
                    }
                ))),
                GpuState::Ready(gpu) => {
                    let gpu = gpu.clone();
                    let generation = self.generation;
                    let chunk = self.params.chunk_items;
                    ctx.link().send_future(async move {
                        Msg::GpuModel(generation, GpuModel::new(gpu, &w, chunk).await.map(Rc::new))
                    });
                    return;
                }
            }
        }
        self.engine_ready(ctx);
    }

    /// The model's GPU buffers are ready (or failed): use them, with a fault poll.
    pub(super) fn gpu_model_ready(
        &mut self,
        ctx: &Context<Self>,
        result: Result<Rc<GpuModel>, String>,
    ) {
        match result {
            Ok(model) => {
                self.engine = Engine::Gpu(model);
                self.engine_note = None;
                let link = ctx.link().clone();
                self._poll = Some(Interval::new(500, move || link.send_message(Msg::PollGpu)));
            }
            Err(e) => self.use_cpu(Some(format!(
                "WebGPU could not take the model ({e}); using the CPU scorer."
            ))),
        }
        self.engine_ready(ctx);
    }

    /// The backend is decided: score, compute the overview, and run the bench in bench mode.
    fn engine_ready(&mut self, ctx: &Context<Self>) {
        if !self.liked.is_empty() && self.folded.is_none() {
            self.refold();
        }
        self.request_score(ctx);
        self.request_what_if(ctx);
        self.request_influence(ctx);
        if self.params.bench {
            self.run_bench(ctx);
        }
    }

    /// The GPU failed mid-session: switch to the CPU, say so, and redo the work.
    pub(super) fn fall_back(&mut self, ctx: &Context<Self>, reason: &str) {
        if !matches!(self.engine, Engine::Gpu(_)) {
            self.notice = Some(format!("scoring failed: {reason}"));
            return;
        }
        self.use_cpu(Some(
            "CPU scorer (WebGPU stopped working during this session).".into(),
        ));
        self.notice = Some(format!(
            "WebGPU stopped working ({reason}). Switched to the CPU scorer: results are the same, only slower."
        ));
        self.gpu = GpuState::Failed(reason.to_string());
        self.request_score(ctx);
        self.request_what_if(ctx);
        if !matches!(self.influence.as_deref(), Some(Ok(_))) {
            self.influence_cpu(ctx);
        }
    }
}
