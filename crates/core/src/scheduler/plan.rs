//! Plans as views of the state: the deploy plan has a phase per pod type and a step per
//! instance; a step's status is computed from the instance's intent (target config) and
//! what Mesos reported, so a restarted scheduler sees the same plan without storing it.

use super::state::{Instance, ServiceState};
use crate::model::InstanceId;
use crate::spec::{Goal, PodSpec, Strategy};
use herd_mesos_api::TaskState;
use serde::Serialize;

/// Status of a plan, phase or step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Complete,
    /// Held back (paused, or a canary waiting for `resume`).
    Waiting,
    /// Cannot proceed without help.
    Error,
}

/// A step: one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// `<pod>-<index>`.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Why, when not obvious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A phase: one pod type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// The pod type.
    pub name: String,
    /// How its steps run.
    pub strategy: Strategy,
    /// Its status.
    pub status: Status,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `deploy`.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Phases in order.
    pub phases: Vec<Phase>,
}

/// Whether `instance` runs the target config as its pod type wants.
pub fn instance_complete(state: &ServiceState, pod: &PodSpec, instance: &Instance) -> bool {
    state.operator.forced.contains(&super::state::OperatorState::forced_key(&instance.id, &state.target.id))
        || runs_as_wanted(state, pod, instance)
}

/// Whether `instance` actually runs the target config as its pod type wants (a forced
/// step does not make it so: recovery still relaunches a forced instance that fails).
pub fn runs_as_wanted(state: &ServiceState, pod: &PodSpec, instance: &Instance) -> bool {
    let target = &state.target.id;
    state.target.spec.deploy_tasks(pod).all(|t| {
        let record = instance.tasks.get(&t.name);
        let current = record.is_some_and(|r| &r.config_id == target);
        match t.goal {
            Goal::Running => current && record.is_some_and(|r| r.state == TaskState::TaskRunning && r.ready),
            Goal::Finish => current && record.is_some_and(|r| r.state == TaskState::TaskFinished),
            Goal::Once => instance.once_done.contains(&t.name),
        }
    })
}

/// The status of an instance's deploy step.
pub fn step_status(state: &ServiceState, pod: &PodSpec, instance: &Instance) -> Status {
    if instance_complete(state, pod, instance) {
        Status::Complete
    } else if instance.placement.is_some() || instance.active() {
        Status::InProgress
    } else {
        Status::Pending
    }
}

pub(crate) fn combine(statuses: impl Iterator<Item = Status>) -> Status {
    let all: Vec<Status> = statuses.collect();
    if all.iter().all(|s| *s == Status::Complete) {
        Status::Complete
    } else if all.contains(&Status::Error) {
        Status::Error
    } else if all.iter().any(|s| matches!(s, Status::InProgress | Status::Complete)) {
        Status::InProgress
    } else if all.contains(&Status::Waiting) {
        Status::Waiting
    } else {
        Status::Pending
    }
}

/// The deploy plan as it stands.
pub fn deploy_plan(state: &ServiceState) -> Plan {
    let phases: Vec<Phase> = state
        .target
        .spec
        .pods
        .iter()
        .map(|pod| {
            let mut steps: Vec<Step> = (0..pod.count)
                .filter_map(|i| state.instances.get(&InstanceId::new(pod.name.clone(), i)))
                .map(|inst| Step {
                    name: inst.id.to_string(),
                    status: step_status(state, pod, inst),
                    message: None,
                })
                .collect();
            let held = state.operator.paused.iter().any(|p| p == "deploy")
                || (pod.strategy == Strategy::Canary
                    && steps.first().is_some_and(|s| s.status == Status::Complete)
                    && !state.operator.canaries_resumed.contains(&pod.name));
            if held {
                for step in steps.iter_mut().filter(|s| s.status == Status::Pending) {
                    step.status = Status::Waiting;
                    step.message = Some("waiting for `resume`".to_owned());
                }
            }
            Phase {
                name: pod.name.clone(),
                strategy: pod.strategy,
                status: combine(steps.iter().map(|s| s.status)),
                steps,
            }
        })
        .collect();
    Plan { name: "deploy".to_owned(), status: combine(phases.iter().map(|p| p.status)), phases }
}

