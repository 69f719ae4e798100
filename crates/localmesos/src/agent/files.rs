//! The agent's files API: `GET /files/browse` and `GET /files/read`, as a Mesos agent serves
//! them (`src/files/files.cpp`), for sandboxes under the agent's work directory.
//!
//! * `GET /files/browse?path=<dir>` answers a JSON array, sorted by name, of
//!   `{"gid","mode","mtime","nlink","path","size","uid"}` objects, one per directory entry
//!   (`FilesProcess::browse`; the object is `model(const FileInfo&)` in `src/common/http.cpp`,
//!   filled by `protobuf::createFileInfo` in `src/common/protobuf_utils.cpp`):
//!   `path` is the *requested* path joined with the entry name; `mode` is `ls`-style
//!   (`drwxr-xr-x`: type letter and the nine permission bits, nothing for setuid/sticky);
//!   `mtime` is whole seconds as a float; `uid`/`gid` are user/group names (the number as a
//!   string when the id has no name). Entries are `stat`ed, so symlinks show their target and
//!   dangling ones are left out. Browsing a regular file answers `[]` (Mesos' `os::ls` fails on
//!   it and the failure is ignored).
//! * `GET /files/read?path=<file>&offset=<n>&length=<n>` answers `{"data": "…", "offset": n}`
//!   (`FilesProcess::__read` and `_read`):
//!   * `offset` absent or `-1`: nothing is read and `offset` is the file's size — how the web
//!     UI's pailer asks for the size;
//!   * `offset` at or past the end, or `length=0`: `data` is empty and `offset` echoes the
//!     request;
//!   * `length` absent or `-1`: to the end of the file; every read is capped at 16 pages
//!     ([`MAX_READ_LENGTH`]).
//! * Errors, with Mesos' bodies: no or empty `path` → 400 `Expecting 'path=value' in query.\n`;
//!   an unparsable offset/length → 400 `Failed to parse offset: Failed to convert 'x' to number.\n`
//!   (`length` alike); below `-1` → 400 `Negative offset provided: -2.\n` (`length` alike);
//!   no such file → 404 with an empty body; reading a directory → 400
//!   `Cannot read a directory.\n`; a path that leads out of the work directory (through `..` or
//!   a symlink) → 400 `'<path>' is inaccessible.\n`; other failures to resolve → 400
//!   `Failed to determine canonical path of '<path>': <error>.\n`.
//! * `jsonp=<callback>` wraps a successful answer as `<callback>(<json>);`
//!   (`text/javascript`), as libprocess' `OK(json, jsonp)` does.
//!
//! What may be read: Mesos serves only the directories attached to its files process (the
//! sandboxes and logs). Here everything under one root, the agent's work directory, is served,
//! and nothing outside it: a path that is not under the root (as given, or canonicalized) is
//! 404, like a path Mesos has not attached. Paths are canonicalized (`realpath`) and must stay
//! under the canonical root, so a symlink inside the root to another directory under the root
//! (a persistent volume linked into a sandbox) works while `..` and symlinks leading out do
//! not. On Linux the opened file is checked again through `/proc/self/fd`, so a symlink swapped
//! in between the check and the open cannot lead out either.
//!
//! Deliberate differences from Mesos:
//! * `data` must be a JSON string; Mesos writes the file's bytes raw, even when they are not
//!   UTF-8. Here a read that stops inside a multi-byte UTF-8 character before the end of the
//!   file leaves that character's bytes for the next read (so `offset + bytes of data` stays
//!   the next offset to ask for), and invalid UTF-8 becomes U+FFFD.
//! * Mesos caps reads at 16 × the page size; [`MAX_READ_LENGTH`] uses 4 KiB pages on every
//!   platform.
//! * A special file (FIFO, device, socket) is not read (500), where Mesos might block on a FIFO.
//! * `/files/download` and `/files/debug` are not served.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// The most bytes one `/files/read` returns: 16 pages of 4 KiB (Mesos: "Cap the read length at
/// 16 pages", `os::pagesize() * 16` in `FilesProcess::_read`).
pub const MAX_READ_LENGTH: u64 = 16 * 4096;

/// The query parameter naming the file or directory.
const PATH: &str = "path";

