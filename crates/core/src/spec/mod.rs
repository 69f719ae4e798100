//! What a service is: [`ServiceSpec`], read from TOML or YAML. A service has pod types; a
//! pod type has a count, placement constraints, volumes, artifacts and tasks; every
//! instance of a pod type runs as one Mesos task group on its own reserved resources.
//!
//! Field names are snake_case in both formats; unknown fields are errors (a typo must not
//! silently become a default). Validation of values lives in [`crate::validation`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod parse;

pub use parse::{SpecError, SpecFormat};

/// A service: one framework's pods, as an operator configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name: the framework name and the prefix of every task id.
    pub name: String,
    /// Mesos role the service reserves resources for (default `<name>-role`).
    #[serde(default)]
    pub role: Option<String>,
    /// Principal that owns the reservations and volumes (default `<name>-principal`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Unix user tasks run as (default: the user running the scheduler).
    #[serde(default)]
    pub user: Option<String>,
    /// Pod types, deployed in this order.
    pub pods: Vec<PodSpec>,
    /// Operator plans besides the built-in ones (deploy, update, recovery, decommission,
    /// uninstall), e.g. a repair or a backup.
    #[serde(default)]
    pub plans: Vec<PlanSpec>,
    /// How failed instances are recovered.
    #[serde(default)]
    pub recovery: RecoverySpec,
}

/// Recovery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySpec {
    /// Seconds an instance's agent may stay unreachable before the instance is replaced
    /// on another agent (its old reservations and volumes are released when they come
    /// back). The timer survives scheduler restarts.
    #[serde(default = "default_permanent_after")]
    pub permanent_failure_after_secs: f64,
}

fn default_permanent_after() -> f64 {
    1200.0
}

impl Default for RecoverySpec {
    fn default() -> Self {
        Self { permanent_failure_after_secs: default_permanent_after() }
    }
}

impl ServiceSpec {
    /// The role, defaulted.
    pub fn role(&self) -> String {
        self.role.clone().unwrap_or_else(|| format!("{}-role", self.name))
    }

    /// The principal, defaulted.
    pub fn principal(&self) -> String {
        self.principal.clone().unwrap_or_else(|| format!("{}-principal", self.name))
    }

    /// The pod type called `name`.
    pub fn pod(&self, name: &str) -> Option<&PodSpec> {
        self.pods.iter().find(|p| p.name == name)
    }
}

/// How a phase walks its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One step at a time, in order.
    #[default]
    Serial,
    /// All steps at once.
    Parallel,
    /// The first step, then wait for an operator `resume`, then the rest serially.
    Canary,
}

/// A pod type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// Pod type name; instances are `<name>-<index>`.
    pub name: String,
    /// Number of instances.
    pub count: u32,
    /// Placement constraints, Marathon style: `"hostname:UNIQUE"`, `"rack:GROUP_BY:3"`,
    /// `"zone:LIKE:us-.*"`, `"hostname:MAX_PER:2"`, `"rack:CLUSTER:r1"`, `"rack:UNLIKE:r3"`.
    #[serde(default)]
    pub placement: Vec<String>,
    /// How the deploy plan walks this pod type's instances.
    #[serde(default)]
    pub strategy: Strategy,
    /// Unix user for this pod's tasks (default: the service's).
    #[serde(default)]
    pub user: Option<String>,
    /// Persistent volumes of every instance (shared by its tasks).
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Files fetched into every instance's sandbox.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    /// The tasks of every instance.
    pub tasks: Vec<TaskSpec>,
}

impl PodSpec {
    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// Which kind of disk a volume lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskKind {
    /// A slice of the agent's root disk.
    #[default]
    Root,
    /// A whole MOUNT disk (consumed entirely; `size_mb` is the minimum).
    Mount,
}

/// A persistent volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Name (also the persistence id's suffix).
    pub name: String,
    /// Path inside the sandbox, relative.
    pub path: String,
    /// Size in MB.
    pub size_mb: f64,
    /// Disk kind.
    #[serde(default)]
    pub kind: DiskKind,
}

