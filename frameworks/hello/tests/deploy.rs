//! hello on the local cluster, end to end over real HTTP: deploy (reserve, volume, ONCE
//! task, readiness), a killed server relaunched in place with its volume content kept,
//! and a scheduler restart that resumes without relaunching anything; a rolling update,
//! scale in through decommission and scale up again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

use herd_localmesos::{ClusterConfig, LocalCluster};
use herd_mesos_client::{Backoff, ClientConfig, MasterUrl};
use herd_runtime::store::{FileStore, StateStore};
use herd_runtime::{RunConfig, Service};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start_service(cluster: &LocalCluster, store: Arc<dyn StateStore>) -> Service {
    start_with(cluster, store, herd_hello::default_spec().unwrap(), false).await
}

async fn start_with(
    cluster: &LocalCluster,
    store: Arc<dyn StateStore>,
    spec: herd_core::spec::ServiceSpec,
    allow_decommission: bool,
) -> Service {
    let mut mesos = ClientConfig::new(MasterUrl::parse(&cluster.master_url()).unwrap());
    mesos.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(500) };
    let config = RunConfig {
        spec,
        mesos,
        api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        failover_timeout_secs: 300.0,
        default_user: nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name,
        allow_decommission,
        artifact_cache: None,
        advertise_host: None,
        probes: herd_runtime::probes::Probes::new(),
        extension: None,
    };
    Service::start(config, store).await.unwrap()
}

/// Waits until the deploy plan is COMPLETE; returns the pods' JSON.
async fn deployed(http: &reqwest::Client, api: SocketAddr) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let plan = get_json(http, &format!("http://{api}/v1/plans/deploy")).await;
        if plan["status"] == "COMPLETE" {
            break;
        }
        assert!(Instant::now() < deadline, "deploy did not complete: {plan:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let names: Vec<String> =
        serde_json::from_value(get_json(http, &format!("http://{api}/v1/pods")).await).unwrap();
    let mut pods = Vec::new();
    for name in names {
        pods.push(get_json(http, &format!("http://{api}/v1/pods/{name}")).await);
    }
    pods
}

