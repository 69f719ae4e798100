//! Leading-master detection through ZooKeeper, the way Apache Mesos does it.
//!
//! Mesos masters started with `--zk=zk://…/mesos` join a ZooKeeper "group": each creates an
//! `EPHEMERAL_SEQUENTIAL` znode `<path>/json.info_<10-digit sequence>` whose data is its
//! `MasterInfo` as JSON (`src/master/contender/zookeeper.cpp`, label
//! `MASTER_INFO_JSON_LABEL = "json.info"` in `src/master/constants.hpp`;
//! `GroupProcess::doJoin` in `src/zookeeper/group.cpp` appends `label + "_"`). The leader is
//! the member with the smallest sequence number (`LeaderDetectorProcess::watched` in
//! `src/zookeeper/detector.cpp`); a master that dies loses its session, its ephemeral znode
//! disappears and the next-oldest member leads.
//!
//! [`detect_leader`] makes one such observation: connect, list the children of the path,
//! take the lowest-sequence `json.info_*` znode and parse its data as a
//! [`MasterInfo`]. It does not watch for changes; call it again after losing the master.
//!
//! Differences from Mesos' own detector, on purpose:
//! * Only `json.info_` members count. Mesos elects the smallest sequence among *all* members
//!   and then also understands `info_` (binary protobuf, Mesos < 0.23) and unlabelled (a bare
//!   libprocess PID, older still) data. Such masters predate the v1 HTTP API, so ignoring them
//!   loses nothing a v1 client could talk to; in a mixed ensemble during such an upgrade we may
//!   name a non-leading master, which answers v1 calls with a redirect to the leader.
//! * The path is not created when missing (Mesos' `Group` creates it); a missing path is
//!   reported as "no leading master".

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use herd_mesos_api::MasterInfo;
use tokio::time::Instant;
use zookeeper_client as zkc;

/// The ZooKeeper port used when a server in the URL names none (ZooKeeper's default).
pub const DEFAULT_ZK_PORT: u16 = 2181;

/// The label of the znodes Mesos masters (0.23 and later) register with, followed by `_` and
/// the sequence number (`MASTER_INFO_JSON_LABEL` in Mesos' `src/master/constants.hpp`).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";

/// How deep `file://` URLs may point at files holding further `file://` URLs.
const MAX_FILE_INDIRECTIONS: usize = 4;

/// How many times [`detect_leader`] lists the group again when the leader's znode vanished
/// between listing it and reading it (or the connection dropped meanwhile).
const MAX_ATTEMPTS: u32 = 5;

/// A Mesos ZooKeeper URL: `zk://[user:password@]host1:port1[,host2:port2…]/path`.
///
/// Parse one with [`ZkUrl::parse`]. `Display` and `Debug` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// The ensemble's servers as `host:port` (`[v6addr]:port` for IPv6), in URL order; a
    /// server given without a port gets [`DEFAULT_ZK_PORT`].
    pub servers: Vec<String>,
    /// The znode the masters register under, absolute and without a trailing `/`
    /// (e.g. `/mesos`); never `/` itself.
    pub path: String,
    /// `digest` credentials `(user, password)` from `user:password@`, sent to ZooKeeper as
    /// `addauth digest user:password` when connecting.
    pub auth: Option<(String, String)>,
}

impl ZkUrl {
    /// Parses a Mesos ZooKeeper URL, the forms `mesos-master --zk` and
    /// `mesos-agent --master` accept:
    ///
    /// * `zk://host1:2181,host2:2181/mesos`
    /// * `zk://user:password@host:2181/mesos` (ZooKeeper `digest` authentication; Mesos also
    ///   spells it `zk://digest!user:password@…`, accepted too)
    /// * `file:///etc/mesos/zk`: the file's content (surrounding whitespace trimmed) is
    ///   parsed instead. As in Mesos, everything after `file://` is the path, so
    ///   `file://relative/zk` names a relative path.
    ///
    /// Like Mesos, the path starts at the first `/` after the servers and the credentials end
    /// at the last `@` before it. Unlike Mesos, servers and ports are checked here (Mesos hands
    /// them to the ZooKeeper C client unchecked), and a trailing `/` is dropped.
    ///
    /// # Errors
    /// [`ZkError::InvalidUrl`] naming what is wrong ([`UrlProblem`]), or
    /// [`ZkError::UrlFile`] when a `file://` URL's file cannot be read.
    pub fn parse(url: &str) -> Result<ZkUrl, ZkError> {
        let mut text = url.trim().to_owned();
        let mut file: Option<PathBuf> = None;
        for _ in 0..=MAX_FILE_INDIRECTIONS {
            let Some(path) = text.strip_prefix("file://") else {
                return parse_zk(&text).map_err(|reason| ZkError::InvalidUrl {
                    url: redact(&text),
                    file: file.clone(),
                    reason,
                });
            };
            let path = PathBuf::from(path);
            let content = std::fs::read_to_string(&path)
                .map_err(|source| ZkError::UrlFile { path: path.clone(), source })?;
            text = content.trim().to_owned();
            if text.is_empty() {
                return Err(ZkError::InvalidUrl {
                    url: String::new(),
                    file: Some(path),
                    reason: UrlProblem::EmptyFile,
                });
            }
            file = Some(path);
        }
        Err(ZkError::InvalidUrl {
            url: redact(&text),
            file,
            reason: UrlProblem::TooManyFileIndirections { max: MAX_FILE_INDIRECTIONS },
        })
    }

