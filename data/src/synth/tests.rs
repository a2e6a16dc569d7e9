//! Tests of the synthetic generator: determinism, loadability, split rule,
//! ground truth, and that the planted structure is really in the features.

use super::*;
use crate::{Dataset, load_dataset, read_truth, split_counts};

fn gen_demo(seed: u64) -> (tempfile::TempDir, GeneratedSummary) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(Preset::Demo, seed, dir.path()).unwrap();
    (dir, summary)
}

/// `(user, item)` of every `.inter` data line, in file order.
fn inter_lines(dir: &Path) -> Vec<(usize, u32, u64, u8)> {
    let text = std::fs::read_to_string(dir.join("demo.inter")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

fn normalised_rows(ds: &Dataset, modality: &str) -> Vec<Vec<f32>> {
    let m = ds.modality(modality).unwrap();
    (0..ds.n_items)
        .map(|j| {
            let r = m.row(j);
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(|x| x / n).collect()
        })
        .collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = b.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    d / n // `a` is already unit length
}

#[test]
fn preset_names_roundtrip() {
    for p in Preset::ALL {
        assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        assert_eq!(p.to_string(), p.name());
    }
    assert_eq!(" Baby ".parse::<Preset>().unwrap(), Preset::Baby);
    let msg = "clothing".parse::<Preset>().unwrap_err().to_string();
    assert!(msg.contains("clothing") && msg.contains("demo"), "{msg}");
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let (a, sa) = gen_demo(7);
    let (b, _) = gen_demo(7);
    let (c, _) = gen_demo(8);
    let names: Vec<PathBuf> = sa
        .files
        .iter()
        .map(|p| p.file_name().unwrap().into())
        .collect();
    assert_eq!(names.len(), 5);
    let mut differs = 0;
    for n in &names {
        let x = std::fs::read(a.path().join(n)).unwrap();
        let y = std::fs::read(b.path().join(n)).unwrap();
        assert!(
            x == y,
            "{} differs between two runs with seed 7",
            n.display()
        );
        differs += usize::from(x != std::fs::read(c.path().join(n)).unwrap());
    }
    assert_eq!(differs, names.len(), "seed 8 should change every file");
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 5);
}

#[test]
fn interaction_counts_are_exact_for_every_preset() {
    for p in Preset::ALL {
        let cfg = p.config();
        let lens = allocate_lengths(&cfg, &mut rng_stream(1, 4));
        assert_eq!(lens.len(), cfg.n_users);
        assert_eq!(lens.iter().sum::<usize>(), cfg.n_interactions, "{p}");
        assert!(
            lens.iter()
                .all(|&l| l >= MIN_PER_USER && l <= cfg.n_items / 3)
        );
        // Heavy-tailed but mostly small, like 5-core Amazon data (not the dense preset).
        let small = lens.iter().filter(|&&l| l < 10).count();
        assert!(
            p == Preset::Dense || small * 3 > cfg.n_users,
            "{p}: only {small} users with < 10"
        );
        assert!(lens.iter().any(|&l| l >= 30), "{p}: no heavy users");
    }
}

#[test]
fn demo_loads_with_the_right_counts() {
    let (dir, s) = gen_demo(1);
    assert_eq!(
        (s.n_users, s.n_items, s.n_interactions),
        (2000, 1000, 25_000)
    );
    assert_eq!(s.items_without_interactions, 0);
    let ds = load_dataset(dir.path(), None).unwrap();
    assert_eq!(ds.name, "demo");
    assert_eq!(ds.format, crate::DatasetFormat::Mmrec);
    assert_eq!((ds.n_users, ds.n_items), (2000, 1000));
    let st = ds.stats();
    assert_eq!(st.interactions, 25_000);
    assert_eq!((st.train, st.valid, st.test), (s.train, s.valid, s.test));
    assert_eq!(ds.n_train(), s.train);
    assert_eq!(
        st.dims,
        vec![("visual".to_owned(), 256), ("textual".to_owned(), 128)]
    );
    assert_eq!(
        ds.modality_names(),
        vec!["visual", "textual", "interaction"]
    );
    assert_eq!(ds.report.duplicates_removed, 0);
    assert_eq!(ds.report.users_dropped_no_train, 0);
    assert_eq!(ds.report.users_dropped_empty, 0);
    let cat = ds.catalogue.as_ref().unwrap();
    assert_eq!(cat.len(), 1000);
    assert!(cat.iter().enumerate().all(|(i, it)| it.id as usize == i));
    assert!(cat[0].picture.is_some() && !cat[0].title.is_empty());
    // Every user has >= 5 interactions, every item at least one.
    let mut item_count = vec![0; ds.n_items];
    for u in 0..ds.n_users {
        let all: Vec<u32> = [&ds.train[u], &ds.valid[u], &ds.test[u]]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        assert!(all.len() >= 5);
        all.iter().for_each(|&j| item_count[j as usize] += 1);
    }
    assert!(item_count.iter().all(|&c| c > 0));
    let shown = st.to_string();
    assert!(
        shown.contains("2,000") && shown.contains("25,000"),
        "{shown}"
    );
    assert!(
        shown.contains("98.75%") && shown.contains("256 / 128"),
        "{shown}"
    );
}

#[test]
fn splits_follow_the_temporal_rule() {
    let (dir, _) = gen_demo(2);
    let lines = inter_lines(dir.path());
    let ds = load_dataset(dir.path(), None).unwrap();
    let mut sizes = std::collections::BTreeMap::new();
    for u in 0..ds.n_users {
        let n = ds.train[u].len() + ds.valid[u].len() + ds.test[u].len();
        assert_eq!(
            (ds.train[u].len(), ds.valid[u].len(), ds.test[u].len()),
            split_counts(n),
            "user {u}"
        );
        *sizes.entry(n >= 10).or_insert(0) += 1;
    }
    assert!(
        sizes.len() == 2,
        "both split regimes should occur: {sizes:?}"
    );
    // Per user: timestamps strictly increase and labels never go back in time.
    for w in lines.windows(2) {
        if w[0].0 == w[1].0 {
            assert!(w[0].2 < w[1].2, "timestamps not increasing: {w:?}");
            assert!(w[0].3 <= w[1].3, "x_label goes back in time: {w:?}");
        }
    }
}

#[test]
fn truth_is_consistent_and_drives_interactions() {
    let (dir, s) = gen_demo(3);
    let truth = read_truth(dir.path()).unwrap().unwrap();
    assert_eq!(truth.modalities, vec!["visual", "textual", "interaction"]);
    assert_eq!(truth.user_preference.len(), s.n_users);
    for row in &truth.user_preference {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
    }
    let lines = inter_lines(dir.path());
    assert_eq!(truth.interaction_modality.len(), lines.len());
    // The observed driving-modality share tracks the planted preference.
    let mut observed = vec![[0f32; 3]; s.n_users];
    for (&(u, ..), &m) in lines.iter().zip(&truth.interaction_modality) {
        observed[u][usize::from(m)] += 1.0;
    }
    let (mut err, mut base) = (0f32, 0f32);
    for (o, p) in observed.iter().zip(&truth.user_preference) {
        let n: f32 = o.iter().sum();
        for m in 0..3 {
            err += (o[m] / n - p[m]).abs();
            base += (o[m] / n - 1.0 / 3.0).abs();
        }
    }
    assert!(
        err < 0.6 * base,
        "driving modalities ignore the preference: {err} vs {base}"
    );
}

#[test]
fn interaction_drivers_follow_the_inter_lines() {
    let (dir, _) = gen_demo(5);
    let truth = read_truth(dir.path()).unwrap().unwrap();
    let drivers = crate::interaction_drivers(dir.path(), &truth)
        .unwrap()
        .unwrap();
    let lines = inter_lines(dir.path());
    assert_eq!(drivers.len(), lines.len(), "one driver per (user, item)");
    for (&(u, item, ..), &m) in lines.iter().zip(&truth.interaction_modality) {
        assert_eq!(drivers[&(u as u32, item)], m, "user {u} item {item}");
    }
    // A truth.json from another dataset is refused, naming the fix.
    let mut other = truth.clone();
    other.interaction_modality.pop();
    let msg = crate::interaction_drivers(dir.path(), &other)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("truth.json") && msg.contains("regenerate"),
        "{msg}"
    );
    // No drivers recorded: nothing to align.
    other.interaction_modality.clear();
    assert!(
        crate::interaction_drivers(dir.path(), &other)
            .unwrap()
            .is_none()
    );
}

