//! The ways a state store call fails.

use std::path::PathBuf;

/// Why a [`crate::store::StateStore`] call failed. Each variant names the store's path or the
/// key involved, and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process has the store open: a second scheduler on the same state directory
    /// would corrupt the state of the first.
    #[error(
        "the state store {} is locked: another herd scheduler is running with this --state-dir; \
         stop it, or give this scheduler a --state-dir of its own",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },

    /// The state directory could not be created or synced.
    #[error("cannot prepare the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The database file could not be opened: an I/O error, a file that is not a database,
    /// a damaged one, or one written by an incompatible version.
    #[error("cannot open the state store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },

    /// Reading a key or listing a prefix failed.
    #[error("cannot read {key:?} from the state store {}: {source}", path.display())]
    Read {
        /// The database file.
        path: PathBuf,
        /// The key read, or the prefix listed.
        key: String,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },

    /// Applying a batch failed. It may or may not have been stored: the scheduler stops, and
    /// its next start recovers from the store.
    #[error(
        "cannot apply a batch of {ops} operations to the state store {}: {source}",
        path.display()
    )]
    Write {
        /// The database file.
        path: PathBuf,
        /// How many operations the batch held.
        ops: usize,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },

    /// A key or prefix breaks the rules of [`crate::store::validate_key`].
    #[error("invalid state store key {key:?}: {reason}")]
    InvalidKey {
        /// The key or prefix as given.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },

    /// A batch is over [`crate::store::MAX_BATCH_BYTES`].
    #[error(
        "a batch of {bytes} bytes is over the limit of {max} bytes (under ZooKeeper's default \
         jute.maxbuffer, as a ZooKeeper store writes a batch in one request): split the \
         decision into smaller steps, or store less per key"
    )]
    BatchTooLarge {
        /// The batch's size, as counted by [`crate::store::Batch::size_bytes`].
        bytes: usize,
        /// The limit.
        max: usize,
    },

    /// The ZooKeeper URL given to [`crate::store::ZkStore::connect`] is malformed, or its
    /// `file://` could not be read.
    #[error("cannot open the ZooKeeper state store: {0}")]
    ZkUrl(#[source] herd_mesos_client::zk::ZkError),

    /// No ZooKeeper session could be established, or the store's znodes could not be prepared.
    #[error("cannot open the ZooKeeper state store {store}: {reason}")]
    ZkConnect {
        /// The store, as `zk://[user:***@]servers/path` (the password hidden).
        store: String,
        /// What failed, and what to check.
        reason: String,
    },

    /// A ZooKeeper request failed. A `multi` that ZooKeeper refuses changes nothing, but as
    /// with every error of [`crate::store::StateStore::apply`], the scheduler stops.
    #[error("ZooKeeper state store {store}: cannot {op}: {source}{}", zk_hint(.source))]
    Zk {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// What was attempted (`read "framework_id"`, `apply a batch of 3 operations`).
        op: String,
        /// The client's error.
        #[source]
        source: zookeeper_client::Error,
    },

    /// A ZooKeeper call did not finish in time (the servers are unreachable, or the ensemble
    /// has no quorum). For [`crate::store::StateStore::apply`], the batch may or may not have
    /// been applied.
    #[error(
        "ZooKeeper state store {store}: cannot {op} within {timeout:?}: no answer from ZooKeeper \
         (are the servers reachable, and does the ensemble have a quorum?)"
    )]
    ZkTimeout {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// What was attempted.
        op: String,
        /// The time allowed.
        timeout: std::time::Duration,
    },

    /// The store's ZooKeeper session ended: it expired (ZooKeeper was unreachable for longer
    /// than the session timeout), was closed, or its credentials were refused. Its ephemeral
    /// znodes, the leadership lock included, are gone, and this store can do nothing more: the
    /// scheduler stops, and its next start opens a new session (and runs for leadership again).
    #[error(
        "ZooKeeper state store {store}: the ZooKeeper session ended ({state}); this scheduler \
         no longer holds leadership and must stop (a restart opens a new session)"
    )]
    ZkSessionLost {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// How the session ended (`Expired`, `Closed`, `AuthFailed`).
        state: String,
    },

    /// The znodes changed under a batch (or a listing) every time it was tried: something
    /// else writes under the store's path, such as another scheduler running without
    /// holding leadership.
    #[error(
        "ZooKeeper state store {store}: cannot {op}: the znodes kept changing concurrently \
         ({attempts} attempts); is another scheduler writing to this path without holding \
         leadership?"
    )]
    ZkConflict {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// What was attempted.
        op: String,
        /// How many times it was tried.
        attempts: u32,
    },

    /// A znode under the store's path does not hold what a herd state store writes there.
    #[error(
        "ZooKeeper state store {store}: the znode {znode} {reason}; is this path used by \
         something other than a herd state store?"
    )]
    ZkCorrupt {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// The znode.
        znode: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A batch, once its delete-prefixes are expanded into the keys under them, makes a
    /// ZooKeeper `multi` request larger than a server accepts.
    #[error(
        "ZooKeeper state store {store}: a batch of {ops} operations expands to a ZooKeeper \
         multi of {bytes} bytes (a delete-prefix over many keys?), over the limit of {max} \
         bytes (ZooKeeper's default jute.maxbuffer): split it into smaller batches"
    )]
    ZkMultiTooLarge {
        /// The store, as `zk://[user:***@]servers/path`.
        store: String,
        /// How many operations the batch held.
        ops: usize,
        /// The size of the multi request.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// A remedy for the ZooKeeper errors that have an obvious one.
fn zk_hint(error: &zookeeper_client::Error) -> &'static str {
    use zookeeper_client::Error;
    match error {
        Error::NoAuth => {
            " (the znode's ACL refuses this client: give the credentials the path was created \
             with in the URL, zk://user:password@host:port/path)"
        }
        Error::AuthFailed => " (ZooKeeper refused the credentials in the URL)",
        Error::NoChildrenForEphemerals => " (a znode on the path is ephemeral: choose another path)",
        Error::ConnectionLoss => {
            " (the connection dropped: the request may or may not have been carried out)"
        }
        _ => "",
    }
}
