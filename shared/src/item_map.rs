//! The explorer's item map, the parts that are arithmetic: which 2D spaces a file offers,
//! the user's personalised space, each item's dominant modality, the view transform from
//! map to screen, the hit test under the pointer and the search by title or category.
//! The browser draws the result on a canvas (`web/src/components/item_map.rs`).
//!
//! Spaces:
//! - `map.<modality>` tensors of the weights file: a t-SNE of that modality's item table,
//!   written by `mario export`;
//! - the **personalised** space of one user, computed here: every item's fused vector
//!   `pᵢ = Σₘ aᵐ(u, i) v̄ᵐᵢ` (the vector the score is a dot product with, Eq. 7), placed at
//!   `x = u·pᵢ / |u|` (so further right = higher score) and `y` = its coordinate along the
//!   principal axis of the `pᵢ` orthogonal to `u` (how the items differ in ways the score
//!   does not see).

use crate::attention::modality_attention;
use crate::counterfactual::{Affinities, CounterfactualError};
use crate::scorer::dot;
use crate::weights::{FusionKind, ModelWeights};

/// The name of the personalised space in the selector and in the URL (`map=personal`).
pub const PERSONAL: &str = "personal";

/// Items used to estimate the principal axis of the personalised space (an even stride).
const AXIS_SAMPLE: usize = 4096;
/// Power iterations for that axis.
const AXIS_ITERATIONS: usize = 40;

/// The spaces a file can show: its stored maps in file order, then the personalised one.
pub fn spaces(weights: &ModelWeights) -> Vec<String> {
    let mut out: Vec<String> = weights.maps.iter().map(|(s, _)| s.clone()).collect();
    out.push(PERSONAL.to_string());
    out
}

/// The stored coordinates of `space` (`[n_items × 2]`), if the file has them.
pub fn stored<'w>(weights: &'w ModelWeights, space: &str) -> Option<&'w [f32]> {
    weights
        .maps
        .iter()
        .find(|(s, _)| s == space)
        .map(|(_, xy)| xy.as_slice())
}

/// Per item, its fused vector `pᵢ = Σₘ aᵐ vᵐᵢ` and the modality contributing most to its
/// score (`argmaxₘ aᵐ u·vᵐᵢ`, ties to the lower index).
fn fused(weights: &ModelWeights, user: &[f32]) -> Result<(Vec<f32>, Vec<u8>), CounterfactualError> {
    let aff = Affinities::new(weights, user)?;
    let (n, d, m) = (
        weights.meta.n_items,
        weights.meta.d,
        weights.meta.modalities.len(),
    );
    let mut p = vec![0f32; n * d];
    let mut dominant = vec![0u8; n];
    let mut a = vec![0f32; m];
    for i in 0..n {
        let s = aff.item(i);
        match weights.meta.fusion {
            FusionKind::Attention => modality_attention(s, d, &mut a),
            _ => a.iter_mut().for_each(|w| *w = 1.0 / m as f32),
        }
        let mut best = 0;
        for k in 0..m {
            if a[k] * s[k] > a[best] * s[best] {
                best = k;
            }
            let v = &weights.item_embedding[k][i * d..(i + 1) * d];
            for (o, &x) in p[i * d..(i + 1) * d].iter_mut().zip(v) {
                *o += a[k] * x;
            }
        }
        dominant[i] = best as u8;
    }
    Ok((p, dominant))
}

/// Each item's dominant modality for `user` (index into `meta.modalities`): the one adding
/// most to its score. Defined for attention and mean fusion.
pub fn dominant_modality(
    weights: &ModelWeights,
    user: &[f32],
) -> Result<Vec<u8>, CounterfactualError> {
    fused(weights, user).map(|(_, dominant)| dominant)
}

fn normalise(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
        true
    } else {
        false
    }
}

