//! Layout rules checked as tests (`cargo test -p xtask`): every Rust file opens with a `//!`
//! line saying its one job, and a file past [`LONG_FILE`] lines says in that doc comment
//! why it is long (the phrase "long because").

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Lines past which a file must give a reason for its length.
    const LONG_FILE: usize = 650;

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
}
