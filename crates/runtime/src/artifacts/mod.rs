//! Artifacts: resolving a pod's artifact sources into verified files in a content-addressed
//! cache, and serving them to agents.
//!
//! A `url` source is downloaded (http, https or file) and checked against its sha256/sha512;
//! a `maven` source is assembled by Maven into a distribution-shaped tarball; a `pypi`
//! source is a package's sdist, repacked from its root folder with extra jars and files.
//! Assembled tarballs are deterministic (`archive.rs`), so a source always gives the same
//! SHA-256 for a given herd build.
//!
//! The cache ([`Cache`]) lives in one folder:
//! - `sha256/<hex>`: blobs, named by their SHA-256; a blob appears only complete and
//!   verified (written in `tmp/`, then renamed);
//! - `index/<source_key>.json`: what a source resolved to ([`IndexEntry`]); a hit whose blob
//!   is there answers without any network;
//! - `tmp/`: work folders and partial downloads, never served, removed when a resolution
//!   ends (whether it succeeded or not);
//! - `locks/<source_key>.lock`: advisory locks, so two processes sharing the folder resolve
//!   a source once and never see each other's partial files.
//!
//! Within a process, concurrent resolutions of one source wait for the first (single
//! flight). `url` sources without a checksum are not indexed: each resolution downloads.
//!
//! Not here: putting the routes into the operator API (the runtime does), and deciding
//! which artifacts to resolve (the runtime at start, `herd artifacts fetch` ahead of time).
//!
//! Where to start: [`Cache::resolve`], then `download.rs`, `maven.rs`, `pypi.rs`.

mod archive;
mod download;
mod error;
mod maven;
mod pypi;
pub mod serve;

pub use archive::FIXED_MTIME;
pub use error::ArtifactError;
pub use serve::router;

use archive::ArchiveKind;
use download::{Downloader, Fetched, hex};
use herd_core::spec::{ArtifactSource, ArtifactSpec, MavenDir};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reports how a resolution goes (a progress bar on a terminal, log lines elsewhere).
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes (when known) for the artifact `name` starts.
    fn start(&self, name: &str, total: Option<u64>);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
    /// The transfer ended.
    fn finish(&self);
    /// A step without a byte count (running Maven, unpacking, packing) starts.
    fn step(&self, name: &str, what: &str) {
        let _ = (name, what);
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// The kind of source an artifact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Downloaded from a URL.
    Url,
    /// Assembled from a Maven repository.
    Maven,
    /// Repacked from a PyPI sdist.
    Pypi,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Url => "url",
            Self::Maven => "maven",
            Self::Pypi => "pypi",
        })
    }
}

/// What a source resolved to, as `index/<source_key>.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The artifact's name.
    pub name: String,
    /// The distribution's version (`maven`/`pypi`), if any.
    pub version: Option<String>,
    /// The file name agents should save it as (decides extraction).
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the blob, lowercase hex.
    pub sha256: String,
    /// Source kind.
    pub source: SourceKind,
    /// The source key this entry is filed under.
    pub source_key: String,
    /// When it was resolved (seconds since the Unix epoch).
    pub resolved_at: u64,
}

/// A resolved artifact: a verified blob in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The artifact's name.
    pub name: String,
    /// The distribution's version (`maven`/`pypi`), if any.
    pub version: Option<String>,
    /// The file name agents should save it as: `<name>-<version>.tar.gz` for assembled
    /// distributions, the URL's file name otherwise.
    pub file_name: String,
    /// SHA-256, lowercase hex: the blob's id.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The blob.
    pub path: PathBuf,
    /// Source kind.
    pub source: SourceKind,
}

impl Resolved {
    /// The path agents fetch it from on the scheduler's API:
    /// `/v1/artifacts/<sha256>/<file_name>` (the file name makes the fetcher extract it).
    pub fn url_path(&self) -> String {
        format!("/v1/artifacts/{}/{}", self.sha256, self.file_name)
    }

    fn from_entry(entry: IndexEntry, path: PathBuf) -> Self {
        Self {
            name: entry.name,
            version: entry.version,
            file_name: entry.file_name,
            sha256: entry.sha256,
            size: entry.size,
            path,
            source: entry.source,
        }
    }
}

