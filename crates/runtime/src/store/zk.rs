//! The ZooKeeper state store, for highly available schedulers: several scheduler processes
//! share one store, and leader election lets one of them act at a time. See [`ZkStore`].

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use herd_mesos_client::zk::ZkUrl;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{RwLock, oneshot};
use tokio::task::JoinHandle;
use zookeeper_client as zkc;

use super::batch::{Op, prefix_bounds, validate_key, validate_prefix};
use super::{Batch, StateStore, StoreError};

/// The child of the URL's path that holds the keys.
const STATE_NODE: &str = "state";
/// The child of the URL's path that holds the leadership lock znodes.
const LEADER_NODE: &str = "leader";
/// The name of a lock znode, before ZooKeeper's 10-digit sequence number.
const LOCK_NAME: &str = "lock_";
/// The data of the store's root znode.
const ROOT_DATA: &[u8] = b"herd-state-store 1";
/// The byte before the value in a key's znode.
const VALUE_TAG: u8 = b'v';
/// How many times a batch or a listing is tried when the znodes keep changing under it.
const MAX_CONFLICT_ATTEMPTS: u32 = 20;
/// How long a dropped store waits for ZooKeeper to confirm the end of its session.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than the timeout a blocking call waits for the store's thread to answer
/// (it always answers within the timeout, unless that thread is gone).
const WAIT_SLACK: Duration = Duration::from_secs(5);
/// Request bytes per operation of a `multi`, besides its path and data: operation header,
/// length prefixes, version, flags and one ACL (see [`multi_bytes`]).
const MULTI_OP_BYTES: usize = 48;

/// A [`StateStore`] in ZooKeeper, shared by the schedulers of one service for high
/// availability: one of them leads and writes, the others wait to take over.
///
/// Open it with [`ZkStore::connect`]; run for leadership with [`ZkStore::lock_leadership`]
/// before acting on Mesos. The [`StateStore`] methods block (up to the timeout given to
/// `connect`) and may be called from any thread, tokio workers included.
///
/// ## Layout
///
/// For the URL `zk://host:2181/herd/hello`:
///
/// - `/herd/hello/state` is the store's root, and the key `instances/hello-0` is the znode
///   `/herd/hello/state/instances/hello-0`. The root's data is a format marker, and its data
///   version counts the batches applied (see "Apply").
/// - `/herd/hello/leader/lock_<sequence>` are the `EPHEMERAL_SEQUENTIAL` znodes of the
///   schedulers running for leadership ([`ZkStore::lock_leadership`]). They live beside the
///   state, not in it, so that `list("")` and `delete_prefix("")` never see them.
///
/// A key's znode holds the byte `v` followed by the value. A znode with empty data is not a
/// key but only the parent of deeper keys: ZooKeeper needs `instances` to exist before
/// `instances/hello-0`, and without the marker an empty value could not be told from such a
/// parent. Parents are created as needed, and deleted again (pruned) once they hold neither
/// a value nor children, so deleted keys leave no znodes behind. Deleting a key whose znode
/// has children (`instances` while `instances/hello-0` exists) only empties its data, since
/// the keys under it stay, as in every backend.
///
/// Znodes are created with the ACL "anyone may do anything", or, when the URL carries
/// `user:password@` credentials (sent as `digest` authentication), "only the creator" (the
/// target configuration may hold secrets: nobody else may even read it).
///
/// ## Apply
///
/// [`StateStore::apply`] reads the znodes the batch touches (for a delete-prefix, the whole
/// subtree under it), computes the ZooKeeper operations that carry the batch out (creates of
/// missing parents and keys, setData of existing keys, deletes of keys, of subtrees
/// children first, and of parents left empty), and sends them as ONE `multi`, which ZooKeeper
/// applies entirely or not at all. Missing parents are created inside that same `multi`, not
/// beforehand, so a failed batch leaves nothing behind.
///
/// The `multi` starts with a setData of the root guarded by the root's data version as read
/// before the batch was planned: it fails if any other batch was applied meanwhile (ZooKeeper
/// cannot check a child version in a `multi`; guarding the whole store is stricter, and as
/// cheap). On such a conflict, or if the znodes changed under the plan in another way, the
/// store reads and plans again, a few times with random backoff, then gives up with
/// [`StoreError::ZkConflict`]. Batches of one `ZkStore` are applied one at a time, so they
/// never conflict with each other; conflicts mean that something else writes to the path.
///
/// A batch is idempotent (every operation sets or removes keys to a fixed outcome), so when
/// the connection drops during an `apply` the store reconnects and applies it again, within
/// its timeout, rather than failing.
///
/// The `multi` must stay under the servers' `jute.maxbuffer`: [`crate::store::MAX_BATCH_BYTES`]
/// keeps ordinary batches well below it, but a delete-prefix expands to one delete per znode
/// under the prefix, so deleting many thousands of keys at once can fail with
/// [`StoreError::ZkMultiTooLarge`] (the limit is [`ZkStore::MAX_MULTI_BYTES`]).
///
/// ## Reads
///
/// `get` is one read of the key's znode. `list` walks the subtree level by level (the
/// requests of a level are pipelined), between two reads of the root's version: if a batch
/// was applied in between, the listing may mix before and after, so it is done again. A
/// `list` waits for the store's own `apply` calls in progress (and they for it), so only other
/// writers can make it start over.
///
/// ZooKeeper serves one session's requests in order, so a `ZkStore` reads its own writes.
/// Another store's writes reach it once its server has caught up with the ensemble (normally
/// milliseconds); [`ZkStore::lock_leadership`] syncs before returning, so a new leader starts
/// from everything the last one wrote.
///
/// ## Threads
///
/// The [`StateStore`] methods block, while the ZooKeeper client is async. A `ZkStore` owns a
/// thread running a small single-threaded tokio runtime that holds the ZooKeeper session
/// and runs every request; the blocking methods hand their work to it and wait. So the store
/// works from any thread: a plain one, a tokio `spawn_blocking` thread, or a task on a tokio
/// runtime. On a multi-threaded runtime the wait goes through
/// [`tokio::task::block_in_place`], so the worker's other tasks move to other workers; on a
/// current-thread runtime it simply blocks that runtime's thread for the call (the request
/// itself runs on the store's thread, so it cannot deadlock). The session thus lives as long
/// as the store, whatever happens to the runtime that called [`ZkStore::connect`].
///
/// Every call is bounded by the timeout given to [`ZkStore::connect`]
/// ([`StoreError::ZkTimeout`]). Dropping the store closes its session (in the background,
/// waiting for ZooKeeper at most a couple of seconds).
///
/// ## Sessions and leadership
///
/// The session is the one thing a `ZkStore` cannot recover: once it has expired (ZooKeeper
/// was unreachable for longer than the session timeout) every call fails with
/// [`StoreError::ZkSessionLost`], and the scheduler stops. The leadership lock is an
/// ephemeral znode of the same session, so a scheduler that lost its leadership also can no
/// longer write, and one that can write still holds its lock.
pub struct ZkStore {
    inner: Arc<Inner>,
}

