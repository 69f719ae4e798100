//! The scheduler client against a scripted fake master: subscribe, stream decoding across
//! arbitrary chunk boundaries, heartbeats, a dropped stream, a 307 to another master,
//! 503s, a stale stream id, HTML answers, broken frames, ERROR events and basic auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fake_master.rs"]
mod fake_master;

use fake_master::{FakeMaster, Reply, WAIT};
use herd_mesos_api::scheduler::{Call, Decline, Event, EventType, Subscribe, Subscribed};
use herd_mesos_api::{FrameworkId, FrameworkInfo, MasterInfo, OfferId};
use herd_mesos_client::{
    Backoff, CallError, Client, ClientConfig, Credentials, Events, Incoming, MasterUrl, SubscribeError,
};
use std::time::Duration;

fn config(master: &FakeMaster) -> ClientConfig {
    let mut c = ClientConfig::new(MasterUrl::parse(&master.url()).unwrap());
    c.backoff = Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(100) };
    c.subscribe_timeout = Duration::from_secs(5);
    c.call_timeout = Duration::from_secs(5);
    c
}

fn framework() -> Subscribe {
    Subscribe {
        framework_info: FrameworkInfo {
            user: "nobody".into(),
            name: "herd-test".into(),
            failover_timeout: Some(604800.0),
            roles: vec!["herd-role".into()],
            ..FrameworkInfo::default()
        },
        ..Subscribe::default()
    }
}

fn subscribed(id: &str, heartbeat: f64) -> Event {
    Event::Subscribed(Subscribed {
        framework_id: FrameworkId::new(id),
        heartbeat_interval_seconds: Some(heartbeat),
        master_info: Some(MasterInfo { id: "m".into(), ip: 16777343, ..MasterInfo::default() }),
    })
}

fn recorded_offers() -> Event {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mesos-samples/scenario-1/14-event-offers.json");
    Event::from_json(&std::fs::read(path).unwrap()).unwrap()
}

async fn next(events: &mut Events) -> Incoming {
    tokio::time::timeout(WAIT, events.next()).await.expect("no report in time").expect("subscription ended")
}

