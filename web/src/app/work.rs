//! The work the page does for a query: the user vector (a known user, or folded in from
//! likes), scoring on the chosen engine, the influence overview, the GPU-vs-CPU check and the
//! benchmark. Each result comes back as a [`Msg`] tagged with what it belongs to.

use mario_shared::counterfactual::{
    CounterfactualError, CounterfactualTable, Counterfactuals, ModalityCounterfactual, rank_of,
    recommend_masked,
};
use mario_shared::metrics::top_k_with_scores;
use mario_shared::{Recommendation, Scorer};
use yew::prelude::*;

use super::App;
use crate::bench;
use crate::foldin::{FoldInConfig, fold_in};
use crate::gpu::GpuModel;
use crate::influence;
use crate::kernel;
use crate::load::now_ms;
use crate::params::BackendPref;
use crate::state::{BenchState, Check, Engine, GpuState, Mode, Msg, Query, Scored, Shared, WhatIf};

impl App {
    pub(super) fn query(&self) -> Query {
        match self.mode {
            Mode::Explore => Query::User(self.user),
            Mode::NewUser => Query::NewUser(self.liked.clone()),
        }
    }

    /// User vector and sorted exclusion list of a query (`None`: nothing to score).
    pub(super) fn query_vector(&self, query: &Query) -> Option<(Vec<f32>, Vec<u32>)> {
        let w = &self.model.as_ref()?.w;
        match query {
            Query::User(u) => Some((w.user_vector(*u)?.to_vec(), w.train_items(*u).to_vec())),
            Query::NewUser(liked) => {
                if liked.is_empty() {
                    return None;
                }
                let (v, _) = self.folded.as_ref()?;
                Some((v.clone(), liked_exclusion(liked)))
            }
        }
    }

    /// Folds a user vector in from the liked items (BPR on the user vector alone).
    pub(super) fn refold(&mut self) {
        let Some(model) = &self.model else { return };
        if self.liked.is_empty() {
            self.folded = None;
            return;
        }
        let t = now_ms();
        let v = fold_in(&model.w, &self.liked, &FoldInConfig::default());
        self.folded = Some((v, now_ms() - t));
    }

    /// Shows a scored list (from either engine), noting when the page's first one came.
    pub(super) fn show_result(&mut self, scored: Scored) {
        self.first_scored_ms.get_or_insert_with(now_ms);
        self.result = Some(Shared::new(scored));
    }

    pub(super) fn request_score(&mut self, ctx: &Context<Self>) {
        self.score_compare();
        let Some(model) = &self.model else { return };
        let query = self.query();
        let Some((user, exclude)) = self.query_vector(&query) else {
            self.result = None;
            return;
        };
        self.seq += 1;
        let seq = self.seq;
        let (n, dropped) = (self.n, self.dropped);
        let m = model.w.meta.modalities.len();
        let keep = kernel::all_modalities(m) & !dropped;
        match &self.engine {
            Engine::Pending => {}
            Engine::Cpu => {
                let t = now_ms();
                let scorer = Scorer::new(&model.w);
                let full = scorer.recommend_vector(&user, &exclude, n);
                let (recs, baseline) = if dropped == 0 {
                    (full, None)
                } else {
                    let masked = recommend_masked(&model.w, &user, &exclude, n, keep)
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    (masked, Some(full.iter().map(|r| r.item).collect()))
                };
                let ms = now_ms() - t;
                self.show_result(Scored {
                    query,
                    recs,
                    ms,
                    backend: "cpu",
                    dropped,
                    baseline,
                });
                self.scoring = false;
            }
            Engine::Gpu(gpu) => {
                let gpu = gpu.clone();
                self.scoring = true;
                ctx.link().send_future(async move {
                    let t = now_ms();
                    let result = async {
                        let baseline = if dropped == 0 {
                            None
                        } else {
                            let full = gpu.score(&user, &exclude).await?;
                            let top = top_k_with_scores(&full.scores, &exclude, n);
                            Some(top.into_iter().map(|(item, _)| item).collect())
                        };
                        let out = gpu.score_masked(&user, &exclude, keep).await?;
                        let recs = top_k_with_scores(&out.scores, &exclude, n)
                            .into_iter()
                            .map(|(item, score)| Recommendation {
                                item,
                                score,
                                attention: out.attention
                                    [item as usize * m..(item as usize + 1) * m]
                                    .to_vec(),
                            })
                            .collect();
                        Ok::<_, String>(Scored {
                            query,
                            recs,
                            ms: now_ms() - t,
                            backend: "webgpu",
                            dropped,
                            baseline,
                        })
                    }
                    .await;
                    Msg::Scored(seq, result)
                });
            }
        }
    }

