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
    let task = command_task("hello", &offer.agent_id, "echo hello-from-task; echo to-stderr >&2", Some("herd-role"));
    s.accept(offer, vec![Operation::launch(vec![task])]).await;
    let states = s.states_until_terminal("hello").await;
    assert_eq!(states, [TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished]);
    // The sandbox holds the task's output.
    let agent = t.cluster.agents().iter().find(|a| a.id() == &offer.agent_id).unwrap();
    let stdout = find_file(agent.work_dir(), "stdout");
    assert_eq!(std::fs::read_to_string(stdout).unwrap(), "hello-from-task\n");
}

fn find_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            if let Some(found) = std::panic::catch_unwind(|| find_file(&path, name)).ok() {
                return found;
            }
        } else if path.file_name().unwrap() == name {
            return path;
        }
    }
    panic!("no {name} under {}", dir.display())
}
