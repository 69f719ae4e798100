//! Smoke test: Spark 4 and Spark 3.5 (one test each) from the distributions pyspark's source
//! archives carry. A standalone Master and one Worker come up (the Master's JSON status says
//! ALIVE, then lists the Worker alive), and a SparkPi compiled against the distribution's own
//! jars (the registries here serve no spark-examples jar), submitted to that Master by the
//! distribution's own `bin/spark-submit`, prints "Pi is roughly 3.1…" and the Master lists
//! it as a finished application. Records floors `<dist>-master` and `<dist>-worker`.
//!
//! Launch, per the verified recipe: `java <Spark's JPMS flags> -cp 'jars/*'
//! org.apache.spark.deploy.master.Master` (resp. `...deploy.worker.Worker`, with SPARK_HOME
//! and SPARK_SCALA_VERSION in its environment: without them every executor fails "Cannot
//! find any build directories"); SPARK_LOCAL_IP binds each process to its address (the web
//! UIs would bind every address otherwise). Spark 4 uses 127.0.26.1 (Master, driver) and
//! 127.0.26.2 (Worker, executors), Spark 3.5 127.0.26.3 and 127.0.26.4. The two tests take
//! turns (each runs three JVMs on a small machine) so each one's floors are its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, compile_java, distribution, free_ports, guarded_command, java, record_floor, run_tool,
    scratch_dir,
};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The JVM flags Spark 4's launcher adds on Java 17 (harmless on 3.5, whose Master and Worker
/// ran with them too).
const JPMS_FLAGS: &[&str] = &[
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-modules=jdk.incubator.vector",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
];

/// One test runs at a time (see the module's doc).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What differs between the two Spark lines.
struct Line {
    /// The table of `configs/distributions.toml`, also the floors' prefix.
    dist: &'static str,
    /// The Scala version of its jars.
    scala: &'static str,
    /// The Master's (and the driver's) address.
    master: Ipv4Addr,
    /// The Worker's (and its executors') address.
    worker: Ipv4Addr,
}

/// The Master's status (`GET /json/` on its web UI).
async fn master_status(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {text}");
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("GET {url}: not JSON ({e}): {text}"))
}

