//! Table 5: attention fusion (MARIO) against mean, max and fc fusion.

use super::*;

impl Lab {
    pub(super) fn fusion(&mut self) -> anyhow::Result<Outcome> {
        let mut variants = vec![Variant {
            label: format!("MARIO ({})", self.base.fusion),
            config: self.base.clone(),
        }];
        for f in [
            FusionKind::Attention,
            FusionKind::Mean,
            FusionKind::Max,
            FusionKind::Fc,
        ] {
            if f != self.base.fusion {
                variants.push(self.variant(format!("MARIO_{f}"), |c| {
                    c.fusion = f;
                    c.fusion_stage = FusionStage::Late;
                }));
            }
        }
        let rows = self.rows(&variants, false)?;
        let mut md = self.header(
            Which::Fusion,
            "modality-aware attention vs mean / max / fc fusion",
            "Only the fusion of the modality embeddings differs: `mean` and `max` pool them, \
             `fc` applies a learnt linear layer to their concatenation. The paper reports \
             attention ≥ mean > max > fc.",
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let (holds, mut findings) = versus_reference(&rows);
        findings.push(ordering_line(&rows, "recall@20", "Recall@20"));
        findings.push(ordering_line(&rows, "ndcg@20", "NDCG@20"));
        let headline = format!(
            "attention beats {holds}/{} other fusions on all 6 metrics (paper: all)",
            rows.len() - 1
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Fusion, &rows));
        let svg = self.metric_bars("Table 5 — fusion", &rows);
        Ok(Outcome {
            title: "Attention vs mean / max / fc fusion".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, 0),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }
}
