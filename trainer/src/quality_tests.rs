//! The quality bars on the demo catalogue, one test per claim over one set of trained
//! runs (trained once, by whichever test asks first): MARIO against popularity and
//! LightGCN, MARIO on BPRMF against BPRMF, the burn model against the reference scorer,
//! the exported file and its quantisation, the item maps, planted-modality recovery.

use std::sync::OnceLock;

use mario_shared::scorer::Scorer;
use mario_shared::weights::{ModelWeights, StorageDtype};

use crate::commands::weights::evaluate_weights;
use crate::config::{CfBackbone, TrainConfig};
use crate::eval::{Split, evaluate_popularity};
use crate::training_tests::{demo, demo_config, run, test_recall};

/// What the claims read from the trained runs (plain data, so it can be shared).
struct Trained {
    /// Test Recall@20: MARIO, LightGCN, MARIO on BPRMF, BPRMF, popularity.
    mario: f64,
    lightgcn: f64,
    mario_bprmf: f64,
    bprmf: f64,
    popularity: f64,
    /// MARIO's best parameters as an f32 weights file.
    weights: mario_shared::weights::ModelWeights,
    /// The burn model's scores of every item for `users`, row by row.
    users: Vec<u32>,
    burn_scores: Vec<f32>,
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let d = demo();
        let work = tempfile::tempdir().unwrap();
        let config = demo_config();
        let with = |cf: CfBackbone, modalities: Option<Vec<String>>| TrainConfig {
            cf,
            modalities: modalities.unwrap_or_else(|| config.modalities.clone()),
            ..config.clone()
        };
        let interaction = || Some(vec!["interaction".to_owned()]);
        let mario = run(&config, &work.path().join("mario"));
        let lightgcn = run(&with(config.cf, interaction()), &work.path().join("lightgcn"));
        let mario_bprmf = run(&with(CfBackbone::Bprmf, None), &work.path().join("mario-bprmf"));
        let bprmf = run(&with(CfBackbone::Bprmf, interaction()), &work.path().join("bprmf"));
        let popularity = evaluate_popularity(&d.dataset, Split::Test, &[20])
            .unwrap()
            .get("recall@20");
        let weights = crate::export::build_weights(
            &mario.model,
            &mario.best_params,
            &mario.metrics,
            &d.dataset,
            StorageDtype::F32,
        );
        let users: Vec<u32> = (0..d.dataset.n_users as u32).step_by(7).collect();
        let emb = mario.model.embeddings(&mario.best_params);
        let burn_scores =
            crate::train::model_scores(&mario.model, &emb, &mario.best_params, &users);
        let trained = Trained {
            mario: test_recall(&mario),
            lightgcn: test_recall(&lightgcn),
            mario_bprmf: test_recall(&mario_bprmf),
            bprmf: test_recall(&bprmf),
            popularity,
            weights,
            users,
            burn_scores,
        };
        eprintln!(
            "test recall@20: popularity {:.4}, MARIO {:.4}, LightGCN {:.4}, MARIO(BPRMF) {:.4}, BPRMF {:.4}",
            trained.popularity, trained.mario, trained.lightgcn, trained.mario_bprmf, trained.bprmf
        );
        trained
    })
}

#[test]
fn mario_beats_popularity_by_half_and_lightgcn_by_a_tenth() {
    let t = trained();
    assert!(
        t.mario >= 1.5 * t.popularity,
        "MARIO {} vs popularity {}",
        t.mario,
        t.popularity
    );
    assert!(
        t.mario >= 1.10 * t.lightgcn,
        "MARIO {} vs LightGCN {}",
        t.mario,
        t.lightgcn
    );
}

#[test]
fn mario_on_bprmf_beats_bprmf() {
    let t = trained();
    assert!(
        t.mario_bprmf > t.bprmf,
        "MARIO(BPRMF) {} vs BPRMF {}",
        t.mario_bprmf,
        t.bprmf
    );
}

