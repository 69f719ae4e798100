//! The sans-IO scheduler of one service: `step(input, now) → actions`.
//!
//! It keeps a [`ServiceState`] (durable: the runtime persists what [`Action::Persist`]
//! names *before* carrying out the actions that follow it) and answers Mesos events and
//! timer ticks with actions: accept offers with RESERVE / CREATE / LAUNCH_GROUP, decline,
//! kill, acknowledge (always after the effect of the update is persisted), reconcile,
//! revive and suppress.
//!
//! Work comes from the plans: an instance is launched when its deploy step may run
//! ([`plan::workable`]); an instance that was running and lost its tasks is relaunched in
//! place, on its own reservations (recovery), after a capped backoff.

pub mod drain;
pub mod jobs;
pub mod launch;
pub mod operator_plans;
pub mod plan;
pub mod state;

use crate::model::{InstanceId, Placement};
use crate::offer::{self, Rejection, Request};
use crate::placement::{self, AgentView, Constraint, PlacementIndex};
use crate::spec::Goal;
use crate::template::{InstanceAddress, Renderer};
use herd_mesos_api::{AgentId, FrameworkId, Offer, OfferId, Operation, TaskId, TaskState, TaskStatus};
use launch::LaunchInput;
use state::{ServiceState, TaskRecord, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Refuse time for declined offers while work is pending (short: resources may fit soon).
pub const SHORT_REFUSE_SECS: f64 = 5.0;
/// Refuse time for declined offers when nothing is pending.
pub const LONG_REFUSE_SECS: f64 = 120.0;

/// The least time between two REVIVEs sent because new work appeared (a REVIVE makes the
/// master re-offer every agent: not one per status update of a busy service).
pub const MIN_REVIVE_INTERVAL_SECS: f64 = 1.0;

/// Longest backoff before relaunching a failing instance.
pub const MAX_BACKOFF_SECS: f64 = 60.0;
/// A reservation made without a launch that offers from its agent have not shown for this
/// long is taken as never made.
pub const RESERVATION_CONFIRM_SECS: f64 = 15.0;
/// Offer outcomes kept for the operator API.
pub const OUTCOMES_KEPT: usize = 100;

/// What happened.
// Inputs and actions are built once and consumed at once; boxing the status updates they
// carry would cost an allocation per update for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Subscribed (first time or again): reconcile, and offers from before are void.
    Subscribed {
        /// The framework id Mesos confirmed.
        framework_id: FrameworkId,
    },
    /// The subscription broke: outstanding offers are void.
    Disconnected,
    /// New offers.
    Offers(Vec<Offer>),
    /// An offer was rescinded.
    Rescind(OfferId),
    /// A task status update.
    Update(TaskStatus),
    /// Time passed (the runtime ticks every second or so).
    Tick,
    /// A scheduler probe of a task passed (see [`Scheduler::probes_due`]).
    ProbePassed(TaskId),
}

/// A task whose readiness waits on a scheduler probe the framework runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    /// The probe's name (`readiness_check.probe`).
    pub probe: String,
    /// The task.
    pub task_id: TaskId,
    /// Its instance.
    pub instance: InstanceId,
    /// Where the instance runs.
    pub host: String,
    /// Its ports by name.
    pub ports: BTreeMap<String, u16>,
    /// Every instance of its pod type, itself included, as templates see them (where each
    /// is placed, whether it is being scaled in): what a probe of a cluster's membership
    /// expects to find.
    pub instances: Vec<InstanceAddress>,
}

/// What to do, in order.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Persist these instances (and, with `service`, the framework id, cleanup list and
    /// operator state) now, before the actions after this one.
    Persist {
        /// Changed (or removed) instances.
        instances: Vec<InstanceId>,
        /// Whether the service-wide state changed.
        service: bool,
    },
    /// ACCEPT offers with operations.
    Accept {
        /// The offers (one agent).
        offer_ids: Vec<OfferId>,
        /// RESERVE, CREATE, LAUNCH_GROUP...
        operations: Vec<Operation>,
    },
    /// DECLINE offers.
    Decline {
        /// The offers.
        offer_ids: Vec<OfferId>,
        /// Seconds before they come back.
        refuse_secs: f64,
    },
    /// KILL a task.
    Kill {
        /// The task.
        task_id: TaskId,
        /// Its agent.
        agent_id: Option<AgentId>,
    },
    /// ACKNOWLEDGE an update (its effect is persisted).
    Acknowledge(TaskStatus),
    /// RECONCILE these tasks (explicit).
    Reconcile(Vec<(TaskId, Option<AgentId>)>),
    /// REVIVE offers.
    Revive,
    /// SUPPRESS offers.
    Suppress,
    /// TEARDOWN the framework: the uninstall is complete.
    Teardown,
    /// Persist these jobs now (a job absent from the state is deleted), before the
    /// actions after this one.
    PersistJobs(Vec<String>),
}

/// An operator command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Hold a plan (no new steps start).
    Pause(String),
    /// Let a paused plan (and waiting canaries) go on.
    Resume(String),
    /// Mark a step of a plan complete without doing its work.
    ForceStep {
        /// The plan.
        plan: String,
        /// The step (instance name).
        step: String,
    },
    /// Do a step again: its instance is restarted in place (a forced step is un-forced).
    RestartStep {
        /// The plan.
        plan: String,
        /// The step (instance name).
        step: String,
    },
    /// Restart a pod instance in place (same reservations and volumes).
    RestartPod(String),
    /// Replace a pod instance: new reservations elsewhere, the old ones released.
    ReplacePod(String),
    /// Kill everything, release every reservation and volume, then tear down.
    Uninstall,
    /// Start (or start again) an operator plan with parameters.
    Start {
        /// The plan.
        plan: String,
        /// Its parameters (every one the plan declares, no others).
        params: BTreeMap<String, String>,
    },
    /// Stop an operator plan: its running tasks are killed, nothing more starts.
    Stop(String),
    /// Queue a job (see [`jobs`]).
    SubmitJob {
        /// Its id: new, chosen by the framework.
        id: String,
        /// What it runs.
        spec: Box<jobs::JobSpec>,
    },
    /// Kill a job.
    KillJob(String),
}

/// Why an operator command cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such plan or pod.
    #[error("no {what}; known: {known}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// What exists.
        known: String,
    },
    /// Not now.
    #[error("{0}")]
    Conflict(String),
    /// The command itself is wrong (missing or unknown parameters, ambiguous step).
    #[error("{0}")]
    Invalid(String),
}

/// What became of an offer, for the operator API.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferOutcome {
    /// When.
    pub time: Timestamp,
    /// The offer.
    pub offer_id: OfferId,
    /// The agent's hostname.
    pub hostname: String,
    /// The instance it was evaluated for, if any.
    pub instance: Option<InstanceId>,
    /// `None` = accepted; otherwise why not.
    pub rejection: Option<String>,
}

