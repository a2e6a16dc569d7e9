//! `mario experiment`: the paper's experiments as commands.
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ExperimentArgs {}

pub fn run(_args: ExperimentArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
