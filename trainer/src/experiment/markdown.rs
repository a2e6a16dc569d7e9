//! Markdown rendering for the experiment reports: pipe tables and number formats.

use super::stats::{TTest, mean_std};

/// Column alignment of a pipe table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Escapes a cell: `|` would end the cell and a newline the row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A GitHub-flavoured pipe table. Rows shorter than the header are padded with
/// empty cells; `align` defaults to left for missing entries.
pub fn table(header: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push('|');
    for h in header {
        out.push(' ');
        out.push_str(&cell(h));
        out.push_str(" |");
    }
    out.push_str("\n|");
    for i in 0..header.len() {
        out.push_str(match align.get(i).copied().unwrap_or(Align::Left) {
            Align::Left => ":---|",
            Align::Right => "---:|",
        });
    }
    out.push('\n');
    for row in rows {
        out.push('|');
        for i in 0..header.len() {
            out.push(' ');
            out.push_str(&cell(row.get(i).map(String::as_str).unwrap_or("")));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

/// `0.1234 ± 0.0056` over seeds; a single value alone; `—` for none.
pub fn mean_pm_std(values: &[f64], decimals: usize) -> String {
    match values.len() {
        0 => "—".to_string(),
        1 => format!("{:.decimals$}", values[0]),
        _ => {
            let (m, s) = mean_std(values);
            format!("{m:.decimals$} ± {s:.decimals$}")
        }
    }
}

/// The text of a missing p-value (fewer than two seeds).
pub const NEEDS_SEEDS: &str = "n/a — needs ≥ 2 seeds";

/// A two-sided p-value with a `*` below 0.05 (the paper's 95% level).
pub fn p_value(test: Option<TTest>) -> String {
    match test {
        None => NEEDS_SEEDS.to_string(),
        Some(t) if t.p.is_nan() => "—".to_string(),
        Some(t) => {
            let star = if t.p < 0.05 { " *" } else { "" };
            if t.p < 0.001 {
                format!("< 0.001{star}")
            } else {
                format!("{:.3}{star}", t.p)
            }
        }
    }
}

/// A relative change in percent with its sign, e.g. `+12.3%`.
pub fn percent_change(new: f64, old: f64) -> String {
    if old == 0.0 || !old.is_finite() || !new.is_finite() {
        return "—".to_string();
    }
    format!("{:+.1}%", (new / old - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_pipe_table() {
        let t = table(
            &["Model", "Recall@20", "p"],
            &[Align::Left, Align::Right],
            &[
                vec!["MARIO".into(), "0.1583 ± 0.0012".into(), "—".into()],
                vec!["a|b".into(), "0.1".into()],
            ],
        );
        assert_eq!(
            t,
            "| Model | Recall@20 | p |\n\
             |:---|---:|:---|\n\
             | MARIO | 0.1583 ± 0.0012 | — |\n\
             | a\\|b | 0.1 |  |\n"
        );
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(mean_pm_std(&[0.1, 0.2, 0.3], 4), "0.2000 ± 0.1000");
        assert_eq!(mean_pm_std(&[0.12345], 3), "0.123");
        assert_eq!(mean_pm_std(&[], 3), "—");
        assert_eq!(p_value(None), NEEDS_SEEDS);
        let t = |p| Some(TTest { t: 1.0, df: 2, p });
        assert_eq!(p_value(t(0.0312)), "0.031 *");
        assert_eq!(p_value(t(0.2)), "0.200");
        assert_eq!(p_value(t(1e-5)), "< 0.001 *");
        assert_eq!(percent_change(1.1, 1.0), "+10.0%");
        assert_eq!(percent_change(0.9, 1.0), "-10.0%");
        assert_eq!(percent_change(1.0, 0.0), "—");
    }
}
