//! Output tables allocated for a parallel pass to write: [`par_blocks`] hands each
//! rayon task its own block of a fresh table, zeroed by that task right before the
//! task writes it, instead of one serial `memset` of the whole table on the training
//! thread first. The zeroing then runs on every core, and in the cache of the core
//! that writes the block next.
//! A serial zeroing would leave the other cores waiting while the training thread
//! clears LightGCN's layers and gradients, the BPR and L2 gradient tables and the item
//! graphs' outputs.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A table of `len` `f32`s, cut into blocks of `block` elements (the last one may be
/// shorter), each zeroed and then passed to `fill(index, block)` inside one rayon task;
/// `fill` may add into the zeros or overwrite them. The result is the same as filling
/// the blocks of `vec![0.0; len]` in order.
#[allow(unsafe_code)]
pub(super) fn par_blocks(
    len: usize,
    block: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let mut table: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return table;
    }
    table.spare_capacity_mut()[..len]
        .par_chunks_mut(block.max(1))
        .enumerate()
        .for_each(|(index, uninit)| {
            uninit.fill(MaybeUninit::new(0.0));
            // SAFETY: every element of `uninit` was initialised just above, and
            // `MaybeUninit<f32>` has the layout of `f32`, so the block may be viewed
            // as the `f32`s it now holds, for as long as this task borrows it.
            let values = unsafe { &mut *(std::ptr::from_mut(uninit) as *mut [f32]) };
            fill(index, values);
        });
    // SAFETY: the loop above initialised all of the first `len` elements (its blocks
    // cover them); had a task panicked, rayon would have resumed the panic before here.
    unsafe { table.set_len(len) };
    table
}

/// Rows per task of [`gather_rows`] and [`scatter_distinct_rows`].
const ROWS_PER_BLOCK: usize = 64;

/// The rows `ids` of the row-major table `table` (`width` wide), gathered in parallel
/// blocks: `[ids.len(), width]`.
pub(super) fn gather_rows(table: &[f32], width: usize, ids: &[u32]) -> Vec<f32> {
    par_blocks(ids.len() * width, ROWS_PER_BLOCK * width, |block, out| {
        let ids = &ids[block * ROWS_PER_BLOCK..];
        for (row, &id) in out.chunks_exact_mut(width).zip(ids) {
            let at = id as usize * width;
            row.copy_from_slice(&table[at..at + width]);
        }
    })
}

/// The backward of [`gather_rows`] for distinct `ids`: an `[n_rows, width]` table
/// whose row `ids[b]` is row `b` of `rows` and every other row zero, written in
/// parallel blocks of its own rows (each written once: no sums, so no order).
///
/// # Panics
/// If an id repeats or is not below `n_rows`.
pub(super) fn scatter_distinct_rows(
    n_rows: usize,
    width: usize,
    ids: &[u32],
    rows: &[f32],
) -> Vec<f32> {
    assert_eq!(
        rows.len(),
        ids.len() * width,
        "scatter: rows are not ids × width"
    );
    let mut position = vec![u32::MAX; n_rows];
    for (b, &id) in ids.iter().enumerate() {
        let slot = &mut position[id as usize];
        assert_eq!(*slot, u32::MAX, "scatter: row {id} appears twice");
        *slot = b as u32;
    }
    par_blocks(n_rows * width, ROWS_PER_BLOCK * width, |block, out| {
        let first = block * ROWS_PER_BLOCK;
        for (r, row) in out.chunks_exact_mut(width).enumerate() {
            let b = position[first + r];
            if b != u32::MAX {
                let at = b as usize * width;
                row.copy_from_slice(&rows[at..at + width]);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gathering rows and scattering them back gives the table with the other rows
    /// zeroed, past one block of rows; a repeated id is refused.
    #[test]
    fn gathered_rows_scatter_back_to_their_places() {
        let (n, width) = (150, 3);
        let table: Vec<f32> = (0..n * width).map(|k| k as f32 + 0.5).collect();
        let ids: Vec<u32> = (0..n as u32).rev().filter(|i| i % 3 != 1).collect();
        let gathered = gather_rows(&table, width, &ids);
        for (b, &id) in ids.iter().enumerate() {
            let id = id as usize;
            assert_eq!(
                &gathered[b * width..][..width],
                &table[id * width..][..width]
            );
        }
        let back = scatter_distinct_rows(n, width, &ids, &gathered);
        for r in 0..n {
            let row = &back[r * width..][..width];
            if r % 3 == 1 {
                assert!(row.iter().all(|&v| v == 0.0), "row {r} is not in ids");
            } else {
                assert_eq!(row, &table[r * width..][..width], "row {r}");
            }
        }
        let repeated =
            std::panic::catch_unwind(|| scatter_distinct_rows(4, 1, &[2, 2], &[1.0, 2.0]));
        assert!(repeated.is_err(), "a repeated id must be refused");
    }

    /// Every block is zeroed, handed out once with its index, and lands in order,
    /// for ragged lengths and any thread count.
    #[test]
    fn blocks_are_zeroed_indexed_and_in_order() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            for (len, block) in [(0usize, 4usize), (1, 4), (10, 4), (12, 4), (1000, 64)] {
                let table = pool.install(|| {
                    par_blocks(len, block, |index, values| {
                        assert!(values.iter().all(|&v| v == 0.0), "block {index} not zeroed");
                        for (k, v) in values.iter_mut().enumerate() {
                            *v += (index * block + k) as f32;
                        }
                    })
                });
                let want: Vec<f32> = (0..len).map(|k| k as f32).collect();
                assert_eq!(table, want, "len {len}, block {block}, {threads} threads");
            }
        }
    }
}
