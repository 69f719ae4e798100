//! Bringing a stack up and down: the local cluster (unless a master is given), then each
//! service in dependency order — its config rendered with the endpoints of the services
//! before it, its scheduler started, its deploy plan waited on — and a teardown that stops
//! everything it started.

use crate::file::{ClusterSection, StackFile};
use herd_core::scheduler::drain::PLAN as DECOMMISSION_PLAN;
use herd_core::scheduler::plan::{Plan, Status};
use herd_core::spec::{ServiceSpec, SpecFormat};
use herd_localmesos::{AgentSpec, ClusterConfig, LocalCluster};
use herd_mesos_client::{ClientConfig, MasterUrl};
use herd_runtime::probes::{ApiExtension, Probes};
use herd_runtime::store::{FileStore, StateStore};
use herd_runtime::{RunConfig, Service};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a stack did not come up.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The stack file is not valid TOML or has unknown fields.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Something in the stack is inconsistent (names, dependencies, frameworks).
    #[error("stack {stack}: {message}")]
    Invalid {
        /// The stack.
        stack: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A service's config did not render (a missing endpoint, a template error).
    #[error("service {service}: rendering its config: {message}")]
    Template {
        /// The service.
        service: String,
        /// What went wrong.
        message: String,
    },
    /// A service's config is not a valid spec.
    #[error("service {service}: {message}")]
    Spec {
        /// The service.
        service: String,
        /// The problems, with fields and fixes.
        message: String,
    },
    /// The local cluster did not start.
    #[error("the local cluster did not start: {0}")]
    Cluster(String),
    /// A scheduler did not start.
    #[error("service {service}: the scheduler did not start: {message}")]
    Start {
        /// The service.
        service: String,
        /// Why.
        message: String,
    },
    /// A service did not finish deploying in time.
    #[error("service {service} did not deploy within {secs}s; its deploy plan:\n{plan}")]
    Timeout {
        /// The service.
        service: String,
        /// The time allowed.
        secs: u64,
        /// The plan as it stood.
        plan: String,
    },
    /// No such service in the stack.
    #[error("no service {0:?} in the stack")]
    NoSuchService(String),
}

/// Called as services come up: the service's name and its deploy plan as it stands.
pub type Progress = Arc<dyn Fn(&str, &Plan) + Send + Sync>;

/// The frameworks a stack file may name (the `herd` binary knows them; a test names its own).
pub trait Frameworks: Send + Sync {
    /// The framework's default config (TOML), if the framework is known.
    fn default_config(&self, framework: &str) -> Option<&'static str>;
    /// A config of the framework as a service spec; the error says what is wrong.
    fn parse(
        &self,
        framework: &str,
        text: &str,
        format: SpecFormat,
        origin: &str,
    ) -> Result<ServiceSpec, String>;
    /// Routes the framework adds to the operator API (none by default).
    fn extension(&self, framework: &str) -> Option<Arc<dyn ApiExtension>> {
        let _ = framework;
        None
    }
    /// The readiness probes the framework runs from the scheduler (none by default).
    fn probes(&self, framework: &str) -> Probes {
        let _ = framework;
        Probes::new()
    }
}

/// What a framework adds to its schedulers: readiness probes and operator API routes.
#[derive(Clone, Default)]
struct Hooks {
    probes: Probes,
    extension: Option<Arc<dyn ApiExtension>>,
}

/// Parses a service's rendered config.
type Parser = Arc<dyn Fn(&str, SpecFormat, &str) -> Result<ServiceSpec, String> + Send + Sync>;

fn plain_spec() -> Parser {
    Arc::new(|text, format, origin| ServiceSpec::parse(text, format, origin).map_err(|e| e.to_string()))
}

/// A service to bring up: its config (a template over the endpoints of the services it
/// depends on) and its dependencies.
#[derive(Clone)]
struct Planned {
    name: String,
    config: String,
    format: SpecFormat,
    origin: String,
    depends_on: Vec<String>,
    parse: Parser,
    hooks: Hooks,
}

/// A condition on a deploy plan (see [`StackBuilder::up_until`]).
type PlanPredicate<'a> = dyn Fn(&Plan) -> bool + Sync + 'a;

