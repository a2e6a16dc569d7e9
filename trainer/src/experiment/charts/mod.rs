//! The experiment reports' figures as plain SVG: grouped bar charts with error bars
//! (Tables 4–5, Figure 5), line charts with error bars (Figure 6) and density panels
//! (Figure 3). Every figure is a grid of panels under one title and one legend.
//!
//! Hand-written, not plotters (which draws `plot.rs`'s line charts): these are publication
//! figures whose layout depends on text widths (panel letters, rotated group labels,
//! significance marks over error bars, a shared legend that wraps). plotters without its
//! `ttf` feature only guesses text extents (0.7 em a character); with it, it pulls in
//! font-kit and the system's fontconfig, a native dependency CI would have to provide.
//! This file holds the shared frame (ticks, axes, panel grid, legend); `panels.rs` the three
//! panel kinds drawn on it.

use std::fmt::Write as _;

mod panels;

pub use panels::{BarSeries, DensityCurve, LineSeries, bar_panel, density_panel, kde, line_panel};

/// Colours (Okabe–Ito, colour-blind safe), in series order.
pub use crate::plot::PALETTE;

const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Bar,
    Line,
    Dotted,
}

#[derive(Debug, Clone)]
pub struct LegendItem {
    pub name: String,
    pub colour: &'static str,
    pub mark: Mark,
}

/// A whole figure: `title`, an optional `subtitle` line, a legend row (wrapped),
/// then `panels` (each drawn in a `panel_w × panel_h` box) in a grid of `cols` columns.
pub fn figure(
    title: &str,
    subtitle: Option<&str>,
    legend: &[LegendItem],
    panels: &[String],
    cols: usize,
    (panel_w, panel_h): (f64, f64),
) -> String {
    let cols = cols.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let width = panel_w * cols as f64;
    // Legend layout: entries left to right, wrapping at the figure width.
    let mut legend_svg = String::new();
    let (mut lx, mut ly) = (16.0, 0.0);
    for item in legend {
        let text_w = item.name.chars().count() as f64 * 7.0;
        let entry_w = 30.0 + text_w + 22.0;
        if lx + entry_w > width - 8.0 && lx > 16.0 {
            lx = 16.0;
            ly += 20.0;
        }
        match item.mark {
            Mark::Bar => {
                let _ = write!(
                    legend_svg,
                    r#"<rect x="{lx}" y="{}" width="22" height="12" fill="{}"/>"#,
                    ly - 10.0,
                    item.colour
                );
            }
            Mark::Line | Mark::Dotted => {
                let dash = if item.mark == Mark::Dotted {
                    r#" stroke-dasharray="3 3""#
                } else {
                    ""
                };
                let _ = write!(
                    legend_svg,
                    r#"<line x1="{lx}" x2="{}" y1="{y}" y2="{y}" stroke="{}" stroke-width="2.5"{dash}/>"#,
                    lx + 22.0,
                    item.colour,
                    y = ly - 4.0
                );
            }
        }
        let _ = write!(
            legend_svg,
            r#"<text x="{}" y="{ly}">{}</text>"#,
            lx + 28.0,
            escape(&item.name)
        );
        lx += entry_w;
    }
    let mut top = 30.0;
    let mut head = String::new();
    let _ = write!(
        head,
        r#"<text x="16" y="{top}" font-size="17" font-weight="bold">{}</text>"#,
        escape(title)
    );
    if let Some(sub) = subtitle {
        top += 20.0;
        let _ = write!(
            head,
            r##"<text x="16" y="{top}" font-size="12" fill="#444">{}</text>"##,
            escape(sub)
        );
    }
    if !legend.is_empty() {
        top += 26.0;
        let _ = write!(
            head,
            r#"<g transform="translate(0 {top})" font-size="12">{legend_svg}</g>"#
        );
        top += ly;
    }
    top += 12.0;
    let height = top + panel_h * rows as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="{FONT}" font-size="12">"#
    );
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    svg.push_str(&head);
    svg.push('\n');
    for (i, panel) in panels.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let _ = writeln!(
            svg,
            r#"<g transform="translate({} {})">{panel}</g>"#,
            c as f64 * panel_w,
            top + r as f64 * panel_h
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A "nice" tick step (1, 2, 2.5 or 5 × 10ᵏ) for about `target` ticks over `range`.
fn nice_step(range: f64, target: usize) -> f64 {
    let raw = (range / target.max(1) as f64).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Ticks covering `[lo, hi]` and the decimals their labels need.
fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let step = nice_step(hi - lo, target);
    let mut decimals = (-step.log10().floor()).max(0.0) as usize;
    if ((step / 10f64.powi(-(decimals as i32))) - 2.5).abs() < 1e-9 {
        decimals += 1;
    }
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= hi + step * 1e-9 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    (out, decimals)
}

/// Rounds a data range outwards to tick multiples.
fn nice_range(lo: f64, hi: f64, target: usize) -> (f64, f64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5 * lo.abs().max(1e-3), hi + 0.5 * hi.abs().max(1e-3))
    };
    let step = nice_step(hi - lo, target);
    let (a, b) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    // Widening can coarsen the step the ticks will use: round to that one too, so
    // both ends of the axis carry a tick.
    let coarse = nice_step(b - a, target);
    ((a / coarse).floor() * coarse, (b / coarse).ceil() * coarse)
}

