//! The artifact cache against a small HTTP file server on 127.0.0.1 (which counts requests
//! and can misbehave: cut bodies, bytes that are no archive, slow answers), a fake PyPI
//! index, and, for the real thing, Maven Central and PyPI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herd_core::spec::{ArtifactSpec, MavenDir, MavenSource, PypiSource};
use herd_runtime::artifacts::{
    ArtifactError, Cache, CacheSettings, NoProgress, Resolved, SourceKind, router,
};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bound on every test's waiting (the real Maven and PyPI ones included).
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

// ---- A file server that counts and misbehaves --------------------------------------------

#[derive(Clone)]
enum Reply {
    /// 200 with these bytes.
    Bytes(Vec<u8>),
    /// 200 with these bytes, after a delay.
    Slow(Vec<u8>, Duration),
    /// Declares `declared` bytes, sends `body`, then drops the connection.
    Truncated { body: Vec<u8>, declared: usize },
    /// This status, no body.
    Status(StatusCode),
}

struct ServerState {
    routes: HashMap<String, Reply>,
    hits: Mutex<HashMap<String, usize>>,
}

struct FileServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn reply(State(state): State<Arc<ServerState>>, uri: Uri) -> Response {
    // A proxy gets absolute URIs; a server, paths: count both by path.
    let path = uri.path().to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    match state.routes.get(&path).cloned() {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Reply::Status(status)) => status.into_response(),
        Some(Reply::Bytes(body)) => body.into_response(),
        Some(Reply::Slow(body, delay)) => {
            tokio::time::sleep(delay).await;
            body.into_response()
        }
        Some(Reply::Truncated { body, declared }) => {
            use futures_util::StreamExt;
            // The head and the first bytes go out; a moment later the connection is dropped.
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(std::io::Error::other("connection cut on purpose"))
            });
            (
                [(header::CONTENT_LENGTH, declared.to_string())],
                axum::body::Body::from_stream(first.chain(cut)),
            )
                .into_response()
        }
    }
}

impl FileServer {
    async fn start(routes: impl IntoIterator<Item = (&'static str, Reply)>) -> Self {
        let state = Arc::new(ServerState {
            routes: routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect(),
            hits: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(reply).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

// ---- Helpers -----------------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha512_hex(bytes: &[u8]) -> String {
    sha2::Sha512::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Fast retries: one retry after 10 ms.
fn settings() -> CacheSettings {
    CacheSettings { retries: 1, retry_delay: Duration::from_millis(10), ..CacheSettings::default() }
}

fn open(dir: &Path) -> Cache {
    Cache::open_with(dir, settings()).unwrap()
}

/// A small valid `.tar.gz` with `files` (path, content).
fn tar_gz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn hello_tar_gz() -> Vec<u8> {
    tar_gz(&[("hello/bin/hello", b"#!/bin/sh\necho hello\n", 0o755), ("hello/README", b"hi\n", 0o644)])
}

/// Paths and modes of a `.tar.gz` file's entries (folders end with `/`).
fn entries(path: &Path) -> BTreeMap<String, u32> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let mut name = entry.path().unwrap().display().to_string();
        if entry.header().entry_type().is_dir() && !name.ends_with('/') {
            name.push('/');
        }
        out.insert(name, entry.header().mode().unwrap());
    }
    out
}

/// Content of one entry of a `.tar.gz` file.
fn entry_content(path: &Path, wanted: &str) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().display().to_string() == wanted {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            return Some(content);
        }
    }
    None
}

/// Every file in the cache's blob, index and tmp folders.
fn cached_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for sub in ["sha256", "index", "tmp"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            files.push(format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy()));
        }
    }
    files
}

fn url_artifact(url: String, sha256: Option<String>) -> ArtifactSpec {
    let mut artifact = ArtifactSpec::from_url(url);
    artifact.sha256 = sha256;
    artifact
}

/// A plain client for 127.0.0.1 (no proxy).
fn http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder().no_proxy().tls_backend_preconfigured(tls).build().unwrap()
}

async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test).await.expect("the test took too long")
}

// ---- url sources -------------------------------------------------------------------------

