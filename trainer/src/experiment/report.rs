//! Writing an experiment's report: Markdown sections (setup, accuracy with paired
//! t-tests, findings), SVG figures, the JSON of every number, and the index README.

use super::*;

impl Lab {
    pub(super) fn header(&self, which: Which, title: &str, intro: &str) -> String {
        let mut md = format!(
            "# {} — {title}\n\nPaper: MARIO (CIKM 2022), {}. {intro}\n\n",
            which.name(),
            which.paper()
        );
        if self.quick {
            let _ = writeln!(
                md,
                "> **Quick run** (`--quick`: at most {} epochs, patience {}): these numbers check \
                 the pipeline and are not converged; do not draw conclusions from them.\n",
                self.base.epochs, self.base.patience
            );
        }
        md
    }

    pub(super) fn figure_subtitle(&self) -> String {
        format!(
            "{} · {} seed{} · mean ± std{}",
            self.dataset.name,
            self.seeds.len(),
            if self.seeds.len() == 1 { "" } else { "s" },
            if self.quick { " · QUICK RUN" } else { "" }
        )
    }

    /// The accuracy table (mean ± std) and the paired t-test table against `reference`.
    pub(super) fn accuracy_section(&self, rows: &[Row], reference: usize) -> String {
        let mut md = format!(
            "## Accuracy (test split at the best validation epoch; mean ± std over {} seed{})\n\n",
            self.seeds.len(),
            if self.seeds.len() == 1 { "" } else { "s" }
        );
        let mut header = vec!["Model"];
        header.extend(METRICS.iter().map(|(_, t)| *t));
        let align: Vec<Align> = [Align::Left]
            .into_iter()
            .chain(METRICS.iter().map(|_| Align::Right))
            .collect();
        let best: Vec<usize> = METRICS
            .iter()
            .map(|(k, _)| argmax(&rows.iter().map(|r| r.mean(k)).collect::<Vec<_>>()))
            .collect();
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut cells = vec![if i == reference {
                    format!("{} (reference)", r.label)
                } else {
                    r.label.clone()
                }];
                for (j, (k, _)) in METRICS.iter().enumerate() {
                    let c = mean_pm_std(&r.values(k), 4);
                    cells.push(if best[j] == i { format!("**{c}**") } else { c });
                }
                cells
            })
            .collect();
        md.push_str(&markdown::table(&header, &align, &table_rows));
        md.push_str("\nBold: best mean per column.\n\n");
        let _ = writeln!(
            md,
            "### Paired t-test against {} (two-sided p over seeds; * p < 0.05)\n",
            rows[reference].label
        );
        let p_rows: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != reference)
            .map(|(_, r)| {
                let mut cells = vec![r.label.clone()];
                for (k, _) in METRICS {
                    cells.push(p_value(paired_t_test(
                        &r.values(k),
                        &rows[reference].values(k),
                    )));
                }
                cells
            })
            .collect();
        md.push_str(&markdown::table(&header, &align, &p_rows));
        md.push('\n');
        md
    }

    pub(super) fn figure_and_runs(&self, which: Which, rows: &[Row]) -> String {
        let mut md = format!(
            "## Figure\n\n![{} figure]({}.svg)\n\n## Runs\n\n",
            which.name(),
            which.name()
        );
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let epochs: Vec<String> = r
                    .runs
                    .iter()
                    .map(|x| {
                        format!(
                            "{}: {}/{}",
                            x.seed,
                            x.best_epoch.map_or("—".into(), |e| e.to_string()),
                            x.epochs_run
                        )
                    })
                    .collect();
                let seconds: f64 = r.runs.iter().map(|x| x.seconds).sum();
                let reused = r.runs.iter().filter(|x| x.reused).count();
                vec![
                    r.label.clone(),
                    format!("`runs/{}-seed<N>/`", r.key),
                    epochs.join(", "),
                    duration(seconds),
                    format!("{reused}/{}", r.runs.len()),
                ]
            })
            .collect();
        md.push_str(&markdown::table(
            &[
                "Model",
                "Run directories",
                "seed: best epoch / epochs run",
                "Training time (all seeds)",
                "Reused",
            ],
            &[
                Align::Left,
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
            ],
            &table_rows,
        ));
        md.push('\n');
        md
    }

    /// The setup section: data, config, seeds, backend, commit, wall time.
    pub(super) fn setup_section(
        &self,
        wall: f64,
        train_seconds: f64,
        trained: usize,
        reused: usize,
    ) -> String {
        let mut config = self.base.clone();
        config.seed = 0;
        let toml = toml::to_string(&config).unwrap_or_default();
        let toml: String = toml
            .lines()
            .filter(|l| !l.starts_with("seed ="))
            .map(|l| format!("{l}\n"))
            .collect();
        format!(
            "## Setup\n\n\
             - Data: `{}` — {} ({} users, {} items, {} training interactions; modalities {})\n\
             - Seeds: {} (each seed is one run per variant; p-values pair runs by seed)\n\
             - Mode: {}\n\
             - Backend: {} [{}]\n\
             - Commit: `{}`\n\
             - Wall time of this experiment: {} ({} sub-runs trained by this invocation, {} reused \
               from an earlier one); training time of its sub-runs: {}\n\
             - Written: {}\n\n\
             Base configuration (every variant changes only what its name says; `seed` is set per run):\n\n\
             ```toml\n{}```\n",
            self.data_dir.display(),
            self.dataset.name,
            self.dataset.n_users,
            self.dataset.n_items,
            self.dataset.n_train(),
            self.all_modalities().join(", "),
            self.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if self.quick {
                format!(
                    "**quick** (`--quick`: ≤ {} epochs, patience {})",
                    self.base.epochs, self.base.patience
                )
            } else {
                format!(
                    "full (≤ {} epochs, early stopping after {} evaluations without a better validation Recall@20)",
                    self.base.epochs, self.base.patience
                )
            },
            self.backend.name,
            self.backend.adapter,
            self.commit,
            duration(wall),
            trained,
            reused,
            duration(train_seconds),
            utc_now(),
            toml
        )
    }

    /// Bars of Recall/NDCG@10/20 per variant (Tables 4 and 5).
    pub(super) fn metric_bars(&self, title: &str, rows: &[Row]) -> String {
        let keys = [
            ("recall@10", "Recall@10"),
            ("recall@20", "Recall@20"),
            ("ndcg@10", "NDCG@10"),
            ("ndcg@20", "NDCG@20"),
        ];
        let groups: Vec<String> = keys.iter().map(|(_, t)| t.to_string()).collect();
        let series: Vec<BarSeries> = rows
            .iter()
            .map(|r| BarSeries {
                values: keys
                    .iter()
                    .map(|(k, _)| Some(mean_std(&r.values(k))))
                    .collect(),
                labels: vec![None; keys.len()],
            })
            .collect();
        let panel = (940.0, 400.0);
        let bars = charts::bar_panel(panel, "", "test accuracy", &groups, &series);
        let legend: Vec<LegendItem> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| legend_line(&r.label, PALETTE[i % PALETTE.len()], Mark::Bar))
            .collect();
        charts::figure(
            title,
            Some(&format!("{}; error bars: ±1 std", self.figure_subtitle())),
            &legend,
            &[bars],
            1,
            panel,
        )
    }

    pub(super) fn rows_json(&self, rows: &[Row], reference: usize) -> serde_json::Value {
        json!({
            "reference": rows[reference].label,
            "rows": rows.iter().map(|r| {
                let metrics: serde_json::Map<String, serde_json::Value> = METRICS.iter().map(|(k, _)| {
                    let v = r.values(k);
                    let (m, s) = mean_std(&v);
                    let t = paired_t_test(&v, &rows[reference].values(k));
                    ((*k).to_string(), json!({"per_seed": v, "mean": m, "std": s, "p_vs_reference": t.map(|t| t.p)}))
                }).collect();
                json!({
                    "label": r.label,
                    "run": r.key,
                    "seeds": r.runs.iter().map(|x| x.seed).collect::<Vec<_>>(),
                    "best_epochs": r.runs.iter().map(|x| x.best_epoch).collect::<Vec<_>>(),
                    "epochs_run": r.runs.iter().map(|x| x.epochs_run).collect::<Vec<_>>(),
                    "seconds": r.runs.iter().map(|x| x.seconds).collect::<Vec<_>>(),
                    "test": metrics,
                })
            }).collect::<Vec<_>>(),
        })
    }

    /// Writes `<experiment>.md/.svg/.json` and refreshes `README.md`.
    pub(super) fn write(
        &self,
        which: Which,
        mut outcome: Outcome,
        wall: f64,
    ) -> anyhow::Result<()> {
        let runs = &outcome.runs;
        let trained = runs.iter().filter(|r| !r.reused).count();
        let reused = runs.len() - trained;
        let train_seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        outcome
            .markdown
            .push_str(&self.setup_section(wall, train_seconds, trained, reused));
        let name = which.name();
        crate::io::write_atomic(
            &self.out.join(format!("{name}.md")),
            outcome.markdown.as_bytes(),
        )?;
        crate::io::write_atomic(
            &self.out.join(format!("{name}.svg")),
            outcome.svg.as_bytes(),
        )?;
        let mut json = outcome.json;
        json["experiment"] = json!(name);
        json["paper"] = json!(which.paper());
        json["title"] = json!(outcome.title);
        json["headline"] = json!(outcome.headline);
        json["seeds"] = json!(self.seeds);
        json["quick"] = json!(self.quick);
        json["backend"] = json!(self.backend.name);
        json["adapter"] = json!(self.backend.adapter);
        json["commit"] = json!(self.commit);
        json["dataset"] = self.fingerprint.clone();
        json["data_dir"] = json!(self.data_dir);
        json["config"] = serde_json::to_value(&self.base)?;
        json["wall_seconds"] = json!(wall);
        json["training_seconds"] = json!(train_seconds);
        json["written"] = json!(utc_now());
        crate::io::write_json(&self.out.join(format!("{name}.json")), &json)?;
        eprintln!(
            "{name}: {} — wrote {}",
            outcome.headline,
            self.out.join(format!("{name}.md")).display()
        );
        write_index(&self.out)
    }
}

