//! Eq. 5–7 on the host, the one module that writes them: the attention `aᵐ =
//! softmaxₘ(u·v̄ᵐ/√d)` ([`modality_attention`]) and the fused score `Σₘ aᵐ(u·v̄ᵐ)` from an
//! item's affinities, over all modalities ([`attention_score`], the full ranking's and the
//! scorer's) or over a subset ([`masked_attention_score`], the what-ifs'). The masked
//! score keeps the browser's WGSL order of operations (weights normalised first, then
//! summed), so the CPU's what-if ranks agree with the GPU's to the last bit; the full one
//! sums the weighted affinities and divides once, the order every host ranking uses.

/// A set of modalities as a bitmask (bit m = modality m kept); at most 32 modalities.
pub type ModalityMask = u32;

/// All of `m` modalities.
pub fn all_modalities(m: usize) -> ModalityMask {
    if m >= 32 { u32::MAX } else { (1u32 << m) - 1 }
}

/// Numerically stable softmax of `u·v̄ᵐ/√d` over modalities (Eq. 5), written into `out`.
pub fn modality_attention(affinities: &[f32], d: usize, out: &mut [f32]) {
    let scale = 1.0 / (d as f32).sqrt();
    let max = affinities
        .iter()
        .fold(f32::NEG_INFINITY, |m, &a| m.max(a * scale));
    let mut total = 0.0;
    for (o, &a) in out.iter_mut().zip(affinities) {
        *o = (a * scale - max).exp();
        total += *o;
    }
    for o in out.iter_mut() {
        *o /= total;
    }
}

/// Eq. 5–7 for one item from its affinities `u·v̄ᵐ`: `Σₘ softmaxₘ(affinity·scale)·affinityᵐ`
/// with `scale = 1/√d`, without allocating. The full-ranking scorer
/// ([`crate::ranking`]) and [`crate::Scorer::score_all`] both score with this function.
#[inline]
pub fn attention_score(affinities: &[f32], scale: f32) -> f32 {
    let max = affinities
        .iter()
        .fold(f32::NEG_INFINITY, |m, &a| m.max(a * scale));
    let (mut total, mut weighted) = (0f32, 0f32);
    for &a in affinities {
        let e = (a * scale - max).exp();
        total += e;
        weighted += e * a;
    }
    weighted / total
}

/// Eq. 5–7 over the kept modalities only (`scale = 1/√d`); `None` when none is kept.
/// The operations run in the order of the browser's WGSL kernel (weights normalised first,
/// then summed), so the GPU's what-if ranks agree with these.
pub fn masked_attention_score(affinities: &[f32], scale: f32, keep: ModalityMask) -> Option<f32> {
    let kept = || {
        affinities
            .iter()
            .enumerate()
            .filter(move |(m, _)| keep >> m & 1 == 1)
            .map(|(_, &a)| a)
    };
    kept().next()?;
    let max = kept().fold(f32::NEG_INFINITY, |m, a| m.max(a * scale));
    let total: f32 = kept().map(|a| (a * scale - max).exp()).sum();
    Some(kept().map(|a| (a * scale - max).exp() / total * a).sum())
}
