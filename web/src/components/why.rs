//! "Why this item?": for the selected recommendation, each modality's attention weight,
//! affinity and contribution to the score (Eq. 5–7), and the history items closest to it in
//! each modality's space.

use mario_shared::counterfactual::Counterfactuals;
use mario_shared::scorer::Explanation;
use yew::prelude::*;

use super::item::{attention_bar, picture};
use crate::format::{modality_color, score_attr};
use crate::state::{Dispatch, ModelContext, Msg, Shared, WhatIf};

#[derive(PartialEq, Properties)]
pub struct WhyPanelProps {
    pub item: Option<u32>,
    /// The selected item's explanation for the current query.
    pub explanation: Option<Shared<Explanation>>,
    /// 1-based rank of the item in the shown list, if it is there.
    pub rank: Option<usize>,
    /// "this user's history" or "your likes".
    pub history_word: AttrValue,
    /// The item's rank without each modality and with it alone (`None` while computing).
    pub what_if: Option<Shared<WhatIf>>,
}

#[function_component(WhyPanel)]
pub fn why_panel(props: &WhyPanelProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let w = &model.w;
    let Some(item) = props.item else {
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
    let Some(exp) = &props.explanation else {
        return Html::default();
    };
    let info = &w.catalogue[item as usize];
    let max_abs = exp
        .modalities
        .iter()
        .map(|m| m.contribution.abs())
        .fold(1e-9f32, f32::max);
    let dominant = exp
        .modalities
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight));
    let weights: Vec<f32> = exp.modalities.iter().map(|m| m.weight).collect();
    html! {
        <section class="panel why" aria-labelledby="why-h" data-testid="why" data-item-id={item.to_string()} data-score={score_attr(exp.score)}>
            <div class="panel-head">
                <h2 id="why-h">{ "Why this item?" }</h2>
                <button type="button" class="button ghost small" aria-label="close explanation" data-testid="why-close"
                    onclick={dispatch.reform(|_| Msg::CloseWhy)}>{ "✕" }</button>
            </div>
            <div class="why-item">
                { picture(info, &format!("w{item}")) }
                <div>
                    <p class="card-title">{ info.title.clone() }</p>
                    <p class="muted">
                        { props.rank.map(|r| format!("#{r} · ")).unwrap_or_default() }
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
            { attention_bar(&w.meta.modalities, &weights) }
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
            { what_if_table(props.what_if.as_ref()) }
            <h3>{ format!("Evidence from {}", props.history_word) }</h3>
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
                                        { picture(info, &format!("e{mi}-{}", e.item)) }
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

/// A new rank against the actual one: "#212 ↓211", with a class for colour.
fn rank_shift(from: usize, to: usize) -> Html {
    let label = crate::compare::rank_shift(Some(from), Some(to));
    html! {
        <span class={classes!("shift", crate::compare::shift_class(&label))}>{ format!("#{to}") }<span class="arrow">{ format!(" {label}") }</span></span>
    }
}

/// "What if": the item's rank and score with each modality removed from the attention, and
/// with it alone; every item is re-scored for each.
fn what_if_table(what_if: Option<&Shared<WhatIf>>) -> Html {
    let body = match what_if.map(|w| (&w.result, w.backend)) {
        None => {
            html! { <p class="muted small">{ "re-ranking every item without each modality…" }</p> }
        }
        Some((Err(e), _)) => {
            html! { <p class="muted small" data-testid="what-if" data-state="unavailable">{ e.clone() }</p> }
        }
        Some((Ok(c), backend)) => table(c, backend),
    };
    html! {
        <>
            <h3>{ "What if" }</h3>
            <p class="muted small">{ "Attention is not influence: the item's rank among all candidates if a modality were removed from the attention (softmax over the others), or used alone." }</p>
            { body }
        </>
    }
}

fn table(c: &Counterfactuals, backend: &'static str) -> Html {
    html! {
        <>
        <p class="small">{ format!("Now #{} with score {:.3}. Its rank…", c.rank, c.score) }</p>
        <table class="why-table what-if" data-testid="what-if" data-state="ready" data-rank={c.rank.to_string()}
               data-backend={backend}>
            <thead><tr><th scope="col">{ "modality" }</th><th scope="col">{ "… without it" }</th><th scope="col">{ "… with it alone" }</th></tr></thead>
            <tbody>
                { for c.modalities.iter().enumerate().map(|(i, m)| {
                    let color = modality_color(&m.modality, i);
                    html! {
                        <tr data-testid="what-if-modality" data-modality={m.modality.clone()}
                            data-rank-without={m.rank_without.map(|r| r.to_string()).unwrap_or_default()}
                            data-score-without={m.score_without.map(score_attr).unwrap_or_default()}
                            data-rank-only={m.rank_only.to_string()} data-score-only={score_attr(m.score_only)}>
                            <th scope="row"><span class="swatch" style={format!("background:{color}")}></span>{ m.modality.clone() }</th>
                            <td>{
                                match (m.rank_without, m.score_without) {
                                    (Some(r), Some(s)) => html! { <>{ rank_shift(c.rank, r) }<span class="muted sub">{ format!("score {s:+.3}") }</span></> },
                                    _ => html! { <span class="muted">{ "— (the only modality)" }</span> },
                                }
                            }</td>
                            <td>{ rank_shift(c.rank, m.rank_only) }<span class="muted sub">{ format!("score {:+.3}", m.score_only) }</span></td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
        </>
    }
}
