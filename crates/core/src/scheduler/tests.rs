//! Scheduler scenarios without a runtime or a clock: deploy, recovery in place, rolling
//! update, constraint rejections with reasons.

use super::state::{ServiceState, TargetConfig};
use super::*;
use crate::spec::{ServiceSpec, SpecFormat};
use herd_mesos_api::{AgentId, Attribute, OperationType, Resource, TaskState, TaskStatus};

const SPEC: &str = r#"
name = "hello"

[[pods]]
name = "hello"
count = 3
placement = ["hostname:UNIQUE"]

[[pods.volumes]]
name = "data"
path = "data"
size_mb = 64

[[pods.tasks]]
name = "server"
command = "echo started >> data/starts; exec python3 -m http.server {{ ports.http }}"
cpus = 0.1
mem_mb = 32

[[pods.tasks.ports]]
name = "http"
"#;

fn spec() -> ServiceSpec {
    ServiceSpec::parse(SPEC, SpecFormat::Toml, "hello.toml").unwrap()
}

pub(super) fn scheduler() -> Scheduler {
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec: spec() })).unwrap();
    let actions = s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    assert!(actions.contains(&Action::Reconcile(vec![])));
    s
}

pub(super) fn offer(n: u32, extra: Vec<Resource>) -> Offer {
    let role = "hello-role";
    let mut resources = vec![
        Resource::scalar("cpus", 2.0).allocated_to(role),
        Resource::scalar("mem", 2048.0).allocated_to(role),
        Resource::scalar("disk", 2048.0).allocated_to(role),
        Resource::ranges("ports", [(31000, 32000)]).allocated_to(role),
    ];
    resources.extend(extra);
    Offer {
        id: format!("offer-{n}-{}", resources.len()).into(),
        framework_id: "fw".into(),
        agent_id: AgentId::new(format!("agent-{n}")),
        hostname: format!("127.0.1.{n}"),
        url: None,
        domain: None,
        resources,
        attributes: Vec::<Attribute>::new(),
        executor_ids: vec![],
        unavailability: None,
        allocation_info: Some(herd_mesos_api::AllocationInfo::role(role)),
    }
}

pub(super) fn accepted(actions: &[Action]) -> Vec<(Vec<OfferId>, Vec<Operation>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Accept { offer_ids, operations } => Some((offer_ids.clone(), operations.clone())),
            _ => None,
        })
        .collect()
}

fn launched_task(ops: &[Operation]) -> herd_mesos_api::TaskInfo {
    let group = ops.iter().find(|o| o.kind == OperationType::LaunchGroup).unwrap();
    group.launch_group.as_ref().unwrap().task_group.tasks[0].clone()
}

pub(super) fn status(task: &herd_mesos_api::TaskInfo, state: TaskState) -> TaskStatus {
    let mut s = TaskStatus::new(task.task_id.clone(), state);
    s.agent_id = Some(task.agent_id.clone());
    s.uuid = Some(vec![1; 16]);
    s
}

/// The offer an agent makes once an instance's reservation is free again.
fn reserved_offer(n: u32, placement: &Placement) -> Offer {
    let extra = placement
        .reserved
        .iter()
        .chain(&placement.volumes)
        .map(|r| r.clone().allocated_to("hello-role"))
        .collect();
    let mut o = offer(n, extra);
    o.id = format!("reserved-offer-{n}").into();
    o
}

#[test]
fn deploy_is_serial_reserves_creates_and_launches_on_exactly_those_resources() {
    let mut s = scheduler();
    let actions = s.step(Input::Offers(vec![offer(1, vec![]), offer(2, vec![])]), 1.0);
    let accepts = accepted(&actions);
    assert_eq!(accepts.len(), 1, "serial: one instance at a time: {actions:#?}");
    let (offer_ids, ops) = &accepts[0];
    assert_eq!(offer_ids[0].as_str(), "offer-1-4");
    let kinds: Vec<OperationType> = ops.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OperationType::Reserve, OperationType::Create, OperationType::LaunchGroup]);
    // Persist comes before the ACCEPT.
    let persist = actions.iter().position(|a| matches!(a, Action::Persist { .. })).unwrap();
    let accept = actions.iter().position(|a| matches!(a, Action::Accept { .. })).unwrap();
    assert!(persist < accept);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Decline { refuse_secs, .. } if *refuse_secs == SHORT_REFUSE_SECS))
    );
    // The task uses the reserved resources with the instance's label and the volume.
    let task = launched_task(ops);
    assert!(
        task.resources.iter().all(|r| r
            .reservations
            .last()
            .and_then(|r| r.labels.as_ref())
            .and_then(|l| l.get("resource_id"))
            == Some("hello-hello-0-0"))
    );
    assert!(task.resources.iter().any(|r| r.is_persistent_volume()));
    assert_eq!(task.task_id.as_str(), "hello__hello-0-server__0");
    let cmd = task.command.as_ref().unwrap().value.as_ref().unwrap();
    assert!(cmd.contains("http.server 31000"), "ports rendered into the command: {cmd}");
    assert_eq!(s.deploy_plan().phases[0].steps[0].status, plan::Status::InProgress);

    // RUNNING (no readiness check) completes the step; the next instance goes elsewhere.
    let actions = s.step(Input::Update(status(&task, TaskState::TaskRunning)), 2.0);
    assert!(matches!(actions[0], Action::Persist { .. }) && matches!(actions[1], Action::Acknowledge(_)));
    assert_eq!(s.deploy_plan().phases[0].steps[0].status, plan::Status::Complete);
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 3.0);
    assert!(accepted(&actions).is_empty(), "hostname:UNIQUE keeps hello-1 off agent 1");
    let outcome = s.outcomes().last().unwrap();
    assert!(outcome.rejection.as_ref().unwrap().contains("hostname:UNIQUE"), "{outcome:?}");
    let actions = s.step(Input::Offers(vec![offer(2, vec![])]), 4.0);
    assert_eq!(accepted(&actions).len(), 1);
}

