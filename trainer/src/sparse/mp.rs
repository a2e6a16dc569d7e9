//! The host kernel of the modality-preservation loss (Eq. 8, 10) on flex: the batch's
//! distinct items decoded a tile at a time and compared with their feature rows in
//! place, with the loss's gradients taken in the same pass when training asks for
//! them ([`MpRows::decode_loss_with_grad`]), parallel over rows with the same bits for
//! any thread count. [`super::ops`] wraps them as the differentiable `mp_loss`.

use rayon::prelude::*;

use mario_shared::matmul::{MatRef, matmul};

use super::simd::{self, SignOut};

/// Decoded rows per task of [`MpRows::decode_loss`]: 64 rows of a 4096-d modality
/// are 1 MiB, about one core's L2.
const MP_TILE: usize = 64;

/// Rows per task of [`MpRows::decode_loss_grad`]: enough rows for its `codeᵀ·G`
/// share to be a real product (k = 256), few enough that a batch has several tasks.
const MP_CHUNK: usize = 256;

/// The rows of one batch's modality-preservation loss (Eq. 10): the distinct items,
/// how often each was drawn, and the number of draws (2B). One value serves every
/// modality: the loss is normalised by `draws · dₘ`.
#[derive(Debug, Clone, PartialEq)]
pub struct MpRows {
    pub ids: Vec<u32>,
    pub weights: Vec<f32>,
    pub draws: usize,
}

impl MpRows {
    /// `1 / (draws · dₘ)`: the mean over the batch's drawn items and feature elements.
    fn scale(&self, dm: usize) -> f32 {
        1.0 / (self.draws * dm) as f32
    }

    /// `Σᵢ wᵢ Σₑ |dec[i, e] − target[idsᵢ, e]| / (draws · dₘ)` and the signs of the
    /// differences (all the backward needs), for the decoded rows `dec = code · decoder`
    /// (`code` `[n, d]`, `decoder` `W̃` `[d, dₘ]`) and the feature table `target`
    /// (`[I, dₘ]`), both read in place. Rows are decoded [`MP_TILE`] at a time
    /// and compared at once: the `[n, dₘ]` decoded matrix is never stored (at baby's
    /// shape it is 36 MB a step, and writing it cost more than the product).
    pub fn decode_loss(
        &self,
        code: &[f32],
        decoder: &[f32],
        target: &[f32],
        d: usize,
        dm: usize,
    ) -> (f64, Vec<i8>) {
        self.check(code, decoder, d, dm);
        let n = self.ids.len();
        let decoder = MatRef::row_major(decoder, d, dm);
        let mut signs = vec![0i8; n * dm];
        if dm == 0 {
            return (0.0, signs);
        }
        let row_errors: Vec<f64> = signs
            .par_chunks_mut(MP_TILE * dm)
            .enumerate()
            .flat_map_iter(|(tile, sign_tile)| {
                self.decode_compare(code, decoder, target, tile * MP_TILE, sign_tile, |_| 1.0)
            })
            .collect();
        (self.total(&row_errors, dm), signs)
    }

    /// `wᵢ Σₑ |dec[e] − target[idsᵢ, e]|` for batch row `i`, writing the signs of the
    /// differences into `sign_row` ([`SignOut`]: as `i8`, or scaled by `weight` in `f32`).
    fn row_error<T: SignOut>(
        &self,
        i: usize,
        dec_row: &[f32],
        target: &[f32],
        weight: f32,
        sign_row: &mut [T],
    ) -> f64 {
        let dm = dec_row.len();
        let t = self.ids[i] as usize;
        let err = simd::abs_diff_signs(dec_row, &target[t * dm..(t + 1) * dm], weight, sign_row);
        f64::from(err) * f64::from(self.weights[i])
    }

