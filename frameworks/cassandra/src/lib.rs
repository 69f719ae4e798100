//! # herd-cassandra
//!
//! Apache Cassandra on Mesos: the framework's config ([`CassandraConfig`], the documented
//! default is `configs/cassandra.toml`) becomes a herd [`ServiceSpec`] with one `node` pod
//! type — N instances, the first K of them seeds. It is a spec builder and a readiness
//! probe, nothing more: the core reserves, launches, restarts and rolls the nodes; this
//! crate never talks to Mesos.
//!
//! Each node:
//! - keeps one persistent volume (`data/`) holding Cassandra's data, commitlog, hints,
//!   saved caches and CDC folders, so a restart on the same agent finds its data;
//! - listens on three ports reserved from its agent's offer: `native` (CQL, the service's
//!   main endpoint: `herd endpoints cassandra` prints one contact point per line),
//!   `storage` (internode) and `jmx` (for `nodetool`; without authentication, so only on
//!   127.0.0.1 — or on the agent's own loopback address on herd's local cluster, where the
//!   agents share one host);
//! - gets a `cassandra.yaml` rendered for it: herd's defaults, deep-merged with the
//!   config's `[node.yaml]` overrides, then the keys herd owns (addresses, ports, seeds,
//!   directories, snitch — see [`OWNED_KEYS`]; overriding one of them is refused, naming
//!   it). The seeds are the placed ones of the first K nodes, as `host:storage_port`;
//! - gets its datacenter and rack from its agent's attributes (`GossipingPropertyFileSnitch`
//!   with a rendered `cassandra-rackdc.properties`; agents without the attribute get the
//!   configured default, `dc1` / `rack1`);
//! - runs `java -cp '<lib>/*' org.apache.cassandra.service.CassandraDaemon` from the
//!   distribution (the pinned one by default, or any `url`/`maven` artifact: the official
//!   tarball works the same), with the JVM flags Cassandra 5 needs on Java 17, the
//!   configured heap and extra JVM options.
//!
//! Lifecycle: the pod deploys and updates `serial`, and a node is ready only when the
//! scheduler-side probe [`UP_NORMAL`] passes — the ring is all UN as every node sees it,
//! and every node lists every other as a peer (what a client discovers) — so nodes
//! bootstrap one at a time, and a rolling restart or config change moves to the
//! next node only once the ring is whole again. (Why a scheduler probe rather than a
//! `nodetool status` readiness command in the task: Mesos runs a task's checks for the task's
//! whole life, a JVM each time; the probe runs only until the node is ready, and asks every
//! node, not just one.)
//!
//! Operations are plans running the distribution's own `nodetool` inside each node, one
//! node at a time: `repair` (`nodetool repair -pr`, every keyspace), `repair-keyspace`
//! (the same for the keyspace given as `KEYSPACE`; plan parameters are required, hence two
//! plans), `cleanup` (after a scale-out), `backup` (`nodetool snapshot` of every keyspace,
//! the snapshots of the ones that are not Cassandra's own copied to
//! `<backup.dir>/<TAG>/<instance>/`, then `nodetool clearsnapshot`) and `restore` (each
//! table of that backup loaded back into the live table with `nodetool import`);
//! `backup-to` and `restore-from` take the directory as their `BACKUP_DIR` parameter.
//!
//! Scaling out adds nodes that bootstrap one at a time. Scaling in (with the operator's
//! `--allow-decommission`): each leaving node first runs `nodetool decommission` (the pod
//! type's `decommission_tasks`), streaming its data to the nodes that stay; only then does
//! the core kill it and release its volume.
//!
//! Replacing a node (`herd pod cassandra replace node-<i>`, or the core's own after its
//! agent was gone too long): the instance starts on another agent with fresh reservations
//! and `-Dcassandra.replace_address_first_boot={{ replaced_host }}`, so it takes over its
//! predecessor's tokens and streams their data before it serves; a replaced seed leaves
//! itself out of its seed list (a node that is its own seed does not bootstrap) — see
//! `yaml.rs` and `command.rs` for the details.
//!
//! Where to start: [`spec`] (config → service spec), then `yaml.rs` (the config files),
//! `command.rs` (the commands) and `probe.rs` (readiness).

