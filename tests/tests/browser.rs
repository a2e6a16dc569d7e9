//! Real-browser tests: headless Chromium (WebGPU via SwiftShader) against the built app.
//! Run them with `cargo xtask test`: it builds the web app and sets `MARIO_E2E_STATIC`.
//! (They sit behind the `browser` feature, so plain `cargo test --workspace` does not run them,
//! and they fail — not pass — when the built app is not there.)

use std::time::Duration;

use mario_e2e::browser::{Browser, DEFAULT_TIMEOUT, static_dir_from_env};
use mario_e2e::http;
use mario_e2e::serve::StaticServer;

/// The harness itself, on a hand-written page: Chromium starts, WebGPU hands out an adapter
/// (SwiftShader's, a fallback adapter), query parameters arrive, the DOM is polled, and
/// screenshots are written. Independent of the app, so a failure here points at the machine.
#[tokio::test]
async fn harness_reaches_webgpu_on_a_fixture_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        r#"<!doctype html><meta charset="utf-8"><title>harness fixture</title>
<p>backend: <span data-testid="backend">detecting</span></p>
<p>param: <span data-testid="param"></span></p>
<button data-testid="button" onclick="this.dataset.clicked = 'yes'">click</button>
<script type="module">
  document.querySelector('[data-testid=param]').textContent =
    new URLSearchParams(location.search).get('backend') ?? '';
  const el = document.querySelector('[data-testid=backend]');
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  if (adapter) {
    const info = adapter.info ?? {};
    el.dataset.fallback = String(adapter.isFallbackAdapter ?? info.isFallbackAdapter);
    el.dataset.architecture = info.architecture ?? '';
    el.textContent = 'webgpu';
  } else {
    el.textContent = navigator.gpu ? 'no-adapter' : 'no-navigator-gpu';
  }
  console.log('fixture ready');
</script>"#,
    )
    .unwrap();
    let server = StaticServer::start_local(dir.path()).unwrap();
    let b = Browser::launch_with_server(server).await.unwrap();
    b.open("/", &[("backend", "cpu")]).await.unwrap();
    let backend = b
        .wait_for_testid("backend", |t| t != "detecting", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(backend, "webgpu", "SwiftShader WebGPU adapter");
    assert_eq!(b.text("param").await.unwrap(), "cpu");
    eprintln!(
        "fixture adapter: fallback={:?} architecture={:?}",
        b.attr("backend", "data-fallback").await.unwrap(),
        b.attr("backend", "data-architecture").await.unwrap()
    );
    b.click("button").await.unwrap();
    b.wait_until("the click to land", Duration::from_secs(10), async || {
        b.attr("button", "data-clicked").await
    })
    .await
    .unwrap();
    let console = b.console().await.unwrap();
    assert!(
        console.iter().any(|l| l.contains("fixture ready")),
        "console: {console:?}"
    );
    let shot = b.screenshot("harness-fixture").await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // IHDR width and height: the default viewport.
    let (w, h) = mario_e2e::browser::DEFAULT_VIEWPORT;
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), w);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), h);
    b.set_viewport(390, 844).await.unwrap();
    let png = std::fs::read(b.screenshot("harness-fixture-phone").await.unwrap()).unwrap();
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 390);
    // A timeout explains itself: what, where, the console, a screenshot.
    let err = b
        .wait_for("[data-testid=absent]", |_| true, Duration::from_millis(300))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    for needle in [
        "[data-testid=absent]",
        "fixture ready",
        "screenshot: /",
        "page: http://127.0.0.1:",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
    b.close().await.unwrap();
}

/// The Yew app mounts and scores on WebGPU (SwiftShader's fallback adapter is accepted).
#[tokio::test]
async fn app_mounts_and_uses_webgpu() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    b.open("/", &[]).await.unwrap();
    let backend = b
        .wait_for_testid("backend", |t| t == "webgpu" || t == "cpu", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    b.screenshot("app-default").await.unwrap();
    assert_eq!(backend, "webgpu", "console: {:?}", b.console().await);
    b.close().await.unwrap();
}

/// `?backend=cpu` forces the CPU path.
#[tokio::test]
async fn backend_cpu_param_forces_cpu() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    b.open("/", &[("backend", "cpu")]).await.unwrap();
    let backend = b
        .wait_for_testid("backend", |t| t == "webgpu" || t == "cpu", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    b.screenshot("app-backend-cpu").await.unwrap();
    assert_eq!(backend, "cpu", "console: {:?}", b.console().await);
    b.close().await.unwrap();
}