/// What a `ZkStore` and its [`LeaderGuard`]s share. Fields drop in order: the session's last
/// client goes before the worker is told to close it.
struct Inner {
    ctx: Arc<Ctx>,
    worker: Worker,
}

/// Everything a request needs, shared with the tasks running on the store's thread.
struct Ctx {
    client: zkc::Client,
    /// `zk://[user:***@]servers/path`, for messages.
    name: String,
    /// `<path>/state`.
    root: String,
    /// `<path>/leader`.
    leader_dir: String,
    /// Whether the URL carries credentials (then znodes are for their creator only).
    private: bool,
    timeout: Duration,
    /// Held for writing by `apply` and for reading by `list`: one batch at a time, and no
    /// batch of this store under a listing.
    writes: RwLock<()>,
}

impl fmt::Debug for ZkStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkStore")
            .field("url", &self.inner.ctx.name)
            .field("session", &self.inner.ctx.client.session_id())
            .finish_non_exhaustive()
    }
}

impl ZkStore {
    /// The session timeout [`ZkStore::connect`] asks for: a scheduler that cannot reach
    /// ZooKeeper for this long loses its session and its leadership, and a standby takes over
    /// this long after the leader dies. Servers clamp it to between 2 and 20 of their ticks.
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

    /// The largest `multi` request the store sends, in bytes: under the 1 MiB that servers
    /// accept with their default `jute.maxbuffer`, with room for the store's size estimate.
    pub const MAX_MULTI_BYTES: usize = 1_000_000;

    /// Connects to ZooKeeper and opens the store at `url`:
    /// `zk://[user:password@]host:port[,host:port…]/path` (the credentials are sent as
    /// `digest` authentication), or `file:///path/to/file` holding such a URL, as parsed by
    /// [`ZkUrl::parse`]. Creates `<path>/state` if missing. Asks for the session timeout
    /// [`ZkStore::DEFAULT_SESSION_TIMEOUT`].
    ///
    /// `timeout` bounds connecting, and then every call of the store.
    ///
    /// # Errors
    /// [`StoreError::ZkUrl`], [`StoreError::ZkConnect`] (no server accepted a session in time,
    /// or the path could not be prepared), [`StoreError::ZkCorrupt`] if the path's `state`
    /// znode holds something else than a herd state store.
    pub async fn connect(url: &str, timeout: Duration) -> Result<ZkStore, StoreError> {
        Self::connect_with_session_timeout(url, timeout, Self::DEFAULT_SESSION_TIMEOUT).await
    }

    /// [`ZkStore::connect`] asking for another session timeout (see
    /// [`ZkStore::DEFAULT_SESSION_TIMEOUT`]).
    ///
    /// # Errors
    /// As [`ZkStore::connect`].
    pub async fn connect_with_session_timeout(
        url: &str,
        timeout: Duration,
        session_timeout: Duration,
    ) -> Result<ZkStore, StoreError> {
        let url = ZkUrl::parse(url).map_err(StoreError::ZkUrl)?;
        let name = url.to_string();
        let mut worker = Worker::start().map_err(|e| StoreError::ZkConnect {
            store: name.clone(),
            reason: format!("cannot start the store's thread: {e}"),
        })?;
        let task = AbortOnDrop(worker.handle.spawn(open(url, name.clone(), timeout, session_timeout)));
        let ctx = match task.join().await {
            Some(result) => result?,
            None => {
                return Err(StoreError::ZkConnect {
                    store: name,
                    reason: "the store's thread stopped while connecting".to_owned(),
                });
            }
        };
        worker.states = Some(ctx.client.state_watcher());
        tracing::info!(store = %ctx.name, session = %ctx.client.session_id(), "opened the ZooKeeper state store");
        Ok(ZkStore { inner: Arc::new(Inner { ctx: Arc::new(ctx), worker }) })
    }

