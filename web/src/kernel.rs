//! The WGSL scoring kernel and the host-side layout it expects (pure functions, tested
//! natively; the `gpu` module does the wgpu calls).
//!
//! See `kernel.wgsl` for the entry points. Host layout:
//! - item tables are split into chunks of whole items so that no binding exceeds the
//!   adapter's `max_storage_buffer_binding_size` ([`plan_chunks`]); each chunk is one
//!   buffer, modality-major and transposed into vec4 columns ([`transpose_chunk`]);
//! - vectors are zero-padded from `d` to `4·d4`;
//! - the training items to mask are a bitset over item ids ([`mask_bits`]);
//! - dispatches use 64-thread workgroups, 2D when more than 65535 are needed
//!   ([`dispatch_dims`]).

/// The WGSL module (entry points `score`, `pair_attention`, `dominant_modality`).
pub const WGSL: &str = include_str!("kernel.wgsl");
/// Threads per workgroup.
pub const WORKGROUP: u32 = 64;
/// Most modalities the kernel handles (larger files are scored on the CPU).
pub const MAX_M: usize = 8;
/// Most histogram bins the kernel handles.
pub const MAX_BINS: usize = 32;
/// Most workgroups per dispatch dimension (WebGPU's default limit).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;
/// The score the kernel writes for masked items.
pub const MASKED: f32 = -3.0e38;

/// `d` in vec4s.
pub fn d4(d: usize) -> usize {
    d.div_ceil(4)
}

/// The uniform block of the kernel (9 words, padded to 48 bytes, little-endian).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub n_items: u32,
    pub item_offset: u32,
    pub d4: u32,
    pub m: u32,
    pub inv_sqrt_d: f32,
    pub n_pairs: u32,
    pub n_users: u32,
    pub bins: u32,
    /// Bitmask of the modalities attended to ([`all_modalities`] but for what-ifs).
    pub keep: u32,
}

/// The mask that keeps all `m` modalities.
pub fn all_modalities(m: usize) -> u32 {
    mario_shared::counterfactual::all_modalities(m)
}