/// Plot area of a panel and its data ranges.
struct Axes {
    left: f64,
    top: f64,
    w: f64,
    h: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Axes {
    fn new(panel: (f64, f64), margins: (f64, f64, f64, f64), x: (f64, f64), y: (f64, f64)) -> Self {
        let (left, right, top, bottom) = margins;
        Self {
            left,
            top,
            w: panel.0 - left - right,
            h: panel.1 - top - bottom,
            x,
            y,
        }
    }
    fn px(&self, v: f64) -> f64 {
        self.left + (v - self.x.0) / (self.x.1 - self.x.0) * self.w
    }
    fn py(&self, v: f64) -> f64 {
        self.top + self.h - (v - self.y.0) / (self.y.1 - self.y.0) * self.h
    }
    fn bottom(&self) -> f64 {
        self.top + self.h
    }

    /// Title, y grid + ticks, axis lines and labels.
    fn frame(&self, svg: &mut String, title: &str, x_label: &str, y_label: &str) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
            self.left + self.w / 2.0,
            self.top - 14.0,
            escape(title)
        );
        let (ys, dec) = ticks(self.y.0, self.y.1, 5);
        for v in ys {
            let y = self.py(v);
            let _ = write!(
                svg,
                r##"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="#e3e3e3"/><text x="{}" y="{}" text-anchor="end" fill="#333">{v:.dec$}</text>"##,
                self.left,
                self.left + self.w,
                self.left - 6.0,
                y + 4.0,
            );
        }
        let _ = write!(
            svg,
            r##"<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" stroke="#333"/><line x1="{l}" x2="{r}" y1="{b}" y2="{b}" stroke="#333"/>"##,
            l = self.left,
            r = self.left + self.w,
            t = self.top,
            b = self.bottom(),
        );
        if !x_label.is_empty() {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                self.left + self.w / 2.0,
                self.bottom() + 38.0,
                escape(x_label)
            );
        }
        let _ = write!(
            svg,
            r#"<text transform="translate({} {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            self.left - 50.0,
            self.top + self.h / 2.0,
            escape(y_label)
        );
    }

    fn x_ticks(&self, svg: &mut String, values: &[f64], decimals: usize) {
        for &v in values {
            let x = self.px(v);
            let _ = write!(
                svg,
                r##"<line x1="{x}" x2="{x}" y1="{b}" y2="{}" stroke="#333"/><text x="{x}" y="{}" text-anchor="middle" fill="#333">{v:.decimals$}</text>"##,
                self.bottom() + 4.0,
                self.bottom() + 18.0,
                b = self.bottom(),
            );
        }
    }

    fn error_bar(&self, svg: &mut String, x: f64, mean: f64, std: f64, half_cap: f64) {
        if std <= 0.0 || !std.is_finite() {
            return;
        }
        let (y0, y1) = (self.py(mean - std), self.py(mean + std));
        let _ = write!(
            svg,
            r##"<line x1="{x}" x2="{x}" y1="{y0}" y2="{y1}" stroke="#222" stroke-width="1.2"/><line x1="{a}" x2="{b}" y1="{y0}" y2="{y0}" stroke="#222" stroke-width="1.2"/><line x1="{a}" x2="{b}" y1="{y1}" y2="{y1}" stroke="#222" stroke-width="1.2"/>"##,
            a = x - half_cap,
            b = x + half_cap,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        let (t, d) = ticks(0.0, 0.2, 5); // step 0.05
        assert_eq!((t.len(), d), (5, 2));
        assert!((t[1] - 0.05).abs() < 1e-12);
        let (t, d) = ticks(0.0, 1.0, 4); // step 0.25
        assert_eq!((t.len(), d), (5, 2));
        let (lo, hi) = nice_range(0.0312, 0.0488, 5); // step 0.005
        assert!((lo - 0.03).abs() < 1e-12 && (hi - 0.05).abs() < 1e-12);
        // Both ends of a rounded range are ticks.
        for (a, b) in [(0.031, 0.081), (0.0203, 0.0338), (0.0, 0.173), (0.12, 0.43)] {
            let (lo, hi) = nice_range(a, b, 5);
            let (t, _) = ticks(lo, hi, 5);
            assert!(
                (t[0] - lo).abs() < 1e-12 && (t[t.len() - 1] - hi).abs() < 1e-9,
                "{a}..{b}: {lo}..{hi} {t:?}"
            );
        }
    }

    #[test]
    fn kde_integrates_to_one() {
        let values: Vec<f64> = (0..200).map(|i| 0.3 + 0.001 * (i % 37) as f64).collect();
        let pts = kde(&values, (0.0, 1.0), 2001);
        let area: f64 = pts
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
            .sum();
        assert!((area - 1.0).abs() < 1e-3, "{area}");
    }

    #[test]
    fn figure_is_well_formed() {
        let bars = bar_panel(
            (400.0, 300.0),
            "t",
            "y",
            &["a".into(), "b".into()],
            &[BarSeries {
                values: vec![Some((0.1, 0.01)), None],
                labels: vec![None, None],
            }],
        );
        let svg = figure(
            "A & B",
            Some("sub"),
            &[LegendItem {
                name: "x<y".into(),
                colour: PALETTE[0],
                mark: Mark::Bar,
            }],
            &[bars],
            1,
            (400.0, 300.0),
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("A &amp; B") && svg.contains("x&lt;y"));
        assert!(!svg.contains("NaN"));
    }
}