/// Removes from `v` its component along the unit vector `u`.
fn orthogonalise(v: &mut [f32], u: &[f32]) {
    let c = dot(v, u);
    v.iter_mut().zip(u).for_each(|(x, &y)| *x -= c * y);
}

/// The unit principal axis of the rows of `p` (`n × d`) orthogonal to the unit vector
/// `u`, by power iteration on the covariance of an even sample of rows.
fn principal_axis(p: &[f32], d: usize, u: &[f32]) -> Vec<f32> {
    let n = p.len() / d.max(1);
    let stride = n.div_ceil(AXIS_SAMPLE).max(1);
    let rows: Vec<&[f32]> = p.chunks_exact(d).step_by(stride).collect();
    let mut mean = vec![0f32; d];
    for r in &rows {
        mean.iter_mut().zip(*r).for_each(|(m, &x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= rows.len().max(1) as f32);
    // Covariance of the rows projected off `u` (d × d, row-major).
    let mut cov = vec![0f32; d * d];
    let mut c = vec![0f32; d];
    for r in &rows {
        c.iter_mut()
            .zip(r.iter().zip(&mean))
            .for_each(|(c, (&x, &m))| *c = x - m);
        orthogonalise(&mut c, u);
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += c[a] * c[b];
            }
        }
    }
    // Deterministic start: the first coordinate axis not parallel to u.
    let mut v = vec![0f32; d];
    for start in 0..d {
        v.iter_mut().for_each(|x| *x = 0.0);
        v[start] = 1.0;
        orthogonalise(&mut v, u);
        if normalise(&mut v) {
            break;
        }
    }
    let mut next = vec![0f32; d];
    for _ in 0..AXIS_ITERATIONS {
        for a in 0..d {
            next[a] = dot(&cov[a * d..(a + 1) * d], &v);
        }
        orthogonalise(&mut next, u);
        if !normalise(&mut next) {
            break;
        }
        std::mem::swap(&mut v, &mut next);
    }
    v
}

/// The user's personalised space (see the module doc) and each item's dominant modality.
/// `[n_items × 2]` coordinates.
pub fn personal_map(
    weights: &ModelWeights,
    user: &[f32],
) -> Result<(Vec<f32>, Vec<u8>), CounterfactualError> {
    let d = weights.meta.d;
    let (p, dominant) = fused(weights, user)?;
    let mut u_hat = user.to_vec();
    if !normalise(&mut u_hat) {
        u_hat.iter_mut().for_each(|x| *x = 0.0);
    }
    let axis = principal_axis(&p, d, &u_hat);
    let xy = p
        .chunks_exact(d)
        .flat_map(|row| [dot(row, &u_hat), dot(row, &axis)])
        .collect();
    Ok((xy, dominant))
}

/// Maps map coordinates to screen pixels: `screen = (map − centre) · scale + half size`,
/// with y pointing down on screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub cx: f32,
    pub cy: f32,
    /// Pixels per map unit.
    pub scale: f32,
    pub width: f32,
    pub height: f32,
}

impl View {
    /// The view that shows every point with a margin of `margin` pixels.
    pub fn fit(xy: &[f32], width: f32, height: f32, margin: f32) -> Self {
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in xy.chunks_exact(2) {
            if p[0].is_finite() && p[1].is_finite() {
                x0 = x0.min(p[0]);
                x1 = x1.max(p[0]);
                y0 = y0.min(p[1]);
                y1 = y1.max(p[1]);
            }
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
        }
        let span_x = (x1 - x0).max(1e-6);
        let span_y = (y1 - y0).max(1e-6);
        let scale = ((width - 2.0 * margin) / span_x)
            .min((height - 2.0 * margin) / span_y)
            .max(1e-6);
        Self {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            scale,
            width,
            height,
        }
    }

