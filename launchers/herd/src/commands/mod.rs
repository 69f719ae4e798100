//! Subcommands, one file each.

mod artifacts;
mod leader;
mod local;
mod run;

/// Where herd keeps its local state: `$HERD_HOME`, by default `~/.herd`.
pub(crate) fn herd_home() -> std::path::PathBuf {
    std::env::var_os("HERD_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".herd")))
        .unwrap_or_else(|| std::path::PathBuf::from(".herd"))
}

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Resolve, verify and cache a framework's artifacts (`herd artifacts fetch hello`).
    Artifacts(artifacts::Args),
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
            Self::Artifacts(args) => artifacts::exec(args).await,
            Self::Leader(args) => leader::exec(args).await,
            Self::Local(args) => local::exec(args).await,
            Self::Run(args) => run::exec(args).await,
        }
    }
}
