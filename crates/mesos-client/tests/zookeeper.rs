//! Leader detection against a real ZooKeeper 3.9 server, with masters registered the way
//! Mesos registers them (`EPHEMERAL_SEQUENTIAL` `json.info_` znodes holding `MasterInfo`
//! JSON), plus `ZkUrl` parsing.
//!
//! Needs the ZooKeeper jars: `bash scripts/fetch-zookeeper.sh` (tests fail, never skip,
//! without them).

#[path = "support/zookeeper.rs"]
mod zookeeper_server;

#[path = "support/fake_master.rs"]
mod fake_master;

use std::future::Future;
use std::time::{Duration, Instant};

use herd_mesos_api::MasterInfo;
use herd_mesos_client::zk::{UrlProblem, ZkError, ZkUrl, detect_leader};
use zookeeper_client::{Acls, Client, CreateMode};
use zookeeper_server::{ZkServer, free_port};

/// Bound on every single step of a test.
const STEP: Duration = Duration::from_secs(20);
/// The timeout handed to `detect_leader`.
const DETECT: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// The `MasterInfo` JSON a Mesos 1.12 master writes (the master_info of
/// testdata/mesos-samples/scenario-1/11-event-subscribed.json), on another port.
fn master_json(port: u16) -> String {
    format!(
        r#"{{"id":"a8242106-6859-4861-a38c-7ebfaca5998a","ip":16777343,"port":{port},"pid":"master@127.0.0.1:{port}","hostname":"127.0.0.1","version":"1.12.0","address":{{"hostname":"127.0.0.1","ip":"127.0.0.1","port":{port}}},"capabilities":[{{"type":"AGENT_UPDATE"}},{{"type":"AGENT_DRAINING"}},{{"type":"QUOTA_V2"}}]}}"#
    )
}

async fn connect(server: &ZkServer) -> Client {
    within("connect", Client::connect(&server.connect_string())).await.expect("connect to test ZooKeeper")
}

