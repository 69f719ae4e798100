//! The replay's tools: the recorded samples, a raw HTTP client (reqwest, no herd client),
//! a scheduler subscription read as chunked RecordIO, and the shape comparison.
#![allow(dead_code)]

use herd_localmesos::{ClusterConfig, LocalCluster};
use herd_mesos_api::recordio::Decoder;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Bound on every single wait (an event, an HTTP answer).
pub const WAIT: Duration = Duration::from_secs(30);

/// The recorded master's id: every recorded id starts with it.
pub const REC_MASTER: &str = "a8242106-6859-4861-a38c-7ebfaca5998a";

/// A recorded id (`-0000`, `-O2`, `-S0`, …).
pub fn rec_id(suffix: &str) -> String {
    format!("{REC_MASTER}-{suffix}")
}

// ---------------------------------------------------------------------------------------
// Samples

/// `testdata/mesos-samples`.
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mesos-samples")
}

/// A recorded file, parsed.
pub fn sample(path: &str) -> Value {
    let file = samples_dir().join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()))
}

/// Replaces every string leaf equal to a key of `ids` by its value (recorded ids → live ids).
pub fn subst(v: &Value, ids: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(ids.get(s).cloned().unwrap_or_else(|| s.clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, ids)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), subst(x, ids))).collect()),
        other => other.clone(),
    }
}

/// A recorded call's request, ids substituted; checks the recording's status first.
pub fn recorded_request(path: &str, ids: &BTreeMap<String, String>) -> (Value, u16, String) {
    let rec = sample(path);
    let status = u16::try_from(rec["status"].as_u64().expect("recorded status")).expect("status fits");
    let body = rec["body"].as_str().unwrap_or_default().to_owned();
    (subst(&rec["request"], ids), status, body)
}

// ---------------------------------------------------------------------------------------
// Cluster

static NEXT_BLOCK: AtomicU8 = AtomicU8::new(0);

/// A cluster of `agents` default agents (the recording's: cpus 2, mem 2048, disk 2048,
/// ports 31000-32000) with the test timings; its own `127.0.x.*` block per test.
pub async fn start_cluster(agents: usize) -> (LocalCluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ClusterConfig::for_tests(dir.path(), agents);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = (std::process::id() % 97) as u8
        + (nanos % 97) as u8
        + NEXT_BLOCK.fetch_add(17, Ordering::Relaxed) % 50;
    config.agent_ip_block = 1 + seed % 250;
    let cluster = LocalCluster::start(config).await.expect("cluster starts");
    (cluster, dir)
}

// ---------------------------------------------------------------------------------------
// HTTP

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A plain reqwest client: HTTP/1.1, no redirects, no proxy, rustls/ring for completeness.
pub fn http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .tls_backend_preconfigured(tls)
        .build()
        .expect("http client")
}

