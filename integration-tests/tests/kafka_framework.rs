//! The Kafka framework on the local cluster (3 agents, 3 brokers), started through
//! `herd-testkit`'s stack: the brokers come up as one KRaft quorum from the pinned
//! distribution (served to the agents by the scheduler), and a real client (rdkafka)
//! produces 10,000 messages with acks=all to a topic with replication factor 3 and
//! min.insync.replicas 2, then consumes every one back, payloads checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_core::spec::SpecFormat;
use herd_testkit::{ClusterSection, Stack};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
    let spec = herd_kafka::parse(&small_config(), SpecFormat::Toml, "kafka-test.toml").unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let stack = Stack::builder("kafka-test")
        .cluster(ClusterSection { agents: 3, cpus: 2.0, mem_mb: 2048.0, disk_mb: 4096.0, agent_ip_block: 31 })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .on_progress(std::sync::Arc::new(|service, plan| eprintln!("{service}: {:?}", plan.status)))
        .spec("kafka", &spec)
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
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let topic = NewTopic::new("orders", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin
        .create_topics([&topic], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))))
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

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
    stack.shutdown().await;
}
