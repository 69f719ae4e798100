//! Operator-defined plans (repair, backup, cleanup...): a phase per `[[plans.phases]]`, a
//! step per instance of the phase's pod type. A step runs the phase's tasks inside the
//! instance, on the instance's own reservation and volumes (joining its running
//! executor), with the run's parameters in the tasks' env.
//!
//! Like the deploy plan, a plan's status is a view: a step is complete when its tasks,
//! tagged with the step's config id ([`PlanRun::tag`]), finished. Only what cannot be read
//! from task records is stored in the [`PlanRun`]: parameters, operator decisions and
//! failure counts.
//!
//! Locking: a step only starts on an instance that runs its target config as wanted and
//! has no other plan task alive, and while a plan task is alive on an instance, deploy,
//! update and recovery leave it alone (see `Scheduler::plan_kills` and
//! `Scheduler::wanting_launch`), so two steps never touch the same instance.

use super::plan::{self, Phase, Plan, Status, Step, combine};
use super::state::{Instance, PlanRun, ServiceState, StepRun, Timestamp, parse_tag, step_tag};
use crate::model::InstanceId;
use crate::spec::{PhaseSpec, PlanSpec, Strategy};
use herd_mesos_api::TaskState;

/// Failed launches of a step (in a row) before it stops in ERROR.
pub const MAX_STEP_FAILURES: u32 = 3;

/// A step that may launch now.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLaunch {
    /// The plan.
    pub plan: String,
    /// The phase.
    pub phase: String,
    /// The instance.
    pub instance: InstanceId,
    /// The config id its tasks carry.
    pub tag: String,
    /// The tasks to run.
    pub tasks: Vec<String>,
    /// The run's parameters (exported to the tasks' env).
    pub params: std::collections::BTreeMap<String, String>,
}

/// Whether an instance has an operator plan task alive (it is locked by that plan).
pub fn locked(instance: &Instance) -> bool {
    instance.tasks.values().any(|t| t.active() && parse_tag(&t.config_id).is_some())
}

/// The instances of a phase, in index order.
fn phase_instances<'a>(state: &'a ServiceState, phase: &PhaseSpec) -> Vec<&'a Instance> {
    let count = state.target.spec.pod(&phase.pod).map_or(0, |p| p.count);
    (0..count).filter_map(|i| state.instances.get(&InstanceId::new(phase.pod.clone(), i))).collect()
}

/// What a step's own records say (no waiting conditions).
fn raw_status(
    plan: &PlanSpec,
    run: Option<&PlanRun>,
    phase: &PhaseSpec,
    instance: &Instance,
) -> (Status, Option<String>) {
    let Some(run) = run else { return (Status::Pending, None) };
    let step = run.steps.get(&PlanRun::step_key(&phase.name, &instance.id));
    if step.is_some_and(|s| s.forced) {
        return (Status::Complete, Some("force-completed".to_owned()));
    }
    if step.is_some_and(|s| s.completed) {
        return (Status::Complete, None);
    }
    let tag = run.tag(&plan.name, &phase.name, step);
    let records: Vec<_> =
        phase.tasks.iter().map(|t| instance.tasks.get(t).filter(|r| r.config_id == tag)).collect();
    if records.iter().all(|r| r.is_some_and(|r| r.state == TaskState::TaskFinished)) {
        return (Status::Complete, None);
    }
    if records.iter().flatten().any(|r| r.active()) {
        return (Status::InProgress, None);
    }
    if let Some(error) = step.and_then(|s| s.error.clone()) {
        return (Status::Error, Some(error));
    }
    (Status::Pending, None)
}

/// Why a pending step cannot start on its instance now, if it cannot.
fn instance_blocker(state: &ServiceState, instance: &Instance) -> Option<String> {
    let pod = state.target.spec.pod(&instance.id.pod)?;
    if state.operator.uninstalling {
        Some("the service is being uninstalled".to_owned())
    } else if instance.retiring.is_some() {
        Some(format!("waiting: {} is being replaced or decommissioned", instance.id))
    } else if instance.placement.is_none() || !plan::runs_as_wanted(state, pod, instance) {
        Some(format!("waiting for {} to run its target config", instance.id))
    } else if locked(instance) {
        Some(format!("waiting: another plan's task runs on {}", instance.id))
    } else {
        None
    }
}

/// An operator plan as it stands (every step PENDING when it was never started).
pub fn operator_plan(state: &ServiceState, spec: &PlanSpec) -> Plan {
    let stopped = state.operator.runs.get(&spec.name).filter(|r| r.stopped);
    // A stopped run shows as a plan not started.
    let run = state.operator.runs.get(&spec.name).filter(|r| !r.stopped);
    let paused = state.operator.paused.contains(&spec.name);
    let phases: Vec<Phase> = spec
        .phases
        .iter()
        .map(|phase| {
            let mut steps: Vec<Step> = phase_instances(state, phase)
                .into_iter()
                // A completed run has the steps it ran, not those of instances added (or
                // replaced) since.
                .filter(|inst| {
                    run.is_none_or(|r| {
                        r.completed_at.is_none()
                            || r.steps
                                .get(&PlanRun::step_key(&phase.name, &inst.id))
                                .is_some_and(|s| s.completed || s.forced)
                    })
                })
                .map(|inst| {
                    let (status, message) = raw_status(spec, run, phase, inst);
                    let message = message.or_else(|| {
                        stopped.map(|r| format!("run {} was stopped: `start` runs the plan again", r.run))
                    });
                    Step { name: inst.id.to_string(), status, message }
                })
                .collect();
            let canary_waits = phase.strategy == Strategy::Canary
                && steps.first().is_some_and(|s| s.status == Status::Complete)
                && !state.operator.canaries_resumed.contains(&canary_key(&spec.name, &phase.name));
            if run.is_some() && (paused || canary_waits) {
                for step in steps.iter_mut().filter(|s| s.status == Status::Pending) {
                    step.status = Status::Waiting;
                    step.message = Some("waiting for `resume`".to_owned());
                }
            }
            Phase {
                name: phase.name.clone(),
                strategy: phase.strategy,
                status: combine(steps.iter().map(|s| s.status)),
                steps,
            }
        })
        .collect();
    Plan { name: spec.name.clone(), status: combine(phases.iter().map(|p| p.status)), phases }
}

