//! What a service is: [`ServiceSpec`], read from TOML or YAML. A service has pod types; a
//! pod type has a count, placement constraints, volumes, artifacts and tasks; every
//! instance of a pod type runs as one Mesos task group on its own reserved resources.
//!
//! Field names are snake_case in both formats; unknown fields are errors (a typo must not
//! silently become a default). Validation of values lives in [`crate::validation`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod config;
mod parse;
mod pinned;

pub use config::{ConfigError, parse_config};
pub use parse::{SpecError, SpecFormat};
pub use pinned::{PINNED_ORIGIN, PinnedError, pinned_artifact};

/// A service: one framework's pods, as an operator configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name: the framework name and the prefix of every task id.
    pub name: String,
    /// Mesos role the service reserves resources for (default `<name>-role`).
    #[serde(default)]
    pub role: Option<String>,
    /// Principal that owns the reservations and volumes (default `<name>-principal`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Unix user tasks run as (default: the user running the scheduler).
    #[serde(default)]
    pub user: Option<String>,
    /// Pod types, deployed in this order.
    pub pods: Vec<PodSpec>,
    /// Operator plans besides the built-in ones (deploy, update, recovery, decommission,
    /// uninstall), e.g. a repair or a backup.
    #[serde(default)]
    pub plans: Vec<PlanSpec>,
    /// How failed instances are recovered.
    #[serde(default)]
    pub recovery: RecoverySpec,
    /// Queues that jobs submitted at run time wait in (see `scheduler::jobs`); none means
    /// one queue, `default`.
    #[serde(default)]
    pub queues: Vec<QueueSpec>,
}

/// A queue of jobs: the teams sharing a service's cluster, each with a weight and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Its name (jobs name it).
    pub name: String,
    /// Its share relative to the other queues' (a queue of weight 2 gets twice the CPUs of
    /// one of weight 1 when both have jobs waiting).
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Most jobs running at once.
    #[serde(default)]
    pub max_running: Option<u32>,
    /// Most CPUs its running jobs are charged at once.
    #[serde(default)]
    pub max_cpus: Option<f64>,
}

fn default_weight() -> f64 {
    1.0
}

/// Recovery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySpec {
    /// Seconds an instance's agent may stay unreachable before the instance is replaced
    /// on another agent (its old reservations and volumes are released when they come
    /// back). The timer survives scheduler restarts.
    #[serde(default = "default_permanent_after")]
    pub permanent_failure_after_secs: f64,
}

fn default_permanent_after() -> f64 {
    1200.0
}

impl Default for RecoverySpec {
    fn default() -> Self {
        Self { permanent_failure_after_secs: default_permanent_after() }
    }
}

impl ServiceSpec {
    /// The role, defaulted.
    pub fn role(&self) -> String {
        self.role.clone().unwrap_or_else(|| format!("{}-role", self.name))
    }

    /// The principal, defaulted.
    pub fn principal(&self) -> String {
        self.principal.clone().unwrap_or_else(|| format!("{}-principal", self.name))
    }

    /// The pod type called `name`.
    pub fn pod(&self, name: &str) -> Option<&PodSpec> {
        self.pods.iter().find(|p| p.name == name)
    }

    /// The operator plan called `name`.
    pub fn plan(&self, name: &str) -> Option<&PlanSpec> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// Whether task `task` of pod type `pod` belongs to an operator plan or drains a
    /// decommissioned instance: such a task runs only when its plan runs (or its instance
    /// is scaled in), never as part of deploy, update or recovery.
    pub fn is_plan_task(&self, pod: &str, task: &str) -> bool {
        self.plans
            .iter()
            .flat_map(|p| &p.phases)
            .any(|phase| phase.pod == pod && phase.tasks.iter().any(|t| t == task))
            || self.pod(pod).is_some_and(|p| p.decommission_tasks.iter().any(|t| t == task))
    }

    /// The tasks of `pod` that deploy, update and recovery run (all but operator plans' own).
    pub fn deploy_tasks<'a>(&'a self, pod: &'a PodSpec) -> impl Iterator<Item = &'a TaskSpec> + 'a {
        pod.tasks.iter().filter(move |t| !self.is_plan_task(&pod.name, &t.name))
    }
}