#[test]
fn a_failed_task_is_relaunched_in_place_after_backoff_on_its_own_reservation() {
    let mut s = scheduler();
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 1.0);
    let task = launched_task(&accepted(&actions)[0].1);
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 2.0);
    s.step(Input::Update(status(&task, TaskState::TaskFailed)), 3.0);
    let placement = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    // Within the backoff: not relaunched.
    let actions = s.step(Input::Offers(vec![reserved_offer(1, &placement)]), 3.5);
    assert!(accepted(&actions).iter().all(|(ids, _)| ids[0].as_str() != "reserved-offer-1" || {
        // hello-1 may take the unreserved part; hello-0 must not relaunch yet
        true
    }));
    let relaunched = accepted(&actions)
        .iter()
        .any(|(_, ops)| launched_task(ops).task_id.as_str().starts_with("hello__hello-0"));
    assert!(!relaunched, "backoff respected");
    // After the backoff, only the agent holding its reservation can host it.
    let actions = s.step(Input::Offers(vec![offer(2, vec![])]), 10.0);
    assert!(
        !accepted(&actions)
            .iter()
            .any(|(_, ops)| launched_task(ops).task_id.as_str().starts_with("hello__hello-0"))
    );
    let actions = s.step(Input::Offers(vec![reserved_offer(1, &placement)]), 11.0);
    let (_, ops) = accepted(&actions)
        .into_iter()
        .find(|(_, ops)| launched_task(ops).task_id.as_str().starts_with("hello__hello-0"))
        .expect("relaunched");
    assert_eq!(ops.len(), 1, "no new RESERVE/CREATE, just LAUNCH_GROUP");
    let again = launched_task(&ops);
    assert_eq!(again.task_id.as_str(), "hello__hello-0-server__1");
    assert_eq!(again.agent_id.as_str(), "agent-1");
}

#[test]
fn a_config_change_rolls_instance_by_instance() {
    let mut s = scheduler();
    let mut t = 1.0;
    let mut tasks = Vec::new();
    for n in 1..=3 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), t);
        let task = launched_task(&accepted(&actions)[0].1);
        s.step(Input::Update(status(&task, TaskState::TaskRunning)), t + 0.5);
        tasks.push(task);
        t += 1.0;
    }
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
    // New target config: the update kills one instance's task at a time.
    let mut state = s.state().clone();
    state.target.id = "cfg-2".into();
    state.target.spec.pods[0].tasks[0].env.insert("NEW".into(), "1".into());
    let mut s = Scheduler::new(state).unwrap();
    let mut actions = s.step(Input::Subscribed { framework_id: "fw".into() }, t);
    actions.extend(s.step(Input::Tick, t));
    let kills: Vec<_> = actions.iter().filter(|a| matches!(a, Action::Kill { .. })).collect();
    assert_eq!(kills.len(), 1, "one at a time: {actions:#?}");
    assert!(matches!(kills[0], Action::Kill { task_id, .. } if task_id == &tasks[0].task_id));
    let actions = s.step(Input::Tick, t + 1.0);
    assert!(actions.iter().all(|a| !matches!(a, Action::Kill { .. })), "not re-sent");
    s.step(Input::Update(status(&tasks[0], TaskState::TaskKilled)), t + 2.0);
    let placement = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    let actions = s.step(Input::Offers(vec![reserved_offer(1, &placement)]), t + 3.0);
    let new_task = launched_task(&accepted(&actions)[0].1);
    assert_eq!(new_task.labels.as_ref().unwrap().get("target_configuration"), Some("cfg-2"));
    assert!(
        s.step(Input::Tick, t + 4.0).iter().all(|a| !matches!(a, Action::Kill { .. })),
        "the next waits for readiness"
    );
    let mut actions = s.step(Input::Update(status(&new_task, TaskState::TaskRunning)), t + 5.0);
    actions.extend(s.step(Input::Tick, t + 6.0));
    assert!(
        matches!(actions.iter().find(|a| matches!(a, Action::Kill { .. })), Some(Action::Kill { task_id, .. }) if task_id == &tasks[1].task_id)
    );
}

#[test]
fn offers_are_suppressed_when_nothing_is_pending_and_revived_when_work_appears() {
    let mut s = scheduler();
    let mut t = 1.0;
    for n in 1..=3 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), t);
        let task = launched_task(&accepted(&actions)[0].1);
        // Once the last instance is launched, no more offers are needed.
        assert_eq!(actions.contains(&Action::Suppress), n == 3, "{actions:#?}");
        s.step(Input::Update(status(&task, TaskState::TaskRunning)), t + 0.5);
        if n == 3 {
            // Failure: work appears again.
            let actions = s.step(Input::Update(status(&task, TaskState::TaskFailed)), t + 1.0);
            assert!(actions.contains(&Action::Revive), "{actions:#?}");
        }
        t += 1.0;
    }
}

#[test]
fn updates_of_unknown_tasks_are_killed_and_acknowledged() {
    let mut s = scheduler();
    let mut stranger = TaskStatus::new("someone-else".into(), TaskState::TaskRunning);
    stranger.agent_id = Some("agent-9".into());
    let actions = s.step(Input::Update(stranger.clone()), 1.0);
    assert_eq!(actions[0], Action::Kill { task_id: "someone-else".into(), agent_id: Some("agent-9".into()) });
    assert_eq!(actions[1], Action::Acknowledge(stranger));
}

#[test]
fn a_forced_step_counts_as_done_and_a_restarted_one_is_done_again() {
    let mut s = scheduler();
    // hello-0 never launches: force it, and the serial deploy moves on to hello-1.
    s.command(Command::ForceStep { plan: "deploy".into(), step: "hello-0".into() }, 1.0).unwrap();
    assert_eq!(s.deploy_plan().phases[0].steps[0].status, plan::Status::Complete);
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 2.0);
    let task = launched_task(&accepted(&actions)[0].1);
    assert!(task.task_id.as_str().starts_with("hello__hello-1"), "{}", task.task_id);
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 3.0);
    // Restarting hello-1's step kills its task (then recovery relaunches it in place).
    let actions =
        s.command(Command::RestartStep { plan: "deploy".into(), step: "hello-1".into() }, 4.0).unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Kill { task_id, .. } if task_id == &task.task_id)));
    // A forced instance that fails is still recovered (offers are wanted for it).
    s.step(Input::Update(status(&task, TaskState::TaskKilled)), 4.5);
    let placement = s.placement(&InstanceId::new("hello", 1)).unwrap().clone();
    s.command(Command::ForceStep { plan: "deploy".into(), step: "hello-1".into() }, 4.6).unwrap();
    let actions = s.step(Input::Offers(vec![reserved_offer(1, &placement)]), 10.0);
    assert!(
        accepted(&actions)
            .iter()
            .any(|(_, ops)| launched_task(ops).task_id.as_str().starts_with("hello__hello-1"))
    );
    let err = s.command(Command::ForceStep { plan: "nope".into(), step: "hello-0".into() }, 5.0).unwrap_err();
    assert!(matches!(err, CommandError::NotFound { .. }), "{err}");
    let err =
        s.command(Command::ForceStep { plan: "deploy".into(), step: "hello-7".into() }, 5.0).unwrap_err();
    assert!(err.to_string().contains("hello-0, hello-1, hello-2"), "{err}");
}

