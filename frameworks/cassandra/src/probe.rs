//! The readiness probe of a node, [`UP_NORMAL`]: the ring is all UN (up and normal) as
//! every node sees it, this node included. Run by the scheduler (not inside the task) with
//! a real CQL client, the `scylla` driver:
//!
//! 1. ask the node, over CQL on its native-transport port, for its own `system.local`
//!    (host id, bootstrap state), its gossip view `system_views.gossip_info` (each
//!    endpoint's status, host id and generation), its `system.peers_v2` (the other
//!    members, with their CQL addresses and ports) and its legacy `system.peers` (what
//!    drivers read to discover the ring);
//! 2. ask every one of those peers the same, each on the address and port the node gives
//!    for it (nodes may have different ports: each is reserved from its own agent's offer);
//! 3. pass only if the node has `bootstrapped = COMPLETED`, every other node herd placed
//!    (not being scaled in) is among those that answered (a seed that just started may not
//!    have heard of the others yet: alone, it looks like a ring of one), every node sees
//!    every live endpoint as `NORMAL` with the generation that endpoint reports for itself,
//!    and every node lists every other one as a peer, fully described in both peers tables
//!    (what a client connecting to any node discovers). So a node that just restarted
//!    counts only once every other node has seen it come back (a node that shut down is
//!    `shutdown` in the others' gossip until then), and a node that is down fails the probe
//!    because it cannot answer. Endpoints that left the ring (`LEFT`, `removed`) are
//!    ignored, and so are those that were replaced: no answering node lists them as a peer
//!    any more (and at least two nodes answered: a node that just joined may not list its
//!    peers yet), though they linger in gossip until Cassandra's quarantine drops them (a
//!    joining endpoint, `BOOT`, that no one lists yet still fails the probe).
//!
//! A rolling restart or config change thus moves to the next node only once the ring is
//! whole again, and a bootstrap only once the new node has joined.

use herd_runtime::probes::{Probe, ProbeFuture, ProbeTarget};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::response::query_result::QueryRowsResult;
use scylla::statement::Statement;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The name of the readiness probe: passes once the ring is all up and normal as every node
/// sees it, this node included, and every node lists every other as a peer (the module docs
/// of `probe.rs` say exactly what is checked).
pub const UP_NORMAL: &str = "up-normal";

/// How long connecting, and each CQL request of the probe, may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// See [`UP_NORMAL`].
#[derive(Debug)]
pub(crate) struct UpNormal;

impl Probe for UpNormal {
    fn check(&self, target: ProbeTarget) -> ProbeFuture {
        Box::pin(async move {
            let port = target.ports.get("native").copied().ok_or("the node has no `native` port")?;
            // The other nodes herd placed (not those being scaled in): each must be in the
            // ring this node sees.
            let mut expected = Vec::new();
            for other in &target.instances {
                let native = other.ports.get("native");
                if other.name == target.instance || !other.placed || other.decommissioning {
                    continue;
                }
                let Some(native) = native else { continue };
                let address = cql_address(&other.host, *native);
                let resolved = tokio::net::lookup_host(&address)
                    .await
                    .map_err(|e| format!("{} ({address}): resolving: {e}", other.name))?
                    .collect();
                expected.push(Member { name: format!("{} ({address})", other.name), addresses: resolved });
            }
            up_normal(&target.host, port, &expected).await
        })
    }
}

/// One endpoint as one node's gossip shows it.
#[derive(Debug, Clone)]
struct Endpoint {
    address: IpAddr,
    host_id: Option<String>,
    generation: Option<i32>,
    status: Option<String>,
}

impl Endpoint {
    /// Whether the endpoint has left the ring (decommissioned, removed): it no longer counts.
    fn gone(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.starts_with("LEFT") || s.starts_with("removed"))
    }

    /// Whether the endpoint was replaced (or removed) and only lingers in gossip: it is not
    /// joining, and none of the ring's `members` (host ids) is it.
    fn replaced(&self, members: &std::collections::BTreeSet<&str>) -> bool {
        !self.status.as_deref().is_some_and(|s| s.starts_with("BOOT"))
            && self.host_id.as_deref().is_none_or(|id| !members.contains(id))
    }

    /// Whether the endpoint is NORMAL (a member of the ring, not shut down or joining).
    fn normal(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.starts_with("NORMAL"))
    }
}

