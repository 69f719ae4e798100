//! Kill-anywhere: the `herd run hello` scheduler process is killed (aborted, like SIGKILL:
//! no cleanup) at many distinct points of a deploy — before and after persisting, accepting,
//! acknowledging, reconciling, declining, suppressing — and started again from its state
//! dir. Every time the deploy completes, instances that were running keep their task ids,
//! and the master shows exactly one labelled reservation and one volume per instance: no
//! duplicate reservation, no orphaned volume, no lost task.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_localmesos::{AgentSpec, ClusterConfig, LocalCluster};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the scheduler is killed: `<before|after>-<action>:<n-th time>`.
const POINTS: [&str; 22] = [
    "before-persist:1",
    "after-persist:1",
    "before-reconcile:1",
    "after-revive:1",
    "before-persist:2",
    "after-persist:2",
    "before-accept:1",
    "after-accept:1",
    "before-decline:1",
    "before-acknowledge:1",
    "after-acknowledge:1",
    "before-persist:4",
    "after-persist:5",
    "before-acknowledge:3",
    "after-acknowledge:4",
    "before-accept:2",
    "after-accept:2",
    "before-persist:8",
    "after-persist:10",
    "before-acknowledge:7",
    "after-acknowledge:9",
    "before-suppress:1",
];

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls).timeout(Duration::from_secs(5)).build().unwrap()
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    serde_json::from_slice(&http.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap()
}

fn spawn_scheduler(config: &Path, state: &Path, master: &str, crash_at: Option<&str>) -> (Running, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
    cmd.args(["run", "hello", "--master", master, "--api-port", "0", "--failover-timeout", "120"])
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_BACKTRACE", "0")
        .env("HERD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match crash_at {
        Some(point) => cmd.env("HERD_CRASH_AT", point),
        None => cmd.env_remove("HERD_CRASH_AT"),
    };
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("operator API on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let api = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(api) => api,
        // A crash point may be reached before the address is printed: the run is over
        // already, and its address is of no use.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) if crash_at.is_some() => String::new(),
        Err(e) => panic!("the scheduler printed no API address: {e}"),
    };
    (Running(child), api)
}

