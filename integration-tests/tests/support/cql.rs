//! CQL helpers of the Cassandra tests (`#[path = "support/cql.rs"] mod cql;`): the test
//! config, a `scylla` session, and writing and reading back numbered rows of `herd.rows`
//! at QUORUM.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt as _;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::{Consistency, Statement};
use std::sync::Arc;
use std::time::Duration;

/// Test-only JVM options: skip the waits a production node makes for gossip to settle.
pub const FAST_START: &str = "jvm_options = [\"-Dcassandra.skip_wait_for_gossip_to_settle=0\", \
                              \"-Dcassandra.ring_delay_ms=1000\", \"-Dcassandra.superuser_setup_delay_ms=0\"]";

/// The default config made small enough for three nodes on one 2-core machine, with the
/// test-only `jvm_options` line `jvm_options` (e.g. [`FAST_START`]).
pub fn small_config(jvm_options: &str) -> String {
    let config = herd_cassandra::DEFAULT_CONFIG
        .replacen("cpus = 1.0", "cpus = 0.5", 1)
        .replacen("mem_mb = 4096", "mem_mb = 1024", 1)
        .replacen("heap_mb = 2048", "heap_mb = 512", 1)
        .replacen("disk_mb = 10240", "disk_mb = 1024", 1)
        .replacen("jvm_options = []", jvm_options, 1)
        .replacen("concurrent_compactors = 2", "concurrent_compactors = 1", 1);
    assert!(config.contains(jvm_options), "the default config changed: the test config is not applied");
    config
}

/// A CQL session knowing the given contact points.
pub async fn connect(contact_points: &[String]) -> Session {
    SessionBuilder::new()
        .known_nodes(contact_points)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap()
}

/// `text` as a statement that runs on `node` only (for node-local system tables).
pub fn on(node: &Arc<Node>, text: &str) -> Statement {
    let mut statement = Statement::new(text);
    statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(Arc::clone(node)),
        None,
    )));
    statement.set_request_timeout(Some(Duration::from_secs(10)));
    statement
}

/// Creates keyspace `herd` (replication factor 3 in dc1) and its table `rows`, and waits
/// for every node to agree on the schema.
pub async fn create_rows_table(session: &Session) {
    let keyspace = "CREATE KEYSPACE herd WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}";
    session.query_unpaged(keyspace, &[]).await.unwrap();
    session.query_unpaged("CREATE TABLE herd.rows (id int PRIMARY KEY, body text)", &[]).await.unwrap();
    session.await_schema_agreement().await.unwrap();
}

/// The body of row `id`.
pub fn body(id: i32) -> String {
    format!("row {id} written through herd")
}

/// Writes rows `ids` of `herd.rows` at QUORUM, 64 at a time; every write must be
/// acknowledged.
pub async fn write(session: &Session, ids: impl IntoIterator<Item = i32>) {
    let mut insert = session.prepare("INSERT INTO herd.rows (id, body) VALUES (?, ?)").await.unwrap();
    insert.set_consistency(Consistency::Quorum);
    let insert = &insert;
    let failures: Vec<String> = futures_util::stream::iter(ids)
        .map(|id| async move {
            session.execute_unpaged(insert, (id, body(id))).await.err().map(|e| format!("{id}: {e}"))
        })
        .buffer_unordered(64)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(failures.is_empty(), "{} writes failed, e.g. {:?}", failures.len(), failures.first());
}

/// Reads each of `ids` at QUORUM, 64 at a time: the rows that are not there with their body.
pub async fn missing(session: &Session, ids: &[i32]) -> Vec<String> {
    let mut select = session.prepare("SELECT body FROM herd.rows WHERE id = ?").await.unwrap();
    select.set_consistency(Consistency::Quorum);
    let select = &select;
    futures_util::stream::iter(ids.iter().copied())
        .map(|id| async move {
            let found = match session.execute_unpaged(select, (id,)).await {
                Ok(result) => result
                    .into_rows_result()
                    .map_err(|e| e.to_string())
                    .and_then(|rows| rows.maybe_first_row::<(String,)>().map_err(|e| e.to_string())),
                Err(e) => Err(e.to_string()),
            };
            match found {
                Ok(Some((text,))) if text == body(id) => None,
                Ok(other) => Some(format!("row {id} is {other:?}")),
                Err(e) => Some(format!("row {id}: {e}")),
            }
        })
        .buffer_unordered(64)
        .filter_map(|wrong| async move { wrong })
        .collect()
        .await
}
