//! The root component: owns the page state ([`crate::state`]), is its one reducer
//! (`update`), provides [`Dispatch`] and `ModelContext` to the components. The async work
//! it starts lives in `app/engine.rs` (loading, the engine), `app/work.rs` (scoring,
//! what-ifs, checks) and `app/compare.rs` (the second model); the layout in `app/view.rs`.
//!
//! Test contract (stable selectors, see also `static/index.html`):
//! - `[data-testid=app]` root, `data-state` = `loading` | `error` | `ready`, `data-first-scored-ms`
//!   (navigation start → first scored list);
//! - `[data-testid=backend]` text `webgpu` | `cpu`; `[data-testid=score-ms]` last scoring time (ms, number only);
//! - `[data-testid=rec]` in rank order with `data-item-id`, `data-rank`, `data-score`, `data-attention`;
//! - `[data-testid=why]` the explanation panel (`data-item-id`, `data-score`), rows
//!   `[data-testid=why-modality]` with `data-modality`, `data-weight`, `data-affinity`, `data-contribution`;
//! - `[data-testid=error]` the load error message, `[data-testid=retry]`;
//! - see the README section in `static/index.html` for the rest.

mod compare;
mod engine;
mod map;
mod view;
mod work;

use gloo_timers::callback::Interval;
use web_sys::DragEvent;
use yew::prelude::*;

use crate::browser::{self, location_is_bench_page, location_search, random_below};
use crate::components::{ErrorPanel, Header, LoadingPanel};
use crate::gpu::GpuContext;
use crate::kernel;
use crate::load;
use crate::params::{self, BackendPref, UrlParams};
use crate::state::{
    BenchState, Check, CompareScored, CompareState, Dispatch, Engine, GpuState, InfluenceResult,
    Loaded, MapColour, Mode, Msg, Phase, Scored, Shared, Source, WhatIf,
};

/// Mounts the app on `#app` (or the body).
pub fn mount() {
    let document = web_sys::window().and_then(|w| w.document());
    let root = document
        .as_ref()
        .and_then(|d| d.get_element_by_id("app"))
        .or_else(|| document.and_then(|d| d.body()).map(Into::into));
    match root {
        Some(root) => {
            root.set_inner_html("");
            yew::Renderer::<App>::with_root(root).render();
        }
        None => {
            yew::Renderer::<App>::new().render();
        }
    }
}

