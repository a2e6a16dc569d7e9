//! `trials.svg`: validation Recall@20 per trial, then one panel per hyperparameter (its
//! value against the score; log axis for log-uniform settings, one column per value for
//! lists of words), each point coloured by the rung the trial reached. Drawn with plotters.

use plotters::prelude::*;

use super::TuneState;
use super::space::{Domain, Space};
use crate::plot::PALETTE;

const FONT: &str = "system-ui, sans-serif";
const PANEL: (u32, u32) = (520, 330);

/// One scatter panel.
struct Panel {
    title: String,
    x_label: String,
    /// (x, valid Recall@20, rung reached).
    points: Vec<(f64, f64, usize)>,
    x_range: std::ops::Range<f64>,
    x_format: Box<dyn Fn(&f64) -> String>,
    x_ticks: usize,
}

fn colour(rung: usize) -> RGBColor {
    let hex = PALETTE[rung % PALETTE.len()].trim_start_matches('#');
    let byte = |k: usize| u8::from_str_radix(&hex[k..k + 2], 16).unwrap_or(0);
    RGBColor(byte(0), byte(2), byte(4))
}

fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        let c = if lo.is_finite() { lo } else { 0.0 };
        return (c - 0.5)..(c + 0.5);
    }
    let p = (hi - lo) * 0.06;
    (lo - p)..(hi + p)
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn panels(space: &Space, state: &TuneState) -> Vec<Panel> {
    let scored: Vec<(usize, usize, f64)> = state
        .trials
        .iter()
        .filter_map(|t| state.reached(t.id).map(|(r, s)| (t.id, r, s)))
        .filter(|p| p.2.is_finite())
        .collect();
    let n = state.trials.len().max(1) as f64;
    let mut out = vec![Panel {
        title: "Validation Recall@20 per trial".into(),
        x_label: "trial".into(),
        points: scored.iter().map(|&(t, r, s)| (t as f64, s, r)).collect(),
        x_range: -0.5..(n - 0.5),
        x_format: Box::new(|x| format!("{x:.0}")),
        x_ticks: (n as usize).min(12),
    }];
    for (key, domain) in &space.params {
        let value = |t: usize| state.trials[t].params.get(key).cloned();
        let words: Option<Vec<toml::Value>> = match domain {
            Domain::List(values) if values.iter().any(|v| number(v).is_none()) => {
                Some(values.clone())
            }
            _ => None,
        };
        let panel = if let Some(words) = words {
            let labels: Vec<String> = words
                .iter()
                .map(|w| w.as_str().map_or(w.to_string(), str::to_string))
                .collect();
            let points = scored
                .iter()
                .filter_map(|&(t, r, s)| {
                    let v = value(t)?;
                    words.iter().position(|w| *w == v).map(|i| (i as f64, s, r))
                })
                .collect();
            let k = labels.len();
            Panel {
                title: format!("by {key}"),
                x_label: key.clone(),
                points,
                x_range: -0.5..(k as f64 - 0.5),
                x_format: Box::new(move |x: &f64| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        labels.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                }),
                x_ticks: k,
            }
        } else {
            let log = space.is_log(key);
            let to_x = move |v: f64| if log { v.log10() } else { v };
            let points: Vec<(f64, f64, usize)> = scored
                .iter()
                .filter_map(|&(t, r, s)| value(t).and_then(|v| number(&v)).map(|v| (to_x(v), s, r)))
                .filter(|p| p.0.is_finite())
                .collect();
            let (lo, hi) = match domain {
                Domain::Uniform(a, b) | Domain::LogUniform(a, b) => (to_x(*a), to_x(*b)),
                Domain::IntUniform(a, b) => (*a as f64, *b as f64),
                Domain::List(values) => values
                    .iter()
                    .filter_map(number)
                    .map(to_x)
                    .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x))),
            };
            Panel {
                title: format!("by {key}{}", if log { " (log scale)" } else { "" }),
                x_label: key.clone(),
                points,
                x_range: padded(lo, hi),
                x_format: Box::new(move |x: &f64| {
                    let v = if log { 10f64.powf(*x) } else { *x };
                    super::report::format_tick(v)
                }),
                x_ticks: 6,
            }
        };
        out.push(panel);
    }
    out
}

type Area<'s> = plotters::drawing::DrawingArea<SVGBackend<'s>, plotters::coord::Shift>;

fn draw(
    area: &Area<'_>,
    p: &Panel,
    y: std::ops::Range<f64>,
    rungs: &[super::halving::Rung],
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<std::io::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 17).into_font().style(FontStyle::Bold))
        .margin(10)
        .margin_right(if rungs.len() > 1 { 120 } else { 18 })
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(p.x_range.clone(), y)?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc("valid Recall@20")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_labels(p.x_ticks.max(2))
        .x_label_formatter(&p.x_format)
        .y_label_formatter(&|v| format!("{v:.3}"))
        .max_light_lines(0)
        .bold_line_style(RGBColor(228, 228, 228))
        .draw()?;
    chart.draw_series(
        p.points
            .iter()
            .map(|&(x, y, r)| Circle::new((x, y), 5, colour(r).mix(0.85).filled())),
    )?;
    if rungs.len() > 1 {
        let (w, _) = area.dim_in_pixel();
        let x = w as i32 - 110;
        area.draw(&Text::new("reached", (x, 30), (FONT, 13).into_font()))?;
        for (r, rung) in rungs.iter().enumerate() {
            let y = 56 + 20 * r as i32;
            area.draw(&Circle::new((x + 5, y), 5, colour(r).filled()))?;
            let label = format!("{} epochs", rung.epochs);
            area.draw(&Text::new(label, (x + 16, y - 7), (FONT, 13).into_font()))?;
        }
    }
    Ok(())
}

/// The whole figure as an SVG document.
pub fn svg(space: &Space, state: &TuneState) -> String {
    let panels = panels(space, state);
    let ys: Vec<f64> = panels[0].points.iter().map(|p| p.1).collect();
    let (lo, hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    let y = if ys.is_empty() {
        0.0..1.0
    } else {
        padded(lo, hi)
    };
    let cols = panels.len().min(2);
    let rows = panels.len().div_ceil(2);
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (PANEL.0 * cols as u32, PANEL.1 * rows as u32))
                .into_drawing_area();
        // Drawing into a String cannot fail; an error would leave the figure incomplete.
        let _ = root.fill(&WHITE);
        let areas = root.split_evenly((rows, cols));
        for (p, area) in panels.iter().zip(&areas) {
            let _ = draw(area, p, y.clone(), &state.rungs);
        }
        let _ = root.present();
    }
    out.push('\n');
    out
}
