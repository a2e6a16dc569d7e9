//! The synthetic catalogue: [`generate`] writes a dataset in MMRec layout
//! (`<preset>.inter`, `image_feat.npy`, `text_feat.npy`) plus `items.jsonl` and
//! `truth.json`, with planted, learnable modality structure.
//!
//! # Generative story
//!
//! - **Items** have three latents in `R^24`, each a sum of factor embeddings
//!   (one 8-dim block per factor) plus item jitter:
//!   - visual: palette (10) × shape (6) × pattern (5);
//!   - textual: category (12) × style (8);
//!   - interaction: a co-purchase community (`n_items / 40`), which no feature
//!     file reveals.
//!
//!   Each item also has a log-normal popularity.
//! - **Features** (`visual`, `textual`) are fixed random Gaussian projections of
//!   the item's visual / textual latent plus a nuisance latent and isotropic
//!   Gaussian noise (demo: 256 / 128 dims, baby and sports: 4096 / 1024).
//! - **Users** draw a planted modality preference `π_u ~ Dirichlet(½, ½, ½)` over
//!   (visual, textual, interaction) and a taste point per modality (a random
//!   factor combination plus user jitter).
//! - **Interactions**: a user's interaction count is `5 + extra` with the extras
//!   spread log-normally so the total is exact. For each interaction the driving
//!   modality `m ~ π_u` is drawn, then an item from
//!   `p(j) ∝ exp(-‖τ_u^m − z_j^m‖² / 2T) · pop_j` restricted to the user's top
//!   candidates for `m` (no item twice per user). Items left without any
//!   interaction are then given one by re-pointing an interaction of the user
//!   (among a random sample) who likes them most, taken from an item that has
//!   at least two. Interactions get increasing per-user timestamps in draw
//!   order, and the per-user temporal split of [`crate::split_counts`].
//!
//! `truth.json` records `π_u` per user and the driving modality of every
//! `.inter` line. The same seed gives byte-identical files (ChaCha8 streams,
//! no hash-map iteration).

mod preset;
mod vocab;
mod write;

pub use preset::{GeneratedSummary, Preset};
pub use write::generate;

use std::fmt;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mario_shared::{ItemInfo, PictureDescriptor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Dirichlet, Distribution, StandardNormal};

use crate::error::DataError;
use crate::split::split_label;
use crate::truth::{TRUTH_FILE, Truth};
use crate::{fsutil, items, mmrec, npy};

use vocab::{PALETTES, PATTERNS, SHAPES, Vocabulary, capitalise};

/// Latent dimension of every modality (blocks of [`BLOCK`]).
const K: usize = 24;
/// Dimension of one factor block.
const BLOCK: usize = 8;
/// Nuisance latent dimension mixed into each feature matrix.
const NUISANCE: usize = 8;
/// Norm of item jitter around its factor combination.
const ITEM_JITTER: [f32; 3] = [0.4, 0.4, 0.35];
/// Norm of user jitter around the taste's factor combination.
const USER_JITTER: [f32; 3] = [0.7, 0.7, 0.35];
/// Softmax temperature per modality (a factor mismatch costs about 1/T nats).
const TEMPERATURE: [f32; 3] = [0.2, 0.2, 0.4];
/// Log-normal sigma of item popularity.
const POP_SIGMA: f32 = 0.7;
/// Exponent of popularity in the choice probability.
const POP_BETA: f32 = 0.5;
/// Log-normal sigma of the per-user activity weights.
const ACTIVITY_SIGMA: f32 = 1.0;
/// Minimum interactions per user (5-core).
const MIN_PER_USER: usize = 5;
/// Std of the isotropic feature noise (the projected signal has std ≈ 1.6–1.8).
const FEATURE_NOISE: f32 = 0.5;
/// Dirichlet concentration of the planted modality preferences. Below 1 most users
/// lean clearly towards one modality (at ½, the leading modality's share has
/// median ≈ 0.70), so a handful of test interactions can reveal it: with 1, an
/// oracle knowing each demo test interaction's driving modality correlates with
/// the preference at only ≈ 0.51 (Spearman), at ½ at ≈ 0.65.
const PREFERENCE_ALPHA: f64 = 0.5;
/// Items per interaction community.
const ITEMS_PER_COMMUNITY: usize = 40;
/// Modality names, in `truth.json` order.
const MODALITIES: [&str; 3] = ["visual", "textual", "interaction"];

type Latent = [f32; K];

#[derive(Debug, Clone)]
struct Config {
    name: &'static str,
    n_users: usize,
    n_items: usize,
    n_interactions: usize,
    /// Visual and textual feature dims.
    dims: [usize; 2],
    vocab: &'static Vocabulary,
}

impl Config {
    fn communities(&self) -> usize {
        (self.n_items / ITEMS_PER_COMMUNITY).max(4)
    }
}

