//! The few `window` calls the page makes: the URL it was opened with, rewriting it in place,
//! the viewport width, and a random draw.

pub fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

pub fn location_is_bench_page() -> bool {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|p| p.ends_with("bench.html"))
}

/// Replaces the query string without a navigation or a history entry.
pub fn replace_url(query: &str) {
    if let Some(w) = web_sys::window()
        && let Ok(path) = w.location().pathname()
        && let Ok(history) = w.history()
    {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        );
    }
}

/// The viewport is at most `px` wide (the one- and two-column layouts).
pub fn viewport_at_most(px: f64) -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w <= px)
}

/// Brings the element with this id into view, if it exists.
pub fn scroll_into_view(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    {
        el.scroll_into_view();
    }
}

pub fn random_below(n: usize) -> usize {
    ((js_sys::Math::random() * n as f64) as usize).min(n.saturating_sub(1))
}

/// Copies the page's address (which holds the whole view) to the clipboard.
pub async fn copy_location() -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let href = window
        .location()
        .href()
        .map_err(|_| "no address".to_string())?;
    let promise = window.navigator().clipboard().write_text(&href);
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| format!("the clipboard refused ({e:?}); copy the address bar instead"))?;
    Ok(href)
}
