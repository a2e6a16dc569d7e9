//! "Backend & checks": which adapter scores, the GPU-vs-CPU comparison on the current query,
//! simulated device loss, and the benchmark button.

use yew::prelude::*;

use crate::format;
use crate::state::{Check, Dispatch, Msg, Shared};

#[derive(PartialEq, Properties)]
pub struct ToolsPanelProps {
    /// The adapter and chunking in use, or why WebGPU is not.
    pub gpu_text: AttrValue,
    pub gpu_on: bool,
    pub checking: bool,
    pub check: Option<Shared<Result<Check, String>>>,
    /// Offer the benchmark button (not on the bench page, which runs it by itself).
    pub bench_button: bool,
    pub bench_running: bool,
}

#[function_component(ToolsPanel)]
pub fn tools_panel(props: &ToolsPanelProps) -> Html {
    let dispatch = use_context::<Dispatch>().unwrap_or_default();
    let check = match props.check.as_deref() {
        _ if props.checking => html! { <p class="muted">{ "comparing…" }</p> },
        None => html! {},
        Some(Err(e)) => {
            html! { <p class="muted" data-testid="check" data-same-top="">{ e.clone() }</p> }
        }
        Some(Ok(c)) => html! {
            <p class={classes!("check", if c.same { "ok" } else { "bad" })} data-testid="check" data-same-top={c.same.to_string()}
               data-max-delta={format!("{:e}", c.max_delta)}>
                { if c.same { format!("✓ GPU and CPU give the same top-{}", c.n) } else { format!("✗ GPU and CPU top-{} differ", c.n) } }
                { format!(" · max |Δscore| over all items {:.1e} · max |Δattention| {:.1e} · GPU {} ms, CPU {} ms",
                    c.max_delta, c.max_att_delta, format::ms(c.gpu_ms), format::ms(c.cpu_ms)) }
            </p>
        },
    };
    html! {
        <section class="panel wide tools" aria-labelledby="tools-h">
            <h2 id="tools-h">{ "Backend & checks" }</h2>
            <p class="muted" data-testid="gpu-info">{ props.gpu_text.clone() }</p>
            <div class="row">
                <button type="button" class="button" data-testid="check-btn" disabled={!props.gpu_on || props.checking}
                    onclick={dispatch.reform(|_| Msg::Check)}>{ "Check GPU vs CPU" }</button>
                <button type="button" class="button ghost" data-testid="simulate-loss" disabled={!props.gpu_on}
                    onclick={dispatch.reform(|_| Msg::SimulateLoss)}>{ "Simulate GPU device loss" }</button>
                if props.bench_button {
                    <button type="button" class="button ghost" data-testid="bench-btn"
                        disabled={props.bench_running}
                        onclick={dispatch.reform(|_| Msg::RunBench)}>{ "Run benchmark" }</button>
                }
            </div>
            { check }
        </section>
    }
}
