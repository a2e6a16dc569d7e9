//! Backend selection: `cuda` (burn's CUDA runtime, with the cargo feature `cuda`),
//! `wgpu` (burn-wgpu: Vulkan, Metal, DX12 — any vendor), both through burn's CubeCL
//! backend and the same kernels, or `cpu` (burn's `flex` CPU backend). `auto` picks
//! CUDA where it is built in and a device answers, then wgpu on a real GPU adapter,
//! then flex: on a CPU-only machine the only Vulkan device is Mesa's lavapipe, a CPU
//! rasteriser, much slower than flex (see `mario bench`).

use burn::tensor::{Device, DeviceKind};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Cuda,
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

/// The CUDA device 0, if this build has CUDA and a device answers; else why not.
#[cfg(feature = "cuda")]
pub fn cuda_backend() -> Result<Backend, String> {
    let device = Device::cuda(0);
    // The runtime panics when the driver or a device is missing: a normal condition for
    // `auto`, so the probe catches it and keeps the panic message off the terminal.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        burn::tensor::Tensor::<1>::zeros([1], &device).into_data()
    }));
    std::panic::set_hook(hook);
    match probe {
        Ok(_) => Ok(Backend {
            device,
            name: "cuda",
            adapter: "CUDA device 0".to_string(),
        }),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the CUDA runtime failed to start");
            Err(format!("no CUDA device answered ({why})"))
        }
    }
}

/// Why there is no CUDA: this build was made without it.
#[cfg(not(feature = "cuda"))]
pub fn cuda_backend() -> Result<Backend, String> {
    Err("this mario was built without CUDA: rebuild with \
         `cargo build --release -p mario-trainer --features cuda` (the build fetches CubeCL's \
         LLVM bundle; running needs the NVIDIA driver and NVRTC), or use --backend wgpu"
        .to_string())
}

pub fn select(choice: BackendChoice) -> anyhow::Result<Backend> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Cuda => {
            cuda_backend().map_err(|why| anyhow::anyhow!("--backend cuda: {why}"))
        }
        BackendChoice::Wgpu => wgpu_backend(&wgpu_adapters()),
        BackendChoice::Auto => {
            if cfg!(feature = "cuda")
                && let Ok(cuda) = cuda_backend()
            {
                return Ok(cuda);
            }
            let adapters = wgpu_adapters();
            if adapters.iter().any(|a| a.is_gpu) {
                wgpu_backend(&adapters)
            } else {
                Ok(cpu())
            }
        }
    }
}
