//! Loader tests: both layouts, every validation error (asserting the message
//! names the file and the fix), and the normalisation counts.

use std::fs;
use std::path::Path;

use super::*;
use crate::npy::write_matrix;

const HEADER: &str = "userID\titemID\trating\ttimestamp\tx_label";

/// Writes `<dir>/<name>.inter` with `header` and `(user, item, x_label)` rows.
fn write_inter(dir: &Path, name: &str, header: &str, rows: &[(i64, i64, u8)]) {
    let mut s = format!("{header}\n");
    for (k, (u, j, x)) in rows.iter().enumerate() {
        s.push_str(&format!("{u}\t{j}\t5\t{}\t{x}\n", 1000 + k));
    }
    fs::write(dir.join(format!("{name}.inter")), s).unwrap();
}

/// Writes `image_feat.npy` (dim 4) and `text_feat.npy` (dim 3) with `n` rows.
fn write_feats(dir: &Path, n: usize) {
    let img: Vec<f32> = (0..n * 4).map(|i| i as f32 * 0.1).collect();
    let txt: Vec<f32> = (0..n * 3).map(|i| -(i as f32)).collect();
    write_matrix(&dir.join("image_feat.npy"), n, 4, &img).unwrap();
    write_matrix(&dir.join("text_feat.npy"), n, 3, &txt).unwrap();
}

/// A small valid MMRec dataset: 3 users, 5 items.
fn small_mmrec() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_inter(
        d.path(),
        "toy",
        HEADER,
        &[
            (0, 0, 0),
            (0, 1, 0),
            (0, 2, 1),
            (0, 3, 2),
            (1, 1, 0),
            (1, 4, 2),
            (2, 0, 0),
            (2, 2, 0),
            (2, 3, 1),
        ],
    );
    write_feats(d.path(), 5);
    d
}

fn err(dir: &Path, format: Option<DatasetFormat>) -> String {
    load_dataset(dir, format).unwrap_err().to_string()
}

#[test]
fn format_names_roundtrip() {
    for f in [DatasetFormat::Mmrec, DatasetFormat::Lattice] {
        assert_eq!(f.to_string().parse::<DatasetFormat>().unwrap(), f);
    }
    assert_eq!(
        "MMRec".parse::<DatasetFormat>().unwrap(),
        DatasetFormat::Mmrec
    );
    let msg = "csv".parse::<DatasetFormat>().unwrap_err().to_string();
    assert!(msg.contains("\"csv\"") && msg.contains("mmrec"), "{msg}");
}

#[test]
fn loads_mmrec() {
    let d = small_mmrec();
    let ds = load_dataset(d.path(), None).unwrap();
    assert_eq!(ds.name, "toy");
    assert_eq!(ds.format, DatasetFormat::Mmrec);
    assert_eq!((ds.n_users, ds.n_items), (3, 5));
    assert_eq!(ds.train, vec![vec![0, 1], vec![1], vec![0, 2]]);
    assert_eq!(ds.valid, vec![vec![2], vec![], vec![3]]);
    assert_eq!(ds.test, vec![vec![3], vec![4], vec![]]);
    assert_eq!(ds.n_train(), 5);
    assert_eq!(
        ds.modality_names(),
        vec!["visual", "textual", "interaction"]
    );
    assert_eq!(ds.modalities[0].dim, 4);
    assert_eq!(ds.modalities[1].row(1), &[-3.0, -4.0, -5.0]);
    assert!(ds.modalities[0].source.ends_with("image_feat.npy"));
    assert!(ds.catalogue.is_none());
    assert_eq!(ds.report.train_interactions, 5);
    assert_eq!(ds.report.valid_interactions, 2);
    assert_eq!(ds.report.test_interactions, 2);
    assert_eq!(ds.report.original_user_ids, vec![0, 1, 2]);
    assert_eq!(popularity_scores(&ds), vec![2.0, 2.0, 1.0, 0.0, 0.0]);
    let st = ds.stats();
    assert_eq!(st.interactions, 9);
    assert!((st.sparsity - (1.0 - 9.0 / 15.0)).abs() < 1e-12);
    let shown = st.to_string();
    assert!(
        shown.contains("40.00%") && shown.contains("4 / 3"),
        "{shown}"
    );
    assert!(shown.contains("Dim. of visual / textual"), "{shown}");
    assert!(shown.contains("train 5 / valid 2 / test 2"), "{shown}");
    // Cold items are reported.
    assert!(
        ds.report
            .warnings
            .iter()
            .any(|w| w.contains("2 of 5 items")),
        "{:?}",
        ds.report.warnings
    );
}