    /// The store's URL, `zk://[user:***@]servers/path`, with the password hidden.
    pub fn url(&self) -> &str {
        &self.inner.ctx.name
    }

    /// The session timeout the servers granted.
    pub fn session_timeout(&self) -> Duration {
        self.inner.ctx.client.session_timeout()
    }

    /// Runs for leadership, and returns once this store leads: creates an
    /// `EPHEMERAL_SEQUENTIAL` znode `<path>/leader/lock_<sequence>`, and waits until it has
    /// the lowest sequence number of the znodes there, that is, until every scheduler that
    /// ran before has dropped its [`LeaderGuard`] or lost its session. One scheduler leads at
    /// a time; the others wait here, for as long as it takes (bound the wait with
    /// `tokio::time::timeout` if needed: dropping this future withdraws from the election).
    ///
    /// Once leading, it syncs with the ensemble, so that reads from then on see every write
    /// of the previous leader. Leadership lasts while the guard is held and the session is
    /// alive; when the session ends, calls to the store fail with
    /// [`StoreError::ZkSessionLost`] and the scheduler must stop.
    ///
    /// Use one guard per store at a time (the lock recipe tells its own znode from others by
    /// session).
    ///
    /// # Errors
    /// [`StoreError::ZkSessionLost`], or [`StoreError::Zk`] (e.g. the ACL of `<path>` refuses
    /// to create `leader`).
    pub async fn lock_leadership(&self) -> Result<LeaderGuard, StoreError> {
        let ctx = self.inner.ctx.clone();
        let task = AbortOnDrop(self.inner.worker.handle.spawn(async move { ctx.lock().await }));
        let lock = match task.join().await {
            Some(result) => result?,
            None => return Err(self.inner.ctx.closed()),
        };
        let znode = lock.lock_path().to_owned();
        tracing::info!(store = %self.inner.ctx.name, %znode, "this scheduler leads");
        Ok(LeaderGuard { lock: Some(lock), znode, inner: self.inner.clone() })
    }

    /// Runs `fut` on the store's thread, within the timeout, and waits for it from whatever
    /// thread this is (see "Threads" in the [`ZkStore`] documentation).
    fn block<T, F>(&self, op: String, fut: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let timeout = self.inner.ctx.timeout;
        let (tx, rx) = sync_channel(1);
        // If the worker has stopped, the task is dropped unrun, and with it `tx`.
        drop(self.inner.worker.handle.spawn(async move {
            let _ = tx.send(tokio::time::timeout(timeout, fut).await);
        }));
        let wait = move || rx.recv_timeout(timeout + WAIT_SLACK);
        let received = match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        match received {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(RecvTimeoutError::Timeout) => {
                Err(StoreError::ZkTimeout { store: self.inner.ctx.name.clone(), op, timeout })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.inner.ctx.closed()),
        }
    }
}

impl StateStore for ZkStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        let ctx = self.inner.ctx.clone();
        let key = key.to_owned();
        self.block(format!("read {key:?}"), async move { ctx.get(&key).await })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_prefix(prefix)?;
        let ctx = self.inner.ctx.clone();
        let prefix = prefix.to_owned();
        self.block(format!("list the keys under {prefix:?}"), async move { ctx.list(&prefix).await })
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let ctx = self.inner.ctx.clone();
        self.block(apply_op(&batch), async move { ctx.apply(&batch).await })
    }
}

/// Leadership of a [`ZkStore`]'s path, from [`ZkStore::lock_leadership`]. Dropping it deletes
/// the lock znode (in the background), so the next scheduler in line leads at once; a
/// scheduler that dies instead loses it with its session, a session timeout later.
///
/// The guard keeps the store's session open, even after the `ZkStore` itself is dropped.
pub struct LeaderGuard {
    /// `None` once dropped.
    lock: Option<zkc::OwnedLockClient>,
    znode: String,
    inner: Arc<Inner>,
}

impl LeaderGuard {
    /// The lock znode, `<path>/leader/lock_<sequence>`.
    pub fn znode(&self) -> &str {
        &self.znode
    }
}

impl fmt::Debug for LeaderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderGuard")
            .field("url", &self.inner.ctx.name)
            .field("znode", &self.znode)
            .finish_non_exhaustive()
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            // The lock deletes its znode from a task it spawns on the current runtime: make
            // that the store's.
            let _runtime = self.inner.worker.handle.enter();
            drop(lock);
        }
    }
}

/// The store's thread: a current-thread tokio runtime that runs the ZooKeeper session and
/// every request. Dropping the `Worker` lets the thread wait for the session to close, then
/// end.
struct Worker {
    handle: Handle,
    /// Tells the thread to finish, handing it the session's state to wait on.
    close: Option<oneshot::Sender<Option<zkc::StateWatcher>>>,
    /// The session's state, once connected.
    states: Option<zkc::StateWatcher>,
}

