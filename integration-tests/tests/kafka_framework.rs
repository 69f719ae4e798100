//! The Kafka framework on the local cluster (3 agents, 3 brokers), started through
//! `herd-testkit`'s stack: the brokers come up as one KRaft quorum from the pinned
//! distribution (served to the agents by the scheduler); topics are created, listed and
//! described through the framework's operator API; and a real client (rdkafka)
//! produces 10,000 messages with acks=all to a topic with replication factor 3 and
//! min.insync.replicas 2, then consumes every one back, payloads checked; broker-1 is
//! restarted in place while a producer keeps writing, and every acknowledged message is
//! read back; a config change rolls through the brokers one at a time and reaches each
//! (describe configs); an uninstall leaves no reservation, volume or task behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use herd_core::spec::SpecFormat;
use herd_testkit::{ClusterSection, Stack};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{get_json, http};

const MESSAGES: usize = 10_000;

/// The default config made small enough for three brokers on one 2-core machine.
fn small_config() -> String {
    herd_kafka::DEFAULT_CONFIG
        .replacen("cpus = 1.0", "cpus = 0.5", 1)
        .replacen("mem_mb = 2048", "mem_mb = 768", 1)
        .replacen("heap_mb = 1024", "heap_mb = 256", 1)
        .replacen("disk_mb = 10240", "disk_mb = 1024", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_take_and_give_back_ten_thousand_messages() {
    // Each agent is on its own rack: each broker says so (rack-aware replica placement).
    let racked = small_config().replace("# rack_attribute = \"rack\"", "rack_attribute = \"rack\"");
    let spec = herd_kafka::parse(&racked, SpecFormat::Toml, "kafka-test.toml").unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut stack = Stack::builder("kafka-test")
        .cluster(ClusterSection {
            agents: 3,
            cpus: 2.0,
            mem_mb: 2048.0,
            disk_mb: 4096.0,
            agent_ip_block: 31,
            racks: vec!["r1".into(), "r2".into(), "r3".into()],
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .on_progress(std::sync::Arc::new(|service, plan| eprintln!("{service}: {:?}", plan.status)))
        .spec("kafka", &spec)
        .probes(herd_kafka::probes())
        .extension(herd_kafka::extension())
        .up()
        .await
        .unwrap();
    let up = started.elapsed();
    let bootstrap = stack.endpoints("kafka").unwrap().joined("broker-broker");
    eprintln!("kafka up in {up:.1?}: {bootstrap}");
    assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");
    assert!(
        bootstrap.split(',').all(|a| a.starts_with("127.0.31.")),
        "advertised on the agents: {bootstrap}"
    );

    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &bootstrap);
    topics_through_the_operator_api(&stack).await;

    let producer: FutureProducer = client
        .clone()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    // Enqueue everything, then wait for every acknowledgement (acks=all).
    let mut deliveries = Vec::with_capacity(MESSAGES);
    let sending = Instant::now();
    for i in 0..MESSAGES {
        let (key, payload) = (i.to_string(), format!("order-{i}"));
        let record = FutureRecord::to("orders").key(&key).payload(&payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in deliveries {
        delivery.await.expect("delivered or failed").map_err(|(e, _)| e).unwrap();
    }
    eprintln!("{MESSAGES} messages acknowledged by all in-sync replicas in {:.1?}", sending.elapsed());

    let consumer: StreamConsumer = client
        .set("group.id", "herd-test")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["orders"]).unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < MESSAGES {
        let message =
            tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), consumer.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {MESSAGES} messages came back", seen.len()))
                .unwrap();
        let payload = std::str::from_utf8(message.payload().unwrap()).unwrap().to_owned();
        let key = std::str::from_utf8(message.key().unwrap()).unwrap();
        assert_eq!(payload, format!("order-{key}"), "the payload is the one sent with its key");
        seen.insert(payload);
    }
    assert_eq!(seen.len(), MESSAGES);

    restart_broker_while_producing(&stack, &client).await;
    rolling_config_change(&mut stack, &client).await;
    uninstall_leaves_nothing_behind(&stack).await;
    stack.shutdown().await;
}

/// The brokers with their ids, and topic operations through the framework's operator API:
/// create (with configs), duplicate and impossible requests refused, list, describe.
async fn topics_through_the_operator_api(stack: &Stack) {
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let http = http();
    let brokers = get_json(&http, &format!("{api}/v1/endpoints/broker")).await;
    let ids: Vec<u64> = brokers.as_array().unwrap().iter().map(|b| b["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3], "stable broker ids: {brokers}");
    let endpoints = get_json(&http, &format!("{api}/v1/endpoints")).await;
    assert_eq!(
        endpoints["broker-broker"]["primary"], true,
        "the bootstrap servers are the main endpoint: {endpoints}"
    );
    assert_eq!(endpoints["broker-controller"]["primary"], false, "{endpoints}");
    let url = format!("{api}/v1/topics");
    let post = |body: serde_json::Value| {
        let (http, url) = (http.clone(), url.clone());
        async move { support::post_json(&http, &url, &body).await }
    };
    let orders = serde_json::json!({ "name": "orders", "partitions": 3, "replication": 3, "configs": { "min.insync.replicas": "2" } });
    let (status, body) = post(orders.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(orders).await;
    assert!(status == 409 && body.contains("exists"), "{status} {body}");
    let (status, body) = post(serde_json::json!({ "name": "wide", "replication": 5 })).await;
    assert!(status == 400 && body.contains("1..=3"), "{status} {body}");
    let (status, body) = post(serde_json::json!({ "nmae": "typo" })).await;
    assert!(status == 400 && body.contains("nmae"), "{status} {body}");
    let topics = get_json(&http, &format!("{api}/v1/topics")).await;
    assert!(topics.as_array().unwrap().iter().any(|t| t == "orders"), "{topics}");
    let described = get_json(&http, &format!("{api}/v1/topics/orders")).await;
    assert_eq!(described["partitions"].as_array().unwrap().len(), 3, "{described}");
    assert!(
        described["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["replicas"].as_array().unwrap().len() == 3)
    );
    assert_eq!(described["configs"]["min.insync.replicas"], "2", "{described}");
    let missing = http.get(format!("{api}/v1/topics/nope")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// broker-1 is restarted in place through the operator API while a producer keeps writing
/// with acks=all: every acknowledged message is read back afterwards.
async fn restart_broker_while_producing(stack: &Stack, client: &ClientConfig) {
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let http = http();
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let topic = NewTopic::new("live", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    assert!(admin.create_topics([&topic], &options).await.unwrap().iter().all(Result::is_ok));
    let producer: FutureProducer =
        client.clone().set("acks", "all").set("enable.idempotence", "true").create().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = std::sync::Arc::clone(&stop);
    let writer = tokio::spawn(async move {
        let (mut acked, mut failed) = (BTreeSet::new(), 0usize);
        let mut i = 0usize;
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            let mut batch = Vec::new();
            for _ in 0..50 {
                let payload = format!("live-{i}");
                let record = FutureRecord::to("live").key(&payload).payload(&payload);
                batch.push((payload.clone(), producer.send_result(record).map_err(|(e, _)| e).unwrap()));
                i += 1;
            }
            for (payload, delivery) in batch {
                match delivery.await {
                    Ok(Ok(_)) => {
                        acked.insert(payload);
                    }
                    _ => failed += 1,
                }
            }
        }
        (acked, failed)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server_id = |pod: &serde_json::Value| pod["tasks"][0]["id"].clone();
    let before = get_json(&http, &format!("{api}/v1/pods/broker-1")).await;
    let r = http.post(format!("{api}/v1/pods/broker-1/restart")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = get_json(&http, &format!("{api}/v1/pods/broker-1")).await;
        let task = &now["tasks"][0];
        if server_id(&now) != server_id(&before) && task["state"] == "TASK_RUNNING" && task["ready"] == true {
            assert_eq!(now["agent"], before["agent"], "restarted in place, on its volume");
            break;
        }
        assert!(Instant::now() < deadline, "broker-1 did not come back: {now}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, failed) = writer.await.unwrap();
    eprintln!("while broker-1 restarted: {} messages acknowledged, {failed} not", acked.len());
    assert!(acked.len() > 100, "the producer kept going: {} acknowledged", acked.len());
    let consumer: StreamConsumer = client
        .clone()
        .set("group.id", "herd-test-live")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["live"]).unwrap();
    let mut missing = acked.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !missing.is_empty() {
        let message =
            tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), consumer.recv())
                .await
                .unwrap_or_else(|_| panic!("{} acknowledged messages never came back", missing.len()))
                .unwrap();
        missing.remove(std::str::from_utf8(message.payload().unwrap()).unwrap());
    }
}

/// A config change (`log.retention.ms`) rolls through the brokers one at a time (the master
/// never shows fewer than two running) and reaches every broker (describe configs).
async fn rolling_config_change(stack: &mut Stack, client: &ClientConfig) {
    let config = small_config()
        .replace("# rack_attribute = \"rack\"", "rack_attribute = \"rack\"")
        .replace("\"log.retention.hours\" = \"168\"", "\"log.retention.ms\" = \"3600000\"");
    let spec = herd_kafka::parse(&config, SpecFormat::Toml, "kafka-test.toml").unwrap();
    let master = stack.master_url().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = std::sync::Arc::clone(&stop);
    let watcher = tokio::spawn(async move {
        let http = http();
        let mut fewest = usize::MAX;
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            let tasks = get_json(&http, &format!("{master}/master/tasks")).await;
            let running =
                tasks["tasks"].as_array().unwrap().iter().filter(|t| t["state"] == "TASK_RUNNING").count();
            fewest = fewest.min(running);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fewest
    });
    let rolling = Instant::now();
    stack.reconfigure("kafka", spec).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let fewest = watcher.await.unwrap();
    eprintln!("config change rolled through 3 brokers in {:.1?}", rolling.elapsed());
    assert_eq!(fewest, 2, "one broker down at a time, and one at least was restarted");
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let brokers = get_json(&http(), &format!("{api}/v1/endpoints/broker")).await;
    let racks_by_id: std::collections::BTreeMap<i32, String> = brokers
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (i32::try_from(b["id"].as_i64().unwrap()).unwrap(), b["host"].as_str().unwrap().to_owned()))
        .collect();
    // One broker per request: each broker answers for its own config.
    for id in 1..=3 {
        let described =
            admin.describe_configs(&[ResourceSpecifier::Broker(id)], &AdminOptions::new()).await.unwrap();
        let resource = described.into_iter().next().unwrap().unwrap();
        let value = resource.get("log.retention.ms").and_then(|e| e.value.clone());
        assert_eq!(value.as_deref(), Some("3600000"), "broker {id}");
        // Agent n (127.0.31.n) is on rack rn.
        let host = racks_by_id.get(&id).cloned().unwrap_or_default();
        let rack = resource.get("broker.rack").and_then(|e| e.value.clone());
        assert_eq!(rack, Some(format!("r{}", host.rsplit('.').next().unwrap())), "broker {id} on {host}");
    }
}

/// An uninstall kills the brokers and leaves no reservation and no volume of the service's
/// role on any agent.
async fn uninstall_leaves_nothing_behind(stack: &Stack) {
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let http = http();
    assert_eq!(http.post(format!("{api}/v1/uninstall")).send().await.unwrap().status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = support::role_reservations(&http, stack.master_url(), "kafka-role").await;
        let tasks = get_json(&http, &format!("{}/master/tasks", stack.master_url())).await;
        let running =
            tasks["tasks"].as_array().unwrap().iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        if left.is_empty() && running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {} agents with reservations, {running} tasks running",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The pod's broker task as the operator API shows it: (agent, task id, launch number).
async fn broker_task(http: &reqwest::Client, api: &str, pod: &str) -> (String, String, u32, bool) {
    let p = get_json(http, &format!("{api}/v1/pods/{pod}")).await;
    let task = &p["tasks"][0];
    let id = task["id"].as_str().unwrap_or_default().to_owned();
    let launch = id.rsplit("__").next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let up = task["state"] == "TASK_RUNNING" && task["ready"] == true;
    (p["agent"].as_str().unwrap_or_default().to_owned(), id, launch, up)
}

/// Four agents, three brokers: broker-2 is replaced onto the free agent (new volume, same
/// broker id) and the data is re-replicated to it; then the scheduler is killed in the
/// middle of a rolling config change and started again: the change completes and no
/// broker is restarted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_broker_gets_its_data_back_and_a_killed_scheduler_finishes_the_rollout() {
    let spec = herd_kafka::parse(&small_config(), SpecFormat::Toml, "kafka-test.toml").unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut stack = Stack::builder("kafka-replace")
        .cluster(ClusterSection {
            agents: 4,
            cpus: 2.0,
            mem_mb: 2048.0,
            disk_mb: 4096.0,
            agent_ip_block: 32,
            racks: Vec::new(),
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .spec("kafka", &spec)
        .probes(herd_kafka::probes())
        .extension(herd_kafka::extension())
        .up()
        .await
        .unwrap();
    let api = format!("http://{}", stack.api("kafka").unwrap());
    let http = http();
    let bootstrap = stack.endpoints("kafka").unwrap().joined("broker-broker");
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &bootstrap);
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let topic = NewTopic::new("data", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    assert!(admin.create_topics([&topic], &options).await.unwrap().iter().all(Result::is_ok));
    let producer: FutureProducer = client.clone().set("acks", "all").create().unwrap();
    let deliveries: Vec<_> = (0..1000)
        .map(|i| {
            let payload = format!("data-{i}");
            producer
                .send_result(FutureRecord::to("data").key(&payload).payload(&payload))
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    for d in deliveries {
        d.await.unwrap().map_err(|(e, _)| e).unwrap();
    }

    // Replace broker-2: it moves to the fourth agent and is ready only once in sync again.
    let (old_agent, _, _, _) = broker_task(&http, &api, "broker-2").await;
    assert_eq!(
        http.post(format!("{api}/v1/pods/broker-2/replace")).send().await.unwrap().status().as_u16(),
        202
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    let new_agent = loop {
        let (agent, _, _, up) = broker_task(&http, &api, "broker-2").await;
        if up && !agent.is_empty() && agent != old_agent {
            break agent;
        }
        assert!(Instant::now() < deadline, "broker-2 was not replaced");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let described = get_json(&http, &format!("{api}/v1/topics/data")).await;
    for p in described["partitions"].as_array().unwrap() {
        assert_eq!(p["isr"].as_array().unwrap().len(), 3, "re-replicated to the new broker-2: {described}");
    }
    let brokers = get_json(&http, &format!("{api}/v1/endpoints/broker")).await;
    let third = brokers.as_array().unwrap().iter().find(|b| b["id"] == 3).unwrap().clone();
    assert_eq!(third["host"], new_agent.as_str(), "the same broker id on the new agent: {brokers}");
    // Read everything back through the brokers as they are now.
    let now: Vec<String> = brokers
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("{}:{}", b["host"].as_str().unwrap(), b["port"]))
        .collect();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", now.join(","))
        .set("group.id", "herd-replace")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["data"]).unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < 1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await.expect("all data back") {
            Ok(m) => {
                seen.insert(std::str::from_utf8(m.payload().unwrap()).unwrap().to_owned());
            }
            // Transient (a broker reconnecting): the consumer goes on by itself.
            Err(e) => eprintln!("consumer: {e}"),
        }
    }

    // A rolling change, the scheduler killed once the first broker is done, started again.
    let before: Vec<u32> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(broker_task(&http, &api, &format!("broker-{i}")).await.2);
        }
        v
    };
    let config =
        small_config().replace("\"log.retention.hours\" = \"168\"", "\"log.retention.ms\" = \"7200000\"");
    let changed = herd_kafka::parse(&config, SpecFormat::Toml, "kafka-test.toml").unwrap();
    stack
        .reconfigure_until("kafka", changed.clone(), |plan| {
            plan.phases
                .iter()
                .flat_map(|p| &p.steps)
                .any(|s| s.status == herd_core::scheduler::plan::Status::Complete)
        })
        .await
        .unwrap();
    stack.kill("kafka").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.restart("kafka", changed).await.unwrap();
    let api = format!("http://{}", stack.api("kafka").unwrap());
    for (i, launch) in before.iter().enumerate() {
        let (_, id, now, up) = broker_task(&http, &api, &format!("broker-{i}")).await;
        assert!(up, "broker-{i} runs: {id}");
        assert_eq!(now, launch + 1, "broker-{i} was restarted exactly once for the change: {id}");
    }
    // A client that knows the brokers as they are now (broker 3 moved).
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", now.join(",")).create().unwrap();
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    for id in 1..=3 {
        let described = admin.describe_configs(&[ResourceSpecifier::Broker(id)], &options).await.unwrap();
        let resource = described.into_iter().next().unwrap().unwrap();
        let value = resource.get("log.retention.ms").and_then(|e| e.value.clone());
        assert_eq!(value.as_deref(), Some("7200000"), "broker {id}");
    }
    stack.shutdown().await;
}
