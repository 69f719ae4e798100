//! The durable state of one service: what each pod instance should be (intent: the
//! target config) beside what Mesos last said about it (observed: task states). "Needs
//! work" is computed from the two, never stored as a flag.

use crate::model::{InstanceId, Placement};
use crate::spec::{PodSpec, ServiceSpec};
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
    /// Whether the task is ready: RUNNING, its readiness check (if any) passed and its
    /// scheduler probe (if any) passed.
    pub ready: bool,
    /// Whether the readiness check Mesos runs passed (or there is none).
    #[serde(default)]
    pub check_passed: bool,
    /// Whether the framework's scheduler probe passed (or there is none).
    #[serde(default)]
    pub probe_passed: bool,
    /// The target config the task was launched from.
    pub config_id: String,
    /// Where it runs.
    pub agent_id: AgentId,
}

impl TaskRecord {
    /// A task just launched from config `config_id` on `agent_id` (STAGING, not ready).
    pub fn launched(task_id: TaskId, config_id: &str, agent_id: &AgentId) -> Self {
        Self {
            task_id,
            state: TaskState::TaskStaging,
            ready: false,
            check_passed: false,
            probe_passed: false,
            config_id: config_id.to_owned(),
            agent_id: agent_id.clone(),
        }
    }

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
    /// The launch number whose executor runs the instance's tasks now (operator plan tasks
    /// join that executor while it lives).
    #[serde(default)]
    pub executor_launch: Option<u32>,
    /// When a gang pod's instance was reserved without a launch (until an offer shows the
    /// reservation: a reservation never seen is dropped and made again).
    #[serde(default)]
    pub reserved_at: Option<Timestamp>,
    /// An operator let the instance go without draining it (`force` on the
    /// `decommission` plan's step).
    #[serde(default)]
    pub drain_forced: bool,
    /// Whether the instance ever ran as its pod type wants (ready): a later config change
    /// then rolls through it by the pod type's `update_strategy`, not its deploy `strategy`.
    #[serde(default)]
    pub deployed: bool,
    /// The agent address of the placement this instance had before its latest replace
    /// (templates see it as `replaced_host`: e.g. Cassandra's replace-address).
    #[serde(default)]
    pub replaced_host: Option<String>,
    /// The ports of that placement (templates see them as `replaced_ports`; empty for an
    /// instance never replaced): e.g. Cassandra finds the node it replaces by address and
    /// storage port.
    #[serde(default)]
    pub replaced_ports: BTreeMap<String, u16>,
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
    /// Operator plans started (the latest run of each), by plan name.
    #[serde(default)]
    pub runs: BTreeMap<String, PlanRun>,
}

/// One run of an operator plan: its parameters and how far each step got. Whether a
/// step's tasks are running or finished is read from the instance's task records, which
/// carry the step's [`PlanRun::tag`] as their config id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanRun {
    /// Which run of the plan this is (1, 2, ...): tags of earlier runs' tasks differ.
    pub run: u32,
    /// The operator's parameters (exported to the tasks' env).
    pub params: BTreeMap<String, String>,
    /// When it was started.
    pub started_at: Timestamp,
    /// Stopped by the operator: nothing more is launched.
    #[serde(default)]
    pub stopped: bool,
    /// When every step was complete: the run is over, and instances added or replaced
    /// later get no step of it.
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Steps that were acted on, by `<phase>/<instance>`.
    #[serde(default)]
    pub steps: BTreeMap<String, StepRun>,
}

/// What happened to one step of an operator plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// Restarts by the operator (part of the tag: a restarted step runs afresh).
    #[serde(default)]
    pub attempt: u32,
    /// Failed launches of the current attempt.
    #[serde(default)]
    pub failures: u32,
    /// Not relaunched before this time (backoff after a failure).
    #[serde(default)]
    pub retry_after: Option<Timestamp>,
    /// Force-completed by the operator.
    #[serde(default)]
    pub forced: bool,
    /// Its tasks finished (recorded, since the task records go when the instance is
    /// replaced: the step stays complete and is not run again).
    #[serde(default)]
    pub completed: bool,
    /// Why the step gave up (it then waits for `restart` or `force`).
    #[serde(default)]
    pub error: Option<String>,
}

