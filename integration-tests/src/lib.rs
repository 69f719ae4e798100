//! herd's end-to-end tests with the real software: what the tests in `tests/` share.
//!
//! The systems' distributions are pinned in `configs/distributions.toml` (one artifact per
//! system, as a config's `[[pods.artifacts]]` entry would name it). [`distribution`] resolves
//! one through herd's own artifact cache (`herd_runtime::artifacts`: Maven assembles the
//! jars into a deterministic tarball) and unpacks it once per machine, so every test runs the
//! very bytes a framework would fetch. [`Daemon`] runs a system's process with its output in
//! log files, kills it when dropped, and waits for readiness with a bounded timeout whose
//! failure shows the log's tail; [`record_floor`] keeps how long the system took to become
//! ready, which later tests compare framework deploy times against.
//!
//! Everything lives under `$HERD_TEST_CACHE` (default `~/.cache/herd-test`):
//! `artifacts/` (herd's artifact cache), `dists/<sha256>/<name>-<version>/` (unpacked
//! distributions) and `floors/<system>.json`. Needs a JDK 17 or 21 (`java`; `javac` and `jar`
//! for the jobs some tests compile, see [`compile_java`]), `mvn` and `setpriv` (util-linux);
//! `.ci/run` installs them.
//!
//! Not here: the launch details of each system (main class, JVM flags, config files) — each
//! smoke test spells out its own, as the system's recipe says.
//!
//! Where to start: `configs/distributions.toml`, [`distribution`], then
//! `tests/smoke_zookeeper.rs` (the smallest smoke test).

use anyhow::{Context as _, bail};
use herd_core::spec::ArtifactSpec;
use herd_runtime::artifacts::{Cache, CacheSettings, Progress};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::File;
use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `configs/distributions.toml`: every system's distribution, pinned.
pub const DISTRIBUTIONS_TOML: &str = include_str!("../../configs/distributions.toml");

/// Lines of a daemon's log shown when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// Pause between two readiness checks.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Longest a single readiness check may take before it counts as a failed attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The distributions of `configs/distributions.toml`, by table name.
///
/// # Panics
/// If the file does not parse (the unit test below pins that it does).
pub fn distributions() -> BTreeMap<String, ArtifactSpec> {
    match toml::from_str(DISTRIBUTIONS_TOML) {
        Ok(map) => map,
        Err(e) => panic!("configs/distributions.toml does not parse: {e}"),
    }
}

/// The folder every test artifact lives under: `$HERD_TEST_CACHE`, else `~/.cache/herd-test`.
pub fn test_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("HERD_TEST_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("herd-test")
}

/// An assembled distribution, unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dist {
    /// The distribution's folder, `…/dists/<sha256>/<name>-<version>` (shared: read only).
    pub home: PathBuf,
    /// Its version label, e.g. `4.4.0`.
    pub version: String,
    /// SHA-256 of the tarball (lowercase hex).
    pub sha256: String,
    /// Size of the tarball in bytes.
    pub size_bytes: u64,
}

impl Dist {
    /// `<home>/<dir>/*`: a classpath of every jar in `dir`, which `java` expands itself.
    pub fn classpath(&self, dir: &str) -> String {
        format!("{}/{dir}/*", self.home.display())
    }

    /// A copy of the home in `dir`, made of hard links (copies where links fail), for a
    /// daemon that runs as another user and cannot traverse the folders of the cache
    /// (`~/.cache` under a `0700` home). Returns the copy's home.
    pub fn link_into(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let name = self.home.file_name().context("a distribution's home has a name")?;
        let target = dir.join(name);
        link_tree(&self.home, &target)?;
        Ok(target)
    }
}

/// Recreates `from` at `to` with hard links (copies across file systems); folders are
/// created `0755`.
fn link_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    set_mode(to, 0o755)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry.with_context(|| format!("read {}", from.display()))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().with_context(|| format!("stat {}", source.display()))?;
        if kind.is_dir() {
            link_tree(&source, &dest)?;
        } else if std::fs::hard_link(&source, &dest).is_err() {
            std::fs::copy(&source, &dest)
                .with_context(|| format!("copy {} to {}", source.display(), dest.display()))?;
        }
    }
    Ok(())
}

