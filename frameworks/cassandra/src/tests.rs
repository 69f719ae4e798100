#![allow(clippy::unwrap_used)]
use super::*;
use herd_core::template::{InstanceAddress, Renderer, TemplateContext};

fn instance(index: u32, host: Option<&str>) -> InstanceAddress {
    let ports: BTreeMap<String, u16> = [("native", 31000), ("storage", 31001), ("jmx", 31002)]
        .into_iter()
        .map(|(name, port)| (name.to_owned(), port + u16::try_from(index).unwrap() * 10))
        .collect();
    InstanceAddress {
        index,
        name: format!("node-{index}"),
        host: host.unwrap_or_default().to_owned(),
        ports: if host.is_some() { ports } else { BTreeMap::new() },
        placed: host.is_some(),
        ..InstanceAddress::default()
    }
}

/// node-1 of four on `host`, node-2 not placed yet, the agent on rack r2.
fn context(host: &str) -> TemplateContext {
    let instances = vec![
        instance(0, Some("127.0.41.1")),
        instance(1, Some(host)),
        instance(2, None),
        instance(3, Some("127.0.41.4")),
    ];
    TemplateContext {
        service: "cassandra".into(),
        role: "cassandra-role".into(),
        pod: POD.into(),
        index: 1,
        instance: "node-1".into(),
        task: "node".into(),
        host: host.into(),
        hostname: host.into(),
        ports: instances[1].ports.clone(),
        instances: [(POD.to_owned(), instances)].into(),
        attributes: [("rack".to_owned(), "r2".to_owned())].into(),
        ..TemplateContext::default()
    }
}

/// Renders the task's template `name` (`command` or a config's name) for `ctx`.
fn render(spec: &ServiceSpec, task: &str, name: &str, ctx: &TemplateContext) -> String {
    let task = spec.pods[0].task(task).unwrap();
    let template = match name {
        "command" => &task.command,
        config => &task.configs.iter().find(|c| c.name == config).unwrap().template,
    };
    Renderer::new().render(name, template, ctx).unwrap()
}

fn with(replace: &str, by: &str) -> String {
    assert!(DEFAULT_CONFIG.contains(replace), "{replace}");
    DEFAULT_CONFIG.replacen(replace, by, 1)
}

fn error(text: &str) -> String {
    parse(text, SpecFormat::Toml, "c.toml").unwrap_err().to_string()
}

#[test]
fn the_default_config_is_a_valid_service() {
    let spec = default_spec().unwrap();
    herd_core::validation::validate(&spec).unwrap();
    let pod = &spec.pods[0];
    assert_eq!((pod.name.as_str(), pod.count, pod.gang, pod.fixed_count.as_ref()), (POD, 3, false, None));
    assert_eq!(pod.strategy, herd_core::spec::Strategy::Serial, "nodes bootstrap one at a time");
    assert_eq!(pod.update_strategy, None, "updates roll like the deploy: one node at a time");
    assert_eq!(pod.artifacts[0].maven.as_ref().unwrap().version, "5.0.9", "the pinned distribution");
    assert_eq!(pod.volumes.len(), 1);
    let node = pod.task("node").unwrap();
    let ports: Vec<(&str, bool)> = node.ports.iter().map(|p| (p.name.as_str(), p.primary)).collect();
    assert_eq!(ports, [("native", true), ("storage", false), ("jmx", false)]);
    let readiness = node.readiness_check.as_ref().unwrap();
    assert_eq!(readiness.probe.as_deref(), Some(UP_NORMAL));
    assert!(probes().contains_key(UP_NORMAL));
    let plans: Vec<(&str, &[String])> =
        spec.plans.iter().map(|p| (p.name.as_str(), p.parameters.as_slice())).collect();
    let (tag, dir_tag) = (["TAG".to_owned()], ["BACKUP_DIR".to_owned(), "TAG".to_owned()]);
    assert_eq!(
        plans,
        [
            ("repair", &[][..]),
            ("repair-keyspace", &["KEYSPACE".to_owned()][..]),
            ("cleanup", &[][..]),
            ("backup", &tag[..]),
            ("backup-to", &dir_tag[..]),
            ("restore", &tag[..]),
            ("restore-from", &dir_tag[..]),
        ]
    );
    let tasks = |plan: &str| spec.plans.iter().find(|p| p.name == plan).unwrap().phases[0].tasks.clone();
    assert_eq!(
        (tasks("backup-to"), tasks("restore-from")),
        (vec!["backup".to_owned()], vec!["restore".to_owned()])
    );
    let deployed: Vec<&str> = spec.deploy_tasks(pod).map(|t| t.name.as_str()).collect();
    assert_eq!(deployed, ["node"], "the nodetool tasks run only in their plans");
    assert_eq!(pod.decommission_tasks, ["decommission"], "a node scaled in streams its data away first");
}

