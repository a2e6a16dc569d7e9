//! Writing a sampled world: the MMRec files (`.inter`, feature `.npy`), `items.jsonl` and
//! `truth.json`, into a directory that holds no other dataset.

use super::*;

/// Generates the `preset` catalogue with `seed` into directory `out` (created if
/// needed). Refuses to write into a directory holding another dataset's
/// `.inter`/`*_feat.npy` files that the loader would pick up.
pub fn generate(preset: Preset, seed: u64, out: &Path) -> Result<GeneratedSummary, DataError> {
    let cfg = preset.config();
    std::fs::create_dir_all(out).map_err(|e| DataError::io(out, e))?;
    check_out_dir(out, cfg.name)?;
    let start = std::time::Instant::now();
    let world = build_world(cfg, seed);
    tracing::debug!(preset = %preset, elapsed = ?start.elapsed(), "sampled the synthetic world");
    let mut files = Vec::new();

    // <name>.inter
    let inter = out.join(format!("{}.inter", world.cfg.name));
    let mut split = [0usize; 3];
    let mut ts_rng = rng_stream(seed, 7);
    let mut text = String::with_capacity(world.cfg.n_interactions * 32);
    text.push_str(mmrec::INTER_HEADER);
    text.push('\n');
    let mut interaction_modality = Vec::with_capacity(world.cfg.n_interactions);
    for (u, evs) in world.events.iter().enumerate() {
        let mut t: u64 = 1_388_534_400 + ts_rng.random_range(0..3 * 365 * 86_400);
        for (k, e) in evs.iter().enumerate() {
            t += ts_rng.random_range(3_600..30 * 86_400);
            let rating = match ts_rng.random_range(0..20u8) {
                0..=10 => 5,
                11..=16 => 4,
                _ => 3,
            };
            let label = split_label(k, evs.len());
            split[usize::from(label)] += 1;
            interaction_modality.push(e.modality);
            let _ = writeln!(text, "{u}\t{}\t{rating}\t{t}\t{label}", e.item);
        }
    }
    fsutil::write_atomic(&inter, |w| w.write_all(text.as_bytes()))?;
    drop(text);
    files.push(inter);

    // Feature matrices.
    for (m, file) in ["image_feat.npy", "text_feat.npy"].into_iter().enumerate() {
        let path = out.join(file);
        write_features(&world, m, seed, &path)?;
        files.push(path);
    }

    // items.jsonl
    let catalogue = catalogue(&world);
    let path = out.join(items::ITEMS_FILE);
    items::write_catalogue(&path, &catalogue)?;
    files.push(path);

    // truth.json
    let truth = Truth {
        modalities: MODALITIES.iter().map(|s| (*s).to_owned()).collect(),
        user_preference: world.pref.iter().map(|p| p.to_vec()).collect(),
        interaction_modality,
    };
    crate::truth::write_truth(out, &truth)?;
    files.push(out.join(TRUTH_FILE));

    let n_interactions = world.events.iter().map(Vec::len).sum();
    if world.uncovered > 0 {
        tracing::warn!(
            "{} items could not be given an interaction",
            world.uncovered
        );
    }
    tracing::info!(preset = %preset, elapsed = ?start.elapsed(), "generated {}", out.display());
    Ok(GeneratedSummary {
        preset,
        seed,
        name: world.cfg.name.to_owned(),
        dir: out.to_path_buf(),
        n_users: world.cfg.n_users,
        n_items: world.cfg.n_items,
        n_interactions,
        train: split[0],
        valid: split[1],
        test: split[2],
        dims: vec![
            ("visual".to_owned(), world.cfg.dims[0]),
            ("textual".to_owned(), world.cfg.dims[1]),
        ],
        items_without_interactions: world.uncovered,
        files,
    })
}

fn check_out_dir(out: &Path, name: &str) -> Result<(), DataError> {
    let ours = format!("{name}.inter");
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(out).map_err(|e| DataError::io(out, e))? {
        let entry = entry.map_err(|e| DataError::io(out, e))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let clash = (file.ends_with(".inter") && file != ours)
            || (file.ends_with("_feat.npy") && file != "image_feat.npy" && file != "text_feat.npy")
            || file == "5-core";
        if clash {
            foreign.push(file);
        }
    }
    if foreign.is_empty() {
        Ok(())
    } else {
        foreign.sort();
        Err(DataError::invalid(
            out,
            format!(
                "directory already holds another dataset's files ({}); generate into an empty \
                 directory or remove them",
                foreign.join(", ")
            ),
        ))
    }
}

/// Streams modality `m`'s feature matrix: `(A z_j + B n_j + ε) / 2` with fixed
/// Gaussian projections `A`, `B`, nuisance latent `n_j` and noise `ε`.
fn write_features(world: &World, m: usize, seed: u64, path: &Path) -> Result<(), DataError> {
    let dim = world.cfg.dims[m];
    let signal = SIGNAL_DIMS[m];
    let mut rng = rng_stream(seed, 10 + m as u64);
    let proj: Vec<f32> = (0..dim * signal).map(|_| gauss(&mut rng)).collect();
    let nuis_proj: Vec<f32> = (0..dim * NUISANCE).map(|_| gauss(&mut rng)).collect();
    let nuis_scale = (NUISANCE as f32).sqrt().recip();
    let mut nuis = [0f32; NUISANCE];
    npy::write_matrix_with(path, world.cfg.n_items, dim, |j, row| {
        let zj = &world.z[m][j][..signal];
        for x in nuis.iter_mut() {
            *x = gauss(&mut rng) * nuis_scale;
        }
        for (i, out) in row.iter_mut().enumerate() {
            let a = &proj[i * signal..(i + 1) * signal];
            let b = &nuis_proj[i * NUISANCE..(i + 1) * NUISANCE];
            let s: f32 = a.iter().zip(zj).map(|(x, y)| x * y).sum::<f32>()
                + b.iter().zip(&nuis).map(|(x, y)| x * y).sum::<f32>();
            *out = 0.5 * (s + FEATURE_NOISE * gauss(&mut rng));
        }
    })
}

fn catalogue(world: &World) -> Vec<ItemInfo> {
    let v = world.cfg.vocab;
    world
        .factors
        .iter()
        .enumerate()
        .map(|(id, f)| {
            let palette = &PALETTES[f.palette];
            let shape = SHAPES[f.shape];
            let (pattern, adjective) = PATTERNS[f.pattern];
            let category = v.categories[f.category];
            let style = v.styles[f.style];
            ItemInfo {
                id: id as u32,
                title: format!(
                    "{} {} {adjective} {shape} {category}",
                    capitalise(style),
                    palette.name
                ),
                category: category.to_owned(),
                description: format!(
                    "A {style} {category} in {} tones with a {adjective} {shape} print.",
                    palette.name
                ),
                picture: Some(PictureDescriptor {
                    shape: shape.to_owned(),
                    colors: palette.colors.iter().map(|c| (*c).to_owned()).collect(),
                    pattern: pattern.to_owned(),
                }),
                image_url: None,
            }
        })
        .collect()
}
