//! # herd-kafka
//!
//! Apache Kafka on Mesos, in KRaft mode: the framework's config ([`KafkaConfig`], the
//! documented default is `configs/kafka.toml`) becomes a herd [`ServiceSpec`]. Every
//! broker has a persistent volume for its log dirs, reserved listener ports, advertised
//! listeners on its agent's address and a stable broker id (instance index + 1, kept by a
//! replacement). Two layouts:
//!
//! - **combined** (`controllers = 0`, the default): one `broker` pod type whose N
//!   instances are brokers and KRaft controllers at once. It is a gang: every broker is
//!   reserved before any starts, so each one's `controller.quorum.voters` names all of
//!   them. The voters are static, so the count is fixed once deployed.
//! - **separate** (`controllers = C`): a `controller` pod type (C controllers, a gang with
//!   node ids 3001..) and a `broker` pod type of broker-only nodes that scales both ways:
//!   new brokers join the quorum's cluster (the `rebalance` plan spreads partitions onto
//!   them), and a broker scaled in first drains — its partitions are reassigned to the
//!   brokers that stay with Kafka's own `kafka-reassign-partitions` tool, run inside it as
//!   its `decommission` task — before it is stopped and its volume released.
//!
//! The first deploy starts brokers together; config changes roll one broker at a time,
//! each waiting for the [`IN_SYNC`] probe (no under-replicated partition).
//!
//! Where to start: [`spec`] (config → service spec), `broker_properties` (the broker's
//! config template) and `drain_command`.

mod topics;

pub use topics::Topics;

use base64::Engine;
use herd_core::spec::{ArtifactSpec, ServiceSpec, SpecFormat};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;

/// The documented default config (`configs/kafka.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/kafka.toml");

/// A Kafka service's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// The service's name (framework name, role, cluster id).
    pub name: String,
    /// Number of brokers.
    pub brokers: u32,
    /// Number of dedicated KRaft controllers; 0 makes every broker a controller too.
    #[serde(default)]
    pub controllers: u32,
    /// Mesos role (default `<name>-role`).
    #[serde(default)]
    pub role: Option<String>,
    /// Mesos principal (default `<name>-principal`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Unix user of the brokers (default: the scheduler's).
    #[serde(default)]
    pub user: Option<String>,
    /// The brokers' shape.
    #[serde(default)]
    pub broker: BrokerConfig,
    /// The dedicated controllers' shape (with `controllers` > 0).
    #[serde(default)]
    pub controller: ControllerConfig,
    /// The distribution (default: the pinned one).
    #[serde(default)]
    pub artifact: Option<ArtifactSpec>,
}

/// One broker's resources and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// CPUs.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// Task memory, MB.
    #[serde(default = "default_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_heap")]
    pub heap_mb: u32,
    /// Log dir volume, MB.
    #[serde(default = "default_disk")]
    pub disk_mb: f64,
    /// Extra JVM options.
    #[serde(default)]
    pub jvm_options: Vec<String>,
    /// Placement constraints.
    #[serde(default = "default_placement")]
    pub placement: Vec<String>,
    /// Client listener port (0: any offered).
    #[serde(default)]
    pub port: u16,
    /// Controller listener port (0: any offered).
    #[serde(default)]
    pub controller_port: u16,
    /// server.properties overrides (win over herd's defaults).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The agent attribute that names a broker's rack (`broker.rack`, for rack-aware
    /// replica placement), e.g. `rack`; brokers on agents without it get no rack.
    #[serde(default)]
    pub rack_attribute: Option<String>,
}

/// One dedicated KRaft controller's resources and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// CPUs.
    #[serde(default = "default_controller_cpus")]
    pub cpus: f64,
    /// Task memory, MB.
    #[serde(default = "default_controller_mem")]
    pub mem_mb: f64,
    /// JVM heap, MB.
    #[serde(default = "default_controller_heap")]
    pub heap_mb: u32,
    /// Metadata log volume, MB.
    #[serde(default = "default_controller_disk")]
    pub disk_mb: f64,
    /// Extra JVM options.
    #[serde(default)]
    pub jvm_options: Vec<String>,
    /// Placement constraints.
    #[serde(default = "default_placement")]
    pub placement: Vec<String>,
    /// Controller listener port (0: any offered).
    #[serde(default)]
    pub port: u16,
}

