//! What a framework launches: `TaskInfo`, `TaskGroupInfo`, `ExecutorInfo`, `CommandInfo`
//! (with fetcher URIs and environment), kill policies, health checks, checks and discovery.

use crate::common::{DurationInfo, Labels, Scalar};
use crate::container::{ContainerInfo, Secret};
use crate::ids::{AgentId, ExecutorId, FrameworkId, TaskId};
use crate::num::Num;
use crate::resources::Resource;
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;
use std::collections::BTreeMap;

/// `CommandInfo.URI`: something the fetcher downloads into the sandbox.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Uri {
    /// The URI (http, https, file, ...).
    pub value: String,
    /// Set the executable bit (disables extraction).
    pub executable: Option<bool>,
    /// Extract archives (default true).
    pub extract: Option<bool>,
    /// Use the agent's fetcher cache.
    pub cache: Option<bool>,
    /// Rename the downloaded file (relative path).
    pub output_file: Option<String>,
}

/// `Environment.Variable.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum VariableType {
    Unknown,
    Value,
    Secret,
}

/// `Environment.Variable`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// VALUE (default) or SECRET.
    #[serde(rename = "type")]
    pub kind: Option<VariableType>,
    /// Value.
    pub value: Option<String>,
    /// Secret.
    pub secret: Option<Secret>,
}

/// `Environment`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Environment {
    /// Variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let variables = iter
            .into_iter()
            .map(|(k, v)| Variable { name: k.into(), kind: None, value: Some(v.into()), secret: None })
            .collect();
        Self { variables }
    }
}

/// `CommandInfo`: a shell command or an argv.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Files to fetch into the sandbox first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
    /// Environment.
    pub environment: Option<Environment>,
    /// Run `value` with `/bin/sh -c` (default true); false = exec `value` with `arguments`.
    pub shell: Option<bool>,
    /// The command.
    pub value: Option<String>,
    /// argv when `shell` is false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Unix user to run as.
    pub user: Option<String>,
}

impl CommandInfo {
    /// A shell command.
    pub fn shell(command: impl Into<String>) -> Self {
        Self { value: Some(command.into()), ..Self::default() }
    }
}

/// `ExecutorInfo.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ExecutorType {
    Unknown,
    Default,
    Custom,
}

/// `ExecutorInfo`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// DEFAULT (task groups) or CUSTOM.
    #[serde(rename = "type")]
    pub kind: Option<ExecutorType>,
    /// Executor id (required).
    pub executor_id: ExecutorId,
    /// Owning framework.
    pub framework_id: Option<FrameworkId>,
    /// Command of a custom executor.
    pub command: Option<CommandInfo>,
    /// Container.
    pub container: Option<ContainerInfo>,
    /// Resources of the executor itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Name.
    pub name: Option<String>,
    /// Deprecated source.
    pub source: Option<String>,
    /// Opaque data.
    #[serde_as(as = "Option<Base64>")]
    pub data: Option<Vec<u8>>,
    /// Discovery info.
    pub discovery: Option<DiscoveryInfo>,
    /// Time the executor gets to shut down.
    pub shutdown_grace_period: Option<DurationInfo>,
    /// Labels.
    pub labels: Option<Labels>,
}

/// `KillPolicy`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KillPolicy {
    /// Time between SIGTERM and SIGKILL.
    pub grace_period: Option<DurationInfo>,
}

/// `HealthCheck.Type` and `CheckInfo.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CheckType {
    Unknown,
    Command,
    Http,
    Tcp,
}

/// `HealthCheck.HTTPCheckInfo`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpHealthCheck {
    /// IPv4 (default) or IPv6.
    pub protocol: Option<crate::container::IpProtocol>,
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Port to probe.
    #[serde_as(as = "Num")]
    pub port: u32,
    /// Path.
    pub path: Option<String>,
    /// Accepted statuses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

/// `HealthCheck.TCPCheckInfo`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpHealthCheck {
    /// IPv4 (default) or IPv6.
    pub protocol: Option<crate::container::IpProtocol>,
    /// Port to probe.
    #[serde_as(as = "Num")]
    pub port: u32,
}

