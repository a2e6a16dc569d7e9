//! SVG line plots (training curves, experiment figures) with no dependency:
//! a small, readable renderer is all the reports need.

use std::fmt::Write as _;
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders a line chart with axes, ticks and a legend.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let (w, h) = (640.0, 380.0);
    let (left, right, top, bottom) = (70.0, 170.0, 40.0, 50.0);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if all.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" font-size="15" font-weight="600">{}</text>
"#,
        left,
        escape(title)
    );
    for i in 0..=4 {
        let fy = y0 + (y1 - y0) * i as f64 / 4.0;
        let fx = x0 + (x1 - x0) * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{tx}" y="{ty}" text-anchor="end">{fy:.4}</text>
<text x="{x}" y="{bx}" text-anchor="middle">{fx:.4}</text>
"##,
            l = left,
            r = w - right,
            y = py(fy),
            tx = left - 6.0,
            ty = py(fy) + 4.0,
            x = px(fx),
            bx = h - bottom + 18.0,
            fy = fy,
            fx = fx,
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{b}" stroke="#333"/><line x1="{left}" x2="{r}" y1="{b}" y2="{b}" stroke="#333"/>
<text x="{cx}" y="{lx}" text-anchor="middle">{xl}</text>
<text transform="translate(16 {cy}) rotate(-90)" text-anchor="middle">{yl}</text>
"##,
        b = h - bottom,
        r = w - right,
        cx = (left + w - right) / 2.0,
        lx = h - 12.0,
        cy = (top + h - bottom) / 2.0,
        xl = escape(x_label),
        yl = escape(y_label),
    );
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dash = if i >= PALETTE.len() {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, y)| format!("{:.2},{:.2}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>"#
            );
        }
        let ly = top + 10.0 + i as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{a}" x2="{b}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{t}" y="{ty}">{n}</text>"#,
            a = w - right + 12.0,
            b = w - right + 32.0,
            t = w - right + 38.0,
            ty = ly + 4.0,
            n = escape(&s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
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
    let loss = line_chart(
        "Training loss",
        "epoch",
        "loss",
        &[
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
        ],
    );
    let recall = line_chart(
        "Recall@20",
        "epoch",
        "Recall@20",
        &[
            Series {
                name: "valid".into(),
                points: get("valid", Some("recall@20")),
            },
            Series {
                name: "test".into(),
                points: get("test", Some("recall@20")),
            },
        ],
    );
    // Stack the two charts in one SVG.
    let body = |svg: &str| {
        svg.lines()
            .skip(1)
            .filter(|l| *l != "</svg>")
            .collect::<Vec<_>>()
            .join("\n")
    };
    let combined = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 760\" width=\"640\" height=\"760\">\n<g>{}</g>\n<g transform=\"translate(0 380)\">{}</g>\n</svg>\n",
        body(&loss),
        body(&recall)
    );
    crate::io::write_atomic(path, combined.as_bytes())
}
