//! SVG line charts (a run's `curves.svg`, the tuning report) drawn with plotters' SVG
//! backend: round axis ticks, a light grid, the legend in the right margin. Text stays SVG
//! `<text>`, so no font stack is needed (plotters' `ttf` feature is off).
//!
//! Compared side by side with the hand-written renderer it replaced (same data, one run):
//! plotters picks round ticks (0.10, 0.12, … and whole epochs) where the old one printed five
//! evenly spaced raw values (0.0972, 0.1356, …, 8.2500 epochs); its output is about twice
//! the size (27 KB vs 14 KB for the two curves). The multi-panel experiment figures stay
//! hand-written (see `experiment/charts/mod.rs` for why).

use std::path::Path;

/// One named line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Okabe–Ito colours (colour-blind safe).
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
];

/// Renders a line chart (lines with point marks, axes with round ticks, a grid and a
/// legend) as a standalone SVG document, with plotters' SVG backend.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let chart = LineChart {
        title,
        x_label,
        y_label,
        series,
    };
    render_stack(&[chart], (640, 380))
}

/// One chart of [`render_stack`].
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
}

/// Draws `charts` one above the other, each `size` pixels, into one SVG document.
pub fn render_stack(charts: &[LineChart<'_>], size: (u32, u32)) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let height = size.1 * charts.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (size.0, height)).into_drawing_area();
        let areas = root.split_evenly((charts.len().max(1), 1));
        // Drawing into a String cannot fail: an error here is a bug in the chart, and the
        // figure is an aid, so it is left incomplete rather than failing the run.
        let _ = root.fill(&WHITE);
        for (chart, area) in charts.iter().zip(&areas) {
            let _ = draw_lines(area, chart);
        }
        let _ = root.present();
    }
    svg.push('\n');
    svg
}

/// The range of `values` widened by `pad` of its span on each side (0..1 when empty,
/// one unit when flat).
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = match (lo <= hi, hi > lo) {
        (false, _) => (0.0, 1.0),
        (true, false) => (lo, lo + 1.0),
        (true, true) => (lo, hi),
    };
    let p = (hi - lo) * pad;
    (lo - p)..(hi + p)
}

type Area<'s> =
    plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'s>, plotters::coord::Shift>;

fn draw_lines<'s>(
    area: &Area<'s>,
    c: &LineChart<'_>,
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<std::io::Error>> {
    use plotters::prelude::*;
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let lines: Vec<Vec<(f64, f64)>> = c
        .series
        .iter()
        .map(|s| s.points.iter().filter(finite).copied().collect())
        .collect();
    let x = padded_range(lines.iter().flatten().map(|p| p.0), 0.0);
    let y = padded_range(lines.iter().flatten().map(|p| p.1), 0.05);
    let (width, _) = area.dim_in_pixel();
    let mut chart = ChartBuilder::on(area)
        .caption(c.title, (FONT, 19).into_font().style(FontStyle::Bold))
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    // Whole numbers on an axis that spans at least a few units (epochs, trials).
    let whole = |r: &std::ops::Range<f64>| r.end - r.start >= 4.0;
    let (x_whole, y_whole) = (whole(&chart.x_range()), whole(&chart.y_range()));
    let decimals = |r: &std::ops::Range<f64>| {
        let step = (r.end - r.start) / 10.0;
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    };
    let (x_dec, y_dec) = (decimals(&chart.x_range()), decimals(&chart.y_range()));
    let fmt = move |v: &f64, whole: bool, dec: usize| {
        if whole {
            format!("{v:.0}")
        } else {
            format!("{v:.dec$}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 15))
        .x_label_formatter(&|v| fmt(v, x_whole, x_dec))
        .y_label_formatter(&|v| fmt(v, y_whole, y_dec))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, (s, points)) in c.series.iter().zip(lines).enumerate() {
        let colour = palette_rgb(i);
        chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 2, colour.filled())),
        )?;
        // The legend sits in the right margin, clear of the data.
        let (x, y) = (width as i32 - LEGEND_WIDTH as i32 + 8, 44 + 22 * i as i32);
        area.draw(&PathElement::new(
            vec![(x, y), (x + 22, y)],
            colour.stroke_width(3),
        ))?;
        area.draw(&Text::new(
            s.name.clone(),
            (x + 28, y - 8),
            (FONT, 15).into_font(),
        ))?;
    }
    Ok(())
}

