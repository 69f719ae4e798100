//! General task checks (`TaskInfo.check`), run the way Mesos' built-in (command and default)
//! executors run them.
//!
//! The model is Mesos' checker library (`src/checks/checker.cpp` on top of
//! `src/checks/checker_process.cpp`, documented in `docs/check-health.md`). Unlike health checks,
//! a check only *reports*: it never kills the task and has no grace period or failure count.
//!
//! * The first check runs `delay_seconds` (default 15) after [`start`]; each following check
//!   runs `interval_seconds` (default 10) after the previous one *completed*.
//! * A check that takes longer than `timeout_seconds` (default 20; 0 = no timeout) fails; a timed
//!   out COMMAND check has its whole process group killed with `SIGKILL`.
//! * COMMAND: the `CommandInfo` runs in the task's sandbox with the task's environment plus the
//!   command's own `environment` (as for health checks, see [`super::health`]). The result is
//!   the exit code (`command.exit_code`); a command killed by a signal has no exit code and
//!   counts as a failed check.
//! * HTTP: `GET http://<host>:<port><path>`, following redirects like Mesos' `curl -s -S -L -k`.
//!   The result is the final response's status, whatever it is (`http.status_code`, e.g. 200 or
//!   503); no response at all (connection refused, timeout) is a failed check.
//! * TCP: the result is whether a connection to `<host>:<port>` could be established
//!   (`tcp.succeeded`, true or false); only a timeout is a failed check.
//! * A failed check yields the *empty* [`CheckStatusInfo`] of the check's type (`type` set, the
//!   `command`/`http`/`tcp` message present but empty, see [`empty_status`]).
//! * Reporting: a result is yielded by [`CheckMonitor::next`] only when it differs from the
//!   previous one, and the "previous one" starts out as the empty status. So a check that first
//!   fails (e.g. an HTTP server not listening yet) reports nothing until it first gets a result,
//!   and an unchanged result is never reported twice.
//!
//! How the executor uses this, as Mesos' do: every status it creates from scratch
//! (`TASK_STARTING`, `TASK_RUNNING`, `TASK_KILLING`, the terminal one) carries the empty status of
//! the task's check; each reported result goes out as a copy of the task's latest status (so
//! `TASK_RUNNING`, keeping e.g. `healthy`) with the new `check_status` and reason
//! `REASON_TASK_CHECK_STATUS_UPDATED`; results arriving once the task is being killed or has
//! ended are dropped.
//!
//! Where this differs from Mesos: HTTP and TCP checks probe [`HealthContext::host`] (the agent's
//! address that the task binds to) instead of `127.0.0.1`; a port of 0 or above 65535 makes the
//! check invalid up front (Mesos would run it and never get a result).

