//! The Cassandra framework on the local cluster (3 agents on racks r1..r3, 3 nodes with
//! small heaps), started through `herd-testkit`'s stack from the pinned distribution: the
//! nodes bootstrap one at a time into one ring (datacenter and rack from the agents'
//! attributes); a real CQL client (the `scylla` driver) creates a keyspace with replication
//! factor 3, writes 10,000 rows at QUORUM and reads each back at QUORUM; node-1 is
//! restarted in place while a writer keeps writing at QUORUM, and every acknowledged row is
//! read back; the `repair-keyspace` plan runs `nodetool repair` on each node in turn; a
//! cassandra.yaml change rolls through the nodes one at a time and reaches each
//! (`system_views.settings`); an uninstall leaves no reservation, volume or task behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cql.rs"]
mod cql;
mod support;

use cql::{body, connect, create_rows_table, missing, on, write};
use herd_core::scheduler::plan::Status;
use herd_core::spec::SpecFormat;
use herd_testkit::{ClusterSection, Stack};
use scylla::client::session::Session;
use scylla::statement::Consistency;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{get_json, http, role_reservations};

const ROWS: i32 = 10_000;

/// The default config made small enough for three nodes on one 2-core machine.
fn small_config() -> String {
    cql::small_config(cql::FAST_START)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_ring_keeps_every_quorum_write_through_restarts_and_rollouts() {
    let spec = herd_cassandra::parse(&small_config(), SpecFormat::Toml, "cassandra-test.toml").unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // The most nodes placed and not yet ready at once while the ring comes up.
    let bootstrapping = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&bootstrapping);
    let mut stack = Stack::builder("cassandra-test")
        .cluster(ClusterSection {
            agents: 3,
            cpus: 2.0,
            // A node (1024 MB), its six nodetool tasks (256 MB each) and its executor per agent.
            mem_mb: 3072.0,
            disk_mb: 4096.0,
            agent_ip_block: 41,
            racks: vec!["r1".into(), "r2".into(), "r3".into()],
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .on_progress(Arc::new(move |service, plan| {
            let steps = || plan.phases.iter().flat_map(|p| &p.steps);
            let shown: Vec<String> = steps().map(|s| format!("{}={:?}", s.name, s.status)).collect();
            eprintln!("{service}: {:?} [{}]", plan.status, shown.join(" "));
            seen.fetch_max(steps().filter(|s| s.status == Status::InProgress).count(), Ordering::Relaxed);
        }))
        .spec("cassandra", &spec)
        .probes(herd_cassandra::probes())
        .up()
        .await
        .unwrap();
    let up = started.elapsed();
    assert_eq!(bootstrapping.load(Ordering::Relaxed), 1, "the nodes bootstrapped one at a time");
    let contact_points = stack.endpoints("cassandra").unwrap().get("node-native").to_vec();
    eprintln!("3-node ring up in {up:.1?}: {contact_points:?}");
    assert_eq!(contact_points.len(), 3, "{contact_points:?}");
    assert!(contact_points.iter().all(|a| a.starts_with("127.0.41.")), "on the agents: {contact_points:?}");
    let api = format!("http://{}", stack.api("cassandra").unwrap());
    let endpoints = get_json(&http(), &format!("{api}/v1/endpoints")).await;
    assert_eq!(
        endpoints["node-native"]["primary"], true,
        "the contact points are the main endpoint: {endpoints}"
    );

    let session = Arc::new(connect(&contact_points).await);
    one_ring_with_racks_from_the_agents(&session);
    create_rows_table(&session).await;

    let writing = Instant::now();
    tokio::time::timeout(Duration::from_secs(180), write(&session, 0..ROWS)).await.expect("writes in time");
    eprintln!("{ROWS} rows written at QUORUM in {:.1?}", writing.elapsed());
    let reading = Instant::now();
    let expected: Vec<i32> = (0..ROWS).collect();
    tokio::time::timeout(Duration::from_secs(180), read_back(&session, &expected))
        .await
        .expect("reads in time");
    eprintln!("{ROWS} rows read back at QUORUM in {:.1?}", reading.elapsed());

    restart_node_while_writing(&stack, &session).await;
    repair_plan_runs_on_each_node(&stack, &session).await;
    rolling_config_change(&mut stack, &session).await;
    drop(session);
    uninstall_leaves_nothing_behind(&stack).await;
    stack.shutdown().await;
    eprintln!("whole test in {:.1?}", started.elapsed());
}

/// The driver sees three nodes, all in datacenter dc1 (no agent has a `dc` attribute), each
/// on its agent's rack.
fn one_ring_with_racks_from_the_agents(session: &Session) {
    let state = session.get_cluster_state();
    let mut racks: Vec<(String, String, String)> = state
        .get_nodes_info()
        .iter()
        .map(|n| {
            (
                n.address.ip().to_string(),
                n.datacenter.clone().unwrap_or_default(),
                n.rack.clone().unwrap_or_default(),
            )
        })
        .collect();
    racks.sort();
    assert_eq!(racks.len(), 3, "{racks:?}");
    for (address, dc, rack) in &racks {
        // Agent n (127.0.41.n) is on rack rn.
        assert_eq!(dc, "dc1", "{racks:?}");
        assert_eq!(*rack, format!("r{}", address.rsplit('.').next().unwrap()), "{racks:?}");
    }
}

/// Reads each of `ids` at QUORUM: each row must be there with its body.
async fn read_back(session: &Session, ids: &[i32]) {
    let wrong = missing(session, ids).await;
    assert!(
        wrong.is_empty(),
        "{} of {} rows not read back, e.g. {:?}",
        wrong.len(),
        ids.len(),
        wrong.first()
    );
}

/// The pod's `node` task as the operator API shows it: (agent, task id, running and ready).
async fn node_task(http: &reqwest::Client, api: &str, pod: &str) -> (String, String, bool) {
    let p = get_json(http, &format!("{api}/v1/pods/{pod}")).await;
    let task =
        p["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "node").cloned().unwrap_or_default();
    let up = task["state"] == "TASK_RUNNING" && task["ready"] == true;
    (
        p["agent"].as_str().unwrap_or_default().to_owned(),
        task["id"].as_str().unwrap_or_default().to_owned(),
        up,
    )
}

/// node-1 is restarted in place through the operator API while a writer keeps writing at
/// QUORUM: every acknowledged row is read back at QUORUM afterwards.
async fn restart_node_while_writing(stack: &Stack, session: &Arc<Session>) {
    let api = format!("http://{}", stack.api("cassandra").unwrap());
    let http = http();
    let mut insert = session.prepare("INSERT INTO herd.rows (id, body) VALUES (?, ?)").await.unwrap();
    insert.set_consistency(Consistency::Quorum);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (session, stop) = (Arc::clone(session), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), 0usize);
            let mut next = 100_000;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<i32> = (next..next + 16).collect();
                next += 16;
                let results = futures_util::future::join_all(
                    batch.iter().map(|&id| session.execute_unpaged(&insert, (id, body(id)))),
                )
                .await;
                for (id, result) in batch.into_iter().zip(results) {
                    match result {
                        Ok(_) => acked.push(id),
                        Err(_) => failed += 1,
                    }
                }
                // A steady stream, not a flood: the restarted node shares 2 cores with the rest.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            (acked, failed)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (agent, before, _) = node_task(&http, &api, "node-1").await;
    let restarting = Instant::now();
    let r = http.post(format!("{api}/v1/pods/node-1/restart")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (now_agent, id, up) = node_task(&http, &api, "node-1").await;
        if id != before && up {
            assert_eq!(now_agent, agent, "restarted in place, on its volume");
            break;
        }
        assert!(Instant::now() < deadline, "node-1 did not come back: {id} up={up}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("node-1 restarted and the ring whole again in {:.1?}", restarting.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = tokio::time::timeout(Duration::from_secs(60), writer).await.unwrap().unwrap();
    eprintln!("while node-1 restarted: {} rows acknowledged at QUORUM, {failed} not", acked.len());
    assert!(acked.len() > 100, "the writer kept going: {} acknowledged", acked.len());
    tokio::time::timeout(Duration::from_secs(120), read_back(session, &acked)).await.expect("reads in time");
}

/// The plan's status and its steps' statuses.
async fn plan_status(http: &reqwest::Client, api: &str, plan: &str) -> (String, Vec<String>) {
    let p = get_json(http, &format!("{api}/v1/plans/{plan}")).await;
    let steps = p["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|phase| phase["steps"].as_array().cloned().unwrap_or_default())
        .map(|s| format!("{}={}", s["name"].as_str().unwrap_or("?"), s["status"].as_str().unwrap_or("?")))
        .collect();
    (p["status"].as_str().unwrap_or_default().to_owned(), steps)
}

/// `repair-keyspace` with KEYSPACE=herd runs `nodetool repair -pr herd` on each node, one
/// at a time; each run is in Cassandra's own repair history, finished without error.
async fn repair_plan_runs_on_each_node(stack: &Stack, session: &Session) {
    let api = format!("http://{}", stack.api("cassandra").unwrap());
    let http = http();
    let missing = http.post(format!("{api}/v1/plans/repair-keyspace/start")).body("{}").send().await.unwrap();
    let (status, text) = (missing.status().as_u16(), missing.text().await.unwrap());
    assert!(status == 400 && text.contains("KEYSPACE"), "{status} {text}");
    let repairing = Instant::now();
    let r = http
        .post(format!("{api}/v1/plans/repair-keyspace/start"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "KEYSPACE": "herd" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut most_in_progress = 0;
    loop {
        let (status, steps) = plan_status(&http, &api, "repair-keyspace").await;
        most_in_progress = most_in_progress.max(steps.iter().filter(|s| s.ends_with("=IN_PROGRESS")).count());
        if status == "COMPLETE" {
            break;
        }
        assert!(status != "ERROR" && Instant::now() < deadline, "repair-keyspace is {status}: {steps:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("repair-keyspace ran on 3 nodes in {:.1?}", repairing.elapsed());
    assert_eq!(most_in_progress, 1, "one node at a time");
    let history = session
        .query_unpaged(
            "SELECT keyspace_name, finished_at, exception_message FROM system_distributed.parent_repair_history",
            &[],
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let runs: Vec<(Option<String>, Option<scylla::value::CqlTimestamp>, Option<String>)> =
        history.rows().unwrap().collect::<Result<_, _>>().unwrap();
    let ours: Vec<_> = runs.iter().filter(|(ks, _, _)| ks.as_deref() == Some("herd")).collect();
    assert_eq!(ours.len(), 3, "one repair per node: {runs:?}");
    assert!(ours.iter().all(|(_, finished, error)| finished.is_some() && error.is_none()), "{ours:?}");
}

/// A cassandra.yaml change (`compaction_throughput`) rolls through the nodes one at a time
/// (the master never shows fewer than two running) and reaches every node.
async fn rolling_config_change(stack: &mut Stack, session: &Session) {
    let config =
        small_config().replace("compaction_throughput = \"64MiB/s\"", "compaction_throughput = \"32MiB/s\"");
    let spec = herd_cassandra::parse(&config, SpecFormat::Toml, "cassandra-test.toml").unwrap();
    let master = stack.master_url().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let http = http();
            let mut fewest = usize::MAX;
            while !stop.load(Ordering::Relaxed) {
                let tasks = get_json(&http, &format!("{master}/master/tasks")).await;
                let running = tasks["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .count();
                fewest = fewest.min(running);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            fewest
        })
    };
    let rolling = Instant::now();
    stack.reconfigure("cassandra", spec).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let fewest = watcher.await.unwrap();
    eprintln!("config change rolled through 3 nodes in {:.1?}", rolling.elapsed());
    assert_eq!(fewest, 2, "one node down at a time, and one at least was restarted");
    let state = session.get_cluster_state();
    for node in state.get_nodes_info() {
        let setting = "SELECT value FROM system_views.settings WHERE name = 'compaction_throughput'";
        let deadline = Instant::now() + Duration::from_secs(30);
        // The driver reconnects to a restarted node by itself; give it the time to.
        let value = loop {
            match session.query_unpaged(on(node, setting), &[]).await {
                Ok(result) => {
                    break result.into_rows_result().unwrap().single_row::<(Option<String>,)>().unwrap().0;
                }
                Err(e) => assert!(Instant::now() < deadline, "node {}: {e}", node.address),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(value.as_deref(), Some("32MiB/s"), "node {}", node.address);
    }
    // The ring still has all the rows.
    let sample: Vec<i32> = (0..ROWS).step_by(97).collect();
    tokio::time::timeout(Duration::from_secs(60), read_back(session, &sample)).await.expect("reads in time");
}

/// An uninstall kills the nodes and leaves no reservation and no volume of the service's
/// role on any agent.
async fn uninstall_leaves_nothing_behind(stack: &Stack) {
    let api = format!("http://{}", stack.api("cassandra").unwrap());
    let http = http();
    assert_eq!(http.post(format!("{api}/v1/uninstall")).send().await.unwrap().status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = role_reservations(&http, stack.master_url(), "cassandra-role").await;
        let tasks = get_json(&http, &format!("{}/master/tasks", stack.master_url())).await;
        let running =
            tasks["tasks"].as_array().unwrap().iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        if left.is_empty() && running == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: reservations on {left:?}, {running} tasks running");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
