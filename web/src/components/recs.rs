//! The recommendation grid: the top-N for the current query in rank order, each card with its
//! score and attention bar (Eq. 5), and the N selector.

use mario_shared::Recommendation;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::item::{attention_bar, legend, picture};
use crate::compare::{rank_shift, shift_class};
use crate::format::{attention_json, modality_color, score_attr};
use crate::params::{self, N_CHOICES};
use crate::state::{Dispatch, ModelContext, Msg, Scored, Shared};

#[derive(PartialEq, Properties)]
pub struct RecGridProps {
    pub n: usize,
    /// "user 42" or "you".
    pub who: AttrValue,
    /// The scored result for the current query; `None` while scoring.
    pub result: Option<Shared<Scored>>,
    /// New-user mode with nothing liked yet.
    pub awaiting_likes: bool,
    pub selected: Option<u32>,
    pub scoring: bool,
    /// Modalities dropped from the attention (bitmask).
    pub dropped: u32,
    /// Whether the fusion allows dropping a modality (attention, mean).
    pub can_drop: bool,
}

#[function_component(RecGrid)]
pub fn rec_grid(props: &RecGridProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let modalities = &model.w.meta.modalities;
    let onchange = dispatch.reform(|e: Event| {
        let select: HtmlSelectElement = e.target_unchecked_into();
        Msg::SetN(select.value().parse().unwrap_or(params::DEFAULT_N))
    });
    let mut choices: Vec<usize> = N_CHOICES.to_vec();
    if !choices.contains(&props.n) {
        choices.push(props.n);
        choices.sort_unstable();
    }
    let body = match (&props.result, props.awaiting_likes) {
        (_, true) => html! {
            <p class="empty">{ "Like a few items on the left: recommendations appear here as you click." }</p>
        },
        (None, _) => html! { <p class="empty">{ "Scoring…" }</p> },
        (Some(r), _) => {
            let baseline = r.baseline.as_deref();
            let left: Vec<u32> = baseline
                .map(|b| {
                    b.iter()
                        .copied()
                        .filter(|i| !r.recs.iter().any(|x| x.item == *i))
                        .collect()
                })
                .unwrap_or_default();
            html! {
                <>
                    <ol class="recs" data-testid="recs" data-backend={r.backend} data-count={r.recs.len().to_string()}
                        data-dropped={r.dropped.to_string()}>
                        { for r.recs.iter().enumerate().map(|(rank, rec)| {
                            let before = baseline.map(|b| b.iter().position(|&i| i == rec.item));
                            html! {
                                <RecCard key={rec.item.to_string()} rank={rank} rec={rec.clone()}
                                    selected={props.selected == Some(rec.item)} before={before} />
                            }
                        }) }
                    </ol>
                    if baseline.is_some() {
                        <p class="left" data-testid="left-items" data-items={left.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")}>
                            { if left.is_empty() { "Nothing left the list.".to_string() } else {
                                format!("Left the list: {}", left.iter().map(|&i| format!("#{i} {}", model.w.catalogue[i as usize].title)).collect::<Vec<_>>().join(" · "))
                            } }
                        </p>
                    }
                </>
            }
        }
    };
    let drops = props.can_drop.then(|| {
        let n = modalities.len();
        html! {
            <div class="drop-row" role="group" aria-label="drop a modality from the attention">
                <span class="muted">{ "drop:" }</span>
                { for modalities.iter().enumerate().map(|(k, name)| {
                    let checked = props.dropped >> k & 1 == 1;
                    // The last kept modality cannot be dropped.
                    let last = !checked && (props.dropped | (1 << k)).count_ones() as usize == n;
                    html! {
                        <label class={classes!("drop", checked.then_some("on"))}>
                            <input type="checkbox" data-testid="drop-modality" data-modality={name.clone()} checked={checked}
                                disabled={last} onchange={dispatch.reform(move |_: Event| Msg::ToggleDrop(k))} />
                            <span class="swatch" style={format!("background:{}", modality_color(name, k))}></span>{ name.clone() }
                        </label>
                    }
                }) }
            </div>
        }
    });
    html! {
        <section class="panel" aria-labelledby="recs-h" aria-busy={props.scoring.to_string()}>
            <div class="panel-head">
                <h2 id="recs-h">{ format!("Top-{} for {}", props.n, props.who) }</h2>
                <label class="n-select">
                    <span>{ "show" }</span>
                    <select data-testid="n-select" {onchange} aria-label="number of recommendations">
                        { for choices.iter().map(|&c| html! {
                            <option value={c.to_string()} selected={c == props.n}>{ c }</option>
                        }) }
                    </select>
                </label>
            </div>
            <div class="legend-row">
                <span class="muted">{ "bar = attention over modalities (Eq. 5)" }</span>
                { legend(modalities) }
            </div>
            { drops.unwrap_or_default() }
            { body }
        </section>
    }
}

#[derive(PartialEq, Properties)]
pub struct RecCardProps {
    /// 0-based rank.
    pub rank: usize,
    pub rec: Recommendation,
    pub selected: bool,
    /// With a modality dropped: the item's 0-based rank in the model's own list
    /// (`Some(None)`: it was not there, it entered).
    pub before: Option<Option<usize>>,
}

/// One recommendation; clicking it opens the why panel.
#[function_component(RecCard)]
pub fn rec_card(props: &RecCardProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let w = &model.w;
    let (rank, rec) = (props.rank, &props.rec);
    let info = &w.catalogue[rec.item as usize];
    let item = rec.item;
    let (top_m, top_a) = rec
        .attention
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (m, &a)| if a > best.1 { (m, a) } else { best },
        );
    let top_name = w.meta.modalities.get(top_m).cloned().unwrap_or_default();
    html! {
        <li>
            <button type="button" class={classes!("card", props.selected.then_some("selected"))} aria-pressed={props.selected.to_string()}
                data-testid="rec" data-rank={(rank + 1).to_string()} data-item-id={item.to_string()}
                data-score={score_attr(rec.score)} data-attention={attention_json(&w.meta.modalities, &rec.attention)}
                onclick={dispatch.reform(move |_| Msg::Select(item))}
                aria-label={format!("#{} {}, score {:.3}, mostly {} ({:.0}%). Show why.", rank + 1, info.title, rec.score, top_name, top_a * 100.0)}>
                <span class="rank">{ rank + 1 }</span>
                { picture(info, &format!("r{item}")) }
                <span class="card-body">
                    <span class="card-title" title={info.title.clone()}>{ info.title.clone() }</span>
                    <span class="card-meta">
                        <span>{ if info.category.is_empty() { "\u{a0}".to_string() } else { info.category.clone() } }</span>
                        <span class="score">{ format!("{:.3}", rec.score) }</span>
                    </span>
                    { attention_bar(&w.meta.modalities, &rec.attention) }
                    <span class="card-attn">
                        <span class="swatch" style={format!("background:{}", modality_color(&top_name, top_m))}></span>
                        { format!("{top_name} {:.0}%", top_a * 100.0) }
                        { shift_badge(rank, props.before) }
                        <span class="id" title="item id">{ format!("#{item}") }</span>
                    </span>
                </span>
            </button>
        </li>
    }
}

/// "new", "↑3", "↓2" or nothing, against the model's own list.
fn shift_badge(rank: usize, before: Option<Option<usize>>) -> Html {
    let Some(before) = before else {
        return Html::default();
    };
    let label = rank_shift(before.map(|b| b + 1), Some(rank + 1));
    match label.as_str() {
        "=" => Html::default(),
        "new" => html! { <span class="shift new" data-testid="entered">{ label }</span> },
        _ => html! { <span class={classes!("shift", shift_class(&label))}>{ label }</span> },
    }
}
