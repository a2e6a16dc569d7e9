//! "Modality influence across the dataset": histograms of the attention weights of every
//! training interaction per modality, and each user's dominant modality.

use mario_shared::FusionKind;
use yew::prelude::*;

use super::item::raw_html;
use crate::charts;
use crate::format::{self, attention_json, modality_color, thousands};
use crate::state::{InfluenceResult, ModelContext, Shared};

#[derive(PartialEq, Properties)]
pub struct InfluencePanelProps {
    /// `None` while it is being computed.
    pub influence: Option<Shared<InfluenceResult>>,
    /// Benchmark mode skips the overview.
    pub skipped: bool,
}

#[function_component(InfluencePanel)]
pub fn influence_panel(props: &InfluencePanelProps) -> Html {
    let Some(model) = use_context::<ModelContext>() else {
        return Html::default();
    };
    let w = &model.w;
    let body = match props.influence.as_deref() {
        _ if props.skipped => {
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
            let shares_f32: Vec<f32> = shares.iter().map(|&s| s as f32).collect();
            html! {
                <div data-testid="influence" data-backend={*backend} data-interactions={inf.interactions.to_string()}
                     data-dominant={attention_json(&w.meta.modalities, &shares_f32)}>
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
