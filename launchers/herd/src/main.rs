//! The `herd` command line: one thin file per subcommand under `commands/`, each calling a
//! library operation. Subcommands arrive with the crates they drive (see DESIGN.md).

use clap::Parser;

mod commands;
mod frameworks;
mod operator;

/// herd: run Kafka, Cassandra, ELK, Hadoop, Spark, Storm and Samza on Apache Mesos.
#[derive(Debug, Parser)]
#[command(name = "herd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERD_LOG")
                .unwrap_or_else(|_| "warn,herd_runtime=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(cli.command.exec())
}
