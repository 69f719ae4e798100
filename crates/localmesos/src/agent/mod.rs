//! The agents: each serves its own HTTP endpoint on its own `127.0.x.y` address (state,
//! files API, executor API), keeps its reservations and persistent volumes in a checkpoint
//! file in its work dir, and runs tasks as real processes ([`containers`]): command tasks,
//! task groups with the default executor's semantics, and custom executors speaking the
//! v1 executor API ([`executor_api`]). Status updates are retried until acknowledged
//! ([`status_updates`]).
//!
//! Where to start: [`Agent::launch`] and `containers.rs`.

pub mod checks;
pub mod containers;
pub mod executor_api;
pub mod fetcher;
pub mod files;
pub mod health;
pub mod process;
pub mod state_json;
pub mod status_updates;

use crate::config::{AgentSpec, ClusterConfig};
use crate::master::AgentMessage;
use crate::master::accept::VolumeChanges;
use containers::ExecutorRun;
use fetcher::Fetcher;
use herd_mesos_api::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Resource,
    Resources, TaskId, TaskInfo,
};
use status_updates::{AckOutcome, StatusUpdates};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the master asks an agent to launch.
#[derive(Debug, Clone)]
pub(crate) struct LaunchRequest {
    pub(crate) framework: FrameworkInfo,
    /// `None` for command tasks (the command executor).
    pub(crate) executor: Option<ExecutorInfo>,
    pub(crate) tasks: Vec<TaskInfo>,
    /// A LAUNCH_GROUP (default executor semantics).
    pub(crate) group: bool,
}

