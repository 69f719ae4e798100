//! Registering the master in ZooKeeper the way a Mesos master does, so that schedulers and
//! agents given `zk://…/mesos` find it.
//!
//! A Mesos master started with `--zk=zk://…/mesos` joins a ZooKeeper "group"
//! (`ZooKeeperMasterContenderProcess::contend` in `src/master/contender/zookeeper.cpp`, through
//! `LeaderContender` and `GroupProcess` in `src/zookeeper/group.cpp`):
//!
//! * it creates the group path, intermediate znodes included, as persistent znodes with empty
//!   data, and carries on when the path exists (`GroupProcess::create`);
//! * it creates one `EPHEMERAL_SEQUENTIAL` znode `<path>/json.info_` — ZooKeeper appends a
//!   10-digit sequence number — holding the compact JSON of its `MasterInfo`
//!   (`GroupProcess::doJoin` appends `label + "_"`; the label is `MASTER_INFO_JSON_LABEL =
//!   "json.info"` from `src/master/constants.hpp`; the data is `stringify(JSON::protobuf(info))`);
//! * the ACL of both is `OPEN_ACL_UNSAFE` (anyone may do anything), or, when the URL carries
//!   `user:password@` credentials (sent as `digest` authentication), "everyone read, creator
//!   all" (`EVERYONE_READ_CREATOR_ALL`), so that schedulers without credentials can still read
//!   who leads;
//! * the session timeout is 10 s (`MASTER_CONTENDER_ZK_SESSION_TIMEOUT`, also the default of
//!   `--zk_session_timeout`): when the master dies, ZooKeeper drops its znode that long after.
//!
//! The member with the lowest sequence number leads. A Mesos master exits when it loses its
//! membership while leading ("Lost leadership... committing suicide!", `Master::lostCandidacy`
//! in `src/master/master.cpp`); [`ZkRegistration::lost`] reports that moment so the caller can
//! do the same.
//!
//! [`register`] does all of the above and hands back a [`ZkRegistration`] that keeps the
//! session; [`ZkRegistration::withdraw`] (or dropping it) deletes the znode and closes the
//! session. Unlike Mesos, [`register`] does not keep retrying in the background: it either
//! registers within its timeout or returns an error naming the servers and what to check.

use std::fmt;
use std::time::Duration;

use herd_mesos_api::MasterInfo;
use tokio::time::Instant;
use zookeeper_client as zkc;

/// The ZooKeeper port used when a server in the URL names none (ZooKeeper's default).
pub const DEFAULT_ZK_PORT: u16 = 2181;

/// The label of the znode a master registers as, followed by `_` and ZooKeeper's sequence
/// number (`MASTER_INFO_JSON_LABEL` in Mesos' `src/master/constants.hpp`).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";

/// The ZooKeeper session timeout asked for (Mesos masters' default `--zk_session_timeout`).
/// The server clamps it to between 2 and 20 of its ticks.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// `EVERYONE_READ_CREATOR_ALL` (Mesos' `src/zookeeper/zookeeper.cpp`): full rights for the
/// authenticated creator, read for everyone else.
static EVERYONE_READ_CREATOR_ALL: [zkc::Acl; 2] = [
    zkc::Acl::new_const(zkc::Permission::ALL, "auth", ""),
    zkc::Acl::new_const(zkc::Permission::READ, "world", "anyone"),
];

