//! A node's config files, as templates rendered per instance: `cassandra.yaml` (herd's
//! defaults, deep-merged with the user's `[node.yaml]` overrides, then the keys herd owns)
//! and `cassandra-rackdc.properties` (datacenter and rack from the agent's attributes).

use crate::CassandraConfig;
use crate::command::VOLUME_DIRS;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The cassandra.yaml keys herd sets itself, because they depend on where each node runs
/// (addresses, reserved ports, the seeds' placement, the volume) or on how herd reads the
/// datacenter and rack (the snitch). A `[node.yaml]` override of any of them is refused.
pub const OWNED_KEYS: &[&str] = &[
    "listen_address",
    "listen_interface",
    "broadcast_address",
    "rpc_address",
    "rpc_interface",
    "broadcast_rpc_address",
    "storage_port",
    "native_transport_port",
    "seed_provider",
    "endpoint_snitch",
    "data_file_directories",
    "commitlog_directory",
    "saved_caches_directory",
    "hints_directory",
    "cdc_raw_directory",
    "local_system_data_file_directory",
];

/// herd's cassandra.yaml defaults (before the user's overrides): what a new cluster needs
/// and Cassandra 5.0's own cassandra.yaml sets.
fn defaults(config: &CassandraConfig) -> Map<String, Value> {
    let mut map = Map::new();
    let mut set = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    set("cluster_name", Value::from(config.name.clone()));
    set("num_tokens", Value::from(16));
    set("allocate_tokens_for_local_replication_factor", Value::from(3));
    set("partitioner", Value::from("org.apache.cassandra.dht.Murmur3Partitioner"));
    set("commitlog_sync", Value::from("periodic"));
    set("commitlog_sync_period", Value::from("10000ms"));
    set("start_native_transport", Value::from(true));
    map
}

/// Merges `overrides` into `base`: maps merge key by key (recursively), anything else
/// (scalars, lists) replaces what was there.
pub(crate) fn deep_merge(base: &mut Map<String, Value>, overrides: &Map<String, Value>) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => deep_merge(into, from),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The keys of `overrides` that herd owns, in the order of [`OWNED_KEYS`].
pub(crate) fn owned_overrides(overrides: &BTreeMap<String, Value>) -> Vec<&'static str> {
    OWNED_KEYS.iter().copied().filter(|k| overrides.contains_key(*k)).collect()
}

/// The seed list (a template): the placed ones of the first `seeds` nodes not being scaled
/// in, as `host:port` of their storage ports (one reserved per node, so not the same
/// everywhere). A node that was replaced (`replaced_host` is set) leaves itself out: a node
/// that is its own seed skips bootstrapping, and a replacement must bootstrap (stream its
/// predecessor's data) — and when it was the only seed, it lists the other nodes instead,
/// since it needs some live node to learn the ring from.
fn seeds_template(seeds: u32) -> String {
    format!(
        concat!(
            "{{% set live = instances.node | selectattr(\"placed\") | rejectattr(\"decommissioning\") | list %}}",
            "{{% set seeds = live | selectattr(\"index\", \"lt\", {seeds}) | list %}}",
            "{{% if replaced_host %}}",
            "{{% set others = live | rejectattr(\"index\", \"eq\", index) | list %}}",
            "{{% set seeds = others | selectattr(\"index\", \"lt\", {seeds}) | list %}}",
            "{{% if not seeds %}}{{% set seeds = others %}}{{% endif %}}",
            "{{% endif %}}",
            "{{{{ seeds | addresses(\"storage\") | join(\",\") }}}}",
        ),
        seeds = seeds
    )
}

/// The cassandra.yaml template: herd's defaults with the user's overrides, then the keys
/// herd owns (the seeds: see [`seeds_template`]).
pub(crate) fn cassandra_yaml(config: &CassandraConfig) -> Result<String, serde_norway::Error> {
    let mut merged = defaults(config);
    let overrides: Map<String, Value> = config.node.yaml.clone().into_iter().collect();
    deep_merge(&mut merged, &overrides);
    let mut out = String::from("# Rendered by herd for {{ instance }}.\n");
    out += &serde_norway::to_string(&Value::Object(merged))?;
    out += "# Owned by herd:\n";
    out += "listen_address: {{ host }}\n";
    out += "rpc_address: {{ host }}\n";
    out += "storage_port: {{ ports.storage }}\n";
    out += "native_transport_port: {{ ports.native }}\n";
    out += "endpoint_snitch: GossipingPropertyFileSnitch\n";
    out += "seed_provider:\n";
    out += "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n";
    out += "    parameters:\n";
    out += &format!("      - seeds: \"{}\"\n", seeds_template(config.seeds()));
    for (key, dir) in VOLUME_DIRS {
        if key == "data_file_directories" {
            out += &format!("{key}:\n  - {dir}\n");
        } else {
            out += &format!("{key}: {dir}\n");
        }
    }
    Ok(out)
}

/// The cassandra-rackdc.properties template (read by GossipingPropertyFileSnitch): the
/// datacenter and rack are the values of the agent attributes the config names, or the
/// config's defaults on agents without them.
pub(crate) fn rackdc_properties(config: &CassandraConfig) -> String {
    let pick = |attribute: &str, fallback: &str| {
        let value = format!("attributes[{}]", Value::String(attribute.to_owned()));
        format!("{{% if {value} is defined %}}{{{{ {value} }}}}{{% else %}}{fallback}{{% endif %}}")
    };
    let node = &config.node;
    format!(
        "# Rendered by herd for {{{{ instance }}}}: agent attribute {:?} (else {:?}), {:?} (else {:?}).\ndc={}\nrack={}\n",
        node.datacenter_attribute,
        node.default_datacenter,
        node.rack_attribute,
        node.default_rack,
        pick(&node.datacenter_attribute, &node.default_datacenter),
        pick(&node.rack_attribute, &node.default_rack),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(json: Value) -> Map<String, Value> {
        match json {
            Value::Object(m) => m,
            other => panic!("not a map: {other}"),
        }
    }

    #[test]
    fn maps_merge_deeply_and_the_rest_is_replaced() {
        let mut base = map(serde_json::json!({
            "a": 1,
            "opts": { "enabled": false, "keystore": "k", "inner": { "x": 1, "y": 2 } },
            "list": [1, 2],
        }));
        let overrides = map(serde_json::json!({
            "a": "two",
            "opts": { "enabled": true, "inner": { "y": 3 } },
            "list": [3],
            "new": null,
        }));
        deep_merge(&mut base, &overrides);
        assert_eq!(
            Value::Object(base),
            serde_json::json!({
                "a": "two",
                "opts": { "enabled": true, "keystore": "k", "inner": { "x": 1, "y": 3 } },
                "list": [3],
                "new": null,
            })
        );
    }

    #[test]
    fn owned_keys_are_found_in_order() {
        let overrides: BTreeMap<String, Value> =
            map(serde_json::json!({ "seed_provider": [], "num_tokens": 8, "listen_address": "x" }))
                .into_iter()
                .collect();
        assert_eq!(owned_overrides(&overrides), ["listen_address", "seed_provider"]);
    }
}
