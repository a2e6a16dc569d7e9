//! The three panel kinds of the experiment figures, each drawn on the shared [`Axes`]:
//! grouped bars with ±std error bars, lines with error bars, and density curves.

use std::fmt::Write as _;

use super::{Axes, PALETTE, escape, nice_range, ticks};

/// One bar series: a value (mean, std) per group and an optional label above each bar
/// (the value itself when `None`).
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub values: Vec<Option<(f64, f64)>>,
    pub labels: Vec<Option<String>>,
}

/// A grouped bar chart from zero, with ±std error bars and value labels.
pub fn bar_panel(
    panel: (f64, f64),
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[BarSeries],
) -> String {
    let top_value = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .map(|(m, s)| m + s.max(0.0))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let label_lines = series
        .iter()
        .flat_map(|s| s.labels.iter().flatten())
        .map(|l| l.lines().count())
        .max()
        .unwrap_or(1)
        .max(1);
    // Head room for the value labels above the tallest bar.
    let (_, hi) = nice_range(
        0.0,
        (top_value * (1.06 + 0.06 * label_lines as f64)).max(1e-6),
        5,
    );
    let axes = Axes::new(panel, (72.0, 16.0, 44.0, 52.0), (0.0, 1.0), (0.0, hi));
    let mut svg = String::new();
    axes.frame(&mut svg, title, "", y_label);
    let n_groups = groups.len().max(1);
    let n_series = series.len().max(1);
    let group_w = axes.w / n_groups as f64;
    let bar_w = group_w * 0.84 / n_series as f64;
    for (g, name) in groups.iter().enumerate() {
        let gx = axes.left + g as f64 * group_w;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            gx + group_w / 2.0,
            axes.bottom() + 20.0,
            escape(name)
        );
        for (s, ser) in series.iter().enumerate() {
            let Some(Some((mean, std))) = ser.values.get(g) else {
                continue;
            };
            let colour = PALETTE[s % PALETTE.len()];
            let x = gx + group_w * 0.08 + s as f64 * bar_w;
            let y = axes.py(mean.max(0.0));
            let _ = write!(
                svg,
                r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{colour}"/>"#,
                bar_w * 0.92,
                axes.bottom() - y
            );
            let cx = x + bar_w * 0.46;
            axes.error_bar(&mut svg, cx, *mean, *std, (bar_w * 0.18).min(6.0));
            let label = ser
                .labels
                .get(g)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("{mean:.3}"));
            let font = if bar_w >= 34.0 { 11.0 } else { 9.5 };
            // Lines of the label stack upwards from just above the error bar.
            let base_y = axes.py(mean + std.max(0.0)) - 5.0;
            let lines: Vec<&str> = label.lines().collect();
            for (k, line) in lines.iter().enumerate() {
                let y = base_y - (lines.len() - 1 - k) as f64 * (font + 2.0);
                let _ = write!(
                    svg,
                    r#"<text x="{cx:.2}" y="{y:.2}" text-anchor="middle" font-size="{font}">{}</text>"#,
                    escape(line)
                );
            }
        }
    }
    svg
}

/// One line series: points `(x, mean, std)`.
#[derive(Debug, Clone)]
pub struct LineSeries {
    pub points: Vec<(f64, f64, f64)>,
    pub colour: &'static str,
    pub dashed: bool,
}

