//! The subscription loop: find the leader, SUBSCRIBE, read the RecordIO event stream under
//! a heartbeat watchdog, and on any failure re-subscribe (with the framework id and its
//! failover timeout) after a capped, jittered backoff, or give up as configured.

use crate::client::{Inner, Session};
use crate::error::SubscribeError;
use crate::http::{STREAM_ID, preview};
use crate::master::{MasterUrl, leader_from_location, scheduler_endpoint};
use herd_mesos_api::recordio::Decoder;
use herd_mesos_api::scheduler::{Call, Event, EventError, Subscribe};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

/// What the subscription reports to its owner.
// Events dominate the traffic and are moved once, through a channel: boxing them would
// cost an allocation per event to shrink the rare variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming {
    /// An event from the master, in stream order. `Event::Subscribed` starts every
    /// (re)subscription: offers from earlier subscriptions are void from then on.
    Event(Event),
    /// The subscription broke (or an attempt failed); it is retried after `reconnect_in`.
    /// Outstanding offers are void.
    Disconnected {
        /// Why.
        error: SubscribeError,
        /// When the next attempt starts.
        reconnect_in: Duration,
    },
    /// The client gave up: a fatal error (ERROR event, 401, a 4xx on SUBSCRIBE) or too many
    /// failed attempts. Nothing follows.
    Terminated(SubscribeError),
}

/// How one attempt ended.
enum Outcome {
    /// 307 to another master: try there at once.
    Redirect { to: Url, location: String },
    /// The attempt failed or the stream ended.
    Ended { error: SubscribeError, subscribed: bool },
    /// The owner dropped the event receiver or closed the client.
    Stopped,
}