    /// Decodes rows `first..` of the batch ([`MP_TILE`] at a time, into one reused
    /// tile), compares each with its feature row and writes its signs into `out`
    /// (`rows × dₘ`, [`SignOut`]: scaled by `weight(i)` for row `i`); returns the
    /// weighted row errors in row order. The one decode-compare loop of
    /// [`Self::decode_loss`] and [`Self::decode_loss_with_grad`].
    fn decode_compare<T: SignOut>(
        &self,
        code: &[f32],
        decoder: MatRef<'_>,
        target: &[f32],
        first: usize,
        out: &mut [T],
        weight: impl Fn(usize) -> f32,
    ) -> Vec<f64> {
        let (d, dm) = (decoder.rows(), decoder.cols());
        let rows = out.len() / dm;
        let mut errors = Vec::with_capacity(rows);
        let mut decoded = vec![0f32; MP_TILE.min(rows) * dm];
        for (start, out_tile) in (0..rows).step_by(MP_TILE).zip(out.chunks_mut(MP_TILE * dm)) {
            let tile = out_tile.len() / dm;
            let at = first + start;
            let decoded = &mut decoded[..tile * dm];
            let code_rows = MatRef::row_major(&code[at * d..(at + tile) * d], tile, d);
            matmul(code_rows, decoder, decoded);
            for (r, (dec_row, out_row)) in decoded
                .chunks_exact(dm)
                .zip(out_tile.chunks_exact_mut(dm))
                .enumerate()
            {
                let i = at + r;
                errors.push(self.row_error(i, dec_row, target, weight(i), out_row));
            }
        }
        errors
    }

    /// The shapes every entry point takes: `code` `[n, d]`, `decoder` `[d, dₘ]`.
    fn check(&self, code: &[f32], decoder: &[f32], d: usize, dm: usize) {
        assert_eq!(code.len(), self.ids.len() * d, "mp: code is not n × d");
        assert_eq!(decoder.len(), d * dm, "mp: decoder is not d × dm");
    }

    /// The loss from the weighted row errors, summed in row order: independent of the
    /// thread count.
    fn total(&self, row_errors: &[f64], dm: usize) -> f64 {
        row_errors.iter().sum::<f64>() * f64::from(self.scale(dm))
    }

    /// The backward of [`MpRows::decode_loss`] for the upstream gradient `g`, as a
    /// separate pass over the stored signs: the reference
    /// [`Self::decode_loss_with_grad`] is tested against (training takes that one):
    /// `∂code = G·W̃ᵀ` (`[n, d]`) and `∂W̃ = codeᵀ·G` (`[d, dₘ]`, the decoder's own
    /// layout: no transposed view for the optimiser to copy), where
    /// `G[i, e] = g · sign[i, e] · wᵢ / (draws · dₘ)` is built [`MP_CHUNK`] rows at a
    /// time and never stored whole (`[n, dₘ]` is 36 MB a step at baby's shape).
    /// `decoder` is `W̃`, `[d, dₘ]`. The chunks' shares of `∂W̃` are added in chunk
    /// order, so the result does not depend on the thread count.
    #[cfg(test)]
    pub fn decode_loss_grad(
        &self,
        signs: &[i8],
        g: f32,
        code: &[f32],
        decoder: &[f32],
        d: usize,
        dm: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let n = self.ids.len();
        assert_eq!(signs.len(), n * dm, "mp: signs are not n × dm");
        assert_eq!(code.len(), n * d, "mp: code is not n × d");
        let mut grad_code = vec![0f32; n * d];
        let mut grad_decoder = vec![0f32; d * dm];
        if n == 0 || dm == 0 || d == 0 {
            return (grad_code, grad_decoder);
        }
        let scale = g * self.scale(dm);
        let decoder_t = MatRef::row_major(decoder, d, dm).t();
        let shares: Vec<Vec<f32>> = grad_code
            .par_chunks_mut(MP_CHUNK * d)
            .enumerate()
            .map(|(chunk, grad_code_chunk)| {
                let first = chunk * MP_CHUNK;
                let rows = grad_code_chunk.len() / d;
                let mut g_rows = vec![0f32; rows * dm];
                for (r, (row, sign_row)) in g_rows
                    .chunks_exact_mut(dm)
                    .zip(signs[first * dm..(first + rows) * dm].chunks_exact(dm))
                    .enumerate()
                {
                    let w = scale * self.weights[first + r];
                    for (o, &s) in row.iter_mut().zip(sign_row) {
                        *o = w * f32::from(s);
                    }
                }
                let g_rows = MatRef::row_major(&g_rows, rows, dm);
                matmul(g_rows, decoder_t, grad_code_chunk);
                let mut share = vec![0f32; d * dm];
                let code_rows = MatRef::row_major(&code[first * d..(first + rows) * d], rows, d);
                matmul(code_rows.t(), g_rows, &mut share);
                share
            })
            .collect();
        for share in &shares {
            for (o, &v) in grad_decoder.iter_mut().zip(share) {
                *o += v;
            }
        }
        (grad_code, grad_decoder)
    }