/// A line chart with ±std error bars; the y axis is zoomed to the data.
pub fn line_panel(
    panel: (f64, f64),
    title: &str,
    x_label: &str,
    y_label: &str,
    x_ticks: &[f64],
    series: &[LineSeries],
) -> String {
    let pts: Vec<(f64, f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let lo = pts
        .iter()
        .map(|p| p.1 - p.2.max(0.0))
        .fold(f64::MAX, f64::min);
    let hi = pts
        .iter()
        .map(|p| p.1 + p.2.max(0.0))
        .fold(f64::MIN, f64::max);
    let (lo, hi) = if pts.is_empty() { (0.0, 1.0) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3);
    let y = nice_range(lo - pad, hi + pad, 5);
    let x_lo = x_ticks.iter().copied().fold(f64::MAX, f64::min);
    let x_hi = x_ticks.iter().copied().fold(f64::MIN, f64::max);
    let span = (x_hi - x_lo).max(1e-9);
    let axes = Axes::new(
        panel,
        (72.0, 20.0, 44.0, 56.0),
        (x_lo - span * 0.05, x_hi + span * 0.05),
        y,
    );
    let mut svg = String::new();
    axes.frame(&mut svg, title, x_label, y_label);
    axes.x_ticks(&mut svg, x_ticks, 1);
    for s in series {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let coords: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| format!("{:.2},{:.2}", axes.px(p.0), axes.py(p.1)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2.2"{dash} points="{}"/>"#,
            s.colour,
            coords.join(" ")
        );
        for &(x, m, sd) in s.points.iter().filter(|p| p.1.is_finite()) {
            axes.error_bar(&mut svg, axes.px(x), m, sd, 4.0);
            let _ = write!(
                svg,
                r#"<circle cx="{:.2}" cy="{:.2}" r="3.5" fill="{}"/>"#,
                axes.px(x),
                axes.py(m),
                s.colour
            );
        }
    }
    svg
}

/// One density curve (`points` are (x, density)) and its mean as a dotted line.
#[derive(Debug, Clone)]
pub struct DensityCurve {
    pub points: Vec<(f64, f64)>,
    pub mean: Option<f64>,
    pub colour: &'static str,
}

/// A density panel over a shared `x` range (Figure 3).
pub fn density_panel(
    panel: (f64, f64),
    title: &str,
    x_label: &str,
    x: (f64, f64),
    y_max: f64,
    curves: &[DensityCurve],
) -> String {
    let axes = Axes::new(
        panel,
        (72.0, 20.0, 44.0, 56.0),
        x,
        (0.0, nice_range(0.0, y_max.max(1e-9) * 1.1, 5).1),
    );
    let mut svg = String::new();
    axes.frame(&mut svg, title, x_label, "density");
    let (xs, dec) = ticks(x.0, x.1, 6);
    axes.x_ticks(&mut svg, &xs, dec);
    for (i, c) in curves.iter().enumerate() {
        if c.points.is_empty() {
            continue;
        }
        let mut coords: Vec<String> = c
            .points
            .iter()
            .map(|&(a, b)| format!("{:.2},{:.2}", axes.px(a), axes.py(b)))
            .collect();
        let line = coords.join(" ");
        coords.insert(
            0,
            format!("{:.2},{:.2}", axes.px(c.points[0].0), axes.bottom()),
        );
        coords.push(format!(
            "{:.2},{:.2}",
            axes.px(c.points[c.points.len() - 1].0),
            axes.bottom()
        ));
        let _ = write!(
            svg,
            r#"<polygon points="{}" fill="{colour}" fill-opacity="0.15"/><polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2.2"/>"#,
            coords.join(" "),
            colour = c.colour
        );
        if let Some(m) = c.mean.filter(|m| m.is_finite()) {
            let xm = axes.px(m);
            let _ = write!(
                svg,
                r#"<line x1="{xm:.2}" x2="{xm:.2}" y1="{}" y2="{}" stroke="{colour}" stroke-width="1.8" stroke-dasharray="3 3"/><text x="{:.2}" y="{}" font-size="11" fill="{colour}" text-anchor="{anchor}">{m:.3}</text>"#,
                axes.top,
                axes.bottom(),
                if i % 2 == 0 { xm - 4.0 } else { xm + 4.0 },
                axes.top + 12.0 + 14.0 * i as f64,
                colour = c.colour,
                anchor = if i % 2 == 0 { "end" } else { "start" },
            );
        }
    }
    svg
}

/// Gaussian kernel density estimate of `values` at `n` points over `x`, with
/// Silverman's bandwidth (`0.9·min(σ, IQR/1.34)·n^{-1/5}`).
pub fn kde(values: &[f64], x: (f64, f64), n: usize) -> Vec<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return Vec::new();
    }
    let (_, sd) = super::super::stats::mean_std(&v);
    let mut sorted = v.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let iqr = q(0.75) - q(0.25);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    let range = (x.1 - x.0).abs().max(1e-9);
    let h = (0.9 * spread * (v.len() as f64).powf(-0.2)).max(range / 200.0);
    let norm = 1.0 / (v.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt());
    (0..n)
        .map(|i| {
            let t = x.0 + (x.1 - x.0) * i as f64 / (n - 1).max(1) as f64;
            let density = v
                .iter()
                .map(|&s| (-0.5 * ((t - s) / h).powi(2)).exp())
                .sum::<f64>()
                * norm;
            (t, density)
        })
        .collect()
}
