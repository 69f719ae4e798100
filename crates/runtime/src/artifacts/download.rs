//! Downloads: `http(s)://` through reqwest (rustls with the ring provider; trusted roots are
//! the web PKI's plus the machine's CA bundle, so TLS-inspecting corporate proxies work;
//! proxies from `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, which reqwest reads
//! when the client is built), and `file://` copies. Bodies are streamed to a file while
//! hashed, never held in memory; a body shorter than its `Content-Length` is an error;
//! connection errors, 5xx answers and cut-off bodies are retried with bounded backoff.

use super::error::ArtifactError;
use super::{CacheSettings, Progress};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of the read buffer for `file://` copies.
const COPY_BUFFER: usize = 256 * 1024;

/// Largest JSON document read into memory (PyPI's project JSON of a big project is a few MB).
const MAX_DOCUMENT: usize = 64 * 1024 * 1024;

/// The lowercase hex form of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a download produced.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    /// SHA-256, lowercase hex.
    pub(crate) sha256: String,
    /// SHA-512, lowercase hex, when asked for.
    pub(crate) sha512: Option<String>,
    /// Bytes.
    pub(crate) size: u64,
}

/// SHA-256 (and optionally SHA-512) of a stream, with its length.
pub(crate) struct Hasher {
    sha256: sha2::Sha256,
    sha512: Option<sha2::Sha512>,
    size: u64,
}

impl Hasher {
    /// A hasher; `sha512` adds the SHA-512.
    pub(crate) fn new(sha512: bool) -> Self {
        Self { sha256: sha2::Sha256::new(), sha512: sha512.then(sha2::Sha512::new), size: 0 }
    }

    /// Feeds bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(sha512) = &mut self.sha512 {
            sha512.update(bytes);
        }
        self.size += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The digests.
    pub(crate) fn finish(self) -> Fetched {
        Fetched {
            sha256: hex(&self.sha256.finalize()),
            sha512: self.sha512.map(|s| hex(&s.finalize())),
            size: self.size,
        }
    }
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt (connection error, 5xx, cut-off body).
    Retry(ArtifactError),
    /// Not worth it (4xx, local IO).
    Fail(ArtifactError),
}

/// An error and its causes, `: `-separated (reqwest's own message hides the cause).
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

/// The HTTP client and retry policy of a cache.
#[derive(Debug)]
pub(crate) struct Downloader {
    client: reqwest::Client,
    retries: usize,
    first_delay: Duration,
}

