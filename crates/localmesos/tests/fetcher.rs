//! The agent's fetcher against a real HTTP server on loopback (axum) and local files:
//! naming, output_file, executable bit, extraction (tar, tar.gz, tgz, zip, gz) with modes and
//! symlinks, the cache (sequential and concurrent), and the failure modes (404, connection
//! refused, timeout, corrupt archive, path traversal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use herd_localmesos::agent::fetcher::{FetchError, Fetcher, FetcherConfig};
use herd_mesos_api::Uri;
use std::collections::HashMap;
use std::fs;
use std::future::Future;
use std::io::{Cursor, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every wait in these tests is bounded.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future).await.expect("the test timed out")
}

// ---------------------------------------------------------------------------------------------
// The HTTP server.

#[derive(Default)]
struct Files {
    content: Mutex<HashMap<String, Bytes>>,
    hits: Mutex<HashMap<String, usize>>,
}

impl Files {
    fn get(&self, path: &str) -> Response {
        *self.hits.lock().unwrap().entry(path.to_owned()).or_default() += 1;
        match self.content.lock().unwrap().get(path) {
            Some(body) => (StatusCode::OK, body.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

struct Server {
    addr: SocketAddr,
    files: Arc<Files>,
}

impl Server {
    async fn start() -> Self {
        let files = Arc::new(Files::default());
        let app = Router::new()
            .route(
                "/files/{*path}",
                get(|State(f): State<Arc<Files>>, UrlPath(p): UrlPath<String>| async move { f.get(&p) }),
            )
            .route(
                "/slow/{*path}",
                get(|State(f): State<Arc<Files>>, UrlPath(p): UrlPath<String>| async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    f.get(&p)
                }),
            )
            .route(
                "/redirect/{*path}",
                get(|UrlPath(p): UrlPath<String>| async move {
                    (StatusCode::FOUND, [(header::LOCATION, format!("/files/{p}"))]).into_response()
                }),
            )
            .route(
                "/hang/{*path}",
                // Never answers: the download timeout must fire.
                get(|| async {
                    std::future::pending::<()>().await;
                    StatusCode::OK
                }),
            )
            .with_state(Arc::clone(&files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, files }
    }

    fn put(&self, path: &str, body: impl Into<Bytes>) {
        self.files.content.lock().unwrap().insert(path.to_owned(), body.into());
    }

    fn hits(&self, path: &str) -> usize {
        self.files.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn url(&self, route: &str, path: &str) -> String {
        format!("http://{}/{route}/{path}", self.addr)
    }
}

// ---------------------------------------------------------------------------------------------
// Archives built on the fly.

const RUN_SH: &[u8] = b"#!/bin/sh\necho hello from the sandbox\n";
const APP_CONF: &[u8] = b"port = 9092\n";

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h
}

/// `app/` with `bin/run.sh` (0755), `conf/app.conf` (0644), a read-only `docs/` directory with
/// a file in it, and a symlink `app/run -> bin/run.sh`.
fn app_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut header(tar::EntryType::Directory, 0, 0o755), "app/", std::io::empty()).unwrap();
    b.append_data(&mut header(tar::EntryType::Directory, 0, 0o555), "app/docs/", std::io::empty()).unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 5, 0o444), "app/docs/README", &b"read\n"[..]).unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, RUN_SH.len() as u64, 0o755), "app/bin/run.sh", RUN_SH)
        .unwrap();
    b.append_data(
        &mut header(tar::EntryType::Regular, APP_CONF.len() as u64, 0o644),
        "app/conf/app.conf",
        APP_CONF,
    )
    .unwrap();
    b.append_link(&mut header(tar::EntryType::Symlink, 0, 0o777), "app/run", "bin/run.sh").unwrap();
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn app_zip() -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.add_directory("app/", opts.unix_permissions(0o755)).unwrap();
    w.start_file("app/bin/run.sh", opts.unix_permissions(0o755)).unwrap();
    w.write_all(RUN_SH).unwrap();
    w.start_file("app/conf/app.conf", opts.unix_permissions(0o644)).unwrap();
    w.write_all(APP_CONF).unwrap();
    w.finish().unwrap().into_inner()
}