fn server_task_id(pod: &Value) -> String {
    pod["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "server").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn starts(http: &reqwest::Client, pod: &Value) -> String {
    let url = format!("http://{}:{}/starts", pod["agent"].as_str().unwrap(), pod["ports"]["http"]);
    http.get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_deploys_recovers_in_place_and_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path().join("cluster"), 3);
    config.agent_ip_block = 200 + (std::process::id() % 50) as u8;
    let cluster = LocalCluster::start(config).await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::open(dir.path().join("state")).unwrap());
    let service = start_service(&cluster, Arc::clone(&store)).await;
    let http = http();
    let api = service.api_addr();

    // Deploy: three instances, one per agent, each serving its starts file.
    let pods = deployed(&http, api).await;
    assert_eq!(pods.len(), 3);
    let agents: std::collections::BTreeSet<&str> =
        pods.iter().map(|p| p["agent"].as_str().unwrap()).collect();
    assert_eq!(agents.len(), 3, "hostname:UNIQUE: {pods:#?}");
    for pod in &pods {
        let text = starts(&http, pod).await;
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with(&format!("started {}", pod["name"].as_str().unwrap())), "{text}");
    }
    // The reservations carry the instance labels in the master's view.
    let slaves = get_json(&http, &format!("{}/master/slaves", cluster.master_url())).await;
    let labelled = slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reserved_resources_full"]["hello-role"].as_array().is_some_and(|r| !r.is_empty()))
        .count();
    assert_eq!(labelled, 3);

    // Kill hello-1's server process: relaunched in place, the volume keeps the first line.
    let hello1 = pods.iter().find(|p| p["name"] == "hello-1").unwrap().clone();
    let before = server_task_id(&hello1);
    let pattern =
        format!("http.server {} --bind {}", hello1["ports"]["http"], hello1["agent"].as_str().unwrap());
    let killed = std::process::Command::new("pkill").args(["-KILL", "-f", &pattern]).status().unwrap();
    assert!(killed.success(), "no process matched {pattern}");
    let deadline = Instant::now() + WAIT;
    let relaunched = loop {
        let pod = get_json(&http, &format!("http://{api}/v1/pods/hello-1")).await;
        let server = pod["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "server").unwrap().clone();
        if server_task_id(&pod) != before && server["state"] == "TASK_RUNNING" && server["ready"] == true {
            break pod;
        }
        assert!(Instant::now() < deadline, "hello-1 not relaunched: {pod:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(relaunched["agent"], hello1["agent"], "relaunched in place");
    assert_eq!(relaunched["ports"], hello1["ports"], "on the same reserved port");
    let text = starts(&http, &relaunched).await;
    assert_eq!(text.lines().count(), 2, "the volume kept the first start: {text}");

    // Restart the scheduler: it resumes from its store; nothing is relaunched.
    let ids: Vec<String> = deployed(&http, api).await.iter().map(server_task_id).collect();
    service.shutdown().await.unwrap();
    let service = start_service(&cluster, Arc::clone(&store)).await;
    let pods = deployed(&http, service.api_addr()).await;
    let after: Vec<String> = pods.iter().map(server_task_id).collect();
    assert_eq!(after, ids, "task ids of untouched instances are unchanged");
    for pod in &pods {
        let init = pod["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "init").unwrap();
        assert_eq!(init["state"], "TASK_FINISHED", "the ONCE task ran once: {pod:#}");
    }
    service.shutdown().await.unwrap();

    // A config change rolls through the instances one at a time, keeping their volumes.
    let mut spec = herd_hello::default_spec().unwrap();
    spec.pods[0].tasks[1].env.insert("GREETING".into(), "hi".into());
    let service = start_with(&cluster, Arc::clone(&store), spec, false).await;
    let api = service.api_addr();
    let deadline = Instant::now() + WAIT;
    loop {
        let mut not_ready = 0;
        let mut updated = 0;
        for i in 0..3 {
            let pod = get_json(&http, &format!("http://{api}/v1/pods/hello-{i}")).await;
            let server =
                pod["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "server").unwrap().clone();
            if !(server["state"] == "TASK_RUNNING" && server["ready"] == true) {
                not_ready += 1;
            }
            if server["config_id"] == "cfg-2" {
                updated += 1;
            }
        }
        assert!(not_ready <= 1, "a rolling update takes one instance down at a time ({not_ready} down)");
        if updated == 3 && not_ready == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the update did not roll through ({updated}/3 updated)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let updated = deployed(&http, api).await;
    for pod in &updated {
        assert_eq!(
            starts(&http, pod).await.lines().count(),
            if pod["name"] == "hello-1" { 3 } else { 2 },
            "volumes kept"
        );
    }
    service.shutdown().await.unwrap();

    // Scale in to 2 through decommission: hello-2 goes, with its reservation and volume.
    let mut spec = herd_hello::default_spec().unwrap();
    spec.pods[0].tasks[1].env.insert("GREETING".into(), "hi".into());
    spec.pods[0].count = 2;
    let service = start_with(&cluster, Arc::clone(&store), spec, true).await;
    let deadline = Instant::now() + WAIT;
    let pods = loop {
        let pods = deployed(&http, service.api_addr()).await;
        if pods.len() == 2 {
            break pods;
        }
        assert!(Instant::now() < deadline, "hello-2 is still listed: {pods:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (before, after) in updated.iter().zip(&pods) {
        assert_eq!(
            server_task_id(before),
            server_task_id(after),
            "only the count changed: the instances kept were not restarted"
        );
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let slaves = get_json(&http, &format!("{}/master/slaves", cluster.master_url())).await;
        let reserved = slaves["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["reserved_resources_full"]["hello-role"].as_array().is_some_and(|r| !r.is_empty()))
            .count();
        let volumes = slaves.to_string().matches("hello-2-data").count();
        if reserved == 2 && volumes == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hello-2 not decommissioned: {reserved} agents reserved, {volumes} volumes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    service.shutdown().await.unwrap();

    // Scale up to 3 again: a new hello-2 on a fresh reservation and volume (the old one
    // is gone), the others untouched.
    let mut spec = herd_hello::default_spec().unwrap();
    spec.pods[0].tasks[1].env.insert("GREETING".into(), "hi".into());
    let service = start_with(&cluster, Arc::clone(&store), spec, false).await;
    let deadline = Instant::now() + WAIT;
    let grown = loop {
        let grown = deployed(&http, service.api_addr()).await;
        if grown.len() == 3 {
            break grown;
        }
        assert!(Instant::now() < deadline, "no hello-2: {grown:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (before, after) in pods.iter().zip(&grown) {
        assert_eq!(server_task_id(before), server_task_id(after), "scale up leaves running instances alone");
    }
    assert_eq!(grown[2]["name"], "hello-2");
    assert_eq!(starts(&http, &grown[2]).await.lines().count(), 1, "a new instance starts on a new volume");
    service.shutdown().await.unwrap();
}
