//! The Yew page. One component owns the state; the view is split into panels.
//!
//! Test contract (stable selectors, see also `static/index.html`):
//! - `[data-testid=app]` root, `data-state` = `loading` | `error` | `ready`;
//! - `[data-testid=backend]` text `webgpu` | `cpu`; `[data-testid=score-ms]` last scoring time (ms, number only);
//! - `[data-testid=rec]` in rank order with `data-item-id`, `data-rank`, `data-score`, `data-attention`;
//! - `[data-testid=why]` the explanation panel (`data-item-id`, `data-score`), rows
//!   `[data-testid=why-modality]` with `data-modality`, `data-weight`, `data-affinity`, `data-contribution`;
//! - `[data-testid=error]` the load error message, `[data-testid=retry]`;
//! - see the README section in `static/index.html` for the rest.

use std::rc::Rc;

use gloo_timers::callback::Interval;
use mario_shared::metrics::top_k_with_scores;
use mario_shared::scorer::Explanation;
use mario_shared::{FusionKind, ItemInfo, ModelWeights, Recommendation, Scorer};
use web_sys::{DragEvent, HtmlInputElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;
use yew::virtual_dom::AttrValue;

use crate::bench::{self, BenchRow};
use crate::charts;
use crate::foldin::{FoldInConfig, fold_in};
use crate::format::{self, attention_json, modality_color, score_attr, thousands};
use crate::gpu::{GpuContext, GpuModel};
use crate::influence::{self, Influence};
use crate::kernel;
use crate::load::{self, now_ms};
use crate::params::{self, BackendPref, N_CHOICES, UrlParams};
use crate::picture;

/// History cards drawn for a user (all of the history is used for masking and evidence).
const HISTORY_SHOWN: usize = 60;

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

fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

fn location_is_bench_page() -> bool {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|p| p.ends_with("bench.html"))
}

fn replace_url(query: &str) {
    if let Some(w) = web_sys::window()
        && let Ok(path) = w.location().pathname()
        && let Ok(history) = w.history()
    {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        );
    }
}

fn random_below(n: usize) -> usize {
    ((js_sys::Math::random() * n as f64) as usize).min(n.saturating_sub(1))
}

fn raw_html(markup: String) -> Html {
    Html::from_html_unchecked(AttrValue::from(markup))
}

/// Where the weights come from.
#[derive(Clone, PartialEq)]
enum Source {
    Url(String),
    File(String),
}

impl Source {
    fn label(&self) -> &str {
        match self {
            Source::Url(u) | Source::File(u) => u,
        }
    }
}

enum Phase {
    Loading {
        received: u64,
        total: Option<u64>,
        validating: bool,
    },
    Failed(String),
    Ready,
}

struct Loaded {
    w: Rc<ModelWeights>,
    size: u64,
    /// Items by training popularity (most first), for the new-user picker.
    popular: Vec<u32>,
}

enum GpuState {
    Off,
    Pending,
    Ready(Rc<GpuContext>),
    Failed(String),
}

enum Engine {
    Pending,
    Cpu,
    Gpu(Rc<GpuModel>),
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Explore,
    NewUser,
}

/// The query being scored: explore a known user, or the folded-in new user.
#[derive(Clone, PartialEq)]
enum Query {
    User(usize),
    NewUser(Vec<u32>),
}

struct Scored {
    query: Query,
    recs: Vec<Recommendation>,
    ms: f64,
    backend: &'static str,
}

struct Check {
    same: bool,
    max_delta: f32,
    max_att_delta: f32,
    n: usize,
    gpu_ms: f64,
    cpu_ms: f64,
}

enum BenchState {
    Idle,
    Running(String),
    Done(Vec<BenchRow>),
    Failed(String),
}