/// A tar whose only entry has a raw name the tar crate's builder would refuse.
fn tar_with_raw_name(name: &[u8]) -> Vec<u8> {
    let mut h = header(tar::EntryType::Regular, 5, 0o644);
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"evil\n"[..]).unwrap();
    b.into_inner().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn uri(value: impl Into<String>) -> Uri {
    Uri { value: value.into(), ..Uri::default() }
}

fn cached(value: impl Into<String>) -> Uri {
    Uri { cache: Some(true), ..uri(value) }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Names in a directory (the cache must hold no partial downloads).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    fetcher: Fetcher,
}

impl Env {
    fn new() -> Self {
        Self::with_config(FetcherConfig::default())
    }

    fn with_config(config: FetcherConfig) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let fetcher = Fetcher::with_config(root.join("cache"), config).unwrap();
        Self { _tmp: tmp, root, fetcher }
    }

    fn sandbox(&self, name: &str) -> PathBuf {
        self.root.join("sandboxes").join(name)
    }

    fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
}

/// Checks an extracted `app/` tree and runs its script.
async fn assert_app_extracted(sandbox: &Path, with_extras: bool) {
    let run = sandbox.join("app/bin/run.sh");
    assert_eq!(fs::read(&run).unwrap(), RUN_SH);
    assert_eq!(mode(&run), 0o755, "bin/run.sh must stay executable");
    assert_eq!(mode(&sandbox.join("app/conf/app.conf")), 0o644);
    assert_eq!(fs::read(sandbox.join("app/conf/app.conf")).unwrap(), APP_CONF);
    if with_extras {
        let link = sandbox.join("app/run");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("bin/run.sh"));
        assert_eq!(mode(&sandbox.join("app/docs")), 0o555);
        assert_eq!(fs::read(sandbox.join("app/docs/README")).unwrap(), b"read\n");
    }
    let out = within(tokio::process::Command::new(&run).current_dir(sandbox).output()).await.unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello from the sandbox\n");
}

/// Read-only directories from archives would make the temp dir undeletable.
fn make_writable(dir: &Path) {
    if let Ok(read) = fs::read_dir(dir) {
        for entry in read.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
                make_writable(&path);
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        make_writable(&self.root);
    }
}

/// The tests, in a module named like the file so that `cargo test fetcher` selects them.
mod fetcher {
    use super::*;

    // ---------------------------------------------------------------------------------------------
    // Downloads and naming.

    #[tokio::test]
    async fn http_download_is_named_by_the_last_path_segment() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("dist/v1/data.bin", &b"payload"[..]);
        let sandbox = env.sandbox("s1");

        let path =
            within(env.fetcher.fetch(&uri(server.url("files", "dist/v1/data.bin?version=1")), &sandbox))
                .await
                .unwrap();