/// Discrete factors of one item.
#[derive(Debug, Clone, Copy)]
struct ItemFactors {
    palette: usize,
    shape: usize,
    pattern: usize,
    category: usize,
    style: usize,
}

/// One generated interaction.
#[derive(Debug, Clone, Copy)]
struct Event {
    item: u32,
    modality: u8,
}

/// The whole sampled world, before it is written.
struct World {
    cfg: Config,
    factors: Vec<ItemFactors>,
    /// Item latents per modality.
    z: [Vec<Latent>; 3],
    /// User preference over modalities (sums to 1).
    pref: Vec<[f32; 3]>,
    /// User taste points per modality.
    taste: [Vec<Latent>; 3],
    /// Per user, time-ordered.
    events: Vec<Vec<Event>>,
    /// Items no user could be given.
    uncovered: usize,
}

fn rng_stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    StandardNormal.sample(rng)
}

/// A factor embedding: `N(0, 1/BLOCK)` in block `block`, zero elsewhere (norm ≈ 1).
fn block_vec(rng: &mut ChaCha8Rng, block: usize) -> Latent {
    let mut v = [0f32; K];
    let s = (BLOCK as f32).sqrt().recip();
    for x in &mut v[block * BLOCK..(block + 1) * BLOCK] {
        *x = gauss(rng) * s;
    }
    v
}

/// Isotropic jitter of expected norm `scale` on the first `dims` coordinates.
fn jitter(rng: &mut ChaCha8Rng, dims: usize, scale: f32) -> Latent {
    let mut v = [0f32; K];
    let s = scale / (dims as f32).sqrt();
    for x in &mut v[..dims] {
        *x = gauss(rng) * s;
    }
    v
}

fn add(a: &Latent, b: &Latent) -> Latent {
    std::array::from_fn(|i| a[i] + b[i])
}

fn dot(a: &Latent, b: &Latent) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Factor embeddings of the three latent spaces.
struct Factors {
    palette: Vec<Latent>,
    shape: Vec<Latent>,
    pattern: Vec<Latent>,
    category: Vec<Latent>,
    style: Vec<Latent>,
    community: Vec<Latent>,
}

impl Factors {
    fn sample(cfg: &Config, rng: &mut ChaCha8Rng) -> Self {
        let mut blocks = |n: usize, block: usize| (0..n).map(|_| block_vec(rng, block)).collect();
        let palette = blocks(PALETTES.len(), 0);
        let shape = blocks(SHAPES.len(), 1);
        let pattern = blocks(PATTERNS.len(), 2);
        let category = blocks(cfg.vocab.categories.len(), 0);
        let style = blocks(cfg.vocab.styles.len(), 1);
        // Communities span all of R^K (norm ≈ 1), so they are more numerous yet distinct.
        let community = (0..cfg.communities())
            .map(|_| jitter(rng, K, 1.0))
            .collect();
        Factors {
            palette,
            shape,
            pattern,
            category,
            style,
            community,
        }
    }

    fn visual(&self, f: &ItemFactors) -> Latent {
        add(
            &add(&self.palette[f.palette], &self.shape[f.shape]),
            &self.pattern[f.pattern],
        )
    }

    fn textual(&self, f: &ItemFactors) -> Latent {
        add(&self.category[f.category], &self.style[f.style])
    }
}

/// Dims carrying signal per modality (visual 3 blocks, textual 2, interaction all).
const SIGNAL_DIMS: [usize; 3] = [3 * BLOCK, 2 * BLOCK, K];

/// A random factor combination and community, and the jittered latent of each
/// modality around them. Items and user tastes are drawn the same way (and in the
/// same order of random draws).
fn draw_point(
    rng: &mut ChaCha8Rng,
    cfg: &Config,
    factors: &Factors,
    jitter_norm: [f32; 3],
) -> (ItemFactors, [Latent; 3]) {
    let f = ItemFactors {
        palette: rng.random_range(0..PALETTES.len()),
        shape: rng.random_range(0..SHAPES.len()),
        pattern: rng.random_range(0..PATTERNS.len()),
        category: rng.random_range(0..cfg.vocab.categories.len()),
        style: rng.random_range(0..cfg.vocab.styles.len()),
    };
    let community = rng.random_range(0..factors.community.len());
    let latents = [
        add(
            &factors.visual(&f),
            &jitter(rng, SIGNAL_DIMS[0], jitter_norm[0]),
        ),
        add(
            &factors.textual(&f),
            &jitter(rng, SIGNAL_DIMS[1], jitter_norm[1]),
        ),
        add(
            &factors.community[community],
            &jitter(rng, SIGNAL_DIMS[2], jitter_norm[2]),
        ),
    ];
    (f, latents)
}

