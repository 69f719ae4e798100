//! The HTTP side: two connection pools (the event stream must not share a connection with
//! calls), rustls with the ring provider, basic auth on every request.

use crate::config::{ClientConfig, Credentials};
use crate::error::BuildError;
use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The `Mesos-Stream-Id` header.
pub(crate) const STREAM_ID: &str = "Mesos-Stream-Id";

/// Shared HTTP state of one client.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    stream: reqwest::Client,
    calls: reqwest::Client,
    auth: Option<HeaderValue>,
}

fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, BuildError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &config.ca_certificates {
        let err = |reason: String| BuildError::CaCertificates { path: path.display().to_string(), reason };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no PEM certificate in the file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tls)
}

fn basic_auth(c: &Credentials) -> Option<HeaderValue> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.principal, c.secret));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl Transport {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, BuildError> {
        let tls = tls_config(config)?;
        let build = |read_timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .http1_only()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .user_agent(concat!("herd/", env!("CARGO_PKG_VERSION")))
                .tls_backend_preconfigured(tls.clone());
            if let Some(t) = read_timeout {
                b = b.timeout(t);
            }
            b.build().map_err(BuildError::Http)
        };
        Ok(Self {
            // The stream has no overall timeout: the heartbeat watchdog guards it.
            stream: build(None)?,
            calls: build(Some(config.call_timeout))?,
            auth: config.credentials.as_ref().and_then(basic_auth),
        })
    }

    fn post(&self, client: &reqwest::Client, url: Url, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut req = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        req
    }

    /// The SUBSCRIBE request (on the stream pool).
    pub(crate) fn subscribe(&self, url: Url, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.post(&self.stream, url, body)
    }

    /// Any other call (on the call pool), with its stream id.
    pub(crate) fn call(&self, url: Url, stream_id: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.post(&self.calls, url, body).header(STREAM_ID, stream_id)
    }
}

/// At most `max` characters of a body, for error messages.
pub(crate) fn preview(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