        assert_eq!(path, sandbox.join("data.bin"));
        assert_eq!(fs::read(&path).unwrap(), b"payload");
        assert_eq!(mode(&path) & 0o111, 0, "not executable unless asked");
        assert_eq!(env.fetcher.downloads(), 1);
        assert_eq!(entries(&sandbox), vec!["data.bin"], "no temporary file left behind");
        assert!(entries(&env.cache()).is_empty(), "cache: false bypasses the cache");
    }

    #[tokio::test]
    async fn output_file_renames_into_a_subdirectory() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("a.txt", &b"A"[..]);
        let sandbox = env.sandbox("s1");
        let u = Uri { output_file: Some("conf/renamed.txt".into()), ..uri(server.url("files", "a.txt")) };

        let path = within(env.fetcher.fetch(&u, &sandbox)).await.unwrap();

        assert_eq!(path, sandbox.join("conf/renamed.txt"));
        assert_eq!(fs::read(&path).unwrap(), b"A");
        assert!(!sandbox.join("a.txt").exists());
    }

    #[tokio::test]
    async fn output_file_outside_the_sandbox_is_rejected() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("a.txt", &b"A"[..]);
        for bad in ["../escape.txt", "/tmp/absolute.txt", "a/../../b.txt"] {
            let u = Uri { output_file: Some(bad.into()), ..uri(server.url("files", "a.txt")) };
            let err = within(env.fetcher.fetch(&u, &env.sandbox("s1"))).await.unwrap_err();
            assert!(matches!(err, FetchError::InvalidUri { .. }), "{err:?}");
            assert!(
                err.to_string().starts_with(&format!("Failed to fetch '{}': output_file", u.value)),
                "{err}"
            );
        }
        assert_eq!(env.fetcher.downloads(), 0);
        assert!(!env.sandbox("escape.txt").exists());
    }

    #[tokio::test]
    async fn redirects_are_followed() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("target.txt", &b"moved"[..]);
        let sandbox = env.sandbox("s1");
        let path =
            within(env.fetcher.fetch(&uri(server.url("redirect", "target.txt")), &sandbox)).await.unwrap();
        assert_eq!(path, sandbox.join("target.txt"));
        assert_eq!(fs::read(path).unwrap(), b"moved");
    }

    #[tokio::test]
    async fn executable_sets_the_mode_and_disables_extraction() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("tool.tgz", gzip(&app_tar()));
        let sandbox = env.sandbox("s1");
        let u = Uri { executable: Some(true), ..uri(server.url("files", "tool.tgz")) };

        let path = within(env.fetcher.fetch(&u, &sandbox)).await.unwrap();

        assert_eq!(mode(&path), 0o755);
        assert!(!sandbox.join("app").exists(), "executable URIs are not extracted");
    }

    #[tokio::test]
    async fn executable_cached_file_is_executable_in_every_sandbox() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("bin/tool", RUN_SH);
        let u = Uri { executable: Some(true), cache: Some(true), ..uri(server.url("files", "bin/tool")) };
        for name in ["s1", "s2"] {
            let path = within(env.fetcher.fetch(&u, &env.sandbox(name))).await.unwrap();
            assert_eq!(mode(&path), 0o755);
            let out = within(tokio::process::Command::new(&path).output()).await.unwrap();
            assert_eq!(out.stdout, b"hello from the sandbox\n");
        }
        assert_eq!(env.fetcher.downloads(), 1);
    }

    // ---------------------------------------------------------------------------------------------
    // Extraction.

    #[tokio::test]
    async fn tar_gz_tgz_and_tar_are_extracted_with_modes_and_symlinks() {
        let server = Server::start().await;
        let env = Env::new();
        let tar = app_tar();
        server.put("app.tar.gz", gzip(&tar));
        server.put("app.tgz", gzip(&tar));
        server.put("app.tar", tar);
        for name in ["app.tar.gz", "app.tgz", "app.tar"] {
            let sandbox = env.sandbox(name);
            let path = within(env.fetcher.fetch(&uri(server.url("files", name)), &sandbox)).await.unwrap();
            assert_eq!(path, sandbox.join(name));
            assert!(path.is_file(), "the archive is kept, as Mesos does");
            assert_app_extracted(&sandbox, true).await;
        }
    }

    #[tokio::test]
    async fn zip_is_extracted_with_modes() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("app.zip", app_zip());
        let sandbox = env.sandbox("s1");
        let path = within(env.fetcher.fetch(&uri(server.url("files", "app.zip")), &sandbox)).await.unwrap();
        assert!(path.is_file());
        assert_app_extracted(&sandbox, false).await;
    }

    #[tokio::test]
    async fn output_file_decides_extraction_and_extract_false_keeps_the_archive_whole() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("download", gzip(&app_tar()));
        server.put("app.tgz", gzip(&app_tar()));

        let renamed = Uri { output_file: Some("app.tgz".into()), ..uri(server.url("files", "download")) };
        within(env.fetcher.fetch(&renamed, &env.sandbox("renamed"))).await.unwrap();
        assert_app_extracted(&env.sandbox("renamed"), true).await;

        let whole = Uri { extract: Some(false), ..uri(server.url("files", "app.tgz")) };
        within(env.fetcher.fetch(&whole, &env.sandbox("whole"))).await.unwrap();
        assert_eq!(entries(&env.sandbox("whole")), vec!["app.tgz"]);
    }

    #[tokio::test]
    async fn a_bare_gz_file_is_decompressed() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("data.json.gz", gzip(b"{\"a\":1}"));
        let sandbox = env.sandbox("s1");
        within(env.fetcher.fetch(&uri(server.url("files", "data.json.gz")), &sandbox)).await.unwrap();
        assert_eq!(fs::read(sandbox.join("data.json")).unwrap(), b"{\"a\":1}");
        assert!(sandbox.join("data.json.gz").is_file());
    }

    #[tokio::test]
    async fn bzip2_and_xz_archives_fail_clearly_unless_not_extracted() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("app.tar.xz", &b"xz"[..]);
        let u = uri(server.url("files", "app.tar.xz"));
        let err = within(env.fetcher.fetch(&u, &env.sandbox("s1"))).await.unwrap_err();
        assert!(matches!(err, FetchError::Extract { .. }), "{err:?}");
        assert!(err.to_string().contains(".tar.xz archives are not supported"), "{err}");
        assert_eq!(env.fetcher.downloads(), 0, "refused before downloading");

        let raw = Uri { extract: Some(false), ..u };
        within(env.fetcher.fetch(&raw, &env.sandbox("s2"))).await.unwrap();
        assert!(env.sandbox("s2").join("app.tar.xz").is_file());
    }

    // ---------------------------------------------------------------------------------------------
    // Local files.

    #[tokio::test]
    async fn file_uris_and_bare_paths_are_copied() {
        let env = Env::new();
        let src = env.root.join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("notes.txt"), b"local").unwrap();
        fs::write(src.join("app.tgz"), gzip(&app_tar())).unwrap();

        let file_uri = format!("file://{}", src.join("notes.txt").display());
        let path = within(env.fetcher.fetch(&uri(file_uri), &env.sandbox("s1"))).await.unwrap();
        assert_eq!(fs::read(path).unwrap(), b"local");

        let bare = src.join("app.tgz").display().to_string();
        within(env.fetcher.fetch(&uri(bare), &env.sandbox("s2"))).await.unwrap();
        assert_app_extracted(&env.sandbox("s2"), true).await;

        let cached_bare = cached(src.join("notes.txt").display().to_string());
        within(env.fetcher.fetch(&cached_bare, &env.sandbox("s3"))).await.unwrap();
        within(env.fetcher.fetch(&cached_bare, &env.sandbox("s4"))).await.unwrap();
        assert_eq!(fs::read(env.sandbox("s4").join("notes.txt")).unwrap(), b"local");
        assert_eq!(env.fetcher.downloads(), 3, "two direct copies, one into the cache");

        let missing = src.join("missing.txt").display().to_string();
        let err = within(env.fetcher.fetch(&uri(missing.clone()), &env.sandbox("s5"))).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("Failed to fetch '{missing}': cannot read")), "{err}");
    }

    #[tokio::test]
    async fn unsupported_schemes_and_relative_paths_are_rejected() {
        let env = Env::new();
        for (value, expected) in [
            ("hdfs://namenode/x.tgz", "unsupported URI scheme 'hdfs'"),
            ("s3://bucket/x.tgz", "unsupported URI scheme 's3'"),
            ("relative/x.tgz", "relative paths are not supported"),
            ("http://host/", "no file name"),
        ] {
            let err = within(env.fetcher.fetch(&uri(value), &env.sandbox("s1"))).await.unwrap_err();
            assert!(matches!(err, FetchError::InvalidUri { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("Failed to fetch '{value}': ")), "{text}");
            assert!(text.contains(expected), "{text}");
            assert_eq!(err.uri(), Some(value));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The cache.

    #[tokio::test]
    async fn a_cached_uri_is_downloaded_once_and_copied_into_each_sandbox() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("app.tgz", gzip(&app_tar()));
        let u = cached(server.url("files", "app.tgz"));

        within(env.fetcher.fetch(&u, &env.sandbox("s1"))).await.unwrap();
        within(env.fetcher.fetch(&u, &env.sandbox("s2"))).await.unwrap();

        assert_eq!(env.fetcher.downloads(), 1);
        assert_eq!(server.hits("app.tgz"), 1);
        for name in ["s1", "s2"] {
            assert!(env.sandbox(name).join("app.tgz").is_file());
            assert_app_extracted(&env.sandbox(name), true).await;
        }
        let cache = entries(&env.cache());
        assert_eq!(cache.len(), 1, "{cache:?}");
        assert!(cache[0].ends_with("-app.tgz"), "{cache:?}");

        // Not cached: downloaded every time.
        within(env.fetcher.fetch(&uri(server.url("files", "app.tgz")), &env.sandbox("s3"))).await.unwrap();
        assert_eq!(env.fetcher.downloads(), 2);

        // A second fetcher on the same cache directory finds the file.
        let again = Fetcher::new(env.cache()).unwrap();
        within(again.fetch(&u, &env.sandbox("s4"))).await.unwrap();
        assert_eq!(again.downloads(), 0);
        assert_eq!(server.hits("app.tgz"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_fetches_of_a_cached_uri_download_once() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("app.tgz", gzip(&app_tar()));
        let u = cached(server.url("slow", "app.tgz"));
        let sandboxes: Vec<PathBuf> = (0..5).map(|i| env.sandbox(&format!("s{i}"))).collect();

        let results = within(futures_util::future::join_all(
            sandboxes.iter().map(|sandbox| env.fetcher.fetch(&u, sandbox)),
        ))
        .await;

        for (result, sandbox) in results.into_iter().zip(&sandboxes) {
            assert_eq!(result.unwrap(), sandbox.join("app.tgz"));
            assert_app_extracted(sandbox, true).await;
        }
        assert_eq!(env.fetcher.downloads(), 1);
        assert_eq!(server.hits("app.tgz"), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_fetches_share_a_failure_and_a_later_fetch_retries() {
        let server = Server::start().await;
        let env = Env::new();
        let u = cached(server.url("slow", "late.txt"));
        let sandboxes: Vec<PathBuf> = (0..3).map(|i| env.sandbox(&format!("s{i}"))).collect();

        let results = within(futures_util::future::join_all(
            sandboxes.iter().map(|sandbox| env.fetcher.fetch(&u, sandbox)),
        ))
        .await;
        for result in results {
            let err = result.unwrap_err();
            assert!(matches!(err, FetchError::Http { status: 404, .. }), "{err:?}");
        }
        assert_eq!(env.fetcher.downloads(), 1);
        assert!(entries(&env.cache()).is_empty(), "{:?}", entries(&env.cache()));

        // Failures are not cached.
        server.put("late.txt", &b"here now"[..]);
        let path = within(env.fetcher.fetch(&u, &env.sandbox("retry"))).await.unwrap();
        assert_eq!(fs::read(path).unwrap(), b"here now");
        assert_eq!(env.fetcher.downloads(), 2);
    }

    // ---------------------------------------------------------------------------------------------
    // Failures.

    #[tokio::test]
    async fn not_found_names_the_uri_and_the_status() {
        let server = Server::start().await;
        let env = Env::new();
        let value = server.url("files", "missing.tgz");

        let err = within(env.fetcher.fetch(&cached(value.clone()), &env.sandbox("s1"))).await.unwrap_err();

        assert!(matches!(err, FetchError::Http { status: 404, .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("Failed to fetch '{value}': HTTP 404 Not Found"));
        assert!(entries(&env.cache()).is_empty());
        assert!(!env.sandbox("s1").join("missing.tgz").exists());
    }

    #[tokio::test]
    async fn connection_refused_is_reported() {
        let env = Env::new();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let value = format!("http://127.0.0.1:{port}/x.tgz");

        let err = within(env.fetcher.fetch(&cached(value.clone()), &env.sandbox("s1"))).await.unwrap_err();

        assert!(matches!(err, FetchError::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(&format!("Failed to fetch '{value}': cannot connect")), "{text}");
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
        assert!(entries(&env.cache()).is_empty());
    }

    #[tokio::test]
    async fn the_download_timeout_applies_and_leaves_nothing_behind() {
        let server = Server::start().await;
        let config =
            FetcherConfig { download_timeout: Duration::from_millis(300), ..FetcherConfig::default() };
        let env = Env::with_config(config);
        let value = server.url("hang", "big.tgz");

        let err = within(env.fetcher.fetch(&cached(value.clone()), &env.sandbox("s1"))).await.unwrap_err();

        assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("Failed to fetch '{value}': download timed out after 300ms"));
        assert!(entries(&env.cache()).is_empty());
    }

    #[tokio::test]
    async fn the_stall_timeout_applies() {
        let server = Server::start().await;
        let config = FetcherConfig { stall_timeout: Duration::from_millis(300), ..FetcherConfig::default() };
        let env = Env::with_config(config);
        let value = server.url("hang", "big.tgz");

        let err = within(env.fetcher.fetch(&uri(value.clone()), &env.sandbox("s1"))).await.unwrap_err();

        assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("Failed to fetch '{value}': the download stalled: no data for 300ms")
        );
        assert_eq!(entries(&env.sandbox("s1")), Vec::<String>::new(), "no partial file in the sandbox");
    }

    #[tokio::test]
    async fn a_corrupt_archive_fails_and_is_not_kept_in_the_cache() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("bad.tar.gz", &b"this is not gzip at all"[..]);
        let mut truncated = gzip(&app_tar());
        truncated.truncate(truncated.len() / 2);
        server.put("truncated.tgz", truncated);
        server.put("bad.zip", &b"PK but not really"[..]);

        for (name, expected) in [
            ("bad.tar.gz", "cannot extract 'bad.tar.gz': not a valid gzip archive"),
            ("truncated.tgz", "cannot extract 'truncated.tgz'"),
            ("bad.zip", "cannot extract 'bad.zip': not a valid zip archive"),
        ] {
            let value = server.url("files", name);
            let err =
                within(env.fetcher.fetch(&cached(value.clone()), &env.sandbox(name))).await.unwrap_err();
            assert!(matches!(err, FetchError::Extract { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("Failed to fetch '{value}': {expected}")), "{text}");
            assert!(entries(&env.cache()).is_empty(), "{name}: {:?}", entries(&env.cache()));
        }
    }

    #[tokio::test]
    async fn path_traversal_entries_are_rejected() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("dotdot.tar", tar_with_raw_name(b"../evil.txt"));
        server.put("nested.tar.gz", gzip(&tar_with_raw_name(b"app/../../evil.txt")));
        server.put("absolute.tar", tar_with_raw_name(b"/tmp/herd-fetcher-evil.txt"));

        for (name, expected) in [
            ("dotdot.tar", "escapes the sandbox"),
            ("nested.tar.gz", "escapes the sandbox"),
            ("absolute.tar", "absolute path"),
        ] {
            let sandbox = env.sandbox(name);
            let err = within(env.fetcher.fetch(&uri(server.url("files", name)), &sandbox)).await.unwrap_err();
            assert!(matches!(err, FetchError::Extract { .. }), "{err:?}");
            assert!(err.to_string().contains(expected), "{err}");
        }
        assert!(!env.root.join("sandboxes/evil.txt").exists());
        assert!(!env.root.join("evil.txt").exists());
    }

    #[tokio::test]
    async fn a_tar_cannot_write_through_its_own_symlink() {
        let server = Server::start().await;
        let env = Env::new();
        let outside = env.root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append_link(&mut header(tar::EntryType::Symlink, 0, 0o777), "link", &outside).unwrap();
        b.append_data(&mut header(tar::EntryType::Regular, 4, 0o644), "link/pwned.txt", &b"pwn\n"[..])
            .unwrap();
        server.put("sneaky.tar", b.into_inner().unwrap());

        let err = within(env.fetcher.fetch(&uri(server.url("files", "sneaky.tar")), &env.sandbox("s1")))
            .await
            .unwrap_err();

        assert!(matches!(err, FetchError::Extract { .. }), "{err:?}");
        assert!(!outside.join("pwned.txt").exists());
    }

    #[tokio::test]
    async fn fetch_all_stops_at_the_first_error() {
        let server = Server::start().await;
        let env = Env::new();
        server.put("one.txt", &b"1"[..]);
        server.put("three.txt", &b"3"[..]);
        let sandbox = env.sandbox("s1");
        let uris = [
            uri(server.url("files", "one.txt")),
            uri(server.url("files", "two.txt")),
            uri(server.url("files", "three.txt")),
        ];

        let err = within(env.fetcher.fetch_all(&uris, &sandbox)).await.unwrap_err();

        assert!(err.to_string().contains("two.txt': HTTP 404"), "{err}");
        assert!(sandbox.join("one.txt").is_file());
        assert!(!sandbox.join("three.txt").exists());

        within(env.fetcher.fetch_all(&[uris[0].clone(), uris[2].clone()], &sandbox)).await.unwrap();
        assert!(sandbox.join("three.txt").is_file());
    }
}
