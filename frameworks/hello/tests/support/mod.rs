//! Shared by the hello end-to-end tests: an HTTP client and JSON GETs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Bound on every wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// reqwest with rustls (ring), 5 s timeout.
pub fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls).timeout(Duration::from_secs(5)).build().unwrap()
}

/// GET → (status, JSON or null).
pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
}

/// GET → JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    get(http, url).await.1
}
