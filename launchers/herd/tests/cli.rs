//! The `herd` binary: `herd local` serves a cluster and prints its URL first; with `--zk`
//! it registers in a real ZooKeeper where `herd leader` finds it; `herd run` fails over to
//! a standby through ZooKeeper and stops gracefully on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../crates/mesos-client/tests/support/zookeeper.rs"]
mod zookeeper_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stops the child when dropped: SIGTERM first, so that `herd local` kills its tasks and
/// `herd run` stops gracefully (a SIGKILLed `herd local` would leave its tasks running),
/// then SIGKILL if it is still there after 15 s.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn herd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herd"))
}

/// A small cluster: two agents of 1 cpu, 512 MB.
const SMALL: &[&str] = &["--agents", "2", "--cpus", "1", "--mem", "512", "--disk", "512"];

/// Starts `herd local` (sized by `extra`) and returns it with the URL it printed first.
/// Tests running at the same time pass distinct `block`s (0..5): their agents get distinct
/// addresses, so the servers they run on the same port numbers do not collide.
fn start_local(extra: &[&str], dir: &std::path::Path, block: u8) -> (Running, String) {
    let mut child = herd()
        .args(["local", "--port", "0"])
        .arg("--work-dir")
        .arg(dir)
        .args(["--agent-ip-block", &(100 + (std::process::id() % 30) * 5 + u32::from(block)).to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut running = Running(child);
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if !line.is_empty() => line,
        _ => {
            let _ = running.0.kill();
            let mut err = String::new();
            running.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("herd local printed no URL; stderr: {err}");
        }
    };
    (running, line.trim().to_owned())
}

fn http_get(url: &str, path: &str) -> (u16, String) {
    let authority = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn herd_local_prints_the_master_url_first_and_serves_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, url) = start_local(SMALL, dir.path(), 0);
    assert!(url.starts_with("http://127.0.0.1:"), "first line is the master URL: {url:?}");
    assert_eq!(http_get(&url, "/health").0, 200);
    let (status, body) = http_get(&url, "/version");
    assert_eq!(status, 200);
    assert!(body.contains("\"version\""), "{body}");
    // The scheduler endpoint answers like Mesos.
    let (status, body) = http_get(&url, "/api/v1/scheduler");
    assert_eq!(status, 405);
    assert!(body.contains("Expecting one of { 'POST' }"), "{body}");
}