/// How a phase walks its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One step at a time, in order.
    #[default]
    Serial,
    /// All steps at once.
    Parallel,
    /// The first step, then wait for an operator `resume`, then the rest serially.
    Canary,
}

/// A pod type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// Pod type name; instances are `<name>-<index>`.
    pub name: String,
    /// Number of instances.
    pub count: u32,
    /// Placement constraints, Marathon style: `"hostname:UNIQUE"`, `"rack:GROUP_BY:3"`,
    /// `"zone:LIKE:us-.*"`, `"hostname:MAX_PER:2"`, `"rack:CLUSTER:r1"`, `"rack:UNLIKE:r3"`.
    #[serde(default)]
    pub placement: Vec<String>,
    /// How the deploy plan walks this pod type's instances.
    #[serde(default)]
    pub strategy: Strategy,
    /// How a config change rolls through instances that already ran (default: `strategy`).
    /// A quorum that must start together deploys `parallel` but updates `serial`.
    #[serde(default)]
    pub update_strategy: Option<Strategy>,
    /// Reserve every instance before any of them launches, so that each task's config can
    /// name all of them (static quorums: KRaft controllers, a ZooKeeper ensemble). The
    /// first deploy places every instance, then launches them.
    #[serde(default)]
    pub gang: bool,
    /// Set when the count cannot change once deployed (not even through decommission): the
    /// reason, shown to whoever tries (e.g. Kafka brokers that are the quorum's static voters).
    #[serde(default)]
    pub fixed_count: Option<String>,
    /// Unix user for this pod's tasks (default: the service's).
    #[serde(default)]
    pub user: Option<String>,
    /// Persistent volumes of every instance (shared by its tasks).
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Files fetched into every instance's sandbox.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    /// The tasks of every instance.
    pub tasks: Vec<TaskSpec>,
    /// FINISH tasks that drain an instance being scaled in, in order: they run inside the
    /// instance while its other tasks still run (moving its data to the instances that
    /// stay: Cassandra's `nodetool decommission`, Kafka's partition reassignment), and only
    /// once they finished are its tasks killed and its reservations and volumes released.
    /// A failed drain is retried with backoff; an operator can force it. Not run on
    /// uninstall or replace.
    #[serde(default)]
    pub decommission_tasks: Vec<String>,
}

impl PodSpec {
    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// Which kind of disk a volume lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskKind {
    /// A slice of the agent's root disk.
    #[default]
    Root,
    /// A whole MOUNT disk (consumed entirely; `size_mb` is the minimum).
    Mount,
}

/// A persistent volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Name (also the persistence id's suffix).
    pub name: String,
    /// Path inside the sandbox, relative.
    pub path: String,
    /// Size in MB.
    pub size_mb: f64,
    /// Disk kind.
    #[serde(default)]
    pub kind: DiskKind,
}

/// Something to fetch into the sandbox: a file at a URL, or a distribution herd assembles
/// from a Maven repository or a PyPI source archive (see [`ArtifactSource`]).
///
/// Exactly one of `url`, `maven` and `pypi` is set. A `maven` or `pypi` source is resolved by
/// the runtime (or `herd artifacts fetch`) into a tarball in a content-addressed cache, which
/// agents then fetch from the scheduler's API at [`ArtifactSpec::fetch_url`].
///
/// Equality ignores `fetch_url`: it is where the artifact is served from this time, not part
/// of the configuration (a scheduler that restarts on another port has the same spec).
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// Name shown in messages; for `maven` and `pypi` sources (where it is required) also the
    /// tarball's top-level folder, `<name>-<version>/`.
    #[serde(default)]
    pub name: Option<String>,
    /// `http(s)://` or `file://` URL of the file.
    #[serde(default)]
    pub url: Option<String>,
    /// Expected SHA-256 of the file at `url` (hex), checked before use.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Expected SHA-512 of the file at `url` (hex), checked before use.
    #[serde(default)]
    pub sha512: Option<String>,
    /// A distribution assembled from jars in a Maven repository.
    #[serde(default)]
    pub maven: Option<MavenSource>,
    /// A distribution taken from a PyPI package's source archive.
    #[serde(default)]
    pub pypi: Option<PypiSource>,
    /// Extract archives (default true).
    #[serde(default = "yes")]
    pub extract: bool,
    /// Use the agent's fetcher cache (default true).
    #[serde(default = "yes")]
    pub cache: bool,
    /// Make the file executable (and do not extract it).
    #[serde(default)]
    pub executable: bool,
    /// Name to save the file as (relative to the sandbox).
    #[serde(default)]
    pub output_file: Option<String>,
    /// Where agents fetch the artifact from, once the runtime has resolved it (e.g.
    /// `http://127.0.0.1:PORT/v1/artifacts/<sha256>`); never read from a config.
    #[serde(skip)]
    pub fetch_url: Option<String>,
}

