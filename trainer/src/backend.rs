//! Backend selection: `wgpu` (burn-wgpu: Vulkan, Metal, DX12 — any vendor) or `cpu`
//! (burn's `flex` CPU backend). `auto` picks wgpu only when a real GPU adapter
//! exists: on a CPU-only machine the only Vulkan device is Mesa's lavapipe, a CPU
//! rasteriser, which measured ~3× slower than flex (see `mario bench`).

use burn::tensor::{Device, DeviceKind};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Wgpu,
    Cpu,
}

/// The device a run uses and how to describe it.
#[derive(Debug, Clone)]
pub struct Backend {
    pub device: Device,
    /// `wgpu` or `cpu`.
    pub name: &'static str,
    /// Adapter description, e.g. `NVIDIA H100 (DiscreteGpu, Vulkan)` or `flex (CPU)`.
    pub adapter: String,
}

/// What wgpu sees on this machine.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub description: String,
    pub is_gpu: bool,
}

/// Lists wgpu adapters (blocking).
pub fn wgpu_adapters() -> Vec<AdapterSummary> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters =
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                description: format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend),
                is_gpu: matches!(
                    info.device_type,
                    wgpu::DeviceType::DiscreteGpu
                        | wgpu::DeviceType::IntegratedGpu
                        | wgpu::DeviceType::VirtualGpu
                ),
            }
        })
        .collect()
}

fn cpu() -> Backend {
    Backend {
        device: Device::flex(),
        name: "cpu",
        adapter: "flex (CPU)".to_string(),
    }
}

fn wgpu_backend(adapters: &[AdapterSummary]) -> anyhow::Result<Backend> {
    // burn picks a GPU first, like wgpu's high-performance preference.
    let chosen = adapters.iter().find(|a| a.is_gpu).or_else(|| adapters.first()).ok_or_else(|| {
        anyhow::anyhow!(
            "--backend wgpu: no wgpu adapter found. Install a Vulkan driver (on a machine without a GPU: \
             `apt-get install mesa-vulkan-drivers libvulkan1` for lavapipe) or use --backend cpu"
        )
    })?;
    Ok(Backend {
        device: Device::wgpu(DeviceKind::DefaultDevice),
        name: "wgpu",
        adapter: chosen.description.clone(),
    })
}

pub fn select(choice: BackendChoice) -> anyhow::Result<Backend> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Wgpu => wgpu_backend(&wgpu_adapters()),
        BackendChoice::Auto => {
            let adapters = wgpu_adapters();
            if adapters.iter().any(|a| a.is_gpu) {
                wgpu_backend(&adapters)
            } else {
                Ok(cpu())
            }
        }
    }
}
