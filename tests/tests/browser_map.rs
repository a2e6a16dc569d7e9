//! Real-browser tests of the item map (headless Chromium, like `browser.rs`): the stored
//! t-SNE and the personalised space drawn on a canvas, pointer interaction placed through
//! the canvas's `data-view` transform, search-and-fly, and the URL state.
//! Run them with `cargo xtask test` (they sit behind the `browser` feature).

use mario_e2e::browser::{Browser, DEFAULT_TIMEOUT, static_dir_from_env};

/// Screen position (CSS pixels inside the canvas) of map point `(x, y)` under the canvas's
/// `data-view` (`cx,cy,scale,width,height`), the transform of `mario_shared::item_map::View`.
fn on_screen(view: &str, x: f32, y: f32) -> (f64, f64) {
    let v: Vec<f64> = view.split(',').map(|s| s.parse().unwrap()).collect();
    (
        (x as f64 - v[0]) * v[2] + v[3] / 2.0,
        (v[1] - y as f64) * v[2] + v[4] / 2.0,
    )
}

/// Sends a mouse event of `kind` at canvas position `(x, y)` (client coordinates from the
/// canvas's box), bubbling like a real one; `wheel` carries `deltaY = dy`.
async fn mouse(b: &Browser, kind: &str, (x, y): (f64, f64), dy: f64) {
    b.js(
        "const c = document.querySelector('[data-testid=map-canvas]'); const r = c.getBoundingClientRect(); \
         const init = {clientX: r.left + arguments[1], clientY: r.top + arguments[2], bubbles: true, cancelable: true, deltaY: arguments[3]}; \
         c.dispatchEvent(arguments[0] === 'wheel' ? new WheelEvent('wheel', init) : new MouseEvent(arguments[0], init)); return true;",
        vec![kind.into(), x.into(), y.into(), dy.into()],
    )
    .await
    .unwrap();
}

/// Waits until the why panel shows `item` (`what` names the wait in a timeout).
async fn wait_for_why(b: &Browser, item: u32, what: &str) {
    b.wait_until(what, DEFAULT_TIMEOUT, async || {
        let shown = b.attr("why", "data-item-id").await.ok().flatten();
        Ok((shown == Some(item.to_string())).then_some(()))
    })
    .await
    .unwrap();
}

/// Sets a `<select>` (by test id) to `value` and fires its `change` event.
async fn choose(b: &Browser, testid: &str, value: &str) {
    b.js(
        "const s = document.querySelector(`[data-testid=${arguments[0]}]`); s.value = arguments[1]; \
         s.dispatchEvent(new Event('change', {bubbles: true})); return s.value;",
        vec![testid.into(), value.into()],
    )
    .await
    .unwrap();
}

