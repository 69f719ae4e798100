//! Draining instances being scaled in: the built-in `decommission` plan.
//!
//! An instance a config change leaves out (`retiring = Decommission`, not an uninstall)
//! whose pod type has `decommission_tasks` keeps its tasks running while those tasks run
//! inside it, one instance at a time — moving its data to the instances that stay. Only
//! once each of them finished (or an operator forced the step) are the instance's tasks
//! killed and its reservations and volumes released (`Scheduler::retire`). A failed drain
//! task is retried after the instance's backoff; a dead instance is first relaunched in
//! place, since a drain needs it running.
//!
//! As everywhere, the plan is a view: a drain task's record carries [`DRAIN_TAG`] as its
//! config id, and only the operator's `force` is stored (`Instance::drain_forced`).

use super::operator_plans::StepLaunch;
use super::plan::{Phase, Plan, Status, Step, combine};
use super::state::{Instance, Retire, ServiceState, Timestamp};
use crate::spec::{Goal, Strategy};
use herd_mesos_api::TaskState;
use std::collections::BTreeMap;

/// The built-in plan's name (also its phase's).
pub const PLAN: &str = "decommission";

/// The config id drain tasks carry.
pub const DRAIN_TAG: &str = "decommission";

/// The drain tasks `instance` still has to finish before it may go; empty when it has
/// none (not decommissioned, uninstalling, never placed, forced, no such tasks, or done).
pub fn pending<'a>(state: &'a ServiceState, instance: &Instance) -> Vec<&'a str> {
    if instance.retiring != Some(Retire::Decommission)
        || state.operator.uninstalling
        || instance.placement.is_none()
        || instance.drain_forced
    {
        return Vec::new();
    }
    let Some(pod) = state.target.spec.pod(&instance.id.pod) else { return Vec::new() };
    pod.decommission_tasks
        .iter()
        .filter(|t| {
            !instance
                .tasks
                .get(t.as_str())
                .is_some_and(|r| r.config_id == DRAIN_TAG && r.state == TaskState::TaskFinished)
        })
        .map(String::as_str)
        .collect()
}

/// Whether `instance` must drain before its tasks are killed.
pub fn draining(state: &ServiceState, instance: &Instance) -> bool {
    !pending(state, instance).is_empty()
}

/// Whether a drain task of `instance` is alive.
fn drain_alive(instance: &Instance) -> bool {
    instance.tasks.values().any(|t| t.config_id == DRAIN_TAG && t.active())
}

/// Whether every RUNNING task of `instance`'s pod type is up and ready in it (a drain
/// needs the instance serving).
fn serving(state: &ServiceState, instance: &Instance) -> bool {
    let Some(pod) = state.target.spec.pod(&instance.id.pod) else { return false };
    state.target.spec.deploy_tasks(pod).filter(|t| t.goal == Goal::Running).all(|t| {
        instance
            .tasks
            .get(&t.name)
            .is_some_and(|r| r.config_id != DRAIN_TAG && r.state == TaskState::TaskRunning && r.ready)
    })
}

/// The draining instances, in id order.
fn draining_instances(state: &ServiceState) -> impl Iterator<Item = &Instance> {
    state.instances.values().filter(|i| draining(state, i))
}

/// Draining instances whose deploy tasks are all gone: relaunched in place (recovery),
/// once their backoff passed.
pub fn relaunch(state: &ServiceState, now: Timestamp) -> Vec<crate::model::InstanceId> {
    draining_instances(state)
        .filter(|i| {
            let deploy_alive = i.tasks.values().any(|t| t.config_id != DRAIN_TAG && t.active());
            !deploy_alive && !drain_alive(i) && !i.relaunch_after.is_some_and(|t| t > now)
        })
        .map(|i| i.id.clone())
        .collect()
}

/// The drain step that may launch now (one instance at a time, in id order), and whether
/// a drain waits for something (its instance to serve again, a backoff), so offers stay
/// wanted.
pub fn launchable(state: &ServiceState, now: Timestamp) -> (Vec<StepLaunch>, bool) {
    let Some(instance) = draining_instances(state).next() else { return (Vec::new(), false) };
    if state.operator.paused.iter().any(|p| p == PLAN) {
        return (Vec::new(), false);
    }
    if drain_alive(instance) {
        return (Vec::new(), false);
    }
    if instance.relaunch_after.is_some_and(|t| t > now) || !serving(state, instance) {
        return (Vec::new(), true);
    }
    let step = StepLaunch {
        plan: PLAN.to_owned(),
        phase: PLAN.to_owned(),
        instance: instance.id.clone(),
        tag: DRAIN_TAG.to_owned(),
        tasks: pending(state, instance).into_iter().map(str::to_owned).collect(),
        params: BTreeMap::new(),
    };
    (vec![step], false)
}

/// The `decommission` plan while instances are being scaled in: a step per instance;
/// `None` when none is.
pub fn plan(state: &ServiceState) -> Option<Plan> {
    if state.operator.uninstalling {
        return None;
    }
    let first_draining = draining_instances(state).next().map(|i| i.id.clone());
    let steps: Vec<Step> = state
        .instances
        .values()
        .filter(|i| i.retiring == Some(Retire::Decommission))
        .map(|i| {
            let (status, message) = step(state, i, first_draining.as_ref());
            Step { name: i.id.to_string(), status, message }
        })
        .collect();
    if steps.is_empty() {
        return None;
    }
    let status = combine(steps.iter().map(|s| s.status));
    let phase = Phase { name: PLAN.to_owned(), strategy: Strategy::Serial, status, steps };
    Some(Plan { name: PLAN.to_owned(), status, phases: vec![phase] })
}

/// One instance's step of the `decommission` plan.
fn step(
    state: &ServiceState,
    instance: &Instance,
    first_draining: Option<&crate::model::InstanceId>,
) -> (Status, Option<String>) {
    let pending = pending(state, instance);
    if pending.is_empty() {
        let how = if instance.drain_forced { "drain force-completed; " } else { "" };
        return (Status::InProgress, Some(format!("{how}stopping its tasks, then releasing its resources")));
    }
    if drain_alive(instance) {
        return (Status::InProgress, Some(format!("draining: {} running", pending.join(", "))));
    }
    if first_draining != Some(&instance.id) {
        return (Status::Pending, Some("waiting for the instance draining before it".to_owned()));
    }
    if state.operator.paused.iter().any(|p| p == PLAN) {
        return (Status::Waiting, Some("waiting for `resume`".to_owned()));
    }
    let failed = instance
        .tasks
        .values()
        .any(|t| t.config_id == DRAIN_TAG && matches!(t.state, TaskState::TaskFailed | TaskState::TaskError));
    if failed {
        return (
            Status::Error,
            Some(format!(
                "the drain failed ({} failure(s) in a row; see its task's stderr) and is retried after a \
                 backoff; `force` the step to drop the instance without draining it",
                instance.failures
            )),
        );
    }
    if !serving(state, instance) {
        return (
            Status::Pending,
            Some(format!("waiting for {} to run again (a drain needs it)", instance.id)),
        );
    }
    (Status::Pending, Some("waiting for an offer from its agent".to_owned()))
}
