//! `herd leader --master zk://…/mesos`: which master leads, as Mesos recorded it in ZooKeeper.

use anyhow::{Context, bail};
use herd_mesos_client::MasterUrl;
use herd_mesos_client::zk::detect_leader;
use std::io::Write;
use std::time::Duration;

/// Arguments of `herd leader`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The masters' ZooKeeper address, e.g. zk://zk1:2181,zk2:2181/mesos.
    #[arg(long, env = "HERD_MASTER")]
    master: String,
    /// Seconds to wait for ZooKeeper.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let master = MasterUrl::parse(&args.master)?;
    let MasterUrl::Zk(zk) = master else {
        bail!("--master {} is a fixed address, not ZooKeeper: it is its own answer", args.master);
    };
    let info = detect_leader(&zk, Duration::from_secs(args.timeout))
        .await
        .with_context(|| format!("reading the leading master from {zk}"))?;
    let (host, port) = info.host_port();
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Text => writeln!(out, "{host}:{port}")?,
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?,
    }
    Ok(())
}
