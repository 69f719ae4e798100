//! Operating a Cassandra ring with herd, on the local cluster (5 agents, 3 nodes with small
//! heaps, one seed so that the other nodes really bootstrap), checked with a real CQL
//! client (the `scylla` driver) and Cassandra's own tables, one stack for the whole story:
//!
//! 1. the scheduler is killed while node-1 bootstraps (node-0 up, node-1 JOINING in
//!    node-0's gossip) and started again: the ring completes and node-1 bootstrapped once
//!    (one task launched, one "Starting to bootstrap" in its log, the host id it joined
//!    with, `bootstrapped = COMPLETED`);
//! 2. rows are written at QUORUM; scale out: a 4th node joins, the `cleanup` plan runs on
//!    each node; scale in: the 4th node runs `nodetool decommission` (it leaves the ring,
//!    its data streamed to the others) before it is killed and its reservation and volume
//!    released; every row reads back at QUORUM after each;
//! 3. a non-seed node's agent dies and the node is replaced on another agent with
//!    Cassandra's replace-address mechanism, then the seed's: each time the ring is back to
//!    3 nodes up and normal (the framework's `up-normal` probe, and `nodetool status` on
//!    each node) without the dead address, the dead agent's old reservation is released when
//!    it comes back, and after the `repair` plan every row reads back at QUORUM;
//! 4. the rows are backed up with the `backup` plan (nodetool snapshot, copied to the
//!    configured directory), the table is truncated, and the `restore` plan (nodetool
//!    import) brings every row back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cql.rs"]
mod cql;
mod support;

use cql::{connect, create_rows_table, missing, on, write};
use herd_core::scheduler::plan::{Plan, Status};
use herd_core::spec::{ServiceSpec, SpecFormat};
use herd_testkit::{ClusterSection, Stack};
use scylla::client::session::Session;
use scylla::cluster::Node;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{get_json, http, post_json, role_reservations};

/// The agents' addresses: 127.0.44.1 to 127.0.44.5.
const BLOCK: u8 = 44;
const AGENTS: usize = 5;
const ROWS: i32 = 3_000;
const ROLE: &str = "cassandra-role";

/// Test-only JVM options: skip the wait a production node makes for gossip to settle; a
/// 3 s ring delay (Cassandra's default: 30 s), long enough for a replacement to learn the
/// ring before it takes over its predecessor's tokens; a replacement that waits twice that
/// rather than the 60 s load broadcast interval before it checks that the node it replaces
/// is really gone; and a 10 s gossip quarantine (default: twice the ring delay). The
/// quarantine decides both how long the nodes ignore an address that left the ring (a
/// replacement or a new node on a reused agent address is ignored until then) and, half of
/// it, how long a joining node may be silent before they drop it from gossip as a "fat
/// client" (forgetting that it replaces another, which then stays in their peers tables).
const FAST_START: &str = "jvm_options = [\"-Dcassandra.skip_wait_for_gossip_to_settle=0\", \
                          \"-Dcassandra.ring_delay_ms=3000\", \"-Dcassandra.superuser_setup_delay_ms=0\", \
                          \"-Dcassandra.broadcast_interval_ms=1000\", \"-Dcassandra.gossip_quarantine_delay_ms=10000\"]";

/// The default config with `nodes` nodes, made small for one 2-core machine, one seed, and
/// backups in `backups`.
fn spec(nodes: u32, backups: &Path) -> ServiceSpec {
    let backup_dir = format!("dir = {:?}", backups.display().to_string());
    let config = cql::small_config(FAST_START)
        .replacen("nodes = 3", &format!("nodes = {nodes}"), 1)
        .replacen("# seeds = 3", "seeds = 1", 1)
        .replacen("dir = \"/var/backups/cassandra\"", &backup_dir, 1);
    assert!(config.contains(&backup_dir), "the backup dir is set");
    herd_cassandra::parse(&config, SpecFormat::Toml, "cassandra-ops.toml").unwrap()
}

/// Prints a deploy plan's steps.
fn show(service: &str, plan: &Plan) {
    let steps: Vec<String> =
        plan.phases.iter().flat_map(|p| &p.steps).map(|s| format!("{}={:?}", s.name, s.status)).collect();
    eprintln!("{service}: {:?} [{}]", plan.status, steps.join(" "));
}

