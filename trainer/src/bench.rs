//! `mario bench`: seconds per epoch, per full-ranking evaluation and per kNN
//! rebuild on each backend, and peak RSS.
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
