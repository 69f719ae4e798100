//! # herd-localmesos
//!
//! An embedded single-host Mesos-compatible cluster: one master and N agents in one
//! process, serving the Mesos v1 scheduler API (and each agent the executor API, the files
//! API and its state) over real HTTP on loopback. Frameworks cannot tell it from Apache
//! Mesos on the code paths herd uses; tasks run as real processes in sandboxes, persistent
//! volumes are directories that outlive tasks and agent restarts.
//!
//! It is not a distributed system: real multi-host clusters are Apache Mesos' job. It
//! shares no code with herd's scheduler client (it depends on `herd-mesos-api` only), so it
//! cannot hide the client's bugs.
//!
//! Where to start: [`LocalCluster::start`], then `master/scheduler_api.rs` (the HTTP
//! entry), `master/accept.rs` (offer operations) and `agent/containers.rs` (tasks).

pub mod agent;
pub mod config;
pub mod master;

pub use agent::Agent;
pub use config::{AgentSpec, ClusterConfig, ConfigError};

use agent::fetcher::Fetcher;
use herd_mesos_api::{Address, AgentId, MasterCapability, MasterCapabilityType, MasterInfo};
use master::Master;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why a cluster cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The work dir cannot be used.
    #[error("cannot use work dir {path}: {source}")]
    WorkDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The master's address cannot be bound.
    #[error(
        "cannot bind the master to {addr}: {source} (is another master on that port? use --port 0 for any)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// An agent cannot start.
    #[error(transparent)]
    Agent(#[from] agent::AgentError),
    /// The fetcher cannot start.
    #[error(transparent)]
    Fetcher(#[from] agent::fetcher::FetchError),
    /// ZooKeeper registration failed.
    #[error(transparent)]
    Zk(#[from] master::zk::ZkRegisterError),
    /// An agent index out of range.
    #[error("there is no agent {0}")]
    NoSuchAgent(usize),
}

/// A running local cluster. Dropping it stops the master and agents and kills every task.
#[derive(Debug)]
pub struct LocalCluster {
    master: Arc<Master>,
    agents: Vec<Arc<Agent>>,
    addr: SocketAddr,
    stop: CancellationToken,
    _zk: Option<master::zk::ZkRegistration>,
}

impl LocalCluster {
    /// Starts the master and agents; returns once every endpoint is listening.
    pub async fn start(config: ClusterConfig) -> Result<Self, ClusterError> {
        config.validate()?;
        std::fs::create_dir_all(&config.work_dir)
            .map_err(|source| ClusterError::WorkDir { path: config.work_dir.clone(), source })?;
        let addr = SocketAddr::from((config.master_ip, config.master_port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ClusterError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| ClusterError::Bind { addr, source })?;
        let id = uuid::Uuid::new_v4().to_string();
        let ip = addr.ip().to_string();
        let info = MasterInfo {
            id: id.clone(),
            ip: match addr.ip() {
                std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
                std::net::IpAddr::V6(_) => 0,
            },
            port: Some(u32::from(addr.port())),
            pid: Some(format!("master@{ip}:{}", addr.port())),
            hostname: Some(ip.clone()),
            version: Some(config.version.clone()),
            address: Some(Address { hostname: Some(ip.clone()), ip: Some(ip), port: i32::from(addr.port()) }),
            domain: None,
            capabilities: [
                MasterCapabilityType::AgentUpdate,
                MasterCapabilityType::AgentDraining,
                MasterCapabilityType::QuotaV2,
            ]
            .into_iter()
            .map(|kind| MasterCapability { kind })
            .collect(),
        };
        let config = Arc::new(config);
        let (master, from_agents) = Master::new((*config).clone(), info.clone());
        let stop = CancellationToken::new();
        let fetcher = Fetcher::new(config.work_dir.join("fetcher-cache"))?;
        let mut agents = Vec::new();
        for index in 0..config.agents.len() {
            let agent_id = AgentId::new(format!("{id}-S{index}"));
            let agent =
                Agent::new(index, agent_id, Arc::clone(&config), fetcher.clone(), master.to_master.clone())?;
            agent.start().await?;
            master.add_agent(Arc::clone(&agent), agent.total_resources());
            agents.push(agent);
        }
        tokio::spawn(Arc::clone(&master).run(from_agents, stop.clone()));
        let app = master::router(Arc::clone(&master));
        let serve_stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(serve_stop.cancelled_owned()).await;
        });
        let zk = match &config.zk {
            Some(url) => Some(master::zk::register(url, &info, std::time::Duration::from_secs(10)).await?),
            None => None,
        };
        tracing::info!(master = %format!("http://{addr}"), agents = agents.len(), "local cluster started");
        Ok(Self { master, agents, addr, stop, _zk: zk })
    }

    /// The master's base URL, e.g. `http://127.0.0.1:5050`.
    pub fn master_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The master's address.
    pub fn master_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The master's id.
    pub fn master_id(&self) -> &str {
        self.master.id()
    }

    /// The agents, in order.
    pub fn agents(&self) -> &[Arc<Agent>] {
        &self.agents
    }

    /// Stops agent `index` as if its host died: its processes are killed, its endpoint
    /// goes away, and after `agent_unreachable_timeout` the master reports its tasks
    /// TASK_UNREACHABLE (TASK_LOST to frameworks that are not partition-aware).
    pub fn stop_agent(&self, index: usize) -> Result<(), ClusterError> {
        self.agents.get(index).ok_or(ClusterError::NoSuchAgent(index))?.stop();
        Ok(())
    }

    /// Restarts agent `index` with the same id, work dir, reservations and volumes.
    pub async fn restart_agent(&self, index: usize) -> Result<(), ClusterError> {
        self.agents.get(index).ok_or(ClusterError::NoSuchAgent(index))?.restart().await?;
        Ok(())
    }

    /// Stops everything and kills every task.
    pub fn shutdown(&self) {
        self.stop.cancel();
        for agent in &self.agents {
            agent.stop();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