    /// [`Self::decode_loss`] and [`Self::decode_loss_grad`] for an upstream gradient of
    /// 1, in one pass: each task decodes its [`MP_CHUNK`] rows [`MP_TILE`] at a time,
    /// compares them with their feature rows and writes `G` while the decoded tile is
    /// in cache, then takes the chunk's two products. No sign matrix is stored and no
    /// second pass rereads one: training asks for the gradient of every loss it
    /// computes. The same bits as the two calls (tested); the backward scales by the
    /// upstream gradient where it is not 1.
    pub fn decode_loss_with_grad(
        &self,
        code: &[f32],
        decoder: &[f32],
        target: &[f32],
        d: usize,
        dm: usize,
    ) -> MpLossWithGrad {
        self.check(code, decoder, d, dm);
        let n = self.ids.len();
        let mut grad_code = vec![0f32; n * d];
        let mut grad_decoder = vec![0f32; d * dm];
        if n == 0 || dm == 0 || d == 0 {
            // No gradient to speak of: the loss alone.
            let (loss, _) = self.decode_loss(code, decoder, target, d, dm);
            return MpLossWithGrad {
                loss,
                grad_code,
                grad_decoder,
            };
        }
        let scale = self.scale(dm);
        let decoder_rows = MatRef::row_major(decoder, d, dm);
        let parts: Vec<(Vec<f64>, Vec<f32>)> = grad_code
            .par_chunks_mut(MP_CHUNK * d)
            .enumerate()
            .map(|(chunk, grad_code_chunk)| {
                let first = chunk * MP_CHUNK;
                let rows = grad_code_chunk.len() / d;
                let mut g_rows = vec![0f32; rows * dm];
                let weight = |i: usize| scale * self.weights[i];
                let errors =
                    self.decode_compare(code, decoder_rows, target, first, &mut g_rows, weight);
                let g_rows = MatRef::row_major(&g_rows, rows, dm);
                matmul(g_rows, decoder_rows.t(), grad_code_chunk);
                let mut share = vec![0f32; d * dm];
                let code_rows = MatRef::row_major(&code[first * d..(first + rows) * d], rows, d);
                matmul(code_rows.t(), g_rows, &mut share);
                (errors, share)
            })
            .collect();
        let mut row_errors = Vec::with_capacity(n);
        for (errors, share) in &parts {
            row_errors.extend_from_slice(errors);
            for (o, &v) in grad_decoder.iter_mut().zip(share) {
                *o += v;
            }
        }
        MpLossWithGrad {
            loss: self.total(&row_errors, dm),
            grad_code,
            grad_decoder,
        }
    }
}

/// What [`MpRows::decode_loss_with_grad`] returns: the loss and its gradients with
/// respect to the code (`[n, d]`) and the decoder (`[d, dₘ]`) for an upstream gradient of 1.
#[derive(Debug, Clone, PartialEq)]
pub struct MpLossWithGrad {
    pub loss: f64,
    pub grad_code: Vec<f32>,
    pub grad_decoder: Vec<f32>,
}
