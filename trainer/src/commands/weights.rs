//! Commands over an exported weights file: `mario recommend` (top-N with
//! explanations, the same list the browser shows), `mario eval` (full-ranking
//! evaluation of the file, e.g. to measure quantisation loss) and `mario export`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use mario_data::DatasetFormat;
use mario_shared::counterfactual::CounterfactualTable;
use mario_shared::scorer::Scorer;
use mario_shared::weights::{ModelWeights, SizeBreakdown, StorageDtype};

use crate::eval::{Split, evaluate_ranked};
use mario_shared::ranking::RankingModel;

pub use crate::export::{MASTER_WEIGHTS, read_weights};

pub fn export_command(
    run: &Path,
    dtype: StorageDtype,
    out: &Path,
    map: bool,
    map_quality: bool,
) -> anyhow::Result<()> {
    let master = run.join(MASTER_WEIGHTS);
    let mut weights = read_weights(&master).with_context(|| {
        format!(
            "--run {}: expected a finished `mario train` run directory containing {MASTER_WEIGHTS}",
            run.display()
        )
    })?;
    if map {
        // The explorer's item map of every modality space (t-SNE, seeded by the run's seed).
        let t = std::time::Instant::now();
        let seed = weights.meta.config["seed"].as_u64().unwrap_or(0);
        weights.maps = crate::map::item_maps(&weights, seed);
        eprintln!(
            "item maps ({}) in {:.1} s",
            weights.meta.modalities.join(", "),
            t.elapsed().as_secs_f64()
        );
        if map_quality {
            for (space, t) in crate::map::map_quality(&weights) {
                println!(
                    "map.{space}: trustworthiness@10 {t:.4} (against cosine neighbours of its table)"
                );
            }
        }
    }
    let size = crate::export::write_model_weights(&weights, dtype, out)?;
    print_size(&size, dtype, out);
    Ok(())
}

pub fn print_size(size: &SizeBreakdown, dtype: StorageDtype, path: &Path) {
    println!(
        "wrote {} ({dtype}): {} bytes total; embeddings {} bytes for {} parameters = {:.4} bytes/parameter; \
         history {} bytes; catalogue {} bytes; header+other {} bytes",
        path.display(),
        size.total,
        size.embeddings,
        size.embedding_parameters,
        size.bytes_per_embedding_parameter(),
        size.history,
        size.catalogue,
        size.other
    );
}

