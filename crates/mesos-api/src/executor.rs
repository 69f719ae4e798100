//! The v1 executor API (`mesos.v1.executor`): what an executor sends to an agent's
//! `POST /api/v1/executor` and the events it receives. Envelopes mirror the proto, as in
//! [`crate::scheduler::CallEnvelope`]; the local cluster's agent serves this API to custom
//! executors.

use crate::framework::FrameworkInfo;
use crate::ids::{ContainerId, ExecutorId, FrameworkId, TaskId};
use crate::offer::AgentInfo;
use crate::status::TaskStatus;
use crate::task::{ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo};
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;

/// `Call.Update` (also the pending updates in a SUBSCRIBE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The status (the executor sets `uuid`).
    pub status: TaskStatus,
}

/// `Call.Subscribe`: what the executor has not had acknowledged yet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutorSubscribe {
    /// Tasks launched but not acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    /// Updates sent but not acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_updates: Vec<StatusUpdate>,
}

/// `Call.Message` / `Event.Message`: opaque data.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Data {
    /// The bytes.
    #[serde_as(as = "Base64")]
    pub data: Vec<u8>,
}

/// `Call.Type` of the executor API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ExecutorCallType {
    Unknown,
    Subscribe,
    Update,
    Message,
    Heartbeat,
}

/// `mesos.v1.executor.Call`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorCall {
    /// The executor (required).
    pub executor_id: ExecutorId,
    /// Its framework (required).
    pub framework_id: FrameworkId,
    /// Which payload is set.
    #[serde(rename = "type")]
    pub kind: ExecutorCallType,
    /// SUBSCRIBE.
    pub subscribe: Option<ExecutorSubscribe>,
    /// UPDATE.
    pub update: Option<StatusUpdate>,
    /// MESSAGE.
    pub message: Option<Data>,
}

/// `Event.Subscribed` of the executor API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorSubscribed {
    /// The executor.
    pub executor_info: ExecutorInfo,
    /// Its framework.
    pub framework_info: FrameworkInfo,
    /// The agent.
    pub agent_info: AgentInfo,
    /// The executor's container.
    pub container_id: Option<ContainerId>,
}

/// `Event.Launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchTask {
    /// The task.
    pub task: TaskInfo,
}

/// `Event.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchTaskGroup {
    /// The tasks.
    pub task_group: TaskGroupInfo,
}

/// `Event.Kill`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillTask {
    /// The task.
    pub task_id: TaskId,
    /// Kill policy override.
    pub kill_policy: Option<KillPolicy>,
}

/// `Event.Acknowledged`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The task.
    pub task_id: TaskId,
    /// The acknowledged update's uuid.
    #[serde_as(as = "Base64")]
    pub uuid: Vec<u8>,
}

/// `Event.Error` of the executor API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorError {
    /// Message.
    pub message: String,
}

/// `Event.Type` of the executor API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ExecutorEventType {
    Unknown,
    Subscribed,
    Launch,
    LaunchGroup,
    Kill,
    Acknowledged,
    Message,
    Error,
    Shutdown,
    Heartbeat,
}

/// `mesos.v1.executor.Event`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorEvent {
    /// Which payload is set.
    #[serde(rename = "type")]
    pub kind: ExecutorEventType,
    /// SUBSCRIBED.
    pub subscribed: Option<ExecutorSubscribed>,
    /// ACKNOWLEDGED.
    pub acknowledged: Option<Acknowledged>,
    /// LAUNCH.
    pub launch: Option<LaunchTask>,
    /// LAUNCH_GROUP.
    pub launch_group: Option<LaunchTaskGroup>,
    /// KILL.
    pub kill: Option<KillTask>,
    /// MESSAGE.
    pub message: Option<Data>,
    /// ERROR.
    pub error: Option<ExecutorError>,
}
