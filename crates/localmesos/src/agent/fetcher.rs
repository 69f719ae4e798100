//! The agent's fetcher: downloads a task's `CommandInfo.URI`s into its sandbox before the task
//! starts, the way the Mesos fetcher (`src/launcher/fetcher.cpp`) does.
//!
//! - Sources: `http://`, `https://`, `file://` and bare absolute paths (Mesos treats a URI
//!   without a scheme as a local file). Anything else is rejected with a clear error.
//! - The file lands in the sandbox under the last path segment of the URI, or under
//!   `output_file` (a relative path inside the sandbox; parent directories are created).
//! - `executable: true` sets mode 0755 and disables extraction. Otherwise, when `extract`
//!   (default true) is set and the file name ends in `.tar`, `.tar.gz`, `.tgz` or `.zip`, the
//!   archive is extracted into the sandbox (the archive itself is kept); a bare `.gz` file is
//!   decompressed next to it into the sandbox, without the `.gz` suffix. Extraction refuses
//!   entries with absolute paths or `..`, never writes through a symlink, keeps the file modes
//!   (without setuid/setgid bits) and recreates symlinks. `.tar.bz2`, `.tbz2`, `.tar.xz` and
//!   `.txz` are not supported (no bzip2/xz decoder is linked): they fail with a clear error
//!   unless `extract` is false.
//! - `cache: true` goes through a cache directory shared by every agent of the cluster: a URI
//!   is downloaded once (concurrent fetches of the same URI wait for the same download), kept
//!   under a name derived from the URI, and copied into each sandbox. A failed download leaves
//!   nothing in the cache; a cached archive that fails to extract is evicted. Unlike Mesos, the
//!   cache is not cleared when a [`Fetcher`] is created, so a persistent cache directory keeps
//!   its artifacts across runs.
//! - Errors read like the Mesos agent's: `Failed to fetch '<uri>': <reason>`; the agent puts
//!   the message into `TASK_FAILED` (`REASON_CONTAINER_LAUNCH_FAILED`).
//!
//! HTTP downloads follow redirects (up to 10), honour the `http_proxy` / `https_proxy` /
//! `all_proxy` / `no_proxy` environment variables (reqwest's default), have a 10 s connect
//! timeout, a stall timeout (no data for 60 s) and an overall per-download timeout (10 min by
//! default), see [`FetcherConfig`]. Any 2xx status is success.

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use herd_mesos_api::Uri;
use reqwest::Url;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Default connect timeout of HTTP downloads.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default overall timeout of one download.
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Default stall timeout of HTTP downloads: the longest wait for the next bytes of a response
/// (Mesos' `--fetcher_stall_timeout` is 60 s too).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Mode of a URI fetched with `executable: true` (Mesos: `S_IRWXU | S_IRGRP | S_IXGRP |
/// S_IROTH | S_IXOTH`).
const EXECUTABLE_MODE: u32 = 0o755;
/// Buffer of the writer of HTTP downloads.
const WRITE_BUFFER: usize = 256 * 1024;
/// Longest file-name part kept in a cache file name.
const CACHE_NAME_MAX: usize = 128;

/// Why a fetch failed. Every message starts with `Failed to fetch '<uri>': ` (except
/// [`FetchError::Cache`], which comes from [`Fetcher::new`]) so that it can go verbatim into a
/// `TASK_FAILED` status message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URI or its `output_file` is unusable: unsupported scheme, relative path, no file
    /// name, `output_file` absolute or with `..`.
    #[error("Failed to fetch '{uri}': {reason}")]
    InvalidUri {
        /// The URI.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("Failed to fetch '{uri}': {reason}")]
    Http {
        /// The URI.
        uri: String,
        /// The HTTP status code.
        status: u16,
        /// `HTTP <code> <reason phrase>`, e.g. `HTTP 404 Not Found`.
        reason: String,
    },
    /// The server could not be reached (connection refused, DNS failure, TLS handshake...).
    #[error("Failed to fetch '{uri}': {reason}")]
    Connect {
        /// The URI.
        uri: String,
        /// The cause.
        reason: String,
    },
    /// The download took longer than the configured download or stall timeout.
    #[error("Failed to fetch '{uri}': {reason}")]
    Timeout {
        /// The URI.
        uri: String,
        /// Which timeout expired.
        reason: String,
    },
    /// The transfer failed after it started (connection reset, truncated body...), or a local
    /// source file could not be read.
    #[error("Failed to fetch '{uri}': {reason}")]
    Download {
        /// The URI.
        uri: String,
        /// The cause.
        reason: String,
    },
    /// The file was fetched but could not be extracted (corrupt archive, unsafe entry,
    /// unsupported compression).
    #[error("Failed to fetch '{uri}': {reason}")]
    Extract {
        /// The URI.
        uri: String,
        /// The cause.
        reason: String,
    },
    /// A local file-system operation in the sandbox or the cache failed.
    #[error("Failed to fetch '{uri}': {reason}")]
    Io {
        /// The URI.
        uri: String,
        /// The cause.
        reason: String,
    },
    /// The cache directory could not be set up (from [`Fetcher::new`]).
    #[error("Failed to create the fetcher cache directory '{}': {reason}", path.display())]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
}

