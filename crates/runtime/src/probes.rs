//! Readiness probes a framework runs from the scheduler: for a task whose
//! `readiness_check.probe` names one, the driver calls it (about once a second, one call
//! per task at a time, each bounded by [`PROBE_TIMEOUT`]) until it passes, and the core
//! counts the task ready only then. Kafka's `in-sync` probe, for instance, asks the cluster
//! through a real client whether the broker is registered and no partition is
//! under-replicated — something a check inside the task could only do with a JVM per check.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The longest one probe call may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a probe is asked about: one task's instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTarget {
    /// The instance, `<pod>-<index>`.
    pub instance: String,
    /// Its index in its pod type.
    pub index: u32,
    /// The agent address it runs on.
    pub host: String,
    /// Its ports by name.
    pub ports: BTreeMap<String, u16>,
    /// Every instance of its pod type, itself included (where each is placed, whether it
    /// is being scaled in): the members a probe of a cluster's membership expects. Empty
    /// when unknown.
    pub instances: Vec<herd_core::template::InstanceAddress>,
}

/// A probe's answer: `Ok` = passed; `Err` says why not (logged at debug level).
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A readiness probe.
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// Probes `target`.
    fn check(&self, target: ProbeTarget) -> ProbeFuture;
}

/// The probes a framework provides, by name.
pub type Probes = BTreeMap<String, Arc<dyn Probe>>;

/// What a framework's routes work with.
#[derive(Clone)]
pub struct ExtensionContext {
    /// The scheduler, to read where instances are and what jobs exist.
    pub scheduler: crate::driver::SharedScheduler,
    /// To carry out commands (submit and kill jobs...).
    pub commands: crate::commands::Commands,
    /// The artifact cache the API serves at `/v1/artifacts/{sha256}` (if the service has
    /// one): files a submission uploads go there, for agents to fetch.
    pub artifacts: Option<Arc<crate::artifacts::Cache>>,
    /// Where agents reach the operator API (`http://host:port`), if known.
    pub base_url: Option<String>,
}

/// Routes a framework adds to the operator API (Kafka's topics, Spark's submissions...).
pub trait ApiExtension: Send + Sync + std::fmt::Debug {
    /// The routes.
    fn router(&self, ctx: ExtensionContext) -> axum::Router;
}