/// Why registering (or staying registered) in ZooKeeper failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZkRegisterError {
    /// The URL is not `zk://[user:password@]host:port[,host:port…]/path`.
    #[error(
        "invalid ZooKeeper URL '{url}': {reason} — expected zk://[user:password@]host:port[,host:port…]/path, \
         e.g. zk://127.0.0.1:2181/mesos"
    )]
    InvalidUrl {
        /// The URL with any password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The `MasterInfo` could not be written as JSON.
    #[error("cannot write the MasterInfo as JSON: {0}")]
    Serialize(#[source] serde_json::Error),
    /// No ZooKeeper server accepted a session in time.
    #[error(
        "could not connect to ZooKeeper at {servers} within {waited:?}: no server accepted a session \
         (is ZooKeeper running and reachable there? check the servers in the zk:// URL)"
    )]
    ConnectTimeout {
        /// The servers tried, `host:port,…`.
        servers: String,
        /// How long we tried.
        waited: Duration,
    },
    /// Establishing the session failed outright (e.g. the credentials were refused).
    #[error("could not connect to ZooKeeper at {servers}: {source}{}", hint(.source))]
    Connect {
        /// The servers tried.
        servers: String,
        /// The client's error.
        source: zkc::Error,
    },
    /// The group path could not be created.
    #[error("could not create the master group path {path} on ZooKeeper {servers}: {source}{}", hint(.source))]
    CreatePath {
        /// The group path.
        path: String,
        /// The servers.
        servers: String,
        /// The client's error.
        source: zkc::Error,
    },
    /// The master's `json.info_` znode could not be created.
    #[error("could not register the master as {prefix}<sequence> on ZooKeeper {servers}: {source}{}", hint(.source))]
    Join {
        /// The znode prefix, `<path>/json.info_`.
        prefix: String,
        /// The servers.
        servers: String,
        /// The client's error.
        source: zkc::Error,
    },
    /// Connected, but creating the znodes did not finish in time.
    #[error(
        "timed out after {timeout:?} registering the master under {path} on ZooKeeper {servers}: the session \
         was established but the requests got no answer (is the ensemble healthy, with a quorum?)"
    )]
    Timeout {
        /// The group path.
        path: String,
        /// The servers.
        servers: String,
        /// The timeout given to [`register`].
        timeout: Duration,
    },
    /// Deleting the znode on withdrawal failed and the session could not be closed either.
    #[error(
        "could not withdraw the master's registration {znode} on ZooKeeper {servers}: {reason}; ZooKeeper \
         removes the znode by itself once the session times out ({SESSION_TIMEOUT:?})"
    )]
    Withdraw {
        /// The master's znode.
        znode: String,
        /// The servers.
        servers: String,
        /// What failed.
        reason: String,
    },
    /// Someone else deleted the master's znode: the master is no longer registered.
    #[error(
        "the master's registration {znode} on ZooKeeper {servers} was deleted by another client (an operator?): \
         the master is no longer registered; register again (a Mesos master exits here)"
    )]
    Deleted {
        /// The master's znode.
        znode: String,
        /// The servers.
        servers: String,
    },
    /// The session ended (expired after a long disconnection, closed, or refused), taking the
    /// ephemeral znode with it.
    #[error(
        "the ZooKeeper session holding {znode} on {servers} ended ({state:?}): its znode is gone and the master \
         is no longer registered; register again (a Mesos master exits here)"
    )]
    SessionEnded {
        /// The master's (former) znode.
        znode: String,
        /// The servers.
        servers: String,
        /// The session's final state.
        state: zkc::SessionState,
    },
}

/// A remedy for the ZooKeeper errors that have an obvious one.
fn hint(error: &zkc::Error) -> &'static str {
    match error {
        zkc::Error::NoAuth => {
            " — the znode's ACL refuses this client: give credentials in the URL \
             (zk://user:password@host:port/path) matching the ones the path was created with"
        }
        zkc::Error::AuthFailed => " — ZooKeeper refused the credentials in the URL",
        zkc::Error::NoChildrenForEphemerals => " — a znode on the path is ephemeral: choose another path",
        zkc::Error::NoHosts => " — no server in the URL could be reached",
        _ => "",
    }
}

/// The master's membership in the ZooKeeper group: holds the session that owns the
/// `EPHEMERAL_SEQUENTIAL` znode. Dropping it deletes the znode and closes the session in the
/// background (this needs the Tokio runtime to keep running; if it does not, ZooKeeper removes
/// the znode [`SESSION_TIMEOUT`] later); [`ZkRegistration::withdraw`] does the same and waits.
pub struct ZkRegistration {
    /// `None` once withdrawn.
    client: Option<zkc::Client>,
    znode: String,
    servers: String,
    timeout: Duration,
}