/// The scheduler of one service.
#[derive(Debug)]
pub struct Scheduler {
    state: ServiceState,
    renderer: Renderer,
    constraints: BTreeMap<String, Vec<Constraint>>,
    /// Kills sent and not yet answered (not re-sent every tick).
    killing: BTreeSet<TaskId>,
    suppressed: bool,
    /// What could launch from offers at the last check (instances, plan steps, drains,
    /// jobs), by key: something new there revives (see `offer_demand`).
    launchable_seen: BTreeSet<String>,
    /// New work appeared and no REVIVE has gone out for it yet (throttled).
    revive_due: bool,
    /// When the last REVIVE went out.
    last_revive: Option<Timestamp>,
    torn_down: bool,
    outcomes: VecDeque<OfferOutcome>,
    orphans: VecDeque<OrphanRelease>,
    /// The most each agent offered of unreserved CPUs and memory (jobs that fit none are
    /// refused).
    capacity: BTreeMap<AgentId, (f64, f64)>,
    /// Where agents reach the operator API (job URIs that are paths resolve against it).
    api_base: Option<String>,
    /// Gang instances reserved by the offers being handled (cleared per batch): launched in
    /// the same ACCEPT once the batch has placed the whole gang.
    gang_reserved: Vec<(InstanceId, OfferId, offer::Assignment)>,
}

/// A release of reserved resources the state does not know (shown by `GET /v1/orphans`).
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanRelease {
    /// When.
    pub time: Timestamp,
    /// The agent.
    pub hostname: String,
    /// The `resource_id` label of the released reservation.
    pub reservation_id: String,
    /// What was released, in Mesos' text form.
    pub resources: String,
}

/// A spec whose constraints do not parse (validation should have caught it).
#[derive(Debug, thiserror::Error)]
#[error("pod {pod}: {source}")]
pub struct SchedulerError {
    pod: String,
    #[source]
    source: placement::ConstraintError,
}

impl Scheduler {
    /// A scheduler over `state` (fresh, or loaded from the store).
    pub fn new(state: ServiceState) -> Result<Self, SchedulerError> {
        let mut constraints = BTreeMap::new();
        for pod in &state.target.spec.pods {
            let parsed = placement::parse_all(&pod.placement)
                .map_err(|source| SchedulerError { pod: pod.name.clone(), source })?;
            constraints.insert(pod.name.clone(), parsed);
        }
        Ok(Self {
            state,
            renderer: Renderer::new(),
            constraints,
            killing: BTreeSet::new(),
            suppressed: false,
            launchable_seen: BTreeSet::new(),
            revive_due: false,
            last_revive: None,
            torn_down: false,
            outcomes: VecDeque::new(),
            orphans: VecDeque::new(),
            gang_reserved: Vec::new(),
            capacity: BTreeMap::new(),
            api_base: None,
        })
    }

    /// The state (to persist, or to show).
    pub fn state(&self) -> &ServiceState {
        &self.state
    }

    /// Recent offer outcomes, newest last.
    pub fn outcomes(&self) -> impl Iterator<Item = &OfferOutcome> {
        self.outcomes.iter()
    }

    /// The deploy plan.
    pub fn deploy_plan(&self) -> plan::Plan {
        plan::deploy_plan(&self.state)
    }