#[test]
fn header_columns_are_found_by_name() {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("x.inter"),
        "\u{feff}x_label\tfoo\titemID\tuserID\n0\ta\t1\t0\n0\tb\t0\t1\n2\tc\t2\t1\n",
    )
    .unwrap();
    let ds = load_dataset(d.path(), Some(DatasetFormat::Mmrec)).unwrap();
    assert_eq!(ds.train, vec![vec![1], vec![0]]);
    assert_eq!(ds.test, vec![vec![], vec![2]]);
    // Without feature files n_items is max item id + 1, with a warning.
    assert_eq!(ds.n_items, 3);
    assert!(ds.modalities.is_empty());
    assert!(
        ds.report
            .warnings
            .iter()
            .any(|w| w.contains("image_feat.npy") && w.contains("no visual modality"))
    );
}

#[test]
fn detects_lattice_and_orders_modalities() {
    let d = tempfile::tempdir().unwrap();
    let core = d.path().join("5-core");
    fs::create_dir(&core).unwrap();
    fs::write(
        core.join("train.json"),
        r#"{"0": [0, 1], "1": [2], "2": [3, 3]}"#,
    )
    .unwrap();
    fs::write(core.join("val.json"), r#"{"0": [2], "1": [], "2": [1]}"#).unwrap();
    fs::write(core.join("test.json"), r#"{"0": [3], "1": [0], "3": [1]}"#).unwrap();
    write_feats(d.path(), 4);
    write_matrix(&core.join("extra_feat.npy"), 4, 2, &[0.0; 8]).unwrap();
    write_matrix(&d.path().join("zeta_feat.npy"), 4, 2, &[0.0; 8]).unwrap();
    write_matrix(&d.path().join("audio_feat.npy"), 4, 1, &[1.0; 4]).unwrap();
    assert_eq!(detect_format(d.path()).unwrap(), DatasetFormat::Lattice);
    let ds = load_dataset(d.path(), None).unwrap();
    assert_eq!(ds.format, DatasetFormat::Lattice);
    assert_eq!(
        ds.modality_names(),
        vec!["visual", "textual", "audio", "zeta", "interaction"]
    );
    // User 3 only has a test item: dropped and counted; item 3 repeated: deduped.
    assert_eq!(ds.n_users, 3);
    assert_eq!(ds.report.users_dropped_no_train, 1);
    assert_eq!(ds.report.duplicates_removed, 1);
    assert_eq!(ds.train, vec![vec![0, 1], vec![2], vec![3]]);
    assert_eq!(ds.valid, vec![vec![2], vec![], vec![1]]);
    assert_eq!(ds.test, vec![vec![3], vec![0], vec![]]);
    assert_eq!(ds.n_items, 4);
    // Feature files inside 5-core/ are not read, but flagged.
    assert!(
        ds.report
            .warnings
            .iter()
            .any(|w| w.contains("extra_feat.npy") && w.contains("move it")),
        "{:?}",
        ds.report.warnings
    );
}

#[test]
fn lattice_errors_name_file_and_position() {
    let d = tempfile::tempdir().unwrap();
    let core = d.path().join("5-core");
    fs::create_dir(&core).unwrap();
    fs::write(core.join("train.json"), r#"{"0": [0, 1]}"#).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("val.json") && msg.contains("not found"),
        "{msg}"
    );
    fs::write(core.join("val.json"), r#"{"0": [2, -1]}"#).unwrap();
    fs::write(core.join("test.json"), "{}").unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("val.json") && msg.contains("position 1") && msg.contains("-1"),
        "{msg}"
    );
    fs::write(core.join("val.json"), r#"{"zero": [2]}"#).unwrap();
    let msg = err(d.path(), None);
    assert!(msg.contains("\"zero\"") && msg.contains("user id"), "{msg}");
    fs::write(core.join("val.json"), "{\"0\": [2,\n").unwrap();
    let msg = err(d.path(), None);
    assert!(msg.contains("val.json") && msg.contains("line 2"), "{msg}");
    fs::write(core.join("val.json"), r#"{"0": [7]}"#).unwrap();
    write_feats(d.path(), 5);
    let msg = err(d.path(), None);
    assert!(
        msg.contains("val.json") && msg.contains("item id 7 is out of range"),
        "{msg}"
    );
    assert!(msg.contains("image_feat.npy has 5 rows"), "{msg}");
}

#[test]
fn missing_files_say_what_is_expected() {
    let d = tempfile::tempdir().unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("cannot tell the dataset format") && msg.contains("5-core/train.json"),
        "{msg}"
    );
    assert!(msg.contains("<name>.inter"), "{msg}");
    let msg = err(d.path(), Some(DatasetFormat::Mmrec));
    assert!(
        msg.contains("<name>.inter") && msg.contains("not found") && msg.contains("x_label"),
        "{msg}"
    );
    let msg = err(&d.path().join("nope"), None);
    assert!(msg.contains("nope") && msg.contains("not found"), "{msg}");
    write_inter(d.path(), "a", HEADER, &[(0, 0, 0)]);
    write_inter(d.path(), "b", HEADER, &[(0, 0, 0)]);
    let msg = err(d.path(), None);
    assert!(msg.contains("found 2 `.inter` files"), "{msg}");
}

#[test]
fn bad_headers_are_rejected() {
    let d = tempfile::tempdir().unwrap();
    write_inter(d.path(), "h", "0\t1\t5\t100\t0", &[(0, 0, 0)]);
    let msg = err(d.path(), None);
    assert!(
        msg.contains("h.inter:1") && msg.contains("header missing") && msg.contains("userID"),
        "{msg}"
    );
    write_inter(
        d.path(),
        "h",
        "user_id\titemID\trating\ttimestamp\tx_label",
        &[(0, 0, 0)],
    );
    let msg = err(d.path(), None);
    assert!(
        msg.contains("lacks column(s) userID") && msg.contains("user_id"),
        "{msg}"
    );
    fs::write(d.path().join("h.inter"), "").unwrap();
    let msg = err(d.path(), None);
    assert!(msg.contains("h.inter") && msg.contains("empty"), "{msg}");
}

#[test]
fn malformed_lines_report_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.inter");
    fs::write(&p, format!("{HEADER}\n0\t1\t5\t10\t0\n0\t2\t5\n")).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("m.inter:3") && msg.contains("expected 5") && msg.contains("found 3"),
        "{msg}"
    );
    fs::write(&p, format!("{HEADER}\n0\t1\t5\t10\t0\n\n0\tx7\t5\t11\t0\n")).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("m.inter:4") && msg.contains("itemID `x7` is not an integer"),
        "{msg}"
    );
    fs::write(&p, format!("{HEADER}\n-3\t1\t5\t10\t0\n")).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("m.inter:2") && msg.contains("negative userID -3"),
        "{msg}"
    );
    fs::write(&p, format!("{HEADER}\n0\t1\t5\t10\t3\n")).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("m.inter:2") && msg.contains("x_label must be 0 (train), 1 (valid) or 2"),
        "{msg}"
    );
}

