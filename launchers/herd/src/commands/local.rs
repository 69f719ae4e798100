//! `herd local`: the embedded single-host Mesos-compatible cluster, in the foreground.
//! Prints the master URL as its first line of output; Ctrl-C stops it and kills its tasks.

use anyhow::Context;
use herd_localmesos::{AgentSpec, ClusterConfig, LocalCluster};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `herd local`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Master port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// Number of agents (each on its own 127.0.x.y address).
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// CPUs per agent.
    #[arg(long, default_value_t = 2.0)]
    cpus: f64,
    /// Memory per agent, in MB.
    #[arg(long, default_value_t = 2048.0)]
    mem: f64,
    /// Disk per agent, in MB.
    #[arg(long, default_value_t = 10240.0)]
    disk: f64,
    /// Port range offered by every agent, BEGIN-END.
    #[arg(long, default_value = "31000-32000", value_parser = parse_range)]
    ports: (u64, u64),
    /// The x of the agents' 127.0.x.y addresses.
    #[arg(long, default_value_t = 1)]
    agent_ip_block: u8,
    /// Where sandboxes, volumes and checkpoints live (default: $HERD_HOME/local).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also register the master in ZooKeeper, as a Mesos master does (zk://host:port/path).
    #[arg(long)]
    zk: Option<String>,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (b, e) = s.split_once('-').ok_or_else(|| format!("{s:?} is not BEGIN-END, e.g. 31000-32000"))?;
    let b: u64 = b.trim().parse().map_err(|_| format!("{b:?} is not a port number"))?;
    let e: u64 = e.trim().parse().map_err(|_| format!("{e:?} is not a port number"))?;
    Ok((b, e))
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let work_dir = args.work_dir.unwrap_or_else(|| super::herd_home().join("local"));
    let mut config = ClusterConfig::new(&work_dir, args.agents);
    config.master_port = args.port;
    config.agent_ip_block = args.agent_ip_block;
    config.zk = args.zk;
    let spec = AgentSpec {
        cpus: args.cpus,
        mem: args.mem,
        disk: args.disk,
        ports: vec![args.ports],
        ..AgentSpec::default()
    };
    config.agents = vec![spec; args.agents];
    let cluster = LocalCluster::start(config).await.context("starting the local cluster")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", cluster.master_url())?;
        out.flush()?;
    }
    eprintln!(
        "herd local: master {} with {} agent(s) ({}), work dir {}; Ctrl-C to stop",
        cluster.master_url(),
        cluster.agents().len(),
        cluster.agents().iter().map(|a| a.url()).collect::<Vec<_>>().join(", "),
        work_dir.display()
    );
    wait_for_signal().await?;
    eprintln!(
        "herd local: stopping (tasks are killed; reservations and volumes stay in {})",
        work_dir.display()
    );
    cluster.shutdown();
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