async fn create_persistent(client: &Client, path: &str, data: &[u8]) {
    within("create", client.create(path, data, &CreateMode::Persistent.with_acls(Acls::anyone_all())))
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Joins the group as Mesos' `GroupProcess::doJoin` does: an ephemeral sequential znode
/// `<path>/<label>_` holding `data`. Returns the created znode.
async fn join(client: &Client, path: &str, label: &str, data: &[u8]) -> String {
    let prefix = format!("{path}/{label}_");
    let options = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (_stat, sequence) = within("join", client.create(&prefix, data, &options))
        .await
        .unwrap_or_else(|e| panic!("create {prefix}: {e}"));
    format!("{prefix}{sequence}")
}

/// The sequence number of a member znode.
fn seq(znode: &str) -> u64 {
    znode.rsplit('_').next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no sequence in {znode}"))
}

fn zk_url(server: &ZkServer, path: &str) -> ZkUrl {
    ZkUrl::parse(&format!("zk://{}{path}", server.connect_string())).expect("parse test URL")
}

async fn detect(url: &ZkUrl) -> Result<MasterInfo, ZkError> {
    within("detect_leader", detect_leader(url, DETECT)).await
}

/// The whole path a scheduler takes with `--master zk://…/mesos`: the client reads the
/// leader from ZooKeeper, subscribes there, and after the leader dies and another master
/// registers, finds and subscribes to the new one.
#[tokio::test]
async fn the_client_subscribes_to_the_leader_registered_in_zookeeper() {
    use fake_master::{FakeMaster, Reply};
    use herd_mesos_api::scheduler::{Event, Subscribe, Subscribed};
    use herd_mesos_client::{Backoff, ClientConfig, Incoming, MasterUrl};

    let server = ZkServer::start();
    let admin = connect(&server).await;
    create_persistent(&admin, "/mesos", b"").await;
    let mut first = FakeMaster::start().await;
    let mut second = FakeMaster::start().await;
    let first_session = connect(&server).await;
    join(&first_session, "/mesos", "json.info", master_json(first.addr.port()).as_bytes()).await;

    let (reply, feed) = Reply::stream("s1");
    first.on_subscribe(reply);
    let master = MasterUrl::parse(&format!("zk://{}/mesos", server.connect_string())).unwrap();
    let mut config = ClientConfig::new(master);
    config.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(200) };
    let info =
        herd_mesos_api::FrameworkInfo { user: "nobody".into(), name: "zk-test".into(), ..Default::default() };
    let subscribe = Subscribe { framework_info: info, ..Subscribe::default() };
    let (client, mut events) = herd_mesos_client::Client::subscribe(config, subscribe).unwrap();
    first.next_request().await;
    feed.event(&Event::Subscribed(Subscribed {
        framework_id: "fw-zk".into(),
        heartbeat_interval_seconds: Some(15.0),
        master_info: None,
    }));
    assert!(matches!(next_report(&mut events).await, Incoming::Event(Event::Subscribed(_))));
    assert_eq!(client.session().unwrap().master.port(), Some(first.addr.port()));

    // The leader dies: its session (and ephemeral znode) go, its stream closes, and a new
    // master registers.
    drop(first_session);
    drop(feed);
    let second_session = connect(&server).await;
    join(&second_session, "/mesos", "json.info", master_json(second.addr.port()).as_bytes()).await;
    let (reply, feed) = Reply::stream("s2");
    second.on_subscribe(reply);
    let port = second.addr.port();
    let responder = tokio::spawn(async move {
        let request = second.next_request().await;
        feed.event(&Event::Subscribed(Subscribed {
            framework_id: "fw-zk".into(),
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }));
        (request, feed)
    });
    loop {
        match next_report(&mut events).await {
            Incoming::Disconnected { .. } => {}
            Incoming::Event(Event::Subscribed(s)) => break assert_eq!(s.framework_id.as_str(), "fw-zk"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (request, _feed) = responder.await.unwrap();
    let sub = request.call.subscribe.expect("a SUBSCRIBE");
    assert_eq!(sub.framework_info.id.unwrap().as_str(), "fw-zk", "re-subscribed with the framework id");
    assert_eq!(client.session().unwrap().master.port(), Some(port));
    client.close();
}

async fn next_report(events: &mut herd_mesos_client::Events) -> herd_mesos_client::Incoming {
    within("report", events.next()).await.expect("subscription ended")
}

#[tokio::test]
async fn leader_is_lowest_json_info_and_the_next_one_takes_over() {
    let server = ZkServer::start();
    let admin = connect(&server).await;
    create_persistent(&admin, "/mesos", b"").await;
    // The replicated log registers beside the masters; not a member.
    create_persistent(&admin, "/mesos/log_replicas", b"").await;

    // A pre-0.23 master (binary protobuf, label "info"), oldest of all: ignored.
    let legacy = connect(&server).await;
    let legacy_node = join(&legacy, "/mesos", "info", b"\x0a\x24binary-protobuf\x10\x7f\x00").await;
    let master_a = connect(&server).await;
    let node_a = join(&master_a, "/mesos", "json.info", master_json(5050).as_bytes()).await;
    let master_b = connect(&server).await;
    let node_b = join(&master_b, "/mesos", "json.info", master_json(5051).as_bytes()).await;
    assert!(
        seq(&legacy_node) < seq(&node_a) && seq(&node_a) < seq(&node_b),
        "{legacy_node} {node_a} {node_b}"
    );
    assert_eq!(node_a.len(), "/mesos/json.info_".len() + 10, "10-digit sequence: {node_a}");

    let url = zk_url(&server, "/mesos");
    let leader = detect(&url).await.expect("leader A");
    let expected: MasterInfo = serde_json::from_str(&master_json(5050)).unwrap();
    assert_eq!(leader, expected);
    assert_eq!(leader.host_port(), ("127.0.0.1".to_owned(), 5050));

    // A's znode goes away (as when an operator or a withdrawn candidacy deletes it): B leads.
    within("delete", admin.delete(&node_a, None)).await.unwrap();
    let leader = detect(&url).await.expect("leader B");
    assert_eq!(leader.host_port(), ("127.0.0.1".to_owned(), 5051));

    // A re-registers: it queues behind B (higher sequence).
    let node_a2 = join(&master_a, "/mesos", "json.info", master_json(5050).as_bytes()).await;
    assert!(seq(&node_a2) > seq(&node_b));
    assert_eq!(detect(&url).await.expect("still B").host_port().1, 5051);

    // B's session ends (the master process died): its ephemeral znode vanishes, A leads.
    drop(master_b);
    let deadline = Instant::now() + STEP;
    loop {
        let port = detect(&url).await.expect("a leader").host_port().1;
        if port == 5050 {
            break;
        }
        assert!(Instant::now() < deadline, "B's znode still there {STEP:?} after its session closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Last master gone: only the legacy member and log_replicas remain.
    drop(master_a);
    let deadline = Instant::now() + STEP;
    let err = loop {
        match detect(&url).await {
            Err(err) => break err,
            Ok(_) => assert!(Instant::now() < deadline, "A's znode outlived its session"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match &err {
        ZkError::NoLeader { path, children, .. } => {
            assert_eq!(path, "/mesos");
            let legacy_name = legacy_node.trim_start_matches("/mesos/").to_owned();
            assert_eq!(children, &vec![legacy_name, "log_replicas".to_owned()]);
        }
        other => panic!("expected NoLeader, got {other:?}"),
    }
    drop(legacy);
}

#[tokio::test]
async fn no_registered_master_is_a_clear_error() {
    let server = ZkServer::start();
    let admin = connect(&server).await;
    create_persistent(&admin, "/mesos", b"").await;

    let err = detect(&zk_url(&server, "/mesos")).await.expect_err("no master");
    assert!(matches!(err, ZkError::NoLeader { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "no leading master: no json.info_ znode under /mesos on {} (the path has no children) \
             — is a Mesos master running and registered at this path?",
            server.connect_string()
        )
    );

    let err = detect(&zk_url(&server, "/nowhere/mesos")).await.expect_err("no path");
    assert!(matches!(&err, ZkError::PathMissing { path, .. } if path == "/nowhere/mesos"), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("no leading master: /nowhere/mesos does not exist on 127.0.0.1:"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_master_info_names_the_znode() {
    let server = ZkServer::start();
    let admin = connect(&server).await;
    create_persistent(&admin, "/broken", b"").await;
    let master = connect(&server).await;
    let bad = join(&master, "/broken", "json.info", b"{\"id\": \"x\", \"ip\": ").await;
    // A well-formed later member does not hide the leader's bad data.
    let _good = join(&master, "/broken", "json.info", master_json(5050).as_bytes()).await;

    let err = detect(&zk_url(&server, "/broken")).await.expect_err("bad JSON");
    match &err {
        ZkError::BadMasterInfo { znode, .. } => assert_eq!(znode, &bad),
        other => panic!("expected BadMasterInfo, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!("leading master znode {bad} on ")), "{err}");

    // JSON, but not a MasterInfo (no id/ip).
    create_persistent(&admin, "/notinfo", b"").await;
    let wrong = join(&master, "/notinfo", "json.info", br#"{"hello":"world"}"#).await;
    match detect(&zk_url(&server, "/notinfo")).await {
        Err(ZkError::BadMasterInfo { znode, .. }) => assert_eq!(znode, wrong),
        other => panic!("expected BadMasterInfo, got {other:?}"),
    }
}

#[tokio::test]
async fn digest_credentials_in_the_url_are_used() {
    let server = ZkServer::start();
    // The group is readable only by the digest identity herd:s3cret (creator_all ACL after
    // `addauth digest herd:s3cret`).
    let owner = within(
        "connect with auth",
        Client::connector().with_auth("digest", b"herd:s3cret").connect(&server.connect_string()),
    )
    .await
    .expect("connect");
    let private = CreateMode::Persistent.with_acls(Acls::creator_all());
    within("create", owner.create("/secure", b"", &private)).await.expect("create /secure");
    let member = CreateMode::EphemeralSequential.with_acls(Acls::creator_all());
    within("join", owner.create("/secure/json.info_", master_json(5052).as_bytes(), &member))
        .await
        .expect("join");

    let with_auth = ZkUrl::parse(&format!("zk://herd:s3cret@{}/secure", server.connect_string())).unwrap();
    assert_eq!(detect(&with_auth).await.expect("leader").host_port().1, 5052);

    let without = zk_url(&server, "/secure");
    match detect(&without).await {
        Err(ZkError::Request { source: zookeeper_client::Error::NoAuth, path, .. }) => {
            assert_eq!(path, "/secure");
        }
        other => panic!("expected NoAuth, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_zookeeper_fails_within_the_timeout() {
    let port = free_port(); // nothing listens there any more
    let url = ZkUrl::parse(&format!("zk://127.0.0.1:{port}/mesos")).unwrap();
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    let err = within("detect_leader", detect_leader(&url, timeout)).await.expect_err("unreachable");
    let elapsed = start.elapsed();
    assert!(elapsed < timeout + Duration::from_secs(1), "took {elapsed:?}");
    assert!(matches!(err, ZkError::ConnectTimeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("could not connect to ZooKeeper at 127.0.0.1:{port} within ")),
        "{message}"
    );
}

mod url_parsing {
    use super::*;

    fn problem(url: &str) -> UrlProblem {
        match ZkUrl::parse(url) {
            Err(ZkError::InvalidUrl { reason, .. }) => reason,
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }

    fn servers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn servers_and_path() {
        let url = ZkUrl::parse("zk://host1:2181,host2:2182,10.0.0.3:2183/mesos").unwrap();
        assert_eq!(url.servers, servers(&["host1:2181", "host2:2182", "10.0.0.3:2183"]));
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.auth, None);
        assert_eq!(url.connect_string(), "host1:2181,host2:2182,10.0.0.3:2183");
        assert_eq!(url.to_string(), "zk://host1:2181,host2:2182,10.0.0.3:2183/mesos");
    }

    #[test]
    fn defaults_trims_and_nested_paths() {
        let url = ZkUrl::parse("  zk://zk1,[::1]:2190,[fe80::1]/a/b/mesos/ \n").unwrap();
        assert_eq!(url.servers, servers(&["zk1:2181", "[::1]:2190", "[fe80::1]:2181"]));
        assert_eq!(url.path, "/a/b/mesos");
    }

    #[test]
    fn digest_auth() {
        let url = ZkUrl::parse("zk://alice:pa:ss@zk1:2181,zk2:2181/mesos").unwrap();
        assert_eq!(url.auth, Some(("alice".to_owned(), "pa:ss".to_owned())));
        assert_eq!(url.servers, servers(&["zk1:2181", "zk2:2181"]));
        // Display and Debug hide the password.
        assert_eq!(url.to_string(), "zk://alice:***@zk1:2181,zk2:2181/mesos");
        assert!(!format!("{url:?}").contains("pa:ss"));

        // Credentials end at the last '@'; newer Mesos also writes `digest!user:password`.
        let url = ZkUrl::parse("zk://digest!bob:p@ss@zk1:2181/mesos").unwrap();
        assert_eq!(url.auth, Some(("bob".to_owned(), "p@ss".to_owned())));
    }

    #[test]
    fn auth_problems() {
        assert_eq!(problem("zk://alice@zk1:2181/mesos"), UrlProblem::BadCredentials);
        assert_eq!(problem("zk://:pw@zk1:2181/mesos"), UrlProblem::BadCredentials);
        assert_eq!(
            problem("zk://sasl!alice:pw@zk1:2181/mesos"),
            UrlProblem::UnsupportedAuthScheme { scheme: "sasl".to_owned() }
        );
    }

    #[test]
    fn wrong_scheme() {
        assert_eq!(problem("http://zk1:2181/mesos"), UrlProblem::WrongScheme { found: "http".to_owned() });
        assert_eq!(problem("zk1:2181/mesos"), UrlProblem::WrongScheme { found: "zk1:2181/mesos".to_owned() });
        let err = ZkUrl::parse("http://zk1:2181/mesos").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ZooKeeper URL 'http://zk1:2181/mesos': expected a 'zk://' URL (or 'file://' \
             naming a file that holds one), found scheme 'http'"
        );
    }

    #[test]
    fn missing_hosts() {
        assert_eq!(problem("zk:///mesos"), UrlProblem::MissingHosts);
        assert_eq!(problem("zk://"), UrlProblem::MissingHosts);
        assert_eq!(problem("zk://user:pw@/mesos"), UrlProblem::MissingHosts);
        assert_eq!(problem("zk://zk1:2181,,zk2:2181/mesos"), UrlProblem::EmptyHost { server: String::new() });
        assert_eq!(problem("zk://:2181/mesos"), UrlProblem::EmptyHost { server: ":2181".to_owned() });
    }

    #[test]
    fn missing_or_root_path() {
        assert_eq!(problem("zk://zk1:2181"), UrlProblem::MissingPath);
        assert_eq!(problem("zk://zk1:2181/"), UrlProblem::RootPath);
        assert!(matches!(problem("zk://zk1:2181/a//b"), UrlProblem::BadPath { .. }));
        assert!(matches!(problem("zk://zk1:2181/a/../b"), UrlProblem::BadPath { .. }));
        let err = ZkUrl::parse("zk://zk1:2181").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ZooKeeper URL 'zk://zk1:2181': no znode path after the servers: expected e.g. \
             zk://host:2181/mesos"
        );
    }

    #[test]
    fn bad_ports() {
        for (url, server, port) in [
            ("zk://zk1:abc/mesos", "zk1:abc", "abc"),
            ("zk://zk1:0/mesos", "zk1:0", "0"),
            ("zk://zk1:65536/mesos", "zk1:65536", "65536"),
            ("zk://zk1:/mesos", "zk1:", ""),
            ("zk://zk1:+80/mesos", "zk1:+80", "+80"),
            ("zk://[::1]:x/mesos", "[::1]:x", "x"),
        ] {
            assert_eq!(
                problem(url),
                UrlProblem::BadPort { server: server.to_owned(), port: port.to_owned() },
                "{url}"
            );
        }
        assert_eq!(problem("zk://[::1/mesos"), UrlProblem::BadServer { server: "[::1".to_owned() });
        // The error names the server and hides the password.
        let message = ZkUrl::parse("zk://u:secret@zk1:21x1/mesos").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid ZooKeeper URL 'zk://u:***@zk1:21x1/mesos': server 'zk1:21x1' has a bad port \
             '21x1': expected a number in 1..=65535"
        );
    }

    #[test]
    fn file_url_reads_the_url_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zk");
        std::fs::write(&file, "zk://u:pw@zk1:2181,zk2:2181/mesos\n").unwrap();
        let url = ZkUrl::parse(&format!("file://{}", file.display())).unwrap();
        assert_eq!(url.servers, servers(&["zk1:2181", "zk2:2181"]));
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.auth, Some(("u".to_owned(), "pw".to_owned())));

        // A file may point at another file (Mesos recurses too).
        let outer = dir.path().join("outer");
        std::fs::write(&outer, format!("file://{}", file.display())).unwrap();
        assert_eq!(ZkUrl::parse(&format!("file://{}", outer.display())).unwrap(), url);
    }

    #[test]
    fn file_url_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        match ZkUrl::parse(&format!("file://{}", missing.display())) {
            Err(err @ ZkError::UrlFile { .. }) => {
                assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
            }
            other => panic!("expected UrlFile, got {other:?}"),
        }

        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        match ZkUrl::parse(&format!("file://{}", empty.display())) {
            Err(ZkError::InvalidUrl { reason: UrlProblem::EmptyFile, file: Some(f), .. }) => {
                assert_eq!(f, empty)
            }
            other => panic!("expected EmptyFile, got {other:?}"),
        }

        let standalone = dir.path().join("standalone");
        std::fs::write(&standalone, "master@10.0.0.1:5050\n").unwrap();
        let err = ZkUrl::parse(&format!("file://{}", standalone.display())).unwrap_err();
        assert!(
            matches!(&err, ZkError::InvalidUrl { reason: UrlProblem::WrongScheme { .. }, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("(read from file '{}')", standalone.display())), "{err}");

        let looping = dir.path().join("loop");
        std::fs::write(&looping, format!("file://{}", looping.display())).unwrap();
        assert!(matches!(
            ZkUrl::parse(&format!("file://{}", looping.display())),
            Err(ZkError::InvalidUrl { reason: UrlProblem::TooManyFileIndirections { .. }, .. })
        ));
    }

    #[test]
    fn from_str_matches_parse() {
        let url: ZkUrl = "zk://zk1:2181/mesos".parse().unwrap();
        assert_eq!(url, ZkUrl::parse("zk://zk1:2181/mesos").unwrap());
    }
}
