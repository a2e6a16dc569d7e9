//! Figure 6: the weight μ of the modality-preservation loss, μ ∈ {0, 0.2, …, 1}.

use super::*;

impl Lab {
    pub(super) fn mu(&mut self) -> anyhow::Result<Outcome> {
        let variants: Vec<Variant> = MU_VALUES
            .iter()
            .map(|&mu| {
                let label = if mu == self.base.mu {
                    format!("μ = {mu} = MARIO")
                } else {
                    format!("μ = {mu}")
                };
                self.variant(label, |c| c.mu = mu)
            })
            .collect();
        let rows = self.rows(&variants, false)?;
        // p-values against full MARIO, which is the base μ when it is in the sweep.
        let reference = MU_VALUES
            .iter()
            .position(|&m| m == self.base.mu)
            .unwrap_or(MU_VALUES.len() - 1);
        let mut md = self.header(
            Which::Mu,
            "weight μ of the modality-preservation loss",
            "μ scales the MP loss (Eq. 11); μ = 0 disables the decoders. The paper finds \
             accuracy worst at μ = 0 and best at μ = 1.",
        );
        md.push_str(&self.accuracy_section(&rows, reference));
        let mut findings = Vec::new();
        let mut best_at_one = 0;
        let mut worst_at_zero = 0;
        for (key, title) in METRICS {
            let means: Vec<f64> = rows.iter().map(|r| r.mean(key)).collect();
            let hi = argmax(&means);
            let lo = argmax(&means.iter().map(|v| -v).collect::<Vec<_>>());
            best_at_one += usize::from(hi == MU_VALUES.len() - 1);
            worst_at_zero += usize::from(lo == 0);
            findings.push(format!(
                "{title}: best at μ = {} ({:.4}), worst at μ = {} ({:.4}); μ = 1 vs μ = 0: {} (p = {})",
                MU_VALUES[hi],
                means[hi],
                MU_VALUES[lo],
                means[lo],
                percent_change(means[MU_VALUES.len() - 1], means[0]),
                p_value(paired_t_test(
                    &rows[MU_VALUES.len() - 1].values(key),
                    &rows[0].values(key)
                )),
            ));
        }
        let headline = format!(
            "best at μ = 1 on {best_at_one}/6 metrics, worst at μ = 0 on {worst_at_zero}/6 (paper: 6/6, 6/6)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Mu, &rows));
        let series = |key: &str, colour: &'static str, dashed: bool| LineSeries {
            points: rows
                .iter()
                .zip(MU_VALUES)
                .map(|(r, mu)| {
                    let (m, s) = mean_std(&r.values(key));
                    (mu as f64, m, s)
                })
                .collect(),
            colour,
            dashed,
        };
        let panel = (480.0, 340.0);
        let panels = vec![
            charts::line_panel(
                panel,
                "Recall",
                "μ (weight of the MP loss)",
                "Recall (test)",
                &MU_VALUES.map(f64::from),
                &[
                    series("recall@20", PALETTE[0], false),
                    series("recall@10", PALETTE[0], true),
                ],
            ),
            charts::line_panel(
                panel,
                "NDCG",
                "μ (weight of the MP loss)",
                "NDCG (test)",
                &MU_VALUES.map(f64::from),
                &[
                    series("ndcg@20", PALETTE[3], false),
                    series("ndcg@10", PALETTE[3], true),
                ],
            ),
        ];
        let legend = [
            legend_line("Recall@20", PALETTE[0], Mark::Line),
            legend_line("Recall@10", PALETTE[0], Mark::Dotted),
            legend_line("NDCG@20", PALETTE[3], Mark::Line),
            legend_line("NDCG@10", PALETTE[3], Mark::Dotted),
        ];
        let svg = charts::figure(
            "Figure 6 — accuracy vs μ",
            Some(&self.figure_subtitle()),
            &legend,
            &panels,
            2,
            panel,
        );
        Ok(Outcome {
            title: "Accuracy vs μ (weight of the MP loss)".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, reference),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }
}
