//! Talking to a running service's operator API: where it is (the `--api` flag, or the
//! record `herd run` keeps under `$HERD_HOME/services/`), and JSON requests with errors
//! that say what to do.

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// What `herd run` records about a running service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    /// The service's name.
    pub(crate) name: String,
    /// The framework it runs.
    pub(crate) framework: String,
    /// Its operator API, `http://host:port`.
    pub(crate) api: String,
    /// The scheduler's process id.
    pub(crate) pid: u32,
    /// Where its state is (directory or zk:// URL).
    pub(crate) state: String,
    /// The Mesos master it was given.
    #[serde(default)]
    pub(crate) master: Option<String>,
}

fn services_dir() -> PathBuf {
    crate::commands::herd_home().join("services")
}

/// Records a running service (replacing an older record of the same name).
pub(crate) fn record(service: &ServiceRecord) -> anyhow::Result<()> {
    let dir = services_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.json", service.name));
    let tmp = dir.join(format!(".{}.json.tmp", service.name));
    std::fs::write(&tmp, serde_json::to_vec_pretty(service)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Every recorded service, by name.
pub(crate) fn recorded() -> Vec<ServiceRecord> {
    let Ok(entries) = std::fs::read_dir(services_dir()) else { return Vec::new() };
    let mut out: Vec<ServiceRecord> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The operator API of `service`: `api` if given, else the recorded one.
pub(crate) fn api_of(service: &str, api: Option<&str>) -> anyhow::Result<String> {
    if let Some(api) = api {
        return Ok(api.trim_end_matches('/').to_owned());
    }
    match recorded().into_iter().find(|s| s.name == service) {
        Some(s) => Ok(s.api),
        None => bail!(
            "no service {service:?} is recorded in {} (herd run records the services it runs); \
             give its operator API with --api http://HOST:PORT (herd run prints it)",
            services_dir().display()
        ),
    }
}

/// An operator API client.
pub(crate) struct Operator {
    base: String,
    service: String,
    http: reqwest::Client,
}

impl Operator {
    /// A client for `service` at `base` (`http://host:port`).
    pub(crate) fn new(service: &str, base: String) -> anyhow::Result<Self> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self { base, service: service.to_owned(), http })
    }

    async fn answer(
        &self,
        what: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> anyhow::Result<Value> {
        let response = response.map_err(|e| {
            anyhow!(
                "cannot reach the operator API of {} at {} ({e}); is its scheduler (herd run) running?",
                self.service,
                self.base
            )
        })?;
        let status = response.status();
        let body = response.bytes().await.with_context(|| format!("reading the answer to {what}"))?;
        let json: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if status.is_success() {
            return Ok(json);
        }
        let message = json["error"].as_str().map(str::to_owned).unwrap_or_else(|| json.to_string());
        bail!("{what}: {message} (HTTP {})", status.as_u16())
    }

    /// GET `path` as JSON.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await;
        self.answer(&format!("GET {path}"), response).await
    }

    /// DELETE `path`.
    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.delete(format!("{}{path}", self.base)).send().await;
        self.answer(&format!("DELETE {path}"), response).await
    }

    /// GET another server's `url` (the Mesos master, an agent) as JSON.
    pub(crate) async fn get_url(&self, url: &str) -> anyhow::Result<Value> {
        let response = self.http.get(url).send().await.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body = response.bytes().await.with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: HTTP {}: {}", status.as_u16(), String::from_utf8_lossy(&body).trim());
        }
        serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
    }

    /// POST a file's bytes to `path` (uploads can be large: no overall timeout).
    pub(crate) async fn post_bytes(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream")
            .timeout(std::time::Duration::from_secs(3600))
            .body(bytes)
            .send()
            .await;
        self.answer(&format!("POST {path}"), response).await
    }

    /// POST `body` (JSON, or nothing) to `path`.
    pub(crate) async fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await;
        self.answer(&format!("POST {path}"), response).await
    }
}
