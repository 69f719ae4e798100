//! General checks (`TaskInfo.check`) end to end: the built-in executor reports each changed
//! result as a `TASK_RUNNING` update with `check_status` and reason
//! `REASON_TASK_CHECK_STATUS_UPDATED`, puts the empty status of the check's type on the statuses
//! it makes from scratch, and the master answers reconciliation with the latest check status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use herd_mesos_api::scheduler::{Call, Kill, Reconcile, ReconcileTask};
use herd_mesos_api::task::{CheckInfo, CheckType, CommandCheck, HealthCheck, HttpCheck};
use herd_mesos_api::{
    CheckStatusInfo, CommandCheckStatus, CommandInfo, HttpCheckStatus, Offer, Operation, Reason, Resource,
    TaskState, TaskStatus,
};
use support::*;

/// No delay, quick interval, bounded checks.
fn fast(kind: CheckType) -> CheckInfo {
    CheckInfo {
        kind: Some(kind),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.2),
        timeout_seconds: Some(2.0),
        ..CheckInfo::default()
    }
}

fn empty(kind: CheckType) -> CheckStatusInfo {
    let mut status = CheckStatusInfo { kind: Some(kind), ..CheckStatusInfo::default() };
    match kind {
        CheckType::Command => status.command = Some(CommandCheckStatus::default()),
        CheckType::Http => status.http = Some(HttpCheckStatus::default()),
        _ => unreachable!(),
    }
    status
}

fn exit_code(code: i32) -> CheckStatusInfo {
    CheckStatusInfo {
        kind: Some(CheckType::Command),
        command: Some(CommandCheckStatus { exit_code: Some(code) }),
        ..CheckStatusInfo::default()
    }
}

fn executor_pid(status: &TaskStatus) -> Option<u32> {
    status.container_status.as_ref().and_then(|c| c.executor_pid)
}

/// A port of the offer's `ports` that is free on the offer's agent address.
fn free_offered_port(offer: &Offer) -> (String, u16) {
    let ip = offer.url.as_ref().unwrap().address.ip.clone().unwrap();
    let ranges = offer.resources.iter().find(|r| r.name == "ports").and_then(|r| r.ranges.as_ref()).unwrap();
    let port = ranges
        .range
        .iter()
        .flat_map(|r| r.begin..=r.end)
        .filter_map(|p| u16::try_from(p).ok())
        .find(|&p| std::net::TcpListener::bind((ip.as_str(), p)).is_ok())
        .expect("a free offered port");
    (ip, port)
}

async fn reconcile(s: &mut Sched, task: &str) -> TaskStatus {
    s.client
        .call(Call::Reconcile(Reconcile {
            tasks: vec![ReconcileTask { task_id: task.into(), agent_id: None }],
        }))
        .await
        .unwrap();
    loop {
        let status = s.update_of(task).await;
        if status.reason == Some(Reason::ReasonReconciliation) {
            return status;
        }
    }
}

async fn kill(s: &mut Sched, task: &str) {
    s.client
        .call(Call::Kill(Kill { task_id: task.into(), agent_id: None, kill_policy: None }))
        .await
        .unwrap();
}

