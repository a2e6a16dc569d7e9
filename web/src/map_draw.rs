//! Draws an item map on a 2D canvas: every item as a small square written straight into
//! one `ImageData` buffer (no per-point canvas call, so 100k items stay interactive), then
//! the few highlighted items — history rings, top-N discs with their ranks, the selected
//! and the hovered item — as vector overlays. Used by the map component and by the bench.

use mario_shared::item_map::View;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// Side of a point in CSS pixels in the fitted view (it grows as one zooms in).
pub const POINT_PX: f32 = 2.0;
/// Background of the map.
const BACKGROUND: [u8; 3] = [250, 250, 252];

/// The points and their colours: `xy` is `[n × 2]` map coordinates, `colour[i]` an index
/// into `palette`.
pub struct MapPoints {
    pub xy: Vec<f32>,
    pub colour: Vec<u16>,
    pub palette: Vec<[u8; 3]>,
    /// Legend rows: name and CSS colour.
    pub legend: Vec<(String, String)>,
}

/// The items drawn on top of the cloud.
#[derive(Default)]
pub struct Highlights<'a> {
    pub history: &'a [u32],
    /// The top-N, best first.
    pub top: &'a [u32],
    pub selected: Option<u32>,
    /// The hovered or searched-for item.
    pub focus: Option<u32>,
}

/// `#rrggbb` → bytes (grey for anything else).
pub fn rgb(css: &str) -> [u8; 3] {
    let hex = css.trim_start_matches('#');
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match (hex.len(), byte(0), byte(2), byte(4)) {
        (6, Some(r), Some(g), Some(b)) => [r, g, b],
        _ => [128, 128, 128],
    }
}

fn css(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Sizes the canvas backing store to `css_w × css_h` CSS pixels at `dpr` and draws.
/// Returns the milliseconds the drawing took.
pub fn draw(
    canvas: &HtmlCanvasElement,
    view: &View,
    points: &MapPoints,
    highlights: &Highlights,
    point_px: f32,
    dpr: f64,
) -> Result<f64, String> {
    let t0 = crate::load::now_ms();
    let dpr = dpr.clamp(1.0, 3.0) as f32;
    let (bw, bh) = (
        (view.width * dpr).round().max(1.0) as u32,
        (view.height * dpr).round().max(1.0) as u32,
    );
    if canvas.width() != bw {
        canvas.set_width(bw);
    }
    if canvas.height() != bh {
        canvas.set_height(bh);
    }
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| format!("no 2D canvas: {e:?}"))?
        .ok_or("no 2D canvas")?
        .dyn_into()
        .map_err(|_| "no 2D canvas".to_string())?;
    let mut buf = vec![0u8; (bw * bh * 4) as usize];
    for px in buf.chunks_exact_mut(4) {
        px.copy_from_slice(&[BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 255]);
    }
    // A point is a square of `point_px` CSS pixels.
    let side = (point_px * dpr).round().max(1.0) as i64;
    let (w, h) = (bw as i64, bh as i64);
    for (i, p) in points.xy.chunks_exact(2).enumerate() {
        let (sx, sy) = view.to_screen(p[0], p[1]);
        let (x0, y0) = ((sx * dpr) as i64 - side / 2, (sy * dpr) as i64 - side / 2);
        if x0 + side <= 0 || y0 + side <= 0 || x0 >= w || y0 >= h {
            continue;
        }
        let c = points
            .palette
            .get(points.colour.get(i).copied().unwrap_or(0) as usize)
            .copied()
            .unwrap_or([128, 128, 128]);
        for y in y0.max(0)..(y0 + side).min(h) {
            let row = (y * w) as usize * 4;
            for x in x0.max(0)..(x0 + side).min(w) {
                let at = row + x as usize * 4;
                buf[at..at + 3].copy_from_slice(&c);
            }
        }
    }
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&buf), bw, bh)
        .map_err(|e| format!("ImageData: {e:?}"))?;
    ctx.put_image_data(&image, 0.0, 0.0)
        .map_err(|e| format!("putImageData: {e:?}"))?;
    overlays(&ctx, view, points, highlights, dpr as f64);
    Ok(crate::load::now_ms() - t0)
}

fn ring(ctx: &CanvasRenderingContext2d, x: f64, y: f64, r: f64) {
    ctx.begin_path();
    let _ = ctx.arc(x, y, r, 0.0, std::f64::consts::TAU);
}

fn overlays(
    ctx: &CanvasRenderingContext2d,
    view: &View,
    points: &MapPoints,
    hl: &Highlights,
    dpr: f64,
) {
    let _ = ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
    let at = |item: u32| -> Option<(f64, f64)> {
        let p = points.xy.get(2 * item as usize..2 * item as usize + 2)?;
        let (x, y) = view.to_screen(p[0], p[1]);
        Some((x as f64, y as f64))
    };
    let colour = |item: u32| {
        let k = points.colour.get(item as usize).copied().unwrap_or(0) as usize;
        css(points.palette.get(k).copied().unwrap_or([128, 128, 128]))
    };
    ctx.set_line_width(1.2);
    ctx.set_stroke_style_str("#333");
    for &item in hl.history {
        if let Some((x, y)) = at(item) {
            ring(ctx, x, y, 4.0);
            ctx.stroke();
        }
    }
    ctx.set_font("600 10px system-ui, sans-serif");
    for (rank, &item) in hl.top.iter().enumerate().rev() {
        if let Some((x, y)) = at(item) {
            ring(ctx, x, y, 5.5);
            ctx.set_fill_style_str(&colour(item));
            ctx.fill();
            ctx.set_line_width(1.5);
            ctx.set_stroke_style_str("#111");
            ctx.stroke();
            if rank < 10 {
                ctx.set_fill_style_str("#111");
                let _ = ctx.fill_text(&(rank + 1).to_string(), x + 7.0, y - 5.0);
            }
        }
    }
    for (item, r, width, style) in [
        (hl.selected, 10.0, 2.5, "#c0392b"),
        (hl.focus, 8.0, 2.0, "#111"),
    ] {
        if let Some((x, y)) = item.and_then(at) {
            ctx.set_line_width(width);
            ctx.set_stroke_style_str(style);
            ring(ctx, x, y, r);
            ctx.stroke();
        }
    }
    let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
}

/// A 100k-point draw for the bench page, on a detached canvas; milliseconds per draw.
pub fn bench_draw(points: &MapPoints, top: &[u32], runs: usize) -> Result<Vec<f64>, String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not a canvas".to_string())?;
    let view = View::fit(&points.xy, 960.0, 520.0, 16.0);
    let highlights = Highlights {
        top,
        ..Highlights::default()
    };
    (0..runs)
        .map(|_| draw(&canvas, &view, points, &highlights, POINT_PX, 1.0))
        .collect()
}
