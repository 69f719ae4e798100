//! `herd run <framework> --config FILE --master URL --state-dir DIR --api-port P`: one
//! framework's scheduler in the foreground. Ctrl-C stops it; its tasks keep running (for
//! the failover timeout) and its state stays in the state dir, to resume from. Every flag
//! can also come from an environment variable (`HERD_MASTER`, `HERD_CONFIG`,
//! `HERD_STATE_DIR`... see `herd run --help`); a flag wins over its variable.

use anyhow::{Context, bail};
use herd_mesos_client::{ClientConfig, Credentials, MasterUrl};
use herd_runtime::store::{FileStore, LeaderGuard, StateStore, ZkStore};
use herd_runtime::{RunConfig, Service};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `herd run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The framework: hello.
    framework: String,
    /// Service config (TOML or YAML); default: the framework's documented default.
    #[arg(long, env = "HERD_CONFIG")]
    config: Option<PathBuf>,
    /// Mesos master: http(s)://host:port, host:port or zk://host:2181/mesos.
    #[arg(long, env = "HERD_MASTER", default_value = "http://127.0.0.1:5050")]
    master: String,
    /// Where the scheduler keeps its state (default: $HERD_HOME/<service>/state).
    #[arg(long, env = "HERD_STATE_DIR", conflicts_with = "zk")]
    state_dir: Option<PathBuf>,
    /// Keep the state in ZooKeeper instead (zk://host:2181/herd/<service>), for highly
    /// available schedulers: several may run, one leads, the others wait to take over.
    #[arg(long, env = "HERD_ZK")]
    zk: Option<String>,
    /// Operator API port on 127.0.0.1 (0 = any).
    #[arg(long, env = "HERD_API_PORT", default_value_t = 0)]
    api_port: u16,
    /// Address the operator API binds (default 127.0.0.1).
    #[arg(long, env = "HERD_API_HOST", default_value = "127.0.0.1")]
    api_host: std::net::IpAddr,
    /// Principal for Mesos HTTP basic authentication.
    #[arg(long, env = "HERD_PRINCIPAL")]
    principal: Option<String>,
    /// Secret for Mesos HTTP basic authentication (prefer the environment variable).
    #[arg(long, env = "HERD_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Seconds Mesos keeps the framework's tasks while the scheduler is away.
    #[arg(long, env = "HERD_FAILOVER_TIMEOUT", default_value_t = 604800.0)]
    failover_timeout: f64,
    /// Allow a config change to shrink a pod count or drop a pod type: the instances left
    /// out are decommissioned (killed, volumes destroyed, reservations released).
    #[arg(long, env = "HERD_ALLOW_DECOMMISSION")]
    allow_decommission: bool,
    /// On Ctrl-C or SIGTERM, how long to let the scheduler finish what it is doing
    /// (seconds); a second signal stops it at once.
    #[arg(long, env = "HERD_SHUTDOWN_GRACE", default_value_t = 15.0, value_name = "SECS")]
    shutdown_grace: f64,
    /// Where resolved artifacts are kept and served from (default: $HERD_HOME/artifacts).
    #[arg(long, env = "HERD_ARTIFACT_CACHE", value_name = "DIR")]
    artifact_cache: Option<PathBuf>,
    /// The host agents reach the operator API on (artifact URLs); default: the API host.
    #[arg(long, env = "HERD_ADVERTISE_HOST", value_name = "HOST")]
    advertise_host: Option<String>,
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let spec = crate::frameworks::spec(&args.framework, args.config.as_deref())?;
    let mut mesos = ClientConfig::new(MasterUrl::parse(&args.master).context("--master")?);
    mesos.credentials = match (args.principal, args.secret) {
        (Some(principal), Some(secret)) => Some(Credentials { principal, secret }),
        (None, None) => None,
        _ => bail!("--principal and --secret (HERD_PRINCIPAL / HERD_SECRET) go together"),
    };
    let state_dir = args.state_dir.unwrap_or_else(|| super::herd_home().join(&spec.name).join("state"));
    let (store, where_, _leadership): (Arc<dyn StateStore>, String, Option<LeaderGuard>) = match &args.zk {
        Some(url) => {
            let zk = ZkStore::connect(url, std::time::Duration::from_secs(15))
                .await
                .with_context(|| format!("connecting to the ZooKeeper state store {url}"))?;
            eprintln!("herd run: waiting to lead (state in {url})");
            let guard = zk.lock_leadership().await.context("taking the leadership")?;
            eprintln!("herd run: leading");
            (Arc::new(zk), url.clone(), Some(guard))
        }
        None => {
            let store = FileStore::open(&state_dir)
                .with_context(|| format!("opening the state dir {}", state_dir.display()))?;
            (Arc::new(store), state_dir.display().to_string(), None)
        }
    };
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "nobody".to_owned());
    let config = RunConfig {
        spec,
        mesos,
        api_addr: SocketAddr::new(args.api_host, args.api_port),
        failover_timeout_secs: args.failover_timeout,
        default_user: user,
        allow_decommission: args.allow_decommission,
        artifact_cache: Some(
            args.artifact_cache.clone().unwrap_or_else(|| super::herd_home().join("artifacts")),
        ),
        advertise_host: args.advertise_host.clone(),
        probes: crate::frameworks::probes(&args.framework),
        extension: crate::frameworks::extension(&args.framework),
    };
    let name = config.spec.name.clone();
    let mut service = Service::start(config, store).await?;
    let api = service.api_addr();
    // First thing once started: tests and wrappers wait for this line.
    eprintln!("herd run {}: operator API on http://{api} (state in {where_})", args.framework);
    let api_host = if api.ip().is_unspecified() {
        args.advertise_host.clone().unwrap_or_else(|| "127.0.0.1".to_owned())
    } else {
        api.ip().to_string()
    };
    let record = crate::operator::ServiceRecord {
        name,
        framework: args.framework.clone(),
        api: format!("http://{api_host}:{}", api.port()),
        pid: std::process::id(),
        state: where_.clone(),
        master: Some(args.master.clone()),
    };
    if let Err(e) = crate::operator::record(&record) {
        tracing::warn!(error = %e, "cannot record the service for herd status/plan/pod");
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
        r = service.wait() => return r.map_err(Into::into),
    }
    eprintln!(
        "herd run: stopping (finishing the work under way, at most {}s; signal again to stop at once); \
         tasks keep running, state stays in {where_}",
        args.shutdown_grace
    );
    let again = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    let grace = std::time::Duration::try_from_secs_f64(args.shutdown_grace.max(0.0))
        .unwrap_or(std::time::Duration::from_secs(15));
    service.shutdown_within(grace, again).await?;
    Ok(())
}
