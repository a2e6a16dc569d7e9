//! The root component's layout once a model is loaded: the mode tabs, user panel,
//! recommendations, why panel, comparison, influence overview, checks and benchmark, each
//! given the slice of the state it shows.

use mario_shared::Scorer;
use yew::prelude::*;

use super::App;
use crate::components::{
    BenchPanel, ComparePanel, InfluencePanel, NewUserPanel, RecGrid, ToolsPanel, UserPanel,
    WhyPanel,
};
use crate::state::{BenchState, CompareState, Engine, GpuState, Mode, ModelContext, Msg, Shared};

/// Counterfactual ranks (and dropping a modality) are defined for attention and mean fusion.
pub(super) fn counterfactuals_defined(w: &mario_shared::ModelWeights) -> bool {
    mario_shared::counterfactual::fusion_supported(w.meta.fusion)
}

impl App {
    pub(super) fn backend_label(&self) -> Option<&'static str> {
        if let Some(r) = &self.result {
            return Some(r.backend);
        }
        match self.engine {
            Engine::Pending => None,
            Engine::Cpu => Some("cpu"),
            Engine::Gpu(_) => Some("webgpu"),
        }
    }

    /// The comparison panel: this model's current list against the second model's.
    fn view_compare(&self) -> Html {
        let current = self
            .result
            .as_ref()
            .filter(|r| r.query == self.query())
            .cloned();
        let other = self
            .compare_recs
            .as_ref()
            .filter(|r| r.query == self.query())
            .cloned();
        let (label, error, loading, other_model) = match &self.compare {
            CompareState::Off => (None, None, false, None),
            CompareState::Loading(l) => (Some(l.clone()), None, true, None),
            CompareState::Failed(e) => (None, Some(e.clone()), false, None),
            CompareState::Ready { label, model } => {
                (Some(label.clone()), None, false, Some(model.clone()))
            }
        };
        html! {
            <ComparePanel label={label.map(AttrValue::from)} error={error.map(AttrValue::from)} loading={loading}
                current={current} other={other} other_model={other_model} n={self.n} />
        }
    }

    fn gpu_text(&self) -> String {
        match (&self.engine, &self.gpu) {
            (Engine::Gpu(g), _) => format!(
                "WebGPU on {} · item tables in {} chunk(s) at items {:?}",
                g.context().adapter,
                g.chunk_count(),
                g.chunk_offsets()
            ),
            (_, GpuState::Failed(e)) => format!("WebGPU unavailable: {e}"),
            (_, GpuState::Off) => "WebGPU not requested (?backend=cpu)".into(),
            (_, GpuState::Pending) => "WebGPU starting…".into(),
            (_, GpuState::Ready(g)) => format!("WebGPU ready on {}, not in use", g.adapter),
        }
    }

    /// The page once a model is loaded: mode tabs, user panel, recommendations, why panel,
    /// influence overview, checks and benchmark.
    pub(super) fn view_main(&self) -> Html {
        let Some(model) = &self.model else {
            return Html::default();
        };
        let dispatch = &self.dispatch;
        let tab = |mode: Mode, testid: &'static str, label: &'static str| {
            let active = self.mode == mode;
            html! {
                <button type="button" role="tab" class={classes!("tab", active.then_some("active"))}
                    aria-selected={active.to_string()} data-testid={testid}
                    onclick={dispatch.reform(move |_| Msg::SetMode(mode))}>{ label }</button>
            }
        };
        let left = match self.mode {
            Mode::Explore => html! {
                <UserPanel user={self.user} user_text={self.user_text.clone()} />
            },
            Mode::NewUser => html! {
                <NewUserPanel liked={self.liked.clone()} filter={self.filter.clone()}
                    fold_ms={self.folded.as_ref().map(|(_, ms)| *ms)} />
            },
        };
        let (who, history_word) = match self.mode {
            Mode::Explore => (format!("user {}", self.user), "this user's history"),
            Mode::NewUser => ("you".to_string(), "your likes"),
        };
        let current = self
            .result
            .as_ref()
            .filter(|r| r.query == self.query())
            .cloned();
        let rank = self
            .selected
            .and_then(|item| {
                self.result
                    .as_ref()?
                    .recs
                    .iter()
                    .position(|x| x.item == item)
            })
            .map(|p| p + 1);
        let explanation = self.selected.and_then(|item| {
            let (user, history) = self.query_vector(&self.query())?;
            Some(Shared::new(Scorer::new(&model.w).explain_vector(
                &user,
                &history,
                item as usize,
                3,
            )))
        });
        let what_if = self
            .what_if
            .as_ref()
            .filter(|w| Some(w.item) == self.selected && w.query == self.query())
            .cloned();
        let bench = html! { <BenchPanel bench={self.bench.clone()} /> };
        html! {
            <ContextProvider<ModelContext> context={model.clone()}>
                if let Some(note) = &self.engine_note {
                    <div class="engine-note" data-testid="engine-note">{ note.clone() }</div>
                }
                if self.params.bench {
                    { bench.clone() }
                }
                <main class="main">
                    <aside class="col-left">
                        <div class="tabs" role="tablist" aria-label="mode">
                            { tab(Mode::Explore, "mode-explore", "Explore users") }
                            { tab(Mode::NewUser, "mode-new-user", "Be a new user") }
                        </div>
                        { left }
                    </aside>
                    <section class="col-center">
                        <RecGrid n={self.n} who={who} result={current} selected={self.selected} scoring={self.scoring}
                            awaiting_likes={self.mode == Mode::NewUser && self.liked.is_empty()}
                            dropped={self.dropped} can_drop={counterfactuals_defined(&model.w)} />
                    </section>
                    <aside class="col-right">
                        <WhyPanel item={self.selected} explanation={explanation} rank={rank} history_word={history_word}
                            what_if={what_if} />
                    </aside>
                </main>
                if !self.params.bench {
                    { self.view_map() }
                    { self.view_compare() }
                }
                <InfluencePanel influence={self.influence.clone()} skipped={self.params.bench} />
                <ToolsPanel gpu_text={self.gpu_text()} gpu_on={matches!(self.engine, Engine::Gpu(_))} checking={self.checking}
                    check={self.check.clone()} bench_button={!self.params.bench}
                    bench_running={matches!(*self.bench, BenchState::Running(_))} />
                if !self.params.bench {
                    { bench }
                }
            </ContextProvider<ModelContext>>
        }
    }
}
