//! How long herd takes to bring up a 3-node Cassandra ring, next to the floor: one bare node
//! started by hand on the same machine. Run:
//! `cargo bench -p herd-integration-tests --bench cassandra_up`.
//!
//! Both run the same thing: the node's command, `cassandra.yaml` and
//! `cassandra-rackdc.properties` exactly as herd renders them for an instance (the small
//! config of the integration tests: 512 MB heap, a 1 s ring delay, no wait for gossip to
//! settle), from the pinned distribution, warmed in the artifact cache first.
//!
//! - floor: the rendered command run by hand in a scratch dir, until a CQL query answers
//!   (a single node is its own seed: it does not bootstrap);
//! - herd: from `Stack::up` (the local cluster with 3 agents, the scheduler, the artifact
//!   served from the cache, fetched and unpacked by each agent, reservations and volumes)
//!   until the deploy plan is complete: the nodes bootstrapped one at a time, each ready
//!   only once the whole ring is up and normal as every node sees it (the `up-normal`
//!   probe); then the driver must see 3 nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/cql.rs"]
mod cql;

use herd_core::spec::{ServiceSpec, SpecFormat};
use herd_core::template::{InstanceAddress, Renderer, TemplateContext};
use herd_integration_tests::{Daemon, distribution, free_ports, guarded_command};
use herd_testkit::{ClusterSection, Stack};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// The agents' block (127.0.45.1-3) and the bare node's address.
const BLOCK: u8 = 45;
const BARE: Ipv4Addr = Ipv4Addr::new(127, 0, 45, 100);

/// The integration tests' small config.
fn spec() -> ServiceSpec {
    herd_cassandra::parse(&cql::small_config(cql::FAST_START), SpecFormat::Toml, "bench.toml").unwrap()
}

/// A CQL session with the nodes at `contact_points`, once one answers.
async fn connect(contact_points: &[String]) -> anyhow::Result<Session> {
    Ok(SessionBuilder::new()
        .known_nodes(contact_points)
        .connection_timeout(Duration::from_secs(3))
        .build()
        .await?)
}

/// One node started by hand with herd's rendered command and config files: the time until
/// a CQL query answers.
async fn bare_node() -> Duration {
    let dist = distribution("cassandra").await.unwrap();
    let scratch = herd_integration_tests::scratch_dir("cassandra-bench").unwrap();
    let dir = scratch.path();
    // The sandbox's shape: the distribution's folder beside the rendered files.
    std::os::unix::fs::symlink(&dist.home, dir.join(dist.home.file_name().unwrap())).unwrap();
    let [native, storage, jmx] = free_ports(BARE).unwrap();
    let ports: BTreeMap<String, u16> =
        [("native", native), ("storage", storage), ("jmx", jmx)].map(|(n, p)| (n.to_owned(), p)).into();
    let me = InstanceAddress {
        index: 0,
        name: "node-0".into(),
        host: BARE.to_string(),
        ports: ports.clone(),
        placed: true,
        decommissioning: false,
    };
    let ctx = TemplateContext {
        service: "cassandra".into(),
        role: "cassandra-role".into(),
        pod: herd_cassandra::POD.into(),
        instance: "node-0".into(),
        task: "node".into(),
        host: BARE.to_string(),
        hostname: BARE.to_string(),
        ports,
        instances: [(herd_cassandra::POD.to_owned(), vec![me])].into(),
        ..TemplateContext::default()
    };
    let spec = spec();
    let task = spec.pods[0].task("node").unwrap();
    let renderer = Renderer::new();
    for config in &task.configs {
        let text = renderer.render(&config.name, &config.template, &ctx).unwrap();
        std::fs::write(dir.join(&config.dest), text).unwrap();
    }
    let command = renderer.render("command", &task.command, &ctx).unwrap();
    let mut shell = guarded_command("/bin/sh", None);
    shell.arg("-c").arg(command).current_dir(dir);
    let mut node = Daemon::spawn("cassandra", shell, dir).unwrap();
    let address = format!("{BARE}:{native}");
    node.wait_until("a CQL query answers", Duration::from_secs(180), || async {
        let session = connect(std::slice::from_ref(&address)).await?;
        session.query_unpaged("SELECT release_version FROM system.local", &[]).await?;
        anyhow::Ok(())
    })
    .await;
    node.uptime()
}

/// A 3-node ring deployed by herd: the time from `Stack::up` until its deploy plan is
/// complete (every node up and normal as every node sees it).
async fn herd_up() -> Duration {
    let spec = spec();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let stack = Stack::builder("cassandra-bench")
        .cluster(ClusterSection {
            agents: 3,
            cpus: 2.0,
            // A node (1024 MB), its six nodetool tasks (256 MB each) and its executor.
            mem_mb: 3072.0,
            disk_mb: 4096.0,
            agent_ip_block: BLOCK,
            racks: Vec::new(),
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .spec("cassandra", &spec)
        .probes(herd_cassandra::probes())
        .up()
        .await
        .unwrap();
    let took = started.elapsed();
    let contact_points = stack.endpoints("cassandra").unwrap().get("node-native").to_vec();
    let session = connect(&contact_points).await.unwrap();
    assert_eq!(session.get_cluster_state().get_nodes_info().len(), 3, "three nodes in the ring");
    drop(session);
    stack.shutdown().await;
    took
}

fn summary(name: &str, runs: &[Duration]) -> f64 {
    let secs: Vec<f64> = runs.iter().map(Duration::as_secs_f64).collect();
    let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let median = {
        let mut s = secs.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    println!("{name:<52} min {min:>6.2} s   median {median:>6.2} s   runs {secs:.2?}");
    median
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse. Warm the artifact cache (and the
    // unpacked distribution) first.
    distribution("cassandra").await.unwrap();
    let mut bare = Vec::new();
    for _ in 0..RUNS {
        bare.push(bare_node().await);
    }
    let mut herd = Vec::new();
    for _ in 0..RUNS {
        herd.push(herd_up().await);
    }
    let floor = summary("one bare node, herd's command run by hand (floor)", &bare);
    let ring = summary("herd: 3-node ring, every node up and normal", &herd);
    println!(
        "ratio (medians): {:.2}x the floor for 3 nodes bootstrapped one at a time ({:.2}x per node)",
        ring / floor,
        ring / floor / 3.0
    );
}
