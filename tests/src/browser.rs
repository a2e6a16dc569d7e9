//! Real-browser harness: serves a directory on loopback, starts chromedriver, and drives headless
//! Chromium (WebGPU through SwiftShader, flags from `shared/notes/toolchain.md`) over WebDriver.
//!
//! ```ignore
//! # async fn demo() -> anyhow::Result<()> {
//! use mario_e2e::browser::{Browser, static_dir_from_env};
//! use std::time::Duration;
//! let browser = Browser::launch(&static_dir_from_env()).await?;
//! browser.open("/", &[("backend", "cpu")]).await?;
//! let backend = browser
//!     .wait_for("[data-testid=backend]", |t| !t.is_empty(), Duration::from_secs(60))
//!     .await?;
//! browser.screenshot("main").await?;
//! browser.close().await?;
//! # Ok(()) }
//! ```
//!
//! Everything polls the live DOM (every 50 ms, up to a timeout): no fixed sleeps. On timeout the
//! error carries the last value seen, the browser console and a screenshot path.
//! Dropping a [`Browser`] without [`Browser::close`] (e.g. on a failed assertion) kills
//! chromedriver and the Chromium processes of this session (found by their profile dir).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use axum::http::Method;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::serve::StaticServer;
use crate::{STATIC_ENV, artifacts_dir};

/// How often [`Browser::wait_for`] and friends look at the DOM.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A generous default for "the app shows X": SwiftShader is slow, CI machines are busy.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Chromium flags: headless, quiet, and WebGPU on the CPU through SwiftShader. Never add
/// `--disable-gpu` (it removes the WebGPU adapter).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
];