const FONT: &str = "system-ui, sans-serif";
/// Right margin kept for the legend, in pixels.
const LEGEND_WIDTH: u32 = 120;

/// [`PALETTE`] entry `i` (cycling) as a plotters colour.
fn palette_rgb(i: usize) -> plotters::style::RGBColor {
    let hex = PALETTE[i % PALETTE.len()].trim_start_matches('#');
    let byte = |k: usize| u8::from_str_radix(&hex[k..k + 2], 16).unwrap_or(0);
    plotters::style::RGBColor(byte(0), byte(2), byte(4))
}

/// `curves.svg`: training loss and validation / test Recall@20 per evaluation.
pub fn write_curves(path: &Path, history: &[serde_json::Value]) -> anyhow::Result<()> {
    let get = |key: &str, sub: Option<&str>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|h| {
                let x = h["epoch"].as_f64()?;
                let y = match sub {
                    Some(s) => h[key][s].as_f64()?,
                    None => h[key].as_f64()?,
                };
                Some((x, y))
            })
            .collect()
    };
    let losses = [
        Series {
            name: "total".into(),
            points: get("loss", None),
        },
        Series {
            name: "BPR".into(),
            points: get("bpr", None),
        },
        Series {
            name: "MP".into(),
            points: get("mp", None),
        },
    ];
    let recalls = [
        Series {
            name: "valid".into(),
            points: get("valid", Some("recall@20")),
        },
        Series {
            name: "test".into(),
            points: get("test", Some("recall@20")),
        },
    ];
    let svg = render_stack(
        &[
            LineChart {
                title: "Training loss",
                x_label: "epoch",
                y_label: "loss",
                series: &losses,
            },
            LineChart {
                title: "Recall@20",
                x_label: "epoch",
                y_label: "Recall@20",
                series: &recalls,
            },
        ],
        (640, 380),
    );
    crate::io::write_atomic(path, svg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick_labels(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
            .filter_map(|t| {
                t.split_once("</text>")
                    .map(|(label, _)| label.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn draws_every_series_with_round_ticks_and_skips_non_finite_points() {
        let series = [
            Series {
                name: "valid".into(),
                points: (1..=30)
                    .map(|e| (e as f64, 0.1 + 0.004 * e as f64))
                    .collect(),
            },
            Series {
                name: "test <b>".into(),
                points: vec![(1.0, 0.09), (2.0, f64::NAN), (30.0, 0.2)],
            },
        ];
        let svg = line_chart("Recall@20", "epoch", "Recall@20", &series);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let labels = tick_labels(&svg);
        assert!(labels.iter().any(|l| l == "valid"));
        // Names are escaped, not injected.
        assert!(labels.iter().any(|l| l == "test &lt;b&gt;"), "{labels:?}");
        assert!(!svg.contains("NaN"));
        // The epoch axis has whole-number ticks, the recall axis round ones (≤ 2 decimals).
        let numbers: Vec<f64> = labels.iter().filter_map(|l| l.parse().ok()).collect();
        assert!(
            numbers.contains(&10.0) && numbers.contains(&20.0),
            "{labels:?}"
        );
        for l in labels.iter().filter(|l| l.parse::<f64>().is_ok()) {
            let decimals = l.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 2, "tick {l} is not round");
        }
    }

    #[test]
    fn empty_and_flat_series_still_give_a_chart() {
        let empty = line_chart("t", "x", "y", &[]);
        assert!(empty.contains("</svg>"));
        let flat = [Series {
            name: "flat".into(),
            points: vec![(0.0, 1.0), (1.0, 1.0)],
        }];
        assert!(line_chart("t", "x", "y", &flat).contains("flat"));
    }
}
