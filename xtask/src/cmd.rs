//! Running external commands: every command is printed before it runs, output streams through.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Print a step heading.
pub fn step(msg: impl AsRef<str>) {
    println!("==> {}", msg.as_ref());
}

/// Print a note under a step.
pub fn note(msg: impl AsRef<str>) {
    println!("    {}", msg.as_ref());
}

/// A command line plus the environment variables we set (printed in front of it).
#[derive(Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    removed_envs: Vec<String>,
    dir: Option<PathBuf>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: PathBuf::from(program.as_ref()),
            args: Vec::new(),
            envs: Vec::new(),
            removed_envs: Vec::new(),
            dir: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.into(), v.as_ref().to_string_lossy().into_owned()));
        self
    }

    pub fn env_remove(mut self, k: impl Into<String>) -> Self {
        self.removed_envs.push(k.into());
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Shell-like rendering, for printing.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .envs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        parts.push(quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| quote(a)));
        parts.join(" ")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for k in &self.removed_envs {
            c.env_remove(k);
        }
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        if let Some(d) = &self.dir {
            c.current_dir(d);
        }
        c
    }

    /// Print and run; error unless it exits 0.
    pub fn run(&self) -> Result<()> {
        println!("$ {}", self.display());
        let status = self
            .command()
            .status()
            .with_context(|| format!("could not start `{}`", self.program.display()))?;
        check(status, self)
    }

    /// Print and run with a time limit; the child is killed when it runs over.
    pub fn run_with_timeout(&self, limit: Duration) -> Result<()> {
        println!("$ {}   (time limit {} s)", self.display(), limit.as_secs());
        let mut child = self
            .command()
            .spawn()
            .with_context(|| format!("could not start `{}`", self.program.display()))?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return check(status, self);
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`{}` did not finish within {} s (killed)",
                    self.display(),
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Run quietly and capture stdout (trimmed); `None` when it cannot start or fails.
    pub fn output_quiet(&self) -> Option<String> {
        let out = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Run quietly; true when it exits 0.
    pub fn succeeds_quiet(&self) -> bool {
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn check(status: ExitStatus, cmd: &Cmd) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("`{}` failed ({status})", cmd.display())
    }
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Find `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Wall times of named stages, printed as a summary.
#[derive(Debug, Default)]
pub struct Stages {
    done: Vec<(String, Duration, bool)>,
    started: Option<Instant>,
}

impl Stages {
    pub fn new() -> Self {
        Self {
            done: Vec::new(),
            started: Some(Instant::now()),
        }
    }

    /// Run one stage; its time and outcome go into the summary.
    pub fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        println!();
        step(format!("stage: {name}"));
        let t = Instant::now();
        let res = f();
        let dt = t.elapsed();
        let ok = res.is_ok();
        println!(
            "==> stage {name}: {} in {}",
            if ok { "ok" } else { "FAILED" },
            fmt_duration(dt)
        );
        self.done.push((name.to_owned(), dt, ok));
        res.with_context(|| format!("stage `{name}` failed"))
    }

    pub fn print_summary(&self, title: &str) {
        println!();
        step(format!("{title} summary"));
        for (name, dt, ok) in &self.done {
            println!(
                "    {:<34} {:>10}  {}",
                name,
                fmt_duration(*dt),
                if *ok { "ok" } else { "FAILED" }
            );
        }
        if let Some(t) = self.started {
            println!("    {:<34} {:>10}", "total", fmt_duration(t.elapsed()));
        }
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m{:04.1}s", (s / 60.0).floor(), s % 60.0)
    }
}