/// `HealthCheck`: the executor kills the task after `consecutive_failures` failures.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Seconds before the first check (default 15).
    #[serde_as(as = "Option<Num>")]
    pub delay_seconds: Option<f64>,
    /// Seconds between checks (default 10).
    #[serde_as(as = "Option<Num>")]
    pub interval_seconds: Option<f64>,
    /// Seconds a check may take (default 20; 0 = forever).
    #[serde_as(as = "Option<Num>")]
    pub timeout_seconds: Option<f64>,
    /// Failures before the task is killed (default 3).
    #[serde_as(as = "Option<Num>")]
    pub consecutive_failures: Option<u32>,
    /// Seconds during which failures are ignored until the first success (default 10).
    #[serde_as(as = "Option<Num>")]
    pub grace_period_seconds: Option<f64>,
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type")]
    pub kind: Option<CheckType>,
    /// Command check.
    pub command: Option<CommandInfo>,
    /// HTTP check.
    pub http: Option<HttpHealthCheck>,
    /// TCP check.
    pub tcp: Option<TcpHealthCheck>,
}

/// `CheckInfo.Command`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandCheck {
    /// The command.
    pub command: CommandInfo,
}

/// `CheckInfo.Http`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpCheck {
    /// Port.
    #[serde_as(as = "Num")]
    pub port: u32,
    /// Path.
    pub path: Option<String>,
}

/// `CheckInfo.Tcp`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpCheck {
    /// Port.
    #[serde_as(as = "Num")]
    pub port: u32,
}

/// `CheckInfo`: a general check whose result is reported, never acted on.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckInfo {
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type")]
    pub kind: Option<CheckType>,
    /// Command check.
    pub command: Option<CommandCheck>,
    /// HTTP check.
    pub http: Option<HttpCheck>,
    /// Delay (default 15).
    #[serde_as(as = "Option<Num>")]
    pub delay_seconds: Option<f64>,
    /// Interval (default 10).
    #[serde_as(as = "Option<Num>")]
    pub interval_seconds: Option<f64>,
    /// Timeout (default 20).
    #[serde_as(as = "Option<Num>")]
    pub timeout_seconds: Option<f64>,
    /// TCP check.
    pub tcp: Option<TcpCheck>,
}

/// `Port` in `DiscoveryInfo`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryPort {
    /// Port number.
    #[serde_as(as = "Num")]
    pub number: u32,
    /// Name.
    pub name: Option<String>,
    /// Protocol.
    pub protocol: Option<String>,
    /// Visibility.
    pub visibility: Option<String>,
    /// Labels.
    pub labels: Option<Labels>,
}

/// `Ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryPorts {
    /// Ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<DiscoveryPort>,
}

/// `DiscoveryInfo` (opaque to Mesos, used by service discovery).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    /// `FRAMEWORK`, `CLUSTER` or `EXTERNAL`.
    pub visibility: String,
    /// Name.
    pub name: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Ports.
    pub ports: Option<DiscoveryPorts>,
    /// Labels.
    pub labels: Option<Labels>,
}

/// `TaskInfo`: one task to launch.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Name (required).
    pub name: String,
    /// Task id (required).
    pub task_id: TaskId,
    /// Agent to launch on (required).
    pub agent_id: AgentId,
    /// Resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Custom executor (exclusive with `command` for LAUNCH).
    pub executor: Option<ExecutorInfo>,
    /// Command for the command executor.
    pub command: Option<CommandInfo>,
    /// Container.
    pub container: Option<ContainerInfo>,
    /// Health check.
    pub health_check: Option<HealthCheck>,
    /// General check.
    pub check: Option<CheckInfo>,
    /// Kill policy.
    pub kill_policy: Option<KillPolicy>,
    /// Opaque data passed to the executor.
    #[serde_as(as = "Option<Base64>")]
    pub data: Option<Vec<u8>>,
    /// Labels.
    pub labels: Option<Labels>,
    /// Discovery.
    pub discovery: Option<DiscoveryInfo>,
    /// Maximum run time.
    pub max_completion_time: Option<DurationInfo>,
    /// Resource limits (`cpus`, `mem`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

/// `TaskGroupInfo`: tasks launched together by the default executor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    /// The tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInfo>,
}