/// Routes `GET /files/browse` and `GET /files/read` serving everything under `root` (the agent's
/// work directory) by absolute host path, as a Mesos agent serves its sandboxes; see the module
/// documentation for the answers. `root` need not exist yet: it is resolved on every request
/// (while it is missing, every path is 404).
pub fn router(root: PathBuf) -> Router {
    Router::new()
        .route("/files/browse", get(browse))
        .route("/files/read", get(read))
        .with_state(Arc::new(root))
}

type Root = Arc<PathBuf>;
type Params = Query<Vec<(String, String)>>;

/// One entry of a `/files/browse` answer (fields in Mesos' order: its JSON objects are maps).
#[derive(Debug, Serialize)]
struct FileInfo {
    gid: String,
    mode: String,
    mtime: f64,
    nlink: u64,
    path: String,
    size: u64,
    uid: String,
}

/// A `/files/read` answer.
#[derive(Debug, Serialize)]
struct ReadAnswer {
    data: String,
    offset: i64,
}

/// An HTTP error answer with a Mesos-style plain-text body.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    body: String,
}

impl Failure {
    fn bad_request(body: String) -> Self {
        Failure { status: StatusCode::BAD_REQUEST, body }
    }

    fn not_found() -> Self {
        Failure { status: StatusCode::NOT_FOUND, body: String::new() }
    }

    fn internal(body: String) -> Self {
        Failure { status: StatusCode::INTERNAL_SERVER_ERROR, body }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.body.is_empty() {
            return self.status.into_response();
        }
        (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.body).into_response()
    }
}

/// The last value of a query parameter (libprocess keeps the last of repeated keys).
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// The `path` parameter, Mesos' `path::from_uri` applied (a `file://` prefix dropped).
fn path_param(params: &[(String, String)]) -> Result<String, Failure> {
    match param(params, PATH) {
        Some(path) if !path.is_empty() => Ok(path.strip_prefix("file://").unwrap_or(path).to_owned()),
        _ => Err(Failure::bad_request("Expecting 'path=value' in query.\n".to_owned())),
    }
}

/// A successful JSON answer, wrapped as `callback(json);` when `jsonp=callback` was given.
fn json_answer(value: &impl Serialize, params: &[(String, String)]) -> Response {
    let json = match serde_json::to_string(value) {
        Ok(json) => json,
        Err(e) => {
            return Failure::internal(format!("Failed to serialize the answer: {e}.\n")).into_response();
        }
    };
    match param(params, "jsonp") {
        Some(callback) => {
            ([(header::CONTENT_TYPE, "text/javascript")], format!("{callback}({json});")).into_response()
        }
        None => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
    }
}

/// Runs blocking file-system work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(Failure::internal(format!("The file system task failed: {e}.\n"))),
    }
}

async fn browse(State(root): State<Root>, Query(params): Params) -> Response {
    let requested = match path_param(&params) {
        Ok(path) => path,
        Err(failure) => return failure.into_response(),
    };
    let listing = blocking(move || {
        let resolved = resolve(&root, &requested)?;
        Ok(list(&resolved, &requested))
    })
    .await;
    match listing {
        Ok(listing) => json_answer(&listing, &params),
        Err(failure) => failure.into_response(),
    }
}

async fn read(State(root): State<Root>, Query(params): Params) -> Response {
    let answer = async {
        let requested = path_param(&params)?;
        let offset = match param(&params, "offset") {
            None => -1,
            Some(text) => {
                let offset = parse_number(text)
                    .map_err(|e| Failure::bad_request(format!("Failed to parse offset: {e}.\n")))?;
                if offset < -1 {
                    return Err(Failure::bad_request(format!("Negative offset provided: {offset}.\n")));
                }
                offset
            }
        };
        let mut length = match param(&params, "length") {
            None => None,
            Some(text) => {
                let length = parse_number(text)
                    .map_err(|e| Failure::bad_request(format!("Failed to parse length: {e}.\n")))?;
                if length < -1 {
                    return Err(Failure::bad_request(format!("Negative length provided: {length}.\n")));
                }
                // -1 means "to the end", like no length (the pailer sends it).
                u64::try_from(length).ok()
            }
        };
        // offset=-1 (or none) asks for the size: read nothing from the start.
        let start = match u64::try_from(offset) {
            Ok(start) => start,
            Err(_) => {
                length = Some(0);
                0
            }
        };
        let (size, data) = blocking(move || {
            let resolved = resolve(&root, &requested)?;
            read_chunk(&root, &resolved, start, length)
        })
        .await?;
        let offset = if offset == -1 { i64::try_from(size).unwrap_or(i64::MAX) } else { offset };
        Ok(ReadAnswer { data, offset })
    }
    .await;
    match answer {
        Ok(answer) => json_answer(&answer, &params),
        Err(failure) => failure.into_response(),
    }
}

