//! Table 6 / Figure 3: modality preservation of MARIO, MARIO with μ = 0 and early
//! fusion (the measure itself is in `preservation_measure.rs`).

use super::*;

impl Lab {
    pub(super) fn preservation(&mut self) -> anyhow::Result<Outcome> {
        let sides = self.side_modalities();
        anyhow::ensure!(
            !sides.is_empty(),
            "the preservation experiment needs a side modality (visual, textual, …) in the dataset"
        );
        let variants = vec![
            self.mario(),
            self.variant("MARIO μ = 0 (no MP loss)", |c| c.mu = 0.0),
            self.variant("early fusion", |c| {
                c.fusion_stage = FusionStage::Early;
                c.fusion = FusionKind::Attention;
            }),
        ];
        let rows = self.rows(&variants, true)?;
        let mut degree = vec![0u32; self.dataset.n_items];
        for items in &self.dataset.train {
            for &i in items {
                degree[i as usize] += 1;
            }
        }
        let threshold = self.high_degree;
        let high: Vec<bool> = degree.iter().map(|&d| d as usize > threshold).collect();
        let n_high = high.iter().filter(|&&h| h).count();
        // Per (row, modality): the per-seed averages over all / high-degree items.
        let averages = |row: &Row, m: &str, high_only: bool| -> Vec<f64> {
            row.runs
                .iter()
                .filter_map(|r| {
                    let diffs = r.preservation.as_ref()?.get(m)?;
                    preservation_measure::masked_mean(diffs, |i| !high_only || high[i])
                })
                .collect()
        };
        let mut md = self.header(
            Which::Preservation,
            "modality preservation of the final item embeddings",
            "For every item, the mean over all other items of |cos(raw features) − cos(final \
             embedding)| for each side modality (§3's p- vs f-similarities; smaller = better \
             preserved), averaged over all items and over high-degree items. MARIO's final \
             embedding of modality m is its m-modality embedding (the input of the attention); \
             the early-fusion variant adds the side-modality embeddings to the CF item \
             embedding before propagation and has one fused item embedding. The paper reports \
             MARIO smallest everywhere, and early fusion (MMGCN) far larger.",
        );
        let _ = writeln!(
            md,
            "High-degree items: more than {threshold} training interactions (`--high-degree`): \
             {n_high} of {} items (training degree: median {}, max {}).\n",
            self.dataset.n_items,
            median(&degree),
            degree.iter().max().copied().unwrap_or(0)
        );
        let _ = writeln!(
            md,
            "## Table 6 — average |p-similarity − f-similarity| (mean ± std over seeds; smaller is better)\n"
        );
        let mut header = vec!["Items", "Modality"];
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        header.extend(labels.iter().map(String::as_str));
        let mut table_rows = Vec::new();
        let mut mario_smallest = 0;
        let mut mario_below_early = 0;
        let mut mario_below_mu0 = 0;
        let mut cells_total = 0;
        let mut spread = [0.0f64; 3];
        let mut json_cells = Vec::new();
        for (scope, high_only) in [("All items", false), ("High-degree", true)] {
            for m in &sides {
                let per_row: Vec<Vec<f64>> =
                    rows.iter().map(|r| averages(r, m, high_only)).collect();
                if per_row.iter().all(Vec::is_empty) {
                    table_rows.push(
                        [scope.to_string(), m.clone()]
                            .into_iter()
                            .chain(rows.iter().map(|_| "n/a (no such items)".to_string()))
                            .collect(),
                    );
                    continue;
                }
                let means: Vec<f64> = per_row.iter().map(|v| mean_std(v).0).collect();
                for (acc, v) in spread.iter_mut().zip(&per_row) {
                    *acc += mean_std(v).1;
                }
                let best = argmax(&means.iter().map(|v| -v).collect::<Vec<_>>());
                cells_total += 1;
                mario_smallest += usize::from(best == 0);
                mario_below_mu0 += usize::from(means[0] < means[1]);
                mario_below_early += usize::from(means[0] < means[2]);
                let mut cells = vec![scope.to_string(), m.clone()];
                for (i, v) in per_row.iter().enumerate() {
                    let mut c = mean_pm_std(v, 4);
                    if i == best {
                        c = format!("**{c}**");
                    }
                    if i > 0 && self.seeds.len() >= 2 {
                        let _ = write!(c, " (p = {})", p_value(paired_t_test(v, &per_row[0])));
                    }
                    cells.push(c);
                }
                json_cells.push(json!({
                    "items": scope, "modality": m,
                    "per_variant": rows.iter().zip(&per_row).map(|(r, v)| json!({"label": r.label, "per_seed": v})).collect::<Vec<_>>(),
                }));
                table_rows.push(cells);
            }
        }
        let align: Vec<Align> = [Align::Left, Align::Left]
            .into_iter()
            .chain(rows.iter().map(|_| Align::Right))
            .collect();
        md.push_str(&markdown::table(&header, &align, &table_rows));
        let _ = writeln!(
            md,
            "\nBold: smallest in the row. p: paired t-test against MARIO over seeds{}.\n",
            if self.seeds.len() < 2 {
                format!(" ({})", markdown::NEEDS_SEEDS)
            } else {
                String::new()
            }
        );
        md.push_str(&self.accuracy_section(&rows, 0));
        let findings = vec![
            format!(
                "MARIO has the smallest difference in {mario_smallest}/{cells_total} cells (paper: all)"
            ),
            format!(
                "MARIO < MARIO μ = 0 in {mario_below_mu0}/{cells_total} cells: {}",
                if mario_below_mu0 == cells_total {
                    "the MP loss improves preservation everywhere"
                } else if mario_below_mu0 == 0 {
                    "the MP loss does not improve preservation here"
                } else {
                    "the MP loss's effect on preservation is mixed here"
                }
            ),
            format!(
                "Seed-to-seed spread (std over seeds, mean over cells): MARIO {:.4}, MARIO μ = 0 {:.4}, early fusion {:.4}",
                spread[0] / cells_total.max(1) as f64,
                spread[1] / cells_total.max(1) as f64,
                spread[2] / cells_total.max(1) as f64
            ),
            format!(
                "MARIO < early fusion in {mario_below_early}/{cells_total} cells (paper: early fusion is far worse)"
            ),
        ];
        let headline = format!(
            "MARIO smallest in {mario_smallest}/{cells_total} cells; below μ = 0 in {mario_below_mu0}/{cells_total}, below early fusion in {mario_below_early}/{cells_total} (paper: all)"
        );
        md.push_str(&findings_section(&headline, &findings));
        md.push_str(&self.figure_and_runs(Which::Preservation, &rows));
        // Figure 3: densities of the per-item differences, pooled over seeds.
        let pooled = |row: &Row, m: &str, high_only: bool| -> Vec<f64> {
            row.runs
                .iter()
                .filter_map(|r| r.preservation.as_ref()?.get(m))
                .flat_map(|d| {
                    d.iter()
                        .enumerate()
                        .filter(|(i, _)| !high_only || high[*i])
                        .map(|(_, v)| *v as f64)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let all_values: Vec<f64> = rows
            .iter()
            .flat_map(|r| sides.iter().flat_map(move |m| pooled(r, m, false)))
            .collect();
        let lo = all_values.iter().copied().fold(f64::MAX, f64::min);
        let hi = all_values.iter().copied().fold(f64::MIN, f64::max);
        let span = (hi - lo).max(0.02);
        let x = ((lo - span * 0.15).max(0.0), hi + span * 0.15);
        let mut curves_per_panel = Vec::new();
        let mut y_max = 0.0f64;
        for row in &rows {
            for m in &sides {
                let all = pooled(row, m, false);
                let hd = pooled(row, m, true);
                let c_all = charts::kde(&all, x, 240);
                let c_hd = charts::kde(&hd, x, 240);
                y_max = c_all.iter().chain(&c_hd).map(|p| p.1).fold(y_max, f64::max);
                let mean = |v: &[f64]| (!v.is_empty()).then(|| mean_std(v).0);
                curves_per_panel.push((
                    format!("{} — {m}", row.label),
                    vec![
                        DensityCurve {
                            points: c_all,
                            mean: mean(&all),
                            colour: PALETTE[0],
                        },
                        DensityCurve {
                            points: c_hd,
                            mean: mean(&hd),
                            colour: PALETTE[3],
                        },
                    ],
                ));
            }
        }
        let panel = (470.0, 300.0);
        let panels: Vec<String> = curves_per_panel
            .iter()
            .map(|(title, curves)| {
                charts::density_panel(
                    panel,
                    title,
                    "average |p-similarity − f-similarity| per item",
                    x,
                    y_max,
                    curves,
                )
            })
            .collect();
        let legend = [
            legend_line(
                &format!("all items (n = {})", self.dataset.n_items),
                PALETTE[0],
                Mark::Line,
            ),
            legend_line(
                &format!("high-degree items, > {threshold} interactions (n = {n_high})"),
                PALETTE[3],
                Mark::Line,
            ),
            legend_line("mean (dotted)", "#555", Mark::Dotted),
        ];
        let svg = charts::figure(
            "Figure 3 — density of per-item similarity differences",
            Some(&format!(
                "{} · {} seed{} pooled · smaller = modality better preserved{}",
                self.dataset.name,
                self.seeds.len(),
                if self.seeds.len() == 1 { "" } else { "s" },
                if self.quick { " · QUICK RUN" } else { "" }
            )),
            &legend,
            &panels,
            sides.len(),
            panel,
        );
        let mut json = self.rows_json(&rows, 0);
        json["table6"] = json!(json_cells);
        json["high_degree_threshold"] = json!(threshold);
        json["high_degree_items"] = json!(n_high);
        Ok(Outcome {
            title: "Modality preservation (p- vs f-similarities)".into(),
            markdown: md,
            svg,
            json,
            headline,
            runs: rows.iter().flat_map(|r| r.runs.clone()).collect(),
        })
    }

    // ------------------------------------------------------------------ rendering
}