/// Seconds → `1 h 02 min`, `3 min 05 s`, `12.3 s`.
pub(super) fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s >= 3600.0 {
        format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
pub(super) fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `README.md`: one line per experiment report present in `out`.
pub(super) fn write_index(out: &Path) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut setup = None;
    for w in Which::EACH {
        let Some(j) = read_json(&out.join(format!("{}.json", w.name()))) else {
            continue;
        };
        let name = w.name();
        rows.push(vec![
            format!("[{name}]({name}.md)"),
            w.paper().to_string(),
            j["title"].as_str().unwrap_or("").to_string(),
            j["headline"].as_str().unwrap_or("").to_string(),
            format!("[{name}.svg]({name}.svg)"),
            format!(
                "{}{}",
                j["seeds"]
                    .as_array()
                    .map(|s| s
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                if j["quick"].as_bool() == Some(true) {
                    " (quick)"
                } else {
                    ""
                }
            ),
            duration(j["wall_seconds"].as_f64().unwrap_or(0.0)),
            j["written"].as_str().unwrap_or("").to_string(),
        ]);
        setup.get_or_insert(j);
    }
    let mut md = String::from(
        "# MARIO experiment reports\n\nThe paper's experiments (MARIO, CIKM 2022, §5.2) \
         reproduced with `mario experiment`. Each report has the accuracy table (mean ± std \
         over seeds, test split at the best validation epoch), paired t-tests against full \
         MARIO, the figure, the sub-runs and the setup.\n\n",
    );
    if rows.is_empty() {
        md.push_str("No report yet.\n");
    } else {
        md.push_str(&markdown::table(
            &[
                "Report",
                "Paper",
                "What",
                "Paper's ordering here",
                "Figure",
                "Seeds",
                "Wall time",
                "Written",
            ],
            &[Align::Left; 8],
            &rows,
        ));
    }
    if let Some(j) = setup {
        let _ = write!(
            md,
            "\nData: `{}` ({}); backend {} [{}]; commit `{}`.{}\n\nSub-runs are in `runs/<name>-seed<N>/` \
             (normal `mario train` run directories) and are reused by later invocations with \
             the same configuration.\n",
            j["data_dir"].as_str().unwrap_or("?"),
            j["dataset"]["name"].as_str().unwrap_or("?"),
            j["backend"].as_str().unwrap_or("?"),
            j["adapter"].as_str().unwrap_or("?"),
            j["commit"].as_str().unwrap_or("?"),
            if j["quick"].as_bool() == Some(true) {
                " **Quick run**: not converged, for checking the pipeline only."
            } else {
                ""
            }
        );
    }
    crate::io::write_atomic(&out.join("README.md"), md.as_bytes())
}

pub(super) fn legend_line(name: &str, colour: &'static str, mark: Mark) -> LegendItem {
    LegendItem {
        name: name.to_string(),
        colour,
        mark,
    }
}

/// Index of the largest value (NaN loses); 0 for an empty slice.
pub(super) fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

pub(super) fn median(values: &[u32]) -> u32 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Compares the reference row (`rows[0]`) with every other row: (how many rows it
/// beats on every metric, one finding line per row).
pub(super) fn versus_reference(rows: &[Row]) -> (usize, Vec<String>) {
    let mut holds = 0;
    let findings = rows[1..]
        .iter()
        .map(|row| {
            let (wins, text) = versus(&rows[0], row);
            holds += usize::from(wins == METRICS.len());
            text
        })
        .collect();
    (holds, findings)
}

/// How `a` compares with `b` on every metric: (metrics where `a` is higher, a line).
pub(super) fn versus(a: &Row, b: &Row) -> (usize, String) {
    let wins = METRICS
        .iter()
        .filter(|(k, _)| a.mean(k) > b.mean(k))
        .count();
    let losses: Vec<String> = METRICS
        .iter()
        .filter(|(k, _)| a.mean(k) <= b.mean(k))
        .map(|(k, t)| format!("{t} {:.4} vs {:.4}", a.mean(k), b.mean(k)))
        .collect();
    let detail = |k: &str, t: &str| {
        format!(
            "{t} {:.4} vs {:.4} ({}, p = {})",
            a.mean(k),
            b.mean(k),
            percent_change(a.mean(k), b.mean(k)),
            p_value(paired_t_test(&a.values(k), &b.values(k)))
        )
    };
    let mut line = format!(
        "{} vs {}: {} higher on {wins}/6 metrics — {}; {}",
        a.label,
        b.label,
        a.label,
        detail("recall@20", "Recall@20"),
        detail("ndcg@20", "NDCG@20")
    );
    if !losses.is_empty() {
        let _ = write!(line, "; not higher on: {}", losses.join(", "));
    }
    (wins, line)
}

/// `Recall@20: A (0.16) > B (0.15) > …`.
pub(super) fn ordering_line(rows: &[Row], key: &str, title: &str) -> String {
    let mut order: Vec<(&str, f64)> = rows
        .iter()
        .map(|r| (r.label.as_str(), r.mean(key)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    format!(
        "Ordering by {title}: {}",
        order
            .iter()
            .map(|(l, v)| format!("{l} ({v:.4})"))
            .collect::<Vec<_>>()
            .join(" > ")
    )
}

/// `test Recall@20 0.1583 NDCG@20 0.0677 (best epoch 20 of 30, 38.0 s)`.
pub(super) fn summary_line(r: &RunResult) -> String {
    format!(
        "test Recall@20 {:.4} NDCG@20 {:.4} (best epoch {} of {}, {})",
        r.metric("recall@20"),
        r.metric("ndcg@20"),
        r.best_epoch.map_or("—".into(), |e| e.to_string()),
        r.epochs_run,
        duration(r.seconds)
    )
}

pub(super) fn findings_section(headline: &str, findings: &[String]) -> String {
    let mut md = format!("## Findings\n\n**{headline}.**\n\n");
    for f in findings {
        let _ = writeln!(md, "- {f}");
    }
    md.push('\n');
    md
}
