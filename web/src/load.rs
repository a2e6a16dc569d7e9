//! Getting the weights bytes into the page: a streamed `fetch` with real byte progress
//! (the response body is read chunk by chunk from its `ReadableStream`), or a local file
//! from the picker / drag and drop.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The text of a JS exception or value.
pub fn js_text(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// Downloads `url`, calling `progress(received, total)` as bytes arrive (`total` from
/// `Content-Length`, when the server sends it).
pub async fn fetch_bytes(
    url: &str,
    progress: impl Fn(u64, Option<u64>),
) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("could not fetch {url}: {}", js_text(&e)))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| format!("could not fetch {url}"))?;
    if !response.ok() {
        let status = response.status_text();
        return Err(format!(
            "could not fetch {url}: HTTP {}{}",
            response.status(),
            if status.is_empty() {
                String::new()
            } else {
                format!(" {status}")
            }
        ));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse::<u64>().ok());
    progress(0, total);
    let Some(body) = response.body() else {
        let promise = response.array_buffer().map_err(|e| js_text(&e))?;
        let buffer = JsFuture::from(promise)
            .await
            .map_err(|e| format!("reading {url} failed: {}", js_text(&e)))?;
        let bytes = Uint8Array::new(&buffer).to_vec();
        progress(bytes.len() as u64, total);
        return Ok(bytes);
    };
    let reader: web_sys::ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|_| format!("reading {url} failed: no stream reader"))?;
    // Trust Content-Length only as a capacity hint (capped: a hostile header must not
    // allocate gigabytes before any byte arrives).
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(512 << 20) as usize);
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the download of {url} was interrupted: {}", js_text(&e)))?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(|e| js_text(&e))?;
        let array: Uint8Array = value
            .dyn_into()
            .map_err(|_| format!("reading {url} failed: not bytes"))?;
        let start = bytes.len();
        bytes.resize(start + array.length() as usize, 0);
        array.copy_to(&mut bytes[start..]);
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// Reads a local file (picker or drop).
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("reading {} failed: {}", file.name(), js_text(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// `performance.now()` in milliseconds.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}