#[test]
fn herd_local_rejects_bad_flags_clearly() {
    let out = herd().args(["local", "--ports", "32000"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BEGIN-END"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = herd()
        .args(["local", "--agents", "0", "--port", "0"])
        .arg("--work-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`agents`") && err.contains("at least one agent"), "{err}");
}

#[test]
fn herd_local_registers_in_zookeeper_where_herd_leader_finds_it() {
    let zk = zookeeper_server::ZkServer::start();
    let dir = tempfile::tempdir().unwrap();
    let zk_url = format!("zk://{}/mesos", zk.connect_string());
    let (_local, url) = start_local(&[SMALL, &["--zk", &zk_url]].concat(), dir.path(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = herd().args(["leader", "--master", &zk_url, "--timeout", "5"]).output().unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            assert_eq!(format!("http://{printed}"), url, "the leader is the local master");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "herd leader never found the master: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until `log` contains `text`; returns the log.
fn wait_for(log: &std::path::Path, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{content}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The operator API address `herd run` logged.
fn api_of(log: &str) -> String {
    log.split("operator API on http://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// Waits for hello's deploy to complete; returns its three pods' JSON.
fn deployed_pods(api: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, plan) = http_get(&format!("http://{api}"), "/v1/plans/deploy");
        let status = serde_json::from_str::<serde_json::Value>(&plan).map(|p| p["status"].clone());
        if status.is_ok_and(|s| s == "COMPLETE") {
            let mut pods = String::new();
            for i in 0..3 {
                pods += &http_get(&format!("http://{api}"), &format!("/v1/pods/hello-{i}")).1;
            }
            return pods;
        }
        assert!(Instant::now() < deadline, "deploy did not complete: {plan}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The server task ids in pods' JSON.
fn server_ids(pods: &str) -> Vec<String> {
    pods.split("\"id\":\"")
        .skip(1)
        .map(|x| x.split('"').next().unwrap().to_owned())
        .filter(|id| id.contains("server"))
        .collect()
}

/// Two `herd run hello --zk` schedulers share their state in ZooKeeper: one leads and
/// deploys; when it is killed, the other takes over and finds the deploy done (same tasks).
#[test]
fn herd_run_with_zookeeper_fails_over_to_a_standby() {
    let zk = zookeeper_server::ZkServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_local, master) =
        start_local(&["--agents", "3", "--cpus", "2", "--mem", "2048", "--disk", "2048"], dir.path(), 2);
    let state = format!("zk://{}/herd/hello", zk.connect_string());
    let run = |log: &std::path::Path| {
        let err = std::fs::File::create(log).unwrap();
        Running(
            herd()
                .args(["run", "hello", "--master", &master, "--zk", &state, "--api-port", "0"])
                .env("HERD_HOME", dir.path().join("home"))
                .env("RUST_BACKTRACE", "0")
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap(),
        )
    };
    let first_log = dir.path().join("first.log");
    let second_log = dir.path().join("second.log");
    let mut first = run(&first_log);
    let api = api_of(&wait_for(&first_log, "operator API on"));
    let pods_before = deployed_pods(&api);
    let _second = run(&second_log);
    wait_for(&second_log, "waiting to lead");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!std::fs::read_to_string(&second_log).unwrap().contains("leading\n"), "only one leads at a time");
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let api = api_of(&wait_for(&second_log, "operator API on"));
    let pods_after = deployed_pods(&api);
    assert_eq!(server_ids(&pods_after), server_ids(&pods_before), "the standby took over the same tasks");
    assert_eq!(server_ids(&pods_after).len(), 3);
}

/// Runs `herd` with `HERD_HOME=home`; (success, stdout, stderr).
fn herd_cli(home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = herd().args(args).env("HERD_HOME", home).env_remove("HERD_API").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The operator commands against a deployed hello, found through the record `herd run`
/// keeps in `home`: status, plan (show, start with parameters), pod, endpoints, config.
fn operate_with_the_cli(home: &std::path::Path, dir: &std::path::Path) {
    let (ok, out, err) = herd_cli(home, &["status", "--output", "json"]);
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status[0]["name"], "hello", "{out}");
    assert_eq!(status[0]["running"], true, "{out}");
    assert_eq!(status[0]["deploy"], "COMPLETE", "{out}");
    let (ok, out, err) = herd_cli(home, &["plan", "hello"]);
    assert!(ok && out.starts_with("deploy (COMPLETE)") && out.contains("hello-2"), "{out}{err}");
    let (ok, _, err) = herd_cli(home, &["plan", "hello", "start", "backup"]);
    assert!(!ok && err.contains("TARGET"), "a missing parameter is named: {err}");
    let target = dir.join("backups");
    let param = format!("TARGET={}", target.display());
    let (ok, out, err) = herd_cli(home, &["plan", "hello", "start", "backup", "-p", &param]);
    assert!(ok && out.contains("started"), "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, out, _) = herd_cli(home, &["plan", "hello", "show", "backup", "--output", "json"]);
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        if plan["status"] == "COMPLETE" {
            break;
        }
        assert!(Instant::now() < deadline, "the backup plan did not complete: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 3, "one copy per instance");
    let (ok, out, err) = herd_cli(home, &["pod", "hello", "status", "hello-0"]);
    assert!(ok && out.contains("server") && out.contains("TASK_RUNNING"), "{out}{err}");
    let (ok, _, err) = herd_cli(home, &["pod", "hello", "restart", "hello-9"]);
    assert!(!ok && err.contains("hello-0"), "an unknown pod lists the known ones: {err}");
    let (ok, out, err) = herd_cli(home, &["endpoints", "hello", "hello-http"]);
    assert!(ok, "{err}");
    let addresses: Vec<&str> = out.trim().split(',').collect();
    assert_eq!(addresses.len(), 3, "{out}");
    assert!(
        addresses
            .iter()
            .all(|a| a.starts_with("127.0.") && a.rsplit(':').next().unwrap().parse::<u16>().is_ok()),
        "{out}"
    );
    // Logs through the files API: the server's stderr has the readiness checks' requests.
    let (ok, out, err) = herd_cli(home, &["logs", "hello", "hello-0-server", "--stderr"]);
    assert!(ok && out.contains("GET /starts"), "{out}{err}");
    let (ok, _, err) = herd_cli(home, &["logs", "hello", "hello-0-nope"]);
    assert!(!ok && err.contains("hello-0-server"), "an unknown task lists the known ones: {err}");
    let (ok, _, err) = herd_cli(home, &["plan", "nobody-runs-this"]);
    assert!(!ok && err.contains("--api"), "an unknown service says how to point at one: {err}");
}

/// Every command's bad input gets an error that names what is wrong and what to do, and a
/// non-zero exit.
#[test]
fn bad_input_is_named_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let bad_stack = dir.path().join("bad-stack.toml");
    std::fs::write(&bad_stack, "name = \"x\"\n[[services]]\nname = \"a\"\nframework = \"kafkaa\"\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["up", "/nonexistent/stack.toml"], "/nonexistent/stack.toml"),
        (vec!["up", bad_stack.to_str().unwrap()], "unknown framework \"kafkaa\""),
        (vec!["down"], "no stack is up"),
        (vec!["down", "ghost"], "stack ghost is not up"),
        (vec!["run", "nope", "--master", "http://127.0.0.1:1"], "unknown framework \"nope\""),
        (vec!["run", "hello", "--config", "/nonexistent.toml"], "/nonexistent.toml"),
        (vec!["run", "hello", "--master", "ftp://x"], "--master"),
        (vec!["plan", "hello", "start", "backup", "-p", "NOEQUALS"], "is not KEY=VALUE"),
        (vec!["plan", "hello", "--api", "http://127.0.0.1:1"], "cannot reach the operator API of hello"),
        (
            vec!["pod", "hello", "restart", "hello-0", "--api", "http://127.0.0.1:1"],
            "is its scheduler (herd run) running?",
        ),
        (vec!["endpoints", "ghost"], "give its operator API with --api"),
        (vec!["topic", "ghost", "list"], "give its operator API with --api"),
        (vec!["topic", "kafka", "create", "t", "-c", "NOEQUALS"], "is not KEY=VALUE"),
        (vec!["logs", "ghost", "ghost-0-x"], "give its operator API with --api"),
        (vec!["status", "--output", "yaml"], "invalid value 'yaml'"),
        (vec!["config", "validate", "/nonexistent.toml"], "/nonexistent.toml"),
        (vec!["config", "defaults", "nope"], "herd knows hello"),
        (vec!["artifacts", "fetch", "nope"], "unknown framework \"nope\""),
        (vec!["leader", "--master", "http://127.0.0.1:5050"], "not ZooKeeper"),
        (vec!["local", "--agents", "0", "--port", "0"], "agents"),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = herd_cli(home, &args);
        assert!(!ok, "herd {args:?} should fail: {out}{err}");
        assert!(err.contains(expected), "herd {args:?}: {expected:?} not in:\n{err}");
    }
}

#[test]
fn herd_config_validates_files_and_prints_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");
    for file in ["hello.toml", "hello.yaml"] {
        let (ok, out, err) = herd_cli(home, &["config", "validate", &format!("{configs}/{file}")]);
        assert!(ok && out.contains("valid (service hello"), "{file}: {out}{err}");
    }
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"Bad Name\"\n[[pods]]\nname = \"web\"\ncount = 0\n[[pods.tasks]]\nname = \"t\"\ncommand = \"true\"\ncpus = 0.1\nmem_mb = 32\n").unwrap();
    let (ok, _, err) = herd_cli(home, &["config", "validate", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("name") && err.contains("problem"), "{err}");
    let (ok, out, _) = herd_cli(home, &["config", "validate", bad.to_str().unwrap(), "--output", "json"]);
    assert!(!ok);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["valid"], false, "{out}");
    let (ok, out, _) = herd_cli(home, &["config", "defaults", "hello"]);
    assert!(ok);
    assert_eq!(out, std::fs::read_to_string(format!("{configs}/hello.toml")).unwrap());
    let (ok, _, err) = herd_cli(home, &["config", "defaults", "nope"]);
    assert!(!ok && err.contains("hello"), "lists the known frameworks: {err}");
}

/// The whole tour: `herd up --detach` brings a stack up in the background and prints its
/// endpoints; status, plan, pod restart, endpoints and logs find its services; `herd down
/// --purge` uninstalls it, stops it and removes its local state.
#[test]
fn herd_up_detached_then_down_purged() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello-stack.toml"))
            .unwrap();
    let block = 100 + (std::process::id() % 30) * 5 + 4;
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");
    let stack = example
        .replace("[cluster]", &format!("[cluster]\nagent_ip_block = {block}"))
        .replace("../configs/hello.toml", &format!("{configs}/hello.toml"));
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, stack).unwrap();
    let (ok, out, err) = herd_cli(&home, &["up", file.to_str().unwrap(), "--detach", "--output", "json"]);
    let stacks = home.join("stacks").join("hello-demo");
    // Whatever happens, the background herd up is stopped.
    struct Down(std::path::PathBuf);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = herd_cli(&self.0, &["down", "--purge", "--timeout", "30"]);
        }
    }
    let _down = Down(home.clone());
    assert!(ok, "herd up --detach failed: {out}{err}");
    let up: serde_json::Value = serde_json::from_str(&out).unwrap();
    let servers = up["services"][0]["endpoints"]["hello-http"].as_array().unwrap();
    assert_eq!(servers.len(), 3, "{out}");
    assert!(servers[0].as_str().unwrap().starts_with(&format!("127.0.{block}.")), "{out}");
    let (ok, out, err) = herd_cli(&home, &["status"]);
    assert!(
        ok && out.lines().any(|l| l.starts_with("hello") && l.contains("yes") && l.ends_with("COMPLETE")),
        "{out}{err}"
    );
    let (ok, out, err) = herd_cli(&home, &["plan", "hello", "show"]);
    assert!(ok && out.starts_with("deploy (COMPLETE)"), "{out}{err}");
    // Restart a pod: it comes back with a new task on the same agent.
    let pod = |home: &std::path::Path| -> serde_json::Value {
        let (ok, out, err) = herd_cli(home, &["pod", "hello", "status", "hello-1", "--output", "json"]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let server_id = |p: &serde_json::Value| {
        p["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "server").unwrap()["id"].clone()
    };
    let before = pod(&home);
    let (ok, out, err) = herd_cli(&home, &["pod", "hello", "restart", "hello-1"]);
    assert!(ok, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = pod(&home);
        let server = now["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "server").unwrap().clone();
        if server_id(&now) != server_id(&before)
            && server["state"] == "TASK_RUNNING"
            && server["ready"] == true
        {
            assert_eq!(now["agent"], before["agent"], "restarted in place");
            break;
        }
        assert!(Instant::now() < deadline, "hello-1 did not come back: {now}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, out, err) = herd_cli(&home, &["endpoints", "hello", "hello-http"]);
    assert!(ok && out.trim().split(',').count() == 3, "{out}{err}");
    let (ok, out, err) = herd_cli(&home, &["logs", "hello", "hello-1-server", "--stderr"]);
    assert!(ok && out.contains("GET /starts"), "{out}{err}");
    let (ok, out, err) = herd_cli(&home, &["up", file.to_str().unwrap()]);
    assert!(!ok && err.contains("already up"), "a second herd up is refused: {out}{err}");
    let (ok, out, err) = herd_cli(&home, &["down", "--purge"]);
    assert!(ok, "{out}{err}");
    assert!(!stacks.exists(), "purged");
    let pid = up["pid"].as_u64().unwrap();
    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()), None).is_err();
    assert!(gone, "the background herd up stopped");
    let (ok, _, err) = herd_cli(&home, &["down"]);
    assert!(!ok && err.contains("no stack is up"), "{err}");
}

/// Kafka from its example stack, driven through the CLI: the bootstrap servers as one line,
/// and topics created (with a config), listed, described, refused twice and deleted.
#[test]
fn herd_up_kafka_and_manage_topics_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    // Small brokers: three JVMs share this machine with the other tests.
    let config = std::fs::read_to_string(format!("{root}/configs/kafka.toml"))
        .unwrap()
        .replacen("cpus = 1.0", "cpus = 0.5", 1)
        .replacen("mem_mb = 2048", "mem_mb = 768", 1)
        .replacen("heap_mb = 1024", "heap_mb = 256", 1)
        .replacen("disk_mb = 10240", "disk_mb = 1024", 1);
    std::fs::write(dir.path().join("kafka.toml"), config).unwrap();
    let block = 100 + (std::process::id() % 30) * 5 + 1;
    let example = std::fs::read_to_string(format!("{root}/examples/kafka.toml")).unwrap();
    let stack = example
        .replace("[cluster]", &format!("[cluster]\nagent_ip_block = {block}"))
        .replace("../configs/kafka.toml", "kafka.toml");
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, stack).unwrap();
    // The distribution assembled once for all tests (herd-integration-tests shares it).
    let cache = std::env::var_os("HERD_TEST_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/herd-test")
        })
        .join("artifacts");
    struct Down(std::path::PathBuf);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = herd_cli(&self.0, &["down", "--purge", "--timeout", "30"]);
        }
    }
    let _down = Down(home.clone());
    let up = herd()
        .args(["up", file.to_str().unwrap(), "--detach", "--artifact-cache", cache.to_str().unwrap()])
        .env("HERD_HOME", &home)
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let (ok, out, err) = herd_cli(&home, &["endpoints", "kafka"]);
    assert!(ok, "{err}");
    let bootstrap: Vec<&str> = out.trim().split(',').collect();
    assert_eq!(bootstrap.len(), 3, "the bootstrap servers, one line: {out}");
    assert!(bootstrap.iter().all(|a| a.starts_with(&format!("127.0.{block}."))), "{out}");
    let topic = |args: &[&str]| herd_cli(&home, &[&["topic", "kafka"], args].concat());
    let (ok, out, err) =
        topic(&["create", "orders", "--partitions", "3", "--replication", "3", "-c", "retention.ms=3600000"]);
    assert!(ok && out.contains("created"), "{out}{err}");
    let (ok, _, err) = topic(&["create", "orders"]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = topic(&["create", "wide", "--replication", "4"]);
    assert!(!ok && err.contains("1..=3"), "{err}");
    let (ok, out, err) = topic(&["list"]);
    assert!(ok && out.lines().any(|l| l == "orders"), "{out}{err}");
    let (ok, out, err) = topic(&["describe", "orders", "--output", "json"]);
    assert!(ok, "{err}");
    let described: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(described["partitions"].as_array().unwrap().len(), 3, "{out}");
    assert_eq!(described["configs"]["retention.ms"], "3600000", "{out}");
    let (ok, out, err) = topic(&["delete", "orders"]);
    assert!(ok && out.contains("deleted"), "{out}{err}");
    let (ok, _, err) = topic(&["describe", "nope"]);
    assert!(!ok && err.contains("no topic"), "{err}");
}

