//! "Compare with another model": this model's top-N against a second weights file's for the
//! same user — overlap@N, each item's rank in both with the shift (↑3, new, gone), and the
//! attention each model gives it. Typical: MARIO vs `--mu 0`, `--fusion mean`, LightGCN.

use yew::prelude::*;

use super::item::{attention_bar, on_file_picked, picture};
use crate::compare::{diff, shift_class, shift_label};
use crate::state::{CompareScored, Dispatch, Loaded, ModelContext, Msg, Scored, Shared};

#[derive(PartialEq, Properties)]
pub struct ComparePanelProps {
    /// The second file's URL or name, once chosen.
    pub label: Option<AttrValue>,
    pub error: Option<AttrValue>,
    pub loading: bool,
    /// This model's list for the current query.
    pub current: Option<Shared<Scored>>,
    /// The second model's list for the same query.
    pub other: Option<Shared<CompareScored>>,
    pub other_model: Option<Shared<Loaded>>,
    pub n: usize,
}

#[function_component(ComparePanel)]
pub fn compare_panel(props: &ComparePanelProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let onfile = on_file_picked(&dispatch, Msg::PickCompare);
    let body = match (
        &props.error,
        props.loading,
        &props.current,
        &props.other,
        &props.other_model,
    ) {
        (Some(e), ..) => html! { <p class="error" data-testid="compare-error">{ e.clone() }</p> },
        (None, true, ..) => html! { <p class="muted">{ "loading the second model…" }</p> },
        (None, false, Some(a), Some(b), Some(bm)) => table(&model, a, b, bm, props.n),
        (None, false, _, _, Some(_)) => html! { <p class="muted">{ "scoring…" }</p> },
        _ => html! {
            <p class="muted">{ "Load a second weights file of the same dataset (e.g. MARIO trained with --mu 0, --fusion mean, or --modalities interaction) to see how its recommendations differ for the same user. Or open the page with ?compare=URL." }</p>
        },
    };
    html! {
        <section class="panel wide" aria-labelledby="cmp-h">
            <div class="panel-head">
                <h2 id="cmp-h">{ "Compare with another model" }</h2>
                <div class="row">
                    if let Some(l) = &props.label {
                        <span class="muted path">{ l.clone() }</span>
                        <button type="button" class="button ghost small" data-testid="compare-clear"
                            onclick={dispatch.reform(|_| Msg::ClearCompare)}>{ "✕" }</button>
                    }
                    <label class="button ghost file">
                        { "Compare with…" }
                        <input type="file" accept=".safetensors,application/octet-stream" data-testid="compare-file" onchange={onfile} />
                    </label>
                </div>
            </div>
            { body }
        </section>
    }
}

fn table(model: &Loaded, a: &Scored, b: &CompareScored, b_model: &Loaded, n: usize) -> Html {
    let ids_a: Vec<u32> = a.recs.iter().map(|r| r.item).collect();
    let ids_b: Vec<u32> = b.recs.iter().map(|r| r.item).collect();
    let d = diff(&ids_a, &ids_b);
    let names_a = &model.w.meta.modalities;
    let names_b = &b_model.w.meta.modalities;
    html! {
        <>
            <p data-testid="compare" data-overlap={format!("{:.4}", d.overlap)}>
                <strong>{ format!("overlap@{n}: {:.0}%", d.overlap * 100.0) }</strong>
                <span class="muted">{ format!(" · this model: {} · other: {} ({} fusion)", names_a.join(", "), names_b.join(", "), b_model.w.meta.fusion) }</span>
            </p>
            <table class="compare-table">
                <thead><tr>
                    <th scope="col">{ "item" }</th><th scope="col">{ "this model" }</th><th scope="col">{ "other model" }</th>
                </tr></thead>
                <tbody>
                    { for d.rows.iter().map(|row| {
                        let info = &model.w.catalogue[row.item as usize];
                        let att_a = a.recs.iter().find(|r| r.item == row.item).map(|r| r.attention.clone());
                        let att_b = b.recs.iter().find(|r| r.item == row.item).map(|r| r.attention.clone());
                        let shift = shift_label(row);
                        let class = shift_class(&shift);
                        html! {
                            <tr data-testid="compare-item" data-item-id={row.item.to_string()}
                                data-rank-a={row.rank_a.map(|r| r.to_string()).unwrap_or_default()}
                                data-rank-b={row.rank_b.map(|r| r.to_string()).unwrap_or_default()} data-shift={shift.clone()}>
                                <td class="cmp-item">{ picture(info, &format!("c{}", row.item)) }<span>{ info.title.clone() }</span></td>
                                <td>
                                    { row.rank_a.map(|r| format!("#{r}")).unwrap_or_else(|| "—".into()) }
                                    { att_a.map(|w| attention_bar(names_a, &w)).unwrap_or_default() }
                                </td>
                                <td>
                                    { row.rank_b.map(|r| format!("#{r} ")).unwrap_or_default() }
                                    <span class={classes!("shift", class)}>{ shift }</span>
                                    { att_b.map(|w| attention_bar(names_b, &w)).unwrap_or_default() }
                                </td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        </>
    }
}