/// The hello spec with a `backup` task that only the `backup` operator plan runs.
fn spec_with_backup_plan() -> ServiceSpec {
    let text = SPEC.replace(
        "[[pods.tasks.ports]]\nname = \"http\"\n",
        r#"[[pods.tasks.ports]]
name = "http"

[[pods.tasks]]
name = "backup"
goal = "finish"
command = "cp data/starts $TARGET"
cpus = 0.1
mem_mb = 32

[[plans]]
name = "backup"
parameters = ["TARGET"]

[[plans.phases]]
name = "copy"
pod = "hello"
tasks = ["backup"]
"#,
    );
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap();
    crate::validation::validate(&spec).unwrap();
    spec
}

/// Deploys all three instances of `spec` (servers RUNNING); their server tasks.
fn deployed(spec: ServiceSpec) -> (Scheduler, Vec<herd_mesos_api::TaskInfo>) {
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let mut servers = Vec::new();
    for n in 1..=3 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), f64::from(n));
        let (_, ops) = &accepted(&actions)[0];
        let group = &ops.iter().find(|o| o.kind == OperationType::LaunchGroup).unwrap().launch_group;
        let names: Vec<&str> =
            group.as_ref().unwrap().task_group.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [format!("hello-{}-server", n - 1)], "plan tasks are not deployed");
        let task = launched_task(ops);
        s.step(Input::Update(status(&task, TaskState::TaskRunning)), f64::from(n) + 0.5);
        servers.push(task);
    }
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
    (s, servers)
}

fn plan_status(s: &Scheduler, name: &str) -> plan::Plan {
    s.plans().into_iter().find(|p| p.name == name).unwrap()
}

fn launch_group(actions: &[Action]) -> Option<herd_mesos_api::LaunchGroup> {
    accepted(actions).into_iter().find_map(|(_, ops)| {
        ops.into_iter().find(|o| o.kind == OperationType::LaunchGroup).and_then(|o| o.launch_group)
    })
}

#[test]
fn an_operator_plan_runs_its_tasks_in_each_instance_serially_with_its_parameters() {
    let (mut s, servers) = deployed(spec_with_backup_plan());
    assert_eq!(plan_status(&s, "backup").status, plan::Status::Pending, "not started");
    let params = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let missing = s.command(Command::Start { plan: "backup".into(), params: params(&[]) }, 10.0).unwrap_err();
    assert!(matches!(&missing, CommandError::Invalid(m) if m.contains("TARGET")), "{missing}");
    let unknown = s
        .command(
            Command::Start { plan: "backup".into(), params: params(&[("TARGET", "x"), ("OOPS", "1")]) },
            10.0,
        )
        .unwrap_err();
    assert!(matches!(&unknown, CommandError::Invalid(m) if m.contains("OOPS")), "{unknown}");
    let actions = s
        .command(Command::Start { plan: "backup".into(), params: params(&[("TARGET", "/backups/a")]) }, 10.0);
    assert!(actions.unwrap().contains(&Action::Revive), "a started plan wants offers");
    assert!(matches!(
        s.command(Command::Start { plan: "backup".into(), params: params(&[("TARGET", "y")]) }, 10.5),
        Err(CommandError::Conflict(_))
    ));

    // Serial: the step of hello-0 goes first, inside hello-0's running executor.
    let p0 = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    let p1 = s.placement(&InstanceId::new("hello", 1)).unwrap().clone();
    let actions = s.step(Input::Offers(vec![reserved_offer(2, &p1), reserved_offer(1, &p0)]), 11.0);
    let group = launch_group(&actions).expect("the step launches");
    assert_eq!(accepted(&actions).len(), 1, "one step at a time: {actions:#?}");
    assert_eq!(
        group.executor.executor_id,
        servers[0].executor.as_ref().unwrap().executor_id,
        "joins the executor"
    );
    assert_eq!(
        group.executor,
        *servers[0].executor.as_ref().unwrap(),
        "the same ExecutorInfo, or Mesos refuses the launch"
    );
    let backup = &group.task_group.tasks[0];
    assert_eq!(backup.name, "hello-0-backup");
    let env = backup.command.as_ref().unwrap().environment.as_ref().unwrap();
    assert!(env.variables.iter().any(|v| v.name == "TARGET" && v.value.as_deref() == Some("/backups/a")));
    let ops = &accepted(&actions)[0].1;
    assert!(ops.iter().all(|o| o.kind == OperationType::LaunchGroup), "no new reservation: {ops:#?}");
    assert_eq!(plan_status(&s, "backup").phases[0].steps[0].status, plan::Status::InProgress);

    // Done: the next instance's turn.
    s.step(Input::Update(status(backup, TaskState::TaskRunning)), 12.0);
    s.step(Input::Update(status(backup, TaskState::TaskFinished)), 13.0);
    let steps = &plan_status(&s, "backup").phases[0].steps;
    assert_eq!(steps[0].status, plan::Status::Complete);
    let actions = s.step(Input::Offers(vec![reserved_offer(2, &p1)]), 14.0);
    let group = launch_group(&actions).expect("hello-1's step");
    assert_eq!(group.task_group.tasks[0].name, "hello-1-backup");
    // The servers were never touched, the deploy plan stays complete.
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
    assert!(s.step(Input::Tick, 15.0).iter().all(|a| !matches!(a, Action::Kill { .. })));
}

#[test]
fn a_failing_step_backs_off_then_stops_in_error_until_restarted() {
    let (mut s, _) = deployed(spec_with_backup_plan());
    let params = [("TARGET".to_owned(), "/b".to_owned())].into_iter().collect();
    s.command(Command::Start { plan: "backup".into(), params }, 10.0).unwrap();
    let p0 = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    let mut t = 11.0;
    for attempt in 1..=operator_plans::MAX_STEP_FAILURES {
        let actions = s.step(Input::Offers(vec![reserved_offer(1, &p0)]), t);
        let group = launch_group(&actions).unwrap_or_else(|| panic!("attempt {attempt}: {actions:#?}"));
        s.step(Input::Update(status(&group.task_group.tasks[0], TaskState::TaskFailed)), t + 0.5);
        // Backing off: an offer right away launches nothing.
        if attempt < operator_plans::MAX_STEP_FAILURES {
            assert!(launch_group(&s.step(Input::Offers(vec![reserved_offer(1, &p0)]), t + 0.6)).is_none());
        }
        t += 100.0;
    }
    let step = &plan_status(&s, "backup").phases[0].steps[0];
    assert_eq!(step.status, plan::Status::Error);
    assert!(step.message.as_deref().unwrap_or_default().contains("restart"), "{step:?}");
    assert!(
        launch_group(&s.step(Input::Offers(vec![reserved_offer(1, &p0)]), t)).is_none(),
        "stays in error"
    );
    // The instance itself is fine: its failures are the step's, not the instance's.
    assert_eq!(s.state().instances[&InstanceId::new("hello", 0)].failures, 0);
    s.command(Command::RestartStep { plan: "backup".into(), step: "hello-0".into() }, t).unwrap();
    let group =
        launch_group(&s.step(Input::Offers(vec![reserved_offer(1, &p0)]), t + 1.0)).expect("runs again");
    let config = config_label(&group.task_group.tasks[0]);
    assert!(config.ends_with(":1"), "a restarted step runs under a new attempt: {config}");
    // Force completes a step without running it; unknown steps are named.
    s.command(Command::ForceStep { plan: "backup".into(), step: "hello-1".into() }, t + 2.0).unwrap();
    assert_eq!(plan_status(&s, "backup").phases[0].steps[1].status, plan::Status::Complete);
    let err = s.command(Command::ForceStep { plan: "backup".into(), step: "hello-9".into() }, t).unwrap_err();
    assert!(err.to_string().contains("copy/hello-0"), "{err}");
}

