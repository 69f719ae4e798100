//! Jobs beside hello's pods on the local cluster, over the operator API: a job runs to
//! FINISHED; one that exits non-zero is FAILED with the reason; one that asks more than any
//! agent has is refused; a running job is still tracked by a restarted scheduler, and a
//! kill ends it (KILLED, its task gone from the master).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

use herd_localmesos::{ClusterConfig, LocalCluster};
use herd_mesos_client::{Backoff, ClientConfig, MasterUrl};
use herd_runtime::store::{FileStore, StateStore};
use herd_runtime::{RunConfig, Service};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start(cluster: &LocalCluster, store: Arc<dyn StateStore>) -> Service {
    let mut mesos = ClientConfig::new(MasterUrl::parse(&cluster.master_url()).unwrap());
    mesos.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(500) };
    let config = RunConfig {
        spec: herd_hello::default_spec().unwrap(),
        mesos,
        api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        failover_timeout_secs: 300.0,
        default_user: nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name,
        allow_decommission: false,
        artifact_cache: None,
        advertise_host: None,
        probes: herd_runtime::probes::Probes::new(),
        extension: None,
    };
    Service::start(config, store).await.unwrap()
}

async fn submit(http: &reqwest::Client, api: SocketAddr, id: &str, command: &str, cpus: f64) -> (u16, Value) {
    let body = json!({ "id": id, "spec": { "name": id, "command": command, "cpus": cpus, "mem_mb": 32 } });
    let r = http
        .post(format!("http://{api}/v1/jobs"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

/// Waits until job `id` is in `state`; returns it.
async fn job_in(http: &reqwest::Client, api: SocketAddr, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = get_json(http, &format!("http://{api}/v1/jobs/{id}")).await;
        if job["state"] == state {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never got {state}: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_to_their_end_survive_a_restart_and_can_be_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path().join("cluster"), 3);
    config.agent_ip_block = 42 + (std::process::id() % 8) as u8;
    let cluster = LocalCluster::start(config).await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::open(dir.path().join("state")).unwrap());
    let service = start(&cluster, Arc::clone(&store)).await;
    let http = http();
    let api = service.api_addr();

    let (status, body) = submit(&http, api, "ok", "echo out-$HERD_JOB", 0.1).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = submit(&http, api, "ok", "true", 0.1).await;
    assert_eq!(status, 409, "ids are unique: {body}");
    let done = job_in(&http, api, "ok", "FINISHED").await;
    assert_eq!(done["attempts"], 1);
    assert!(done["ended_at"].as_f64().unwrap() >= done["submitted_at"].as_f64().unwrap());

    submit(&http, api, "broken", "exit 3", 0.1).await;
    let failed = job_in(&http, api, "broken", "FAILED").await;
    assert!(failed["message"].as_str().unwrap().contains('3'), "the exit status is shown: {failed:#}");

    let (status, body) = submit(&http, api, "huge", "true", 500.0).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("could never run"), "{body}");
    let r = http.post(format!("http://{api}/v1/jobs")).body("{\"id\": \"x\"}").send().await.unwrap();
    let (status, text) = (r.status().as_u16(), r.text().await.unwrap());
    assert!(status == 400 && text.contains("spec"), "{status} {text}");

    // A long job, tracked across a scheduler restart, then killed.
    submit(&http, api, "long", "sleep 300", 0.1).await;
    job_in(&http, api, "long", "RUNNING").await;
    service.shutdown_within(Duration::from_secs(10), std::future::pending()).await.unwrap();
    let service = start(&cluster, Arc::clone(&store)).await;
    let api = service.api_addr();
    let jobs = get_json(&http, &format!("http://{api}/v1/jobs")).await;
    let states: Vec<(&str, &str)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("long", "RUNNING"), ("broken", "FAILED"), ("ok", "FINISHED")], "newest first");
    let r = http.post(format!("http://{api}/v1/jobs/long/kill")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let killed = job_in(&http, api, "long", "KILLED").await;
    let task = killed["task_id"]["value"].as_str().unwrap().to_owned();
    let tasks = get_json(&http, &format!("{}/master/tasks", cluster.master_url())).await;
    let state = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task.as_str())
        .map(|t| t["state"].clone());
    assert_eq!(state, Some(json!("TASK_KILLED")), "the master agrees");
    let r = http.post(format!("http://{api}/v1/jobs/long/kill")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409, "already ended");
    service.shutdown_within(Duration::from_secs(10), std::future::pending()).await.unwrap();
}