impl Worker {
    fn start() -> std::io::Result<Worker> {
        let (handle_tx, handle_rx) = sync_channel(1);
        let (close, closed) = oneshot::channel::<Option<zkc::StateWatcher>>();
        std::thread::Builder::new().name("herd-zk-store".to_owned()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                    return;
                }
            };
            let _ = handle_tx.send(Ok(runtime.handle().clone()));
            runtime.block_on(async move {
                // An error means the store was never opened: there is no session to close.
                if let Ok(Some(mut states)) = closed.await {
                    // The last client is gone, which makes the session send CloseSession.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async move {
                        while !states.state().is_terminated() {
                            states.changed().await;
                        }
                    })
                    .await;
                }
            });
        })?;
        // The thread answers at once (it only builds the runtime).
        let handle = handle_rx.recv().map_err(|_| std::io::Error::other("the thread died at start"))??;
        Ok(Worker { handle, close: Some(close), states: None })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            let _ = close.send(self.states.take());
        }
    }
}

/// A task on the store's thread, aborted if its caller gives up on it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// The task's output; `None` if the store's thread stopped before it finished.
    async fn join(mut self) -> Option<T> {
        (&mut self.0).await.ok()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects and prepares the root, on the store's thread.
async fn open(
    url: ZkUrl,
    name: String,
    timeout: Duration,
    session_timeout: Duration,
) -> Result<Ctx, StoreError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let servers = url.connect_string();
    let connect_error = |reason: String| StoreError::ZkConnect { store: name.clone(), reason };
    let mut connector = zkc::Client::connector().with_session_timeout(session_timeout);
    if let Some((user, password)) = &url.auth {
        connector = connector.with_auth("digest", format!("{user}:{password}").as_bytes());
    }
    let client = match tokio::time::timeout_at(deadline, connector.connect(&servers)).await {
        Ok(Ok(client)) => client,
        Err(_) | Ok(Err(zkc::Error::Timeout)) => {
            return Err(connect_error(format!(
                "no ZooKeeper server at {servers} accepted a session within {timeout:?} (is \
                 ZooKeeper running and reachable there?)"
            )));
        }
        Ok(Err(e)) => return Err(connect_error(format!("cannot connect to ZooKeeper at {servers}: {e}"))),
    };
    let ctx = Ctx {
        client,
        root: format!("{}/{STATE_NODE}", url.path),
        leader_dir: format!("{}/{LEADER_NODE}", url.path),
        private: url.auth.is_some(),
        name: name.clone(),
        timeout,
        writes: RwLock::new(()),
    };
    match tokio::time::timeout_at(deadline, ctx.prepare()).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(connect_error(format!(
                "connected, but preparing {} got no answer within {timeout:?}",
                ctx.root
            )));
        }
    }
    Ok(ctx)
}

/// Why one attempt at a request failed, and whether to try again.
enum Retry {
    /// A ZooKeeper error: a lost connection is tried again, others are final.
    Zk(zkc::Error),
    /// The znodes changed under the request: try again, a limited number of times.
    Conflict,
    /// Final.
    Fail(StoreError),
}

impl From<zkc::Error> for Retry {
    fn from(error: zkc::Error) -> Self {
        Retry::Zk(error)
    }
}

/// One loaded or planned znode of the store, by key (`""` for the root).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    exists: bool,
    /// Whether it holds a value (else it is only a parent).
    key: bool,
    /// The keys of its children.
    children: BTreeSet<String>,
}

/// One operation of a `multi`, on the znode of `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ZkOp {
    Create { key: String, data: Vec<u8> },
    SetData { key: String, data: Vec<u8> },
    Delete { key: String },
}

