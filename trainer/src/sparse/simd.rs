//! Row kernels compiled for the widest vector unit the CPU has (AVX-512, else AVX2,
//! else the baseline), chosen at run time, so that one portable binary still gets the
//! machine's full width in the sparse kernels; and the register-blocked weighted
//! row sum they share.
//!
//! Only the instruction width changes, never the arithmetic: no FMA contraction
//! (Rust does not fuse `a * b + c`), and each kernel's summation order is fixed by its
//! code, so every path gives bit-identical results.

/// A kernel that writes one output row at a time: `row(r, out)` fills row `r`.
/// Implementations mark `row` `#[inline(always)]`, so that it is compiled into
/// each of [`rows`]' target-feature variants.
pub trait RowKernel: Sync {
    fn row(&self, r: usize, out: &mut [f32]);
}

/// Runs `kernel` on the `width`-wide rows of `block` (rows `first..` of the output),
/// compiled for the CPU's widest vectors.
#[inline(always)]
#[allow(unsafe_code)]
pub fn rows<K: RowKernel>(block: &mut [f32], width: usize, first: usize, kernel: &K) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { rows_avx512(block, width, first, kernel) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { rows_avx2(block, width, first, kernel) };
        }
    }
    rows_baseline(block, width, first, kernel)
}

#[inline(always)]
fn rows_baseline<K: RowKernel>(block: &mut [f32], width: usize, first: usize, kernel: &K) {
    for (offset, row) in block.chunks_exact_mut(width).enumerate() {
        kernel.row(first + offset, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_avx512<K: RowKernel>(block: &mut [f32], width: usize, first: usize, kernel: &K) {
    rows_baseline(block, width, first, kernel)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rows_avx2<K: RowKernel>(block: &mut [f32], width: usize, first: usize, kernel: &K) {
    rows_baseline(block, width, first, kernel)
}

/// Columns summed in registers at a time by [`weighted_rows`]: four AVX-512 or
/// eight AVX2 registers, so that `d = 64` is one pass.
const BLOCK: usize = 64;

/// `row = Σₜ aₜ · x[sₜ]` over the `(aₜ, sₜ)` of `terms` (source rows of the row-major
/// table `x`, `row.len()` wide), accumulated in registers [`BLOCK`] columns at a time
/// instead of reading and writing `row` once per term. Each element is summed in term
/// order starting from zero: the same value as repeated `row += aₜ · x[sₜ]` on a
/// zeroed row.
#[inline(always)]
pub fn weighted_rows<I>(row: &mut [f32], x: &[f32], terms: I)
where
    I: Iterator<Item = (f32, usize)> + Clone,
{
    let d = row.len();
    let mut start = 0;
    while start < d {
        let width = BLOCK.min(d - start);
        let mut acc = [0f32; BLOCK];
        if width == BLOCK {
            for (a, s) in terms.clone() {
                let src: &[f32; BLOCK] = x[s * d + start..s * d + start + BLOCK]
                    .try_into()
                    .expect("a block of BLOCK columns");
                for l in 0..BLOCK {
                    acc[l] += a * src[l];
                }
            }
        } else {
            for (a, s) in terms.clone() {
                let src = &x[s * d + start..s * d + start + width];
                for (o, &v) in acc[..width].iter_mut().zip(src) {
                    *o += a * v;
                }
            }
        }
        row[start..start + width].copy_from_slice(&acc[..width]);
        start += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_rows_equals_repeated_axpy_bit_for_bit() {
        // Widths below, at and above one block, and a ragged tail.
        for d in [1usize, 7, 64, 100, 130] {
            let n_src = 9;
            let x: Vec<f32> = (0..n_src * d)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let terms: Vec<(f32, usize)> = vec![(0.3, 4), (-1.7, 0), (0.01, 8), (2.5, 4)];
            let mut reference = vec![0f32; d];
            for &(a, s) in &terms {
                for (o, &v) in reference.iter_mut().zip(&x[s * d..(s + 1) * d]) {
                    *o += a * v;
                }
            }
            let mut fast = vec![f32::NAN; d];
            weighted_rows(&mut fast, &x, terms.iter().copied());
            assert_eq!(
                fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "d = {d}"
            );
        }
    }

    #[test]
    fn no_terms_gives_a_zero_row() {
        let mut row = vec![1f32; 70];
        weighted_rows(&mut row, &[], std::iter::empty());
        assert!(row.iter().all(|&v| v == 0.0));
    }
}
