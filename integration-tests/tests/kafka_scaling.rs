//! Kafka with dedicated KRaft controllers on the local cluster (4 agents): three
//! controllers and three brokers come up; a fourth broker joins without the others being
//! restarted, and the `rebalance` plan moves partitions onto it; then the cluster is scaled
//! back to three brokers: the leaving broker first drains (its partitions are reassigned by
//! Kafka's own tool, run inside it), and only then is it stopped and its volume released.
//! Every acknowledged message is read back at the end, checked with a real client
//! (rdkafka).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use herd_core::spec::{ServiceSpec, SpecFormat};
use herd_testkit::{ClusterSection, Stack};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{get_json, http};

const MESSAGES: usize = 2_000;

/// Three small dedicated controllers and `brokers` small brokers.
fn spec(brokers: u32) -> ServiceSpec {
    let config = herd_kafka::DEFAULT_CONFIG
        .replacen("brokers = 3", &format!("brokers = {brokers}"), 1)
        .replacen("controllers = 0", "controllers = 3", 1)
        .replacen("cpus = 1.0", "cpus = 0.4", 1)
        .replacen("mem_mb = 2048", "mem_mb = 768", 1)
        .replacen("heap_mb = 1024", "heap_mb = 256", 1)
        .replacen("disk_mb = 10240", "disk_mb = 1024", 1)
        .replacen("cpus = 0.5", "cpus = 0.2", 1)
        .replacen("mem_mb = 1024", "mem_mb = 512", 1)
        .replacen("heap_mb = 512", "heap_mb = 192", 1)
        .replacen("disk_mb = 1024", "disk_mb = 256", 1);
    herd_kafka::parse(&config, SpecFormat::Toml, "kafka-scaling.toml").unwrap()
}

/// Where each partition of `topic` has its replicas (broker ids), and whether all are in
/// sync, as the framework's topics API describes it.
async fn replicas(http: &reqwest::Client, api: &str, topic: &str) -> (Vec<Vec<u64>>, bool) {
    let described = get_json(http, &format!("{api}/v1/topics/{topic}")).await;
    let partitions = described["partitions"].as_array().unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
    };
    let all_in_sync = partitions.iter().all(|p| ids(&p["isr"]).len() == ids(&p["replicas"]).len());
    (partitions.iter().map(|p| ids(&p["replicas"])).collect(), all_in_sync)
}

/// The task id of each broker, by pod name.
async fn broker_tasks(http: &reqwest::Client, api: &str, brokers: u32) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..brokers {
        let pod = get_json(http, &format!("{api}/v1/pods/broker-{i}")).await;
        out.push(pod["tasks"][0]["id"].as_str().unwrap_or_default().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_join_rebalance_and_drain_before_they_leave() {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut stack = Stack::builder("kafka-scaling")
        .cluster(ClusterSection {
            agents: 4,
            cpus: 2.0,
            mem_mb: 3072.0,
            disk_mb: 4096.0,
            agent_ip_block: 38,
            racks: Vec::new(),
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .on_progress(std::sync::Arc::new(|service, plan| eprintln!("{service}: {:?}", plan.status)))
        .spec("kafka", &spec(3))
        .probes(herd_kafka::probes())
        .extension(herd_kafka::extension())
        .up()
        .await
        .unwrap();
    eprintln!("3 controllers + 3 brokers up in {:.1?}", started.elapsed());
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let http = http();
    let brokers = get_json(&http, &format!("{api}/v1/endpoints/broker")).await;
    let ids: Vec<u64> = brokers.as_array().unwrap().iter().map(|b| b["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3], "broker-only nodes, ids from 1: {brokers}");

    // A topic with two replicas per partition, and messages acknowledged by both.
    let topic = serde_json::json!({ "name": "events", "partitions": 6, "replication": 2 });
    let (status, body) = support::post_json(&http, &format!("{api}/v1/topics"), &topic).await;
    assert_eq!(status, 201, "{body}");
    let bootstrap = stack.endpoints("kafka").unwrap().joined("broker-broker");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let deliveries: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let payload = format!("event-{i}");
            producer
                .send_result(FutureRecord::to("events").key(&payload).payload(&payload))
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    for d in deliveries {
        d.await.unwrap().map_err(|(e, _)| e).unwrap();
    }

    // Scale out: broker 4 joins; the running brokers are left alone.
    let before = broker_tasks(&http, &api, 3).await;
    let growing = Instant::now();
    stack.reconfigure("kafka", spec(4)).await.unwrap();
    eprintln!("scaled out to 4 brokers in {:.1?}", growing.elapsed());
    let api = format!("http://{}", stack.api("kafka").unwrap());
    assert_eq!(broker_tasks(&http, &api, 3).await, before, "the running brokers were not restarted");
    let brokers = get_json(&http, &format!("{api}/v1/endpoints/broker")).await;
    assert_eq!(brokers.as_array().unwrap().len(), 4, "{brokers}");

    // The rebalance plan spreads the partitions onto the new broker.
    let (status, body) =
        support::post_json(&http, &format!("{api}/v1/plans/rebalance/start"), &serde_json::json!({})).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let plan = get_json(&http, &format!("{api}/v1/plans/rebalance")).await;
        if plan["status"] == "COMPLETE" {
            break;
        }
        assert_ne!(plan["status"], "ERROR", "{plan}");
        assert!(Instant::now() < deadline, "the rebalance did not complete: {plan}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (placed, _) = replicas(&http, &api, "events").await;
    assert!(placed.iter().any(|r| r.contains(&4)), "broker 4 got partitions: {placed:?}");

    // Scale in: broker 4 drains, then goes; its reservation and volume are released.
    let shrinking = Instant::now();
    stack.scale_in("kafka", spec(3)).await.unwrap();
    eprintln!("drained and removed broker 4 in {:.1?}", shrinking.elapsed());
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let (placed, in_sync) = replicas(&http, &api, "events").await;
    assert!(placed.iter().all(|r| !r.contains(&4) && r.len() == 2), "moved off broker 4: {placed:?}");
    assert!(in_sync, "every partition fully in sync on brokers 1 to 3: {placed:?}");
    let gone = http.get(format!("{api}/v1/pods/broker-3")).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404, "the instance is gone");
    let deadline = Instant::now() + Duration::from_secs(60);
    let master = stack.master_url().to_owned();
    loop {
        // Six volumes are left: the controllers' three and the three brokers'.
        let slaves = get_json(&http, &format!("{master}/master/slaves")).await;
        let volumes: usize = slaves["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["reserved_resources_full"]["kafka-role"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["disk"]["persistence"].is_object())
            .count();
        if volumes == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "broker 4's volume was not released: {volumes} volumes left");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every acknowledged message is still there.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack.endpoints("kafka").unwrap().joined("broker-broker"))
        .set("group.id", "herd-scaling")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < MESSAGES {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {MESSAGES} messages came back", seen.len()));
        match message {
            Ok(m) => {
                seen.insert(std::str::from_utf8(m.payload().unwrap()).unwrap().to_owned());
            }
            Err(e) => eprintln!("consumer: {e}"),
        }
    }
    stack.shutdown().await;
}