impl Ctx {
    fn acls(&self) -> zkc::Acls<'static> {
        if self.private { zkc::Acls::creator_all() } else { zkc::Acls::anyone_all() }
    }

    /// The znode of `key`; the root for `""`.
    fn znode(&self, key: &str) -> String {
        if key.is_empty() { self.root.clone() } else { format!("{}/{key}", self.root) }
    }

    fn closed(&self) -> StoreError {
        StoreError::ZkSessionLost {
            store: self.name.clone(),
            state: "Closed (the store's thread has stopped)".to_owned(),
        }
    }

    fn corrupt(&self, znode: &str, reason: impl Into<String>) -> StoreError {
        StoreError::ZkCorrupt { store: self.name.clone(), znode: znode.to_owned(), reason: reason.into() }
    }

    /// The error for a failed request: [`StoreError::ZkSessionLost`] if it failed because
    /// the session ended.
    fn zk_error(&self, op: &str, error: zkc::Error) -> StoreError {
        let state = match error {
            zkc::Error::SessionExpired => "Expired",
            zkc::Error::ClientClosed => "Closed",
            zkc::Error::AuthFailed => "AuthFailed",
            source => return StoreError::Zk { store: self.name.clone(), op: op.to_owned(), source },
        };
        StoreError::ZkSessionLost { store: self.name.clone(), state: state.to_owned() }
    }

    /// [`StoreError::ZkSessionLost`] if the session has ended.
    fn session_ended(&self) -> Option<StoreError> {
        let state = self.client.state();
        state
            .is_terminated()
            .then(|| StoreError::ZkSessionLost { store: self.name.clone(), state: state.to_string() })
    }

    /// Runs `attempt` until it succeeds or fails for good: again after a lost connection
    /// (until the caller's timeout) or a conflict (up to [`MAX_CONFLICT_ATTEMPTS`] times).
    async fn retrying<T, F, Fut>(&self, op: &str, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Retry>>,
    {
        let mut conflicts = 0;
        let mut losses = 0;
        loop {
            if let Some(error) = self.session_ended() {
                return Err(error);
            }
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Retry::Fail(error)) => return Err(error),
                Err(Retry::Conflict) => {
                    conflicts += 1;
                    if conflicts >= MAX_CONFLICT_ATTEMPTS {
                        return Err(StoreError::ZkConflict {
                            store: self.name.clone(),
                            op: op.to_owned(),
                            attempts: conflicts,
                        });
                    }
                    tracing::debug!(store = %self.name, op, conflicts, "znodes changed concurrently; trying again");
                    tokio::time::sleep(backoff(conflicts)).await;
                }
                Err(Retry::Zk(zkc::Error::ConnectionLoss)) => {
                    losses += 1;
                    tracing::debug!(store = %self.name, op, "ZooKeeper connection lost; trying again");
                    tokio::time::sleep(backoff(losses)).await;
                }
                Err(Retry::Zk(error)) => return Err(self.zk_error(op, error)),
            }
        }
    }

    /// Creates the root if missing, and checks that it is a state store's.
    async fn prepare(&self) -> Result<(), StoreError> {
        let op = format!("create {}", self.root);
        let options = zkc::CreateMode::Persistent.with_acls(self.acls());
        // Only when missing: creating an existing znode needs the right to create in its
        // parent, which an operator who prepared the path may not have granted.
        self.retrying(&op, || async {
            if self.client.check_stat(&self.root).await?.is_none() {
                self.client.mkdir(&self.root, &options).await?;
            }
            Ok(())
        })
        .await?;
        let data = self
            .retrying(&format!("read {}", self.root), || async {
                Ok(self.client.get_data(&self.root).await?.0)
            })
            .await?;
        // Empty: created just now, or by an operator.
        if data.is_empty() || data == ROOT_DATA {
            Ok(())
        } else {
            Err(self.corrupt(&self.root, format!("holds {} bytes that are not herd's marker", data.len())))
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let znode = self.znode(key);
        let znode = znode.as_str();
        let data = self
            .retrying(&format!("read {key:?}"), move || async move {
                match self.client.get_data(znode).await {
                    Ok((data, _stat)) => Ok(Some(data)),
                    Err(zkc::Error::NoNode) => Ok(None),
                    Err(error) => Err(error.into()),
                }
            })
            .await?;
        match data {
            None => Ok(None),
            Some(data) => decode(data).map_err(|reason| self.corrupt(znode, reason)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let _no_writes = self.writes.read().await;
        self.retrying(&format!("list the keys under {prefix:?}"), move || async move {
            let before = self.root_stat().await?.mzxid;
            let keys = self.walk(prefix).await?;
            if self.root_stat().await?.mzxid == before { Ok(keys) } else { Err(Retry::Conflict) }
        })
        .await
    }

    async fn root_stat(&self) -> Result<zkc::Stat, Retry> {
        match self.client.check_stat(&self.root).await? {
            Some(stat) => Ok(stat),
            None => Err(Retry::Fail(self.corrupt(&self.root, "is gone (deleted by someone else?)"))),
        }
    }

    /// The keys under `prefix`, sorted: the subtree read level by level, each level's
    /// requests pipelined.
    async fn walk(&self, prefix: &str) -> Result<Vec<String>, Retry> {
        let mut keys = Vec::new();
        let mut level = vec![prefix.to_owned()];
        let mut top = true;
        while !level.is_empty() {
            // Requests go out when made, so all of the level's are in flight at once.
            let replies: Vec<_> =
                level.iter().map(|key| self.client.get_children(&self.znode(key))).collect();
            let mut next = Vec::new();
            for (key, reply) in level.iter().zip(replies) {
                match reply.await {
                    Ok((children, stat)) => {
                        if !top && stat.data_length > 0 {
                            keys.push(key.clone());
                        }
                        next.extend(children.iter().map(|child| child_key(key, child)));
                    }
                    // No such prefix; or a znode deleted meanwhile, which the caller notices.
                    Err(zkc::Error::NoNode) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            level = next;
            top = false;
        }
        keys.sort_unstable();
        Ok(keys)
    }

    async fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let _one_batch_at_a_time = self.writes.write().await;
        let op = apply_op(batch);
        let op = op.as_str();
        self.retrying(op, move || async move {
            let version = self.root_stat().await?.version;
            let nodes = self.load(batch).await?;
            let ops = plan(nodes, batch.ops());
            let bytes = multi_bytes(&self.root, &ops);
            if bytes > ZkStore::MAX_MULTI_BYTES {
                return Err(Retry::Fail(StoreError::ZkMultiTooLarge {
                    store: self.name.clone(),
                    ops: batch.len(),
                    bytes,
                    max: ZkStore::MAX_MULTI_BYTES,
                }));
            }
            let bad_path = |e| Retry::Fail(self.zk_error(op, e));
            let mut multi = self.client.new_multi_writer();
            // The guard: fails if another batch was applied since `version` was read.
            multi.add_set_data(&self.root, ROOT_DATA, Some(version)).map_err(bad_path)?;
            let options = zkc::CreateMode::Persistent.with_acls(self.acls());
            for zk_op in &ops {
                let added = match zk_op {
                    ZkOp::Create { key, data } => multi.add_create(&self.znode(key), data, &options),
                    ZkOp::SetData { key, data } => multi.add_set_data(&self.znode(key), data, None),
                    ZkOp::Delete { key } => multi.add_delete(&self.znode(key), None),
                };
                added.map_err(bad_path)?;
            }
            match multi.commit().await {
                Ok(_) => Ok(()),
                Err(zkc::MultiWriteError::OperationFailed {
                    source:
                        zkc::Error::BadVersion
                        | zkc::Error::NodeExists
                        | zkc::Error::NoNode
                        | zkc::Error::NotEmpty,
                    ..
                }) => Err(Retry::Conflict),
                Err(zkc::MultiWriteError::OperationFailed { index, source }) => {
                    let failed = index.checked_sub(1).and_then(|i| ops.get(i));
                    let what =
                        failed.map(|op| self.describe(op)).unwrap_or_else(|| format!("update {}", self.root));
                    Err(Retry::Fail(self.zk_error(&format!("{op} (failed: {what})"), source)))
                }
                Err(zkc::MultiWriteError::RequestFailed { source }) => Err(source.into()),
            }
        })
        .await
    }

    fn describe(&self, op: &ZkOp) -> String {
        match op {
            ZkOp::Create { key, .. } => format!("create {}", self.znode(key)),
            ZkOp::SetData { key, .. } => format!("set the data of {}", self.znode(key)),
            ZkOp::Delete { key } => format!("delete {}", self.znode(key)),
        }
    }

    /// Reads what planning `batch` needs: the root, every key the batch names and their
    /// ancestors, and the subtrees under its delete-prefixes.
    async fn load(&self, batch: &Batch) -> Result<BTreeMap<String, Node>, Retry> {
        let mut paths = BTreeSet::from([String::new()]);
        let mut subtrees = BTreeSet::new();
        for op in batch.ops() {
            let key = match op {
                Op::Put { key, .. } | Op::Delete { key } => key,
                Op::DeletePrefix { prefix } => {
                    subtrees.insert(prefix.clone());
                    prefix
                }
            };
            paths.extend(ancestors(key).map(str::to_owned));
            if !key.is_empty() {
                paths.insert(key.clone());
            }
        }
        let mut nodes = BTreeMap::new();
        self.load_nodes(paths.into_iter().collect(), &mut nodes).await?;
        // Breadth first under each prefix, one level of every subtree at a time. Znodes
        // already read (the keys the batch names) are not read again, but walked through.
        let mut seen = BTreeSet::new();
        let mut level: Vec<String> = subtrees.into_iter().collect();
        loop {
            let mut next = Vec::new();
            for key in &level {
                for child in nodes.get(key).map(|node| &node.children).into_iter().flatten() {
                    if seen.insert(child.clone()) {
                        next.push(child.clone());
                    }
                }
            }
            if next.is_empty() {
                return Ok(nodes);
            }
            let unread = next.iter().filter(|key| !nodes.contains_key(*key)).cloned().collect();
            self.load_nodes(unread, &mut nodes).await?;
            level = next;
        }
    }

    /// Reads the znodes of `keys` (pipelined) into `nodes`.
    async fn load_nodes(&self, keys: Vec<String>, nodes: &mut BTreeMap<String, Node>) -> Result<(), Retry> {
        let replies: Vec<_> = keys.iter().map(|key| self.client.get_children(&self.znode(key))).collect();
        for (key, reply) in keys.into_iter().zip(replies) {
            let node = match reply.await {
                Ok((children, stat)) => Node {
                    exists: true,
                    key: !key.is_empty() && stat.data_length > 0,
                    children: children.iter().map(|child| child_key(&key, child)).collect(),
                },
                Err(zkc::Error::NoNode) => Node::default(),
                Err(error) => return Err(error.into()),
            };
            nodes.insert(key, node);
        }
        Ok(())
    }

    /// Runs for leadership on the store's thread; see [`ZkStore::lock_leadership`].
    async fn lock(&self) -> Result<zkc::OwnedLockClient, StoreError> {
        if let Some(error) = self.session_ended() {
            return Err(error);
        }
        let op = format!("run for leadership under {}", self.leader_dir);
        let error = |e| self.zk_error(&op, e);
        let prefix = zkc::LockPrefix::new_custom(format!("{}/{LOCK_NAME}", self.leader_dir), LOCK_NAME)
            .map_err(error)?;
        let options = zkc::LockOptions::new(self.acls())
            .with_ancestor_options(zkc::CreateMode::Persistent.with_acls(self.acls()))
            .map_err(error)?;
        let lock = self.client.lock(prefix, b"", options).await.map_err(error)?.into_owned();
        // The new leader's server may lag behind the one the last leader wrote through.
        self.retrying(&format!("sync {}", self.root), || async { Ok(self.client.sync(&self.root).await?) })
            .await?;
        Ok(lock)
    }
}

/// The operation named in errors about applying `batch`.
fn apply_op(batch: &Batch) -> String {
    format!("apply a batch of {} operations", batch.len())
}

/// The value in a key's znode data; `None` for a parent-only znode.
fn decode(mut data: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    match data.first() {
        None => Ok(None),
        Some(&VALUE_TAG) => {
            data.remove(0);
            Ok(Some(data))
        }
        Some(other) => Err(format!("starts with the byte {other:#04x}, not the value marker 'v'")),
    }
}

/// A key's znode data.
fn encode(value: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(value.len() + 1);
    data.push(VALUE_TAG);
    data.extend_from_slice(value);
    data
}

fn child_key(parent: &str, child: &str) -> String {
    if parent.is_empty() { child.to_owned() } else { format!("{parent}/{child}") }
}

/// The key of the parent of a non-empty `key`; `""` (the root) for a top-level key.
fn parent(key: &str) -> &str {
    key.rfind('/').map_or("", |slash| &key[..slash])
}

/// The proper, non-root ancestors of `key`, outermost first: `a`, `a/b` for `a/b/c`.
fn ancestors(key: &str) -> impl Iterator<Item = &str> {
    key.match_indices('/').map(move |(slash, _)| &key[..slash])
}

/// An upper bound of the size of a `multi` request holding the root's guard and `ops`.
fn multi_bytes(root: &str, ops: &[ZkOp]) -> usize {
    let guard = MULTI_OP_BYTES + root.len() + ROOT_DATA.len();
    let op_bytes = |op: &ZkOp| {
        MULTI_OP_BYTES
            + root.len()
            + 1
            + match op {
                ZkOp::Create { key, data } | ZkOp::SetData { key, data } => key.len() + data.len(),
                ZkOp::Delete { key } => key.len(),
            }
    };
    // Packet length, request header, and the closing header.
    32 + guard + ops.iter().map(op_bytes).sum::<usize>()
}

/// Between a half and all of `2^attempt` ms, at most 100 ms.
fn backoff(attempt: u32) -> Duration {
    let cap = 2u64.saturating_pow(attempt).min(100);
    let random = RandomState::new().build_hasher().finish();
    Duration::from_millis(cap / 2 + random % (cap / 2 + 1))
}

/// The ZooKeeper operations that carry out `ops` on the store loaded as `nodes` (which holds
/// every znode the operations touch; see [`Ctx::load`]), in order.
fn plan(nodes: BTreeMap<String, Node>, ops: &[Op]) -> Vec<ZkOp> {
    let mut planner = Planner { nodes, ops: Vec::new() };
    for op in ops {
        match op {
            Op::Put { key, value } => planner.put(key, value),
            Op::Delete { key } => planner.delete(key),
            Op::DeletePrefix { prefix } => planner.delete_prefix(prefix),
        }
    }
    planner.ops
}

/// The store's znodes as the batch changes them, and the operations that do it.
struct Planner {
    nodes: BTreeMap<String, Node>,
    ops: Vec<ZkOp>,
}

impl Planner {
    fn node(&mut self, key: &str) -> &mut Node {
        self.nodes.entry(key.to_owned()).or_default()
    }

    fn put(&mut self, key: &str, value: &[u8]) {
        for ancestor in ancestors(key) {
            if !self.node(ancestor).exists {
                self.create(ancestor, Vec::new(), false);
            }
        }
        let data = encode(value);
        let node = self.node(key);
        if node.exists {
            node.key = true;
            self.ops.push(ZkOp::SetData { key: key.to_owned(), data });
        } else {
            self.create(key, data, true);
        }
    }

    fn delete(&mut self, key: &str) {
        let node = self.node(key);
        if !node.exists || !node.key {
            return;
        }
        if node.children.is_empty() {
            self.remove(key);
            self.prune(parent(key));
        } else {
            // The keys under it stay: it becomes a mere parent.
            node.key = false;
            self.ops.push(ZkOp::SetData { key: key.to_owned(), data: Vec::new() });
        }
    }

    fn delete_prefix(&mut self, prefix: &str) {
        if !self.node(prefix).exists {
            return;
        }
        let doomed: Vec<String> = self
            .nodes
            .range(prefix_bounds(prefix))
            .filter(|(key, node)| node.exists && !key.is_empty())
            .map(|(key, _)| key.clone())
            .collect();
        // Children sort after their parent: backwards, every znode goes before its parent.
        for key in doomed.iter().rev() {
            self.remove(key);
        }
        self.prune(prefix);
    }

    fn create(&mut self, key: &str, data: Vec<u8>, is_key: bool) {
        self.ops.push(ZkOp::Create { key: key.to_owned(), data });
        *self.node(key) = Node { exists: true, key: is_key, children: BTreeSet::new() };
        self.node(parent(key)).children.insert(key.to_owned());
    }

    fn remove(&mut self, key: &str) {
        self.ops.push(ZkOp::Delete { key: key.to_owned() });
        *self.node(key) = Node::default();
        self.node(parent(key)).children.remove(key);
    }

    /// Deletes `key` and its ancestors, innermost first, while they are mere parents without
    /// children; never the root.
    fn prune(&mut self, mut key: &str) {
        while !key.is_empty() {
            let node = self.node(key);
            if !node.exists || node.key || !node.children.is_empty() {
                return;
            }
            self.remove(key);
            key = parent(key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn node(key: bool, children: &[&str]) -> Node {
        Node { exists: true, key, children: children.iter().map(|c| c.to_string()).collect() }
    }

    fn store(nodes: &[(&str, Node)]) -> BTreeMap<String, Node> {
        nodes.iter().map(|(k, n)| (k.to_string(), n.clone())).collect()
    }

    fn create(key: &str, data: &[u8]) -> ZkOp {
        ZkOp::Create { key: key.into(), data: data.to_vec() }
    }

    fn delete(key: &str) -> ZkOp {
        ZkOp::Delete { key: key.into() }
    }

    #[test]
    fn a_put_creates_missing_parents_first() {
        let nodes = store(&[("", node(false, &["a"])), ("a", node(false, &[])), ("a/b", Node::default())]);
        let ops = plan(nodes, &[Op::Put { key: "a/b/c".into(), value: b"x".to_vec() }]);
        assert_eq!(ops, [create("a/b", b""), create("a/b/c", b"vx")]);
    }

    #[test]
    fn a_put_on_an_existing_znode_sets_its_data() {
        let nodes = store(&[("", node(false, &["a"])), ("a", node(false, &["a/b"]))]);
        let ops = plan(nodes, &[Op::Put { key: "a".into(), value: Vec::new() }]);
        assert_eq!(ops, [ZkOp::SetData { key: "a".into(), data: b"v".to_vec() }]);
    }

    #[test]
    fn a_delete_prunes_parents_left_empty_but_keeps_keys_and_the_root() {
        let nodes = store(&[
            ("", node(false, &["a"])),
            ("a", node(true, &["a/b"])),
            ("a/b", node(false, &["a/b/c"])),
            ("a/b/c", node(true, &[])),
        ]);
        let ops = plan(nodes.clone(), &[Op::Delete { key: "a/b/c".into() }]);
        assert_eq!(ops, [delete("a/b/c"), delete("a/b")]);

        let ops = plan(nodes, &[Op::Delete { key: "a/b/c".into() }, Op::Delete { key: "a".into() }]);
        assert_eq!(ops, [delete("a/b/c"), delete("a/b"), delete("a")]);
    }

    #[test]
    fn deleting_a_key_with_children_keeps_them() {
        let nodes = store(&[("", node(false, &["a"])), ("a", node(true, &["a/b"]))]);
        let ops = plan(nodes, &[Op::Delete { key: "a".into() }, Op::Delete { key: "a".into() }]);
        assert_eq!(ops, [ZkOp::SetData { key: "a".into(), data: Vec::new() }]);
    }

    #[test]
    fn deleting_what_is_not_a_key_does_nothing() {
        let nodes = store(&[("", node(false, &["a"])), ("a", node(false, &["a/b"])), ("x", Node::default())]);
        assert!(plan(nodes, &[Op::Delete { key: "a".into() }, Op::Delete { key: "x".into() }]).is_empty());
    }

    #[test]
    fn a_delete_prefix_deletes_children_before_parents() {
        let nodes = store(&[
            ("", node(false, &["a", "a-b"])),
            ("a", node(true, &["a/b", "a/c"])),
            ("a/b", node(false, &["a/b/x"])),
            ("a/b/x", node(true, &[])),
            ("a/c", node(true, &[])),
            ("a-b", node(true, &[])),
        ]);
        let ops = plan(nodes.clone(), &[Op::DeletePrefix { prefix: "a".into() }]);
        assert_eq!(ops, [delete("a/c"), delete("a/b/x"), delete("a/b")]);

        let ops = plan(nodes, &[Op::DeletePrefix { prefix: String::new() }]);
        assert_eq!(ops, [delete("a/c"), delete("a/b/x"), delete("a/b"), delete("a-b"), delete("a")]);
    }

    #[test]
    fn a_batch_sees_its_own_earlier_operations() {
        let nodes = store(&[("", node(false, &[])), ("a", Node::default())]);
        let ops = plan(
            nodes,
            &[
                Op::Put { key: "a/1".into(), value: b"x".to_vec() },
                Op::DeletePrefix { prefix: "a".into() },
                Op::Put { key: "a/2".into(), value: b"y".to_vec() },
            ],
        );
        assert_eq!(
            ops,
            [
                create("a", b""),
                create("a/1", b"vx"),
                delete("a/1"),
                delete("a"),
                create("a", b""),
                create("a/2", b"vy")
            ]
        );
    }

    #[test]
    fn values_round_trip_and_parents_are_not_keys() {
        assert_eq!(decode(encode(b"")).unwrap(), Some(Vec::new()));
        assert_eq!(decode(encode(b"\0v")).unwrap(), Some(b"\0v".to_vec()));
        assert_eq!(decode(Vec::new()).unwrap(), None);
        assert!(decode(b"x".to_vec()).unwrap_err().contains("0x78"));
    }

    #[test]
    fn paths() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(child_key("", "a"), "a");
        assert_eq!(child_key("a", "b"), "a/b");
    }

    #[test]
    fn the_multi_estimate_bounds_a_full_batch() {
        // A batch at the store-wide limit, as one value, fits with room to spare.
        let value = vec![0; crate::store::MAX_BATCH_BYTES - crate::store::OP_OVERHEAD_BYTES - 1];
        let ops = [create("k", &encode(&value))];
        assert!(multi_bytes("/herd/some-service/state", &ops) < ZkStore::MAX_MULTI_BYTES);
    }

    #[test]
    fn backoff_stays_within_bounds() {
        for attempt in 1..30 {
            let b = backoff(attempt);
            assert!(b <= Duration::from_millis(100), "{attempt}: {b:?}");
        }
    }
}