/// The `target_configuration` label of a launched task (an operator plan step's tag).
fn config_label(task: &herd_mesos_api::TaskInfo) -> String {
    task.labels.as_ref().unwrap().get("target_configuration").unwrap().to_owned()
}

/// Runs the next step of a started plan on instance `index` of `s` to completion; its task.
fn finish_step(s: &mut Scheduler, index: u32, agent: u32, t: f64) -> herd_mesos_api::TaskInfo {
    let placement = s.placement(&InstanceId::new("hello", index)).unwrap().clone();
    let actions = s.step(Input::Offers(vec![reserved_offer(agent, &placement)]), t);
    let group = launch_group(&actions).unwrap_or_else(|| panic!("hello-{index}'s step: {actions:#?}"));
    let task = group.task_group.tasks[0].clone();
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), t + 0.1);
    s.step(Input::Update(status(&task, TaskState::TaskFinished)), t + 0.2);
    task
}

#[test]
fn a_completed_plan_stays_complete_and_never_reruns_on_a_replaced_instance() {
    let (mut s, servers) = deployed(spec_with_backup_plan());
    let params = [("TARGET".to_owned(), "/b".to_owned())].into_iter().collect();
    s.command(Command::Start { plan: "backup".into(), params }, 10.0).unwrap();
    for (i, index) in (0..3).enumerate() {
        finish_step(&mut s, index, index + 1, 11.0 + i as f64);
    }
    assert_eq!(plan_status(&s, "backup").status, plan::Status::Complete);
    // hello-1 is replaced onto agent 4: its task records go, the step stays complete and
    // its new placement runs the server only (a restore would otherwise run again there).
    s.command(Command::ReplacePod("hello-1".into()), 20.0).unwrap();
    s.step(Input::Update(status(&servers[1], TaskState::TaskKilled)), 21.0);
    let actions = s.step(Input::Offers(vec![offer(4, vec![])]), 22.0);
    let group = launch_group(&actions).expect("relaunched on the new agent");
    let names: Vec<&str> = group.task_group.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hello-1-server"]);
    s.step(Input::Update(status(&group.task_group.tasks[0], TaskState::TaskRunning)), 23.0);
    let placement = s.placement(&InstanceId::new("hello", 1)).unwrap().clone();
    assert!(launch_group(&s.step(Input::Offers(vec![reserved_offer(4, &placement)]), 24.0)).is_none());
    let view = plan_status(&s, "backup");
    assert_eq!(view.status, plan::Status::Complete, "{view:#?}");
    assert_eq!(view.phases[0].steps.len(), 3);
    // A scheduler restarted from the stored state sees the same.
    let restarted = Scheduler::new(s.state().clone()).unwrap();
    assert_eq!(plan_status(&restarted, "backup").status, plan::Status::Complete);
}

#[test]
fn work_that_appears_while_reservations_wait_for_release_revives() {
    let (s, _) = deployed(spec_with_backup_plan());
    // A reservation on an agent that is gone waits in the cleanup list: offers keep coming
    // (not suppressed) and are declined for the long refuse time.
    let mut state = s.state().clone();
    let mut gone = state.instances[&InstanceId::new("hello", 0)].placement.clone().unwrap();
    gone.agent_id = AgentId::new("agent-gone");
    state.cleanup.push(gone);
    let mut s = Scheduler::new(state).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 10.0);
    let actions = s.step(Input::Offers(vec![offer(7, vec![])]), 11.0);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Decline { refuse_secs, .. } if *refuse_secs == LONG_REFUSE_SECS)),
        "{actions:#?}"
    );
    assert!(!actions.contains(&Action::Suppress) && !actions.contains(&Action::Revive));
    // A plan started now revives (clearing those filters) instead of waiting out 120 s.
    let params = [("TARGET".to_owned(), "/b".to_owned())].into_iter().collect();
    let actions = s.command(Command::Start { plan: "backup".into(), params }, 12.0).unwrap();
    assert!(actions.contains(&Action::Revive), "{actions:#?}");
    // Once: the work already wanted does not revive on every step.
    assert!(!s.step(Input::Tick, 13.0).contains(&Action::Revive));
}

#[test]
fn the_next_instance_of_a_serial_deploy_revives_so_its_agent_reoffers_at_once() {
    let spec = ServiceSpec::parse(SPEC, SpecFormat::Toml, "hello.toml").unwrap();
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    let revives = |actions: &[Action]| actions.iter().filter(|a| **a == Action::Revive).count();
    assert_eq!(
        revives(&s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0)),
        1,
        "one on subscribing"
    );
    // hello-0 launches on agent 1; agent 2's offer is declined (hello-1 waits its turn).
    let actions = s.step(Input::Offers(vec![offer(1, vec![]), offer(2, vec![])]), 1.0);
    let first = launched_task(&accepted(&actions)[0].1);
    assert!(actions.iter().any(|a| matches!(a, Action::Decline { .. })), "{actions:#?}");
    assert_eq!(revives(&actions), 0);
    // hello-0 runs: hello-1's turn, a REVIVE clears the filter on agent 2's resources.
    let actions = s.step(Input::Update(status(&first, TaskState::TaskRunning)), 1.2);
    assert_eq!(revives(&actions), 1, "{actions:#?}");
    // Nothing new: no more.
    assert_eq!(revives(&s.step(Input::Tick, 1.4)), 0);
    // hello-1 launches and runs at once: hello-2's turn comes within the second, its
    // REVIVE waits for the throttle, then goes out.
    let actions = s.step(Input::Offers(vec![offer(2, vec![])]), 1.5);
    let second = launched_task(&accepted(&actions)[0].1);
    assert_eq!(revives(&s.step(Input::Update(status(&second, TaskState::TaskRunning)), 1.6)), 0, "throttled");
    assert_eq!(revives(&s.step(Input::Tick, 2.3)), 1, "sent once the interval passed");
    assert_eq!(revives(&s.step(Input::Tick, 3.5)), 0);
}

