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

pub mod launch;
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
/// Longest backoff before relaunching a failing instance.
pub const MAX_BACKOFF_SECS: f64 = 60.0;
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
}

/// An operator command.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    torn_down: bool,
    outcomes: VecDeque<OfferOutcome>,
    orphans: VecDeque<OrphanRelease>,
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
            torn_down: false,
            outcomes: VecDeque::new(),
            orphans: VecDeque::new(),
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
                    .collect();
                actions.push(Action::Reconcile(tasks));
                actions.push(Action::Revive);
            }
            Input::Disconnected | Input::Rescind(_) => {}
            Input::Update(status) => self.update(status, now, &mut actions),
            Input::Offers(offers) => self.offers(offers, now, &mut actions),
            Input::Tick => {}
        }
        self.lost_timers(now, &mut actions);
        self.retire(&mut actions);
        self.plan_kills(&mut actions);
        self.offer_demand(now, &mut actions);
        if self.state.operator.uninstalling
            && self.state.instances.is_empty()
            && self.state.cleanup.is_empty()
            && !self.torn_down
        {
            self.torn_down = true;
            actions.push(Action::Teardown);
        }
        actions
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
            .filter(|i| i.retiring.is_some() && !i.active())
            .map(|i| i.id.clone())
            .collect();
        if done.is_empty() {
            return;
        }
        for id in &done {
            let Some(instance) = self.state.instances.get_mut(id) else { continue };
            if let Some(placement) = instance.placement.take() {
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
        let goal = self
            .state
            .target
            .spec
            .pod(&pod_name)
            .and_then(|p| p.task(&task_name))
            .map(|t| (t.goal, t.readiness_check.is_some()));
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
        let (goal, has_readiness) = goal.unwrap_or((Goal::Running, false));
        if status.state == TaskState::TaskRunning {
            record.ready = if has_readiness {
                record.ready || status.check_status.as_ref().is_some_and(check_passed)
            } else {
                true
            };
        }
        match (goal, status.state) {
            (Goal::Once, TaskState::TaskFinished) if !instance.once_done.contains(&task_name) => {
                instance.once_done.push(task_name.clone());
            }
            (Goal::Running, s) if s.is_terminal() => {
                instance.failures += 1;
                let backoff =
                    (2f64.powi(i32::try_from(instance.failures).unwrap_or(30) - 1)).min(MAX_BACKOFF_SECS);
                instance.relaunch_after = Some(now + backoff);
            }
            (Goal::Finish | Goal::Once, TaskState::TaskFailed | TaskState::TaskError) => {
                instance.failures += 1;
                instance.relaunch_after = Some(
                    now + (2f64.powi(i32::try_from(instance.failures).unwrap_or(30) - 1))
                        .min(MAX_BACKOFF_SECS),
                );
            }
            _ => {}
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
            }
        }
        actions.push(Action::Persist { instances: vec![instance_id], service: false });
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
                if instance.active() || instance.relaunch_after.is_some_and(|t| t > now) {
                    continue;
                }
                if plan::runs_as_wanted(&self.state, pod, instance) {
                    continue;
                }
                // Recovery (same config, placed before) is not gated by the plan; a first
                // launch or an update is (a force-completed step is not workable).
                let recovering = instance.placement.is_some()
                    && instance.tasks.values().all(|t| t.config_id == self.state.target.id);
                if recovering || workable.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// Kills tasks running an old config, one step at a time (rolling update).
    fn plan_kills(&mut self, actions: &mut Vec<Action>) {
        // Retiring instances lose their tasks at once.
        let retiring: Vec<(TaskId, AgentId)> = self
            .state
            .instances
            .values()
            .filter(|i| i.retiring.is_some())
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
    fn offer_demand(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        // Pending: an instance that is neither running nor done (launchable now, waiting for
        // its turn in the plan, or backing off).
        let pending = self.state.target.spec.pods.iter().any(|pod| {
            (0..pod.count).any(|i| {
                self.state
                    .instances
                    .get(&InstanceId::new(pod.name.clone(), i))
                    .is_some_and(|inst| !inst.active() && !plan::runs_as_wanted(&self.state, pod, inst))
            })
        });
        let _ = now;
        let pending = pending || !self.state.cleanup.is_empty();
        if pending && self.suppressed {
            self.suppressed = false;
            actions.push(Action::Revive);
        } else if !pending && !self.suppressed && self.state.framework_id.is_some() {
            self.suppressed = true;
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
            .map(|p| AgentView { hostname: &p.hostname, attributes: &[] })
            .collect();
        PlacementIndex::from_placed(&views)
    }

    /// Every instance's address, for templates.
    fn addresses(&self) -> BTreeMap<String, Vec<InstanceAddress>> {
        let mut out: BTreeMap<String, Vec<InstanceAddress>> = BTreeMap::new();
        for i in self.state.instances.values() {
            out.entry(i.id.pod.clone()).or_default().push(InstanceAddress {
                index: i.id.index,
                name: i.id.to_string(),
                host: i.placement.as_ref().map(|p| p.hostname.clone()).unwrap_or_default(),
                ports: i.placement.as_ref().map(|p| p.ports.clone()).unwrap_or_default(),
                placed: i.placement.is_some(),
            });
        }
        out
    }

    fn offers(&mut self, offers: Vec<Offer>, now: Timestamp, actions: &mut Vec<Action>) {
        let mut wanting: VecDeque<InstanceId> = self.wanting_launch(now).into();
        let mut declined = Vec::new();
        for offer in offers {
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
            if !used {
                if wanting.is_empty() {
                    self.record_outcome(now, &offer, None, Some("nothing to launch".to_owned()));
                }
                declined.push(offer.id.clone());
            }
        }
        if !declined.is_empty() {
            // Short while any instance is still to be deployed (its turn may come soon).
            let all_done = plan::deploy_plan(&self.state).status == plan::Status::Complete;
            let refuse_secs =
                if wanting.is_empty() && all_done { LONG_REFUSE_SECS } else { SHORT_REFUSE_SECS };
            actions.push(Action::Decline { offer_ids: declined, refuse_secs });
        }
    }

    /// Evaluates `offer` for instance `id`; on success updates the state and returns
    /// Persist + Accept.
    fn try_launch(&mut self, id: &InstanceId, offer: &Offer, now: Timestamp) -> Result<Vec<Action>, String> {
        let _ = now;
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
            placement: instance.placement.as_ref(),
            reservation_id: &reservation_id,
            constraints: &constraints,
            index: &index,
        };
        let assignment = offer::evaluate(&request, offer).map_err(|r: Rejection| r.to_string())?;
        // Which tasks this launch runs: RUNNING and FINISH ones, ONCE ones not done yet.
        let tasks: Vec<String> = pod
            .tasks
            .iter()
            .filter(|t| t.goal != Goal::Once || !instance.once_done.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let mut next = instance.clone();
        next.placement = Some(assignment.placement.clone());
        let input = LaunchInput {
            spec: &spec,
            pod,
            instance: &next,
            assignment: &assignment,
            framework_id: &framework_id,
            config_id: &self.state.target.id,
            addresses: self.addresses(),
            params: BTreeMap::new(),
            tasks,
        };
        let built = launch::build(&input, &self.renderer).map_err(|e| e.to_string())?;
        let agent_id = assignment.placement.agent_id.clone();
        for (name, task) in &built.tasks {
            next.tasks.insert(
                name.clone(),
                TaskRecord {
                    task_id: task.task_id.clone(),
                    state: TaskState::TaskStaging,
                    ready: false,
                    config_id: self.state.target.id.clone(),
                    agent_id: agent_id.clone(),
                },
            );
        }
        if instance.placement.is_none() {
            next.incarnation += 1;
            next.placement_confirmed = false;
        }
        next.launches += 1;
        next.relaunch_after = None;
        let mut operations = assignment.operations.clone();
        let tasks: Vec<herd_mesos_api::TaskInfo> = built.tasks.into_iter().map(|(_, t)| t).collect();
        operations.push(Operation::launch_group(built.executor, tasks));
        self.state.instances.insert(id.clone(), next);
        Ok(vec![
            Action::Persist { instances: vec![id.clone()], service: false },
            Action::Accept { offer_ids: vec![offer.id.clone()], operations },
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
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for r in &offer.resources {
            if let Some(res) = r.current_reservation()
                && res.role.as_deref() == Some(role.as_str())
                && let Some(id) = res.labels.as_ref().and_then(|l| l.get(crate::model::RESOURCE_ID_LABEL))
                && !known.contains(id)
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
        match command {
            Command::Pause(plan) | Command::Resume(plan) if plan != "deploy" => {
                return Err(CommandError::NotFound {
                    what: format!("plan {plan:?}"),
                    known: "deploy".to_owned(),
                });
            }
            Command::Pause(plan) => {
                if !self.state.operator.paused.contains(&plan) {
                    self.state.operator.paused.push(plan);
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
            Command::ForceStep { plan, .. } | Command::RestartStep { plan, .. } if plan != "deploy" => {
                return Err(CommandError::NotFound {
                    what: format!("plan {plan:?}"),
                    known: "deploy".to_owned(),
                });
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
            }
        }
        actions.insert(
            0,
            Action::Persist { instances: self.state.instances.keys().cloned().collect(), service: true },
        );
        actions.extend(self.step(Input::Tick, now));
        Ok(actions)
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
mod tests;
