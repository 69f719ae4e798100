//! Health checks of the agent (`herd_localmesos::agent::health`): HTTP, HTTPS, TCP and COMMAND
//! checks against real servers and processes on 127.0.0.1, with Mesos' counting, grace period
//! and reporting rules.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use herd_localmesos::agent::health::{HealthContext, HealthError, HealthEvent, HealthMonitor, start};
use herd_mesos_api::task::{
    CheckType, CommandInfo, Environment, HealthCheck, HttpHealthCheck, TcpHealthCheck,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Upper bound for any single wait in these tests.
const WAIT: Duration = Duration::from_secs(3);

fn ctx(sandbox: &Path) -> HealthContext {
    HealthContext { sandbox: sandbox.to_path_buf(), env: Vec::new(), host: LOCALHOST, user: None }
}

/// A fast check: no delay, 50 ms interval, 1 s timeout, 3 failures, no grace period.
fn fast() -> HealthCheck {
    HealthCheck {
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.05),
        timeout_seconds: Some(1.0),
        consecutive_failures: Some(3),
        grace_period_seconds: Some(0.0),
        ..HealthCheck::default()
    }
}

fn http_check(port: u16, path: &str) -> HealthCheck {
    HealthCheck {
        kind: Some(CheckType::Http),
        http: Some(HttpHealthCheck {
            port: port.into(),
            path: Some(path.into()),
            ..HttpHealthCheck::default()
        }),
        ..fast()
    }
}

fn command_check(command: &str) -> HealthCheck {
    HealthCheck { kind: Some(CheckType::Command), command: Some(CommandInfo::shell(command)), ..fast() }
}

async fn next(monitor: &mut HealthMonitor) -> Option<HealthEvent> {
    timeout(WAIT, monitor.next()).await.expect("no health event within 3 s")
}

async fn expect_unhealthy(monitor: &mut HealthMonitor, n: u32) -> String {
    match next(monitor).await {
        Some(HealthEvent::Unhealthy { consecutive_failures, message }) if consecutive_failures == n => {
            message
        }
        other => panic!("expected Unhealthy #{n}, got {other:?}"),
    }
}

async fn expect_kill(monitor: &mut HealthMonitor) -> String {
    let message = match next(monitor).await {
        Some(HealthEvent::Kill { message }) => message,
        other => panic!("expected Kill, got {other:?}"),
    };
    assert_eq!(next(monitor).await, None, "the stream must end after Kill");
    message
}

/// Skips `Unhealthy` events until `Healthy`.
async fn wait_healthy(monitor: &mut HealthMonitor) {
    loop {
        match next(monitor).await {
            Some(HealthEvent::Healthy) => return,
            Some(HealthEvent::Unhealthy { .. }) => {}
            other => panic!("expected Healthy, got {other:?}"),
        }
    }
}

/// Asserts that no event arrives for `quiet`.
async fn expect_silence(monitor: &mut HealthMonitor, quiet: Duration) {
    if let Ok(event) = timeout(quiet, monitor.next()).await {
        panic!("expected no event for {quiet:?}, got {event:?}");
    }
}

/// An HTTP server on 127.0.0.1 whose `/health` answers with a settable status; stopped on drop.
struct Server {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct ServerState {
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

async fn health(State(state): State<ServerState>) -> StatusCode {
    state.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
}

/// Never answers (the check's timeout must fire); the server is dropped with the test.
async fn slow() -> &'static str {
    std::future::pending::<()>().await;
    "late"
}

impl Server {
    async fn start(status: u16) -> Self {
        let status = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicUsize::new(0));
        let state = ServerState { status: status.clone(), hits: hits.clone() };
        let app = Router::new()
            .route("/health", get(health))
            .route("/moved", get(|| async { Redirect::temporary("/health").into_response() }))
            .route("/slow", get(slow))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, status, hits, task }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn http_healthy_is_reported_once() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&http_check(server.addr.port(), "/health"), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    expect_silence(&mut monitor, Duration::from_millis(400)).await;
    assert!(server.hits() >= 3, "checks go on after the first success ({} hits)", server.hits());
}

