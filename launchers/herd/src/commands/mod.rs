//! Subcommands, one file each.

mod artifacts;
mod config;
mod down;
mod endpoints;
mod leader;
mod local;
mod logs;
mod plan;
mod pod;
mod run;
mod spark;
mod status;
mod topic;
mod up;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// Where herd keeps its local state: `$HERD_HOME`, by default `~/.herd`.
pub(crate) fn herd_home() -> std::path::PathBuf {
    std::env::var_os("HERD_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".herd")))
        .unwrap_or_else(|| std::path::PathBuf::from(".herd"))
}

/// The service a command acts on, and how to reach and print it.
#[derive(Debug, clap::Args)]
pub(crate) struct ServiceArgs {
    /// The service (as `herd run` or `herd up` named it), e.g. hello.
    service: String,
    /// The service's operator API, http://HOST:PORT (default: the one recorded).
    #[arg(long, env = "HERD_API", global = true)]
    api: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

impl ServiceArgs {
    /// A client of the service's operator API.
    pub(crate) fn operator(&self) -> anyhow::Result<crate::operator::Operator> {
        let api = crate::operator::api_of(&self.service, self.api.as_deref())?;
        crate::operator::Operator::new(&self.service, api)
    }

    /// Whether JSON is wanted.
    pub(crate) fn json(&self) -> bool {
        matches!(self.output, Output::Json)
    }
}

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Resolve, verify and cache a framework's artifacts (`herd artifacts fetch hello`).
    Artifacts(artifacts::Args),
    /// Validate a service config, or print a framework's default config.
    Config(config::Args),
    /// Uninstall a stack `herd up` runs, and stop it.
    Down(down::Args),
    /// Where a service's ports are (`herd endpoints hello`).
    Endpoints(endpoints::Args),
    /// Show the leading Mesos master (reads ZooKeeper for zk:// addresses).
    Leader(leader::Args),
    /// Run an embedded single-host Mesos-compatible cluster (master + agents) in the foreground.
    Local(local::Args),
    /// A task's stdout or stderr, through the Mesos files API (`--follow` to keep reading).
    Logs(logs::Args),
    /// A service's plans: show, start (with -p KEY=VALUE), stop, pause, resume, force, restart.
    Plan(plan::Args),
    /// A service's pod instances: list, status, restart, replace.
    Pod(pod::Args),
    /// Run one framework's scheduler in the foreground.
    Run(run::Args),
    /// Spark applications: submit (a jar or .py, URL or local file), status, list, kill, logs.
    Spark(spark::Args),
    /// The services herd runs on this machine and how their deploys stand.
    Status(status::Args),
    /// A Kafka service's topics: list, create, describe, delete.
    Topic(topic::Args),
    /// Run a stack of services (on an embedded local cluster unless --master is given).
    Up(up::Args),
}

impl Command {
    pub(crate) async fn exec(self) -> anyhow::Result<()> {
        match self {
            Self::Artifacts(args) => artifacts::exec(args).await,
            Self::Config(args) => config::exec(args).await,
            Self::Down(args) => down::exec(args).await,
            Self::Endpoints(args) => endpoints::exec(args).await,
            Self::Leader(args) => leader::exec(args).await,
            Self::Logs(args) => logs::exec(args).await,
            Self::Plan(args) => plan::exec(args).await,
            Self::Pod(args) => pod::exec(args).await,
            Self::Spark(args) => spark::exec(args).await,
            Self::Status(args) => status::exec(args).await,
            Self::Topic(args) => topic::exec(args).await,
            Self::Up(args) => up::exec(args).await,
            Self::Local(args) => local::exec(args).await,
            Self::Run(args) => run::exec(args).await,
        }
    }
}