/// The built `static/` dir that `cargo xtask test` passes in [`STATIC_ENV`]. Panics with what to
/// run when it is missing or incomplete, so that the browser tests never pass vacuously.
pub fn static_dir_from_env() -> PathBuf {
    let Some(dir) = std::env::var_os(STATIC_ENV) else {
        panic!(
            "{STATIC_ENV} is not set. The browser tests need the built web app and Chromium: \
             run `cargo xtask test` (it builds the wasm, sets {STATIC_ENV} and runs them)."
        );
    };
    let dir = PathBuf::from(dir);
    for needed in ["index.html", "pkg/mario_web.js", "pkg/mario_web_bg.wasm"] {
        assert!(
            dir.join(needed).is_file(),
            "{} is missing: run `cargo xtask test` (or `cargo xtask wasm`) to build the web app",
            dir.join(needed).display()
        );
    }
    dir
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// chromedriver's legacy log endpoint (`POST /session/{id}/se/log`), for the browser console.
#[derive(Debug)]
struct GetBrowserLog;

impl WebDriverCompatibleCommand for GetBrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A Chrome DevTools Protocol command through chromedriver (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct CdpExecute {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for CdpExecute {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// The viewport every session starts with (CSS pixels).
pub const DEFAULT_VIEWPORT: (u32, u32) = (1280, 800);

/// One headless Chromium session plus the server and chromedriver it uses.
pub struct Browser {
    client: Option<Client>,
    driver: Option<Child>,
    server: StaticServer,
    profile: TempDir,
    driver_log: PathBuf,
    closed_cleanly: bool,
    console: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("server", &self.server.addr())
            .field("profile", &self.profile.path())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Serve `static_dir` on an ephemeral loopback port and open a fresh Chromium session
    /// (fresh profile dir). `MARIO_CHROMIUM` / `MARIO_CHROMEDRIVER` override the binaries
    /// (default `/usr/bin/chromium`, `/usr/bin/chromedriver`).
    pub async fn launch(static_dir: &Path) -> Result<Self> {
        let server = StaticServer::start_local(static_dir)?;
        Self::launch_with_server(server).await
    }

    /// Like [`Browser::launch`] with a server you started.
    pub async fn launch_with_server(server: StaticServer) -> Result<Self> {
        let chromium = env_path("MARIO_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = env_path("MARIO_CHROMEDRIVER", "/usr/bin/chromedriver");
        for bin in [&chromium, &chromedriver] {
            ensure!(
                bin.exists(),
                "{} not found: run `cargo xtask setup` (installs chromium and chromium-driver)",
                bin.display()
            );
        }
        let profile = tempfile::Builder::new()
            .prefix("mario-chromium-")
            .tempdir()?;
        std::fs::create_dir_all(artifacts_dir())?;

        let port = free_port()?;
        // Kept only when the session does not end cleanly (for debugging).
        let driver_log = artifacts_dir().join(format!("chromedriver-{port}.log"));
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", driver_log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .with_context(|| format!("start {}", chromedriver.display()))?
        };
        let mut browser = Self {
            client: None,
            driver: Some(driver),
            server,
            profile,
            driver_log,
            closed_cleanly: false,
            console: Mutex::new(Vec::new()),
        };

        // Wait until chromedriver accepts connections.
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect(driver_addr).is_err() {
            if let Some(child) = browser.driver.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "chromedriver exited early ({status}); see {}",
                    browser.driver_log.display()
                );
            }
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen on {driver_addr} within 30 s"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser.profile.path().display()
        ));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let caps: Capabilities = caps;
        // chromedriver can accept TCP before it answers HTTP: when several sessions start at
        // once on a loaded machine the first request may see the connection dropped
        // ("webdriver server did not respond"). Retry that a few times, then report it.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://{driver_addr}/"))
                .await
            {
                Ok(client) => break client,
                Err(e) if attempt < 4 && e.to_string().contains("did not respond") => {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context("start a Chromium session through chromedriver"));
                }
            }
        };
        browser.client = Some(client);
        let (w, h) = DEFAULT_VIEWPORT;
        browser.set_viewport(w, h).await?;
        Ok(browser)
    }

    /// Emulate a `width`×`height` CSS-pixel viewport (e.g. 390×844 for a phone), independent of
    /// the window's size; screenshots have this size.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.client()
            .issue_cmd(CdpExecute {
                cmd: "Emulation.setDeviceMetricsOverride",
                params: json!({
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": width < 600,
                }),
            })
            .await
            .context("set the viewport (CDP Emulation.setDeviceMetricsOverride)")?;
        Ok(())
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session is open")
    }

    pub fn server(&self) -> &StaticServer {
        &self.server
    }

    /// Absolute URL of `path` (starting with `/`) on the test server, with query parameters.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<String> {
        let base = self.server.url(path);
        let url = if query.is_empty() {
            url::Url::parse(&base)?
        } else {
            url::Url::parse_with_params(&base, query)?
        };
        Ok(url.into())
    }

    /// Navigate to `path?query` and wait for the page's load event.
    pub async fn open(&self, path: &str, query: &[(&str, &str)]) -> Result<()> {
        let url = self.url(path, query)?;
        self.client()
            .goto(&url)
            .await
            .with_context(|| format!("open {url}"))
    }

    /// Run JavaScript in the page (`arguments[i]` are `args`); returns its JSON result.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client().execute(script, args).await?)
    }

    /// Trimmed `textContent` of every element matching the CSS `selector`, in document order.
    /// (Unlike WebDriver's rendered text this also reads hidden elements.)
    pub async fn texts(&self, selector: &str) -> Result<Vec<String>> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0]), \
                 e => (e.textContent || '').trim());",
                vec![json!(selector)],
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Attribute `name` of every element matching `selector` (`None` where absent).
    pub async fn attrs(&self, selector: &str, name: &str) -> Result<Vec<Option<String>>> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0]), \
                 e => e.getAttribute(arguments[1]));",
                vec![json!(selector), json!(name)],
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Text of the first `[data-testid=ID]`; error when there is none.
    pub async fn text(&self, testid: &str) -> Result<String> {
        self.texts(&testid_selector(testid))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element [data-testid={testid}]"))
    }

    /// Attribute `name` of the first `[data-testid=ID]` (`Ok(None)` when the attribute is absent).
    pub async fn attr(&self, testid: &str, name: &str) -> Result<Option<String>> {
        self.attrs(&testid_selector(testid), name)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element [data-testid={testid}]"))
    }

    /// Click the first element matching `selector` (a real WebDriver click).
    pub async fn click_selector(&self, selector: &str) -> Result<()> {
        let el = self
            .client()
            .find(fantoccini::Locator::Css(selector))
            .await
            .with_context(|| format!("find {selector}"))?;
        el.click()
            .await
            .with_context(|| format!("click {selector}"))?;
        Ok(())
    }

    /// Click the first `[data-testid=ID]`.
    pub async fn click(&self, testid: &str) -> Result<()> {
        self.click_selector(&testid_selector(testid)).await
    }

    /// Save a PNG screenshot of the viewport as `target/e2e-artifacts/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client().screenshot().await?;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.png", sanitize(name)));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Scroll the element with DOM id `element_id` into view, then [`Browser::screenshot`].
    pub async fn screenshot_at(&self, element_id: &str, name: &str) -> Result<PathBuf> {
        self.js(
            "document.getElementById(arguments[0]).scrollIntoView(); return true;",
            vec![json!(element_id)],
        )
        .await?;
        self.screenshot(name).await
    }

    /// Everything the page logged to the console so far (`LEVEL message` lines).
    pub async fn console(&self) -> Result<Vec<String>> {
        let v = self.client().issue_cmd(GetBrowserLog).await?;
        let mut log = self.console.lock().expect("console log lock");
        if let Value::Array(entries) = v {
            for e in entries {
                let level = e["level"].as_str().unwrap_or("?");
                let msg = e["message"].as_str().unwrap_or_default();
                log.push(format!("{level} {msg}"));
            }
        }
        Ok(log.clone())
    }

    /// Poll `probe` every [`POLL_INTERVAL`] until it returns `Ok(Some(v))`; fail after `timeout`.
    /// `Ok(None)` keeps waiting; an `Err` also keeps waiting and is reported if time runs out.
    /// The timeout error names `what`, the page URL, the console and a screenshot.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl AsyncFnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        loop {
            let last_err = match probe().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => None,
                Err(e) => Some(e),
            };
            if started.elapsed() >= timeout {
                return Err(self.timeout_error(what, timeout, last_err).await);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Wait until the first element matching `selector` exists and `pred(its text)` holds;
    /// returns that text.
    pub async fn wait_for(
        &self,
        selector: &str,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let mut last: Option<String> = None;
        let what = format!("{selector} to satisfy the predicate");
        let res = self
            .wait_until(&what, timeout, async || {
                let t = self.texts(selector).await?.into_iter().next();
                let ok = t.as_deref().is_some_and(&pred);
                last = t.clone();
                Ok(if ok { t } else { None })
            })
            .await;
        res.map_err(|e| e.context(format!("last text of {selector}: {last:?}")))
    }

    /// [`Browser::wait_for`] on `[data-testid=ID]`.
    pub async fn wait_for_testid(
        &self,
        testid: &str,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        self.wait_for(&testid_selector(testid), pred, timeout).await
    }

    async fn timeout_error(
        &self,
        what: &str,
        timeout: Duration,
        last_err: Option<anyhow::Error>,
    ) -> anyhow::Error {
        let shot = match self.screenshot(&format!("timeout-{what}")).await {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("(no screenshot: {e})"),
        };
        let console = match self.console().await {
            Ok(lines) if lines.is_empty() => "(empty)".to_owned(),
            Ok(lines) => lines[lines.len().saturating_sub(30)..].join("\n  "),
            Err(e) => format!("(unavailable: {e})"),
        };
        let url = match self.client().current_url().await {
            Ok(u) => u.to_string(),
            Err(e) => format!("? ({e})"),
        };
        let mut msg = format!(
            "timed out after {timeout:?} waiting for {what}\n  page: {url}\n  screenshot: {shot}\n  \
             console:\n  {console}"
        );
        if let Some(e) = last_err {
            msg.push_str(&format!("\n  last error: {e:#}"));
        }
        anyhow!(msg)
    }

    /// End the session (Chromium exits) and stop chromedriver and the server.
    pub async fn close(mut self) -> Result<()> {
        if let Some(client) = self.client.take() {
            client.close().await?;
        }
        self.closed_cleanly = true;
        Ok(())
        // Drop stops chromedriver, leftovers and the server.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut child) = self.driver.take() {
            // chromedriver runs in its own process group (pid == pgid).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_processes_using(self.profile.path());
        if self.closed_cleanly {
            let _ = std::fs::remove_file(&self.driver_log);
        }
    }
}

/// Kill processes whose command line mentions `marker` (this session's unique profile dir):
/// Chromium processes left behind when a test failed before `close`.
fn kill_processes_using(marker: &Path) {
    let marker = marker.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `[data-testid="ID"]`.
pub fn testid_selector(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
