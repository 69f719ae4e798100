//! The local cluster driven over real HTTP by herd's own scheduler client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use herd_mesos_api::{Operation, TaskState};
use support::*;

#[tokio::test]
async fn a_command_task_runs_to_completion() {
    let t = cluster(2).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("smoke", HERD_CAPS)).await;
    let offers = s.offers().await;
    assert!(!offers.is_empty());
    let offer = &offers[0];
    assert!(offer.url.as_ref().unwrap().address.ip.as_ref().unwrap().starts_with("127.0."));
    let task =
        command_task("hello", &offer.agent_id, "echo hello-from-task; echo to-stderr >&2", Some("herd-role"));
    s.accept(offer, vec![Operation::launch(vec![task])]).await;
    let states = s.states_until_terminal("hello").await;
    assert_eq!(states, [TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished]);
    // The sandbox holds the task's output.
    let agent = t.cluster.agents().iter().find(|a| a.id() == &offer.agent_id).unwrap();
    let stdout = find_file(agent.work_dir(), "stdout");
    assert_eq!(std::fs::read_to_string(stdout).unwrap(), "hello-from-task\n");
}

fn find_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    search(dir, name).unwrap_or_else(|| panic!("no {name} under {}", dir.display()))
}

fn search(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() && !path.is_symlink() {
            if let Some(found) = search(&path, name) {
                return Some(found);
            }
        } else if path.file_name()? == name {
            return Some(path);
        }
    }
    None
}

use herd_mesos_api::scheduler::{Call, Event};
use herd_mesos_api::{FrameworkCapabilityType, Reason, Resource, Source};
use std::time::Duration;