/// One peer as one node's `system.peers_v2` lists it.
#[derive(Debug, Clone)]
struct Peer {
    address: IpAddr,
    host_id: Option<String>,
    /// Its CQL `host:port`, once known.
    native: Option<String>,
    /// Whether its tokens are known (it owns part of the ring).
    tokens: bool,
    /// Whether the legacy `system.peers` row, which most drivers read to discover the ring
    /// (the `scylla` driver, DataStax's), has its host id, `rpc_address`, datacenter, rack
    /// and tokens: a driver skips a peer whose row lacks them.
    described: bool,
}

/// A node herd placed, which the ring must have.
#[derive(Debug, Clone)]
struct Member {
    /// Its instance and CQL address, for messages.
    name: String,
    /// Its CQL address, resolved.
    addresses: Vec<SocketAddr>,
}

/// What one node says about itself and the ring.
#[derive(Debug, Clone)]
struct View {
    /// The node's CQL address, for messages.
    node: String,
    /// The address the driver reached it on.
    address: SocketAddr,
    host_id: String,
    bootstrapped: Option<String>,
    gossip: Vec<Endpoint>,
    peers: Vec<Peer>,
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// `host:port` (`[host]:port` for an IPv6 address).
fn cql_address(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// `text` as a statement that runs on `node` only.
fn pinned(text: &str, node: &Arc<Node>) -> Statement {
    let mut statement = Statement::new(text);
    statement.set_request_timeout(Some(REQUEST_TIMEOUT));
    statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(Arc::clone(node)),
        None,
    )));
    statement
}

/// Runs the query `text` (of `table`) on `node` (at `address`) only: its rows, or why not.
async fn select(
    session: &Session,
    node: &Arc<Node>,
    address: &str,
    table: &str,
    text: &str,
) -> Result<QueryRowsResult, String> {
    let fail = |e: &dyn std::fmt::Display| format!("node {address}: {table}: {e}");
    let result = session.query_unpaged(pinned(text, node), &[]).await.map_err(|e| fail(&e))?;
    result.into_rows_result().map_err(|e| fail(&e))
}

/// Connects to the node at `address` (`host:port`) and asks it about itself and the ring.
async fn view(address: &str) -> Result<View, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("node {address}: {what}: {e}");
    let session: Session = SessionBuilder::new()
        .known_node(address)
        .connection_timeout(REQUEST_TIMEOUT)
        .fetch_schema_metadata(false)
        .build()
        .await
        .map_err(|e| fail("CQL connection", &e))?;
    // The node itself among those the driver found (the address may be a hostname).
    let resolved: Vec<SocketAddr> =
        tokio::net::lookup_host(address).await.map_err(|e| fail("resolving", &e))?.collect();
    let state = session.get_cluster_state();
    let node = state
        .get_nodes_info()
        .iter()
        .find(|n| resolved.contains(&SocketAddr::new(n.address.ip(), n.address.port())))
        .ok_or_else(|| format!("node {address} is not among the nodes its own driver session found"))?;

    let select = |table, text| select(&session, node, address, table, text);
    let local =
        select("system.local", "SELECT host_id, bootstrapped FROM system.local WHERE key = 'local'").await?;
    let (host_id, bootstrapped) =
        local.single_row::<(Option<uuid::Uuid>, Option<String>)>().map_err(|e| fail("system.local", &e))?;
    let host_id = host_id.ok_or_else(|| format!("node {address} has no host id yet"))?;

    let gossip_query =
        "SELECT address, host_id, generation, status_with_port, status FROM system_views.gossip_info";
    let gossip = select("system_views.gossip_info", gossip_query).await?;
    let mut endpoints = Vec::new();
    for row in gossip
        .rows::<(IpAddr, Option<String>, Option<i32>, Option<String>, Option<String>)>()
        .map_err(|e| fail("system_views.gossip_info", &e))?
    {
        let (address, host_id, generation, with_port, status) =
            row.map_err(|e| fail("gossip_info row", &e))?;
        endpoints.push(Endpoint { address, host_id, generation, status: with_port.or(status) });
    }

    let peers_query = "SELECT peer, host_id, native_address, native_port, tokens FROM system.peers_v2";
    let rows = select("system.peers_v2", peers_query).await?;
    let mut peers = Vec::new();
    for row in rows
        .rows::<(IpAddr, Option<uuid::Uuid>, Option<IpAddr>, Option<i32>, Option<Vec<String>>)>()
        .map_err(|e| fail("system.peers_v2", &e))?
    {
        let (address, host_id, native_address, native_port, tokens) =
            row.map_err(|e| fail("peers_v2 row", &e))?;
        let native = match (native_address, native_port.and_then(|p| u16::try_from(p).ok())) {
            (Some(ip), Some(port)) => Some(socket_text(ip, port)),
            _ => None,
        };
        peers.push(Peer {
            address,
            host_id: host_id.map(|h| h.to_string()),
            native,
            tokens: tokens.is_some_and(|t| !t.is_empty()),
            described: false,
        });
    }
    let legacy_query = "SELECT peer, host_id, rpc_address, data_center, rack, tokens FROM system.peers";
    let rows = select("system.peers", legacy_query).await?;
    type LegacyRow =
        (IpAddr, Option<uuid::Uuid>, Option<IpAddr>, Option<String>, Option<String>, Option<Vec<String>>);
    for row in rows.rows::<LegacyRow>().map_err(|e| fail("system.peers", &e))? {
        let (address, host_id, rpc_address, dc, rack, tokens) = row.map_err(|e| fail("peers row", &e))?;
        let described = host_id.is_some()
            && rpc_address.is_some()
            && dc.is_some()
            && rack.is_some()
            && tokens.is_some_and(|t| !t.is_empty());
        if let Some(peer) = peers.iter_mut().find(|p| p.address == address) {
            peer.described = described;
        }
    }
    Ok(View {
        node: address.to_owned(),
        address: SocketAddr::new(node.address.ip(), node.address.port()),
        host_id: host_id.to_string(),
        bootstrapped,
        gossip: endpoints,
        peers,
    })
}

