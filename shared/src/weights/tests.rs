//! Round trips, sizes, and hostile files for the weights format.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::fixtures::tiny_model;
use super::*;

const MODS: &[&str] = &["visual", "textual", "interaction"];

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn round_trip_every_dtype() {
    for (dtype, tol) in [
        (StorageDtype::F32, 0.0),
        (StorageDtype::F16, 1e-3),
        (StorageDtype::Int8, 1.0 / 127.0),
    ] {
        let w = tiny_model(5, 11, 8, MODS, dtype, 3);
        let bytes = w.to_bytes().unwrap();
        let r = ModelWeights::from_bytes(&bytes).unwrap();
        assert_eq!(r.meta, w.meta);
        assert_eq!(r.train_indptr, w.train_indptr);
        assert_eq!(r.train_indices, w.train_indices);
        assert_eq!(r.catalogue, w.catalogue);
        assert!(
            max_abs_diff(&r.user_embedding, &w.user_embedding) <= tol,
            "{dtype}"
        );
        for (a, b) in r.item_embedding.iter().zip(&w.item_embedding) {
            assert!(max_abs_diff(a, b) <= tol, "{dtype}");
        }
        if dtype == StorageDtype::F32 {
            assert_eq!(r, w);
        }
    }
}

/// Regression: NaN/±∞ became 0 in int8 and ±∞ in f16 silently. Export now refuses any
/// value the dtype cannot store, naming tensor, row and column; a large finite value is
/// fine in f32 and int8 (scaled per row) but not in f16.
#[test]
fn unstorable_values_are_refused_with_tensor_and_row() {
    let d = 8;
    for dtype in [StorageDtype::F32, StorageDtype::F16, StorageDtype::Int8] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut w = tiny_model(5, 11, d, MODS, dtype, 3);
            w.item_embedding[1][3 * d + 5] = bad;
            let err = w.to_bytes().unwrap_err();
            assert!(
                matches!(&err, WeightsError::Unstorable { tensor, row: 3, column: 5, .. }
                    if tensor == "item_embedding.textual"),
                "{dtype} {bad}: {err}"
            );
            assert!(err.to_string().contains("row 3, column 5"), "{err}");
        }
    }
    let mut w = tiny_model(5, 11, d, MODS, StorageDtype::F16, 3);
    w.user_embedding[2 * d] = 70000.0;
    let err = w.to_bytes().unwrap_err();
    assert!(
        err.to_string().contains("`user_embedding` row 2, column 0"),
        "{err}"
    );
    assert!(err.to_string().contains("f16"), "{err}");
    for dtype in [StorageDtype::F32, StorageDtype::Int8] {
        let mut w = tiny_model(5, 11, d, MODS, dtype, 3);
        w.user_embedding[2 * d] = 70000.0;
        let back = ModelWeights::from_bytes(&w.to_bytes().unwrap()).unwrap();
        assert!(
            (back.user_embedding[2 * d] - 70000.0).abs() <= 70000.0 / 127.0,
            "{dtype}"
        );
    }
}

/// The optional item maps (`map.<space>`, `[I, 2]`) round-trip; files without them load
/// with none; a map of the wrong shape is refused by name.
#[test]
fn item_maps_are_optional_and_checked() {
    let mut w = tiny_model(3, 6, 4, MODS, StorageDtype::F16, 2);
    assert!(
        ModelWeights::from_bytes(&w.to_bytes().unwrap())
            .unwrap()
            .maps
            .is_empty()
    );
    let xy: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    // Written in any order, read back in modality order (visual before textual).
    w.maps = vec![
        ("textual".into(), xy.clone()),
        ("visual".into(), xy.iter().map(|v| -v).collect()),
    ];
    let back = ModelWeights::from_bytes(&w.to_bytes().unwrap()).unwrap();
    assert_eq!(back.maps, [w.maps[1].clone(), w.maps[0].clone()]);
    w.maps = vec![("visual".into(), xy[..10].to_vec())];
    let err = w.to_bytes().unwrap_err().to_string();
    assert!(err.contains("map.visual"), "{err}");
    w.maps = vec![("visual".into(), vec![f32::NAN; 12])];
    assert!(w.to_bytes().unwrap_err().to_string().contains("map.visual"));
}

