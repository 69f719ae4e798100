//! `herd artifacts fetch`: resolves a config's artifacts into the cache and prints them;
//! a bad checksum fails naming the artifact; downloads go through HTTP_PROXY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on one `herd` run.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `herd` with `args` and `envs` (HERD_HOME is always set), bounded by
/// [`RUN_TIMEOUT`]: (exit success, stdout, stderr).
fn herd(args: &[&str], envs: &[(&str, &str)], home: &Path) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .env("HERD_HOME", home)
        .env_remove("HERD_CONFIG")
        .env_remove("HERD_ARTIFACTS_DIR")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("herd {args:?} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), stdout.join().unwrap(), stderr.join().unwrap())
}

/// A small `.tar.gz`.
fn tar_gz() -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut header = tar::Header::new_gnu();
    let content = b"#!/bin/sh\necho probe\n";
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    builder.append_data(&mut header, "probe/bin/probe", &content[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hello config with `extra` TOML appended (artifacts of the hello pod).
fn config(dir: &Path, extra: &str) -> String {
    let text = format!("{}\n{extra}", herd_hello::DEFAULT_CONFIG);
    let path = dir.join("hello.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn fetch_resolves_a_file_artifact_into_the_default_cache_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tar_gz();
    let archive_path = dir.path().join("probe.tar.gz");
    std::fs::write(&archive_path, &archive).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[pods.artifacts]]\nname = \"probe\"\nurl = \"file://{}\"\nsha256 = \"{}\"\n\n\
             [[pods.artifacts]]\nurl = \"https://example.com/unpinned.jar\"\n",
            archive_path.display(),
            sha256_hex(&archive)
        ),
    );
    let home = dir.path().join("home");
    let (ok, stdout, stderr) =
        herd(&["artifacts", "fetch", "hello", "--config", &config, "--output", "json"], &[], &home);
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["name"], "probe");
    assert_eq!(row["sha256"], sha256_hex(&archive).as_str());
    assert_eq!(row["size"], archive.len());
    assert_eq!(row["source"], "url");
    assert!(row["version"].is_null());
    let blob = home.join("artifacts/sha256").join(sha256_hex(&archive));
    assert_eq!(row["path"], blob.display().to_string().as_str());
    assert_eq!(std::fs::read(&blob).unwrap(), archive);
    assert!(
        stderr.contains("skipping `unpinned.jar` (pods[hello].artifacts[1])")
            && stderr.contains("add a checksum"),
        "{stderr}"
    );

    // The table, from the index this time.
    let (ok, stdout, _) = herd(&["artifacts", "fetch", "hello", "--config", &config], &[], &home);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "VERSION", "SIZE", "SHA256", "SOURCE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], row[4], row[5]),
        ("probe", "-", sha256_hex(&archive).as_str(), "url"),
        "{stdout}"
    );
}

#[test]
fn fetch_fails_on_a_bad_checksum_naming_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tar_gz();
    let archive_path = dir.path().join("probe.tar.gz");
    std::fs::write(&archive_path, &archive).unwrap();
    let wrong = "0".repeat(64);
    let config = config(
        dir.path(),
        &format!(
            "[[pods.artifacts]]\nname = \"probe\"\nurl = \"file://{}\"\nsha256 = \"{wrong}\"\n",
            archive_path.display()
        ),
    );
    let cache = dir.path().join("cache");
    let cache_arg = cache.display().to_string();
    let (ok, stdout, stderr) = herd(
        &["artifacts", "fetch", "hello", "--config", &config, "--cache-dir", &cache_arg],
        &[],
        dir.path(),
    );
    assert!(!ok, "a bad checksum must fail: {stdout}");
    for part in ["pods[hello].artifacts[0]", "checksum mismatch for `probe`", &wrong, &sha256_hex(&archive)] {
        assert!(stderr.contains(part), "{stderr:?} does not mention {part:?}");
    }
    assert_eq!(std::fs::read_dir(cache.join("sha256")).unwrap().count(), 0, "nothing cached");
}

#[test]
fn fetch_rejects_an_unknown_framework_and_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = herd(&["artifacts", "fetch", "kafkaa"], &[], dir.path());
    assert!(!ok && stderr.contains("unknown framework \"kafkaa\""), "{stderr}");
    let config = config(dir.path(), "[[pods.artifacts]]\nname = \"nothing\"\n");
    let (ok, _, stderr) = herd(&["artifacts", "fetch", "hello", "--config", &config], &[], dir.path());
    assert!(!ok && stderr.contains("pods[hello].artifacts[0]: has no source"), "{stderr}");
}

/// A one-route HTTP proxy on 127.0.0.1: answers absolute-form requests for `url` with
/// `body` and records each request line.
fn start_proxy(url: &'static str, body: Vec<u8>) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = tx.send(request_line.trim().to_owned());
            let response = if request_line.starts_with(&format!("GET {url} ")) {
                let mut r =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                        .into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    (format!("http://{addr}"), rx)
}

#[test]
fn fetch_downloads_through_the_http_proxy_from_the_environment() {
    const URL: &str = "http://artifacts.herd.invalid/probe.tar.gz";
    let dir = tempfile::tempdir().unwrap();
    let archive = tar_gz();
    let (proxy, requests) = start_proxy(URL, archive.clone());
    let config = config(
        dir.path(),
        &format!(
            "[[pods.artifacts]]\nname = \"probe\"\nurl = \"{URL}\"\nsha256 = \"{}\"\n",
            sha256_hex(&archive)
        ),
    );
    let envs =
        [("HTTP_PROXY", proxy.as_str()), ("http_proxy", proxy.as_str()), ("NO_PROXY", ""), ("no_proxy", "")];
    let (ok, stdout, stderr) =
        herd(&["artifacts", "fetch", "hello", "--config", &config, "--output", "json"], &envs, dir.path());
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        requests.recv_timeout(Duration::from_secs(5)).unwrap(),
        format!("GET {URL} HTTP/1.1"),
        "the download went through the proxy"
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows[0]["sha256"], sha256_hex(&archive).as_str());
}