impl fmt::Debug for ZkRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkRegistration")
            .field("znode", &self.znode)
            .field("servers", &self.servers)
            .field("session", &self.client.as_ref().map(|c| c.session_id()))
            .finish()
    }
}

impl ZkRegistration {
    /// The master's znode, `<path>/json.info_<10-digit sequence>`.
    pub fn znode(&self) -> &str {
        &self.znode
    }

    /// The servers registered with, `host:port,…` (no credentials).
    pub fn servers(&self) -> &str {
        &self.servers
    }

    /// Waits until the master is no longer registered: its znode was deleted by someone else
    /// ([`ZkRegisterError::Deleted`]) or its session ended ([`ZkRegisterError::SessionEnded`],
    /// e.g. expired after ZooKeeper was unreachable for longer than the session timeout).
    /// Mere disconnections are waited out: the client reconnects within the session. A Mesos
    /// master that leads exits at this point; call it in a `select!` with the master's work.
    pub async fn lost(&self) -> ZkRegisterError {
        let Some(client) = &self.client else {
            return self.session_ended(zkc::SessionState::Closed);
        };
        let mut states = client.state_watcher();
        loop {
            let state = client.state();
            if state.is_terminated() {
                return self.session_ended(state);
            }
            match client.check_and_watch_stat(&self.znode).await {
                Ok((None, _)) => return self.deleted(),
                Ok((Some(_), watcher)) => {
                    let mut changed = std::pin::pin!(watcher.changed());
                    loop {
                        tokio::select! {
                            event = &mut changed => {
                                match event.event_type {
                                    zkc::EventType::NodeDeleted => return self.deleted(),
                                    zkc::EventType::Session if event.session_state.is_terminated() => {
                                        return self.session_ended(event.session_state);
                                    }
                                    // Data changed, or anything else: look again.
                                    _ => break,
                                }
                            }
                            state = states.changed() => {
                                if state.is_terminated() {
                                    return self.session_ended(state);
                                }
                            }
                        }
                    }
                }
                Err(zkc::Error::SessionExpired) => return self.session_ended(zkc::SessionState::Expired),
                Err(zkc::Error::ClientClosed) => return self.session_ended(zkc::SessionState::Closed),
                Err(zkc::Error::AuthFailed) => return self.session_ended(zkc::SessionState::AuthFailed),
                Err(error) => {
                    // Disconnected (or a passing failure): wait for the session to change, or a
                    // while, and look again.
                    tracing::debug!(znode = %self.znode, %error, "cannot watch the master's znode yet");
                    tokio::select! {
                        state = states.changed() => {
                            if state.is_terminated() {
                                return self.session_ended(state);
                            }
                        }
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Deletes the znode and closes the session, waiting (at most the timeout given to
    /// [`register`]) until ZooKeeper confirms: afterwards no detector sees this master. A znode
    /// already gone (deleted by someone else, session expired) counts as withdrawn.
    ///
    /// # Errors
    /// [`ZkRegisterError::Withdraw`] when neither the delete nor closing the session was
    /// confirmed in time; ZooKeeper then drops the znode once the session times out.
    pub async fn withdraw(mut self) -> Result<(), ZkRegisterError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout;
        let mut states = client.state_watcher();
        let deleted = match tokio::time::timeout_at(deadline, client.delete(&self.znode, None)).await {
            Ok(Ok(())) | Ok(Err(zkc::Error::NoNode)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer to the delete within {:?}", self.timeout)),
        };
        // Dropping the last client sends CloseSession; ZooKeeper removes the session's
        // ephemeral znodes with it.
        drop(client);
        let closed = tokio::time::timeout_at(deadline, async {
            loop {
                let state = states.changed().await;
                if state.is_terminated() {
                    return state;
                }
            }
        })
        .await;
        match (deleted, closed) {
            (Ok(()), _) | (Err(_), Ok(zkc::SessionState::Closed)) => Ok(()),
            (Err(delete_error), closed) => Err(ZkRegisterError::Withdraw {
                znode: self.znode.clone(),
                servers: self.servers.clone(),
                reason: match closed {
                    Ok(state) => {
                        format!("deleting failed ({delete_error}) and the session ended as {state:?}")
                    }
                    Err(_) => {
                        format!("deleting failed ({delete_error}) and closing the session was not confirmed")
                    }
                },
            }),
        }
    }

    fn deleted(&self) -> ZkRegisterError {
        ZkRegisterError::Deleted { znode: self.znode.clone(), servers: self.servers.clone() }
    }

    fn session_ended(&self, state: zkc::SessionState) -> ZkRegisterError {
        ZkRegisterError::SessionEnded { znode: self.znode.clone(), servers: self.servers.clone(), state }
    }
}

impl Drop for ZkRegistration {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // The request is queued when called, before the CloseSession that dropping the last
            // client queues; nobody waits for the answers.
            drop(client.delete(&self.znode, None));
        }
    }
}

/// Registers a master in ZooKeeper as Mesos masters do (see the module documentation):
/// connects to the servers of `zk_url` — `zk://[user:password@]host:port[,host:port…]/path`,
/// the credentials sent as `digest` authentication — creates `path` if missing and an
/// `EPHEMERAL_SEQUENTIAL` znode `<path>/json.info_<sequence>` holding `info` as compact JSON.
/// Everything, connecting included, is bounded by `timeout`.
///
/// # Errors
/// [`ZkRegisterError::InvalidUrl`], [`ZkRegisterError::ConnectTimeout`] /
/// [`ZkRegisterError::Connect`] naming the servers, [`ZkRegisterError::CreatePath`] /
/// [`ZkRegisterError::Join`] (e.g. the path's ACL refuses us), [`ZkRegisterError::Timeout`].
pub async fn register(
    zk_url: &str,
    info: &MasterInfo,
    timeout: Duration,
) -> Result<ZkRegistration, ZkRegisterError> {
    let url = ZkUrl::parse(zk_url)?;
    let data = serde_json::to_vec(info).map_err(ZkRegisterError::Serialize)?;
    let start = Instant::now();
    let deadline = start + timeout;
    let servers = url.servers.join(",");

    let mut connector = zkc::Client::connector().with_session_timeout(SESSION_TIMEOUT);
    if let Some((user, password)) = &url.auth {
        connector = connector.with_auth("digest", format!("{user}:{password}").as_bytes());
    }
    let client = match tokio::time::timeout_at(deadline, connector.connect(&servers)).await {
        Ok(Ok(client)) => client,
        Err(_) | Ok(Err(zkc::Error::Timeout)) => {
            return Err(ZkRegisterError::ConnectTimeout { servers, waited: start.elapsed() });
        }
        Ok(Err(source)) => return Err(ZkRegisterError::Connect { servers, source }),
    };

    match tokio::time::timeout_at(deadline, join(&client, &url, &servers, &data)).await {
        Ok(Ok(znode)) => {
            tracing::info!(%znode, %servers, "registered the master in ZooKeeper");
            Ok(ZkRegistration { client: Some(client), znode, servers, timeout })
        }
        Ok(Err(error)) => Err(error),
        // Dropping the client closes the session: a znode created meanwhile goes with it.
        Err(_) => Err(ZkRegisterError::Timeout { path: url.path, servers, timeout }),
    }
}

/// Creates the group path and the master's member znode; returns the znode.
async fn join(
    client: &zkc::Client,
    url: &ZkUrl,
    servers: &str,
    data: &[u8],
) -> Result<String, ZkRegisterError> {
    let acls =
        if url.auth.is_some() { zkc::Acls::new(&EVERYONE_READ_CREATOR_ALL) } else { zkc::Acls::anyone_all() };

    // Create the path only when it is missing: creating an existing znode needs the right to
    // create in its parent, which an operator who prepared the path may not have granted.
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let created = match client.check_stat(&url.path).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => client.mkdir(&url.path, &zkc::CreateMode::Persistent.with_acls(acls)).await,
            Err(error) => Err(error),
        };
        match created {
            Ok(()) => break,
            Err(zkc::Error::ConnectionLoss) => retry_pause(attempt).await,
            Err(source) => {
                return Err(ZkRegisterError::CreatePath {
                    path: url.path.clone(),
                    servers: servers.to_owned(),
                    source,
                });
            }
        }
    }

    let prefix = format!("{}/{MASTER_INFO_JSON_LABEL}_", url.path);
    let options = zkc::CreateMode::EphemeralSequential.with_acls(acls);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match client.create(&prefix, data, &options).await {
            Ok((_stat, sequence)) => return Ok(format!("{prefix}{sequence}")),
            Err(zkc::Error::ConnectionLoss) => {
                // The create may have happened before the connection dropped: look for a
                // member owned by this session before creating another.
                retry_pause(attempt).await;
                if let Some(znode) = owned_member(client, &url.path).await {
                    return Ok(znode);
                }
            }
            Err(source) => {
                return Err(ZkRegisterError::Join { prefix, servers: servers.to_owned(), source });
            }
        }
    }
}

async fn retry_pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100) * attempt.min(10)).await;
}

