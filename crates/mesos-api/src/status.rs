//! Status updates: `TaskStatus` (with task states, sources and reasons) and
//! `OperationStatus` (feedback for offer operations that carry an id).

use crate::common::{Labels, TimeInfo};
use crate::container::ContainerStatus;
use crate::ids::{AgentId, ExecutorId, OperationId, ResourceProviderId, TaskId, Uuid};
use crate::num::Num;
use crate::resources::Resource;
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;

/// `TaskState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Initial state, master-side only (never sent in an update).
    TaskStaging,
    /// The executor is starting the task.
    TaskStarting,
    /// Running.
    TaskRunning,
    /// Being killed (only for frameworks with TASK_KILLING_STATE).
    TaskKilling,
    /// Terminal: exited 0.
    TaskFinished,
    /// Terminal: exited non-zero or failed to start.
    TaskFailed,
    /// Terminal: killed.
    TaskKilled,
    /// Terminal: invalid task description.
    TaskError,
    /// Lost (non-partition-aware frameworks; not always terminal).
    TaskLost,
    /// Terminal: dropped before launch (partition-aware).
    TaskDropped,
    /// Agent unreachable; the task may come back (partition-aware).
    TaskUnreachable,
    /// Terminal: gone (partition-aware).
    TaskGone,
    /// Terminal: the agent was marked gone by an operator (partition-aware).
    TaskGoneByOperator,
    /// The master knows nothing of the task (partition-aware).
    TaskUnknown,
}

impl TaskState {
    /// Whether the task will never run again in this incarnation. (TASK_LOST counts as
    /// terminal here, as schedulers treat it: the task must be relaunched or reconciled.)
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::TaskFinished
                | Self::TaskFailed
                | Self::TaskKilled
                | Self::TaskError
                | Self::TaskLost
                | Self::TaskDropped
                | Self::TaskGone
                | Self::TaskGoneByOperator
        )
    }
}

/// `TaskStatus.Source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Source {
    SourceMaster,
    SourceAgent,
    SourceExecutor,
}

/// `TaskStatus.Reason` (v1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Reason {
    ReasonCommandExecutorFailed,
    ReasonContainerLaunchFailed,
    ReasonContainerLimitation,
    ReasonContainerLimitationDisk,
    ReasonContainerLimitationMemory,
    ReasonContainerPreempted,
    ReasonContainerUpdateFailed,
    ReasonMaxCompletionTimeReached,
    ReasonExecutorRegistrationTimeout,
    ReasonExecutorReregistrationTimeout,
    ReasonExecutorTerminated,
    ReasonExecutorUnregistered,
    ReasonFrameworkRemoved,
    ReasonGcError,
    ReasonInvalidFrameworkid,
    ReasonInvalidOffers,
    ReasonIoSwitchboardExited,
    ReasonMasterDisconnected,
    ReasonReconciliation,
    ReasonResourcesUnknown,
    ReasonAgentDisconnected,
    ReasonAgentDraining,
    ReasonAgentRemoved,
    ReasonAgentRemovedByOperator,
    ReasonAgentReregistered,
    ReasonAgentRestarted,
    ReasonAgentUnknown,
    ReasonTaskKilledDuringLaunch,
    ReasonTaskCheckStatusUpdated,
    ReasonTaskHealthCheckStatusUpdated,
    ReasonTaskGroupInvalid,
    ReasonTaskGroupUnauthorized,
    ReasonTaskInvalid,
    ReasonTaskUnauthorized,
    ReasonTaskUnknown,
}

/// `CheckStatusInfo.Command`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandCheckStatus {
    /// Exit code of the last check.
    #[serde_as(as = "Option<Num>")]
    pub exit_code: Option<i32>,
}

/// `CheckStatusInfo.Http`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpCheckStatus {
    /// HTTP status of the last check.
    #[serde_as(as = "Option<Num>")]
    pub status_code: Option<u32>,
}

/// `CheckStatusInfo.Tcp`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpCheckStatus {
    /// Whether the connection succeeded.
    pub succeeded: Option<bool>,
}

/// `CheckStatusInfo`: the latest result of a `CheckInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckStatusInfo {
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type")]
    pub kind: Option<crate::task::CheckType>,
    /// Command result.
    pub command: Option<CommandCheckStatus>,
    /// HTTP result.
    pub http: Option<HttpCheckStatus>,
    /// TCP result.
    pub tcp: Option<TcpCheckStatus>,
}

/// `TaskResourceLimitation`: the resources whose limit was exceeded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskResourceLimitation {
    /// Resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `TaskStatus`: a task's state as reported by an executor, agent or the master.
///
/// Only updates with a `uuid` (from an agent or executor) are acknowledged.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// Human-readable message.
    pub message: Option<String>,
    /// Who generated the update.
    pub source: Option<Source>,
    /// Why.
    pub reason: Option<Reason>,
    /// Opaque data from the executor.
    #[serde_as(as = "Option<Base64>")]
    pub data: Option<Vec<u8>>,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// The executor.
    pub executor_id: Option<ExecutorId>,
    /// Seconds since the epoch.
    #[serde_as(as = "Option<Num>")]
    pub timestamp: Option<f64>,
    /// 16 raw bytes identifying the update, to acknowledge it.
    #[serde_as(as = "Option<Base64>")]
    pub uuid: Option<Vec<u8>>,
    /// Health check result.
    pub healthy: Option<bool>,
    /// Check result.
    pub check_status: Option<CheckStatusInfo>,
    /// Labels.
    pub labels: Option<Labels>,
    /// Container status.
    pub container_status: Option<ContainerStatus>,
    /// When the agent became unreachable.
    pub unreachable_time: Option<TimeInfo>,
    /// Exceeded limits.
    pub limitation: Option<TaskResourceLimitation>,
}

impl TaskStatus {
    /// A status with only the task id and state set.
    pub fn new(task_id: TaskId, state: TaskState) -> Self {
        Self {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }
}

/// `OperationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum OperationState {
    OperationUnsupported,
    OperationPending,
    OperationFinished,
    OperationFailed,
    OperationError,
    OperationDropped,
    OperationUnreachable,
    OperationGoneByOperator,
    OperationRecovering,
    OperationUnknown,
}

/// `OperationStatus`: feedback for an offer operation that had an `id`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationStatus {
    /// The operation.
    pub operation_id: Option<OperationId>,
    /// Its state.
    pub state: OperationState,
    /// Message.
    pub message: Option<String>,
    /// Resources after the operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_resources: Vec<Resource>,
    /// Update id to acknowledge (a `UUID` message, unlike `TaskStatus.uuid`).
    pub uuid: Option<Uuid>,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// The resource provider.
    pub resource_provider_id: Option<ResourceProviderId>,
}