impl PartialEq for ArtifactSpec {
    fn eq(&self, other: &Self) -> bool {
        // Every field but `fetch_url` (destructured so a new field cannot be forgotten).
        let Self {
            name,
            url,
            sha256,
            sha512,
            maven,
            pypi,
            extract,
            cache,
            executable,
            output_file,
            fetch_url: _,
        } = self;
        *name == other.name
            && *url == other.url
            && *sha256 == other.sha256
            && *sha512 == other.sha512
            && *maven == other.maven
            && *pypi == other.pypi
            && *extract == other.extract
            && *cache == other.cache
            && *executable == other.executable
            && *output_file == other.output_file
    }
}

/// Where an artifact comes from: the one source an [`ArtifactSpec`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource<'a> {
    /// A file at a URL, with optional checksums.
    Url {
        /// `http(s)://` or `file://` URL.
        url: &'a str,
        /// Expected SHA-256 (hex).
        sha256: Option<&'a str>,
        /// Expected SHA-512 (hex).
        sha512: Option<&'a str>,
    },
    /// A distribution assembled from a Maven repository.
    Maven(&'a MavenSource),
    /// A distribution taken from a PyPI source archive.
    Pypi(&'a PypiSource),
}

impl ArtifactSource<'_> {
    /// `url`, `maven` or `pypi`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Url { .. } => "url",
            Self::Maven(_) => "maven",
            Self::Pypi(_) => "pypi",
        }
    }
}