fn default_controller_cpus() -> f64 {
    0.5
}
fn default_controller_mem() -> f64 {
    1024.0
}
fn default_controller_heap() -> u32 {
    512
}
fn default_controller_disk() -> f64 {
    1024.0
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            cpus: default_controller_cpus(),
            mem_mb: default_controller_mem(),
            heap_mb: default_controller_heap(),
            disk_mb: default_controller_disk(),
            jvm_options: Vec::new(),
            placement: default_placement(),
            port: 0,
        }
    }
}

/// Node ids of dedicated controllers start above this (controller `i` is `3001 + i`), clear
/// of broker ids (1..).
pub const CONTROLLER_ID_BASE: u32 = 3000;

fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    2048.0
}
fn default_heap() -> u32 {
    1024
}
fn default_disk() -> f64 {
    10240.0
}
fn default_placement() -> Vec<String> {
    vec!["hostname:UNIQUE".to_owned()]
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            cpus: default_cpus(),
            mem_mb: default_mem(),
            heap_mb: default_heap(),
            disk_mb: default_disk(),
            jvm_options: Vec::new(),
            placement: default_placement(),
            port: 0,
            controller_port: 0,
            properties: BTreeMap::new(),
            rack_attribute: None,
        }
    }
}

/// Why a Kafka config is not usable: herd's error for framework configs, naming the field
/// and the fix.
pub type KafkaConfigError = herd_core::spec::ConfigError;

/// The readiness probe of a broker: it is in the cluster's metadata and no partition of the
/// cluster is under-replicated. A rolling change thus moves to the next broker only once
/// the restarted one has caught up.
pub const IN_SYNC: &str = "in-sync";

/// The Kafka framework's operator API routes (topics, brokers).
pub fn extension() -> std::sync::Arc<dyn herd_runtime::probes::ApiExtension> {
    std::sync::Arc::new(Topics)
}

/// The scheduler-side probes of the Kafka framework.
pub fn probes() -> herd_runtime::probes::Probes {
    let mut probes = herd_runtime::probes::Probes::new();
    probes.insert(
        IN_SYNC.to_owned(),
        std::sync::Arc::new(InSync) as std::sync::Arc<dyn herd_runtime::probes::Probe>,
    );
    probes
}

/// See [`IN_SYNC`].
#[derive(Debug)]
struct InSync;

impl herd_runtime::probes::Probe for InSync {
    fn check(&self, target: herd_runtime::probes::ProbeTarget) -> herd_runtime::probes::ProbeFuture {
        Box::pin(async move {
            let port = target.ports.get("broker").copied().ok_or("the broker has no `broker` port")?;
            let bootstrap = format!("{}:{port}", target.host);
            let broker_id = i32::try_from(target.index + 1).map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || in_sync(&bootstrap, broker_id))
                .await
                .map_err(|e| e.to_string())?
        })
    }
}

/// Asks the broker at `bootstrap` for the cluster's metadata: `broker_id` must be in it and
/// every partition's in-sync replicas must be all its replicas.
fn in_sync(bootstrap: &str, broker_id: i32) -> Result<(), String> {
    use rdkafka::producer::{BaseProducer, Producer as _};
    let client: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "herd-in-sync-probe")
        .create()
        .map_err(|e| e.to_string())?;
    let metadata = client
        .client()
        .fetch_metadata(None, std::time::Duration::from_secs(5))
        .map_err(|e| format!("metadata from {bootstrap}: {e}"))?;
    if !metadata.brokers().iter().any(|b| b.id() == broker_id) {
        return Err(format!("broker {broker_id} is not registered yet"));
    }
    let behind: usize = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .filter(|p| p.isr().len() < p.replicas().len())
        .count();
    if behind > 0 {
        return Err(format!("{behind} partition(s) under-replicated"));
    }
    Ok(())
}

/// The pinned Kafka distribution.
pub fn pinned_distribution() -> Result<ArtifactSpec, KafkaConfigError> {
    Ok(herd_core::spec::pinned_artifact("kafka")?)
}

