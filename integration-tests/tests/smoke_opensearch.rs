//! Smoke test: a single OpenSearch node from the assembled distribution answers `GET /`,
//! indexes a document and finds it (HTTP through reqwest). Records its floor.
//!
//! Launch, per the verified recipe: `java <the flags OpenSearch's JvmOptionsParser prints on
//! Java 17> -Dopensearch.path.home=<home> -Dopensearch.path.conf=<node>/config -cp 'lib/*'
//! org.opensearch.bootstrap.OpenSearch` with stdin from /dev/null. OpenSearch refuses to run
//! as root: as root (CI), the JVM runs as `nobody:nogroup` through `setpriv`, with the node's
//! folders owned by nobody and the home linked into a folder nobody can traverse (the cache
//! is under root's 0700 home); otherwise it runs as the current user. Binds 127.0.24.1 only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, distribution, free_ports, guarded_command, java, record_floor, scratch_dir,
};
use nix::unistd::{Gid, Group, Uid, User};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// This test file's own loopback address.
const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 24, 1);

/// The index the test writes.
const INDEX: &str = "herd-smoke";

/// OpenSearch's JVM flags (what `JvmOptionsParser` prints for 2.19 on Java 17 with a 512 MB
/// heap, less AlwaysPreTouch and GC log files); the per-node paths are added in the test.
const JVM_FLAGS: &[&str] = &[
    "-Xms512m",
    "-Xmx512m",
    "-XX:MaxDirectMemorySize=268435456",
    "-Dopensearch.networkaddress.cache.ttl=60",
    "-Dopensearch.networkaddress.cache.negative.ttl=10",
    "-Xss1m",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
    "-Djna.nosys=true",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ShowCodeDetailsInExceptionMessages",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dio.netty.allocator.numDirectArenas=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
    "-Djava.locale.providers=SPI,COMPAT",
    "-XX:+UseG1GC",
    "-XX:G1ReservePercent=25",
    "-XX:InitiatingHeapOccupancyPercent=30",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-Djava.util.concurrent.ForkJoinPool.common.threadFactory=org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
    "-Dopensearch.distribution.type=zip",
    "-Dopensearch.bundled_jdk=false",
];

/// The user and group the JVM runs as when the test runs as root.
fn unprivileged() -> (Uid, Gid) {
    let user = User::from_name("nobody").ok().flatten().expect("a `nobody` user");
    let gid = Group::from_name("nogroup").ok().flatten().map_or(user.gid, |g| g.gid);
    (user.uid, gid)
}

/// Gives `path` and everything under it to `uid:gid`.
fn chown_tree(path: &Path, uid: Uid, gid: Gid) {
    nix::unistd::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// Sends a request and returns the status and the body as JSON.
async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let json =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{status}: not JSON ({e}): {text}"))?;
    Ok((status, json))
}