impl FetchError {
    /// The URI the error is about (`None` for [`FetchError::Cache`]).
    pub fn uri(&self) -> Option<&str> {
        match self {
            Self::InvalidUri { uri, .. }
            | Self::Http { uri, .. }
            | Self::Connect { uri, .. }
            | Self::Timeout { uri, .. }
            | Self::Download { uri, .. }
            | Self::Extract { uri, .. }
            | Self::Io { uri, .. } => Some(uri),
            Self::Cache { .. } => None,
        }
    }
}

/// Tunables of a [`Fetcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherConfig {
    /// Timeout of establishing an HTTP connection (default 10 s).
    pub connect_timeout: Duration,
    /// Overall timeout of one download, HTTP or local copy included (default 10 min).
    pub download_timeout: Duration,
    /// Longest wait for the next bytes of an HTTP response body (default 60 s).
    pub stall_timeout: Duration,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// The fetcher of a local cluster: cheap to clone (all clones share the HTTP client, the
/// cache and the download counter), meant to be shared by all agents.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

/// A download into the cache that others may join: resolves to the cache file.
type InFlight = Shared<BoxFuture<'static, Result<PathBuf, FetchError>>>;

struct Inner {
    cache_dir: PathBuf,
    client: reqwest::Client,
    config: FetcherConfig,
    downloads: AtomicU64,
    /// Cache downloads in progress, by cache key (the URI).
    in_flight: Mutex<HashMap<String, InFlight>>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache_dir", &self.inner.cache_dir)
            .field("config", &self.inner.config)
            .field("downloads", &self.downloads())
            .finish_non_exhaustive()
    }
}

/// Where a URI's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Http(Url),
    Local(PathBuf),
}

/// What to do with a fetched file named like this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    Tar,
    TarGz,
    Zip,
    /// A single gzip-compressed file.
    Gz,
    /// An archive format this fetcher cannot extract (the suffix).
    Unsupported(&'static str),
}

impl Fetcher {
    /// A fetcher with the default [`FetcherConfig`] whose cache lives in `cache_dir` (created
    /// if missing).
    pub fn new(cache_dir: PathBuf) -> Result<Self, FetchError> {
        Self::with_config(cache_dir, FetcherConfig::default())
    }