/// Sets a path's permission bits.
pub fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Prints a resolution's progress to stderr (resolving a distribution cold runs Maven for
/// minutes).
struct StderrProgress {
    started: Instant,
    bytes: AtomicU64,
    reported: AtomicU64,
}

impl StderrProgress {
    fn new() -> Self {
        Self { started: Instant::now(), bytes: AtomicU64::new(0), reported: AtomicU64::new(0) }
    }

    fn say(&self, text: &str) {
        eprintln!("[herd-test {:>6.1}s] {text}", self.started.elapsed().as_secs_f64());
    }
}

impl Progress for StderrProgress {
    fn start(&self, name: &str, total: Option<u64>) {
        self.bytes.store(0, Ordering::Relaxed);
        self.reported.store(0, Ordering::Relaxed);
        match total {
            Some(total) => self.say(&format!("{name}: downloading {total} bytes")),
            None => self.say(&format!("{name}: downloading")),
        }
    }

    fn advance(&self, bytes: u64) {
        const EVERY: u64 = 32 << 20;
        let now = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let last = self.reported.load(Ordering::Relaxed);
        if now - last >= EVERY
            && self.reported.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            self.say(&format!("  {} MB", now >> 20));
        }
    }

    fn finish(&self) {
        self.say(&format!("  downloaded {} bytes", self.bytes.load(Ordering::Relaxed)));
    }

    fn step(&self, name: &str, what: &str) {
        self.say(&format!("{name}: {what}"));
    }
}

/// Resolves the distribution `name` of `configs/distributions.toml` into the shared cache
/// (`$HERD_TEST_CACHE/artifacts`; cold, Maven downloads and assembles it, which can take
/// minutes) and unpacks it once into `$HERD_TEST_CACHE/dists/<sha256>/`. Safe when several
/// test processes ask at once: resolution and unpacking each take a file lock, and an
/// unpacked folder appears only complete (unpacked beside it, then renamed).
pub async fn distribution(name: &str) -> anyhow::Result<Dist> {
    let spec = distributions()
        .remove(name)
        .with_context(|| format!("configs/distributions.toml has no [{name}] table"))?;
    let label = spec.name.clone().unwrap_or_else(|| name.to_owned());
    let root = test_cache();
    let artifacts = root.join("artifacts");
    let cache = Cache::open_with(&artifacts, CacheSettings::from_env())
        .with_context(|| format!("open the artifact cache {}", artifacts.display()))?;
    let progress = StderrProgress::new();
    progress.say(&format!("{label}: resolving into {}", artifacts.display()));
    let resolved = cache.resolve(&spec, &progress).await.with_context(|| format!("resolve {label}"))?;
    let version = resolved.version.clone().with_context(|| format!("{label} resolved without a version"))?;
    progress.say(&format!(
        "{label} {version}: {} bytes, sha256 {} ({})",
        resolved.size,
        resolved.sha256,
        resolved.path.display()
    ));
    let top = format!("{label}-{version}");
    let dists = root.join("dists");
    let (blob, sha256, folder) = (resolved.path.clone(), resolved.sha256.clone(), top.clone());
    let dir = tokio::task::spawn_blocking(move || unpack_once(&blob, &dists, &sha256, &folder))
        .await
        .context("the unpacking task panicked")??;
    progress.say(&format!("{label} {version}: unpacked in {}", dir.display()));
    Ok(Dist { home: dir.join(top), version, sha256: resolved.sha256, size_bytes: resolved.size })
}