impl ArtifactSpec {
    /// A `url` artifact with defaults for everything else.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            name: None,
            url: Some(url.into()),
            sha256: None,
            sha512: None,
            maven: None,
            pypi: None,
            extract: true,
            cache: true,
            executable: false,
            output_file: None,
            fetch_url: None,
        }
    }

    /// The artifact's source, or `None` unless exactly one of `url`, `maven` and `pypi` is
    /// set (validation reports that).
    pub fn source(&self) -> Option<ArtifactSource<'_>> {
        match (&self.url, &self.maven, &self.pypi) {
            (Some(url), None, None) => Some(ArtifactSource::Url {
                url,
                sha256: self.sha256.as_deref(),
                sha512: self.sha512.as_deref(),
            }),
            (None, Some(maven), None) => Some(ArtifactSource::Maven(maven)),
            (None, None, Some(pypi)) => Some(ArtifactSource::Pypi(pypi)),
            _ => None,
        }
    }

    /// The URL agents fetch: the resolved [`fetch_url`](Self::fetch_url) field, else `url`.
    /// `None` for a `maven` or `pypi` source not resolved yet.
    pub fn fetch_url(&self) -> Option<&str> {
        self.fetch_url.as_deref().or(self.url.as_deref())
    }

    /// The name to show in messages: `name`, else the file name of `url`, else the source
    /// kind.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let file = self.url.as_deref().map(|url| {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            path.rsplit('/').next().unwrap_or(path).to_owned()
        });
        match file.filter(|f| !f.is_empty()) {
            Some(file) => file,
            None => self.source().map_or("artifact", |s| s.kind()).to_owned(),
        }
    }

    /// A stable key for what the source resolves to: the hex SHA-256 of the canonical JSON of
    /// the fields that define it (kind, url and checksums; or name and the `maven`/`pypi`
    /// table). Extraction, caching and naming flags are not part of it. Digests are compared
    /// in lowercase. Invalid sources (none or several set) get the key of their raw fields.
    pub fn source_key(&self) -> String {
        use sha2::Digest;
        /// The fields that define a source, in a fixed order (a struct, not a map, so the
        /// JSON does not depend on serde_json's `preserve_order` feature).
        #[derive(Serialize)]
        struct Canonical<'a> {
            kind: &'a str,
            name: Option<&'a str>,
            url: Option<&'a str>,
            sha256: Option<String>,
            sha512: Option<String>,
            maven: Option<&'a MavenSource>,
            pypi: Option<PypiSource>,
        }
        let lower = |d: Option<&str>| d.map(str::to_ascii_lowercase);
        let pypi_lower = |p: &PypiSource| PypiSource { sha256: lower(p.sha256.as_deref()), ..p.clone() };
        let canonical = match self.source() {
            Some(ArtifactSource::Url { url, sha256, sha512 }) => Canonical {
                kind: "url",
                name: None,
                url: Some(url),
                sha256: lower(sha256),
                sha512: lower(sha512),
                maven: None,
                pypi: None,
            },
            Some(source) => Canonical {
                kind: source.kind(),
                name: self.name.as_deref(),
                url: None,
                sha256: None,
                sha512: None,
                maven: self.maven.as_ref(),
                pypi: self.pypi.as_ref().map(pypi_lower),
            },
            None => Canonical {
                kind: "invalid",
                name: self.name.as_deref(),
                url: self.url.as_deref(),
                sha256: lower(self.sha256.as_deref()),
                sha512: lower(self.sha512.as_deref()),
                maven: self.maven.as_ref(),
                pypi: self.pypi.as_ref().map(pypi_lower),
            },
        };
        // Serializing plain structs, strings and BTreeMaps cannot fail.
        let json = serde_json::to_string(&canonical).unwrap_or_default();
        let digest = sha2::Sha256::digest(json.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A distribution assembled from a Maven repository: each of `dirs` is filled with the jars
/// of its coordinates (and their runtime dependencies), `files` are written beside them,
/// and the lot is packed as `<name>-<version>.tar.gz` holding one folder `<name>-<version>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MavenSource {
    /// The distribution's version label (the folder is `<name>-<version>/`), e.g. `3.9.0`.
    pub version: String,
    /// Base URL of the Maven repository (default: whatever Maven's settings say, usually
    /// Maven Central or a mirror).
    #[serde(default)]
    pub repository: Option<String>,
    /// The folders of the distribution and the jars each holds.
    pub dirs: Vec<MavenDir>,
    /// Extra text files: path inside the distribution → content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// A folder of a distribution filled with jars from a Maven repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MavenDir {
    /// Path inside the distribution, e.g. `libs`.
    pub path: String,
    /// `group:artifact:version`, `group:artifact:version:classifier`, or Maven's own
    /// `group:artifact:packaging:classifier:version`.
    pub coordinates: Vec<String>,
    /// `group:artifact` (either may be `*`) left out of every listed dependency's tree.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Include the coordinates' runtime dependencies (default true).
    #[serde(default = "yes")]
    pub transitive: bool,
}