async fn finish(what: &str, response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(WAIT, response.text())
        .await
        .unwrap_or_else(|_| panic!("{what}: no body within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("{what}: body: {e}"));
    Reply { status, headers, body }
}

/// `GET url`.
pub async fn get(client: &reqwest::Client, url: &str) -> Reply {
    let response = tokio::time::timeout(WAIT, client.get(url).send())
        .await
        .unwrap_or_else(|_| panic!("GET {url}: no answer within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    finish(&format!("GET {url}"), response).await
}

/// `POST url` with a raw body and headers.
pub async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Reply {
    let mut request = client.post(url).body(body.into());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(WAIT, request.send())
        .await
        .unwrap_or_else(|_| panic!("POST {url}: no answer within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    finish(&format!("POST {url}"), response).await
}

// ---------------------------------------------------------------------------------------
// Scheduler subscription

/// The recorded frameworks' FrameworkInfo.
pub fn framework_info(name: &str, failover_timeout: f64, id: Option<&str>) -> Value {
    let mut info = json!({
        "user": whoami(),
        "name": name,
        "failover_timeout": failover_timeout,
        "checkpoint": true,
        "roles": ["herd-role"],
        "principal": "herd",
        "capabilities": [
            {"type": "MULTI_ROLE"}, {"type": "RESERVATION_REFINEMENT"},
            {"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}
        ]
    });
    if let Some(id) = id {
        info["id"] = json!({ "value": id });
    }
    info
}

pub fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into())
}

/// An event's signature for order comparisons: its type, plus task and state for UPDATEs,
/// what failed for FAILUREs and the message for ERRORs.
pub fn signature(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("?");
    match kind {
        "UPDATE" => {
            let s = &event["update"]["status"];
            format!(
                "UPDATE {} {}",
                s["task_id"]["value"].as_str().unwrap_or("?"),
                s["state"].as_str().unwrap_or("?")
            )
        }
        "FAILURE" => {
            let f = &event["failure"];
            if f.get("executor_id").is_some() {
                "FAILURE executor".to_owned()
            } else {
                "FAILURE agent".to_owned()
            }
        }
        "ERROR" => format!("ERROR {}", event["error"]["message"].as_str().unwrap_or("?")),
        other => other.to_owned(),
    }
}

/// A scheduler: one SUBSCRIBE stream, read by hand (chunks → RecordIO → JSON), and calls
/// on a separate connection pool. Every UPDATE with a uuid is acknowledged as it is read.
pub struct Sched {
    pub client: reqwest::Client,
    pub master: String,
    pub framework_id: String,
    pub stream_id: String,
    /// The SUBSCRIBE answer's status and headers.
    pub head: (u16, reqwest::Version, HeaderMap),
    response: Option<reqwest::Response>,
    decoder: Decoder,
    /// Every event received, in order.
    pub log: Vec<Value>,
    /// Events read but not yet taken by `wait_for`.
    backlog: VecDeque<Value>,
    /// Acknowledge updates automatically.
    pub auto_ack: bool,
    /// The stream ended.
    pub ended: bool,
}

impl Sched {
    /// SUBSCRIBEs (`id` to re-subscribe); returns once SUBSCRIBED is read.
    pub async fn subscribe(master: &str, framework_info: Value) -> Sched {
        let mut s = Self::open(master, framework_info).await;
        let first = s.next_raw().await.expect("the stream ended before SUBSCRIBED");
        assert_eq!(first["type"], "SUBSCRIBED", "first event: {first}");
        s.framework_id =
            first["subscribed"]["framework_id"]["value"].as_str().expect("framework id").to_owned();
        s.backlog.push_back(first);
        s
    }

    /// Sends SUBSCRIBE and keeps the open stream (nothing read yet).
    pub async fn open(master: &str, framework_info: Value) -> Sched {
        let client = http_client();
        let mut call = json!({ "type": "SUBSCRIBE", "subscribe": { "framework_info": framework_info } });
        if let Some(id) = framework_info.get("id") {
            call["framework_id"] = id.clone();
        }
        let url = format!("{master}/api/v1/scheduler");
        let request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(call.to_string());
        let response = tokio::time::timeout(WAIT, request.send())
            .await
            .expect("SUBSCRIBE: no answer in time")
            .expect("SUBSCRIBE sent");
        let head = (response.status().as_u16(), response.version(), response.headers().clone());
        assert_eq!(head.0, 200, "SUBSCRIBE status");
        let stream_id =
            head.2.get("Mesos-Stream-Id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Sched {
            client,
            master: master.to_owned(),
            framework_id: framework_info["id"]["value"].as_str().unwrap_or_default().to_owned(),
            stream_id,
            head,
            response: Some(response),
            decoder: Decoder::default(),
            log: Vec::new(),
            backlog: VecDeque::new(),
            auto_ack: true,
            ended: false,
        }
    }

    /// Closes the HTTP stream (as a scheduler process that dies).
    pub fn disconnect(&mut self) {
        self.response = None;
        self.ended = true;
    }

    /// The next event off the wire (logged, acknowledged if needed); `None` at the end of
    /// the stream. Panics if nothing comes within [`WAIT`].
    pub async fn next_raw(&mut self) -> Option<Value> {
        self.next_raw_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no event within {WAIT:?}; events so far: {:#?}", self.sigs()))
    }

    /// Like [`Self::next_raw`] with a bound; outer `None` when the bound passed.
    pub async fn next_raw_within(&mut self, bound: Duration) -> Option<Option<Value>> {
        let deadline = Instant::now() + bound;
        loop {
            match self.decoder.next_record() {
                Ok(Some(record)) => {
                    let event: Value = serde_json::from_slice(&record).unwrap_or_else(|e| {
                        panic!("event is not JSON ({e}): {}", String::from_utf8_lossy(&record))
                    });
                    self.log.push(event.clone());
                    if self.auto_ack {
                        self.ack_if_needed(&event).await;
                    }
                    return Some(Some(event));
                }
                Ok(None) => {}
                Err(e) => panic!("RecordIO error on the event stream: {e}"),
            }
            let Some(response) = self.response.as_mut() else { return Some(None) };
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => self.decoder.push(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    self.decoder.finish().expect("the stream ended cleanly between records");
                    self.response = None;
                    self.ended = true;
                    return Some(None);
                }
            }
        }
    }

    /// Waits for the first event (backlog first) matching `pred`, taking it out of the
    /// backlog; the others stay in the backlog. Panics after [`WAIT`].
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_wait_for(what, WAIT, pred)
            .await
            .unwrap_or_else(|| panic!("no {what} within {WAIT:?}; events so far: {:#?}", self.sigs()))
    }

    /// Like [`Self::wait_for`], `None` after `bound` or at the end of the stream.
    pub async fn try_wait_for(
        &mut self,
        _what: &str,
        bound: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_raw_within(left).await {
                None | Some(None) => return None,
                Some(Some(event)) if pred(&event) => return Some(event),
                Some(Some(event)) => self.backlog.push_back(event),
            }
        }
    }

    /// The next UPDATE of `task` in `state`.
    pub async fn update(&mut self, task: &str, state: &str) -> Value {
        let (task, state) = (task.to_owned(), state.to_owned());
        self.wait_for(&format!("UPDATE {task} {state}"), move |e| {
            e["type"] == "UPDATE"
                && e["update"]["status"]["task_id"]["value"] == task.as_str()
                && e["update"]["status"]["state"] == state.as_str()
        })
        .await
    }

    /// Forgets the OFFERS events read and not taken yet (they stay in the log), so the
    /// next [`Self::offers`] is an offer made after now.
    pub fn discard_offers(&mut self) {
        self.backlog.retain(|e| e["type"] != "OFFERS");
    }

    /// The next OFFERS event.
    pub async fn offers(&mut self) -> Value {
        self.wait_for("OFFERS", |e| e["type"] == "OFFERS").await
    }

    /// Signatures of every event received.
    pub fn sigs(&self) -> Vec<String> {
        self.log.iter().map(signature).collect()
    }

    async fn ack_if_needed(&mut self, event: &Value) {
        if event["type"] != "UPDATE" {
            return;
        }
        let status = &event["update"]["status"];
        let Some(uuid) = status.get("uuid") else { return };
        let call = json!({
            "type": "ACKNOWLEDGE",
            "framework_id": { "value": self.framework_id },
            "acknowledge": { "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid }
        });
        let reply = self.call(&call).await;
        assert_eq!(reply.status, 202, "ACKNOWLEDGE of {}: {}", signature(event), reply.body);
    }

    /// A call with this stream's id.
    pub async fn call(&self, body: &Value) -> Reply {
        self.call_with(body, Some(&self.stream_id)).await
    }

    /// A call with the given stream id (or none).
    pub async fn call_with(&self, body: &Value, stream_id: Option<&str>) -> Reply {
        let mut headers = vec![("Content-Type", "application/json"), ("Accept", "application/json")];
        if let Some(id) = stream_id {
            headers.push(("Mesos-Stream-Id", id));
        }
        post_raw(&self.client, &format!("{}/api/v1/scheduler", self.master), &headers, body.to_string()).await
    }

    /// TEARDOWN, then the stream must end.
    pub async fn teardown(&mut self) -> Reply {
        self.call(&json!({ "type": "TEARDOWN", "framework_id": { "value": self.framework_id } })).await
    }

    /// Reads until the stream ends (events are logged); panics after [`WAIT`].
    pub async fn expect_end(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !self.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_raw_within(left).await {
                None => panic!("the stream did not end within {WAIT:?}; events: {:#?}", self.sigs()),
                Some(None) => return,
                Some(Some(event)) => self.backlog.push_back(event),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shapes

/// The shape of a JSON value: objects map keys to shapes, arrays hold the merged shape of
/// their elements (all of them, not only the first: element order differs between Mesos and
/// us, e.g. a resource list starting with ports or with cpus), leaves become type names.
/// Integers and floats are told apart: a strictly typed client (Go, serde) decoding an
/// integer field fails on `5050.0`.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(n) if n.is_f64() => json!("float"),
        Value::Number(_) => json!("int"),
        Value::String(_) => json!("string"),
        Value::Array(a) => {
            let mut merged: Option<Value> = None;
            for x in a {
                let s = shape(x);
                merged = Some(match merged {
                    None => s,
                    Some(m) => merge(m, s),
                });
            }
            Value::Array(merged.into_iter().collect())
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), shape(x))).collect()),
    }
}

fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (Value::Array(a), Value::Array(b)) => match (a.into_iter().next(), b.into_iter().next()) {
            (Some(x), Some(y)) => Value::Array(vec![merge(x, y)]),
            (Some(x), None) | (None, Some(x)) => Value::Array(vec![x]),
            (None, None) => Value::Array(vec![]),
        },
        (Value::String(x), Value::String(y)) if x == y => Value::String(x),
        (Value::String(x), Value::String(y))
            if [x.as_str(), y.as_str()].iter().all(|t| *t == "int" || *t == "float") =>
        {
            json!("float")
        }
        (a, b) => json!(format!("mixed({a}|{b})")),
    }
}