impl PlanRun {
    /// The config id the tasks of a step carry: `plan:<plan>:<run>:<phase>:<attempt>`.
    pub fn tag(&self, plan: &str, phase: &str, step: Option<&StepRun>) -> String {
        step_tag(plan, self.run, phase, step.map_or(0, |s| s.attempt))
    }

    /// The key of a step in [`PlanRun::steps`].
    pub fn step_key(phase: &str, instance: &InstanceId) -> String {
        format!("{phase}/{instance}")
    }
}

/// The config id of an operator plan step's tasks (see [`PlanRun::tag`]).
pub fn step_tag(plan: &str, run: u32, phase: &str, attempt: u32) -> String {
    format!("plan:{plan}:{run}:{phase}:{attempt}")
}

/// The plan, phase and step a task's config id tags it with, if it is an operator plan's.
pub fn parse_tag(config_id: &str) -> Option<(&str, u32, &str)> {
    let rest = config_id.strip_prefix("plan:")?;
    let mut parts = rest.split(':');
    let plan = parts.next()?;
    let run = parts.next()?.parse().ok()?;
    let phase = parts.next()?;
    Some((plan, run, phase))
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
            executor_launch: None,
            reserved_at: None,
            drain_forced: false,
            deployed: false,
            replaced_host: None,
            replaced_ports: BTreeMap::new(),
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
    /// Jobs submitted at run time, by id (queued, running and the recent ended ones).
    #[serde(default)]
    pub jobs: BTreeMap<String, super::jobs::Job>,
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
            jobs: BTreeMap::new(),
        }
    }

    /// Makes `target` the configuration to run (a changed spec): instances of pod types
    /// the new spec has are kept (placements, tasks) and new ones added; those it leaves
    /// out are decommissioned (returned). An instance whose pod type is unchanged keeps
    /// running: its up-to-date tasks are relabelled with the new config id, so an update
    /// restarts only the instances whose configuration changed.
    pub fn retarget(&mut self, target: TargetConfig) -> Vec<InstanceId> {
        let old = std::mem::replace(&mut self.target, target);
        let fresh = Self::new(self.target.clone());
        for (id, instance) in fresh.instances {
            self.instances.entry(id).or_insert(instance);
        }
        let mut decommissioned = Vec::new();
        for (id, instance) in &mut self.instances {
            let (Some(before), Some(after)) = (old.spec.pod(&id.pod), self.target.spec.pod(&id.pod)) else {
                if instance.retiring.is_none() {
                    instance.retiring = Some(Retire::Decommission);
                    decommissioned.push(id.clone());
                }
                continue;
            };
            if id.index >= after.count {
                if instance.retiring.is_none() {
                    instance.retiring = Some(Retire::Decommission);
                    decommissioned.push(id.clone());
                }
                continue;
            }
            let same = PodSpec { count: 0, ..before.clone() } == PodSpec { count: 0, ..after.clone() }
                && same_service_settings(&old.spec, &self.target.spec)
                && before.tasks.iter().all(|t| {
                    old.spec.is_plan_task(&before.name, &t.name)
                        == self.target.spec.is_plan_task(&after.name, &t.name)
                });
            if same {
                for task in instance.tasks.values_mut().filter(|t| t.config_id == old.id) {
                    task.config_id.clone_from(&self.target.id);
                }
            }
        }
        decommissioned
    }

    /// The instance running Mesos task `task_id`, and that task's name in it.
    pub fn find_task(&self, task_id: &TaskId) -> Option<(&InstanceId, &String)> {
        self.instances.values().find_map(|i| i.task_by_id(task_id).map(|(name, _)| (&i.id, name)))
    }
}

/// Whether two specs agree on everything outside their pod types that goes into a launch
/// (user, recovery settings...): pods are compared one by one, plans do not matter.
fn same_service_settings(a: &ServiceSpec, b: &ServiceSpec) -> bool {
    ServiceSpec { pods: Vec::new(), plans: Vec::new(), queues: Vec::new(), ..a.clone() }
        == ServiceSpec { pods: Vec::new(), plans: Vec::new(), queues: Vec::new(), ..b.clone() }
}
