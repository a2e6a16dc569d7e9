//! `mario datagen`, `mario data stats` and `mario baseline popularity`: making,
//! describing and putting a floor under a dataset.

use std::path::Path;

use mario_data::{DatasetFormat, Preset};

use crate::dataset::load;
use crate::eval::{Split, evaluate_popularity};

/// Writes the synthetic catalogue `preset` into `out`.
pub fn datagen(preset: Preset, seed: u64, out: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = mario_data::generate(preset, seed, out)?;
    println!("{summary}");
    println!(
        "wrote {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prints the Table-2 columns, the split sizes and what loading cleaned.
pub fn stats(dir: &Path, format: Option<DatasetFormat>) -> anyhow::Result<()> {
    let ds = load(dir, format)?;
    println!("{}", ds.stats());
    let r = &ds.report;
    if r.duplicates_removed + r.users_dropped_no_train + r.users_dropped_empty > 0 {
        println!(
            "cleaning: {} duplicate interactions removed, {} users without training items dropped, {} empty user ids dropped",
            r.duplicates_removed, r.users_dropped_no_train, r.users_dropped_empty
        );
    }
    Ok(())
}

/// The popularity baseline on the validation and test splits.
pub fn popularity(data: &Path, format: Option<DatasetFormat>) -> anyhow::Result<()> {
    let ds = load(data, format)?;
    let ks = [10, 20];
    for (label, split) in [("valid", Split::Valid), ("test", Split::Test)] {
        let r = evaluate_popularity(&ds, split, &ks)?;
        println!(
            "popularity {label}: recall@20 {:.4} ndcg@20 {:.4} precision@20 {:.4} recall@10 {:.4} ({} users)",
            r.get("recall@20"),
            r.get("ndcg@20"),
            r.get("precision@20"),
            r.get("recall@10"),
            r.users_evaluated
        );
    }
    Ok(())
}
