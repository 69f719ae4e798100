//! The Spark framework's config (`configs/spark.toml` documents every field) and its checks:
//! errors name the field and the fix.

use herd_core::spec::{ArtifactSpec, QueueSpec};
use serde::{Deserialize, Serialize};

/// A Spark service's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparkConfig {
    /// The service's name (framework name, role).
    pub name: String,
    /// The pinned distribution to run: `spark4` or `spark35` (`configs/distributions.toml`).
    #[serde(default = "default_distribution")]
    pub distribution: String,
    /// Another distribution (e.g. an official tarball) instead of the pinned one; needs
    /// `version` and `scala_version`.
    #[serde(default)]
    pub artifact: Option<ArtifactSpec>,
    /// The Spark version of `artifact` (e.g. `4.0.1`).
    #[serde(default)]
    pub version: Option<String>,
    /// The Scala version of `artifact`'s jars (`2.13` for Spark 4, `2.12` for most 3.x).
    #[serde(default)]
    pub scala_version: Option<String>,
    /// Fetch PySpark's Python libraries (pyspark.zip, py4j) for `.py` applications.
    #[serde(default = "yes")]
    pub python: bool,
    /// Mesos role (default `<name>-role`).
    #[serde(default)]
    pub role: Option<String>,
    /// Mesos principal (default `<name>-principal`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Unix user of every task (default: the scheduler's).
    #[serde(default)]
    pub user: Option<String>,
    /// The standalone Master.
    #[serde(default)]
    pub master: MasterConfig,
    /// The worker pool executors run on.
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Defaults of a driver that sets none.
    #[serde(default)]
    pub driver: DriverConfig,
    /// Defaults of an application's executors.
    #[serde(default)]
    pub executor: ExecutorConfig,
    /// Spark's event log.
    #[serde(default)]
    pub event_log: EventLogConfig,
    /// The optional history server.
    #[serde(default)]
    pub history: HistoryConfig,
    /// The teams' queues (none: one `default` queue).
    #[serde(default)]
    pub queues: Vec<QueueSpec>,
}

/// The standalone Master's pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterConfig {
    /// CPUs.
    #[serde(default = "half")]
    pub cpus: f64,
    /// Task memory, MB.
    #[serde(default = "default_daemon_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_daemon_heap")]
    pub heap_mb: u32,
    /// The port drivers and workers connect to (0: any offered).
    #[serde(default)]
    pub port: u16,
    /// The web UI's port (0: any offered).
    #[serde(default)]
    pub ui_port: u16,
    /// Placement constraints.
    #[serde(default)]
    pub placement: Vec<String>,
}

/// The worker pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Workers.
    #[serde(default = "default_workers")]
    pub count: u32,
    /// Cores each worker offers executors (its task's CPUs).
    #[serde(default = "default_worker_cores")]
    pub cores: u32,
    /// Memory each worker offers executors, MB.
    #[serde(default = "default_worker_memory")]
    pub memory_mb: u32,
    /// The Worker daemon's JVM heap, MB (its task has `memory_mb` + 2 × this).
    #[serde(default = "default_worker_heap")]
    pub heap_mb: u32,
    /// Placement constraints.
    #[serde(default = "unique_hosts")]
    pub placement: Vec<String>,
}

/// Driver defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverConfig {
    /// Cores of a driver's task (`spark.driver.cores`).
    #[serde(default = "one")]
    pub cores: f64,
    /// Driver JVM heap, MB (`spark.driver.memory`).
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Relaunches of a failed driver (every submission).
    #[serde(default)]
    pub max_retries: u32,
    /// Relaunches of a failed driver submitted with `spark.driver.supervise=true`.
    #[serde(default = "default_supervise_retries")]
    pub supervise_retries: u32,
    /// Serve the driver's web UI (on a port of its task).
    #[serde(default = "yes")]
    pub ui: bool,
}

/// Executor defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Cores per executor (`spark.executor.cores`).
    #[serde(default = "one_u32")]
    pub cores: u32,
    /// Executor JVM heap, MB (`spark.executor.memory`).
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Executor cores of one application (`spark.cores.max`).
    #[serde(default = "default_cores_max")]
    pub cores_max: u32,
}

/// Spark's event log (what the history server shows).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogConfig {
    /// Drivers write event logs.
    #[serde(default)]
    pub enabled: bool,
    /// Where: a Hadoop file system URL every driver writes and the history server reads
    /// (`hdfs://...`, or `file:/...` on storage every agent mounts, or on one host).
    #[serde(default)]
    pub dir: Option<String>,
}

/// The history server's pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Run it.
    #[serde(default)]
    pub enabled: bool,
    /// CPUs.
    #[serde(default = "half")]
    pub cpus: f64,
    /// Task memory, MB.
    #[serde(default = "default_daemon_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_daemon_heap")]
    pub heap_mb: u32,
    /// Its persistent volume (the history server's application store), MB.
    #[serde(default = "default_history_disk")]
    pub disk_mb: f64,
    /// The web UI's port (0: any offered).
    #[serde(default)]
    pub port: u16,
    /// Placement constraints.
    #[serde(default)]
    pub placement: Vec<String>,
}

