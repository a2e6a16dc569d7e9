//! Figure 5: the CF backbones (BPRMF, NGCF, LightGCN) alone and inside MARIO.

use super::*;

impl Lab {
    pub(super) fn backbones(&mut self) -> anyhow::Result<Outcome> {
        let cfs = [CfBackbone::Bprmf, CfBackbone::Ngcf, CfBackbone::Lightgcn];
        let pretty = |cf: CfBackbone| match cf {
            CfBackbone::Bprmf => "BPRMF",
            CfBackbone::Ngcf => "NGCF",
            CfBackbone::Lightgcn => "LightGCN",
        };
        let mut variants = Vec::new();
        for cf in cfs {
            variants.push(self.variant(pretty(cf), |c| {
                c.cf = cf;
                c.modalities = vec![INTERACTION.to_string()];
                c.fusion = FusionKind::Attention;
                c.fusion_stage = FusionStage::Late;
            }));
            variants.push(self.variant(format!("MARIO ({})", pretty(cf)), |c| c.cf = cf));
        }
        let rows = self.rows(&variants, false)?;
        let reference = rows
            .iter()
            .position(|r| r.key == "mario")
            .unwrap_or(rows.len() - 1);
        let mut md = self.header(
            Which::Backbones,
            "CF backbones alone vs MARIO equipped with each",
            "A backbone alone is MARIO restricted to the interaction modality (no side \
             modalities, so no decoders or attention choice). The paper reports that MARIO \
             improves every backbone on every metric and that MARIO (LightGCN) is best.",
        );
        md.push_str(&self.accuracy_section(&rows, reference));
        // Relative improvement of MARIO (X) over X, with the paired test between them.
        let mut header = vec!["Backbone"];
        let mut cells_rows = Vec::new();
        let mut improved_all = 0;
        let mut findings = Vec::new();
        for pair in rows.chunks(2) {
            let (alone, with) = (&pair[0], &pair[1]);
            let mut cells = vec![alone.label.clone()];
            let mut wins = 0;
            for (key, _) in METRICS {
                let (a, w) = (alone.mean(key), with.mean(key));
                wins += usize::from(w > a);
                cells.push(format!(
                    "{} (p = {})",
                    percent_change(w, a),
                    p_value(paired_t_test(&with.values(key), &alone.values(key)))
                ));
            }
            improved_all += usize::from(wins == METRICS.len());
            findings.push(format!(
                "{} vs {}: better on {wins}/6 metrics; Recall@20 {:.4} vs {:.4} ({}), NDCG@20 {:.4} vs {:.4} ({})",
                with.label,
                alone.label,
                with.mean("recall@20"),
                alone.mean("recall@20"),
                percent_change(with.mean("recall@20"), alone.mean("recall@20")),
                with.mean("ndcg@20"),
                alone.mean("ndcg@20"),
                percent_change(with.mean("ndcg@20"), alone.mean("ndcg@20")),
            ));
            cells_rows.push(cells);
        }
        header.extend(METRICS.iter().map(|(_, t)| *t));
        let _ = write!(
            md,
            "\n### Relative improvement of MARIO (X) over X\n\n\
             Change of the mean; p: paired t-test of MARIO (X) vs X over seeds.\n\n{}",
            markdown::table(
                &header,
                &[&[Align::Left][..], &[Align::Right; 6][..]].concat(),
                &cells_rows
            )
        );
        let marios: Vec<&Row> = rows.iter().skip(1).step_by(2).collect();
        let best_mario = marios
            .iter()
            .max_by(|a, b| a.mean("recall@20").total_cmp(&b.mean("recall@20")))
            .map(|r| r.label.clone())
            .unwrap_or_default();
        findings.push(format!(
            "Best MARIO by Recall@20: {best_mario} (paper: MARIO (LightGCN)); {}",
            ordering_line(&rows, "recall@20", "all six by Recall@20")
        ));
        let headline = format!(
            "MARIO improves {improved_all}/3 backbones on all 6 metrics; best MARIO: {best_mario} (paper: 3/3, LightGCN)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Backbones, &rows));
        let groups: Vec<String> = cfs.iter().map(|&c| pretty(c).to_string()).collect();
        let panel = (500.0, 360.0);
        let panels: Vec<String> = [("recall@20", "Recall@20"), ("ndcg@20", "NDCG@20")]
            .iter()
            .map(|(key, title)| {
                let alone = BarSeries {
                    values: rows
                        .iter()
                        .step_by(2)
                        .map(|r| Some(mean_std(&r.values(key))))
                        .collect(),
                    labels: vec![None; 3],
                };
                let with = BarSeries {
                    values: rows
                        .iter()
                        .skip(1)
                        .step_by(2)
                        .map(|r| Some(mean_std(&r.values(key))))
                        .collect(),
                    labels: rows
                        .chunks(2)
                        .map(|p| {
                            let (a, w) = (p[0].mean(key), p[1].mean(key));
                            Some(format!("{w:.3}\n{}", percent_change(w, a)))
                        })
                        .collect(),
                };
                charts::bar_panel(
                    panel,
                    title,
                    &format!("{title} (test)"),
                    &groups,
                    &[alone, with],
                )
            })
            .collect();
        let legend = [
            legend_line("backbone alone (interactions only)", PALETTE[0], Mark::Bar),
            legend_line("MARIO with the backbone", PALETTE[1], Mark::Bar),
        ];
        let svg = charts::figure(
            "Figure 5 — CF backbones alone vs MARIO with each",
            Some(&self.figure_subtitle()),
            &legend,
            &panels,
            2,
            panel,
        );
        Ok(Outcome {
            title: "CF backbones alone vs MARIO with each".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, reference),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }
}