fn step_status(plan: &Plan, step: &str) -> Option<Status> {
    plan.phases.iter().flat_map(|p| &p.steps).find(|s| s.name == step).map(|s| s.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_survives_a_scheduler_kill_backups_scaling_and_replaced_nodes() {
    let started = Instant::now();
    // HERD_KEEP_WORK=1 keeps the cluster's work dir (sandboxes, logs) for a look afterwards.
    let keep = std::env::var_os("HERD_KEEP_WORK").is_some();
    let work = tempfile::Builder::new().prefix("cassandra-ops").disable_cleanup(keep).tempdir().unwrap();
    if keep {
        eprintln!("work dir (kept): {}", work.path().display());
    }
    let backups = work.path().join("backups");
    WORK.set(work.path().to_owned()).unwrap();
    let mut stack = Stack::builder("cassandra-ops")
        .cluster(ClusterSection {
            agents: AGENTS,
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
        // A dead agent's tasks are lost after 2 s (Mesos: 75 s), so a replace proceeds.
        .agent_unreachable_timeout(Duration::from_secs(2))
        .on_progress(Arc::new(show))
        .spec("cassandra", &spec(3, &backups))
        .probes(herd_cassandra::probes())
        .up_until("cassandra", |plan| step_status(plan, "node-1") == Some(Status::InProgress))
        .await
        .unwrap();
    let http = http();

    let session = scheduler_killed_while_node_1_bootstraps(&mut stack, &backups, work.path()).await;
    create_rows_table(&session).await;
    let all: Vec<i32> = (0..ROWS).collect();
    tokio::time::timeout(Duration::from_secs(120), write(&session, all.iter().copied()))
        .await
        .expect("writes in time");
    eprintln!("{ROWS} rows written at QUORUM");

    scale_out_then_in(&mut stack, &session, &backups).await;
    for pod in ["node-1", "node-0"] {
        replace_after_its_agent_died(&stack, &session, pod, work.path()).await;
    }
    backup_truncate_restore(&stack, &session, &backups).await;
    drop(session);
    assert!(role_reservations(&http, stack.master_url(), ROLE).await.len() >= 3, "the ring's volumes stay");
    stack.shutdown().await;
    eprintln!("whole test in {:.1?}", started.elapsed());
}

/// The sandbox of task `task_id`, found under the local cluster's work dir `root`.
fn sandbox(root: &Path, task_id: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        // Volumes are symlinked into sandboxes: do not follow them.
        if !kind.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == task_id && path.join("stdout").exists() {
            return Some(path);
        }
        if let Some(found) = sandbox(&path, task_id) {
            return Some(found);
        }
    }
    None
}

/// The pod instance as the operator API shows it.
async fn pod(http: &reqwest::Client, api: &str, name: &str) -> serde_json::Value {
    get_json(http, &format!("{api}/v1/pods/{name}")).await
}

/// The `node` task's (id, state, ready) of a pod instance.
fn node_task(pod: &serde_json::Value) -> (String, String, bool) {
    let task = pod["tasks"].as_array().into_iter().flatten().find(|t| t["name"] == "node");
    task.map_or_else(Default::default, |t| {
        (
            t["id"].as_str().unwrap_or_default().to_owned(),
            t["state"].as_str().unwrap_or_default().to_owned(),
            t["ready"] == true,
        )
    })
}

/// `host:port` of a placed instance's CQL port.
fn native(pod: &serde_json::Value) -> String {
    format!("{}:{}", pod["agent"].as_str().unwrap(), pod["ports"]["native"])
}

/// The driver's node at `ip`.
fn node_at(session: &Session, ip: IpAddr) -> Option<Arc<Node>> {
    session.get_cluster_state().get_nodes_info().iter().find(|n| n.address.ip() == ip).cloned()
}

/// One node's gossip: address → (host id, status). The status is `STATUS_WITH_PORT`
/// (Cassandra 4+), else the legacy `STATUS`.
async fn gossip(session: &Session, node: &Arc<Node>) -> BTreeMap<IpAddr, (Option<String>, String)> {
    let query = "SELECT address, host_id, status_with_port, status FROM system_views.gossip_info";
    let rows = session.query_unpaged(on(node, query), &[]).await.unwrap().into_rows_result().unwrap();
    rows.rows::<(IpAddr, Option<String>, Option<String>, Option<String>)>()
        .unwrap()
        .map(|row| {
            let (address, host_id, with_port, status) = row.unwrap();
            let status = with_port.filter(|s| !s.is_empty()).or(status).unwrap_or_default();
            (address, (host_id, status))
        })
        .collect()
}

/// `nodetool status` against `pod`'s node (its JMX port on the agent's address), run with
/// the pinned distribution's own NodeTool: address → state (`UN`, `DN`, `UJ`...).
async fn nodetool_status(pod: &serde_json::Value) -> BTreeMap<IpAddr, String> {
    static DIST: tokio::sync::OnceCell<herd_integration_tests::Dist> = tokio::sync::OnceCell::const_new();
    let dist =
        DIST.get_or_init(|| async { herd_integration_tests::distribution("cassandra").await.unwrap() }).await;
    let home = WORK.get().expect("the work dir").join("nodetool-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = herd_integration_tests::guarded_command(herd_integration_tests::java(), None);
    command
        .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(herd_cassandra::JAVA17_MODULE_FLAGS)
        .arg(format!("-Duser.home={}", home.display()))
        .arg(format!("-Dlogback.configurationFile={}/conf/logback-tools.xml", dist.home.display()))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("org.apache.cassandra.tools.NodeTool")
        .args(["-h", pod["agent"].as_str().unwrap(), "-p", &pod["ports"]["jmx"].to_string(), "status"]);
    let out =
        herd_integration_tests::run_tool("nodetool status", command, Duration::from_secs(30)).await.unwrap();
    out.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let state = words.next().filter(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase()))?;
            let address = words.next()?.parse().ok()?;
            Some((address, state.to_owned()))
        })
        .collect()
}

/// The framework's readiness probe on pod `name`: the ring is all up and normal as every
/// node sees it, every pod placed in it.
async fn up_normal(api: &str, name: &str) -> Result<(), String> {
    let http = http();
    let mut instances = Vec::new();
    for other in get_json(&http, &format!("{api}/v1/pods")).await.as_array().unwrap() {
        let p = pod(&http, api, other.as_str().unwrap()).await;
        let host = p["agent"].as_str().unwrap_or_default().to_owned();
        instances.push(herd_core::template::InstanceAddress {
            index: p["name"].as_str().unwrap().rsplit('-').next().unwrap().parse().unwrap(),
            name: p["name"].as_str().unwrap().to_owned(),
            placed: !host.is_empty(),
            host,
            ports: serde_json::from_value(p["ports"].clone()).unwrap_or_default(),
            decommissioning: false,
        });
    }
    let target = instances.iter().find(|i| i.name == name).expect("the pod").clone();
    let probes = herd_cassandra::probes();
    probes[herd_cassandra::UP_NORMAL]
        .check(herd_runtime::probes::ProbeTarget {
            instance: target.name,
            index: target.index,
            host: target.host,
            ports: target.ports,
            instances,
        })
        .await
}

/// Every row reads back at QUORUM (within 2 minutes).
async fn read_back_all(session: &Session, after: &str) {
    let ids: Vec<i32> = (0..ROWS).collect();
    let reading = Instant::now();
    let wrong =
        tokio::time::timeout(Duration::from_secs(120), missing(session, &ids)).await.expect("reads in time");
    assert!(
        wrong.is_empty(),
        "{after}: {} of {ROWS} rows not read back, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
    eprintln!("{after}: all {ROWS} rows read back at QUORUM in {:.1?}", reading.elapsed());
}

/// Starts operator plan `plan` with `params` and waits until it is COMPLETE: how long it
/// took, and the most steps in progress at once.
async fn run_plan(api: &str, plan: &str, params: serde_json::Value, timeout: Duration) -> (Duration, usize) {
    let http = http();
    // Each node's latest task of the plan (its task has the plan's name), before.
    let tasks_now = || async {
        let mut ids = BTreeMap::new();
        for name in get_json(&http, &format!("{api}/v1/pods")).await.as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default().to_owned();
            let p = pod(&http, api, &name).await;
            let task = p["tasks"].as_array().into_iter().flatten().find(|t| t["name"] == plan);
            ids.insert(name, task.map(|t| (t["id"].clone(), t["state"].clone())));
        }
        ids
    };
    let before = tasks_now().await;
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let (status, text) = post_json(&http, &format!("{api}/v1/plans/{plan}/start"), &params).await;
        if status == 202 {
            break;
        }
        // The core may be running the plan's steps again on a replaced instance (see the
        // module docs): start it anew once that is done.
        assert!(status == 409 && Instant::now() < deadline, "{plan}: {status} {text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut most = 0;
    loop {
        let p = get_json(&http, &format!("{api}/v1/plans/{plan}")).await;
        let steps: Vec<String> = p["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|phase| phase["steps"].as_array().cloned().unwrap_or_default())
            .map(|s| {
                format!(
                    "{}={}{}",
                    s["name"].as_str().unwrap_or("?"),
                    s["status"].as_str().unwrap_or("?"),
                    s["message"].as_str().map(|m| format!(" ({m})")).unwrap_or_default()
                )
            })
            .collect();
        most = most.max(steps.iter().filter(|s| s.contains("=IN_PROGRESS")).count());
        let status = p["status"].as_str().unwrap_or_default();
        if status == "COMPLETE" {
            // Every node ran the plan's task anew, to its end.
            let after = tasks_now().await;
            for (name, task) in &after {
                let (id, state) = task.clone().unwrap_or_default();
                assert!(
                    state == "TASK_FINISHED"
                        && before.get(name).is_none_or(|b| b.as_ref().map(|t| &t.0) != Some(&id)),
                    "plan {plan} on {name}: {task:?} (before: {:?})",
                    before.get(name)
                );
            }
            let took = started.elapsed();
            eprintln!("plan {plan} {params} complete on {} nodes in {took:.1?}", steps.len());
            return (took, most);
        }
        if status == "ERROR" || Instant::now() > deadline {
            print_failed_tasks(api).await;
            panic!("plan {plan} is {status}: {steps:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The local cluster's work dir (for sandboxes).
static WORK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Prints the end of the output of every failed task of the service, to see why.
async fn print_failed_tasks(api: &str) {
    let (Some(work), http) = (WORK.get(), http()) else { return };
    let outcomes = get_json(&http, &format!("{api}/v1/offer-outcomes")).await;
    let recent: Vec<&serde_json::Value> = outcomes.as_array().into_iter().flatten().rev().take(12).collect();
    eprintln!("--- recent offer outcomes: {recent:#?}");
    let pods = get_json(&http, &format!("{api}/v1/pods")).await;
    for name in pods.as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
        let p = pod(&http, api, name).await;
        eprintln!("--- {name}: {p}");
        for task in p["tasks"].as_array().into_iter().flatten().filter(|t| t["state"] == "TASK_FAILED") {
            let id = task["id"].as_str().unwrap_or_default();
            let Some(dir) = sandbox(&work.join("cluster"), id) else { continue };
            for file in ["stdout", "stderr"] {
                let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                eprintln!("--- {id} {file} (last 40 lines):\n{tail}");
            }
        }
    }
}

/// Waits until `pod` runs on another agent than `away_from`, its node task ready (the
/// `up-normal` probe passed).
async fn wait_moved(api: &str, name: &str, away_from: &str, timeout: Duration) -> serde_json::Value {
    let http = http();
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let p = pod(&http, api, name).await;
        let (id, state, ready) = node_task(&p);
        let now = format!("{:.1?} {} {id} {state} ready={ready}", started.elapsed(), p["agent"]);
        if seen
            .last()
            .is_none_or(|last| last.split_once(' ').map(|(_, l)| l) != now.split_once(' ').map(|(_, n)| n))
        {
            seen.push(now);
        }
        if p["agent"].as_str().is_some_and(|a| a != away_from) && state == "TASK_RUNNING" && ready {
            eprintln!("{name}: {seen:#?}");
            return p;
        }
        assert!(Instant::now() < deadline, "{name} is not up and ready: {p}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Kills the scheduler while node-1 bootstraps (node-0's gossip shows it joining), waits
/// until node-1 has joined without it, restarts the scheduler, and checks that node-1
/// bootstrapped only once. Returns a session with the whole ring.
async fn scheduler_killed_while_node_1_bootstraps(
    stack: &mut Stack,
    backups: &Path,
    work: &Path,
) -> Arc<Session> {
    let http = http();
    let api = &api_of(stack);
    let node_0 = pod(&http, api, "node-0").await;
    let seed = connect(&[native(&node_0)]).await;
    let seed_ip: IpAddr = node_0["agent"].as_str().unwrap().parse().unwrap();
    let seed_node = node_at(&seed, seed_ip).expect("node-0 in its own session");
    // node-1 is launched, then bootstraps: BOOT in node-0's gossip.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (joining, host_id) = loop {
        let view = gossip(&seed, &seed_node).await;
        if let Some((ip, (host_id, _))) =
            view.iter().find(|(ip, (_, status))| **ip != seed_ip && status.starts_with("BOOT"))
        {
            break (*ip, host_id.clone().expect("a joining node has a host id"));
        }
        assert!(Instant::now() < deadline, "node-1 did not start bootstrapping: {view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let node_1 = pod(&http, api, "node-1").await;
    let (task_id, _, ready) = node_task(&node_1);
    assert_eq!(node_1["agent"].as_str(), Some(joining.to_string().as_str()), "node-1 is the one joining");
    assert!(!ready, "node-1 is not ready while it bootstraps");
    stack.kill("cassandra").unwrap();
    let killed = Instant::now();
    eprintln!("scheduler killed while node-1 ({joining}, host id {host_id}) bootstraps");
    // node-1 finishes bootstrapping on its own.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = gossip(&seed, &seed_node).await;
        if view.get(&joining).is_some_and(|(_, status)| status.starts_with("NORMAL")) {
            break;
        }
        assert!(Instant::now() < deadline, "node-1 did not finish bootstrapping: {view:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("node-1 joined {:.1?} after the scheduler was killed", killed.elapsed());
    drop(seed);

    let restarting = Instant::now();
    stack.restart("cassandra", spec(3, backups)).await.unwrap();
    eprintln!("restarted scheduler completed the ring in {:.1?}", restarting.elapsed());

    // One node task ever for node-1, the one that bootstrapped; the master agrees.
    let api = &api_of(stack);
    let node_1 = pod(&http, api, "node-1").await;
    assert_eq!(node_task(&node_1).0, task_id, "node-1 was not relaunched");
    let tasks = get_json(&http, &format!("{}/master/tasks?limit=1000", stack.master_url())).await;
    let launched: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .filter(|id| id.starts_with("cassandra__node-1-node__"))
        .collect();
    assert_eq!(launched, [task_id.as_str()], "one node task launched for node-1");
    // Cassandra's view: bootstrapped once, with the host id it joined with.
    let stdout = sandbox(&work.join("cluster"), &task_id).expect("node-1's sandbox").join("stdout");
    let log = std::fs::read_to_string(&stdout).unwrap();
    assert_eq!(
        log.matches("Starting to bootstrap").count(),
        1,
        "node-1 bootstrapped once ({})",
        stdout.display()
    );
    let contact_points: Vec<String> = {
        let mut all = Vec::new();
        for name in ["node-0", "node-1", "node-2"] {
            all.push(native(&pod(&http, api, name).await));
        }
        all
    };
    let session = Arc::new(connect(&contact_points).await);
    let node = node_at(&session, joining).expect("node-1 in the session");
    let (local_id, bootstrapped) = session
        .query_unpaged(on(&node, "SELECT host_id, bootstrapped FROM system.local WHERE key = 'local'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row::<(uuid::Uuid, String)>()
        .unwrap();
    assert_eq!((local_id.to_string(), bootstrapped.as_str()), (host_id, "COMPLETED"));
    assert_eq!(session.get_cluster_state().get_nodes_info().len(), 3);
    session
}

/// The stack's operator API URL (it changes when the scheduler restarts).
fn api_of(stack: &Stack) -> String {
    format!("http://{}", stack.api("cassandra").unwrap())
}

/// `backup` with a TAG, TRUNCATE, `restore` of that TAG: every row is back.
async fn backup_truncate_restore(stack: &Stack, session: &Session, backups: &Path) {
    let api = &api_of(stack);
    let (took, most) =
        run_plan(api, "backup", serde_json::json!({ "TAG": "before-truncate" }), Duration::from_secs(180))
            .await;
    assert_eq!(most, 1, "one node at a time");
    eprintln!("backup in {took:.1?}");
    for node in ["node-0", "node-1", "node-2"] {
        let tables: Vec<PathBuf> = std::fs::read_dir(backups.join("before-truncate").join(node).join("herd"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(tables.len(), 1, "{node}: {tables:?}");
        let files: Vec<String> = std::fs::read_dir(&tables[0])
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.iter().any(|f| f.ends_with("-Data.db")), "{node}: SSTables in {files:?}");
        assert!(files.iter().any(|f| f == "schema.cql"), "{node}: the table's schema in {files:?}");
    }
    session.query_unpaged("TRUNCATE herd.rows", &[]).await.unwrap();
    let gone = missing(session, &(0..ROWS).step_by(100).collect::<Vec<_>>()).await;
    assert_eq!(gone.len(), 30, "the table is empty after TRUNCATE");
    let (took, most) =
        run_plan(api, "restore", serde_json::json!({ "TAG": "before-truncate" }), Duration::from_secs(180))
            .await;
    assert_eq!(most, 1, "one node at a time");
    eprintln!("restore in {took:.1?}");
    read_back_all(session, "restored").await;
}

/// A 4th node joins (and `cleanup` runs), then leaves through `nodetool decommission`.
async fn scale_out_then_in(stack: &mut Stack, session: &Session, backups: &Path) {
    let http = http();
    let growing = Instant::now();
    stack.reconfigure("cassandra", spec(4, backups)).await.unwrap();
    let api = api_of(stack);
    let node_3 = pod(&http, &api, "node-3").await;
    eprintln!("node-3 joined in {:.1?} on {}", growing.elapsed(), node_3["agent"]);
    up_normal(&api, "node-3").await.expect("4 nodes up and normal");
    let (_, most) = run_plan(&api, "cleanup", serde_json::json!({}), Duration::from_secs(180)).await;
    assert_eq!(most, 1, "one node at a time");
    read_back_all(session, "4 nodes, cleaned up").await;

    let agent = node_3["agent"].as_str().unwrap().to_owned();
    let address: IpAddr = agent.parse().unwrap();
    let shrinking = Instant::now();
    stack.scale_in("cassandra", spec(3, backups)).await.unwrap();
    eprintln!("node-3 decommissioned in {:.1?}", shrinking.elapsed());
    let api = api_of(stack);
    let gone = http.get(format!("{api}/v1/pods/node-3")).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404, "the instance is gone");
    // The decommission finished before the node was stopped.
    let tasks = get_json(&http, &format!("{}/master/tasks?limit=1000", stack.master_url())).await;
    let last = |prefix: &str| {
        let task = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"].as_str().is_some_and(|id| id.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no task {prefix}*: {tasks}"));
        let status = task["statuses"].as_array().unwrap().last().unwrap();
        (task["state"].as_str().unwrap().to_owned(), status["timestamp"].as_f64().unwrap())
    };
    let (drain, drained_at) = last("cassandra__node-3-decommission__");
    let (node, stopped_at) = last("cassandra__node-3-node__");
    assert_eq!((drain.as_str(), node.as_str()), ("TASK_FINISHED", "TASK_KILLED"));
    assert!(
        drained_at <= stopped_at,
        "nodetool decommission finished ({drained_at}) before the node was killed ({stopped_at})"
    );
    // The node left the ring: LEFT in the others' gossip.
    let node_0 =
        node_at(session, pod(&http, &api, "node-0").await["agent"].as_str().unwrap().parse().unwrap())
            .unwrap();
    let view = gossip(session, &node_0).await;
    assert!(view.get(&address).is_none_or(|(_, status)| status.starts_with("LEFT")), "{view:?}");
    // Its reservation and volume are released.
    let deadline = Instant::now() + Duration::from_secs(60);
    while role_reservations(&http, stack.master_url(), ROLE).await.contains(&agent) {
        assert!(Instant::now() < deadline, "node-3's reservation on {agent} was not released");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    read_back_all(session, "3 nodes after the decommission").await;
}

/// `pod`'s agent dies; the pod is replaced on another agent, where it takes over its
/// predecessor's tokens (replace-address) and streams its data; the ring is 3 up and normal
/// without the dead address; after `repair`, every row reads back at QUORUM.
async fn replace_after_its_agent_died(stack: &Stack, session: &Session, name: &str, work: &Path) {
    let api = api_of(stack);
    let http = http();
    let before = pod(&http, &api, name).await;
    let dead = before["agent"].as_str().unwrap().to_owned();
    let dead_ip: IpAddr = dead.parse().unwrap();
    let index = usize::from(dead.rsplit('.').next().unwrap().parse::<u8>().unwrap()) - 1;
    stack.cluster().unwrap().stop_agent(index).unwrap();
    let died = Instant::now();
    // Dead as far as Cassandra is concerned: every other node's failure detector marked it
    // down (a node still seen alive cannot be replaced: the others refuse the replacement).
    let mut live = Vec::new();
    for other in ["node-0", "node-1", "node-2"].into_iter().filter(|other| *other != name) {
        live.push(pod(&http, &api, other).await);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for other in &live {
        loop {
            let status = nodetool_status(other).await;
            if status.get(&dead_ip).is_some_and(|state| state == "DN") {
                break;
            }
            assert!(Instant::now() < deadline, "{} does not see {dead} down: {status:?}", other["name"]);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    eprintln!("{name} on {dead} is down for the others {:.1?} after its agent died", died.elapsed());
    let replacing = Instant::now();
    let r = http.post(format!("{api}/v1/pods/{name}/replace")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    let after = wait_moved(&api, name, &dead, Duration::from_secs(240)).await;
    let moved_to = after["agent"].as_str().unwrap().to_owned();
    eprintln!("{name} replaced: {dead} (dead) -> {moved_to} in {:.1?}", replacing.elapsed());
    // The ring: 3 nodes up and normal, as each sees it, without the dead address.
    up_normal(&api, name).await.expect("the ring is all up and normal");
    for p in live.iter().chain([&after]) {
        let status = nodetool_status(p).await;
        assert!(
            status.len() == 3 && status.values().all(|s| s == "UN"),
            "{}: nodetool status {status:?}",
            p["name"]
        );
    }
    let mut peers = Vec::new();
    for other in ["node-0", "node-1", "node-2"] {
        let p = pod(&http, &api, other).await;
        let ip: IpAddr = p["agent"].as_str().unwrap().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let node = loop {
            if let Some(node) = node_at(session, ip) {
                break node;
            }
            assert!(Instant::now() < deadline, "the driver does not see {other} at {ip}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let listed = session
            .query_unpaged(on(&node, "SELECT peer FROM system.peers_v2"), &[])
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .rows::<(IpAddr,)>()
            .unwrap()
            .map(|row| row.unwrap().0)
            .collect::<Vec<_>>();
        if listed.contains(&dead_ip) {
            let row = session
                .query_unpaged(on(&node, "SELECT JSON * FROM system.peers_v2 WHERE peer = ?"), (dead_ip,))
                .await
                .unwrap()
                .into_rows_result()
                .unwrap()
                .rows::<(String,)>()
                .unwrap()
                .map(|r| r.unwrap().0)
                .collect::<Vec<_>>();
            eprintln!("{other} still lists {dead}: {row:?}");
        }
        peers.push((ip, listed));
    }
    assert!(
        peers
            .iter()
            .all(|(ip, listed)| listed.len() == 2 && !listed.contains(ip) && !listed.contains(&dead_ip)),
        "each node lists the 2 others as peers: {peers:?}"
    );
    // The replacement took over its predecessor's place: it runs as a bootstrapped node.
    let ip: IpAddr = moved_to.parse().unwrap();
    let node = node_at(session, ip).unwrap();
    let bootstrapped = session
        .query_unpaged(on(&node, "SELECT bootstrapped FROM system.local WHERE key = 'local'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row::<(String,)>()
        .unwrap()
        .0;
    assert_eq!(bootstrapped, "COMPLETED");
    let stdout = sandbox(&work.join("cluster"), &node_task(&after).0)
        .expect("the replacement's sandbox")
        .join("stdout");
    let log = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        log.contains(&format!("-Dcassandra.replace_address_first_boot={dead}"))
            && log.contains("Gathering node replacement information for"),
        "the replacement ran with replace-address ({})",
        stdout.display()
    );
    // The dead host comes back (repaired, empty of tasks): the core releases the old
    // reservation and volume it still holds for the service.
    stack.cluster().unwrap().restart_agent(index).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while role_reservations(&http, stack.master_url(), ROLE).await.contains(&dead) {
        assert!(Instant::now() < deadline, "{name}'s old reservation on {dead} was not released");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, most) = run_plan(&api, "repair", serde_json::json!({}), Duration::from_secs(240)).await;
    assert_eq!(most, 1, "one node at a time");
    read_back_all(session, &format!("{name} replaced and repaired")).await;
}