/// Indexes one document and finds it by a full-text query.
async fn index_and_search(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let json = |request: reqwest::RequestBuilder, body: &'static str| {
        request.header("content-type", "application/json").body(body)
    };
    let settings = r#"{"settings": {"number_of_shards": 1, "number_of_replicas": 0}}"#;
    let (status, body) = call(json(http.put(format!("{base}/{INDEX}")), settings)).await?;
    anyhow::ensure!(status.is_success() && body["acknowledged"] == true, "create index: {status} {body}");
    let doc = r#"{"msg": "hello herd", "n": 1}"#;
    let (status, body) = call(json(http.put(format!("{base}/{INDEX}/_doc/1?refresh=true")), doc)).await?;
    anyhow::ensure!(status.as_u16() == 201 && body["result"] == "created", "index: {status} {body}");
    let (status, body) = call(http.get(format!("{base}/{INDEX}/_search?q=msg:hello"))).await?;
    anyhow::ensure!(status.is_success(), "search: {status} {body}");
    let hits = &body["hits"];
    anyhow::ensure!(
        hits["total"]["value"] == 1
            && hits["hits"][0]["_id"] == "1"
            && hits["hits"][0]["_source"]["msg"] == "hello herd",
        "search found {hits}"
    );
    let (status, body) = call(http.get(format!("{base}/{INDEX}/_search?q=msg:absent"))).await?;
    anyhow::ensure!(status.is_success() && body["hits"]["total"]["value"] == 0, "search for nothing: {body}");
    let (status, body) =
        call(http.get(format!("{base}/_cluster/health/{INDEX}?wait_for_status=green&timeout=30s"))).await?;
    anyhow::ensure!(status.is_success() && body["status"] == "green", "index health: {status} {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_answers_and_indexes_and_searches_a_document() {
    let dist = distribution("opensearch").await.expect("assemble opensearch");
    let scratch = scratch_dir("opensearch").unwrap();
    let root = Uid::effective().is_root();
    // As root the JVM runs as nobody, who cannot traverse root's home where the cache is.
    let home = if root { dist.link_into(&scratch.path().join("home")).unwrap() } else { dist.home.clone() };
    let node = scratch.path().join("node");
    let config = node.join("config");
    for dir in [&config, &node.join("data"), &node.join("logs"), &node.join("tmp")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(home.join("config/log4j2.properties"), config.join("log4j2.properties")).unwrap();
    let [http_port, transport_port] = free_ports(IP).unwrap();
    std::fs::write(
        config.join("opensearch.yml"),
        format!(
            "cluster.name: herd\n\
             node.name: n1\n\
             network.host: {IP}\n\
             http.port: {http_port}\n\
             transport.port: {transport_port}\n\
             discovery.type: single-node\n\
             path.data: {node}/data\n\
             path.logs: {node}/logs\n",
            node = node.display()
        ),
    )
    .unwrap();
    let user = if root {
        let (uid, gid) = unprivileged();
        chown_tree(&node, uid, gid);
        Some((uid.to_string(), gid.to_string()))
    } else {
        None
    };

    let mut command = guarded_command(java(), user.as_ref().map(|(u, g)| (u.as_str(), g.as_str())));
    command
        .args(JVM_FLAGS)
        .arg(format!("-Djava.io.tmpdir={}/tmp", node.display()))
        .arg(format!("-XX:HeapDumpPath={}/data", node.display()))
        .arg(format!("-XX:ErrorFile={}/logs/hs_err_pid%p.log", node.display()))
        .arg(format!("-Dopensearch.path.home={}", home.display()))
        .arg(format!("-Dopensearch.path.conf={}", config.display()))
        .arg("-cp")
        .arg(format!("{}/lib/*", home.display()))
        .arg("org.opensearch.bootstrap.OpenSearch")
        .current_dir(&node);
    let mut opensearch = Daemon::spawn("opensearch", command, scratch.path()).unwrap();
    // The workspace's reqwest brings no TLS provider of its own (plain HTTP here anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let base = format!("http://{IP}:{http_port}");

    let root_answer = opensearch
        .wait_until("GET / answers 200", Duration::from_secs(180), || async {
            let (status, body) = call(http.get(format!("{base}/"))).await?;
            anyhow::ensure!(status.is_success(), "GET / answered {status}: {body}");
            anyhow::Ok(body)
        })
        .await;
    let ready = opensearch.uptime();
    if let Some((uid, _)) = &user {
        // setpriv execs java, so the daemon's pid is the JVM's.
        let status = std::fs::read_to_string(format!("/proc/{}/status", opensearch.pid())).unwrap();
        let real_uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap_or_default();
        assert_eq!(real_uid.split_whitespace().next(), Some(uid.as_str()), "the JVM runs as {real_uid:?}");
    }
    assert_eq!(root_answer["version"]["number"], dist.version.as_str(), "GET / answered {root_answer}");
    assert_eq!(root_answer["cluster_name"], "herd", "GET / answered {root_answer}");

    opensearch
        .expect_within(
            "indexing and searching a document",
            Duration::from_secs(120),
            index_and_search(&http, &base),
        )
        .await;

    record_floor("opensearch", &dist.version, ready, dist.size_bytes).unwrap();
}