/// How a cache resolves: where `mvn` is, which CA bundles to trust, how often to retry.
/// [`CacheSettings::from_env`] reads the environment (the one place that does).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `mvn` to run (default: the first on PATH). From `HERD_MVN`.
    pub mvn: Option<PathBuf>,
    /// PEM CA bundles trusted besides the web PKI roots: `SSL_CERT_FILE` if set, and the
    /// system bundle if present.
    pub ca_bundles: Vec<PathBuf>,
    /// Retries of a download after a transient failure.
    pub retries: usize,
    /// First delay between retries (doubling, jittered, at most 10 s).
    pub retry_delay: Duration,
    /// Longest wait for the next bytes of a body.
    pub read_timeout: Duration,
}

/// System CA bundles, the first present of which is trusted.
const SYSTEM_CA_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

impl Default for CacheSettings {
    /// No environment: `mvn` from PATH, the system CA bundle, 3 retries from 500 ms.
    fn default() -> Self {
        Self {
            mvn: None,
            ca_bundles: SYSTEM_CA_BUNDLES.iter().map(PathBuf::from).filter(|p| p.is_file()).take(1).collect(),
            retries: 3,
            retry_delay: Duration::from_millis(500),
            read_timeout: Duration::from_secs(120),
        }
    }
}

impl CacheSettings {
    /// Defaults, with `HERD_MVN` and `SSL_CERT_FILE` from the environment.
    pub fn from_env() -> Self {
        let mut settings = Self {
            mvn: std::env::var_os("HERD_MVN").filter(|v| !v.is_empty()).map(PathBuf::from),
            ..Self::default()
        };
        if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
            settings.ca_bundles.insert(0, PathBuf::from(file));
        }
        settings
    }
}

/// One in-flight resolution per source key.
type Flights = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// The content-addressed artifact cache (see the module docs for its layout).
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    settings: CacheSettings,
    http: Downloader,
    flights: Flights,
}

/// `rel` under `root`, refusing absolute paths and `..`.
fn inside(name: &str, root: &Path, rel: &str) -> Result<PathBuf, ArtifactError> {
    let path = Path::new(rel);
    let safe = !rel.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !safe {
        return Err(ArtifactError::UnsafePath { name: name.to_owned(), path: rel.to_owned() });
    }
    Ok(root.join(path))
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The file name of a URL's path (before any query).
fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().filter(|f| !f.is_empty()).map(str::to_owned)
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ArtifactError::Io {
            action: "run",
            path: PathBuf::from("blocking task"),
            source: std::io::Error::other(e),
        })
    })
}