    pub fn to_screen(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.cx) * self.scale + self.width / 2.0,
            (self.cy - y) * self.scale + self.height / 2.0,
        )
    }

    pub fn to_map(&self, sx: f32, sy: f32) -> (f32, f32) {
        (
            (sx - self.width / 2.0) / self.scale + self.cx,
            self.cy - (sy - self.height / 2.0) / self.scale,
        )
    }

    /// Zooms by `factor` keeping the map point under the screen point `(sx, sy)` fixed.
    pub fn zoom_at(&self, sx: f32, sy: f32, factor: f32) -> Self {
        let (mx, my) = self.to_map(sx, sy);
        let scale = self.scale * factor;
        Self {
            cx: mx - (sx - self.width / 2.0) / scale,
            cy: my + (sy - self.height / 2.0) / scale,
            scale,
            ..*self
        }
    }

    /// Moves the view by a drag of `(dx, dy)` screen pixels.
    pub fn pan(&self, dx: f32, dy: f32) -> Self {
        Self {
            cx: self.cx - dx / self.scale,
            cy: self.cy + dy / self.scale,
            ..*self
        }
    }

    /// The view a fraction `t` (0..=1) of the way from `self` to `to`, the scale
    /// interpolated geometrically (a fly-to).
    pub fn lerp(&self, to: &View, t: f32) -> Self {
        let t = t.clamp(0.0, 1.0);
        Self {
            cx: self.cx + (to.cx - self.cx) * t,
            cy: self.cy + (to.cy - self.cy) * t,
            scale: self.scale * (to.scale / self.scale).powf(t),
            ..*self
        }
    }
}

/// The item drawn nearest the screen point, if one is within `radius` pixels
/// (ties to the lower id).
pub fn nearest_on_screen(xy: &[f32], view: &View, sx: f32, sy: f32, radius: f32) -> Option<u32> {
    let mut best: Option<(f32, u32)> = None;
    for (i, p) in xy.chunks_exact(2).enumerate() {
        let (px, py) = view.to_screen(p[0], p[1]);
        let d2 = (px - sx) * (px - sx) + (py - sy) * (py - sy);
        if d2 <= radius * radius && best.is_none_or(|(b, _)| d2 < b) {
            best = Some((d2, i as u32));
        }
    }
    best.map(|(_, i)| i)
}

/// Items whose title or category contains `query` (case-insensitive), titles matching
/// first, then by id; at most `limit`. A query that is an item id (`17` or `#17`) finds
/// that item first.
pub fn search(weights: &ModelWeights, query: &str, limit: usize) -> Vec<u32> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let by_id = q
        .trim_start_matches('#')
        .parse::<usize>()
        .ok()
        .filter(|&id| id < weights.meta.n_items)
        .map(|id| id as u32);
    let mut hits: Vec<(u8, u32)> = weights
        .catalogue
        .iter()
        .filter_map(|it| {
            let title = it.title.to_lowercase().contains(&q);
            let category = it.category.to_lowercase().contains(&q);
            (title || category).then_some((if title { 1 } else { 2 }, it.id))
        })
        .filter(|&(_, id)| Some(id) != by_id)
        .collect();
    hits.extend(by_id.map(|id| (0, id)));
    hits.sort();
    hits.into_iter().take(limit).map(|(_, id)| id).collect()
}

/// Category of every item as an index into the returned sorted list of distinct names
/// (items without a category share the name "").
pub fn categories(weights: &ModelWeights) -> (Vec<u16>, Vec<String>) {
    let mut names: Vec<String> = weights
        .catalogue
        .iter()
        .map(|it| it.category.clone())
        .collect();
    names.sort();
    names.dedup();
    let mut of_item = vec![0u16; weights.meta.n_items];
    for it in &weights.catalogue {
        if let Ok(k) = names.binary_search(&it.category)
            && let Some(slot) = of_item.get_mut(it.id as usize)
        {
            *slot = k.min(u16::MAX as usize) as u16;
        }
    }
    (of_item, names)
}

#[cfg(test)]
mod tests;
