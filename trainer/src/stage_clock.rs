//! Wall time per training stage, for `mario bench`'s stage table: each stage's
//! operations on flex (their forward and their backward) add the time they take
//! to one counter while a bench has the clock running on the thread that trains (a
//! thread-local clock: the operations and burn's backward run on that thread). Off,
//! an operation pays one thread-local read.
//!
//! On a device that runs its operations asynchronously (a GPU through CubeCL), an
//! operation returns once its kernels are queued: there the bench starts the clock
//! with a [`DeviceProbe`] ([`start_on_device`]), which every guard calls when it
//! starts and when it ends: it waits for the device, so each stage's time is the
//! device's (at the cost of the overlap between the host and the device that an
//! unmeasured epoch has), counts the kernels launched in between (the stage's
//! dispatches) and samples the device's pool bytes (the peak over every edge).
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
    /// Each stage's kernel launches since [`start_on_device`].
    static LAUNCHES: Cell<[u64; Stage::ALL.len()]> = const { Cell::new([0; Stage::ALL.len()]) };
    /// The largest pool size seen at an edge since [`start_on_device`].
    static PEAK_BYTES: Cell<u64> = const { Cell::new(0) };
    /// The device read at every edge, while [`start_on_device`]'s clock runs.
    static PROBE: RefCell<Option<DeviceProbe>> = const { RefCell::new(None) };
}

/// What the clock reads off an asynchronous device at each stage's edges.
pub struct DeviceProbe {
    /// Waits for the device's queued work.
    pub sync: Box<dyn Fn()>,
    /// Kernels launched so far (a running count; differences are what count).
    pub launches: Box<dyn Fn() -> u64>,
    /// Bytes the device's memory pools hold now.
    pub reserved_bytes: Box<dyn Fn() -> u64>,
}

/// Where the clock runs on a device: waits for it, samples its pools and returns
/// the launch count (zero without a probe).
fn edge() -> u64 {
    PROBE.with(|p| match p.borrow().as_ref() {
        Some(probe) => {
            (probe.sync)();
            let bytes = (probe.reserved_bytes)();
            PEAK_BYTES.with(|peak| peak.set(peak.get().max(bytes)));
            (probe.launches)()
        }
        None => 0,
    })
}

/// What the clock measured between [`start`] (or [`start_on_device`]) and [`stop`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StageReport {
    /// Each stage's seconds, in [`Stage::ALL`]'s order.
    pub seconds: [f64; Stage::ALL.len()],
    /// Each stage's kernel launches (all zero without a device probe).
    pub launches: [u64; Stage::ALL.len()],
    /// The largest pool size seen at a stage edge, bytes (zero without a probe).
    pub peak_reserved_bytes: u64,
}

/// Adds the time until it is dropped to its stage's counter (nothing when the clock
/// was stopped at its start).
#[must_use = "the time is measured until the guard is dropped"]
pub struct StageTimer(Option<(Stage, Instant, u64)>);

/// Starts timing `stage` until the returned guard drops.
#[inline]
pub fn time(stage: Stage) -> StageTimer {
    let running = NANOS.with(|n| n.get().is_some());
    StageTimer(running.then(|| {
        let launched = edge();
        (stage, Instant::now(), launched)
    }))
}

impl Drop for StageTimer {
    fn drop(&mut self) {
        if let Some((stage, started, launched_before)) = self.0 {
            let launched = edge() - launched_before;
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            NANOS.with(|n| {
                if let Some(mut counts) = n.get() {
                    counts[stage as usize] += nanos;
                    n.set(Some(counts));
                }
            });
            LAUNCHES.with(|l| {
                let mut counts = l.get();
                counts[stage as usize] += launched;
                l.set(counts);
            });
        }
    }
}

/// Zeroes every counter and starts the clock on this thread.
pub fn start() {
    NANOS.with(|n| n.set(Some([0; Stage::ALL.len()])));
    LAUNCHES.with(|l| l.set([0; Stage::ALL.len()]));
    PEAK_BYTES.with(|p| p.set(0));
}

/// [`start`], each guard reading `probe` (waiting for the device, counting its
/// launches, sampling its pools) when it starts and when it ends, until [`stop`].
pub fn start_on_device(probe: DeviceProbe) {
    PROBE.with(|p| *p.borrow_mut() = Some(probe));
    start();
}

/// Stops this thread's clock and returns what it measured since [`start`] (all
/// zero if it was not running).
pub fn stop() -> StageReport {
    PROBE.with(|p| p.borrow_mut().take());
    let counts = NANOS.with(|n| n.take()).unwrap_or_default();
    StageReport {
        seconds: counts.map(|c| c as f64 * 1e-9),
        launches: LAUNCHES.with(|l| l.take()),
        peak_reserved_bytes: PEAK_BYTES.with(|p| p.take()),
    }
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
        let seconds = stop().seconds;
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
        assert_eq!(stop().seconds, [0.0; 6], "a stopped clock adds nothing");
        start();
        assert_eq!(stop().seconds, [0.0; 6], "start zeroes the counters");
    }

    /// A probe is read at both edges of every guard: the launches in between go to
    /// the guard's stage, the largest pool size seen is the peak, and none of it
    /// outlives `stop`.
    #[test]
    fn a_device_probe_gives_each_stage_its_launches_and_the_run_its_peak() {
        use std::rc::Rc;
        let launched = Rc::new(Cell::new(0u64));
        let bytes = Rc::new(Cell::new(100u64));
        let syncs = Rc::new(Cell::new(0u32));
        let (l, b, s) = (launched.clone(), bytes.clone(), syncs.clone());
        start_on_device(DeviceProbe {
            sync: Box::new(move || s.set(s.get() + 1)),
            launches: Box::new(move || l.get()),
            reserved_bytes: Box::new(move || b.get()),
        });
        launched.set(7); // launched outside any stage: nobody's
        {
            let _t = time(Stage::Bpr);
            launched.set(10);
            bytes.set(900);
        }
        {
            let _t = time(Stage::Adam);
            launched.set(13);
            bytes.set(300);
        }
        {
            let _t = time(Stage::Bpr);
            launched.set(14);
        }
        let report = stop();
        assert_eq!(report.launches, [0, 0, 0, 0, 4, 3]);
        assert_eq!(report.peak_reserved_bytes, 900);
        assert_eq!(syncs.get(), 6, "two syncs a guard");
        start();
        drop(time(Stage::Bpr));
        let report = stop();
        assert_eq!(
            (report.launches, report.peak_reserved_bytes),
            ([0; 6], 0),
            "no probe: nothing but time, and nothing of the last run"
        );
    }
}
