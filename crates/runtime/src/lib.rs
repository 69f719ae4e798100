//! # herd-runtime
//!
//! Runs one herd service: the tokio driver that carries out the decisions of a `herd-core`
//! scheduler against a Mesos master (event loop, timers, shutdown), the state store it
//! resumes from after a crash, the operator HTTP API and metrics.
//!
//! Not here: scheduling decisions (`herd-core`, which has no IO and no clock), the Mesos
//! protocol types and HTTP client (`herd-mesos-api`, `herd-mesos-client`), the binary and its
//! commands (`launchers/herd`).
//!
//! Where to start: [`Service::start`], then `driver.rs` (the loop) and [`store`] (what is
//! kept across a crash and why: persist before acting on Mesos).

pub mod api;
pub mod artifacts;
pub mod commands;
pub mod driver;
pub mod metrics;
pub mod persist;
pub mod probes;
pub mod store;

use driver::SharedScheduler;
use herd_core::scheduler::Scheduler;
use herd_core::scheduler::state::{ServiceState, TargetConfig};
use herd_core::spec::ServiceSpec;
use herd_mesos_api::scheduler::Subscribe;
use herd_mesos_api::{FrameworkCapability, FrameworkCapabilityType, FrameworkInfo};
use herd_mesos_client::{Client, ClientConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::StateStore;
use tokio_util::sync::CancellationToken;

/// The service's endpoints: `<pod>-<port>` → `host:port` of every placed instance, in
/// instance order (what `GET /v1/endpoints` shows).
pub fn endpoints(scheduler: &Scheduler) -> std::collections::BTreeMap<String, Vec<String>> {
    let state = scheduler.state();
    let mut out = std::collections::BTreeMap::new();
    for pod in &state.target.spec.pods {
        for port in pod.tasks.iter().flat_map(|t| &t.ports) {
            let addresses: Vec<String> = state
                .instances
                .values()
                .filter(|i| i.id.pod == pod.name)
                .filter_map(|i| i.placement.as_ref())
                .filter_map(|p| p.ports.get(&port.name).map(|n| format!("{}:{n}", p.hostname)))
                .collect();
            out.insert(format!("{}-{}", pod.name, port.name), addresses);
        }
    }
    out
}

/// The service's main endpoint (the port marked `primary`), as `<pod>-<port>`.
pub fn primary_endpoint(scheduler: &Scheduler) -> Option<String> {
    scheduler.state().target.spec.pods.iter().find_map(|pod| {
        pod.tasks
            .iter()
            .flat_map(|t| &t.ports)
            .find(|p| p.primary)
            .map(|p| format!("{}-{}", pod.name, p.name))
    })
}

/// How to run a service.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The service.
    pub spec: ServiceSpec,
    /// The Mesos connection.
    pub mesos: ClientConfig,
    /// Operator API address (port 0 = any).
    pub api_addr: SocketAddr,
    /// How long Mesos keeps the framework's tasks while the scheduler is away.
    pub failover_timeout_secs: f64,
    /// Unix user for tasks when the spec names none.
    pub default_user: String,
    /// Let a spec change shrink a pod count or remove a pod type: the instances left out
    /// are decommissioned (killed, volumes destroyed, reservations released).
    pub allow_decommission: bool,
    /// The artifact cache: `maven` and `pypi` sources and checksummed URLs are resolved
    /// into it at start and served to agents from the operator API
    /// (`/v1/artifacts/{sha256}/{file}`). `None`: such artifacts are refused.
    pub artifact_cache: Option<PathBuf>,
    /// The host agents reach the operator API on, for artifact URLs (default: the API's
    /// bind address; required when the API listens on all interfaces).
    pub advertise_host: Option<String>,
    /// The readiness probes the framework runs from the scheduler, by name.
    pub probes: probes::Probes,
    /// Routes the framework adds to the operator API.
    pub extension: Option<Arc<dyn probes::ApiExtension>>,
}

