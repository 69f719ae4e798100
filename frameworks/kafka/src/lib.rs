//! # herd-kafka
//!
//! Apache Kafka on Mesos, in KRaft mode: the framework's config ([`KafkaConfig`], the
//! documented default is `configs/kafka.toml`) becomes a herd [`ServiceSpec`] with one
//! `broker` pod type — N instances, each a combined broker + KRaft controller with a
//! persistent volume for its log dirs, reserved listener ports, advertised listeners on its
//! agent's address and a stable broker id (instance index + 1). The pod type is a gang:
//! every broker is reserved before any starts, so each one's `controller.quorum.voters`
//! names all of them; the first deploy starts them together, config changes roll one
//! broker at a time.
//!
//! Where to start: [`spec`] (config → service spec) and `server_properties` (the broker's
//! config template).

mod topics;

pub use topics::Topics;

use base64::Engine;
use herd_core::spec::{ArtifactSpec, ServiceSpec, SpecFormat};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;

/// The documented default config (`configs/kafka.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/kafka.toml");

/// The pinned distributions (`configs/distributions.toml`).
const DISTRIBUTIONS: &str = include_str!("../../../configs/distributions.toml");

/// A Kafka service's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// The service's name (framework name, role, cluster id).
    pub name: String,
    /// Number of brokers.
    pub brokers: u32,
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

