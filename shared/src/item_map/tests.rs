//! Tests of the item map's arithmetic against independent computations: the scorer for
//! the personalised x axis and the dominant modality, a planted direction for the y axis,
//! round trips for the view transform.

use super::*;
use crate::scorer::Scorer;
use crate::weights::StorageDtype;
use crate::weights::fixtures::tiny_model;

fn model() -> ModelWeights {
    tiny_model(
        6,
        300,
        8,
        &["visual", "textual", "interaction"],
        StorageDtype::F32,
        3,
    )
}

#[test]
fn personal_x_is_the_score_over_the_user_norm() {
    let w = model();
    let d = w.meta.d;
    for user in 0..3 {
        let u = &w.user_embedding[user * d..(user + 1) * d];
        let norm = u.iter().map(|x| x * x).sum::<f32>().sqrt();
        let (xy, _) = personal_map(&w, u).unwrap();
        let scores = Scorer::new(&w).score_all(u);
        assert_eq!(xy.len(), 2 * w.meta.n_items);
        for (i, s) in scores.iter().enumerate() {
            assert!(
                (xy[2 * i] * norm - s).abs() < 1e-4 * (1.0 + s.abs()),
                "user {user} item {i}: x·|u| = {} but the score is {s}",
                xy[2 * i] * norm
            );
        }
    }
}

#[test]
fn the_y_axis_finds_a_planted_direction_orthogonal_to_the_user() {
    // Rows vary a lot along e₁ (and along u = e₀, which must be ignored), little elsewhere.
    let d = 6;
    let mut u = vec![0f32; d];
    u[0] = 1.0;
    let mut p = Vec::new();
    for i in 0..500 {
        let t = (i as f32 * 0.37).sin();
        let mut row = vec![0f32; d];
        row[0] = 50.0 * (i as f32 * 0.11).cos();
        row[1] = 10.0 * t;
        row[2 + i % 4] = 0.5;
        p.extend(row);
    }
    let axis = principal_axis(&p, d, &u);
    assert!(
        axis[0].abs() < 1e-4,
        "the axis must be orthogonal to u: {axis:?}"
    );
    assert!(
        axis[1].abs() > 0.99,
        "the planted direction e₁ is the principal one: {axis:?}"
    );
}

#[test]
fn dominant_modality_is_the_largest_contribution_of_the_scorer() {
    let w = model();
    let d = w.meta.d;
    let m = w.meta.modalities.len();
    let u = &w.user_embedding[2 * d..3 * d];
    let dominant = dominant_modality(&w, u).unwrap();
    let (mut weights, mut contrib) = (vec![0f32; m], vec![0f32; m]);
    let mut seen = [false; 3];
    for (i, &dm) in dominant.iter().enumerate() {
        Scorer::new(&w).score_item(u, i, &mut weights, &mut contrib);
        let best = (0..m).fold(0, |b, k| if contrib[k] > contrib[b] { k } else { b });
        assert_eq!(dm as usize, best, "item {i}: contributions {contrib:?}");
        seen[best] = true;
    }
    assert!(
        seen.iter().filter(|&&s| s).count() >= 2,
        "a random model has mixed dominance"
    );
}

#[test]
fn max_fusion_has_no_personal_space() {
    let mut w = model();
    w.meta.fusion = FusionKind::Max;
    assert!(!crate::counterfactual::fusion_supported(w.meta.fusion));
    assert!(personal_map(&w, &w.user_embedding[..w.meta.d]).is_err());
}

#[test]
fn view_round_trips_zooms_about_the_pointer_and_fits_every_point() {
    let xy = [-3.0, 1.0, 5.0, -2.0, 0.5, 7.0];
    let v = View::fit(&xy, 400.0, 300.0, 10.0);
    for p in xy.chunks_exact(2) {
        let (sx, sy) = v.to_screen(p[0], p[1]);
        assert!((10.0 - 1e-3..=390.0 + 1e-3).contains(&sx), "x {sx}");
        assert!((10.0 - 1e-3..=290.0 + 1e-3).contains(&sy), "y {sy}");
        let (mx, my) = v.to_map(sx, sy);
        assert!((mx - p[0]).abs() < 1e-4 && (my - p[1]).abs() < 1e-4);
    }
    // Larger y is higher on screen.
    assert!(v.to_screen(0.0, 7.0).1 < v.to_screen(0.0, -2.0).1);
    let z = v.zoom_at(123.0, 45.0, 2.5);
    let before = v.to_map(123.0, 45.0);
    let after = z.to_map(123.0, 45.0);
    assert!((before.0 - after.0).abs() < 1e-4 && (before.1 - after.1).abs() < 1e-4);
    assert!((z.scale - 2.5 * v.scale).abs() < 1e-4);
    let moved = v.pan(30.0, -20.0);
    let (sx, sy) = moved.to_screen(xy[0], xy[1]);
    let (ox, oy) = v.to_screen(xy[0], xy[1]);
    assert!((sx - ox - 30.0).abs() < 1e-3 && (sy - oy + 20.0).abs() < 1e-3);
    let half = v.lerp(&z, 0.5);
    assert!((half.scale - v.scale * 2.5f32.sqrt()).abs() < 1e-3);
    assert_eq!(v.lerp(&z, 1.0).scale, z.scale);
}

#[test]
fn the_hit_test_takes_the_nearest_point_within_the_radius() {
    let xy = [0.0, 0.0, 1.0, 0.0, 1.05, 0.0];
    let v = View {
        cx: 0.0,
        cy: 0.0,
        scale: 100.0,
        width: 200.0,
        height: 200.0,
    };
    // Item 1 is drawn at (200, 100), item 2 at (205, 100).
    assert_eq!(nearest_on_screen(&xy, &v, 201.0, 100.0, 6.0), Some(1));
    assert_eq!(nearest_on_screen(&xy, &v, 204.0, 101.0, 6.0), Some(2));
    assert_eq!(nearest_on_screen(&xy, &v, 100.0, 130.0, 6.0), None);
    assert_eq!(nearest_on_screen(&xy, &v, 100.0, 104.0, 6.0), Some(0));
}

#[test]
fn search_ranks_ids_then_titles_then_categories() {
    let mut w = model();
    w.catalogue[5].title = "Red lamp".into();
    w.catalogue[9].title = "Lamp shade".into();
    w.catalogue[7].category = "lamps".into();
    w.catalogue[2].title = "Item 12".into();
    assert_eq!(search(&w, "LAMP", 10), vec![5, 9, 7]);
    assert_eq!(search(&w, "lamp", 2), vec![5, 9]);
    // An id first, then titles containing it.
    assert_eq!(search(&w, "#12", 3)[0], 12);
    assert!(search(&w, "12", 10).contains(&2));
    assert!(search(&w, "  ", 10).is_empty());
    assert!(search(&w, "99999", 10).is_empty());
}

#[test]
fn categories_index_sorted_names_and_spaces_end_with_the_personal_one() {
    let mut w = model();
    w.catalogue[0].category = "shoes".into();
    w.catalogue[1].category = "bags".into();
    let (of_item, names) = categories(&w);
    assert_eq!(names, vec!["".to_string(), "bags".into(), "shoes".into()]);
    assert_eq!((of_item[0], of_item[1], of_item[2]), (2, 1, 0));
    assert_eq!(spaces(&w), vec![PERSONAL.to_string()]);
    w.maps
        .push(("textual".into(), vec![0.0; 2 * w.meta.n_items]));
    assert_eq!(spaces(&w), vec!["textual".to_string(), PERSONAL.into()]);
    assert!(stored(&w, "textual").is_some() && stored(&w, "visual").is_none());
}