/// Leave-one-out: how much closer (cosine, in `space`) an item driven by
/// `driver` is to the centroid of the user's other `driver`-driven items than a
/// random item is.
fn loo_gap(
    ds: &Dataset,
    lines: &[(usize, u32, u64, u8)],
    mods: &[u8],
    driver: u8,
    space: &str,
) -> f32 {
    let rows = normalised_rows(ds, space);
    let mut per_user: Vec<Vec<u32>> = vec![Vec::new(); ds.n_users];
    for (&(u, j, ..), &m) in lines.iter().zip(mods) {
        if m == driver {
            per_user[u].push(j);
        }
    }
    let mut rng = rng_stream(99, 0);
    let (mut pos, mut neg, mut n) = (0f32, 0f32, 0f32);
    for items in per_user.iter().filter(|v| v.len() >= 3) {
        for (k, &j) in items.iter().enumerate() {
            let mut c = vec![0f32; rows[0].len()];
            for (_, &o) in items.iter().enumerate().filter(|(i, _)| *i != k) {
                c.iter_mut()
                    .zip(&rows[o as usize])
                    .for_each(|(a, b)| *a += b);
            }
            let r = rng.random_range(0..ds.n_items);
            pos += cos(&rows[j as usize], &c);
            neg += cos(&rows[r], &c);
            n += 1.0;
        }
    }
    (pos - neg) / n
}

