//! What the Spark framework's test and benchmark share (`mod spark_support;`): the stack (a
//! small local cluster with racks, so the Master, the Workers and the drivers land where the
//! test expects), the `herd` binary, and waits on submissions.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use herd_core::spec::SpecFormat;
use herd_integration_tests::{Dist, compile_java, distribution, test_cache};
use herd_testkit::{ClusterSection, Stack};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The service's config: `examples/spark.toml`'s service made small for a 2-core machine.
/// Agent 1 (rack r1) holds the Master and the history server, agents 2 and 3 a Worker each
/// (2 cores, 1.5 GB for executors); the rest is room for drivers. Three queues: `etl`
/// (weight 2), `adhoc` (1) and `hold` (1).
pub fn config(distribution: &str, events: &Path) -> String {
    format!(
        r#"
name = "spark"
distribution = "{distribution}"

[master]
cpus = 0.5
mem_mb = 768
heap_mb = 384
placement = ["rack:LIKE:r1"]

[worker]
count = 2
cores = 2
memory_mb = 1536
heap_mb = 192
placement = ["hostname:UNIQUE", "rack:UNLIKE:r1"]

[driver]
cores = 1.0
memory_mb = 512

[executor]
cores = 1
memory_mb = 512
cores_max = 1

[event_log]
enabled = true
dir = "file:{events}"

[history]
enabled = true
mem_mb = 640
heap_mb = 256
disk_mb = 64
placement = ["rack:LIKE:r1"]

[[queues]]
name = "etl"
weight = 2.0

[[queues]]
name = "adhoc"
weight = 1.0

[[queues]]
name = "hold"
weight = 1.0
"#,
        events = events.display()
    )
}

/// Brings the stack up on agents `127.0.<block>.1..3` (4 cpus, 6 GB each).
pub async fn stack(block: u8, config: &str, work: &Path) -> Stack {
    let spec = herd_spark::parse(config, SpecFormat::Toml, "spark-test.toml").unwrap();
    Stack::builder("spark-test")
        .cluster(ClusterSection {
            agents: 3,
            cpus: 4.0,
            mem_mb: 6144.0,
            disk_mb: 20000.0,
            agent_ip_block: block,
            racks: vec!["r1".into(), "r2".into(), "r3".into()],
        })
        .work_dir(work)
        .artifact_cache(&test_cache().join("artifacts"))
        .ready_timeout(Duration::from_secs(300))
        .on_progress(std::sync::Arc::new(|service, plan| eprintln!("{service}: {:?}", plan.status)))
        .spec("spark", &spec)
        .extension(herd_spark::extension())
        .up()
        .await
        .unwrap()
}

/// The `herd` binary `cargo test --workspace` built beside this test.
pub fn herd_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("herd");
    assert!(bin.is_file(), "{} is not built: run `cargo build -p herd` first", bin.display());
    bin
}

/// Runs `herd ARGS` (bounded by 120 s): (success, stdout, stderr).
pub async fn herd(args: &[&str]) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(herd_bin());
    command.args(args).env("HERD_HOME", std::env::temp_dir().join("herd-spark-test-home")).kill_on_drop(true);
    command.env_remove("HERD_API").env("RUST_BACKTRACE", "0");
    let out = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("herd {args:?} did not finish within 120 s"))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SparkPi compiled against `dist`'s jars into `dir`.
pub async fn spark_pi(dist: &Dist, dir: &Path) -> PathBuf {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/spark");
    compile_java(&sources, &dist.classpath("jars"), dir, "herd-spark-pi.jar", Duration::from_secs(180))
        .await
        .expect("compile HerdSparkPi")
}

/// The Spark distribution `name`, unpacked (for the stock `spark-submit` clients).
pub async fn dist(name: &str) -> Dist {
    distribution(name).await.expect("assemble the Spark distribution")
}

/// A submission as herd's API shows it.
pub async fn submission(http: &reqwest::Client, api: &str, id: &str) -> Value {
    crate::support::get_json(http, &format!("{api}/v1/spark/submissions/{id}")).await
}

/// Waits (at most `timeout`) until `id`'s herd state is one of `states`; the submission.
pub async fn wait_state(
    http: &reqwest::Client,
    api: &str,
    id: &str,
    states: &[&str],
    timeout: Duration,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = submission(http, api, id).await;
        if states.iter().any(|state| s["state"] == *state) {
            return s;
        }
        assert!(Instant::now() < deadline, "{id} is not {states:?} after {timeout:?}: {s}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