#[tokio::test]
async fn http_500_is_unhealthy_three_times_then_kill() {
    let server = Server::start(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&http_check(server.addr.port(), "/health"), ctx(dir.path())).unwrap();
    let message = expect_unhealthy(&mut monitor, 1).await;
    assert!(message.contains("HTTP health check failed") && message.contains("500"), "{message}");
    expect_unhealthy(&mut monitor, 2).await;
    expect_unhealthy(&mut monitor, 3).await;
    let kill = expect_kill(&mut monitor).await;
    assert!(kill.contains('3'), "{kill}");
    // The checks stopped: no further requests.
    let hits = server.hits();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits(), hits);
}

#[tokio::test]
async fn http_failing_after_success_flips_then_kills() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&http_check(server.addr.port(), "/health"), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));

    server.set(503);
    expect_unhealthy(&mut monitor, 1).await;
    // Back to healthy: reported again, and the count restarts.
    server.set(200);
    wait_healthy(&mut monitor).await;
    expect_silence(&mut monitor, Duration::from_millis(200)).await;

    server.set(404);
    expect_unhealthy(&mut monitor, 1).await;
    expect_unhealthy(&mut monitor, 2).await;
    expect_unhealthy(&mut monitor, 3).await;
    expect_kill(&mut monitor).await;
}

#[tokio::test]
async fn http_redirects_are_followed_and_3xx_statuses_are_healthy() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&http_check(server.addr.port(), "/moved"), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    assert!(server.hits() >= 1, "the redirect was followed");
    drop(monitor);

    // A final 3xx status (here 304) is healthy, as in Mesos (200..=399).
    server.set(304);
    let mut monitor = start(&http_check(server.addr.port(), "/health"), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
}