#[test]
fn a_stopped_plan_starts_over_under_a_new_run() {
    let (mut s, _) = deployed(spec_with_backup_plan());
    let start = |s: &mut Scheduler, t: f64| {
        let params = [("TARGET".to_owned(), "/b".to_owned())].into_iter().collect();
        s.command(Command::Start { plan: "backup".into(), params }, t)
    };
    start(&mut s, 10.0).unwrap();
    let first = finish_step(&mut s, 0, 1, 11.0);
    assert_eq!(config_label(&first), "plan:backup:1:copy:0");
    s.command(Command::Stop("backup".into()), 12.0).unwrap();
    let view = plan_status(&s, "backup");
    assert_eq!(view.status, plan::Status::Pending, "stopped: as if never started {view:#?}");
    assert!(view.phases[0].steps[1].message.as_deref().unwrap_or_default().contains("stopped"), "{view:#?}");
    let p1 = s.placement(&InstanceId::new("hello", 1)).unwrap().clone();
    assert!(launch_group(&s.step(Input::Offers(vec![reserved_offer(2, &p1)]), 13.0)).is_none(), "stopped");
    // Started again: a new run, whose first step runs again (the first run's finished task
    // does not count for it).
    start(&mut s, 14.0).unwrap();
    assert_eq!(plan_status(&s, "backup").phases[0].steps[0].status, plan::Status::Pending);
    let again = finish_step(&mut s, 0, 1, 15.0);
    assert_eq!(config_label(&again), "plan:backup:2:copy:0");
}

#[test]
fn an_update_waits_for_a_running_plan_step_on_the_same_instance() {
    let (mut s, servers) = deployed(spec_with_backup_plan());
    let params = [("TARGET".to_owned(), "/b".to_owned())].into_iter().collect();
    s.command(Command::Start { plan: "backup".into(), params }, 10.0).unwrap();
    let p0 = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    let group = launch_group(&s.step(Input::Offers(vec![reserved_offer(1, &p0)]), 11.0)).unwrap();
    let backup = group.task_group.tasks[0].clone();
    s.step(Input::Update(status(&backup, TaskState::TaskRunning)), 11.5);
    // A new config for the servers: hello-0 is first in line but locked by the backup.
    let mut state = s.state().clone();
    let mut spec = state.target.spec.clone();
    spec.pods[0].tasks[0].env.insert("NEW".into(), "1".into());
    state.retarget(TargetConfig { id: "cfg-2".into(), spec });
    let mut s = Scheduler::new(state).unwrap();
    let mut actions = s.step(Input::Subscribed { framework_id: "fw".into() }, 12.0);
    actions.extend(s.step(Input::Tick, 12.5));
    assert!(actions.iter().all(|a| !matches!(a, Action::Kill { .. })), "locked: {actions:#?}");
    let actions = s.step(Input::Update(status(&backup, TaskState::TaskFinished)), 13.0);
    assert!(
        actions.iter().any(|a| matches!(a, Action::Kill { task_id, .. } if *task_id == servers[0].task_id)),
        "the update goes on once the step is done: {actions:#?}"
    );
}

#[test]
fn retargeting_restarts_only_the_pod_types_whose_config_changed() {
    let text = SPEC.replace("count = 3", "count = 1")
        + r#"
[[pods]]
name = "other"
count = 1
[[pods.tasks]]
name = "worker"
command = "sleep 1000"
cpus = 0.1
mem_mb = 32
"#;
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "two.toml").unwrap();
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let mut tasks = Vec::new();
    for n in 1..=2 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), f64::from(n));
        let task = launched_task(&accepted(&actions)[0].1);
        s.step(Input::Update(status(&task, TaskState::TaskRunning)), f64::from(n) + 0.5);
        tasks.push(task);
    }
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
    let mut state = s.state().clone();
    let mut spec = state.target.spec.clone();
    spec.pods[1].tasks[0].command = "sleep 2000".into();
    assert_eq!(state.retarget(TargetConfig { id: "cfg-2".into(), spec }), Vec::<InstanceId>::new());
    let mut s = Scheduler::new(state).unwrap();
    let mut actions = s.step(Input::Subscribed { framework_id: "fw".into() }, 5.0);
    actions.extend(s.step(Input::Tick, 5.5));
    let killed: Vec<&TaskId> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task_id, .. } => Some(task_id),
            _ => None,
        })
        .collect();
    assert_eq!(killed, [&tasks[1].task_id], "only the changed pod type restarts");
    let deploy = s.deploy_plan();
    assert_eq!(deploy.phases[0].status, plan::Status::Complete, "hello is up to date: {deploy:#?}");
}

#[test]
fn unknown_reservations_are_released_only_when_this_framework_made_them() {
    let mut s = scheduler();
    let labelled = |framework: &str, id: &str| {
        let labels: herd_mesos_api::Labels =
            [(crate::model::RESOURCE_ID_LABEL, id), (crate::model::FRAMEWORK_LABEL, framework)]
                .into_iter()
                .collect();
        Resource::scalar("cpus", 0.5)
            .reserved(herd_mesos_api::ReservationInfo::dynamic("hello-role", Some("p".into()), Some(labels)))
            .allocated_to("hello-role")
    };
    // Another framework in the same role: left alone (it is not ours to destroy).
    let mut foreign = offer(1, vec![labelled("other-fw", "other-svc-x-1")]);
    foreign
        .resources
        .retain(|r| r.name == "cpus" && r.reservations.len() + usize::from(r.reservation.is_some()) > 0);
    let actions = s.step(Input::Offers(vec![foreign]), 1.0);
    assert!(accepted(&actions).is_empty(), "{actions:#?}");
    assert_eq!(s.orphans().count(), 0);
    // Ours (a reservation the state lost track of): released and shown.
    let mut own = offer(2, vec![labelled("fw", "hello-hello-7-1")]);
    own.resources
        .retain(|r| r.name == "cpus" && r.reservations.len() + usize::from(r.reservation.is_some()) > 0);
    let actions = s.step(Input::Offers(vec![own]), 2.0);
    let (_, ops) = &accepted(&actions)[0];
    assert_eq!(ops[0].kind, OperationType::Unreserve);
    assert_eq!(s.orphans().next().unwrap().reservation_id, "hello-hello-7-1");
}