/// A `json.info_` child of `path` whose ephemeral owner is this session, if it can be found.
async fn owned_member(client: &zkc::Client, path: &str) -> Option<String> {
    let session = client.session_id().0;
    let children = client.list_children(path).await.ok()?;
    for child in children.iter().filter(|c| c.starts_with(&format!("{MASTER_INFO_JSON_LABEL}_"))) {
        let znode = format!("{path}/{child}");
        if let Ok(Some(stat)) = client.check_stat(&znode).await
            && stat.ephemeral_owner == session
        {
            return Some(znode);
        }
    }
    None
}

/// A parsed `zk://[user:password@]host:port[,host:port…]/path`.
#[derive(Clone, PartialEq, Eq)]
struct ZkUrl {
    /// `host:port` (`[v6]:port`), a missing port filled with [`DEFAULT_ZK_PORT`].
    servers: Vec<String>,
    /// Absolute, without a trailing `/`, never `/` itself.
    path: String,
    /// `digest` credentials.
    auth: Option<(String, String)>,
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

impl ZkUrl {
    /// Parses the URL. As in Mesos, the path starts at the first `/` after `zk://` and the
    /// credentials end at the last `@` before it; `digest!user:password@` is accepted too.
    fn parse(url: &str) -> Result<ZkUrl, ZkRegisterError> {
        let text = url.trim();
        let invalid =
            |reason: &str| ZkRegisterError::InvalidUrl { url: redact(text), reason: reason.to_owned() };
        let Some(rest) = text.strip_prefix("zk://") else {
            return Err(invalid("it does not start with zk://"));
        };
        let Some(slash) = rest.find('/') else {
            return Err(invalid("there is no znode path after the servers"));
        };
        let (authority, path) = rest.split_at(slash);
        let (auth, hosts) = match authority.rfind('@') {
            Some(at) => (Some(parse_credentials(&authority[..at]).map_err(invalid)?), &authority[at + 1..]),
            None => (None, authority),
        };
        if hosts.trim().is_empty() {
            return Err(invalid("there are no servers"));
        }
        let servers = hosts
            .split(',')
            .map(|server| parse_server(server.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| invalid(&r))?;
        let path = parse_path(path).map_err(|r| invalid(&r))?;
        Ok(ZkUrl { servers, path, auth })
    }
}

fn parse_credentials(text: &str) -> Result<(String, String), &'static str> {
    let credentials = match text.split_once('!') {
        Some(("digest", credentials)) => credentials,
        Some(_) => return Err("only 'digest' authentication is supported"),
        None => text,
    };
    match credentials.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_owned(), password.to_owned())),
        _ => Err("the credentials before '@' must be user:password"),
    }
}