/// A path (`a.b[].c`) of the recorded shape that ours may lack or type differently, and why.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    pub path: &'static str,
    pub reason: &'static str,
}

/// Whether `path` is covered: an exception names a path and everything under it;
/// `a.b.*` names everything under `a.b` but not `a.b` itself.
fn excepted(path: &str, exceptions: &[Exception]) -> bool {
    exceptions.iter().any(|e| match e.path.strip_suffix(".*") {
        Some(parent) => {
            path.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        }
        None => {
            path == e.path
                || path
                    .strip_prefix(e.path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        }
    })
}

fn type_name(shape: &Value) -> String {
    match shape {
        Value::Object(_) => "object".into(),
        Value::Array(_) => "array".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compatible(recorded: &str, ours: &str) -> bool {
    recorded == ours || (recorded == "float" && ours == "int")
}

/// Every key path of the recorded shape that ours lacks or types differently (recorded ⊆
/// ours), minus the exceptions.
pub fn shape_diffs(recorded: &Value, ours: &Value, exceptions: &[Exception]) -> Vec<String> {
    let mut out = Vec::new();
    diff(&shape(recorded), &shape(ours), "", exceptions, &mut out);
    out
}

fn diff(rec: &Value, ours: &Value, path: &str, exceptions: &[Exception], out: &mut Vec<String>) {
    if excepted(path, exceptions) {
        return;
    }
    let at = if path.is_empty() { "(top)" } else { path };
    match (rec, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match o.get(k) {
                    Some(ov) => diff(rv, ov, &p, exceptions, out),
                    None if excepted(&p, exceptions) => {}
                    None => out.push(format!("{p}: missing (recorded {})", type_name(rv))),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => match (r.first(), o.first()) {
            (Some(re), Some(oe)) => diff(re, oe, &format!("{path}[]"), exceptions, out),
            (Some(_), None) => out.push(format!("{at}: empty array (recorded has elements)")),
            _ => {}
        },
        (Value::String(r), Value::String(o)) => {
            if !compatible(r, o) {
                out.push(format!("{at}: {o} (recorded {r})"));
            }
        }
        (r, o) => out.push(format!("{at}: {} (recorded {})", type_name(o), type_name(r))),
    }
}

fn shape_text(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(1500) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// With `REPLAY_REPORT_ONLY=1` in the environment shape differences are printed instead of
/// failing (to see every difference of a run at once while fixing the cluster).
pub fn report_only() -> bool {
    std::env::var_os("REPLAY_REPORT_ONLY").is_some_and(|v| v == "1")
}

/// Asserts recorded shape ⊆ ours.
pub fn assert_shape(what: &str, recorded: &Value, ours: &Value, exceptions: &[Exception]) {
    let diffs = shape_diffs(recorded, ours, exceptions);
    if report_only() && !diffs.is_empty() {
        eprintln!("SHAPE {what}:\n  {}", diffs.join("\n  "));
        return;
    }
    assert!(
        diffs.is_empty(),
        "{what}: shape differs from the recording:\n  {}\nours: {}",
        diffs.join("\n  "),
        shape_text(ours)
    );
}

/// How a state endpoint compared.
#[derive(Debug)]
pub enum EndpointCheck {
    Same,
    /// Fewer than half of the recorded top-level fields are there with content: an
    /// unfinished stub.
    Stub {
        filled: usize,
        of: usize,
        diffs: Vec<String>,
    },
}

/// Whether `ours` has the recorded field `key`, with content if the recording's has some.
fn filled(recorded: &Value, ours: &Value, key: &str) -> bool {
    let Some(o) = ours.get(key) else { return false };
    match recorded.get(key) {
        Some(Value::Array(r)) if !r.is_empty() => o.as_array().is_some_and(|a| !a.is_empty()),
        Some(Value::Object(r)) if !r.is_empty() => o.as_object().is_some_and(|m| !m.is_empty()),
        _ => true,
    }
}

/// Compares a state endpoint's shape: an obvious stub (most recorded top-level fields
/// missing or empty) is reported and not failed (the endpoints are being written);
/// anything else must match.
pub fn check_state_endpoint(
    what: &str,
    recorded: &Value,
    ours: &Value,
    exceptions: &[Exception],
) -> EndpointCheck {
    let diffs = shape_diffs(recorded, ours, exceptions);
    if diffs.is_empty() {
        return EndpointCheck::Same;
    }
    let keys: Vec<&String> = recorded.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    let present = keys.iter().filter(|k| filled(recorded, ours, k)).count();
    if present * 2 < keys.len() {
        eprintln!(
            "FINDING (state endpoint stub) {what}: {present} of {} recorded top-level fields there; ours: {}",
            keys.len(),
            shape_text(ours)
        );
        return EndpointCheck::Stub { filled: present, of: keys.len(), diffs };
    }
    if report_only() {
        eprintln!("SHAPE {what}:\n  {}", diffs.join("\n  "));
        return EndpointCheck::Same;
    }
    panic!("{what}: shape differs from the recording:\n  {}\nours: {}", diffs.join("\n  "), shape_text(ours));
}

// ---------------------------------------------------------------------------------------
// Small helpers

/// Base64 (standard alphabet, padded) → bytes.
pub fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap_or_else(|| panic!("not base64: {c}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The resources of an offer that carry a reservation.
pub fn reserved(offer: &Value) -> Vec<Value> {
    offer["resources"]
        .as_array()
        .map(|r| r.iter().filter(|r| r.get("reservations").is_some()).cloned().collect())
        .unwrap_or_default()
}

/// A resource without its allocation info and with scalar values as floats, for comparing
/// resources by value.
pub fn normalized(resource: &Value) -> Value {
    let mut r = resource.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("allocation_info");
    }
    if let Some(v) = r["scalar"]["value"].as_f64() {
        r["scalar"]["value"] = json!(v);
    }
    r
}

/// Sorted normalized resources, each as canonical text.
pub fn resource_set(resources: &[Value]) -> Vec<String> {
    // Quantities of one resource split over several entries (e.g. offered in two offers as
    // they were freed at different times) are merged first, as Mesos' arithmetic merges them.
    let mut merged = herd_mesos_api::Resources::new();
    let mut other = Vec::new();
    for r in resources {
        let n = normalized(r);
        match serde_json::from_value::<herd_mesos_api::Resource>(n.clone()) {
            Ok(resource) => merged.add(&resource),
            Err(_) => other.push(n),
        }
    }
    let mut v: Vec<String> = merged
        .into_vec()
        .into_iter()
        .map(|r| canon(&serde_json::to_value(r).unwrap()))
        .chain(other.iter().map(canon))
        .collect();
    v.sort();
    v
}

/// JSON text with object keys sorted (whatever serde_json's map order is).
pub fn canon(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canon(&o[k.as_str()])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// An object with only the given keys.
pub fn pick(v: &Value, keys: &[&str]) -> Value {
    let mut m = Map::new();
    for k in keys {
        if let Some(x) = v.get(*k) {
            m.insert((*k).to_owned(), x.clone());
        }
    }
    Value::Object(m)
}