use super::health::{self, CommandSpec, HealthContext, HealthError};
use herd_mesos_api::status::{CheckStatusInfo, CommandCheckStatus, HttpCheckStatus, TcpCheckStatus};
use herd_mesos_api::task::{CheckInfo, CheckType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Default `delay_seconds`.
const DEFAULT_DELAY_SECONDS: f64 = 15.0;
/// Default `interval_seconds`.
const DEFAULT_INTERVAL_SECONDS: f64 = 10.0;
/// Default `timeout_seconds`.
const DEFAULT_TIMEOUT_SECONDS: f64 = 20.0;

/// Why checking could not start.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The `CheckInfo` is invalid; `field` names the offending field.
    #[error("invalid check: `{field}` {reason}")]
    Invalid {
        /// The field, e.g. `check.http.path`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The task's user does not exist on this host.
    #[error("cannot run the check command as user '{user}': {reason}")]
    User {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP check client: {0}")]
    Client(String),
    /// [`start`] was called outside a Tokio runtime.
    #[error("checks must be started from within a Tokio runtime")]
    NoRuntime,
}

impl From<HealthError> for CheckError {
    fn from(e: HealthError) -> Self {
        match e {
            HealthError::Invalid { field, reason } => Self::Invalid { field, reason },
            HealthError::User { user, reason } => Self::User { user, reason },
            HealthError::Client(reason) => Self::Client(reason),
            HealthError::NoRuntime => Self::NoRuntime,
        }
    }
}

/// A running check. Its changed results come from [`CheckMonitor::next`]; dropping it stops the
/// checks (a COMMAND check in flight is killed).
#[derive(Debug)]
pub struct CheckMonitor {
    results: mpsc::UnboundedReceiver<CheckStatusInfo>,
    task: JoinHandle<()>,
}

impl CheckMonitor {
    /// The next result that differs from the previous one (the first one compared with the
    /// empty status). It never returns `None` while the monitor lives unless the checking task
    /// died.
    pub async fn next(&mut self) -> Option<CheckStatusInfo> {
        self.results.recv().await
    }
}

impl Drop for CheckMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The empty [`CheckStatusInfo`] of `check`'s type — `{"type":"HTTP","http":{}}` and the like —
/// that Mesos' executors attach to every status they create from scratch, and that stands for
/// a failed check. `None` when the type is unset or `UNKNOWN` (an invalid check).
pub fn empty_status(check: &CheckInfo) -> Option<CheckStatusInfo> {
    empty_of(check.kind?)
}

fn empty_of(kind: CheckType) -> Option<CheckStatusInfo> {
    let mut status = CheckStatusInfo { kind: Some(kind), ..CheckStatusInfo::default() };
    match kind {
        CheckType::Command => status.command = Some(CommandCheckStatus::default()),
        CheckType::Http => status.http = Some(HttpCheckStatus::default()),
        CheckType::Tcp => status.tcp = Some(TcpCheckStatus::default()),
        CheckType::Unknown => return None,
    }
    Some(status)
}

/// Validates `check` and starts checking in a new Tokio task.
///
/// Fails with [`CheckError::Invalid`] naming the field when the check is invalid (what Mesos'
/// `validateCheckInfo` rejects — missing or `UNKNOWN` type, missing `command`/`http`/`tcp`, no
/// command value, an HTTP path not starting with `/`, a negative duration — plus a port of 0 or
/// above 65535 and a non-finite or out-of-range duration).
pub fn start(check: &CheckInfo, ctx: HealthContext) -> Result<CheckMonitor, CheckError> {
    let started = Instant::now();
    let plan = Plan::new(check, ctx)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| CheckError::NoRuntime)?;
    let (tx, results) = mpsc::unbounded_channel();
    let task = runtime.spawn(run(plan, started, tx));
    Ok(CheckMonitor { results, task })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CheckError {
    CheckError::Invalid { field, reason: reason.into() }
}

/// A validated, ready-to-run check.
#[derive(Debug)]
struct Plan {
    delay: Duration,
    interval: Duration,
    /// `None` = no timeout.
    timeout: Option<Duration>,
    /// What a failed check yields, and the initial "previous" result.
    empty: CheckStatusInfo,
    kind: &'static str,
    probe: Probe,
}

#[derive(Debug)]
enum Probe {
    Command(CommandSpec),
    Http { client: reqwest::Client, url: String },
    Tcp { addr: SocketAddr },
}

impl Plan {
    fn new(check: &CheckInfo, ctx: HealthContext) -> Result<Self, CheckError> {
        let kind = check.kind.ok_or_else(|| invalid("check.type", "must be set (COMMAND, HTTP or TCP)"))?;
        let empty = empty_of(kind)
            .ok_or_else(|| invalid("check.type", "must be COMMAND, HTTP or TCP, not UNKNOWN"))?;
        let delay = health::seconds("check.delay_seconds", check.delay_seconds, DEFAULT_DELAY_SECONDS)?;
        let interval =
            health::seconds("check.interval_seconds", check.interval_seconds, DEFAULT_INTERVAL_SECONDS)?;
        let timeout =
            health::seconds("check.timeout_seconds", check.timeout_seconds, DEFAULT_TIMEOUT_SECONDS)?;
        let (name, probe) = match kind {
            CheckType::Command => {
                let command = check
                    .command
                    .as_ref()
                    .ok_or_else(|| invalid("check.command", "must be set for a COMMAND check"))?;
                let spec = health::command_spec(&command.command, ctx, "check.command.command.value")?;
                ("COMMAND", Probe::Command(spec))
            }
            CheckType::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or_else(|| invalid("check.http", "must be set for an HTTP check"))?;
                let port = health::port("check.http.port", http.port)?;
                let path = http.path.as_deref().unwrap_or("");
                if !path.is_empty() && !path.starts_with('/') {
                    return Err(invalid("check.http.path", format!("must start with '/' (got {path:?})")));
                }
                // `CheckInfo.Http` has no scheme: always plain HTTP, as in Mesos.
                let url = format!("http://{}{path}", health::target(ctx.host, None, port));
                ("HTTP", Probe::Http { client: health::http_client("check")?, url })
            }
            _ => {
                let tcp =
                    check.tcp.as_ref().ok_or_else(|| invalid("check.tcp", "must be set for a TCP check"))?;
                let port = health::port("check.tcp.port", tcp.port)?;
                ("TCP", Probe::Tcp { addr: health::target(ctx.host, None, port) })
            }
        };
        Ok(Self {
            delay,
            interval,
            timeout: (!timeout.is_zero()).then_some(timeout),
            empty,
            kind: name,
            probe,
        })
    }
}

/// The check loop; `started` is when [`start`] was called.
async fn run(plan: Plan, started: Instant, tx: mpsc::UnboundedSender<CheckStatusInfo>) {
    match started.checked_add(plan.delay) {
        Some(first) => tokio::time::sleep_until(first).await,
        None => std::future::pending::<()>().await,
    }
    let mut previous = plan.empty.clone();
    loop {
        if tx.is_closed() {
            return;
        }
        let result = check_once(&plan).await.unwrap_or_else(|reason| {
            tracing::debug!(%reason, "{} check failed", plan.kind);
            plan.empty.clone()
        });
        if result != previous {
            if tx.send(result.clone()).is_err() {
                return;
            }
            previous = result;
        }
        if plan.interval.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(plan.interval).await;
        }
    }
}