/// Tasks of a framework in the master's view: task id → state.
async fn framework_tasks(http: &reqwest::Client, master: &str, name: &str) -> BTreeMap<String, String> {
    let state = get(http, &format!("{master}/master/state")).await;
    let mut out = BTreeMap::new();
    for fw in state["frameworks"].as_array().unwrap().iter().filter(|f| f["name"] == name) {
        for t in fw["tasks"].as_array().unwrap() {
            out.insert(t["id"].as_str().unwrap().to_owned(), t["state"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// Reservations (`resource_id@agent`) and volume ids of `role`.
async fn reservations(http: &reqwest::Client, master: &str, role: &str) -> (Vec<String>, Vec<String>) {
    let slaves = get(http, &format!("{master}/master/slaves")).await;
    let mut labels = BTreeSet::new();
    let mut volumes = Vec::new();
    for s in slaves["slaves"].as_array().unwrap() {
        for r in s["reserved_resources_full"][role].as_array().cloned().unwrap_or_default() {
            if let Some(labels_list) = r["reservations"][0]["labels"]["labels"].as_array() {
                for l in labels_list.iter().filter(|l| l["key"] == "resource_id") {
                    labels.insert(format!(
                        "{}@{}",
                        l["value"].as_str().unwrap(),
                        s["hostname"].as_str().unwrap()
                    ));
                }
            }
            if let Some(id) = r["disk"]["persistence"]["id"].as_str() {
                volumes.push(id.to_owned());
            }
        }
    }
    volumes.sort();
    (labels.into_iter().collect(), volumes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_killed_anywhere_resumes_without_duplicates_or_losses() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path().join("cluster"), 4);
    config.agent_ip_block = 100 + (std::process::id() % 50) as u8;
    config.agents = vec![AgentSpec { cpus: 8.0, mem: 8192.0, disk: 8192.0, ..AgentSpec::default() }; 4];
    let cluster = LocalCluster::start(config).await.unwrap();
    let master = cluster.master_url();
    let http = http();
    let base = herd_hello::DEFAULT_CONFIG.replace("count = 3", "count = 2");
    assert_ne!(base, herd_hello::DEFAULT_CONFIG, "the default config has count = 3");
    for (k, point) in POINTS.iter().enumerate() {
        let name = format!("hello{k}");
        let role = format!("{name}-role");
        let config_path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&config_path, base.replacen("name = \"hello\"", &format!("name = \"{name}\""), 1))
            .unwrap();
        let state = dir.path().join(format!("{name}-state"));

        // Run until the crash point aborts the process.
        let (mut crashing, _) = spawn_scheduler(&config_path, &state, &master, Some(point));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = crashing.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{point}: the crash point was never reached");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!status.success(), "{point}: the scheduler must have been killed, not exited: {status}");
        drop(crashing);
        let running_before: BTreeSet<String> = framework_tasks(&http, &master, &name)
            .await
            .into_iter()
            // Servers (goal RUNNING); the ONCE init task may have finished meanwhile.
            .filter(|(id, s)| s == "TASK_RUNNING" && id.contains("-server__"))
            .map(|(id, _)| id)
            .collect();

        // Start again: the deploy completes.
        let (scheduler, api) = spawn_scheduler(&config_path, &state, &master, None);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let plan = get(&http, &format!("http://{api}/v1/plans/deploy")).await;
            if plan["status"] == "COMPLETE" {
                break;
            }
            assert!(Instant::now() < deadline, "{point}: deploy did not complete after the restart: {plan}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Exactly one reservation label and one volume per instance, on distinct agents.
        let check = async || {
            let (labels, volumes) = reservations(&http, &master, &role).await;
            let tasks = framework_tasks(&http, &master, &name).await;
            (labels, volumes, tasks)
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let (labels, volumes, tasks) = loop {
            let (labels, volumes, tasks) = check().await;
            // Leftovers of a crash (an unconfirmed reservation) are released once offered.
            if labels.len() == 2 && volumes.len() == 2 {
                break (labels, volumes, tasks);
            }
            assert!(Instant::now() < deadline, "{point}: reservations {labels:?}, volumes {volumes:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let hosts: BTreeSet<&str> = labels.iter().map(|l| l.split('@').nth(1).unwrap()).collect();
        assert_eq!(hosts.len(), 2, "{point}: one instance per agent: {labels:?}");
        assert_eq!(volumes.iter().collect::<BTreeSet<_>>().len(), 2, "{point}: {volumes:?}");
        let running: BTreeSet<&String> =
            tasks.iter().filter(|(_, s)| *s == "TASK_RUNNING").map(|(id, _)| id).collect();
        assert_eq!(running.len(), 2, "{point}: one server per instance running: {tasks:?}");
        for id in &running_before {
            assert!(
                running.contains(id),
                "{point}: task {id} was running before the crash and was relaunched: {tasks:?}"
            );
        }
        drop(scheduler);
    }
}

async fn wait_deployed(http: &reqwest::Client, api: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let plan = get(http, &format!("http://{api}/v1/plans/deploy")).await;
        if plan["status"] == "COMPLETE" {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: deploy did not complete: {plan}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_crash(mut child: Running, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(!status.success(), "{what}: the scheduler must have been killed: {status}");
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the crash point was never reached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kill points during an update, a replace and an uninstall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_killed_during_update_replace_and_uninstall_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path().join("cluster"), 4);
    config.agent_ip_block = 60 + (std::process::id() % 30) as u8;
    config.agents = vec![AgentSpec { cpus: 8.0, mem: 8192.0, disk: 8192.0, ..AgentSpec::default() }; 4];
    let cluster = LocalCluster::start(config).await.unwrap();
    let master = cluster.master_url();
    let http = http();
    let base = herd_hello::DEFAULT_CONFIG.replace("count = 3", "count = 2");
    let cases: [(&str, &str); 9] = [
        ("update", "before-kill:1"),
        ("update", "after-kill:1"),
        ("update", "before-accept:1"),
        ("replace", "after-persist:1"),
        ("replace", "before-accept:1"),
        ("replace", "after-accept:1"),
        ("uninstall", "after-kill:1"),
        ("uninstall", "before-accept:1"),
        ("uninstall", "before-teardown:1"),
    ];
    for (k, (operation, point)) in cases.iter().enumerate() {
        let what = format!("{operation} {point}");
        let name = format!("ops{k}");
        let role = format!("{name}-role");
        let config_path = dir.path().join(format!("{name}.toml"));
        let named = base.replacen("name = \"hello\"", &format!("name = \"{name}\""), 1);
        std::fs::write(&config_path, &named).unwrap();
        let state = dir.path().join(format!("{name}-state"));
        let (first, api) = spawn_scheduler(&config_path, &state, &master, None);
        wait_deployed(&http, &api, &what).await;
        drop(first);
        match *operation {
            "update" => {
                std::fs::write(&config_path, named.replace("kill_grace_secs = 2", "kill_grace_secs = 1"))
                    .unwrap();
                let (crashing, _) = spawn_scheduler(&config_path, &state, &master, Some(point));
                wait_crash(crashing, &what).await;
            }
            _ => {
                let (crashing, api) = spawn_scheduler(&config_path, &state, &master, Some(point));
                wait_deployed(&http, &api, &what).await;
                let path = if *operation == "replace" { "/v1/pods/hello-0/replace" } else { "/v1/uninstall" };
                let _ = http.post(format!("http://{api}{path}")).send().await;
                wait_crash(crashing, &what).await;
            }
        }
        // Start again: the operation completes.
        let (mut scheduler, api) = spawn_scheduler(&config_path, &state, &master, None);
        if *operation == "uninstall" {
            let deadline = Instant::now() + Duration::from_secs(90);
            let status = loop {
                if let Some(status) = scheduler.0.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "{what}: the uninstall did not finish");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert!(status.success(), "{what}: {status}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (labels, volumes) = reservations(&http, &master, &role).await;
                if labels.is_empty() && volumes.is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "{what}: left behind {labels:?} {volumes:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                framework_tasks(&http, &master, &name).await.values().all(|s| s != "TASK_RUNNING"),
                "{what}"
            );
            continue;
        }
        wait_deployed(&http, &api, &what).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (labels, volumes) = reservations(&http, &master, &role).await;
            let tasks = framework_tasks(&http, &master, &name).await;
            let running =
                tasks.iter().filter(|(id, s)| *s == "TASK_RUNNING" && id.contains("-server__")).count();
            if labels.len() == 2 && volumes.len() == 2 && running == 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: reservations {labels:?}, volumes {volumes:?}, tasks {tasks:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if *operation == "update" {
            let config = get(&http, &format!("http://{api}/v1/config")).await;
            assert_eq!(config["id"], "cfg-2", "{what}");
            for i in 0..2 {
                let pod = get(&http, &format!("http://{api}/v1/pods/hello-{i}")).await;
                assert!(
                    pod["tasks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t["name"] == "server" && t["config_id"] == "cfg-2"),
                    "{what}: {pod}"
                );
            }
        }
        drop(scheduler);
    }
}