/// Why a Kafka config is not usable.
#[derive(Debug, thiserror::Error)]
pub enum KafkaConfigError {
    /// Not valid TOML/YAML, or unknown fields.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the config came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{origin}: {field}: {problem}; {fix}")]
    Invalid {
        /// Where the config came from.
        origin: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

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
    let table: BTreeMap<String, ArtifactSpec> = toml::from_str(DISTRIBUTIONS).map_err(|e| {
        KafkaConfigError::Parse { origin: "configs/distributions.toml".to_owned(), message: e.to_string() }
    })?;
    table.get("kafka").cloned().ok_or_else(|| KafkaConfigError::Parse {
        origin: "configs/distributions.toml".to_owned(),
        message: "has no [kafka] entry".to_owned(),
    })
}

/// The KRaft cluster id of a service: 16 bytes derived from its name, base64url without
/// padding (22 characters, as `kafka-storage random-uuid` prints). Stable, so a broker
/// restarted or replaced formats its storage for the same cluster.
pub fn cluster_id(service: &str) -> String {
    let digest = sha2::Sha256::digest(format!("herd-kafka:{service}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The default server.properties (a template rendered per broker), before overrides.
fn server_properties(config: &KafkaConfig) -> String {
    let n = config.brokers;
    let rf = n.min(3);
    let min_isr = if n >= 3 { 2 } else { 1 };
    let mut props: BTreeMap<String, String> = [
        ("process.roles", "broker,controller".to_owned()),
        ("node.id", "{{ index + 1 }}".to_owned()),
        (
            "controller.quorum.voters",
            "{% for b in instances.broker %}{{ b.index + 1 }}@{{ b.host }}:{{ b.ports.controller }}{% if not loop.last %},{% endif %}{% endfor %}"
                .to_owned(),
        ),
        ("listeners", "PLAINTEXT://{{ host }}:{{ ports.broker }},CONTROLLER://{{ host }}:{{ ports.controller }}".to_owned()),
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
    let mut out = String::from("# Rendered by herd for {{ instance }} (broker id {{ index + 1 }}).\n");
    for (k, v) in props {
        out += &format!("{k}={v}\n");
    }
    if let Some(attribute) = &config.broker.rack_attribute {
        let value = format!("attributes[{}]", serde_json::Value::String(attribute.clone()));
        out += &format!("{{% if {value} is defined %}}broker.rack={{{{ {value} }}}}\n{{% endif %}}");
    }
    out
}

/// The broker's command: format its log dir for the cluster (once; a formatted dir is left
/// alone), then run Kafka in the foreground. Works from the assembled distribution and the
/// official tarball alike (`libs/*` on the class path, the log4j2 config it ships).
fn command(config: &KafkaConfig) -> String {
    let mut jvm = format!("-Xms{0}m -Xmx{0}m", config.broker.heap_mb);
    for option in &config.broker.jvm_options {
        jvm += &format!(" {option}");
    }
    format!(
        concat!(
            "KAFKA_HOME=$(dirname \"$(ls -d */libs | head -1)\") && ",
            "LOG4J=$(ls \"$KAFKA_HOME\"/config/log4j2.* | head -1) && ",
            "mkdir -p data/kafka-logs && ",
            "java -Xmx256m -Dlog4j2.configurationFile=\"$LOG4J\" -cp \"$KAFKA_HOME/libs/*\" kafka.tools.StorageTool ",
            "format -t {cluster} -c server.properties --ignore-formatted && ",
            "exec java {jvm} -Djava.awt.headless=true -Dlog4j2.configurationFile=\"$LOG4J\" ",
            "-Dkafka.logs.dir=\"$MESOS_SANDBOX/logs\" -cp \"$KAFKA_HOME/libs/*\" kafka.Kafka server.properties"
        ),
        cluster = cluster_id(&config.name),
        jvm = jvm,
    )
}

/// Checks the config's values; errors name the field and the fix.
fn check(config: &KafkaConfig, origin: &str) -> Result<(), KafkaConfigError> {
    let invalid = |field: &str, problem: String, fix: &str| KafkaConfigError::Invalid {
        origin: origin.to_owned(),
        field: field.to_owned(),
        problem,
        fix: fix.to_owned(),
    };
    if config.brokers == 0 {
        return Err(invalid("brokers", "is 0".into(), "run at least 1 broker (3 for replication factor 3)"));
    }
    if f64::from(config.broker.heap_mb) + 256.0 > config.broker.mem_mb {
        return Err(invalid(
            "broker.heap_mb",
            format!(
                "{} MB leaves less than 256 MB of broker.mem_mb = {} for the rest",
                config.broker.heap_mb, config.broker.mem_mb
            ),
            "lower heap_mb or raise mem_mb",
        ));
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

/// The service spec of a Kafka config.
pub fn spec(config: &KafkaConfig, origin: &str) -> Result<ServiceSpec, KafkaConfigError> {
    check(config, origin)?;
    let artifact = match &config.artifact {
        Some(a) => a.clone(),
        None => pinned_distribution()?,
    };
    let spec = serde_json::json!({
        "name": config.name,
        "role": config.role,
        "principal": config.principal,
        "user": config.user,
        "pods": [{
            "name": "broker",
            "count": config.brokers,
            "placement": config.broker.placement,
            "gang": true,
            "fixed_count": "every broker is a KRaft controller with a static voter list, which a running \
                cluster cannot change; to resize, deploy a new service and move the topics",
            "strategy": "parallel",
            "update_strategy": "serial",
            "volumes": [{ "name": "data", "path": "data", "size_mb": config.broker.disk_mb }],
            "artifacts": [artifact],
            "tasks": [{
                "name": "broker",
                "goal": "running",
                "command": command(config),
                "cpus": config.broker.cpus,
                "mem_mb": config.broker.mem_mb,
                "ports": [
                    { "name": "broker", "port": config.broker.port, "primary": true },
                    { "name": "controller", "port": config.broker.controller_port },
                ],
                "configs": [{ "name": "server", "dest": "server.properties", "template": server_properties(config) }],
                "readiness_check": {
                    "tcp": { "port": "broker" },
                    "probe": IN_SYNC,
                    "interval_secs": 1,
                    "timeout_secs": 2,
                },
                "kill_grace_secs": 30,
            }],
        }],
    });
    let text = serde_json::to_string(&spec)
        .map_err(|e| KafkaConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
    ServiceSpec::parse(&text, SpecFormat::Yaml, origin)
        .map_err(|e| KafkaConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })
}

/// Parses a Kafka config (TOML or YAML) into its service spec.
pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<ServiceSpec, KafkaConfigError> {
    let config: KafkaConfig = match format {
        SpecFormat::Toml => toml::from_str(text).map_err(|e| e.to_string()),
        SpecFormat::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string()),
    }
    .map_err(|message| KafkaConfigError::Parse { origin: origin.to_owned(), message })?;
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

    #[test]
    fn the_cluster_id_is_a_stable_kafka_uuid() {
        let id = cluster_id("kafka");
        assert_eq!(id.len(), 22);
        assert_eq!(id, cluster_id("kafka"));
        assert_ne!(id, cluster_id("other"));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
    }

    #[test]
    fn bad_values_name_the_field_and_fix() {
        let bad = DEFAULT_CONFIG.replace("brokers = 3", "brokers = 0");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("brokers") && err.contains("at least 1"), "{err}");
        let bad = DEFAULT_CONFIG.replace("heap_mb = 1024", "heap_mb = 2000");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("broker.heap_mb"), "{err}");
        let bad = DEFAULT_CONFIG.replace("\"num.partitions\" = \"3\"", "\"node.id\" = \"7\"");
        let err = parse(&bad, SpecFormat::Toml, "k.toml").unwrap_err().to_string();
        assert!(err.contains("node.id") && err.contains("remove it"), "{err}");
        let err = parse("name = \"k\"\nbrokers = 1\nbrokerz = 2\n", SpecFormat::Toml, "k.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("brokerz"), "{err}");
    }
}