pub struct App {
    params: UrlParams,
    dispatch: Dispatch,
    source: Source,
    phase: Phase,
    model: Option<Shared<Loaded>>,
    /// Incremented per load, so late results of an abandoned load are ignored.
    generation: u32,
    gpu: GpuState,
    engine: Engine,
    engine_note: Option<String>,
    notice: Option<String>,
    user: usize,
    user_text: String,
    n: usize,
    mode: Mode,
    liked: Vec<u32>,
    folded: Option<(Vec<f32>, f64)>,
    filter: String,
    seq: u64,
    scoring: bool,
    result: Option<Shared<Scored>>,
    selected: Option<u32>,
    /// Modalities dropped from the top-N's attention (bitmask).
    dropped: u32,
    what_if: Option<Shared<WhatIf>>,
    what_if_seq: u64,
    influence: Option<Shared<InfluenceResult>>,
    check: Option<Shared<Result<Check, String>>>,
    checking: bool,
    bench: Shared<BenchState>,
    dragging: bool,
    /// The second model of a comparison, and its top-N for the current query.
    compare: CompareState,
    compare_recs: Option<Shared<CompareScored>>,
    /// The outcome of the last "copy link".
    link_copied: Option<Result<String, String>>,
    /// The item map's space (`None`: the file's first) and colouring, and its cached points.
    map_space: Option<String>,
    map_colour: MapColour,
    map_cache: map::MapCache,
    /// Milliseconds from navigation start to the first scored list (`data-first-scored-ms`).
    first_scored_ms: Option<f64>,
    /// Scroll the why panel into view after the next render (narrow screens).
    scroll_to_why: bool,
    _poll: Option<Interval>,
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let mut params = params::parse_query(&location_search());
        if location_is_bench_page() {
            params.bench = true;
        }
        let gpu = if params.backend == BackendPref::Cpu {
            GpuState::Off
        } else {
            ctx.link()
                .send_future(async { Msg::GpuContext(GpuContext::new().await) });
            GpuState::Pending
        };
        let mut app = Self {
            dispatch: ctx.link().callback(|m: Msg| m),
            source: Source::Url(params.weights.clone()),
            user: params.user.unwrap_or(0),
            user_text: params.user.unwrap_or(0).to_string(),
            n: params.n,
            map_space: params.map.clone(),
            map_colour: MapColour::from_param(params.map_color.as_deref().unwrap_or_default()),
            params,
            phase: Phase::Loading {
                received: 0,
                total: None,
                validating: false,
            },
            model: None,
            generation: 0,
            gpu,
            engine: Engine::Pending,
            engine_note: None,
            notice: None,
            mode: Mode::Explore,
            liked: Vec::new(),
            folded: None,
            filter: String::new(),
            seq: 0,
            scoring: false,
            result: None,
            selected: None,
            dropped: 0,
            what_if: None,
            what_if_seq: 0,
            influence: None,
            check: None,
            checking: false,
            bench: Shared::new(BenchState::Idle),
            dragging: false,
            link_copied: None,
            map_cache: Default::default(),
            first_scored_ms: None,
            compare: CompareState::Off,
            compare_recs: None,
            scroll_to_why: false,
            _poll: None,
        };
        app.start_download(ctx);
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Progress(received, total) => {
                if let Phase::Loading {
                    received: r,
                    total: t,
                    ..
                } = &mut self.phase
                {
                    *r = received;
                    *t = total;
                }
            }
            Msg::Downloaded(generation, result) => {
                if generation != self.generation {
                    return false;
                }
                match result {
                    Ok(bytes) => {
                        // Show "validating…" before the (synchronous) parse.
                        if let Phase::Loading {
                            validating,
                            received,
                            ..
                        } = &mut self.phase
                        {
                            *validating = true;
                            *received = bytes.len() as u64;
                        }
                        ctx.link().send_future(async move {
                            gloo_timers::future::TimeoutFuture::new(0).await;
                            Msg::Validate(generation, bytes)
                        });
                    }
                    Err(e) => self.phase = Phase::Failed(e),
                }
            }
            Msg::Validate(generation, bytes) => {
                if generation != self.generation {
                    return false;
                }
                self.accept_bytes(ctx, bytes);
            }
            Msg::Retry => match self.source.clone() {
                Source::Url(_) => self.start_download(ctx),
                Source::File(_) => {
                    self.phase = Phase::Failed(
                        "choose the file again (a dropped or picked file cannot be re-read)".into(),
                    )
                }
            },
            Msg::PickFile(file) => {
                self.dragging = false;
                self.reset_for_new_model();
                self.source = Source::File(file.name());
                self.phase = Phase::Loading {
                    received: 0,
                    total: Some(file.size() as u64),
                    validating: false,
                };
                let generation = self.generation;
                ctx.link().send_future(async move {
                    Msg::Downloaded(generation, load::read_file(&file).await)
                });
            }
            Msg::Drag(on) => self.dragging = on,
            Msg::GpuContext(result) => {
                self.gpu = match result {
                    Ok(g) => GpuState::Ready(g),
                    Err(e) => GpuState::Failed(e),
                };
                self.decide_engine(ctx);
            }
            Msg::GpuModel(generation, result) => {
                if generation != self.generation {
                    return false;
                }
                self.gpu_model_ready(ctx, result);
            }
            Msg::PollGpu => {
                let fault = match &self.engine {
                    Engine::Gpu(g) => g.context().fault(),
                    _ => None,
                };
                match fault {
                    Some(reason) => self.fall_back(ctx, &reason),
                    None => return false,
                }
            }
            Msg::SimulateLoss => {
                if let Engine::Gpu(g) = &self.engine {
                    g.context().simulate_loss();
                }
                return false;
            }
            Msg::UserText(text) => self.user_text = text,
            Msg::UserCommit => {
                let n_users = self.n_users();
                match self.user_text.trim().parse::<usize>() {
                    Ok(u) if u < n_users => return self.set_user(ctx, u),
                    _ => self.user_text = self.user.to_string(),
                }
            }
            Msg::Prev => {
                let n = self.n_users().max(1);
                return self.set_user(ctx, (self.user + n - 1) % n);
            }
            Msg::Next => {
                let n = self.n_users().max(1);
                return self.set_user(ctx, (self.user + 1) % n);
            }
            Msg::Random => return self.set_user(ctx, random_below(self.n_users())),
            Msg::SetN(n) => {
                self.n = n.clamp(1, params::MAX_N);
                self.params.n = self.n;
                self.sync_url();
                self.request_score(ctx);
            }
            Msg::Scored(seq, result) => {
                if seq != self.seq {
                    return false;
                }
                self.scoring = false;
                match result {
                    Ok(scored) => self.show_result(scored),
                    Err(e) => self.fall_back(ctx, &e),
                }
            }
            Msg::WhatIfDone(seq, what_if) => {
                if seq != self.what_if_seq {
                    return false;
                }
                self.what_if = Some(Shared::new(what_if));
            }
            Msg::ToggleDrop(m) => {
                let n = self.model.as_ref().map_or(0, |w| w.w.meta.modalities.len());
                let dropped = self.dropped ^ (1 << m);
                // At least one modality stays.
                if m >= n || dropped == kernel::all_modalities(n) {
                    return false;
                }
                self.dropped = dropped;
                self.sync_url();
                self.request_score(ctx);
            }
            Msg::CopyLink => {
                ctx.link()
                    .send_future(async { Msg::LinkCopied(browser::copy_location().await) });
                return false;
            }
            Msg::LinkCopied(result) => self.link_copied = Some(result),
            Msg::CompareBytes(generation, label, bytes) => {
                if generation != self.generation {
                    return false;
                }
                self.accept_compare(label, bytes);
            }
            Msg::PickCompare(file) => self.pick_compare(ctx, file),
            Msg::ClearCompare => {
                self.compare = CompareState::Off;
                self.compare_recs = None;
                self.params.compare = None;
                self.sync_url();
            }
            Msg::MapSpace(space) => {
                self.map_space = Some(space);
                self.sync_url();
            }
            Msg::MapColour(colour) => {
                self.map_colour = colour;
                self.sync_url();
            }
            Msg::Select(item) => {
                self.selected = Some(item);
                self.sync_url();
                self.request_what_if(ctx);
                // In the one- and two-column layouts the panel is below the list.
                self.scroll_to_why = browser::viewport_at_most(1180.0);
            }
            Msg::CloseWhy => {
                self.selected = None;
                self.sync_url();
            }
            Msg::SetMode(mode) => {
                self.mode = mode;
                self.selected = None;
                self.sync_url();
                self.request_score(ctx);
            }
            Msg::ToggleLike(item) => {
                match self.liked.iter().position(|&i| i == item) {
                    Some(p) => {
                        self.liked.remove(p);
                    }
                    None => self.liked.push(item),
                }
                self.refold();
                self.selected = None;
                self.sync_url();
                self.request_score(ctx);
            }
            Msg::ClearLikes => {
                self.liked.clear();
                self.refold();
                self.selected = None;
                self.sync_url();
                self.request_score(ctx);
            }
            Msg::Filter(f) => self.filter = f,
            Msg::InfluenceDone(generation, result) => {
                if generation != self.generation {
                    return false;
                }
                match result {
                    Err(e) if matches!(self.engine, Engine::Gpu(_)) => {
                        // The GPU path failed: compute it on the CPU instead.
                        self.influence = None;
                        self.notice.get_or_insert(format!(
                            "the GPU influence overview failed ({e}); computed on the CPU"
                        ));
                        self.influence_cpu(ctx);
                    }
                    other => self.influence = Some(Shared::new(other)),
                }
            }
            Msg::Check => self.run_check(ctx),
            Msg::CheckDone(result) => {
                self.checking = false;
                self.check = Some(Shared::new(result));
            }
            Msg::RunBench => self.run_bench(ctx),
            Msg::BenchStatus(s) => {
                if let BenchState::Running(_) = *self.bench {
                    self.bench = Shared::new(BenchState::Running(s));
                }
            }
            Msg::BenchDone(result) => {
                self.bench = Shared::new(match result {
                    Ok(rows) => BenchState::Done(rows),
                    Err(e) => BenchState::Failed(e),
                })
            }
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        if std::mem::take(&mut self.scroll_to_why) {
            browser::scroll_into_view("why-h");
        }
    }

    fn view(&self, _ctx: &Context<Self>) -> Html {
        let dispatch = &self.dispatch;
        let state = match self.phase {
            Phase::Loading { .. } => "loading",
            Phase::Failed(_) => "error",
            Phase::Ready => "ready",
        };
        let ondragover = dispatch.reform(|e: DragEvent| {
            e.prevent_default();
            Msg::Drag(true)
        });
        // `dragleave` also fires when moving between children: only leaving the window counts.
        let ondragleave = {
            let dispatch = dispatch.clone();
            Callback::from(move |e: DragEvent| {
                e.prevent_default();
                if e.related_target().is_none() {
                    dispatch.emit(Msg::Drag(false));
                }
            })
        };
        let ondrop = dispatch.reform(|e: DragEvent| {
            e.prevent_default();
            let file = e
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0));
            match file {
                Some(f) => Msg::PickFile(f),
                None => Msg::Drag(false),
            }
        });
        let source = AttrValue::from(self.source.label().to_string());
        html! {
            <ContextProvider<Dispatch> context={dispatch.clone()}>
            <div class={classes!("app", self.dragging.then_some("dragging"))} data-testid="app" data-state={state}
                 data-first-scored-ms={self.first_scored_ms.map(|t| format!("{t:.0}"))}
                 {ondragover} {ondragleave} {ondrop}>
                <Header source={source.clone()} model={self.model.clone()} backend={self.backend_label()}
                    engine_note={self.engine_note.clone().map(AttrValue::from)} failed={matches!(self.phase, Phase::Failed(_))}
                    score_ms={self.result.as_ref().map(|r| r.ms)}
                    link_copied={self.link_copied.as_ref().map(|r| r.is_ok())} />
                if let Some(notice) = &self.notice {
                    <div class="notice" role="status" data-testid="notice">{ notice.clone() }</div>
                }
                {
                    match &self.phase {
                        Phase::Loading { received, total, validating } => html! {
                            <LoadingPanel source={source.clone()} received={*received} total={*total} validating={*validating} />
                        },
                        Phase::Failed(message) => html! {
                            <ErrorPanel source={source.clone()} message={message.clone()} />
                        },
                        Phase::Ready => self.view_main(),
                    }
                }
                <footer class="footer">
                    <p>
                        { "MARIO — modality-aware attention (Kim et al., CIKM 2022, Eq. 5–7), scored in your browser with one WGSL compute pass. " }
                        { "Drop a " }<code>{ ".safetensors" }</code>{ " weights file anywhere on the page to explore it." }
                    </p>
                </footer>
                if self.dragging {
                    <div class="dropzone" aria-hidden="true"><div>{ "Drop a MARIO weights file to load it" }</div></div>
                }
            </div>
            </ContextProvider<Dispatch>>
        }
    }
}

