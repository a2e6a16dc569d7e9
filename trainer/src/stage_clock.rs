//! Wall time per training stage, for `mario bench`'s stage table: each stage's
//! operations on flex (their forward and their backward) add the time they take
//! to one counter while a bench has the clock running on the thread that trains (a
//! thread-local clock: the operations and burn's backward run on that thread). Off,
//! an operation pays one thread-local read.
//!
//! On a device that runs its operations asynchronously (a GPU through CubeCL), an
//! operation returns once its kernels are queued: there the bench starts the clock
//! with the device's `sync` ([`start_synced`]), which every guard calls when it starts
//! and when it ends, so each stage's time is the device's, at the cost of the overlap
//! between the host and the device that an unmeasured epoch has.
//!
//! The stages are [`crate::roofline`]'s, so each measured time sits next to its
//! floor. Parallel loops run inside an operation, so the counters are wall time on
//! the calling thread; what an epoch spends outside every stage (sampling, burn's
//! graph bookkeeping, the small tensor ops between the fused ones) is the epoch
//! minus their sum.

use std::cell::{Cell, RefCell};
use std::time::Instant;

/// A stage of the training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Eq. 1, `x·W` and `∂W`.
    Compression,
    /// Eq. 2–4 and the item GCN layers, forward and backward.
    ItemGraphs,
    /// The CF backbone's propagation, forward and backward.
    Cf,
    /// Eq. 8 and 10: the decoders and the MP loss with its gradients.
    Mp,
    /// Eq. 9's scores and the L2 sums over the batch's rows, forward and backward.
    Bpr,
    /// The optimiser's update of every parameter.
    Adam,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Compression,
        Stage::ItemGraphs,
        Stage::Cf,
        Stage::Mp,
        Stage::Bpr,
        Stage::Adam,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Stage::Compression => "compression (Eq. 1)",
            Stage::ItemGraphs => "item graphs (Eq. 2–4)",
            Stage::Cf => "CF backbone",
            Stage::Mp => "MP decoders (Eq. 8, 10)",
            Stage::Bpr => "BPR scores + L2 (Eq. 9)",
            Stage::Adam => "Adam",
        }
    }
}

thread_local! {
    /// Each stage's nanoseconds on this thread since [`start`]; `None` while stopped.
    static NANOS: Cell<Option<[u64; Stage::ALL.len()]>> = const { Cell::new(None) };
    /// What waits for the device's queued work, while [`start_synced`]'s clock runs.
    static SYNC: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Waits for the device's queued work where the clock was started with a sync.
fn sync() {
    SYNC.with(|s| {
        if let Some(sync) = s.borrow().as_ref() {
            sync();
        }
    });
}

/// Adds the time until it is dropped to its stage's counter (nothing when the clock
/// was stopped at its start).
#[must_use = "the time is measured until the guard is dropped"]
pub struct StageTimer(Option<(Stage, Instant)>);

/// Starts timing `stage` until the returned guard drops.
#[inline]
pub fn time(stage: Stage) -> StageTimer {
    let running = NANOS.with(|n| n.get().is_some());
    StageTimer(running.then(|| {
        sync();
        (stage, Instant::now())
    }))
}

impl Drop for StageTimer {
    fn drop(&mut self) {
        if let Some((stage, started)) = self.0 {
            sync();
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            NANOS.with(|n| {
                if let Some(mut counts) = n.get() {
                    counts[stage as usize] += nanos;
                    n.set(Some(counts));
                }
            });
        }
    }
}

/// Zeroes every counter and starts the clock on this thread.
pub fn start() {
    NANOS.with(|n| n.set(Some([0; Stage::ALL.len()])));
}

/// [`start`], each guard calling `sync` (which waits for the device's queued work)
/// when it starts and when it ends, until [`stop`].
pub fn start_synced(sync: impl Fn() + 'static) {
    SYNC.with(|s| *s.borrow_mut() = Some(Box::new(sync)));
    start();
}

/// Stops this thread's clock and returns each stage's seconds since [`start`], in
/// [`Stage::ALL`]'s order (all zero if it was not running).
pub fn stop() -> [f64; Stage::ALL.len()] {
    SYNC.with(|s| s.borrow_mut().take());
    let counts = NANOS.with(|n| n.take()).unwrap_or_default();
    counts.map(|c| c as f64 * 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_running_clock_adds_each_guards_time_to_its_stage_and_a_stopped_one_nothing() {
        let sleep = |ms| std::thread::sleep(Duration::from_millis(ms));
        start();
        for ms in [20, 10] {
            let _t = time(Stage::Mp);
            sleep(ms);
        }
        {
            let _t = time(Stage::Adam);
            sleep(5);
        }
        let seconds = stop();
        for stage in Stage::ALL {
            let s = seconds[stage as usize];
            match stage {
                Stage::Mp => assert!(s >= 0.030, "guards of 20 and 10 ms gave {s} s"),
                Stage::Adam => assert!((0.005..0.5).contains(&s), "5 ms gave {s} s"),
                _ => assert_eq!(s, 0.0, "{stage:?} had no guard"),
            }
        }
        // Stopped: a guard adds nothing, and a new start begins at zero.
        {
            let _t = time(Stage::Mp);
            sleep(5);
        }
        assert_eq!(stop(), [0.0; 6], "a stopped clock adds nothing");
        start();
        assert_eq!(stop(), [0.0; 6], "start zeroes the counters");
    }
}