fn parse_server(server: &str) -> Result<String, String> {
    let (host, port, v6) = if let Some(bracketed) = server.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("server '{server}' lacks the closing ']' of an IPv6 address"));
        };
        match after {
            "" => (host, None, true),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port), true),
                None => return Err(format!("server '{server}' is not [ipv6]:port")),
            },
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (server, None, false),
        }
    };
    if host.is_empty() {
        return Err(format!("server '{server}' has no host"));
    }
    if !v6 && host.contains(':') {
        return Err(format!("server '{server}' is not host:port (write IPv6 addresses as [addr]:port)"));
    }
    let port = match port {
        None => DEFAULT_ZK_PORT,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err(format!("server '{server}' has a bad port '{text}' (expected 1..=65535)")),
        },
    };
    Ok(if v6 { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
}

fn parse_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("the path '/' is not supported: masters register under a path of their own, e.g. /mesos"
            .to_owned());
    }
    for segment in trimmed[1..].split('/') {
        let why = match segment {
            "" => "it has an empty segment ('//')",
            "." | ".." => "'.' and '..' segments are not allowed",
            s if s.chars().any(char::is_control) => "control characters are not allowed",
            _ => continue,
        };
        return Err(format!("bad znode path '{path}': {why}"));
    }
    Ok(trimmed.to_owned())
}

