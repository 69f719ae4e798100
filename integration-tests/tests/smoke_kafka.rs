//! Smoke test: a Kafka broker (KRaft, one combined broker + controller) from the assembled
//! distribution answers a metadata request through rdkafka, creates a topic, takes 100
//! messages with acks=all and gives them back in order. Records its floor.
//!
//! Launch, per the verified recipe: format the storage once with `kafka.tools.StorageTool
//! format -t <cluster id> -c server.properties` (tools logging to stderr), then `java -Xmx512m
//! <G1 flags> -Dlog4j2.configurationFile=config/log4j2.properties -cp 'libs/*' kafka.Kafka
//! server.properties`, with static voters and only the CONTROLLER listener kept out of the
//! advertised ones. Binds 127.0.22.1 only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{distribution, record_floor, scratch_dir, spawn_kafka};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use std::net::Ipv4Addr;
use std::time::Duration;

/// This test file's own loopback address.
const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 22, 1);

/// The topic the test writes and reads.
const TOPIC: &str = "herd-smoke";

/// Messages produced and consumed.
const MESSAGES: usize = 100;

/// A client configuration for the broker at `bootstrap`.
fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("client.id", "herd-smoke");
    config
}

/// The brokers a metadata request lists, as `id@host:port`.
async fn brokers(bootstrap: String) -> anyhow::Result<Vec<String>> {
    tokio::task::spawn_blocking(move || {
        // Reconnect every 100 ms (not librdkafka's backoff of up to 10 s), so the answer
        // comes as soon as the broker listens and the measured time to ready stays honest.
        let producer: BaseProducer = client_config(&bootstrap)
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "100")
            .create()?;
        let metadata = producer.client().fetch_metadata(None, Duration::from_secs(3))?;
        let brokers: Vec<String> =
            metadata.brokers().iter().map(|b| format!("{}@{}:{}", b.id(), b.host(), b.port())).collect();
        anyhow::ensure!(!brokers.is_empty(), "the metadata lists no broker");
        Ok(brokers)
    })
    .await?
}

/// Creates the topic, produces [`MESSAGES`] messages with acks=all and consumes them back.
async fn round_trip(bootstrap: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(30))));
    let created =
        admin.create_topics(&[NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))], &options).await?;
    for result in created {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic} failed: {code}"))?;
    }

    let producer: FutureProducer =
        client_config(bootstrap).set("acks", "all").set("message.timeout.ms", "30000").create()?;
    let payloads: Vec<String> = (0..MESSAGES).map(|i| format!("herd smoke message {i:03}")).collect();
    for (i, payload) in payloads.iter().enumerate() {
        let key = i.to_string();
        let record = FutureRecord::to(TOPIC).key(&key).payload(payload);
        let delivery = producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("producing message {i}: {e}"))?;
        anyhow::ensure!(
            delivery.partition == 0 && delivery.offset == i as i64,
            "message {i} landed at partition {} offset {}",
            delivery.partition,
            delivery.offset
        );
    }

    let consumer: StreamConsumer = client_config(bootstrap)
        .set("group.id", "herd-smoke")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    for (i, expected) in payloads.iter().enumerate() {
        let message = consumer.recv().await?;
        let payload = message.payload_view::<str>().transpose()?.unwrap_or_default();
        let key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
        anyhow::ensure!(
            message.offset() == i as i64 && payload == expected && key == i.to_string(),
            "message {i}: got offset {} key {key:?} payload {payload:?}",
            message.offset()
        );
    }
    let listed = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.to_owned();
        move || -> anyhow::Result<usize> {
            let producer: BaseProducer = client_config(&bootstrap).create()?;
            let metadata = producer.client().fetch_metadata(Some(TOPIC), Duration::from_secs(10))?;
            Ok(metadata.topics().iter().filter(|t| t.name() == TOPIC).map(|t| t.partitions().len()).sum())
        }
    })
    .await??;
    anyhow::ensure!(listed == 1, "the metadata lists {listed} partitions of {TOPIC}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_answers_metadata_and_round_trips_100_messages() {
    let dist = distribution("kafka").await.expect("assemble kafka");
    let scratch = scratch_dir("kafka").unwrap();
    let node = scratch.path();
    let (mut kafka, port) = spawn_kafka(&dist, IP, node).await.unwrap();
    let bootstrap = format!("{IP}:{port}");

    let listed = kafka
        .wait_until("a metadata request through rdkafka lists the broker", Duration::from_secs(90), || {
            brokers(bootstrap.clone())
        })
        .await;
    let ready = kafka.uptime();
    assert_eq!(listed, vec![format!("1@{bootstrap}")], "the metadata lists {listed:?}");

    kafka
        .expect_within(
            "creating a topic and a produce/consume round trip of 100 messages",
            Duration::from_secs(120),
            round_trip(&bootstrap),
        )
        .await;

    record_floor("kafka", &dist.version, ready, dist.size_bytes).unwrap();
}