fn tls(settings: &CacheSettings) -> Result<rustls::ClientConfig, ArtifactError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for path in &settings.ca_bundles {
        match CertificateDer::pem_file_iter(path) {
            Ok(certs) => {
                let (added, _ignored) = roots.add_parsable_certificates(certs.filter_map(Result::ok));
                tracing::debug!(path = %path.display(), added, "CA bundle");
            }
            Err(e) => tracing::warn!(path = %path.display(), "cannot read the CA bundle: {e}"),
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ArtifactError::Client { reason: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Downloader {
    /// A client per `settings`. Proxies are read from the environment here, once.
    pub(crate) fn new(settings: &CacheSettings) -> Result<Self, ArtifactError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(settings.read_timeout)
            .user_agent(concat!("herd/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls(settings)?)
            .build()
            .map_err(|e| ArtifactError::Client { reason: chain(&e) })?;
        Ok(Self { client, retries: settings.retries, first_delay: settings.retry_delay })
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are used up.
    async fn with_retries<T, F, Fut>(&self, url: &str, mut attempt: F) -> Result<T, ArtifactError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        use backon::BackoffBuilder;
        let mut delays = backon::ExponentialBuilder::new()
            .with_min_delay(self.first_delay)
            .with_max_delay(Duration::from_secs(10))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.retries)
            .build();
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Fail(error)) => return Err(error),
                Err(Failure::Retry(error)) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(%url, ?delay, "retrying: {error}");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(error),
                },
            }
        }
    }

    /// Downloads `url` into `dest` (created or truncated), hashing it; `sha512` adds the
    /// SHA-512. `name` is the artifact, for messages and progress.
    pub(crate) async fn fetch(
        &self,
        name: &str,
        url: &str,
        dest: &Path,
        sha512: bool,
        progress: &dyn Progress,
    ) -> Result<Fetched, ArtifactError> {
        let fetched = if url.starts_with("file://") {
            copy_file(name, url, dest, sha512, progress).await?
        } else {
            self.with_retries(url, || self.fetch_http(name, url, dest, sha512, progress)).await?
        };
        progress.finish();
        Ok(fetched)
    }

    async fn fetch_http(
        &self,
        name: &str,
        url: &str,
        dest: &Path,
        sha512: bool,
        progress: &dyn Progress,
    ) -> Result<Fetched, Failure> {
        let download =
            |cause: String| ArtifactError::Download { name: name.to_owned(), url: url.to_owned(), cause };
        let mut response =
            self.client.get(url).send().await.map_err(|e| Failure::Retry(download(chain(&e))))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Err(Failure::Retry(download(format!("the server answered {status}"))));
        }
        if !status.is_success() {
            return Err(Failure::Fail(download(format!("the server answered {status}"))));
        }
        let expected = response.content_length();
        progress.start(name, expected);
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Failure::Fail(ArtifactError::io("create", dest)(e)))?;
        let mut hasher = Hasher::new(sha512);
        let truncated = |got: u64, expected: u64| ArtifactError::Truncated {
            name: name.to_owned(),
            url: url.to_owned(),
            got,
            expected,
        };
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    hasher.update(&chunk);
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| Failure::Fail(ArtifactError::io("write", dest)(e)))?;
                    progress.advance(chunk.len() as u64);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Retry(match expected {
                        Some(expected) if hasher.size() < expected => truncated(hasher.size(), expected),
                        _ => download(format!(
                            "the body broke off after {} bytes: {}",
                            hasher.size(),
                            chain(&e)
                        )),
                    }));
                }
            }
        }
        if let Some(expected) = expected.filter(|n| *n != hasher.size()) {
            return Err(Failure::Retry(truncated(hasher.size(), expected)));
        }
        file.sync_all().await.map_err(|e| Failure::Fail(ArtifactError::io("write", dest)(e)))?;
        Ok(hasher.finish())
    }

    /// The body of `url` (a small document such as PyPI's JSON), or `None` for a 404.
    pub(crate) async fn document(&self, name: &str, url: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        if url.starts_with("file://") {
            let path = file_path(name, url)?;
            return match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ArtifactError::io("read", path)(e)),
            };
        }
        self.with_retries(url, || async {
            let download =
                |cause: String| ArtifactError::Download { name: name.to_owned(), url: url.to_owned(), cause };
            let mut response = self
                .client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| Failure::Retry(download(chain(&e))))?;
            let status = response.status();
            if status.as_u16() == 404 {
                return Ok(None);
            }
            if status.is_server_error() || status.as_u16() == 429 {
                return Err(Failure::Retry(download(format!("the server answered {status}"))));
            }
            if !status.is_success() {
                return Err(Failure::Fail(download(format!("the server answered {status}"))));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| Failure::Retry(download(chain(&e))))? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_DOCUMENT {
                    return Err(Failure::Fail(download(format!(
                        "the document is larger than {MAX_DOCUMENT} bytes"
                    ))));
                }
            }
            Ok(Some(body))
        })
        .await
    }
}

/// The local path of a `file://` URL.
fn file_path(name: &str, url: &str) -> Result<std::path::PathBuf, ArtifactError> {
    url::Url::parse(url).ok().and_then(|u| u.to_file_path().ok()).ok_or_else(|| ArtifactError::Download {
        name: name.to_owned(),
        url: url.to_owned(),
        cause: "not an absolute file:// URL".to_owned(),
    })
}

/// Copies a `file://` URL's file into `dest`, hashing it.
async fn copy_file(
    name: &str,
    url: &str,
    dest: &Path,
    sha512: bool,
    progress: &dyn Progress,
) -> Result<Fetched, ArtifactError> {
    let path = file_path(name, url)?;
    let download = |e: std::io::Error| ArtifactError::Download {
        name: name.to_owned(),
        url: url.to_owned(),
        cause: e.to_string(),
    };
    let mut source = tokio::fs::File::open(&path).await.map_err(download)?;
    let total = source.metadata().await.map_err(download)?.len();
    progress.start(name, Some(total));
    let mut file = tokio::fs::File::create(dest).await.map_err(ArtifactError::io("create", dest))?;
    let mut hasher = Hasher::new(sha512);
    let mut buffer = vec![0; COPY_BUFFER];
    loop {
        let n = source.read(&mut buffer).await.map_err(download)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).await.map_err(ArtifactError::io("write", dest))?;
        progress.advance(n as u64);
    }
    file.sync_all().await.map_err(ArtifactError::io("write", dest))?;
    Ok(hasher.finish())
}