async fn next_event(events: &mut Events) -> Event {
    match next(events).await {
        Incoming::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn next_disconnect(events: &mut Events) -> SubscribeError {
    match next(events).await {
        Incoming::Disconnected { error, .. } => error,
        other => panic!("expected a disconnect, got {other:?}"),
    }
}

async fn terminated(events: &mut Events) -> SubscribeError {
    match next(events).await {
        Incoming::Terminated(error) => error,
        other => panic!("expected termination, got {other:?}"),
    }
}

fn decline(offer: &str) -> Call {
    Call::Decline(Decline { offer_ids: vec![OfferId::new(offer)], filters: None })
}

#[tokio::test]
async fn subscribes_streams_events_split_anywhere_and_calls_with_the_stream_id() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("stream-1");
    master.on_subscribe(reply);
    let (client, mut events) = Client::subscribe(config(&master), framework()).unwrap();

    let sub = master.next_request().await;
    assert_eq!(sub.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(sub.header("mesos-stream-id"), None, "SUBSCRIBE must not carry a stream id");
    assert_eq!(sub.call.framework_id, None);
    assert_eq!(sub.call.subscribe.unwrap().framework_info.name, "herd-test");

    // Frames split into 3-byte chunks, and several in one chunk.
    feed.event_in_chunks(&subscribed("fw-1", 15.0), 3);
    feed.event_in_chunks(&Event::Heartbeat, 1);
    feed.event_in_chunks(&recorded_offers(), 7);
    assert_eq!(next_event(&mut events).await.kind(), EventType::Subscribed);
    assert_eq!(next_event(&mut events).await, Event::Heartbeat);
    assert_eq!(next_event(&mut events).await, recorded_offers());

    let session = client.session().unwrap();
    assert_eq!(session.stream_id, "stream-1");
    assert_eq!(session.framework_id.as_str(), "fw-1");

    client.call(decline("o-1")).await.unwrap();
    let call = master.next_request().await;
    assert_eq!(call.header("mesos-stream-id").as_deref(), Some("stream-1"));
    assert_eq!(call.call.framework_id.unwrap().as_str(), "fw-1");
    assert_eq!(call.call.decline.unwrap().offer_ids[0].as_str(), "o-1");
    client.close();
}

#[tokio::test]
async fn a_dropped_stream_resubscribes_with_the_framework_id_and_failover_timeout() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("stream-1");
    master.on_subscribe(reply);
    let (reply2, feed2) = Reply::stream("stream-2");
    master.on_subscribe(reply2);
    let (client, mut events) = Client::subscribe(config(&master), framework()).unwrap();
    master.next_request().await;
    feed.event(&subscribed("fw-7", 15.0));
    next_event(&mut events).await;

    drop(feed);
    assert!(matches!(next_disconnect(&mut events).await, SubscribeError::StreamClosed));
    assert!(client.call(decline("o")).await.is_err_and(|e| matches!(e, CallError::NotSubscribed)));

    let resub = master.next_request().await;
    assert_eq!(resub.call.framework_id.as_ref().unwrap().as_str(), "fw-7");
    let info = resub.call.subscribe.unwrap().framework_info;
    assert_eq!(info.id.unwrap().as_str(), "fw-7");
    assert_eq!(info.failover_timeout, Some(604800.0));

    feed2.event(&subscribed("fw-7", 15.0));
    next_event(&mut events).await;
    client.call(decline("o-2")).await.unwrap();
    assert_eq!(master.next_request().await.header("mesos-stream-id").as_deref(), Some("stream-2"));
}

#[tokio::test]
async fn missed_heartbeats_reconnect() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("s1");
    master.on_subscribe(reply);
    let mut cfg = config(&master);
    cfg.heartbeat_misses = 2;
    let (_client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    master.next_request().await;
    // 0.1 s heartbeats, two misses allowed: silence for 0.2 s ends the stream.
    feed.event(&subscribed("fw", 0.1));
    next_event(&mut events).await;
    let started = std::time::Instant::now();
    match next_disconnect(&mut events).await {
        SubscribeError::HeartbeatTimeout(after) => assert_eq!(after, Duration::from_millis(200)),
        other => panic!("expected a heartbeat timeout, got {other}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(150), "gave up too early: {:?}", started.elapsed());
    // The stream is still open on the master's side; the client re-subscribes anyway.
    assert!(master.next_request().await.call.subscribe.is_some());
    drop(feed);
}

#[tokio::test]
async fn heartbeats_keep_a_quiet_stream_alive() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("s1");
    master.on_subscribe(reply);
    let mut cfg = config(&master);
    cfg.heartbeat_misses = 3;
    let (client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    master.next_request().await;
    feed.event(&subscribed("fw", 0.1));
    next_event(&mut events).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        feed.event(&Event::Heartbeat);
        assert_eq!(next_event(&mut events).await, Event::Heartbeat);
    }
    assert!(client.session().is_some());
}

#[tokio::test]
async fn follows_a_307_to_the_leader_and_calls_go_there() {
    let mut follower = FakeMaster::start().await;
    let mut leader = FakeMaster::start().await;
    // Mesos writes a protocol-relative Location.
    follower.on_subscribe(Reply::redirect(format!("//{}/api/v1/scheduler", leader.addr)));
    let (reply, feed) = Reply::stream("leader-stream");
    leader.on_subscribe(reply);
    let (client, mut events) = Client::subscribe(config(&follower), framework()).unwrap();
    follower.next_request().await;
    leader.next_request().await;
    feed.event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    assert_eq!(client.session().unwrap().master.as_str(), format!("http://{}/", leader.addr));
    client.call(decline("o")).await.unwrap();
    assert_eq!(leader.next_request().await.header("mesos-stream-id").as_deref(), Some("leader-stream"));
}

#[tokio::test]
async fn retries_503_with_backoff_then_subscribes() {
    let mut master = FakeMaster::start().await;
    master.on_subscribe(Reply::status(503, "No leader elected"));
    master.on_subscribe(Reply::status(503, "Master has not finished recovery"));
    let (reply, feed) = Reply::stream("s");
    master.on_subscribe(reply);
    let (client, mut events) = Client::subscribe(config(&master), framework()).unwrap();
    for expected in ["No leader elected", "Master has not finished recovery"] {
        match next(&mut events).await {
            Incoming::Disconnected { error: SubscribeError::Unavailable { body, .. }, reconnect_in } => {
                assert_eq!(body, expected);
                assert!(
                    reconnect_in <= Duration::from_millis(100),
                    "backoff above its cap: {reconnect_in:?}"
                );
            }
            other => panic!("expected a 503 report, got {other:?}"),
        }
    }
    for _ in 0..3 {
        master.next_request().await;
    }
    feed.event(&subscribed("fw", 15.0));
    next_event(&mut events).await;

    // A call answered 503 once is retried and succeeds.
    master.on_call(Reply::status(503, "busy"));
    client.call(decline("o")).await.unwrap();
    master.next_request().await;
    master.next_request().await;
}

#[tokio::test]
async fn a_stale_stream_id_is_a_typed_400() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("s");
    master.on_subscribe(reply);
    let (client, mut events) = Client::subscribe(config(&master), framework()).unwrap();
    master.next_request().await;
    feed.event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    let message = "The stream ID 's' included in this request didn't match the stream ID currently associated with framework ID fw";
    master.on_call(Reply::status(400, message));
    let err = client.call(decline("o")).await.unwrap_err();
    assert!(err.is_stale_stream(), "{err}");
    assert_eq!(err.to_string(), format!("master refused DECLINE with 400: {message}"));
}

#[tokio::test]
async fn an_html_answer_is_reported_and_the_client_gives_up_as_configured() {
    let mut master = FakeMaster::start().await;
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    for _ in 0..2 {
        master.on_subscribe(Reply::Status {
            status: 200,
            content_type: "text/html",
            headers: vec![],
            body: html.into(),
        });
    }
    let mut cfg = config(&master);
    cfg.max_reconnect_attempts = Some(1);
    let (client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    let first = next_disconnect(&mut events).await;
    assert!(matches!(first, SubscribeError::NotAnEventStream { .. }), "{first}");
    assert!(
        first.to_string().contains("text/html") && first.to_string().contains("502 Bad Gateway"),
        "{first}"
    );
    let last = terminated(&mut events).await;
    assert!(matches!(last, SubscribeError::NotAnEventStream { .. }), "{last}");
    assert!(tokio::time::timeout(WAIT, events.next()).await.unwrap().is_none(), "nothing after termination");
    assert!(matches!(client.call(decline("o")).await, Err(CallError::Closed)));
    master.next_request().await;
}

#[tokio::test]
async fn broken_frames_and_bad_events_reconnect() {
    let mut master = FakeMaster::start().await;
    let feeds: Vec<_> = (0..4)
        .map(|i| {
            let (reply, feed) = Reply::stream(&format!("s{i}"));
            master.on_subscribe(reply);
            feed
        })
        .collect();
    let (_client, mut events) = Client::subscribe(config(&master), framework()).unwrap();

    // A proxy's HTML page inside a 200 JSON stream: not a length prefix.
    feeds[0].raw("<html>oops</html>");
    let e = next_disconnect(&mut events).await;
    assert!(matches!(e, SubscribeError::Framing(_)) && e.to_string().contains("<html>"), "{e}");

    // EOF inside a frame.
    feeds[1].event(&subscribed("fw", 15.0));
    assert_eq!(next_event(&mut events).await.kind(), EventType::Subscribed);
    feeds[1].raw("100\n{\"type\":");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut feeds, closing) = (feeds, 1);
    drop(feeds.remove(closing));
    let e = next_disconnect(&mut events).await;
    assert!(matches!(e, SubscribeError::Framing(_)) && e.to_string().contains("100"), "{e}");

    // Malformed JSON in an event.
    feeds[1].event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    feeds[1].json("{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":42}]}}");
    let e = next_disconnect(&mut events).await;
    assert!(e.to_string().starts_with("bad event on the stream: malformed event JSON"), "{e}");

    // An unknown event type after SUBSCRIBED is skipped; the stream goes on.
    feeds[2].event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    feeds[2].json("{\"type\":\"SOMETHING_NEW\",\"something_new\":{}}");
    feeds[2].event(&Event::Heartbeat);
    assert_eq!(next_event(&mut events).await, Event::Heartbeat);
    for _ in 0..4 {
        master.next_request().await;
    }
}

