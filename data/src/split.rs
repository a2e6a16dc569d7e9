//! The per-user temporal split rule shared by MMRec and LATTICE and used by
//! the synthetic generator: a user's interactions sorted by time are cut into
//! train / valid / test, with the newest ones held out.

/// Split sizes `(train, valid, test)` for a user with `n` time-ordered interactions.
///
/// - `n < 10`: the last 1 is test, the one before it valid (when `n >= 3`; with
///   `n == 2` there is no valid item, with `n == 1` everything is train).
/// - `n >= 10`: the last `round(0.1 n)` are test, the `round(0.1 n)` before them
///   valid (each at least 1); the rest is train.
///
/// Train is never empty for `n >= 1`.
pub fn split_counts(n: usize) -> (usize, usize, usize) {
    match n {
        0 => (0, 0, 0),
        1 => (1, 0, 0),
        2 => (1, 0, 1),
        3..=9 => (n - 2, 1, 1),
        _ => {
            let k = ((n as f64) * 0.1).round().max(1.0) as usize;
            (n - 2 * k, k, k)
        }
    }
}

/// The x_label (0 train, 1 valid, 2 test) of the `i`-th (0-based, time-ordered)
/// interaction of a user with `n` interactions.
pub fn split_label(i: usize, n: usize) -> u8 {
    let (train, valid, _) = split_counts(n);
    if i < train {
        0
    } else if i < train + valid {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rule() {
        assert_eq!(split_counts(5), (3, 1, 1));
        assert_eq!(split_counts(9), (7, 1, 1));
        assert_eq!(split_counts(10), (8, 1, 1));
        assert_eq!(split_counts(14), (12, 1, 1));
        assert_eq!(split_counts(15), (11, 2, 2));
        assert_eq!(split_counts(100), (80, 10, 10));
        for n in 1..500 {
            let (a, b, c) = split_counts(n);
            assert_eq!(a + b + c, n);
            assert!(a >= 1);
            let labels: Vec<u8> = (0..n).map(|i| split_label(i, n)).collect();
            assert!(labels.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
