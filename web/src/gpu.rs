//! WebGPU scoring through wgpu (browser only): device set-up, the one-time upload of the
//! item tables, one compute pass per scoring request, and asynchronous readback.
//!
//! Failure handling: the adapter/device request, the kernel compilation (validation error
//! scope) and the uploads (out-of-memory scope) return errors instead of panicking; a
//! lost device or any uncaptured GPU error is recorded in [`GpuContext::fault`], which the
//! page polls and which every request checks, so the page switches to the CPU scorer.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use mario_shared::ModelWeights;
use wgpu::util::DeviceExt;

use crate::influence::{BINS, Influence};
use crate::kernel::{self, Params};

/// The device, queue and the three pipelines of [`kernel::WGSL`].
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    score: wgpu::ComputePipeline,
    pair: wgpu::ComputePipeline,
    dominant: wgpu::ComputePipeline,
    /// Adapter description for the diagnostics panel.
    pub adapter: String,
    max_binding: u64,
    max_workgroups: u32,
    fault: Arc<Mutex<Option<String>>>,
}

fn navigator_has_gpu() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

impl GpuContext {
    /// Requests an adapter and a device and compiles the kernel.
    pub async fn new() -> Result<Rc<Self>, String> {
        if !navigator_has_gpu() {
            return Err("this browser does not expose WebGPU (navigator.gpu is missing)".into());
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                web_sys::console::warn_1(&format!("requestAdapter: {e}").into());
                "the browser offers no WebGPU adapter".to_string()
            })?;
        let info = adapter.get_info();
        let supported = adapter.limits();
        // WebGPU's default limits, with the buffer sizes raised to what the adapter offers
        // (so large item tables need fewer chunks).
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            ..wgpu::Limits::default()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("mario"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("the WebGPU device request failed: {e}"))?;

        let fault: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        {
            let fault = fault.clone();
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut f) = fault.lock() {
                    f.get_or_insert_with(|| {
                        format!("the GPU device was lost ({reason:?}) {message}")
                            .trim()
                            .to_string()
                    });
                }
            });
        }
        {
            let fault = fault.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                if let Ok(mut f) = fault.lock() {
                    f.get_or_insert_with(|| format!("GPU error: {e}"));
                }
            }));
        }

        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mario kernel"),
            source: wgpu::ShaderSource::Wgsl(kernel::WGSL.into()),
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let (score, pair, dominant) = (
            pipeline("score"),
            pipeline("pair_attention"),
            pipeline("dominant_modality"),
        );
        if let Some(e) = scope.pop().await {
            return Err(format!("the scoring kernel did not compile: {e}"));
        }
        let mut parts: Vec<String> = [&info.name, &info.driver, &info.driver_info]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect();
        if parts.is_empty() {
            parts.push("unnamed adapter".into());
        }
        let adapter_text = format!(
            "{} ({:?}{})",
            parts.join(" "),
            info.device_type,
            if info.device_type == wgpu::DeviceType::Cpu {
                ", software"
            } else {
                ""
            }
        );
        Ok(Rc::new(Self {
            device,
            queue,
            score,
            pair,
            dominant,
            adapter: adapter_text,
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            max_workgroups: limits.max_compute_workgroups_per_dimension,
            fault,
        }))
    }

    /// Why the GPU can no longer be trusted, if it cannot.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    fn check(&self) -> Result<(), String> {
        self.fault().map_or(Ok(()), Err)
    }

    /// Destroys the device, as a driver reset would (diagnostics: exercises the fallback).
    pub fn simulate_loss(&self) {
        self.device.destroy();
    }

    fn storage(&self, label: &str, bytes: &[u8], extra: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | extra,
            })
    }

    fn empty(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }
}

