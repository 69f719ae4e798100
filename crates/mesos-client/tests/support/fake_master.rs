//! A scripted fake Mesos master on 127.0.0.1: every request to `/api/v1/scheduler` is
//! recorded for the test to assert on, and answered with the next scripted reply (SUBSCRIBE
//! and other calls have separate scripts; an unscripted call gets 202).

#![allow(dead_code)] // each test binary uses a different part of the fake
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use herd_mesos_api::recordio;
use herd_mesos_api::scheduler::{CallEnvelope, Event};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// One request the fake master received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub call: CallEnvelope,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A scripted answer.
pub enum Reply {
    /// A plain answer.
    Status { status: u16, content_type: &'static str, headers: Vec<(&'static str, String)>, body: String },
    /// 200 with a RecordIO stream fed by the test through the paired [`StreamFeed`].
    Stream { stream_id: String, rx: mpsc::UnboundedReceiver<Bytes> },
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Self::Status {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: vec![],
            body: body.to_owned(),
        }
    }

    pub fn redirect(location: String) -> Self {
        Self::Status {
            status: 307,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("Location", location)],
            body: String::new(),
        }
    }

    /// A stream reply and the handle that feeds it.
    pub fn stream(stream_id: &str) -> (Self, StreamFeed) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::Stream { stream_id: stream_id.to_owned(), rx }, StreamFeed { tx })
    }
}

/// Writes to an open event stream; dropping it closes the stream.
pub struct StreamFeed {
    tx: mpsc::UnboundedSender<Bytes>,
}

impl StreamFeed {
    /// Raw bytes, as they are.
    pub fn raw(&self, bytes: impl Into<Bytes>) {
        let _ = self.tx.send(bytes.into());
    }

    /// One event, RecordIO-framed, written in chunks of `chunk` bytes (to split frames).
    pub fn event_in_chunks(&self, event: &Event, chunk: usize) {
        let framed = recordio::encode_to_bytes(&event.to_json());
        for piece in framed.chunks(chunk) {
            self.raw(Bytes::copy_from_slice(piece));
        }
    }

    /// One event, one chunk.
    pub fn event(&self, event: &Event) {
        self.raw(recordio::encode_to_bytes(&event.to_json()));
    }

    /// One event given as JSON text.
    pub fn json(&self, json: &str) {
        self.raw(recordio::encode_to_bytes(json.as_bytes()));
    }
}

#[derive(Default)]
struct Script {
    subscribes: VecDeque<Reply>,
    calls: VecDeque<Reply>,
}

struct Shared {
    script: Mutex<Script>,
    recorded: mpsc::UnboundedSender<Recorded>,
}

/// The fake master; stops when dropped.
pub struct FakeMaster {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    recorded: mpsc::UnboundedReceiver<Recorded>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeMaster {
    pub async fn start() -> Self {
        let (tx, recorded) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared { script: Mutex::default(), recorded: tx });
        let app = axum::Router::new()
            .route("/api/v1/scheduler", axum::routing::post(handle))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { addr, shared, recorded, _stop: stop }
    }

    /// The same fake, served over TLS with `cert_pem` / `key_pem`.
    pub async fn start_tls(cert_pem: String, key_pem: String) -> Self {
        let (tx, recorded) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared { script: Mutex::default(), recorded: tx });
        let app = axum::Router::new()
            .route("/api/v1/scheduler", axum::routing::post(handle))
            .with_state(Arc::clone(&shared));
        let tls =
            axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes())
                .await
                .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, tls).unwrap().handle(handle.clone());
        tokio::spawn(server.serve(app.into_make_service()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = stopped.await;
            handle.shutdown();
        });
        Self { addr, shared, recorded, _stop: stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts the answer to the next SUBSCRIBE.
    pub fn on_subscribe(&self, reply: Reply) {
        self.shared.script.lock().unwrap().subscribes.push_back(reply);
    }

    /// Scripts the answer to the next non-SUBSCRIBE call.
    pub fn on_call(&self, reply: Reply) {
        self.shared.script.lock().unwrap().calls.push_back(reply);
    }

    /// The next request received, within [`WAIT`].
    pub async fn next_request(&mut self) -> Recorded {
        tokio::time::timeout(WAIT, self.recorded.recv())
            .await
            .expect("the client sent no request in time")
            .expect("fake master stopped")
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let call: CallEnvelope = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from(format!("Failed to parse body into JSON: {e}")))
                .unwrap();
        }
    };
    let is_subscribe = call.subscribe.is_some();
    let _ = shared.recorded.send(Recorded { headers, call });
    let reply = {
        let mut script = shared.script.lock().unwrap();
        if is_subscribe { script.subscribes.pop_front() } else { script.calls.pop_front() }
    };
    match reply {
        None if is_subscribe => {
            Response::builder().status(503).body(Body::from("No leader elected")).unwrap()
        }
        None => Response::builder().status(202).body(Body::empty()).unwrap(),
        Some(Reply::Status { status, content_type, headers, body }) => {
            let mut b = Response::builder().status(status).header("Content-Type", content_type);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(body)).unwrap()
        }
        Some(Reply::Stream { stream_id, rx }) => {
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|bytes| (Ok::<_, std::io::Error>(bytes), rx))
            });
            Response::builder()
                .status(200)
                .header("Content-Type", "application/json")
                .header("Mesos-Stream-Id", stream_id)
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}
