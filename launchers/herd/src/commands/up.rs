//! `herd up STACK.toml [--master URL] [--detach]`: runs a stack's services in one process,
//! in dependency order, on the given master or on an embedded local cluster; shows each
//! service's deploy plan as it goes, prints the endpoints when all are up, and stops the
//! schedulers gracefully on Ctrl-C (state stays for the next `herd up` against the same
//! master). `--detach` leaves it running in the background (`herd down` stops it).

use crate::operator::{ServiceRecord, record};
use anyhow::{Context, bail};
use herd_core::scheduler::plan::{Plan, Status};
use herd_testkit::Stack;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `herd up`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The stack file (TOML), e.g. examples/hello-stack.toml.
    stack: PathBuf,
    /// Run on this Mesos master instead of an embedded local cluster.
    #[arg(long, env = "HERD_MASTER")]
    master: Option<String>,
    /// Return once the stack is up, leaving it running in the background (stop it with
    /// `herd down`); its output goes to $HERD_HOME/stacks/<name>/up.log.
    #[arg(long)]
    detach: bool,
    /// Seconds each service may take to deploy.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Where artifacts are resolved and served from (default: $HERD_HOME/artifacts).
    #[arg(long, env = "HERD_ARTIFACT_CACHE", value_name = "DIR")]
    artifact_cache: Option<PathBuf>,
    /// Output format of the endpoints printed when the stack is up.
    #[arg(long, value_enum, default_value_t = super::Output::Text)]
    output: super::Output,
}

/// What a running `herd up` records in `$HERD_HOME/stacks/<name>/up.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpRecord {
    /// The stack.
    pub(crate) name: String,
    /// The `herd up` process.
    pub(crate) pid: u32,
    /// The master the services run on.
    pub(crate) master: String,
    /// Whether the master is the embedded cluster of this process.
    pub(crate) embedded: bool,
    /// The services in the order they came up, with their operator APIs and endpoints.
    pub(crate) services: Vec<UpService>,
}

/// One service of a running stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpService {
    /// Its name in the stack.
    pub(crate) name: String,
    /// Its operator API.
    pub(crate) api: String,
    /// Its endpoints.
    pub(crate) endpoints: BTreeMap<String, Vec<String>>,
}

/// Where a stack's state, logs and record live.
pub(crate) fn stack_dir(name: &str) -> PathBuf {
    super::herd_home().join("stacks").join(name)
}

/// The record of a running stack, if any.
pub(crate) fn read_record(dir: &Path) -> Option<UpRecord> {
    serde_json::from_slice(&std::fs::read(dir.join("up.json")).ok()?).ok()
}

/// Shows each service's deploy plan: one live line per service on a terminal, one line
/// per change otherwise.
struct ProgressView {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    started: Instant,
}

impl ProgressView {
    fn new() -> Self {
        let multi = std::io::stderr().is_terminal().then(MultiProgress::new);
        Self { multi, bars: Mutex::new(BTreeMap::new()), started: Instant::now() }
    }