/// Maps `buffer` for reading (never blocks: awaits the browser's promise) and copies it out.
async fn read_back(buffer: &wgpu::Buffer) -> Result<Vec<u8>, String> {
    let (tx, rx) = futures_channel::oneshot::channel();
    buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    rx.await
        .map_err(|_| "the GPU readback was cancelled".to_string())?
        .map_err(|e| format!("the GPU readback failed: {e}"))?;
    let bytes = buffer
        .slice(..)
        .get_mapped_range()
        .map_err(|e| format!("the GPU readback failed: {e:?}"))?
        .to_vec();
    buffer.unmap();
    Ok(bytes)
}

struct Chunk {
    offset: usize,
    len: usize,
    items: wgpu::Buffer,
    /// The chunk's uniform block as last written (its `keep` changes for what-ifs).
    params_value: std::cell::Cell<Params>,
    params: wgpu::Buffer,
    score_bg: wgpu::BindGroup,
}

/// One model's item tables on the GPU, ready to score any user vector.
pub struct GpuModel {
    ctx: Rc<GpuContext>,
    n_items: usize,
    m: usize,
    d: usize,
    chunks: Vec<Chunk>,
    user: wgpu::Buffer,
    mask: wgpu::Buffer,
    scores: wgpu::Buffer,
    attention: wgpu::Buffer,
    staging: RefCell<Vec<wgpu::Buffer>>,
}

/// Raw kernel output for every item.
pub struct GpuScores {
    /// `[I]`, `-inf` for masked items.
    pub scores: Vec<f32>,
    /// `[I * M]`.
    pub attention: Vec<f32>,
}