    /// A fetcher with explicit timeouts whose cache lives in `cache_dir` (created if missing).
    pub fn with_config(cache_dir: PathBuf, config: FetcherConfig) -> Result<Self, FetchError> {
        let cache_err = |reason: String| FetchError::Cache { path: cache_dir.clone(), reason };
        fs::create_dir_all(&cache_dir).map_err(|e| cache_err(e.to_string()))?;
        let cache_dir = cache_dir.canonicalize().map_err(|e| cache_err(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| cache_err(format!("cannot set up TLS: {e}")))?
            .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.stall_timeout)
            .user_agent(concat!("herd-localmesos-fetcher/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| cache_err(format!("cannot build the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            inner: Arc::new(Inner {
                cache_dir,
                client,
                config,
                downloads: AtomicU64::new(0),
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The cache directory (canonical).
    pub fn cache_dir(&self) -> &Path {
        &self.inner.cache_dir
    }

    /// Number of downloads (HTTP transfers or copies of local files) started so far; cache
    /// hits and joins of a download already in progress are not counted.
    pub fn downloads(&self) -> u64 {
        self.inner.downloads.load(Ordering::Relaxed)
    }

    /// Fetches `uri` into `sandbox` (created if missing) and, as the URI asks, marks it
    /// executable or extracts it. Returns the path of the fetched file in the sandbox (for an
    /// extracted archive: the archive, which is kept).
    pub async fn fetch(&self, uri: &Uri, sandbox: &Path) -> Result<PathBuf, FetchError> {
        let value = uri.value.trim_start().to_owned();
        tracing::debug!(uri = %value, sandbox = %sandbox.display(), "fetching");
        let invalid = |reason: String| FetchError::InvalidUri { uri: value.clone(), reason };
        let (source, basename) = parse_source(&value).map_err(invalid)?;
        let relative = match &uri.output_file {
            Some(output) => output_path(output).map_err(invalid)?,
            None => PathBuf::from(&basename),
        };
        let executable = uri.executable.unwrap_or(false);
        let kind = if !executable && uri.extract.unwrap_or(true) { archive_kind(&relative) } else { None };
        if let Some(ArchiveKind::Unsupported(suffix)) = kind {
            return Err(FetchError::Extract {
                uri: value,
                reason: format!(
                    "cannot extract '{}': {suffix} archives are not supported by the embedded fetcher \
                     (use .tar.gz, .tgz, .tar or .zip, or set extract to false)",
                    relative.display()
                ),
            });
        }

        let (sandbox_dir, dest) = {
            let (sandbox, relative, uri) = (sandbox.to_path_buf(), relative.clone(), value.clone());
            blocking(&value, move || {
                prepare_destination(&sandbox, &relative).map_err(|reason| io_err(&uri, reason))
            })
            .await?
        };

        if uri.cache.unwrap_or(false) {
            let cached = self.cached(&value, source, &basename).await?;
            let inner = Arc::clone(&self.inner);
            let (key, d) = (value.clone(), dest.clone());
            blocking(&value, move || {
                let copied = copy_atomic(&cached, &d, false).map_err(|e| {
                    io_err(&key, format!("cannot copy '{}' from the cache: {e}", cached.display()))
                });
                let result = copied.and_then(|()| finish(&key, &d, &sandbox_dir, executable, kind));
                if matches!(result, Err(FetchError::Extract { .. })) {
                    inner.evict(&key, &cached);
                }
                result
            })
            .await?;
        } else {
            self.inner.download(&value, &source, &dest, false).await?;
            let (key, d) = (value.clone(), dest.clone());
            blocking(&value, move || finish(&key, &d, &sandbox_dir, executable, kind)).await?;
        }
        tracing::debug!(uri = %value, path = %dest.display(), "fetched");
        Ok(sandbox.join(relative))
    }

    /// Fetches `uris` into `sandbox` one after the other, stopping at the first error.
    pub async fn fetch_all(&self, uris: &[Uri], sandbox: &Path) -> Result<(), FetchError> {
        for uri in uris {
            self.fetch(uri, sandbox).await?;
        }
        Ok(())
    }

    /// The cache file of `key`, downloading it unless it is cached or being downloaded.
    async fn cached(&self, key: &str, source: Source, basename: &str) -> Result<PathBuf, FetchError> {
        let path = self.inner.cache_dir.join(cache_file_name(key, basename));
        let download = {
            let mut in_flight = self.inner.lock_in_flight();
            // An entry that already has its result belongs to a task that never ran (its
            // runtime shut down): forget it.
            if in_flight.get(key).is_some_and(|download| download.peek().is_some()) {
                in_flight.remove(key);
            }
            if let Some(download) = in_flight.get(key) {
                tracing::debug!(uri = %key, "joining a download in progress");
                download.clone()
            } else if path.is_file() {
                tracing::debug!(uri = %key, path = %path.display(), "cache hit");
                return Ok(path);
            } else {
                // The download runs in its own task so that it completes for the others even if
                // the fetch that started it is cancelled. The guard is made inside the task:
                // dropping a task that never ran must not take the map's lock held here.
                let (inner, owned_key) = (Arc::clone(&self.inner), key.to_owned());
                let task = tokio::spawn(async move {
                    let guard = InFlightGuard { inner, key: owned_key };
                    let result = guard.inner.download(&guard.key, &source, &path, true).await.map(|()| path);
                    drop(guard);
                    result
                });
                let uri = key.to_owned();
                let download: InFlight = task
                    .map(move |joined| {
                        joined.unwrap_or_else(|e| {
                            Err(FetchError::Download {
                                uri,
                                reason: format!("the download task failed: {e}"),
                            })
                        })
                    })
                    .boxed()
                    .shared();
                in_flight.insert(key.to_owned(), download.clone());
                download
            }
        };
        download.await
    }
}

/// Removes a cache download from the in-flight map when it ends (even by panic or abort).
struct InFlightGuard {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.inner.lock_in_flight().remove(&self.key);
    }
}

impl Inner {
    fn lock_in_flight(&self) -> MutexGuard<'_, HashMap<String, InFlight>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops a cached file that turned out to be unusable, unless a new download of it is
    /// already under way.
    fn evict(&self, key: &str, path: &Path) {
        let in_flight = self.lock_in_flight();
        if !in_flight.contains_key(key) {
            tracing::info!(uri = %key, path = %path.display(), "evicting an unusable file from the fetcher cache");
            if let Err(e) = fs::remove_file(path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), "cannot evict from the fetcher cache: {e}");
            }
        }
    }

    /// Downloads `source` to `dest` through a temporary file next to it, renamed into place
    /// only when complete; `durable` syncs it to disk first (for the cache).
    async fn download(
        &self,
        uri: &str,
        source: &Source,
        dest: &Path,
        durable: bool,
    ) -> Result<(), FetchError> {
        self.downloads.fetch_add(1, Ordering::Relaxed);
        let dir = dest.parent().unwrap_or(Path::new("."));
        let temp = TempFile::new(dir);
        tracing::info!(uri, dest = %dest.display(), "downloading");
        let timeout = self.config.download_timeout;
        let transfer = async {
            match source {
                Source::Http(url) => self.http_download(uri, url, &temp.path, durable).await,
                Source::Local(path) => {
                    let (uri, path, temp) = (uri.to_owned(), path.clone(), temp.path.clone());
                    blocking(&uri.clone(), move || copy_local(&uri, &path, &temp, durable)).await
                }
            }
        };
        match tokio::time::timeout(timeout, transfer).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(FetchError::Timeout {
                    uri: uri.to_owned(),
                    reason: format!("download timed out after {}", human(timeout)),
                });
            }
        }
        temp.persist(dest)
            .map_err(|e| io_err(uri, format!("cannot move the download to '{}': {e}", dest.display())))
    }

