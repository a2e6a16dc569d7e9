//! Row kernels compiled for the widest vector unit the CPU has (AVX-512, else AVX2,
//! else the baseline), chosen at run time, so that one portable binary still gets the
//! machine's full width in the sparse kernels; the register-blocked weighted
//! row sum they share; a row's dots with its neighbours, eight at a time on AVX2
//! ([`dots_with_rows`]); and the MP loss's absolute differences.
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

/// A loop to compile for the CPU's widest vectors ([`widest`]). Implementations mark
/// `run` `#[inline(always)]`, so that it is compiled into each target-feature variant
/// (a closure would not be: it stays a baseline function of its own).
pub trait WideLoop {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `work` compiled for the CPU's widest vectors: AVX-512 (F and BW), else AVX2,
/// else the baseline; this and [`dots_with_rows`]' AVX2 check are the two places this
/// crate checks the CPU's features.
#[inline(always)]
#[allow(unsafe_code)]
pub fn widest<L: WideLoop>(work: L) -> L::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU supports AVX-512F and BW, checked just above.
            return unsafe { widest_avx512(work) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { widest_avx2(work) };
        }
    }
    work.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn widest_avx512<L: WideLoop>(work: L) -> L::Output {
    work.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn widest_avx2<L: WideLoop>(work: L) -> L::Output {
    work.run()
}

/// The rows `first..` of an output block, each written by a [`RowKernel`].
struct Rows<'a, K> {
    block: &'a mut [f32],
    width: usize,
    first: usize,
    kernel: &'a K,
}

impl<K: RowKernel> WideLoop for Rows<'_, K> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for (offset, row) in self.block.chunks_exact_mut(self.width).enumerate() {
            self.kernel.row(self.first + offset, row);
        }
    }
}

/// Runs `kernel` on the `width`-wide rows of `block` (rows `first..` of the output),
/// compiled for the CPU's widest vectors ([`widest`]).
#[inline(always)]
pub fn rows<K: RowKernel>(block: &mut [f32], width: usize, first: usize, kernel: &K) {
    widest(Rows {
        block,
        width,
        first,
        kernel,
    })
}

/// How [`abs_diff_signs`] writes the sign of a difference (−1, 0 or 1): as an `i8`, or
/// as an `f32` scaled by a weight (the MP loss's gradient row).
pub trait SignOut: Copy {
    fn from_sign(sign: i32, weight: f32) -> Self;
}

impl SignOut for i8 {
    #[inline(always)]
    fn from_sign(sign: i32, _: f32) -> Self {
        sign as i8
    }
}

impl SignOut for f32 {
    #[inline(always)]
    fn from_sign(sign: i32, weight: f32) -> Self {
        weight * sign as f32
    }
}

/// The operands of [`abs_diff_signs`].
struct AbsDiffSigns<'a, T> {
    a: &'a [f32],
    b: &'a [f32],
    weight: f32,
    signs: &'a mut [T],
}

impl<T: SignOut> WideLoop for AbsDiffSigns<'_, T> {
    type Output = f32;
    #[inline(always)]
    fn run(self) -> f32 {
        abs_diff_signs_baseline(self.a, self.b, self.weight, self.signs)
    }
}

/// `Σₑ |a[e] − b[e]|`, writing `sign(a[e] − b[e])` (−1, 0, 1; 0 for NaN) into `signs`
/// through [`SignOut`] (as `i8`, or as `weight · sign` in `f32`), compiled for the CPU's
/// widest vectors ([`widest`]). The sum runs in [`LANES`] interleaved partial sums added
/// in lane order: fixed, so the same bits on every path and for either output.
#[inline(always)]
pub fn abs_diff_signs<T: SignOut>(a: &[f32], b: &[f32], weight: f32, signs: &mut [T]) -> f32 {
    widest(AbsDiffSigns {
        a,
        b,
        weight,
        signs,
    })
}

/// Partial sums of [`abs_diff_signs`]: one AVX-512 register.
const LANES: usize = 16;