/// SIGTERM stops `herd run` gracefully (exit 0, tasks left running); a new `herd run` on
/// the same state dir finds the same tasks.
#[test]
fn herd_run_stops_gracefully_on_sigterm_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, master) =
        start_local(&["--agents", "3", "--cpus", "2", "--mem", "2048", "--disk", "2048"], dir.path(), 3);
    let state = dir.path().join("state");
    let home = dir.path().join("home");
    let run = |log: &std::path::Path| {
        Running(
            herd()
                .args(["run", "hello", "--master", &master, "--api-port", "0", "--shutdown-grace", "20"])
                .env("HERD_HOME", &home)
                .arg("--state-dir")
                .arg(&state)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    let first_log = dir.path().join("first.log");
    let mut first = run(&first_log);
    let pods_before = deployed_pods(&api_of(&wait_for(&first_log, "operator API on")));
    operate_with_the_cli(&home, dir.path());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(first.0.id()).unwrap());
    let asked = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = loop {
        if let Some(status) = first.0.try_wait().unwrap() {
            break status;
        }
        assert!(asked.elapsed() < Duration::from_secs(30), "herd run did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&first_log).unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}\n{log}");
    assert!(log.contains("stopping"), "{log}");
    let second_log = dir.path().join("second.log");
    let _second = run(&second_log);
    let pods_after = deployed_pods(&api_of(&wait_for(&second_log, "operator API on")));
    assert_eq!(server_ids(&pods_after), server_ids(&pods_before), "the tasks kept running");
    assert_eq!(server_ids(&pods_after).len(), 3);
}