fn build_world(cfg: Config, seed: u64) -> World {
    let n_items = cfg.n_items;
    let n_users = cfg.n_users;
    let mut rng = rng_stream(seed, 1);
    let factors = Factors::sample(&cfg, &mut rng);

    // Items.
    let mut rng = rng_stream(seed, 2);
    let mut item_factors = Vec::with_capacity(n_items);
    let mut z: [Vec<Latent>; 3] = Default::default();
    let mut ln_pop = Vec::with_capacity(n_items);
    for _ in 0..n_items {
        let (f, [visual, textual, community]) = draw_point(&mut rng, &cfg, &factors, ITEM_JITTER);
        z[0].push(visual);
        z[1].push(textual);
        z[2].push(community);
        ln_pop.push(gauss(&mut rng) * POP_SIGMA);
        item_factors.push(f);
    }

    // Users: preference and tastes.
    let mut rng = rng_stream(seed, 3);
    let dirichlet = Dirichlet::new([PREFERENCE_ALPHA; 3]).expect("valid Dirichlet parameters");
    let mut pref = Vec::with_capacity(n_users);
    let mut taste: [Vec<Latent>; 3] = Default::default();
    for _ in 0..n_users {
        let p: [f64; 3] = dirichlet.sample(&mut rng);
        let mut p = p.map(|x| x as f32);
        let s: f32 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= s);
        pref.push(p);
        let (_, [visual, textual, community]) = draw_point(&mut rng, &cfg, &factors, USER_JITTER);
        taste[0].push(visual);
        taste[1].push(textual);
        taste[2].push(community);
    }

    let lens = allocate_lengths(&cfg, &mut rng_stream(seed, 4));

    // Per-modality item bias: -‖z_j‖²/2T + β ln pop_j (the user-constant ‖τ‖² is dropped).
    let bias: [Vec<f32>; 3] = std::array::from_fn(|m| {
        z[m].iter()
            .zip(&ln_pop)
            .map(|(zj, lp)| -dot(zj, zj) / (2.0 * TEMPERATURE[m]) + POP_BETA * lp)
            .collect()
    });

    // Interactions.
    let mut rng = rng_stream(seed, 5);
    let mut events: Vec<Vec<Event>> = Vec::with_capacity(n_users);
    let mut taken = vec![u32::MAX; n_items]; // user that already has item j
    let mut logits = vec![0f32; n_items];
    let mut order: Vec<u32> = Vec::with_capacity(n_items);
    let mut pop_order: Vec<u32> = (0..n_items as u32).collect();
    pop_order.sort_by(|&a, &b| {
        ln_pop[b as usize]
            .total_cmp(&ln_pop[a as usize])
            .then(a.cmp(&b))
    });
    for u in 0..n_users {
        let len = lens[u];
        let mods: Vec<u8> = (0..len)
            .map(|_| {
                let r: f32 = rng.random();
                let p = &pref[u];
                if r < p[0] {
                    0
                } else if r < p[0] + p[1] {
                    1
                } else {
                    2
                }
            })
            .collect();
        let mut cands: [Option<Candidates>; 3] = Default::default();
        for m in 0..3 {
            let count = mods.iter().filter(|&&x| usize::from(x) == m).count();
            if count == 0 {
                continue;
            }
            let k = (4 * count).max(48).min(n_items);
            let t = taste[m][u].map(|x| x / TEMPERATURE[m]);
            for ((l, zj), b) in logits.iter_mut().zip(&z[m]).zip(&bias[m]) {
                *l = dot(&t, zj) + b;
            }
            cands[m] = Some(Candidates::top_k(&logits, k, &mut order));
        }
        let mut evs = Vec::with_capacity(len);
        for &m in &mods {
            let Some(c) = &cands[usize::from(m)] else {
                continue; // unreachable: every drawn modality has candidates
            };
            let item = c
                .sample_unused(&mut rng, |j| taken[j as usize] != u as u32)
                .or_else(|| {
                    pop_order
                        .iter()
                        .copied()
                        .find(|&j| taken[j as usize] != u as u32)
                });
            if let Some(item) = item {
                taken[item as usize] = u as u32;
                evs.push(Event { item, modality: m });
            }
        }
        events.push(evs);
    }

    let mut world = World {
        cfg,
        factors: item_factors,
        z,
        pref,
        taste,
        events,
        uncovered: 0,
    };
    world.uncovered = cover_items(&mut world, &bias, &mut rng_stream(seed, 6));
    world
}

/// A user's top candidates for one modality with cumulative choice weights.
struct Candidates {
    items: Vec<u32>,
    cumulative: Vec<f32>,
}