    /// The servers as a ZooKeeper connect string, `host1:port1,host2:port2`.
    pub fn connect_string(&self) -> String {
        self.servers.join(",")
    }
}

impl std::str::FromStr for ZkUrl {
    type Err = ZkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZkUrl::parse(s)
    }
}

/// `zk://user:***@host:port,…/path`: the URL with the password hidden.
impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("zk://")?;
        if let Some((user, _)) = &self.auth {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}{}", self.connect_string(), self.path)
    }
}

impl fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkUrl")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .field("auth", &self.auth.as_ref().map(|(user, _)| (user, "***")))
            .finish()
    }
}

/// What is wrong with a ZooKeeper URL (inside [`ZkError::InvalidUrl`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// Neither `zk://` nor `file://`.
    #[error("expected a 'zk://' URL (or 'file://' naming a file that holds one), found scheme '{found}'")]
    WrongScheme {
        /// What the URL starts with (up to `://`, or the start of the text).
        found: String,
    },
    /// Nothing between `zk://` (or the credentials' `@`) and the path.
    #[error("no ZooKeeper servers: expected zk://host:port[,host:port…]/path")]
    MissingHosts,
    /// A server with an empty host (`,,`, `:2181`, `[]:2181`).
    #[error("server '{server}' has no host name")]
    EmptyHost {
        /// The server as written.
        server: String,
    },
    /// A port that is not a number in 1..=65535.
    #[error("server '{server}' has a bad port '{port}': expected a number in 1..=65535")]
    BadPort {
        /// The server as written.
        server: String,
        /// The port as written.
        port: String,
    },
    /// An IPv6 address without its closing `]`.
    #[error("server '{server}' is not host:port or [ipv6]:port")]
    BadServer {
        /// The server as written.
        server: String,
    },
    /// No `/path` after the servers.
    #[error("no znode path after the servers: expected e.g. zk://host:2181/mesos")]
    MissingPath,
    /// The path is `/` (Mesos refuses it too: "Expecting a (chroot) path for ZooKeeper ('/' is
    /// not supported)").
    #[error("the path '/' is not supported: masters register under a path of their own, e.g. /mesos")]
    RootPath,
    /// A path ZooKeeper would reject.
    #[error("bad znode path '{path}': {why}")]
    BadPath {
        /// The path as written.
        path: String,
        /// Why it is rejected.
        why: &'static str,
    },
    /// Credentials before `@` that are not `user:password`.
    #[error("credentials before '@' must be user:password (ZooKeeper digest)")]
    BadCredentials,
    /// `scheme!credentials@` with a scheme other than `digest`.
    #[error("unsupported ZooKeeper authentication scheme '{scheme}': only 'digest' is supported")]
    UnsupportedAuthScheme {
        /// The scheme before `!`.
        scheme: String,
    },
    /// A `file://` URL naming an empty file.
    #[error("the file is empty: expected it to hold a zk:// URL")]
    EmptyFile,
    /// `file://` URLs pointing at further `file://` URLs too many times.
    #[error("more than {max} nested file:// indirections")]
    TooManyFileIndirections {
        /// The limit.
        max: usize,
    },
}