/// The item map: the demo file's stored t-SNE of one modality (`?map=textual`) draws every
/// item; hovering an item's point shows its card, a click opens its why panel, a drag pans
/// without selecting, + and the wheel zoom, the search flies to an item and centres it; the
/// personalised space and dominant-modality colouring follow the selectors and the address;
/// a file without stored maps says how to add them and still shows the personalised space.
#[tokio::test]
async fn item_map_hovers_opens_why_pans_zooms_and_flies() {
    use mario_shared::weights::ModelWeights;
    let static_dir = static_dir_from_env();
    let w = ModelWeights::from_bytes(
        &std::fs::read(static_dir.join("demo/model.safetensors")).unwrap(),
    )
    .unwrap();
    let textual = mario_shared::item_map::stored(&w, "textual")
        .expect("the demo file carries map.textual (cargo xtask exports it)")
        .to_vec();
    let mut bare = w.clone();
    bare.maps.clear();
    std::fs::write(
        static_dir.join("demo/map-none.safetensors"),
        bare.to_bytes().unwrap(),
    )
    .unwrap();
    let n_items = w.meta.n_items.to_string();

    let b = Browser::launch(&static_dir).await.unwrap();
    b.open(
        "/",
        &[
            ("user", "42"),
            ("n", "10"),
            ("backend", "cpu"),
            ("map", "textual"),
        ],
    )
    .await
    .unwrap();
    let recs = b
        .wait_until("the list and the drawn map", DEFAULT_TIMEOUT, async || {
            let recs = b.attrs("[data-testid=rec]", "data-item-id").await?;
            let drawn = b.attr("map-canvas", "data-draw-ms").await.ok().flatten();
            Ok((recs.len() == 10 && drawn.is_some()).then_some(recs))
        })
        .await
        .unwrap();
    assert_eq!(
        b.attr("map", "data-space").await.unwrap().as_deref(),
        Some("textual")
    );
    assert_eq!(
        b.attr("map", "data-points").await.unwrap(),
        Some(n_items.clone())
    );
    let space = b
        .js(
            "return document.querySelector('[data-testid=map-space]').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(space, "textual");

    // Hover the top recommendation's point: its card; click it: its why panel.
    let top: u32 = recs[0].as_deref().unwrap().parse().unwrap();
    let view = b.attr("map-canvas", "data-view").await.unwrap().unwrap();
    let at = on_screen(
        &view,
        textual[2 * top as usize],
        textual[2 * top as usize + 1],
    );
    mouse(&b, "mousemove", at, 0.0).await;
    b.wait_until("the hover card", DEFAULT_TIMEOUT, async || {
        Ok(
            (b.attr("map-hover", "data-item-id").await.ok().flatten() == Some(top.to_string()))
                .then_some(()),
        )
    })
    .await
    .unwrap();
    assert!(b.text("map-hover").await.unwrap().contains("rank 1"));
    mouse(&b, "mousedown", at, 0.0).await;
    mouse(&b, "mouseup", at, 0.0).await;
    wait_for_why(&b, top, "the why panel of the clicked point").await;

    // A drag pans and selects nothing; + and the wheel zoom about their point.
    let before = b.attr("map-canvas", "data-view").await.unwrap().unwrap();
    mouse(&b, "mousedown", (100.0, 100.0), 0.0).await;
    mouse(&b, "mousemove", (160.0, 130.0), 0.0).await;
    mouse(&b, "mouseup", (160.0, 130.0), 0.0).await;
    let after = b
        .wait_until("the pan", DEFAULT_TIMEOUT, async || {
            let v = b.attr("map-canvas", "data-view").await?.unwrap_or_default();
            Ok((v != before).then_some(v))
        })
        .await
        .unwrap();
    let (x0, y0) = on_screen(&before, 0.0, 0.0);
    let (x1, y1) = on_screen(&after, 0.0, 0.0);
    assert!(
        (x1 - x0 - 60.0).abs() < 0.5 && (y1 - y0 - 30.0).abs() < 0.5,
        "{before} → {after}"
    );
    assert_eq!(
        b.attr("why", "data-item-id").await.unwrap(),
        Some(top.to_string())
    );
    b.click("map-zoom-in").await.unwrap();
    b.wait_until("zoom ×1.5", DEFAULT_TIMEOUT, async || {
        Ok((b.attr("map-canvas", "data-zoom").await?.as_deref() == Some("1.50")).then_some(()))
    })
    .await
    .unwrap();
    mouse(&b, "wheel", (50.0, 50.0), -300.0).await;
    b.wait_until("the wheel zoom", DEFAULT_TIMEOUT, async || {
        let z: f64 = b
            .attr("map-canvas", "data-zoom")
            .await?
            .unwrap_or_default()
            .parse()
            .unwrap_or(0.0);
        Ok((z > 2.0).then_some(()))
    })
    .await
    .unwrap();

    // Search by id and fly: the item ends at the centre, and a click there opens it.
    let target = (top + 1) % w.meta.n_items as u32;
    b.client()
        .find(fantoccini::Locator::Css("[data-testid=map-search]"))
        .await
        .unwrap()
        .send_keys(&format!("#{target}"))
        .await
        .unwrap();
    b.wait_until("the search hit", DEFAULT_TIMEOUT, async || {
        let hits = b
            .attrs("[data-testid=map-search-hit]", "data-item-id")
            .await?;
        Ok((hits.first().cloned().flatten() == Some(target.to_string())).then_some(()))
    })
    .await
    .unwrap();
    b.click("map-search-hit").await.unwrap();
    b.wait_until("the fly-to", DEFAULT_TIMEOUT, async || {
        Ok(
            (b.attr("map", "data-focus").await?.as_deref() == Some(&*target.to_string())
                && b.attr("map", "data-flying").await?.as_deref() == Some("false"))
            .then_some(()),
        )
    })
    .await
    .unwrap();
    let view = b.attr("map-canvas", "data-view").await.unwrap().unwrap();
    let (cx, cy) = on_screen(
        &view,
        textual[2 * target as usize],
        textual[2 * target as usize + 1],
    );
    let v: Vec<f64> = view.split(',').map(|s| s.parse().unwrap()).collect();
    assert!(
        (cx - v[3] / 2.0).abs() < 0.5 && (cy - v[4] / 2.0).abs() < 0.5,
        "{view}"
    );
    assert_eq!(
        b.attr("map-hover", "data-item-id").await.unwrap(),
        Some(target.to_string())
    );
    b.screenshot_at("map-h", "item-map").await.unwrap();
    mouse(&b, "mousedown", (cx, cy), 0.0).await;
    mouse(&b, "mouseup", (cx, cy), 0.0).await;
    wait_for_why(&b, target, "the why panel of the found item").await;

    // From the keyboard: a search hit's "why?" opens that item's panel without the map.
    let other = (top + 2) % w.meta.n_items as u32;
    let search = b
        .client()
        .find(fantoccini::Locator::Css("[data-testid=map-search]"))
        .await
        .unwrap();
    search.clear().await.unwrap();
    search.send_keys(&format!("#{other}")).await.unwrap();
    b.wait_until("the new hit", DEFAULT_TIMEOUT, async || {
        let hits = b
            .attrs("[data-testid=map-search-why]", "data-item-id")
            .await?;
        Ok((hits.first().cloned().flatten() == Some(other.to_string())).then_some(()))
    })
    .await
    .unwrap();
    b.click("map-search-why").await.unwrap();
    wait_for_why(&b, other, "the why panel from the search").await;

    // The personalised space, coloured by dominant modality; the address follows.
    choose(&b, "map-space", "personal").await;
    choose(&b, "map-color", "dominant").await;
    b.wait_until("the personalised space", DEFAULT_TIMEOUT, async || {
        Ok(
            (b.attr("map", "data-space").await?.as_deref() == Some("personal")
                && b.attr("map", "data-colour").await?.as_deref() == Some("dominant"))
            .then_some(()),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        b.attr("map", "data-points").await.unwrap(),
        Some(n_items.clone())
    );
    assert!(
        b.text("map-legend")
            .await
            .unwrap()
            .contains("visual adds most")
    );
    let url = b.client().current_url().await.unwrap().to_string();
    assert!(
        url.contains("map=personal") && url.contains("mapcolor=dominant"),
        "{url}"
    );
    b.screenshot_at("map-h", "item-map-personal").await.unwrap();

    // A file without stored maps: the note, and the personalised space by default.
    b.open(
        "/",
        &[("weights", "demo/map-none.safetensors"), ("backend", "cpu")],
    )
    .await
    .unwrap();
    let note = b
        .wait_for_testid("map-missing", |t| !t.is_empty(), DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert!(note.contains("mario export"), "{note}");
    assert_eq!(
        b.attr("map", "data-space").await.unwrap().as_deref(),
        Some("personal")
    );
    b.close().await.unwrap();
}

/// The bench page times the item map at 100k items: the personalised space of one user and
/// a draw of every point (CPU path, so it runs the same on any machine).
#[tokio::test]
async fn bench_page_times_the_map_at_100k_items() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    b.open("/bench.html", &[("backend", "cpu")]).await.unwrap();
    b.wait_until(
        "the benchmark table",
        std::time::Duration::from_secs(240),
        async || {
            Ok((b
                .attr("bench", "data-state")
                .await
                .ok()
                .flatten()
                .as_deref()
                == Some("done"))
            .then_some(()))
        },
    )
    .await
    .unwrap();
    for task in ["item map: personalised space", "item map: draw every point"] {
        let selector = format!("[data-testid=bench] tr[data-task=\"{task}\"]");
        let items = b.attrs(&selector, "data-items").await.unwrap();
        assert_eq!(items, vec![Some("100000".to_string())], "{task}");
        let ms: f64 = b.attrs(&selector, "data-median-ms").await.unwrap()[0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms.is_finite() && ms > 0.0, "{task}: {ms} ms");
        eprintln!("{task}: {ms:.1} ms (median)");
    }
    b.screenshot("bench-map").await.unwrap();
    b.close().await.unwrap();
}

/// The first scored list of the demo file on the CPU path comes within 2 s of navigation
/// start, with the item map on the page (`data-first-scored-ms`, `performance.now()`).
#[tokio::test]
async fn first_recommendations_within_two_seconds_on_the_cpu_path() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    // A first visit (cold caches) and a reload.
    for run in 0..2 {
        b.open("/", &[("backend", "cpu")]).await.unwrap();
        let ms: f64 = b
            .wait_until("the first scored list", DEFAULT_TIMEOUT, async || {
                Ok(b.attr("app", "data-first-scored-ms")
                    .await?
                    .and_then(|t| t.parse().ok()))
            })
            .await
            .unwrap();
        eprintln!("run {run}: first scored list {ms:.0} ms after navigation start");
        assert!(ms < 2000.0, "run {run}: {ms} ms");
    }
    b.close().await.unwrap();
}