#[inline(always)]
fn abs_diff_signs_baseline<T: SignOut>(a: &[f32], b: &[f32], weight: f32, signs: &mut [T]) -> f32 {
    assert!(
        a.len() == b.len() && a.len() == signs.len(),
        "abs_diff_signs: lengths differ"
    );
    let mut acc = [0f32; LANES];
    let whole = a.len() / LANES * LANES;
    for ((ac, bc), sc) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
        .zip(signs[..whole].chunks_exact_mut(LANES))
    {
        // The signs through 32-bit lanes: `i8` arithmetic on comparison results keeps
        // LLVM from vectorising the loop (one scalar compare per element, measured).
        let mut wide = [0i32; LANES];
        for l in 0..LANES {
            let diff = ac[l] - bc[l];
            acc[l] += diff.abs();
            wide[l] = i32::from(diff > 0.0) - i32::from(diff < 0.0);
        }
        for (s, w) in sc.iter_mut().zip(wide) {
            *s = T::from_sign(w, weight);
        }
    }
    for (l, ((&x, &y), s)) in a[whole..]
        .iter()
        .zip(&b[whole..])
        .zip(&mut signs[whole..])
        .enumerate()
    {
        let diff = x - y;
        acc[l] += diff.abs();
        *s = T::from_sign(i32::from(diff > 0.0) - i32::from(diff < 0.0), weight);
    }
    acc.iter().sum()
}

/// Columns summed in registers at a time by [`weighted_rows`]: four AVX-512 or
/// eight AVX2 registers, so that `d = 64` is one pass.
const BLOCK: usize = 64;

/// How many terms ahead of its sum [`weighted_rows`] prefetches a source row.
const PREFETCH_AHEAD: usize = 4;

/// `f32`s in one 64-byte cache line: [`prefetch_block`] asks for each line once.
const CACHE_LINE_FLOATS: usize = 64 / std::mem::size_of::<f32>();