fn gang_spec(strategy: &str, update_strategy: &str) -> ServiceSpec {
    let text = SPEC.replace(
        "placement = [\"hostname:UNIQUE\"]",
        &format!(
            "placement = [\"hostname:UNIQUE\"]\ngang = true\nstrategy = \"{strategy}\"\nupdate_strategy = \"{update_strategy}\""
        ),
    )
    .replace(
        "command = \"echo started >> data/starts; exec python3 -m http.server {{ ports.http }}\"",
        "command = \"echo {{ instances.hello | addresses('http') | join(' ') }}; sleep 1000\"",
    );
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "gang.toml").unwrap();
    crate::validation::validate(&spec).unwrap();
    spec
}

fn kinds(ops: &[Operation]) -> Vec<OperationType> {
    ops.iter().map(|o| o.kind).collect()
}

#[test]
fn a_gang_pod_reserves_every_instance_before_launching_with_all_addresses() {
    let mut s = Scheduler::new(ServiceState::new(TargetConfig {
        id: "cfg-1".into(),
        spec: gang_spec("serial", "serial"),
    }))
    .unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    // One offer at a time: the first two are only reserved.
    for n in 1..=2 {
        let actions = s.step(Input::Offers(vec![offer(n, vec![])]), f64::from(n));
        let accepts = accepted(&actions);
        assert_eq!(accepts.len(), 1, "{actions:#?}");
        assert_eq!(kinds(&accepts[0].1), [OperationType::Reserve, OperationType::Create], "reserve only");
    }
    assert!(s.state().instances.values().all(|i| i.tasks.is_empty()), "nothing launched yet");
    // The last one is reserved and launched: its command names all three.
    let actions = s.step(Input::Offers(vec![offer(3, vec![])]), 3.0);
    let (_, ops) = &accepted(&actions)[0];
    assert_eq!(kinds(ops), [OperationType::Reserve, OperationType::Create, OperationType::LaunchGroup]);
    let command = launched_task(ops).command.unwrap().value.unwrap();
    for n in 1..=3 {
        assert!(command.contains(&format!("127.0.1.{n}:")), "every address: {command}");
    }
    // The others launch (in parallel: a gang starts together) when their reservations come back.
    let p0 = s.placement(&InstanceId::new("hello", 0)).unwrap().clone();
    let p1 = s.placement(&InstanceId::new("hello", 1)).unwrap().clone();
    let actions = s.step(Input::Offers(vec![reserved_offer(1, &p0), reserved_offer(2, &p1)]), 4.0);
    let launched: Vec<_> = accepted(&actions).into_iter().map(|(_, ops)| kinds(&ops)).collect();
    assert_eq!(
        launched,
        [vec![OperationType::LaunchGroup], vec![OperationType::LaunchGroup]],
        "{actions:#?}"
    );
    for i in 0..2 {
        let instance = &s.state().instances[&InstanceId::new("hello", i)];
        assert!(instance.placement_confirmed, "the offer showed the reservation of hello-{i}");
        assert_eq!(instance.reserved_at, None);
    }
}

#[test]
fn a_reservation_offers_never_show_is_made_again() {
    let mut s = Scheduler::new(ServiceState::new(TargetConfig {
        id: "cfg-1".into(),
        spec: gang_spec("serial", "serial"),
    }))
    .unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 1.0);
    assert_eq!(kinds(&accepted(&actions)[0].1), [OperationType::Reserve, OperationType::Create]);
    let id = InstanceId::new("hello", 0);
    assert!(s.placement(&id).is_some());
    // The ACCEPT was lost: the agent keeps offering without the reservation.
    let mut bare = offer(1, vec![]);
    bare.id = "again".into();
    let actions = s.step(Input::Offers(vec![bare.clone()]), 5.0);
    assert!(s.placement(&id).is_some(), "too early to tell: {actions:#?}");
    bare.id = "later".into();
    s.step(Input::Offers(vec![bare]), 1.0 + RESERVATION_CONFIRM_SECS + 1.0);
    // Reservation ids count the instance's placements: -0 was lost, -1 is the new one.
    let dropped = s.state().cleanup.iter().any(|p| p.reservation_id == "hello-hello-0-0");
    assert!(dropped, "the lost placement goes to cleanup: {:#?}", s.state().cleanup);
    let placed_again = s.placement(&id).map(|p| p.reservation_id.clone());
    assert_eq!(placed_again.as_deref(), Some("hello-hello-0-1"), "placed afresh on the same offer");
}

#[test]
fn a_pod_deployed_in_parallel_updates_serially_with_its_update_strategy() {
    let mut s = Scheduler::new(ServiceState::new(TargetConfig {
        id: "cfg-1".into(),
        spec: gang_spec("parallel", "serial"),
    }))
    .unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    // Offers from every agent at once place the whole gang: each instance is reserved and
    // launched in one ACCEPT (no second offer round), knowing every address.
    let actions = s.step(Input::Offers(vec![offer(1, vec![]), offer(2, vec![]), offer(3, vec![])]), 1.0);
    let accepts = accepted(&actions);
    assert_eq!(accepts.len(), 3);
    let mut tasks = Vec::new();
    for (_, ops) in &accepts {
        assert_eq!(kinds(ops), [OperationType::Reserve, OperationType::Create, OperationType::LaunchGroup]);
        let task = launched_task(ops);
        let command = task.command.clone().unwrap().value.unwrap();
        for n in 1..=3 {
            assert!(command.contains(&format!("127.0.1.{n}:")), "every address: {command}");
        }
        tasks.push(task);
    }
    for t in &tasks {
        s.step(Input::Update(status(t, TaskState::TaskRunning)), 3.0);
    }
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
    let mut state = s.state().clone();
    let mut spec = state.target.spec.clone();
    spec.pods[0].tasks[0].env.insert("NEW".into(), "1".into());
    state.retarget(TargetConfig { id: "cfg-2".into(), spec });
    let mut s = Scheduler::new(state).unwrap();
    let mut actions = s.step(Input::Subscribed { framework_id: "fw".into() }, 4.0);
    actions.extend(s.step(Input::Tick, 4.5));
    let kills = actions.iter().filter(|a| matches!(a, Action::Kill { .. })).count();
    assert_eq!(kills, 1, "the update rolls one at a time: {actions:#?}");
}

