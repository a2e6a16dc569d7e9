//! Two models side by side: whether two weights files can be compared (same dataset:
//! same users, same items with the same titles), and the difference of their top-N lists
//! (overlap@N, each item's rank in both). Pure logic, unit-tested natively.

use mario_shared::ModelWeights;

use crate::format::thousands;

/// Why two files cannot be compared, or `Ok` when they can.
pub fn check_compatible(a: &ModelWeights, b: &ModelWeights) -> Result<(), String> {
    let (ma, mb) = (&a.meta, &b.meta);
    if ma.n_items != mb.n_items {
        return Err(format!(
            "cannot compare: this model has {} items, the other {}; both files must come from the same dataset",
            thousands(ma.n_items as u64),
            thousands(mb.n_items as u64)
        ));
    }
    if ma.n_users != mb.n_users {
        return Err(format!(
            "cannot compare: this model has {} users, the other {}; user ids would not mean the same person",
            thousands(ma.n_users as u64),
            thousands(mb.n_users as u64)
        ));
    }
    if let Some((x, y)) = a
        .catalogue
        .iter()
        .zip(&b.catalogue)
        .find(|(x, y)| x.id != y.id || x.title != y.title)
    {
        return Err(format!(
            "cannot compare: item {} is \"{}\" here and item {} \"{}\" in the other file; the item ids differ",
            x.id, x.title, y.id, y.title
        ));
    }
    Ok(())
}

/// One item of either list.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub item: u32,
    /// 1-based ranks in A and B (`None`: not in that top-N).
    pub rank_a: Option<usize>,
    pub rank_b: Option<usize>,
}

/// The comparison of two top-N lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// |A ∩ B| / N.
    pub overlap: f64,
    /// A's list in order, then the items only B has, in B's order.
    pub rows: Vec<Row>,
}

pub fn diff(a: &[u32], b: &[u32]) -> Diff {
    let pos = |list: &[u32], item: u32| list.iter().position(|&x| x == item).map(|p| p + 1);
    let mut rows: Vec<Row> = a
        .iter()
        .map(|&item| Row {
            item,
            rank_a: pos(a, item),
            rank_b: pos(b, item),
        })
        .collect();
    rows.extend(b.iter().filter(|i| !a.contains(i)).map(|&item| Row {
        item,
        rank_a: None,
        rank_b: pos(b, item),
    }));
    let shared = a.iter().filter(|i| b.contains(i)).count();
    Diff {
        overlap: shared as f64 / a.len().max(b.len()).max(1) as f64,
        rows,
    }
}

/// A rank change `from` → `to` (1-based; `None`: not in that list): "↑3", "↓2", "=",
/// "new" (only in `to`) or "gone" (only in `from`). Used by the comparison, the
/// drop-a-modality list and the what-if table.
pub fn rank_shift(from: Option<usize>, to: Option<usize>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if b < a => format!("↑{}", a - b),
        (Some(a), Some(b)) if b > a => format!("↓{}", b - a),
        (Some(_), Some(_)) => "=".to_string(),
        (None, Some(_)) => "new".to_string(),
        (Some(_), None) => "gone".to_string(),
        (None, None) => String::new(),
    }
}

/// The CSS class of a [`rank_shift`] label: `up`, `down` or `same`.
pub fn shift_class(label: &str) -> &'static str {
    match label.chars().next() {
        Some('↑') | Some('n') => "up",
        Some('↓') | Some('g') => "down",
        _ => "same",
    }
}

/// B's rank against A's.
pub fn shift_label(row: &Row) -> String {
    rank_shift(row.rank_a, row.rank_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mario_shared::StorageDtype;
    use mario_shared::weights::fixtures::tiny_model;

    #[test]
    fn diff_counts_overlap_and_shifts() {
        let d = diff(&[5, 1, 7, 2], &[1, 5, 9, 2]);
        assert_eq!(d.overlap, 0.75);
        let labels: Vec<(u32, String)> = d.rows.iter().map(|r| (r.item, shift_label(r))).collect();
        assert_eq!(
            labels,
            [(5, "↓1"), (1, "↑1"), (7, "gone"), (2, "="), (9, "new")]
                .map(|(i, s)| (i, s.to_string()))
        );
        assert_eq!(
            ["↑2", "new", "↓1", "gone", "="].map(shift_class),
            ["up", "up", "down", "down", "same"]
        );
        assert_eq!(rank_shift(Some(1), Some(339)), "↓338");
        assert_eq!(diff(&[], &[]).overlap, 0.0);
        assert_eq!(diff(&[3, 4], &[3, 4]).overlap, 1.0);
    }

    #[test]
    fn only_files_of_the_same_dataset_compare() {
        let a = tiny_model(5, 20, 4, &["visual", "interaction"], StorageDtype::F32, 1);
        let other_seed = tiny_model(
            5,
            20,
            8,
            &["visual", "textual", "interaction"],
            StorageDtype::F16,
            2,
        );
        assert!(
            check_compatible(&a, &other_seed).is_ok(),
            "other d, modalities, dtype: fine"
        );
        let fewer = tiny_model(5, 19, 4, &["visual", "interaction"], StorageDtype::F32, 1);
        assert!(
            check_compatible(&a, &fewer)
                .unwrap_err()
                .contains("20 items, the other 19")
        );
        let users = tiny_model(6, 20, 4, &["visual", "interaction"], StorageDtype::F32, 1);
        assert!(check_compatible(&a, &users).unwrap_err().contains("users"));
        let mut renamed = a.clone();
        renamed.catalogue[3].title = "something else".into();
        assert!(
            check_compatible(&a, &renamed)
                .unwrap_err()
                .contains("item 3")
        );
    }
}
