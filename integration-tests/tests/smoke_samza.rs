//! Smoke test: a Samza job from the assembled distribution processes messages. ZooKeeper
//! (the `zookeeper` distribution) coordinates the job's processors, Kafka (the `kafka`
//! distribution, one KRaft node) carries its streams. The job, compiled against the
//! distribution's `lib/`, upper-cases what it reads from `herd-in` into `herd-out`; three
//! keyed messages produced to `herd-in` through rdkafka come back on `herd-out` upper-cased,
//! keys and order kept. Records the floor `samza`: from starting the job's JVM to its
//! container entering its run loop (ZooKeeper and Kafka have their own smoke tests).
//!
//! Launch, per the verified recipe: `java -Dlog4j.configuration=file:<home>/conf/log4j.properties
//! -cp '<home>/conf:<home>/lib/*:<job jar>' HerdSamzaMain app.properties processor.id=p1`,
//! where HerdSamzaMain (compiled with the job) runs the application through Samza's
//! LocalApplicationRunner with the ZkJobCoordinator and blocks until it finishes (Samza's own
//! ApplicationRunnerMain returns at once and the JVM exits). Samza 1.8's Kafka client is
//! 2.4.1, which Kafka 4.x still serves (4.0 dropped only protocol versions older than 2.1's).
//! ZooKeeper binds 127.0.28.1, Kafka 127.0.28.2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, compile_java, distribution, guarded_command, java, record_floor, scratch_dir, spawn_kafka,
    start_zookeeper,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// ZooKeeper's address.
const ZOOKEEPER: Ipv4Addr = Ipv4Addr::new(127, 0, 28, 1);

/// Kafka's address.
const KAFKA: Ipv4Addr = Ipv4Addr::new(127, 0, 28, 2);

/// The job's input and output topics.
const INPUT: &str = "herd-in";
const OUTPUT: &str = "herd-out";

/// What the test produces, as (key, value).
const MESSAGES: [(&str, &str); 3] = [("1", "hello samza"), ("2", "from herd"), ("3", "three messages")];

/// A client configuration for the broker at `bootstrap`.
fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("client.id", "herd-smoke-samza");
    config
}

/// Succeeds once a metadata request lists the broker.
async fn broker_answers(bootstrap: String) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = client_config(&bootstrap)
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "100")
            .create()?;
        let metadata = producer.client().fetch_metadata(None, Duration::from_secs(3))?;
        anyhow::ensure!(!metadata.brokers().is_empty(), "the metadata lists no broker");
        Ok(())
    })
    .await?
}

/// Creates the job's topics (one partition each).
async fn create_topics(bootstrap: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(30))));
    let topics = [INPUT, OUTPUT].map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(1)));
    for result in admin.create_topics(&topics, &options).await? {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic} failed: {code}"))?;
    }
    Ok(())
}