#[test]
fn a_scheduler_probe_decides_readiness_with_the_mesos_check() {
    let text = SPEC.replace(
        "[[pods.tasks.ports]]\nname = \"http\"\n",
        "[[pods.tasks.ports]]\nname = \"http\"\n\n[pods.tasks.readiness_check]\ntcp = { port = \"http\" }\nprobe = \"in-sync\"\n",
    );
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "probe.toml").unwrap();
    crate::validation::validate(&spec).unwrap();
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 1.0);
    let task = launched_task(&accepted(&actions)[0].1);
    assert!(s.probes_due().is_empty(), "not running yet");
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 2.0);
    let due = s.probes_due();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].probe.as_str(), due[0].host.as_str()), ("in-sync", "127.0.1.1"));
    assert!(due[0].ports.contains_key("http"));
    // The probe sees its pod type's instances: itself placed, the others not yet.
    let placed: Vec<(&str, bool)> = due[0].instances.iter().map(|i| (i.name.as_str(), i.placed)).collect();
    assert_eq!(placed, [("hello-0", true), ("hello-1", false), ("hello-2", false)]);
    let record = |s: &Scheduler| s.state().instances[&InstanceId::new("hello", 0)].tasks["server"].clone();
    assert!(!record(&s).ready, "the TCP check has not passed either");
    // The probe passes first: still waiting for the TCP check.
    let persisted = s.step(Input::ProbePassed(task.task_id.clone()), 3.0);
    assert!(persisted.iter().any(|a| matches!(a, Action::Persist { .. })));
    assert!(!record(&s).ready && s.probes_due().is_empty());
    let mut checked = status(&task, TaskState::TaskRunning);
    checked.check_status = Some(herd_mesos_api::CheckStatusInfo {
        tcp: Some(herd_mesos_api::TcpCheckStatus { succeeded: Some(true) }),
        ..herd_mesos_api::CheckStatusInfo::default()
    });
    s.step(Input::Update(checked), 4.0);
    assert!(record(&s).ready, "both passed");
    // A probe result for a task that is gone changes nothing.
    assert!(
        s.step(Input::ProbePassed("gone".into()), 5.0).iter().all(|a| !matches!(a, Action::Persist { .. }))
    );
}

#[test]
fn attribute_constraints_see_where_the_other_instances_are_and_templates_see_the_rack() {
    let text = SPEC
        .replace("placement = [\"hostname:UNIQUE\"]", "placement = [\"rack:UNIQUE\"]")
        .replace("count = 3", "count = 2")
        .replace(
            "command = \"echo started >> data/starts; exec python3 -m http.server {{ ports.http }}\"",
            "command = \"echo rack={{ attributes.rack }}; sleep 1000\"",
        );
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "racks.toml").unwrap();
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let on_rack = |n: u32, rack: &str| {
        let mut o = offer(n, vec![]);
        o.attributes = vec![Attribute::text("rack", rack)];
        o
    };
    let actions = s.step(Input::Offers(vec![on_rack(1, "r1")]), 1.0);
    let task = launched_task(&accepted(&actions)[0].1);
    assert!(
        task.command.clone().unwrap().value.unwrap().contains("rack=r1"),
        "the template sees the agent's rack"
    );
    s.step(Input::Update(status(&task, TaskState::TaskRunning)), 1.5);
    // Another agent on rack r1 is refused for hello-1 (the placed hello-0 is on r1 too).
    let actions = s.step(Input::Offers(vec![on_rack(2, "r1")]), 2.0);
    assert!(accepted(&actions).is_empty(), "{actions:#?}");
    let why = s.outcomes().last().unwrap().rejection.clone().unwrap_or_default();
    assert!(why.contains("rack"), "{why}");
    let actions = s.step(Input::Offers(vec![on_rack(3, "r2")]), 3.0);
    assert_eq!(accepted(&actions).len(), 1, "another rack is fine");
}

/// The hello spec whose instances drain (a `drain` task) before they are scaled in.
fn spec_with_drain() -> ServiceSpec {
    let text = SPEC.replace(
        "[[pods.tasks.ports]]\nname = \"http\"\n",
        r#"[[pods.tasks.ports]]
name = "http"

[[pods.tasks]]
name = "drain"
goal = "finish"
command = "move-data-away --keep '{{ instances.hello | rejectattr('decommissioning') | map(attribute='host') | join(',') }}'"
cpus = 0.1
mem_mb = 32
"#,
    )
    .replace("count = 3\n", "count = 3\ndecommission_tasks = [\"drain\"]\n");
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap();
    crate::validation::validate(&spec).unwrap();
    spec
}

/// `s` retargeted to `count` instances (a restarted scheduler on the new state).
fn scaled(s: &Scheduler, count: u32, now: f64) -> Scheduler {
    let mut state = s.state().clone();
    let mut spec = state.target.spec.clone();
    spec.pods[0].count = count;
    state.retarget(TargetConfig { id: format!("cfg-{count}"), spec });
    let mut s = Scheduler::new(state).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, now);
    s
}

fn kills(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task_id, .. } => Some(task_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_scaled_in_instance_drains_before_its_tasks_are_killed_and_its_resources_released() {
    let (s, servers) = deployed(spec_with_drain());
    let mut s = scaled(&s, 2, 10.0);
    let id = InstanceId::new("hello", 2);
    let p2 = s.placement(&id).unwrap().clone();
    let actions = s.step(Input::Tick, 10.5);
    assert!(kills(&actions).is_empty(), "the server keeps running while it drains: {actions:#?}");
    assert!(!actions.contains(&Action::Suppress), "a drain wants offers: {actions:#?}");
    let step = &plan_status(&s, drain::PLAN).phases[0].steps[0];
    assert_eq!((step.name.as_str(), step.status), ("hello-2", plan::Status::Pending), "{step:?}");

    // The drain runs inside the instance, told which instances stay.
    let actions = s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 11.0);
    let group = launch_group(&actions).expect("the drain launches");
    let drain = group.task_group.tasks[0].clone();
    assert_eq!(drain.name, "hello-2-drain");
    assert_eq!(group.executor, *servers[2].executor.as_ref().unwrap(), "joins the running executor");
    let command = drain.command.as_ref().unwrap().value.clone().unwrap();
    assert!(command.contains("--keep '127.0.1.1,127.0.1.2'"), "{command}");
    assert!(kills(&actions).is_empty());
    s.step(Input::Update(status(&drain, TaskState::TaskRunning)), 11.5);
    assert_eq!(plan_status(&s, drain::PLAN).status, plan::Status::InProgress);
    assert!(launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 12.0)).is_none(), "once");

    // Drained: now the server goes, then the instance and its reservation.
    let actions = s.step(Input::Update(status(&drain, TaskState::TaskFinished)), 13.0);
    assert_eq!(kills(&actions), [servers[2].task_id.clone()], "{actions:#?}");
    s.step(Input::Update(status(&servers[2], TaskState::TaskKilled)), 14.0);
    assert!(!s.state().instances.contains_key(&id), "removed once its tasks are gone");
    assert!(s.plans().iter().all(|p| p.name != drain::PLAN), "nothing left to decommission");
    assert_eq!(s.pending_releases().len(), 1);
    let actions = s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 15.0);
    let ops: Vec<OperationType> = accepted(&actions).iter().flat_map(|(_, ops)| kinds(ops)).collect();
    assert_eq!(ops, [OperationType::Destroy, OperationType::Unreserve], "{actions:#?}");
    // The two that stay were never touched.
    assert_eq!(s.deploy_plan().status, plan::Status::Complete);
}