#[test]
fn planted_structure_is_in_the_features() {
    let (dir, _) = gen_demo(4);
    let ds = load_dataset(dir.path(), None).unwrap();
    let truth = read_truth(dir.path()).unwrap().unwrap();
    let lines = inter_lines(dir.path());
    let mods = &truth.interaction_modality;
    let vv = loo_gap(&ds, &lines, mods, 0, "visual");
    let tv = loo_gap(&ds, &lines, mods, 1, "visual");
    let tt = loo_gap(&ds, &lines, mods, 1, "textual");
    let vt = loo_gap(&ds, &lines, mods, 0, "textual");
    let it = loo_gap(&ds, &lines, mods, 2, "visual");
    eprintln!("visual-driven in visual {vv:.3}, textual-driven in visual {tv:.3}");
    eprintln!("textual-driven in textual {tt:.3}, visual-driven in textual {vt:.3}");
    eprintln!("interaction-driven in visual {it:.3}");
    // Items a user chose for their look cluster in visual space...
    assert!(vv > 0.15, "visual gap {vv}");
    assert!(tt > 0.15, "textual gap {tt}");
    // ...much more than items the user chose for another reason.
    assert!(vv > 3.0 * tv.max(0.0), "visual {vv} vs textual-driven {tv}");
    assert!(tt > 3.0 * vt.max(0.0), "textual {tt} vs visual-driven {vt}");
    assert!(
        vv > 3.0 * it.max(0.0),
        "visual {vv} vs interaction-driven {it}"
    );
}

#[test]
fn chosen_items_are_near_the_users_taste() {
    let world = build_world(Preset::Demo.config(), 5);
    let mut rng = rng_stream(5, 99);
    for m in 0..3u8 {
        let mi = usize::from(m);
        let (mut chosen, mut random, mut n) = (0f32, 0f32, 0f32);
        for (u, evs) in world.events.iter().enumerate() {
            for e in evs.iter().filter(|e| e.modality == m) {
                let t = &world.taste[mi][u];
                let d = |z: &Latent| z.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
                chosen += d(&world.z[mi][e.item as usize]);
                random += d(&world.z[mi][rng.random_range(0..world.cfg.n_items)]);
                n += 1.0;
            }
        }
        let (chosen, random) = (chosen / n, random / n);
        eprintln!("modality {m}: mean sq. distance chosen {chosen:.3}, random {random:.3}");
        assert!(chosen < 0.5 * random, "modality {m}: {chosen} vs {random}");
    }
}

#[test]
fn refuses_a_directory_with_another_dataset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("baby.inter"), "x").unwrap();
    let msg = generate(Preset::Demo, 1, dir.path())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("baby.inter") && msg.contains("empty"), "{msg}");
}

/// `cargo test --release -p mario-data -- --ignored --nocapture generation_time`
#[test]
#[ignore = "slow: generates the baby and sports presets (≈ 550 MB)"]
fn generation_time() {
    for p in Preset::ALL {
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let s = generate(p, 0, dir.path()).unwrap();
        eprintln!("{p}: generated in {:.2?}: {s}", t.elapsed());
        let t = std::time::Instant::now();
        let ds = load_dataset(dir.path(), None).unwrap();
        eprintln!("{p}: loaded in {:.2?}\n{}", t.elapsed(), ds.stats());
        assert_eq!(ds.stats().interactions, s.n_interactions);
        assert_eq!(s.items_without_interactions, 0);
    }
}