#[test]
fn cassandra_yaml_is_rendered_per_node_with_overrides_and_the_placed_seeds() {
    let spec = default_spec().unwrap();
    let text = render(&spec, "node", "cassandra-yaml", &context("127.0.41.2"));
    let yaml: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(yaml["cluster_name"], "cassandra");
    assert_eq!(yaml["listen_address"], "127.0.41.2");
    assert_eq!(yaml["rpc_address"], "127.0.41.2");
    assert_eq!(yaml["native_transport_port"], 31010, "{text}");
    assert_eq!(yaml["storage_port"], 31011);
    assert_eq!(yaml["endpoint_snitch"], "GossipingPropertyFileSnitch");
    // The first three nodes are the seeds: node-2 is not placed yet, node-3 is no seed.
    assert_eq!(
        yaml["seed_provider"][0]["parameters"][0]["seeds"], "127.0.41.1:31001,127.0.41.2:31011",
        "{text}"
    );
    assert_eq!(yaml["data_file_directories"], serde_json::json!(["data/data"]));
    assert_eq!(yaml["commitlog_directory"], "data/commitlog");
    assert_eq!(yaml["hints_directory"], "data/hints");
    assert_eq!(yaml["saved_caches_directory"], "data/saved_caches");
    assert_eq!(yaml["compaction_throughput"], "64MiB/s", "an override of configs/cassandra.toml");
    assert_eq!(yaml["num_tokens"], 16);
    assert_eq!(yaml["commitlog_sync_period"], "10000ms");
    // One seed: only node-0.
    let one = parse(&with("# seeds = 3", "seeds = 1"), SpecFormat::Toml, "c.toml").unwrap();
    let text = render(&one, "node", "cassandra-yaml", &context("127.0.41.2"));
    assert!(text.contains("- seeds: \"127.0.41.1:31001\"\n"), "{text}");
}

#[test]
fn overrides_merge_deeply_into_herds_defaults() {
    let config = with(
        "compaction_throughput = \"64MiB/s\"",
        "num_tokens = 8\ncluster_name = \"Prod Ring\"\n\n[node.yaml.client_encryption_options]\nenabled = false\nkeystore = \"conf/.keystore\"",
    );
    let spec = parse(&config, SpecFormat::Toml, "c.toml").unwrap();
    let text = render(&spec, "node", "cassandra-yaml", &context("127.0.41.2"));
    let yaml: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(yaml["num_tokens"], 8);
    assert_eq!(yaml["cluster_name"], "Prod Ring");
    assert_eq!(yaml["concurrent_compactors"], 2);
    assert_eq!(
        yaml["client_encryption_options"],
        serde_json::json!({ "enabled": false, "keystore": "conf/.keystore" })
    );
}

#[test]
fn datacenter_and_rack_come_from_the_agents_attributes() {
    let spec = default_spec().unwrap();
    let mut ctx = context("127.0.41.2");
    let text = render(&spec, "node", "rackdc", &ctx);
    assert!(text.ends_with("dc=dc1\nrack=r2\n"), "no `dc` attribute: the default; rack from `rack`: {text}");
    ctx.attributes = [("zone".to_owned(), "eu-1".to_owned()), ("dc".to_owned(), "paris".to_owned())].into();
    let text = render(&spec, "node", "rackdc", &ctx);
    assert!(text.ends_with("dc=paris\nrack=rack1\n"), "{text}");
    let zoned =
        parse(&with("rack_attribute = \"rack\"", "rack_attribute = \"zone\""), SpecFormat::Toml, "c.toml");
    let text = render(&zoned.unwrap(), "node", "rackdc", &ctx);
    assert!(text.ends_with("dc=paris\nrack=eu-1\n"), "{text}");
}