/// The built app as served: right content types, no escape from `static/`.
#[test]
fn built_app_is_served_with_the_right_content_types() {
    let dir = static_dir_from_env();
    let server = StaticServer::start_local(&dir).unwrap();
    for (path, ct) in [
        ("/", "text/html"),
        ("/pkg/mario_web.js", "text/javascript"),
        ("/pkg/mario_web_bg.wasm", "application/wasm"),
    ] {
        let r = http::get(server.addr(), path).unwrap();
        assert_eq!(r.status, 200, "GET {path}");
        assert!(
            r.content_type().starts_with(ct),
            "GET {path}: {:?}",
            r.content_type()
        );
    }
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/pkg/..%2f..%2fCargo.toml",
    ] {
        let r = http::get(server.addr(), path).unwrap();
        assert_ne!(r.status, 200, "GET {path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("[workspace]"),
            "GET {path}"
        );
    }
}

/// `mario recommend --json` for the demo weights the app serves.
fn cli_recommend(static_dir: &std::path::Path, user: u32, n: usize) -> Vec<serde_json::Value> {
    cli_recommend_with(static_dir, user, n, &[])
}

/// `mario recommend --json` with extra flags (e.g. `--explain` for the counterfactual ranks).
fn cli_recommend_with(
    static_dir: &std::path::Path,
    user: u32,
    n: usize,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    // Like tests/cli.rs: `MARIO_BIN` overrides the path (e.g. with a shared CARGO_TARGET_DIR).
    let bin = std::env::var_os("MARIO_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| mario_e2e::workspace_root().join("target/release/mario"));
    let weights = static_dir.join("demo/model.safetensors");
    let out = std::process::Command::new(&bin)
        .args([
            "recommend",
            "--json",
            "--user",
            &user.to_string(),
            "--top",
            &n.to_string(),
            "--weights",
        ])
        .arg(&weights)
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} must be built (cargo xtask test builds it): {e}",
                bin.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("recommend --json output")
}

/// Opens the page for `user` with `n` recommendations on `backend` and waits for the list;
/// returns the item ids in rank order.
async fn open_user(b: &Browser, user: u32, n: usize, backend: &str) -> Vec<Option<String>> {
    let query = [
        ("user", user.to_string()),
        ("n", n.to_string()),
        ("backend", backend.to_string()),
    ];
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.open("/", &query).await.unwrap();
    b.wait_for_testid("backend", |t| t == backend, DEFAULT_TIMEOUT)
        .await
        .unwrap();
    let what = format!("{n} recommendations for user {user} on {backend}");
    b.wait_until(&what, DEFAULT_TIMEOUT, async || {
        let ids = b.attrs("[data-testid=rec]", "data-item-id").await?;
        let uid = b.text("user-id").await.unwrap_or_default();
        Ok((ids.len() == n && uid.trim() == user.to_string()).then_some(ids))
    })
    .await
    .unwrap()
}

/// For three users, the app's top-N equals `mario recommend --json` — same items, same
/// order, scores and attention within 1e-3 — on WebGPU and on the CPU path.
#[tokio::test]
async fn app_top_n_matches_the_cli_on_both_backends() {
    let static_dir = static_dir_from_env();
    let b = Browser::launch(&static_dir).await.unwrap();
    let n = 10;
    for backend in ["webgpu", "cpu"] {
        for user in [0u32, 17, 1234] {
            let ids = open_user(&b, user, n, backend).await;
            let scores = b.attrs("[data-testid=rec]", "data-score").await.unwrap();
            let attention = b
                .attrs("[data-testid=rec]", "data-attention")
                .await
                .unwrap();
            let expected = cli_recommend(&static_dir, user, n);
            for (rank, want) in expected.iter().enumerate() {
                let id: u64 = ids[rank].as_deref().unwrap().parse().unwrap();
                assert_eq!(
                    id,
                    want["item"].as_u64().unwrap(),
                    "{backend}, user {user}, rank {rank}"
                );
                let score: f64 = scores[rank].as_deref().unwrap().parse().unwrap();
                assert!(
                    (score - want["score"].as_f64().unwrap()).abs() < 1e-3,
                    "{backend} user {user} rank {rank}: score {score} vs {}",
                    want["score"]
                );
                let a: serde_json::Value =
                    serde_json::from_str(attention[rank].as_deref().unwrap()).unwrap();
                for (modality, w) in want["attention"].as_object().unwrap() {
                    let got = a[modality].as_f64().unwrap();
                    assert!(
                        (got - w.as_f64().unwrap()).abs() < 1e-3,
                        "{backend} user {user} rank {rank} {modality}: {got} vs {w}"
                    );
                }
            }
        }
    }
    b.close().await.unwrap();
}