/// Parses an offset or length as Mesos' `numify<off_t>` does: a decimal integer with an
/// optional sign, or hexadecimal with a `0x` / `-0x` prefix; the error is stout's.
fn parse_number(text: &str) -> Result<i64, String> {
    let hex = |digits: &str| (!digits.is_empty()).then(|| i64::from_str_radix(digits, 16).ok()).flatten();
    let parsed = if let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        hex(digits)
    } else if let Some(digits) = text.strip_prefix("-0x").or_else(|| text.strip_prefix("-0X")) {
        hex(digits).and_then(i64::checked_neg)
    } else {
        text.parse().ok()
    };
    parsed.ok_or_else(|| format!("Failed to convert '{text}' to number"))
}

/// The canonical path of `requested`, which must lie under `root` (`FilesProcess::resolve`
/// with the whole root attached).
fn resolve(root: &Path, requested: &str) -> Result<PathBuf, Failure> {
    let requested = Path::new(requested);
    if !requested.is_absolute() {
        return Err(Failure::not_found());
    }
    // The root missing or unreadable: nothing is attached.
    let real_root = std::fs::canonicalize(root).map_err(|_| Failure::not_found())?;
    let suffix = match requested.strip_prefix(root).or_else(|_| requested.strip_prefix(&real_root)) {
        Ok(suffix) => suffix,
        Err(_) => return Err(Failure::not_found()),
    };
    let joined = if suffix.as_os_str().is_empty() { real_root.clone() } else { real_root.join(suffix) };
    match std::fs::canonicalize(&joined) {
        Ok(real) if real.starts_with(&real_root) => Ok(real),
        Ok(_) => Err(inaccessible(&joined)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::not_found()),
        Err(e) => Err(Failure::bad_request(format!(
            "Failed to determine canonical path of '{}': {}.\n",
            joined.display(),
            os_error_text(&e)
        ))),
    }
}

fn inaccessible(path: &Path) -> Failure {
    Failure::bad_request(format!("'{}' is inaccessible.\n", path.display()))
}

/// An IO error's text without Rust's " (os error N)" suffix, as `strerror` words it.
fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The entries of directory `resolved`, sorted by name, reported under `requested`. A
/// directory that cannot be listed (or a file) gives an empty listing, as in Mesos.
fn list(resolved: &Path, requested: &str) -> Vec<FileInfo> {
    let Ok(entries) = std::fs::read_dir(resolved) else {
        return Vec::new();
    };
    let base = requested.strip_suffix('/').unwrap_or(requested);
    let mut names = Names::default();
    let mut files = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        // stat, not lstat: symlinks show their target; dangling ones are skipped.
        let Ok(meta) = std::fs::metadata(resolved.join(&name)) else {
            tracing::debug!("{} is listed but cannot be stat'ed", resolved.join(&name).display());
            continue;
        };
        let path = format!("{base}/{}", name.to_string_lossy());
        files.insert(name.into_encoded_bytes(), file_info(path, &meta, &mut names));
    }
    files.into_values().collect()
}

fn file_info(path: String, meta: &Metadata, names: &mut Names) -> FileInfo {
    FileInfo {
        gid: names.group(meta.gid()),
        mode: mode_string(meta),
        // Mesos keeps st_mtime, whole seconds.
        mtime: meta.mtime() as f64,
        nlink: meta.nlink(),
        path,
        size: meta.size(),
        uid: names.user(meta.uid()),
    }
}

/// `ls`-style mode: the file type letter and the nine permission bits.
fn mode_string(meta: &Metadata) -> String {
    let kind = meta.file_type();
    let type_letter = if kind.is_dir() {
        'd'
    } else if kind.is_char_device() {
        'c'
    } else if kind.is_block_device() {
        'b'
    } else if kind.is_fifo() {
        'p'
    } else if kind.is_symlink() {
        'l'
    } else if kind.is_socket() {
        's'
    } else {
        '-'
    };
    let mode = meta.mode();
    let mut text = String::with_capacity(10);
    text.push(type_letter);
    for (bit, letter) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        text.push(if mode & bit != 0 { letter } else { '-' });
    }
    text
}

