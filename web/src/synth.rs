//! Seeded synthetic MARIO models with a structured catalogue, for the placeholder demo
//! file (`cargo run -p mario-web --example placeholder_weights`) and the 100k-item
//! benchmark the page generates in the browser.
//!
//! Items get a category, a shape, a pattern and colours; their `visual` embedding is built
//! from shape/colour/pattern prototypes, `textual` from the category prototype and
//! `interaction` from a mix of both plus noise. Users mix a visual taste, a textual taste
//! and a collaborative taste with random weights, so different users are dominated by
//! different modalities. For small catalogues the training history is sampled from the
//! model's own scores (with Gumbel noise) and 20% of it is held out to compute honest
//! recall/NDCG@20 for the file's `metrics`; for large ones it is random.

use mario_shared::metrics::MetricsAccumulator;
use mario_shared::{
    FusionKind, ItemInfo, ModelWeights, PictureDescriptor, Scorer, StorageDtype, WeightsMeta,
};

use crate::foldin::SplitMix64;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    pub n_users: usize,
    pub n_items: usize,
    pub d: usize,
    pub seed: u64,
    pub dtype: StorageDtype,
    /// Training items per user (inclusive range).
    pub history: (usize, usize),
    pub dataset: String,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            n_users: 300,
            n_items: 600,
            d: 64,
            seed: 7,
            dtype: StorageDtype::F16,
            history: (6, 24),
            dataset: "synthetic".into(),
        }
    }
}

/// Catalogues above this size get random histories and no metrics (the bench model).
pub const REALISTIC_HISTORY_MAX_ITEMS: usize = 20_000;

const CATEGORIES: [(&str, [&str; 4]); 8] = [
    ("Bath", ["Towel", "Bath Toy", "Sponge", "Bath Seat"]),
    ("Feeding", ["Bottle", "Bib", "Sippy Cup", "Bowl Set"]),
    ("Toys", ["Rattle", "Stacking Rings", "Plush", "Teether"]),
    (
        "Nursery",
        ["Night Light", "Mobile", "Blanket", "Storage Bin"],
    ),
    ("Clothing", ["Onesie", "Beanie", "Socks", "Sleep Sack"]),
    (
        "Travel",
        ["Stroller Fan", "Car Mirror", "Diaper Bag", "Travel Mat"],
    ),
    (
        "Books",
        ["Board Book", "Cloth Book", "Bath Book", "Picture Book"],
    ),
    (
        "Health",
        ["Thermometer", "Nail Kit", "Brush Set", "Humidifier"],
    ),
];
const SHAPES: [&str; 6] = ["circle", "square", "triangle", "diamond", "hexagon", "star"];
const PATTERNS: [&str; 5] = ["solid", "stripes", "dots", "checks", "waves"];
const COLOURS: [(&str, &str); 10] = [
    ("Coral", "#f26b5b"),
    ("Mint", "#5cc8a8"),
    ("Sky", "#5aa9e6"),
    ("Sunny", "#f4c542"),
    ("Lilac", "#a98bd6"),
    ("Navy", "#2f4b7c"),
    ("Sage", "#8fae7e"),
    ("Peach", "#f6a97a"),
    ("Berry", "#b23a6f"),
    ("Slate", "#5f6b7a"),
];
const BACKGROUNDS: [&str; 5] = ["#fbf7f0", "#f1f6fb", "#f4f1fa", "#f0f7f2", "#fdf3f2"];
const ADJECTIVES: [&str; 8] = [
    "Soft", "Classic", "Cosy", "Little", "Bright", "Gentle", "Happy", "Snug",
];

fn gaussian(rng: &mut SplitMix64, d: usize) -> Vec<f32> {
    (0..d).map(|_| rng.normal()).collect()
}

fn scaled(v: Vec<f32>, norm: f32) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x * norm / n).collect()
}

fn mix(parts: &[(f32, &[f32])], d: usize) -> Vec<f32> {
    let mut out = vec![0f32; d];
    for (w, v) in parts {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += w * x / n;
        }
    }
    out
}

