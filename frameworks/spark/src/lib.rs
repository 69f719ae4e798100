//! # herd-spark
//!
//! Apache Spark on Mesos. Spark's own Mesos backend (its dispatcher and coarse-grained
//! executors, built on libmesos) is gone from Spark 4, so herd brings Spark to Mesos the
//! herd way: the framework's config ([`SparkConfig`], the documented default is
//! `configs/spark.toml`) becomes a herd [`ServiceSpec`] with
//!
//! - a `master` pod: Spark's standalone Master (its own REST server off: herd serves the
//!   submission protocol), its recovery state on a persistent volume;
//! - a `worker` pod type: a fixed pool of standalone Workers, each holding the cores and
//!   memory it offers executors as its Mesos task's resources; **executors** run inside
//!   them (children of the Worker, in its task);
//! - an optional `history` pod: Spark's history server over the event-log dir;
//! - the teams' `[[queues]]`, which become the service's job queues.
//!
//! Every application's **driver** runs as a herd *job* (see `herd_core::scheduler::jobs`):
//! in client mode, in a Mesos task of its own with the driver's cores and memory, launched
//! from the service's queues by weighted fair share, tracked QUEUED → LAUNCHING → RUNNING →
//! FINISHED / FAILED / KILLED, persisted, and relaunched on failure when asked
//! (`spark.driver.supervise=true` or `driver.max_retries`). The driver's task fetches the
//! service's Spark distribution and the application, and runs the distribution's own
//! `bin/spark-submit --deploy-mode client` against the Master, bound to its agent's address
//! and its task's ports (see [`submission::driver_command`]).
//!
//! Submissions arrive three ways, all through [`extension`]'s routes on the operator API
//! (`rest.rs`, `api.rs`): Spark's REST submission protocol (stock `spark-submit
//! --deploy-mode cluster` from Spark 4 with `spark://API`, from Spark 3.5 with
//! `mesos://API`), herd's own JSON API (`/v1/spark/...`, with uploads of local files), and
//! `herd spark submit`, which uses the latter.
//!
//! Not here: scheduling the drivers (the core's job queues), talking to Mesos (the
//! runtime), the CLI (`launchers/herd/src/commands/spark.rs`).
//!
//! Where to start: [`spec`] (config → service spec, in `spec.rs`), then
//! [`submission::plan`] (a submission → the job that runs its driver) and `rest.rs`.

mod api;
mod config;
mod rest;
mod spec;
pub mod submission;

pub use config::{
    DriverConfig, EventLogConfig, ExecutorConfig, HistoryConfig, MasterConfig, SparkConfig, SparkConfigError,
    WorkerConfig,
};
pub use spec::{pinned_distribution, spec};

use herd_core::spec::{ServiceSpec, SpecFormat};

/// The documented default config (`configs/spark.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/spark.toml");

/// The pinned Spark distributions a config can name, with their jars' Scala version.
pub const PINNED: [(&str, &str); 2] = [("spark4", "2.13"), ("spark35", "2.12")];

/// Parses a Spark config (TOML or YAML) into its service spec.
pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<ServiceSpec, SparkConfigError> {
    let config: SparkConfig = herd_core::spec::parse_config(text, format, origin)?;
    spec(&config, origin)
}

/// The default spec.
pub fn default_spec() -> Result<ServiceSpec, SparkConfigError> {
    parse(DEFAULT_CONFIG, SpecFormat::Toml, "configs/spark.toml")
}

/// The Spark framework's operator API routes: Spark's REST submission protocol and herd's
/// own submission API.
pub fn extension() -> std::sync::Arc<dyn herd_runtime::probes::ApiExtension> {
    std::sync::Arc::new(api::Submissions)
}

/// The scheduler-side probes of the Spark framework (none: the pods' readiness is a TCP
/// check).
pub fn probes() -> herd_runtime::probes::Probes {
    herd_runtime::probes::Probes::new()
}