/// Reserve → create a volume → launch on exactly those resources; the data outlives the
/// task, a relaunch and an agent restart; destroy + unreserve give the resources back.
#[tokio::test]
async fn reservations_and_volumes_outlive_tasks_and_agent_restarts() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("volumes", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    let cpus = reserved(Resource::scalar("cpus", 0.5), "inst-0");
    let mem = reserved(Resource::scalar("mem", 64.0), "inst-0");
    let disk = reserved(Resource::scalar("disk", 100.0), "inst-0");
    let vol = volume(100.0, "vol-0", "data", "inst-0");
    let mut task = command_task("writer-1", &offer.agent_id, "echo one >> data/log && cat data/log", None);
    task.resources = vec![cpus.clone(), mem.clone(), vol.clone()];
    s.accept(
        &offer,
        vec![
            herd_mesos_api::Operation::reserve(vec![cpus.clone(), mem.clone(), disk.clone()]),
            herd_mesos_api::Operation::create(vec![vol.clone()]),
            Operation::launch(vec![task.clone()]),
        ],
    )
    .await;
    assert_eq!(*s.states_until_terminal("writer-1").await.last().unwrap(), TaskState::TaskFinished);

    // The next offer carries the reservation (with its labels) and the volume.
    let offer = loop {
        let offer = s.offers().await.remove(0);
        if offer.resources.iter().any(|r| r.is_persistent_volume()) {
            break offer;
        }
    };
    let offered_volume = offer.resources.iter().find(|r| r.is_persistent_volume()).unwrap();
    assert_eq!(offered_volume.disk.as_ref().unwrap().persistence.as_ref().unwrap().id, "vol-0");
    assert_eq!(
        offered_volume.current_reservation().unwrap().labels.unwrap().get("resource_id"),
        Some("inst-0")
    );

    // Restart the agent: same id, the reservation and volume come back, data intact.
    t.cluster.stop_agent(0).unwrap();
    loop {
        match s.next().await {
            Event::Rescind(_) => break,
            Event::Offers(_) | Event::Update(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    t.cluster.restart_agent(0).await.unwrap();
    let offer = loop {
        let offer = s.offers().await.remove(0);
        if offer.resources.iter().any(|r| r.is_persistent_volume()) {
            break offer;
        }
    };
    let mut again = task.clone();
    again.task_id = "writer-2".into();
    again.command = Some(herd_mesos_api::CommandInfo::shell("echo two >> data/log && cat data/log"));
    s.accept(&offer, vec![Operation::launch(vec![again])]).await;
    assert_eq!(*s.states_until_terminal("writer-2").await.last().unwrap(), TaskState::TaskFinished);
    let log =
        std::fs::read_to_string(t.cluster.agents()[0].work_dir().join("volumes/roles/herd-role/vol-0/log"))
            .unwrap();
    assert_eq!(log, "one\ntwo\n", "the volume kept the first task's data");

    // DESTROY + UNRESERVE: the volume directory goes, the resources are unreserved again.
    let offer = loop {
        let offer = s.offers().await.remove(0);
        if offer.resources.iter().any(|r| r.is_persistent_volume()) {
            break offer;
        }
    };
    s.accept(
        &offer,
        vec![
            herd_mesos_api::Operation::destroy(vec![vol.clone()]),
            herd_mesos_api::Operation::unreserve(vec![cpus, mem, disk]),
        ],
    )
    .await;
    let offer = loop {
        let offer = s.offers().await.remove(0);
        if offer.resources.iter().all(|r| r.is_unreserved()) {
            break offer;
        }
    };
    assert!(offer.resources.iter().all(|r| !r.is_persistent_volume()));
    assert!(!t.cluster.agents()[0].work_dir().join("volumes/roles/herd-role/vol-0").exists());
}

#[tokio::test]
async fn a_uri_that_cannot_be_fetched_fails_the_task_and_nothing_else() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("fetch", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    let mut bad = command_task("bad-uri", &offer.agent_id, "true", Some("herd-role"));
    bad.command.as_mut().unwrap().uris =
        vec![herd_mesos_api::Uri { value: "http://127.0.0.1:9/nothing.tgz".into(), ..Default::default() }];
    let good = command_task("good", &offer.agent_id, "true", Some("herd-role"));
    s.accept(&offer, vec![Operation::launch(vec![bad, good])]).await;
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 {
        let status = s.next_update().await;
        s.client.acknowledge(&status).await.unwrap();
        if status.state.is_terminal() {
            seen.insert(status.task_id.value.clone(), status);
        }
    }
    let failed = &seen["bad-uri"];
    assert_eq!(failed.state, TaskState::TaskFailed);
    assert_eq!(failed.reason, Some(Reason::ReasonContainerLaunchFailed));
    assert_eq!(failed.source, Some(Source::SourceAgent));
    assert!(
        failed.message.as_ref().unwrap().starts_with("Failed to fetch 'http://127.0.0.1:9/nothing.tgz'"),
        "{failed:?}"
    );
    assert_eq!(seen["good"].state, TaskState::TaskFinished);
}

#[tokio::test]
async fn kill_honours_the_grace_period_and_reports_task_killing() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("kill", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    // Ignores SIGTERM: must be SIGKILLed after the 1 s grace period.
    let mut task = command_task(
        "stubborn",
        &offer.agent_id,
        "trap '' TERM; touch trapped; while true; do sleep 0.1; done",
        Some("herd-role"),
    );
    task.kill_policy = Some(herd_mesos_api::KillPolicy {
        grace_period: Some(herd_mesos_api::DurationInfo::from_duration(Duration::from_secs(1))),
    });
    s.accept(&offer, vec![Operation::launch(vec![task])]).await;
    while s.update_of("stubborn").await.state != TaskState::TaskRunning {}
    // Kill only once the shell ignores SIGTERM (RUNNING comes as soon as it is spawned).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while search(t.cluster.agents()[0].work_dir(), "trapped").is_none() {
        assert!(std::time::Instant::now() < deadline, "the task never set its trap");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    s.client
        .call(Call::Kill(herd_mesos_api::scheduler::Kill {
            task_id: "stubborn".into(),
            agent_id: None,
            kill_policy: None,
        }))
        .await
        .unwrap();
    assert_eq!(s.update_of("stubborn").await.state, TaskState::TaskKilling);
    let killed = s.update_of("stubborn").await;
    assert_eq!(killed.state, TaskState::TaskKilled);
    assert_eq!(killed.message.as_deref(), Some("Command terminated with signal Killed"));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "killed before the grace period: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unacknowledged_updates_are_retried_and_resent_after_resubscribing() {
    let t = cluster(1).await;
    let info = framework_info("retry", HERD_CAPS);
    let mut s = Sched::subscribe(&t.cluster.master_url(), info.clone()).await;
    let offer = s.offers().await.remove(0);
    s.accept(
        &offer,
        vec![Operation::launch(vec![command_task(
            "slow-ack",
            &offer.agent_id,
            "sleep 30",
            Some("herd-role"),
        )])],
    )
    .await;
    let first = s.next_update().await;
    assert_eq!(first.state, TaskState::TaskStarting);
    // Not acknowledged: the same update (same uuid) comes again after the retry interval.
    let again = s.next_update().await;
    assert_eq!((again.state, &again.uuid), (TaskState::TaskStarting, &first.uuid));
    // A new subscription of the same framework gets it at once.
    let fid = s.framework_id.clone().unwrap();
    s.client.close();
    drop(s);
    let mut info = info;
    info.id = Some(fid.clone());
    let mut s = Sched::subscribe(&t.cluster.master_url(), info).await;
    assert_eq!(s.framework_id, Some(fid));
    let resent = s.next_update().await;
    assert_eq!((resent.state, &resent.uuid), (TaskState::TaskStarting, &first.uuid));
    s.client.acknowledge(&resent).await.unwrap();
    assert_eq!(s.next_update().await.state, TaskState::TaskRunning);
}

#[tokio::test]
async fn a_framework_gone_past_its_failover_timeout_has_its_tasks_killed() {
    let t = cluster(1).await;
    let mut info = framework_info("failover", HERD_CAPS);
    info.failover_timeout = Some(1.0);
    let mut s = Sched::subscribe(&t.cluster.master_url(), info).await;
    let offer = s.offers().await.remove(0);
    s.accept(
        &offer,
        vec![Operation::launch(vec![command_task(
            "orphan",
            &offer.agent_id,
            "echo $$ > pid; exec sleep 60",
            Some("herd-role"),
        )])],
    )
    .await;
    while s.update_of("orphan").await.state != TaskState::TaskRunning {}
    let pid_file = find_file(t.cluster.agents()[0].work_dir(), "pid");
    let pid: i32 = std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap();
    s.client.close();
    drop(s);
    let alive = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alive(pid), "the task keeps running while the framework may fail over");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(std::time::Instant::now() < deadline, "task still running after the failover timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn decline_filters_suppress_and_revive() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("filters", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    s.decline(&offer, 1.0).await;
    let declined_at = std::time::Instant::now();
    let again = s.offers().await;
    assert!(declined_at.elapsed() >= Duration::from_millis(900), "re-offered inside the refuse time");
    s.client.call(Call::Suppress(Default::default())).await.unwrap();
    s.decline(&again[0], 0.0).await;
    let quiet = tokio::time::timeout(Duration::from_millis(600), async {
        loop {
            if let Event::Offers(_) = s.next().await {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "no offers while suppressed");
    s.client.call(Call::Revive(Default::default())).await.unwrap();
    assert!(!s.offers().await.is_empty());
}

#[tokio::test]
async fn two_frameworks_share_the_agents() {
    let t = cluster(2).await;
    let mut a = Sched::subscribe(&t.cluster.master_url(), framework_info("a", HERD_CAPS)).await;
    let mut b = Sched::subscribe(&t.cluster.master_url(), framework_info("b", &[])).await;
    // If an allocation round ran before b subscribed, a holds both agents (as with Mesos):
    // a gives back all but one, so that b gets the other.
    let decline = async |s: &mut Sched, offers: Vec<herd_mesos_api::Offer>| {
        let call = herd_mesos_api::scheduler::Decline {
            offer_ids: offers.into_iter().map(|o| o.id).collect(),
            filters: Some(herd_mesos_api::Filters::refuse(60.0)),
        };
        s.client.call(Call::Decline(call)).await.unwrap();
    };
    let mut offers_a = a.offers().await;
    let extra = offers_a.split_off(1);
    if !extra.is_empty() {
        decline(&mut a, extra).await;
    }
    let offers_b = loop {
        tokio::select! {
            offers = b.offers() => break offers,
            event = a.next() => if let Event::Offers(more) = event {
                decline(&mut a, more.offers).await;
            },
        }
    };
    assert!(!offers_a.is_empty() && !offers_b.is_empty(), "both frameworks get offers");
    // A framework without RESERVATION_REFINEMENT sees the legacy role format.
    assert!(
        offers_b[0].resources.iter().all(|r| r.role.as_deref() == Some("*") && r.allocation_info.is_none())
    );
    assert!(offers_a[0].resources.iter().all(|r| r.allocation_info.is_some()));
    // B cannot use A's offer.
    let task = command_task("thief", &offers_a[0].agent_id, "true", None);
    b.client
        .call(Call::Accept(herd_mesos_api::scheduler::Accept {
            offer_ids: vec![offers_a[0].id.clone()],
            operations: vec![Operation::launch(vec![task])],
            filters: None,
        }))
        .await
        .unwrap();
    let lost = b.next_update().await;
    assert_eq!(lost.state, TaskState::TaskLost, "TASK_DROPPED becomes TASK_LOST without PARTITION_AWARE");
    assert_eq!(lost.reason, Some(Reason::ReasonInvalidOffers));
    assert_eq!(lost.uuid, None);
}

#[tokio::test]
async fn a_failing_task_kills_its_group_and_not_the_executors_other_groups() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("group", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    let fid = s.framework_id.clone().unwrap();
    let executor = herd_mesos_api::ExecutorInfo {
        kind: Some(herd_mesos_api::ExecutorType::Default),
        executor_id: "group-exec".into(),
        framework_id: Some(fid),
        resources: vec![
            Resource::scalar("cpus", 0.1).allocated_to("herd-role"),
            Resource::scalar("mem", 32.0).allocated_to("herd-role"),
            Resource::scalar("disk", 10.0).allocated_to("herd-role"),
        ],
        ..Default::default()
    };
    let other = command_task("other", &offer.agent_id, "sleep 60", Some("herd-role"));
    let long = command_task("long", &offer.agent_id, "sleep 60", Some("herd-role"));
    let fails = command_task("fails", &offer.agent_id, "sleep 0.3; exit 3", Some("herd-role"));
    // Two groups in one executor (a server and, beside it, a maintenance task group).
    s.accept(
        &offer,
        vec![
            Operation::launch_group(executor.clone(), vec![other.clone()]),
            Operation::launch_group(executor, vec![long, fails]),
        ],
    )
    .await;
    let mut terminal = std::collections::BTreeMap::new();
    let mut other_running = false;
    while terminal.len() < 2 || !other_running {
        if let Event::Update(u) = s.next().await {
            s.client.acknowledge(&u.status).await.unwrap();
            other_running |= u.status.task_id == other.task_id && u.status.state == TaskState::TaskRunning;
            if u.status.state.is_terminal() {
                terminal.insert(u.status.task_id.value.clone(), u.status);
            }
        }
    }
    assert_eq!(terminal["fails"].state, TaskState::TaskFailed);
    assert_eq!(terminal["fails"].message.as_deref(), Some("Command exited with status 3"));
    assert_eq!(terminal["long"].state, TaskState::TaskKilled, "the sibling is killed");
    assert!(!terminal.contains_key("other"), "the other group runs on: {terminal:?}");
    // Killing the other group's task ends the executor: the master hears of it.
    let kill = herd_mesos_api::scheduler::Kill {
        task_id: other.task_id.clone(),
        agent_id: Some(offer.agent_id.clone()),
        kill_policy: None,
    };
    s.client.call(Call::Kill(kill)).await.unwrap();
    let mut failure = None;
    while failure.is_none() {
        match s.next().await {
            Event::Update(u) => {
                s.client.acknowledge(&u.status).await.unwrap();
                assert_eq!(u.status.task_id, other.task_id, "{:?}", u.status);
                assert!(
                    matches!(u.status.state, TaskState::TaskKilling | TaskState::TaskKilled),
                    "{:?}",
                    u.status
                );
            }
            Event::Failure(f) => failure = Some(f),
            _ => {}
        }
    }
    assert_eq!(failure.unwrap().executor_id.unwrap().as_str(), "group-exec");
}

#[tokio::test]
async fn a_stopped_agent_makes_tasks_lost_for_frameworks_that_are_not_partition_aware() {
    let t = cluster(1).await;
    let mut s = Sched::subscribe(
        &t.cluster.master_url(),
        framework_info("legacy", &[FrameworkCapabilityType::TaskKillingState]),
    )
    .await;
    let offer = s.offers().await.remove(0);
    s.accept(
        &offer,
        vec![Operation::launch(vec![command_task("doomed", &offer.agent_id, "sleep 60", None)])],
    )
    .await;
    while s.update_of("doomed").await.state != TaskState::TaskRunning {}
    t.cluster.stop_agent(0).unwrap();
    let lost = s.update_of("doomed").await;
    assert_eq!(lost.state, TaskState::TaskLost);
    assert_eq!(lost.reason, Some(Reason::ReasonAgentRemoved));
    loop {
        if let Event::Failure(f) = s.next().await {
            assert_eq!(f.agent_id.as_ref(), Some(&offer.agent_id));
            assert!(f.executor_id.is_none());
            break;
        }
    }
}

#[tokio::test]
async fn offers_are_rescinded_after_the_offer_timeout() {
    let t = cluster_with(1, |c| c.offer_timeout = Some(Duration::from_millis(300))).await;
    let mut s = Sched::subscribe(&t.cluster.master_url(), framework_info("slow", HERD_CAPS)).await;
    let offer = s.offers().await.remove(0);
    loop {
        if let Event::Rescind(r) = s.next().await {
            assert_eq!(r.offer_id, offer.id);
            break;
        }
    }
}