pub fn recommend_command(
    path: &Path,
    user: usize,
    top: usize,
    explain: bool,
    json: bool,
) -> anyhow::Result<()> {
    let weights = read_weights(path)?;
    let scorer = Scorer::new(&weights);
    let recs = scorer.recommend(user, top).with_context(|| {
        format!(
            "--user {user} is out of range: {} has users 0..{}",
            path.display(),
            weights.meta.n_users
        )
    })?;
    let names = &weights.meta.modalities;
    // What-if ranks per modality (with --explain; refused for max / fc fusion with a note).
    let exclude = weights.train_items(user);
    let table = if explain {
        let u = weights.user_vector(user).expect("user checked above");
        match CounterfactualTable::new(&weights, u) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("note: {e}; no counterfactual ranks");
                None
            }
        }
    } else {
        None
    };
    if json {
        let out: Vec<serde_json::Value> = recs
            .iter()
            .map(|r| {
                let attention: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(&r.attention)
                    .map(|(n, a)| (n.clone(), serde_json::json!(a)))
                    .collect();
                let mut v = serde_json::json!({
                    "item": r.item,
                    "score": r.score,
                    "attention": attention,
                    "title": weights.catalogue[r.item as usize].title,
                });
                if explain && let Some(e) = scorer.explain(user, r.item as usize, 3) {
                    v["explanation"] = serde_json::to_value(&e).unwrap_or_default();
                }
                if let Some(t) = &table {
                    let c = t.item(r.item, exclude);
                    let per: serde_json::Map<String, serde_json::Value> = c
                        .modalities
                        .iter()
                        .map(|m| {
                            let v = serde_json::json!({
                                "rank_without": m.rank_without,
                                "score_without": m.score_without,
                                "rank_only": m.rank_only,
                                "score_only": m.score_only,
                            });
                            (m.modality.clone(), v)
                        })
                        .collect();
                    v["counterfactual"] = serde_json::Value::Object(per);
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let history = weights.train_items(user);
    println!(
        "user {user}: {} training items; top {top} of {} items ({} fusion)",
        history.len(),
        weights.meta.n_items,
        weights.meta.fusion
    );
    let mut header = format!("{:>4}  {:>6}  {:>9}  ", "rank", "item", "score");
    for n in names {
        let _ = write!(header, "{:>11}  ", n);
    }
    header.push_str("title");
    println!("{header}");
    for (rank, r) in recs.iter().enumerate() {
        let mut line = format!("{:>4}  {:>6}  {:>9.4}  ", rank + 1, r.item, r.score);
        for a in &r.attention {
            let _ = write!(line, "{:>10.1}%  ", a * 100.0);
        }
        line.push_str(&weights.catalogue[r.item as usize].title);
        println!("{line}");
        if explain && let Some(e) = scorer.explain(user, r.item as usize, 3) {
            for m in &e.modalities {
                let evidence: Vec<String> = m
                    .evidence
                    .iter()
                    .map(|ev| {
                        format!(
                            "{} \"{}\" (cos {:.2})",
                            ev.item, weights.catalogue[ev.item as usize].title, ev.similarity
                        )
                    })
                    .collect();
                println!(
                    "        {:<11} weight {:>5.1}%  affinity {:>8.4}  contribution {:>8.4}  evidence: {}",
                    m.modality,
                    m.weight * 100.0,
                    m.affinity,
                    m.contribution,
                    if evidence.is_empty() {
                        "—".to_string()
                    } else {
                        evidence.join(", ")
                    }
                );
            }
            if let Some(t) = &table {
                let c = t.item(r.item, exclude);
                let what_if: Vec<String> = c
                    .modalities
                    .iter()
                    .map(|m| {
                        let without = match (m.rank_without, m.score_without) {
                            (Some(rank), Some(score)) => {
                                format!("#{} → #{rank} ({score:+.3})", c.rank)
                            }
                            _ => "—".to_string(),
                        };
                        format!(
                            "{}: without {without}, only #{} ({:+.3})",
                            m.modality, m.rank_only, m.score_only
                        )
                    })
                    .collect();
                println!("        what if · {}", what_if.join(" · "));
            }
        }
    }
    Ok(())
}

pub fn eval_command(
    path: &Path,
    data: &Path,
    format: Option<DatasetFormat>,
    split: Split,
) -> anyhow::Result<()> {
    let weights = read_weights(path)?;
    let dataset = crate::dataset::load(data, format)?;
    anyhow::ensure!(
        dataset.n_users == weights.meta.n_users && dataset.n_items == weights.meta.n_items,
        "{} was trained on {} users × {} items but {} has {} × {}: evaluate on the dataset it was trained on",
        path.display(),
        weights.meta.n_users,
        weights.meta.n_items,
        data.display(),
        dataset.n_users,
        dataset.n_items
    );
    let report = evaluate_weights(&weights, &dataset, split)?;
    println!("{}", serde_json::to_string_pretty(&report.values)?);
    if let Some(truth) = mario_data::read_truth(data)? {
        let drivers = mario_data::interaction_drivers(data, &truth)?;
        for r in
            crate::eval::planted::planted_recovery(&weights, &dataset, &truth, drivers.as_ref())
        {
            let oracle = r
                .driver_oracle
                .map(|o| format!("; an oracle knowing each test interaction's modality: {o:.3}"))
                .unwrap_or_default();
            println!(
                "planted {} preference vs mean test attention over {} users: Spearman {:.3}{oracle}",
                r.modality, r.users, r.spearman
            );
        }
    }
    Ok(())
}

/// Full-ranking evaluation of a weights file with the shared tiled scorer.
pub fn evaluate_weights(
    weights: &ModelWeights,
    dataset: &mario_data::Dataset,
    split: Split,
) -> anyhow::Result<mario_shared::metrics::MetricsReport> {
    let ranking = RankingModel::from_weights(weights);
    anyhow::ensure!(
        weights.meta.n_users == dataset.n_users,
        "the weights file has {} users but the dataset has {}: evaluate it on the data it was trained on",
        weights.meta.n_users,
        dataset.n_users
    );
    evaluate_ranked(dataset, split, &[10, 20], &weights.user_embedding, &ranking)
}
