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

mod api;
pub mod driver;
pub mod persist;
pub mod store;

use driver::SharedScheduler;
use herd_core::scheduler::Scheduler;
use herd_core::scheduler::state::{ServiceState, TargetConfig};
use herd_core::spec::ServiceSpec;
use herd_mesos_api::scheduler::Subscribe;
use herd_mesos_api::{FrameworkCapability, FrameworkCapabilityType, FrameworkInfo};
use herd_mesos_client::{Client, ClientConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use store::StateStore;
use tokio_util::sync::CancellationToken;

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
            let next = ServiceState::new(TargetConfig { id: format!("cfg-{}", n + 1), spec });
            // Keep every existing instance (placements, tasks); add new ones.
            for (id, instance) in &next.instances {
                state.instances.entry(id.clone()).or_insert_with(|| instance.clone());
            }
            // Instances the new spec leaves out are decommissioned.
            for (id, instance) in &mut state.instances {
                if !next.instances.contains_key(id) && instance.retiring.is_none() {
                    tracing::info!(instance = %id, "decommissioning");
                    instance.retiring = Some(herd_core::scheduler::state::Retire::Decommission);
                }
            }
            state.target = next.target;
            persist::save_all(store, &state)?;
            tracing::info!(config = %state.target.id, "new target config: rolling update");
            Ok(state)
        }
        Some(state) => Ok(state),
    }
}

impl Service {
    /// Loads (or creates) the state, binds the operator API and starts the driver.
    pub async fn start(config: RunConfig, store: Arc<dyn StateStore>) -> Result<Self, RuntimeError> {
        let state =
            initial_state(store.as_ref(), &config.spec, &config.default_user, config.allow_decommission)?;
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
        let scheduler: SharedScheduler = Arc::new(Mutex::new(Scheduler::new(state)?));
        let (commands_tx, commands) = tokio::sync::mpsc::channel(16);
        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .map_err(|source| RuntimeError::Bind { addr: config.api_addr, source })?;
        let api_addr =
            listener.local_addr().map_err(|source| RuntimeError::Bind { addr: config.api_addr, source })?;
        let stop = CancellationToken::new();
        let app = api::router(Arc::clone(&scheduler), commands_tx);
        let api_stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(api_stop.cancelled_owned()).await;
        });
        let (client, events) =
            Client::subscribe(config.mesos, Subscribe { framework_info, ..Subscribe::default() })?;
        let driver = tokio::spawn(driver::run(
            Arc::clone(&scheduler),
            store,
            client.clone(),
            events,
            commands,
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
    /// timeout), state stays in the store.
    pub async fn shutdown(self) -> Result<(), RuntimeError> {
        self.stop.cancel();
        self.client.close();
        match self.driver.await {
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
