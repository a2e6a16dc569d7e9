//! The successive-halving schedule of `mario tune`: rung `i` trains the best
//! `n_i = ⌈n_{i−1} / η⌉` trials (by validation Recall@20 at rung `i − 1`) to
//! `min_epochs · ηⁱ` epochs, capped at the configured maximum, so losing trials stop early
//! and the survivors get the full budget.

use serde::{Deserialize, Serialize};

/// One rung: how many trials are trained, and to how many epochs in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    pub trials: usize,
    pub epochs: usize,
}

/// The rungs for `n_trials` trials. `eta ≤ 1` (or `min_epochs ≥ max_epochs`) means no
/// early kill: one rung, every trial to `max_epochs`. Budgets strictly increase, the last
/// rung is `max_epochs`, and trial counts never increase.
pub fn schedule(n_trials: usize, min_epochs: usize, max_epochs: usize, eta: usize) -> Vec<Rung> {
    let max_epochs = max_epochs.max(1);
    if eta <= 1 || min_epochs >= max_epochs || n_trials <= 1 {
        return vec![Rung {
            trials: n_trials,
            epochs: max_epochs,
        }];
    }
    let mut rungs = Vec::new();
    let (mut trials, mut epochs) = (n_trials, min_epochs.max(1));
    loop {
        rungs.push(Rung { trials, epochs });
        if epochs >= max_epochs {
            return rungs;
        }
        trials = trials.div_ceil(eta).max(1);
        epochs = if trials == 1 {
            // One survivor left: it gets the whole budget at once.
            max_epochs
        } else {
            (epochs * eta).min(max_epochs)
        };
    }
}

/// Rounds every rung's budget up to a multiple of `eval_every` (a run is scored, and
/// checkpointed, only at those epochs), keeping the schedule strictly increasing.
pub fn align_to_evaluations(rungs: &mut Vec<Rung>, eval_every: usize, max_epochs: usize) {
    let e = eval_every.max(1);
    for r in rungs.iter_mut() {
        r.epochs = r
            .epochs
            .div_ceil(e)
            .saturating_mul(e)
            .min(max_epochs.max(1));
    }
    rungs.dedup_by(|later, earlier| later.epochs <= earlier.epochs);
    if let Some(last) = rungs.last_mut() {
        last.epochs = max_epochs.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(rungs: &[Rung]) -> Vec<(usize, usize)> {
        rungs.iter().map(|r| (r.trials, r.epochs)).collect()
    }

    #[test]
    fn classic_halving_by_three() {
        assert_eq!(
            pairs(&schedule(27, 10, 200, 3)),
            [(27, 10), (9, 30), (3, 90), (1, 200)]
        );
        // Budget reached before one survivor: the last rung keeps several.
        assert_eq!(pairs(&schedule(30, 20, 60, 3)), [(30, 20), (10, 60)]);
        // One survivor reached early jumps to the full budget.
        assert_eq!(pairs(&schedule(4, 5, 100, 4)), [(4, 5), (1, 100)]);
    }

    #[test]
    fn degenerate_cases_are_one_rung() {
        assert_eq!(pairs(&schedule(8, 10, 50, 1)), [(8, 50)]);
        assert_eq!(pairs(&schedule(8, 60, 50, 3)), [(8, 50)]);
        assert_eq!(pairs(&schedule(1, 5, 50, 3)), [(1, 50)]);
    }

    #[test]
    fn invariants_hold_for_many_settings() {
        for n in 1..40 {
            for min in 1..12 {
                for max in [1, 5, 13, 40, 200] {
                    for eta in 1..5 {
                        let r = schedule(n, min, max, eta);
                        assert_eq!(r[0].trials, n);
                        assert_eq!(r.last().unwrap().epochs, max, "{n} {min} {max} {eta}");
                        for w in r.windows(2) {
                            assert!(w[1].epochs > w[0].epochs, "{r:?}");
                            assert!(w[1].trials <= w[0].trials && w[1].trials >= 1, "{r:?}");
                            assert_eq!(w[1].trials, w[0].trials.div_ceil(eta.max(1)), "{r:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn budgets_align_to_the_evaluation_period() {
        let mut r = schedule(27, 10, 200, 3);
        align_to_evaluations(&mut r, 4, 200);
        assert_eq!(pairs(&r), [(27, 12), (9, 32), (3, 92), (1, 200)]);
        let mut r = vec![
            Rung {
                trials: 4,
                epochs: 1,
            },
            Rung {
                trials: 2,
                epochs: 2,
            },
            Rung {
                trials: 1,
                epochs: 3,
            },
        ];
        align_to_evaluations(&mut r, 5, 3);
        assert_eq!(pairs(&r), [(4, 3)]);
    }
}
