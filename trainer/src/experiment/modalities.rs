//! Table 4: MARIO against MARIO without each modality of the dataset.

use super::*;

impl Lab {
    pub(super) fn modalities(&mut self) -> anyhow::Result<Outcome> {
        let full = self.full_modalities();
        let mut variants = vec![self.mario()];
        for m in &full {
            let rest: Vec<String> = full.iter().filter(|x| *x != m).cloned().collect();
            if rest.is_empty() {
                continue;
            }
            variants.push(self.variant(format!("MARIO w/o {m}"), |c| c.modalities = rest));
        }
        let rows = self.rows(&variants, false)?;
        let mut md = self.header(
            Which::Modalities,
            "MARIO vs MARIO without each modality",
            "Each row drops one modality (its encoder, graph and attention input); the \
             paper reports that MARIO with all modalities is best on every metric.",
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let (holds, findings) = versus_reference(&rows);
        let headline = format!(
            "MARIO beats {holds}/{} ablations on all 6 metrics (paper: all)",
            rows.len() - 1
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Modalities, &rows));
        let svg = self.metric_bars("Table 4 — modalities", &rows);
        Ok(Outcome {
            title: "MARIO vs MARIO w/o each modality".into(),
            markdown: md,
            svg,
            json: self.rows_json(&rows, 0),
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }
}