    async fn http_download(
        &self,
        uri: &str,
        url: &Url,
        temp: &Path,
        durable: bool,
    ) -> Result<(), FetchError> {
        let mut response =
            self.client.get(url.clone()).send().await.map_err(|e| request_err(uri, &e, &self.config))?;
        let status = response.status();
        if !status.is_success() {
            let reason = match status.canonical_reason() {
                Some(text) => format!("HTTP {} {text}", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            };
            return Err(FetchError::Http { uri: uri.to_owned(), status: status.as_u16(), reason });
        }
        let write_err = |e: io::Error| io_err(uri, format!("cannot write '{}': {e}", temp.display()));
        let file = tokio::fs::File::create(temp).await.map_err(write_err)?;
        let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        while let Some(chunk) = response.chunk().await.map_err(|e| request_err(uri, &e, &self.config))? {
            writer.write_all(&chunk).await.map_err(write_err)?;
        }
        writer.flush().await.map_err(write_err)?;
        if durable {
            writer.into_inner().sync_all().await.map_err(write_err)?;
        }
        Ok(())
    }
}

/// A temporary file, removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(dir: &Path) -> Self {
        let name = format!(".fetch-{}.part", uuid::Uuid::new_v4().simple());
        Self { path: dir.join(name), armed: true }
    }

    fn persist(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.path, dest)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), "cannot remove a partial download: {e}");
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T, F>(uri: &str, work: F) -> Result<T, FetchError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, FetchError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io_err(uri, format!("the fetcher task failed: {e}"))))
}