/// Why parsing a ZooKeeper URL or detecting the leading master failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZkError {
    /// The URL (or the URL read from a `file://` URL's file) is malformed.
    #[error("invalid ZooKeeper URL '{url}'{}: {reason}", in_file(.file.as_ref()))]
    InvalidUrl {
        /// The URL with any password hidden.
        url: String,
        /// The file it was read from, for `file://` URLs.
        file: Option<PathBuf>,
        /// What is wrong.
        reason: UrlProblem,
    },
    /// A `file://` URL's file could not be read.
    #[error("cannot read the ZooKeeper URL from file '{}': {source}", path.display())]
    UrlFile {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// No ZooKeeper session could be established in time.
    #[error(
        "could not connect to ZooKeeper at {servers} within {waited:?}: no server accepted a session \
         (is ZooKeeper running and reachable there?)"
    )]
    ConnectTimeout {
        /// The connect string.
        servers: String,
        /// How long we tried.
        waited: Duration,
    },
    /// Establishing the ZooKeeper session failed outright.
    #[error("could not connect to ZooKeeper at {servers}: {source}")]
    Connect {
        /// The connect string.
        servers: String,
        /// The client's error.
        source: zkc::Error,
    },
    /// The path exists but holds no `json.info_` member: no Mesos master is registered.
    #[error(
        "no leading master: no json.info_ znode under {path} on {servers}{} — is a \
         Mesos master running and registered at this path?",
        children_note(.children)
    )]
    NoLeader {
        /// The group path.
        path: String,
        /// The connect string.
        servers: String,
        /// What the path does hold (e.g. `log_replicas`, or binary `info_` members of Mesos
        /// < 0.23), for the operator.
        children: Vec<String>,
    },
    /// The path does not exist: no Mesos master ever registered there.
    #[error(
        "no leading master: {path} does not exist on {servers} — is a Mesos master running and \
         registered at this path (its --zk flag)?"
    )]
    PathMissing {
        /// The group path.
        path: String,
        /// The connect string.
        servers: String,
    },
    /// The leader's znode does not hold a `MasterInfo` as JSON.
    #[error("leading master znode {znode} on {servers} does not hold MasterInfo JSON: {source}")]
    BadMasterInfo {
        /// The znode read.
        znode: String,
        /// The connect string.
        servers: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The leader's znode kept disappearing between listing and reading it (masters churning),
    /// or the connection kept dropping.
    #[error(
        "could not read the leading master under {path} on {servers}: the leader changed or the \
         connection dropped {attempts} times in a row"
    )]
    Unstable {
        /// The group path.
        path: String,
        /// The connect string.
        servers: String,
        /// How many times we tried.
        attempts: u32,
    },
    /// A ZooKeeper request failed (e.g. `NoAuth` when the path's ACL wants credentials).
    #[error("ZooKeeper {op} {path} on {servers} failed: {source}")]
    Request {
        /// What was attempted (`list children of`, `get data of`).
        op: &'static str,
        /// The znode.
        path: String,
        /// The connect string.
        servers: String,
        /// The client's error.
        source: zkc::Error,
    },
    /// Connected, but listing and reading did not finish within the timeout.
    #[error("timed out after {timeout:?} reading the leading master under {path} on {servers}")]
    Timeout {
        /// The group path.
        path: String,
        /// The connect string.
        servers: String,
        /// The timeout given to [`detect_leader`].
        timeout: Duration,
    },
}

fn in_file(file: Option<&PathBuf>) -> String {
    file.map(|f| format!(" (read from file '{}')", f.display())).unwrap_or_default()
}

fn children_note(children: &[String]) -> String {
    const SHOWN: usize = 5;
    if children.is_empty() {
        return " (the path has no children)".to_owned();
    }
    let mut note = format!(" (it holds: {}", children[..children.len().min(SHOWN)].join(", "));
    if children.len() > SHOWN {
        note.push_str(&format!(", … {} more", children.len() - SHOWN));
    }
    note.push(')');
    note
}