/// User and group names by id, looked up once per listing; an id without a name is shown as
/// the number (`getpwuid`/`getgrgid` returning nothing, in Mesos).
#[derive(Default)]
struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
                Ok(Some(user)) => user.name,
                _ => uid.to_string(),
            })
            .clone()
    }

    fn group(&mut self, gid: u32) -> String {
        self.groups
            .entry(gid)
            .or_insert_with(|| match nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)) {
                Ok(Some(group)) => group.name,
                _ => gid.to_string(),
            })
            .clone()
    }
}

/// Reads up to `length` bytes (to the end when `None`, capped at [`MAX_READ_LENGTH`]) of file
/// `resolved` from `offset`: the file's size and the data as text.
fn read_chunk(
    root: &Path,
    resolved: &Path,
    offset: u64,
    length: Option<u64>,
) -> Result<(u64, String), Failure> {
    if resolved.is_dir() {
        return Err(Failure::bad_request("Cannot read a directory.\n".to_owned()));
    }
    let open_failed =
        |what: &str| Failure::internal(format!("Failed to open file at '{}': {what}.\n", resolved.display()));
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(resolved)
        .map_err(|e| open_failed(&os_error_text(&e)))?;
    check_opened_under_root(&file, root, resolved)?;
    let meta = file.metadata().map_err(|e| open_failed(&os_error_text(&e)))?;
    if meta.is_dir() {
        return Err(Failure::bad_request("Cannot read a directory.\n".to_owned()));
    }
    if !meta.is_file() {
        return Err(open_failed("not a regular file"));
    }
    let size = meta.len();
    if offset >= size {
        return Ok((size, String::new()));
    }
    let length = length.unwrap_or(size - offset).min(MAX_READ_LENGTH);
    if length == 0 {
        return Ok((size, String::new()));
    }
    file.seek(SeekFrom::Start(offset)).map_err(|e| {
        Failure::internal(format!(
            "Failed to seek file at '{}': {}.\n",
            resolved.display(),
            os_error_text(&e)
        ))
    })?;
    let mut data = Vec::new();
    file.by_ref().take(length).read_to_end(&mut data).map_err(|e| {
        Failure::internal(format!(
            "Failed to read file at '{}': {}.\n",
            resolved.display(),
            os_error_text(&e)
        ))
    })?;
    let more_follows = offset + (data.len() as u64) < size;
    Ok((size, text_of(data, more_follows)))
}

/// On Linux, checks through `/proc/self/fd` that the file opened is still under the root (a
/// symlink swapped in after [`resolve`] checked the path could lead elsewhere). Where the link
/// cannot be read, the check done by [`resolve`] stands.
fn check_opened_under_root(file: &File, root: &Path, resolved: &Path) -> Result<(), Failure> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if let (Ok(opened), Ok(real_root)) = (opened, std::fs::canonicalize(root))
            && !opened.starts_with(&real_root)
        {
            return Err(inaccessible(resolved));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, root, resolved);
    Ok(())
}

