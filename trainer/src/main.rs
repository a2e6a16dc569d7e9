//! `mario`: train MARIO (CIKM 2022) on multimodal recommendation data, evaluate it by
//! full ranking, export compact weights, and explain recommendations.
//!
//! Run `mario --help` (or `mario <command> --help`) for the commands; they live in
//! the library's [`mario_trainer::commands`].

use clap::Parser;
use mario_trainer::commands::{Cli, run};

/// mimalloc keeps freed pages for reuse: the per-batch temporaries of the training
/// step (tens of MB each) no longer cost an mmap, page faults and kernel zeroing
/// every batch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns off transparent huge pages for this process (Linux; unless
/// `MIMALLOC_ALLOW_THP` is set, which then decides as mimalloc documents). With them,
/// mimalloc's 2 MiB pages round every partly used span up, and each page that a
/// training step touches again after a purge is a 2 MiB page for the kernel to zero:
/// both a higher peak RSS and more time in the kernel. mimalloc's default purge delay
/// (1 s) is kept: a short one re-faults a step's temporaries every batch.
fn disable_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE sets one flag of this process, read by the kernel at
    // its next page fault; no memory of ours is touched. The variadic arguments are
    // passed as the `unsigned long`s the kernel reads.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    let status = unsafe {
        let (on, unused) = (1 as libc::c_ulong, 0 as libc::c_ulong);
        libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused)
    };
    // A failure (an old kernel) only leaves transparent huge pages as they were.
    #[cfg(target_os = "linux")]
    if status != 0 {
        tracing::debug!(
            "prctl(PR_SET_THP_DISABLE) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn main() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("MARIO_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    // The whole command runs on a worker of one rayon pool (the size rayon would pick:
    // `RAYON_NUM_THREADS`, else one per core), so that every parallel loop — ours, gemm's,
    // flex's — is started from a worker and shared with its sibling instead of injected
    // from outside: a training step's ~100 parallel loops no longer each put the main
    // thread to sleep and wake it (dense: 33 k → 1.8 k context switches an epoch).
    //
    // The pool lives to the end of the process, as rayon's global pool does: dropping it
    // sent its workers through thread exit while `exit` ran the C libraries' destructors
    // (Mesa's, loaded by wgpu's adapter probe): 20 of 1,000 runs of a `mario tune` rerun,
    // 4 at once, aborted with a glibc `double free`; none of 2,000 since.
    let result = match rayon::ThreadPoolBuilder::new().build() {
        Ok(pool) => std::mem::ManuallyDrop::new(pool).install(|| run(cli)),
        Err(_) => run(cli),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
