//! The Spark framework with real Spark on the local cluster (3 agents on 127.0.52.x: a
//! standalone Master, a history server, two Workers, room for drivers), one stack for the
//! whole story, in order:
//!
//! 1. submissions three ways at once: SparkPi by `herd spark submit` (the real `herd` binary,
//!    uploading the local jar), SparkPi by stock `spark-submit --deploy-mode cluster` from
//!    Spark 4 (`spark://API`) and from Spark 3.5 (`mesos://API`), a PySpark word count
//!    reading an input file and writing its counts, and a Python job that throws; an
//!    application asking more executor cores than the worker pool has is refused, saying so;
//! 2. each ends with its final state: FINISHED (SparkPi's stdout through `herd spark logs`
//!    says "Pi is roughly 3.1"; the stock clients' submissions polled through Spark's
//!    protocol; the word count's output checked) or FAILED (the error in `herd spark
//!    logs`); the history server lists the applications;
//! 3. a running application is killed (`herd spark kill`): KILLED, its Mesos task gone, its
//!    executors released by the Spark Master;
//! 4. two queues submitting at once share the cluster by weight: with three driver slots
//!    free and four drivers waiting in each of `etl` (weight 2) and `adhoc` (weight 1),
//!    `etl` gets two slots and `adhoc` one (not first come, first served: `adhoc` submitted
//!    first); then everything is killed and the Mesos master shows only the pods' resources
//!    in use;
//! 5. the scheduler is killed while a driver runs and started again: the driver is still
//!    tracked, finishes, and its final state is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod spark_support;
mod support;

use herd_core::spec::SpecFormat;
use herd_integration_tests::scratch_dir;
use serde_json::Value;
use spark_support::{herd, submission, wait_state};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{get_json, http};

const WORD_COUNT: &str = r#"
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("herd-word-count").getOrCreate()
lines = spark.sparkContext.textFile(sys.argv[1])
counts = lines.flatMap(lambda l: l.split()).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
counts.map(lambda kv: "%s\t%d" % kv).saveAsTextFile(sys.argv[2])
spark.stop()
"#;

const THROWS: &str = r#"
print("herd-test: about to throw", flush=True)
raise RuntimeError("herd-test-boom: the job threw")
"#;

const SLEEPER: &str = r#"
import time
from pyspark import SparkContext
sc = SparkContext(appName="herd-sleeper")
print("herd-test: sleeping in an executor", flush=True)
sc.parallelize([1], 1).map(lambda x: time.sleep(600)).count()
"#;

const IDLE: &str = "import time\nprint('herd-test: idle', flush=True)\ntime.sleep(600)\n";