pub(crate) async fn run(inner: Arc<Inner>, mut subscribe: Subscribe, tx: mpsc::Sender<Incoming>) {
    let config = &inner.config;
    let mut delays = config.backoff.delays();
    let mut failures: u32 = 0;
    let mut redirects: u32 = 0;
    let mut leader: Option<Url> = None;
    loop {
        let outcome = tokio::select! {
            () = inner.cancel.cancelled() => Outcome::Stopped,
            () = tx.closed() => Outcome::Stopped,
            o = attempt(&inner, &mut subscribe, &mut leader, &tx) => o,
        };
        inner.set_session(None);
        let error = match outcome {
            Outcome::Stopped => return,
            Outcome::Redirect { to, location } => {
                redirects += 1;
                if redirects <= config.max_redirects {
                    tracing::info!(leader = %to, "master redirected to the leader");
                    leader = Some(to);
                    continue;
                }
                redirects = 0;
                leader = None;
                SubscribeError::RedirectLoop { location }
            }
            Outcome::Ended { error, subscribed } => {
                if subscribed {
                    failures = 0;
                    redirects = 0;
                    delays = config.backoff.delays();
                }
                // Start over from the configured master (or ZooKeeper): the leader may have moved.
                leader = None;
                error
            }
        };
        failures += 1;
        let exhausted = config.max_reconnect_attempts.is_some_and(|max| failures > max);
        if !error.is_retriable() || exhausted {
            tracing::error!(%error, failures, "giving up on the Mesos subscription");
            let _ = tx.send(Incoming::Terminated(error)).await;
            inner.cancel.cancel();
            return;
        }
        let delay = delays.next().unwrap_or(config.backoff.max);
        tracing::warn!(%error, ?delay, "Mesos subscription lost; re-subscribing");
        if tx.send(Incoming::Disconnected { error, reconnect_in: delay }).await.is_err() {
            return;
        }
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The base URL of the master to subscribe to.
async fn resolve(inner: &Inner, leader: &Option<Url>) -> Result<Url, SubscribeError> {
    if let Some(url) = leader {
        return Ok(url.clone());
    }
    match &inner.config.master {
        MasterUrl::Http(url) => Ok(url.clone()),
        MasterUrl::Zk(zk) => {
            let info = crate::zk::detect_leader(zk, inner.config.zk_timeout).await?;
            let (host, port) = info.host_port();
            let text = format!("{}://{host}:{port}", inner.config.zk_leader_scheme);
            Url::parse(&text).map_err(|_| SubscribeError::BadRedirect { url: zk.to_string(), location: text })
        }
    }
}

async fn attempt(
    inner: &Inner,
    subscribe: &mut Subscribe,
    leader: &mut Option<Url>,
    tx: &mpsc::Sender<Incoming>,
) -> Outcome {
    let ended = |error| Outcome::Ended { error, subscribed: false };
    let base = match resolve(inner, leader).await {
        Ok(base) => base,
        Err(error) => return ended(error),
    };
    let url = scheduler_endpoint(&base);
    let framework_id = subscribe.framework_info.id.clone();
    let body = match serde_json::to_vec(&Call::Subscribe(subscribe.clone()).into_envelope(framework_id)) {
        Ok(body) => body,
        Err(e) => {
            return ended(SubscribeError::Event(EventError::Json { source: e, preview: String::new() }));
        }
    };
    tracing::debug!(%url, "subscribing");
    let mut response = match inner.transport.subscribe(url.clone(), body).send().await {
        Ok(r) => r,
        Err(source) => return ended(SubscribeError::Connect { url: url.to_string(), source }),
    };
    let status = response.status().as_u16();
    if status != 200 {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let location = header(reqwest::header::LOCATION);
        let text = response.bytes().await.map(|b| preview(&b, 500)).unwrap_or_default();
        let url = url.to_string();
        return match status {
            307 => {
                let location = location.unwrap_or_default();
                match leader_from_location(&base, &location) {
                    Some(to) => Outcome::Redirect { to, location },
                    None => ended(SubscribeError::BadRedirect { url, location }),
                }
            }
            401 => ended(SubscribeError::Unauthorized { url }),
            503 => ended(SubscribeError::Unavailable { url, body: text }),
            _ => ended(SubscribeError::Rejected { url, status, body: text }),
        };
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.starts_with("application/json") {
        let head = match tokio::time::timeout(Duration::from_secs(2), response.chunk()).await {
            Ok(Ok(Some(bytes))) => preview(&bytes, 200),
            _ => String::new(),
        };
        return ended(SubscribeError::NotAnEventStream { url: url.to_string(), content_type, preview: head });
    }
    let Some(stream_id) = response.headers().get(STREAM_ID).and_then(|v| v.to_str().ok()).map(str::to_owned)
    else {
        return ended(SubscribeError::MissingStreamId { url: url.to_string() });
    };

    let config = &inner.config;
    let mut decoder = Decoder::new(config.max_event_bytes);
    let mut watchdog = config.subscribe_timeout;
    let mut deadline = Instant::now() + watchdog;
    let mut subscribed = false;
    let end = |error, subscribed| Outcome::Ended { error, subscribed };
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return end(SubscribeError::HeartbeatTimeout(watchdog), subscribed),
            Ok(Err(e)) => return end(SubscribeError::Read(e), subscribed),
            Ok(Ok(None)) => {
                let error = match decoder.finish() {
                    Err(e) => SubscribeError::Framing(e),
                    Ok(()) => SubscribeError::StreamClosed,
                };
                return end(error, subscribed);
            }
            Ok(Ok(Some(chunk))) => chunk,
        };
        decoder.push(&chunk);
        loop {
            let record = match decoder.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(e) => return end(SubscribeError::Framing(e), subscribed),
            };
            let event = match Event::from_json(&record) {
                Ok(event) => event,
                Err(EventError::UnknownType(kind)) if subscribed => {
                    // A newer master may send event types this client does not know yet.
                    tracing::warn!(event_type = %kind, "skipping an event of unknown type");
                    continue;
                }
                Err(e) => return end(SubscribeError::Event(e), subscribed),
            };
            let fatal = match &event {
                Event::Subscribed(s) => {
                    subscribed = true;
                    subscribe.framework_info.id = Some(s.framework_id.clone());
                    let interval = s.heartbeat_interval_seconds.filter(|i| *i > 0.0).unwrap_or(15.0);
                    watchdog = Duration::from_secs_f64(interval * f64::from(config.heartbeat_misses.max(1)));
                    inner.set_session(Some(Session {
                        master: base.clone(),
                        stream_id: stream_id.clone(),
                        framework_id: s.framework_id.clone(),
                    }));
                    tracing::info!(framework_id = %s.framework_id, master = %base, "subscribed");
                    None
                }
                Event::Error(e) => Some(SubscribeError::Master(e.message.clone())),
                other if !subscribed => {
                    return end(SubscribeError::NotSubscribedFirst(other.kind().name()), false);
                }
                _ => None,
            };
            if tx.send(Incoming::Event(event)).await.is_err() {
                return Outcome::Stopped;
            }
            if let Some(error) = fatal {
                return end(error, subscribed);
            }
            deadline = Instant::now() + watchdog;
        }
    }
}