/// Unpacks the tarball `blob` into `dists/<sha256>/` unless that is there already, and
/// checks it holds `top/`. Blocking.
fn unpack_once(blob: &Path, dists: &Path, sha256: &str, top: &str) -> anyhow::Result<PathBuf> {
    let dir = dists.join(sha256);
    let done = |dir: &Path| dir.join(top).is_dir();
    if done(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(dists).with_context(|| format!("create {}", dists.display()))?;
    let lock_path = dists.join(format!(".{sha256}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("open {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("lock {}", lock_path.display()))?;
    // Another process may have unpacked it while this one waited.
    if done(&dir) {
        return Ok(dir);
    }
    // Whoever holds the lock owns every work folder of this blob: a leftover is from a
    // process that died mid-unpack.
    let prefix = format!(".{sha256}.tmp");
    for entry in std::fs::read_dir(dists).with_context(|| format!("read {}", dists.display()))?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    if dir.exists() {
        // Renamed into place without `top/`: not ours to trust.
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    let work = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(dists)
        .with_context(|| format!("create a work folder in {}", dists.display()))?;
    set_mode(work.path(), 0o755)?;
    let file = File::open(blob).with_context(|| format!("open {}", blob.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    archive.set_preserve_permissions(true);
    archive
        .unpack(work.path())
        .with_context(|| format!("unpack {} into {}", blob.display(), work.path().display()))?;
    if !work.path().join(top).is_dir() {
        bail!("{} holds no {top}/ folder", blob.display());
    }
    let unpacked = work.keep();
    std::fs::rename(&unpacked, &dir)
        .with_context(|| format!("rename {} to {}", unpacked.display(), dir.display()))?;
    Ok(dir)
}

/// A fresh folder for one test's nodes and logs, `0755` (a daemon running as another user
/// must be able to traverse it); removed when dropped.
pub fn scratch_dir(system: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("herd-{system}-"))
        .tempdir()
        .context("create a scratch folder")?;
    set_mode(dir.path(), 0o755)?;
    Ok(dir)
}

/// A TCP port free on `ip` right now (the kernel picks it; the test binds it soon after).
pub fn free_port(ip: Ipv4Addr) -> anyhow::Result<u16> {
    let [port] = free_ports(ip)?;
    Ok(port)
}

/// `N` distinct TCP ports free on `ip` right now.
pub fn free_ports<const N: usize>(ip: Ipv4Addr) -> anyhow::Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener = TcpListener::bind((ip, 0)).with_context(|| format!("bind {ip}:0"))?;
        *port = listener.local_addr().context("local address")?.port();
        listeners.push(listener);
    }
    Ok(ports)
}

/// The `java` to run: `$JAVA_HOME/bin/java` when set, else `java` from PATH.
pub fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join("bin").join("java"))
        .filter(|java| java.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// The JDK's home, for daemons that start JVMs themselves (YARN's NodeManager runs
/// `$JAVA_HOME/bin/java` in its containers, Storm's Supervisor its workers): `$JAVA_HOME` when
/// it holds `bin/java`, else the home of the `java` on PATH (symlinks resolved).
pub fn java_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|v| !v.is_empty()).map(PathBuf::from)
        && home.join("bin").join("java").is_file()
    {
        return Ok(home);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let java = std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .context("no JAVA_HOME and no `java` on PATH")?;
    let real = std::fs::canonicalize(&java).with_context(|| format!("resolve {}", java.display()))?;
    real.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .with_context(|| format!("{} is not in a JDK's bin/", real.display()))
}

/// Compiles the `.java` files directly in `sources` with `javac --release 17` against
/// `classpath` into `<out>/classes`, and packs those classes as `<out>/<jar_name>` (`jar`);
/// each tool is bounded by `timeout`. Returns the jar. Needs a JDK (the tools of
/// [`java_home`], else `javac` and `jar` on PATH): the smoke tests build their small jobs and
/// probes against the distribution's own jars this way.
pub async fn compile_java(
    sources: &Path,
    classpath: &str,
    out: &Path,
    jar_name: &str,
    timeout: Duration,
) -> anyhow::Result<PathBuf> {
    let tool = |name: &str| {
        java_home()
            .map(|home| home.join("bin").join(name))
            .ok()
            .filter(|path| path.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(sources).with_context(|| format!("read {}", sources.display()))? {
        let path = entry.with_context(|| format!("read {}", sources.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "java") {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("no .java files in {}", sources.display());
    }
    files.sort();
    let classes = out.join("classes");
    std::fs::create_dir_all(&classes).with_context(|| format!("create {}", classes.display()))?;
    let mut javac = Command::new(tool("javac"));
    javac
        .args(["-nowarn", "-encoding", "UTF-8", "--release", "17", "-cp", classpath, "-d"])
        .arg(&classes)
        .args(&files);
    run_tool(&format!("javac ({}; needs a JDK, not only a JRE)", sources.display()), javac, timeout).await?;
    let jar = out.join(jar_name);
    let mut pack = Command::new(tool("jar"));
    pack.arg("cf").arg(&jar).arg("-C").arg(&classes).arg(".");
    run_tool(&format!("jar {}", jar.display()), pack, timeout).await?;
    Ok(jar)
}

/// Starts a standalone ZooKeeper from the `zookeeper` distribution bound to `ip` on a free
/// port, its data in `dir` (with its logs): the coordination service the Storm and Samza
/// tests run their systems against (`tests/smoke_zookeeper.rs` tests ZooKeeper itself).
/// Returns the daemon and its client port once it answers `srvr` as a standalone server.
///
/// # Panics
/// If it does not answer within 90 s (the message has the log's tail).
pub async fn start_zookeeper(ip: Ipv4Addr, dir: &Path) -> anyhow::Result<(Daemon, u16)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dist = distribution("zookeeper").await?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("create {}", data.display()))?;
    let port = free_port(ip)?;
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
         clientPortAddress={ip}\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n",
        data.display()
    );
    std::fs::write(&config, text).with_context(|| format!("write {}", config.display()))?;
    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx256m")
        .arg(format!("-Dlogback.configurationFile={}/conf/logback.xml", dist.home.display()))
        .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(&config)
        .current_dir(dir);
    let mut zookeeper = Daemon::spawn("zookeeper", command, dir)?;
    zookeeper
        .wait_until("ZooKeeper answers srvr as a standalone server", Duration::from_secs(90), || async {
            let mut stream = tokio::net::TcpStream::connect((ip, port)).await?;
            stream.write_all(b"srvr").await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            anyhow::ensure!(answer.contains("Mode: standalone"), "srvr answered {answer:?}");
            anyhow::Ok(())
        })
        .await;
    Ok((zookeeper, port))
}

/// Starts a single combined KRaft broker + controller from the `kafka` distribution `dist`
/// on `ip` (its storage formatted first, in `dir`); returns it with its client port. The
/// caller waits for it with a real client.
pub async fn spawn_kafka(dist: &Dist, ip: Ipv4Addr, dir: &Path) -> anyhow::Result<(Daemon, u16)> {
    use base64::Engine as _;
    let [port, controller_port] = free_ports(ip)?;
    let properties = dir.join("server.properties");
    let text = format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@{ip}:{controller_port}\n\
         listeners=PLAINTEXT://{ip}:{port},CONTROLLER://{ip}:{controller_port}\n\
         advertised.listeners=PLAINTEXT://{ip}:{port}\n\
         inter.broker.listener.name=PLAINTEXT\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs={}/data\n\
         num.partitions=1\n\
         offsets.topic.replication.factor=1\n\
         transaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\n\
         group.initial.rebalance.delay.ms=0\n",
        dir.display()
    );
    std::fs::write(&properties, text).with_context(|| format!("write {}", properties.display()))?;
    // A cluster id is 16 random bytes in URL-safe base64 without padding (22 characters).
    // As Kafka's own `Uuid.randomUuid()`: never starting with `-`, which its command line
    // would take for an option.
    let cluster_id = loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            break id;
        }
    };
    let mut format = Command::new(java());
    format
        .arg(format!("-Dlog4j2.configurationFile={}/config/tools-log4j2.properties", dist.home.display()))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("kafka.tools.StorageTool")
        .args(["format", "-t", &cluster_id, "-c"])
        .arg(&properties);
    let formatted = run_tool("kafka-storage format", format, Duration::from_secs(120)).await?;
    anyhow::ensure!(formatted.contains("Formatting metadata directory"), "StorageTool printed {formatted:?}");
    let mut command = guarded_command(java(), None);
    command
        .args(["-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
        .args(["-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"])
        .arg("-Djava.awt.headless=true")
        .arg(format!("-Dlog4j2.configurationFile={}/config/log4j2.properties", dist.home.display()))
        .arg(format!("-Dkafka.logs.dir={}/logs", dir.display()))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("kafka.Kafka")
        .arg(&properties)
        .current_dir(dir);
    Ok((Daemon::spawn("kafka", command, dir)?, port))
}

/// A command that runs `program` so that it is killed (SIGKILL) if the test process dies
/// without unwinding: `setpriv --pdeathsig KILL [user switch] -- program`. With `as_user`
/// (`Some(("nobody", "nogroup"))`) the program runs as that user and group with no
/// supplementary groups (only root may do that).
///
/// The parent-death signal follows the *thread* that forked: spawn from the test's own
/// thread or a runtime worker, never from a `spawn_blocking` thread (those exit when idle).
pub fn guarded_command(program: impl AsRef<std::ffi::OsStr>, as_user: Option<(&str, &str)>) -> Command {
    let mut command = Command::new("setpriv");
    command.arg("--pdeathsig").arg("KILL");
    if let Some((user, group)) = as_user {
        command.arg(format!("--reuid={user}")).arg(format!("--regid={group}")).arg("--clear-groups");
    }
    command.arg("--").arg(program);
    command
}

/// A running process (the daemon under test) whose output goes to
/// `<dir>/<name>.stdout.log` and `<name>.stderr.log`. Dropping it kills its whole process
/// group with SIGKILL and waits for it.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Daemon {
    /// Starts `command` (in its own process group, stdin from /dev/null) with its output in
    /// log files in `dir`. The clock of [`uptime`](Self::uptime) starts here.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> anyhow::Result<Self> {
        let stdout = dir.join(format!("{name}.stdout.log"));
        let stderr = dir.join(format!("{name}.stderr.log"));
        let out = File::create(&stdout).with_context(|| format!("create {}", stdout.display()))?;
        let err = File::create(&stderr).with_context(|| format!("create {}", stderr.display()))?;
        command.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("start {name}: {command:?}"))?;
        eprintln!("[herd-test] started {name} (pid {}): {command:?}", child.id());
        Ok(Self { name: name.to_owned(), child, stdout, stderr, started })
    }

    /// The file its stdout goes to.
    pub fn stdout_log(&self) -> &Path {
        &self.stdout
    }

    /// The file its stderr goes to.
    pub fn stderr_log(&self) -> &Path {
        &self.stderr
    }

    /// Time since the process was started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its stdout and stderr, labelled with the files' paths.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for path in [&self.stdout, &self.stderr] {
            out.push_str(&format!("--- last {LOG_TAIL_LINES} lines of {} ---\n", path.display()));
            out.push_str(&tail(path, LOG_TAIL_LINES));
        }
        out
    }

    /// Runs `check` until it succeeds and returns its value; each attempt is bounded by
    /// 10 s (and by what is left of `timeout`), attempts are 200 ms apart.
    ///
    /// # Panics
    /// If the process exits first, or `timeout` passes: the message names `what`, the
    /// last attempt's error and the log's tail.
    pub async fn wait_until<T, E, F, Fut>(&mut self, what: &str, timeout: Duration, check: F) -> T
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.poll_until(what, timeout, check).await {
            Ok(value) => value,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`wait_until`](Self::wait_until), with the failure (and the log's tail) as an error.
    async fn poll_until<T, E, F, Fut>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<T, String>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let deadline = Instant::now() + timeout;
        let mut last_error = String::from("no attempt finished");
        let mut attempts = 0u32;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before {what} (after {attempts} attempts; last: {last_error})\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            attempts += 1;
            match tokio::time::timeout(left.min(ATTEMPT_TIMEOUT), check()).await {
                Ok(Ok(value)) => {
                    eprintln!(
                        "[herd-test] {}: {what} after {:.2}s ({attempts} attempts)",
                        self.name,
                        self.uptime().as_secs_f64()
                    );
                    return Ok(value);
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = format!("the attempt took over {:?}", left.min(ATTEMPT_TIMEOUT)),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting until {what} ({} started {:.1}s ago; {attempts} \
                     attempts; last: {last_error})\n{}",
                    self.name,
                    self.uptime().as_secs_f64(),
                    self.log_tail()
                ));
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Awaits `work` for at most `timeout` and returns its value.
    ///
    /// # Panics
    /// If it fails or times out: the message names `what`, the error and the log's tail.
    pub async fn expect_within<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> T {
        let failure = match tokio::time::timeout(timeout, work).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => format!("it took over {timeout:?}"),
        };
        let exited = self.exited().map(|s| format!(" ({} exited: {s})", self.name)).unwrap_or_default();
        panic!("{what} failed{exited}: {failure}\n{}", self.log_tail());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let pgid = nix::unistd::Pid::from_raw(self.child.id().cast_signed());
            // The group is the child's own (`process_group(0)`): it and whatever it forked.
            if nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).is_err() {
                let _ = self.child.kill();
            }
        }
        match self.child.wait() {
            Ok(status) => eprintln!("[herd-test] stopped {} ({status})", self.name),
            Err(e) => eprintln!("[herd-test] could not wait for {}: {e}", self.name),
        }
    }
}