/// Something to fetch into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// `http(s)://` or `file://` URL.
    pub url: String,
    /// Expected SHA-256 (hex), checked before use.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Extract archives (default true).
    #[serde(default = "yes")]
    pub extract: bool,
    /// Use the agent's fetcher cache (default true).
    #[serde(default = "yes")]
    pub cache: bool,
    /// Make the file executable (and do not extract it).
    #[serde(default)]
    pub executable: bool,
    /// Name to save the file as (relative to the sandbox).
    #[serde(default)]
    pub output_file: Option<String>,
}

fn yes() -> bool {
    true
}

/// What a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// A server: kept running, relaunched when it dies.
    #[default]
    Running,
    /// Runs to completion on every deploy or update (e.g. an init step); relaunched only if
    /// it fails.
    Finish,
    /// Runs to completion once in the instance's life (e.g. formatting storage).
    Once,
}

/// A named port the task needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// Name, unique in the pod (`http`, `broker`...).
    pub name: String,
    /// Fixed port number, or 0 for any port the offer has.
    #[serde(default)]
    pub port: u16,
    /// Environment variable carrying the port (default `PORT_<NAME>`).
    #[serde(default)]
    pub env: Option<String>,
}

impl PortSpec {
    /// The variable the port is exported as.
    pub fn env_key(&self) -> String {
        self.env.clone().unwrap_or_else(|| format!("PORT_{}", self.name.to_uppercase().replace('-', "_")))
    }
}

/// A config file rendered per instance from a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Name.
    pub name: String,
    /// The template (minijinja syntax).
    pub template: String,
    /// Where the rendered file goes, relative to the sandbox.
    pub dest: String,
}

/// How a health or readiness check probes the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// A shell command; exit 0 = good.
    #[serde(default)]
    pub command: Option<String>,
    /// An HTTP GET of `path` on the named port; 2xx/3xx = good.
    #[serde(default)]
    pub http: Option<HttpCheckSpec>,
    /// A TCP connect to the named port.
    #[serde(default)]
    pub tcp: Option<TcpCheckSpec>,
    /// Seconds between checks.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// Seconds before the first check.
    #[serde(default)]
    pub delay_secs: f64,
    /// Seconds a check may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Health only: seconds during which failures are ignored until the first success.
    #[serde(default = "default_grace")]
    pub grace_period_secs: f64,
    /// Health only: failures in a row before the task is killed.
    #[serde(default = "default_failures")]
    pub max_consecutive_failures: u32,
}

fn default_interval() -> f64 {
    5.0
}
fn default_timeout() -> f64 {
    10.0
}
fn default_grace() -> f64 {
    30.0
}
fn default_failures() -> u32 {
    3
}

/// The HTTP form of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckSpec {
    /// Name of one of the task's ports.
    pub port: String,
    /// Path (default `/`).
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".to_owned()
}

/// The TCP form of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheckSpec {
    /// Name of one of the task's ports.
    pub port: String,
}

/// A task of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Name, unique in the pod.
    pub name: String,
    /// What the task is for.
    #[serde(default)]
    pub goal: Goal,
    /// Shell command (a template: rendered per instance like the configs).
    pub command: String,
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem_mb: f64,
    /// Sandbox disk in MB (besides the pod's volumes).
    #[serde(default)]
    pub disk_mb: f64,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Environment (values are templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config files rendered per instance.
    #[serde(default)]
    pub configs: Vec<ConfigSpec>,
    /// Health check: failing it kills the task (then recovery relaunches it).
    #[serde(default)]
    pub health_check: Option<CheckSpec>,
    /// Readiness check: a step completes only once it passes.
    #[serde(default)]
    pub readiness_check: Option<CheckSpec>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default)]
    pub kill_grace_secs: Option<f64>,
}

/// An operator-defined plan, e.g. a repair: runs some tasks of a pod type's instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Plan name (`repair`, `backup`...).
    pub name: String,
    /// Parameters the operator must give (`-p KEY=VALUE`), exported to the tasks' env.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// How the phases run.
    #[serde(default)]
    pub strategy: Strategy,
    /// Phases.
    pub phases: Vec<PhaseSpec>,
}

/// A phase of an operator plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Phase name.
    pub name: String,
    /// The pod type whose instances are the steps.
    pub pod: String,
    /// The tasks to run in each instance (goal FINISH or ONCE).
    pub tasks: Vec<String>,
    /// How the steps run.
    #[serde(default)]
    pub strategy: Strategy,
}