/// The KRaft cluster id of a service: 16 bytes derived from its name, base64url without
/// padding (22 characters, as `kafka-storage random-uuid` prints), never starting with `-`. Stable, so a broker
/// restarted or replaced formats its storage for the same cluster.
pub fn cluster_id(service: &str) -> String {
    // Never starting with `-` (as Kafka's own ids): the storage tool would take it for an
    // option. A digest that does is hashed again.
    let mut digest = sha2::Sha256::digest(format!("herd-kafka:{service}").as_bytes());
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        if !id.starts_with('-') {
            return id;
        }
        digest = sha2::Sha256::digest(digest);
    }
}

/// The voter list of the quorum, as a template over the pod type `pod` whose instance `i`
/// has node id `base + i + 1`.
fn voters(pod: &str, base: u32) -> String {
    format!(
        "{{% for c in instances.{pod} %}}{{{{ {base} + c.index + 1 }}}}@{{{{ c.host }}}}:{{{{ c.ports.controller }}}}{{% if not loop.last %}},{{% endif %}}{{% endfor %}}"
    )
}

/// Renders a properties map as a `server.properties` template.
fn properties_file(header: &str, props: BTreeMap<String, String>) -> String {
    let mut out = format!("# Rendered by herd for {{{{ instance }}}} ({header}).\n");
    for (k, v) in props {
        out += &format!("{k}={v}\n");
    }
    out
}