/// Produces [`MESSAGES`] to the input topic and reads them back upper-cased from the output.
async fn round_trip(bootstrap: &str) -> anyhow::Result<()> {
    let producer: FutureProducer =
        client_config(bootstrap).set("acks", "all").set("message.timeout.ms", "30000").create()?;
    for (key, value) in MESSAGES {
        producer
            .send(FutureRecord::to(INPUT).key(key).payload(value), Timeout::After(Duration::from_secs(30)))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("producing {key}: {e}"))?;
    }
    let consumer: StreamConsumer = client_config(bootstrap)
        .set("group.id", "herd-smoke-samza")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(OUTPUT, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    for (key, value) in MESSAGES {
        let message = consumer.recv().await?;
        let got_key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
        let got = message.payload_view::<str>().transpose()?.unwrap_or_default();
        anyhow::ensure!(
            got_key == key && got == value.to_uppercase(),
            "expected {key}={:?} on {OUTPUT}, got {got_key}={got:?}",
            value.to_uppercase()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samza_job_transforms_messages_between_kafka_topics() {
    let samza = distribution("samza").await.expect("assemble samza");
    let kafka_dist = distribution("kafka").await.expect("assemble kafka");
    let scratch = scratch_dir("samza").unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/samza");
    let job = compile_java(
        &sources,
        &samza.classpath("lib"),
        &scratch.path().join("app"),
        "herd-samza-job.jar",
        Duration::from_secs(180),
    )
    .await
    .expect("compile the Samza job");
    let zookeeper_dir = scratch.path().join("zookeeper");
    std::fs::create_dir_all(&zookeeper_dir).unwrap();
    let (_zookeeper, zookeeper_port) = start_zookeeper(ZOOKEEPER, &zookeeper_dir).await.unwrap();

    let kafka_dir = scratch.path().join("kafka");
    std::fs::create_dir_all(&kafka_dir).unwrap();
    let (mut kafka, kafka_port) = spawn_kafka(&kafka_dist, KAFKA, &kafka_dir).await.unwrap();
    let bootstrap = format!("{KAFKA}:{kafka_port}");
    kafka
        .wait_until("a metadata request lists the broker", Duration::from_secs(120), || {
            broker_answers(bootstrap.clone())
        })
        .await;
    kafka
        .expect_within("creating the job's topics", Duration::from_secs(60), create_topics(&bootstrap))
        .await;

    let job_dir = scratch.path().join("job");
    std::fs::create_dir_all(&job_dir).unwrap();
    let app_properties = job_dir.join("app.properties");
    std::fs::write(
        &app_properties,
        format!(
            "app.name=herd-samza\n\
             app.id=1\n\
             app.class=HerdSamzaApp\n\
             app.runner.class=org.apache.samza.runtime.LocalApplicationRunner\n\
             app.processor-id-generator.class=org.apache.samza.runtime.UUIDGenerator\n\
             job.coordinator.factory=org.apache.samza.zk.ZkJobCoordinatorFactory\n\
             job.coordinator.zk.connect={ZOOKEEPER}:{zookeeper_port}\n\
             job.coordinator.zk.session.timeout.ms=6000\n\
             job.coordinator.zk.connection.timeout.ms=6000\n\
             job.coordinator.zk.consensus.timeout.ms=6000\n\
             job.debounce.time.ms=2000\n\
             job.coordinator.replication.factor=1\n\
             job.coordinator.system=kafka\n\
             job.default.system=kafka\n\
             job.systemstreampartition.grouper.factory=org.apache.samza.container.grouper.stream.GroupByPartitionFactory\n\
             task.name.grouper.factory=org.apache.samza.container.grouper.task.GroupByContainerIdsFactory\n\
             systems.kafka.samza.factory=org.apache.samza.system.kafka.KafkaSystemFactory\n\
             systems.kafka.consumer.bootstrap.servers={bootstrap}\n\
             systems.kafka.producer.bootstrap.servers={bootstrap}\n\
             systems.kafka.default.stream.replication.factor=1\n\
             systems.kafka.samza.offset.default=oldest\n\
             herd.input={INPUT}\n\
             herd.output={OUTPUT}\n\
             task.checkpoint.factory=org.apache.samza.checkpoint.kafka.KafkaCheckpointManagerFactory\n\
             task.checkpoint.system=kafka\n\
             task.checkpoint.replication.factor=1\n\
             task.commit.ms=1000\n"
        ),
    )
    .unwrap();
    let home = samza.home.display();
    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx384m")
        .arg(format!("-Dlog4j.configuration=file:{home}/conf/log4j.properties"))
        .arg(format!("-Djava.io.tmpdir={}", job_dir.display()))
        .arg("-cp")
        .arg(format!("{home}/conf:{home}/lib/*:{}", job.display()))
        .arg("HerdSamzaMain")
        .arg(&app_properties)
        .arg("processor.id=p1")
        .current_dir(&job_dir);
    let mut processor = Daemon::spawn("samza", command, &job_dir).unwrap();
    let log = processor.stderr_log().to_owned();
    processor
        .wait_until("the job's container enters its run loop", Duration::from_secs(120), || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow::ensure!(text.contains("Entering run loop"), "not in the run loop yet");
            anyhow::Ok(())
        })
        .await;
    record_floor("samza", &samza.version, processor.uptime(), samza.size_bytes).unwrap();

    processor
        .expect_within(
            "three messages through the job (herd-in → upper case → herd-out)",
            Duration::from_secs(90),
            round_trip(&bootstrap),
        )
        .await;
}