/// The burn model and the reference scorer agree on every score.
#[test]
fn burn_model_and_reference_scorer_agree_on_every_score() {
    let t = trained();
    let n_items = demo().dataset.n_items;
    let scorer = Scorer::new(&t.weights);
    for (row, &u) in t.burn_scores.chunks(n_items).zip(&t.users) {
        let reference = scorer.score_all(t.weights.user_vector(u as usize).unwrap());
        for (a, b) in row.iter().zip(&reference) {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "user {u}: burn {a} vs scorer {b}"
            );
        }
    }
}

/// The exported f32 file reproduces the run's test recall; f16 and int8 lose at most
/// 0.5 % and 2 % of it, measured through the file format.
#[test]
fn exported_file_reproduces_the_run_and_quantisation_loses_little() {
    let t = trained();
    let d = demo();
    let f32_recall = evaluate_weights(&t.weights, &d.dataset, Split::Test)
        .unwrap()
        .get("recall@20");
    assert!(
        (f32_recall - t.mario).abs() < 1e-9,
        "f32 file {f32_recall} vs run {}",
        t.mario
    );
    for (dtype, tolerance) in [(StorageDtype::F16, 0.005), (StorageDtype::Int8, 0.02)] {
        let mut w = t.weights.clone();
        w.meta.dtype = dtype;
        let decoded = ModelWeights::from_bytes(&w.to_bytes().unwrap()).unwrap();
        let r = evaluate_weights(&decoded, &d.dataset, Split::Test)
            .unwrap()
            .get("recall@20");
        let relative = (r - f32_recall).abs() / f32_recall;
        eprintln!(
            "{dtype}: recall@20 {r:.5} vs f32 {f32_recall:.5} ({:.3}% relative)",
            relative * 100.0
        );
        assert!(relative <= tolerance, "{dtype}: {relative}");
    }
}

/// The explorer's item maps: every modality's t-SNE keeps its cosine neighbours
/// (trustworthiness at k = 10 ≥ 0.85 on demo), and the maps survive the file.
#[test]
fn item_maps_keep_their_neighbours_and_survive_the_file() {
    let t = trained();
    let maps = crate::map::item_maps(&t.weights, 7);
    assert_eq!(maps.len(), 3);
    let mut with_maps = t.weights.clone();
    with_maps.maps = maps.clone();
    let quality = crate::map::map_quality(&with_maps);
    assert_eq!(quality.len(), 3, "one figure per map");
    for (name, q) in quality {
        eprintln!("map.{name}: trustworthiness@10 {q:.3}");
        assert!(q >= 0.85, "map.{name}: trustworthiness {q}");
    }
    let back = ModelWeights::from_bytes(&with_maps.to_bytes().unwrap()).unwrap();
    assert_eq!(back.maps, maps);
}

/// Planted-modality recovery: per user, mean attention over the test items tracks the
/// planted preference (Spearman ≥ 0.5 for the visual and textual modalities), and
/// reaches most of what an oracle that knows each test interaction's driving modality
/// gets from the same items.
#[test]
fn planted_modality_preferences_are_recovered() {
    let t = trained();
    let d = demo();
    let recovery =
        crate::eval::planted::planted_recovery(&t.weights, &d.dataset, &d.truth, Some(&d.drivers));
    assert_eq!(recovery.len(), 3, "{recovery:?}");
    for r in &recovery {
        let oracle = r.driver_oracle.expect("the demo records drivers");
        eprintln!(
            "planted {}: Spearman {:.3} over {} users (driver oracle {oracle:.3})",
            r.modality, r.spearman, r.users
        );
        assert_eq!(
            r.users, d.dataset.n_users,
            "every demo user has a test item"
        );
        if r.modality != "interaction" {
            assert!(r.spearman >= 0.5, "{}: Spearman {}", r.modality, r.spearman);
        }
        assert!(
            r.spearman >= 0.8 * oracle,
            "{}: Spearman {} vs driver oracle {oracle}",
            r.modality,
            r.spearman
        );
    }
}
