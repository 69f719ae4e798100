//! Task health checks, run the way Mesos' built-in (command and default) executors run them.
//!
//! The model is Mesos' checker library (`src/checks/health_checker.cpp` on top of
//! `src/checks/checker_process.cpp`, documented in `docs/health-checks.md`):
//!
//! * The first check runs `delay_seconds` (default 15) after [`start`]; each following check
//!   runs `interval_seconds` (default 10) after the previous one *completed*.
//! * A check that takes longer than `timeout_seconds` (default 20; 0 = no timeout) fails; a timed
//!   out COMMAND check has its whole process group killed with `SIGKILL`.
//! * COMMAND: the `CommandInfo` runs in the task's sandbox with the task's environment plus the
//!   check command's own `environment` (`/bin/sh -c value` when `shell` is true or unset, else
//!   `value` is executed with `arguments` as its argv). Exit status 0 is healthy.
//! * HTTP: `GET <scheme>://<host>:<port><path>`; like Mesos' `curl -s -S -L -k` it follows
//!   redirects and does not verify TLS certificates. Status 200..=399 is healthy. As in Mesos,
//!   `statuses` is ignored ("setting this field has no effect on the default executors").
//! * TCP: a connection to `<host>:<port>` that is established is healthy.
//! * Grace period: a failure is *ignored entirely* — neither reported nor counted — while no
//!   check has succeeded yet and at most `grace_period_seconds` (default 10, measured from
//!   [`start`], so it includes the delay) have passed. After the first success, or once the grace
//!   period is over, every failure counts.
//! * Reporting: every counted failure is reported ([`HealthEvent::Unhealthy`]); a success is
//!   reported ([`HealthEvent::Healthy`]) only if it is the first one or follows failures. When the
//!   consecutive failures reach `consecutive_failures` (default 3; 0 behaves as 1) the
//!   `Unhealthy` event is followed by [`HealthEvent::Kill`] and the checks stop — the executor
//!   sends the `TASK_RUNNING` update with `healthy: false` and then kills the task.
//!
//! Where this differs from Mesos: HTTP and TCP checks probe [`HealthContext::host`] (the agent's
//! address that the task binds to) instead of `127.0.0.1`; with `protocol: IPv6` and an IPv4
//! host they probe `::1`.
//!
//! The probes themselves (running a check command, an HTTP `GET`, validating durations and
//! ports) are shared with the general checks of [`super::checks`].

use herd_mesos_api::container::IpProtocol;
use herd_mesos_api::task::{CheckType, CommandInfo, HealthCheck, VariableType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
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
/// Default `consecutive_failures`.
const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
/// Default `grace_period_seconds`.
const DEFAULT_GRACE_PERIOD_SECONDS: f64 = 10.0;
/// `PATH` for COMMAND checks whose environment has none (the agent's default for tasks).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where and as whom the checks of one task run (health checks and general checks alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthContext {
    /// The task's sandbox: the working directory of COMMAND checks.
    pub sandbox: PathBuf,
    /// The task's environment. COMMAND checks get exactly this (plus the check command's own
    /// `environment`, which wins, and a default `PATH` if neither has one).
    pub env: Vec<(String, String)>,
    /// The address HTTP and TCP checks probe: the agent's IP that the task binds to.
    pub host: IpAddr,
    /// The task's user. COMMAND checks switch to it when the agent runs as root; otherwise
    /// they run as the agent's user.
    pub user: Option<String>,
}

/// What a health check run tells the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// The task is healthy: the first success, or the first success after failures. Send
    /// `TASK_RUNNING` with `healthy: true` and reason `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`.
    Healthy,
    /// A counted failure. Send `TASK_RUNNING` with `healthy: false` and reason
    /// `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`.
    Unhealthy {
        /// Failures in a row so far, this one included (1-based).
        consecutive_failures: u32,
        /// Why the check failed.
        message: String,
    },
    /// The failures reached `consecutive_failures`: kill the task. Always right after the
    /// `Unhealthy` event of the last failure; the stream ends after it.
    Kill {
        /// Why the task is killed.
        message: String,
    },
}

