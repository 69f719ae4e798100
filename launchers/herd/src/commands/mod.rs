//! Subcommands, one file each.

mod leader;
mod local;
mod run;

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Show the leading Mesos master (reads ZooKeeper for zk:// addresses).
    Leader(leader::Args),
    /// Run an embedded single-host Mesos-compatible cluster (master + agents) in the foreground.
    Local(local::Args),
    /// Run one framework's scheduler in the foreground.
    Run(run::Args),
}

impl Command {
    pub(crate) async fn exec(self) -> anyhow::Result<()> {
        match self {
            Self::Leader(args) => leader::exec(args).await,
            Self::Local(args) => local::exec(args).await,
            Self::Run(args) => run::exec(args).await,
        }
    }
}