/// Why a service cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec is invalid (or an invalid change of the stored one).
    #[error("invalid service spec:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    InvalidSpec(Vec<herd_core::validation::ValidationError>),
    /// State could not be read or written.
    #[error(transparent)]
    Persist(#[from] persist::PersistError),
    /// The scheduler could not be built.
    #[error(transparent)]
    Scheduler(#[from] herd_core::scheduler::SchedulerError),
    /// The Mesos client could not be built.
    #[error(transparent)]
    Client(#[from] herd_mesos_client::BuildError),
    /// The API address cannot be bound.
    #[error("cannot bind the operator API to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The driver stopped with an error.
    #[error(transparent)]
    Driver(#[from] driver::DriverError),
    /// An artifact could not be resolved.
    #[error(transparent)]
    Artifact(#[from] Box<artifacts::ArtifactError>),
    /// The spec names a readiness probe the framework does not provide.
    #[error(
        "{field} names the probe {probe:?}, which this framework does not provide (it provides: {known})"
    )]
    UnknownProbe {
        /// The field.
        field: String,
        /// The probe.
        probe: String,
        /// The probes there are.
        known: String,
    },
    /// An artifact must be served by the scheduler, but it cannot serve it.
    #[error("artifact `{artifact}` is served to agents by the scheduler, but {problem}")]
    ArtifactServing {
        /// The artifact.
        artifact: String,
        /// What is missing, and the fix.
        problem: String,
    },
}

/// Logs how artifact resolution goes (the scheduler has no terminal to draw on).
struct LogProgress;

impl artifacts::Progress for LogProgress {
    fn start(&self, name: &str, total: Option<u64>) {
        tracing::info!(artifact = name, bytes = total, "downloading");
    }
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
    fn step(&self, name: &str, what: &str) {
        tracing::info!(artifact = name, "{what}");
    }
}

/// Resolves the artifacts the scheduler serves (`maven`, `pypi`, checksummed URLs) and
/// points each at its URL on the operator API; URLs without a checksum are left to the
/// fetcher.
async fn resolve_artifacts(
    spec: &mut ServiceSpec,
    cache: Option<&artifacts::Cache>,
    base_url: Result<String, String>,
) -> Result<(), RuntimeError> {
    for artifact in spec.pods.iter_mut().flat_map(|p| p.artifacts.iter_mut()) {
        let served = match artifact.source() {
            Some(herd_core::spec::ArtifactSource::Url { sha256, sha512, .. }) => {
                sha256.is_some() || sha512.is_some()
            }
            Some(_) => true,
            None => false,
        };
        if !served {
            continue;
        }
        let problem =
            |problem: String| RuntimeError::ArtifactServing { artifact: artifact.display_name(), problem };
        let Some(cache) = cache else {
            return Err(problem(
                "no artifact cache is configured: give the scheduler an artifact cache dir".into(),
            ));
        };
        let base = base_url.clone().map_err(problem)?;
        let resolved = cache.resolve(artifact, &LogProgress).await.map_err(Box::new)?;
        tracing::info!(
            artifact = %resolved.name,
            sha256 = %resolved.sha256,
            bytes = resolved.size,
            "artifact ready"
        );
        artifact.fetch_url = Some(format!("{base}{}", resolved.url_path()));
    }
    Ok(())
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    api_addr: SocketAddr,
    stop: CancellationToken,
    driver: tokio::task::JoinHandle<Result<(), driver::DriverError>>,
    scheduler: SharedScheduler,
    client: Client,
}

/// The state to start from: the stored one (with a new target config if the spec
/// changed, after checking the change is allowed), or a fresh one.
fn initial_state(
    store: &dyn StateStore,
    spec: &ServiceSpec,
    user: &str,
    allow_decommission: bool,
) -> Result<ServiceState, RuntimeError> {
    let mut spec = spec.clone();
    if spec.user.is_none() {
        spec.user = Some(user.to_owned());
    }
    herd_core::validation::validate(&spec).map_err(RuntimeError::InvalidSpec)?;
    match persist::load(store)? {
        None => {
            let state = ServiceState::new(TargetConfig { id: "cfg-1".to_owned(), spec });
            persist::save_all(store, &state)?;
            Ok(state)
        }
        Some(mut state) if state.target.spec != spec => {
            let options = herd_core::validation::UpdateOptions { allow_decommission };
            herd_core::validation::validate_update(&state.target.spec, &spec, options)
                .map_err(RuntimeError::InvalidSpec)?;
            let n: u32 = state.target.id.strip_prefix("cfg-").and_then(|n| n.parse().ok()).unwrap_or(0);
            let decommissioned = state.retarget(TargetConfig { id: format!("cfg-{}", n + 1), spec });
            for id in decommissioned {
                tracing::info!(instance = %id, "decommissioning");
            }
            persist::save_all(store, &state)?;
            tracing::info!(config = %state.target.id, "new target config: rolling update");
            Ok(state)
        }
        Some(state) => Ok(state),
    }
}

impl Drop for Service {
    /// A service dropped without [`Service::shutdown`] stops at once, like a killed
    /// scheduler: state is already persisted, the next start reconciles.
    fn drop(&mut self) {
        self.stop.cancel();
        self.driver.abort();
        self.client.close();
    }
}

impl Service {
    /// Loads (or creates) the state, binds the operator API and starts the driver.
    pub async fn start(config: RunConfig, store: Arc<dyn StateStore>) -> Result<Self, RuntimeError> {
        for pod in &config.spec.pods {
            for task in &pod.tasks {
                if let Some(probe) = task.readiness_check.as_ref().and_then(|c| c.probe.as_ref())
                    && !config.probes.contains_key(probe)
                {
                    return Err(RuntimeError::UnknownProbe {
                        field: format!("pods[{}].tasks[{}].readiness_check.probe", pod.name, task.name),
                        probe: probe.clone(),
                        known: config.probes.keys().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
        let mut state =
            initial_state(store.as_ref(), &config.spec, &config.default_user, config.allow_decommission)?;
        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .map_err(|source| RuntimeError::Bind { addr: config.api_addr, source })?;
        let api_addr =
            listener.local_addr().map_err(|source| RuntimeError::Bind { addr: config.api_addr, source })?;
        let cache = match &config.artifact_cache {
            Some(dir) => Some(Arc::new(
                artifacts::Cache::open_with(dir, artifacts::CacheSettings::from_env()).map_err(Box::new)?,
            )),
            None => None,
        };
        let base_url = match (&config.advertise_host, api_addr.ip().is_unspecified()) {
            (Some(host), _) => Ok(format!("http://{host}:{}", api_addr.port())),
            (None, false) => Ok(format!("http://{api_addr}")),
            (None, true) => Err(format!(
                "the operator API listens on all interfaces ({api_addr}): give the host agents reach it \
                 on (--advertise-host)"
            )),
        };
        resolve_artifacts(&mut state.target.spec, cache.as_deref(), base_url.clone()).await?;
        let spec = &state.target.spec;
        let framework_info = FrameworkInfo {
            user: spec.user.clone().unwrap_or_else(|| config.default_user.clone()),
            name: spec.name.clone(),
            id: state.framework_id.clone(),
            failover_timeout: Some(config.failover_timeout_secs),
            checkpoint: Some(true),
            principal: Some(spec.principal()),
            roles: vec![spec.role()],
            capabilities: [
                FrameworkCapabilityType::MultiRole,
                FrameworkCapabilityType::ReservationRefinement,
                FrameworkCapabilityType::PartitionAware,
                FrameworkCapabilityType::TaskKillingState,
            ]
            .into_iter()
            .map(|kind| FrameworkCapability { kind })
            .collect(),
            ..FrameworkInfo::default()
        };
        let mut core = Scheduler::new(state)?;
        core.set_api_base(base_url.clone().ok());
        let scheduler: SharedScheduler = Arc::new(Mutex::new(core));
        let (commands_tx, commands) = tokio::sync::mpsc::channel(16);
        let stop = CancellationToken::new();
        let metrics = Arc::new(metrics::Metrics::default());
        let commands_tx = commands::Commands::new(commands_tx);
        let mut app = api::router(Arc::clone(&scheduler), commands_tx.clone(), Arc::clone(&metrics));
        if let Some(cache) = &cache {
            app = app.merge(artifacts::router(Arc::clone(cache)));
        }
        if let Some(extension) = &config.extension {
            app = app.merge(extension.router(probes::ExtensionContext {
                scheduler: Arc::clone(&scheduler),
                commands: commands_tx,
                artifacts: cache,
                base_url: base_url.ok(),
            }));
        }
        let api_stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(api_stop.cancelled_owned()).await;
        });
        let (client, events) =
            Client::subscribe(config.mesos, Subscribe { framework_info, ..Subscribe::default() })?;
        let driver = tokio::spawn(driver::run(
            driver::Driver {
                scheduler: Arc::clone(&scheduler),
                store,
                client: client.clone(),
                events,
                commands,
                metrics,
                probes: config.probes,
            },
            stop.clone(),
        ));
        tracing::info!(api = %api_addr, "service started");
        Ok(Self { api_addr, stop, driver, scheduler, client })
    }

    /// The operator API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The scheduler (for tests and embedding).
    pub fn scheduler(&self) -> SharedScheduler {
        Arc::clone(&self.scheduler)
    }

    /// Stops the driver and the API; tasks keep running (Mesos keeps them for the failover
    /// timeout), state stays in the store. Waits as long as the driver needs to finish the
    /// batch of actions it is carrying out (see [`Service::shutdown_within`]).
    pub async fn shutdown(self) -> Result<(), RuntimeError> {
        self.shutdown_within(std::time::Duration::MAX, std::future::pending()).await
    }

    /// Two-stage shutdown. Stage one: no new work is taken (the API answers 503 to
    /// commands, the driver reads no more events) and the batch of actions under way
    /// completes, so every persisted decision is followed by the calls it explains. Stage
    /// two, when `grace` runs out or `now` completes (a second Ctrl-C): the driver is
    /// aborted where it is — safe, since state is persisted before it is acted on and the
    /// next start reconciles. Either way the Mesos connection closes last; tasks keep
    /// running for the failover timeout.
    pub async fn shutdown_within(
        mut self,
        grace: std::time::Duration,
        now: impl std::future::Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        self.stop.cancel();
        let result = tokio::select! {
            joined = &mut self.driver => Some(joined),
            () = tokio::time::sleep(grace.min(std::time::Duration::from_secs(86_400 * 365))) => None,
            () = now => None,
        };
        let result = match result {
            Some(joined) => joined,
            None => {
                tracing::warn!("graceful stop did not finish: aborting the driver");
                self.driver.abort();
                Ok(Ok(()))
            }
        };
        self.client.close();
        match result {
            Ok(Err(driver::DriverError::Uninstalled)) | Err(_) => Ok(()),
            Ok(result) => result.map_err(RuntimeError::from),
        }
    }

    /// Waits until the driver stops by itself: `Ok` after an uninstall, else the error.
    pub async fn wait(&mut self) -> Result<(), RuntimeError> {
        match (&mut self.driver).await {
            Ok(Err(driver::DriverError::Uninstalled)) | Err(_) => Ok(()),
            Ok(result) => result.map_err(RuntimeError::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_core::model::InstanceId;
    use herd_core::scheduler::state::Retire;
    use herd_core::spec::SpecFormat;
    use store::MemoryStore;

    const SPEC: &str = r#"
name = "svc"
[[pods]]
name = "web"
count = 3
[[pods.tasks]]
name = "server"
command = "sleep 1000"
cpus = 0.1
mem_mb = 32
"#;

    fn spec(count: u32) -> ServiceSpec {
        ServiceSpec::parse(
            &SPEC.replace("count = 3", &format!("count = {count}")),
            SpecFormat::Toml,
            "svc.toml",
        )
        .unwrap()
    }

    #[test]
    fn scale_in_needs_decommission_and_retires_the_instances_left_out() {
        let store = MemoryStore::new();
        let first = initial_state(&store, &spec(3), "nobody", false).unwrap();
        assert_eq!(first.target.id, "cfg-1");
        let refused = initial_state(&store, &spec(2), "nobody", false).unwrap_err().to_string();
        assert!(refused.contains("decommission"), "{refused}");
        let next = initial_state(&store, &spec(2), "nobody", true).unwrap();
        assert_eq!(next.target.id, "cfg-2");
        assert_eq!(next.instances[&InstanceId::new("web", 2)].retiring, Some(Retire::Decommission));
        assert_eq!(next.instances[&InstanceId::new("web", 1)].retiring, None);
        // Persisted: a restart sees the same.
        let again = initial_state(&store, &spec(2), "nobody", true).unwrap();
        assert_eq!(again, next);
    }
}