/// The bytes read as a JSON string. When more of the file follows and the data ends inside a
/// multi-byte UTF-8 character, that character's bytes are left for the next read; other invalid
/// UTF-8 becomes U+FFFD.
fn text_of(mut data: Vec<u8>, more_follows: bool) -> String {
    if more_follows {
        let cut = incomplete_utf8_tail(&data);
        if cut > 0 && cut < data.len() {
            data.truncate(data.len() - cut);
        }
    }
    match String::from_utf8(data) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// How many bytes at the end of `data` are the start of a UTF-8 character cut short.
fn incomplete_utf8_tail(data: &[u8]) -> usize {
    let start = data.len().saturating_sub(3);
    for i in (start..data.len()).rev() {
        if data[i] & 0xC0 != 0x80 {
            // The last byte that is not a continuation byte: a lead byte (or ASCII).
            return match std::str::from_utf8(&data[i..]) {
                Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => data.len() - i,
                _ => 0,
            };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use serde_json::{Value, json};

    /// Bound on every request of a test.
    const STEP: Duration = Duration::from_secs(20);

    struct Agent {
        base: String,
        client: reqwest::Client,
        server: tokio::task::JoinHandle<()>,
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    impl Agent {
        async fn start(root: PathBuf) -> Agent {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local_addr");
            let server = tokio::spawn(async move {
                axum::serve(listener, router(root)).await.expect("serve");
            });
            // Plain http only, but reqwest wants a TLS backend: give it a ring rustls config.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            let client = reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .timeout(STEP)
                .build()
                .expect("reqwest client");
            Agent { base: format!("http://{addr}"), client, server }
        }

        /// GET `endpoint` with `query`: (status, content type, body).
        async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> (u16, String, String) {
            let query: Vec<String> =
                query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            let response = self
                .client
                .get(format!("{}{endpoint}?{}", self.base, query.join("&")))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {endpoint} {query:?}: {e}"));
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().await.expect("body");
            (status, content_type, body)
        }

        async fn json(&self, endpoint: &str, query: &[(&str, &str)]) -> Value {
            let (status, content_type, body) = self.get(endpoint, query).await;
            assert_eq!(status, 200, "GET {endpoint} {query:?}: {body}");
            assert_eq!(content_type, "application/json");
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
        }

        async fn read(&self, query: &[(&str, &str)]) -> Value {
            self.json("/files/read", query).await
        }
    }

    /// Percent-encodes a query component.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// A work directory with a sandbox: `stdout` (empty), `stderr`, `digits`, a `data`
    /// directory, a volume under the root symlinked into the sandbox as `vol`.
    struct Tree {
        dir: tempfile::TempDir,
        root: PathBuf,
        sandbox: String,
    }

    fn tree() -> Tree {
        let dir = tempfile::Builder::new().prefix("herd-files-").tempdir().expect("tempdir");
        let root = dir.path().join("work");
        let sandbox = root.join("slaves/S0/frameworks/F0/executors/e1/runs/r1");
        let volume = root.join("volumes/roles/web/vol1");
        std::fs::create_dir_all(sandbox.join("data")).expect("mkdir sandbox");
        std::fs::create_dir_all(&volume).expect("mkdir volume");
        std::fs::write(sandbox.join("stdout"), b"").expect("write");
        std::fs::write(sandbox.join("stderr"), b"hello\n").expect("write");
        std::fs::write(sandbox.join("digits"), b"0123456789").expect("write");
        std::fs::write(volume.join("state"), b"volume data").expect("write");
        std::fs::set_permissions(sandbox.join("data"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        for file in ["stdout", "stderr", "digits"] {
            std::fs::set_permissions(sandbox.join(file), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        std::os::unix::fs::symlink(&volume, sandbox.join("vol")).expect("symlink");
        let sandbox = sandbox.to_str().expect("UTF-8 temp path").to_owned();
        Tree { dir, root, sandbox }
    }

    impl Tree {
        fn path(&self, name: &str) -> String {
            format!("{}/{name}", self.sandbox)
        }
    }

    fn recorded(name: &str) -> Value {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mesos-samples/scenario-2").join(name);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        serde_json::from_str(&text).expect("recorded sample is JSON")
    }

    fn user_name() -> String {
        let uid = nix::unistd::getuid();
        nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name)
    }

    fn group_name(gid: u32) -> String {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .map_or_else(|| gid.to_string(), |g| g.name)
    }

    #[tokio::test]
    async fn browse_lists_entries_sorted_in_the_shape_mesos_answers() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let listing = agent.json("/files/browse", &[("path", &tree.sandbox)]).await;
        let entries = listing.as_array().expect("an array");
        let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().expect("path")).collect();
        assert_eq!(
            paths,
            [
                tree.path("data"),
                tree.path("digits"),
                tree.path("stderr"),
                tree.path("stdout"),
                tree.path("vol")
            ]
        );

        // The same keys, in the same order, with the same JSON types as a real agent's answer.
        let sample = recorded("08-agent-files-browse.json");
        let sample_entry = sample["body"][0].as_object().expect("sample entry");
        let kinds = |object: &serde_json::Map<String, Value>| -> Vec<(String, &'static str)> {
            object
                .iter()
                .map(|(key, value)| {
                    let kind = match value {
                        Value::String(_) => "string",
                        Value::Number(n) if n.is_f64() => "float",
                        Value::Number(_) => "integer",
                        _ => "other",
                    };
                    (key.clone(), kind)
                })
                .collect()
        };
        for entry in entries {
            assert_eq!(kinds(entry.as_object().expect("object")), kinds(sample_entry), "{entry}");
        }

        let meta = std::fs::metadata(tree.path("stderr")).expect("stat");
        let stderr = &entries[2];
        assert_eq!(
            stderr,
            &json!({
                "gid": group_name(meta.gid()),
                "mode": "-rw-r--r--",
                "mtime": meta.mtime() as f64,
                "nlink": 1,
                "path": tree.path("stderr"),
                "size": 6,
                "uid": user_name(),
            })
        );
        assert_eq!(entries[0]["mode"], "drwxr-xr-x");
        // The symlinked volume shows as the directory it points to.
        assert_eq!(entries[4]["mode"].as_str().expect("mode").chars().next(), Some('d'));
        // The compact JSON text has the keys in Mesos' order.
        let (_, _, body) = agent.get("/files/browse", &[("path", &tree.sandbox)]).await;
        assert!(body.starts_with(r#"[{"gid":"#), "{body}");
        assert!(body.contains(r#","mtime":"#) && body.contains(".0,"), "mtime is a float: {body}");

        // A trailing slash is dropped when joining; browsing a file answers [].
        let again = agent.json("/files/browse", &[("path", &format!("{}/", tree.sandbox))]).await;
        assert_eq!(again[1]["path"], tree.path("digits"));
        assert_eq!(agent.json("/files/browse", &[("path", &tree.path("stderr"))]).await, json!([]));
        drop(tree.dir);
    }

    #[tokio::test]
    async fn read_answers_like_the_recorded_agent() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        // The recorded requests, against an empty stdout.
        for (sample, query) in [
            ("09-agent-files-read.json", vec![("offset", "0"), ("length", "200")]),
            ("10-agent-files-size.json", vec![("offset", "-1")]),
        ] {
            let stdout = tree.path("stdout");
            let mut full = vec![("path", stdout.as_str())];
            full.extend(query);
            let (status, _, body) = agent.get("/files/read", &full).await;
            let recorded = recorded(sample);
            assert_eq!(status, 200);
            assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON"), recorded["body"], "{sample}");
            assert!(body.starts_with(r#"{"data":"#), "{body}");
        }
    }

    #[tokio::test]
    async fn read_honours_offset_and_length() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let digits = tree.path("digits");
        let path = digits.as_str();
        let cases: &[(&[(&str, &str)], Value)] = &[
            (&[("offset", "2"), ("length", "3")], json!({"data": "234", "offset": 2})),
            (&[("offset", "7")], json!({"data": "789", "offset": 7})),
            (&[("offset", "7"), ("length", "-1")], json!({"data": "789", "offset": 7})),
            (&[("offset", "8"), ("length", "100")], json!({"data": "89", "offset": 8})),
            (&[("offset", "0x4"), ("length", "2")], json!({"data": "45", "offset": 4})),
            (&[("offset", "3"), ("length", "0")], json!({"data": "", "offset": 3})),
            // Past the end: nothing, and the requested offset echoed.
            (&[("offset", "10")], json!({"data": "", "offset": 10})),
            (&[("offset", "25"), ("length", "5")], json!({"data": "", "offset": 25})),
            // offset=-1 or none: the size.
            (&[("offset", "-1")], json!({"data": "", "offset": 10})),
            (&[("offset", "-1"), ("length", "4")], json!({"data": "", "offset": 10})),
            (&[], json!({"data": "", "offset": 10})),
        ];
        for (extra, expected) in cases {
            let mut query = vec![("path", path)];
            query.extend_from_slice(extra);
            assert_eq!(&agent.read(&query).await, expected, "{extra:?}");
        }
    }

    #[tokio::test]
    async fn reads_are_capped_at_sixteen_pages_and_keep_utf8_characters_whole() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let big = tree.path("big");
        std::fs::write(&big, vec![b'x'; 100_000]).expect("write");
        let answer = agent.read(&[("path", &big), ("offset", "0")]).await;
        assert_eq!(answer["data"].as_str().expect("data").len() as u64, MAX_READ_LENGTH);
        let answer = agent.read(&[("path", &big), ("offset", "90000"), ("length", "100000")]).await;
        assert_eq!(answer["data"].as_str().expect("data").len(), 10_000);

        // "aé€b": the 2-byte é and the 3-byte € cut by the length are left for the next read.
        let text = tree.path("text");
        std::fs::write(&text, "aé€b").expect("write");
        let read = |offset: &'static str, length: &'static str| {
            let text = text.clone();
            let agent = &agent;
            async move { agent.read(&[("path", text.as_str()), ("offset", offset), ("length", length)]).await }
        };
        assert_eq!(read("0", "2").await, json!({"data": "a", "offset": 0}));
        assert_eq!(read("1", "4").await, json!({"data": "é", "offset": 1}));
        assert_eq!(read("1", "5").await, json!({"data": "é€", "offset": 1}));
        // A lone partial character cannot be held back: it becomes U+FFFD.
        assert_eq!(read("1", "1").await, json!({"data": "\u{FFFD}", "offset": 1}));
        // At the end of the file nothing is held back.
        std::fs::write(&text, b"ab\xC3").expect("write");
        assert_eq!(read("0", "10").await, json!({"data": "ab\u{FFFD}", "offset": 0}));
    }

    #[tokio::test]
    async fn bad_requests_get_mesos_messages() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let digits = tree.path("digits");
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
        let cases: &[Case] = &[
            ("/files/read", &[], 400, "Expecting 'path=value' in query.\n"),
            ("/files/read", &[("path", "")], 400, "Expecting 'path=value' in query.\n"),
            ("/files/browse", &[], 400, "Expecting 'path=value' in query.\n"),
            ("/files/browse", &[("path", "")], 400, "Expecting 'path=value' in query.\n"),
            (
                "/files/read",
                &[("path", &digits), ("offset", "abc")],
                400,
                "Failed to parse offset: Failed to convert 'abc' to number.\n",
            ),
            ("/files/read", &[("path", &digits), ("offset", "-2")], 400, "Negative offset provided: -2.\n"),
            (
                "/files/read",
                &[("path", &digits), ("offset", "0"), ("length", "1.5")],
                400,
                "Failed to parse length: Failed to convert '1.5' to number.\n",
            ),
            ("/files/read", &[("path", &digits), ("length", "-7")], 400, "Negative length provided: -7.\n"),
            ("/files/read", &[("path", &tree.sandbox), ("offset", "0")], 400, "Cannot read a directory.\n"),
            ("/files/read", &[("path", &tree.path("vol"))], 400, "Cannot read a directory.\n"),
        ];
        for (endpoint, query, status, body) in cases {
            let (got_status, content_type, got_body) = agent.get(endpoint, query).await;
            assert_eq!((got_status, got_body.as_str()), (*status, *body), "{endpoint} {query:?}");
            assert_eq!(content_type, "text/plain; charset=utf-8");
        }
    }

    #[tokio::test]
    async fn only_paths_under_the_root_are_served() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let outside = tree.dir.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("secret"), b"secret").expect("write");
        let outside_secret = outside.join("secret").to_str().expect("UTF-8").to_owned();
        let root = tree.root.to_str().expect("UTF-8").to_owned();

        // Not under the root at all, or missing under it: 404 with an empty body.
        for path in [
            "/etc/passwd".to_owned(),
            outside_secret.clone(),
            format!("{root}2/x"),
            "relative/path".to_owned(),
            tree.path("missing"),
            tree.path("missing/deeper"),
        ] {
            for endpoint in ["/files/read", "/files/browse"] {
                let (status, _, body) = agent.get(endpoint, &[("path", &path), ("offset", "0")]).await;
                assert_eq!((status, body.as_str()), (404, ""), "{endpoint} {path}");
            }
        }

        // Under the root but leading out: '..' or a symlink to outside.
        std::os::unix::fs::symlink(&outside, tree.path("escape")).expect("symlink");
        let dotdot = format!("{root}/../outside/secret");
        for (path, shown) in [
            (
                dotdot.clone(),
                format!("{}/../outside/secret", tree.root.canonicalize().expect("canonical").display()),
            ),
            (
                tree.path("escape/secret"),
                format!(
                    "{}/escape/secret",
                    Path::new(&tree.sandbox).canonicalize().expect("canonical").display()
                ),
            ),
        ] {
            let (status, _, body) = agent.get("/files/read", &[("path", &path), ("offset", "0")]).await;
            assert_eq!((status, body), (400, format!("'{shown}' is inaccessible.\n")), "{path}");
            let (status, _, _) = agent.get("/files/browse", &[("path", &path)]).await;
            assert_eq!(status, 400, "browse {path}");
        }
        // A path through a regular file.
        let (status, _, body) = agent.get("/files/read", &[("path", &tree.path("digits/x"))]).await;
        assert_eq!(status, 400);
        assert!(
            body.starts_with("Failed to determine canonical path of '")
                && body.ends_with("Not a directory.\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn symlinked_volumes_inside_the_root_are_served() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let vol = tree.path("vol");
        let listing = agent.json("/files/browse", &[("path", &vol)]).await;
        assert_eq!(listing[0]["path"], format!("{vol}/state"));
        assert_eq!(listing[0]["size"], 11);
        let answer = agent.read(&[("path", &format!("{vol}/state")), ("offset", "0")]).await;
        assert_eq!(answer, json!({"data": "volume data", "offset": 0}));

        // The root itself reached through a symlink, and file:// paths.
        let link = tree.dir.path().join("work-link");
        std::os::unix::fs::symlink(&tree.root, &link).expect("symlink");
        let linked_agent = Agent::start(link.clone()).await;
        let through_link =
            tree.sandbox.replacen(tree.root.to_str().expect("UTF-8"), link.to_str().expect("UTF-8"), 1);
        let answer = linked_agent.read(&[("path", &format!("{through_link}/digits")), ("offset", "8")]).await;
        assert_eq!(answer, json!({"data": "89", "offset": 8}));
        let answer =
            agent.read(&[("path", &format!("file://{}", tree.path("digits"))), ("offset", "9")]).await;
        assert_eq!(answer, json!({"data": "9", "offset": 9}));
    }

    #[tokio::test]
    async fn special_files_are_not_read_and_jsonp_wraps_answers() {
        let tree = tree();
        let agent = Agent::start(tree.root.clone()).await;
        let fifo = tree.path("fifo");
        nix::unistd::mkfifo(Path::new(&fifo), nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let (status, _, body) = agent.get("/files/read", &[("path", &fifo), ("offset", "0")]).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.ends_with(": not a regular file.\n"), "{body}");
        let listing = agent.json("/files/browse", &[("path", &tree.sandbox)]).await;
        let fifo_entry = listing
            .as_array()
            .expect("array")
            .iter()
            .find(|e| e["path"] == fifo.as_str())
            .expect("fifo listed");
        assert_eq!(fifo_entry["mode"], "prw-r--r--");

        let (status, content_type, body) = agent
            .get("/files/read", &[("path", &tree.path("digits")), ("offset", "9"), ("jsonp", "cb")])
            .await;
        assert_eq!(
            (status, content_type.as_str(), body.as_str()),
            (200, "text/javascript", r#"cb({"data":"9","offset":9});"#)
        );
    }

    #[test]
    fn numbers_parse_like_stout_numify() {
        assert_eq!(parse_number("42"), Ok(42));
        assert_eq!(parse_number("+42"), Ok(42));
        assert_eq!(parse_number("-1"), Ok(-1));
        assert_eq!(parse_number("0x1f"), Ok(31));
        assert_eq!(parse_number("-0X10"), Ok(-16));
        for bad in ["", " 1", "1 ", "0x", "1e3", "abc", "99999999999999999999"] {
            assert_eq!(parse_number(bad), Err(format!("Failed to convert '{bad}' to number")), "{bad:?}");
        }
    }

    #[test]
    fn incomplete_tails_are_found() {
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
        assert_eq!(incomplete_utf8_tail("aé".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(b"a\xC3"), 1);
        assert_eq!(incomplete_utf8_tail(b"a\xE2\x82"), 2);
        assert_eq!(incomplete_utf8_tail(b"a\xF0\x9F\x98"), 3);
        assert_eq!(incomplete_utf8_tail(b"a\xFF"), 0);
        assert_eq!(incomplete_utf8_tail(b""), 0);
    }
}