fn io_err(uri: &str, reason: String) -> FetchError {
    FetchError::Io { uri: uri.to_owned(), reason }
}

fn extract_err(uri: &str, reason: String) -> FetchError {
    FetchError::Extract { uri: uri.to_owned(), reason }
}

/// An error and its sources, `: `-separated, without repeated messages.
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string().trim().to_owned()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string().trim().to_owned();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// The cause of a failed request, without reqwest's `error sending request for url (...)`
/// preamble (the URI is already in the message).
fn request_err(uri: &str, err: &reqwest::Error, config: &FetcherConfig) -> FetchError {
    let uri = uri.to_owned();
    let cause = match std::error::Error::source(err) {
        // hyper's generic `client error (Connect)` layer says nothing the kind does not.
        Some(source) if source.to_string().starts_with("client error (") => match source.source() {
            Some(inner) => chain(inner),
            None => chain(source),
        },
        Some(source) => chain(source),
        None => err.to_string(),
    };
    if err.is_connect() && err.is_timeout() {
        FetchError::Timeout {
            uri,
            reason: format!("cannot connect: timed out after {}", human(config.connect_timeout)),
        }
    } else if err.is_connect() {
        FetchError::Connect { uri, reason: format!("cannot connect: {cause}") }
    } else if err.is_timeout() {
        FetchError::Timeout {
            uri,
            reason: format!("the download stalled: no data for {}", human(config.stall_timeout)),
        }
    } else if err.is_redirect() {
        FetchError::Download { uri, reason: format!("redirect failed: {cause}") }
    } else {
        FetchError::Download { uri, reason: format!("download failed: {cause}") }
    }
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// Splits a URI into its source and its default file name.
fn parse_source(value: &str) -> Result<(Source, String), String> {
    if value.is_empty() {
        return Err("the URI is empty".into());
    }
    if value.contains('\0') {
        return Err("illegal characters in URI".into());
    }
    if value.starts_with('/') {
        let path = PathBuf::from(value);
        let name = local_name(&path)?;
        return Ok((Source::Local(path), name));
    }
    let Some((scheme, _)) = value.split_once("://") else {
        return Err("relative paths are not supported (use an absolute path or a file:// URI)".into());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => {
            let url = Url::parse(value).map_err(|e| format!("invalid URL: {e}"))?;
            let segment = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
            let name = percent_decode(segment);
            if name.is_empty() {
                return Err("the URL has no file name in its path (set output_file)".into());
            }
            if name == "." || name == ".." || name.contains('/') {
                return Err(format!("the URL's file name '{name}' is not usable (set output_file)"));
            }
            Ok((Source::Http(url), name))
        }
        "file" => {
            let url = Url::parse(value).map_err(|e| format!("invalid URL: {e}"))?;
            let path = url
                .to_file_path()
                .map_err(|()| "a file:// URI must name an absolute path on this host".to_owned())?;
            let name = local_name(&path)?;
            Ok((Source::Local(path), name))
        }
        other => Err(format!(
            "unsupported URI scheme '{other}' (the embedded fetcher supports http, https, file and absolute paths)"
        )),
    }
}

fn local_name(path: &Path) -> Result<String, String> {
    match path.components().next_back() {
        Some(Component::Normal(name)) => Ok(name.to_string_lossy().into_owned()),
        _ => Err(format!("'{}' has no file name", path.display())),
    }
}

/// `%XX` decoding of one URL path segment (invalid escapes are kept as they are).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `output_file` as a path relative to the sandbox.
fn output_path(output: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for component in Path::new(output).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("output_file '{output}' must not contain '..'"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("output_file '{output}' must be a relative path"));
            }
        }
    }
    if path.as_os_str().is_empty() {
        return Err(format!("output_file '{output}' names no file"));
    }
    Ok(path)
}

