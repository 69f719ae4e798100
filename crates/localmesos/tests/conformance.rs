//! Third-party Mesos scheduler libraries, unmodified, against the local cluster: pymesos
//! (scheduler driver and executor driver) and avmesos. The Python scripts in
//! `tests/python/` drive each library's public API; see their README for what each checks.
//!
//! Needs the venv `scripts/python-venv.sh` builds (`.ci/run` does): these tests fail, never
//! skip, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use support::*;

fn venv_python() -> PathBuf {
    let cache = std::env::var_os("HERD_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/herd-test"));
    let python = cache.join("venv/bin/python");
    assert!(
        python.exists(),
        "no conformance venv at {}: run `bash scripts/python-venv.sh` (what .ci/run does) first",
        python.display()
    );
    python
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

/// Runs a conformance script against `master` and asserts it passed, showing its output.
async fn run(master: &str, args: &[&str], timeout_secs: u64) -> String {
    let mut cmd = tokio::process::Command::new(venv_python());
    cmd.args(
        args.iter()
            .map(|a| if a.ends_with(".py") { script(a).display().to_string() } else { (*a).to_owned() }),
    )
    .env("PYTHONUNBUFFERED", "1")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let _ = master;
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(timeout_secs + 30), child.wait_with_output())
        .await
        .expect("the conformance script did not end")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

fn authority(url: &str) -> &str {
    url.strip_prefix("http://").unwrap()
}

#[tokio::test]
async fn pymesos_scheduler_launches_a_task() {
    let t = cluster(1).await;
    let master = authority(&t.cluster.master_url()).to_owned();
    let out = run(&master, &["pymesos_scheduler.py", &master, "60"], 60).await;
    assert!(out.contains("TASK_FINISHED"), "{out}");
}

#[tokio::test]
async fn avmesos_scheduler_launches_a_task() {
    // avmesos handles an event only once the next one arrives: short heartbeats keep it moving.
    let t = cluster_with(1, |c| c.heartbeat_interval = Duration::from_millis(500)).await;
    let master = authority(&t.cluster.master_url()).to_owned();
    let out = run(&master, &["avmesos_scheduler.py", &master, "60"], 60).await;
    assert!(out.contains("TASK_FINISHED"), "{out}");
}

#[tokio::test]
async fn pymesos_executor_runs_as_a_custom_executor() {
    let t = cluster(1).await;
    let master = authority(&t.cluster.master_url()).to_owned();
    let executor = script("pymesos_executor.py").display().to_string();
    let python = venv_python().display().to_string();
    let out = run(&master, &["pymesos_executor_scheduler.py", &master, "60", &executor, &python], 60).await;
    assert!(out.contains("hello-from-pymesos-executor:ping"), "{out}");
}
