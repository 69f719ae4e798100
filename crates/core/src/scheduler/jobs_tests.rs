//! Jobs without a runtime or a clock: launch on unreserved resources, life to the end,
//! retries, kills, fair share between queues, refusals, recovery after a restart.

use super::jobs::{JobSpec, JobState};
use super::state::ServiceState;
use super::tests::{accepted, offer, scheduler, status};
use super::*;
use crate::spec::QueueSpec;
use herd_mesos_api::{OperationType, Resource};

fn job(name: &str, queue: &str, cpus: f64) -> JobSpec {
    JobSpec {
        name: name.to_owned(),
        queue: queue.to_owned(),
        command: "echo hi".to_owned(),
        env: [("APP".to_owned(), "pi".to_owned())].into(),
        cpus,
        mem_mb: 128.0,
        ports: vec!["ui".to_owned()],
        uris: Vec::new(),
        user: None,
        max_retries: 0,
        share_cpus: None,
        labels: BTreeMap::new(),
    }
}

fn submit(s: &mut Scheduler, id: &str, spec: JobSpec) -> Vec<Action> {
    s.command(Command::SubmitJob { id: id.to_owned(), spec: Box::new(spec) }, 1.0).unwrap()
}

/// The job tasks an ACCEPT launches.
fn launched(actions: &[Action]) -> Vec<herd_mesos_api::TaskInfo> {
    accepted(actions)
        .into_iter()
        .flat_map(|(_, ops)| ops)
        .filter(|o| o.kind == OperationType::Launch)
        .flat_map(|o| o.launch.map(|l| l.task_infos).unwrap_or_default())
        .collect()
}

fn env(task: &herd_mesos_api::TaskInfo, key: &str) -> Option<String> {
    let vars = &task.command.as_ref()?.environment.as_ref()?.variables;
    vars.iter().find(|v| v.name == key).and_then(|v| v.value.clone())
}

/// A scheduler whose pods are all deployed (offers go to jobs), with `queues`.
fn idle(queues: Vec<QueueSpec>) -> Scheduler {
    let mut s = scheduler();
    for n in 1..=3 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), f64::from(n) * 0.1);
        let (_, ops) = &accepted(&actions)[0];
        let group = ops.iter().find_map(|o| o.launch_group.as_ref()).unwrap();
        s.step(Input::Update(status(&group.task_group.tasks[0], TaskState::TaskRunning)), 0.5);
    }
    let mut state = s.state().clone();
    state.target.spec.queues = queues;
    let mut s = Scheduler::new(state).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.9);
    s
}

#[test]
fn a_job_launches_on_unreserved_resources_and_is_tracked_to_its_end() {
    let mut s = idle(Vec::new());
    let actions = submit(&mut s, "driver-1", job("pi", "default", 0.5));
    assert_eq!(actions[0], Action::PersistJobs(vec!["driver-1".into()]), "persisted first");
    assert!(!actions.contains(&Action::Suppress), "a queued job wants offers");
    assert_eq!(s.jobs()["driver-1"].state, JobState::Queued);

    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 2.0);
    let tasks = launched(&actions);
    assert_eq!(tasks.len(), 1, "{actions:#?}");
    let task = &tasks[0];
    let persist = actions.iter().position(|a| *a == Action::PersistJobs(vec!["driver-1".into()])).unwrap();
    let accept = actions.iter().position(|a| matches!(a, Action::Accept { .. })).unwrap();
    assert!(persist < accept, "persisted before the launch: {actions:#?}");
    assert!(task.executor.is_none(), "a command task");
    assert!(task.resources.iter().all(|r| r.reservations.is_empty()), "unreserved: {:?}", task.resources);
    assert_eq!(env(task, "APP").as_deref(), Some("pi"));
    assert_eq!(env(task, "HERD_JOB").as_deref(), Some("driver-1"));
    assert_eq!(env(task, "HERD_HOST").as_deref(), Some("127.0.1.1"), "the agent's address");
    let port: u16 = env(task, "PORT_UI").unwrap().parse().unwrap();
    assert!((31000..=32000).contains(&port));
    assert_eq!(s.jobs()["driver-1"].state, JobState::Launching);

    s.step(Input::Update(status(task, TaskState::TaskRunning)), 3.0);
    assert_eq!(s.jobs()["driver-1"].state, JobState::Running);
    assert_eq!(s.jobs()["driver-1"].started_at, Some(3.0));
    let actions = s.step(Input::Update(status(task, TaskState::TaskFinished)), 9.0);
    assert_eq!(actions[0], Action::PersistJobs(vec!["driver-1".into()]));
    assert!(matches!(actions[1], Action::Acknowledge(_)), "acknowledged after it is persisted");
    let done = &s.jobs()["driver-1"];
    assert_eq!((done.state, done.ended_at), (JobState::Finished, Some(9.0)));
    assert!(launched(&s.step(Input::Offers(vec![offer(2, vec![])]), 10.0)).is_empty(), "once");
}

