//! `mario-web`: the MARIO browser app.
//!
//! A researcher opens the page, the weights file streams in (with a real progress bar),
//! and every item is scored for a user in **one WGSL compute pass** (paper Eq. 5–7:
//! per-modality affinities, softmax attention over modalities, attention-weighted score,
//! training items masked). The top-N is taken on the CPU with
//! [`mario_shared::metrics::top_k_with_scores`]. Without WebGPU, or when the device is
//! lost, the page falls back to the reference [`mario_shared::Scorer`] and says so.
//!
//! Module map:
//! - pure logic, compiled and unit-tested natively as well as for wasm32:
//!   [`params`] (URL parameters), [`compare`] (two models side by side), [`foldin`] (new-user fold-in by BPR on the user vector),
//!   [`influence`] (attention histograms and dominant-modality shares, CPU reference),
//!   [`picture`] (picture descriptor → inline SVG), [`charts`] (SVG charts),
//!   [`synth`] (seeded synthetic models: the placeholder demo file and the 100k-item bench),
//!   [`format`] (numbers, bytes, attention JSON), [`kernel`] (the WGSL source and its layout);
//! - browser only (`wasm32`): `gpu` (wgpu device, buffers, dispatch, readback), `load`
//!   (streamed download), `bench`, `browser` (URL and window calls), `map_draw` (the item map
//!   on a canvas; its arithmetic is `mario_shared::item_map`), and the Yew page:
//!   `state` (the state types and the `Msg` actions), `app` (the root component: the one
//!   reducer, plus `app/engine.rs` and `app/work.rs` for the async work it starts,
//!   `app/compare.rs`, `app/map.rs` and `app/view.rs`) and
//!   `components` (one component per panel, in `components/`).

pub mod charts;
pub mod compare;
pub mod foldin;
pub mod format;
pub mod influence;
pub mod kernel;
pub mod params;
pub mod picture;
pub mod synth;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod bench;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod gpu;
#[cfg(target_arch = "wasm32")]
mod load;
#[cfg(target_arch = "wasm32")]
mod map_draw;
#[cfg(target_arch = "wasm32")]
mod state;

/// Entry point of the browser build: mounts the app on `#app` (or `<body>`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    app::mount();
}
