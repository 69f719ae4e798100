//! Smoke test: Storm from the assembled distribution, on a ZooKeeper from the `zookeeper`
//! distribution. Nimbus reports itself as the leader with its version, and a Supervisor as
//! registered with its two slots — asked over Nimbus' Thrift API by a small compiled probe,
//! since Storm's UI (storm-webapp, whose REST API would say the same) is in no registry here.
//! A word-count topology compiled against `lib-worker/` (Flux is unavailable too) is
//! submitted; the Supervisor starts its worker, which counts words: its last bolt appends
//! the counts to a file, where a word counted twice shows up. Killing the Supervisor's
//! process group takes the worker JVMs down with it. Records floors `storm-nimbus` and
//! `storm-supervisor`.
//!
//! Launch, per the verified recipe: `java -Dstorm.home=<home> -Dstorm.conf.file=<node>/storm.yaml
//! -Dlog4j.configurationFile=<home>/log4j2/cluster.xml -cp '<home>/lib/*:<home>/conf'
//! org.apache.storm.daemon.nimbus.Nimbus` (resp. `...daemon.supervisor.Supervisor`, with
//! JAVA_HOME: it starts the workers), each node with its own absolute `storm.local.dir` and
//! RocksDB metrics folder. ZooKeeper and Nimbus use 127.0.27.1, the Supervisor 127.0.27.2;
//! Storm's Thrift and worker ports listen on every address, so they are picked free there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, Dist, compile_java, distribution, free_ports, guarded_command, java, java_home,
    processes_mentioning, record_floor, run_tool, scratch_dir, start_zookeeper,
};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// ZooKeeper's and Nimbus' address.
const NIMBUS: Ipv4Addr = Ipv4Addr::new(127, 0, 27, 1);

/// The Supervisor's address.
const SUPERVISOR: Ipv4Addr = Ipv4Addr::new(127, 0, 27, 2);

/// The topology's name.
const TOPOLOGY: &str = "herd-smoke";

/// The cluster's ports.
struct Ports {
    zookeeper: u16,
    nimbus: u16,
    supervisor: u16,
    slots: [u16; 2],
}

/// Writes `<node>/storm.yaml` for a daemon whose hostname is `host`; returns its path.
fn storm_yaml(node: &Path, host: Ipv4Addr, p: &Ports) -> PathBuf {
    std::fs::create_dir_all(node.join("logs")).unwrap();
    let path = node.join("storm.yaml");
    std::fs::write(
        &path,
        format!(
            "storm.zookeeper.servers: [\"{NIMBUS}\"]\n\
             storm.zookeeper.port: {zookeeper}\n\
             storm.zookeeper.root: \"/storm\"\n\
             nimbus.seeds: [\"{NIMBUS}\"]\n\
             nimbus.thrift.port: {nimbus}\n\
             storm.local.hostname: \"{host}\"\n\
             storm.local.dir: \"{node}/data\"\n\
             storm.metricstore.rocksdb.location: \"{node}/metrics-rocksdb\"\n\
             supervisor.thrift.port: {supervisor}\n\
             supervisor.slots.ports: [{slot0}, {slot1}]\n\
             worker.childopts: \"-Xmx%HEAP-MEM%m\"\n\
             worker.heap.memory.mb: 256\n\
             topology.worker.max.heap.size.mb: 512\n\
             supervisor.worker.start.timeout.secs: 60\n",
            zookeeper = p.zookeeper,
            nimbus = p.nimbus,
            supervisor = p.supervisor,
            slot0 = p.slots[0],
            slot1 = p.slots[1],
            node = node.display(),
        ),
    )
    .unwrap();
    path
}

/// `java <Storm's daemon flags> -cp 'lib/*:conf' <main>` for the daemon `name` of `node`.
fn storm_daemon(dist: &Dist, node: &Path, name: &str, main: &str) -> Command {
    let home = dist.home.display();
    let mut command = guarded_command(java(), None);
    command
        .args(["-Xmx384m", "-server"])
        .arg(format!("-Ddaemon.name={name}"))
        .arg(format!("-Dstorm.home={home}"))
        .arg(format!("-Dstorm.log.dir={}/logs", node.display()))
        .arg(format!("-Dlogfile.name={name}.log"))
        .arg(format!("-Dstorm.conf.file={}/storm.yaml", node.display()))
        .arg("-Djava.deserialization.disabled=true")
        .arg(format!("-Dlog4j.configurationFile={home}/log4j2/cluster.xml"))
        .arg(format!("-Djava.io.tmpdir={}", node.display()))
        .arg("-cp")
        .arg(format!("{home}/lib/*:{home}/conf"))
        .arg(main)
        .current_dir(node);
    command
}

/// A client JVM of the cluster (`-cp 'lib-worker/*:<app jar>'`, Nimbus' storm.yaml).
fn storm_client(dist: &Dist, app: &Path, conf: &Path) -> Command {
    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx256m")
        .arg(format!("-Dstorm.conf.file={}", conf.display()))
        .arg(format!("-Dstorm.jar={}", app.display()))
        .arg("-cp")
        .arg(format!("{}:{}", dist.classpath("lib-worker"), app.display()));
    command
}

