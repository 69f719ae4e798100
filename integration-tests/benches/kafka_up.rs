//! How long herd takes to bring up Kafka, next to the floor: one bare broker started by
//! hand on the same machine. Run: `cargo bench -p herd-integration-tests --bench kafka_up`
//! (the artifact cache is warmed first, so the herd runs measure the deploy itself: the
//! scheduler serving the cached distribution, three agents fetching and unpacking it, the
//! brokers reserving, formatting, starting and reporting in sync).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_core::spec::SpecFormat;
use herd_integration_tests::{distribution, scratch_dir, spawn_kafka};
use herd_testkit::{ClusterSection, Stack};
use rdkafka::producer::{BaseProducer, Producer as _};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// Whether the brokers at `bootstrap` list `expected` brokers in their metadata.
async fn brokers_listed(bootstrap: String, expected: usize) -> bool {
    tokio::task::spawn_blocking(move || {
        let Ok(producer) = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "100")
            .create::<BaseProducer>()
        else {
            return false;
        };
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok_and(|m| m.brokers().len() == expected)
    })
    .await
    .unwrap_or(false)
}

async fn bare_broker() -> Duration {
    let dist = distribution("kafka").await.unwrap();
    let scratch = scratch_dir("kafka-bench").unwrap();
    let ip = Ipv4Addr::new(127, 0, 33, 1);
    let started = Instant::now();
    let (_broker, port) = spawn_kafka(&dist, ip, scratch.path()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !brokers_listed(format!("{ip}:{port}"), 1).await {
        assert!(Instant::now() < deadline, "the bare broker did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

async fn herd_up(run: usize) -> Duration {
    let config = herd_kafka::DEFAULT_CONFIG
        .replacen("cpus = 1.0", "cpus = 0.5", 1)
        .replacen("mem_mb = 2048", "mem_mb = 768", 1)
        .replacen("heap_mb = 1024", "heap_mb = 512", 1)
        .replacen("disk_mb = 10240", "disk_mb = 1024", 1);
    let spec = herd_kafka::parse(&config, SpecFormat::Toml, "bench.toml").unwrap();
    let work = tempfile::tempdir().unwrap();
    let block = u8::try_from(34 + run).unwrap();
    let started = Instant::now();
    let stack = Stack::builder("kafka-bench")
        .cluster(ClusterSection {
            agents: 3,
            cpus: 2.0,
            mem_mb: 2048.0,
            disk_mb: 4096.0,
            agent_ip_block: block,
            racks: Vec::new(),
        })
        .work_dir(work.path())
        .artifact_cache(&herd_integration_tests::test_cache().join("artifacts"))
        .spec("kafka", &spec)
        .probes(herd_kafka::probes())
        .up()
        .await
        .unwrap();
    let took = started.elapsed();
    let bootstrap = stack.endpoints("kafka").unwrap().joined("broker-broker");
    assert!(brokers_listed(bootstrap, 3).await, "three brokers answer");
    stack.shutdown().await;
    took
}

fn summary(name: &str, runs: &[Duration]) {
    let secs: Vec<f64> = runs.iter().map(Duration::as_secs_f64).collect();
    let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let median = {
        let mut s = secs.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    println!("{name:<44} min {min:>6.2} s   median {median:>6.2} s   runs {secs:.2?}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let mut bare = Vec::new();
    for _ in 0..RUNS {
        bare.push(bare_broker().await);
    }
    let mut herd = Vec::new();
    for run in 0..RUNS {
        herd.push(herd_up(run).await);
    }
    summary("one bare broker, started by hand (floor)", &bare);
    summary("herd: 3 brokers deployed and in sync", &herd);
}