#[test]
fn queues_share_offers_by_weight_and_keep_to_their_limits() {
    let queue = |name: &str, weight: f64, max_running: Option<u32>| QueueSpec {
        name: name.into(),
        weight,
        max_running,
        max_cpus: None,
    };
    let mut s = idle(vec![queue("etl", 2.0, None), queue("adhoc", 1.0, None), queue("capped", 5.0, Some(1))]);
    for i in 0..6 {
        submit(&mut s, &format!("etl-{i}"), job("e", "etl", 0.5));
        submit(&mut s, &format!("adhoc-{i}"), job("a", "adhoc", 0.5));
        submit(&mut s, &format!("capped-{i}"), job("c", "capped", 0.5));
    }
    // Two offers of 2 cpus each: 8 jobs of 0.5 cpus fit.
    let actions = s.step(Input::Offers(vec![offer(4, vec![]), offer(5, vec![])]), 2.0);
    let names: Vec<String> = launched(&actions).iter().map(|t| env(t, "HERD_JOB").unwrap()).collect();
    let count = |q: &str| names.iter().filter(|n| n.starts_with(q)).count();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(count("capped"), 1, "max_running 1: {names:?}");
    assert_eq!((count("etl"), count("adhoc")), (5, 2), "the rest 2:1 by weight: {names:?}");
    let etl: Vec<&String> = names.iter().filter(|n| n.starts_with("etl")).collect();
    assert_eq!(etl, ["etl-0", "etl-1", "etl-2", "etl-3", "etl-4"], "oldest first in a queue");
}

#[test]
fn a_failed_job_is_retried_then_fails_with_its_reason() {
    let mut s = idle(Vec::new());
    submit(&mut s, "j", JobSpec { max_retries: 1, ..job("pi", "default", 0.5) });
    let first = launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 2.0)).remove(0);
    let mut failed = status(&first, TaskState::TaskFailed);
    failed.message = Some("Command exited with status 1".into());
    s.step(Input::Update(failed.clone()), 3.0);
    let j = &s.jobs()["j"];
    assert_eq!(j.state, JobState::Queued, "retried");
    assert!(j.message.as_deref().unwrap().contains("exited with status 1"), "{:?}", j.message);
    assert!(launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 3.1)).is_empty(), "after a backoff");
    let second = launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 10.0)).remove(0);
    assert_ne!(second.task_id, first.task_id);
    failed.task_id = second.task_id.clone();
    s.step(Input::Update(failed), 11.0);
    let j = &s.jobs()["j"];
    assert_eq!((j.state, j.attempts), (JobState::Failed, 2));
    assert!(
        j.message.as_deref().unwrap().contains("TASK_FAILED")
            || j.message.as_deref().unwrap().contains("Failed")
    );
    // A late update of the first attempt's task changes nothing (not the job's task any more).
    let late = s.step(Input::Update(status(&first, TaskState::TaskRunning)), 12.0);
    assert!(late.iter().any(|a| matches!(a, Action::Kill { .. })), "an unknown task is killed: {late:#?}");
}

#[test]
fn kills_end_queued_jobs_at_once_and_launched_ones_when_mesos_says_so() {
    let mut s = idle(Vec::new());
    submit(&mut s, "queued", job("a", "default", 0.5));
    s.command(Command::KillJob("queued".into()), 1.5).unwrap();
    assert_eq!(s.jobs()["queued"].state, JobState::Killed);
    let err = s.command(Command::KillJob("queued".into()), 1.6).unwrap_err();
    assert!(matches!(err, CommandError::Conflict(_)), "{err}");
    let err = s.command(Command::KillJob("nope".into()), 1.6).unwrap_err();
    assert!(matches!(&err, CommandError::NotFound { known, .. } if known.contains("queued")), "{err}");

    submit(&mut s, "running", job("b", "default", 0.5));
    let task = launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 2.0)).remove(0);
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 3.0);
    let actions = s.command(Command::KillJob("running".into()), 4.0).unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Kill { task_id, .. } if *task_id == task.task_id)));
    assert_eq!(s.jobs()["running"].state, JobState::Running, "until Mesos reports it killed");
    s.step(Input::Update(status(&task, TaskState::TaskKilled)), 5.0);
    assert_eq!(s.jobs()["running"].state, JobState::Killed);
}