mod command;
mod probe;
mod yaml;

pub use command::{JAVA17_MODULE_FLAGS, SERVER_JVM_FLAGS, nodetool};
pub use probe::UP_NORMAL;
pub use yaml::OWNED_KEYS;

use herd_core::spec::{ArtifactSpec, DiskKind, ServiceSpec, SpecFormat};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The documented default config (`configs/cassandra.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/cassandra.toml");

/// The pod type of the nodes (instances `node-0`, `node-1`...).
pub const POD: &str = "node";

/// A Cassandra service's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraConfig {
    /// The service's name (framework name, role, default cluster name).
    pub name: String,
    /// Number of nodes.
    pub nodes: u32,
    /// How many of the first nodes are seeds (default: min(nodes, 3)).
    #[serde(default)]
    pub seeds: Option<u32>,
    /// Mesos role (default `<name>-role`).
    #[serde(default)]
    pub role: Option<String>,
    /// Mesos principal (default `<name>-principal`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Unix user of the nodes (default: the scheduler's).
    #[serde(default)]
    pub user: Option<String>,
    /// The nodes' shape and settings.
    #[serde(default)]
    pub node: NodeConfig,
    /// The `nodetool` tasks of the operator plans.
    #[serde(default)]
    pub nodetool: NodetoolConfig,
    /// Where the `backup` and `restore` plans keep backups.
    #[serde(default)]
    pub backup: BackupConfig,
    /// The distribution (default: the pinned one).
    #[serde(default)]
    pub artifact: Option<ArtifactSpec>,
}

impl CassandraConfig {
    /// The number of seeds: `seeds`, else min(nodes, 3).
    pub fn seeds(&self) -> u32 {
        self.seeds.unwrap_or(self.nodes.min(3))
    }
}

/// One node's resources and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// CPUs.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// Task memory, MB (heap plus Cassandra's off-heap use).
    #[serde(default = "default_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_heap")]
    pub heap_mb: u32,
    /// The persistent volume (data, commitlog, hints, saved caches), MB.
    #[serde(default = "default_disk")]
    pub disk_mb: f64,
    /// The volume's disk: `root` (a slice of the agent's root disk) or `mount` (a whole disk).
    #[serde(default)]
    pub disk_kind: DiskKind,
    /// Extra JVM options (after herd's, so they win).
    #[serde(default)]
    pub jvm_options: Vec<String>,
    /// Placement constraints.
    #[serde(default = "default_placement")]
    pub placement: Vec<String>,
    /// Native transport (CQL) port (0: any offered).
    #[serde(default)]
    pub native_port: u16,
    /// Storage (internode) port (0: any offered).
    #[serde(default)]
    pub storage_port: u16,
    /// JMX port (0: any offered).
    #[serde(default)]
    pub jmx_port: u16,
    /// The agent attribute naming a node's datacenter.
    #[serde(default = "default_datacenter_attribute")]
    pub datacenter_attribute: String,
    /// The datacenter of nodes on agents without that attribute.
    #[serde(default = "default_datacenter")]
    pub default_datacenter: String,
    /// The agent attribute naming a node's rack.
    #[serde(default = "default_rack_attribute")]
    pub rack_attribute: String,
    /// The rack of nodes on agents without that attribute.
    #[serde(default = "default_rack")]
    pub default_rack: String,
    /// Seconds between SIGTERM (Cassandra drains: flushes memtables, tells the ring it is
    /// going) and SIGKILL.
    #[serde(default = "default_kill_grace")]
    pub kill_grace_secs: f64,
    /// cassandra.yaml overrides, deep-merged into herd's defaults (maps merge key by key;
    /// scalars and lists replace). The keys in [`OWNED_KEYS`] are herd's and refused.
    #[serde(default)]
    pub yaml: BTreeMap<String, serde_json::Value>,
}

fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    4096.0
}
fn default_heap() -> u32 {
    2048
}
fn default_disk() -> f64 {
    10240.0
}
fn default_placement() -> Vec<String> {
    vec!["hostname:UNIQUE".to_owned()]
}
fn default_datacenter_attribute() -> String {
    "dc".to_owned()
}
fn default_datacenter() -> String {
    "dc1".to_owned()
}
fn default_rack_attribute() -> String {
    "rack".to_owned()
}
fn default_rack() -> String {
    "rack1".to_owned()
}
fn default_kill_grace() -> f64 {
    60.0
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            cpus: default_cpus(),
            mem_mb: default_mem(),
            heap_mb: default_heap(),
            disk_mb: default_disk(),
            disk_kind: DiskKind::Root,
            jvm_options: Vec::new(),
            placement: default_placement(),
            native_port: 0,
            storage_port: 0,
            jmx_port: 0,
            datacenter_attribute: default_datacenter_attribute(),
            default_datacenter: default_datacenter(),
            rack_attribute: default_rack_attribute(),
            default_rack: default_rack(),
            kill_grace_secs: default_kill_grace(),
            yaml: BTreeMap::new(),
        }
    }
}

/// Resources of the `nodetool` tasks (repair, cleanup), reserved with each node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodetoolConfig {
    /// CPUs.
    #[serde(default = "default_tool_cpus")]
    pub cpus: f64,
    /// Task memory, MB.
    #[serde(default = "default_tool_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_tool_heap")]
    pub heap_mb: u32,
}

fn default_tool_cpus() -> f64 {
    0.1
}
fn default_tool_mem() -> f64 {
    256.0
}
fn default_tool_heap() -> u32 {
    128
}

impl Default for NodetoolConfig {
    fn default() -> Self {
        Self { cpus: default_tool_cpus(), mem_mb: default_tool_mem(), heap_mb: default_tool_heap() }
    }
}

/// Where the `backup` and `restore` plans keep backups (the `backup-to` and `restore-from`
/// plans take the directory as their `BACKUP_DIR` parameter instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// An absolute directory every agent sees as the same storage (an NFS or other shared
    /// mount on a real cluster): backup `TAG` of instance `node-i` goes to
    /// `<dir>/<TAG>/node-i/<keyspace>/<table dir>/`.
    #[serde(default = "default_backup_dir")]
    pub dir: String,
}

fn default_backup_dir() -> String {
    "/var/backups/cassandra".to_owned()
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self { dir: default_backup_dir() }
    }
}

/// Why a Cassandra config is not usable: herd's error for framework configs, naming the field
/// and the fix.
pub type CassandraConfigError = herd_core::spec::ConfigError;

/// The scheduler-side probes of the Cassandra framework ([`UP_NORMAL`]).
pub fn probes() -> herd_runtime::probes::Probes {
    let mut probes = herd_runtime::probes::Probes::new();
    probes.insert(
        UP_NORMAL.to_owned(),
        std::sync::Arc::new(probe::UpNormal) as std::sync::Arc<dyn herd_runtime::probes::Probe>,
    );
    probes
}

/// The pinned Cassandra distribution.
pub fn pinned_distribution() -> Result<ArtifactSpec, CassandraConfigError> {
    Ok(herd_core::spec::pinned_artifact("cassandra")?)
}

/// Whether `name` may go into a properties file and a template as it is: a datacenter,
/// rack or attribute name.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks the config's values; errors name the field and the fix.
fn check(config: &CassandraConfig, origin: &str) -> Result<(), CassandraConfigError> {
    let invalid =
        |field: &str, problem: String, fix: &str| CassandraConfigError::invalid(origin, field, problem, fix);
    if config.nodes == 0 {
        return Err(invalid("nodes", "is 0".into(), "run at least 1 node (3 for replication factor 3)"));
    }
    if config.seeds() == 0 || config.seeds() > config.nodes {
        return Err(invalid(
            "seeds",
            format!("is {} with {} node(s)", config.seeds(), config.nodes),
            "name between 1 and `nodes` seeds (or leave it out: min(nodes, 3))",
        ));
    }
    let node = &config.node;
    if node.heap_mb < 256 {
        return Err(invalid(
            "node.heap_mb",
            format!("{} MB is too small for Cassandra", node.heap_mb),
            "give at least 256",
        ));
    }
    if f64::from(node.heap_mb) + 256.0 > node.mem_mb {
        return Err(invalid(
            "node.heap_mb",
            format!(
                "{} MB leaves less than 256 MB of node.mem_mb = {} for Cassandra's off-heap memory",
                node.heap_mb, node.mem_mb
            ),
            "lower heap_mb or raise mem_mb",
        ));
    }
    if f64::from(config.nodetool.heap_mb) + 64.0 > config.nodetool.mem_mb {
        return Err(invalid(
            "nodetool.heap_mb",
            format!(
                "{} MB leaves less than 64 MB of nodetool.mem_mb = {}",
                config.nodetool.heap_mb, config.nodetool.mem_mb
            ),
            "lower heap_mb or raise mem_mb",
        ));
    }
    let fixed: Vec<(&str, u16)> = [
        ("node.native_port", node.native_port),
        ("node.storage_port", node.storage_port),
        ("node.jmx_port", node.jmx_port),
    ]
    .into_iter()
    .filter(|(_, port)| *port != 0)
    .collect();
    for (i, (field, port)) in fixed.iter().enumerate() {
        if let Some((other, _)) = fixed[..i].iter().find(|(_, p)| p == port) {
            return Err(invalid(
                field,
                format!("is {port}, like {other}"),
                "give each port its own number (or 0: any offered)",
            ));
        }
    }
    for (field, value) in [
        ("node.datacenter_attribute", &node.datacenter_attribute),
        ("node.default_datacenter", &node.default_datacenter),
        ("node.rack_attribute", &node.rack_attribute),
        ("node.default_rack", &node.default_rack),
    ] {
        if !plain_name(value) {
            return Err(invalid(
                field,
                format!("{value:?} is not a plain name"),
                "use letters, digits, '-', '_' and '.'",
            ));
        }
    }
    let dir = &config.backup.dir;
    if !dir.starts_with('/')
        || dir.split('/').any(|part| part == "..")
        || !dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '+' | '@' | ':'))
    {
        return Err(invalid(
            "backup.dir",
            format!("{dir:?} is not a plain absolute path"),
            "give an absolute directory (letters, digits, '/', '-', '_', '.', '+', '@', ':'), shared by every agent",
        ));
    }
    let owned = yaml::owned_overrides(&node.yaml);
    if let Some(first) = owned.first() {
        return Err(invalid(
            &format!("node.yaml.{first}"),
            format!(
                "sets {}, which herd owns (addresses, reserved ports, seeds, the volume's folders and the snitch \
                 depend on where each node runs)",
                owned.join(", ")
            ),
            "remove it: herd sets it for every node (ports: node.native_port, node.storage_port; datacenter and \
             rack: node.datacenter_attribute, node.rack_attribute)",
        ));
    }
    Ok(())
}

/// The service spec of a Cassandra config.
pub fn spec(config: &CassandraConfig, origin: &str) -> Result<ServiceSpec, CassandraConfigError> {
    check(config, origin)?;
    let parse_error = |message: String| CassandraConfigError::parse(origin, message);
    let artifact = match &config.artifact {
        Some(a) => a.clone(),
        None => pinned_distribution()?,
    };
    let cassandra_yaml = yaml::cassandra_yaml(config)
        .map_err(|e| parse_error(format!("node.yaml cannot be written as YAML: {e}")))?;
    let node = &config.node;
    // The operator plans' tasks (and the decommission): each finishes, on the nodetool
    // task's resources.
    let script = |name: &str, command: String| {
        serde_json::json!({
            "name": name,
            "goal": "finish",
            "command": command,
            "cpus": config.nodetool.cpus,
            "mem_mb": config.nodetool.mem_mb,
        })
    };
    let tool = |name: &str, args: &str| script(name, command::nodetool(config, args));
    let plan_of = |name: &str, task: &str, parameters: &[&str]| {
        serde_json::json!({
            "name": name,
            "parameters": parameters,
            "strategy": "serial",
            "phases": [{ "name": task, "pod": POD, "tasks": [task], "strategy": "serial" }],
        })
    };
    let plan = |name: &str, parameters: &[&str]| plan_of(name, name, parameters);
    let spec = serde_json::json!({
        "name": config.name,
        "role": config.role,
        "principal": config.principal,
        "user": config.user,
        "pods": [{
            "name": POD,
            "count": config.nodes,
            "placement": node.placement,
            // Deploys, scale-outs and rolling updates alike: one node at a time (no
            // `update_strategy`: it defaults to this, and then new and updated nodes share
            // the one-at-a-time turn, as Cassandra's one-topology-change-at-a-time wants).
            "strategy": "serial",
            "volumes": [{ "name": "data", "path": "data", "size_mb": node.disk_mb, "kind": node.disk_kind }],
            "artifacts": [artifact],
            "tasks": [
                {
                    "name": "node",
                    "goal": "running",
                    "command": command::node(config),
                    "cpus": node.cpus,
                    "mem_mb": node.mem_mb,
                    "ports": [
                        { "name": "native", "port": node.native_port, "primary": true },
                        { "name": "storage", "port": node.storage_port },
                        { "name": "jmx", "port": node.jmx_port },
                    ],
                    "configs": [
                        { "name": "cassandra-yaml", "dest": "cassandra.yaml", "template": cassandra_yaml },
                        {
                            "name": "rackdc",
                            "dest": "cassandra-rackdc.properties",
                            "template": yaml::rackdc_properties(config),
                        },
                    ],
                    "readiness_check": {
                        "tcp": { "port": "native" },
                        "probe": UP_NORMAL,
                        "interval_secs": 2,
                        "timeout_secs": 5,
                    },
                    "kill_grace_secs": node.kill_grace_secs,
                },
                tool("repair", "repair -pr"),
                tool("repair-keyspace", "repair -pr \"$KEYSPACE\""),
                tool("cleanup", "cleanup"),
                tool("decommission", "decommission"),
                script("backup", command::backup(config)),
                script("restore", command::restore(config)),
            ],
            // A node scaled in first streams its data to the nodes that stay; Cassandra
            // refuses (and the drain retries, until an operator forces it) when too few
            // nodes would be left for a keyspace's replication factor.
            "decommission_tasks": ["decommission"],
        }],
        "plans": [
            plan("repair", &[]),
            plan("repair-keyspace", &["KEYSPACE"]),
            plan("cleanup", &[]),
            plan("backup", &["TAG"]),
            plan_of("backup-to", "backup", &["BACKUP_DIR", "TAG"]),
            plan("restore", &["TAG"]),
            plan_of("restore-from", "restore", &["BACKUP_DIR", "TAG"]),
        ],
    });
    let text = serde_json::to_string(&spec).map_err(|e| parse_error(e.to_string()))?;
    ServiceSpec::parse(&text, SpecFormat::Yaml, origin).map_err(|e| parse_error(e.to_string()))
}

/// Parses a Cassandra config (TOML or YAML) into its service spec.
pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<ServiceSpec, CassandraConfigError> {
    let config: CassandraConfig = herd_core::spec::parse_config(text, format, origin)?;
    spec(&config, origin)
}

/// The default spec.
pub fn default_spec() -> Result<ServiceSpec, CassandraConfigError> {
    parse(DEFAULT_CONFIG, SpecFormat::Toml, "configs/cassandra.toml")
}

#[cfg(test)]
mod tests;
