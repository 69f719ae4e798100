//! The durable state of one service: what each pod instance should be (intent: the
//! target config) beside what Mesos last said about it (observed: task states). "Needs
//! work" is computed from the two, never stored as a flag.

use crate::model::{InstanceId, Placement};
use crate::spec::ServiceSpec;
use herd_mesos_api::{AgentId, FrameworkId, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds since the Unix epoch (the core never reads a clock: callers pass `now`).
pub type Timestamp = f64;

/// The service's configuration the instances should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetConfig {
    /// Identifies this configuration; every launched task carries it.
    pub id: String,
    /// The spec.
    pub spec: ServiceSpec,
}

/// One launched task of an instance, as last observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The Mesos task id.
    pub task_id: TaskId,
    /// Last state Mesos reported (TASK_STAGING until the first update).
    pub state: TaskState,
    /// Whether the readiness check passed (true at RUNNING when the task has none).
    pub ready: bool,
    /// The target config the task was launched from.
    pub config_id: String,
    /// Where it runs.
    pub agent_id: AgentId,
}

impl TaskRecord {
    /// Whether the task is alive (launched and not terminal). A task on an unreachable
    /// agent is not: it holds its resources there, so it cannot be relaunched in place,
    /// but it may be replaced elsewhere; if it comes back, it is known by its id again.
    pub fn active(&self) -> bool {
        !self.state.is_terminal() && self.state != TaskState::TaskUnreachable
    }
}

/// A pod instance: placement (intent, durable) and tasks (observed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Its id.
    pub id: InstanceId,
    /// Where it lives once reserved.
    pub placement: Option<Placement>,
    /// Task name → the latest launch of that task.
    pub tasks: BTreeMap<String, TaskRecord>,
    /// ONCE tasks that finished (never run again for this instance).
    pub once_done: Vec<String>,
    /// Launches so far (task ids are unique through it).
    pub launches: u32,
    /// Placements so far (reservation ids are unique through it).
    pub incarnation: u32,
    /// Failed launches in a row (backoff), reset when the instance is healthy again.
    pub failures: u32,
    /// Not relaunched before this time (backoff after failures).
    pub relaunch_after: Option<Timestamp>,
    /// Since when its agent is unreachable (durable: the replace timer survives restarts).
    #[serde(default)]
    pub lost_since: Option<Timestamp>,
    /// Being taken out of service.
    #[serde(default)]
    pub retiring: Option<Retire>,
    /// Whether an executor ever reported on the current placement (its RESERVE, CREATE
    /// and LAUNCH went through). An unconfirmed placement whose tasks end is dropped: the
    /// ACCEPT may never have reached Mesos (crash, stale offer), so the instance starts over
    /// and whatever was reserved is released.
    #[serde(default)]
    pub placement_confirmed: bool,
}

/// Why an instance is being taken out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retire {
    /// Replaced: relaunched elsewhere on new reservations once its tasks are gone.
    Replace,
    /// Decommissioned (scale in, uninstall): removed once its tasks are gone.
    Decommission,
}

/// Operator decisions that must survive a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorState {
    /// Paused plans (`deploy`).
    #[serde(default)]
    pub paused: Vec<String>,
    /// Canary phases the operator let go on.
    #[serde(default)]
    pub canaries_resumed: Vec<String>,
    /// The service is being uninstalled.
    #[serde(default)]
    pub uninstalling: bool,
    /// Steps an operator force-completed, as `<instance>@<config id>` (they count as done
    /// until the target config changes).
    #[serde(default)]
    pub forced: Vec<String>,
}

impl OperatorState {
    /// The `forced` entry of an instance under a config.
    pub fn forced_key(instance: &InstanceId, config_id: &str) -> String {
        format!("{instance}@{config_id}")
    }
}

impl Instance {
    /// A new instance, not placed.
    pub fn new(id: InstanceId) -> Self {
        Self {
            id,
            placement: None,
            tasks: BTreeMap::new(),
            once_done: Vec::new(),
            launches: 0,
            incarnation: 0,
            failures: 0,
            relaunch_after: None,
            lost_since: None,
            retiring: None,
            placement_confirmed: false,
        }
    }

    /// Whether any of its tasks is alive.
    pub fn active(&self) -> bool {
        self.tasks.values().any(TaskRecord::active)
    }

    /// The instance's task with this Mesos id.
    pub fn task_by_id(&self, task_id: &TaskId) -> Option<(&String, &TaskRecord)> {
        self.tasks.iter().find(|(_, t)| &t.task_id == task_id)
    }
}

/// Everything the scheduler persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The framework id, once Mesos gave one.
    pub framework_id: Option<FrameworkId>,
    /// The configuration to run.
    pub target: TargetConfig,
    /// Every instance of every pod type (index order).
    pub instances: BTreeMap<InstanceId, Instance>,
    /// Reservations and volumes to release when their agent offers them again
    /// (replaced or decommissioned instances).
    #[serde(default)]
    pub cleanup: Vec<Placement>,
    /// Operator decisions.
    #[serde(default)]
    pub operator: OperatorState,
}

impl ServiceState {
    /// A fresh state for `target`: instances for every pod type's count.
    pub fn new(target: TargetConfig) -> Self {
        let mut instances = BTreeMap::new();
        for pod in &target.spec.pods {
            for index in 0..pod.count {
                let id = InstanceId::new(pod.name.clone(), index);
                instances.insert(id.clone(), Instance::new(id));
            }
        }
        Self {
            framework_id: None,
            target,
            instances,
            cleanup: Vec::new(),
            operator: OperatorState::default(),
        }
    }

    /// The instance running Mesos task `task_id`, and that task's name in it.
    pub fn find_task(&self, task_id: &TaskId) -> Option<(&InstanceId, &String)> {
        self.instances.values().find_map(|i| i.task_by_id(task_id).map(|(name, _)| (&i.id, name)))
    }
}