/// Regression: a user whose training set is the whole catalogue made negative sampling
/// loop forever; it is now refused at load time, naming the user.
#[test]
fn a_user_with_every_item_in_train_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    // User 7 trains on all 3 items (x_label 0); user 8 is ordinary.
    let rows = [
        (7, 0, 0),
        (7, 1, 0),
        (7, 2, 0),
        (8, 0, 0),
        (8, 1, 1),
        (8, 2, 2),
    ];
    write_inter(d.path(), "full", HEADER, &rows);
    write_feats(d.path(), 3);
    let msg = err(d.path(), None);
    assert!(
        msg.contains("full.inter") && msg.contains("user 7 has all 3 items"),
        "{msg}"
    );
    // One item more and the same user is fine.
    write_feats(d.path(), 4);
    assert!(load_dataset(d.path(), None).is_ok());
}

#[test]
fn item_ids_must_have_feature_rows() {
    let d = small_mmrec();
    write_inter(d.path(), "toy", HEADER, &[(0, 0, 0), (0, 5, 2)]);
    let msg = err(d.path(), None);
    assert!(
        msg.contains("toy.inter:3") && msg.contains("itemID 5 is out of range"),
        "{msg}"
    );
    assert!(msg.contains("image_feat.npy has 5 rows"), "{msg}");
}

#[test]
fn feature_row_counts_must_agree() {
    let d = small_mmrec();
    write_matrix(&d.path().join("text_feat.npy"), 6, 3, &[0.0; 18]).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("text_feat.npy") && msg.contains("6 feature rows"),
        "{msg}"
    );
    assert!(
        msg.contains("5 items") && msg.contains("image_feat.npy has that many rows"),
        "{msg}"
    );
}

#[test]
fn feature_file_errors_surface_through_load() {
    let d = small_mmrec();
    let mut img = vec![0.5f32; 20];
    img[4 * 3 + 2] = f32::NEG_INFINITY;
    write_matrix(&d.path().join("image_feat.npy"), 5, 4, &img).unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("image_feat.npy") && msg.contains("row 3") && msg.contains("column 2"),
        "{msg}"
    );
    crate::npy::tests::write_raw_npy(
        &d.path().join("image_feat.npy"),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 4), }",
        &[0u8; 160],
    );
    let msg = err(d.path(), None);
    assert!(
        msg.contains("image_feat.npy") && msg.contains("np.save(path, arr.astype(np.float32))"),
        "{msg}"
    );
    // float16 features are accepted.
    let bytes: Vec<u8> = (0..20)
        .flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes())
        .collect();
    crate::npy::tests::write_raw_npy(
        &d.path().join("image_feat.npy"),
        "{'descr': '<f2', 'fortran_order': False, 'shape': (5, 4), }",
        &bytes,
    );
    let ds = load_dataset(d.path(), None).unwrap();
    assert_eq!(ds.modalities[0].row(2), &[8.0, 9.0, 10.0, 11.0]);
    // Two files for one modality.
    write_matrix(&d.path().join("visual_feat.npy"), 5, 1, &[0.0; 5]).unwrap();
    let msg = err(d.path(), None);
    assert!(msg.contains("modality `visual`"), "{msg}");
}