impl GpuModel {
    /// Uploads the item tables (once). `forced_chunk` caps the items per chunk.
    pub async fn new(
        ctx: Rc<GpuContext>,
        w: &ModelWeights,
        forced_chunk: Option<usize>,
    ) -> Result<Self, String> {
        ctx.check()?;
        let (n_items, m, d) = (w.meta.n_items, w.meta.modalities.len(), w.meta.d);
        if m == 0 || m > kernel::MAX_M {
            return Err(format!(
                "{m} modalities: the kernel handles 1 to {}",
                kernel::MAX_M
            ));
        }
        let d4 = kernel::d4(d);
        let out_bytes = (n_items * m * 4) as u64;
        if out_bytes > ctx.max_binding || (d4 * 16) as u64 > ctx.max_binding {
            return Err(format!(
                "{n_items} items x {m} modalities exceed this adapter's storage binding limit"
            ));
        }
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = ctx.score.get_bind_group_layout(0);
        let user = ctx.empty(
            "user",
            (d4 * 16) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let mask = ctx.empty(
            "mask",
            (n_items.div_ceil(32) * 4) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let scores = ctx.empty(
            "scores",
            (n_items * 4) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let attention = ctx.empty(
            "attention",
            out_bytes,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let mut chunks = Vec::new();
        for (offset, len) in kernel::plan_chunks(n_items, m, d4, ctx.max_binding, forced_chunk) {
            let table = kernel::transpose_chunk(&w.item_embedding, d, offset, len);
            let items = ctx.storage(
                "items",
                bytemuck::cast_slice(&table),
                wgpu::BufferUsages::empty(),
            );
            drop(table);
            let params = Params {
                n_items: len as u32,
                item_offset: offset as u32,
                d4: d4 as u32,
                m: m as u32,
                inv_sqrt_d: 1.0 / (d as f32).sqrt(),
                n_pairs: w.train_indices.len() as u32,
                n_users: w.meta.n_users as u32,
                bins: BINS as u32,
                keep: kernel::all_modalities(m),
            };
            let params_value = params;
            let params = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: &params.to_bytes(),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                });
            let score_bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("score"),
                layout: &layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: items.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: user.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: mask.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: scores.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 5,
                        resource: attention.as_entire_binding(),
                    },
                ],
            });
            chunks.push(Chunk {
                offset,
                len,
                items,
                params_value: std::cell::Cell::new(params_value),
                params,
                score_bg,
            });
        }
        if let Some(e) = validation.pop().await {
            return Err(format!("uploading the item tables failed: {e}"));
        }
        if let Some(e) = oom.pop().await {
            return Err(format!("the GPU is out of memory for the item tables: {e}"));
        }
        let model = Self {
            ctx,
            n_items,
            m,
            d,
            chunks,
            user,
            mask,
            scores,
            attention,
            staging: RefCell::new(Vec::new()),
        };
        // One warm-up pass: drivers compile pipelines lazily, so the first dispatch is slow;
        // pay that here (it also proves the whole path works before the page relies on it).
        model.score(&vec![0.0; d], &[]).await?;
        Ok(model)
    }

    /// Writes the modality mask into every chunk's uniform block (when it changes).
    fn set_keep(&self, keep: u32) {
        for c in &self.chunks {
            let mut p = c.params_value.get();
            if p.keep != keep {
                p.keep = keep;
                self.ctx.queue.write_buffer(&c.params, 0, &p.to_bytes());
                c.params_value.set(p);
            }
        }
    }

    /// Number of table chunks (1 unless a table exceeds the binding limit).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn context(&self) -> &Rc<GpuContext> {
        &self.ctx
    }

    /// Scores every item for `user` in one compute pass; `exclude` (sorted or not) is masked.
    pub async fn score(&self, user: &[f32], exclude: &[u32]) -> Result<GpuScores, String> {
        self.score_masked(user, exclude, kernel::all_modalities(self.m))
            .await
    }

    /// [`GpuModel::score`] attending only to the modalities in the bitmask `keep` (the
    /// what-if ranks: a modality dropped, or one alone).
    pub async fn score_masked(
        &self,
        user: &[f32],
        exclude: &[u32],
        keep: u32,
    ) -> Result<GpuScores, String> {
        self.ctx.check()?;
        let (n, m) = (self.n_items, self.m);
        let q = &self.ctx.queue;
        self.set_keep(keep);
        q.write_buffer(
            &self.user,
            0,
            bytemuck::cast_slice(&kernel::pad_vector(user, self.d)),
        );
        q.write_buffer(
            &self.mask,
            0,
            bytemuck::cast_slice(&kernel::mask_bits(exclude, n)),
        );
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("score"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("score"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.ctx.score);
            for c in &self.chunks {
                pass.set_bind_group(0, &c.score_bg, &[]);
                let (x, y) = kernel::dispatch_dims(c.len, self.ctx.max_workgroups);
                pass.dispatch_workgroups(x, y, 1);
            }
        }
        let staging = self.staging.borrow_mut().pop().unwrap_or_else(|| {
            self.ctx.empty(
                "readback",
                (n * 4 * (1 + m)) as u64,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )
        });
        encoder.copy_buffer_to_buffer(&self.scores, 0, &staging, 0, (n * 4) as u64);
        encoder.copy_buffer_to_buffer(
            &self.attention,
            0,
            &staging,
            (n * 4) as u64,
            (n * m * 4) as u64,
        );
        q.submit([encoder.finish()]);
        let bytes = read_back(&staging).await?;
        self.staging.borrow_mut().push(staging);
        self.ctx.check()?;
        let mut scores: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[..n * 4]);
        kernel::unmask_scores(&mut scores);
        let attention = bytemuck::pod_collect_to_vec(&bytes[n * 4..n * 4 * (1 + m)]);
        Ok(GpuScores { scores, attention })
    }

    /// Attention histograms over all training pairs and dominant-modality counts, on the
    /// GPU (`pair_attention` per chunk, then `dominant_modality`).
    pub async fn influence(&self, w: &ModelWeights) -> Result<Influence, String> {
        self.ctx.check()?;
        // The overview attends to every modality, whatever a what-if left in the mask.
        self.set_keep(kernel::all_modalities(self.m));
        let ctx = &self.ctx;
        let (m, d, n_users) = (self.m, self.d, w.meta.n_users);
        let nnz = w.train_indices.len();
        if nnz == 0 {
            return Ok(Influence::from_flat(
                &vec![0; m * BINS],
                &vec![0; m],
                m,
                BINS,
            ));
        }
        let d4 = kernel::d4(d);
        if ((n_users * d4 * 16) as u64) > ctx.max_binding
            || ((nnz * m * 4) as u64) > ctx.max_binding
        {
            return Err(
                "the user table or the interaction list exceeds this adapter's binding limit"
                    .into(),
            );
        }
        let mut users = vec![0f32; n_users * d4 * 4];
        for (u, row) in w.user_embedding.chunks_exact(d.max(1)).enumerate() {
            users[u * d4 * 4..u * d4 * 4 + d].copy_from_slice(row);
        }
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let none = wgpu::BufferUsages::empty();
        let users = ctx.storage("users", bytemuck::cast_slice(&users), none);
        let pair_user = ctx.storage(
            "pair_user",
            bytemuck::cast_slice(&kernel::pair_users(&w.train_indptr)),
            none,
        );
        let pair_item = ctx.storage("pair_item", bytemuck::cast_slice(&w.train_indices), none);
        let pair_att = ctx.empty(
            "pair_att",
            (nnz * m * 4) as u64,
            wgpu::BufferUsages::STORAGE,
        );
        let hist = ctx.storage(
            "hist",
            bytemuck::cast_slice(&vec![0u32; m * BINS]),
            wgpu::BufferUsages::COPY_SRC,
        );
        let indptr = ctx.storage("indptr", bytemuck::cast_slice(&w.train_indptr), none);
        let dominant = ctx.storage(
            "dominant",
            bytemuck::cast_slice(&vec![0u32; m]),
            wgpu::BufferUsages::COPY_SRC,
        );
        let pair_layout = ctx.pair.get_bind_group_layout(0);
        let pair_groups: Vec<wgpu::BindGroup> = self
            .chunks
            .iter()
            .map(|c| {
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("pair_attention"),
                    layout: &pair_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: c.params.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: c.items.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: users.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 6,
                            resource: pair_user.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 7,
                            resource: pair_item.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 8,
                            resource: pair_att.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 9,
                            resource: hist.as_entire_binding(),
                        },
                    ],
                })
            })
            .collect();
        let dominant_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("dominant_modality"),
            layout: &ctx.dominant.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.chunks[0].params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 8,
                    resource: pair_att.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 10,
                    resource: indptr.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 11,
                    resource: dominant.as_entire_binding(),
                },
            ],
        });
        let staging = ctx.empty(
            "influence readback",
            (m * (BINS + 1) * 4) as u64,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("influence"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("influence"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&ctx.pair);
            let (x, y) = kernel::dispatch_dims(nnz, ctx.max_workgroups);
            for group in &pair_groups {
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(x, y, 1);
            }
            pass.set_pipeline(&ctx.dominant);
            pass.set_bind_group(0, &dominant_group, &[]);
            let (x, y) = kernel::dispatch_dims(n_users, ctx.max_workgroups);
            pass.dispatch_workgroups(x, y, 1);
        }
        encoder.copy_buffer_to_buffer(&hist, 0, &staging, 0, (m * BINS * 4) as u64);
        encoder.copy_buffer_to_buffer(
            &dominant,
            0,
            &staging,
            (m * BINS * 4) as u64,
            (m * 4) as u64,
        );
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = validation.pop().await {
            return Err(format!("the influence kernels failed: {e}"));
        }
        if let Some(e) = oom.pop().await {
            return Err(format!(
                "the GPU is out of memory for the influence overview: {e}"
            ));
        }
        let bytes = read_back(&staging).await?;
        ctx.check()?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(Influence::from_flat(
            &words[..m * BINS],
            &words[m * BINS..m * BINS + m],
            m,
            BINS,
        ))
    }

    /// First item of each chunk (diagnostics).
    pub fn chunk_offsets(&self) -> Vec<usize> {
        self.chunks.iter().map(|c| c.offset).collect()
    }
}