#[test]
fn fc_fusion_round_trips() {
    let mut w = tiny_model(3, 4, 2, MODS, StorageDtype::F32, 1);
    w.meta.fusion = FusionKind::Fc;
    w.fusion_fc = Some(((0..12).map(|x| x as f32).collect(), vec![0.5, -0.5]));
    assert_eq!(ModelWeights::from_bytes(&w.to_bytes().unwrap()).unwrap(), w);
}

#[test]
fn size_per_parameter_meets_targets() {
    for (dtype, lo, limit) in [
        (StorageDtype::F32, 4.0, 4.0),
        (StorageDtype::F16, 2.0, 2.05),
        (StorageDtype::Int8, 1.0, 1.1),
    ] {
        let w = tiny_model(400, 300, 64, MODS, dtype, 9);
        let bytes = w.to_bytes().unwrap();
        let size = SizeBreakdown::of(&bytes).unwrap();
        let per = size.bytes_per_embedding_parameter();
        assert!(
            per >= lo && per <= limit,
            "{dtype}: {per} bytes per parameter"
        );
        assert_eq!(
            size.history,
            (w.train_indptr.len() + w.train_indices.len()) * 4
        );
        assert_eq!(
            size.embeddings + size.history + size.catalogue + size.other,
            bytes.len()
        );
    }
}