/// How to bring a stack up.
pub struct StackBuilder {
    name: String,
    cluster: ClusterSection,
    master: Option<String>,
    services: Vec<Planned>,
    work_dir: Option<PathBuf>,
    ready_timeout: Duration,
    progress: Option<Progress>,
    artifact_cache: Option<PathBuf>,
    agent_unreachable_timeout: Option<Duration>,
}

impl std::fmt::Debug for StackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("name", &self.name)
            .field("services", &self.services.iter().map(|s| &s.name).collect::<Vec<_>>())
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

/// A service's endpoints: `<pod>-<port>` → `host:port` of each instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Endpoints(pub BTreeMap<String, Vec<String>>);

impl Endpoints {
    /// The addresses of one endpoint (empty when unknown).
    pub fn get(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// One endpoint's addresses as a comma-separated list (bootstrap servers, contact points).
    pub fn joined(&self, name: &str) -> String {
        self.get(name).join(",")
    }
}

struct Running {
    name: String,
    service: Option<Service>,
    api: SocketAddr,
    endpoints: Endpoints,
    hooks: Hooks,
}

/// A running stack. Dropping it stops every scheduler at once and the local cluster with
/// its tasks (like a killed process); [`Stack::shutdown`] stops the schedulers gracefully.
pub struct Stack {
    name: String,
    master: String,
    services: Vec<Running>,
    settings: Settings,
    cluster: Option<LocalCluster>,
    _temp: Option<tempfile::TempDir>,
}

/// How the stack's schedulers run (kept to restart one with a new config).
#[derive(Clone)]
struct Settings {
    master: String,
    work_dir: PathBuf,
    artifact_cache: PathBuf,
    ready_timeout: Duration,
    progress: Option<Progress>,
    user: String,
}

impl Settings {
    /// Starts a service's scheduler on its state dir and waits until it has deployed `spec`
    /// (and finished decommissioning what `spec` leaves out, which it may only do with
    /// `allow_decommission`).
    async fn start(
        &self,
        name: &str,
        spec: ServiceSpec,
        hooks: Hooks,
        until: Option<&(dyn Fn(&Plan) -> bool + Sync)>,
        allow_decommission: bool,
    ) -> Result<Running, StackError> {
        let start_error = |message: String| StackError::Start { service: name.to_owned(), message };
        let kept = hooks.clone();
        let state_dir = self.work_dir.join("services").join(name).join("state");
        let store: Arc<dyn StateStore> = Arc::new(
            FileStore::open(&state_dir)
                .map_err(|e| start_error(format!("state dir {}: {e}", state_dir.display())))?,
        );
        let mesos =
            ClientConfig::new(MasterUrl::parse(&self.master).map_err(|e| start_error(e.to_string()))?);
        let run = RunConfig {
            spec,
            mesos,
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            failover_timeout_secs: 7.0 * 24.0 * 3600.0,
            default_user: self.user.clone(),
            allow_decommission,
            artifact_cache: Some(self.artifact_cache.clone()),
            advertise_host: None,
            probes: hooks.probes,
            extension: hooks.extension,
        };
        let service = Service::start(run, store).await.map_err(|e| start_error(e.to_string()))?;
        let api = service.api_addr();
        let endpoints = self.wait_deployed(name, &service, until).await?;
        Ok(Running { name: name.to_owned(), service: Some(service), api, endpoints, hooks: kept })
    }