/// The URL with the password replaced by `***`, for messages.
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

    fn parse(url: &str) -> Result<ZkUrl, String> {
        ZkUrl::parse(url).map_err(|e| e.to_string())
    }

    #[test]
    fn urls_parse_into_servers_path_and_credentials() {
        assert_eq!(
            parse("zk://127.0.0.1:2181/mesos"),
            Ok(ZkUrl { servers: vec!["127.0.0.1:2181".into()], path: "/mesos".into(), auth: None })
        );
        assert_eq!(
            parse(" zk://u:p:w@h1,h2:2182,[::1]:2183,[fe80::1]/a/b/ "),
            Ok(ZkUrl {
                servers: vec![
                    "h1:2181".into(),
                    "h2:2182".into(),
                    "[::1]:2183".into(),
                    "[fe80::1]:2181".into()
                ],
                path: "/a/b".into(),
                auth: Some(("u".into(), "p:w".into())),
            })
        );
        assert_eq!(parse("zk://digest!u:p@h/m").map(|u| u.auth), Ok(Some(("u".into(), "p".into()))));
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_hide_passwords() {
        let cases = [
            ("http://h:2181/mesos", "it does not start with zk://"),
            ("zk://h:2181", "there is no znode path after the servers"),
            ("zk:///mesos", "there are no servers"),
            ("zk://u:secret@/mesos", "there are no servers"),
            ("zk://h:2181/", "the path '/' is not supported"),
            ("zk://h:2181//mesos", "empty segment"),
            ("zk://h:2181/a/../b", "'.' and '..'"),
            ("zk://h:x/mesos", "server 'h:x' has a bad port 'x'"),
            ("zk://h:0/mesos", "bad port '0'"),
            ("zk://h:2181,,k/mesos", "server '' has no host"),
            ("zk://::1:2181/mesos", "write IPv6 addresses as [addr]:port"),
            ("zk://[::1/mesos", "lacks the closing ']'"),
            ("zk://user@h/mesos", "must be user:password"),
            ("zk://sasl!u:p@h/mesos", "only 'digest'"),
        ];
        for (url, expected) in cases {
            let message = parse(url).expect_err(url);
            assert!(message.contains(expected), "{url}: {message}");
            assert!(message.contains("expected zk://"), "{url}: {message}");
        }
        let message = parse("zk://u:secret@h:x/mesos").expect_err("bad port");
        assert!(message.contains("zk://u:***@h:x/mesos") && !message.contains("secret"), "{message}");
    }

    #[test]
    fn errors_name_the_servers_and_the_remedy() {
        let error = ZkRegisterError::CreatePath {
            path: "/mesos".into(),
            servers: "h:2181".into(),
            source: zkc::Error::NoAuth,
        };
        let message = error.to_string();
        assert!(message.contains("/mesos on ZooKeeper h:2181"), "{message}");
        assert!(message.contains("zk://user:password@"), "{message}");
    }
}
