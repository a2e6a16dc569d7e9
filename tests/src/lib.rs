//! End-to-end support for MARIO.
//!
//! - [`serve`]: the static file server behind `cargo xtask demo`, also used by the tests.
//! - [`http`]: a tiny raw HTTP/1.1 client (sends the request path byte for byte, so tests can
//!   probe path traversal that a normal client would normalise away).
//! - `browser` (feature `browser`): the real-browser harness — headless Chromium driven through
//!   chromedriver with WebDriver, polling the live DOM.
//!
//! The browser tests are in `tests/browser.rs`; run them with `cargo xtask test`, which builds the
//! web app first and passes its location in [`STATIC_ENV`].

use std::path::PathBuf;

#[cfg(feature = "browser")]
pub mod browser;
pub mod http;
pub mod serve;

/// Environment variable through which `cargo xtask test` tells the browser tests where the built
/// `static/` directory is (absolute path).
pub const STATIC_ENV: &str = "MARIO_E2E_STATIC";

/// The workspace root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the mario-e2e crate lives one level below the workspace root")
        .to_path_buf()
}

/// Where tests write artifacts (screenshots, logs): `<workspace>/target/e2e-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    workspace_root().join("target").join("e2e-artifacts")
}
