//! Smoke test: a single Cassandra node from the assembled distribution answers a CQL query
//! through the `scylla` driver, creates a keyspace and a table, and stores and returns rows.
//! Records its floor.
//!
//! Launch, per the verified recipe: `java <heap, G1 and the whole JPMS list of
//! conf/jvm17-server.options> -javaagent:libs/jamm-0.4.0.jar -Dcassandra.config=file://...
//! -cp 'libs/*' org.apache.cassandra.service.CassandraDaemon` in the foreground. Without the
//! JPMS flags Cassandra 5 cannot start on Java 17. Binds 127.0.23.1, and its local JMX server
//! 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, distribution, free_port, free_ports, guarded_command, java, record_floor, scratch_dir,
};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// This test file's own loopback address.
const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 23, 1);

/// Rows written and read back.
const ROWS: i32 = 20;

/// The test's own JVM flags besides the server's (`herd_cassandra::SERVER_JVM_FLAGS` and
/// `JAVA17_MODULE_FLAGS`, as the framework starts nodes): a small heap, and none of the
/// waits a production node makes.
const TEST_FLAGS: &[&str] = &[
    "-Xms512m",
    "-Xmx512m",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.load_ring_state=false",
];

/// A single node's cassandra.yaml.
fn cassandra_yaml(node: &Path, storage_port: u16, native_port: u16) -> String {
    let node = node.display();
    format!(
        "cluster_name: herd\n\
         num_tokens: 16\n\
         allocate_tokens_for_local_replication_factor: 3\n\
         partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\
         commitlog_sync: periodic\n\
         commitlog_sync_period: 10000ms\n\
         endpoint_snitch: SimpleSnitch\n\
         seed_provider:\n  \
           - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n    \
             parameters:\n      \
               - seeds: \"{IP}:{storage_port}\"\n\
         listen_address: {IP}\n\
         rpc_address: {IP}\n\
         storage_port: {storage_port}\n\
         native_transport_port: {native_port}\n\
         start_native_transport: true\n\
         data_file_directories: [{node}/data]\n\
         commitlog_directory: {node}/commitlog\n\
         saved_caches_directory: {node}/saved_caches\n\
         hints_directory: {node}/hints\n\
         cdc_raw_directory: {node}/cdc_raw\n\
         auto_bootstrap: false\n"
    )
}

/// A CQL session with the node, or why there is none yet.
async fn connect(address: &str) -> anyhow::Result<Session> {
    Ok(SessionBuilder::new().known_node(address).connection_timeout(Duration::from_secs(3)).build().await?)
}

/// `release_version` and `cluster_name` of `system.local`.
async fn release_and_cluster(session: &Session) -> anyhow::Result<(String, String)> {
    let rows = session
        .query_unpaged("SELECT release_version, cluster_name FROM system.local", &[])
        .await?
        .into_rows_result()?;
    Ok(rows.single_row::<(String, String)>()?)
}

/// Creates a keyspace and a table, writes [`ROWS`] rows and reads them back.
async fn round_trip(session: &Session) -> anyhow::Result<()> {
    session
        .query_unpaged(
            "CREATE KEYSPACE herd_smoke WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            &[],
        )
        .await?;
    session.query_unpaged("CREATE TABLE herd_smoke.notes (id int PRIMARY KEY, body text)", &[]).await?;
    session.await_schema_agreement().await?;
    let insert = session.prepare("INSERT INTO herd_smoke.notes (id, body) VALUES (?, ?)").await?;
    for id in 0..ROWS {
        session.execute_unpaged(&insert, (id, format!("note {id} from herd"))).await?;
    }
    let rows =
        session.query_unpaged("SELECT id, body FROM herd_smoke.notes", &[]).await?.into_rows_result()?;
    let mut read: Vec<(i32, String)> = rows.rows::<(i32, String)>()?.collect::<Result<_, _>>()?;
    read.sort();
    let expected: Vec<(i32, String)> = (0..ROWS).map(|id| (id, format!("note {id} from herd"))).collect();
    anyhow::ensure!(read == expected, "read back {read:?}");
    let one = session
        .query_unpaged("SELECT body FROM herd_smoke.notes WHERE id = ?", (7,))
        .await?
        .into_rows_result()?
        .single_row::<(String,)>()?;
    anyhow::ensure!(one.0 == "note 7 from herd", "row 7 is {one:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassandra_answers_cql_and_stores_rows() {
    let dist = distribution("cassandra").await.expect("assemble cassandra");
    let scratch = scratch_dir("cassandra").unwrap();
    let node = scratch.path();
    let [storage_port, native_port] = free_ports(IP).unwrap();
    // The local JMX server binds 127.0.0.1 whatever the listen address.
    let jmx_port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let config = node.join("cassandra.yaml");
    std::fs::write(&config, cassandra_yaml(node, storage_port, native_port)).unwrap();

    let mut command = guarded_command(java(), None);
    command
        .args(TEST_FLAGS)
        .args(herd_cassandra::SERVER_JVM_FLAGS)
        .args(herd_cassandra::JAVA17_MODULE_FLAGS)
        .arg(format!("-javaagent:{}/libs/jamm-0.4.0.jar", dist.home.display()))
        .arg(format!("-Dcassandra.config=file://{}", config.display()))
        .arg(format!("-Dlogback.configurationFile={}/conf/logback.xml", dist.home.display()))
        .arg(format!("-Dcassandra.logdir={}/logs", node.display()))
        .arg(format!("-Dcassandra.storagedir={}", node.display()))
        .arg(format!("-Dcassandra.jmx.local.port={jmx_port}"))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("org.apache.cassandra.service.CassandraDaemon")
        .current_dir(node);
    let mut cassandra = Daemon::spawn("cassandra", command, node).unwrap();
    let address = format!("{IP}:{native_port}");

    let (session, release, cluster) = cassandra
        .wait_until("a CQL query through the scylla driver answers", Duration::from_secs(180), || async {
            let session = connect(&address).await?;
            let (release, cluster) = release_and_cluster(&session).await?;
            anyhow::Ok((session, release, cluster))
        })
        .await;
    let ready = cassandra.uptime();
    assert_eq!((release.as_str(), cluster.as_str()), (dist.version.as_str(), "herd"));

    cassandra
        .expect_within(
            "a keyspace, a table and 20 rows written and read",
            Duration::from_secs(120),
            round_trip(&session),
        )
        .await;
    drop(session);

    record_floor("cassandra", &dist.version, ready, dist.size_bytes).unwrap();
}