    async fn wait_deployed(
        &self,
        name: &str,
        service: &Service,
        until: Option<&(dyn Fn(&Plan) -> bool + Sync)>,
    ) -> Result<Endpoints, StackError> {
        let deadline = Instant::now() + self.ready_timeout;
        let scheduler = service.scheduler();
        let mut last: Option<Plan> = None;
        loop {
            let (plan, decommissioning, endpoints) = {
                let s = scheduler.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let decommissioning = s.plans().iter().any(|p| p.name == DECOMMISSION_PLAN);
                (s.deploy_plan(), decommissioning, herd_runtime::endpoints(&s))
            };
            if last.as_ref() != Some(&plan) {
                if let Some(progress) = &self.progress {
                    progress(name, &plan);
                }
                last = Some(plan.clone());
            }
            if (plan.status == Status::Complete && !decommissioning)
                || until.is_some_and(|until| until(&plan))
            {
                return Ok(Endpoints(endpoints));
            }
            if Instant::now() > deadline {
                return Err(StackError::Timeout {
                    service: name.to_owned(),
                    secs: self.ready_timeout.as_secs(),
                    plan: describe(&plan),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("name", &self.name)
            .field("master", &self.master)
            .field("services", &self.services.iter().map(|s| (&s.name, s.api)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A builder for a stack called `name`.
    pub fn builder(name: &str) -> StackBuilder {
        StackBuilder {
            name: name.to_owned(),
            cluster: ClusterSection::default(),
            master: None,
            services: Vec::new(),
            work_dir: None,
            ready_timeout: Duration::from_secs(300),
            progress: None,
            artifact_cache: None,
            agent_unreachable_timeout: None,
        }
    }

    /// A builder from a stack file; `frameworks` knows the frameworks it names (their
    /// default configs, for services that name no config file, and their config formats).
    pub fn from_file(path: &Path, frameworks: Arc<dyn Frameworks>) -> Result<StackBuilder, StackError> {
        let file = StackFile::load(path)?;
        StackBuilder::from_stack_file(file, path.parent().unwrap_or(Path::new(".")), &frameworks)
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Mesos master the services run on.
    pub fn master_url(&self) -> &str {
        &self.master
    }

    /// The local cluster, when the stack started one.
    pub fn cluster(&self) -> Option<&LocalCluster> {
        self.cluster.as_ref()
    }

    fn running(&self, service: &str) -> Result<&Running, StackError> {
        self.services
            .iter()
            .find(|s| s.name == service)
            .ok_or_else(|| StackError::NoSuchService(service.to_owned()))
    }

    /// A service's endpoints, as they were when it finished deploying.
    pub fn endpoints(&self, service: &str) -> Result<&Endpoints, StackError> {
        Ok(&self.running(service)?.endpoints)
    }

    /// A service's operator API address.
    pub fn api(&self, service: &str) -> Result<SocketAddr, StackError> {
        Ok(self.running(service)?.api)
    }

    /// The services, in the order they came up.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| s.name.as_str())
    }

    /// Restarts a service's scheduler with a new spec (a config change, as an operator
    /// would roll out with `herd run --config`) and waits until the change has rolled
    /// through (its deploy plan complete again).
    pub async fn reconfigure(&mut self, service: &str, spec: ServiceSpec) -> Result<(), StackError> {
        self.reconfigure_until(service, spec, |_| false).await
    }

    /// Like [`Stack::reconfigure`], but returns as soon as `until` holds for the deploy plan
    /// (to act in the middle of a rollout, e.g. [`Stack::kill`] the scheduler).
    pub async fn reconfigure_until(
        &mut self,
        service: &str,
        spec: ServiceSpec,
        until: impl Fn(&Plan) -> bool + Sync,
    ) -> Result<(), StackError> {
        self.restart_scheduler(service, spec, Some(&until), false).await
    }

    /// Like [`Stack::reconfigure`], but the new spec may have fewer instances (as with
    /// `herd run --allow-decommission`): returns once the surplus instances drained and are
    /// gone.
    pub async fn scale_in(&mut self, service: &str, spec: ServiceSpec) -> Result<(), StackError> {
        self.restart_scheduler(service, spec, None, true).await
    }

    /// Stops a service's scheduler gracefully and starts it again with `spec`.
    async fn restart_scheduler(
        &mut self,
        service: &str,
        spec: ServiceSpec,
        until: Option<&(dyn Fn(&Plan) -> bool + Sync)>,
        allow_decommission: bool,
    ) -> Result<(), StackError> {
        let index = self
            .services
            .iter()
            .position(|s| s.name == service)
            .ok_or_else(|| StackError::NoSuchService(service.to_owned()))?;
        if let Some(old) = self.services[index].service.take() {
            old.shutdown_within(Duration::from_secs(15), std::future::pending())
                .await
                .map_err(|e| StackError::Start { service: service.to_owned(), message: e.to_string() })?;
        }
        let hooks = self.services[index].hooks.clone();
        self.services[index] = self.settings.start(service, spec, hooks, until, allow_decommission).await?;
        Ok(())
    }

    /// Kills a service's scheduler where it is, like a SIGKILL (its tasks keep running; its
    /// state is what it persisted).
    pub fn kill(&mut self, service: &str) -> Result<(), StackError> {
        let running = self
            .services
            .iter_mut()
            .find(|s| s.name == service)
            .ok_or_else(|| StackError::NoSuchService(service.to_owned()))?;
        drop(running.service.take());
        Ok(())
    }

    /// Starts a killed (or stopped) service's scheduler again with `spec`, and waits until
    /// its deploy plan is complete.
    pub async fn restart(&mut self, service: &str, spec: ServiceSpec) -> Result<(), StackError> {
        self.reconfigure(service, spec).await
    }

    /// Stops the schedulers gracefully, in reverse order (their state stays; tasks keep
    /// running on an external master), then the local cluster if the stack started one.
    pub async fn shutdown(mut self) {
        for running in self.services.iter_mut().rev() {
            if let Some(service) = running.service.take()
                && let Err(e) = service.shutdown_within(Duration::from_secs(15), std::future::pending()).await
            {
                tracing::warn!(service = %running.name, error = %e, "scheduler stopped with an error");
            }
        }
        if let Some(cluster) = self.cluster.take() {
            cluster.shutdown();
        }
    }
}

impl StackBuilder {
    fn from_stack_file(
        file: StackFile,
        base: &Path,
        frameworks: &Arc<dyn Frameworks>,
    ) -> Result<Self, StackError> {
        let mut builder = Stack::builder(&file.name);
        builder.cluster = file.cluster.clone();
        for entry in &file.services {
            let default = frameworks.default_config(&entry.framework).ok_or_else(|| StackError::Invalid {
                stack: file.name.clone(),
                message: format!(
                    "service {}: unknown framework {:?}; set `framework` to one herd knows",
                    entry.name, entry.framework
                ),
            })?;
            let (config, format, origin) = match &entry.config {
                Some(path) => {
                    let path = base.join(path);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| StackError::Read { path: path.clone(), message: e.to_string() })?;
                    let format = SpecFormat::of(&path).ok_or_else(|| StackError::Invalid {
                        stack: file.name.clone(),
                        message: format!(
                            "service {}: {} is neither .toml nor .yaml/.yml",
                            entry.name,
                            path.display()
                        ),
                    })?;
                    (text, format, path.display().to_string())
                }
                None => {
                    (default.to_owned(), SpecFormat::Toml, format!("the default {} config", entry.framework))
                }
            };
            let known = Arc::clone(frameworks);
            let framework = entry.framework.clone();
            builder.services.push(Planned {
                name: entry.name.clone(),
                config,
                format,
                origin,
                depends_on: entry.depends_on.clone(),
                hooks: Hooks {
                    probes: frameworks.probes(&entry.framework),
                    extension: frameworks.extension(&entry.framework),
                },
                parse: Arc::new(move |text, format, origin| known.parse(&framework, text, format, origin)),
            });
        }
        builder.order()?;
        Ok(builder)
    }

    /// Adds a service from its config text (a template: see the crate docs).
    pub fn service(mut self, name: &str, config: &str, format: SpecFormat) -> Self {
        self.services.push(Planned {
            name: name.to_owned(),
            config: config.to_owned(),
            format,
            origin: format!("the config of {name}"),
            depends_on: Vec::new(),
            parse: plain_spec(),
            hooks: Hooks::default(),
        });
        self
    }

    /// Adds a service from a spec.
    pub fn spec(self, name: &str, spec: &ServiceSpec) -> Self {
        let text = serde_json::to_string(spec).unwrap_or_default();
        // JSON is YAML.
        self.service(name, &text, SpecFormat::Yaml)
    }

    /// Gives the last added service its framework's readiness probes.
    pub fn probes(mut self, probes: Probes) -> Self {
        if let Some(last) = self.services.last_mut() {
            last.hooks.probes = probes;
        }
        self
    }

    /// Gives the last added service its framework's operator API routes.
    pub fn extension(mut self, extension: Arc<dyn ApiExtension>) -> Self {
        if let Some(last) = self.services.last_mut() {
            last.hooks.extension = Some(extension);
        }
        self
    }

    /// Makes the last added service wait for `dependencies`.
    pub fn depends_on(mut self, dependencies: &[&str]) -> Self {
        if let Some(last) = self.services.last_mut() {
            last.depends_on.extend(dependencies.iter().map(|d| (*d).to_owned()));
        }
        self
    }

    /// Runs on this Mesos master instead of an embedded local cluster.
    pub fn master(mut self, url: &str) -> Self {
        self.master = Some(url.to_owned());
        self
    }

    /// The embedded cluster's shape.
    pub fn cluster(mut self, cluster: ClusterSection) -> Self {
        self.cluster = cluster;
        self
    }

    /// Keeps the cluster's work dir and the schedulers' state here (default: a temporary
    /// directory removed with the stack).
    pub fn work_dir(mut self, dir: &Path) -> Self {
        self.work_dir = Some(dir.to_owned());
        self
    }

    /// The artifact cache the schedulers resolve and serve artifacts from (default:
    /// `<work dir>/artifacts`).
    pub fn artifact_cache(mut self, dir: &Path) -> Self {
        self.artifact_cache = Some(dir.to_owned());
        self
    }

    /// How long each service may take to deploy (default 300 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How long a stopped agent of the embedded cluster stays registered before its tasks
    /// are reported lost (default: Mesos' 75 s). Shorter lets a test replace the instances
    /// of a dead agent ([`LocalCluster::stop_agent`]) without waiting that long.
    pub fn agent_unreachable_timeout(mut self, timeout: Duration) -> Self {
        self.agent_unreachable_timeout = Some(timeout);
        self
    }

    /// Called with each service's deploy plan while it comes up.
    pub fn on_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The services in an order that respects `depends_on`; errors name unknown,
    /// duplicated and circular dependencies.
    fn order(&self) -> Result<Vec<Planned>, StackError> {
        let invalid = |message: String| StackError::Invalid { stack: self.name.clone(), message };
        let names: BTreeSet<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        if names.len() != self.services.len() {
            return Err(invalid("two services have the same name; give each its own".to_owned()));
        }
        for s in &self.services {
            for d in &s.depends_on {
                if !names.contains(d.as_str()) {
                    return Err(invalid(format!(
                        "service {} depends on {d:?}, which is not in the stack (services: {})",
                        s.name,
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        let mut done: Vec<Planned> = Vec::new();
        let mut left: Vec<Planned> = self.services.clone();
        while !left.is_empty() {
            let ready =
                left.iter().position(|s| s.depends_on.iter().all(|d| done.iter().any(|x| &x.name == d)));
            match ready {
                Some(i) => done.push(left.remove(i)),
                None => {
                    return Err(invalid(format!(
                        "circular dependencies between {}",
                        left.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        Ok(done)
    }

    /// Brings the stack up: the cluster (unless a master was given), then each service in
    /// dependency order, each deployed before the next starts.
    pub async fn up(self) -> Result<Stack, StackError> {
        self.up_inner(None).await
    }

    /// Like [`StackBuilder::up`], but returns as soon as `until` holds for `service`'s deploy
    /// plan (the services after it are not started): to act in the middle of a first
    /// deploy, e.g. [`Stack::kill`] the scheduler while an instance bootstraps, then
    /// [`Stack::restart`] it.
    pub async fn up_until(
        self,
        service: &str,
        until: impl Fn(&Plan) -> bool + Sync,
    ) -> Result<Stack, StackError> {
        self.up_inner(Some((service, &until))).await
    }

    /// `until`: the service whose deploy plan `up` stops waiting on once the predicate holds.
    async fn up_inner(self, until: Option<(&str, &PlanPredicate<'_>)>) -> Result<Stack, StackError> {
        let order = self.order()?;
        let (temp, work_dir) = match &self.work_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::tempdir().map_err(|e| StackError::Cluster(e.to_string()))?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let cluster = match &self.master {
            Some(_) => None,
            None => {
                let mut config = ClusterConfig::new(work_dir.join("cluster"), self.cluster.agents);
                config.agent_ip_block = self.cluster.agent_ip_block;
                if let Some(timeout) = self.agent_unreachable_timeout {
                    config.agent_unreachable_timeout = timeout;
                }
                config.agents = (0..self.cluster.agents)
                    .map(|i| AgentSpec {
                        cpus: self.cluster.cpus,
                        mem: self.cluster.mem_mb,
                        disk: self.cluster.disk_mb,
                        attributes: match self.cluster.racks.as_slice() {
                            [] => Vec::new(),
                            racks => vec![herd_mesos_api::Attribute::text("rack", &racks[i % racks.len()])],
                        },
                        ..AgentSpec::default()
                    })
                    .collect();
                Some(LocalCluster::start(config).await.map_err(|e| StackError::Cluster(e.to_string()))?)
            }
        };
        let master = match (&self.master, &cluster) {
            (Some(m), _) => m.clone(),
            (None, Some(c)) => c.master_url(),
            (None, None) => unreachable!("a cluster is started when no master is given"),
        };
        let settings = Settings {
            master: master.clone(),
            artifact_cache: self.artifact_cache.clone().unwrap_or_else(|| work_dir.join("artifacts")),
            work_dir,
            ready_timeout: self.ready_timeout,
            progress: self.progress.clone(),
            user: current_user(),
        };
        let mut stack = Stack {
            name: self.name.clone(),
            master: master.clone(),
            services: Vec::new(),
            settings: settings.clone(),
            cluster,
            _temp: temp,
        };
        for planned in order {
            let spec = self.render(&planned, &stack)?;
            let stop_here = until.filter(|(service, _)| *service == planned.name).map(|(_, until)| until);
            stack
                .services
                .push(settings.start(&planned.name, spec, planned.hooks.clone(), stop_here, false).await?);
            if stop_here.is_some() {
                break;
            }
        }
        Ok(stack)
    }

    /// Renders a service's config with the endpoints of the services already up.
    fn render(&self, planned: &Planned, stack: &Stack) -> Result<ServiceSpec, StackError> {
        let services: BTreeMap<&str, serde_json::Value> = stack
            .services
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    serde_json::json!({ "endpoints": r.endpoints.0, "api": format!("http://{}", r.api) }),
                )
            })
            .collect();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let template_error = |e: minijinja::Error| StackError::Template {
            service: planned.name.clone(),
            message: format!(
                "{e:#} (templates see `services.<name>.endpoints` of the services it depends on)"
            ),
        };
        // Only `{{ services... }}` is the stack's: the rest ({{ instance }}, {{ ports.x }}) is
        // left for the scheduler's per-instance rendering.
        let text = render_stack_refs(&env, &planned.config, &services).map_err(template_error)?;
        let spec = (planned.parse)(&text, planned.format, &planned.origin)
            .map_err(|message| StackError::Spec { service: planned.name.clone(), message })?;
        herd_core::validation::validate(&spec).map_err(|errors| StackError::Spec {
            service: planned.name.clone(),
            message: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "),
        })?;
        Ok(spec)
    }
}

/// Renders every `{{ ... services ... }}` expression of `text`; everything else is kept.
fn render_stack_refs(
    env: &minijinja::Environment<'_>,
    text: &str,
    services: &BTreeMap<&str, serde_json::Value>,
) -> Result<String, minijinja::Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else { break };
        let expr = &rest[start..start + len + 2];
        out.push_str(&rest[..start]);
        if expr[2..expr.len() - 2].trim_start().starts_with("services") {
            out.push_str(&env.render_str(expr, minijinja::context! { services => services })?);
        } else {
            out.push_str(expr);
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A plan as indented text: phases and steps with their status.
fn describe(plan: &Plan) -> String {
    let mut out = format!("{} {:?}\n", plan.name, plan.status);
    for phase in &plan.phases {
        out += &format!("  {} {:?}\n", phase.name, phase.status);
        for step in &phase.steps {
            out +=
                &format!("    {} {:?} {}\n", step.name, step.status, step.message.as_deref().unwrap_or(""));
        }
    }
    out
}

/// The user tasks run as when a config names none: whoever runs the stack.
fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "nobody".to_owned())
}

impl StackFile {
    /// The names of its services.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }
}