/// The last `lines` lines of the file at `path` (reads at most its last 256 KiB).
fn tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 256 << 10;
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return format!("(cannot open: {e})\n"),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    out.push('\n');
    out
}

/// The processes whose command line contains `needle` (e.g. a test's scratch folder), as
/// (pid, command line): to check that what a daemon started went down with it, or to find
/// what it started outside its process group (YARN runs each container in its own session).
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        // Gone meanwhile, or a zombie (an empty command line): not running.
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim_end().to_owned()));
        }
    }
    found
}

/// Runs a one-shot command (a tool from a distribution) to completion within `timeout`;
/// returns its stdout. Fails with its exit status and output when it fails.
pub async fn run_tool(what: &str, command: Command, timeout: Duration) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::from(command);
    command.stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .with_context(|| format!("{what} did not finish within {timeout:?}"))?
        .with_context(|| format!("start {what}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// How long a system took to become ready from the assembled distribution on this machine:
/// the floor later tests compare framework deploy times against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Floor {
    /// The system, e.g. `kafka`.
    pub system: String,
    /// Its version.
    pub version: String,
    /// Seconds from starting the process to the first successful readiness check.
    pub ready_secs: f64,
    /// Size of the assembled distribution (the tarball) in bytes.
    pub size_bytes: u64,
    /// When it was measured (seconds since the Unix epoch).
    pub recorded_at: u64,
}

/// Writes `$HERD_TEST_CACHE/floors/<system>.json` (replacing the previous one) and prints
/// it; returns the file's path.
pub fn record_floor(
    system: &str,
    version: &str,
    ready: Duration,
    size_bytes: u64,
) -> anyhow::Result<PathBuf> {
    let floor = Floor {
        system: system.to_owned(),
        version: version.to_owned(),
        ready_secs: (ready.as_secs_f64() * 1000.0).round() / 1000.0,
        size_bytes,
        recorded_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let path = write_floor(&test_cache().join("floors"), &floor)?;
    eprintln!("[herd-test] floor {}: {}", path.display(), serde_json::to_string(&floor).unwrap_or_default());
    Ok(path)
}

/// Writes `floor` as `<dir>/<system>.json` (staged, then renamed into place).
fn write_floor(dir: &Path, floor: &Floor) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(floor).context("serialize the floor")?;
    let path = dir.join(format!("{}.json", floor.system));
    let staged = dir.join(format!(".{}.json.{}", floor.system, std::process::id()));
    std::fs::write(&staged, format!("{json}\n")).with_context(|| format!("write {}", staged.display()))?;
    std::fs::rename(&staged, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use herd_core::spec::{ServiceSpec, SpecFormat};

    /// A valid one-pod spec to carry an artifact through validation.
    const CARRIER: &str = r#"
name = "distributions"

[[pods]]
name = "node"
count = 1

[[pods.tasks]]
name = "daemon"
goal = "running"
command = "true"
cpus = 0.1
mem_mb = 32
"#;

    #[test]
    fn every_distribution_parses_and_passes_validation() {
        let distributions = distributions();
        for system in
            ["zookeeper", "kafka", "cassandra", "opensearch", "hadoop", "spark4", "spark35", "storm", "samza"]
        {
            assert!(distributions.contains_key(system), "no [{system}] in configs/distributions.toml");
        }
        for (key, artifact) in distributions {
            assert_eq!(artifact.name.as_deref(), Some(key.as_str()), "[{key}] must set name = {key:?}");
            assert!(artifact.maven.is_some() || artifact.pypi.is_some(), "[{key}] is not assembled");
            let mut spec = ServiceSpec::parse(CARRIER, SpecFormat::Toml, "carrier.toml").unwrap();
            spec.pods[0].artifacts.push(artifact);
            if let Err(errors) = herd_core::validation::validate(&spec) {
                let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
                panic!("[{key}] is invalid:\n{}", shown.join("\n"));
            }
        }
    }

    #[test]
    fn launch_details_are_refused_in_the_distributions_format() {
        let text = "[x]\nname = \"x\"\n[x.maven]\nversion = \"1\"\ndirs = []\n";
        assert!(toml::from_str::<BTreeMap<String, ArtifactSpec>>(text).is_ok());
        let with_jvm_args = text.replace("name = \"x\"\n", "name = \"x\"\njvm_args = []\n");
        let err = toml::from_str::<BTreeMap<String, ArtifactSpec>>(&with_jvm_args).unwrap_err();
        assert!(err.to_string().contains("jvm_args"), "{err}");
    }

    #[test]
    fn unpacking_twice_reuses_the_first_folder() {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src/demo-1.0");
        std::fs::create_dir_all(src.join("libs")).unwrap();
        std::fs::write(src.join("libs/a.jar"), b"jar").unwrap();
        let blob = work.path().join("demo.tar.gz");
        let gz = flate2::write::GzEncoder::new(File::create(&blob).unwrap(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("demo-1.0", &src).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let dists = work.path().join("dists");
        let dir = unpack_once(&blob, &dists, "abc", "demo-1.0").unwrap();
        assert_eq!(std::fs::read(dir.join("demo-1.0/libs/a.jar")).unwrap(), b"jar");
        std::fs::remove_file(&blob).unwrap();
        assert_eq!(unpack_once(&blob, &dists, "abc", "demo-1.0").unwrap(), dir, "no second unpack");
        let leftovers: Vec<_> = std::fs::read_dir(&dists)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn the_log_tail_keeps_the_last_lines() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        assert_eq!(tail(&path, 2), "line 98\nline 99\n");
    }

    #[tokio::test]
    async fn a_daemon_that_exits_early_fails_the_wait_with_its_log() {
        let work = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        // Alive long enough for a first attempt even on a loaded machine, then fails.
        command.args(["-c", "echo booting; echo broken >&2; sleep 1; exit 3"]);
        let mut daemon = Daemon::spawn("demo", command, work.path()).unwrap();
        let failure = daemon
            .poll_until("it serves", Duration::from_secs(30), || async { Err::<(), _>("refused") })
            .await
            .unwrap_err();
        assert!(failure.contains("demo exited (exit status: 3) before it serves"), "{failure}");
        assert!(
            failure.contains("refused") && failure.contains("booting") && failure.contains("broken"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_wait_that_times_out_says_so_with_the_last_error() {
        let work = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo still booting; exec sleep 30"]);
        let mut daemon = Daemon::spawn("slow", command, work.path()).unwrap();
        let failure = daemon
            .poll_until("it serves", Duration::from_millis(500), || async {
                Err::<(), _>("connection refused")
            })
            .await
            .unwrap_err();
        assert!(failure.starts_with("timed out after 500ms waiting until it serves"), "{failure}");
        assert!(failure.contains("connection refused") && failure.contains("still booting"), "{failure}");
    }

    #[tokio::test]
    async fn dropping_a_daemon_kills_its_process_group() {
        let work = tempfile::tempdir().unwrap();
        let pid_file = work.path().join("grandchild.pid");
        let mut command = guarded_command("sh", None);
        command.arg("-c").arg(format!("sleep 300 & echo $! > {}; wait", pid_file.display()));
        let mut daemon = Daemon::spawn("sleeper", command, work.path()).unwrap();
        let grandchild: i32 = daemon
            .wait_until("the grandchild's pid is written", Duration::from_secs(10), || {
                let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
                async move { text.trim().parse::<i32>() }
            })
            .await;
        drop(daemon);
        let gone = (0..100).any(|_| {
            let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its reaper.
            let dead = stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'));
            if !dead {
                std::thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "the grandchild {grandchild} survived");
    }

    #[test]
    fn a_floor_is_written_as_json_and_replaced() {
        let work = tempfile::tempdir().unwrap();
        let mut floor = Floor {
            system: "demo".to_owned(),
            version: "1.0".to_owned(),
            ready_secs: 1.5,
            size_bytes: 42,
            recorded_at: 7,
        };
        let dir = work.path().join("floors");
        write_floor(&dir, &floor).unwrap();
        floor.ready_secs = 2.25;
        let path = write_floor(&dir, &floor).unwrap();
        assert_eq!(path, dir.join("demo.json"));
        let back: Floor = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, floor);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no staged file left");
    }
}