/// One check, bounded by the timeout: its result, or why it failed.
async fn check_once(plan: &Plan) -> Result<CheckStatusInfo, String> {
    let probe = async {
        let mut status = plan.empty.clone();
        match &plan.probe {
            Probe::Command(spec) => {
                let exit = health::command_status(spec).await?;
                let code = exit.code().ok_or_else(|| format!("the command did not exit normally: {exit}"))?;
                status.command = Some(CommandCheckStatus { exit_code: Some(code) });
            }
            Probe::Http { client, url } => {
                let code = health::http_status(client, url).await?;
                status.http = Some(HttpCheckStatus { status_code: Some(code.as_u16().into()) });
            }
            Probe::Tcp { addr } => {
                let connected = tokio::net::TcpStream::connect(addr).await;
                if let Err(e) = &connected {
                    tracing::debug!(%addr, error = %e, "TCP check: cannot connect");
                }
                status.tcp = Some(TcpCheckStatus { succeeded: Some(connected.is_ok()) });
            }
        }
        Ok(status)
    };
    match plan.timeout {
        None => probe.await,
        Some(limit) => tokio::time::timeout(limit, probe)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {}", health::format_secs(limit)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_mesos_api::task::{CommandCheck, CommandInfo, HttpCheck, TcpCheck};
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;

    /// Upper bound for any single wait in these tests.
    const WAIT: Duration = Duration::from_secs(5);

    fn ctx(sandbox: &Path) -> HealthContext {
        HealthContext {
            sandbox: sandbox.to_path_buf(),
            env: Vec::new(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            user: None,
        }
    }

    /// A fast check: no delay, 50 ms interval, 1 s timeout.
    fn fast(kind: CheckType) -> CheckInfo {
        CheckInfo {
            kind: Some(kind),
            delay_seconds: Some(0.0),
            interval_seconds: Some(0.05),
            timeout_seconds: Some(1.0),
            ..CheckInfo::default()
        }
    }

    fn command_check(command: &str) -> CheckInfo {
        CheckInfo {
            command: Some(CommandCheck { command: CommandInfo::shell(command) }),
            ..fast(CheckType::Command)
        }
    }

    fn http_check(port: u16, path: &str) -> CheckInfo {
        CheckInfo {
            http: Some(HttpCheck { port: port.into(), path: Some(path.into()) }),
            ..fast(CheckType::Http)
        }
    }

    fn tcp_check(port: u16) -> CheckInfo {
        CheckInfo { tcp: Some(TcpCheck { port: port.into() }), ..fast(CheckType::Tcp) }
    }

    fn exit_code(code: i32) -> CheckStatusInfo {
        CheckStatusInfo {
            kind: Some(CheckType::Command),
            command: Some(CommandCheckStatus { exit_code: Some(code) }),
            ..CheckStatusInfo::default()
        }
    }

    fn status_code(code: u32) -> CheckStatusInfo {
        CheckStatusInfo {
            kind: Some(CheckType::Http),
            http: Some(HttpCheckStatus { status_code: Some(code) }),
            ..CheckStatusInfo::default()
        }
    }

    fn tcp(succeeded: bool) -> CheckStatusInfo {
        CheckStatusInfo {
            kind: Some(CheckType::Tcp),
            tcp: Some(TcpCheckStatus { succeeded: Some(succeeded) }),
            ..CheckStatusInfo::default()
        }
    }

    async fn next(monitor: &mut CheckMonitor) -> CheckStatusInfo {
        timeout(WAIT, monitor.next()).await.expect("no check result in time").expect("checking stopped")
    }

    async fn expect_silence(monitor: &mut CheckMonitor, quiet: Duration) {
        if let Ok(result) = timeout(quiet, monitor.next()).await {
            panic!("expected no result for {quiet:?}, got {result:?}");
        }
    }

    /// A port nothing listens on (bound, then released).
    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A minimal HTTP server on `port` answering every request with the settable status.
    async fn serve(port: u16, status: Arc<AtomicU16>) -> JoinHandle<()> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await.unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let code = status.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response =
                        format!("HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        })
    }

    #[test]
    fn empty_status_has_the_type_and_an_empty_message() {
        let json = |check: &CheckInfo| serde_json::to_string(&empty_status(check).unwrap()).unwrap();
        assert_eq!(json(&command_check("true")), r#"{"type":"COMMAND","command":{}}"#);
        assert_eq!(json(&http_check(80, "/")), r#"{"type":"HTTP","http":{}}"#);
        assert_eq!(json(&tcp_check(80)), r#"{"type":"TCP","tcp":{}}"#);
        assert_eq!(empty_status(&CheckInfo::default()), None);
        assert_eq!(empty_status(&fast(CheckType::Unknown)), None);
    }

    #[tokio::test]
    async fn command_check_reports_each_change_of_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let check =
            command_check("if [ -f ready ]; then exit 0; elif [ -f three ]; then exit 3; else exit 1; fi");
        let mut monitor = start(&check, ctx(dir.path())).unwrap();
        // The first result is reported: it differs from the empty status.
        assert_eq!(next(&mut monitor).await, exit_code(1));
        // Unchanged results are not reported again.
        expect_silence(&mut monitor, Duration::from_millis(300)).await;
        // The command runs in the sandbox: relative paths resolve there.
        std::fs::write(dir.path().join("ready"), b"").unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(0));
        expect_silence(&mut monitor, Duration::from_millis(200)).await;
        std::fs::remove_file(dir.path().join("ready")).unwrap();
        std::fs::write(dir.path().join("three"), b"").unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(3));
    }

    #[tokio::test]
    async fn command_check_gets_the_task_environment() {
        let dir = tempfile::tempdir().unwrap();
        let mut context = ctx(dir.path());
        context.env = vec![("FROM_TASK".into(), "7".into())];
        let mut monitor = start(&command_check(r#"exit "$FROM_TASK""#), context).unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(7));
    }

    #[tokio::test]
    async fn command_timeout_yields_the_empty_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut check = command_check("if [ -f hang ]; then sleep 30; fi; exit 2");
        check.timeout_seconds = Some(0.2);
        let mut monitor = start(&check, ctx(dir.path())).unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(2));
        std::fs::write(dir.path().join("hang"), b"").unwrap();
        // A failed check is the empty status, which differs from the previous result.
        assert_eq!(next(&mut monitor).await, empty_status(&check).unwrap());
        std::fs::remove_file(dir.path().join("hang")).unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(2));
    }

    #[tokio::test]
    async fn http_check_reports_the_status_code_once_the_server_answers() {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut monitor = start(&http_check(port, "/ready"), ctx(dir.path())).unwrap();
        // Connection refused: a failed check, i.e. the empty status, i.e. no change.
        expect_silence(&mut monitor, Duration::from_millis(300)).await;

        let code = Arc::new(AtomicU16::new(503));
        let server = serve(port, code.clone()).await;
        // Any status is a result, not only successful ones.
        assert_eq!(next(&mut monitor).await, status_code(503));
        expect_silence(&mut monitor, Duration::from_millis(200)).await;
        code.store(200, Ordering::SeqCst);
        assert_eq!(next(&mut monitor).await, status_code(200));

        // The server going away is a failed check: the empty status is reported.
        server.abort();
        assert_eq!(next(&mut monitor).await, empty_status(&http_check(port, "/")).unwrap());
    }

    #[tokio::test]
    async fn tcp_check_reports_whether_it_could_connect() {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut monitor = start(&tcp_check(port), ctx(dir.path())).unwrap();
        // A refused connection is a result (`succeeded: false`), unlike for HTTP.
        assert_eq!(next(&mut monitor).await, tcp(false));
        expect_silence(&mut monitor, Duration::from_millis(200)).await;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await.unwrap();
        assert_eq!(next(&mut monitor).await, tcp(true));
        drop(listener);
        assert_eq!(next(&mut monitor).await, tcp(false));
    }

    #[tokio::test]
    async fn delay_postpones_the_first_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut check = command_check("exit 4");
        check.delay_seconds = Some(0.3);
        let began = Instant::now();
        let mut monitor = start(&check, ctx(dir.path())).unwrap();
        assert_eq!(next(&mut monitor).await, exit_code(4));
        assert!(began.elapsed() >= Duration::from_millis(300), "first check after {:?}", began.elapsed());
    }

    fn invalid_field(check: &CheckInfo) -> &'static str {
        match Plan::new(check, ctx(&std::env::temp_dir())) {
            Err(CheckError::Invalid { field, .. }) => field,
            Err(e) => panic!("expected CheckError::Invalid, got {e}"),
            Ok(_) => panic!("expected an invalid check: {check:?}"),
        }
    }

    #[test]
    fn invalid_checks_name_the_field() {
        assert_eq!(invalid_field(&CheckInfo::default()), "check.type");
        assert_eq!(invalid_field(&fast(CheckType::Unknown)), "check.type");
        assert_eq!(invalid_field(&fast(CheckType::Command)), "check.command");
        assert_eq!(invalid_field(&fast(CheckType::Http)), "check.http");
        assert_eq!(invalid_field(&fast(CheckType::Tcp)), "check.tcp");
        let no_value = CheckInfo {
            command: Some(CommandCheck { command: CommandInfo::default() }),
            ..fast(CheckType::Command)
        };
        assert_eq!(invalid_field(&no_value), "check.command.command.value");
        assert_eq!(invalid_field(&http_check(8080, "ready")), "check.http.path");
        assert_eq!(invalid_field(&http_check(0, "/")), "check.http.port");
        assert_eq!(invalid_field(&tcp_check(0)), "check.tcp.port");
        let mut negative = tcp_check(1);
        negative.interval_seconds = Some(-1.0);
        assert_eq!(invalid_field(&negative), "check.interval_seconds");
        let mut nan = tcp_check(1);
        nan.timeout_seconds = Some(f64::NAN);
        assert_eq!(invalid_field(&nan), "check.timeout_seconds");
        let mut negative_delay = tcp_check(1);
        negative_delay.delay_seconds = Some(-0.5);
        assert_eq!(invalid_field(&negative_delay), "check.delay_seconds");
    }
}
