//! Helpers shared by the framework tests (`mod support;`): an HTTP client for the operator
//! APIs and the local master, and JSON GETs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

/// An HTTP client for 127.0.0.0/8 services: no proxy, 10 s timeout.
pub fn http() -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GETs `url` and parses its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = http.get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// POSTs `body` as JSON to `url`: the status and the response body.
pub async fn post_json(http: &reqwest::Client, url: &str, body: &serde_json::Value) -> (u16, String) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Whether any agent of the local master still holds reservations of `role`.
pub async fn role_reservations(http: &reqwest::Client, master: &str, role: &str) -> Vec<String> {
    let slaves = get_json(http, &format!("{master}/master/slaves")).await;
    slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reserved_resources_full"][role].as_array().is_some_and(|r| !r.is_empty()))
        .map(|s| s["hostname"].as_str().unwrap_or_default().to_owned())
        .collect()
}