enum Msg {
    Progress(u64, Option<u64>),
    Downloaded(u32, Result<Vec<u8>, String>),
    Validate(u32, Vec<u8>),
    Retry,
    PickFile(web_sys::File),
    Drag(bool),
    GpuContext(Result<Rc<GpuContext>, String>),
    GpuModel(u32, Result<Rc<GpuModel>, String>),
    PollGpu,
    SimulateLoss,
    UserText(String),
    UserCommit,
    Prev,
    Next,
    Random,
    SetN(usize),
    Scored(u64, Result<Scored, String>),
    Select(u32),
    CloseWhy,
    SetMode(Mode),
    ToggleLike(u32),
    ClearLikes,
    Filter(String),
    InfluenceDone(u32, Result<(Influence, &'static str, f64), String>),
    Check,
    CheckDone(Result<Check, String>),
    RunBench,
    BenchStatus(String),
    BenchDone(Result<Vec<BenchRow>, String>),
}

struct App {
    params: UrlParams,
    source: Source,
    phase: Phase,
    model: Option<Loaded>,
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
    result: Option<Scored>,
    selected: Option<u32>,
    influence: Option<Result<(Influence, &'static str, f64), String>>,
    check: Option<Result<Check, String>>,
    checking: bool,
    bench: BenchState,
    dragging: bool,
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
            source: Source::Url(params.weights.clone()),
            user: params.user.unwrap_or(0),
            user_text: params.user.unwrap_or(0).to_string(),
            n: params.n,
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
            influence: None,
            check: None,
            checking: false,
            bench: BenchState::Idle,
            dragging: false,
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
                match result {
                    Ok(model) => {
                        self.engine = Engine::Gpu(model);
                        self.engine_note = None;
                        let link = ctx.link().clone();
                        self._poll =
                            Some(Interval::new(500, move || link.send_message(Msg::PollGpu)));
                    }
                    Err(e) => self.use_cpu(Some(format!(
                        "WebGPU could not take the model ({e}); using the CPU scorer."
                    ))),
                }
                self.engine_ready(ctx);
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
                    Ok(scored) => self.result = Some(scored),
                    Err(e) => self.fall_back(ctx, &e),
                }
            }
            Msg::Select(item) => {
                self.selected = Some(item);
                // In the one- and two-column layouts the panel is below the list.
                self.scroll_to_why = web_sys::window()
                    .and_then(|w| w.inner_width().ok())
                    .and_then(|w| w.as_f64())
                    .is_some_and(|w| w <= 1180.0);
            }
            Msg::CloseWhy => self.selected = None,
            Msg::SetMode(mode) => {
                self.mode = mode;
                self.selected = None;
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
                self.request_score(ctx);
            }
            Msg::ClearLikes => {
                self.liked.clear();
                self.refold();
                self.selected = None;
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
                    other => self.influence = Some(other),
                }
            }
            Msg::Check => self.run_check(ctx),
            Msg::CheckDone(result) => {
                self.checking = false;
                self.check = Some(result);
            }
            Msg::RunBench => self.run_bench(ctx),
            Msg::BenchStatus(s) => {
                if let BenchState::Running(_) = self.bench {
                    self.bench = BenchState::Running(s);
                }
            }
            Msg::BenchDone(result) => {
                self.bench = match result {
                    Ok(rows) => BenchState::Done(rows),
                    Err(e) => BenchState::Failed(e),
                }
            }
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        if std::mem::take(&mut self.scroll_to_why)
            && let Some(el) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("why-h"))
        {
            el.scroll_into_view();
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let state = match self.phase {
            Phase::Loading { .. } => "loading",
            Phase::Failed(_) => "error",
            Phase::Ready => "ready",
        };
        let ondragover = link.callback(|e: DragEvent| {
            e.prevent_default();
            Msg::Drag(true)
        });
        // `dragleave` also fires when moving between children: only leaving the window counts.
        let ondragleave = link.batch_callback(|e: DragEvent| {
            e.prevent_default();
            e.related_target().is_none().then_some(Msg::Drag(false))
        });
        let ondrop = link.batch_callback(|e: DragEvent| {
            e.prevent_default();
            let file = e
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0));
            Some(match file {
                Some(f) => Msg::PickFile(f),
                None => Msg::Drag(false),
            })
        });
        html! {
            <div class={classes!("app", self.dragging.then_some("dragging"))} data-testid="app" data-state={state}
                 {ondragover} {ondragleave} {ondrop}>
                { self.view_header(ctx) }
                if let Some(notice) = &self.notice {
                    <div class="notice" role="status" data-testid="notice">{ notice.clone() }</div>
                }
                {
                    match &self.phase {
                        Phase::Loading { received, total, validating } => self.view_loading(*received, *total, *validating),
                        Phase::Failed(message) => self.view_error(ctx, message),
                        Phase::Ready => self.view_main(ctx),
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

    fn reset_for_new_model(&mut self) {
        self.generation += 1;
        self.model = None;
        self.result = None;
        self.selected = None;
        self.influence = None;
        self.check = None;
        self.liked.clear();
        self.folded = None;
        self.scoring = false;
        self._poll = None;
        self.engine = Engine::Pending;
        self.engine_note = None;
        self.bench = BenchState::Idle;
    }

    fn start_download(&mut self, ctx: &Context<Self>) {
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

    fn accept_bytes(&mut self, ctx: &Context<Self>, bytes: Vec<u8>) {
        let size = bytes.len() as u64;
        match ModelWeights::from_bytes(&bytes) {
            Ok(w) => {
                drop(bytes);
                let mut counts = vec![0u32; w.meta.n_items];
                for &i in &w.train_indices {
                    counts[i as usize] += 1;
                }
                let mut popular: Vec<u32> = (0..w.meta.n_items as u32).collect();
                popular
                    .sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
                if self.user >= w.meta.n_users {
                    self.user = 0;
                }
                self.user_text = self.user.to_string();
                self.model = Some(Loaded {
                    w: Rc::new(w),
                    size,
                    popular,
                });
                self.phase = Phase::Ready;
                self.decide_engine(ctx);
            }
            Err(e) => self.phase = Phase::Failed(e.to_string()),
        }
    }

    fn use_cpu(&mut self, note: Option<String>) {
        self.engine = Engine::Cpu;
        self.engine_note = note;
        self._poll = None;
    }

    /// Picks the backend once both the model and the GPU context (if any) are known.
    fn decide_engine(&mut self, ctx: &Context<Self>) {
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

    /// The backend is decided: score, compute the overview, and run the bench in bench mode.
    fn engine_ready(&mut self, ctx: &Context<Self>) {
        self.request_score(ctx);
        self.request_influence(ctx);
        if self.params.bench {
            self.run_bench(ctx);
        }
    }

    /// The GPU failed mid-session: switch to the CPU, say so, and redo the work.
    fn fall_back(&mut self, ctx: &Context<Self>, reason: &str) {
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
        if !matches!(self.influence, Some(Ok(_))) {
            self.influence_cpu(ctx);
        }
    }

    fn sync_url(&self) {
        let is_url = matches!(self.source, Source::Url(_));
        let user = (self.mode == Mode::Explore).then_some(self.user);
        replace_url(&self.params.to_query(user, is_url));
    }

    fn query(&self) -> Query {
        match self.mode {
            Mode::Explore => Query::User(self.user),
            Mode::NewUser => Query::NewUser(self.liked.clone()),
        }
    }

    /// User vector and sorted exclusion list of a query (`None`: nothing to score).
    fn query_vector(&self, query: &Query) -> Option<(Vec<f32>, Vec<u32>)> {
        let w = &self.model.as_ref()?.w;
        match query {
            Query::User(u) => Some((w.user_vector(*u)?.to_vec(), w.train_items(*u).to_vec())),
            Query::NewUser(liked) => {
                if liked.is_empty() {
                    return None;
                }
                let (v, _) = self.folded.as_ref()?;
                let mut ex = liked.clone();
                ex.sort_unstable();
                ex.dedup();
                Some((v.clone(), ex))
            }
        }
    }

    fn refold(&mut self) {
        let Some(model) = &self.model else { return };
        if self.liked.is_empty() {
            self.folded = None;
            return;
        }
        let t = now_ms();
        let v = fold_in(&model.w, &self.liked, &FoldInConfig::default());
        self.folded = Some((v, now_ms() - t));
    }

    fn request_score(&mut self, ctx: &Context<Self>) {
        let Some(model) = &self.model else { return };
        let query = self.query();
        let Some((user, exclude)) = self.query_vector(&query) else {
            self.result = None;
            return;
        };
        self.seq += 1;
        let seq = self.seq;
        let n = self.n;
        match &self.engine {
            Engine::Pending => {}
            Engine::Cpu => {
                let t = now_ms();
                let recs = Scorer::new(&model.w).recommend_vector(&user, &exclude, n);
                let ms = now_ms() - t;
                self.result = Some(Scored {
                    query,
                    recs,
                    ms,
                    backend: "cpu",
                });
                self.scoring = false;
            }
            Engine::Gpu(gpu) => {
                let gpu = gpu.clone();
                let m = model.w.meta.modalities.len();
                self.scoring = true;
                ctx.link().send_future(async move {
                    let t = now_ms();
                    let result = gpu.score(&user, &exclude).await.map(|out| {
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
                        Scored {
                            query,
                            recs,
                            ms: now_ms() - t,
                            backend: "webgpu",
                        }
                    });
                    Msg::Scored(seq, result)
                });
            }
        }
    }

    fn request_influence(&mut self, ctx: &Context<Self>) {
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

    fn influence_cpu(&mut self, ctx: &Context<Self>) {
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

    fn run_check(&mut self, ctx: &Context<Self>) {
        let (Some(model), Engine::Gpu(gpu)) = (&self.model, &self.engine) else {
            self.check = Some(Err(
                "WebGPU is not in use on this page, so there is nothing to compare.".into(),
            ));
            return;
        };
        let Some((user, exclude)) = self.query_vector(&self.query()) else {
            self.check = Some(Err("nothing to score yet".into()));
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

    fn run_bench(&mut self, ctx: &Context<Self>) {
        if matches!(self.bench, BenchState::Running(_)) {
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
        self.bench = BenchState::Running("starting…".into());
        ctx.link()
            .send_future(async move { Msg::BenchDone(bench::run(w, name, gpu, status).await) });
    }

    // ───────────────────────────── views ─────────────────────────────

    fn backend_label(&self) -> Option<&'static str> {
        if let Some(r) = &self.result {
            return Some(r.backend);
        }
        match self.engine {
            Engine::Pending => None,
            Engine::Cpu => Some("cpu"),
            Engine::Gpu(_) => Some("webgpu"),
        }
    }

    fn view_header(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let onfile = link.batch_callback(|e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let file = input.files().and_then(|f| f.get(0));
            input.set_value("");
            file.map(Msg::PickFile)
        });
        let summary = self.model.as_ref().map(|m| {
            let meta = &m.w.meta;
            let metric = |split: &str, k: &str| format::metric(&meta.metrics, split, k).map(|v| format!("{v:.4}"));
            let recall = metric("test", "recall@20");
            let ndcg = metric("test", "ndcg@20");
            html! {
                <dl class="summary" data-testid="summary" data-users={meta.n_users.to_string()} data-items={meta.n_items.to_string()}
                    data-modalities={meta.modalities.join(",")} data-dtype={meta.dtype.to_string()} data-fusion={meta.fusion.to_string()}>
                    <div><dt>{ "users" }</dt><dd>{ thousands(meta.n_users as u64) }</dd></div>
                    <div><dt>{ "items" }</dt><dd>{ thousands(meta.n_items as u64) }</dd></div>
                    <div><dt>{ "interactions" }</dt><dd>{ thousands(m.w.train_indices.len() as u64) }</dd></div>
                    <div><dt>{ "modalities" }</dt><dd class="mods">{
                        for meta.modalities.iter().enumerate().map(|(i, name)| html! {
                            <span class="mod"><span class="swatch" style={format!("background:{}", modality_color(name, i))}></span>{ name.clone() }</span>
                        })
                    }</dd></div>
                    <div><dt>{ "d" }</dt><dd>{ meta.d }</dd></div>
                    <div><dt>{ "dtype" }</dt><dd>{ meta.dtype.to_string() }</dd></div>
                    <div><dt>{ "fusion" }</dt><dd>{ meta.fusion.to_string() }</dd></div>
                    <div><dt>{ "test recall@20" }</dt><dd data-testid="metric-recall">{ recall.unwrap_or_else(|| "—".into()) }</dd></div>
                    <div><dt>{ "test ndcg@20" }</dt><dd>{ ndcg.unwrap_or_else(|| "—".into()) }</dd></div>
                    <div><dt>{ "file" }</dt><dd>{ format::bytes(m.size) }</dd></div>
                </dl>
            }
        });
        let dataset = self
            .model
            .as_ref()
            .map(|m| m.w.meta.dataset.clone())
            .filter(|d| !d.is_empty());
        html! {
            <header class="header">
                <div class="brand">
                    <h1>{ "MARIO" }<span class="sub">{ " · which modality drives each recommendation?" }</span></h1>
                    <p class="source">
                        { dataset.map(|d| html! { <strong>{ d }</strong> }) }
                        <span class="path" title={self.source.label().to_string()}>{ self.source.label().to_string() }</span>
                    </p>
                </div>
                <div class="status">
                    if let Some(b) = self.backend_label() {
                        <span class={classes!("badge", b)} title={self.engine_note.clone().unwrap_or_else(|| "scoring backend".into())}>
                            <span class="badge-k">{ "backend" }</span>
                            <span data-testid="backend">{ b }</span>
                        </span>
                    } else if !matches!(self.phase, Phase::Failed(_)) {
                        <span class="badge pending">{ "preparing…" }</span>
                    }
                    if let Some(r) = &self.result {
                        <span class="badge time" title="score every item + top-N, readback included">
                            <span class="badge-k">{ "scored in" }</span>
                            <span data-testid="score-ms">{ format::ms(r.ms) }</span>{ " ms" }
                        </span>
                    }
                    <label class="button ghost file">
                        { "Load weights…" }
                        <input type="file" accept=".safetensors,application/octet-stream" data-testid="file-input" onchange={onfile} />
                    </label>
                </div>
                { summary.unwrap_or_default() }
            </header>
        }
    }

    fn view_loading(&self, received: u64, total: Option<u64>, validating: bool) -> Html {
        let pct = total
            .filter(|&t| t > 0)
            .map(|t| (received as f64 / t as f64 * 100.0).min(100.0));
        let text = match (validating, total) {
            (true, _) => "validating…".to_string(),
            (false, Some(t)) => format!("{} of {}", format::bytes(received), format::bytes(t)),
            (false, None) => format!("{} received", format::bytes(received)),
        };
        html! {
            <section class="panel loading" data-testid="progress" data-received={received.to_string()}
                     data-total={total.map(|t| t.to_string()).unwrap_or_default()}>
                <h2>{ "Loading weights" }</h2>
                <p class="path">{ self.source.label().to_string() }</p>
                <progress max="100" value={pct.map(|p| format!("{p:.1}"))} aria-label="download progress"></progress>
                <p class="bytes">{ text }{ pct.map(|p| format!(" ({p:.0}%)")).unwrap_or_default() }</p>
            </section>
        }
    }

    fn view_error(&self, ctx: &Context<Self>, message: &str) -> Html {
        let link = ctx.link();
        html! {
            <section class="panel error-panel" role="alert">
                <h2>{ format!("Could not load {}", self.source.label()) }</h2>
                <p class="error" data-testid="error">{ message.to_string() }</p>
                <p class="hint">
                    { "Export a weights file with " }<code>{ "mario export --run RUN_DIR --out FILE" }</code>
                    { ", then load it with the button above, by dropping it on the page, or with " }<code>{ "?weights=URL" }</code>{ "." }
                </p>
                <div class="row">
                    <button type="button" class="button" data-testid="retry" onclick={link.callback(|_| Msg::Retry)}>{ "Retry" }</button>
                </div>
            </section>
        }
    }

    fn view_main(&self, ctx: &Context<Self>) -> Html {
        let Some(model) = &self.model else {
            return html! {};
        };
        let w = &model.w;
        let link = ctx.link();
        let tabs = html! {
            <div class="tabs" role="tablist" aria-label="mode">
                <button type="button" role="tab" class={classes!("tab", (self.mode == Mode::Explore).then_some("active"))}
                    aria-selected={(self.mode == Mode::Explore).to_string()} data-testid="mode-explore"
                    onclick={link.callback(|_| Msg::SetMode(Mode::Explore))}>{ "Explore users" }</button>
                <button type="button" role="tab" class={classes!("tab", (self.mode == Mode::NewUser).then_some("active"))}
                    aria-selected={(self.mode == Mode::NewUser).to_string()} data-testid="mode-new-user"
                    onclick={link.callback(|_| Msg::SetMode(Mode::NewUser))}>{ "Be a new user" }</button>
            </div>
        };
        let left = match self.mode {
            Mode::Explore => self.view_user_panel(ctx, w),
            Mode::NewUser => self.view_new_user_panel(ctx, model),
        };
        html! {
            <>
                if let Some(note) = &self.engine_note {
                    <div class="engine-note" data-testid="engine-note">{ note.clone() }</div>
                }
                if self.params.bench {
                    { self.view_bench(ctx) }
                }
                <main class="main">
                    <aside class="col-left">{ tabs }{ left }</aside>
                    <section class="col-center">{ self.view_recs(ctx, w) }</section>
                    <aside class="col-right">{ self.view_why(ctx, w) }</aside>
                </main>
                { self.view_influence(w) }
                { self.view_tools(ctx) }
                if !self.params.bench {
                    { self.view_bench(ctx) }
                }
            </>
        }
    }

    fn view_user_panel(&self, ctx: &Context<Self>, w: &ModelWeights) -> Html {
        let link = ctx.link();
        let history = w.train_items(self.user);
        let oninput = link.callback(|e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            Msg::UserText(input.value())
        });
        let onkeydown =
            link.batch_callback(|e: KeyboardEvent| (e.key() == "Enter").then_some(Msg::UserCommit));
        let onchange = link.callback(|_: Event| Msg::UserCommit);
        html! {
            <section class="panel user-panel" aria-labelledby="user-h">
                <h2 id="user-h">{ "User" }</h2>
                <div class="picker">
                    <button type="button" class="button icon" aria-label="previous user" title="previous user" data-testid="user-prev"
                        onclick={link.callback(|_| Msg::Prev)}>{ "‹" }</button>
                    <label class="visually-hidden" for="user-input">{ "user id" }</label>
                    <input id="user-input" type="number" min="0" max={w.meta.n_users.saturating_sub(1).to_string()} inputmode="numeric"
                        value={self.user_text.clone()} data-testid="user-input" {oninput} {onkeydown} {onchange} />
                    <button type="button" class="button icon" aria-label="next user" title="next user" data-testid="user-next"
                        onclick={link.callback(|_| Msg::Next)}>{ "›" }</button>
                    <button type="button" class="button ghost" data-testid="user-random" onclick={link.callback(|_| Msg::Random)}>{ "Random" }</button>
                </div>
                <p class="muted">
                    { format!("user ") }<strong data-testid="user-id">{ self.user }</strong>
                    { format!(" of {} · {} training items", thousands(w.meta.n_users as u64), history.len()) }
                </p>
                <h3>{ "History" }</h3>
                if history.is_empty() {
                    <p class="muted">{ "No training interactions." }</p>
                } else {
                    <ul class="thumbs" data-testid="history">
                        { for history.iter().take(HISTORY_SHOWN).map(|&i| html! { <li>{ self.thumb(w, i, "h", "history-item", None) }</li> }) }
                    </ul>
                    if history.len() > HISTORY_SHOWN {
                        <p class="muted small">{ format!("and {} more (all are used for scoring and evidence)", history.len() - HISTORY_SHOWN) }</p>
                    }
                }
            </section>
        }
    }

    fn view_new_user_panel(&self, ctx: &Context<Self>, model: &Loaded) -> Html {
        let link = ctx.link();
        let w = &model.w;
        let filter = self.filter.trim().to_lowercase();
        let candidates: Vec<u32> = model
            .popular
            .iter()
            .copied()
            .filter(|&i| {
                filter.is_empty() || {
                    let item = &w.catalogue[i as usize];
                    item.title.to_lowercase().contains(&filter)
                        || item.category.to_lowercase().contains(&filter)
                        || i.to_string() == filter
                }
            })
            .take(48)
            .collect();
        let oninput = link.callback(|e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            Msg::Filter(input.value())
        });
        html! {
            <section class="panel user-panel" aria-labelledby="new-h">
                <h2 id="new-h">{ "New user" }</h2>
                <p class="muted">
                    { "Pick items you like. The page folds in a user vector from them — 300 epochs of BPR on the user vector alone, items fixed, starting from the mean of their interaction embeddings — and re-scores every item live." }
                </p>
                <div class="row">
                    <span data-testid="liked-count"><strong>{ self.liked.len() }</strong>{ " liked" }</span>
                    if let Some((_, ms)) = &self.folded {
                        <span class="muted">{ format!(" · folded in {} ms", format::ms(*ms)) }</span>
                    }
                    <button type="button" class="button ghost small" onclick={link.callback(|_| Msg::ClearLikes)}
                        disabled={self.liked.is_empty()}>{ "Clear" }</button>
                </div>
                <label class="visually-hidden" for="filter">{ "filter items" }</label>
                <input id="filter" class="filter" type="search" placeholder="filter by title or category"
                    value={self.filter.clone()} {oninput} data-testid="candidate-filter" />
                <ul class="thumbs candidates">
                    { for candidates.iter().map(|&i| {
                        let liked = self.liked.contains(&i);
                        html! { <li>{ self.thumb(w, i, "c", "candidate", Some((liked, link.callback(move |_| Msg::ToggleLike(i))))) }</li> }
                    }) }
                </ul>
            </section>
        }
    }

    /// A small item card (history, candidates, evidence).
    fn thumb(
        &self,
        w: &ModelWeights,
        item: u32,
        prefix: &str,
        testid: &'static str,
        toggle: Option<(bool, Callback<MouseEvent>)>,
    ) -> Html {
        let info = &w.catalogue[item as usize];
        let body = html! {
            <>
                { self.picture(info, &format!("{prefix}{item}")) }
                <span class="thumb-title">{ info.title.clone() }</span>
            </>
        };
        match toggle {
            Some((pressed, onclick)) => html! {
                <button type="button" class={classes!("thumb", pressed.then_some("liked"))} aria-pressed={pressed.to_string()}
                    title={format!("{} — {}", info.title, info.category)} data-testid={testid} data-item-id={item.to_string()} {onclick}>
                    { body }
                    if pressed { <span class="heart" aria-hidden="true">{ "♥" }</span> }
                </button>
            },
            None => html! {
                <div class="thumb" title={format!("{} — {}", info.title, info.category)} data-testid={testid} data-item-id={item.to_string()}>
                    { body }
                </div>
            },
        }
    }

    fn picture(&self, info: &ItemInfo, id: &str) -> Html {
        if let Some(url) = picture::image_url(info) {
            return html! { <span class="picwrap"><img class="pic" src={url.to_string()} alt="" loading="lazy" /></span> };
        }
        html! { <span class="picwrap" aria-hidden="true">{ raw_html(picture::item_svg(info, id)) }</span> }
    }

    fn legend(&self, w: &ModelWeights) -> Html {
        html! {
            <ul class="legend" aria-label="modality colours">
                { for w.meta.modalities.iter().enumerate().map(|(i, m)| html! {
                    <li><span class="swatch" style={format!("background:{}", modality_color(m, i))}></span>{ m.clone() }</li>
                }) }
            </ul>
        }
    }

    fn attention_bar(&self, w: &ModelWeights, attention: &[f32]) -> Html {
        let label: Vec<String> = w
            .meta
            .modalities
            .iter()
            .zip(attention)
            .map(|(m, a)| format!("{m} {:.0}%", a * 100.0))
            .collect();
        html! {
            <span class="attn" role="img" aria-label={label.join(", ")} title={label.join(" · ")}>
                { for w.meta.modalities.iter().zip(attention).enumerate().map(|(i, (m, a))| html! {
                    <span class="seg" style={format!("width:{:.2}%;background:{}", a * 100.0, modality_color(m, i))}></span>
                }) }
            </span>
        }
    }

    fn view_recs(&self, ctx: &Context<Self>, w: &ModelWeights) -> Html {
        let link = ctx.link();
        let onchange = link.callback(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            Msg::SetN(select.value().parse().unwrap_or(params::DEFAULT_N))
        });
        let mut choices: Vec<usize> = N_CHOICES.to_vec();
        if !choices.contains(&self.n) {
            choices.push(self.n);
            choices.sort_unstable();
        }
        let who = match self.mode {
            Mode::Explore => format!("user {}", self.user),
            Mode::NewUser => "you".to_string(),
        };
        let current = self.result.as_ref().filter(|r| r.query == self.query());
        let body = match (current, self.mode, self.liked.is_empty()) {
            (_, Mode::NewUser, true) => html! {
                <p class="empty">{ "Like a few items on the left: recommendations appear here as you click." }</p>
            },
            (None, _, _) => html! { <p class="empty">{ "Scoring…" }</p> },
            (Some(r), _, _) => html! {
                <ol class="recs" data-testid="recs" data-backend={r.backend} data-count={r.recs.len().to_string()}>
                    { for r.recs.iter().enumerate().map(|(rank, rec)| self.rec_card(ctx, w, rank, rec)) }
                </ol>
            },
        };
        html! {
            <section class="panel" aria-labelledby="recs-h" aria-busy={self.scoring.to_string()}>
                <div class="panel-head">
                    <h2 id="recs-h">{ format!("Top-{} for {who}", self.n) }</h2>
                    <label class="n-select">
                        <span>{ "show" }</span>
                        <select data-testid="n-select" {onchange} aria-label="number of recommendations">
                            { for choices.iter().map(|&c| html! {
                                <option value={c.to_string()} selected={c == self.n}>{ c }</option>
                            }) }
                        </select>
                    </label>
                </div>
                <div class="legend-row">
                    <span class="muted">{ "bar = attention over modalities (Eq. 5)" }</span>
                    { self.legend(w) }
                </div>
                { body }
            </section>
        }
    }

    fn rec_card(
        &self,
        ctx: &Context<Self>,
        w: &ModelWeights,
        rank: usize,
        rec: &Recommendation,
    ) -> Html {
        let info = &w.catalogue[rec.item as usize];
        let item = rec.item;
        let selected = self.selected == Some(item);
        let (top_m, top_a) =
            rec.attention
                .iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (m, &a)| if a > best.1 { (m, a) } else { best },
                );
        let top_name = w.meta.modalities.get(top_m).cloned().unwrap_or_default();
        html! {
            <li key={item.to_string()}>
                <button type="button" class={classes!("card", selected.then_some("selected"))} aria-pressed={selected.to_string()}
                    data-testid="rec" data-rank={(rank + 1).to_string()} data-item-id={item.to_string()}
                    data-score={score_attr(rec.score)} data-attention={attention_json(&w.meta.modalities, &rec.attention)}
                    onclick={ctx.link().callback(move |_| Msg::Select(item))}
                    aria-label={format!("#{} {}, score {:.3}, mostly {} ({:.0}%). Show why.", rank + 1, info.title, rec.score, top_name, top_a * 100.0)}>
                    <span class="rank">{ rank + 1 }</span>
                    { self.picture(info, &format!("r{item}")) }
                    <span class="card-body">
                        <span class="card-title" title={info.title.clone()}>{ info.title.clone() }</span>
                        <span class="card-meta">
                            <span>{ if info.category.is_empty() { "\u{a0}".to_string() } else { info.category.clone() } }</span>
                            <span class="score">{ format!("{:.3}", rec.score) }</span>
                        </span>
                        { self.attention_bar(w, &rec.attention) }
                        <span class="card-attn">
                            <span class="swatch" style={format!("background:{}", modality_color(&top_name, top_m))}></span>
                            { format!("{top_name} {:.0}%", top_a * 100.0) }
                            <span class="id" title="item id">{ format!("#{item}") }</span>
                        </span>
                    </span>
                </button>
            </li>
        }
    }

    fn explanation(&self, w: &ModelWeights, item: u32) -> Option<Explanation> {
        let (user, history) = self.query_vector(&self.query())?;
        Some(Scorer::new(w).explain_vector(&user, &history, item as usize, 3))
    }

    fn view_why(&self, ctx: &Context<Self>, w: &ModelWeights) -> Html {
        let link = ctx.link();
        let Some(item) = self.selected else {
            return html! {
                <section class="panel why empty-why" aria-labelledby="why-h">
                    <h2 id="why-h">{ "Why this item?" }</h2>
                    <p class="muted">{ "Select a recommendation (click, or Tab to it and press Enter) to see how much each modality contributed to its score, and which items in the history back it up." }</p>
                    <div class="eq">
                        <p>{ "aᵐ = softmaxₘ(u·v̄ᵐ / √d)" }</p>
                        <p>{ "score = Σₘ aᵐ (u·v̄ᵐ)" }</p>
                    </div>
                </section>
            };
        };
        let Some(exp) = self.explanation(w, item) else {
            return html! {};
        };
        let info = &w.catalogue[item as usize];
        let rank = self
            .result
            .as_ref()
            .and_then(|r| r.recs.iter().position(|x| x.item == item))
            .map(|p| p + 1);
        let max_abs = exp
            .modalities
            .iter()
            .map(|m| m.contribution.abs())
            .fold(1e-9f32, f32::max);
        let dominant = exp
            .modalities
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight));
        let history_word = if self.mode == Mode::Explore {
            "this user's history"
        } else {
            "your likes"
        };
        html! {
            <section class="panel why" aria-labelledby="why-h" data-testid="why" data-item-id={item.to_string()} data-score={score_attr(exp.score)}>
                <div class="panel-head">
                    <h2 id="why-h">{ "Why this item?" }</h2>
                    <button type="button" class="button ghost small" aria-label="close explanation" data-testid="why-close"
                        onclick={link.callback(|_| Msg::CloseWhy)}>{ "✕" }</button>
                </div>
                <div class="why-item">
                    { self.picture(info, &format!("w{item}")) }
                    <div>
                        <p class="card-title">{ info.title.clone() }</p>
                        <p class="muted">
                            { rank.map(|r| format!("#{r} · ")).unwrap_or_default() }
                            { format!("score {:.4}", exp.score) }
                            { if info.category.is_empty() { String::new() } else { format!(" · {}", info.category) } }
                        </p>
                    </div>
                </div>
                if let Some(d) = dominant {
                    <p class="why-lead">
                        { "Mostly " }<strong>{ d.modality.clone() }</strong>
                        { format!(": {:.0}% of the attention, contributing {:.3} of the {:.3} score.", d.weight * 100.0, d.contribution, exp.score) }
                    </p>
                }
                { self.attention_bar(w, &exp.modalities.iter().map(|m| m.weight).collect::<Vec<_>>()) }
                <table class="why-table">
                    <thead><tr><th scope="col">{ "modality" }</th><th scope="col">{ "weight aᵐ" }</th><th scope="col">{ "affinity u·v̄ᵐ" }</th><th scope="col">{ "contribution" }</th></tr></thead>
                    <tbody>
                        { for exp.modalities.iter().enumerate().map(|(i, m)| {
                            let color = modality_color(&m.modality, i);
                            let width = (m.contribution.abs() / max_abs * 100.0).min(100.0);
                            html! {
                                <tr data-testid="why-modality" data-modality={m.modality.clone()} data-weight={format!("{:.6}", m.weight)}
                                    data-affinity={format!("{:.6}", m.affinity)} data-contribution={format!("{:.6}", m.contribution)}>
                                    <th scope="row"><span class="swatch" style={format!("background:{color}")}></span>{ m.modality.clone() }</th>
                                    <td>{ format!("{:.1}%", m.weight * 100.0) }</td>
                                    <td>{ format!("{:.3}", m.affinity) }</td>
                                    <td class="contrib">
                                        <span class="cbar"><span class={classes!("cfill", (m.contribution < 0.0).then_some("neg"))}
                                            style={format!("width:{width:.1}%;background:{color}")}></span></span>
                                        <span>{ format!("{:.3}", m.contribution) }</span>
                                    </td>
                                </tr>
                            }
                        }) }
                    </tbody>
                    <tfoot><tr><th scope="row">{ "total" }</th><td>{ "100%" }</td><td></td><td>{ format!("{:.3}", exp.modalities.iter().map(|m| m.contribution).sum::<f32>()) }</td></tr></tfoot>
                </table>
                <h3>{ format!("Evidence from {history_word}") }</h3>
                <p class="muted small">{ "The history items closest to this one in each modality's embedding space (cosine similarity)." }</p>
                { for exp.modalities.iter().enumerate().map(|(mi, m)| html! {
                    <div class="evidence" data-testid="evidence" data-modality={m.modality.clone()}>
                        <p class="evidence-h"><span class="swatch" style={format!("background:{}", modality_color(&m.modality, mi))}></span>{ m.modality.clone() }</p>
                        if m.evidence.is_empty() {
                            <p class="muted small">{ "no history" }</p>
                        } else {
                            <ul class="thumbs small">
                                { for m.evidence.iter().map(|e| {
                                    let info = &w.catalogue[e.item as usize];
                                    html! {
                                        <li class="thumb" data-testid="evidence-item" data-item-id={e.item.to_string()} title={info.title.clone()}>
                                            { self.picture(info, &format!("e{mi}-{}", e.item)) }
                                            <span class="thumb-title">{ info.title.clone() }</span>
                                            <span class="sim">{ format!("cos {:.2}", e.similarity) }</span>
                                        </li>
                                    }
                                }) }
                            </ul>
                        }
                    </div>
                }) }
            </section>
        }
    }

    fn view_influence(&self, w: &ModelWeights) -> Html {
        let body = match &self.influence {
            _ if self.params.bench => {
                html! { <p class="muted">{ "skipped in benchmark mode" }</p> }
            }
            None => html! { <p class="muted">{ "computing…" }</p> },
            Some(Err(e)) => html! { <p class="error">{ e.clone() }</p> },
            Some(Ok((inf, backend, ms))) => {
                let means = inf.mean_attention();
                let colors: Vec<&str> = w
                    .meta
                    .modalities
                    .iter()
                    .enumerate()
                    .map(|(i, m)| modality_color(m, i))
                    .collect();
                let shares = inf.dominant_share();
                html! {
                    <div data-testid="influence" data-backend={*backend} data-interactions={inf.interactions.to_string()}
                         data-dominant={attention_json(&w.meta.modalities, &shares.iter().map(|&s| s as f32).collect::<Vec<_>>())}>
                        <p class="muted">
                            { format!("{} weights of all {} training interactions, per modality, computed on {backend} in {} ms.",
                                if w.meta.fusion == FusionKind::Attention { "Attention" } else { "Fusion" },
                                thousands(inf.interactions), format::ms(*ms)) }
                        </p>
                        <div class="hists">
                            { for w.meta.modalities.iter().enumerate().map(|(m, name)| html! {
                                <figure class="hist-fig">
                                    <figcaption><span class="swatch" style={format!("background:{}", colors[m])}></span>{ name.clone() }</figcaption>
                                    { raw_html(charts::histogram_svg(name, colors[m], &inf.hist[m], means[m])) }
                                </figure>
                            }) }
                        </div>
                        <h3>{ format!("Dominant modality per user ({} users with history)", thousands(inf.users)) }</h3>
                        <p class="muted small">{ "A user's dominant modality has the largest mean attention over their training items." }</p>
                        { raw_html(charts::dominant_svg(&w.meta.modalities, &colors, &shares)) }
                        <ul class="legend shares">
                            { for w.meta.modalities.iter().enumerate().map(|(m, name)| html! {
                                <li><span class="swatch" style={format!("background:{}", colors[m])}></span>
                                    { format!("{name}: {:.1}% ({})", shares[m] * 100.0, thousands(u64::from(inf.dominant[m]))) }</li>
                            }) }
                        </ul>
                    </div>
                }
            }
        };
        html! {
            <section class="panel wide" aria-labelledby="inf-h">
                <h2 id="inf-h">{ "Modality influence across the dataset" }</h2>
                { body }
            </section>
        }
    }

    fn view_tools(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let gpu_text = match (&self.engine, &self.gpu) {
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
        };
        let check = match &self.check {
            _ if self.checking => html! { <p class="muted">{ "comparing…" }</p> },
            None => html! {},
            Some(Err(e)) => {
                html! { <p class="muted" data-testid="check" data-same-top="">{ e.clone() }</p> }
            }
            Some(Ok(c)) => html! {
                <p class={classes!("check", if c.same { "ok" } else { "bad" })} data-testid="check" data-same-top={c.same.to_string()}
                   data-max-delta={format!("{:e}", c.max_delta)}>
                    { if c.same { format!("✓ GPU and CPU give the same top-{}", c.n) } else { format!("✗ GPU and CPU top-{} differ", c.n) } }
                    { format!(" · max |Δscore| over all items {:.1e} · max |Δattention| {:.1e} · GPU {} ms, CPU {} ms",
                        c.max_delta, c.max_att_delta, format::ms(c.gpu_ms), format::ms(c.cpu_ms)) }
                </p>
            },
        };
        let gpu_on = matches!(self.engine, Engine::Gpu(_));
        html! {
            <section class="panel wide tools" aria-labelledby="tools-h">
                <h2 id="tools-h">{ "Backend & checks" }</h2>
                <p class="muted" data-testid="gpu-info">{ gpu_text }</p>
                <div class="row">
                    <button type="button" class="button" data-testid="check-btn" disabled={!gpu_on || self.checking}
                        onclick={link.callback(|_| Msg::Check)}>{ "Check GPU vs CPU" }</button>
                    <button type="button" class="button ghost" data-testid="simulate-loss" disabled={!gpu_on}
                        onclick={link.callback(|_| Msg::SimulateLoss)}>{ "Simulate GPU device loss" }</button>
                    if !self.params.bench {
                        <button type="button" class="button ghost" data-testid="bench-btn"
                            disabled={matches!(self.bench, BenchState::Running(_))}
                            onclick={link.callback(|_| Msg::RunBench)}>{ "Run benchmark" }</button>
                    }
                </div>
                { check }
            </section>
        }
    }

    fn view_bench(&self, ctx: &Context<Self>) -> Html {
        let body = match &self.bench {
            BenchState::Idle => return html! {},
            BenchState::Running(s) => {
                html! { <p class="muted" data-testid="bench-status">{ format!("running: {s}") }</p> }
            }
            BenchState::Failed(e) => {
                html! { <p class="error" data-testid="bench" data-state="failed">{ e.clone() }</p> }
            }
            BenchState::Done(rows) => html! {
                <table class="bench-table" data-testid="bench" data-state="done">
                    <thead><tr>
                        <th scope="col">{ "model" }</th><th scope="col">{ "items" }</th><th scope="col">{ "backend" }</th>
                        <th scope="col">{ format!("median ms (score + top-{})", bench::TOP_N) }</th><th scope="col">{ "min ms" }</th>
                        <th scope="col">{ "runs" }</th><th scope="col">{ "notes" }</th>
                    </tr></thead>
                    <tbody>
                        { for rows.iter().map(|r| html! {
                            <tr data-backend={r.backend} data-items={r.items.to_string()} data-median-ms={format!("{:.3}", r.median_ms)}>
                                <td>{ r.model.clone() }</td><td>{ thousands(r.items as u64) }</td><td>{ r.backend }</td>
                                <td class="num">{ format::ms(r.median_ms) }</td><td class="num">{ format::ms(r.min_ms) }</td>
                                <td class="num">{ r.runs }</td><td>{ r.note.clone() }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            },
        };
        let _ = ctx;
        html! {
            <section class="panel wide" aria-labelledby="bench-h">
                <h2 id="bench-h">{ "Benchmark" }</h2>
                <p class="muted small">{ format!("Median of {} runs after one warm-up; each run scores every item for one user and takes the top-{}, GPU readback included. On a software adapter (SwiftShader) WebGPU timings say nothing about real GPUs.", bench::RUNS, bench::TOP_N) }</p>
                { body }
            </section>
        }
    }
}