/// Asks the CPU to bring `x[at..at + BLOCK]` into its first-level cache: a hint
/// only, which reads nothing into the program and never faults.
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_block(x: &[f32], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = x.as_ptr().wrapping_add(at);
        for line in (0..BLOCK).step_by(CACHE_LINE_FLOATS) {
            // SAFETY: a prefetch does not dereference its address and cannot fault,
            // so any address (here one inside or just past `x`) is sound.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line).cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}

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
    weighted_rows_into(row, x, terms, std::iter::empty(), false);
}

/// [`weighted_rows`] over the terms of `first`, then those of `then`: the value of
/// `weighted_rows(row, x, first.chain(then))`, but each list summed by a loop of its
/// own (a `Chain` iterated term by term decides which half it is in at every term:
/// at demo's shape the self-dots backward cost 40 cycles a gathered row through one).
#[inline(always)]
pub fn weighted_rows_then<I, J>(row: &mut [f32], x: &[f32], first: I, then: J)
where
    I: Iterator<Item = (f32, usize)> + Clone,
    J: Iterator<Item = (f32, usize)> + Clone,
{
    weighted_rows_into(row, x, first, then, false);
}

/// `row += Σₜ aₜ · x[sₜ]`: the sum formed as in [`weighted_rows`] (from zero, in term
/// order), then added to `row` once: the same value as `row + (that sum)`.
#[inline(always)]
pub fn weighted_rows_add<I>(row: &mut [f32], x: &[f32], terms: I)
where
    I: Iterator<Item = (f32, usize)> + Clone,
{
    weighted_rows_into(row, x, terms, std::iter::empty(), true);
}

#[inline(always)]
fn weighted_rows_into<I, J>(row: &mut [f32], x: &[f32], first: I, then: J, add: bool)
where
    I: Iterator<Item = (f32, usize)> + Clone,
    J: Iterator<Item = (f32, usize)> + Clone,
{
    let d = row.len();
    let mut start = 0;
    while start < d {
        let width = BLOCK.min(d - start);
        let mut acc = [0f32; BLOCK];
        if width == BLOCK {
            add_block_terms(&mut acc, x, d, start, first.clone());
            add_block_terms(&mut acc, x, d, start, then.clone());
        } else {
            add_part_terms(&mut acc[..width], x, d, start, first.clone());
            add_part_terms(&mut acc[..width], x, d, start, then.clone());
        }
        let out = &mut row[start..start + width];
        if add {
            for (o, &a) in out.iter_mut().zip(&acc[..width]) {
                *o += a;
            }
        } else {
            out.copy_from_slice(&acc[..width]);
        }
        start += width;
    }
}

/// `acc += aₜ · x[sₜ][start..start + BLOCK]` for each term in order, in registers.
#[inline(always)]
fn add_block_terms<I>(acc: &mut [f32; BLOCK], x: &[f32], d: usize, start: usize, terms: I)
where
    I: Iterator<Item = (f32, usize)> + Clone,
{
    // The source rows are scattered over the table: ask for each one a few terms
    // before it is read, so that its cache misses overlap the sums.
    let mut ahead = terms.clone().skip(PREFETCH_AHEAD);
    for (a, s) in terms {
        if let Some((_, next)) = ahead.next() {
            prefetch_block(x, next * d + start);
        }
        let src: &[f32; BLOCK] = x[s * d + start..s * d + start + BLOCK]
            .try_into()
            .expect("a block of BLOCK columns");
        for l in 0..BLOCK {
            acc[l] += a * src[l];
        }
    }
}

/// [`add_block_terms`] for a block narrower than [`BLOCK`] (`acc.len()` columns).
#[inline(always)]
fn add_part_terms<I>(acc: &mut [f32], x: &[f32], d: usize, start: usize, terms: I)
where
    I: Iterator<Item = (f32, usize)>,
{
    for (a, s) in terms {
        let src = &x[s * d + start..s * d + start + acc.len()];
        for (o, &v) in acc.iter_mut().zip(src) {
            *o += a * v;
        }
    }
}

/// `a · b` in eight partial sums (element `e` into sum `e % 8`, over the whole
/// chunks of eight), the sums then added in order, then the tail past the last whole
/// chunk, summed in order: the one dot product of the sparse kernels, whose bits
/// [`dots_with_rows`]' AVX2 path reproduces.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: vectorisable without reassociation by the compiler. Chunks
    // rather than indices, so that no bounds check sits in the loop.
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .fold(0.0, |t, (x, y)| t + x * y);
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out[j] = dot(a, b[ids[j]])` for rows of `d` in the row-major table `b`, each
/// value the bits of `dot` (eight partial sums over the row's chunks of eight, then
/// the partial sums added in order, then the empty tail, `+ 0.0`). Where the CPU has
/// AVX2 and `d` is a multiple of 8, eight dots run at once: their partial sums are
/// eight vectors, transposed so that the in-order sum of every dot's eight partial
/// sums is seven vector adds for all eight, instead of fifteen scalar shuffles and
/// adds each (the pair dots were the graph kernel farthest from their gathers'
/// time, `mario bench --kernels`). The other dots, and every dot elsewhere, through
/// [`dot`] itself.
#[inline(always)]
pub fn dots_with_rows(a: &[f32], b: &[f32], ids: &[u32], d: usize, out: &mut [f32]) {
    assert_eq!(a.len(), d, "dots: a is not d wide");
    assert_eq!(ids.len(), out.len(), "dots: ids and out differ");
    if let Some(&s) = ids.iter().find(|&&s| (s as usize + 1) * d > b.len()) {
        panic!("dots: row {s} is past the table");
    }
    let done = whole_groups_of_eight(a, b, ids, d, out);
    for (o, &s) in out[done..].iter_mut().zip(&ids[done..]) {
        let s = s as usize;
        *o = dot(a, &b[s * d..(s + 1) * d]);
    }
}

/// The dots of [`dots_with_rows`]' whole groups of eight where the CPU has AVX2 and `d`
/// is a multiple of 8 (their count), else none (0). The bounds were checked by the caller.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn whole_groups_of_eight(a: &[f32], b: &[f32], ids: &[u32], d: usize, out: &mut [f32]) -> usize {
    if !d.is_multiple_of(8) || !std::arch::is_x86_feature_detected!("avx2") {
        return 0;
    }
    // SAFETY: the CPU has AVX2 (checked just above); every row read is inside `b`
    // (checked by the caller) and `a` and `out` have the lengths read and written.
    unsafe { dots8_avx2(a, b, ids, d, out) };
    ids.len() / 8 * 8
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn whole_groups_of_eight(_: &[f32], _: &[f32], _: &[u32], _: usize, _: &mut [f32]) -> usize {
    0
}

/// The whole groups of eight of [`dots_with_rows`], on AVX2.
///
/// # Safety
/// The CPU must have AVX2; `d` a multiple of 8, `a.len() == d`, every `ids[j]` a row
/// of `b` and `out.len() == ids.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn dots8_avx2(a: &[f32], b: &[f32], ids: &[u32], d: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    for (group, ids) in ids.chunks_exact(8).enumerate() {
        let rows: [*const f32; 8] =
            std::array::from_fn(|j| b.as_ptr().wrapping_add(ids[j] as usize * d));
        let mut acc = [_mm256_setzero_ps(); 8];
        for c in (0..d).step_by(8) {
            // SAFETY (all loads): `c + 8 ≤ d`, inside `a` and inside each row.
            let x = unsafe { _mm256_loadu_ps(a.as_ptr().add(c)) };
            for j in 0..8 {
                let y = unsafe { _mm256_loadu_ps(rows[j].add(c)) };
                acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(x, y));
            }
        }
        // Transpose: `lane[l]` holds partial sum l of each of the eight dots.
        let lo = |p: __m256, q: __m256| _mm256_unpacklo_ps(p, q);
        let hi = |p: __m256, q: __m256| _mm256_unpackhi_ps(p, q);
        let t = [
            lo(acc[0], acc[1]),
            hi(acc[0], acc[1]),
            lo(acc[2], acc[3]),
            hi(acc[2], acc[3]),
            lo(acc[4], acc[5]),
            hi(acc[4], acc[5]),
            lo(acc[6], acc[7]),
            hi(acc[6], acc[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        let lane = [
            _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ];
        // `dot`'s order: partial sums 0 + 1, then + 2 … + 7, then the empty tail.
        let mut sum = _mm256_add_ps(lane[0], lane[1]);
        for l in &lane[2..] {
            sum = _mm256_add_ps(sum, *l);
        }
        sum = _mm256_add_ps(sum, _mm256_setzero_ps());
        // SAFETY: `group·8 + 8 ≤ ids.len() = out.len()`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(group * 8), sum) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

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
            assert_eq!(bits(&fast), bits(&reference), "d = {d}");
        }
    }

    /// Signs exactly (equal → 0, NaN → 0) and the sum against an f64 loop, for lengths
    /// below, at and past one set of lanes.
    #[test]
    fn abs_diff_signs_matches_a_plain_loop() {
        for len in [0usize, 5, 16, 37, 4096] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let mut b: Vec<f32> = (0..len)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 7.0)
                .collect();
            if len > 3 {
                b[1] = a[1];
            }
            let mut signs = vec![7i8; len];
            let sum = abs_diff_signs(&a, &b, 1.0, &mut signs);
            let mut want = 0f64;
            for i in 0..len {
                let diff = a[i] - b[i];
                let sign = if diff > 0.0 {
                    1
                } else if diff < 0.0 {
                    -1
                } else {
                    0
                };
                assert_eq!(signs[i], sign, "len {len}, element {i}");
                want += f64::from(diff.abs());
            }
            assert!(
                (f64::from(sum) - want).abs() < 1e-5 * want.max(1.0),
                "len {len}: {sum} vs {want}"
            );
            if len > 3 {
                b[len - 2] = f32::NAN;
                assert!(
                    abs_diff_signs(&a, &b, 1.0, &mut signs).is_nan(),
                    "len {len}"
                );
                assert_eq!(signs[len - 2], 0, "len {len}: a NaN difference has sign 0");
            }
        }
    }

    /// Two lists summed one after the other give the bits of one list of both, at
    /// widths below, at and above one block.
    #[test]
    fn weighted_rows_then_equals_the_chained_terms_bit_for_bit() {
        for d in [7usize, 64, 130] {
            let x: Vec<f32> = (0..9 * d)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 3.0)
                .collect();
            let first = [(0.7f32, 3usize), (-2.1, 8), (0.05, 0)];
            let then = [(1.3f32, 3usize), (-0.4, 5), (9.0, 1), (0.25, 7), (-1.5, 2)];
            let mut chained = vec![f32::NAN; d];
            weighted_rows(&mut chained, &x, first.iter().chain(&then).copied());
            let mut split = vec![f32::NAN; d];
            weighted_rows_then(&mut split, &x, first.iter().copied(), then.iter().copied());
            assert_eq!(bits(&split), bits(&chained), "d = {d}");
        }
    }

    /// The grouped dots give the bits of `dot`, whole groups of eight and the rest, at
    /// widths that take the AVX2 path (multiples of 8) and one that does not; zeros of
    /// either sign and a NaN among the values.
    #[test]
    fn dots_with_rows_equal_the_plain_dot_bit_for_bit() {
        for d in [8usize, 64, 72, 20] {
            let n_src = 30;
            let mut b: Vec<f32> = (0..n_src * d)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 13.0)
                .collect();
            b[d..2 * d].fill(-0.0);
            b[3 * d + 1] = f32::NAN;
            let a: Vec<f32> = (0..d).map(|i| ((i * 31 % 17) as f32 - 8.0) / 3.0).collect();
            for fan in [3usize, 8, 20] {
                let ids: Vec<u32> = (0..fan).map(|j| ((j * 11 + d) % n_src) as u32).collect();
                let mut out = vec![0f32; fan];
                dots_with_rows(&a, &b, &ids, d, &mut out);
                let want: Vec<f32> = ids
                    .iter()
                    .map(|&s| dot(&a, &b[s as usize * d..(s as usize + 1) * d]))
                    .collect();
                assert_eq!(bits(&out), bits(&want), "d = {d}, fan = {fan}");
            }
        }
    }

    #[test]
    fn no_terms_gives_a_zero_row() {
        let mut row = vec![1f32; 70];
        weighted_rows(&mut row, &[], std::iter::empty());
        assert!(row.iter().all(|&v| v == 0.0));
    }
}