    /// Handles one input.
    pub fn step(&mut self, input: Input, now: Timestamp) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Subscribed { framework_id } => {
                let changed = self.state.framework_id.as_ref() != Some(&framework_id);
                self.state.framework_id = Some(framework_id);
                if changed {
                    actions.push(Action::Persist { instances: Vec::new(), service: true });
                }
                self.killing.clear();
                self.suppressed = false;
                let tasks: Vec<(TaskId, Option<AgentId>)> = self
                    .state
                    .instances
                    .values()
                    .flat_map(|i| i.tasks.values())
                    .filter(|t| t.active())
                    .map(|t| (t.task_id.clone(), Some(t.agent_id.clone())))
                    .chain(self.job_tasks())
                    .collect();
                actions.push(Action::Reconcile(tasks));
                actions.push(Action::Revive);
            }
            Input::Disconnected | Input::Rescind(_) => {}
            Input::Update(status) => self.update(status, now, &mut actions),
            Input::Offers(offers) => self.offers(offers, now, &mut actions),
            Input::Tick => {}
            Input::ProbePassed(task_id) => self.probe_passed(&task_id, &mut actions),
        }
        self.lost_timers(now, &mut actions);
        self.retire(&mut actions);
        self.plan_kills(&mut actions);
        self.offer_demand(now, &mut actions);
        if self.state.operator.uninstalling
            && self.state.instances.is_empty()
            && self.state.cleanup.is_empty()
            && self.job_tasks().is_empty()
            && !self.torn_down
        {
            self.torn_down = true;
            actions.push(Action::Teardown);
        }
        actions
    }

    /// Tasks that are RUNNING, wait on a scheduler probe and have not passed it yet.
    pub fn probes_due(&self) -> Vec<ProbeRequest> {
        let mut out = Vec::new();
        for instance in self.state.instances.values() {
            let (Some(pod), Some(placement)) =
                (self.state.target.spec.pod(&instance.id.pod), &instance.placement)
            else {
                continue;
            };
            for (name, record) in &instance.tasks {
                let probe =
                    pod.task(name).and_then(|t| t.readiness_check.as_ref()).and_then(|c| c.probe.clone());
                if let Some(probe) = probe
                    && record.state == TaskState::TaskRunning
                    && !record.probe_passed
                {
                    out.push(ProbeRequest {
                        probe,
                        task_id: record.task_id.clone(),
                        instance: instance.id.clone(),
                        host: placement.hostname.clone(),
                        ports: placement.ports.clone(),
                        instances: self
                            .addresses((&instance.id, Some(placement)))
                            .remove(&instance.id.pod)
                            .unwrap_or_default(),
                    });
                }
            }
        }
        out
    }

    fn probe_passed(&mut self, task_id: &TaskId, actions: &mut Vec<Action>) {
        let Some((id, name)) = self.state.find_task(task_id).map(|(i, n)| (i.clone(), n.clone())) else {
            return;
        };
        let Some(record) = self.state.instances.get_mut(&id).and_then(|i| i.tasks.get_mut(&name)) else {
            return;
        };
        if record.probe_passed || record.state != TaskState::TaskRunning {
            return;
        }
        record.probe_passed = true;
        record.ready = record.check_passed;
        if let Some(pod) = self.state.target.spec.pod(&id.pod)
            && plan::runs_as_wanted(&self.state, pod, &self.state.instances[&id])
        {
            self.state.instances.get_mut(&id).expect("instance present").deployed = true;
        }
        actions.push(Action::Persist { instances: vec![id], service: false });
    }

    /// Instances whose agent has been unreachable longer than the recovery timeout are
    /// replaced (permanent failure).
    fn lost_timers(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let after = self.state.target.spec.recovery.permanent_failure_after_secs;
        let mut changed = Vec::new();
        for instance in self.state.instances.values_mut() {
            if instance.retiring.is_none() && instance.lost_since.is_some_and(|t| now - t >= after) {
                instance.retiring = Some(state::Retire::Replace);
                changed.push(instance.id.clone());
            }
        }
        if !changed.is_empty() {
            actions.push(Action::Persist { instances: changed, service: false });
        }
    }

    /// Retiring instances whose tasks are gone: their reservations go to the cleanup list;
    /// a replaced instance starts over unplaced (new reservations elsewhere), a
    /// decommissioned one is removed.
    fn retire(&mut self, actions: &mut Vec<Action>) {
        let done: Vec<InstanceId> = self
            .state
            .instances
            .values()
            .filter(|i| i.retiring.is_some() && !i.active() && !drain::draining(&self.state, i))
            .map(|i| i.id.clone())
            .collect();
        if done.is_empty() {
            return;
        }
        for id in &done {
            let Some(instance) = self.state.instances.get_mut(id) else { continue };
            let replaced = instance.retiring == Some(state::Retire::Replace);
            if let Some(placement) = instance.placement.take() {
                if replaced {
                    instance.replaced_host = Some(placement.hostname.clone());
                    instance.replaced_ports = placement.ports.clone();
                }
                self.state.cleanup.push(placement);
            }
            match instance.retiring.take() {
                Some(state::Retire::Decommission) => {
                    self.state.instances.remove(id);
                }
                _ => {
                    instance.tasks.clear();
                    instance.lost_since = None;
                    instance.failures = 0;
                    instance.relaunch_after = None;
                }
            }
        }
        actions.push(Action::Persist { instances: done, service: true });
    }

    /// Records an update, persists its effect, then acknowledges it.
    fn update(&mut self, status: TaskStatus, now: Timestamp, actions: &mut Vec<Action>) {
        if let Some(job_actions) = self.job_update(&status, now) {
            actions.extend(job_actions);
            return;
        }
        let Some((instance_id, task_name)) =
            self.state.find_task(&status.task_id).map(|(i, n)| (i.clone(), n.clone()))
        else {
            // Not ours (any more): make sure it does not run, then acknowledge.
            if !status.state.is_terminal() {
                actions.push(Action::Kill {
                    task_id: status.task_id.clone(),
                    agent_id: status.agent_id.clone(),
                });
            }
            actions.push(Action::Acknowledge(status));
            return;
        };
        let pod_name = instance_id.pod.clone();
        let goal = self.state.target.spec.pod(&pod_name).and_then(|p| p.task(&task_name)).map(|t| {
            let check = t.readiness_check.as_ref();
            let mesos_check =
                check.is_some_and(|c| c.command.is_some() || c.http.is_some() || c.tcp.is_some());
            (t.goal, mesos_check, check.is_some_and(|c| c.probe.is_some()))
        });
        let plan_tag = self
            .state
            .instances
            .get(&instance_id)
            .and_then(|i| i.tasks.get(&task_name))
            .map(|r| r.config_id.clone())
            .filter(|c| state::parse_tag(c).is_some());
        let mut service_changed = false;
        if let Some(tag) = &plan_tag
            && status.state.is_terminal()
            && status.state != TaskState::TaskFinished
        {
            service_changed = operator_plans::step_failed(&mut self.state, tag, &instance_id, now);
        }
        let instance = self.state.instances.get_mut(&instance_id).expect("instance present");
        match status.state {
            TaskState::TaskUnreachable | TaskState::TaskLost
                if status.reason == Some(herd_mesos_api::Reason::ReasonAgentRemoved) =>
            {
                instance.lost_since.get_or_insert(now);
            }
            TaskState::TaskRunning => instance.lost_since = None,
            _ => {}
        }
        if status.source != Some(herd_mesos_api::Source::SourceMaster) {
            instance.placement_confirmed = true;
        }
        let record = instance.tasks.get_mut(&task_name).expect("task present");
        record.state = status.state;
        if status.state.is_terminal() {
            self.killing.remove(&status.task_id);
        }
        let (goal, has_check, has_probe) = goal.unwrap_or((Goal::Running, false, false));
        // An operator plan's task counts for its step only (above), not for the instance.
        let goal = if plan_tag.is_some() { None } else { Some(goal) };
        if status.state == TaskState::TaskRunning {
            // Readiness is sticky: a task once ready stays so while it runs (records from
            // before the two flags existed carry only `ready`).
            let was_ready = record.ready;
            record.check_passed = was_ready
                || !has_check
                || record.check_passed
                || status.check_status.as_ref().is_some_and(check_passed);
            record.probe_passed = was_ready || !has_probe || record.probe_passed;
            record.ready = record.check_passed && record.probe_passed;
        }
        match (goal, status.state) {
            (Some(Goal::Once), TaskState::TaskFinished) if !instance.once_done.contains(&task_name) => {
                instance.once_done.push(task_name.clone());
            }
            (Some(Goal::Running), s) if s.is_terminal() => {
                instance.failures += 1;
                let backoff =
                    (2f64.powi(i32::try_from(instance.failures).unwrap_or(30) - 1)).min(MAX_BACKOFF_SECS);
                instance.relaunch_after = Some(now + backoff);
            }
            (Some(Goal::Finish | Goal::Once), TaskState::TaskFailed | TaskState::TaskError) => {
                instance.failures += 1;
                instance.relaunch_after = Some(
                    now + (2f64.powi(i32::try_from(instance.failures).unwrap_or(30) - 1))
                        .min(MAX_BACKOFF_SECS),
                );
            }
            _ => {}
        }
        if let Some(tag) = &plan_tag
            && status.state == TaskState::TaskFinished
        {
            service_changed |= operator_plans::step_finished(&mut self.state, tag, &instance_id, now);
        }
        // An unconfirmed placement whose tasks are all gone never took effect.
        let instance = self.state.instances.get_mut(&instance_id).expect("instance present");
        if !instance.placement_confirmed && !instance.active() && instance.placement.is_some() {
            if let Some(placement) = instance.placement.take() {
                self.state.cleanup.push(placement);
            }
            instance.tasks.clear();
            instance.relaunch_after = None;
            actions.push(Action::Persist { instances: vec![instance_id], service: true });
            actions.push(Action::Acknowledge(status));
            return;
        }
        if let Some(pod) = self.state.target.spec.pod(&pod_name) {
            let instance = &self.state.instances[&instance_id];
            if plan::runs_as_wanted(&self.state, pod, instance) {
                let instance = self.state.instances.get_mut(&instance_id).expect("instance present");
                instance.failures = 0;
                instance.relaunch_after = None;
                instance.deployed = true;
            }
        }
        actions.push(Action::Persist { instances: vec![instance_id], service: service_changed });
        actions.push(Action::Acknowledge(status));
    }

    /// Instances that need a launch now, in plan order.
    fn wanting_launch(&self, now: Timestamp) -> Vec<InstanceId> {
        let workable: BTreeSet<InstanceId> = plan::workable(&self.state).into_iter().collect();
        let mut out = Vec::new();
        for pod in &self.state.target.spec.pods {
            for index in 0..pod.count {
                let id = InstanceId::new(pod.name.clone(), index);
                let Some(instance) = self.state.instances.get(&id) else { continue };
                if instance.retiring.is_some() || self.state.operator.uninstalling {
                    continue;
                }
                // An instance with an operator plan's task alive is locked by that plan.
                if instance.active() || instance.relaunch_after.is_some_and(|t| t > now) {
                    continue;
                }
                if plan::runs_as_wanted(&self.state, pod, instance) {
                    continue;
                }
                // Recovery (same config, placed before) is not gated by the plan; a first
                // launch or an update is (a force-completed step is not workable).
                let recovering = instance.placement.is_some()
                    && instance
                        .tasks
                        .values()
                        .filter(|t| state::parse_tag(&t.config_id).is_none())
                        .all(|t| t.config_id == self.state.target.id);
                if recovering || workable.contains(&id) {
                    out.push(id);
                }
            }
        }
        // Scaled-in instances that must drain need to run for it.
        out.extend(drain::relaunch(&self.state, now));
        out
    }

    /// Kills tasks running an old config, one step at a time (rolling update).
    fn plan_kills(&mut self, actions: &mut Vec<Action>) {
        // Retiring instances lose their tasks at once (once drained, if they drain).
        let retiring: Vec<(TaskId, AgentId)> = self
            .state
            .instances
            .values()
            .filter(|i| i.retiring.is_some() && !drain::draining(&self.state, i))
            .flat_map(|i| i.tasks.values())
            .filter(|t| t.active())
            .map(|t| (t.task_id.clone(), t.agent_id.clone()))
            .collect();
        for (task_id, agent_id) in retiring {
            if self.killing.insert(task_id.clone()) {
                actions.push(Action::Kill { task_id, agent_id: Some(agent_id) });
            }
        }
        let target = self.state.target.id.clone();
        for id in plan::workable(&self.state) {
            let Some(instance) = self.state.instances.get(&id) else { continue };
            if operator_plans::locked(instance) {
                // An operator plan's step runs there: the update waits for it.
                continue;
            }
            for t in instance.tasks.values() {
                if t.active() && t.config_id != target && self.killing.insert(t.task_id.clone()) {
                    actions.push(Action::Kill {
                        task_id: t.task_id.clone(),
                        agent_id: Some(t.agent_id.clone()),
                    });
                }
            }
        }
    }

    /// SUPPRESS when nothing needs offers, REVIVE when something does.
    ///
    /// Declined offers come back only after their refuse time ([`SHORT_REFUSE_SECS`] while
    /// anything is still to launch, [`LONG_REFUSE_SECS`] when only reservations wait to be
    /// released). So whenever something becomes launchable that was not (the next
    /// instance's turn in a serial deploy, a plan step, a job submitted, a backoff over),
    /// a REVIVE clears those filters: the agent it needs re-offers at once instead of after
    /// its refuse time. At most one every [`MIN_REVIVE_INTERVAL_SECS`]; one held back goes
    /// out on a later step (the runtime ticks every second).
    fn offer_demand(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let (steps, steps_waiting) = operator_plans::launchable(&self.state, now);
        let (drains, drain_waiting) = drain::launchable(&self.state, now);
        let relaunch = drain::relaunch(&self.state, now);
        let launchable: BTreeSet<String> = self
            .wanting_launch(now)
            .iter()
            .chain(&relaunch)
            .map(|id| format!("instance {id}"))
            .chain(steps.iter().chain(&drains).map(|s| format!("step {} {}", s.tag, s.instance)))
            .chain(self.jobs_to_launch(now).iter().map(|id| format!("job {id}")))
            .collect();
        if launchable.iter().any(|key| !self.launchable_seen.contains(key)) {
            self.revive_due = true;
        }
        self.launchable_seen = launchable;
        // Pending: an instance that is neither running nor done (launchable now, waiting for
        // its turn in the plan, or backing off).
        let instances_pending = self.state.target.spec.pods.iter().any(|pod| {
            (0..pod.count).any(|i| {
                self.state
                    .instances
                    .get(&InstanceId::new(pod.name.clone(), i))
                    .is_some_and(|inst| !inst.active() && !plan::runs_as_wanted(&self.state, pod, inst))
            })
        });
        let pending = instances_pending
            || !self.launchable_seen.is_empty()
            || steps_waiting
            || drain_waiting
            || self.jobs_waiting()
            || !self.state.cleanup.is_empty();
        if self.state.framework_id.is_none() {
            return;
        }
        if actions.contains(&Action::Revive) {
            // Revived already (on subscribing): that serves the new work too.
            self.revive_due = false;
            self.last_revive = Some(now);
        }
        let throttled = self.last_revive.is_some_and(|t| now - t < MIN_REVIVE_INTERVAL_SECS);
        if pending && (self.suppressed || (self.revive_due && !throttled)) {
            self.suppressed = false;
            self.revive_due = false;
            self.last_revive = Some(now);
            actions.push(Action::Revive);
        } else if !pending && !self.suppressed {
            self.suppressed = true;
            self.revive_due = false;
            actions.push(Action::Suppress);
        }
    }

    fn record_outcome(
        &mut self,
        now: Timestamp,
        offer: &Offer,
        instance: Option<&InstanceId>,
        rejection: Option<String>,
    ) {
        self.outcomes.push_back(OfferOutcome {
            time: now,
            offer_id: offer.id.clone(),
            hostname: offer.hostname.clone(),
            instance: instance.cloned(),
            rejection,
        });
        while self.outcomes.len() > OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
    }

    /// Where the other instances of `pod` are (for constraints).
    fn index_for(&self, pod: &str, except: &InstanceId) -> PlacementIndex {
        let views: Vec<AgentView<'_>> = self
            .state
            .instances
            .values()
            .filter(|i| i.id.pod == pod && &i.id != except)
            .filter_map(|i| i.placement.as_ref())
            .map(|p| AgentView { hostname: &p.hostname, attributes: &p.attributes })
            .collect();
        PlacementIndex::from_placed(&views)
    }

    /// Every instance's address, for templates.
    /// `launching` is the instance being launched, with the placement it gets (not in the
    /// state yet): it sees its own address too.
    fn addresses(
        &self,
        launching: (&InstanceId, Option<&Placement>),
    ) -> BTreeMap<String, Vec<InstanceAddress>> {
        let mut out: BTreeMap<String, Vec<InstanceAddress>> = BTreeMap::new();
        for i in self.state.instances.values() {
            let placement = if &i.id == launching.0 { launching.1 } else { i.placement.as_ref() };
            out.entry(i.id.pod.clone()).or_default().push(InstanceAddress {
                index: i.id.index,
                name: i.id.to_string(),
                host: placement.map(|p| p.hostname.clone()).unwrap_or_default(),
                ports: placement.map(|p| p.ports.clone()).unwrap_or_default(),
                placed: placement.is_some(),
                decommissioning: i.retiring == Some(state::Retire::Decommission),
            });
        }
        out
    }

    fn offers(&mut self, offers: Vec<Offer>, now: Timestamp, actions: &mut Vec<Action>) {
        let mut wanting: VecDeque<InstanceId> = self.wanting_launch(now).into();
        let (mut steps, _) = operator_plans::launchable(&self.state, now);
        steps.extend(drain::launchable(&self.state, now).0);
        let mut job_order = self.jobs_to_launch(now);
        let mut declined = Vec::new();
        for offer in offers {
            self.note_capacity(&offer);
            self.confirm_reservations(&offer, now, actions);
            if let Some(release) = self.release(&offer, now) {
                actions.extend(release);
                continue;
            }
            let mut used = false;
            let candidates: Vec<InstanceId> = wanting.iter().cloned().collect();
            for id in candidates {
                match self.try_launch(&id, &offer, now) {
                    Ok(launch_actions) => {
                        self.record_outcome(now, &offer, Some(&id), None);
                        actions.extend(launch_actions);
                        wanting.retain(|w| w != &id);
                        used = true;
                        break;
                    }
                    Err(rejection) => self.record_outcome(now, &offer, Some(&id), Some(rejection)),
                }
            }
            let here: Vec<operator_plans::StepLaunch> = steps
                .iter()
                .filter(|s| self.placement(&s.instance).is_some_and(|p| p.agent_id == offer.agent_id))
                .cloned()
                .collect();
            for step in here {
                if used {
                    break;
                }
                match self.try_step_launch(&step, &offer) {
                    Ok(launch_actions) => {
                        self.record_outcome(now, &offer, Some(&step.instance), None);
                        actions.extend(launch_actions);
                        steps.retain(|s| s != &step);
                        used = true;
                    }
                    Err(rejection) => {
                        self.record_outcome(now, &offer, Some(&step.instance), Some(rejection));
                    }
                }
            }
            if !used
                && !job_order.is_empty()
                && let Some((launched, accept)) = self.launch_jobs(&offer, &mut job_order)
            {
                actions.push(Action::PersistJobs(launched));
                actions.push(accept);
                used = true;
            }
            if !used {
                if wanting.is_empty() && steps.is_empty() {
                    self.record_outcome(now, &offer, None, Some("nothing to launch".to_owned()));
                }
                declined.push(offer.id.clone());
            }
        }
        self.launch_placed_gangs(now, actions);
        if !declined.is_empty() {
            // Short while any instance is still to be deployed (its turn may come soon).
            let all_done = plan::deploy_plan(&self.state).status == plan::Status::Complete;
            let refuse_secs = if wanting.is_empty() && steps.is_empty() && all_done && !self.jobs_waiting() {
                LONG_REFUSE_SECS
            } else {
                SHORT_REFUSE_SECS
            };
            actions.push(Action::Decline { offer_ids: declined, refuse_secs });
        }
    }

    /// Evaluates `offer` for instance `id`; on success updates the state and returns
    /// Persist + Accept.
    fn try_launch(&mut self, id: &InstanceId, offer: &Offer, now: Timestamp) -> Result<Vec<Action>, String> {
        let Some(framework_id) = self.state.framework_id.clone() else {
            return Err("not subscribed".to_owned());
        };
        let spec = self.state.target.spec.clone();
        let pod = spec.pod(&id.pod).ok_or_else(|| format!("pod type {} is gone", id.pod))?;
        let instance = self.state.instances.get(id).ok_or_else(|| format!("instance {id} is gone"))?.clone();
        let role = spec.role();
        let principal = spec.principal();
        let index = self.index_for(&id.pod, id);
        let constraints = self.constraints.get(&id.pod).cloned().unwrap_or_default();
        let reservation_id = format!("{}-{}-{}", spec.name, id, instance.incarnation);
        let request = Request {
            instance: id,
            pod,
            role: &role,
            principal: &principal,
            framework_id: framework_id.as_str(),
            placement: instance.placement.as_ref(),
            reservation_id: &reservation_id,
            constraints: &constraints,
            index: &index,
        };
        let gang_waiting = plan::gang_waiting(&self.state, pod);
        if gang_waiting && instance.placement.is_some() {
            return Err(format!("waiting until every instance of {} is reserved (gang)", pod.name));
        }
        let assignment = offer::evaluate(&request, offer).map_err(|r: Rejection| r.to_string())?;
        let others_unplaced = pod.gang
            && (0..pod.count).map(|i| InstanceId::new(pod.name.clone(), i)).any(|other| {
                &other != id
                    && self
                        .state
                        .instances
                        .get(&other)
                        .is_some_and(|o| o.placement.is_none() && o.retiring.is_none())
            });
        if others_unplaced {
            // Reserve now, launch once every instance has an address.
            let mut next = instance.clone();
            next.placement = Some(assignment.placement.clone());
            next.incarnation += 1;
            next.placement_confirmed = false;
            next.reserved_at = Some(now);
            self.state.instances.insert(id.clone(), next);
            let operations = assignment.operations.clone();
            self.gang_reserved.push((id.clone(), offer.id.clone(), assignment));
            return Ok(vec![
                Action::Persist { instances: vec![id.clone()], service: false },
                Action::Accept { offer_ids: vec![offer.id.clone()], operations },
            ]);
        }
        let mut operations = assignment.operations.clone();
        operations.push(self.launch(id, &framework_id, &assignment)?);
        Ok(vec![
            Action::Persist { instances: vec![id.clone()], service: false },
            Action::Accept { offer_ids: vec![offer.id.clone()], operations },
        ])
    }

    /// Builds the LAUNCH_GROUP of instance `id`'s deploy tasks on `assignment` and records
    /// the launch in the state.
    fn launch(
        &mut self,
        id: &InstanceId,
        framework_id: &FrameworkId,
        assignment: &offer::Assignment,
    ) -> Result<Operation, String> {
        let spec = self.state.target.spec.clone();
        let pod = spec.pod(&id.pod).ok_or_else(|| format!("pod type {} is gone", id.pod))?;
        let instance = self.state.instances.get(id).ok_or_else(|| format!("instance {id} is gone"))?.clone();
        // Which tasks this launch runs: RUNNING and FINISH ones, ONCE ones not done yet.
        let tasks: Vec<String> = spec
            .deploy_tasks(pod)
            .filter(|t| t.goal != Goal::Once || !instance.once_done.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let mut next = instance.clone();
        next.placement = Some(assignment.placement.clone());
        let input = LaunchInput {
            spec: &spec,
            pod,
            instance: &next,
            assignment,
            framework_id,
            config_id: &self.state.target.id,
            addresses: self.addresses((id, next.placement.as_ref())),
            params: BTreeMap::new(),
            tasks,
            executor_launch: None,
        };
        let built = launch::build(&input, &self.renderer).map_err(|e| e.to_string())?;
        let agent_id = assignment.placement.agent_id.clone();
        for (name, task) in &built.tasks {
            next.tasks.insert(
                name.clone(),
                TaskRecord::launched(task.task_id.clone(), &self.state.target.id, &agent_id),
            );
        }
        if instance.placement.is_none() {
            next.incarnation += 1;
            next.placement_confirmed = false;
        }
        next.executor_launch = Some(next.launches);
        next.launches += 1;
        next.relaunch_after = None;
        next.reserved_at = None;
        let tasks: Vec<herd_mesos_api::TaskInfo> = built.tasks.into_iter().map(|(_, t)| t).collect();
        self.state.instances.insert(id.clone(), next);
        Ok(Operation::launch_group(built.executor, tasks))
    }

    /// Gang instances these offers reserved, once the offers placed the whole gang: their
    /// launch joins the ACCEPT that reserves them (no second offer round).
    fn launch_placed_gangs(&mut self, now: Timestamp, actions: &mut [Action]) {
        let reserved = std::mem::take(&mut self.gang_reserved);
        if reserved.is_empty() {
            return;
        }
        let Some(framework_id) = self.state.framework_id.clone() else { return };
        let wanting: BTreeSet<InstanceId> = self.wanting_launch(now).into_iter().collect();
        for (id, offer_id, assignment) in reserved {
            let Some(pod) = self.state.target.spec.pod(&id.pod) else { continue };
            if plan::gang_waiting(&self.state, pod) || !wanting.contains(&id) {
                continue;
            }
            let accept = actions.iter_mut().find_map(|a| match a {
                Action::Accept { offer_ids, operations }
                    if offer_ids.as_slice() == std::slice::from_ref(&offer_id) =>
                {
                    Some(operations)
                }
                _ => None,
            });
            let Some(operations) = accept else { continue };
            // The instance was reserved without a launch: its assignment reserves and
            // creates, and the launch uses exactly those resources.
            // A launch that cannot be built now is retried (and its error shown) on the
            // next offer, like any relaunch on its reservation.
            if let Ok(launch) = self.launch(&id, &framework_id, &assignment) {
                operations.push(launch);
            }
        }
    }

    /// Reservations made without a launch (gang pods) are confirmed when an offer shows
    /// them; one its agent keeps not showing was never made (the ACCEPT was lost): the
    /// instance is placed again (anything of it that turns up later is released).
    fn confirm_reservations(&mut self, offer: &Offer, now: Timestamp, actions: &mut Vec<Action>) {
        let mut changed = Vec::new();
        let mut cleanup = Vec::new();
        for instance in self.state.instances.values_mut() {
            let (Some(placement), Some(at)) = (&instance.placement, instance.reserved_at) else { continue };
            if placement.agent_id != offer.agent_id || instance.placement_confirmed {
                continue;
            }
            let shown = offer.resources.iter().any(|r| {
                r.current_reservation().and_then(|res| res.labels).is_some_and(|l| {
                    l.get(crate::model::RESOURCE_ID_LABEL) == Some(placement.reservation_id.as_str())
                })
            });
            if shown {
                instance.placement_confirmed = true;
                instance.reserved_at = None;
                changed.push(instance.id.clone());
            } else if now - at > RESERVATION_CONFIRM_SECS && instance.tasks.is_empty() {
                cleanup.extend(instance.placement.take());
                instance.reserved_at = None;
                changed.push(instance.id.clone());
            }
        }
        if !changed.is_empty() {
            let service = !cleanup.is_empty();
            self.state.cleanup.extend(cleanup);
            actions.push(Action::Persist { instances: changed, service });
        }
    }

    /// Evaluates `offer` for an operator plan's step: its tasks join the instance's running
    /// executor (or a new one on the instance's reservation); on success updates the state
    /// and returns Persist + Accept.
    fn try_step_launch(
        &mut self,
        step: &operator_plans::StepLaunch,
        offer: &Offer,
    ) -> Result<Vec<Action>, String> {
        let Some(framework_id) = self.state.framework_id.clone() else {
            return Err("not subscribed".to_owned());
        };
        let spec = self.state.target.spec.clone();
        let id = &step.instance;
        let pod = spec.pod(&id.pod).ok_or_else(|| format!("pod type {} is gone", id.pod))?;
        let instance = self.state.instances.get(id).ok_or_else(|| format!("instance {id} is gone"))?.clone();
        let role = spec.role();
        let principal = spec.principal();
        let index = PlacementIndex::default();
        let request = Request {
            instance: id,
            pod,
            role: &role,
            principal: &principal,
            framework_id: framework_id.as_str(),
            placement: instance.placement.as_ref(),
            reservation_id: "",
            constraints: &[],
            index: &index,
        };
        // The instance's deploy tasks run in the executor of their launch.
        let executor_running = instance.active();
        let assignment = offer::evaluate_tasks(&request, &step.tasks, executor_running, offer)
            .map_err(|r| format!("plan {} step {}: {r}", step.plan, id))?;
        let input = LaunchInput {
            spec: &spec,
            pod,
            instance: &instance,
            assignment: &assignment,
            framework_id: &framework_id,
            config_id: &step.tag,
            addresses: self.addresses((id, instance.placement.as_ref())),
            params: step.params.clone(),
            tasks: step.tasks.clone(),
            executor_launch: if executor_running { instance.executor_launch } else { None },
        };
        let built = launch::build(&input, &self.renderer).map_err(|e| e.to_string())?;
        let mut next = instance.clone();
        for (name, task) in &built.tasks {
            next.tasks
                .insert(name.clone(), TaskRecord::launched(task.task_id.clone(), &step.tag, &offer.agent_id));
        }
        if !executor_running {
            next.executor_launch = Some(next.launches);
        }
        next.launches += 1;
        let tasks: Vec<herd_mesos_api::TaskInfo> = built.tasks.into_iter().map(|(_, t)| t).collect();
        self.state.instances.insert(id.clone(), next);
        Ok(vec![
            Action::Persist { instances: vec![id.clone()], service: false },
            Action::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::launch_group(built.executor, tasks)],
            },
        ])
    }

    /// Releases what this offer holds of ours that no instance owns: reservations of
    /// replaced or decommissioned instances (the cleanup list), and reservations with a
    /// `resource_id` the state does not know (orphans — the state was loaded from a healthy
    /// store, so they are not ours to keep). DESTROY volumes, then UNRESERVE.
    fn release(&mut self, offer: &Offer, now: Timestamp) -> Option<Vec<Action>> {
        let role = self.state.target.spec.role();
        let known: BTreeSet<String> = self
            .state
            .instances
            .values()
            .filter_map(|i| i.placement.as_ref().map(|p| p.reservation_id.clone()))
            .collect();
        let ours = self.state.framework_id.as_ref().map(ToString::to_string);
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for r in &offer.resources {
            if let Some(res) = r.current_reservation()
                && res.role.as_deref() == Some(role.as_str())
                && let Some(labels) = res.labels.as_ref()
                && let Some(id) = labels.get(crate::model::RESOURCE_ID_LABEL)
                && !known.contains(id)
                // Another framework sharing the role made it: not ours to release.
                && ours.is_some()
                && labels.get(crate::model::FRAMEWORK_LABEL) == ours.as_deref()
            {
                ids.insert(id.to_owned());
            }
        }
        if ids.is_empty() {
            return None;
        }
        let mut volumes = Vec::new();
        let mut reserved = Vec::new();
        for r in &offer.resources {
            let id = r
                .current_reservation()
                .and_then(|res| res.labels)
                .and_then(|l| l.get(crate::model::RESOURCE_ID_LABEL).map(str::to_owned));
            if id.is_some_and(|id| ids.contains(&id)) {
                if r.is_persistent_volume() {
                    volumes.push(r.clone());
                    reserved.push(r.without_volume());
                } else {
                    reserved.push(r.clone());
                }
            }
        }
        for id in &ids {
            let in_cleanup = self.state.cleanup.iter().any(|p| &p.reservation_id == id);
            if !in_cleanup {
                self.orphans.push_back(OrphanRelease {
                    time: now,
                    hostname: offer.hostname.clone(),
                    reservation_id: id.clone(),
                    resources: reserved
                        .iter()
                        .filter(|r| {
                            r.current_reservation()
                                .and_then(|x| x.labels)
                                .and_then(|l| l.get(crate::model::RESOURCE_ID_LABEL).map(str::to_owned))
                                .as_deref()
                                == Some(id.as_str())
                        })
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                });
                while self.orphans.len() > OUTCOMES_KEPT {
                    self.orphans.pop_front();
                }
            }
        }
        // What is released comes off the cleanup entries; an entry is done once nothing of
        // it is left (its parts may come in several offers as tasks and executor end).
        let strip =
            |r: &herd_mesos_api::Resource| herd_mesos_api::Resource { allocation_info: None, ..r.upgraded() };
        let released: herd_mesos_api::Resources = reserved.iter().map(strip).collect();
        let destroyed: BTreeSet<String> = volumes
            .iter()
            .filter_map(|v| v.disk.as_ref()?.persistence.as_ref().map(|p| p.id.clone()))
            .collect();
        for p in self
            .state
            .cleanup
            .iter_mut()
            .filter(|p| p.agent_id == offer.agent_id && ids.contains(&p.reservation_id))
        {
            let held: herd_mesos_api::Resources = p.reserved.iter().map(strip).collect();
            p.reserved = held.saturating_sub(&released).into_vec();
            p.volumes.retain(|v| {
                v.disk
                    .as_ref()
                    .and_then(|d| d.persistence.as_ref())
                    .is_none_or(|x| !destroyed.contains(&x.id))
            });
        }
        self.state.cleanup.retain(|p| !p.reserved.is_empty() || !p.volumes.is_empty());
        let mut operations = Vec::new();
        if !volumes.is_empty() {
            operations.push(Operation::destroy(volumes));
        }
        operations.push(Operation::unreserve(reserved));
        self.record_outcome(
            now,
            offer,
            None,
            Some(format!("releasing reservations {}", ids.into_iter().collect::<Vec<_>>().join(", "))),
        );
        Some(vec![
            Action::Persist { instances: Vec::new(), service: true },
            Action::Accept { offer_ids: vec![offer.id.clone()], operations },
        ])
    }

    /// Recent releases of unknown reservations, newest last.
    pub fn orphans(&self) -> impl Iterator<Item = &OrphanRelease> {
        self.orphans.iter()
    }

    /// Reservations waiting to be released (cleanup list).
    pub fn pending_releases(&self) -> &[Placement] {
        &self.state.cleanup
    }

    /// An operator command; its actions (persist first) or why it cannot be done.
    pub fn command(&mut self, command: Command, now: Timestamp) -> Result<Vec<Action>, CommandError> {
        let mut actions = Vec::new();
        let find = |s: &Self, name: &str| {
            s.state.instances.keys().find(|id| id.to_string() == name).cloned().ok_or_else(|| {
                CommandError::NotFound {
                    what: format!("pod instance {name:?}"),
                    known: s.state.instances.keys().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                }
            })
        };
        let known_plans = || {
            ["deploy", drain::PLAN]
                .into_iter()
                .map(str::to_owned)
                .chain(self.state.target.spec.plans.iter().map(|p| p.name.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let is_operator_plan = |name: &str| self.state.target.spec.plan(name).is_some();
        match command {
            Command::Pause(plan)
            | Command::Resume(plan)
            | Command::Stop(plan)
            | Command::Start { plan, .. }
            | Command::ForceStep { plan, .. }
            | Command::RestartStep { plan, .. }
                if plan != "deploy" && plan != drain::PLAN && !is_operator_plan(&plan) =>
            {
                return Err(CommandError::NotFound { what: format!("plan {plan:?}"), known: known_plans() });
            }
            Command::Start { plan, .. } | Command::Stop(plan) if plan == "deploy" || plan == drain::PLAN => {
                return Err(CommandError::Conflict(format!(
                    "the {plan} plan runs by itself: it cannot be started or stopped (use pause and resume)"
                )));
            }
            Command::Start { .. }
            | Command::Stop(_)
            | Command::ForceStep { .. }
            | Command::RestartStep { .. }
                if self.state.operator.uninstalling =>
            {
                return Err(CommandError::Conflict("the service is being uninstalled".to_owned()));
            }
            Command::Start { plan, params } => return self.start_plan(plan, params, now),
            Command::SubmitJob { .. } if self.state.operator.uninstalling => {
                return Err(CommandError::Conflict("the service is being uninstalled".to_owned()));
            }
            Command::SubmitJob { id, spec } => return self.submit_job(id, *spec, now),
            Command::KillJob(id) => return self.kill_job(&id, now),
            Command::Stop(plan) => {
                // The run stays (stopped), so the next start numbers its run after it and
                // tasks of this run never count for the next.
                if let Some(run) = self.state.operator.runs.get_mut(&plan)
                    && !run.stopped
                    && run.completed_at.is_none()
                {
                    run.stopped = true;
                    actions.extend(
                        self.kill_plan_tasks(|_, tag| state::parse_tag(tag).is_some_and(|(p, ..)| p == plan)),
                    );
                }
            }
            Command::ForceStep { plan, step } if plan == drain::PLAN => {
                let instance = self.draining_instance(&step)?;
                instance.drain_forced = true;
            }
            Command::RestartStep { plan, step } if plan == drain::PLAN => {
                // Retry the drain now.
                let instance = self.draining_instance(&step)?;
                instance.failures = 0;
                instance.relaunch_after = None;
            }
            Command::ForceStep { plan, step } if plan != "deploy" => {
                let (key, _) = self.operator_step(&plan, &step)?;
                let run = self.state.operator.runs.entry(plan.clone()).or_default();
                run.steps.entry(key).or_default().forced = true;
                operator_plans::complete_if_done(&mut self.state, &plan, now);
            }
            Command::RestartStep { plan, step } if plan != "deploy" => {
                let (key, instance) = self.operator_step(&plan, &step)?;
                let Some(run) = self.state.operator.runs.get_mut(&plan) else {
                    return Err(CommandError::Conflict(format!(
                        "plan {plan} has not been started: start it (POST /v1/plans/{plan}/start)"
                    )));
                };
                let phase = key.split_once('/').map(|(phase, _)| phase.to_owned()).unwrap_or_default();
                let old_tag = run.tag(&plan, &phase, run.steps.get(&key));
                let entry = run.steps.entry(key).or_default();
                *entry = state::StepRun { attempt: entry.attempt + 1, ..state::StepRun::default() };
                run.completed_at = None;
                actions.extend(self.kill_plan_tasks(|id, tag| tag == old_tag && id == &instance));
            }
            Command::Pause(plan) => {
                if !self.state.operator.paused.contains(&plan) {
                    self.state.operator.paused.push(plan);
                }
            }
            Command::Resume(plan) if plan != "deploy" => {
                self.state.operator.paused.retain(|p| p != &plan);
                let spec = self.state.target.spec.plan(&plan).cloned();
                for phase in spec.iter().flat_map(|p| &p.phases) {
                    let key = operator_plans::canary_key(&plan, &phase.name);
                    if phase.strategy == crate::spec::Strategy::Canary
                        && !self.state.operator.canaries_resumed.contains(&key)
                    {
                        self.state.operator.canaries_resumed.push(key);
                    }
                }
            }
            Command::Resume(plan) => {
                self.state.operator.paused.retain(|p| p != &plan);
                // Resuming also lets canary phases go on.
                for pod in &self.state.target.spec.pods {
                    if pod.strategy == crate::spec::Strategy::Canary
                        && !self.state.operator.canaries_resumed.contains(&pod.name)
                    {
                        self.state.operator.canaries_resumed.push(pod.name.clone());
                    }
                }
            }
            Command::ForceStep { step, .. } => {
                let id = find(self, &step)?;
                let key = state::OperatorState::forced_key(&id, &self.state.target.id);
                if !self.state.operator.forced.contains(&key) {
                    self.state.operator.forced.push(key);
                }
            }
            Command::RestartStep { step, .. } => {
                let id = find(self, &step)?;
                let key = state::OperatorState::forced_key(&id, &self.state.target.id);
                self.state.operator.forced.retain(|k| k != &key);
                let mut actions = self.command(Command::RestartPod(step), now)?;
                actions.insert(0, Action::Persist { instances: Vec::new(), service: true });
                return Ok(actions);
            }
            Command::RestartPod(name) | Command::ReplacePod(name) if self.state.operator.uninstalling => {
                return Err(CommandError::Conflict(format!(
                    "cannot act on pod {name}: the service is being uninstalled"
                )));
            }
            Command::RestartPod(name) => {
                let id = find(self, &name)?;
                let instance = &self.state.instances[&id];
                for t in instance.tasks.values().filter(|t| t.active()) {
                    if self.killing.insert(t.task_id.clone()) {
                        actions.push(Action::Kill {
                            task_id: t.task_id.clone(),
                            agent_id: Some(t.agent_id.clone()),
                        });
                    }
                }
                let instance = self.state.instances.get_mut(&id).expect("instance present");
                instance.failures = 0;
                instance.relaunch_after = None;
                return Ok(actions);
            }
            Command::ReplacePod(name) => {
                let id = find(self, &name)?;
                let instance = self.state.instances.get_mut(&id).expect("instance present");
                if instance.placement.is_none() {
                    return Err(CommandError::Conflict(format!(
                        "pod {name} is not placed yet: nothing to replace"
                    )));
                }
                instance.retiring = Some(state::Retire::Replace);
                actions.push(Action::Persist { instances: vec![id], service: false });
            }
            Command::Uninstall => {
                self.state.operator.uninstalling = true;
                for instance in self.state.instances.values_mut() {
                    instance.retiring = Some(state::Retire::Decommission);
                }
                actions.extend(self.kill_all_jobs(now));
            }
        }
        actions.insert(
            0,
            Action::Persist { instances: self.state.instances.keys().cloned().collect(), service: true },
        );
        actions.extend(self.step(Input::Tick, now));
        Ok(actions)
    }

    /// The instance `name` of the `decommission` plan.
    fn draining_instance(&mut self, name: &str) -> Result<&mut state::Instance, CommandError> {
        let retiring: Vec<String> = self
            .state
            .instances
            .values()
            .filter(|i| i.retiring == Some(state::Retire::Decommission))
            .map(|i| i.id.to_string())
            .collect();
        self.state
            .instances
            .values_mut()
            .find(|i| i.id.to_string() == name && i.retiring == Some(state::Retire::Decommission))
            .ok_or_else(|| CommandError::NotFound {
                what: format!("step {name:?} of the decommission plan"),
                known: retiring.join(", "),
            })
    }

    /// Starts an operator plan (again): every parameter it declares must be given, and no
    /// other; a plan still in progress must be stopped first.
    fn start_plan(
        &mut self,
        plan: String,
        params: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<Vec<Action>, CommandError> {
        let Some(spec) = self.state.target.spec.plan(&plan) else {
            return Err(CommandError::NotFound { what: format!("plan {plan:?}"), known: String::new() });
        };
        let missing: Vec<&String> = spec.parameters.iter().filter(|p| !params.contains_key(*p)).collect();
        if !missing.is_empty() {
            return Err(CommandError::Invalid(format!(
                "plan {plan} needs parameter(s) {}: give each as KEY=VALUE",
                missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let unknown: Vec<&String> = params.keys().filter(|k| !spec.parameters.contains(k)).collect();
        if !unknown.is_empty() {
            return Err(CommandError::Invalid(format!(
                "plan {plan} takes no parameter(s) {}; it takes: {}",
                unknown.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                if spec.parameters.is_empty() { "none".to_owned() } else { spec.parameters.join(", ") }
            )));
        }
        let status = operator_plans::operator_plan(&self.state, spec).status;
        if self.state.operator.runs.get(&plan).is_some_and(|r| !r.stopped) && status != plan::Status::Complete
        {
            return Err(CommandError::Conflict(format!(
                "plan {plan} is in progress: wait for it, or stop it first (POST /v1/plans/{plan}/stop)"
            )));
        }
        let run_no = self.state.operator.runs.get(&plan).map_or(0, |r| r.run) + 1;
        self.state.operator.runs.insert(
            plan.clone(),
            state::PlanRun { run: run_no, params, started_at: now, ..state::PlanRun::default() },
        );
        self.state.operator.paused.retain(|p| p != &plan);
        self.state.operator.canaries_resumed.retain(|k| !k.starts_with(&format!("{plan}/")));
        let mut actions = vec![Action::Persist { instances: Vec::new(), service: true }];
        actions.extend(self.step(Input::Tick, now));
        Ok(actions)
    }

    /// The key and instance of step `step` of operator plan `plan`: an instance name
    /// (`node-0`) when only one phase has it, otherwise `<phase>/<instance>`.
    fn operator_step(&self, plan: &str, step: &str) -> Result<(String, InstanceId), CommandError> {
        let spec = self.state.target.spec.plan(plan).cloned().unwrap_or_else(|| crate::spec::PlanSpec {
            name: plan.to_owned(),
            parameters: Vec::new(),
            strategy: crate::spec::Strategy::Serial,
            phases: Vec::new(),
        });
        let view = operator_plans::operator_plan(&self.state, &spec);
        let all: Vec<String> = view
            .phases
            .iter()
            .flat_map(|p| p.steps.iter().map(move |s| format!("{}/{}", p.name, s.name)))
            .collect();
        let matching: Vec<&String> = all
            .iter()
            .filter(|k| k.as_str() == step || k.split_once('/').is_some_and(|(_, i)| i == step))
            .collect();
        match matching.as_slice() {
            [key] => {
                let instance = key.split_once('/').map(|(_, i)| i).unwrap_or_default();
                let id =
                    self.state.instances.keys().find(|id| id.to_string() == instance).cloned().ok_or_else(
                        || CommandError::NotFound { what: format!("step {step:?}"), known: all.join(", ") },
                    )?;
                Ok(((*key).clone(), id))
            }
            [] => Err(CommandError::NotFound {
                what: format!("step {step:?} in plan {plan}"),
                known: all.join(", "),
            }),
            _ => Err(CommandError::Invalid(format!(
                "step {step:?} is in several phases of plan {plan}: name it as one of {}",
                matching.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Kills the live operator-plan tasks that `which(instance, config id)` picks.
    fn kill_plan_tasks(&mut self, which: impl Fn(&InstanceId, &str) -> bool) -> Vec<Action> {
        let mut actions = Vec::new();
        for instance in self.state.instances.values() {
            for t in instance.tasks.values() {
                if t.active()
                    && state::parse_tag(&t.config_id).is_some()
                    && which(&instance.id, &t.config_id)
                    && self.killing.insert(t.task_id.clone())
                {
                    actions.push(Action::Kill {
                        task_id: t.task_id.clone(),
                        agent_id: Some(t.agent_id.clone()),
                    });
                }
            }
        }
        actions
    }

    /// Every plan: deploy first, `decommission` while instances are scaled in, then the
    /// operator plans in spec order.
    pub fn plans(&self) -> Vec<plan::Plan> {
        std::iter::once(plan::deploy_plan(&self.state))
            .chain(drain::plan(&self.state))
            .chain(self.state.target.spec.plans.iter().map(|p| operator_plans::operator_plan(&self.state, p)))
            .collect()
    }

    /// The parameters an operator plan's latest run was started with.
    pub fn plan_parameters(&self, plan: &str) -> Option<&BTreeMap<String, String>> {
        self.state.operator.runs.get(plan).map(|r| &r.params)
    }

    /// The placement of an instance, if placed.
    pub fn placement(&self, id: &InstanceId) -> Option<&Placement> {
        self.state.instances.get(id).and_then(|i| i.placement.as_ref())
    }
}

/// Whether a readiness check result is a pass.
fn check_passed(c: &herd_mesos_api::CheckStatusInfo) -> bool {
    c.command.as_ref().and_then(|r| r.exit_code).is_some_and(|code| code == 0)
        || c.http.as_ref().and_then(|r| r.status_code).is_some_and(|s| (200..400).contains(&s))
        || c.tcp.as_ref().and_then(|r| r.succeeded).unwrap_or(false)
}

#[cfg(test)]
mod jobs_tests;
#[cfg(test)]
mod tests;