fn default_distribution() -> String {
    "spark4".to_owned()
}
fn yes() -> bool {
    true
}
fn half() -> f64 {
    0.5
}
fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn default_daemon_mem() -> f64 {
    1024.0
}
fn default_daemon_heap() -> u32 {
    512
}
fn default_workers() -> u32 {
    2
}
fn default_worker_cores() -> u32 {
    2
}
fn default_worker_memory() -> u32 {
    2048
}
fn default_worker_heap() -> u32 {
    256
}
fn unique_hosts() -> Vec<String> {
    vec!["hostname:UNIQUE".to_owned()]
}
fn default_memory() -> u32 {
    1024
}
fn default_supervise_retries() -> u32 {
    3
}
fn default_cores_max() -> u32 {
    2
}
fn default_history_disk() -> f64 {
    1024.0
}

impl Default for MasterConfig {
    fn default() -> Self {
        Self {
            cpus: half(),
            mem_mb: default_daemon_mem(),
            heap_mb: default_daemon_heap(),
            port: 0,
            ui_port: 0,
            placement: Vec::new(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            count: default_workers(),
            cores: default_worker_cores(),
            memory_mb: default_worker_memory(),
            heap_mb: default_worker_heap(),
            placement: unique_hosts(),
        }
    }
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            cores: one(),
            memory_mb: default_memory(),
            max_retries: 0,
            supervise_retries: default_supervise_retries(),
            ui: true,
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self { cores: one_u32(), memory_mb: default_memory(), cores_max: default_cores_max() }
    }
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cpus: half(),
            mem_mb: default_daemon_mem(),
            heap_mb: default_daemon_heap(),
            disk_mb: default_history_disk(),
            port: 0,
            placement: Vec::new(),
        }
    }
}

/// Why a Spark config is not usable: herd's error for framework configs, naming the field
/// and the fix.
pub type SparkConfigError = herd_core::spec::ConfigError;

impl SparkConfig {
    /// Checks the values; errors name the field and the fix.
    pub fn check(&self, origin: &str) -> Result<(), SparkConfigError> {
        let invalid =
            |field: &str, problem: String, fix: &str| SparkConfigError::invalid(origin, field, problem, fix);
        if self.artifact.is_none() && !crate::PINNED.iter().any(|(name, _)| *name == self.distribution) {
            let known = crate::PINNED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
            return Err(invalid(
                "distribution",
                format!("{:?} is not a pinned Spark distribution", self.distribution),
                &format!("use one of {known}, or give [artifact] with version and scala_version"),
            ));
        }
        if self.artifact.is_some() && (self.version.is_none() || self.scala_version.is_none()) {
            return Err(invalid(
                "artifact",
                "is set without version and scala_version".into(),
                "give the distribution's Spark version (version = \"4.0.1\") and its jars' Scala version \
                 (scala_version = \"2.13\")",
            ));
        }
        if self.worker.count == 0 || self.worker.cores == 0 {
            return Err(invalid(
                "worker.count",
                "no worker or no cores: executors would have nowhere to run".into(),
                "run at least 1 worker with at least 1 core",
            ));
        }
        let pool = self.worker.count * self.worker.cores;
        if self.executor.cores > self.worker.cores {
            return Err(invalid(
                "executor.cores",
                format!("{} is more than a worker has ({})", self.executor.cores, self.worker.cores),
                "lower executor.cores or raise worker.cores",
            ));
        }
        if self.executor.cores_max == 0 || self.executor.cores_max > pool {
            return Err(invalid(
                "executor.cores_max",
                format!("{} is not within the worker pool's {pool} cores", self.executor.cores_max),
                &format!("use 1..={pool}"),
            ));
        }
        if self.executor.memory_mb > self.worker.memory_mb {
            return Err(invalid(
                "executor.memory_mb",
                format!(
                    "{} MB is more than a worker offers ({} MB)",
                    self.executor.memory_mb, self.worker.memory_mb
                ),
                "lower executor.memory_mb or raise worker.memory_mb",
            ));
        }
        if !(self.driver.cores > 0.0 && self.driver.cores.is_finite()) || self.driver.memory_mb < 128 {
            return Err(invalid(
                "driver",
                format!("{} cores and {} MB cannot run a driver", self.driver.cores, self.driver.memory_mb),
                "give a driver at least 0.1 core and 128 MB",
            ));
        }
        for (what, heap, mem) in [
            ("master", self.master.heap_mb, self.master.mem_mb),
            ("history", self.history.heap_mb, self.history.mem_mb),
        ] {
            if f64::from(heap) + 128.0 > mem {
                return Err(invalid(
                    &format!("{what}.heap_mb"),
                    format!("{heap} MB leaves less than 128 MB of {what}.mem_mb = {mem} for the rest"),
                    "lower heap_mb or raise mem_mb",
                ));
            }
        }
        if self.history.enabled && !(self.event_log.enabled && self.event_log.dir.is_some()) {
            return Err(invalid(
                "history.enabled",
                "the history server shows event logs, and none are written".into(),
                "set [event_log] enabled = true and dir = a URL drivers and the history server share",
            ));
        }
        if self.event_log.enabled && self.event_log.dir.is_none() {
            return Err(invalid(
                "event_log.dir",
                "is not set".into(),
                "give a Hadoop file system URL every driver can write (hdfs://..., file:/... on shared \
                 storage)",
            ));
        }
        Ok(())
    }
}