/// How a fetched file named like `path` is extracted, if it is an archive.
fn archive_kind(path: &Path) -> Option<ArchiveKind> {
    let name = path.file_name()?.to_str()?;
    let kinds = [
        (".tar.gz", ArchiveKind::TarGz),
        (".tgz", ArchiveKind::TarGz),
        (".tar", ArchiveKind::Tar),
        (".zip", ArchiveKind::Zip),
        (".tar.bz2", ArchiveKind::Unsupported(".tar.bz2")),
        (".tbz2", ArchiveKind::Unsupported(".tbz2")),
        (".tar.xz", ArchiveKind::Unsupported(".tar.xz")),
        (".txz", ArchiveKind::Unsupported(".txz")),
        (".gz", ArchiveKind::Gz),
    ];
    kinds.into_iter().find(|(suffix, _)| name.ends_with(suffix)).map(|(_, kind)| kind)
}

/// The cache file of a URI: a hash of the whole URI (FNV-1a, stable across runs) and the
/// URI's file name, for people looking at the directory.
fn cache_file_name(key: &str, basename: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut end = basename.len().min(CACHE_NAME_MAX);
    while !basename.is_char_boundary(end) {
        end -= 1;
    }
    let name: String = basename[..end]
        .chars()
        .map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c })
        .collect();
    format!("{hash:016x}-{name}")
}

/// Creates the sandbox and the destination's parent directories; returns the canonical
/// sandbox and the destination path, refusing destinations that resolve outside the sandbox
/// (through a symlink) or that are directories.
fn prepare_destination(sandbox: &Path, relative: &Path) -> Result<(PathBuf, PathBuf), String> {
    fs::create_dir_all(sandbox)
        .map_err(|e| format!("cannot create the sandbox '{}': {e}", sandbox.display()))?;
    let root = sandbox
        .canonicalize()
        .map_err(|e| format!("cannot resolve the sandbox '{}': {e}", sandbox.display()))?;
    let name = relative.file_name().ok_or_else(|| format!("'{}' names no file", relative.display()))?;
    let parent = match relative.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            let dir = root.join(parent);
            fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create '{}' in the sandbox: {e}", parent.display()))?;
            let dir = dir.canonicalize().map_err(|e| format!("cannot resolve '{}': {e}", dir.display()))?;
            if !dir.starts_with(&root) {
                return Err(format!("'{}' resolves outside the sandbox", relative.display()));
            }
            dir
        }
        _ => root.clone(),
    };
    let dest = parent.join(name);
    if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
        return Err(format!("'{}' already exists in the sandbox as a directory", relative.display()));
    }
    Ok((root, dest))
}

/// Copies a local source to `temp`.
fn copy_local(uri: &str, source: &Path, temp: &Path, durable: bool) -> Result<(), FetchError> {
    let fail = |reason: String| FetchError::Download { uri: uri.to_owned(), reason };
    let meta = fs::metadata(source).map_err(|e| fail(format!("cannot read '{}': {e}", source.display())))?;
    if !meta.is_file() {
        return Err(fail(format!("'{}' is not a regular file", source.display())));
    }
    fs::copy(source, temp).map_err(|e| fail(format!("cannot copy '{}': {e}", source.display())))?;
    if durable {
        fs::File::open(temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(uri, format!("cannot sync '{}': {e}", temp.display())))?;
    }
    Ok(())
}

/// Copies `from` to `to` through a temporary file next to `to`.
fn copy_atomic(from: &Path, to: &Path, durable: bool) -> io::Result<()> {
    let temp = TempFile::new(to.parent().unwrap_or(Path::new(".")));
    fs::copy(from, &temp.path)?;
    if durable {
        fs::File::open(&temp.path)?.sync_all()?;
    }
    temp.persist(to)
}

/// Post-processing of a fetched file: chmod or extraction.
fn finish(
    uri: &str,
    path: &Path,
    sandbox: &Path,
    executable: bool,
    kind: Option<ArchiveKind>,
) -> Result<(), FetchError> {
    use std::os::unix::fs::PermissionsExt;
    if executable {
        return fs::set_permissions(path, fs::Permissions::from_mode(EXECUTABLE_MODE))
            .map_err(|e| io_err(uri, format!("cannot make '{}' executable: {e}", path.display())));
    }
    let Some(kind) = kind else { return Ok(()) };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let result = match kind {
        ArchiveKind::Tar => open(path).and_then(|file| unpack_tar(BufReader::new(file), sandbox).map(drop)),
        ArchiveKind::TarGz => open_gzip(path).and_then(|gz| {
            let mut rest = unpack_tar(gz, sandbox)?;
            // Read to the end so that the gzip trailer (CRC, length) is checked.
            io::copy(&mut rest, &mut io::sink()).map_err(|e| format!("corrupt gzip data: {e}"))?;
            Ok(())
        }),
        ArchiveKind::Zip => unpack_zip(path, sandbox),
        ArchiveKind::Gz => gunzip(path, sandbox),
        ArchiveKind::Unsupported(suffix) => Err(format!("{suffix} archives are not supported")),
    };
    result.map_err(|reason| extract_err(uri, format!("cannot extract '{name}': {reason}")))?;
    tracing::debug!(uri, archive = %path.display(), "extracted");
    Ok(())
}

