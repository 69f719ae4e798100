//! Subcommands, one file each.

mod leader;

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Show the leading Mesos master (reads ZooKeeper for zk:// addresses).
    Leader(leader::Args),
}

impl Command {
    pub(crate) async fn exec(self) -> anyhow::Result<()> {
        match self {
            Self::Leader(args) => leader::exec(args).await,
        }
    }
}
