//! hello's operations end to end on the local cluster: restart and replace through the
//! operator API, an agent lost past the recovery timeout (the instance moves, and its old
//! reservation and volume are released when the agent returns), API misuse answered with
//! 404/409, and an uninstall that leaves no reservation and no volume behind. Also: a
//! pinned artifact served to the agents by the scheduler, and an operator plan (backup)
//! with parameters, run inside each instance while its server keeps running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

use herd_localmesos::{ClusterConfig, LocalCluster};
use herd_mesos_client::{Backoff, ClientConfig, MasterUrl};
use herd_runtime::store::{MemoryStore, StateStore};
use herd_runtime::{RunConfig, Service};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn post(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.post(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pods' JSON, one after the other.
async fn pods_of(http: &reqwest::Client, api: SocketAddr, names: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for name in names {
        out.push(pod(http, api, name).await);
    }
    out
}

async fn pod(http: &reqwest::Client, api: SocketAddr, name: &str) -> Value {
    get(http, &format!("http://{api}/v1/pods/{name}")).await.1
}

fn server(pod: &Value) -> Value {
    // A replaced instance has no task until it is relaunched.
    pod["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "server"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn running_ready(pod: &Value) -> bool {
    let s = server(pod);
    s["state"] == "TASK_RUNNING" && s["ready"] == true
}

/// Agents (hostnames) holding reservations for hello-role, and the volume ids.
async fn reservations(http: &reqwest::Client, master: &str) -> (Vec<String>, Vec<String>) {
    let slaves = get(http, &format!("{master}/master/slaves")).await.1;
    let mut agents = Vec::new();
    let mut volumes = Vec::new();
    for s in slaves["slaves"].as_array().unwrap() {
        let reserved = s["reserved_resources_full"]["hello-role"].as_array().cloned().unwrap_or_default();
        if !reserved.is_empty() {
            agents.push(s["hostname"].as_str().unwrap().to_owned());
        }
        for r in &reserved {
            if let Some(id) = r["disk"]["persistence"]["id"].as_str() {
                volumes.push(id.to_owned());
            }
        }
    }
    agents.sort();
    volumes.sort();
    (agents, volumes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replace_agent_loss_misuse_and_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path().join("cluster"), 4);
    config.agent_ip_block = 150 + (std::process::id() % 50) as u8;
    let cluster = LocalCluster::start(config).await.unwrap();
    let master = cluster.master_url();
    let mut spec = herd_hello::default_spec().unwrap();
    spec.recovery.permanent_failure_after_secs = 2.0;
    // A pinned artifact: the scheduler verifies it into its cache and serves it; the agents'
    // fetcher takes it from there and unpacks it into every sandbox.
    let payload = dir.path().join("payload");
    std::fs::create_dir_all(payload.join("payload")).unwrap();
    std::fs::write(payload.join("payload/hello.txt"), "payload from the artifact\n").unwrap();
    let tarball = dir.path().join("payload.tar.gz");
    let tar = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&payload)
        .arg("payload")
        .status()
        .unwrap();
    assert!(tar.success());
    let sum = std::process::Command::new("sha256sum").arg(&tarball).output().unwrap();
    let sha256 = String::from_utf8(sum.stdout).unwrap().split_whitespace().next().unwrap().to_owned();
    let mut artifact = herd_core::spec::ArtifactSpec::from_url(format!("file://{}", tarball.display()));
    artifact.sha256 = Some(sha256.clone());
    spec.pods[0].artifacts.push(artifact);
    spec.pods[0].tasks[0].command =
        "cp payload/hello.txt data/payload.txt && ".to_owned() + &spec.pods[0].tasks[0].command;
    let mut mesos = ClientConfig::new(MasterUrl::parse(&master).unwrap());
    mesos.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(500) };
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let run = RunConfig {
        spec,
        mesos,
        api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        failover_timeout_secs: 60.0,
        default_user: nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name,
        allow_decommission: false,
        artifact_cache: Some(dir.path().join("artifacts")),
        advertise_host: None,
        probes: herd_runtime::probes::Probes::new(),
        extension: None,
    };
    let mut service = Service::start(run, store).await.unwrap();
    let api = service.api_addr();
    // Resolved at start: from now on the agents can only get it from the scheduler.
    let pinned = std::fs::read(&tarball).unwrap();
    std::fs::remove_file(&tarball).unwrap();
    let http = http();
    let deadline = Instant::now() + WAIT;
    while get(&http, &format!("http://{api}/v1/plans/deploy")).await.1["status"] != "COMPLETE" {
        if Instant::now() > deadline {
            let plan = get(&http, &format!("http://{api}/v1/plans/deploy")).await.1;
            let pods: Vec<Value> = pods_of(&http, api, &["hello-0", "hello-1", "hello-2"]).await;
            let outcomes = get(&http, &format!("http://{api}/v1/offer-outcomes")).await.1;
            panic!("deploy did not complete: {plan:#}\npods: {pods:#?}\noffer outcomes: {outcomes:#}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every instance got the artifact, fetched from the scheduler.
    let served = http.get(format!("http://{api}/v1/artifacts/{sha256}")).send().await.unwrap();
    assert_eq!(served.bytes().await.unwrap(), pinned, "served as pinned");
    for i in 0..3 {
        let p = pod(&http, api, &format!("hello-{i}")).await;
        let url = format!("http://{}:{}/payload.txt", p["agent"].as_str().unwrap(), p["ports"]["http"]);
        let body = http.get(url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "payload from the artifact\n", "hello-{i}");
    }

    // Misuse: clear 404s.
    let (status, body) = post(&http, &format!("http://{api}/v1/pods/hello-9/restart")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("hello-0"), "lists the known pods: {body}");
    assert_eq!(get(&http, &format!("http://{api}/v1/plans/nope")).await.0, 404);
    assert_eq!(post(&http, &format!("http://{api}/v1/plans/deploy/explode")).await.0, 404);
    let (status, body) = post(&http, &format!("http://{api}/v1/plans/deploy/force")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("?step="), "{body}");
    assert_eq!(post(&http, &format!("http://{api}/v1/plans/deploy/force?step=hello-9")).await.0, 404);
    // Force-completing a done step is harmless.
    assert_eq!(post(&http, &format!("http://{api}/v1/plans/deploy/force?step=hello-0")).await.0, 202);

    // The backup plan: parameters checked, then each instance copies its file, inside
    // its own executor, while its server keeps running.
    let servers: Vec<Value> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(server(&pod(&http, api, &format!("hello-{i}")).await)["id"].clone());
        }
        v
    };
    assert_eq!(get(&http, &format!("http://{api}/v1/plans/backup")).await.1["status"], "PENDING");
    let (status, body) = post(&http, &format!("http://{api}/v1/plans/backup/start")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("TARGET"), "names the missing parameter: {body}");
    let target = dir.path().join("backups");
    let params = serde_json::json!({ "TARGET": target.display().to_string() });
    let r = http
        .post(format!("http://{api}/v1/plans/backup/start"))
        .body(params.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let done = until("backup plan", async || {
        let plan = get(&http, &format!("http://{api}/v1/plans/backup")).await.1;
        (plan["status"] == "COMPLETE").then_some(plan)
    })
    .await;
    assert_eq!(done["parameters"], params, "{done}");
    for (i, before) in servers.iter().enumerate() {
        let copied = std::fs::read_to_string(target.join(format!("hello-{i}.starts"))).unwrap();
        assert!(copied.contains(&format!("started hello-{i}")), "{copied}");
        let now = server(&pod(&http, api, &format!("hello-{i}")).await);
        assert_eq!(&now["id"], before, "the server of hello-{i} was not restarted");
    }
    let plans = get(&http, &format!("http://{api}/v1/plans")).await.1;
    assert_eq!(plans, serde_json::json!(["deploy", "backup"]));
    let metrics = http.get(format!("http://{api}/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "herd_plan_status{plan=\"backup\",status=\"COMPLETE\"} 1",
        "herd_plan_steps{plan=\"backup\",status=\"COMPLETE\"} 3",
        "herd_instances 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "metrics lack {line}:\n{metrics}");
    }
    assert!(metrics.contains("herd_mesos_calls_total{call=\"ACCEPT\"}"), "{metrics}");

    // Restart hello-0 in place.
    let before = pod(&http, api, "hello-0").await;
    assert_eq!(post(&http, &format!("http://{api}/v1/pods/hello-0/restart")).await.0, 202);
    let after = until("hello-0 restarted", async || {
        let p = pod(&http, api, "hello-0").await;
        (server(&p)["id"] != server(&before)["id"] && running_ready(&p)).then_some(p)
    })
    .await;
    assert_eq!(after["agent"], before["agent"], "restarted in place");

    // Replace hello-1: it moves to the free agent with a new volume; its old reservation
    // and volume are released.
    let old = pod(&http, api, "hello-1").await;
    assert_eq!(post(&http, &format!("http://{api}/v1/pods/hello-1/replace")).await.0, 202);
    let moved = until("hello-1 replaced", async || {
        let p = pod(&http, api, "hello-1").await;
        (p["agent"] != old["agent"] && running_ready(&p)).then_some(p)
    })
    .await;
    let starts = http
        .get(format!("http://{}:{}/starts", moved["agent"].as_str().unwrap(), moved["ports"]["http"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(starts.lines().count(), 1, "a fresh volume: {starts}");
    until("the old reservation of hello-1 released", async || {
        let (agents, volumes) = reservations(&http, &master).await;
        (agents.len() == 3
            && !agents.contains(&old["agent"].as_str().unwrap().to_owned())
            && volumes.len() == 3)
            .then_some(())
    })
    .await;

    // Lose hello-2's agent past the recovery timeout: replaced elsewhere; when the agent
    // comes back, its old reservation and volume are released.
    let lost = pod(&http, api, "hello-2").await;
    let lost_agent = lost["agent"].as_str().unwrap().to_owned();
    let index = cluster.agents().iter().position(|a| a.ip().to_string() == lost_agent).unwrap();
    cluster.stop_agent(index).unwrap();
    let moved = until("hello-2 replaced after its agent was lost", async || {
        let p = pod(&http, api, "hello-2").await;
        (p["agent"] != lost["agent"] && running_ready(&p)).then_some(p)
    })
    .await;
    assert_ne!(moved["agent"].as_str().unwrap(), lost_agent);
    cluster.restart_agent(index).await.unwrap();
    until("the lost agent's reservation released", async || {
        let (agents, _) = reservations(&http, &master).await;
        let orphans = get(&http, &format!("http://{api}/v1/orphans")).await.1;
        (!agents.contains(&lost_agent) && orphans["pending"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;

    // Uninstall: replace is refused meanwhile; in the end nothing of hello remains.
    assert_eq!(post(&http, &format!("http://{api}/v1/uninstall")).await.0, 202);
    let (status, body) = post(&http, &format!("http://{api}/v1/pods/hello-0/replace")).await;
    assert!(status == 409 || status == 503, "replace during uninstall: {status} {body}");
    tokio::time::timeout(WAIT, service.wait()).await.expect("uninstall did not finish").unwrap();
    let (agents, volumes) = reservations(&http, &master).await;
    assert!(agents.is_empty() && volumes.is_empty(), "left behind: {agents:?} {volumes:?}");
    let frameworks = get(&http, &format!("{master}/master/frameworks")).await.1;
    assert!(frameworks["frameworks"].as_array().unwrap().iter().all(|f| f["name"] != "hello"), "torn down");
}