impl Cache {
    /// Opens (creating) the cache in `dir`, with settings from the environment.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ArtifactError> {
        Self::open_with(dir, CacheSettings::from_env())
    }

    /// Opens (creating) the cache in `dir` with `settings`.
    pub fn open_with(dir: impl Into<PathBuf>, settings: CacheSettings) -> Result<Self, ArtifactError> {
        let dir = dir.into();
        for sub in ["sha256", "index", "tmp", "locks"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(ArtifactError::io("create", &path))?;
        }
        let http = Downloader::new(&settings)?;
        Ok(Self { dir, settings, http, flights: Mutex::new(HashMap::new()) })
    }

    /// The cache's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blob with this SHA-256 (64 lowercase hex digits), if the cache has it.
    pub fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.dir.join("sha256").join(sha256);
        (serve::is_blob_id(sha256) && path.is_file()).then_some(path)
    }

    /// Stores `bytes` (a file a user uploaded: a Spark application's jar...) as a blob;
    /// its SHA-256, under which `/v1/artifacts/{sha256}/{file_name}` serves it. Storing the
    /// same bytes twice is harmless.
    pub async fn put_bytes(&self, bytes: bytes::Bytes) -> Result<String, ArtifactError> {
        let dir = self.dir.clone();
        blocking(move || {
            use sha2::Digest as _;
            let sha256 = hex(&sha2::Sha256::digest(&bytes));
            let target = dir.join("sha256").join(&sha256);
            if target.is_file() {
                return Ok(sha256);
            }
            let tmp = dir.join("tmp");
            let mut file =
                tempfile::NamedTempFile::new_in(&tmp).map_err(ArtifactError::io("create a file in", &tmp))?;
            std::io::Write::write_all(&mut file, &bytes).map_err(ArtifactError::io("write", file.path()))?;
            file.persist(&target).map_err(|e| ArtifactError::io("store", &target)(e.error))?;
            Ok(sha256)
        })
        .await
    }

    /// What `artifact` resolved to before, if the index has it and its blob is there; no
    /// network. `url` sources without a checksum are never indexed.
    pub fn lookup(&self, artifact: &ArtifactSpec) -> Option<Resolved> {
        self.lookup_key(&artifact.source_key())
    }

    fn index_path(&self, key: &str) -> PathBuf {
        self.dir.join("index").join(format!("{key}.json"))
    }

    fn lookup_key(&self, key: &str) -> Option<Resolved> {
        let text = std::fs::read(self.index_path(key)).ok()?;
        let entry: IndexEntry = match serde_json::from_slice(&text) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(key, "ignoring an unreadable index entry: {e}");
                return None;
            }
        };
        let path = self.blob_path(&entry.sha256)?;
        let size = std::fs::metadata(&path).ok()?.len();
        (size == entry.size).then(|| Resolved::from_entry(entry, path))
    }

    /// Resolves `artifact` into a verified blob: from the index when it has the source,
    /// else by downloading or assembling it (once, however many callers ask at the same
    /// time, in this process or another sharing the folder). On error nothing is cached.
    pub async fn resolve(
        &self,
        artifact: &ArtifactSpec,
        progress: &dyn Progress,
    ) -> Result<Resolved, ArtifactError> {
        let name = artifact.display_name();
        let source = artifact.source().ok_or_else(|| ArtifactError::InvalidSource {
            name: name.clone(),
            problem: match [artifact.url.is_some(), artifact.maven.is_some(), artifact.pypi.is_some()] {
                [false, false, false] => "none is set".to_owned(),
                _ => "several are set".to_owned(),
            },
        })?;
        let key = artifact.source_key();
        let indexed = !matches!(source, ArtifactSource::Url { sha256: None, sha512: None, .. });
        if indexed && let Some(hit) = self.lookup_key(&key) {
            return Ok(hit);
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let result = {
            let _turn = flight.lock().await;
            self.resolve_locked(artifact, source, &name, &key, indexed, progress).await
        };
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        // Only this map and its callers hold the flight: nobody waits on it any more.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&key);
        }
        result
    }

    /// Takes the cross-process lock of `key` (released when the file is dropped).
    async fn lock_file(&self, key: &str) -> Result<std::fs::File, ArtifactError> {
        let path = self.dir.join("locks").join(format!("{key}.lock"));
        blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(ArtifactError::io("open", &path))?;
            file.lock().map_err(ArtifactError::io("lock", &path))?;
            Ok(file)
        })
        .await
    }

    /// Removes work folders of `key` left by a process that died mid-resolution (whoever
    /// holds the key's lock, as the caller does, owns every `tmp/<key>.*`).
    fn remove_stale_work(&self, key: &str) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&format!("{key}.")) {
                tracing::info!(path = %entry.path().display(), "removing an abandoned work folder");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    async fn resolve_locked(
        &self,
        artifact: &ArtifactSpec,
        source: ArtifactSource<'_>,
        name: &str,
        key: &str,
        indexed: bool,
        progress: &dyn Progress,
    ) -> Result<Resolved, ArtifactError> {
        let _lock = self.lock_file(key).await?;
        // Another caller (or process) may have resolved it while this one waited.
        if indexed && let Some(hit) = self.lookup_key(key) {
            return Ok(hit);
        }
        let tmp = self.dir.join("tmp");
        self.remove_stale_work(key);
        let work = tempfile::Builder::new()
            .prefix(&format!("{key}."))
            .tempdir_in(&tmp)
            .map_err(ArtifactError::io("create a work folder in", &tmp))?;
        let (entry_kind, version, file_name, file, fetched) = match source {
            ArtifactSource::Url { url, sha256, sha512 } => {
                let file_name = artifact
                    .output_file
                    .as_deref()
                    .and_then(|f| f.rsplit('/').next())
                    .map(str::to_owned)
                    .or_else(|| url_file_name(url))
                    .unwrap_or_else(|| name.to_owned());
                let file = work.path().join("download");
                let fetched =
                    self.fetch_url(artifact, name, url, sha256, sha512, &file, &file_name, progress).await?;
                (SourceKind::Url, None, file_name, file, fetched)
            }
            ArtifactSource::Maven(maven) => {
                let top = format!("{name}-{}", maven.version);
                let dist = work.path().join("dist");
                std::fs::create_dir_all(&dist).map_err(ArtifactError::io("create", &dist))?;
                progress.step(name, "assembling with Maven");
                maven::copy_dirs(
                    self.settings.mvn.as_deref(),
                    name,
                    maven.repository.as_deref(),
                    &maven.dirs,
                    &dist,
                    work.path(),
                )
                .await?;
                let (file, fetched) =
                    self.finish_distribution(name, &top, &dist, &maven.files, work.path(), progress).await?;
                (SourceKind::Maven, Some(maven.version.clone()), format!("{top}.tar.gz"), file, fetched)
            }
            ArtifactSource::Pypi(pypi) => {
                let top = format!("{name}-{}", pypi.version);
                let root = self.unpack_sdist(name, pypi, work.path(), progress).await?;
                self.add_maven_dirs(name, &pypi.dirs, &root, work.path(), progress).await?;
                let (file, fetched) =
                    self.finish_distribution(name, &top, &root, &pypi.files, work.path(), progress).await?;
                (SourceKind::Pypi, Some(pypi.version.clone()), format!("{top}.tar.gz"), file, fetched)
            }
        };
        let blob = self.dir.join("sha256").join(&fetched.sha256);
        std::fs::rename(&file, &blob).map_err(ArtifactError::io("move into the cache", &blob))?;
        let entry = IndexEntry {
            name: name.to_owned(),
            version,
            file_name,
            size: fetched.size,
            sha256: fetched.sha256.clone(),
            source: entry_kind,
            source_key: key.to_owned(),
            resolved_at: now_secs(),
        };
        if indexed {
            let staged = work.path().join("index.json");
            let json = serde_json::to_vec_pretty(&entry).unwrap_or_default();
            std::fs::write(&staged, json).map_err(ArtifactError::io("write", &staged))?;
            let index = self.index_path(key);
            std::fs::rename(&staged, &index).map_err(ArtifactError::io("write", &index))?;
        }
        tracing::info!(artifact = name, sha256 = %entry.sha256, size = entry.size, "resolved");
        Ok(Resolved::from_entry(entry, blob))
    }

    /// Downloads a `url` source into `file`, verifying checksums and, for an archive that
    /// will be extracted, that it reads to the end.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_url(
        &self,
        artifact: &ArtifactSpec,
        name: &str,
        url: &str,
        sha256: Option<&str>,
        sha512: Option<&str>,
        file: &Path,
        file_name: &str,
        progress: &dyn Progress,
    ) -> Result<Fetched, ArtifactError> {
        let fetched = self.http.fetch(name, url, file, sha512.is_some(), progress).await?;
        let checks = [("sha256", sha256, Some(&fetched.sha256)), ("sha512", sha512, fetched.sha512.as_ref())];
        for (algorithm, expected, actual) in checks {
            let (Some(expected), Some(actual)) = (expected, actual) else { continue };
            if !expected.eq_ignore_ascii_case(actual) {
                return Err(ArtifactError::ChecksumMismatch {
                    name: name.to_owned(),
                    what: url.to_owned(),
                    algorithm,
                    expected: expected.to_ascii_lowercase(),
                    actual: actual.clone(),
                });
            }
        }
        let kind = ArchiveKind::of(file_name).filter(|_| artifact.extract && !artifact.executable);
        if let Some(kind) = kind {
            progress.step(name, "checking the archive");
            let path = file.to_owned();
            let checked = blocking(move || Ok(archive::check(&path, kind))).await?;
            checked.map_err(|cause| ArtifactError::CorruptArchive { name: name.to_owned(), cause })?;
        }
        Ok(fetched)
    }

    /// Downloads and unpacks a pypi source's sdist; returns the distribution root.
    async fn unpack_sdist(
        &self,
        name: &str,
        pypi: &herd_core::spec::PypiSource,
        work: &Path,
        progress: &dyn Progress,
    ) -> Result<PathBuf, ArtifactError> {
        let sdist = pypi::find_sdist(&self.http, name, pypi).await?;
        let pinned = pypi.sha256.as_deref().map(str::to_ascii_lowercase);
        if let (Some(pinned), Some(published)) = (&pinned, &sdist.sha256)
            && pinned != published
        {
            return Err(ArtifactError::ChecksumMismatch {
                name: name.to_owned(),
                what: format!(
                    "pinned pypi.sha256 of {} vs the digest {} publishes",
                    sdist.filename,
                    pypi::index_of(pypi)
                ),
                algorithm: "sha256",
                expected: pinned.clone(),
                actual: published.clone(),
            });
        }
        let Some(expected) = pinned.or(sdist.sha256.clone()) else {
            return Err(ArtifactError::PypiNoDigest { name: name.to_owned(), url: sdist.url });
        };
        let download = work.join("sdist");
        let fetched = self.http.fetch(name, &sdist.url, &download, false, progress).await?;
        if fetched.sha256 != expected {
            return Err(ArtifactError::ChecksumMismatch {
                name: name.to_owned(),
                what: sdist.url.clone(),
                algorithm: "sha256",
                expected,
                actual: fetched.sha256,
            });
        }
        let kind = ArchiveKind::of(&sdist.filename).ok_or_else(|| ArtifactError::CorruptArchive {
            name: name.to_owned(),
            cause: format!("{} is not a .tar.gz, .tar or .zip source archive", sdist.filename),
        })?;
        progress.step(name, "unpacking the source archive");
        let unpacked = work.join("sdist-unpacked");
        let (archive_path, into) = (download.clone(), unpacked.clone());
        let owned_name = name.to_owned();
        blocking(move || {
            std::fs::create_dir_all(&into).map_err(ArtifactError::io("create", &into))?;
            archive::unpack(&archive_path, kind, &into)
                .map_err(|cause| ArtifactError::CorruptArchive { name: owned_name, cause })
        })
        .await?;
        let entries = |dir: &Path| -> Result<Vec<(String, bool)>, ArtifactError> {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(ArtifactError::io("read", dir))? {
                let entry = entry.map_err(ArtifactError::io("read", dir))?;
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
            }
            names.sort();
            Ok(names)
        };
        let top_level = entries(&unpacked)?;
        let top = match top_level.as_slice() {
            [(single, true)] => unpacked.join(single),
            _ => unpacked,
        };
        let Some(root) = &pypi.root else { return Ok(top) };
        let root_path = inside(name, &top, root)?;
        if !root_path.is_dir() {
            let found = entries(&top)?
                .into_iter()
                .map(|(n, d)| if d { format!("{n}/") } else { n })
                .collect::<Vec<_>>();
            return Err(ArtifactError::PypiRoot {
                name: name.to_owned(),
                root: root.clone(),
                found: found.join(", "),
            });
        }
        Ok(root_path)
    }

    async fn add_maven_dirs(
        &self,
        name: &str,
        dirs: &[MavenDir],
        dist: &Path,
        work: &Path,
        progress: &dyn Progress,
    ) -> Result<(), ArtifactError> {
        if dirs.is_empty() {
            return Ok(());
        }
        progress.step(name, "adding jars with Maven");
        maven::copy_dirs(self.settings.mvn.as_deref(), name, None, dirs, dist, work).await
    }

    /// Writes `files` into `dist` and packs it as `<top>/` into a deterministic tarball.
    async fn finish_distribution(
        &self,
        name: &str,
        top: &str,
        dist: &Path,
        files: &BTreeMap<String, String>,
        work: &Path,
        progress: &dyn Progress,
    ) -> Result<(PathBuf, Fetched), ArtifactError> {
        for (rel, content) in files {
            let path = inside(name, dist, rel)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(ArtifactError::io("create", parent))?;
            }
            std::fs::write(&path, content).map_err(ArtifactError::io("write", &path))?;
        }
        progress.step(name, "packing");
        let out = work.join("packed.tar.gz");
        let (root, top_owned, dest) = (dist.to_owned(), top.to_owned(), out.clone());
        let fetched = blocking(move || {
            archive::pack(&root, &top_owned, &dest).map_err(ArtifactError::io("pack", &root))
        })
        .await?;
        Ok((out, fetched))
    }
}