/// Starts a Master and a Worker of `line`, runs SparkPi on them and records their floors.
async fn spark_pi_on_standalone(line: Line) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dist = distribution(line.dist).await.expect("assemble the Spark distribution");
    let home = dist.home.clone();
    let scratch = scratch_dir(line.dist).unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/spark");
    let jar = compile_java(
        &sources,
        &dist.classpath("jars"),
        &scratch.path().join("app"),
        "herd-spark-pi.jar",
        Duration::from_secs(180),
    )
    .await
    .expect("compile HerdSparkPi");
    let [master_port, master_ui] = free_ports(line.master).unwrap();
    let [worker_port, worker_ui] = free_ports(line.worker).unwrap();
    let master_url = format!("spark://{}:{master_port}", line.master);
    let status_url = format!("http://{}:{master_ui}/json/", line.master);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();

    let master_dir = scratch.path().join("master");
    std::fs::create_dir_all(&master_dir).unwrap();
    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx512m")
        .args(JPMS_FLAGS)
        .arg("-cp")
        .arg(dist.classpath("jars"))
        .arg("org.apache.spark.deploy.master.Master")
        .args(["--host", &line.master.to_string(), "--port", &master_port.to_string()])
        .args(["--webui-port", &master_ui.to_string()])
        .env("SPARK_LOCAL_IP", line.master.to_string())
        .current_dir(&master_dir);
    let mut master = Daemon::spawn("master", command, scratch.path()).unwrap();
    let status = master
        .wait_until("the Master's status says ALIVE", Duration::from_secs(120), || async {
            let status = master_status(&http, &status_url).await?;
            anyhow::ensure!(status["status"] == "ALIVE", "status: {status}");
            anyhow::Ok(status)
        })
        .await;
    record_floor(&format!("{}-master", line.dist), &dist.version, master.uptime(), dist.size_bytes).unwrap();
    assert_eq!(status["url"], master_url.as_str(), "status: {status}");

    let worker_dir = scratch.path().join("worker");
    for dir in ["work", "tmp"] {
        std::fs::create_dir_all(worker_dir.join(dir)).unwrap();
    }
    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx512m")
        .args(JPMS_FLAGS)
        .arg("-cp")
        .arg(dist.classpath("jars"))
        .arg("org.apache.spark.deploy.worker.Worker")
        .arg(&master_url)
        .args(["--host", &line.worker.to_string(), "--port", &worker_port.to_string()])
        .args(["--webui-port", &worker_ui.to_string(), "--cores", "2", "--memory", "1g"])
        .arg("--work-dir")
        .arg(worker_dir.join("work"))
        .env("SPARK_HOME", &home)
        .env("SPARK_SCALA_VERSION", line.scala)
        .env("SPARK_LOCAL_IP", line.worker.to_string())
        .env("SPARK_LOCAL_DIRS", worker_dir.join("tmp"))
        .current_dir(&worker_dir);
    let mut worker = Daemon::spawn("worker", command, scratch.path()).unwrap();
    worker
        .wait_until("the Master lists the Worker alive", Duration::from_secs(120), || async {
            let status = master_status(&http, &status_url).await?;
            let host = &status["workers"][0]["host"];
            anyhow::ensure!(
                status["aliveworkers"] == 1 && *host == line.worker.to_string(),
                "status: {status}"
            );
            anyhow::Ok(())
        })
        .await;
    record_floor(&format!("{}-worker", line.dist), &dist.version, worker.uptime(), dist.size_bytes).unwrap();

    let driver_dir = scratch.path().join("driver");
    std::fs::create_dir_all(driver_dir.join("tmp")).unwrap();
    let mut submit = guarded_command(home.join("bin/spark-submit"), None);
    submit
        .args(["--master", &master_url, "--conf", "spark.ui.enabled=false"])
        .arg("--conf")
        .arg(format!("spark.driver.host={}", line.master))
        .arg("--conf")
        .arg(format!("spark.local.dir={}", driver_dir.join("tmp").display()))
        .args(["--driver-memory", "512m", "--executor-memory", "512m", "--total-executor-cores", "2"])
        .args(["--class", "HerdSparkPi"])
        .arg(&jar)
        .arg("4")
        .env("SPARK_HOME", &home)
        .env("SPARK_LOCAL_IP", line.master.to_string())
        .current_dir(&driver_dir);
    let started = Instant::now();
    let printed = worker
        .expect_within(
            "SparkPi through bin/spark-submit",
            Duration::from_secs(240),
            run_tool("spark-submit HerdSparkPi", submit, Duration::from_secs(240)),
        )
        .await;
    eprintln!("[herd-test] SparkPi took {:.1}s", started.elapsed().as_secs_f64());
    assert!(printed.contains("Pi is roughly 3.1"), "SparkPi printed {printed:?}");
    master
        .wait_until("the Master lists SparkPi as finished", Duration::from_secs(60), || async {
            let status = master_status(&http, &status_url).await?;
            let done = status["completedapps"].as_array().cloned().unwrap_or_default();
            anyhow::ensure!(
                done.iter().any(|app| app["name"] == "HerdSparkPi" && app["state"] == "FINISHED"),
                "status: {status}"
            );
            anyhow::Ok(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark4_standalone_runs_spark_pi() {
    let line = Line {
        dist: "spark4",
        scala: "2.13",
        master: Ipv4Addr::new(127, 0, 26, 1),
        worker: Ipv4Addr::new(127, 0, 26, 2),
    };
    spark_pi_on_standalone(line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark35_standalone_runs_spark_pi() {
    let line = Line {
        dist: "spark35",
        scala: "2.12",
        master: Ipv4Addr::new(127, 0, 26, 3),
        worker: Ipv4Addr::new(127, 0, 26, 4),
    };
    spark_pi_on_standalone(line).await;
}