fn open(path: &Path) -> Result<fs::File, String> {
    fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))
}

/// A decoder of a gzip file, after checking its magic number.
fn open_gzip(path: &Path) -> Result<flate2::read::MultiGzDecoder<BufReader<fs::File>>, String> {
    let mut file = open(path)?;
    let mut magic = [0u8; 2];
    let is_gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    if !is_gzip {
        return Err("not a valid gzip archive".into());
    }
    drop(file);
    Ok(flate2::read::MultiGzDecoder::new(BufReader::new(open(path)?)))
}

/// Refuses archive entry paths that are absolute or contain `..`.
fn check_entry_path(path: &Path) -> Result<(), String> {
    for component in path.components() {
        match component {
            Component::ParentDir => {
                return Err(format!("the entry '{}' escapes the sandbox ('..')", path.display()));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("the entry '{}' has an absolute path", path.display()));
            }
            Component::Normal(_) | Component::CurDir => {}
        }
    }
    Ok(())
}

/// Extracts a tar stream into `dest` (canonical), returning the rest of the stream. Entries
/// escaping `dest` are refused; the tar crate never writes through symlinks (each entry's
/// parent is canonicalized and must lie inside `dest`) and keeps hard links inside. Modes are
/// kept without setuid/setgid/sticky bits; directories are finished last so that read-only
/// directories do not block their contents. Device and FIFO entries are skipped.
fn unpack_tar<R: Read>(reader: R, dest: &Path) -> Result<R, String> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    {
        let mut directories = Vec::new();
        let entries = archive.entries().map_err(|e| format!("not a valid tar archive: {}", chain(&e)))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("corrupt tar archive: {}", chain(&e)))?;
            let path = entry.path().map_err(|e| format!("invalid entry path: {e}"))?.into_owned();
            check_entry_path(&path)?;
            let kind = entry.header().entry_type();
            if kind.is_hard_link()
                && let Some(target) =
                    entry.link_name().map_err(|e| format!("invalid link in '{}': {e}", path.display()))?
            {
                check_entry_path(&target).map_err(|e| format!("hard link '{}': {e}", path.display()))?;
            }
            match kind {
                EntryType::Directory => directories.push(entry),
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    tracing::warn!(entry = %path.display(), "skipping a device or FIFO entry of an archive");
                }
                _ => {
                    let unpacked = entry
                        .unpack_in(dest)
                        .map_err(|e| format!("cannot unpack '{}': {}", path.display(), chain(&e)))?;
                    if !unpacked {
                        return Err(format!("the entry '{}' escapes the sandbox", path.display()));
                    }
                }
            }
        }
        directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
        for mut dir in directories {
            let path = dir.path().map(|p| p.display().to_string()).unwrap_or_default();
            dir.unpack_in(dest).map_err(|e| format!("cannot unpack '{path}': {}", chain(&e)))?;
        }
    }
    Ok(archive.into_inner())
}

/// Extracts a zip archive into `dest` with the zip crate, which keeps Unix modes, creates only
/// symlinks that resolve inside `dest` and never follows one out of it.
fn unpack_zip(path: &Path, dest: &Path) -> Result<(), String> {
    let file = open(path)?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("not a valid zip archive: {}", chain(&e)))?;
    for name in archive.file_names() {
        let name = name.map_err(|e| format!("invalid entry name: {}", chain(&e)))?;
        check_entry_path(Path::new(name.as_ref()))?;
    }
    archive.extract(dest).map_err(|e| chain(&e))
}