#[test]
fn the_node_runs_cassandra_from_the_distribution_with_java_17_flags() {
    let spec = default_spec().unwrap();
    let command = render(&spec, "node", "command", &context("127.0.41.2"));
    for expected in [
        "ls -d */libs */lib",
        "mkdir -p data/data data/commitlog data/saved_caches data/hints data/cdc_raw logs",
        "exec java -Xms2048m -Xmx2048m ",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "-javaagent:\"$(ls \"$CASSANDRA_LIB\"/jamm-*.jar | head -1)\"",
        "-Dcassandra.config=\"file://$PWD/cassandra.yaml\"",
        "-Dcassandra-rackdc.properties=\"file://$PWD/cassandra-rackdc.properties\"",
        "-Dcom.sun.management.jmxremote.port=31012 -Dcom.sun.management.jmxremote.rmi.port=31012",
        // On the local cluster every agent has its own loopback address: JMX binds it.
        "-Dcom.sun.management.jmxremote.host=127.0.41.2",
        "org.apache.cassandra.service.CassandraDaemon",
    ] {
        assert!(command.contains(expected), "{expected:?} in {command}");
    }
    // Elsewhere JMX (no authentication) stays on the node's own loopback.
    let command = render(&spec, "node", "command", &context("10.0.0.2"));
    assert!(command.contains("-Dcom.sun.management.jmxremote.host=127.0.0.1 "), "{command}");
    // User JVM options come last (they win).
    let tuned =
        parse(&with("jvm_options = []", "jvm_options = [\"-XX:+UseZGC\"]"), SpecFormat::Toml, "c.toml");
    let command = render(&tuned.unwrap(), "node", "command", &context("127.0.41.2"));
    assert!(command.contains("-XX:+UseZGC -javaagent:"), "{command}");
}

#[test]
fn the_plans_run_nodetool_against_their_own_node() {
    let spec = default_spec().unwrap();
    let ctx = context("127.0.41.2");
    let repair = render(&spec, "repair", "command", &ctx);
    assert!(
        repair.contains("org.apache.cassandra.tools.NodeTool -h 127.0.41.2 -p 31012 repair -pr"),
        "{repair}"
    );
    assert!(repair.contains("-Xmx128m"), "{repair}");
    let keyspace = render(&spec, "repair-keyspace", "command", &ctx);
    assert!(keyspace.ends_with("repair -pr \"$KEYSPACE\""), "{keyspace}");
    let cleanup = render(&spec, "cleanup", "command", &context("10.0.0.2"));
    assert!(cleanup.ends_with("NodeTool -h 127.0.0.1 -p 31012 cleanup"), "{cleanup}");
    let decommission = render(&spec, "decommission", "command", &ctx);
    assert!(decommission.ends_with("NodeTool -h 127.0.41.2 -p 31012 decommission"), "{decommission}");
}

#[test]
fn nodes_can_be_added_and_removed_only_through_decommission() {
    let three = default_spec().unwrap();
    let four = parse(&with("nodes = 3", "nodes = 4"), SpecFormat::Toml, "c.toml").unwrap();
    let options = herd_core::validation::UpdateOptions { allow_decommission: false };
    assert!(herd_core::validation::validate_update(&three, &four, options).is_ok());
    assert!(herd_core::validation::validate_update(&four, &three, options).is_err());
    let allowed = herd_core::validation::UpdateOptions { allow_decommission: true };
    assert!(herd_core::validation::validate_update(&four, &three, allowed).is_ok());
    // The seeds stay the first three.
    let text = render(&four, "node", "cassandra-yaml", &context("127.0.41.2"));
    assert!(text.contains("- seeds: \"127.0.41.1:31001,127.0.41.2:31011\"\n"), "{text}");
}

