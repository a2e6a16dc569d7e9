//! Layout rules checked as tests (`cargo test -p xtask`): every Rust file opens with a `//!`
//! line saying its one job, and a file past [`LONG_FILE`] lines says in that doc comment
//! why it is long (the phrase "long because"); `ARCHITECTURE.md` keeps its lines under
//! [`LONG_LINE`] characters and every file and folder it names exists.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Lines past which a file must give a reason for its length.
    const LONG_FILE: usize = 650;

    /// Characters past which a line of `ARCHITECTURE.md` is too long to read.
    const LONG_LINE: usize = 200;

    /// The workspace's crates (the folders whose `.rs` files are checked).
    const CRATES: [&str; 6] = ["shared", "data", "trainer", "web", "xtask", "tests"];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n != "target" && n != "pkg")
                {
                    rust_files(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_file_says_its_job_and_long_files_say_why() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for c in CRATES {
            rust_files(&root.join(c), &mut files);
        }
        assert!(
            files.len() > 50,
            "found only {} files under {root:?}",
            files.len()
        );
        let mut problems = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            if !text.starts_with("//!") {
                problems.push(format!(
                    "{}: does not start with a `//!` doc line",
                    f.display()
                ));
            }
            let lines = text.lines().count();
            let doc: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ");
            if lines > LONG_FILE && !doc.contains("long because") {
                problems.push(format!(
                    "{}: {lines} lines; split it, or say in its `//!` doc why it is long (\"long because …\")",
                    f.display()
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Every path under `dir` (files and folders), relative to `root`, with `/` separators.
    fn tree(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == ".git" || name == "pkg" || name == "node_modules" {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel.to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                out.push(format!("{rel}/"));
                tree(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }

    /// The backticked names in `text` that look like a source file (`.rs`, `.wgsl`) or a
    /// folder (ending in `/`).
    fn named_paths(text: &str) -> Vec<&str> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| {
                !t.starts_with('.')
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
                    && (t.ends_with(".rs") || t.ends_with(".wgsl") || t.ends_with('/'))
            })
            .collect()
    }

    #[test]
    fn named_paths_are_the_backticked_files_and_folders() {
        let text =
            "`a/b.rs` and `c/` but not `x::y`, `target/wasm`, `5-core/*.json`, `.rs` or `d.rs e`";
        assert_eq!(named_paths(text), ["a/b.rs", "c/"]);
    }

    #[test]
    fn architecture_lines_are_short_and_every_named_path_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let chars = line.chars().count();
            if chars > LONG_LINE {
                problems.push(format!(
                    "ARCHITECTURE.md:{}: {chars} characters (at most {LONG_LINE})",
                    n + 1
                ));
            }
        }
        let mut paths = Vec::new();
        tree(&root, &root, &mut paths);
        let named = named_paths(&text);
        assert!(named.len() > 50, "only {} paths named", named.len());
        for name in named {
            // A name may be relative to its crate or module: it exists when some path ends
            // with it at a component boundary.
            let found = paths
                .iter()
                .any(|p| p == name || p.ends_with(&format!("/{name}")));
            if !found {
                problems.push(format!(
                    "ARCHITECTURE.md names `{name}`, which does not exist"
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