/// Clicking a card opens the "why" panel; the modality weights sum to 1 and the
/// contributions to the score. A screenshot of the main view is kept as an artifact.
#[tokio::test]
async fn why_panel_explains_the_clicked_card() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    b.open("/", &[("user", "42"), ("n", "20")]).await.unwrap();
    b.wait_until("recommendations", DEFAULT_TIMEOUT, async || {
        Ok((b.attrs("[data-testid=rec]", "data-item-id").await?.len() == 20).then_some(()))
    })
    .await
    .unwrap();
    let first = b.attrs("[data-testid=rec]", "data-item-id").await.unwrap()[0]
        .clone()
        .unwrap();
    b.click_selector("[data-testid=rec]").await.unwrap();
    b.wait_until("the why panel", DEFAULT_TIMEOUT, async || {
        Ok((b.attr("why", "data-item-id").await? == Some(first.clone())).then_some(()))
    })
    .await
    .unwrap();
    let weights: Vec<f64> = b
        .attrs("[data-testid=why-modality]", "data-weight")
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.unwrap().parse().unwrap())
        .collect();
    assert!(weights.len() >= 2, "one row per modality: {weights:?}");
    assert!(
        (weights.iter().sum::<f64>() - 1.0).abs() < 1e-3,
        "weights {weights:?}"
    );
    let contributions: f64 = b
        .attrs("[data-testid=why-modality]", "data-contribution")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.unwrap().parse::<f64>().unwrap())
        .sum();
    let score: f64 = b
        .attr("why", "data-score")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (contributions - score).abs() < 1e-3,
        "contributions {contributions} vs score {score}"
    );
    b.screenshot("main-view").await.unwrap();
    b.close().await.unwrap();
}

