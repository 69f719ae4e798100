//! What herd adds to a Spark job, next to the floor: SparkPi (10 slices) run by bare
//! `spark-submit --master local[2]` on this machine, then submitted to a Spark service on
//! the local cluster (agents on 127.0.53.x) through herd's API: how long until its driver
//! runs (submit → RUNNING: queueing, an offer, the task fetching and unpacking Spark), and
//! its wall time to FINISHED (the driver's JVM, executors on the standalone Workers, the
//! job). Run: `cargo bench -p herd-integration-tests --bench spark_submit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/spark_support/mod.rs"]
mod spark_support;
#[path = "../tests/support/mod.rs"]
mod support;

use herd_integration_tests::{run_tool, scratch_dir};
use serde_json::json;
use std::time::{Duration, Instant};

const RUNS: usize = 3;
const SLICES: &str = "10";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let s4 = spark_support::dist("spark4").await;
    let scratch = scratch_dir("spark-bench").unwrap();
    let jar = spark_support::spark_pi(&s4, &scratch.path().join("app")).await;

    let mut bare = Vec::new();
    for run in 0..RUNS {
        let mut submit = std::process::Command::new(s4.home.join("bin/spark-submit"));
        submit
            .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false", "--driver-memory", "512m"])
            .args(["--class", "HerdSparkPi"])
            .arg(&jar)
            .arg(SLICES)
            .env("SPARK_HOME", &s4.home)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .current_dir(scratch.path());
        let started = Instant::now();
        let out = run_tool("bare spark-submit", submit, Duration::from_secs(300)).await.unwrap();
        let took = started.elapsed();
        assert!(out.contains("Pi is roughly 3.1"), "{out}");
        eprintln!("bare run {run}: {took:.1?}");
        bare.push(took);
    }

    let events = scratch.path().join("events");
    let config = spark_support::config("spark4", &events);
    let stack = spark_support::stack(53, &config, &scratch.path().join("work")).await;
    let api = format!("http://{}", stack.api("spark").unwrap());
    let http = support::http();
    let bytes = std::fs::read(&jar).unwrap();
    let upload =
        http.post(format!("{api}/v1/spark/uploads/herd-spark-pi.jar")).body(bytes).send().await.unwrap();
    let upload: serde_json::Value = serde_json::from_str(&upload.text().await.unwrap()).unwrap();
    let url = upload["url"].as_str().unwrap().to_owned();
    let (mut to_running, mut wall) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let body = json!({ "app_resource": url, "main_class": "HerdSparkPi", "args": [SLICES] });
        let started = Instant::now();
        let (status, answer) = support::post_json(&http, &format!("{api}/v1/spark/submissions"), &body).await;
        assert_eq!(status, 201, "{answer}");
        let id =
            serde_json::from_str::<serde_json::Value>(&answer).unwrap()["id"].as_str().unwrap().to_owned();
        let mut running = None;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let s = spark_support::submission(&http, &api, &id).await;
            if running.is_none() && (s["state"] == "RUNNING" || s["state"] == "FINISHED") {
                running = Some(started.elapsed());
            }
            if s["state"] == "FINISHED" {
                break;
            }
            assert!(s["state"] != "FAILED" && Instant::now() < deadline, "{s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (r, w) = (running.unwrap(), started.elapsed());
        eprintln!("herd run {run}: RUNNING after {r:.1?}, FINISHED after {w:.1?}");
        to_running.push(r);
        wall.push(w);
    }
    stack.shutdown().await;

    let (bare, to_running, wall) = (median(bare), median(to_running), median(wall));
    println!("SparkPi ({SLICES} slices), median of {RUNS} runs on this machine:");
    println!("  bare spark-submit --master local[2]:      {:>6.1}s", bare.as_secs_f64());
    println!("  herd: submit -> driver RUNNING:           {:>6.1}s", to_running.as_secs_f64());
    println!("  herd: submit -> FINISHED (wall time):     {:>6.1}s", wall.as_secs_f64());
    println!("  ratio herd wall time / bare:              {:>6.2}x", wall.as_secs_f64() / bare.as_secs_f64());
}