/// A distribution taken from a PyPI package's source archive (sdist): e.g. pyspark's sdist
/// carries the whole Spark distribution under `deps/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiSource {
    /// Package name, e.g. `pyspark`.
    pub package: String,
    /// Package version, e.g. `3.5.5`; also the distribution's version label.
    pub version: String,
    /// Expected SHA-256 of the sdist (default: the digest PyPI publishes; when both exist
    /// they must agree).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Base URL of the PyPI JSON API (default `https://pypi.org/pypi`).
    #[serde(default)]
    pub index: Option<String>,
    /// Folder inside the sdist's top-level folder that becomes the distribution root
    /// (default: the top-level folder itself), e.g. `deps` for pyspark.
    #[serde(default)]
    pub root: Option<String>,
    /// Extra folders of Maven jars added into the distribution (e.g. Spark's examples jar).
    #[serde(default)]
    pub dirs: Vec<MavenDir>,
    /// Extra text files: path inside the distribution → content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// A Maven artifact named by a [`MavenDir`] coordinate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenCoordinate {
    /// Group id, e.g. `org.apache.kafka`.
    pub group: String,
    /// Artifact id, e.g. `kafka_2.13`.
    pub artifact: String,
    /// Version, e.g. `3.9.0` (an exact version: ranges would make assembly unrepeatable).
    pub version: String,
    /// Packaging / type (default `jar`).
    pub packaging: Option<String>,
    /// Classifier, e.g. `tests`.
    pub classifier: Option<String>,
}

impl MavenCoordinate {
    /// Parses `group:artifact:version`, `group:artifact:version:classifier` or Maven's own
    /// `group:artifact:packaging:classifier:version`. The error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let owned = |s: &str| s.to_owned();
        let coordinate = match parts.as_slice() {
            [g, a, v] => Self {
                group: owned(g),
                artifact: owned(a),
                version: owned(v),
                packaging: None,
                classifier: None,
            },
            [g, a, v, c] => Self {
                group: owned(g),
                artifact: owned(a),
                version: owned(v),
                packaging: None,
                classifier: Some(owned(c)),
            },
            [g, a, p, c, v] => Self {
                group: owned(g),
                artifact: owned(a),
                version: owned(v),
                packaging: Some(owned(p)),
                classifier: Some(owned(c)),
            },
            _ => {
                return Err(format!(
                    "{text:?} has {} parts separated by ':' (expected group:artifact:version, \
                     group:artifact:version:classifier or group:artifact:packaging:classifier:version)",
                    parts.len()
                ));
            }
        };
        let named = [
            ("group", Some(&coordinate.group)),
            ("artifact", Some(&coordinate.artifact)),
            ("version", Some(&coordinate.version)),
            ("packaging", coordinate.packaging.as_ref()),
            ("classifier", coordinate.classifier.as_ref()),
        ];
        for (what, part) in named {
            let Some(part) = part else { continue };
            if part.is_empty() {
                return Err(format!("{text:?} has an empty {what}"));
            }
            if what == "version" && part.contains(['[', ']', '(', ')', ',']) {
                return Err(format!(
                    "{text:?} has the version range {part:?} (a range resolves to different jars over \
                     time; the same source must always give the same tarball)"
                ));
            }
            if let Some(c) = part.chars().find(|c| !maven_id_char(*c)) {
                return Err(format!(
                    "{text:?} has {c:?} in its {what} (only letters, digits, '.', '_', '-' and '+')"
                ));
            }
        }
        Ok(coordinate)
    }
}

/// Whether `c` may appear in a Maven group, artifact, version, packaging or classifier.
pub(crate) fn maven_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')
}

/// The PyPI JSON API used when a `pypi` source names no index.
pub const DEFAULT_PYPI_INDEX: &str = "https://pypi.org/pypi";

fn yes() -> bool {
    true
}

/// What a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// A server: kept running, relaunched when it dies.
    #[default]
    Running,
    /// Runs to completion on every deploy or update (e.g. an init step); relaunched only if
    /// it fails.
    Finish,
    /// Runs to completion once in the instance's life (e.g. formatting storage).
    Once,
}

/// A named port the task needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// Name, unique in the pod (`http`, `broker`...).
    pub name: String,
    /// Fixed port number, or 0 for any port the offer has.
    #[serde(default)]
    pub port: u16,
    /// Environment variable carrying the port (default `PORT_<NAME>`).
    #[serde(default)]
    pub env: Option<String>,
    /// The service's main endpoint (Kafka's client listener): `herd endpoints SVC` prints
    /// its addresses as one comma-separated line. At most one port of a service.
    #[serde(default)]
    pub primary: bool,
}

