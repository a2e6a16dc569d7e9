//! The benchmark table: median time to score every item and take the top-N, per model size
//! and backend.

use yew::prelude::*;

use crate::bench;
use crate::format::{self, thousands};
use crate::state::{BenchState, Shared};

#[derive(PartialEq, Properties)]
pub struct BenchPanelProps {
    pub bench: Shared<BenchState>,
}

#[function_component(BenchPanel)]
pub fn bench_panel(props: &BenchPanelProps) -> Html {
    let body = match &*props.bench {
        BenchState::Idle => return Html::default(),
        BenchState::Running(s) => {
            html! { <p class="muted" data-testid="bench-status">{ format!("running: {s}") }</p> }
        }
        BenchState::Failed(e) => {
            html! { <p class="error" data-testid="bench" data-state="failed">{ e.clone() }</p> }
        }
        BenchState::Done(rows) => html! {
            <table class="bench-table" data-testid="bench" data-state="done">
                <thead><tr>
                    <th scope="col">{ "task" }</th><th scope="col">{ "model" }</th><th scope="col">{ "items" }</th><th scope="col">{ "backend" }</th>
                    <th scope="col">{ "median ms" }</th><th scope="col">{ "min ms" }</th>
                    <th scope="col">{ "runs" }</th><th scope="col">{ "notes" }</th>
                </tr></thead>
                <tbody>
                    { for rows.iter().map(|r| html! {
                        <tr data-task={r.task} data-backend={r.backend} data-items={r.items.to_string()} data-median-ms={format!("{:.3}", r.median_ms)}>
                            <td>{ r.task }</td><td>{ r.model.clone() }</td><td>{ thousands(r.items as u64) }</td><td>{ r.backend }</td>
                            <td class="num">{ format::ms(r.median_ms) }</td><td class="num">{ format::ms(r.min_ms) }</td>
                            <td class="num">{ r.runs }</td><td>{ r.note.clone() }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
        },
    };
    html! {
        <section class="panel wide" aria-labelledby="bench-h">
            <h2 id="bench-h">{ "Benchmark" }</h2>
            <p class="muted small">{ format!("Median of {} runs after one warm-up; a scoring run scores every item for one user and takes the top-{}, GPU readback included; the item map rows time the personalised space of one user and one draw of every point. On a software adapter (SwiftShader) WebGPU timings say nothing about real GPUs.", bench::RUNS, bench::TOP_N) }</p>
            { body }
        </section>
    }
}