    /// The selected item's rank and score without each modality and with it alone, on the
    /// engine in use (the GPU re-scores every item once per modality mask).
    pub(super) fn request_what_if(&mut self, ctx: &Context<Self>) {
        let (Some(model), Some(item)) = (&self.model, self.selected) else {
            return;
        };
        let query = self.query();
        let Some((user, exclude)) = self.query_vector(&query) else {
            return;
        };
        self.what_if_seq += 1;
        let seq = self.what_if_seq;
        match &self.engine {
            Engine::Pending => {}
            Engine::Cpu => {
                let result = CounterfactualTable::new(&model.w, &user)
                    .map(|t| t.item(item, &exclude))
                    .map_err(|e| e.to_string());
                self.what_if = Some(Shared::new(WhatIf {
                    query,
                    item,
                    backend: "cpu",
                    result,
                }));
            }
            Engine::Gpu(gpu) => {
                self.what_if = None;
                // The same refusal as the CPU path, without computing its affinity table.
                if !super::view::counterfactuals_defined(&model.w) {
                    let e = CounterfactualError::Fusion(model.w.meta.fusion);
                    self.what_if = Some(Shared::new(WhatIf {
                        query,
                        item,
                        backend: "webgpu",
                        result: Err(e.to_string()),
                    }));
                    return;
                }
                let (gpu, names) = (gpu.clone(), model.w.meta.modalities.clone());
                ctx.link().send_future(async move {
                    let result = gpu_counterfactuals(&gpu, &names, &user, &exclude, item).await;
                    Msg::WhatIfDone(
                        seq,
                        WhatIf {
                            query,
                            item,
                            backend: "webgpu",
                            result,
                        },
                    )
                });
            }
        }
    }

    pub(super) fn request_influence(&mut self, ctx: &Context<Self>) {
        if self.params.bench || self.influence.is_some() {
            return;
        }
        let Some(model) = &self.model else { return };
        match &self.engine {
            Engine::Pending => {}
            Engine::Cpu => self.influence_cpu(ctx),
            Engine::Gpu(gpu) => {
                let (gpu, w, generation) = (gpu.clone(), model.w.clone(), self.generation);
                ctx.link().send_future(async move {
                    let t = now_ms();
                    let r = gpu
                        .influence(&w)
                        .await
                        .map(|inf| (inf, "webgpu", now_ms() - t));
                    Msg::InfluenceDone(generation, r)
                });
            }
        }
    }

    pub(super) fn influence_cpu(&mut self, ctx: &Context<Self>) {
        let Some(model) = &self.model else { return };
        let (w, generation) = (model.w.clone(), self.generation);
        // Let the page paint first; the CPU pass is synchronous.
        ctx.link().send_future(async move {
            gloo_timers::future::TimeoutFuture::new(30).await;
            let t = now_ms();
            let inf = influence::compute_cpu(&w);
            Msg::InfluenceDone(generation, Ok((inf, "cpu", now_ms() - t)))
        });
    }