impl App {
    fn set_user(&mut self, ctx: &Context<Self>, u: usize) -> bool {
        self.user = u.min(self.n_users().saturating_sub(1));
        self.user_text = self.user.to_string();
        self.selected = None;
        self.sync_url();
        self.request_score(ctx);
        true
    }

    fn n_users(&self) -> usize {
        self.model.as_ref().map_or(0, |m| m.w.meta.n_users)
    }

    /// Writes the whole view into the address: user, n, selected item, mode and likes,
    /// dropped modalities (opening that URL restores it; see `app/engine.rs`).
    fn sync_url(&mut self) {
        let is_url = matches!(self.source, Source::Url(_));
        let user = (self.mode == Mode::Explore).then_some(self.user);
        self.params.item = self.selected;
        self.params.new_user = self.mode == Mode::NewUser;
        self.params.liked = if self.params.new_user {
            self.liked.clone()
        } else {
            Vec::new()
        };
        self.params.drop = self.model.as_ref().map_or_else(Vec::new, |m| {
            m.w.meta
                .modalities
                .iter()
                .enumerate()
                .filter(|(k, _)| self.dropped >> k & 1 == 1)
                .map(|(_, n)| n.clone())
                .collect()
        });
        self.params.map = self.map_space.clone();
        self.params.map_color = (self.map_colour != MapColour::default())
            .then(|| self.map_colour.as_param().to_string());
        browser::replace_url(&self.params.to_query(user, is_url));
    }
}