/// Succeeds once the probe's latest cluster summary has a line starting with `line`.
fn probe_shows(probe_log: &Path, line: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(probe_log).unwrap_or_default();
    let latest = text.rsplit("--\n").find(|block| !block.trim().is_empty()).unwrap_or_default();
    anyhow::ensure!(latest.lines().any(|l| l.starts_with(line)), "the probe says {latest:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_nimbus_and_supervisor_run_a_word_count_topology() {
    let dist = distribution("storm").await.expect("assemble storm");
    let scratch = scratch_dir("storm").unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/storm");
    let app = compile_java(
        &sources,
        &dist.classpath("lib-worker"),
        &scratch.path().join("app"),
        "herd-storm-app.jar",
        Duration::from_secs(180),
    )
    .await
    .expect("compile the topology and the probe");
    let zookeeper_dir = scratch.path().join("zookeeper");
    std::fs::create_dir_all(&zookeeper_dir).unwrap();
    let (_zookeeper, zookeeper) = start_zookeeper(NIMBUS, &zookeeper_dir).await.unwrap();
    let [nimbus, supervisor, slot0, slot1] = free_ports(Ipv4Addr::UNSPECIFIED).unwrap();
    let ports = Ports { zookeeper, nimbus, supervisor, slots: [slot0, slot1] };
    let nimbus_dir = scratch.path().join("nimbus");
    let supervisor_dir = scratch.path().join("supervisor");
    let nimbus_conf = storm_yaml(&nimbus_dir, NIMBUS, &ports);
    storm_yaml(&supervisor_dir, SUPERVISOR, &ports);
    let logs = scratch.path();

    // The probe polls from the start, so Nimbus' time to ready is not its JVM's start-up.
    let mut probe = storm_client(&dist, &app, &nimbus_conf);
    probe.arg("HerdStormInfo").current_dir(scratch.path());
    let probe = Daemon::spawn("probe", probe, logs).unwrap();
    let probe_log = probe.stdout_log().to_owned();
    let mut nimbus = Daemon::spawn(
        "nimbus",
        storm_daemon(&dist, &nimbus_dir, "nimbus", "org.apache.storm.daemon.nimbus.Nimbus"),
        logs,
    )
    .unwrap();
    let leader = format!("nimbus {NIMBUS}:{} leader=true version={}", ports.nimbus, dist.version);
    nimbus
        .wait_until("Nimbus reports itself the leader", Duration::from_secs(120), || async {
            probe_shows(&probe_log, &leader)
        })
        .await;
    record_floor("storm-nimbus", &dist.version, nimbus.uptime(), dist.size_bytes).unwrap();

    let mut command =
        storm_daemon(&dist, &supervisor_dir, "supervisor", "org.apache.storm.daemon.supervisor.Supervisor");
    command.env("JAVA_HOME", java_home().unwrap());
    let mut supervisor = Daemon::spawn("supervisor", command, logs).unwrap();
    let registered = format!("supervisor {SUPERVISOR} slots=2");
    supervisor
        .wait_until("Nimbus lists the Supervisor", Duration::from_secs(120), || async {
            probe_shows(&probe_log, &registered)
        })
        .await;
    record_floor("storm-supervisor", &dist.version, supervisor.uptime(), dist.size_bytes).unwrap();

    let report = scratch.path().join("word-counts.txt");
    let mut submit = storm_client(&dist, &app, &nimbus_conf);
    submit.arg("HerdWordTopology").arg(TOPOLOGY).arg(&report).current_dir(scratch.path());
    let submitted = Instant::now();
    nimbus
        .expect_within(
            "submitting the topology",
            Duration::from_secs(120),
            run_tool("StormSubmitter", submit, Duration::from_secs(120)),
        )
        .await;
    let active = format!("topology {TOPOLOGY} status=ACTIVE workers=1");
    nimbus
        .wait_until("Nimbus lists the topology active", Duration::from_secs(60), || async {
            probe_shows(&probe_log, &active)
        })
        .await;
    let counted = supervisor
        .wait_until("the topology counts a word twice", Duration::from_secs(120), || async {
            let text = std::fs::read_to_string(&report).unwrap_or_default();
            let twice =
                text.lines().find(|l| l.split_once(' ').is_some_and(|(_, n)| n.parse::<u32>() == Ok(2)));
            twice.map(str::to_owned).ok_or_else(|| anyhow::anyhow!("the counts so far: {text:?}"))
        })
        .await;
    eprintln!(
        "[herd-test] the topology counted {counted:?} {:.1}s after its submission",
        submitted.elapsed().as_secs_f64()
    );

    // The workers are the Supervisor's children, in its process group.
    let worker_marker = format!("-Dstorm.local.dir={}/data", supervisor_dir.display());
    assert!(!processes_mentioning(&worker_marker).is_empty(), "no worker JVM runs with {worker_marker}");
    drop(supervisor);
    // SIGKILLed with the group; a JVM takes a moment to go away.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut left = processes_mentioning(&worker_marker);
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = processes_mentioning(&worker_marker);
    }
    assert!(left.is_empty(), "worker JVMs outlived the Supervisor: {left:?}");
    drop(probe);
}