/// The default server.properties of a broker (a template rendered per broker), with the
/// user's overrides applied last.
fn broker_properties(config: &KafkaConfig) -> String {
    let n = config.brokers;
    let rf = n.min(3);
    let min_isr = if n >= 3 { 2 } else { 1 };
    let combined = config.controllers == 0;
    let (roles, quorum, listeners) = if combined {
        (
            "broker,controller",
            voters("broker", 0),
            "PLAINTEXT://{{ host }}:{{ ports.broker }},CONTROLLER://{{ host }}:{{ ports.controller }}",
        )
    } else {
        ("broker", voters("controller", CONTROLLER_ID_BASE), "PLAINTEXT://{{ host }}:{{ ports.broker }}")
    };
    let mut props: BTreeMap<String, String> = [
        ("process.roles", roles.to_owned()),
        ("node.id", "{{ index + 1 }}".to_owned()),
        ("controller.quorum.voters", quorum),
        ("listeners", listeners.to_owned()),
        ("advertised.listeners", "PLAINTEXT://{{ host }}:{{ ports.broker }}".to_owned()),
        ("controller.listener.names", "CONTROLLER".to_owned()),
        ("inter.broker.listener.name", "PLAINTEXT".to_owned()),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned()),
        ("log.dirs", "data/kafka-logs".to_owned()),
        ("offsets.topic.replication.factor", rf.to_string()),
        ("transaction.state.log.replication.factor", rf.to_string()),
        ("transaction.state.log.min.isr", min_isr.to_string()),
        ("default.replication.factor", rf.to_string()),
        ("group.initial.rebalance.delay.ms", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in &config.broker.properties {
        props.insert(k.clone(), v.clone());
    }
    let mut out = properties_file("broker id {{ index + 1 }}", props);
    if let Some(attribute) = &config.broker.rack_attribute {
        let value = format!("attributes[{}]", serde_json::Value::String(attribute.clone()));
        out += &format!("{{% if {value} is defined %}}broker.rack={{{{ {value} }}}}\n{{% endif %}}");
    }
    out
}

/// The server.properties of a dedicated controller.
fn controller_properties() -> String {
    let props: BTreeMap<String, String> = [
        ("process.roles", "controller".to_owned()),
        ("node.id", format!("{{{{ {CONTROLLER_ID_BASE} + index + 1 }}}}")),
        ("controller.quorum.voters", voters("controller", CONTROLLER_ID_BASE)),
        ("listeners", "CONTROLLER://{{ host }}:{{ ports.controller }}".to_owned()),
        ("controller.listener.names", "CONTROLLER".to_owned()),
        ("listener.security.protocol.map", "CONTROLLER:PLAINTEXT".to_owned()),
        ("log.dirs", "data/kraft".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    properties_file(&format!("controller id {{{{ {CONTROLLER_ID_BASE} + index + 1 }}}}"), props)
}

/// Shell prelude of every task: finds the distribution (assembled or the official
/// tarball), its log4j2 config, and defines `tool CLASS ARGS...` to run Kafka's tools.
const PRELUDE: &str = concat!(
    "KAFKA_HOME=$(dirname \"$(ls -d */libs | head -1)\") && ",
    "LOG4J=$(ls \"$KAFKA_HOME\"/config/log4j2.* | head -1) && ",
    "TOOLS_LOG4J=$(ls \"$KAFKA_HOME\"/config/tools-log4j2.* 2>/dev/null | head -1) && ",
    "tool() { java -Xmx256m -Dlog4j2.configurationFile=\"${TOOLS_LOG4J:-$LOG4J}\" ",
    "-cp \"$KAFKA_HOME/tools/*:$KAFKA_HOME/libs/*\" \"$@\"; } && ",
);

/// A node's command: format its log dir for the cluster (once: a restart finds it
/// formatted and saves the tool's JVM start), then run Kafka in the foreground. Works from the assembled distribution and the
/// official tarball alike (`libs/*` on the class path, the log4j2 config it ships).
fn command(heap_mb: u32, jvm_options: &[String], dir: &str, cluster: &str) -> String {
    let mut jvm = format!("-Xms{heap_mb}m -Xmx{heap_mb}m");
    for option in jvm_options {
        jvm += &format!(" {option}");
    }
    format!(
        concat!(
            "{prelude}mkdir -p {dir} && ",
            "{{ [ -f {dir}/meta.properties ] || ",
            "java -Xmx256m -Dlog4j2.configurationFile=\"$LOG4J\" -cp \"$KAFKA_HOME/libs/*\" kafka.tools.StorageTool ",
            "format -t {cluster} -c server.properties --ignore-formatted; }} && ",
            "exec java {jvm} -Djava.awt.headless=true -Dlog4j2.configurationFile=\"$LOG4J\" ",
            "-Dkafka.logs.dir=\"$MESOS_SANDBOX/logs\" -cp \"$KAFKA_HOME/libs/*\" kafka.Kafka server.properties"
        ),
        prelude = PRELUDE,
        dir = dir,
        cluster = cluster,
        jvm = jvm,
    )
}

/// Moves the partition replicas of `topics` (a file of `{"version":1,"topics":[...]}`) onto
/// the brokers in `$KEEP` with Kafka's reassignment tool, unless a reassignment is already
/// under way (then it is waited for).
const REASSIGN: &str = concat!(
    "reassign() { ",
    "if tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server \"$BS\" --list ",
    "| grep -q 'No partition reassignments found'; then ",
    "tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server \"$BS\" ",
    "--topics-to-move-json-file \"$1\" --broker-list \"$KEEP\" --generate > reassign-generate.txt && ",
    "sed -n '/Proposed partition reassignment configuration/{n;p}' reassign-generate.txt > reassign-plan.json && ",
    "echo \"moving: $(cat reassign-plan.json)\" && ",
    "tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server \"$BS\" ",
    "--reassignment-json-file reassign-plan.json --execute; ",
    "else echo 'a reassignment is under way: waiting for it'; fi; } && ",
    "topics_json() { printf '{\"version\":1,\"topics\":[%s]}' ",
    "\"$(for t in $1; do printf '{\"topic\":\"%s\"},' \"$t\"; done | sed 's/,$//')\" > \"$2\"; } && ",
);

/// The brokers that stay (not being decommissioned), as a comma-separated id list.
const KEEP: &str = "KEEP='{% for b in instances.broker if not b.decommissioning %}{{ b.index + 1 }}{% if not loop.last %},{% endif %}{% endfor %}' && BS='{{ host }}:{{ ports.broker }}' && ";

/// The drain of a broker being scaled in: until no partition has a replica on it, move
/// the replicas of the topics that have one onto the brokers that stay (every 5 s, so a
/// reassignment in progress is waited for); gives up after 30 minutes (the task fails and
/// is retried by the scheduler).
fn drain_command() -> String {
    format!(
        concat!(
            "{prelude}{keep}{reassign}ME={{{{ index + 1 }}}} && echo \"draining broker $ME onto $KEEP\" && ",
            "for i in $(seq 1 360); do ",
            "TOPICS=$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server \"$BS\" --describe ",
            "| awk -v me=\"$ME\" '/Partition:/ {{ for (i = 1; i <= NF; i++) {{ if ($i == \"Topic:\") t = $(i + 1); ",
            "if ($i == \"Replicas:\") {{ n = split($(i + 1), r, \",\"); for (j = 1; j <= n; j++) if (r[j] == me) print t }} }} }}' ",
            "| sort -u) || exit 1; ",
            "if [ -z \"$TOPICS\" ]; then echo \"broker $ME holds no partition replica: drained\"; exit 0; fi; ",
            "echo \"broker $ME still holds replicas of: $TOPICS\"; ",
            "topics_json \"$TOPICS\" drain-topics.json && reassign drain-topics.json; ",
            "sleep 5; done; echo \"broker $ME still holds replicas after 30 minutes\" >&2; exit 1"
        ),
        prelude = PRELUDE,
        keep = KEEP,
        reassign = REASSIGN,
    )
}

/// The `rebalance` plan's task: spreads every topic's partitions over all brokers (after a
/// scale-out), then waits until the reassignment completed. It runs its work on broker-0
/// only; the other brokers' steps finish at once.
fn rebalance_command() -> String {
    format!(
        concat!(
            "{{% if index == 0 %}}{prelude}{keep}{reassign}",
            "TOPICS=$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server \"$BS\" --list) && ",
            "if [ -z \"$TOPICS\" ]; then echo 'no topics: nothing to rebalance'; exit 0; fi && ",
            "topics_json \"$TOPICS\" rebalance-topics.json && reassign rebalance-topics.json && ",
            "for i in $(seq 1 360); do ",
            "if tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server \"$BS\" --list ",
            "| grep -q 'No partition reassignments found'; then echo \"rebalanced over brokers $KEEP\"; exit 0; fi; ",
            "sleep 5; done; echo 'the reassignment did not complete in 30 minutes' >&2; exit 1",
            "{{% else %}}echo 'the rebalance runs on broker-0'{{% endif %}}"
        ),
        prelude = PRELUDE,
        keep = KEEP,
        reassign = REASSIGN,
    )
}

/// Checks the config's values; errors name the field and the fix.
fn check(config: &KafkaConfig, origin: &str) -> Result<(), KafkaConfigError> {
    let invalid =
        |field: &str, problem: String, fix: &str| KafkaConfigError::invalid(origin, field, problem, fix);
    if config.brokers == 0 {
        return Err(invalid("brokers", "is 0".into(), "run at least 1 broker (3 for replication factor 3)"));
    }
    if config.controllers.is_multiple_of(2) && config.controllers > 0 {
        return Err(invalid(
            "controllers",
            format!(
                "is {}: an even quorum survives no more failures than one node fewer",
                config.controllers
            ),
            "run 1, 3 or 5 controllers (or 0: every broker is a controller)",
        ));
    }
    let heaps = [
        ("broker", config.broker.heap_mb, config.broker.mem_mb),
        ("controller", config.controller.heap_mb, config.controller.mem_mb),
    ];
    for (what, heap, mem) in heaps {
        if f64::from(heap) + 256.0 > mem {
            return Err(invalid(
                &format!("{what}.heap_mb"),
                format!("{heap} MB leaves less than 256 MB of {what}.mem_mb = {mem} for the rest"),
                "lower heap_mb or raise mem_mb",
            ));
        }
    }
    for reserved in [
        "process.roles",
        "node.id",
        "controller.quorum.voters",
        "listeners",
        "advertised.listeners",
        "log.dirs",
    ] {
        if config.broker.properties.contains_key(reserved) {
            return Err(invalid(
                &format!("broker.properties.\"{reserved}\""),
                "is set by herd (it depends on where each broker runs)".into(),
                "remove it",
            ));
        }
    }
    Ok(())
}

/// The readiness of a broker: its port answers and the [`IN_SYNC`] probe passes.
fn broker_readiness() -> serde_json::Value {
    serde_json::json!({
        "tcp": { "port": "broker" },
        "probe": IN_SYNC,
        "interval_secs": 1,
        "timeout_secs": 2,
    })
}

/// The service spec of a Kafka config.
pub fn spec(config: &KafkaConfig, origin: &str) -> Result<ServiceSpec, KafkaConfigError> {
    check(config, origin)?;
    let artifact = match &config.artifact {
        Some(a) => a.clone(),
        None => pinned_distribution()?,
    };
    let cluster = cluster_id(&config.name);
    let broker_command =
        command(config.broker.heap_mb, &config.broker.jvm_options, "data/kafka-logs", &cluster);
    let rebalance = serde_json::json!({
        "name": "rebalance", "goal": "finish", "command": rebalance_command(), "cpus": 0.1, "mem_mb": 384,
    });
    let mut pods = Vec::new();
    if config.controllers == 0 {
        pods.push(serde_json::json!({
            "name": "broker",
            "count": config.brokers,
            "placement": config.broker.placement,
            "gang": true,
            "fixed_count": "every broker is a KRaft controller with a static voter list, which a running \
                cluster cannot change; to resize, deploy a new service with dedicated controllers \
                (`controllers = 3`: its brokers scale both ways) and move the topics",
            "strategy": "parallel",
            "update_strategy": "serial",
            "volumes": [{ "name": "data", "path": "data", "size_mb": config.broker.disk_mb }],
            "artifacts": [artifact],
            "tasks": [{
                "name": "broker",
                "goal": "running",
                "command": broker_command,
                "cpus": config.broker.cpus,
                "mem_mb": config.broker.mem_mb,
                "ports": [
                    { "name": "broker", "port": config.broker.port, "primary": true },
                    { "name": "controller", "port": config.broker.controller_port },
                ],
                "configs": [{ "name": "server", "dest": "server.properties", "template": broker_properties(config) }],
                "readiness_check": broker_readiness(),
                "kill_grace_secs": 30,
            }, rebalance],
        }));
    } else {
        let c = &config.controller;
        pods.push(serde_json::json!({
            "name": "controller",
            "count": config.controllers,
            "placement": c.placement,
            "gang": true,
            "fixed_count": "the controllers are the KRaft quorum's static voters, which a running cluster \
                cannot change",
            "strategy": "parallel",
            "update_strategy": "serial",
            "volumes": [{ "name": "data", "path": "data", "size_mb": c.disk_mb }],
            "artifacts": [artifact],
            "tasks": [{
                "name": "controller",
                "goal": "running",
                "command": command(c.heap_mb, &c.jvm_options, "data/kraft", &cluster),
                "cpus": c.cpus,
                "mem_mb": c.mem_mb,
                "ports": [{ "name": "controller", "port": c.port }],
                "configs": [{ "name": "server", "dest": "server.properties", "template": controller_properties() }],
                "readiness_check": { "tcp": { "port": "controller" }, "interval_secs": 1, "timeout_secs": 2 },
                "kill_grace_secs": 30,
            }],
        }));
        pods.push(serde_json::json!({
            "name": "broker",
            "count": config.brokers,
            "placement": config.broker.placement,
            "strategy": "parallel",
            "update_strategy": "serial",
            "decommission_tasks": ["drain"],
            "volumes": [{ "name": "data", "path": "data", "size_mb": config.broker.disk_mb }],
            "artifacts": [artifact],
            "tasks": [{
                "name": "broker",
                "goal": "running",
                "command": broker_command,
                "cpus": config.broker.cpus,
                "mem_mb": config.broker.mem_mb,
                "ports": [{ "name": "broker", "port": config.broker.port, "primary": true }],
                "configs": [{ "name": "server", "dest": "server.properties", "template": broker_properties(config) }],
                "readiness_check": broker_readiness(),
                "kill_grace_secs": 30,
            }, {
                "name": "drain", "goal": "finish", "command": drain_command(), "cpus": 0.1, "mem_mb": 384,
            }, rebalance],
        }));
    }
    let spec = serde_json::json!({
        "name": config.name,
        "role": config.role,
        "principal": config.principal,
        "user": config.user,
        "pods": pods,
        "plans": [{
            "name": "rebalance",
            "phases": [{ "name": "rebalance", "pod": "broker", "tasks": ["rebalance"] }],
        }],
    });
    let text = serde_json::to_string(&spec)
        .map_err(|e| KafkaConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
    let spec = ServiceSpec::parse(&text, SpecFormat::Yaml, origin)
        .map_err(|e| KafkaConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
    Ok(spec)
}

/// Parses a Kafka config (TOML or YAML) into its service spec.
pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<ServiceSpec, KafkaConfigError> {
    let config: KafkaConfig = herd_core::spec::parse_config(text, format, origin)?;
    spec(&config, origin)
}

/// The default spec.
pub fn default_spec() -> Result<ServiceSpec, KafkaConfigError> {
    parse(DEFAULT_CONFIG, SpecFormat::Toml, "configs/kafka.toml")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_config_is_a_valid_service() {
        let spec = default_spec().unwrap();
        herd_core::validation::validate(&spec).unwrap();
        let pod = &spec.pods[0];
        assert_eq!((pod.name.as_str(), pod.count, pod.gang), ("broker", 3, true));
        assert_eq!(pod.artifacts[0].maven.as_ref().unwrap().version, "4.4.0", "the pinned distribution");
        let server = &pod.tasks[0].configs[0].template;
        assert!(server.contains("num.partitions=3"), "overrides applied: {server}");
        assert!(server.contains("offsets.topic.replication.factor=3"), "{server}");
    }

    #[test]
    fn the_number_of_brokers_cannot_change_once_deployed() {
        let three = default_spec().unwrap();
        let four =
            parse(&DEFAULT_CONFIG.replace("brokers = 3", "brokers = 4"), SpecFormat::Toml, "k.toml").unwrap();
        let options = herd_core::validation::UpdateOptions { allow_decommission: true };
        let errors = herd_core::validation::validate_update(&three, &four, options).unwrap_err();
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(message.contains("pods[broker].count") && message.contains("static voter"), "{message}");
        let more_heap =
            parse(&DEFAULT_CONFIG.replace("heap_mb = 1024", "heap_mb = 1200"), SpecFormat::Toml, "k.toml");
        assert!(herd_core::validation::validate_update(&three, &more_heap.unwrap(), options).is_ok());
    }

    fn separate(brokers: u32) -> ServiceSpec {
        let text = DEFAULT_CONFIG
            .replace("brokers = 3", &format!("brokers = {brokers}"))
            .replace("controllers = 0", "controllers = 3");
        parse(&text, SpecFormat::Toml, "k.toml").unwrap()
    }

    /// Renders `template` as instance `index` of `pod`, with three controllers and
    /// `brokers` brokers placed on 127.0.1.x, the last `decommissioning` of them going.
    fn render(template: &str, pod: &str, index: u32, brokers: u32, decommissioning: u32) -> String {
        use herd_core::template::{InstanceAddress, Renderer, TemplateContext};
        let address = |pod: &str, i: u32, port: &str, decommissioning: bool| InstanceAddress {
            index: i,
            name: format!("{pod}-{i}"),
            host: format!("127.0.1.{}", i + 1),
            ports: [(port.to_owned(), 9000 + u16::try_from(i).unwrap())].into(),
            placed: true,
            decommissioning,
        };
        let ctx = TemplateContext {
            pod: pod.into(),
            index,
            instance: format!("{pod}-{index}"),
            host: format!("127.0.1.{}", index + 1),
            ports: [("broker".to_owned(), 9092), ("controller".to_owned(), 9093)].into(),
            instances: [
                (
                    "controller".to_owned(),
                    (0..3).map(|i| address("controller", i, "controller", false)).collect(),
                ),
                (
                    "broker".to_owned(),
                    (0..brokers)
                        .map(|i| address("broker", i, "broker", i >= brokers - decommissioning))
                        .collect(),
                ),
            ]
            .into(),
            ..TemplateContext::default()
        };
        Renderer::new().render("t", template, &ctx).unwrap()
    }

    #[test]
    fn dedicated_controllers_form_the_quorum_and_brokers_scale_both_ways() {
        let spec = separate(3);
        herd_core::validation::validate(&spec).unwrap();
        let names: Vec<&str> = spec.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["controller", "broker"], "controllers deploy first");
        let (controller, broker) = (&spec.pods[0], &spec.pods[1]);
        assert!(controller.gang && controller.fixed_count.is_some());
        assert!(!broker.gang && broker.fixed_count.is_none());
        assert_eq!(broker.decommission_tasks, ["drain"]);

        let props = render(&controller.tasks[0].configs[0].template, "controller", 1, 3, 0);
        assert!(props.contains("process.roles=controller\n"), "{props}");
        assert!(props.contains("node.id=3002\n"), "{props}");
        let voters = "controller.quorum.voters=3001@127.0.1.1:9000,3002@127.0.1.2:9001,3003@127.0.1.3:9002\n";
        assert!(props.contains(voters), "{props}");
        let props = render(&broker.tasks[0].configs[0].template, "broker", 2, 3, 0);
        assert!(props.contains("process.roles=broker\n") && props.contains("node.id=3\n"), "{props}");
        assert!(props.contains(voters), "brokers find the controllers: {props}");
        assert!(props.contains("listeners=PLAINTEXT://127.0.1.3:9092\n"), "{props}");

        // Brokers come and go; the controllers stay.
        let options = herd_core::validation::UpdateOptions { allow_decommission: true };
        herd_core::validation::validate_update(&spec, &separate(5), options).unwrap();
        herd_core::validation::validate_update(&separate(5), &spec, options).unwrap();
        let five_controllers =
            parse(&DEFAULT_CONFIG.replace("controllers = 0", "controllers = 5"), SpecFormat::Toml, "k.toml")
                .unwrap();
        let err = herd_core::validation::validate_update(&spec, &five_controllers, options).unwrap_err();
        assert!(err[0].to_string().contains("pods[controller].count"), "{err:?}");
    }

    #[test]
    fn a_draining_broker_moves_its_replicas_to_the_brokers_that_stay() {
        let spec = separate(4);
        let broker = &spec.pods[1];
        let drain = render(&broker.task("drain").unwrap().command, "broker", 3, 4, 1);
        assert!(drain.contains("KEEP='1,2,3'") && drain.contains("ME=4 "), "{drain}");
        assert!(drain.contains("BS='127.0.1.4:9092'"), "asks the broker itself: {drain}");
        assert!(drain.contains("ReassignPartitionsCommand") && drain.contains("--broker-list"), "{drain}");
        let rebalance = broker.task("rebalance").unwrap();
        let on_first = render(&rebalance.command, "broker", 0, 4, 0);
        assert!(on_first.contains("KEEP='1,2,3,4'"), "{on_first}");
        let elsewhere = render(&rebalance.command, "broker", 2, 4, 0);
        assert_eq!(elsewhere.trim(), "echo 'the rebalance runs on broker-0'");
        assert!(spec.plan("rebalance").is_some());
    }

    #[test]
    fn the_cluster_id_is_a_stable_kafka_uuid() {
        let id = cluster_id("kafka");
        assert_eq!(id.len(), 22);
        assert_eq!(id, cluster_id("kafka"));
        assert_ne!(id, cluster_id("other"));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
        // About one name in 64 hashes to an id starting with `-`: none may.
        for n in 0..2000 {
            let id = cluster_id(&format!("kafka-{n}"));
            assert!(!id.starts_with('-') && id.len() == 22, "kafka-{n}: {id}");
        }
    }

    #[test]
    fn bad_values_name_the_field_and_fix() {
        let bad = DEFAULT_CONFIG.replace("brokers = 3", "brokers = 0");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("brokers") && err.contains("at least 1"), "{err}");
        let bad = DEFAULT_CONFIG.replace("heap_mb = 1024", "heap_mb = 2000");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("broker.heap_mb"), "{err}");
        let bad = DEFAULT_CONFIG.replace("controllers = 0", "controllers = 2");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("controllers") && err.contains("1, 3 or 5"), "{err}");
        let bad = DEFAULT_CONFIG.replace("\"num.partitions\" = \"3\"", "\"node.id\" = \"7\"");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("node.id") && err.contains("remove it"), "{err}");
        let err = parse("name = \"k\"\nbrokers = 1\nbrokerz = 2\n", SpecFormat::Toml, "k.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("brokerz"), "{err}");
    }
}