#[tokio::test]
async fn checks_http_reports_the_status_code_once_the_task_listens() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("checks-http", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    let (ip, port) = free_offered_port(&offer);
    let mut task = command_task(
        "web",
        &offer.agent_id,
        &format!("sleep 1; exec python3 -m http.server {port} --bind \"$LIBPROCESS_IP\""),
        Some("herd-role"),
    );
    task.resources.push(Resource::ranges("ports", [(port.into(), port.into())]).allocated_to("herd-role"));
    task.check = Some(CheckInfo {
        http: Some(HttpCheck { port: port.into(), path: Some("/".into()) }),
        ..fast(CheckType::Http)
    });
    s.accept(&offer, vec![Operation::launch(vec![task])]).await;

    // Statuses made from scratch carry the empty HTTP check status.
    let starting = s.update_of("web").await;
    assert_eq!(starting.state, TaskState::TaskStarting);
    assert_eq!(starting.check_status, Some(empty(CheckType::Http)));
    let running = s.update_of("web").await;
    assert_eq!(running.state, TaskState::TaskRunning);
    assert_eq!(running.reason, None);
    assert_eq!(running.check_status, Some(empty(CheckType::Http)));
    assert!(executor_pid(&running).is_some());

    // The failing checks while nothing listens change nothing, so the next update is the 200.
    let checked = s.update_of("web").await;
    assert_eq!(checked.state, TaskState::TaskRunning);
    assert_eq!(checked.reason, Some(Reason::ReasonTaskCheckStatusUpdated));
    let check_status = checked.check_status.clone().unwrap();
    assert_eq!(check_status.kind, Some(CheckType::Http));
    assert_eq!(check_status.http.unwrap().status_code, Some(200), "probed http://{ip}:{port}/");
    assert_eq!(executor_pid(&checked), executor_pid(&running));
    assert_ne!(checked.uuid, running.uuid);

    // Reconciliation answers with the latest check status.
    let answer = reconcile(&mut s, "web").await;
    assert_eq!(answer.state, TaskState::TaskRunning);
    assert_eq!(answer.check_status, checked.check_status);

    // Checks never kill: the task runs until killed; no check update after the kill.
    kill(&mut s, "web").await;
    let killing = s.update_of("web").await;
    assert_eq!(killing.state, TaskState::TaskKilling);
    assert_eq!(killing.check_status, Some(empty(CheckType::Http)));
    let killed = s.update_of("web").await;
    assert_eq!(killed.state, TaskState::TaskKilled);
    assert_eq!(killed.check_status, Some(empty(CheckType::Http)));
}

#[tokio::test]
async fn checks_command_flips_when_the_task_creates_the_file() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("checks-command", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    let mut task =
        command_task("ready", &offer.agent_id, "sleep 2; touch ready; sleep 60", Some("herd-role"));
    task.check = Some(CheckInfo {
        command: Some(CommandCheck { command: CommandInfo::shell("test -f ready") }),
        ..fast(CheckType::Command)
    });
    // A health check on the same file: its updates keep the check status and vice versa.
    task.health_check = Some(HealthCheck {
        kind: Some(CheckType::Command),
        command: Some(CommandInfo::shell("test -f ready")),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.2),
        grace_period_seconds: Some(60.0),
        consecutive_failures: Some(1000),
        ..HealthCheck::default()
    });
    s.accept(&offer, vec![Operation::launch(vec![task])]).await;

    assert_eq!(s.update_of("ready").await.state, TaskState::TaskStarting);
    let running = s.update_of("ready").await;
    assert_eq!(running.state, TaskState::TaskRunning);
    assert_eq!(running.check_status, Some(empty(CheckType::Command)));

    // The first result (exit 1, the file is not there yet) differs from the empty status.
    let first = s.update_of("ready").await;
    assert_eq!(first.state, TaskState::TaskRunning);
    assert_eq!(first.reason, Some(Reason::ReasonTaskCheckStatusUpdated));
    assert_eq!(first.check_status, Some(exit_code(1)));
    assert_eq!(first.healthy, None, "health failures are ignored in the grace period");

    // Then, in either order, the check flips to 0 and the task turns healthy; the later of the
    // two updates carries both.
    let (mut flipped, mut healthy) = (false, false);
    let last = loop {
        let status = s.update_of("ready").await;
        assert_eq!(status.state, TaskState::TaskRunning, "{status:?}");
        match status.reason {
            Some(Reason::ReasonTaskCheckStatusUpdated) => {
                assert_eq!(status.check_status, Some(exit_code(0)));
                flipped = true;
            }
            Some(Reason::ReasonTaskHealthCheckStatusUpdated) => {
                assert_eq!(status.healthy, Some(true));
                healthy = true;
            }
            other => panic!("unexpected reason {other:?}: {status:?}"),
        }
        if flipped && healthy {
            break status;
        }
    };
    assert_eq!(last.check_status, Some(exit_code(0)));
    assert_eq!(last.healthy, Some(true));

    let answer = reconcile(&mut s, "ready").await;
    assert_eq!(answer.check_status, Some(exit_code(0)));
    assert_eq!(answer.healthy, Some(true));

    kill(&mut s, "ready").await;
    let killing = s.update_of("ready").await;
    assert_eq!(killing.state, TaskState::TaskKilling);
    assert_eq!(killing.check_status, Some(empty(CheckType::Command)));
    let killed = s.update_of("ready").await;
    assert_eq!(killed.state, TaskState::TaskKilled);
    assert_eq!(killed.check_status, Some(empty(CheckType::Command)));
}