/// Asks ZooKeeper once which Mesos master leads: connects to `url.servers` (with the URL's
/// digest credentials, if any), lists the children of `url.path`, picks the `json.info_*`
/// znode with the lowest sequence number and parses its data as [`MasterInfo`]; use
/// [`MasterInfo::host_port`] for the address to call.
///
/// If the chosen znode disappears before it is read (its master just lost its session), the
/// group is listed again, up to a few times. Everything, connecting included, is bounded by
/// `timeout`; the ZooKeeper session is closed before returning.
///
/// # Errors
/// [`ZkError::ConnectTimeout`] / [`ZkError::Connect`] naming the servers,
/// [`ZkError::NoLeader`] / [`ZkError::PathMissing`] when no master is registered,
/// [`ZkError::BadMasterInfo`] naming the znode, [`ZkError::Unstable`], [`ZkError::Request`],
/// [`ZkError::Timeout`].
pub async fn detect_leader(url: &ZkUrl, timeout: Duration) -> Result<MasterInfo, ZkError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let servers = url.connect_string();

    // The session timeout also bounds the client's own connect loop; the server clamps it to
    // [2, 20] × its tickTime. Nothing ephemeral is created, so its length matters little.
    let mut connector = zkc::Client::connector()
        .with_session_timeout(timeout.clamp(Duration::from_secs(2), Duration::from_secs(30)));
    if let Some((user, password)) = &url.auth {
        connector = connector.with_auth("digest", format!("{user}:{password}").as_bytes());
    }
    let client = match tokio::time::timeout_at(deadline, connector.connect(&servers)).await {
        Ok(Ok(client)) => client,
        Err(_) | Ok(Err(zkc::Error::Timeout)) => {
            return Err(ZkError::ConnectTimeout { servers, waited: start.elapsed() });
        }
        Ok(Err(source)) => return Err(ZkError::Connect { servers, source }),
    };

    match tokio::time::timeout_at(deadline, read_leader(&client, &url.path, &servers)).await {
        Ok(result) => result,
        Err(_) => Err(ZkError::Timeout { path: url.path.clone(), servers, timeout }),
    }
}

async fn read_leader(client: &zkc::Client, path: &str, servers: &str) -> Result<MasterInfo, ZkError> {
    let request_error = |op, path: &str, source| ZkError::Request {
        op,
        path: path.to_owned(),
        servers: servers.to_owned(),
        source,
    };
    for attempt in 1..=MAX_ATTEMPTS {
        let children = match client.list_children(path).await {
            Ok(children) => children,
            Err(zkc::Error::NoNode) => {
                return Err(ZkError::PathMissing { path: path.to_owned(), servers: servers.to_owned() });
            }
            Err(zkc::Error::ConnectionLoss) => {
                tracing::debug!(attempt, servers, "ZooKeeper connection lost while listing {path}");
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                continue;
            }
            Err(source) => return Err(request_error("list children of", path, source)),
        };
        let Some(leader) = lowest_json_info(&children) else {
            let mut children = children;
            children.sort();
            return Err(ZkError::NoLeader { path: path.to_owned(), servers: servers.to_owned(), children });
        };
        let znode = format!("{path}/{leader}");
        match client.get_data(&znode).await {
            Ok((data, _stat)) => {
                return serde_json::from_slice(&data).map_err(|source| ZkError::BadMasterInfo {
                    znode,
                    servers: servers.to_owned(),
                    source,
                });
            }
            Err(zkc::Error::NoNode) => {
                tracing::debug!(attempt, servers, "leader znode {znode} vanished; listing again");
            }
            Err(zkc::Error::ConnectionLoss) => {
                tracing::debug!(attempt, servers, "ZooKeeper connection lost reading {znode}");
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
            Err(source) => return Err(request_error("get data of", &znode, source)),
        }
    }
    Err(ZkError::Unstable { path: path.to_owned(), servers: servers.to_owned(), attempts: MAX_ATTEMPTS })
}

/// The `json.info_*` child with the lowest sequence number, read as Mesos' `GroupProcess::cache`
/// does: split on `_` (empty pieces dropped), the first piece is the label when there are two
/// or more, the last must be a number; anything else (e.g. `log_replicas`) is skipped.
fn lowest_json_info(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|name| {
            let mut pieces = name.split('_').filter(|p| !p.is_empty());
            let first = pieces.next()?;
            let last = pieces.next_back()?; // None: no label, so not json.info
            let sequence: i64 = last.parse().ok()?;
            (first == MASTER_INFO_JSON_LABEL).then_some((sequence, name.as_str()))
        })
        .min()
        .map(|(_, name)| name)
}

/// Parses the text of a `zk://` URL (no `file://`).
fn parse_zk(text: &str) -> Result<ZkUrl, UrlProblem> {
    let Some(rest) = text.strip_prefix("zk://") else {
        let found = match text.find("://") {
            Some(i) => &text[..i],
            None => text.get(..text.len().min(16)).unwrap_or(text),
        };
        return Err(UrlProblem::WrongScheme { found: found.to_owned() });
    };

    // The path starts at the first '/' (Mesos' URL::parse collects every '/'-piece into it).
    let Some(slash) = rest.find('/') else {
        return Err(if rest.is_empty() { UrlProblem::MissingHosts } else { UrlProblem::MissingPath });
    };
    let (authority, path) = rest.split_at(slash);
    let path = parse_path(path)?;

    // Credentials end at the last '@'.
    let (auth, hosts) = match authority.rfind('@') {
        Some(at) => (Some(parse_credentials(&authority[..at])?), &authority[at + 1..]),
        None => (None, authority),
    };
    if hosts.trim().is_empty() {
        return Err(UrlProblem::MissingHosts);
    }
    let servers = hosts.split(',').map(|s| parse_server(s.trim())).collect::<Result<_, _>>()?;
    Ok(ZkUrl { servers, path, auth })
}

