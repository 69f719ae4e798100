//! Client errors: every failure mode is a variant, with a message naming what went wrong.

use herd_mesos_api::recordio::RecordIoError;
use herd_mesos_api::scheduler::EventError;
use std::time::Duration;

/// An error with its causes, `outer: inner: innermost` (reqwest's own message alone says
/// only "error sending request").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Why a subscription attempt failed or the stream broke.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// TCP/TLS/HTTP failure talking to the master.
    #[error("cannot reach the master at {url}: {}", chain(.source))]
    Connect {
        /// The URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The leader could not be read from ZooKeeper.
    #[error("cannot find the leading master: {0}")]
    Leader(#[from] crate::zk::ZkError),
    /// 503: no leader elected yet, or the master is still recovering.
    #[error("master at {url} is unavailable (503): {body}")]
    Unavailable {
        /// The URL called.
        url: String,
        /// The master's message.
        body: String,
    },
    /// Too many redirects in a row.
    #[error("too many redirects in a row, last to {location}: masters disagree on the leader")]
    RedirectLoop {
        /// The last Location.
        location: String,
    },
    /// A redirect without a usable Location.
    #[error("master at {url} redirected with an unusable Location {location:?}")]
    BadRedirect {
        /// The URL called.
        url: String,
        /// The header value.
        location: String,
    },
    /// 401: the credentials were refused.
    #[error("master at {url} refused the credentials (401 Unauthorized): check the principal and secret")]
    Unauthorized {
        /// The URL called.
        url: String,
    },
    /// Any other unexpected status.
    #[error("master at {url} refused SUBSCRIBE with {status}: {body}")]
    Rejected {
        /// The URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// The master's message.
        body: String,
    },
    /// 200 but not a JSON event stream (e.g. an HTML page from a proxy).
    #[error("master at {url} answered with Content-Type {content_type:?}, not application/json: {preview:?}")]
    NotAnEventStream {
        /// The URL called.
        url: String,
        /// The Content-Type received.
        content_type: String,
        /// The first bytes of the body.
        preview: String,
    },
    /// 200 without the header that identifies the stream.
    #[error("master at {url} did not send a Mesos-Stream-Id header")]
    MissingStreamId {
        /// The URL called.
        url: String,
    },
    /// The stream's framing is broken.
    #[error("broken event stream: {0}")]
    Framing(#[from] RecordIoError),
    /// An event that is not valid JSON for an Event.
    #[error("bad event on the stream: {0}")]
    Event(#[from] EventError),
    /// The first event was not SUBSCRIBED.
    #[error("expected SUBSCRIBED as the first event, got {0}")]
    NotSubscribedFirst(&'static str),
    /// No event for too long.
    #[error("no event for {0:?} (missed heartbeats): the connection is presumed dead")]
    HeartbeatTimeout(Duration),
    /// The master closed the stream.
    #[error("the master closed the event stream")]
    StreamClosed,
    /// The stream broke while reading.
    #[error("reading the event stream failed: {}", chain(.0))]
    Read(#[source] reqwest::Error),
    /// An ERROR event: the master ended this subscription (e.g. failed over, removed).
    #[error("the master ended the subscription: {0}")]
    Master(String),
}

impl SubscribeError {
    /// Whether trying again (after a backoff) can help.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            Self::Unauthorized { .. } | Self::Rejected { status: 400..=499, .. } | Self::Master(_)
        )
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No subscription is active (never subscribed, or reconnecting).
    #[error("not subscribed to a master (yet): calls need an active subscription")]
    NotSubscribed,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// TCP/TLS/HTTP failure.
    #[error("cannot reach the master at {url}: {}", chain(.source))]
    Connect {
        /// The URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// 503 after every retry.
    #[error("master at {url} is unavailable (503): {body}")]
    Unavailable {
        /// The URL called.
        url: String,
        /// The master's message.
        body: String,
    },
    /// 307: this master is not the leader; the subscription will move.
    #[error("master at {url} is not the leader (redirects to {location})")]
    NotLeader {
        /// The URL called.
        url: String,
        /// Where it points.
        location: String,
    },
    /// The master refused the call (400 with the reason, 403 not subscribed, ...).
    #[error("master refused {call} with {status}: {message}")]
    Rejected {
        /// The call type.
        call: &'static str,
        /// HTTP status.
        status: u16,
        /// The master's message.
        message: String,
    },
    /// No answer in time.
    #[error("no answer from the master within {0:?}")]
    Timeout(Duration),
    /// The call could not be encoded as JSON.
    #[error("cannot encode the call as JSON: {0}")]
    Encode(#[source] serde_json::Error),
}

impl CallError {
    /// Whether the master said our stream id is stale (another subscription replaced ours).
    pub fn is_stale_stream(&self) -> bool {
        matches!(self, Self::Rejected { status: 400, message, .. } if message.contains("stream ID"))
    }
}

/// A client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The CA file cannot be read or parsed.
    #[error("cannot load CA certificates from {path}: {reason}")]
    CaCertificates {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// TLS setup failed.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}