#[test]
fn overriding_what_herd_owns_is_refused_by_name() {
    let err = error(&with("concurrent_compactors = 2", "listen_address = \"0.0.0.0\"\nstorage_port = 7000"));
    assert!(err.contains("node.yaml.listen_address"), "{err}");
    assert!(err.contains("sets listen_address, storage_port, which herd owns"), "{err}");
    assert!(err.contains("remove it"), "{err}");
    let err =
        error(&with("[node.yaml]", "[node.yaml.seed_provider]\nclass_name = \"x\"\n\n[node.yaml.more]"));
    assert!(err.contains("node.yaml.seed_provider"), "{err}");
}

#[test]
fn bad_values_name_the_field_and_fix() {
    let err = error(&with("nodes = 3", "nodes = 0"));
    assert!(err.contains("nodes: is 0") && err.contains("at least 1"), "{err}");
    let err = error(&with("# seeds = 3", "seeds = 4"));
    assert!(err.contains("seeds: is 4 with 3 node(s)"), "{err}");
    let err = error(&with("heap_mb = 2048", "heap_mb = 4000"));
    assert!(err.contains("node.heap_mb") && err.contains("raise mem_mb"), "{err}");
    let err = error(&with("heap_mb = 2048", "heap_mb = 128"));
    assert!(err.contains("node.heap_mb") && err.contains("at least 256"), "{err}");
    let err = error(&with("heap_mb = 128", "heap_mb = 250"));
    assert!(err.contains("nodetool.heap_mb"), "{err}");
    let err = error(&with("storage_port = 0\njmx_port = 0", "storage_port = 7000\njmx_port = 7000"));
    assert!(err.contains("node.jmx_port: is 7000, like node.storage_port"), "{err}");
    let err = error(&with("default_rack = \"rack1\"", "default_rack = \"rack 1\""));
    assert!(err.contains("node.default_rack") && err.contains("plain name"), "{err}");
    let err = error("name = \"c\"\nnodes = 1\nnodez = 2\n");
    assert!(err.contains("nodez"), "{err}");
    let err = error(&with("[node]", "[node]\nheap = 1"));
    assert!(err.contains("heap"), "{err}");
}

#[test]
fn a_yaml_config_works_too() {
    let spec = parse(
        "name: ring\nnodes: 1\nnode:\n  heap_mb: 512\n  mem_mb: 1024\n  yaml:\n    num_tokens: 4\n",
        SpecFormat::Yaml,
        "c.yaml",
    )
    .unwrap();
    herd_core::validation::validate(&spec).unwrap();
    let mut ctx = context("127.0.41.2");
    ctx.instances.get_mut(POD).unwrap().truncate(2);
    let text = render(&spec, "node", "cassandra-yaml", &ctx);
    assert!(text.contains("num_tokens: 4\n") && text.contains("cluster_name: ring\n"), "{text}");
    // One node, one seed: node-0.
    assert!(text.contains("- seeds: \"127.0.41.1:31001\"\n"), "{text}");
}

