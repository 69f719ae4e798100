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

/// Routes a framework adds to the operator API (Kafka's topics, for instance); they get
/// the scheduler to read where the instances are.
pub trait ApiExtension: Send + Sync + std::fmt::Debug {
    /// The routes.
    fn router(&self, scheduler: crate::driver::SharedScheduler) -> axum::Router;
}