/// Decompresses a single `.gz` file into `dest`, without the suffix (as Mesos' `gunzip -c`).
fn gunzip(path: &Path, dest: &Path) -> Result<(), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if stem.is_empty() {
        return Err("no file name left without the .gz suffix".into());
    }
    let mut decoder = open_gzip(path)?;
    let target = dest.join(stem);
    let temp = TempFile::new(dest);
    let mut out =
        fs::File::create(&temp.path).map_err(|e| format!("cannot create '{}': {e}", temp.path.display()))?;
    io::copy(&mut decoder, &mut out).map_err(|e| format!("corrupt gzip data: {e}"))?;
    drop(out);
    temp.persist(&target).map_err(|e| format!("cannot write '{}': {e}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_names() {
        let (source, name) = parse_source("http://h:1/a/b/kafka_2.13-3.7.0.tgz?x=1").unwrap();
        assert!(matches!(source, Source::Http(_)));
        assert_eq!(name, "kafka_2.13-3.7.0.tgz");
        assert_eq!(parse_source("https://h/a%20b.txt").unwrap().1, "a b.txt");
        assert_eq!(
            parse_source("file:///tmp/x/app.zip").unwrap(),
            (Source::Local(PathBuf::from("/tmp/x/app.zip")), "app.zip".to_owned())
        );
        assert_eq!(
            parse_source("/opt/a.tar").unwrap(),
            (Source::Local(PathBuf::from("/opt/a.tar")), "a.tar".to_owned())
        );
        assert!(parse_source("http://h/").unwrap_err().contains("no file name"));
        assert!(parse_source("hdfs://nn/x.tgz").unwrap_err().contains("unsupported URI scheme 'hdfs'"));
        assert!(parse_source("relative/x.tgz").unwrap_err().contains("relative"));
        assert!(parse_source("file://otherhost/x").is_err());
        assert!(parse_source("").is_err());
    }

    #[test]
    fn output_files() {
        assert_eq!(output_path("conf/app.conf").unwrap(), PathBuf::from("conf/app.conf"));
        assert_eq!(output_path("./x").unwrap(), PathBuf::from("x"));
        assert!(output_path("../x").unwrap_err().contains(".."));
        assert!(output_path("a/../../x").is_err());
        assert!(output_path("/etc/x").unwrap_err().contains("relative"));
        assert!(output_path(".").is_err());
        assert!(output_path("").is_err());
    }

    #[test]
    fn archive_kinds() {
        let kind = |n: &str| archive_kind(Path::new(n));
        assert_eq!(kind("a.tar.gz"), Some(ArchiveKind::TarGz));
        assert_eq!(kind("a.tgz"), Some(ArchiveKind::TarGz));
        assert_eq!(kind("a.tar"), Some(ArchiveKind::Tar));
        assert_eq!(kind("a.zip"), Some(ArchiveKind::Zip));
        assert_eq!(kind("a.json.gz"), Some(ArchiveKind::Gz));
        assert_eq!(kind("a.tar.xz"), Some(ArchiveKind::Unsupported(".tar.xz")));
        assert_eq!(kind("a.jar"), None);
        assert_eq!(kind("dir/a.tgz"), Some(ArchiveKind::TarGz));
    }

    #[test]
    fn cache_names_are_stable_and_distinct() {
        let a = cache_file_name("http://h/a.tgz", "a.tgz");
        assert_eq!(a, cache_file_name("http://h/a.tgz", "a.tgz"));
        assert_ne!(a, cache_file_name("http://g/a.tgz", "a.tgz"));
        assert!(a.ends_with("-a.tgz"));
        assert!(cache_file_name("k", &"é".repeat(200)).len() <= 16 + 1 + CACHE_NAME_MAX);
    }

    #[test]
    fn entry_paths() {
        assert!(check_entry_path(Path::new("bin/run.sh")).is_ok());
        assert!(check_entry_path(Path::new("./bin/run.sh")).is_ok());
        assert!(check_entry_path(Path::new("../evil")).is_err());
        assert!(check_entry_path(Path::new("a/../../evil")).is_err());
        assert!(check_entry_path(Path::new("/etc/passwd")).is_err());
    }
}