/// Re-serialises a file with one tensor replaced (or removed) and metadata edited.
fn rebuild(
    w: &ModelWeights,
    edit_tensor: impl Fn(&str, Dtype, Vec<usize>, Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)>,
    edit_meta: impl Fn(&mut HashMap<String, String>),
) -> Vec<u8> {
    let bytes = w.to_bytes().unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut md = header.metadata().clone().unwrap();
    edit_meta(&mut md);
    let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .filter_map(|(n, v)| {
            edit_tensor(&n, v.dtype(), v.shape().to_vec(), v.data().to_vec())
                .map(|(d, s, b)| (n, d, s, b))
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(md)).unwrap()
}

fn keep(_: &str, d: Dtype, s: Vec<usize>, b: Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)> {
    Some((d, s, b))
}

#[test]
fn corrupted_and_hostile_files_give_named_errors() {
    let w = tiny_model(4, 6, 4, MODS, StorageDtype::F16, 5);
    let good = w.to_bytes().unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    type Case = (&'static str, Vec<u8>, fn(&WeightsError) -> bool);
    let mut cases: Vec<Case> = vec![
        ("empty", vec![], |e| {
            matches!(e, WeightsError::NotSafetensors(_))
        }),
        ("seven bytes", good[..7].to_vec(), |e| {
            matches!(e, WeightsError::NotSafetensors(_))
        }),
        (
            "truncated in header",
            good[..8 + header_len / 2].to_vec(),
            |e| {
                matches!(
                    e,
                    WeightsError::Truncated(_) | WeightsError::NotSafetensors(_)
                )
            },
        ),
        (
            "truncated after header",
            good[..8 + header_len].to_vec(),
            |e| matches!(e, WeightsError::Truncated(_)),
        ),
        ("truncated mid data", good[..good.len() / 2].to_vec(), |e| {
            matches!(e, WeightsError::Truncated(_))
        }),
        (
            "truncated last byte",
            good[..good.len() - 1].to_vec(),
            |e| matches!(e, WeightsError::Truncated(_)),
        ),
        (
            "absurd header length",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            |e| matches!(e, WeightsError::NotSafetensors(_)),
        ),
        ("html page", b"<!doctype html><html></html>".to_vec(), |e| {
            matches!(e, WeightsError::NotSafetensors(_))
        }),
    ];
    cases.push((
        "wrong format",
        rebuild(&w, keep, |m| {
            m.insert("format".into(), "something-else".into());
        }),
        |e| matches!(e, WeightsError::WrongFormat { .. }),
    ));
    cases.push((
        "no metadata format",
        rebuild(&w, keep, |m| {
            m.remove("format");
        }),
        |e| matches!(e, WeightsError::WrongFormat { found: None }),
    ));
    cases.push((
        "wrong version",
        rebuild(&w, keep, |m| {
            m.insert("version".into(), "99".into());
        }),
        |e| matches!(e, WeightsError::UnsupportedVersion { .. }),
    ));
    cases.push((
        "meta not json",
        rebuild(&w, keep, |m| {
            m.insert("meta".into(), "{not json".into());
        }),
        |e| matches!(e, WeightsError::BadMeta(_)),
    ));
    cases.push((
        "meta claims huge counts",
        rebuild(&w, keep, |m| {
            let mut meta: WeightsMeta = serde_json::from_str(&m["meta"]).unwrap();
            meta.n_items = usize::MAX / 2;
            m.insert("meta".into(), serde_json::to_string(&meta).unwrap());
        }),
        |e| matches!(e, WeightsError::BadMeta(_)),
    ));
    cases.push((
        "missing item table",
        rebuild(
            &w,
            |n, d, s, b| (n != "item_embedding.textual").then_some((d, s, b)),
            |_| {},
        ),
        |e| matches!(e, WeightsError::MissingTensor(n) if n == "item_embedding.textual"),
    ));
    cases.push((
        "shape mismatch",
        rebuild(
            &w,
            |n, d, s, b| {
                if n == "user_embedding" {
                    Some((d, vec![s[0] * 2, s[1] / 2], b))
                } else {
                    Some((d, s, b))
                }
            },
            |_| {},
        ),
        |e| matches!(e, WeightsError::ShapeMismatch { tensor, .. } if tensor == "user_embedding"),
    ));
    cases.push(("wrong dtype", rebuild(&w, |n, d, s, b| {
        if n == "item_embedding.visual" { Some((Dtype::I16, s, b)) } else { Some((d, s, b)) }
    }, |_| {}), |e| matches!(e, WeightsError::WrongDtype { tensor, .. } if tensor == "item_embedding.visual")));
    cases.push(("NaN in an embedding", rebuild(&w, |n, d, s, mut b| {
        if n == "item_embedding.interaction" { b[6..8].copy_from_slice(&half::f16::NAN.to_le_bytes()); }
        Some((d, s, b))
    }, |_| {}), |e| matches!(e, WeightsError::NonFinite { tensor, index: 3 } if tensor == "item_embedding.interaction")));
    cases.push((
        "CSR index out of range",
        rebuild(
            &w,
            |n, d, s, mut b| {
                if n == "train_items.indices" {
                    b[..4].copy_from_slice(&1000u32.to_le_bytes());
                }
                Some((d, s, b))
            },
            |_| {},
        ),
        |e| matches!(e, WeightsError::BadCsr(msg) if msg.contains("out of range")),
    ));
    cases.push((
        "CSR indptr decreasing",
        rebuild(
            &w,
            |n, d, s, mut b| {
                if n == "train_items.indptr" {
                    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                }
                Some((d, s, b))
            },
            |_| {},
        ),
        |e| matches!(e, WeightsError::BadCsr(_)),
    ));
    cases.push((
        "catalogue not json",
        rebuild(
            &w,
            |n, d, _s, b| {
                if n == "catalogue" {
                    Some((d, vec![5], b"nope\n".to_vec()))
                } else {
                    Some((d, _s, b))
                }
            },
            |_| {},
        ),
        |e| matches!(e, WeightsError::BadCatalogue(_)),
    ));
    assert!(cases.len() >= 15);
    for (name, bytes, ok) in cases {
        match ModelWeights::from_bytes(&bytes) {
            Ok(_) => panic!("{name}: accepted a bad file"),
            Err(e) => {
                assert!(ok(&e), "{name}: unexpected error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Every prefix of a valid file is rejected without panicking.
    for cut in (0..good.len()).step_by(7) {
        assert!(
            ModelWeights::from_bytes(&good[..cut]).is_err(),
            "prefix {cut}"
        );
    }
}
