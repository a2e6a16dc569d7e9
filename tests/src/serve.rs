//! Static file server for `static/` (axum + tower-http `ServeDir`).
//!
//! - Content types are set explicitly for the files the app ships (`.wasm` must be
//!   `application/wasm` for `WebAssembly.instantiateStreaming`), independent of `mime_guess`.
//! - `ServeDir` percent-decodes the path and refuses `..` components, so nothing outside the root
//!   is reachable (checked by `tests/http.rs`).
//! - `Cache-Control: no-cache`: a rebuilt wasm is picked up on reload.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::oneshot;
use tower_http::services::ServeDir;

/// Content type for a request path, by extension (case-insensitive). `None`: leave what
/// `ServeDir` chose.
pub fn content_type_for(path: &str) -> Option<&'static str> {
    if path.is_empty() || path.ends_with('/') {
        return Some("text/html; charset=utf-8"); // the directory index
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "safetensors" | "bin" | "npy" => "application/octet-stream",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// The router serving `root`: files, `index.html` for directories, 404 for anything else.
pub fn router(root: &Path) -> Router {
    let files = ServeDir::new(root).append_index_html_on_directories(true);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(set_headers))
}

async fn set_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let success = res.status().is_success();
    let headers = res.headers_mut();
    if success && let Some(ct) = content_type_for(&path) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} (in use?); choose another with --addr 127.0.0.1:PORT")
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn check_root(root: &Path) -> Result<PathBuf> {
    ensure!(root.is_dir(), "{} is not a directory", root.display());
    Ok(root.canonicalize()?)
}

/// A server running on a background thread (with its own tokio runtime); stops when dropped.
/// Usable from sync and async tests alike.
#[derive(Debug)]
pub struct StaticServer {
    addr: SocketAddr,
    root: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Serve `root` on `addr` (use `127.0.0.1:0` for an ephemeral port).
    pub fn start(root: impl AsRef<Path>, addr: SocketAddr) -> Result<Self> {
        let root = check_root(root.as_ref())?;
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(&root);
        let thread = std::thread::Builder::new()
            .name(format!("static-server-{addr}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the static server");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("register the listener with tokio");
                    // Not graceful: dropping the runtime cancels open keep-alive connections
                    // at once, so dropping the server never hangs on a browser's connection.
                    tokio::select! {
                        res = axum::serve(listener, app) => {
                            if let Err(e) = res { eprintln!("static server on {addr}: {e}"); }
                        }
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            root,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Serve `root` on an ephemeral loopback port.
    pub fn start_local(root: impl AsRef<Path>) -> Result<Self> {
        Self::start(root, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://ADDR` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve `root` on `addr` in the foreground until Ctrl-C. `on_ready` gets the bound address
/// (print the URL there).
pub fn serve_until_ctrl_c(
    root: &Path,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let root = check_root(root)?;
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        on_ready(addr);
        tokio::select! {
            res = axum::serve(listener, router(&root)) => res.context("static server")?,
            res = tokio::signal::ctrl_c() => res.context("waiting for Ctrl-C")?,
        }
        anyhow::Ok(())
    })?;
    // Dropping the runtime here drops open connections too.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::content_type_for;

    #[test]
    fn content_types() {
        assert_eq!(
            content_type_for("/pkg/mario_web_bg.wasm"),
            Some("application/wasm")
        );
        assert_eq!(
            content_type_for("/pkg/mario_web.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            content_type_for("/demo/model.safetensors"),
            Some("application/octet-stream")
        );
        assert_eq!(content_type_for("/"), Some("text/html; charset=utf-8"));
        assert_eq!(
            content_type_for("/INDEX.HTML"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            content_type_for("/style.css"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(content_type_for("/a.svg"), Some("image/svg+xml"));
        assert_eq!(content_type_for("/a.json"), Some("application/json"));
        assert_eq!(content_type_for("/dir.d/noext"), None);
    }
}
