//! The two panels shown instead of the page while there is no model: download progress, and
//! the load error with what to do about it.

use yew::prelude::*;

use crate::format;
use crate::state::{Dispatch, Msg};

#[derive(PartialEq, Properties)]
pub struct LoadingProps {
    pub source: AttrValue,
    pub received: u64,
    pub total: Option<u64>,
    /// Downloaded; the file is being parsed and checked.
    pub validating: bool,
}

#[function_component(LoadingPanel)]
pub fn loading_panel(props: &LoadingProps) -> Html {
    let (received, total) = (props.received, props.total);
    let pct = total
        .filter(|&t| t > 0)
        .map(|t| (received as f64 / t as f64 * 100.0).min(100.0));
    let text = match (props.validating, total) {
        (true, _) => "validating…".to_string(),
        (false, Some(t)) => format!("{} of {}", format::bytes(received), format::bytes(t)),
        (false, None) => format!("{} received", format::bytes(received)),
    };
    html! {
        <section class="panel loading" data-testid="progress" data-received={received.to_string()}
                 data-total={total.map(|t| t.to_string()).unwrap_or_default()}>
            <h2>{ "Loading weights" }</h2>
            <p class="path">{ props.source.clone() }</p>
            <progress max="100" value={pct.map(|p| format!("{p:.1}"))} aria-label="download progress"></progress>
            <p class="bytes">{ text }{ pct.map(|p| format!(" ({p:.0}%)")).unwrap_or_default() }</p>
        </section>
    }
}

#[derive(PartialEq, Properties)]
pub struct ErrorProps {
    pub source: AttrValue,
    pub message: AttrValue,
}

#[function_component(ErrorPanel)]
pub fn error_panel(props: &ErrorProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    html! {
        <section class="panel error-panel" role="alert">
            <h2>{ format!("Could not load {}", props.source) }</h2>
            <p class="error" data-testid="error">{ props.message.clone() }</p>
            <p class="hint">
                { "Export a weights file with " }<code>{ "mario export --run RUN_DIR --out FILE" }</code>
                { ", then load it with the button above, by dropping it on the page, or with " }<code>{ "?weights=URL" }</code>{ "." }
            </p>
            <div class="row">
                <button type="button" class="button" data-testid="retry" onclick={dispatch.reform(|_| Msg::Retry)}>{ "Retry" }</button>
            </div>
        </section>
    }
}