impl PortSpec {
    /// The variable the port is exported as.
    pub fn env_key(&self) -> String {
        self.env.clone().unwrap_or_else(|| format!("PORT_{}", self.name.to_uppercase().replace('-', "_")))
    }
}

/// A config file rendered per instance from a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Name.
    pub name: String,
    /// The template (minijinja syntax).
    pub template: String,
    /// Where the rendered file goes, relative to the sandbox.
    pub dest: String,
}

/// How a health or readiness check probes the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// A shell command; exit 0 = good.
    #[serde(default)]
    pub command: Option<String>,
    /// An HTTP GET of `path` on the named port; 2xx/3xx = good.
    #[serde(default)]
    pub http: Option<HttpCheckSpec>,
    /// A TCP connect to the named port.
    #[serde(default)]
    pub tcp: Option<TcpCheckSpec>,
    /// Readiness only: a probe the framework runs from the scheduler (e.g. Kafka's
    /// `in-sync`: the broker is registered and no partition is under-replicated). The task
    /// is ready once the probe passes (and the command/http/tcp check, if also set).
    #[serde(default)]
    pub probe: Option<String>,
    /// Seconds between checks.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// Seconds before the first check.
    #[serde(default)]
    pub delay_secs: f64,
    /// Seconds a check may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Health only: seconds during which failures are ignored until the first success.
    #[serde(default = "default_grace")]
    pub grace_period_secs: f64,
    /// Health only: failures in a row before the task is killed.
    #[serde(default = "default_failures")]
    pub max_consecutive_failures: u32,
}

fn default_interval() -> f64 {
    5.0
}
fn default_timeout() -> f64 {
    10.0
}
fn default_grace() -> f64 {
    30.0
}
fn default_failures() -> u32 {
    3
}

/// The HTTP form of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckSpec {
    /// Name of one of the task's ports.
    pub port: String,
    /// Path (default `/`).
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".to_owned()
}

/// The TCP form of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheckSpec {
    /// Name of one of the task's ports.
    pub port: String,
}

/// A task of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Name, unique in the pod.
    pub name: String,
    /// What the task is for.
    #[serde(default)]
    pub goal: Goal,
    /// Shell command (a template: rendered per instance like the configs).
    pub command: String,
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem_mb: f64,
    /// Sandbox disk in MB (besides the pod's volumes).
    #[serde(default)]
    pub disk_mb: f64,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Environment (values are templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config files rendered per instance.
    #[serde(default)]
    pub configs: Vec<ConfigSpec>,
    /// Health check: failing it kills the task (then recovery relaunches it).
    #[serde(default)]
    pub health_check: Option<CheckSpec>,
    /// Readiness check: a step completes only once it passes.
    #[serde(default)]
    pub readiness_check: Option<CheckSpec>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default)]
    pub kill_grace_secs: Option<f64>,
}

/// An operator-defined plan, e.g. a repair: runs some tasks of a pod type's instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Plan name (`repair`, `backup`...).
    pub name: String,
    /// Parameters the operator must give (`-p KEY=VALUE`), exported to the tasks' env.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// How the phases run.
    #[serde(default)]
    pub strategy: Strategy,
    /// Phases.
    pub phases: Vec<PhaseSpec>,
}

/// A phase of an operator plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Phase name.
    pub name: String,
    /// The pod type whose instances are the steps.
    pub pod: String,
    /// The tasks to run in each instance (goal FINISH or ONCE).
    pub tasks: Vec<String>,
    /// How the steps run.
    #[serde(default)]
    pub strategy: Strategy,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAVEN_ARTIFACT: &str = r#"
name = "zookeeper"
output_file = "zookeeper-3.9.5.tar.gz"

[maven]
version = "3.9.5"
repository = "https://repo.maven.apache.org/maven2"
files = { "conf/zoo.cfg" = "tickTime=2000\n" }

[[maven.dirs]]
path = "lib"
coordinates = ["org.apache.zookeeper:zookeeper:3.9.5"]
exclude = ["io.netty:netty-tcnative-boringssl-static"]

