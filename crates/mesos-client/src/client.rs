//! The [`Client`] handle: starts the subscription loop and sends calls on the current
//! subscription.

use crate::config::ClientConfig;
use crate::error::{BuildError, CallError};
use crate::http::{Transport, preview};
use crate::master::scheduler_endpoint;
use crate::subscription::{self, Incoming};
use herd_mesos_api::scheduler::{Acknowledge, Call, Subscribe};
use herd_mesos_api::{FrameworkId, TaskStatus};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The current subscription: where calls go and with which stream id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Base URL of the leading master.
    pub master: Url,
    /// `Mesos-Stream-Id` of the subscription.
    pub stream_id: String,
    /// The framework's id.
    pub framework_id: FrameworkId,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) transport: Transport,
    session: Mutex<Option<Session>>,
    pub(crate) cancel: CancellationToken,
}

impl Inner {
    pub(crate) fn set_session(&self, session: Option<Session>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    fn session(&self) -> Option<Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A scheduler's connection to Mesos: one subscription (kept alive and re-established by a
/// background task) and the calls made on it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What the subscription reports, in order. Ends after [`Incoming::Terminated`] or when the
/// client is closed.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Incoming>,
}

impl Events {
    /// The next report; `None` once the subscription loop has ended.
    pub async fn next(&mut self) -> Option<Incoming> {
        self.rx.recv().await
    }
}

impl Client {
    /// Starts subscribing `subscribe.framework_info` (set its `id` to fail over an existing
    /// framework) and returns the handle and the event reports. Must be called within a
    /// tokio runtime; the subscription runs until [`Client::close`] or a fatal error.
    pub fn subscribe(config: ClientConfig, subscribe: Subscribe) -> Result<(Self, Events), BuildError> {
        let transport = Transport::new(&config)?;
        let inner = Arc::new(Inner {
            config,
            transport,
            session: Mutex::new(None),
            cancel: CancellationToken::new(),
        });
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(subscription::run(Arc::clone(&inner), subscribe, tx));
        Ok((Self { inner }, Events { rx }))
    }

    /// The current subscription, if subscribed.
    pub fn session(&self) -> Option<Session> {
        self.inner.session()
    }

    /// Stops the subscription loop (the master keeps the framework for its failover timeout).
    pub fn close(&self) {
        self.inner.cancel.cancel();
    }

    /// Sends a call on the current subscription. 503s and connection failures are retried
    /// with backoff up to `call_attempts` times; anything else is returned as a typed error.
    pub async fn call(&self, call: Call) -> Result<(), CallError> {
        if self.inner.cancel.is_cancelled() {
            return Err(CallError::Closed);
        }
        let call_name = call.kind().name();
        if matches!(call, Call::Subscribe(_)) {
            return Err(CallError::Rejected {
                call: call_name,
                status: 0,
                message: "SUBSCRIBE is made by the client itself (Client::subscribe)".into(),
            });
        }
        let session = self.inner.session().ok_or(CallError::NotSubscribed)?;
        let body = serde_json::to_vec(&call.into_envelope(Some(session.framework_id.clone())))
            .map_err(CallError::Encode)?;
        let url = scheduler_endpoint(&session.master);
        let config = &self.inner.config;
        let mut delays = config.backoff.delays();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= config.call_attempts.max(1);
            let sent = self.inner.transport.call(url.clone(), &session.stream_id, body.clone()).send().await;
            let retriable = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let location = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = response.bytes().await.map(|b| preview(&b, 500)).unwrap_or_default();
                    match status {
                        200 | 202 => return Ok(()),
                        307 => {
                            let location = location.unwrap_or_default();
                            return Err(CallError::NotLeader { url: url.to_string(), location });
                        }
                        503 => CallError::Unavailable { url: url.to_string(), body: text },
                        _ => return Err(CallError::Rejected { call: call_name, status, message: text }),
                    }
                }
                Err(e) if e.is_timeout() => return Err(CallError::Timeout(config.call_timeout)),
                Err(e) if e.is_connect() => CallError::Connect { url: url.to_string(), source: e },
                Err(e) => return Err(CallError::Connect { url: url.to_string(), source: e }),
            };
            if last {
                return Err(retriable);
            }
            let delay = delays.next().unwrap_or(config.backoff.max);
            tracing::debug!(call = call_name, error = %retriable, ?delay, "retrying call");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.inner.cancel.cancelled() => return Err(CallError::Closed),
            }
        }
    }

    /// Acknowledges a status update if it needs it (it carries a `uuid` and an agent id);
    /// returns whether an ACKNOWLEDGE was sent. Master-generated updates carry no uuid.
    pub async fn acknowledge(&self, status: &TaskStatus) -> Result<bool, CallError> {
        let (Some(uuid), Some(agent_id)) = (&status.uuid, &status.agent_id) else {
            return Ok(false);
        };
        let ack =
            Acknowledge { agent_id: agent_id.clone(), task_id: status.task_id.clone(), uuid: uuid.clone() };
        self.call(Call::Acknowledge(ack)).await.map(|()| true)
    }
}