    /// Scores the current query on both engines and compares top-N, scores and attention.
    pub(super) fn run_check(&mut self, ctx: &Context<Self>) {
        let (Some(model), Engine::Gpu(gpu)) = (&self.model, &self.engine) else {
            self.check = Some(Shared::new(Err(
                "WebGPU is not in use on this page, so there is nothing to compare.".into(),
            )));
            return;
        };
        let Some((user, exclude)) = self.query_vector(&self.query()) else {
            self.check = Some(Shared::new(Err("nothing to score yet".into())));
            return;
        };
        self.checking = true;
        let (gpu, w, n) = (gpu.clone(), model.w.clone(), self.n);
        ctx.link().send_future(async move {
            let t = now_ms();
            let result = gpu.score(&user, &exclude).await;
            let gpu_ms = now_ms() - t;
            let t = now_ms();
            let scorer = Scorer::new(&w);
            let cpu_scores = scorer.score_all(&user);
            let cpu_top = scorer.recommend_vector(&user, &exclude, n);
            let cpu_ms = now_ms() - t;
            Msg::CheckDone(result.map(|out| {
                let gpu_top = top_k_with_scores(&out.scores, &exclude, n);
                let same = gpu_top
                    .iter()
                    .map(|g| g.0)
                    .eq(cpu_top.iter().map(|r| r.item));
                let mut max_delta = 0f32;
                for (g, c) in out.scores.iter().zip(&cpu_scores) {
                    if g.is_finite() {
                        max_delta = max_delta.max((g - c).abs());
                    }
                }
                let m = w.meta.modalities.len();
                let max_att_delta = cpu_top
                    .iter()
                    .flat_map(|r| {
                        r.attention
                            .iter()
                            .enumerate()
                            .map(move |(k, a)| (r.item as usize * m + k, *a))
                    })
                    .map(|(idx, a)| (out.attention[idx] - a).abs())
                    .fold(0f32, f32::max);
                Check {
                    same,
                    max_delta,
                    max_att_delta,
                    n,
                    gpu_ms,
                    cpu_ms,
                }
            }))
        });
    }

    pub(super) fn run_bench(&mut self, ctx: &Context<Self>) {
        if matches!(*self.bench, BenchState::Running(_)) {
            return;
        }
        let Some(model) = &self.model else { return };
        let gpu = match (&self.engine, &self.gpu) {
            (Engine::Gpu(g), _) => Some(g.context().clone()),
            (_, GpuState::Ready(g)) if self.params.backend != BackendPref::Cpu => Some(g.clone()),
            _ => None,
        };
        let name = format!("{} ({})", model.w.meta.dataset.clone(), self.source.label());
        let w = model.w.clone();
        let status = ctx.link().callback(Msg::BenchStatus);
        self.bench = Shared::new(BenchState::Running("starting…".into()));
        ctx.link()
            .send_future(async move { Msg::BenchDone(bench::run(w, name, gpu, status).await) });
    }
}

/// [`mario_shared::counterfactual::CounterfactualTable::item`] on the GPU: every item is
/// re-scored by the kernel under each modality mask (2·M passes), ranks are then counted
/// on the CPU with the same rule ([`rank_of`]).
async fn gpu_counterfactuals(
    gpu: &GpuModel,
    names: &[String],
    user: &[f32],
    exclude: &[u32],
    item: u32,
) -> Result<Counterfactuals, String> {
    let m = names.len();
    let all = kernel::all_modalities(m);
    let scores = async |keep: u32| -> Result<Vec<f32>, String> {
        let mut s = gpu.score_masked(user, exclude, keep).await?.scores;
        kernel::unmask_scores(&mut s);
        Ok(s)
    };
    let full = scores(all).await?;
    let mut modalities = Vec::with_capacity(m);
    for (k, name) in names.iter().enumerate() {
        let without = if m > 1 {
            let s = scores(all & !(1 << k)).await?;
            Some((rank_of(&s, exclude, item), s[item as usize]))
        } else {
            None
        };
        let only = scores(1 << k).await?;
        modalities.push(ModalityCounterfactual {
            modality: name.clone(),
            rank_without: without.map(|w| w.0),
            score_without: without.map(|w| w.1),
            rank_only: rank_of(&only, exclude, item),
            score_only: only[item as usize],
        });
    }
    Ok(Counterfactuals {
        item,
        rank: rank_of(&full, exclude, item),
        score: full[item as usize],
        modalities,
    })
}

/// The items a new user's list excludes: their likes, sorted, each once.
pub(super) fn liked_exclusion(liked: &[u32]) -> Vec<u32> {
    let mut ex = liked.to_vec();
    ex.sort_unstable();
    ex.dedup();
    ex
}
