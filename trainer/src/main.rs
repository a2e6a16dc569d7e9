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

/// Turns off transparent huge pages for mimalloc's memory (`MIMALLOC_ALLOW_THP` in the
/// environment still wins). With them, 2 MiB pages round every partly used span up:
/// one `sports` epoch + evaluation + export peaked at 1,260 MiB with them and 1,155 MiB
/// without, at the same speed within noise (`mario bench`, baby 8.7 vs 8.8 s an
/// epoch). mimalloc's default purge delay (1 s in v3) is kept: a 10 ms delay
/// (`MIMALLOC_PURGE_DELAY=10`) re-faults a step's temporaries every batch (328 k page
/// faults in 5 dense epochs against 14 k).
fn disable_transparent_huge_pages() {
    // The index of `mi_option_allow_thp` in v3's `mi_option_e` (mimalloc.h); the -sys
    // crate does not name it, and v2 numbers it differently, so nothing is set
    // unless v3 is linked.
    const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: `mi_version` reads a constant; `mi_option_set` stores one integer that
    // mimalloc reads when it next maps memory, and mimalloc allows setting options at
    // any time.
    #[allow(unsafe_code)]
    unsafe {
        if libmimalloc_sys::mi_version() / 10_000 == 3 {
            libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
        }
    }
}

fn main() {
    disable_transparent_huge_pages();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("MARIO_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
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
