//! The page header: brand, source, backend and timing badges, the file picker, and the
//! model's summary (sizes, modalities, stored test metrics).

use yew::prelude::*;

use super::item::on_file_picked;
use crate::format::{self, modality_color, thousands};
use crate::state::{Dispatch, Loaded, Msg, Shared};

#[derive(PartialEq, Properties)]
pub struct HeaderProps {
    /// The weights' URL or file name.
    pub source: AttrValue,
    pub model: Option<Shared<Loaded>>,
    /// `webgpu` | `cpu`, once decided.
    pub backend: Option<&'static str>,
    pub engine_note: Option<AttrValue>,
    /// The load failed (no "preparing…" badge then).
    pub failed: bool,
    /// Duration of the last scoring, in ms.
    pub score_ms: Option<f64>,
    /// The last "copy link" worked (or not).
    pub link_copied: Option<bool>,
}

#[function_component(Header)]
pub fn header(props: &HeaderProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let onfile = on_file_picked(&dispatch, Msg::PickFile);
    let dataset = props
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
                    <span class="path" title={props.source.clone()}>{ props.source.clone() }</span>
                </p>
            </div>
            <div class="status">
                if let Some(b) = props.backend {
                    <span class={classes!("badge", b)} title={props.engine_note.clone().unwrap_or_else(|| "scoring backend".into())}>
                        <span class="badge-k">{ "backend" }</span>
                        <span data-testid="backend">{ b }</span>
                    </span>
                } else if !props.failed {
                    <span class="badge pending">{ "preparing…" }</span>
                }
                if let Some(ms) = props.score_ms {
                    <span class="badge time" title="score every item + top-N, readback included">
                        <span class="badge-k">{ "scored in" }</span>
                        <span data-testid="score-ms">{ format::ms(ms) }</span>{ " ms" }
                    </span>
                }
                if props.model.is_some() {
                    <button type="button" class="button ghost" data-testid="copy-link"
                        title="the address holds the whole view: user, item, mode, dropped modalities"
                        onclick={dispatch.reform(|_| Msg::CopyLink)}>
                        { match props.link_copied { Some(true) => "✓ link copied", Some(false) => "copy failed: use the address bar", None => "Copy link" } }
                    </button>
                }
                <label class="button ghost file">
                    { "Load weights…" }
                    <input type="file" accept=".safetensors,application/octet-stream" data-testid="file-input" onchange={onfile} />
                </label>
            </div>
            { props.model.as_ref().map(summary).unwrap_or_default() }
        </header>
    }
}

/// Sizes, modalities, settings and the test metrics stored in the file.
fn summary(m: &Shared<Loaded>) -> Html {
    let meta = &m.w.meta;
    let metric =
        |split: &str, k: &str| format::metric(&meta.metrics, split, k).map(|v| format!("{v:.4}"));
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
}