/// The probe: see the [module docs](self). `expected`: the other nodes the ring must have.
async fn up_normal(host: &str, port: u16, expected: &[Member]) -> Result<(), String> {
    let address = cql_address(host, port);
    let target = view(&address).await?;
    let mut views = vec![target.clone()];
    for peer in &target.peers {
        let native = peer.native.as_deref().ok_or_else(|| {
            format!("node {address} does not know the CQL address of its peer {} yet", peer.address)
        })?;
        views.push(view(native).await?);
    }
    judge(&target, &views, expected)
}

/// The verdict on `target` given every node's view and the other nodes the ring must have
/// (see the [module docs](self)).
fn judge(target: &View, views: &[View], expected: &[Member]) -> Result<(), String> {
    if target.bootstrapped.as_deref() != Some("COMPLETED") {
        return Err(format!(
            "node {} has not finished joining (bootstrapped = {})",
            target.node,
            target.bootstrapped.as_deref().unwrap_or("null")
        ));
    }
    // A node that just started may know no other yet: every node herd placed must answer.
    for member in expected {
        if !views.iter().any(|v| member.addresses.contains(&v.address)) {
            return Err(format!("{} is not in the ring node {} sees yet", member.name, target.node));
        }
    }
    // The ring's members: the nodes that answered and every peer they list. With one node
    // answering alone, its gossip decides (its peers table may lag behind it).
    let vouched = views.len() >= 2;
    let members: std::collections::BTreeSet<&str> = views
        .iter()
        .map(|v| v.host_id.as_str())
        .chain(views.iter().flat_map(|v| v.peers.iter().filter_map(|p| p.host_id.as_deref())))
        .collect();
    // Each node's generation, as it says itself.
    let mut own: BTreeMap<&str, i32> = BTreeMap::new();
    for view in views {
        let me = view.gossip.iter().find(|e| e.host_id.as_deref() == Some(view.host_id.as_str()));
        let generation = me
            .and_then(|e| e.generation)
            .ok_or_else(|| format!("node {} does not gossip about itself yet", view.node))?;
        own.insert(view.host_id.as_str(), generation);
    }
    for view in views {
        // Left the ring, or replaced (when more than one node answered): not counted.
        let departed = |e: &Endpoint| e.gone() || (vouched && e.replaced(&members));
        let counted = |e: &&Endpoint| !departed(e);
        for endpoint in view.gossip.iter().filter(counted) {
            let status = endpoint.status.as_deref().unwrap_or("no status");
            if !endpoint.normal() {
                return Err(format!("node {} sees {} as {status}", view.node, endpoint.address));
            }
            let Some(host_id) = endpoint.host_id.as_deref() else {
                return Err(format!("node {} knows no host id for {}", view.node, endpoint.address));
            };
            let Some(generation) = own.get(host_id) else {
                return Err(format!(
                    "{} ({status} for node {}) is not a peer of node {}, or does not answer",
                    endpoint.address, view.node, target.node
                ));
            };
            if endpoint.generation != Some(*generation) {
                return Err(format!(
                    "node {} has not seen {} come back yet (generation {:?}, it is at {generation})",
                    view.node, endpoint.address, endpoint.generation
                ));
            }
        }
        // What a client connecting to this node discovers: every other member.
        for other in views.iter().filter(|o| o.host_id != view.host_id) {
            let listed = view.peers.iter().find(|p| p.host_id.as_deref() == Some(other.host_id.as_str()));
            match listed {
                Some(peer) if peer.native.is_some() && peer.tokens && peer.described => {}
                Some(peer) if peer.native.is_some() && peer.tokens => {
                    return Err(format!(
                        "node {} does not describe {} fully in system.peers yet (drivers skip it)",
                        view.node, other.node
                    ));
                }
                Some(_) => {
                    return Err(format!(
                        "node {} does not know the CQL address or tokens of {} yet",
                        view.node, other.node
                    ));
                }
                None => return Err(format!("node {} does not list {} as a peer yet", view.node, other.node)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 41, n])
    }

    fn endpoint(n: u8, generation: i32, status: &str) -> Endpoint {
        Endpoint {
            address: ip(n),
            host_id: Some(format!("host-{n}")),
            generation: Some(generation),
            status: Some(status.to_owned()),
        }
    }

    fn peer(n: u8) -> Peer {
        Peer {
            address: ip(n),
            host_id: Some(format!("host-{n}")),
            native: Some(format!("{}:9042", ip(n))),
            tokens: true,
            described: true,
        }
    }

    /// Three nodes that know each other; node 2's own generation and the one the others
    /// see, and the status the others see it with.
    fn ring(generations: [i32; 3], seen_by_others: [i32; 3], status_of_2: &str) -> Vec<View> {
        (1..=3u8)
            .map(|me| {
                let gossip = (1..=3u8)
                    .map(|n| {
                        let i = usize::from(n - 1);
                        if n == me {
                            endpoint(n, generations[i], "NORMAL,-1")
                        } else if n == 2 {
                            endpoint(n, seen_by_others[i], status_of_2)
                        } else {
                            endpoint(n, seen_by_others[i], "NORMAL,-1")
                        }
                    })
                    .collect();
                View {
                    node: format!("{}:9042", ip(me)),
                    address: SocketAddr::new(ip(me), 9042),
                    host_id: format!("host-{me}"),
                    bootstrapped: Some("COMPLETED".to_owned()),
                    gossip,
                    peers: (1..=3u8).filter(|n| *n != me).map(peer).collect(),
                }
            })
            .collect()
    }

    #[test]
    fn a_converged_ring_passes() {
        let views = ring([10, 20, 30], [10, 20, 30], "NORMAL,42");
        assert_eq!(judge(&views[1], &views, &[]), Ok(()));
    }

    #[test]
    fn a_node_still_joining_fails() {
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,42");
        views[1].bootstrapped = Some("IN_PROGRESS".to_owned());
        let err = judge(&views[1].clone(), &views, &[]).unwrap_err();
        assert!(err.contains("has not finished joining (bootstrapped = IN_PROGRESS)"), "{err}");
    }

    #[test]
    fn a_restarted_node_others_have_not_seen_back_fails() {
        // node 2 restarted (generation 21); the others still see it shut down...
        let views = ring([10, 21, 30], [10, 20, 30], "shutdown,true");
        let err = judge(&views[1], &views, &[]).unwrap_err();
        assert!(err.contains("sees 127.0.41.2 as shutdown,true"), "{err}");
        // ...or NORMAL at its old generation.
        let views = ring([10, 21, 30], [10, 20, 30], "NORMAL,1");
        let err = judge(&views[1], &views, &[]).unwrap_err();
        assert!(err.contains("has not seen 127.0.41.2 come back yet"), "{err}");
    }

    #[test]
    fn a_node_that_does_not_answer_fails_and_departed_ones_are_ignored() {
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,1");
        views.pop();
        let err = judge(&views[0], &views, &[]).unwrap_err();
        assert!(err.contains("127.0.41.3") && err.contains("does not answer"), "{err}");
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,1");
        views.pop();
        for view in &mut views {
            view.gossip.retain(|e| e.address != ip(3));
            view.peers.retain(|p| p.address != ip(3));
            view.gossip.push(endpoint(9, 5, "LEFT,1,2"));
        }
        assert_eq!(judge(&views[0], &views, &[]), Ok(()));
    }

    #[test]
    fn a_replaced_endpoint_lingering_in_gossip_is_ignored_but_not_a_joining_one() {
        // 127.0.41.9 was replaced by node 3: no node lists it as a peer, gossip still has it.
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,1");
        for view in &mut views {
            view.gossip.push(endpoint(9, 5, "NORMAL,-1"));
        }
        assert_eq!(judge(&views[2], &views, &[]), Ok(()));
        // A node joining (no peer lists it yet) still fails the probe.
        for view in &mut views {
            view.gossip.last_mut().unwrap().status = Some("BOOT,-1".to_owned());
        }
        let err = judge(&views[2], &views, &[]).unwrap_err();
        assert!(err.contains("sees 127.0.41.9 as BOOT,-1"), "{err}");
        // A node that lists no peer yet cannot vouch that the others are gone.
        let mut alone = views[2].clone();
        alone.peers.clear();
        let err = judge(&alone, std::slice::from_ref(&alone), &[]).unwrap_err();
        assert!(err.contains("does not answer"), "{err}");
        // A member that is down (its peers still list it) fails it too.
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,1");
        views.pop();
        let err = judge(&views[0], &views, &[]).unwrap_err();
        assert!(err.contains("does not answer"), "{err}");
    }

    #[test]
    fn a_node_that_knows_no_other_yet_fails_while_herd_placed_others() {
        // A seed just started (no bootstrap: COMPLETED at once) before gossip reached it:
        // alone, it looks like a whole ring of one.
        let mut alone = ring([10, 20, 30], [10, 20, 30], "NORMAL,1").remove(2);
        alone.peers.clear();
        alone.gossip.retain(|e| e.address == ip(3));
        assert_eq!(judge(&alone, std::slice::from_ref(&alone), &[]), Ok(()), "the first node of a ring");
        let member =
            |n: u8| Member { name: format!("node-{n}"), addresses: vec![SocketAddr::new(ip(n), 9042)] };
        let err = judge(&alone, std::slice::from_ref(&alone), &[member(1), member(2)]).unwrap_err();
        assert_eq!(err, "node-1 is not in the ring node 127.0.41.3:9042 sees yet");
        // Once it knows them (and they it), it passes.
        let views = ring([10, 20, 30], [10, 20, 30], "NORMAL,1");
        assert_eq!(judge(&views[2], &views, &[member(1), member(2)]), Ok(()));
    }

    #[test]
    fn a_node_clients_cannot_discover_everywhere_fails() {
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,42");
        views[0].peers.retain(|p| p.address != ip(3));
        let err = judge(&views[2], &views, &[]).unwrap_err();
        assert!(err.contains("node 127.0.41.1:9042 does not list 127.0.41.3:9042 as a peer yet"), "{err}");
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,42");
        views[0].peers[1].tokens = false;
        let err = judge(&views[2], &views, &[]).unwrap_err();
        assert!(err.contains("does not know the CQL address or tokens of 127.0.41.3:9042"), "{err}");
        // A peer a driver would skip (its legacy system.peers row lacks the rpc_address...).
        let mut views = ring([10, 20, 30], [10, 20, 30], "NORMAL,42");
        views[1].peers[1].described = false;
        let err = judge(&views[2], &views, &[]).unwrap_err();
        assert!(err.contains("node 127.0.41.2:9042 does not describe 127.0.41.3:9042 fully"), "{err}");
    }
}
