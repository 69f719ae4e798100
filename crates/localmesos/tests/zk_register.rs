//! The local master registers in a real ZooKeeper 3.9 server the way a Mesos master does
//! (`EPHEMERAL_SEQUENTIAL` `<path>/json.info_` znodes holding `MasterInfo` JSON), checked with
//! herd-mesos-client's leader detector and a plain ZooKeeper client.
//!
//! Needs the ZooKeeper jars: `bash scripts/fetch-zookeeper.sh` (tests fail, never skip,
//! without them).

#[allow(dead_code)]
#[path = "../../mesos-client/tests/support/zookeeper.rs"]
mod zookeeper_server;

use std::future::Future;
use std::time::{Duration, Instant};

use herd_localmesos::master::zk::{
    MASTER_INFO_JSON_LABEL, SESSION_TIMEOUT, ZkRegisterError, ZkRegistration, register,
};
use herd_mesos_api::MasterInfo;
use herd_mesos_client::zk::{ZkError, ZkUrl, detect_leader};
use zookeeper_client as zkc;
use zookeeper_server::{ZkServer, free_port};

/// Bound on every single step of a test.
const STEP: Duration = Duration::from_secs(20);
/// The timeout handed to `register` and `detect_leader`.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// A `MasterInfo` as a Mesos 1.12 master describes itself.
fn master(id: &str, port: u16) -> MasterInfo {
    serde_json::from_str(&format!(
        r#"{{"id":"{id}","ip":16777343,"port":{port},"pid":"master@127.0.0.1:{port}","hostname":"127.0.0.1","version":"1.12.0","address":{{"hostname":"127.0.0.1","ip":"127.0.0.1","port":{port}}},"capabilities":[{{"type":"AGENT_UPDATE"}},{{"type":"QUOTA_V2"}}]}}"#
    ))
    .expect("MasterInfo JSON")
}

async fn start_server() -> ZkServer {
    tokio::task::spawn_blocking(ZkServer::start).await.expect("start ZooKeeper")
}

async fn connect(server: &ZkServer) -> zkc::Client {
    within("connect", zkc::Client::connect(&server.connect_string()))
        .await
        .expect("connect to test ZooKeeper")
}

async fn register_ok(url: &str, info: &MasterInfo) -> ZkRegistration {
    within("register", register(url, info, TIMEOUT))
        .await
        .unwrap_or_else(|e| panic!("register at {url}: {e}"))
}

async fn detect(url: &str) -> Result<MasterInfo, ZkError> {
    let url = ZkUrl::parse(url).expect("detector parses the URL");
    within("detect_leader", detect_leader(&url, TIMEOUT)).await
}

/// The sequence number of a member znode.
fn seq(znode: &str) -> u64 {
    znode.rsplit('_').next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no sequence in {znode}"))
}

