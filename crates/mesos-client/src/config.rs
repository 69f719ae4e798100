//! Client settings, with defaults that match what Mesos documents for schedulers.

use crate::master::MasterUrl;
use herd_mesos_api::recordio::DEFAULT_MAX_RECORD_BYTES;
use std::path::PathBuf;
use std::time::Duration;

/// HTTP basic authentication (`--authenticate_http_frameworks` on the master).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The principal (also the framework's principal).
    pub principal: String,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Capped, jittered exponential backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling up to 15 s, the cap the Mesos docs suggest for re-subscription.
    fn default() -> Self {
        Self { initial: Duration::from_millis(500), max: Duration::from_secs(15) }
    }
}

impl Backoff {
    /// An endless iterator of delays (jittered, doubling, capped).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + 'static {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::new()
            .with_min_delay(self.initial)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

/// Everything the client needs besides the framework it subscribes.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The master.
    pub master: MasterUrl,
    /// Basic-auth credentials sent on every request.
    pub credentials: Option<Credentials>,
    /// Extra CA certificates (PEM) trusted for `https` masters, besides the web PKI roots.
    pub ca_certificates: Option<PathBuf>,
    /// Scheme to use for a leader found in ZooKeeper (which records only host and port).
    pub zk_leader_scheme: String,
    /// Backoff between reconnection (and call retry) attempts.
    pub backoff: Backoff,
    /// Consecutive failed subscription attempts before giving up; `None` = never give up.
    pub max_reconnect_attempts: Option<u32>,
    /// Missed heartbeat intervals before the stream is considered dead (Mesos suggests 5).
    pub heartbeat_misses: u32,
    /// How long to wait for the SUBSCRIBED event after connecting.
    pub subscribe_timeout: Duration,
    /// Timeout of one non-SUBSCRIBE call (the Mesos docs suggest 75 s).
    pub call_timeout: Duration,
    /// Attempts of a call when the master answers 503 or cannot be connected to.
    pub call_attempts: u32,
    /// Largest event accepted on the stream.
    pub max_event_bytes: usize,
    /// Redirects followed in a row before backing off (masters disagreeing on the leader).
    pub max_redirects: u32,
    /// Timeout to read the leader from ZooKeeper.
    pub zk_timeout: Duration,
}

impl ClientConfig {
    /// Defaults for `master`.
    pub fn new(master: MasterUrl) -> Self {
        Self {
            master,
            credentials: None,
            ca_certificates: None,
            zk_leader_scheme: "http".to_owned(),
            backoff: Backoff::default(),
            max_reconnect_attempts: None,
            heartbeat_misses: 5,
            subscribe_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(75),
            call_attempts: 3,
            max_event_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_redirects: 5,
            zk_timeout: Duration::from_secs(10),
        }
    }
}