#[tokio::test]
async fn http_statuses_field_is_ignored_like_mesos() {
    let server = Server::start(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/health");
    check.http.as_mut().unwrap().statuses = vec![500];
    check.consecutive_failures = Some(1);
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    expect_unhealthy(&mut monitor, 1).await;
    expect_kill(&mut monitor).await;
}

#[tokio::test]
async fn http_timeout_is_a_failure() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/slow");
    check.timeout_seconds = Some(0.2);
    check.consecutive_failures = Some(1);
    let began = Instant::now();
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    let message = expect_unhealthy(&mut monitor, 1).await;
    assert!(message.contains("timed out"), "{message}");
    expect_kill(&mut monitor).await;
    assert!(began.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn failures_in_grace_period_before_first_success_are_not_reported() {
    let server = Server::start(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/health");
    check.grace_period_seconds = Some(0.5);
    let began = Instant::now();
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    // Failures within the grace period are neither reported nor counted...
    expect_unhealthy(&mut monitor, 1).await;
    assert!(began.elapsed() >= Duration::from_millis(450), "reported after {:?}", began.elapsed());
    assert!(server.hits() >= 5, "checks ran during the grace period ({} hits)", server.hits());
    // ...and after it, failures count towards the kill.
    expect_unhealthy(&mut monitor, 2).await;
    expect_unhealthy(&mut monitor, 3).await;
    expect_kill(&mut monitor).await;
}

#[tokio::test]
async fn grace_period_ends_with_the_first_success() {
    let server = Server::start(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/health");
    check.grace_period_seconds = Some(60.0);
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    expect_silence(&mut monitor, Duration::from_millis(300)).await;
    server.set(200);
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    // Still inside the 60 s grace period, but after a success every failure counts.
    server.set(500);
    expect_unhealthy(&mut monitor, 1).await;
    expect_unhealthy(&mut monitor, 2).await;
    expect_unhealthy(&mut monitor, 3).await;
    expect_kill(&mut monitor).await;
}

#[tokio::test]
async fn delay_postpones_the_first_check() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/health");
    check.delay_seconds = Some(0.3);
    let began = Instant::now();
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    assert!(began.elapsed() >= Duration::from_millis(300), "first check after {:?}", began.elapsed());
}

#[tokio::test]
async fn dropping_the_monitor_stops_the_checks() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&http_check(server.addr.port(), "/health"), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    drop(monitor);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = server.hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(), hits, "no checks after the monitor was dropped");
}

#[tokio::test]
async fn type_is_inferred_from_http_only() {
    let server = Server::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut check = http_check(server.addr.port(), "/health");
    check.kind = None;
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
}

fn tcp_check(port: u16) -> HealthCheck {
    HealthCheck {
        kind: Some(CheckType::Tcp),
        tcp: Some(TcpHealthCheck { port: port.into(), protocol: None }),
        ..fast()
    }
}

#[tokio::test]
async fn tcp_listening_port_is_healthy() {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&tcp_check(port), ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    expect_silence(&mut monitor, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn tcp_closed_port_is_unhealthy_then_kill() {
    let port = {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = start(&tcp_check(port), ctx(dir.path())).unwrap();
    let message = expect_unhealthy(&mut monitor, 1).await;
    assert!(message.contains("TCP health check failed"), "{message}");
    expect_unhealthy(&mut monitor, 2).await;
    expect_unhealthy(&mut monitor, 3).await;
    expect_kill(&mut monitor).await;
}

#[tokio::test]
async fn command_check_flips_with_a_marker_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut check = command_check("test -f marker");
    check.consecutive_failures = Some(1000);
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    let message = expect_unhealthy(&mut monitor, 1).await;
    assert!(message.contains("COMMAND health check failed") && message.contains("status 1"), "{message}");

    // The command runs in the sandbox: the relative path resolves there.
    std::fs::write(dir.path().join("marker"), b"").unwrap();
    wait_healthy(&mut monitor).await;
    expect_silence(&mut monitor, Duration::from_millis(200)).await;

    std::fs::remove_file(dir.path().join("marker")).unwrap();
    expect_unhealthy(&mut monitor, 1).await;
    expect_unhealthy(&mut monitor, 2).await;
}

#[tokio::test]
async fn command_check_gets_the_task_environment_and_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut check = command_check(r#"test "$FROM_TASK" = task && test "$BOTH" = check && test -n "$PATH""#);
    check.command.as_mut().unwrap().environment = Some(Environment::from_iter([("BOTH", "check")]));
    check.consecutive_failures = Some(1);
    let mut context = ctx(dir.path());
    context.env = vec![("FROM_TASK".into(), "task".into()), ("BOTH".into(), "task".into())];
    let mut monitor = start(&check, context).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
}

#[tokio::test]
async fn command_check_without_shell_runs_argv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("present"), b"").unwrap();
    let mut check = fast();
    check.kind = Some(CheckType::Command);
    check.command = Some(CommandInfo {
        shell: Some(false),
        value: Some("test".into()),
        arguments: vec!["test".into(), "-f".into(), "present".into()],
        ..CommandInfo::default()
    });
    // No PATH in the task environment: the default one finds `test`.
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
}

#[tokio::test]
async fn command_check_runs_as_the_task_user_when_root() {
    let is_root =
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let nobody = std::process::Command::new("id").args(["-u", "nobody"]).output();
    let Some(uid) = nobody.ok().filter(|o| is_root && o.status.success()).map(|o| o.stdout) else {
        eprintln!("not root or no user 'nobody': skipping the user switch test");
        return;
    };
    let uid = String::from_utf8(uid).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The sandbox must be enterable by the task user (the agent chowns real sandboxes).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut check = command_check(&format!("test \"$(id -u)\" = {}", uid.trim()));
    check.consecutive_failures = Some(1);
    let mut context = ctx(dir.path());
    context.user = Some("nobody".into());
    let mut monitor = start(&check, context).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));

    // An unknown user is refused up front (as root; otherwise checks run as the agent's user).
    let mut context = ctx(dir.path());
    context.user = Some("no-such-user-herd".into());
    match start(&check, context) {
        Err(HealthError::User { user, .. }) => assert_eq!(user, "no-such-user-herd"),
        other => panic!("expected HealthError::User, got {:?}", other.map(|_| ())),
    }
}

/// Whether process `pid` is gone (or a zombie waiting for a reaper).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_gone(pid: i32) {
    let deadline = Instant::now() + WAIT;
    while !gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{} never written", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn command_timeout_is_a_failure_and_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut check = command_check("sleep 30 & echo $! > child.tmp && mv child.tmp child; wait");
    check.timeout_seconds = Some(0.3);
    check.consecutive_failures = Some(1);
    let began = Instant::now();
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    let message = expect_unhealthy(&mut monitor, 1).await;
    assert!(message.contains("timed out"), "{message}");
    assert!(began.elapsed() >= Duration::from_millis(300));
    expect_kill(&mut monitor).await;
    // The grandchild `sleep 30` was killed with the check's process group.
    wait_gone(read_pid(&dir.path().join("child")).await).await;
}