/// Generates a model (deterministic in the spec).
pub fn synthetic_model(spec: &SynthSpec) -> ModelWeights {
    let d = spec.d.max(1);
    let mut rng = SplitMix64(spec.seed ^ 0x005E_ED0F_4D41_5249);
    let cat_proto: Vec<Vec<f32>> = (0..CATEGORIES.len())
        .map(|_| gaussian(&mut rng, d))
        .collect();
    let shape_proto: Vec<Vec<f32>> = (0..SHAPES.len()).map(|_| gaussian(&mut rng, d)).collect();
    let colour_proto: Vec<Vec<f32>> = (0..COLOURS.len()).map(|_| gaussian(&mut rng, d)).collect();
    let pattern_proto: Vec<Vec<f32>> = (0..PATTERNS.len()).map(|_| gaussian(&mut rng, d)).collect();
    const ITEM_NORM: f32 = 6.0;
    const USER_NORM: f32 = 7.0;

    let mut visual = Vec::with_capacity(spec.n_items * d);
    let mut textual = Vec::with_capacity(spec.n_items * d);
    let mut interaction = Vec::with_capacity(spec.n_items * d);
    let mut catalogue = Vec::with_capacity(spec.n_items);
    for id in 0..spec.n_items {
        let cat = rng.below(CATEGORIES.len());
        let shape = rng.below(SHAPES.len());
        let pattern = rng.below(PATTERNS.len());
        let fill = rng.below(COLOURS.len());
        let accent = (fill + 1 + rng.below(COLOURS.len() - 1)) % COLOURS.len();
        let noise = gaussian(&mut rng, d);
        visual.extend(scaled(
            mix(
                &[
                    (1.0, &shape_proto[shape]),
                    (0.8, &colour_proto[fill]),
                    (0.4, &pattern_proto[pattern]),
                    (0.5, &noise),
                ],
                d,
            ),
            ITEM_NORM,
        ));
        let noise = gaussian(&mut rng, d);
        textual.extend(scaled(
            mix(&[(1.0, &cat_proto[cat]), (0.6, &noise)], d),
            ITEM_NORM,
        ));
        let noise = gaussian(&mut rng, d);
        interaction.extend(scaled(
            mix(
                &[
                    (0.6, &cat_proto[cat]),
                    (0.4, &shape_proto[shape]),
                    (0.5, &noise),
                ],
                d,
            ),
            ITEM_NORM,
        ));
        let (cat_name, nouns) = CATEGORIES[cat];
        let noun = nouns[rng.below(nouns.len())];
        let adjective = ADJECTIVES[rng.below(ADJECTIVES.len())];
        let (colour_name, colour_hex) = COLOURS[fill];
        catalogue.push(ItemInfo {
            id: id as u32,
            title: format!("{adjective} {colour_name} {noun}"),
            category: cat_name.to_string(),
            description: format!(
                "A {} {} {} in {}, with {} accents.",
                PATTERNS[pattern],
                SHAPES[shape],
                noun.to_lowercase(),
                colour_name.to_lowercase(),
                COLOURS[accent].0.to_lowercase()
            ),
            picture: Some(PictureDescriptor {
                shape: SHAPES[shape].to_string(),
                colors: vec![
                    colour_hex.to_string(),
                    COLOURS[accent].1.to_string(),
                    BACKGROUNDS[rng.below(5)].to_string(),
                ],
                pattern: PATTERNS[pattern].to_string(),
            }),
            image_url: None,
        });
    }

    let mut user_embedding = Vec::with_capacity(spec.n_users * d);
    for _ in 0..spec.n_users {
        // Random modality mix (squared uniforms favour one dominant taste).
        let raw: Vec<f32> = (0..3).map(|_| rng.next_f32().powi(2) + 0.05).collect();
        let total: f32 = raw.iter().sum();
        let (wv, wt, wi) = (raw[0] / total, raw[1] / total, raw[2] / total);
        let (cat, shape, fill) = (
            rng.below(CATEGORIES.len()),
            rng.below(SHAPES.len()),
            rng.below(COLOURS.len()),
        );
        let visual_taste = mix(&[(1.0, &shape_proto[shape]), (0.8, &colour_proto[fill])], d);
        let collab_taste = mix(&[(0.6, &cat_proto[cat]), (0.4, &shape_proto[shape])], d);
        let noise = gaussian(&mut rng, d);
        user_embedding.extend(scaled(
            mix(
                &[
                    (wv, &visual_taste),
                    (wt, &cat_proto[cat]),
                    (wi, &collab_taste),
                    (0.25, &noise),
                ],
                d,
            ),
            USER_NORM,
        ));
    }

    let mut w = ModelWeights {
        meta: WeightsMeta {
            modalities: vec!["visual".into(), "textual".into(), "interaction".into()],
            d,
            n_users: spec.n_users,
            n_items: spec.n_items,
            dtype: spec.dtype,
            fusion: FusionKind::Attention,
            dataset: spec.dataset.clone(),
            config: serde_json::json!({
                "generator": "mario-web synth (placeholder, not trained)",
                "seed": spec.seed,
                "d": d,
            }),
            metrics: serde_json::Value::Null,
        },
        user_embedding,
        item_embedding: vec![visual, textual, interaction],
        train_indptr: vec![0],
        train_indices: Vec::new(),
        fusion_fc: None,
        maps: Vec::new(),
        catalogue,
    };

    let (lo, hi) = (
        spec.history.0.max(1),
        spec.history.1.max(spec.history.0.max(1)),
    );
    let realistic = spec.n_items <= REALISTIC_HISTORY_MAX_ITEMS;
    let mut tests: Vec<Vec<u32>> = Vec::new();
    let mut indices = Vec::new();
    let mut indptr = vec![0u32];
    for user in 0..spec.n_users {
        let h = (lo + rng.below(hi - lo + 1)).min(spec.n_items.saturating_sub(1));
        let mut picked: Vec<u32> = if realistic {
            let scores = Scorer::new(&w).score_all(w.user_vector(user).unwrap_or(&[]));
            let mut noisy: Vec<(f32, u32)> = scores
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    let gumbel = -(-(rng.next_f32().max(1e-7)).ln()).ln();
                    (s + 1.5 * gumbel, j as u32)
                })
                .collect();
            let take = (h + h / 4).min(noisy.len());
            noisy.select_nth_unstable_by(take.saturating_sub(1), |a, b| b.0.total_cmp(&a.0));
            noisy.truncate(take);
            noisy.into_iter().map(|(_, j)| j).collect()
        } else {
            let mut v: Vec<u32> = (0..h).map(|_| rng.below(spec.n_items) as u32).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut test = Vec::new();
        if realistic {
            // Hold out every fifth picked item (at random positions) as test.
            for k in (0..picked.len()).rev() {
                if rng.below(5) == 0 && picked.len() > 1 {
                    test.push(picked.swap_remove(k));
                }
            }
        }
        picked.sort_unstable();
        test.sort_unstable();
        indices.extend_from_slice(&picked);
        indptr.push(indices.len() as u32);
        tests.push(test);
    }
    w.train_indptr = indptr;
    w.train_indices = indices;

    if realistic {
        let mut acc = MetricsAccumulator::new(&[10, 20]);
        let s = Scorer::new(&w);
        for (user, test) in tests.iter().enumerate() {
            if let Some(recs) = s.recommend(user, 20) {
                let ranked: Vec<u32> = recs.iter().map(|r| r.item).collect();
                acc.add(&ranked, test);
            }
        }
        let report = acc.finish();
        let pick = |k: &str| serde_json::json!((report.get(k) * 1e4).round() / 1e4);
        w.meta.metrics = serde_json::json!({
            "test": {
                "recall@10": pick("recall@10"),
                "recall@20": pick("recall@20"),
                "ndcg@10": pick("ndcg@10"),
                "ndcg@20": pick("ndcg@20"),
                "precision@20": pick("precision@20"),
            },
            "note": "held-out synthetic interactions; the embeddings are the generator's, not trained"
        });
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influence::compute_cpu;

    #[test]
    fn writes_a_valid_file_and_is_deterministic() {
        let spec = SynthSpec {
            n_users: 40,
            n_items: 120,
            d: 16,
            ..SynthSpec::default()
        };
        let w = synthetic_model(&spec);
        assert_eq!(w, synthetic_model(&spec));
        w.check_consistent().unwrap();
        let bytes = w.to_bytes().unwrap();
        let back = ModelWeights::from_bytes(&bytes).unwrap();
        assert_eq!(back.catalogue, w.catalogue);
        assert_eq!(back.train_indices, w.train_indices);
        assert!(
            w.catalogue
                .iter()
                .all(|i| i.picture.is_some() && !i.title.is_empty())
        );
        let recall = w.meta.metrics["test"]["recall@20"].as_f64().unwrap();
        assert!(
            recall > 0.2,
            "the generator's own scores should find held-out items: {recall}"
        );
        for user in 0..40 {
            assert!(!w.train_items(user).is_empty());
        }
    }

    #[test]
    fn users_are_dominated_by_different_modalities() {
        let w = synthetic_model(&SynthSpec {
            n_users: 120,
            n_items: 200,
            d: 32,
            ..SynthSpec::default()
        });
        let inf = compute_cpu(&w);
        let share = inf.dominant_share();
        assert!(
            share.iter().filter(|&&s| s > 0.05).count() >= 2,
            "{share:?}"
        );
    }

    #[test]
    fn large_catalogues_get_random_histories() {
        let w = synthetic_model(&SynthSpec {
            n_users: 3,
            n_items: 25_000,
            d: 8,
            ..SynthSpec::default()
        });
        assert_eq!(w.item_embedding[0].len(), 25_000 * 8);
        assert!(w.meta.metrics.is_null());
        w.check_consistent().unwrap();
    }
}