/// `?weights=` pointing at a truncated file shows the reader's error in words.
#[tokio::test]
async fn truncated_weights_show_the_error() {
    let static_dir = static_dir_from_env();
    let good = std::fs::read(static_dir.join("demo/model.safetensors")).unwrap();
    std::fs::write(
        static_dir.join("demo/truncated.safetensors"),
        &good[..good.len() / 3],
    )
    .unwrap();
    let b = Browser::launch(&static_dir).await.unwrap();
    b.open("/", &[("weights", "demo/truncated.safetensors")])
        .await
        .unwrap();
    let message = b
        .wait_for_testid("error", |t| !t.trim().is_empty(), DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert!(
        message.to_lowercase().contains("truncated"),
        "error text: {message}"
    );
    b.screenshot("error-truncated").await.unwrap();
    b.close().await.unwrap();
}

/// The why panel's "what if" ranks — the item's rank without each modality and with it
/// alone — equal `mario recommend --explain --json` for three users, on WebGPU (the kernel's
/// modality mask) and on the CPU path. Dropping a modality from the list re-ranks it with
/// zero attention for that modality and marks what entered and left.
#[tokio::test]
async fn what_if_ranks_match_the_cli_and_dropping_a_modality_reranks() {
    let static_dir = static_dir_from_env();
    let b = Browser::launch(&static_dir).await.unwrap();
    for backend in ["webgpu", "cpu"] {
        for user in [0u32, 17, 42] {
            let ids = open_user(&b, user, 10, backend).await;
            let first = ids[0].clone().unwrap();
            b.click_selector("[data-testid=rec]").await.unwrap();
            let what = format!("what-if table of item {first} for user {user} on {backend}");
            b.wait_until(&what, DEFAULT_TIMEOUT, async || {
                Ok((b.attr("why", "data-item-id").await? == Some(first.clone())
                    && b.attr("what-if", "data-state").await? == Some("ready".into()))
                .then_some(()))
            })
            .await
            .unwrap();
            assert_eq!(
                b.attr("what-if", "data-backend").await.unwrap().as_deref(),
                Some(backend)
            );
            assert_eq!(
                b.attr("what-if", "data-rank").await.unwrap().as_deref(),
                Some("1")
            );
            let want = &cli_recommend_with(&static_dir, user, 1, &["--explain"])[0];
            assert_eq!(want["item"].as_u64().unwrap().to_string(), first);
            let sel = "[data-testid=what-if-modality]";
            let modality = b.attrs(sel, "data-modality").await.unwrap();
            let without = b.attrs(sel, "data-rank-without").await.unwrap();
            let only = b.attrs(sel, "data-rank-only").await.unwrap();
            let score_only = b.attrs(sel, "data-score-only").await.unwrap();
            let cf = want["counterfactual"].as_object().unwrap();
            assert_eq!(modality.len(), cf.len());
            for i in 0..modality.len() {
                let name = modality[i].clone().unwrap();
                let c = &cf[&name];
                let tag = format!("{backend} user {user} {name}");
                assert_eq!(
                    without[i].clone().unwrap(),
                    c["rank_without"].to_string(),
                    "{tag}"
                );
                assert_eq!(
                    only[i].clone().unwrap(),
                    c["rank_only"].to_string(),
                    "{tag}"
                );
                let s: f64 = score_only[i].as_deref().unwrap().parse().unwrap();
                assert!(
                    (s - c["score_only"].as_f64().unwrap()).abs() < 1e-3,
                    "{tag}"
                );
            }
        }
        // Drop the interaction modality from the list of the last user.
        b.click_selector("[data-testid=drop-modality][data-modality=interaction]")
            .await
            .unwrap();
        // The list and its cards re-render in separate scheduler steps: wait for both, then
        // every card shows zero attention for the dropped modality.
        b.wait_until(
            "the list without interaction",
            DEFAULT_TIMEOUT,
            async || {
                let dropped = b.attr("recs", "data-dropped").await? == Some("4".into());
                let attention = b.attrs("[data-testid=rec]", "data-attention").await?;
                let zero = attention.iter().all(|a| {
                    a.as_deref()
                        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                        .is_some_and(|a| a["interaction"].as_f64() == Some(0.0))
                });
                Ok((dropped && zero && attention.len() == 10).then_some(()))
            },
        )
        .await
        .unwrap();
        let entered = b
            .attrs("[data-testid=entered]", "class")
            .await
            .unwrap()
            .len();
        let left = b
            .attr("left-items", "data-items")
            .await
            .unwrap()
            .unwrap_or_default();
        let left = left.split(',').filter(|s| !s.is_empty()).count();
        assert_eq!(entered, left, "{backend}: what entered replaced what left");
        if backend == "webgpu" {
            b.screenshot("what-if-and-dropped-interaction")
                .await
                .unwrap();
        }
    }
    b.close().await.unwrap();
}

/// Everything a view depends on is in the URL: opening a link with a user, a selected item
/// and a dropped modality restores that view, and changing the view rewrites the address.
#[tokio::test]
async fn a_link_restores_the_view_and_the_view_updates_the_link() {
    let b = Browser::launch(&static_dir_from_env()).await.unwrap();
    b.open(
        "/",
        &[
            ("user", "42"),
            ("n", "10"),
            ("item", "144"),
            ("drop", "visual"),
        ],
    )
    .await
    .unwrap();
    b.wait_until("the restored view", DEFAULT_TIMEOUT, async || {
        Ok((b.attr("why", "data-item-id").await? == Some("144".into())
            && b.attr("recs", "data-dropped").await? == Some("1".into()))
        .then_some(()))
    })
    .await
    .unwrap();
    let checked: serde_json::Value = b
        .client()
        .execute(
            "return [...document.querySelectorAll('[data-testid=drop-modality]')].map(e => [e.dataset.modality, e.checked]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        checked,
        serde_json::json!([["visual", true], ["textual", false], ["interaction", false]])
    );
    // Select another card: the address follows.
    b.click_selector("[data-testid=rec]").await.unwrap();
    let first = b.attrs("[data-testid=rec]", "data-item-id").await.unwrap()[0]
        .clone()
        .unwrap();
    let url = b
        .wait_until(
            "the address to follow the selection",
            DEFAULT_TIMEOUT,
            async || {
                let url = b.client().current_url().await?.to_string();
                Ok(url.contains(&format!("item={first}")).then_some(url))
            },
        )
        .await
        .unwrap();
    assert!(
        url.contains("user=42") && url.contains("drop=visual"),
        "{url}"
    );
    // New-user mode with likes is restored too.
    b.open("/", &[("mode", "new"), ("liked", "3,5,8")])
        .await
        .unwrap();
    b.wait_until("the new-user view", DEFAULT_TIMEOUT, async || {
        let liked = b.text("liked-count").await.unwrap_or_default();
        let recs = b.attrs("[data-testid=rec]", "data-item-id").await?.len();
        Ok((liked.trim().starts_with('3') && recs > 0).then_some(()))
    })
    .await
    .unwrap();
    assert!(
        b.attrs("[data-testid=copy-link]", "class")
            .await
            .unwrap()
            .len()
            == 1
    );
    b.close().await.unwrap();
}

/// Two models side by side: `?compare=URL` loads a second weights file of the same dataset
/// (here the demo model with its visual table zeroed) and shows, for the current user, both
/// top-N lists with overlap@N and each item's rank in both, as `mario_shared::Scorer`
/// computes them; a file of another dataset gets a clear message instead.
#[tokio::test]
async fn compare_shows_both_lists_and_refuses_another_dataset() {
    use mario_shared::weights::{ModelWeights, StorageDtype, fixtures::tiny_model};
    let static_dir = static_dir_from_env();
    let a = ModelWeights::from_bytes(
        &std::fs::read(static_dir.join("demo/model.safetensors")).unwrap(),
    )
    .unwrap();
    let mut b = a.clone();
    let visual = b.modality_index("visual").unwrap();
    b.item_embedding[visual].iter_mut().for_each(|x| *x = 0.0);
    std::fs::write(
        static_dir.join("demo/compare-b.safetensors"),
        b.to_bytes().unwrap(),
    )
    .unwrap();
    let tiny = tiny_model(3, 5, 4, &["visual", "interaction"], StorageDtype::F32, 1);
    std::fs::write(
        static_dir.join("demo/compare-tiny.safetensors"),
        tiny.to_bytes().unwrap(),
    )
    .unwrap();

    let br = Browser::launch(&static_dir).await.unwrap();
    br.open(
        "/",
        &[
            ("user", "42"),
            ("n", "10"),
            ("backend", "cpu"),
            ("compare", "demo/compare-b.safetensors"),
        ],
    )
    .await
    .unwrap();
    let overlap = br
        .wait_until("the comparison", DEFAULT_TIMEOUT, async || {
            br.attr("compare", "data-overlap").await
        })
        .await
        .unwrap();
    let want_a: Vec<u32> = mario_shared::Scorer::new(&a)
        .recommend(42, 10)
        .unwrap()
        .iter()
        .map(|r| r.item)
        .collect();
    let want_b: Vec<u32> = mario_shared::Scorer::new(&b)
        .recommend(42, 10)
        .unwrap()
        .iter()
        .map(|r| r.item)
        .collect();
    let shared = want_a.iter().filter(|i| want_b.contains(i)).count();
    assert_eq!(overlap, format!("{:.4}", shared as f64 / 10.0));
    let ids = br
        .attrs("[data-testid=compare-item]", "data-item-id")
        .await
        .unwrap();
    let rank_b = br
        .attrs("[data-testid=compare-item]", "data-rank-b")
        .await
        .unwrap();
    assert_eq!(ids.len(), 20 - shared);
    for (id, rb) in ids.iter().zip(&rank_b) {
        let id: u32 = id.as_deref().unwrap().parse().unwrap();
        let want = want_b
            .iter()
            .position(|&x| x == id)
            .map(|p| (p + 1).to_string())
            .unwrap_or_default();
        assert_eq!(rb.clone().unwrap_or_default(), want, "item {id}");
    }
    br.screenshot_at("cmp-h", "compare").await.unwrap();

    br.open(
        "/",
        &[("user", "1"), ("compare", "demo/compare-tiny.safetensors")],
    )
    .await
    .unwrap();
    let message = br
        .wait_for_testid("compare-error", |t| !t.trim().is_empty(), DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert!(message.contains("1,000 items, the other 5"), "{message}");
    br.close().await.unwrap();
}
