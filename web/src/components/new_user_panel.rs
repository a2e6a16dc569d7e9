//! "Be a new user": pick liked items from the popular ones (with a filter); the page folds a
//! user vector in from them and re-scores live.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::item::thumb;
use crate::format;
use crate::state::{Dispatch, ModelContext, Msg};

/// Candidate cards shown at once.
const CANDIDATES_SHOWN: usize = 48;

#[derive(PartialEq, Properties)]
pub struct NewUserPanelProps {
    pub liked: Vec<u32>,
    pub filter: AttrValue,
    /// How long the last fold-in took (ms), if there is one.
    pub fold_ms: Option<f64>,
}

#[function_component(NewUserPanel)]
pub fn new_user_panel(props: &NewUserPanelProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let w = &model.w;
    let filter = props.filter.trim().to_lowercase();
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
        .take(CANDIDATES_SHOWN)
        .collect();
    let oninput = dispatch.reform(|e: InputEvent| {
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
                <span data-testid="liked-count"><strong>{ props.liked.len() }</strong>{ " liked" }</span>
                if let Some(ms) = props.fold_ms {
                    <span class="muted">{ format!(" · folded in {} ms", format::ms(ms)) }</span>
                }
                <button type="button" class="button ghost small" onclick={dispatch.reform(|_| Msg::ClearLikes)}
                    disabled={props.liked.is_empty()}>{ "Clear" }</button>
            </div>
            <label class="visually-hidden" for="filter">{ "filter items" }</label>
            <input id="filter" class="filter" type="search" placeholder="filter by title or category"
                value={props.filter.clone()} {oninput} data-testid="candidate-filter" />
            <ul class="thumbs candidates">
                { for candidates.iter().map(|&i| {
                    let liked = props.liked.contains(&i);
                    html! { <li>{ thumb(w, i, "c", "candidate", Some((liked, dispatch.reform(move |_| Msg::ToggleLike(i))))) }</li> }
                }) }
            </ul>
        </section>
    }
}