/// Why an agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The work dir cannot be used.
    #[error("agent work dir {path}: {source}")]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint cannot be read.
    #[error("agent checkpoint {path} is unreadable: {reason}; remove it or use another --work-dir")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The address cannot be bound.
    #[error("cannot bind agent {index} to {addr}: {source}")]
    Bind {
        /// Agent index.
        index: usize,
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// A framework's executors on this agent.
#[derive(Debug)]
pub(crate) struct FrameworkOnAgent {
    pub(crate) info: FrameworkInfo,
    pub(crate) executors: BTreeMap<ExecutorId, ExecutorRun>,
}

#[derive(Debug)]
pub(crate) struct AgentInner {
    pub(crate) running: bool,
    /// Bumped on every stop: work of an older generation is discarded.
    pub(crate) generation: u64,
    pub(crate) total: Resources,
    pub(crate) frameworks: BTreeMap<FrameworkId, FrameworkOnAgent>,
    pub(crate) updates: StatusUpdates,
    pub(crate) http_stop: CancellationToken,
    /// When the agent last started (seconds since the epoch), for its `/state`.
    pub(crate) started: f64,
}

/// One agent of the local cluster.
#[derive(Debug)]
pub struct Agent {
    pub(crate) index: usize,
    pub(crate) id: AgentId,
    pub(crate) ip: Ipv4Addr,
    port: AtomicU16,
    pub(crate) spec: AgentSpec,
    pub(crate) work_dir: PathBuf,
    pub(crate) config: Arc<ClusterConfig>,
    pub(crate) fetcher: Fetcher,
    pub(crate) to_master: mpsc::UnboundedSender<AgentMessage>,
    pub(crate) inner: Mutex<AgentInner>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    agent_id: AgentId,
    resources: Vec<Resource>,
}

/// The resources an agent spec describes (unreserved).
pub(crate) fn spec_resources(spec: &AgentSpec) -> Resources {
    let mut r = Resources::new();
    r.add(&Resource::scalar("cpus", spec.cpus));
    r.add(&Resource::scalar("mem", spec.mem));
    r.add(&Resource::scalar("disk", spec.disk));
    if !spec.ports.is_empty() {
        r.add(&Resource::ranges("ports", spec.ports.iter().copied()));
    }
    r
}

impl Agent {
    /// Creates agent `index` (loading its checkpoint if the work dir has one).
    pub(crate) fn new(
        index: usize,
        default_id: AgentId,
        config: Arc<ClusterConfig>,
        fetcher: Fetcher,
        to_master: mpsc::UnboundedSender<AgentMessage>,
    ) -> Result<Arc<Self>, AgentError> {
        let spec = config.agents[index].clone();
        let work_dir = config.work_dir.join("agents").join(index.to_string());
        std::fs::create_dir_all(&work_dir)
            .map_err(|source| AgentError::WorkDir { path: work_dir.clone(), source })?;
        let (id, total) = match load_checkpoint(&work_dir)? {
            Some(cp) => {
                let total: Resources = cp.resources.into_iter().collect();
                if !same_capacity(&total, &spec_resources(&spec)) {
                    return Err(AgentError::Checkpoint {
                        path: checkpoint_path(&work_dir),
                        reason: format!(
                            "it holds resources ({total}) of another agent configuration than {}",
                            spec_resources(&spec)
                        ),
                    });
                }
                (cp.agent_id, total)
            }
            None => (default_id, spec_resources(&spec)),
        };
        let agent = Arc::new(Self {
            index,
            id,
            ip: config.agent_ip(index),
            port: AtomicU16::new(config.agent_port),
            spec,
            work_dir,
            fetcher,
            to_master,
            inner: Mutex::new(AgentInner {
                running: false,
                generation: 0,
                total,
                frameworks: BTreeMap::new(),
                updates: StatusUpdates::new(config.status_update_retry),
                http_stop: CancellationToken::new(),
                started: crate::master::now_secs(),
            }),
            config,
        });
        agent.write_checkpoint();
        Ok(agent)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, AgentInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent's id.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// The agent's address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The agent's HTTP port.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Base URL of the agent's HTTP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port())
    }

    /// The agent's work dir (sandboxes under `slaves/`, volumes under `volumes/`).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Everything the agent has, with its reservations and volumes.
    pub fn total_resources(&self) -> Resources {
        self.lock().total.clone()
    }

    pub(crate) fn info(&self) -> AgentInfo {
        AgentInfo {
            hostname: self.ip.to_string(),
            port: Some(i32::from(self.port())),
            resources: spec_resources(&self.spec).into_vec(),
            attributes: self.spec.attributes.clone(),
            id: Some(self.id.clone()),
            domain: None,
            capabilities: ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"]
                .iter()
                .map(|c| herd_mesos_api::AgentCapability { kind: (*c).to_owned() })
                .collect(),
        }
    }

    /// Binds the agent's HTTP endpoint and starts serving; marks the agent running.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), AgentError> {
        let addr = SocketAddr::from((self.ip, self.port()));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| AgentError::Bind {
            index: self.index,
            addr,
            source,
        })?;
        let bound =
            listener.local_addr().map_err(|source| AgentError::Bind { index: self.index, addr, source })?;
        self.port.store(bound.port(), Ordering::Relaxed);
        let stop = CancellationToken::new();
        let generation = {
            let mut inner = self.lock();
            inner.running = true;
            inner.http_stop = stop.clone();
            inner.started = crate::master::now_secs();
            inner.generation
        };
        let app = axum::Router::new()
            .route("/api/v1/executor", axum::routing::any(executor_api::handle))
            .route("/state", axum::routing::get(state_json::state))
            .route("/state.json", axum::routing::get(state_json::state))
            .route("/slave(1)/state", axum::routing::get(state_json::state))
            .with_state(Arc::clone(self))
            .merge(files::router(self.work_dir.clone()));
        let serve_stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(serve_stop.cancelled_owned()).await;
        });
        tokio::spawn(Arc::clone(self).retry_updates(stop, generation));
        tracing::info!(agent = %self.id, url = %self.url(), "agent started");
        Ok(())
    }

    /// Resends unacknowledged updates when their retry time comes.
    async fn retry_updates(self: Arc<Self>, stop: CancellationToken, generation: u64) {
        let tick = (self.config.status_update_retry / 4).max(std::time::Duration::from_millis(50));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            let due = {
                let mut inner = self.lock();
                if inner.generation != generation {
                    return;
                }
                inner.updates.due(tokio::time::Instant::now())
            };
            for (framework_id, status) in due {
                self.forward(&framework_id, status);
            }
        }
    }

    /// Sends an update to the master.
    pub(crate) fn forward(&self, framework_id: &FrameworkId, status: herd_mesos_api::TaskStatus) {
        let _ = self.to_master.send(AgentMessage::StatusUpdate {
            agent_id: self.id.clone(),
            framework_id: framework_id.clone(),
            status,
        });
    }

    /// The host dies: every process is killed, nothing is reported, the HTTP endpoint
    /// goes away; the master marks the agent unreachable after its timeout.
    pub(crate) fn stop(&self) {
        let runs: Vec<ExecutorRun> = {
            let mut inner = self.lock();
            if !inner.running {
                return;
            }
            inner.running = false;
            inner.generation += 1;
            inner.http_stop.cancel();
            inner.updates.forget(None);
            std::mem::take(&mut inner.frameworks)
                .into_values()
                .flat_map(|f| f.executors.into_values())
                .collect()
        };
        for run in runs {
            run.kill_everything();
        }
        let _ = self.to_master.send(AgentMessage::Down { agent_id: self.id.clone() });
        tracing::info!(agent = %self.id, "agent stopped");
    }

    /// The host is back: same id, work dir, reservations and volumes; no tasks.
    pub(crate) async fn restart(self: &Arc<Self>) -> Result<(), AgentError> {
        self.start().await?;
        let total = self.total_resources();
        let _ = self.to_master.send(AgentMessage::Up { agent_id: self.id.clone(), total });
        Ok(())
    }

    /// Applies reservation and volume changes the master accepted: creates and removes
    /// volume directories and checkpoints the new total.
    pub(crate) fn update_resources(&self, total: Resources, changes: VolumeChanges) {
        for v in &changes.created {
            if let Some(dir) = self.volume_dir(v)
                && let Err(e) = std::fs::create_dir_all(&dir)
            {
                tracing::error!(volume = %dir.display(), error = %e, "cannot create a persistent volume");
            }
        }
        for v in &changes.destroyed {
            if let Some(dir) = self.volume_dir(v)
                && let Err(e) = std::fs::remove_dir_all(&dir)
            {
                tracing::warn!(volume = %dir.display(), error = %e, "cannot remove a persistent volume");
            }
        }
        self.lock().total = total;
        self.write_checkpoint();
    }

    /// Where a persistent volume lives: `volumes/roles/<role>/<persistence id>`.
    pub(crate) fn volume_dir(&self, volume: &Resource) -> Option<PathBuf> {
        let id = volume.disk.as_ref()?.persistence.as_ref()?.id.clone();
        let role = volume.reservation_role().unwrap_or_else(|| "*".to_owned());
        Some(self.work_dir.join("volumes").join("roles").join(role.replace('/', "#")).join(id))
    }

    fn write_checkpoint(&self) {
        let cp = Checkpoint { agent_id: self.id.clone(), resources: self.lock().total.clone().into_vec() };
        let path = checkpoint_path(&self.work_dir);
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&cp)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "cannot write the agent checkpoint");
        }
    }

    /// Launches what the master accepted.
    pub(crate) fn launch(self: &Arc<Self>, request: LaunchRequest) {
        containers::launch(self, request);
    }

    /// An acknowledgement from the framework (via the master).
    pub(crate) fn acknowledge(self: &Arc<Self>, framework_id: &FrameworkId, task_id: &TaskId, uuid: &[u8]) {
        let outcome = self.lock().updates.acknowledge(framework_id, task_id, uuid);
        containers::acknowledged(self, framework_id, task_id, uuid);
        match outcome {
            AckOutcome::Next(next) => self.forward(framework_id, *next),
            AckOutcome::Drained { terminal: true } => containers::task_settled(self, framework_id, task_id),
            AckOutcome::Drained { terminal: false } | AckOutcome::Unknown => {}
        }
    }

    /// The framework re-subscribed: resend its pending updates now.
    pub(crate) fn resend_updates(&self, framework_id: &FrameworkId) {
        let heads = self.lock().updates.heads(framework_id);
        for status in heads {
            self.forward(framework_id, status);
        }
    }

    /// KILL of one task.
    pub(crate) fn kill_task(
        self: &Arc<Self>,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        policy: Option<KillPolicy>,
    ) {
        containers::kill_task(self, framework_id, task_id, policy);
    }

    /// SHUTDOWN of one executor.
    pub(crate) fn shutdown_executor(self: &Arc<Self>, framework_id: &FrameworkId, executor_id: &ExecutorId) {
        containers::shutdown_executor(self, framework_id, executor_id);
    }

    /// The framework was removed: kill all of its executors and tasks.
    pub(crate) fn shutdown_framework(self: &Arc<Self>, framework_id: &FrameworkId) {
        let runs: Vec<ExecutorRun> = {
            let mut inner = self.lock();
            inner.updates.forget(Some(framework_id));
            inner
                .frameworks
                .remove(framework_id)
                .map(|f| f.executors.into_values().collect())
                .unwrap_or_default()
        };
        for run in runs {
            run.kill_everything();
        }
    }

    /// MESSAGE for a custom executor.
    pub(crate) fn message_executor(
        &self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        data: Vec<u8>,
    ) {
        containers::message_executor(self, framework_id, executor_id, data);
    }
}

/// Whether two resource sets have the same quantities, whatever is reserved or a volume.
fn same_capacity(a: &Resources, b: &Resources) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() < 0.001;
    // Reserved and unreserved ports are separate entries: merge them first.
    let ports = |r: &Resources| {
        let mut merged = Resources::new();
        for range in r.ports() {
            merged.add(&Resource::ranges("ports", [(range.begin, range.end)]));
        }
        merged.ports()
    };
    close(a.cpus(), b.cpus()) && close(a.mem(), b.mem()) && close(a.disk(), b.disk()) && ports(a) == ports(b)
}

fn checkpoint_path(work_dir: &Path) -> PathBuf {
    work_dir.join("checkpoint.json")
}

fn load_checkpoint(work_dir: &Path) -> Result<Option<Checkpoint>, AgentError> {
    let path = checkpoint_path(work_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AgentError::Checkpoint { path, reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AgentError::Checkpoint { path, reason: e.to_string() }),
    }
}