#[tokio::test]
async fn a_pinned_url_artifact_is_downloaded_once_then_answered_from_the_index() {
    within(async {
        let body = hello_tar_gz();
        let server = FileServer::start([("/hello.tar.gz", Reply::Bytes(body.clone()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let artifact = url_artifact(server.url("/hello.tar.gz"), Some(sha256_hex(&body)));
        assert_eq!(cache.lookup(&artifact), None);

        let resolved = cache.resolve(&artifact, &NoProgress).await.unwrap();
        assert_eq!(resolved.sha256, sha256_hex(&body));
        assert_eq!(resolved.size, body.len() as u64);
        assert_eq!((resolved.name.as_str(), resolved.file_name.as_str()), ("hello.tar.gz", "hello.tar.gz"));
        assert_eq!(resolved.source, SourceKind::Url);
        assert_eq!(resolved.path, dir.path().join("sha256").join(&resolved.sha256));
        assert_eq!(std::fs::read(&resolved.path).unwrap(), body);
        assert_eq!(server.hits("/hello.tar.gz"), 1);

        assert_eq!(cache.resolve(&artifact, &NoProgress).await.unwrap(), resolved);
        assert_eq!(cache.lookup(&artifact), Some(resolved.clone()));
        // Another process opening the same folder finds it too.
        let again = open(dir.path()).resolve(&artifact, &NoProgress).await.unwrap();
        assert_eq!(again, resolved);
        assert_eq!(server.hits("/hello.tar.gz"), 1, "index hits make no request");
        assert!(cached_files(dir.path()).iter().all(|f| !f.starts_with("tmp/")), "tmp/ is left empty");
    })
    .await;
}

#[tokio::test]
async fn a_work_folder_left_by_a_dead_process_is_removed_by_the_next_resolution() {
    within(async {
        let body = hello_tar_gz();
        let server = FileServer::start([("/hello.tar.gz", Reply::Bytes(body.clone()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let artifact = url_artifact(server.url("/hello.tar.gz"), Some(sha256_hex(&body)));
        let stale = dir.path().join("tmp").join(format!("{}.dead1", artifact.source_key()));
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("download"), &body[..10]).unwrap();
        let other = dir.path().join("tmp").join("someone-else.x");
        std::fs::create_dir_all(&other).unwrap();
        cache.resolve(&artifact, &NoProgress).await.unwrap();
        assert!(!stale.exists(), "the abandoned work folder of this source is gone");
        assert!(other.exists(), "other sources' work folders are not touched");
    })
    .await;
}

#[tokio::test]
async fn a_url_artifact_without_a_checksum_is_downloaded_every_time() {
    within(async {
        let server = FileServer::start([("/tool", Reply::Bytes(b"#!/bin/sh\n".to_vec()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let artifact = url_artifact(server.url("/tool"), None);
        cache.resolve(&artifact, &NoProgress).await.unwrap();
        cache.resolve(&artifact, &NoProgress).await.unwrap();
        assert_eq!(server.hits("/tool"), 2);
        assert_eq!(cache.lookup(&artifact), None, "nothing to pin it: not indexed");
    })
    .await;
}

#[tokio::test]
async fn a_wrong_checksum_names_both_digests_and_caches_nothing() {
    within(async {
        let body = hello_tar_gz();
        let server = FileServer::start([("/hello.tar.gz", Reply::Bytes(body.clone()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let wrong = "0".repeat(64);
        let mut artifact = url_artifact(server.url("/hello.tar.gz"), Some(wrong.clone()));
        artifact.name = Some("hello".to_owned());
        let err = cache.resolve(&artifact, &NoProgress).await.unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{err:?}");
        let text = err.to_string();
        for part in ["`hello`", &wrong, &sha256_hex(&body), "sha256", "nothing was cached"] {
            assert!(text.contains(part), "{text:?} does not mention {part:?}");
        }
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());

        // SHA-512 is checked too, when given.
        artifact.sha256 = Some(sha256_hex(&body));
        artifact.sha512 = Some("f".repeat(128));
        let text = cache.resolve(&artifact, &NoProgress).await.unwrap_err().to_string();
        assert!(text.contains("sha512") && text.contains(&sha512_hex(&body)), "{text}");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());
        artifact.sha512 = Some(sha512_hex(&body).to_uppercase());
        cache.resolve(&artifact, &NoProgress).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_truncated_download_fails_after_its_retry_and_caches_nothing() {
    within(async {
        let body = hello_tar_gz();
        let cut = Reply::Truncated { body: body[..body.len() / 2].to_vec(), declared: body.len() };
        let server = FileServer::start([("/hello.tar.gz", cut)]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let mut artifact = url_artifact(server.url("/hello.tar.gz"), Some(sha256_hex(&body)));
        artifact.name = Some("hello".to_owned());
        let err = cache.resolve(&artifact, &NoProgress).await.unwrap_err();
        let expected = format!(
            "truncated download of `hello` from {}: got {} of {} bytes",
            server.url("/hello.tar.gz"),
            body.len() / 2,
            body.len()
        );
        assert!(err.to_string().starts_with(&expected), "{err}");
        assert_eq!(server.hits("/hello.tar.gz"), 2, "one retry (settings: retries = 1)");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_server_error_is_retried_and_a_missing_file_is_not() {
    within(async {
        let server = FileServer::start([
            ("/busy.tgz", Reply::Status(StatusCode::SERVICE_UNAVAILABLE)),
            ("/gone.tgz", Reply::Status(StatusCode::NOT_FOUND)),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let err = cache.resolve(&url_artifact(server.url("/busy.tgz"), None), &NoProgress).await.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        assert_eq!(server.hits("/busy.tgz"), 2);
        let err = cache.resolve(&url_artifact(server.url("/gone.tgz"), None), &NoProgress).await.unwrap_err();
        assert!(
            err.to_string().contains("cannot download `gone.tgz`") && err.to_string().contains("404"),
            "{err}"
        );
        assert_eq!(server.hits("/gone.tgz"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_archive_is_refused_when_it_would_be_extracted() {
    within(async {
        let junk = b"<html><body>Please log in</body></html>".to_vec();
        let server = FileServer::start([("/kafka.tgz", Reply::Bytes(junk.clone()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let mut artifact = url_artifact(server.url("/kafka.tgz"), Some(sha256_hex(&junk)));
        artifact.name = Some("kafka".to_owned());
        let err = cache.resolve(&artifact, &NoProgress).await.unwrap_err();
        assert!(matches!(err, ArtifactError::CorruptArchive { .. }), "{err:?}");
        assert!(err.to_string().starts_with("corrupt archive `kafka`: "), "{err}");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());

        // A truncated but complete-looking download (the server lied about nothing) of a
        // real archive is caught the same way.
        let body = hello_tar_gz();
        let half = body[..body.len() - 20].to_vec();
        let server = FileServer::start([("/half.tar.gz", Reply::Bytes(half.clone()))]).await;
        let artifact = url_artifact(server.url("/half.tar.gz"), Some(sha256_hex(&half)));
        let err = cache.resolve(&artifact, &NoProgress).await.unwrap_err();
        assert!(err.to_string().starts_with("corrupt archive `half.tar.gz`"), "{err}");

        // Not extracted: not checked.
        let mut raw = url_artifact(server.url("/half.tar.gz"), Some(sha256_hex(&half)));
        raw.extract = false;
        assert_eq!(cache.resolve(&raw, &NoProgress).await.unwrap().size, half.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn a_file_url_is_copied_and_verified() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let body = hello_tar_gz();
        let source = dir.path().join("hello.tar.gz");
        std::fs::write(&source, &body).unwrap();
        let cache = open(&dir.path().join("cache"));
        let url = format!("file://{}", source.display());
        let resolved =
            cache.resolve(&url_artifact(url.clone(), Some(sha256_hex(&body))), &NoProgress).await.unwrap();
        assert_eq!(std::fs::read(resolved.path).unwrap(), body);
        let err = cache.resolve(&url_artifact(url, Some("1".repeat(64))), &NoProgress).await.unwrap_err();
        assert!(err.to_string().contains(&sha256_hex(&body)), "{err}");
        let missing = format!("file://{}", dir.path().join("nope.tgz").display());
        let err = cache.resolve(&url_artifact(missing, None), &NoProgress).await.unwrap_err();
        assert!(err.to_string().contains("cannot download `nope.tgz`"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn concurrent_resolutions_of_one_source_download_once() {
    within(async {
        let body = hello_tar_gz();
        let slow = Reply::Slow(body.clone(), Duration::from_millis(300));
        let server = FileServer::start([("/hello.tar.gz", slow)]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(open(dir.path()));
        let artifact = url_artifact(server.url("/hello.tar.gz"), Some(sha256_hex(&body)));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, artifact) = (Arc::clone(&cache), artifact.clone());
            tasks.push(tokio::spawn(async move { cache.resolve(&artifact, &NoProgress).await }));
        }
        let mut results: Vec<Resolved> = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().unwrap());
        }
        assert!(results.iter().all(|r| *r == results[0]));
        assert_eq!(server.hits("/hello.tar.gz"), 1);
    })
    .await;
}

// ---- Serving -----------------------------------------------------------------------------

#[tokio::test]
async fn the_serve_route_streams_blobs_and_explains_bad_ids() {
    within(async {
        let body = hello_tar_gz();
        let server = FileServer::start([("/hello.tar.gz", Reply::Bytes(body.clone()))]).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(open(dir.path()));
        let resolved = cache
            .resolve(&url_artifact(server.url("/hello.tar.gz"), Some(sha256_hex(&body))), &NoProgress)
            .await
            .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(Arc::clone(&cache));
        let api = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = http_client();
        let base = format!("http://{addr}");

        let response = client.get(format!("{base}/v1/artifacts/{}", resolved.sha256)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(response.headers()[header::CONTENT_LENGTH], body.len().to_string().as_str());
        assert_eq!(response.bytes().await.unwrap(), body);

        let named = client.get(format!("{base}{}", resolved.url_path())).send().await.unwrap();
        assert_eq!(resolved.url_path(), format!("/v1/artifacts/{}/hello.tar.gz", resolved.sha256));
        assert_eq!(named.bytes().await.unwrap(), body);

        let head = client.head(format!("{base}/v1/artifacts/{}", resolved.sha256)).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], body.len().to_string().as_str());
        assert!(head.bytes().await.unwrap().is_empty());

        for bad in ["xyz", &resolved.sha256.to_uppercase(), &format!("{}0", resolved.sha256)] {
            let response = client.get(format!("{base}/v1/artifacts/{bad}")).send().await.unwrap();
            assert_eq!(response.status(), 400, "{bad}");
            let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            let error = json["error"].as_str().unwrap();
            assert!(
                error.contains("not an artifact id") && error.contains("64 lowercase hex digits"),
                "{error}"
            );
        }
        let unknown = "a".repeat(64);
        let response = client.get(format!("{base}/v1/artifacts/{unknown}")).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(json["error"].as_str().unwrap().contains(&format!("no artifact {unknown}")), "{json}");
        api.abort();
    })
    .await;
}

// ---- pypi sources against a fake index ---------------------------------------------------

fn demo_sdist() -> Vec<u8> {
    tar_gz(&[
        ("demo-1.0/setup.py", b"# setup\n", 0o644),
        ("demo-1.0/deps/bin/run", b"#!/bin/sh\n", 0o644),
        ("demo-1.0/deps/jars/demo.jar", b"PK-not-really", 0o644),
    ])
}

fn demo_source(index: String, root: Option<&str>) -> ArtifactSpec {
    let mut artifact = ArtifactSpec::from_url("");
    artifact.url = None;
    artifact.name = Some("demo-dist".to_owned());
    artifact.pypi = Some(PypiSource {
        package: "demo".to_owned(),
        version: "1.0".to_owned(),
        sha256: None,
        index: Some(index),
        root: root.map(str::to_owned),
        dirs: Vec::new(),
        files: [("conf/demo.conf".to_owned(), "x = 1\n".to_owned())].into(),
    });
    artifact
}

/// An index that serves only the project document (the version document is a 404), with a
/// relative file URL, as some mirrors do.
async fn demo_index() -> FileServer {
    let sdist = demo_sdist();
    let project = serde_json::json!({
        "info": { "name": "demo" },
        "releases": {
            "0.9": [],
            "1.0": [
                { "filename": "demo-1.0-py3-none-any.whl", "packagetype": "bdist_wheel",
                  "url": "../../files/demo.whl", "digests": { "sha256": "0".repeat(64) } },
                { "filename": "demo-1.0.tar.gz", "packagetype": "sdist",
                  "url": "../../files/demo-1.0.tar.gz", "digests": { "sha256": sha256_hex(&sdist) } }
            ]
        }
    });
    FileServer::start([
        ("/pypi/demo/json", Reply::Bytes(project.to_string().into_bytes())),
        ("/files/demo-1.0.tar.gz", Reply::Bytes(sdist)),
    ])
    .await
}

#[tokio::test]
async fn a_pypi_source_is_repacked_from_its_root_with_extra_files() {
    within(async {
        let index = demo_index().await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let artifact = demo_source(index.url("/pypi"), Some("deps"));
        let resolved = cache.resolve(&artifact, &NoProgress).await.unwrap();
        assert_eq!(index.hits("/pypi/demo/1.0/json"), 1, "the version document is asked first");
        assert_eq!(resolved.source, SourceKind::Pypi);
        assert_eq!(resolved.version.as_deref(), Some("1.0"));
        assert_eq!(resolved.file_name, "demo-dist-1.0.tar.gz");
        let expected: BTreeMap<String, u32> = [
            ("demo-dist-1.0/", 0o755),
            ("demo-dist-1.0/bin/", 0o755),
            ("demo-dist-1.0/bin/run", 0o755),
            ("demo-dist-1.0/conf/", 0o755),
            ("demo-dist-1.0/conf/demo.conf", 0o644),
            ("demo-dist-1.0/jars/", 0o755),
            ("demo-dist-1.0/jars/demo.jar", 0o644),
        ]
        .into_iter()
        .map(|(p, m)| (p.to_owned(), m))
        .collect();
        assert_eq!(entries(&resolved.path), expected);
        assert_eq!(entry_content(&resolved.path, "demo-dist-1.0/conf/demo.conf").unwrap(), b"x = 1\n");

        // Same source, empty cache: the same bytes.
        let other = open(&dir.path().join("other"));
        assert_eq!(other.resolve(&artifact, &NoProgress).await.unwrap().sha256, resolved.sha256);
        // Without a root, the sdist's top folder is the distribution.
        let whole = cache.resolve(&demo_source(index.url("/pypi"), None), &NoProgress).await.unwrap();
        assert!(entries(&whole.path).contains_key("demo-dist-1.0/deps/jars/demo.jar"));
    })
    .await;
}

#[tokio::test]
async fn pypi_mistakes_are_named_with_the_fix() {
    within(async {
        let index = demo_index().await;
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());

        let mut missing = demo_source(index.url("/pypi"), None);
        missing.pypi.as_mut().unwrap().version = "2.0".to_owned();
        let err = cache.resolve(&missing, &NoProgress).await.unwrap_err().to_string();
        assert!(err.contains("demo has no version 2.0") && err.contains("known: 1.0, 0.9"), "{err}");

        let mut no_sdist = demo_source(index.url("/pypi"), None);
        no_sdist.pypi.as_mut().unwrap().version = "0.9".to_owned();
        let err = cache.resolve(&no_sdist, &NoProgress).await.unwrap_err().to_string();
        assert!(err.contains("has no source archive (sdist)"), "{err}");

        let err =
            cache.resolve(&demo_source(index.url("/pypi"), Some("lib")), &NoProgress).await.unwrap_err();
        let err = err.to_string();
        assert!(err.contains("no folder \"lib\"") && err.contains("deps/, setup.py"), "{err}");

        let mut pinned = demo_source(index.url("/pypi"), None);
        pinned.pypi.as_mut().unwrap().sha256 = Some("e".repeat(64));
        let err = cache.resolve(&pinned, &NoProgress).await.unwrap_err().to_string();
        assert!(err.contains(&"e".repeat(64)) && err.contains(&sha256_hex(&demo_sdist())), "{err}");
        assert_eq!(index.hits("/files/demo-1.0.tar.gz"), 1, "only the root mistake downloaded the sdist");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());
    })
    .await;
}

// ---- maven sources -----------------------------------------------------------------------

fn zk_jute(name: &str) -> ArtifactSpec {
    let mut artifact = ArtifactSpec::from_url("");
    artifact.url = None;
    artifact.name = Some(name.to_owned());
    artifact.maven = Some(MavenSource {
        version: "3.9.5".to_owned(),
        repository: None,
        dirs: vec![MavenDir {
            path: "libs".to_owned(),
            coordinates: vec!["org.apache.zookeeper:zookeeper-jute:3.9.5".to_owned()],
            exclude: Vec::new(),
            transitive: false,
        }],
        files: [("conf/README".to_owned(), "assembled by herd\n".to_owned())].into(),
    });
    artifact
}

#[tokio::test]
async fn a_maven_source_needs_mvn_and_says_so() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let settings = CacheSettings { mvn: Some(dir.path().join("no-mvn-here")), ..settings() };
        let cache = Cache::open_with(dir.path().join("cache"), settings).unwrap();
        let err = cache.resolve(&zk_jute("jute"), &NoProgress).await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "maven source `jute` needs Maven (`mvn`) on this machine; install it, or pre-fill the cache \
                 with `herd artifacts fetch` elsewhere, or use a url source"
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_maven_source_is_assembled_from_maven_central_deterministically() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir.path().join("one"));
        let resolved = cache.resolve(&zk_jute("jute"), &NoProgress).await.unwrap();
        assert_eq!((resolved.source, resolved.file_name.as_str()), (SourceKind::Maven, "jute-3.9.5.tar.gz"));
        let names = entries(&resolved.path);
        assert!(names.contains_key("jute-3.9.5/libs/zookeeper-jute-3.9.5.jar"), "{names:?}");
        assert_eq!(names.keys().filter(|n| n.ends_with(".jar")).count(), 1, "transitive = false: {names:?}");
        assert_eq!(entry_content(&resolved.path, "jute-3.9.5/conf/README").unwrap(), b"assembled by herd\n");
        let jar = entry_content(&resolved.path, "jute-3.9.5/libs/zookeeper-jute-3.9.5.jar").unwrap();
        assert_eq!(&jar[..2], b"PK", "a real jar");

        let other = open(&dir.path().join("two"));
        assert_eq!(other.resolve(&zk_jute("jute"), &NoProgress).await.unwrap().sha256, resolved.sha256);
    })
    .await;
}

#[tokio::test]
async fn a_maven_failure_shows_what_maven_said() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let mut artifact = zk_jute("ghost");
        artifact.maven.as_mut().unwrap().dirs[0].coordinates =
            vec!["org.example.herd:does-not-exist:1.0".to_owned()];
        let err = cache.resolve(&artifact, &NoProgress).await.unwrap_err();
        assert!(matches!(err, ArtifactError::MavenFailed { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("maven could not assemble `ghost` (dir libs"), "{text}");
        assert!(text.contains("does-not-exist"), "Maven's own words are shown: {text}");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());
    })
    .await;
}

// ---- pypi sources from PyPI --------------------------------------------------------------

const SIX_SDIST_SHA256: &str = "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926";

fn six(pinned: Option<&str>) -> ArtifactSpec {
    let mut artifact = ArtifactSpec::from_url("");
    artifact.url = None;
    artifact.name = Some("six".to_owned());
    artifact.pypi = Some(PypiSource {
        package: "six".to_owned(),
        version: "1.16.0".to_owned(),
        sha256: pinned.map(str::to_owned),
        index: None,
        root: None,
        dirs: Vec::new(),
        files: BTreeMap::new(),
    });
    artifact
}

#[tokio::test]
async fn a_pypi_source_is_resolved_from_pypi_with_its_published_digest() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let resolved = cache.resolve(&six(None), &NoProgress).await.unwrap();
        assert_eq!(resolved.file_name, "six-1.16.0.tar.gz");
        let source = entry_content(&resolved.path, "six-1.16.0/six.py").expect("six.py in the distribution");
        assert!(String::from_utf8_lossy(&source).contains("__version__ = \"1.16.0\""));
        // Pinning the published digest gives the same distribution.
        let pinned = cache.resolve(&six(Some(SIX_SDIST_SHA256)), &NoProgress).await.unwrap();
        assert_eq!(pinned.sha256, resolved.sha256);
    })
    .await;
}

#[tokio::test]
async fn a_pypi_source_with_a_wrong_pinned_digest_fails_naming_both() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let wrong = "b".repeat(64);
        let err = cache.resolve(&six(Some(&wrong)), &NoProgress).await.unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("`six`") && text.contains(&wrong) && text.contains(SIX_SDIST_SHA256), "{text}");
        assert_eq!(cached_files(dir.path()), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn uploaded_bytes_become_a_blob_served_by_their_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let jar = Bytes::from_static(b"PK\x03\x04 a user's application jar");
    let sha = cache.put_bytes(jar.clone()).await.unwrap();
    assert_eq!(sha, sha256_hex(&jar));
    assert_eq!(std::fs::read(cache.blob_path(&sha).unwrap()).unwrap(), jar.to_vec());
    assert_eq!(cache.put_bytes(jar.clone()).await.unwrap(), sha, "the same bytes, the same blob");
    assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no leftovers");
}