fn parse_path(path: &str) -> Result<String, UrlProblem> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(UrlProblem::RootPath);
    }
    let bad = |why| UrlProblem::BadPath { path: path.to_owned(), why };
    for segment in trimmed[1..].split('/') {
        match segment {
            "" => return Err(bad("empty segment ('//')")),
            "." | ".." => return Err(bad("'.' and '..' segments are not allowed")),
            s if s.chars().any(char::is_control) => {
                return Err(bad("control characters are not allowed"));
            }
            _ => {}
        }
    }
    Ok(trimmed.to_owned())
}

fn parse_credentials(auth: &str) -> Result<(String, String), UrlProblem> {
    // Newer Mesos also reads `scheme!credentials` (digest when there is no '!').
    let credentials = match auth.split_once('!') {
        Some(("digest", credentials)) => credentials,
        Some((scheme, _)) => {
            return Err(UrlProblem::UnsupportedAuthScheme { scheme: scheme.to_owned() });
        }
        None => auth,
    };
    // ZooKeeper's DigestAuthenticationProvider splits `user:password` at the first ':'.
    match credentials.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_owned(), password.to_owned())),
        _ => Err(UrlProblem::BadCredentials),
    }
}

fn parse_server(server: &str) -> Result<String, UrlProblem> {
    let (host, port, v6) = if let Some(bracketed) = server.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(UrlProblem::BadServer { server: server.to_owned() });
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(UrlProblem::BadServer { server: server.to_owned() });
                }
            },
        };
        (host, port, true)
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (server, None, false),
        }
    };
    if host.is_empty() {
        return Err(UrlProblem::EmptyHost { server: server.to_owned() });
    }
    let port = match port {
        None => DEFAULT_ZK_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => {
                return Err(UrlProblem::BadPort { server: server.to_owned(), port: p.to_owned() });
            }
        },
    };
    Ok(if v6 { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
}

/// Hides the password in a (possibly malformed) `zk://user:password@…` URL for messages.
fn redact(text: &str) -> String {
    let Some(rest) = text.strip_prefix("zk://") else {
        return text.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let credentials = &rest[..at];
            let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
            format!("zk://{user}:***{}", &rest[at..])
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lowest_json_info_picks_smallest_sequence_and_ignores_other_members() {
        let children = names(&[
            "log_replicas",
            "json.info_0000000007",
            "info_0000000001",
            "0000000000",
            "json.info_0000000003",
            "json.info_garbage",
            "json.info_",
        ]);
        assert_eq!(lowest_json_info(&children), Some("json.info_0000000003"));
    }

    #[test]
    fn lowest_json_info_compares_numbers_not_strings() {
        // Past 2^31 ZooKeeper may print wider sequence numbers (ZOOKEEPER-4706).
        let children = names(&["json.info_0000000000000000010", "json.info_0000000009"]);
        assert_eq!(lowest_json_info(&children), Some("json.info_0000000009"));
    }

    #[test]
    fn lowest_json_info_none_without_json_members() {
        assert_eq!(lowest_json_info(&names(&["info_0000000001", "log_replicas"])), None);
        assert_eq!(lowest_json_info(&[]), None);
    }

    #[test]
    fn redact_hides_password_even_in_bad_urls() {
        assert_eq!(redact("zk://u:secret@h:x/m"), "zk://u:***@h:x/m");
        assert_eq!(redact("zk://u:p@ss@h/m"), "zk://u:***@h/m");
        assert_eq!(redact("zk://h:2181/a@b"), "zk://h:2181/a@b");
    }

    #[test]
    fn no_leader_message_lists_what_the_path_holds() {
        let err = ZkError::NoLeader {
            path: "/mesos".into(),
            servers: "h:2181".into(),
            children: names(&["info_0000000001", "log_replicas"]),
        };
        assert_eq!(
            err.to_string(),
            "no leading master: no json.info_ znode under /mesos on h:2181 (it holds: \
             info_0000000001, log_replicas) — is a Mesos master running and registered at this \
             path?"
        );
    }
}