/// Runs a stock `spark-submit` of `home` (bounded): its stderr, where it logs.
async fn stock_submit(home: &Path, args: &[&str]) -> String {
    let mut command = tokio::process::Command::new(home.join("bin/spark-submit"));
    command.args(args).env("SPARK_HOME", home).env_remove("SPARK_CONF_DIR").kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("spark-submit finished within 90 s")
        .unwrap();
    assert!(out.status.success(), "spark-submit {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The submission id a stock client logged.
fn created_id(stderr: &str) -> String {
    let marker = "Submission successfully created as ";
    let start =
        stderr.find(marker).unwrap_or_else(|| panic!("no submission id in:\n{stderr}")) + marker.len();
    stderr[start..].split(['.', ' ', '\n']).next().unwrap().to_owned()
}

/// `herd spark ARGS` against the service; stdout (it must succeed).
async fn spark_cli(api: &str, args: &[&str]) -> String {
    let mut all = vec!["spark", "--api", api];
    all.extend_from_slice(args);
    let (ok, out, err) = herd(&all).await;
    assert!(ok, "herd {all:?} failed:\n{out}\n{err}");
    out
}

/// The CPUs the Mesos master counts in use on all agents.
async fn used_cpus(http: &reqwest::Client, master: &str) -> f64 {
    let slaves = get_json(http, &format!("{master}/master/slaves")).await;
    slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["used_resources"]["cpus"].as_f64().unwrap_or(0.0))
        .sum()
}

/// The Spark Master's status (`/json/` on its web UI).
async fn spark_master(http: &reqwest::Client, ui: &str) -> Value {
    get_json(http, &format!("http://{ui}/json/")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_jobs_submitted_three_ways_tracked_killed_and_shared_by_queue() {
    let started = Instant::now();
    let scratch = scratch_dir("spark-framework").unwrap();
    let dir = scratch.path();
    let events = dir.join("events");
    let work = dir.join("work");
    let config = spark_support::config("spark4", &events);
    let spec = herd_spark::parse(&config, SpecFormat::Toml, "spark-test.toml").unwrap();
    let s4 = spark_support::dist("spark4").await;
    let s35 = spark_support::dist("spark35").await;
    let jar = spark_support::spark_pi(&s4, &dir.join("app")).await;
    let mut stack = spark_support::stack(52, &config, &work).await;
    eprintln!("[herd-test] spark up in {:.1?}", started.elapsed());
    let http = http();
    let mut api = format!("http://{}", stack.api("spark").unwrap());
    let master = stack.master_url().to_owned();
    let endpoints = stack.endpoints("spark").unwrap().clone();
    let master_ui = endpoints.get("master-ui")[0].clone();
    let history_ui = endpoints.get("history-ui")[0].clone();
    let pods_cpus = used_cpus(&http, &master).await;
    for (name, text) in
        [("wc.py", WORD_COUNT), ("throws.py", THROWS), ("sleeper.py", SLEEPER), ("idle.py", IDLE)]
    {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let input = dir.join("input.txt");
    std::fs::write(&input, "to be or not to be\nthat is the question\nto be\n").unwrap();
    let output = dir.join("counts");
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    // 1. Submissions, three ways.
    let jar_path = path(&jar);
    let pi_cli =
        spark_cli(&api, &["submit", "--class", "HerdSparkPi", "--name", "pi-cli", &jar_path, "10"]).await;
    let pi_cli = pi_cli.trim().to_owned();
    assert!(pi_cli.starts_with("driver-") && pi_cli.len() == "driver-20261126120000-0000".len(), "{pi_cli}");
    let wc = spark_cli(
        &api,
        &[
            "--output",
            "json",
            "submit",
            "--queue",
            "adhoc",
            &path(&dir.join("wc.py")),
            &path(&input),
            &path(&output),
        ],
    )
    .await;
    let wc: Value = serde_json::from_str(&wc).unwrap();
    let wc = wc["id"].as_str().unwrap().to_owned();
    let throws = spark_cli(&api, &["submit", &path(&dir.join("throws.py"))]).await.trim().to_owned();
    let rest = api.trim_start_matches("http://").to_owned();
    let (spark4_url, spark35_url) = (format!("spark://{rest}"), format!("mesos://{rest}"));
    let rest_enabled = "spark.master.rest.enabled=true";
    let spark4_args = [
        "--master",
        &spark4_url,
        "--deploy-mode",
        "cluster",
        "--conf",
        rest_enabled,
        "--conf",
        "spark.herd.queue=etl",
        "--class",
        "HerdSparkPi",
        "--name",
        "pi-spark4",
        &jar_path,
        "8",
    ];
    let spark35_args = [
        "--master",
        &spark35_url,
        "--deploy-mode",
        "cluster",
        "--conf",
        rest_enabled,
        "--class",
        "HerdSparkPi",
        "--name",
        "pi-spark35",
        &jar_path,
        "8",
    ];
    // Refused at once, saying why: more executor cores than the pool's 4.
    let too_big_args = [
        "--master",
        &spark4_url,
        "--deploy-mode",
        "cluster",
        "--conf",
        rest_enabled,
        "--total-executor-cores",
        "9",
        "--class",
        "HerdSparkPi",
        &jar_path,
    ];
    let (spark4, spark35, too_big) = tokio::join!(
        stock_submit(&s4.home, &spark4_args),
        stock_submit(&s35.home, &spark35_args),
        stock_submit(&s4.home, &too_big_args),
    );
    let (pi_s4, pi_s35) = (created_id(&spark4), created_id(&spark35));
    assert!(too_big.contains("worker pool has only 4") && too_big.contains("could never run"), "{too_big}");
    let (ok, _, err) = herd(&[
        "spark",
        "--api",
        &api,
        "submit",
        "--executor-memory",
        "4g",
        "--class",
        "HerdSparkPi",
        &jar_path,
    ])
    .await;
    assert!(!ok && err.contains("could never start"), "{err}");
    eprintln!("[herd-test] 5 submissions in {:.1?}", started.elapsed());

    // 2. Each ends, with its final state recorded.
    let ended = ["FINISHED", "FAILED", "KILLED"];
    for id in [&pi_cli, &wc, &throws, &pi_s4, &pi_s35] {
        let s = wait_state(&http, &api, id, &ended, Duration::from_secs(300)).await;
        eprintln!("[herd-test] {id} ({}) {} at {:.1?}", s["app_name"], s["state"], started.elapsed());
        if s["state"] != "FINISHED" && *id != throws {
            let (_, err, _) =
                herd(&["spark", "--api", &api, "logs", id, "--stderr", "--master", &master]).await;
            panic!("{id} did not finish: {s}\n--- driver stderr ---\n{err}");
        }
    }
    let s = submission(&http, &api, &pi_cli).await;
    assert_eq!((s["state"].as_str(), s["attempts"].as_u64()), (Some("FINISHED"), Some(1)), "{s}");
    let status = spark_cli(&api, &["status", &pi_cli]).await;
    assert!(status.contains("FINISHED") && status.contains("pi-cli"), "{status}");
    let logs = spark_cli(&api, &["logs", &pi_cli, "--master", &master]).await;
    assert!(logs.contains("Pi is roughly 3.1"), "the driver's stdout: {logs}");
    for id in [&pi_s4, &pi_s35] {
        let status = get_json(&http, &format!("{api}/v1/submissions/status/{id}")).await;
        assert_eq!(status["action"], "SubmissionStatusResponse", "{status}");
        assert_eq!(
            (status["success"].as_bool(), status["driverState"].as_str()),
            (Some(true), Some("FINISHED")),
            "{status}"
        );
        assert_eq!(status["serverSparkVersion"], "4.3.0", "{status}");
    }
    assert_eq!(submission(&http, &api, &pi_s4).await["queue"], "etl", "spark.herd.queue picks the queue");
    assert_eq!(submission(&http, &api, &wc).await["state"], "FINISHED");
    let mut counts = String::new();
    for entry in std::fs::read_dir(&output).unwrap() {
        let entry = entry.unwrap().path();
        if entry.file_name().unwrap().to_str().unwrap().starts_with("part-") {
            counts += &std::fs::read_to_string(entry).unwrap();
        }
    }
    let mut lines: Vec<&str> = counts.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["be\t3", "is\t1", "not\t1", "or\t1", "question\t1", "that\t1", "the\t1", "to\t3"]);
    let failed = submission(&http, &api, &throws).await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    assert!(
        failed["message"].as_str().is_some_and(|m| m.contains("exited with status 1")),
        "the exit reason: {failed}"
    );
    // spark-submit passes a Python driver's stderr to its own stdout.
    let stdout = spark_cli(&api, &["logs", &throws, "--master", &master]).await;
    assert!(stdout.contains("RuntimeError: herd-test-boom"), "the driver's error: {stdout}");
    let list = spark_cli(&api, &["list"]).await;
    for id in [&pi_cli, &wc, &throws, &pi_s4, &pi_s35] {
        assert!(list.contains(id.as_str()), "{id} listed: {list}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let apps = get_json(&http, &format!("http://{history_ui}/api/v1/applications")).await;
        let names: Vec<&str> =
            apps.as_array().into_iter().flatten().filter_map(|a| a["name"].as_str()).collect();
        // SparkPi names itself (setAppName wins over --name).
        let pis = names.iter().filter(|n| **n == "HerdSparkPi").count();
        if pis == 3 && names.contains(&"herd-word-count") {
            break;
        }
        assert!(Instant::now() < deadline, "the history server lists {names:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("[herd-test] submissions checked at {:.1?}", started.elapsed());

    // 3. Kill a running application; 4. queues share by weight.
    let hold = |script: &str| {
        let (api, script) = (api.clone(), path(&dir.join(script)));
        async move {
            let args = [
                "submit",
                "--queue",
                "hold",
                "--driver-cores",
                "1.5",
                "--total-executor-cores",
                "1",
                &script,
            ];
            spark_cli(&api, &args).await.trim().to_owned()
        }
    };
    let sleeper = hold("sleeper.py").await;
    let idle = [hold("idle.py").await, hold("idle.py").await];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = spark_master(&http, &master_ui).await;
        let running = status["activeapps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "herd-sleeper" && a["cores"].as_u64().unwrap_or(0) > 0);
        if running {
            break;
        }
        if Instant::now() > deadline {
            let job = submission(&http, &api, &sleeper).await;
            panic!("the sleeper got no executor: {job}\n{status}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for id in &idle {
        wait_state(&http, &api, id, &["RUNNING"], Duration::from_secs(60)).await;
    }
    let mut waiting = Vec::new();
    for i in 0..4 {
        for queue in ["adhoc", "etl"] {
            let args = [
                "submit",
                "--queue",
                queue,
                "--driver-cores",
                "1.5",
                "--total-executor-cores",
                "1",
                "--name",
            ];
            let name = format!("{queue}-{i}");
            let mut all = args.to_vec();
            let script = path(&dir.join("idle.py"));
            all.extend([name.as_str(), &script]);
            waiting.push((queue, spark_cli(&api, &all).await.trim().to_owned()));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (_, id) in &waiting {
        assert_eq!(submission(&http, &api, id).await["state"], "QUEUED", "no slot is free yet");
    }
    let sleeper_task = submission(&http, &api, &sleeper).await["task_id"].as_str().unwrap().to_owned();
    spark_cli(&api, &["kill", &sleeper]).await;
    let killed = wait_state(&http, &api, &sleeper, &["KILLED"], Duration::from_secs(60)).await;
    assert_eq!(killed["message"], "killed by an operator", "{killed}");
    let frameworks = get_json(&http, &format!("{master}/master/frameworks")).await;
    let active: Vec<&str> = frameworks["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(!active.contains(&sleeper_task.as_str()), "the killed driver's task is gone: {active:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = spark_master(&http, &master_ui).await;
        let done =
            status["completedapps"].as_array().into_iter().flatten().any(|a| a["name"] == "herd-sleeper");
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the Spark Master still runs the sleeper: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for id in &idle {
        let answer =
            support::post_json(&http, &format!("{api}/v1/submissions/kill/{id}"), &Value::Null).await;
        assert!(answer.0 == 200 && answer.1.contains("\"success\":true"), "{answer:?}");
    }
    // Three slots free up: by weight, etl gets two and adhoc one.
    let launched = |states: &[Value]| -> Vec<&str> {
        waiting
            .iter()
            .zip(states)
            .filter(|(_, s)| s["attempts"].as_u64().unwrap_or(0) > 0)
            .map(|((queue, _), _)| *queue)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut states = Vec::new();
    loop {
        states.clear();
        for (_, id) in &waiting {
            states.push(submission(&http, &api, id).await);
        }
        if launched(&states).len() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three drivers did not launch: {states:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    states.clear();
    for (_, id) in &waiting {
        states.push(submission(&http, &api, id).await);
    }
    let mut got = launched(&states);
    got.sort_unstable();
    assert_eq!(got, ["adhoc", "etl", "etl"], "etl (weight 2) gets two slots, adhoc (1) one: {states:?}");
    for (_, id) in &waiting {
        spark_cli(&api, &["kill", id]).await;
    }
    for (_, id) in &waiting {
        wait_state(&http, &api, id, &["KILLED"], Duration::from_secs(60)).await;
    }
    // Only the pods hold resources now, as before any submission.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let used = used_cpus(&http, &master).await;
        let cores_used = spark_master(&http, &master_ui).await["coresused"].as_u64();
        if (used - pods_cpus).abs() < 1e-6 && cores_used == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "resources still in use: {used} cpus (the pods: {pods_cpus}), Spark cores {cores_used:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("[herd-test] queues checked at {:.1?}", started.elapsed());

    // 5. The scheduler dies while a driver runs, and comes back (on another port: not while
    // a driver launches, as its task fetches Spark from the scheduler's API): the driver is
    // still tracked, finishes, and its final state is recorded.
    let args = ["submit", "--class", "HerdSparkPi", "--name", "pi-restart", &jar_path, "10"];
    let pi_restart = spark_cli(&api, &args).await.trim().to_owned();
    wait_state(&http, &api, &pi_restart, &["RUNNING"], Duration::from_secs(120)).await;
    stack.kill("spark").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.restart("spark", spec.clone()).await.unwrap();
    api = format!("http://{}", stack.api("spark").unwrap());
    eprintln!("[herd-test] scheduler restarted at {:.1?}", started.elapsed());
    let s = wait_state(&http, &api, &pi_restart, &ended, Duration::from_secs(180)).await;
    assert_eq!((s["state"].as_str(), s["attempts"].as_u64()), (Some("FINISHED"), Some(1)), "{s}");
    let logs = spark_cli(&api, &["logs", &pi_restart, "--master", &master]).await;
    assert!(logs.contains("Pi is roughly 3.1"), "the driver's stdout: {logs}");
    assert_eq!(submission(&http, &api, &pi_cli).await["state"], "FINISHED", "the history survives");
    eprintln!("[herd-test] done in {:.1?}", started.elapsed());
    stack.shutdown().await;
}