#[test]
fn a_replaced_node_takes_over_its_predecessor_and_is_not_its_own_seed() {
    let spec = default_spec().unwrap();
    let mut ctx = context("127.0.41.5");
    let command = render(&spec, "node", "command", &ctx);
    assert!(!command.contains("replace_address"), "never replaced: a new node {command}");
    // node-1, a seed, was replaced: it ran on 127.0.41.2 before, now on 127.0.41.5.
    ctx.replaced_host = Some("127.0.41.2".to_owned());
    let command = render(&spec, "node", "command", &ctx);
    assert!(
        command.contains(" -Dcassandra.replace_address_first_boot=127.0.41.2 -cp \"$CASSANDRA_LIB/*\""),
        "{command}"
    );
    // With the old placement's ports: the address and its storage port.
    ctx.replaced_ports = [("storage".to_owned(), 31011), ("native".to_owned(), 31010)].into();
    let command = render(&spec, "node", "command", &ctx);
    assert!(command.contains(" -Dcassandra.replace_address_first_boot=127.0.41.2:31011 -cp "), "{command}");
    let seeds = |text: &str| {
        let yaml: serde_json::Value = serde_norway::from_str(text).unwrap();
        yaml["seed_provider"][0]["parameters"][0]["seeds"].as_str().unwrap().to_owned()
    };
    // The other placed seed only (node-2 is not placed, node-3 is no seed).
    assert_eq!(seeds(&render(&spec, "node", "cassandra-yaml", &ctx)), "127.0.41.1:31001");
    // The only seed replaced: it learns the ring from the others.
    let one = parse(&with("# seeds = 3", "seeds = 1"), SpecFormat::Toml, "c.toml").unwrap();
    let mut ctx = context("127.0.41.2");
    ctx.index = 0;
    ctx.instance = "node-0".into();
    ctx.replaced_host = Some("127.0.41.9".to_owned());
    let nodes = ctx.instances.get_mut(POD).unwrap();
    nodes[0].host = "127.0.41.5".into();
    assert_eq!(seeds(&render(&one, "node", "cassandra-yaml", &ctx)), "127.0.41.2:31011,127.0.41.4:31031");
    // The others still list it (where it runs now).
    ctx.replaced_host = None;
    ctx.index = 1;
    assert_eq!(seeds(&render(&one, "node", "cassandra-yaml", &ctx)), "127.0.41.5:31001");
    // A node being scaled in is no seed.
    ctx.instances.get_mut(POD).unwrap()[0].decommissioning = true;
    let three = default_spec().unwrap();
    assert_eq!(seeds(&render(&three, "node", "cassandra-yaml", &ctx)), "127.0.41.2:31011");
}

#[test]
fn backups_go_to_the_configured_directory_or_the_plans_own_and_come_back_with_nodetool_import() {
    let spec = default_spec().unwrap();
    let ctx = context("127.0.41.2");
    let backup = render(&spec, "backup", "command", &ctx);
    for expected in [
        "nodetool() { java -Xmx128m ",
        "org.apache.cassandra.tools.NodeTool -h 127.0.41.2 -p 31012 \"$@\"; }\nset -eu\n",
        "DIR=\"${BACKUP_DIR:-/var/backups/cassandra}\"",
        "NODE_DIR=\"$DIR/$TAG/node-1\"",
        "nodetool snapshot -t \"$TAG\"\n",
        "for snapshot in data/data/*/*/snapshots/\"$TAG\"; do",
        "case \"$keyspace\" in system*) continue ;; esac",
        "nodetool clearsnapshot -t \"$TAG\"\nmv \"$NODE_DIR.partial\" \"$NODE_DIR\"\n",
    ] {
        assert!(backup.contains(expected), "{expected:?} in {backup}");
    }
    let restore = render(&spec, "restore", "command", &ctx);
    for expected in [
        "NODE_DIR=\"$DIR/$TAG/node-1\"",
        "for table_dir in \"$NODE_DIR\"/*/*; do",
        "table=${table%-*}",
        "nodetool import --copy-data \"$keyspace\" \"$table\" \"$table_dir\"",
    ] {
        assert!(restore.contains(expected), "{expected:?} in {restore}");
    }
    for script in [&backup, &restore] {
        let check = std::process::Command::new("sh").arg("-n").arg("-c").arg(script).output().unwrap();
        assert!(check.status.success(), "{}: {script}", String::from_utf8_lossy(&check.stderr));
    }
    let elsewhere = parse(
        &with("dir = \"/var/backups/cassandra\"", "dir = \"/mnt/shared/ring-backups\""),
        SpecFormat::Toml,
        "c.toml",
    )
    .unwrap();
    let backup = render(&elsewhere, "backup", "command", &ctx);
    assert!(backup.contains("DIR=\"${BACKUP_DIR:-/mnt/shared/ring-backups}\""), "{backup}");
    for bad in ["backups", "/tmp/a b", "/tmp/$(x)", "/tmp/{{ x }}", "/tmp/../etc"] {
        let err = error(&with("dir = \"/var/backups/cassandra\"", &format!("dir = {bad:?}")));
        assert!(err.contains("backup.dir") && err.contains("absolute"), "{bad}: {err}");
    }
}