/// Why health checking could not start.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The `HealthCheck` is invalid; `field` names the offending field.
    #[error("invalid health check: `{field}` {reason}")]
    Invalid {
        /// The field, e.g. `health_check.http.port`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The task's user does not exist on this host.
    #[error("cannot run the health check command as user '{user}': {reason}")]
    User {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP health check client: {0}")]
    Client(String),
    /// [`start`] was called outside a Tokio runtime.
    #[error("health checks must be started from within a Tokio runtime")]
    NoRuntime,
}

/// A running health check. Its events come from [`HealthMonitor::next`]; dropping it stops the
/// checks (a COMMAND check in flight is killed).
#[derive(Debug)]
pub struct HealthMonitor {
    events: mpsc::UnboundedReceiver<HealthEvent>,
    task: JoinHandle<()>,
}

impl HealthMonitor {
    /// The next event, or `None` once the checks have stopped (after [`HealthEvent::Kill`]).
    pub async fn next(&mut self) -> Option<HealthEvent> {
        self.events.recv().await
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Validates `check` and starts checking in a new Tokio task.
///
/// Fails with [`HealthError::Invalid`] naming the field when the check is invalid (unknown or
/// missing type, missing `command`/`http`/`tcp`, no command value, port 0 or above 65535, a
/// scheme other than `http`/`https`, a path not starting with `/`, a negative or non-finite
/// duration).
pub fn start(check: &HealthCheck, ctx: HealthContext) -> Result<HealthMonitor, HealthError> {
    let started = Instant::now();
    let plan = Plan::new(check, ctx)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| HealthError::NoRuntime)?;
    let (tx, events) = mpsc::unbounded_channel();
    let task = runtime.spawn(run(plan, started, tx));
    Ok(HealthMonitor { events, task })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> HealthError {
    HealthError::Invalid { field, reason: reason.into() }
}

/// A validated, ready-to-run health check.
#[derive(Debug)]
struct Plan {
    delay: Duration,
    interval: Duration,
    /// `None` = no timeout.
    timeout: Option<Duration>,
    threshold: u32,
    grace: Duration,
    kind: &'static str,
    probe: Probe,
}

#[derive(Debug)]
enum Probe {
    Command(CommandSpec),
    Http { client: reqwest::Client, url: String },
    Tcp { addr: SocketAddr },
}

/// A check command, ready to run (see [`command_spec`]).
#[derive(Debug)]
pub(super) struct CommandSpec {
    program: String,
    arg0: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    /// `(uid, gid)` to switch to.
    ids: Option<(u32, u32)>,
}

/// `value` (or `default`) seconds as a duration; `field` names it in the error.
pub(super) fn seconds(
    field: &'static str,
    value: Option<f64>,
    default: f64,
) -> Result<Duration, HealthError> {
    let secs = value.unwrap_or(default);
    if !secs.is_finite() || secs < 0.0 {
        return Err(invalid(field, format!("must be a non-negative number of seconds, not {secs}")));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| invalid(field, format!("is out of range: {e}")))
}

/// A port in 1..=65535; `field` names it in the error.
pub(super) fn port(field: &'static str, port: u32) -> Result<u16, HealthError> {
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(invalid(field, format!("must be set to a port in 1..=65535 (got {port})"))),
    }
}

/// Where an HTTP or TCP check connects: `host`, or `::1` for an IPv6 check of an IPv4 host.
pub(super) fn target(host: IpAddr, protocol: Option<IpProtocol>, port: u16) -> SocketAddr {
    let ip = match (protocol, host) {
        (Some(IpProtocol::Ipv6), IpAddr::V4(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => host,
    };
    SocketAddr::new(ip, port)
}

impl Plan {
    fn new(check: &HealthCheck, ctx: HealthContext) -> Result<Self, HealthError> {
        let kind = match check.kind {
            Some(CheckType::Command) => CheckType::Command,
            Some(CheckType::Http) => CheckType::Http,
            Some(CheckType::Tcp) => CheckType::Tcp,
            Some(CheckType::Unknown) => {
                return Err(invalid("health_check.type", "must be COMMAND, HTTP or TCP, not UNKNOWN"));
            }
            // Mesos' master infers the type of pre-1.2 health checks from the one field set.
            None => match (&check.command, &check.http) {
                (Some(_), None) => CheckType::Command,
                (None, Some(_)) => CheckType::Http,
                _ => {
                    return Err(invalid(
                        "health_check.type",
                        "must be set (COMMAND, HTTP or TCP); it is inferred only when just `command` or just `http` is set",
                    ));
                }
            },
        };
        let delay = seconds("health_check.delay_seconds", check.delay_seconds, DEFAULT_DELAY_SECONDS)?;
        let interval =
            seconds("health_check.interval_seconds", check.interval_seconds, DEFAULT_INTERVAL_SECONDS)?;
        let timeout =
            seconds("health_check.timeout_seconds", check.timeout_seconds, DEFAULT_TIMEOUT_SECONDS)?;
        let grace = seconds(
            "health_check.grace_period_seconds",
            check.grace_period_seconds,
            DEFAULT_GRACE_PERIOD_SECONDS,
        )?;
        let threshold = check.consecutive_failures.unwrap_or(DEFAULT_CONSECUTIVE_FAILURES);

        let (kind, probe) = match kind {
            CheckType::Command => {
                let command = check.command.as_ref().ok_or_else(|| {
                    invalid("health_check.command", "must be set for a COMMAND health check")
                })?;
                ("COMMAND", Probe::Command(command_spec(command, ctx, "health_check.command.value")?))
            }
            CheckType::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or_else(|| invalid("health_check.http", "must be set for an HTTP health check"))?;
                let port = port("health_check.http.port", http.port)?;
                let scheme = http.scheme.as_deref().unwrap_or("http");
                if scheme != "http" && scheme != "https" {
                    return Err(invalid(
                        "health_check.http.scheme",
                        format!("must be \"http\" or \"https\", not {scheme:?}"),
                    ));
                }
                let path = http.path.as_deref().unwrap_or("");
                if !path.is_empty() && !path.starts_with('/') {
                    return Err(invalid(
                        "health_check.http.path",
                        format!("must start with '/' (got {path:?})"),
                    ));
                }
                if !http.statuses.is_empty() {
                    tracing::debug!(
                        statuses = ?http.statuses,
                        "health_check.http.statuses has no effect on built-in executors; 200..=399 is healthy"
                    );
                }
                let url = format!("{scheme}://{}{path}", target(ctx.host, http.protocol, port));
                ("HTTP", Probe::Http { client: http_client("health check")?, url })
            }
            _ => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or_else(|| invalid("health_check.tcp", "must be set for a TCP health check"))?;
                let port = port("health_check.tcp.port", tcp.port)?;
                ("TCP", Probe::Tcp { addr: target(ctx.host, tcp.protocol, port) })
            }
        };
        Ok(Self {
            delay,
            interval,
            timeout: (!timeout.is_zero()).then_some(timeout),
            threshold,
            grace,
            kind,
            probe,
        })
    }
}

/// How to run `command` as a check of the task described by `ctx`; `value_field` names the
/// command's `value` in the error when it is empty.
pub(super) fn command_spec(
    command: &CommandInfo,
    ctx: HealthContext,
    value_field: &'static str,
) -> Result<CommandSpec, HealthError> {
    let shell = command.shell.unwrap_or(true);
    let value = command.value.clone().unwrap_or_default();
    if value.is_empty() {
        let what = if shell { "a shell command" } else { "an executable path" };
        return Err(invalid(value_field, format!("must contain {what}")));
    }
    let (program, arg0, args) = if shell {
        ("/bin/sh".to_owned(), Some("sh".to_owned()), vec!["-c".to_owned(), value])
    } else {
        // As Mesos' `subprocess(path, argv)`: `value` is executed, `arguments` is the whole argv.
        let mut argv = command.arguments.iter().cloned();
        (value, argv.next(), argv.collect())
    };

    let mut env = ctx.env;
    if let Some(environment) = &command.environment {
        for var in &environment.variables {
            if var.kind == Some(VariableType::Secret) {
                tracing::warn!(name = %var.name, "secret variables are not supported in check commands");
                continue;
            }
            let value = var.value.clone().unwrap_or_default();
            match env.iter_mut().find(|(k, _)| *k == var.name) {
                Some(slot) => slot.1 = value,
                None => env.push((var.name.clone(), value)),
            }
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".to_owned(), DEFAULT_PATH.to_owned()));
    }

    let ids = match &ctx.user {
        Some(user) if nix::unistd::geteuid().is_root() => {
            let err = |reason: String| HealthError::User { user: user.clone(), reason };
            let found = nix::unistd::User::from_name(user).map_err(|e| err(e.to_string()))?;
            let found = found.ok_or_else(|| err("no such user".to_owned()))?;
            (!found.uid.is_root()).then(|| (found.uid.as_raw(), found.gid.as_raw()))
        }
        _ => None,
    };
    Ok(CommandSpec { program, arg0, args, env, cwd: ctx.sandbox, ids })
}

/// Accepts any server certificate, like `curl -k` in Mesos' HTTP checks (handshake signatures
/// are still verified).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The HTTP client of HTTP checks (`purpose` goes into its `User-Agent`).
pub(super) fn http_client(purpose: &str) -> Result<reqwest::Client, HealthError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HealthError::Client(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        // A fresh connection per check, as Mesos' one `curl` per check.
        .pool_max_idle_per_host(0)
        .user_agent(format!("herd-localmesos/{} {purpose}", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| HealthError::Client(error_chain(&e)))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            let _ = write!(text, ": {more}");
        }
        source = e.source();
    }
    text
}

/// Counts results the way `HealthChecker::success`/`failure` do.
#[derive(Debug)]
struct Tracker {
    started: Instant,
    grace: Duration,
    threshold: u32,
    consecutive_failures: u32,
    /// No check has succeeded yet.
    initializing: bool,
}

impl Tracker {
    fn new(started: Instant, grace: Duration, threshold: u32) -> Self {
        Self { started, grace, threshold, consecutive_failures: 0, initializing: true }
    }

    fn success(&mut self) -> Option<HealthEvent> {
        let report = self.initializing || self.consecutive_failures > 0;
        self.initializing = false;
        self.consecutive_failures = 0;
        report.then_some(HealthEvent::Healthy)
    }

    /// The events of one failed check: none (ignored within the grace period), `Unhealthy`, or
    /// `Unhealthy` and `Kill`.
    fn failure(&mut self, now: Instant, kind: &str, message: String) -> Vec<HealthEvent> {
        if self.initializing && !self.grace.is_zero() && now.duration_since(self.started) <= self.grace {
            tracing::info!(%message, "ignoring {kind} health check failure: still in the grace period");
            return Vec::new();
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let n = self.consecutive_failures;
        tracing::warn!(%message, "{kind} health check failed {n} times consecutively");
        let mut events = vec![HealthEvent::Unhealthy { consecutive_failures: n, message: message.clone() }];
        if n >= self.threshold {
            events.push(HealthEvent::Kill {
                message: format!("Task failed {n} consecutive {kind} health checks; the last one: {message}"),
            });
        }
        events
    }
}

/// The check loop; `started` is when [`start`] was called (the grace period counts from there).
async fn run(plan: Plan, started: Instant, tx: mpsc::UnboundedSender<HealthEvent>) {
    let mut tracker = Tracker::new(started, plan.grace, plan.threshold);
    match started.checked_add(plan.delay) {
        Some(first) => tokio::time::sleep_until(first).await,
        None => std::future::pending::<()>().await,
    }
    loop {
        if tx.is_closed() {
            return;
        }
        let events = match check_once(&plan).await {
            Ok(()) => tracker.success().into_iter().collect(),
            Err(reason) => tracker.failure(
                Instant::now(),
                plan.kind,
                format!("{} health check failed: {reason}", plan.kind),
            ),
        };
        for event in events {
            let kill = matches!(event, HealthEvent::Kill { .. });
            if tx.send(event).is_err() || kill {
                return;
            }
        }
        if plan.interval.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(plan.interval).await;
        }
    }
}

/// One check, bounded by the timeout.
async fn check_once(plan: &Plan) -> Result<(), String> {
    let probe = async {
        match &plan.probe {
            Probe::Command(spec) => run_command(spec).await,
            Probe::Http { client, url } => http_get(client, url).await,
            Probe::Tcp { addr } => tokio::net::TcpStream::connect(addr)
                .await
                .map(drop)
                .map_err(|e| format!("cannot connect to {addr}: {e}")),
        }
    };
    match plan.timeout {
        None => probe.await,
        Some(limit) => tokio::time::timeout(limit, probe)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {}", format_secs(limit)))),
    }
}

/// `d` as seconds, e.g. `0.5s`.
pub(super) fn format_secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

async fn http_get(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let status = http_status(client, url).await?;
    if (200..400).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("unexpected HTTP response code {status} from {url}"))
    }
}