#[test]
fn jobs_that_can_never_fit_or_name_no_queue_are_refused() {
    let mut s = idle(Vec::new());
    // What the agents have is learnt from their offers.
    s.step(Input::Offers(vec![offer(1, vec![])]), 0.95);
    let err = s
        .command(Command::SubmitJob { id: "huge".into(), spec: Box::new(job("h", "default", 64.0)) }, 1.0)
        .unwrap_err();
    assert!(matches!(&err, CommandError::Invalid(m) if m.contains("64") && m.contains("no agent")), "{err}");
    let err = s
        .command(Command::SubmitJob { id: "q".into(), spec: Box::new(job("q", "nope", 1.0)) }, 1.0)
        .unwrap_err();
    assert!(matches!(&err, CommandError::Invalid(m) if m.contains("default")), "{err}");
    submit(&mut s, "ok", job("o", "default", 1.0));
    let err =
        s.command(Command::SubmitJob { id: "ok".into(), spec: Box::new(job("o", "default", 1.0)) }, 1.0);
    assert!(matches!(err, Err(CommandError::Conflict(_))));
}

#[test]
fn a_restarted_scheduler_reconciles_running_jobs_and_finishes_them() {
    let mut s = idle(Vec::new());
    submit(&mut s, "j", job("pi", "default", 0.5));
    let task = launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 2.0)).remove(0);
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 3.0);
    let state: ServiceState = s.state().clone();
    let mut s = Scheduler::new(state).unwrap();
    let actions = s.step(Input::Subscribed { framework_id: "fw".into() }, 4.0);
    let reconciled = actions.iter().find_map(|a| match a {
        Action::Reconcile(tasks) => Some(tasks.clone()),
        _ => None,
    });
    assert!(reconciled.unwrap().iter().any(|(id, _)| *id == task.task_id), "the job's task is reconciled");
    s.step(Input::Update(status(&task, TaskState::TaskFinished)), 5.0);
    assert_eq!(s.jobs()["j"].state, JobState::Finished);
}

#[test]
fn api_paths_in_uris_resolve_where_the_scheduler_is_now_and_capacity_counts_running_jobs() {
    let mut s = idle(Vec::new());
    s.set_api_base(Some("http://127.0.0.1:4000".into()));
    let uri = |value: &str| herd_mesos_api::Uri {
        value: value.into(),
        executable: None,
        extract: Some(false),
        cache: None,
        output_file: None,
    };
    let spec = JobSpec {
        uris: vec![uri("/v1/artifacts/abc/app.jar"), uri("https://example.org/x.jar")],
        ..job("pi", "default", 1.5)
    };
    submit(&mut s, "j", spec);
    let task = launched(&s.step(Input::Offers(vec![offer(1, vec![])]), 2.0)).remove(0);
    let values: Vec<String> = task.command.unwrap().uris.into_iter().map(|u| u.value).collect();
    assert_eq!(values, ["http://127.0.0.1:4000/v1/artifacts/abc/app.jar", "https://example.org/x.jar"]);
    // A restarted scheduler learns capacity from offers that lack what its jobs hold: the
    // agent's offer (0.5 cpus left) plus the running job's 1.5 still fit a 2-cpu job.
    let mut s = Scheduler::new(s.state().clone()).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 3.0);
    let mut busy = offer(1, vec![]);
    busy.resources = busy
        .resources
        .into_iter()
        .map(|r| if r.name == "cpus" { Resource::scalar("cpus", 0.5).allocated_to("hello-role") } else { r })
        .collect();
    s.step(Input::Offers(vec![busy]), 4.0);
    s.command(Command::SubmitJob { id: "two".into(), spec: Box::new(job("t", "default", 2.0)) }, 5.0)
        .unwrap();
}