#[tokio::test]
async fn dropping_the_monitor_kills_a_running_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut check = command_check("sleep 30 & echo $! > child.tmp && mv child.tmp child; wait");
    check.timeout_seconds = Some(0.0); // no timeout
    let monitor = start(&check, ctx(dir.path())).unwrap();
    let pid = read_pid(&dir.path().join("child")).await;
    assert!(!gone(pid));
    drop(monitor);
    wait_gone(pid).await;
}

fn invalid(check: &HealthCheck) -> String {
    let dir = std::env::temp_dir();
    match start(check, ctx(&dir)) {
        Err(e @ HealthError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("expected HealthError::Invalid, got {e}"),
        Ok(_) => panic!("expected an invalid health check: {check:?}"),
    }
}

#[tokio::test]
async fn invalid_checks_name_the_field() {
    let mut no_port = http_check(8080, "/health");
    no_port.http.as_mut().unwrap().port = 0;
    assert!(invalid(&no_port).contains("health_check.http.port"), "{}", invalid(&no_port));

    let mut big_port = tcp_check(1);
    big_port.tcp.as_mut().unwrap().port = 70000;
    assert!(invalid(&big_port).contains("health_check.tcp.port"));

    let mut scheme = http_check(8080, "/health");
    scheme.http.as_mut().unwrap().scheme = Some("ftp".into());
    assert!(invalid(&scheme).contains("health_check.http.scheme"));

    assert!(invalid(&http_check(8080, "health")).contains("health_check.http.path"));

    let no_http = HealthCheck { kind: Some(CheckType::Http), ..fast() };
    assert!(invalid(&no_http).contains("health_check.http`"));

    let no_tcp = HealthCheck { kind: Some(CheckType::Tcp), ..fast() };
    assert!(invalid(&no_tcp).contains("health_check.tcp`"));

    let no_value =
        HealthCheck { kind: Some(CheckType::Command), command: Some(CommandInfo::default()), ..fast() };
    assert!(invalid(&no_value).contains("health_check.command.value"));

    assert!(invalid(&fast()).contains("health_check.type"));
    let unknown = HealthCheck { kind: Some(CheckType::Unknown), ..http_check(8080, "/") };
    assert!(invalid(&unknown).contains("health_check.type"));

    let mut negative = http_check(8080, "/health");
    negative.interval_seconds = Some(-1.0);
    assert!(invalid(&negative).contains("health_check.interval_seconds"));
    let mut nan = http_check(8080, "/health");
    nan.timeout_seconds = Some(f64::NAN);
    assert!(invalid(&nan).contains("health_check.timeout_seconds"));
    let mut huge = http_check(8080, "/health");
    huge.delay_seconds = Some(1e300);
    assert!(invalid(&huge).contains("health_check.delay_seconds"));
}

/// A one-request-per-connection HTTPS server on a thread, with a self-signed certificate made by
/// `openssl`; stopped on drop.
struct TlsServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    fn start(dir: &Path) -> Option<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::io::{Read, Write};

        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "1", "-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("openssl is not available: skipping the HTTPS check test");
            return None;
        }
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&cert).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Some(Self { port, stop, thread: Some(thread) })
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn https_check_accepts_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = TlsServer::start(dir.path()) else { return };
    let mut check = http_check(server.port, "/health");
    check.http.as_mut().unwrap().scheme = Some("https".into());
    let mut monitor = start(&check, ctx(dir.path())).unwrap();
    assert_eq!(next(&mut monitor).await, Some(HealthEvent::Healthy));
    drop(monitor);

    // Plain HTTP against the TLS port fails.
    let mut plain = http_check(server.port, "/health");
    plain.consecutive_failures = Some(1);
    let mut monitor = start(&plain, ctx(dir.path())).unwrap();
    expect_unhealthy(&mut monitor, 1).await;
    expect_kill(&mut monitor).await;
}