#[tokio::test]
async fn an_error_event_ends_the_subscription() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("s");
    master.on_subscribe(reply);
    let (_client, mut events) = Client::subscribe(config(&master), framework()).unwrap();
    master.next_request().await;
    feed.event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    feed.json(r#"{"type":"ERROR","error":{"message":"Framework failed over"}}"#);
    assert_eq!(next_event(&mut events).await.kind(), EventType::Error);
    let e = terminated(&mut events).await;
    assert_eq!(e.to_string(), "the master ended the subscription: Framework failed over");
}

#[tokio::test]
async fn sends_basic_auth_on_every_request_and_stops_on_401() {
    let mut master = FakeMaster::start().await;
    let (reply, feed) = Reply::stream("s");
    master.on_subscribe(reply);
    let mut cfg = config(&master);
    cfg.credentials = Some(Credentials { principal: "herd".into(), secret: "s3cret".into() });
    let (client, mut events) = Client::subscribe(cfg.clone(), framework()).unwrap();
    let expected = "Basic aGVyZDpzM2NyZXQ="; // base64("herd:s3cret")
    assert_eq!(master.next_request().await.header("authorization").as_deref(), Some(expected));
    feed.event(&subscribed("fw", 15.0));
    next_event(&mut events).await;
    client.call(decline("o")).await.unwrap();
    assert_eq!(master.next_request().await.header("authorization").as_deref(), Some(expected));
    assert!(!format!("{cfg:?}").contains("s3cret"), "the secret must not appear in Debug output");
    client.close();

    master.on_subscribe(Reply::status(401, ""));
    let (_client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    let e = terminated(&mut events).await;
    assert!(matches!(e, SubscribeError::Unauthorized { .. }), "{e}");
}

#[tokio::test]
async fn a_refused_subscribe_is_fatal_and_a_dead_master_is_retried() {
    let mut master = FakeMaster::start().await;
    master.on_subscribe(Reply::status(
        400,
        "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
    ));
    let (_client, mut events) = Client::subscribe(config(&master), framework()).unwrap();
    let e = terminated(&mut events).await;
    assert!(e.to_string().contains("Expecting 'subscribe' to be present"), "{e}");
    master.next_request().await;

    // Nothing listens on this port: connection errors are retried until the limit.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut cfg = ClientConfig::new(MasterUrl::parse(&closed.to_string()).unwrap());
    cfg.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(20) };
    cfg.max_reconnect_attempts = Some(2);
    let (_client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    for _ in 0..2 {
        assert!(matches!(next_disconnect(&mut events).await, SubscribeError::Connect { .. }));
    }
    let e = terminated(&mut events).await;
    assert!(e.to_string().contains(&closed.to_string()), "{e}");
}

/// A private CA and a certificate for 127.0.0.1 signed by it: (CA PEM, cert PEM, key PEM).
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[tokio::test]
async fn speaks_tls_to_an_https_master_trusting_the_configured_ca() {
    let (ca_pem, cert_pem, key_pem) = private_ca();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    let mut master = FakeMaster::start_tls(cert_pem, key_pem).await;
    let (reply, feed) = Reply::stream("tls-stream");
    master.on_subscribe(reply);
    let https = MasterUrl::parse(&format!("https://{}", master.addr)).unwrap();
    let mut cfg = ClientConfig::new(https.clone());
    cfg.ca_certificates = Some(ca_file.clone());
    let (client, mut events) = Client::subscribe(cfg, framework()).unwrap();
    master.next_request().await;
    feed.event(&subscribed("fw-tls", 15.0));
    assert_eq!(next_event(&mut events).await.kind(), EventType::Subscribed);
    client.call(decline("o")).await.unwrap();
    assert_eq!(master.next_request().await.header("mesos-stream-id").as_deref(), Some("tls-stream"));
    client.close();

    // Without the CA the certificate is not trusted: the handshake fails, nothing is sent.
    let mut untrusting = ClientConfig::new(https);
    untrusting.max_reconnect_attempts = Some(0);
    let (_client, mut events) = Client::subscribe(untrusting, framework()).unwrap();
    let e = terminated(&mut events).await;
    assert!(matches!(e, SubscribeError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("UnknownIssuer"), "the cause is named: {e}");

    // A CA file that holds no certificate is refused up front, naming the file.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let mut bad = config(&master);
    bad.ca_certificates = Some(empty.clone());
    let err = Client::subscribe(bad, framework()).unwrap_err().to_string();
    assert!(err.contains(&empty.display().to_string()), "{err}");
}
