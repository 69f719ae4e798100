//! What the master knows: frameworks, agents, offers, tasks and executors. Plain data;
//! the logic that changes it lives in the sibling modules.

use crate::agent::Agent;
use bytes::Bytes;
use herd_mesos_api::recordio;
use herd_mesos_api::scheduler::Event;
use herd_mesos_api::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkCapabilityType, FrameworkId, FrameworkInfo,
    OfferId, Resources, TaskId, TaskInfo, TaskState, TaskStatus, TimeInfo,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// At most this many completed tasks are remembered per framework (Mesos: 1000).
pub(crate) const MAX_COMPLETED_TASKS: usize = 1000;
/// At most this many removed frameworks are remembered (Mesos: 50).
pub(crate) const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// An open subscription stream.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) stream_id: String,
    pub(crate) tx: mpsc::UnboundedSender<Bytes>,
}

impl Subscription {
    /// Writes one event as a RecordIO record of compact JSON.
    pub(crate) fn send(&self, event: &Event) {
        let _ = self.tx.send(recordio::encode_to_bytes(&event.to_json()));
    }
}

/// A framework the master knows.
#[derive(Debug)]
pub(crate) struct Framework {
    pub(crate) id: FrameworkId,
    pub(crate) info: FrameworkInfo,
    pub(crate) suppressed: BTreeSet<String>,
    pub(crate) subscription: Option<Subscription>,
    /// Set while disconnected: the framework is removed at this time.
    pub(crate) failover_deadline: Option<Instant>,
    pub(crate) tasks: BTreeMap<TaskId, Task>,
    pub(crate) completed: VecDeque<Task>,
    /// Tasks on agents that became unreachable.
    pub(crate) unreachable: BTreeMap<TaskId, Task>,
    pub(crate) executors: BTreeMap<(AgentId, ExecutorId), Executor>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) registered_time: f64,
    /// When the framework last re-subscribed.
    pub(crate) reregistered_time: Option<f64>,
}

impl Framework {
    pub(crate) fn capable(&self, c: FrameworkCapabilityType) -> bool {
        self.info.has_capability(c)
    }

    pub(crate) fn partition_aware(&self) -> bool {
        self.capable(FrameworkCapabilityType::PartitionAware)
    }

    /// The roles the framework subscribed with.
    pub(crate) fn roles(&self) -> Vec<String> {
        if self.capable(FrameworkCapabilityType::MultiRole) {
            self.info.roles.clone()
        } else {
            vec![self.info.role.clone().unwrap_or_else(|| "*".to_owned())]
        }
    }

    pub(crate) fn connected(&self) -> bool {
        self.subscription.is_some()
    }

    /// Sends an event if the framework is connected (dropped otherwise, as Mesos does).
    pub(crate) fn send(&self, event: &Event) {
        if let Some(s) = &self.subscription {
            s.send(event);
        }
    }

    /// States only partition-aware frameworks understand become TASK_LOST for the others.
    pub(crate) fn adapt_state(&self, state: TaskState) -> TaskState {
        use TaskState::*;
        match state {
            TaskDropped | TaskUnreachable | TaskGone | TaskGoneByOperator | TaskUnknown
                if !self.partition_aware() =>
            {
                TaskLost
            }
            other => other,
        }
    }

    pub(crate) fn remember_completed(&mut self, task: Task) {
        self.completed.push_back(task);
        while self.completed.len() > MAX_COMPLETED_TASKS {
            self.completed.pop_front();
        }
    }
}

/// A task as the master tracks it.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) info: TaskInfo,
    pub(crate) framework_id: FrameworkId,
    pub(crate) agent_id: AgentId,
    pub(crate) executor_id: Option<ExecutorId>,
    pub(crate) role: String,
    /// Latest state the master learned.
    pub(crate) state: TaskState,
    /// State of the latest update forwarded to the scheduler.
    pub(crate) status_update_state: Option<TaskState>,
    /// Latest status from the agent.
    pub(crate) latest: Option<TaskStatus>,
    /// Resources the task holds until it is terminal.
    pub(crate) resources: Resources,
    pub(crate) unreachable_time: Option<TimeInfo>,
    /// Statuses received, for the state endpoints.
    pub(crate) statuses: Vec<TaskStatus>,
}

/// An executor (custom or default) the master tracks, for its resources.
#[derive(Debug, Clone)]
pub(crate) struct Executor {
    pub(crate) info: ExecutorInfo,
    pub(crate) resources: Resources,
    pub(crate) role: String,
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub(crate) struct OfferRec {
    pub(crate) id: OfferId,
    pub(crate) framework_id: FrameworkId,
    pub(crate) agent_id: AgentId,
    pub(crate) role: String,
    /// Offered resources, in the master's internal form (refined, no allocation info).
    pub(crate) resources: Resources,
    pub(crate) created: Instant,
}

/// A DECLINE (or ACCEPT remainder) filter.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(crate) agent_id: AgentId,
    pub(crate) role: String,
    pub(crate) resources: Resources,
    pub(crate) until: Instant,
}

/// An agent as the master tracks it.
#[derive(Debug)]
pub(crate) struct AgentRec {
    pub(crate) info: AgentInfo,
    pub(crate) handle: Arc<Agent>,
    /// Everything the agent has, with reservations and volumes (internal form).
    pub(crate) total: Resources,
    /// Held by tasks and executors.
    pub(crate) used: Resources,
    /// In outstanding offers.
    pub(crate) offered: Resources,
    pub(crate) reachable: bool,
    /// The agent stopped talking at this time; it becomes unreachable after the timeout.
    pub(crate) silent_since: Option<Instant>,
    pub(crate) registered_time: f64,
}

impl AgentRec {
    /// What can still be offered.
    pub(crate) fn available(&self) -> Resources {
        self.total.saturating_sub(&self.used).saturating_sub(&self.offered)
    }
}

/// Everything, under one lock.
#[derive(Debug, Default)]
pub(crate) struct MasterState {
    pub(crate) frameworks: BTreeMap<FrameworkId, Framework>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) agents: BTreeMap<AgentId, AgentRec>,
    pub(crate) offers: BTreeMap<OfferId, OfferRec>,
    pub(crate) next_framework: u64,
    pub(crate) next_offer: u64,
}

impl MasterState {
    /// Whether `id` was removed (torn down or failed over past its timeout).
    pub(crate) fn is_completed(&self, id: &FrameworkId) -> bool {
        self.completed_frameworks.iter().any(|f| &f.id == id)
    }
}