impl Candidates {
    fn top_k(logits: &[f32], k: usize, order: &mut Vec<u32>) -> Self {
        order.clear();
        order.extend(0..logits.len() as u32);
        let cmp = |a: &u32, b: &u32| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        };
        if k < order.len() {
            order.select_nth_unstable_by(k - 1, cmp);
            order.truncate(k);
        }
        order.sort_unstable_by(cmp);
        let max = order.first().map_or(0.0, |&j| logits[j as usize]);
        let mut acc = 0f32;
        let cumulative = order
            .iter()
            .map(|&j| {
                acc += (logits[j as usize] - max).exp();
                acc
            })
            .collect();
        Candidates {
            items: order.clone(),
            cumulative,
        }
    }

    /// Samples a candidate for which `free` holds: up to 16 weighted draws, then
    /// the best free candidate; `None` if all are taken.
    fn sample_unused(&self, rng: &mut ChaCha8Rng, free: impl Fn(u32) -> bool) -> Option<u32> {
        let total = *self.cumulative.last()?;
        for _ in 0..16 {
            let r = rng.random::<f32>() * total;
            let i = self
                .cumulative
                .partition_point(|&c| c <= r)
                .min(self.items.len() - 1);
            if free(self.items[i]) {
                return Some(self.items[i]);
            }
        }
        self.items.iter().copied().find(|&j| free(j))
    }
}

/// Interactions per user: `MIN_PER_USER` plus log-normally weighted extras
/// (largest-remainder rounding) so that the total is exactly `n_interactions`;
/// capped at a third of the items.
fn allocate_lengths(cfg: &Config, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let n = cfg.n_users;
    let cap = (cfg.n_items / 3).max(MIN_PER_USER);
    let total = cfg.n_interactions.clamp(MIN_PER_USER * n, cap * n);
    let extra = total - MIN_PER_USER * n;
    let w: Vec<f64> = (0..n)
        .map(|_| f64::from((gauss(rng) * ACTIVITY_SIGMA).exp()))
        .collect();
    let sum: f64 = w.iter().sum();
    let mut lens = Vec::with_capacity(n);
    let mut frac = Vec::with_capacity(n);
    let mut assigned = 0usize;
    for (u, wu) in w.iter().enumerate() {
        let share = extra as f64 * wu / sum;
        let whole = share.floor() as usize;
        lens.push(MIN_PER_USER + whole);
        assigned += whole;
        frac.push((share - whole as f64, u));
    }
    let mut remaining = extra - assigned.min(extra);
    frac.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, u) in frac.iter().take(remaining) {
        lens[u] += 1;
    }
    remaining = remaining.saturating_sub(frac.len());
    // Clamp to the cap and hand the overflow to the most active users below it.
    let mut by_weight: Vec<usize> = (0..n).collect();
    by_weight.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    for l in &mut lens {
        if *l > cap {
            remaining += *l - cap;
            *l = cap;
        }
    }
    while remaining > 0 {
        let before = remaining;
        for &u in &by_weight {
            if remaining == 0 {
                break;
            }
            if lens[u] < cap {
                lens[u] += 1;
                remaining -= 1;
            }
        }
        if remaining == before {
            break;
        }
    }
    lens
}

/// Gives every item without interactions one interaction: among 256 random users,
/// the (user, modality) with the highest `ln π_u[m] + logit_m(u, j)` takes it,
/// replacing one of that user's interactions (same modality preferred, latest
/// first) whose item has at least two. Returns how many items stayed uncovered.
fn cover_items(world: &mut World, bias: &[Vec<f32>; 3], rng: &mut ChaCha8Rng) -> usize {
    let n_items = world.cfg.n_items;
    let n_users = world.cfg.n_users;
    let mut count = vec![0u32; n_items];
    for e in world.events.iter().flatten() {
        count[e.item as usize] += 1;
    }
    let mut uncovered = 0;
    for j in 0..n_items {
        if count[j] > 0 {
            continue;
        }
        let mut scored: Vec<(f32, usize, u8)> = (0..256)
            .map(|_| rng.random_range(0..n_users))
            .flat_map(|u| {
                let w = &*world;
                (0..3u8).map(move |m| {
                    let mi = usize::from(m);
                    let logit = dot(&w.taste[mi][u], &w.z[mi][j]) / TEMPERATURE[mi] + bias[mi][j];
                    (w.pref[u][mi].max(1e-6).ln() + logit, u, m)
                })
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut done = false;
        for &(_, u, m) in &scored {
            let evs = &world.events[u];
            let pick = evs
                .iter()
                .rposition(|e| e.modality == m && count[e.item as usize] >= 2)
                .or_else(|| evs.iter().rposition(|e| count[e.item as usize] >= 2));
            if let Some(k) = pick {
                let e = &mut world.events[u][k];
                count[e.item as usize] -= 1;
                e.item = j as u32;
                e.modality = m;
                count[j] += 1;
                done = true;
                break;
            }
        }
        if !done {
            uncovered += 1;
        }
    }
    uncovered
}

#[cfg(test)]
mod tests;