[[maven.dirs]]
path = "tools"
coordinates = ["commons-cli:commons-cli:1.5.0"]
transitive = false
"#;

    fn maven_artifact() -> ArtifactSpec {
        toml::from_str(MAVEN_ARTIFACT).unwrap()
    }

    #[test]
    fn a_maven_artifact_parses_with_defaults() {
        let artifact = maven_artifact();
        let Some(ArtifactSource::Maven(maven)) = artifact.source() else { panic!("{artifact:?}") };
        assert_eq!(maven.dirs.len(), 2);
        assert!(maven.dirs[0].transitive, "transitive defaults to true");
        assert!(!maven.dirs[1].transitive);
        assert_eq!(maven.files["conf/zoo.cfg"], "tickTime=2000\n");
        assert!(artifact.extract && artifact.cache && !artifact.executable);
        assert_eq!(artifact.fetch_url(), None, "a maven source has no URL until resolved");
        let err =
            toml::from_str::<ArtifactSpec>("url = \"http://h/a\"\nfetch_url = \"http://x\"").unwrap_err();
        assert!(err.to_string().contains("fetch_url"), "fetch_url is not a config field: {err}");
    }

    #[test]
    fn the_source_is_the_one_field_set() {
        let url = ArtifactSpec::from_url("https://h/kafka_2.13-3.9.0.tgz?x=1");
        assert_eq!(url.source().map(|s| s.kind()), Some("url"));
        assert_eq!(url.display_name(), "kafka_2.13-3.9.0.tgz");
        let mut both = maven_artifact();
        both.url = Some("https://h/a".to_owned());
        assert_eq!(both.source(), None);
        let mut none = maven_artifact();
        none.maven = None;
        assert_eq!(none.source(), None);
    }

    #[test]
    fn the_fetch_url_is_the_resolved_one_else_the_url() {
        let mut artifact = ArtifactSpec::from_url("https://h/a.tgz");
        assert_eq!(artifact.fetch_url(), Some("https://h/a.tgz"));
        artifact.fetch_url = Some("http://127.0.0.1:1/v1/artifacts/abc".to_owned());
        assert_eq!(artifact.fetch_url(), Some("http://127.0.0.1:1/v1/artifacts/abc"));
    }

    #[test]
    fn artifact_equality_ignores_the_fetch_url() {
        let mut resolved = maven_artifact();
        resolved.fetch_url = Some("http://127.0.0.1:1/v1/artifacts/abc".to_owned());
        assert_eq!(resolved, maven_artifact());
        let mut changed = maven_artifact();
        changed.output_file = None;
        assert_ne!(changed, maven_artifact());
    }

    #[test]
    fn the_source_key_is_stable_and_covers_exactly_the_source() {
        let key = maven_artifact().source_key();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(key, maven_artifact().source_key(), "same source, same key");
        // Flags that do not change what is assembled keep the key.
        let mut flags = maven_artifact();
        flags.extract = false;
        flags.output_file = None;
        flags.fetch_url = Some("http://x".to_owned());
        assert_eq!(flags.source_key(), key);
        // Anything that changes the tarball changes the key.
        let changes: [fn(&mut ArtifactSpec); 5] = [
            |a| a.name = Some("zk".to_owned()),
            |a| a.maven.as_mut().unwrap().version = "3.9.6".to_owned(),
            |a| a.maven.as_mut().unwrap().dirs[1].transitive = true,
            |a| a.maven.as_mut().unwrap().dirs[0].exclude.clear(),
            |a| {
                a.maven.as_mut().unwrap().files.insert("conf/x".to_owned(), String::new());
            },
        ];
        for change in changes {
            let mut other = maven_artifact();
            change(&mut other);
            assert_ne!(other.source_key(), key, "{other:?}");
        }
        // Digests are compared in lowercase.
        let mut lower = ArtifactSpec::from_url("https://h/a");
        lower.sha256 = Some("ab".repeat(32));
        let mut upper = lower.clone();
        upper.sha256 = Some("AB".repeat(32));
        assert_eq!(lower.source_key(), upper.source_key());
        assert_ne!(lower.source_key(), ArtifactSpec::from_url("https://h/a").source_key());
    }
}
