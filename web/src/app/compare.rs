//! The second model of a comparison: loading it (from `?compare=URL` or a picked file),
//! checking it is of the same dataset, and scoring the current query with it on the CPU.

use mario_shared::{ModelWeights, Scorer};
use yew::prelude::*;

use super::App;
use crate::compare::check_compatible;
use crate::foldin::{FoldInConfig, fold_in};
use crate::load;
use crate::state::{CompareScored, CompareState, Loaded, Msg, Query, Shared};

impl App {
    /// Fetches `?compare=URL` once the main model is in.
    pub(super) fn start_compare_download(&mut self, ctx: &Context<Self>) {
        let Some(url) = self.params.compare.clone() else {
            return;
        };
        self.compare = CompareState::Loading(url.clone());
        let generation = self.generation;
        ctx.link().send_future(async move {
            let bytes = load::fetch_bytes(&url, |_, _| {}).await;
            Msg::CompareBytes(generation, url, bytes)
        });
    }

    pub(super) fn pick_compare(&mut self, ctx: &Context<Self>, file: web_sys::File) {
        let label = file.name();
        self.compare = CompareState::Loading(label.clone());
        self.params.compare = None;
        self.sync_url();
        let generation = self.generation;
        ctx.link().send_future(async move {
            Msg::CompareBytes(generation, label, load::read_file(&file).await)
        });
    }

    pub(super) fn accept_compare(&mut self, label: String, bytes: Result<Vec<u8>, String>) {
        let Some(main) = &self.model else { return };
        let parsed = bytes.and_then(|b| {
            let size = b.len() as u64;
            ModelWeights::from_bytes(&b)
                .map(|w| (w, size))
                .map_err(|e| format!("{label}: {e}"))
        });
        self.compare = match parsed {
            Ok((w, size)) => match check_compatible(&main.w, &w) {
                Ok(()) => CompareState::Ready {
                    label,
                    model: Shared::new(Loaded::new(w, size)),
                },
                Err(e) => CompareState::Failed(format!("{label}: {e}")),
            },
            Err(e) => CompareState::Failed(e),
        };
        self.score_compare();
    }

    /// The second model's top-N for the current query (a new user is folded in with it too).
    pub(super) fn score_compare(&mut self) {
        let CompareState::Ready { model, .. } = &self.compare else {
            self.compare_recs = None;
            return;
        };
        let w = &model.w;
        let query = self.query();
        let (user, exclude) = match &query {
            Query::User(u) => match w.user_vector(*u) {
                Some(v) => (v.to_vec(), w.train_items(*u).to_vec()),
                None => return,
            },
            Query::NewUser(liked) if !liked.is_empty() => (
                fold_in(w, liked, &FoldInConfig::default()),
                super::work::liked_exclusion(liked),
            ),
            Query::NewUser(_) => {
                self.compare_recs = None;
                return;
            }
        };
        let recs = Scorer::new(w).recommend_vector(&user, &exclude, self.n);
        self.compare_recs = Some(Shared::new(CompareScored { query, recs }));
    }
}
