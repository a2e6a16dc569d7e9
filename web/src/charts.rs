//! SVG charts of the modality-influence overview (plain markup strings, escaped).

use crate::format::{escape_xml, thousands};

/// One modality's attention histogram over `[0, 1]` (bars in `color`), with axis ticks,
/// the mean marked as a dashed line, and an accessible label.
pub fn histogram_svg(name: &str, color: &str, counts: &[u32], mean: f64) -> String {
    const W: f64 = 280.0;
    const H: f64 = 132.0;
    const LEFT: f64 = 8.0;
    const RIGHT: f64 = 8.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 22.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let bw = plot_w / counts.len().max(1) as f64;
    let mut bars = String::new();
    for (b, &c) in counts.iter().enumerate() {
        let h = plot_h * f64::from(c) / max;
        let lo = b as f64 / counts.len() as f64;
        let hi = (b + 1) as f64 / counts.len() as f64;
        bars.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" rx=\"1\"><title>{lo:.2}–{hi:.2}: {} interactions</title></rect>",
            LEFT + b as f64 * bw + 0.75,
            TOP + plot_h - h,
            (bw - 1.5).max(0.5),
            h,
            thousands(u64::from(c)),
        ));
    }
    let mean_x = LEFT + plot_w * mean.clamp(0.0, 1.0);
    let axis_y = TOP + plot_h;
    let ticks: String = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|t| {
            let x = LEFT + plot_w * t;
            format!(
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{axis_y:.1}\" y2=\"{:.1}\" class=\"tick\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"axis\">{}</text>",
                axis_y + 4.0,
                axis_y + 16.0,
                if *t == 0.0 || *t == 1.0 { format!("{t:.0}") } else { format!("{t}") }
            )
        })
        .collect();
    let label = format!(
        "Histogram of {} attention over {} training interactions; mean {:.2}",
        name,
        thousands(total),
        mean
    );
    format!(
        "<svg class=\"hist\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{label}</title>{bars}\
         <line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" class=\"baseline\"/>{ticks}\
         <line x1=\"{mean_x:.1}\" x2=\"{mean_x:.1}\" y1=\"{TOP}\" y2=\"{axis_y:.1}\" class=\"mean\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" class=\"meanlabel\" text-anchor=\"{}\">mean {mean:.2}</text></svg>",
        W - RIGHT,
        if mean > 0.7 {
            mean_x - 4.0
        } else {
            mean_x + 4.0
        },
        TOP + 10.0,
        if mean > 0.7 { "end" } else { "start" },
        label = escape_xml(&label),
    )
}

/// A 100% stacked horizontal bar: the share of users dominated by each modality,
/// with percentages written inside segments that are wide enough.
pub fn dominant_svg(names: &[String], colors: &[&str], shares: &[f64]) -> String {
    // Percentage coordinates (no viewBox): the bar stretches to the page width while the
    // labels keep their proportions.
    const H: f64 = 34.0;
    let mut x = 0.0;
    let mut segs = String::new();
    let mut desc = Vec::new();
    for ((name, color), share) in names.iter().zip(colors).zip(shares) {
        let pct = share.clamp(0.0, 1.0) * 100.0;
        desc.push(format!("{name} {pct:.0}%"));
        segs.push_str(&format!(
            "<rect x=\"{x:.2}%\" y=\"0\" width=\"{pct:.2}%\" height=\"{H}\" fill=\"{color}\"><title>{}: {pct:.1}% of users</title></rect>",
            escape_xml(name)
        ));
        if pct >= 7.0 {
            segs.push_str(&format!(
                "<text x=\"{:.2}%\" y=\"{:.1}\" text-anchor=\"middle\" class=\"seglabel\">{pct:.0}%</text>",
                x + pct / 2.0,
                H / 2.0 + 5.0
            ));
        }
        x += pct;
    }
    let label = format!(
        "Share of users whose dominant modality is: {}",
        desc.join(", ")
    );
    format!(
        "<svg class=\"dominant\" width=\"100%\" height=\"{H}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{label}</title>{segs}</svg>",
        label = escape_xml(&label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_has_one_bar_per_bin_and_is_escaped() {
        let svg = histogram_svg("vis<u>al", "#E69F00", &[0, 5, 10, 2], 0.4);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("vis&lt;u&gt;al") && !svg.contains("vis<u>al"));
        assert!(svg.contains("17 training interactions"));
        let empty = histogram_svg("x", "#000", &[0; 20], 0.0);
        assert!(!empty.contains("NaN"));
    }

    #[test]
    fn dominant_segments_cover_the_bar() {
        let names = vec![
            "visual".to_string(),
            "textual".to_string(),
            "interaction".to_string(),
        ];
        let svg = dominant_svg(&names, &["#a", "#b", "#c"], &[0.5, 0.3, 0.2]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(">50%</text>") && svg.contains("visual 50%, textual 30%, interaction 20%")
        );
    }
}
