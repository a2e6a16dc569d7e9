//! Keeps the rayon pool's other workers polling for work while a region of many small
//! parallel loops runs (a training epoch: ~100 loops a step, most under a millisecond).
//!
//! Between two loops the calling thread runs serial code (burn's autodiff bookkeeping,
//! allocation, sampling) for longer than rayon's idle workers spin, so they go to sleep
//! and every next loop starts by waking one: a futex wake that the calling thread pays
//! for (on a VM, waking a halted vCPU is an inter-processor interrupt), while the loop's first
//! blocks run on one core. OpenMP runtimes avoid the same cost by spinning a while
//! before sleeping (`KMP_BLOCKTIME`, `GOMP_SPINCOUNT`); rayon has no such setting, so
//! [`with_workers_awake`] gives each other worker a job that steals work through
//! [`rayon::yield_now`] until the region ends. Nothing about *what* runs changes, only
//! when a worker picks it up, so results stay the same bits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the caller waits for the pollers to start on the other workers: they are
/// asleep, so this is one wake each; past it the region runs without the ones that
/// did not start (a poller that ends up on the calling thread returns at once).
const START_WAIT: Duration = Duration::from_millis(5);

/// Runs `region` on the calling rayon worker while every other worker of its pool
/// polls for stolen work instead of sleeping; outside a pool, or in a pool of one
/// thread, just runs `region`. The other workers use their cores for the whole region.
pub fn with_workers_awake<R>(region: impl FnOnce() -> R) -> R {
    let (Some(caller), others) = (
        rayon::current_thread_index(),
        rayon::current_num_threads().saturating_sub(1),
    ) else {
        return region();
    };
    if others == 0 {
        return region();
    }
    let done = AtomicBool::new(false);
    let started = AtomicUsize::new(0);
    rayon::in_place_scope(|scope| {
        for _ in 0..others {
            scope.spawn(|_| {
                // Polling on the caller's own thread would wait for itself.
                if rayon::current_thread_index() == Some(caller) {
                    return;
                }
                started.fetch_add(1, Ordering::Relaxed);
                poll_until(&done);
            });
        }
        let wait_from = Instant::now();
        while started.load(Ordering::Relaxed) < others && wait_from.elapsed() < START_WAIT {
            std::hint::spin_loop();
        }
        let result = region();
        done.store(true, Ordering::Release);
        result
    })
}

/// Idle rounds (a failed steal and a short pause, ~1–2 µs) a poller spins through
/// before it also offers its core to the OS on every round (`sched_yield`: returns at
/// once when nothing else is runnable, lets another process run when the machine is
/// shared or oversubscribed).
const SPIN_ROUNDS: u32 = 64;

/// Executes whatever work this worker can steal until `done` is set.
fn poll_until(done: &AtomicBool) {
    let mut idle_rounds = 0u32;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle_rounds = 0;
            continue;
        }
        idle_rounds = idle_rounds.saturating_add(1);
        if idle_rounds < SPIN_ROUNDS {
            // Back off a little so that the other deques are not hammered.
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Parallel loops inside the region still run and give what they give outside it,
    /// on pools of one, two and three threads, and the region's value comes back.
    #[test]
    fn loops_inside_the_region_give_the_same_results() {
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let expected: Vec<usize> = (0..20_000usize).map(|i| i * i % 7919).collect();
            let (value, workers) = pool.install(|| {
                with_workers_awake(|| {
                    let mut workers = std::collections::BTreeSet::new();
                    let mut last = Vec::new();
                    for _ in 0..50 {
                        let out: Vec<(usize, usize)> = (0..20_000usize)
                            .into_par_iter()
                            .with_min_len(64)
                            .map(|i| (i * i % 7919, rayon::current_thread_index().unwrap()))
                            .collect();
                        workers.extend(out.iter().map(|&(_, w)| w));
                        last = out.into_iter().map(|(v, _)| v).collect();
                    }
                    (last, workers)
                })
            });
            assert_eq!(value, expected, "{threads} threads");
            assert!(workers.len() <= threads);
            // Outside any pool the region still runs.
            assert_eq!(with_workers_awake(|| threads + 1), threads + 1);
        }
    }

    /// With two threads the other worker takes part in the region's loops: its poller
    /// executes the blocks it steals (a poller that only waited for the region's end
    /// would hold that worker, and every loop would run on the caller alone).
    #[test]
    fn the_other_worker_takes_part() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let workers = pool.install(|| {
            with_workers_awake(|| {
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..200 {
                    let ids: Vec<usize> = (0..64)
                        .into_par_iter()
                        .map(|_| {
                            std::thread::sleep(Duration::from_micros(20));
                            rayon::current_thread_index().unwrap()
                        })
                        .collect();
                    seen.extend(ids);
                }
                seen
            })
        });
        assert_eq!(workers.len(), 2);
    }
}