impl Params {
    pub fn to_bytes(&self) -> [u8; 48] {
        let words = [
            self.n_items,
            self.item_offset,
            self.d4,
            self.m,
            self.inv_sqrt_d.to_bits(),
            self.n_pairs,
            self.n_users,
            self.bins,
            self.keep,
        ];
        let mut out = [0u8; 48];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Workgroup counts `(x, y)` covering `threads` threads with at most `max_per_dim` per
/// dimension; the kernel flattens `gid.x + gid.y · x · 64`.
pub fn dispatch_dims(threads: usize, max_per_dim: u32) -> (u32, u32) {
    let groups = threads.div_ceil(WORKGROUP as usize).max(1);
    let x = groups.min(max_per_dim as usize);
    let y = groups.div_ceil(x);
    (x as u32, y as u32)
}

/// Splits `n_items` into chunks `(offset, len)` whose tables (`m · d4 · 16` bytes per
/// item) fit in `max_binding` bytes; `forced` caps the chunk length (diagnostics).
/// Chunk lengths are multiples of 64 except the last.
pub fn plan_chunks(
    n_items: usize,
    m: usize,
    d4: usize,
    max_binding: u64,
    forced: Option<usize>,
) -> Vec<(usize, usize)> {
    let per_item = (m * d4 * 16).max(1) as u64;
    let mut cap = (max_binding / per_item) as usize;
    if cap >= 64 {
        cap -= cap % 64;
    }
    if let Some(f) = forced {
        cap = cap.min(f);
    }
    let cap = cap.max(1);
    (0..n_items.max(1))
        .step_by(cap)
        .map(|o| (o, cap.min(n_items - o)))
        .filter(|c| c.1 > 0)
        .collect()
}

/// The chunk `[offset, offset + len)` of the item tables in the kernel's layout:
/// `out[((m·d4 + k)·len + j)·4 + c] = tables[m][(offset + j)·d + 4k + c]` (0 past `d`).
pub fn transpose_chunk(tables: &[Vec<f32>], d: usize, offset: usize, len: usize) -> Vec<f32> {
    let d4 = d4(d);
    let mut out = vec![0f32; tables.len() * d4 * len * 4];
    for (m, table) in tables.iter().enumerate() {
        for j in 0..len {
            let row = &table[(offset + j) * d..(offset + j + 1) * d];
            for (e, &v) in row.iter().enumerate() {
                let (k, c) = (e / 4, e % 4);
                out[((m * d4 + k) * len + j) * 4 + c] = v;
            }
        }
    }
    out
}

/// A vector zero-padded to `4·d4` floats.
pub fn pad_vector(v: &[f32], d: usize) -> Vec<f32> {
    let mut out = vec![0f32; d4(d) * 4];
    out[..v.len().min(d)].copy_from_slice(&v[..v.len().min(d)]);
    out
}

/// Bitset over item ids with the bits of `exclude` set (bit `i & 31` of word `i >> 5`).
pub fn mask_bits(exclude: &[u32], n_items: usize) -> Vec<u32> {
    let mut words = vec![0u32; n_items.div_ceil(32).max(1)];
    for &i in exclude {
        if (i as usize) < n_items {
            words[(i >> 5) as usize] |= 1 << (i & 31);
        }
    }
    words
}

/// The `user` of each training pair, expanded from the CSR row pointer.
pub fn pair_users(indptr: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(indptr.last().copied().unwrap_or(0) as usize);
    for (u, w) in indptr.windows(2).enumerate() {
        out.extend(std::iter::repeat_n(u as u32, (w[1] - w[0]) as usize));
    }
    out
}

/// Turns the kernel's masked sentinel back into `-inf`.
pub fn unmask_scores(scores: &mut [f32]) {
    for s in scores.iter_mut() {
        if *s <= MASKED {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// A CPU emulation of the `score` entry point over the chunked, transposed layout — the
/// same index arithmetic and summation order as the WGSL (used by the native tests to
/// check the layout against the reference scorer). `keep` is the modality mask.
pub fn emulate_score(
    tables: &[Vec<f32>],
    d: usize,
    user: &[f32],
    exclude: &[u32],
    chunks: &[(usize, usize)],
    keep: u32,
) -> (Vec<f32>, Vec<f32>) {
    let m_count = tables.len();
    let n_items = tables.first().map_or(0, |t| t.len() / d.max(1));
    let d4 = d4(d);
    let u = pad_vector(user, d);
    let mask = mask_bits(exclude, n_items);
    let mut scores = vec![0f32; n_items];
    let mut attention = vec![0f32; n_items * m_count];
    let inv_sqrt_d = 1.0 / (d as f32).sqrt();
    for &(offset, len) in chunks {
        let items = transpose_chunk(tables, d, offset, len);
        for j in 0..len {
            let mut aff = [0f32; MAX_M];
            let mut mx = MASKED;
            let kept = |m: usize| (keep >> m) & 1 == 1;
            for (m, a) in aff.iter_mut().enumerate().take(m_count) {
                if !kept(m) {
                    continue;
                }
                let mut acc = [0f32; 4];
                for k in 0..d4 {
                    let base = ((m * d4 + k) * len + j) * 4;
                    for c in 0..4 {
                        acc[c] = u[k * 4 + c].mul_add(items[base + c], acc[c]);
                    }
                }
                *a = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                mx = mx.max(*a * inv_sqrt_d);
            }
            let mut att = [0f32; MAX_M];
            let mut total = 0.0;
            for m in 0..m_count {
                att[m] = if kept(m) {
                    (aff[m] * inv_sqrt_d - mx).exp()
                } else {
                    0.0
                };
                total += att[m];
            }
            let mut r = 0.0;
            let g = offset + j;
            for m in 0..m_count {
                att[m] /= total;
                r += att[m] * aff[m];
                attention[g * m_count + m] = att[m];
            }
            let masked = (mask[g >> 5] >> (g & 31)) & 1 == 1;
            scores[g] = if masked { MASKED } else { r };
        }
    }
    (scores, attention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mario_shared::metrics::top_k_with_scores;
    use mario_shared::weights::fixtures::tiny_model;
    use mario_shared::{Scorer, StorageDtype};

    #[test]
    fn wgsl_parses_and_validates() {
        let module = naga::front::wgsl::parse_str(WGSL)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(WGSL)));
        let mut v = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        );
        v.validate(&module).unwrap_or_else(|e| panic!("{e:?}"));
        let names: Vec<&str> = module
            .entry_points
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["score", "pair_attention", "dominant_modality"]);
        for e in &module.entry_points {
            assert_eq!(e.workgroup_size, [WORKGROUP, 1, 1]);
        }
        assert!(WGSL.contains(&format!("const MAX_M: u32 = {MAX_M}u;")));
        assert!(WGSL.contains(&format!("const MAX_BINS: u32 = {MAX_BINS}u;")));
        // Browsers (Tint) reject literals that are not exactly representable: keep MASKED simple.
        assert!(WGSL.contains("const MASKED: f32 = -3.0e38;") && MASKED == -3.0e38);
    }

    #[test]
    fn params_layout() {
        let p = Params {
            n_items: 1,
            item_offset: 2,
            d4: 3,
            m: 4,
            inv_sqrt_d: 0.125,
            n_pairs: 5,
            n_users: 6,
            bins: 7,
            keep: 0b101,
        };
        let b = p.to_bytes();
        assert_eq!(&b[0..4], &1u32.to_le_bytes());
        assert_eq!(&b[16..20], &0.125f32.to_le_bytes());
        assert_eq!(&b[28..32], &7u32.to_le_bytes());
        assert_eq!(&b[32..36], &5u32.to_le_bytes());
        assert!(b[36..].iter().all(|&x| x == 0));
        // The WGSL struct has the same size (naga's layout of the uniform block).
        let module = naga::front::wgsl::parse_str(WGSL).unwrap();
        let span = module
            .types
            .iter()
            .find_map(|(_, t)| match (&t.name, &t.inner) {
                (Some(n), naga::TypeInner::Struct { span, .. }) if n == "Params" => Some(*span),
                _ => None,
            })
            .expect("struct Params");
        assert!(
            span as usize <= b.len() && b.len().is_multiple_of(16),
            "span {span}"
        );
    }

    #[test]
    fn dispatch_covers_every_thread() {
        assert_eq!(dispatch_dims(1, 65_535), (1, 1));
        assert_eq!(dispatch_dims(64, 65_535), (1, 1));
        assert_eq!(dispatch_dims(65, 65_535), (2, 1));
        assert_eq!(dispatch_dims(0, 65_535), (1, 1));
        for (threads, max) in [
            (100_000, 65_535),
            (65_535 * 64 + 1, 65_535),
            (10_000, 13),
            (5_000_000, 65_535),
        ] {
            let (x, y) = dispatch_dims(threads, max);
            assert!(x <= max && y <= max);
            assert!((x as usize) * (y as usize) * 64 >= threads);
            assert!(
                (x as usize) * (y as usize - 1) * 64 < threads,
                "no wasted row"
            );
        }
    }

    #[test]
    fn chunks_respect_the_binding_limit() {
        // 100k items x 3 modalities x 64 dims of f32 = 76.8 MB: one chunk at 128 MiB.
        assert_eq!(
            plan_chunks(100_000, 3, 16, 128 << 20, None),
            vec![(0, 100_000)]
        );
        let c = plan_chunks(100_000, 3, 16, 16 << 20, None);
        assert!(c.len() > 1);
        assert!(
            c.iter()
                .all(|&(_, len)| (len * 3 * 16 * 16) as u64 <= 16 << 20)
        );
        assert_eq!(c.iter().map(|c| c.1).sum::<usize>(), 100_000);
        assert!(c.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
        assert!(c[..c.len() - 1].iter().all(|&(_, l)| l % 64 == 0));
        assert_eq!(
            plan_chunks(10, 3, 16, 128 << 20, Some(4)),
            vec![(0, 4), (4, 4), (8, 2)]
        );
    }

    #[test]
    fn layout_and_mask_reproduce_the_reference_scorer() {
        for (d, chunk) in [(8usize, None), (10, Some(7)), (3, Some(64))] {
            let w = tiny_model(
                4,
                150,
                d,
                &["visual", "textual", "interaction"],
                StorageDtype::F32,
                d as u64,
            );
            let s = Scorer::new(&w);
            let chunks = plan_chunks(150, 3, d4(d), 1 << 30, chunk);
            for user in 0..4 {
                let u = w.user_vector(user).unwrap();
                let history = w.train_items(user);
                let (mut scores, attention) =
                    emulate_score(&w.item_embedding, d, u, history, &chunks, all_modalities(3));
                unmask_scores(&mut scores);
                let reference = s.score_all(u);
                for j in 0..150 {
                    if history.binary_search(&(j as u32)).is_ok() {
                        assert_eq!(scores[j], f32::NEG_INFINITY);
                    } else {
                        assert!((scores[j] - reference[j]).abs() < 1e-4, "d {d} item {j}");
                    }
                }
                let got = top_k_with_scores(&scores, history, 20);
                let want = s.recommend(user, 20).unwrap();
                assert_eq!(
                    got.iter().map(|g| g.0).collect::<Vec<_>>(),
                    want.iter().map(|r| r.item).collect::<Vec<_>>()
                );
                for r in &want {
                    let a = &attention[r.item as usize * 3..r.item as usize * 3 + 3];
                    for (x, y) in a.iter().zip(&r.attention) {
                        assert!((x - y).abs() < 1e-5);
                    }
                }
            }
        }
    }

    /// The modality mask of the kernel gives the scores of `mario_shared::counterfactual`
    /// (without one modality, and with one alone), so the browser's what-if ranks on
    /// WebGPU are the CLI's.
    #[test]
    fn modality_mask_reproduces_the_counterfactual_scores() {
        let d = 10;
        let w = tiny_model(
            3,
            90,
            d,
            &["visual", "textual", "interaction"],
            StorageDtype::F32,
            4,
        );
        let chunks = plan_chunks(90, 3, d4(d), 1 << 30, Some(32));
        let u = w.user_vector(1).unwrap();
        let aff = mario_shared::counterfactual::Affinities::new(&w, u).unwrap();
        for keep in 1..8u32 {
            let (scores, attention) = emulate_score(&w.item_embedding, d, u, &[], &chunks, keep);
            let want = aff.scores(keep).unwrap();
            for j in 0..90 {
                assert!(
                    (scores[j] - want[j]).abs() < 1e-4,
                    "keep {keep:03b} item {j}"
                );
                for m in 0..3 {
                    if (keep >> m) & 1 == 0 {
                        assert_eq!(attention[j * 3 + m], 0.0);
                    }
                }
            }
        }
        assert_eq!(all_modalities(3), 0b111);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            mask_bits(&[0, 33, 63, 99], 64),
            vec![1, (1 << 1) | (1 << 31)]
        );
        assert_eq!(pair_users(&[0, 2, 2, 5]), vec![0, 0, 2, 2, 2]);
        assert_eq!(
            pad_vector(&[1.0, 2.0, 3.0, 4.0, 5.0], 5),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0]
        );
        let t = transpose_chunk(&[vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], 2, 1, 2);
        // item 1 = [3, 4], item 2 = [5, 6]; d4 = 1: column k = 0 holds both items' vec4s.
        assert_eq!(t, vec![3.0, 4.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
    }
}
