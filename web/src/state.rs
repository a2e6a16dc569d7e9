//! The page's state types: what is loaded, which engine scores, what was scored, and the
//! [`Msg`] actions that change them. [`crate::app::App`] owns one value of each and is the
//! only place they change (its `update` is the reducer); components read them through props
//! and the [`Dispatch`] / [`ModelContext`] contexts.

use std::ops::Deref;
use std::rc::Rc;

use mario_shared::counterfactual::Counterfactuals;
use mario_shared::{ModelWeights, Recommendation};
use yew::Callback;

use crate::bench::BenchRow;
use crate::gpu::{GpuContext, GpuModel};
use crate::influence::Influence;

/// An `Rc` compared by identity, so large state can be handed to components as props
/// without copying it or comparing it element by element on every render.
pub struct Shared<T>(pub Rc<T>);

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Self(Rc::new(value))
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Sends an action to the root component (the reducer). Provided to every component.
pub type Dispatch = Callback<Msg>;

/// The loaded model, provided to the components of the ready page.
pub type ModelContext = Shared<Loaded>;

/// Where the weights come from.
#[derive(Clone, PartialEq)]
pub enum Source {
    Url(String),
    File(String),
}

impl Source {
    pub fn label(&self) -> &str {
        match self {
            Source::Url(u) | Source::File(u) => u,
        }
    }
}

pub enum Phase {
    Loading {
        received: u64,
        total: Option<u64>,
        validating: bool,
    },
    Failed(String),
    Ready,
}

pub struct Loaded {
    pub w: Rc<ModelWeights>,
    pub size: u64,
    /// Items by training popularity (most first), for the new-user picker.
    pub popular: Vec<u32>,
}

impl Loaded {
    /// Wraps a parsed file, ranking its items by training popularity (ties by lower id).
    pub fn new(w: ModelWeights, size: u64) -> Self {
        let mut counts = vec![0u32; w.meta.n_items];
        for &i in &w.train_indices {
            counts[i as usize] += 1;
        }
        let mut popular: Vec<u32> = (0..w.meta.n_items as u32).collect();
        popular.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        Self {
            w: Rc::new(w),
            size,
            popular,
        }
    }
}

pub enum GpuState {
    Off,
    Pending,
    Ready(Rc<GpuContext>),
    Failed(String),
}

pub enum Engine {
    Pending,
    Cpu,
    Gpu(Rc<GpuModel>),
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Explore,
    NewUser,
}

/// How the item map colours its points.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MapColour {
    /// By catalogue category.
    #[default]
    Category,
    /// By the modality adding most to each item's score for the current user.
    Dominant,
}

impl MapColour {
    pub fn from_param(value: &str) -> Self {
        match value {
            "dominant" => MapColour::Dominant,
            _ => MapColour::Category,
        }
    }

    pub fn as_param(self) -> &'static str {
        match self {
            MapColour::Category => "category",
            MapColour::Dominant => "dominant",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MapColour::Category => "category",
            MapColour::Dominant => "dominant modality",
        }
    }
}

/// The query being scored: explore a known user, or the folded-in new user.
#[derive(Clone, PartialEq)]
pub enum Query {
    User(usize),
    NewUser(Vec<u32>),
}

pub struct Scored {
    pub query: Query,
    pub recs: Vec<Recommendation>,
    pub ms: f64,
    pub backend: &'static str,
    /// Modalities dropped from the attention for this list (bitmask; 0 = the model).
    pub dropped: u32,
    /// With modalities dropped: the model's own top-N, to mark what entered and left.
    pub baseline: Option<Vec<u32>>,
}

/// The what-if figures of the selected item for the query they were computed for.
pub struct WhatIf {
    pub query: Query,
    pub item: u32,
    pub backend: &'static str,
    pub result: Result<Counterfactuals, String>,
}

/// The second model of a comparison.
pub enum CompareState {
    Off,
    Loading(String),
    Failed(String),
    Ready {
        label: String,
        model: Shared<Loaded>,
    },
}

/// The second model's top-N for a query.
pub struct CompareScored {
    pub query: Query,
    pub recs: Vec<Recommendation>,
}

/// GPU vs CPU on the same query.
pub struct Check {
    pub same: bool,
    pub max_delta: f32,
    pub max_att_delta: f32,
    pub n: usize,
    pub gpu_ms: f64,
    pub cpu_ms: f64,
}

/// The influence overview and where and how fast it was computed.
pub type InfluenceResult = Result<(Influence, &'static str, f64), String>;

pub enum BenchState {
    Idle,
    Running(String),
    Done(Vec<BenchRow>),
    Failed(String),
}

/// Every action of the page. Components send them through [`Dispatch`]; async work sends
/// its results back as one of them, tagged with the load generation or the scoring sequence
/// number it belongs to, so late results of an abandoned load are ignored.
pub enum Msg {
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
    WhatIfDone(u64, WhatIf),
    /// Drop modality m from (or restore it to) the attention of the top-N.
    ToggleDrop(usize),
    CloseWhy,
    CopyLink,
    /// A second weights file arrived (load generation, its label, its bytes).
    CompareBytes(u32, String, Result<Vec<u8>, String>),
    PickCompare(web_sys::File),
    ClearCompare,
    /// Show the item map in this space (a stored map's name or `personal`).
    MapSpace(String),
    MapColour(MapColour),
    LinkCopied(Result<String, String>),
    SetMode(Mode),
    ToggleLike(u32),
    ClearLikes,
    Filter(String),
    InfluenceDone(u32, InfluenceResult),
    Check,
    CheckDone(Result<Check, String>),
    RunBench,
    BenchStatus(String),
    BenchDone(Result<Vec<BenchRow>, String>),
}