/// Whether a gang pod type still has instances to reserve (none of them launches before).
pub fn gang_waiting(state: &ServiceState, pod: &PodSpec) -> bool {
    pod.gang
        && (0..pod.count).any(|i| {
            state
                .instances
                .get(&InstanceId::new(pod.name.clone(), i))
                .is_some_and(|inst| inst.placement.is_none() && inst.retiring.is_none())
        })
}

/// Whether `instance` is being updated (it was deployed before, or it still has tasks of an
/// older config), rather than deployed for the first time.
fn updating(state: &ServiceState, instance: &Instance) -> bool {
    instance.deployed
        || instance.tasks.values().any(|t| {
            t.config_id != state.target.id
                && super::state::parse_tag(&t.config_id).is_none()
                && t.config_id != super::drain::DRAIN_TAG
        })
}

/// Which of a phase's incomplete instances `strategy` lets work now: `serial` the first,
/// `parallel` all, `canary` the first, then (once resumed) the rest serially. `all` is how
/// many steps the phase has (a canary is done once fewer are incomplete).
fn by_strategy<'a>(
    state: &ServiceState,
    pod: &PodSpec,
    strategy: Strategy,
    incomplete: &[&'a InstanceId],
    all: usize,
) -> Vec<&'a InstanceId> {
    match strategy {
        Strategy::Parallel => incomplete.to_vec(),
        Strategy::Canary
            if incomplete.len() < all && !state.operator.canaries_resumed.contains(&pod.name) =>
        {
            // The canary is done: wait for the operator's resume.
            Vec::new()
        }
        Strategy::Serial | Strategy::Canary => incomplete.first().copied().into_iter().collect(),
    }
}

/// Instances whose deploy step may be worked on now: phases go in order (a phase starts
/// when the one before is complete); inside a phase, `serial` allows the first incomplete
/// step, `parallel` all of them, `canary` the first, then the rest serially. A gang pod
/// type first gets all its instances reserved.
pub fn workable(state: &ServiceState) -> Vec<InstanceId> {
    let mut out = Vec::new();
    if state.operator.paused.iter().any(|p| p == "deploy") || state.operator.uninstalling {
        return out;
    }
    for pod in &state.target.spec.pods {
        let ids: Vec<InstanceId> = (0..pod.count).map(|i| InstanceId::new(pod.name.clone(), i)).collect();
        let incomplete: Vec<&InstanceId> = ids
            .iter()
            .filter(|id| state.instances.get(id).is_some_and(|inst| !instance_complete(state, pod, inst)))
            .collect();
        if incomplete.is_empty() {
            continue;
        }
        if gang_waiting(state, pod) {
            out.extend(incomplete.into_iter().filter(|id| state.instances[*id].placement.is_none()).cloned());
            return out;
        }
        // Instances that ran before roll by the update strategy; new ones (a scale-out)
        // deploy by the deploy strategy, beside them.
        // (An instance launched for the first time and not ready yet is still deploying.)
        let ran = |id: &&InstanceId| state.instances.get(*id).is_some_and(|i| updating(state, i));
        match pod.update_strategy {
            Some(update) => {
                let (updated, fresh): (Vec<&InstanceId>, Vec<&InstanceId>) =
                    incomplete.into_iter().partition(ran);
                out.extend(by_strategy(state, pod, update, &updated, ids.len()).into_iter().cloned());
                out.extend(by_strategy(state, pod, pod.strategy, &fresh, ids.len()).into_iter().cloned());
            }
            None => {
                out.extend(by_strategy(state, pod, pod.strategy, &incomplete, ids.len()).into_iter().cloned())
            }
        }
        return out;
    }
    out
}