/// The `canaries_resumed` entry of an operator plan's phase.
pub fn canary_key(plan: &str, phase: &str) -> String {
    format!("{plan}/{phase}")
}

/// Steps of running operator plans that may launch now (their turn in the plan's and the
/// phase's strategy, not backing off, the instance free), and whether any other step
/// still waits for its turn or its instance (so offers stay wanted).
pub fn launchable(state: &ServiceState, now: Timestamp) -> (Vec<StepLaunch>, bool) {
    let mut out = Vec::new();
    let mut waiting = false;
    for (name, run) in &state.operator.runs {
        let Some(spec) = state.target.spec.plan(name) else { continue };
        if run.stopped
            || run.completed_at.is_some()
            || state.operator.paused.contains(name)
            || state.operator.uninstalling
        {
            continue;
        }
        for phase in &spec.phases {
            let steps: Vec<(&Instance, Status)> = phase_instances(state, phase)
                .into_iter()
                .map(|inst| (inst, raw_status(spec, Some(run), phase, inst).0))
                .collect();
            let incomplete: Vec<&(&Instance, Status)> =
                steps.iter().filter(|(_, s)| *s != Status::Complete).collect();
            if incomplete.is_empty() {
                continue;
            }
            let turn: Vec<&(&Instance, Status)> = match phase.strategy {
                Strategy::Parallel => incomplete,
                Strategy::Canary
                    if incomplete.len() < steps.len()
                        && !state.operator.canaries_resumed.contains(&canary_key(name, &phase.name)) =>
                {
                    Vec::new()
                }
                Strategy::Serial | Strategy::Canary => vec![incomplete[0]],
            };
            for (instance, status) in turn {
                if *status != Status::Pending {
                    continue;
                }
                let step = run.steps.get(&PlanRun::step_key(&phase.name, &instance.id));
                if step.and_then(|s| s.retry_after).is_some_and(|t| t > now)
                    || instance_blocker(state, instance).is_some()
                {
                    waiting = true;
                    continue;
                }
                out.push(StepLaunch {
                    plan: name.clone(),
                    phase: phase.name.clone(),
                    instance: instance.id.clone(),
                    tag: run.tag(name, &phase.name, step),
                    tasks: phase.tasks.clone(),
                    params: run.params.clone(),
                });
            }
            if spec.strategy != Strategy::Parallel {
                break;
            }
        }
    }
    (out, waiting)
}

/// Records a finished task of a step: the step is complete once all its tasks finished
/// (recorded, so that it stays complete when the instance's task records go), and the run
/// once every step is. Returns whether the run changed.
pub fn step_finished(
    state: &mut ServiceState,
    config_id: &str,
    instance: &InstanceId,
    now: Timestamp,
) -> bool {
    let Some((plan, run_no, phase)) = parse_tag(config_id) else { return false };
    let complete = (|| {
        let spec = state.target.spec.plan(plan)?;
        let phase = spec.phases.iter().find(|p| p.name == phase)?;
        let run = state.operator.runs.get(plan).filter(|r| r.run == run_no && r.completed_at.is_none())?;
        let instance = state.instances.get(instance)?;
        Some(raw_status(spec, Some(run), phase, instance).0 == Status::Complete)
    })();
    if complete != Some(true) {
        return false;
    }
    let Some(run) = state.operator.runs.get_mut(plan) else { return false };
    run.steps.entry(PlanRun::step_key(phase, instance)).or_default().completed = true;
    complete_if_done(state, plan, now);
    true
}

/// Marks the run of `plan` complete when every step is (see [`PlanRun::completed_at`]).
pub fn complete_if_done(state: &mut ServiceState, plan: &str, now: Timestamp) {
    let Some(spec) = state.target.spec.plan(plan) else { return };
    if state.operator.runs.get(plan).is_none_or(|r| r.stopped || r.completed_at.is_some())
        || operator_plan(state, spec).status != Status::Complete
    {
        return;
    }
    if let Some(run) = state.operator.runs.get_mut(plan) {
        run.completed_at = Some(now);
    }
}

/// Records a failed launch of a step's task: back off, or give up after
/// [`MAX_STEP_FAILURES`]. Returns whether the run changed.
pub fn step_failed(state: &mut ServiceState, config_id: &str, instance: &InstanceId, now: Timestamp) -> bool {
    let Some((plan, run_no, phase)) = parse_tag(config_id) else { return false };
    let Some(run) = state.operator.runs.get_mut(plan) else { return false };
    if run.run != run_no {
        return false;
    }
    let step = run.steps.entry(PlanRun::step_key(phase, instance)).or_insert_with(StepRun::default);
    if step_tag(plan, run_no, phase, step.attempt) != config_id {
        return false;
    }
    step.failures += 1;
    if step.failures >= MAX_STEP_FAILURES {
        step.error = Some(format!(
            "its tasks failed {} times; fix the cause, then `restart` the step (or `force` it)",
            step.failures
        ));
        step.retry_after = None;
    } else {
        step.retry_after = Some(now + 2f64.powi(i32::try_from(step.failures).unwrap_or(30)).min(60.0));
    }
    true
}
