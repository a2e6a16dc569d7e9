//! What `mario bench` reads off a CubeCL device besides time: how many kernels it
//! launches (every dispatch — ours, burn's matmul and element-wise ops, copies —
//! counted as it is issued, through CubeCL's process-wide launch observer) and how
//! many bytes its memory pools hold.
//!
//! Both are read at the stage clock's edges ([`crate::stage_clock::DeviceProbe`]):
//! the launches between two edges are that stage's dispatches, and the largest
//! pool size seen at any edge is the run's peak device memory as CubeCL reserved
//! it (a pool grows to what the stage before the edge needed and is not shrunk
//! inside a step, so this bounds the step's live tensors from above).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::backend::Cube;
use burn::tensor::{Device, Tensor};
use cubecl::MemoryScope;
use cubecl::logging::{LaunchObservation, LaunchObserver};

/// Kernels launched in this process while a [`LaunchCounter`] was installed.
static LAUNCHES: AtomicU64 = AtomicU64::new(0);

struct CountLaunches;

impl LaunchObserver for CountLaunches {
    fn launched(&self, _kernel: &'static str) {
        LAUNCHES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every kernel launch until it is dropped (one relaxed add a launch).
#[must_use = "launches are counted until the counter drops"]
pub struct LaunchCounter {
    _observation: LaunchObservation,
}

impl LaunchCounter {
    pub fn install() -> Self {
        Self {
            _observation: LaunchObservation::new(Arc::new(CountLaunches)),
        }
    }

    /// Launches counted so far (by every counter installed in this process).
    pub fn launches(&self) -> u64 {
        launches()
    }
}

/// Launches counted so far in this process (zero where no counter was installed).
pub fn launches() -> u64 {
    LAUNCHES.load(Ordering::Relaxed)
}

/// The CubeCL client of `device` (a CubeCL device, not under autodiff), read off a
/// one-element tensor; `None` on any other device.
fn client(device: &Device) -> Option<cubecl::client::Client> {
    if !crate::sparse::cube::is_cube(device) {
        return None;
    }
    let probe = Tensor::<1>::zeros([1], device)
        .try_into_primitive::<Cube>()
        .ok()?;
    Some(probe.client)
}

/// Bytes the memory pools of `device` (a CubeCL device, not under autodiff) hold
/// now; `None` on any other device.
pub fn reserved_bytes(device: &Device) -> Option<u64> {
    let usage = client(device)?.memory_report(MemoryScope::Device).usage();
    Some(usage.bytes_reserved)
}

/// The largest buffer one kernel binding of `device` may take (a CubeCL device, not
/// under autodiff), bytes; `None` on any other device.
pub fn max_binding_bytes(device: &Device) -> Option<u64> {
    Some(client(device)?.properties().memory.max_page_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On lavapipe: an element-wise op is at least one launch, and a tensor of
    /// 64 MiB makes the pools hold at least that much.
    #[test]
    fn launches_and_reserved_bytes_follow_the_work() {
        let device = crate::backend::select(crate::backend::BackendChoice::Wgpu)
            .expect(
                "no wgpu adapter: install a Vulkan driver (`cargo xtask setup` installs lavapipe)",
            )
            .device;
        let counter = LaunchCounter::install();
        let before = counter.launches();
        let n = 16 << 20;
        let x = Tensor::<1>::ones([n], &device);
        let total = crate::tensor::to_f32((x.clone() * 2.0 + 1.0).sum())[0];
        assert!((total / (3.0 * n as f32) - 1.0).abs() < 1e-3, "sum {total}");
        let launched = counter.launches() - before;
        assert!(
            launched >= 2,
            "ones, ×2 + 1 and a sum launched {launched} kernels"
        );
        let bytes = reserved_bytes(&device).expect("a CubeCL device");
        assert!(
            bytes >= 64 << 20,
            "a live 64 MiB tensor, {bytes} bytes reserved"
        );
        drop(x);
        assert_eq!(reserved_bytes(&burn::tensor::Device::flex()), None);
        let binding = max_binding_bytes(&device).expect("a CubeCL device");
        assert!(
            binding >= 64 << 20,
            "a 64 MiB tensor was bound: limit {binding}"
        );
    }
}