#[test]
fn a_failing_drain_is_retried_shown_as_error_and_can_be_forced() {
    let (s, servers) = deployed(spec_with_drain());
    let mut s = scaled(&s, 2, 10.0);
    let p2 = s.placement(&InstanceId::new("hello", 2)).unwrap().clone();
    let group = launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 11.0)).unwrap();
    let actions = s.step(Input::Update(status(&group.task_group.tasks[0], TaskState::TaskFailed)), 12.0);
    assert!(kills(&actions).is_empty(), "a failed drain keeps the instance: {actions:#?}");
    let step = plan_status(&s, drain::PLAN).phases[0].steps[0].clone();
    assert_eq!(step.status, plan::Status::Error);
    assert!(step.message.as_deref().unwrap_or_default().contains("force"), "{step:?}");
    assert!(launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 12.5)).is_none(), "backoff");
    let again = launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 100.0)).expect("retried");
    assert_eq!(again.task_group.tasks[0].name, "hello-2-drain");
    s.step(Input::Update(status(&again.task_group.tasks[0], TaskState::TaskFailed)), 101.0);

    // Steps of the decommission plan are only the instances being decommissioned; it
    // cannot be started; force lets the instance go undrained.
    let err = s.command(Command::ForceStep { plan: drain::PLAN.into(), step: "hello-0".into() }, 102.0);
    assert!(matches!(&err, Err(CommandError::NotFound { known, .. }) if known == "hello-2"), "{err:?}");
    let err = s.command(Command::Start { plan: drain::PLAN.into(), params: BTreeMap::new() }, 102.0);
    assert!(matches!(err, Err(CommandError::Conflict(_))));
    let actions =
        s.command(Command::ForceStep { plan: drain::PLAN.into(), step: "hello-2".into() }, 102.0).unwrap();
    assert_eq!(kills(&actions), [servers[2].task_id.clone()], "{actions:#?}");
}

#[test]
fn a_dead_instance_is_relaunched_to_drain_and_uninstall_does_not_drain() {
    let (s, servers) = deployed(spec_with_drain());
    let mut s = scaled(&s, 2, 10.0);
    let p2 = s.placement(&InstanceId::new("hello", 2)).unwrap().clone();
    s.step(Input::Update(status(&servers[2], TaskState::TaskFailed)), 10.5);
    let step = plan_status(&s, drain::PLAN).phases[0].steps[0].clone();
    assert!(step.message.as_deref().unwrap_or_default().contains("run again"), "{step:?}");
    // After its backoff it comes back in place, then drains.
    let group = launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 20.0)).expect("relaunch");
    let server = group.task_group.tasks[0].clone();
    assert_eq!(server.name, "hello-2-server");
    s.step(Input::Update(status(&server, TaskState::TaskRunning)), 21.0);
    let group = launch_group(&s.step(Input::Offers(vec![reserved_offer(3, &p2)]), 22.0)).expect("drain");
    assert_eq!(group.task_group.tasks[0].name, "hello-2-drain");

    // Uninstall: nothing drains, everything is killed at once.
    let (mut s, servers) = deployed(spec_with_drain());
    let actions = s.command(Command::Uninstall, 10.0).unwrap();
    let mut killed = kills(&actions);
    killed.sort();
    let mut all: Vec<TaskId> = servers.iter().map(|t| t.task_id.clone()).collect();
    all.sort();
    assert_eq!(killed, all);
}

#[test]
fn a_replaced_instance_knows_the_address_it_replaces() {
    let text = SPEC.replace(
        "exec python3",
        "echo replacing {{ replaced_host or 'nothing' }}:{{ replaced_ports.http | default('none') }}; exec python3",
    );
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap();
    let (mut s, servers) = deployed(spec);
    let command = |t: &herd_mesos_api::TaskInfo| t.command.as_ref().unwrap().value.clone().unwrap();
    assert!(command(&servers[1]).contains("replacing nothing:none;"), "{}", command(&servers[1]));
    s.command(Command::ReplacePod("hello-1".into()), 10.0).unwrap();
    s.step(Input::Update(status(&servers[1], TaskState::TaskKilled)), 11.0);
    let actions = s.step(Input::Offers(vec![offer(4, vec![])]), 12.0);
    let group = launch_group(&actions).expect("relaunched on the new agent");
    let server = &group.task_group.tasks[0];
    assert!(command(server).contains("replacing 127.0.1.2:31000;"), "{}", command(server));
}

#[test]
fn a_scale_out_with_a_config_change_deploys_new_instances_beside_a_serial_rollout() {
    let text =
        SPEC.replace("count = 3\n", "count = 3\nstrategy = \"parallel\"\nupdate_strategy = \"serial\"\n");
    let (s, _) = deployed(ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap());
    let mut state = s.state().clone();
    let mut spec = state.target.spec.clone();
    spec.pods[0].count = 5;
    spec.pods[0].tasks[0].env.insert("NEW".into(), "1".into());
    state.retarget(TargetConfig { id: "cfg-2".into(), spec });
    let names: Vec<String> = plan::workable(&state).iter().map(ToString::to_string).collect();
    assert_eq!(names, ["hello-0", "hello-3", "hello-4"], "one running instance at a time, new ones at once");
}

#[test]
fn a_serial_first_deploy_waits_for_each_instance_even_with_an_update_strategy() {
    let text = SPEC.replace("count = 3\n", "count = 3\nupdate_strategy = \"serial\"\n");
    let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap();
    let mut s = Scheduler::new(ServiceState::new(TargetConfig { id: "cfg-1".into(), spec })).unwrap();
    s.step(Input::Subscribed { framework_id: "fw".into() }, 0.0);
    let actions = s.step(Input::Offers(vec![offer(1, vec![])]), 1.0);
    let first = launched_task(&accepted(&actions)[0].1);
    // hello-0 is launched, not running yet: hello-1 waits for it.
    let names: Vec<String> = plan::workable(s.state()).iter().map(ToString::to_string).collect();
    assert_eq!(names, ["hello-0"]);
    assert!(accepted(&s.step(Input::Offers(vec![offer(2, vec![])]), 2.0)).is_empty());
    s.step(Input::Update(status(&first, TaskState::TaskRunning)), 3.0);
    assert!(s.state().instances[&InstanceId::new("hello", 0)].deployed);
    assert_eq!(accepted(&s.step(Input::Offers(vec![offer(2, vec![])]), 4.0)).len(), 1, "now hello-1");
}