#[test]
fn empty_train_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    write_inter(d.path(), "e", HEADER, &[(0, 0, 1), (1, 1, 2)]);
    let msg = err(d.path(), None);
    assert!(
        msg.contains("e.inter") && msg.contains("train split is empty"),
        "{msg}"
    );
    write_inter(d.path(), "e", HEADER, &[]);
    let msg = err(d.path(), None);
    assert!(msg.contains("train split is empty"), "{msg}");
}

#[test]
fn users_without_train_are_dropped_and_reindexed() {
    let d = tempfile::tempdir().unwrap();
    // User 1 has only test, user 2 nothing (gap), user 4 only valid.
    write_inter(
        d.path(),
        "drop",
        HEADER,
        &[
            (0, 0, 0),
            (0, 1, 2),
            (1, 2, 2),
            (3, 2, 0),
            (3, 0, 1),
            (4, 1, 1),
            (5, 1, 0),
        ],
    );
    let ds = load_dataset(d.path(), None).unwrap();
    assert_eq!(ds.n_users, 3);
    assert_eq!(ds.report.users_dropped_no_train, 2);
    assert_eq!(ds.report.users_dropped_empty, 1);
    assert_eq!(ds.report.original_user_ids, vec![0, 3, 5]);
    assert_eq!(ds.train, vec![vec![0], vec![2], vec![1]]);
    assert_eq!(ds.valid, vec![vec![], vec![0], vec![]]);
    assert_eq!(ds.test, vec![vec![1], vec![], vec![]]);
    assert!(
        ds.report
            .warnings
            .iter()
            .any(|w| w.contains("dropped 2 users") && w.contains("drop.inter"))
    );
}

#[test]
fn duplicates_are_removed_and_counted() {
    let d = tempfile::tempdir().unwrap();
    write_inter(
        d.path(),
        "dup",
        HEADER,
        &[
            (0, 1, 0),
            (0, 1, 0), // within train
            (0, 0, 0),
            (0, 1, 2), // test item already in train
            (0, 2, 1),
            (0, 2, 2), // test item already in valid
            (0, 3, 2),
            (0, 3, 2), // within test
        ],
    );
    let ds = load_dataset(d.path(), None).unwrap();
    assert_eq!(ds.report.duplicates_removed, 4);
    assert_eq!(ds.train, vec![vec![0, 1]]);
    assert_eq!(ds.valid, vec![vec![2]]);
    assert_eq!(ds.test, vec![vec![3]]);
    assert_eq!(ds.stats().interactions, 4);
}

#[test]
fn catalogue_rows_are_validated() {
    let d = small_mmrec();
    let p = d.path().join("items.jsonl");
    fs::write(
        &p,
        "{\"id\": 1, \"title\": \"B\"}\n{\"id\": 0, \"title\": \"A\", \"category\": \"c\"}\n",
    )
    .unwrap();
    let ds = load_dataset(d.path(), None).unwrap();
    let cat = ds.catalogue.unwrap();
    assert_eq!(cat.len(), 5);
    assert_eq!((cat[0].title.as_str(), cat[1].title.as_str()), ("A", "B"));
    assert_eq!(cat[4], mario_shared::ItemInfo::anonymous(4));
    assert!(
        ds.report
            .warnings
            .iter()
            .any(|w| w.contains("3 of 5 items have no row"))
    );
    fs::write(
        &p,
        "{\"id\": 1, \"title\": \"B\"}\n{\"id\": 1, \"title\": \"C\"}\n",
    )
    .unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("items.jsonl:2") && msg.contains("appears twice"),
        "{msg}"
    );
    fs::write(&p, "{\"id\": 9, \"title\": \"B\"}\n").unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("items.jsonl:1") && msg.contains("out of range"),
        "{msg}"
    );
    fs::write(&p, "{\"title\": \"B\"}\n").unwrap();
    let msg = err(d.path(), None);
    assert!(
        msg.contains("items.jsonl:1") && msg.contains("missing field `id`"),
        "{msg}"
    );
}
