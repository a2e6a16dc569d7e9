//! The static server (`mario_e2e::serve`, behind `cargo xtask demo`): content types, index,
//! 404, and no path traversal out of the served directory. Runs in plain `cargo test`.

use mario_e2e::http;
use mario_e2e::serve::StaticServer;

const SECRET: &str = "SECRET-OUTSIDE-STATIC";

/// `<tmp>/secret.txt` (must stay unreachable) and `<tmp>/static/...` (served).
fn fixture() -> (tempfile::TempDir, StaticServer) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret.txt"), SECRET).unwrap();
    std::fs::write(tmp.path().join("Cargo.toml"), SECRET).unwrap();
    let root = tmp.path().join("static");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::create_dir_all(root.join("demo")).unwrap();
    std::fs::write(root.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("pkg/app.js"), "export default 1;").unwrap();
    std::fs::write(root.join("pkg/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(
        root.join("demo/model.safetensors"),
        [8u8, 0, 0, 0, 0, 0, 0, 0],
    )
    .unwrap();
    std::fs::write(root.join("data.json"), "{}").unwrap();
    std::fs::write(root.join("pic.svg"), "<svg/>").unwrap();
    let server = StaticServer::start_local(&root).unwrap();
    (tmp, server)
}

#[test]
fn serves_files_with_the_right_content_type() {
    let (_tmp, server) = fixture();
    let cases = [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/style.css", "text/css"),
        ("/pkg/app.js", "text/javascript"),
        ("/pkg/app_bg.wasm", "application/wasm"),
        ("/demo/model.safetensors", "application/octet-stream"),
        ("/data.json", "application/json"),
        ("/pic.svg", "image/svg+xml"),
    ];
    for (path, ct) in cases {
        let r = http::get(server.addr(), path).unwrap();
        assert_eq!(r.status, 200, "GET {path}");
        assert!(
            r.content_type().starts_with(ct),
            "GET {path}: Content-Type {:?}, want {ct}",
            r.content_type()
        );
    }
    let wasm = http::get(server.addr(), "/pkg/app_bg.wasm").unwrap();
    assert_eq!(wasm.body, b"\0asm\x01\0\0\0");
}

#[test]
fn missing_files_are_404() {
    let (_tmp, server) = fixture();
    let r = http::get(server.addr(), "/nope.js").unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn no_path_traversal_out_of_the_root() {
    let (_tmp, server) = fixture();
    for path in [
        "/../secret.txt",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/secret.txt",
        "/pkg/../../secret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..\\secret.txt",
        "//secret.txt",
    ] {
        let r = http::get(server.addr(), path).unwrap();
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(SECRET),
            "GET {path} escaped the served directory (status {})",
            r.status
        );
        assert_ne!(r.status, 200, "GET {path} should not succeed");
    }
}

#[test]
fn server_stops_on_drop() {
    let (_tmp, server) = fixture();
    let addr = server.addr();
    assert_eq!(http::get(addr, "/").unwrap().status, 200);
    drop(server);
    assert!(http::get(addr, "/").is_err(), "still serving after drop");
}