    fn line(plan: &Plan) -> String {
        let steps: Vec<_> = plan.phases.iter().flat_map(|p| &p.steps).collect();
        let done = steps.iter().filter(|s| s.status == Status::Complete).count();
        let current = steps
            .iter()
            .find(|s| s.status != Status::Complete)
            .map(|s| {
                format!(
                    " — {} {:?}{}",
                    s.name,
                    s.status,
                    s.message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        format!("{} {:?} {done}/{} steps{current}", plan.name, plan.status, steps.len())
    }

    fn show(&self, service: &str, plan: &Plan) {
        let line = format!("{service}: {}", Self::line(plan));
        match &self.multi {
            Some(multi) => {
                let mut bars = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let bar = bars.entry(service.to_owned()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                if plan.status == Status::Complete {
                    bar.finish_with_message(line);
                } else {
                    bar.set_message(line);
                }
            }
            None => eprintln!("[{:>5.1}s] {line}", self.started.elapsed().as_secs_f64()),
        }
    }
}

fn print_endpoints(record: &UpRecord, output: super::Output) -> anyhow::Result<()> {
    match output {
        super::Output::Json => println!("{}", serde_json::to_string_pretty(record)?),
        super::Output::Text => {
            println!("stack {} is up on {}", record.name, record.master);
            for s in &record.services {
                println!("{} (operator API {}):", s.name, s.api);
                for (name, addresses) in &s.endpoints {
                    println!("  {name}: {}", addresses.join(","));
                }
            }
        }
    }
    Ok(())
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let file = herd_testkit::StackFile::load(&args.stack)?;
    let dir = stack_dir(&file.name);
    if let Some(running) = read_record(&dir)
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(running.pid).unwrap_or(0)), None)
            .is_ok()
    {
        bail!(
            "stack {} is already up (herd up pid {}); stop it first with `herd down {}`",
            file.name,
            running.pid,
            file.name
        );
    }
    if args.detach {
        return detach(&args, &dir, &file.name).await;
    }
    let embedded = args.master.is_none();
    if embedded {
        // The embedded cluster starts empty every time: state from an earlier run refers
        // to its reservations and cannot resume.
        for sub in ["cluster", "services"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let view = Arc::new(ProgressView::new());
    let shown = Arc::clone(&view);
    let mut builder = Stack::from_file(&args.stack, Arc::new(crate::frameworks::Known))?
        .work_dir(&dir)
        .artifact_cache(&args.artifact_cache.clone().unwrap_or_else(|| super::herd_home().join("artifacts")))
        .ready_timeout(Duration::from_secs(args.timeout))
        .on_progress(Arc::new(move |service, plan| shown.show(service, plan)));
    if let Some(master) = &args.master {
        builder = builder.master(master);
    }
    let stack = tokio::select! {
        stack = builder.up() => stack?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted while the stack came up"),
    };
    let record_up = UpRecord {
        name: file.name.clone(),
        pid: std::process::id(),
        master: stack.master_url().to_owned(),
        embedded,
        services: stack
            .services()
            .map(|s| UpService {
                name: s.to_owned(),
                api: stack.api(s).map(|a| format!("http://{a}")).unwrap_or_default(),
                endpoints: stack.endpoints(s).map(|e| e.0.clone()).unwrap_or_default(),
            })
            .collect(),
    };
    let framework_of: BTreeMap<&str, &str> =
        file.services.iter().map(|s| (s.name.as_str(), s.framework.as_str())).collect();
    for s in &record_up.services {
        record(&ServiceRecord {
            name: s.name.clone(),
            framework: framework_of.get(s.name.as_str()).copied().unwrap_or("?").to_owned(),
            api: s.api.clone(),
            pid: std::process::id(),
            state: dir.join("services").join(&s.name).display().to_string(),
            master: Some(record_up.master.clone()),
        })?;
    }
    let tmp = dir.join(".up.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&record_up)?)?;
    std::fs::rename(&tmp, dir.join("up.json"))?;
    print_endpoints(&record_up, args.output)?;
    eprintln!("Ctrl-C (or `herd down {}`) stops the stack", file.name);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
    }
    eprintln!("herd up: stopping the schedulers (state stays in {})", dir.display());
    stack.shutdown().await;
    let _ = std::fs::remove_file(dir.join("up.json"));
    Ok(())
}

/// Starts `herd up` again in the background (its own process group, so the terminal's
/// Ctrl-C does not reach it) and returns once it reports the stack up.
async fn detach(args: &Args, dir: &Path, name: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(dir.join("up.json"));
    let log_path = dir.join("up.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("up").arg(&args.stack).args(["--timeout", &args.timeout.to_string()]);
    if let Some(cache) = &args.artifact_cache {
        command.arg("--artifact-cache").arg(cache);
    }
    if let Some(master) = &args.master {
        command.args(["--master", master]);
    }
    let mut child = command
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting herd up in the background")?;
    eprintln!("herd up: starting stack {name} in the background (log: {})", log_path.display());
    let deadline = Instant::now() + Duration::from_secs(args.timeout.saturating_mul(2).max(60));
    loop {
        if let Some(record) = read_record(dir) {
            print_endpoints(&record, args.output)?;
            eprintln!("stop it with `herd down {name}`");
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
            bail!("herd up stopped ({status}) before the stack was up:\n{}", tail.join("\n"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the stack did not come up in time; see {}", log_path.display());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
