//! The `herd` binary: `herd local` serves a cluster and prints its URL first; with `--zk`
//! it registers in a real ZooKeeper where `herd leader` finds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../crates/mesos-client/tests/support/zookeeper.rs"]
mod zookeeper_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
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
fn start_local(extra: &[&str], dir: &std::path::Path) -> (Running, String) {
    let mut child = herd()
        .args(["local", "--port", "0"])
        .arg("--work-dir")
        .arg(dir)
        .args(["--agent-ip-block", &(100 + std::process::id() % 100).to_string()])
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
    let (_local, url) = start_local(SMALL, dir.path());
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
    let (_local, url) = start_local(&[SMALL, &["--zk", &zk_url]].concat(), dir.path());
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

/// Two `herd run hello --zk` schedulers share their state in ZooKeeper: one leads and
/// deploys; when it is killed, the other takes over and finds the deploy done (same tasks).
#[test]
fn herd_run_with_zookeeper_fails_over_to_a_standby() {
    let zk = zookeeper_server::ZkServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_local, master) =
        start_local(&["--agents", "3", "--cpus", "2", "--mem", "2048", "--disk", "2048"], dir.path());
    let state = format!("zk://{}/herd/hello", zk.connect_string());
    let run = |log: &std::path::Path| {
        let err = std::fs::File::create(log).unwrap();
        Running(
            herd()
                .args(["run", "hello", "--master", &master, "--zk", &state, "--api-port", "0"])
                .env("RUST_BACKTRACE", "0")
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap(),
        )
    };
    let wait_for = |log: &std::path::Path, text: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let content = std::fs::read_to_string(log).unwrap_or_default();
            if content.contains(text) {
                return content;
            }
            assert!(Instant::now() < deadline, "no {text:?} in the log:\n{content}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let api_of = |log: &str| {
        log.split("operator API on http://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
    };
    let deployed_tasks = |api: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, plan) = http_get(&format!("http://{api}"), "/v1/plans/deploy");
            if plan.contains("\"status\":\"COMPLETE\",\"phases\"") {
                let mut ids = String::new();
                for i in 0..3 {
                    ids += &http_get(&format!("http://{api}"), &format!("/v1/pods/hello-{i}")).1;
                }
                return ids;
            }
            assert!(Instant::now() < deadline, "deploy did not complete: {plan}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let first_log = dir.path().join("first.log");
    let second_log = dir.path().join("second.log");
    let mut first = run(&first_log);
    let api = api_of(&wait_for(&first_log, "operator API on"));
    let pods_before = deployed_tasks(&api);
    let _second = run(&second_log);
    wait_for(&second_log, "waiting to lead");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!std::fs::read_to_string(&second_log).unwrap().contains("leading\n"), "only one leads at a time");
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let api = api_of(&wait_for(&second_log, "operator API on"));
    let pods_after = deployed_tasks(&api);
    let ids = |s: &str| -> Vec<String> {
        s.split("\"id\":\"")
            .skip(1)
            .map(|x| x.split('"').next().unwrap().to_owned())
            .filter(|id| id.contains("server"))
            .collect()
    };
    assert_eq!(ids(&pods_after), ids(&pods_before), "the standby took over the same tasks");
    assert_eq!(ids(&pods_after).len(), 3);
}
