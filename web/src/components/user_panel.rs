//! "Explore users": the user picker (id box, previous / next / random) and the user's
//! training history.

use web_sys::{HtmlInputElement, KeyboardEvent};
use yew::prelude::*;

use super::item::thumb;
use crate::format::thousands;
use crate::state::{Dispatch, ModelContext, Msg};

/// History cards drawn for a user (all of the history is used for masking and evidence).
const HISTORY_SHOWN: usize = 60;

#[derive(PartialEq, Properties)]
pub struct UserPanelProps {
    pub user: usize,
    /// What the id box shows while it is being edited.
    pub user_text: AttrValue,
}

#[function_component(UserPanel)]
pub fn user_panel(props: &UserPanelProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let w = &model.w;
    let history = w.train_items(props.user);
    let oninput = dispatch.reform(|e: InputEvent| {
        let input: HtmlInputElement = e.target_unchecked_into();
        Msg::UserText(input.value())
    });
    let onkeydown = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                dispatch.emit(Msg::UserCommit);
            }
        })
    };
    let onchange = dispatch.reform(|_: Event| Msg::UserCommit);
    html! {
        <section class="panel user-panel" aria-labelledby="user-h">
            <h2 id="user-h">{ "User" }</h2>
            <div class="picker">
                <button type="button" class="button icon" aria-label="previous user" title="previous user" data-testid="user-prev"
                    onclick={dispatch.reform(|_| Msg::Prev)}>{ "‹" }</button>
                <label class="visually-hidden" for="user-input">{ "user id" }</label>
                <input id="user-input" type="number" min="0" max={w.meta.n_users.saturating_sub(1).to_string()} inputmode="numeric"
                    value={props.user_text.clone()} data-testid="user-input" {oninput} {onkeydown} {onchange} />
                <button type="button" class="button icon" aria-label="next user" title="next user" data-testid="user-next"
                    onclick={dispatch.reform(|_| Msg::Next)}>{ "›" }</button>
                <button type="button" class="button ghost" data-testid="user-random" onclick={dispatch.reform(|_| Msg::Random)}>{ "Random" }</button>
            </div>
            <p class="muted">
                { "user " }<strong data-testid="user-id">{ props.user }</strong>
                { format!(" of {} · {} training items", thousands(w.meta.n_users as u64), history.len()) }
            </p>
            <h3>{ "History" }</h3>
            if history.is_empty() {
                <p class="muted">{ "No training interactions." }</p>
            } else {
                <ul class="thumbs" data-testid="history">
                    { for history.iter().take(HISTORY_SHOWN).map(|&i| html! { <li>{ thumb(w, i, "h", "history-item", None) }</li> }) }
                </ul>
                if history.len() > HISTORY_SHOWN {
                    <p class="muted small">{ format!("and {} more (all are used for scoring and evidence)", history.len() - HISTORY_SHOWN) }</p>
                }
            }
        </section>
    }
}