/// The status of `GET url` after following redirects (like `curl -s -S -L -k -w %{http_code}`);
/// an error when no response arrived.
pub(super) async fn http_status(client: &reqwest::Client, url: &str) -> Result<reqwest::StatusCode, String> {
    let response = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    Ok(response.status())
}

/// Kills a process group with `SIGKILL` when dropped while armed: a timed-out (dropped) COMMAND
/// check takes its descendants with it, like Mesos' `os::killtree`.
struct KillGroupOnDrop(Option<i32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ =
                nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

async fn run_command(spec: &CommandSpec) -> Result<(), String> {
    let status = command_status(spec).await?;
    if status.success() {
        Ok(())
    } else if let Some(code) = status.code() {
        Err(format!("command exited with status {code}"))
    } else if let Some(signal) = status.signal() {
        Err(format!("command was terminated by signal {signal}"))
    } else {
        Err(format!("command failed: {status}"))
    }
}

/// Runs the check command in its own process group and waits for it. Dropping the future kills
/// the whole group (a timed-out check takes its descendants with it).
pub(super) async fn command_status(spec: &CommandSpec) -> Result<ExitStatus, String> {
    let mut command = tokio::process::Command::new(&spec.program);
    if let Some(arg0) = &spec.arg0 {
        command.arg0(arg0);
    }
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((uid, gid)) = spec.ids {
        command.uid(uid).gid(gid);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot launch {:?} in {}: {e}", spec.program, spec.cwd.display()))?;
    // Declared after `child`, so dropped (killing the group) before `child` is reaped.
    let mut group = KillGroupOnDrop(child.id().and_then(|pid| i32::try_from(pid).ok()));
    let status = child.wait().await.map_err(|e| format!("cannot wait for the command: {e}"))?;
    group.0 = None;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(t: &mut Tracker, at: Instant) -> Vec<HealthEvent> {
        t.failure(at, "HTTP", "boom".into())
    }

    #[test]
    fn grace_ignores_failures_until_first_success_only() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0, Duration::from_secs(10), 2);
        assert!(failure(&mut t, t0 + Duration::from_secs(1)).is_empty());
        assert!(failure(&mut t, t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(t.success(), Some(HealthEvent::Healthy));
        assert_eq!(t.success(), None);
        // After the first success, failures count even within the grace period.
        let events = failure(&mut t, t0 + Duration::from_secs(2));
        assert!(matches!(events.as_slice(), [HealthEvent::Unhealthy { consecutive_failures: 1, .. }]));
        assert_eq!(t.success(), Some(HealthEvent::Healthy));
        let events = failure(&mut t, t0 + Duration::from_secs(3));
        assert!(matches!(events.as_slice(), [HealthEvent::Unhealthy { consecutive_failures: 1, .. }]));
        let events = failure(&mut t, t0 + Duration::from_secs(4));
        assert!(matches!(
            events.as_slice(),
            [HealthEvent::Unhealthy { consecutive_failures: 2, .. }, HealthEvent::Kill { .. }]
        ));
    }

    #[test]
    fn failures_after_grace_count_without_a_success() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0, Duration::from_secs(1), 3);
        assert!(failure(&mut t, t0 + Duration::from_millis(500)).is_empty());
        let events = failure(&mut t, t0 + Duration::from_millis(1500));
        assert!(matches!(events.as_slice(), [HealthEvent::Unhealthy { consecutive_failures: 1, .. }]));
        // The first success is reported even though no failure preceded it within the count.
        assert_eq!(t.success(), Some(HealthEvent::Healthy));
    }

    #[test]
    fn zero_grace_and_zero_threshold() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0, Duration::ZERO, 0);
        let events = failure(&mut t, t0);
        assert!(matches!(
            events.as_slice(),
            [HealthEvent::Unhealthy { consecutive_failures: 1, .. }, HealthEvent::Kill { .. }]
        ));
    }
}
