//! `mario`: train MARIO (CIKM 2022) on multimodal recommendation data, evaluate it by
//! full ranking, export compact weights, and explain recommendations.
//!
//! Run `mario --help` (or `mario <command> --help`) for the commands; they live in
//! the library's [`mario_trainer::commands`].

use clap::Parser;
use mario_trainer::commands::{Cli, run};

/// mimalloc keeps freed pages for reuse: the per-batch temporaries of the training
/// step (tens of MB each) no longer cost an mmap, page faults and kernel zeroing
/// every batch (`mario bench` before/after in the README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("MARIO_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
