//! Settings of a local cluster, with defaults that match Apache Mesos where Mesos has one.

use herd_mesos_api::Attribute;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// One agent's resources and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// CPUs offered.
    pub cpus: f64,
    /// Memory in MB.
    pub mem: f64,
    /// Root disk in MB.
    pub disk: f64,
    /// Port ranges (inclusive).
    pub ports: Vec<(u64, u64)>,
    /// Attributes (used by placement constraints), e.g. `rack:r1`.
    pub attributes: Vec<Attribute>,
}

impl Default for AgentSpec {
    /// 2 cpus, 2048 MB, 2048 MB disk, ports 31000-32000: the recorded samples' agent.
    fn default() -> Self {
        Self { cpus: 2.0, mem: 2048.0, disk: 2048.0, ports: vec![(31000, 32000)], attributes: Vec::new() }
    }
}

/// How a local cluster runs.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Master address (loopback).
    pub master_ip: Ipv4Addr,
    /// Master port; 0 picks a free one.
    pub master_port: u16,
    /// The agents, in order; agent `i` listens on `127.0.<agent_ip_block>.<i+1>`.
    pub agents: Vec<AgentSpec>,
    /// The `x` of the agents' `127.0.x.y` addresses (1–254).
    pub agent_ip_block: u8,
    /// Agent HTTP port; 0 picks a free one per agent.
    pub agent_port: u16,
    /// Where sandboxes, volumes, checkpoints and the fetcher cache live.
    pub work_dir: PathBuf,
    /// Time between allocation rounds (Mesos: 1 s).
    pub allocation_interval: Duration,
    /// Time between heartbeats on a subscription stream (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// Offers are rescinded after this long (Mesos: never).
    pub offer_timeout: Option<Duration>,
    /// How long a stopped agent stays registered before it is marked unreachable
    /// (Mesos: `agent_ping_timeout` × `max_agent_ping_timeouts` = 75 s).
    pub agent_unreachable_timeout: Duration,
    /// First retry of an unacknowledged status update (Mesos: 10 s, doubling to 10 min).
    pub status_update_retry: Duration,
    /// Time an executor gets to exit after SHUTDOWN (Mesos: 5 s).
    pub executor_shutdown_grace: Duration,
    /// Register the master in ZooKeeper at this `zk://` URL, as a Mesos master does.
    pub zk: Option<String>,
    /// Mesos version reported by `/version` and in `MasterInfo`.
    pub version: String,
}

impl ClusterConfig {
    /// `agents` default agents under `work_dir`, Mesos' timings.
    pub fn new(work_dir: impl Into<PathBuf>, agents: usize) -> Self {
        Self {
            master_ip: Ipv4Addr::LOCALHOST,
            master_port: 0,
            agents: vec![AgentSpec::default(); agents],
            agent_ip_block: 1,
            agent_port: 0,
            work_dir: work_dir.into(),
            allocation_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(15),
            offer_timeout: None,
            agent_unreachable_timeout: Duration::from_secs(75),
            status_update_retry: Duration::from_secs(10),
            executor_shutdown_grace: Duration::from_secs(5),
            zk: None,
            version: "1.12.0".to_owned(),
        }
    }

    /// Faster timings for tests: 50 ms allocation rounds, 1 s to mark a stopped agent
    /// unreachable, 1 s status update retries.
    pub fn for_tests(work_dir: impl Into<PathBuf>, agents: usize) -> Self {
        Self {
            allocation_interval: Duration::from_millis(50),
            agent_unreachable_timeout: Duration::from_secs(1),
            status_update_retry: Duration::from_secs(1),
            executor_shutdown_grace: Duration::from_secs(2),
            ..Self::new(work_dir, agents)
        }
    }

    /// Address of agent `index`.
    pub fn agent_ip(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, self.agent_ip_block, u8::try_from(index + 1).unwrap_or(u8::MAX))
    }

    /// Checks the settings; errors name the field and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.agents.is_empty() {
            return Err(ConfigError::new("agents", "a cluster needs at least one agent"));
        }
        if self.agents.len() > 254 {
            return Err(ConfigError::new("agents", "at most 254 agents (one 127.0.x.y address each)"));
        }
        if self.agent_ip_block == 0 || self.agent_ip_block == 255 {
            return Err(ConfigError::new("agent_ip_block", "use 1–254 (agents get 127.0.<block>.<n>)"));
        }
        if !self.master_ip.is_loopback() {
            return Err(ConfigError::new("master_ip", "the local cluster binds loopback addresses only"));
        }
        for (i, a) in self.agents.iter().enumerate() {
            let field = |f: &str| format!("agents[{i}].{f}");
            if a.cpus.is_nan() || a.cpus <= 0.0 {
                return Err(ConfigError::new(&field("cpus"), "must be more than 0"));
            }
            if a.mem.is_nan() || a.mem < 32.0 {
                return Err(ConfigError::new(&field("mem"), "must be at least 32 (MB)"));
            }
            if a.disk.is_nan() || a.disk < 0.0 {
                return Err(ConfigError::new(&field("disk"), "must not be negative (MB)"));
            }
            if a.ports.iter().any(|(b, e)| b > e || *e > 65535) {
                return Err(ConfigError::new(&field("ports"), "ranges must be begin ≤ end ≤ 65535"));
            }
        }
        if self.allocation_interval.is_zero() {
            return Err(ConfigError::new("allocation_interval", "must be more than 0"));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::new("heartbeat_interval", "must be more than 0"));
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid local cluster setting `{field}`: {fix}")]
pub struct ConfigError {
    /// The setting.
    pub field: String,
    /// What to do.
    pub fix: String,
}

impl ConfigError {
    fn new(field: &str, fix: &str) -> Self {
        Self { field: field.to_owned(), fix: fix.to_owned() }
    }
}