/// Detects until `check` accepts the answer (at most [`STEP`]); returns how long it took.
async fn detect_until(
    url: &str,
    what: &str,
    check: impl Fn(&Result<MasterInfo, ZkError>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let answer = detect(url).await;
        if check(&answer) {
            return start.elapsed();
        }
        assert!(start.elapsed() < STEP, "{what}: still {answer:?} after {STEP:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_registered_master_leads_and_the_next_one_takes_over_when_it_goes() {
    let server = start_server().await;
    let zk = connect(&server).await;
    // A nested path that does not exist yet: created, like Mesos' Group does.
    let url = format!("zk://{}/herd/mesos", server.connect_string());
    let (a_info, b_info) = (master("master-a", 5050), master("master-b", 5051));

    let a = register_ok(&url, &a_info).await;
    let prefix = format!("/herd/mesos/{MASTER_INFO_JSON_LABEL}_");
    let suffix =
        a.znode().strip_prefix(&prefix).unwrap_or_else(|| panic!("{} is not {prefix}<seq>", a.znode()));
    assert!(suffix.len() == 10 && suffix.bytes().all(|b| b.is_ascii_digit()), "{}", a.znode());
    assert_eq!(a.servers(), server.connect_string());

    // The znode: ephemeral, open ACL, the compact JSON of the MasterInfo.
    let (data, stat) = within("get_data", zk.get_data(a.znode())).await.expect("get member data");
    assert_eq!(data, serde_json::to_vec(&a_info).expect("JSON"));
    assert!(
        !data.contains(&b'\n') && !data.contains(&b' '),
        "compact JSON: {}",
        String::from_utf8_lossy(&data)
    );
    assert_ne!(stat.ephemeral_owner, 0, "the member znode is ephemeral");
    let (acl, _) = within("get_acl", zk.get_acl(a.znode())).await.expect("get member acl");
    assert_eq!(acl, &*zkc::Acls::anyone_all());
    // The group path: persistent, empty, open.
    let (data, stat) = within("get_data", zk.get_data("/herd/mesos")).await.expect("get path data");
    assert!(data.is_empty());
    assert_eq!(stat.ephemeral_owner, 0, "the group path is persistent");
    let (acl, _) = within("get_acl", zk.get_acl("/herd")).await.expect("get path acl");
    assert_eq!(acl, &*zkc::Acls::anyone_all());

    assert_eq!(detect(&url).await.expect("a leads"), a_info);

    // A second master queues behind the first.
    let b = register_ok(&url, &b_info).await;
    assert!(seq(b.znode()) > seq(a.znode()), "{} after {}", b.znode(), a.znode());
    assert_eq!(detect(&url).await.expect("a still leads"), a_info);

    // Dropping the first registration deletes its znode at once (not a session timeout later).
    drop(a);
    let took =
        detect_until(&url, "b leads", |answer| answer.as_ref().is_ok_and(|info| *info == b_info)).await;
    assert!(took < SESSION_TIMEOUT, "took {took:?}: the znode went with the session's expiry, not the drop");
    let children = within("list", zk.list_children("/herd/mesos")).await.expect("list");
    assert_eq!(children, [b.znode().rsplit('/').next().expect("name")]);

    // Withdrawing waits until ZooKeeper confirms: no master remains right after.
    within("withdraw", b.withdraw()).await.expect("withdraw");
    match detect(&url).await {
        Err(ZkError::NoLeader { children, .. }) => assert!(children.is_empty(), "{children:?}"),
        other => panic!("expected no leader after withdrawing, got {other:?}"),
    }

    // Registering again works on the existing path.
    let c = register_ok(&url, &a_info).await;
    assert_eq!(detect(&url).await.expect("c leads"), a_info);
    within("withdraw", c.withdraw()).await.expect("withdraw");
}

#[tokio::test]
async fn digest_credentials_protect_the_registration_but_everyone_can_read_it() {
    let server = start_server().await;
    let zk = connect(&server).await;
    let url = format!("zk://herd:s3cret@{}/secure/mesos", server.connect_string());
    let info = master("secure", 5050);
    let registration = register_ok(&url, &info).await;

    // EVERYONE_READ_CREATOR_ALL on the path and the member.
    for znode in ["/secure", "/secure/mesos", registration.znode()] {
        let (acl, _) = within("get_acl", zk.get_acl(znode)).await.expect("get acl");
        let mut entries: Vec<(String, String, bool)> = acl
            .iter()
            .map(|a| {
                (
                    a.scheme().to_owned(),
                    a.id().split(':').next().unwrap_or_default().to_owned(),
                    a.permission() == zkc::Permission::ALL,
                )
            })
            .collect();
        entries.sort();
        assert_eq!(
            entries,
            [
                ("digest".to_owned(), "herd".to_owned(), true),
                ("world".to_owned(), "anyone".to_owned(), false)
            ],
            "{znode}: {acl:?}"
        );
        assert!(
            acl.iter().any(|a| a.scheme() == "world" && a.permission() == zkc::Permission::READ),
            "{acl:?}"
        );
    }

    // A scheduler without credentials still finds the leader …
    let anonymous = format!("zk://{}/secure/mesos", server.connect_string());
    assert_eq!(detect(&anonymous).await.expect("world-readable"), info);
    // … but cannot remove it, nor join the group.
    let denied = within("delete", zk.delete(registration.znode(), None)).await;
    assert!(matches!(denied, Err(zkc::Error::NoAuth)), "{denied:?}");
    let error = within("register", register(&anonymous, &info, TIMEOUT)).await.expect_err("no create right");
    assert!(matches!(error, ZkRegisterError::Join { source: zkc::Error::NoAuth, .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&server.connect_string()) && message.contains("zk://user:password@"),
        "{message}"
    );

    within("withdraw", registration.withdraw()).await.expect("withdraw");
    assert!(matches!(detect(&anonymous).await, Err(ZkError::NoLeader { .. })));
}

#[tokio::test]
async fn lost_reports_a_registration_deleted_by_someone_else() {
    let server = start_server().await;
    let zk = connect(&server).await;
    let url = format!("zk://{}/mesos", server.connect_string());
    let registration = register_ok(&url, &master("victim", 5050)).await;

    // Nothing is lost while the znode stays.
    assert!(tokio::time::timeout(Duration::from_millis(700), registration.lost()).await.is_err());

    let lost = registration.lost();
    let delete = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        zk.delete(registration.znode(), None).await
    };
    let (error, deleted) = within("lost", async { tokio::join!(lost, delete) }).await;
    deleted.expect("delete the znode");
    assert!(matches!(error, ZkRegisterError::Deleted { .. }), "{error:?}");
    assert!(error.to_string().contains(registration.znode()), "{error}");
    // Withdrawing a registration whose znode is gone is fine.
    within("withdraw", registration.withdraw()).await.expect("withdraw");
}

#[tokio::test]
async fn unreachable_servers_and_bad_urls_are_reported_clearly() {
    let port = free_port();
    let url = format!("zk://127.0.0.1:{port}/mesos");
    let start = Instant::now();
    let error = within("register", register(&url, &master("nobody", 5050), Duration::from_secs(2)))
        .await
        .expect_err("nothing listens there");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(
        matches!(error, ZkRegisterError::ConnectTimeout { .. } | ZkRegisterError::Connect { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("is ZooKeeper running"),
        "{message}"
    );

    let error = register("zk://u:pw@127.0.0.1:2181", &master("x", 1), TIMEOUT).await.expect_err("no path");
    assert!(matches!(error, ZkRegisterError::InvalidUrl { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("zk://u:***@127.0.0.1:2181") && message.contains("no znode path"), "{message}");
}
