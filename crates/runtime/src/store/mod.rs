//! The state store: everything a scheduler needs to resume after it is killed at any instant.
//!
//! A [`StateStore`] maps '/'-separated keys (`framework_id`, `instances/hello-0`,
//! `plans/deploy`) to opaque values, and applies writes in atomic [`Batch`]es. Backends:
//! [`FileStore`], the embedded crash-safe default in the `--state-dir`; [`MemoryStore`] for
//! tests; [`ZkStore`] in ZooKeeper, for highly available schedulers (see "Backends").
//!
//! # What is durable, and why
//!
//! The scheduler process can die at any instant: SIGKILL, OOM, a machine reboot, a lost
//! leadership. Mesos keeps running its tasks meanwhile. The scheduler that comes back (the
//! same process restarted, or a new leader) has nothing but this store and what Mesos tells it
//! on re-subscribing, so the store holds everything that Mesos does not hand back:
//!
//! | what | why it must survive a crash |
//! |---|---|
//! | the framework id | re-subscribing with the same id keeps the framework's tasks, reservations and volumes; a new id orphans them, and Mesos kills the tasks once the failover timeout runs out |
//! | the target configuration (the service spec last accepted) | a restart must neither fall back to an older config nor jump to a newer one unnoticed: a config change is a plan, computed against the stored target |
//! | instance placements and reservations: agent, reservation labels, persistent volume ids | a stateful instance must come back on the same agent with the same volume; and a reservation the scheduler does not know of can never be released |
//! | task ids and their last known states | reconciliation asks Mesos about exactly these ids, and status updates are matched to instances by them |
//! | plan progress (which steps are complete) | a restart resumes a deploy, update or replace where it was, neither redoing a finished step nor skipping one |
//! | the start of every running timer, as a wall-clock timestamp ("agent lost since", "backing off until") | a restart must not reset a timer: a 10-minute "replace after agent lost" would never fire for a scheduler that restarts every 5 minutes |
//!
//! Not stored: offers (they die with the subscription), anything Mesos sends again on
//! re-subscribing, whether an instance needs work (computed from intent and observed state,
//! never stored as a flag), metrics and logs.
//!
//! # The rule for callers: persist before acting on Mesos
//!
//! The store is worth something only if it is never behind what Mesos was told or told us.
//! So a scheduler writes first and acts second:
//!
//! - **Acknowledge a status update only after its effect is stored.** Mesos resends an
//!   unacknowledged update, so a crash between storing and acknowledging loses nothing; the
//!   other order would lose the update for good.
//! - **Write the intent before an operation that creates something in Mesos** (RESERVE,
//!   CREATE a volume, LAUNCH a new task id). A crash right after sending then leaves a record
//!   of what may exist and may need adopting or cleaning up; sending first could leak a
//!   reservation nobody knows about.
//! - **Store the framework id as soon as SUBSCRIBED arrives**, before acting on any offer.
//! - **One decision, one [`Batch`].** [`StateStore::apply`] is all-or-nothing, so the store
//!   never holds half a decision (an instance marked launched without its task id).
//! - **An error from [`StateStore::apply`] is fatal to the scheduler.** The batch may or may
//!   not have been stored (as with any disk or network store, the failure can come after the
//!   data reached it), so the scheduler must not go on from an in-memory state that may differ
//!   from the store: it stops, and the next start rebuilds its state from the store and
//!   reconciliation.
//!
//! # Keys, prefixes and sizes
//!
//! A key is one or more segments joined by '/', each made of ASCII letters, digits and
//! `- _ . ~ : @ + = , %` (anything else can be %-escaped by the caller), and not `.` or `..`;
//! at most [`MAX_KEY_BYTES`] long. These rules make every key a valid ZooKeeper path below
//! the store's root. See [`validate_key`].
//!
//! A prefix is a key or the empty string. The keys *under* a prefix are those that continue it
//! with '/': under `instances` are `instances/hello-0` and `instances/hello-0/task`, but not
//! `instances` itself nor `instances-old/x`. The empty prefix is above every key. Prefixes
//! follow segments, not characters, because a ZooKeeper store can only list children.
//!
//! A batch is at most [`MAX_BATCH_BYTES`] (keys, values and a per-operation allowance): a
//! ZooKeeper `multi` travels as one request, which servers refuse over their `jute.maxbuffer`
//! (1 MiB by default). Every backend enforces the same limit, so a scheduler tested against
//! the file store does not fail only once it runs against ZooKeeper.
//!
//! # Backends
//!
//! - [`FileStore`]: one [redb](https://docs.rs/redb) database file in the state directory, one
//!   table from key to value. `apply` is one write transaction, committed with fsync (and
//!   redb's two-phase commit) before it returns; redb's copy-on-write commits make a crash at
//!   any instant leave either the previous or the new state, never a mix. The file is locked
//!   while open: a second scheduler on the same directory gets [`StoreError::Locked`]. Reads
//!   are snapshot reads from redb's page cache and never wait for a writer.
//! - [`MemoryStore`]: a map behind a mutex, for tests of the core and the runtime; nothing
//!   survives the process.
//! - [`ZkStore`]: each key is the znode `<path>/state/<key>` (parent znodes created as needed,
//!   and pruned once empty), `get` and `list` are reads and child listings, `apply` is one
//!   `multi` (a delete-prefix expands to deletes of the znodes found under it, the `multi`
//!   guarded by a version check so a concurrent change fails it, and it is planned again),
//!   and the exclusion that [`FileStore`] gets from a file lock comes from leader election
//!   ([`ZkStore::lock_leadership`], under `<path>/leader`). See [`ZkStore`] for the details.

mod batch;
mod error;
mod file;
mod memory;
mod zk;

use std::sync::Arc;

pub use batch::{
    Batch, MAX_BATCH_BYTES, MAX_KEY_BYTES, OP_OVERHEAD_BYTES, Op, validate_key, validate_prefix,
};
pub use error::StoreError;
pub use file::{FILE_NAME, FileStore};
pub use memory::MemoryStore;
pub use zk::{LeaderGuard, ZkStore};

/// A key-value store of opaque values under '/'-separated keys (e.g. `instances/hello-0`,
/// `framework_id`, `plans/deploy`), written in atomic batches.
///
/// The methods block: [`StateStore::apply`] returns once the batch is durable (for
/// [`FileStore`], after fsync). Async code calls them from a blocking context.
///
/// Every call sees the batches applied before it started, in full, and none in part. Keys
/// and prefixes are checked by [`validate_key`] and [`validate_prefix`]; a bad one is an
/// [`StoreError::InvalidKey`], never a panic.
pub trait StateStore: Send + Sync {
    /// The value stored under `key`, or `None` if there is none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The keys under `prefix` (those that continue it with '/'; every key for the empty
    /// prefix), sorted by their bytes.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Applies all writes and deletes of `batch` in order, atomically: after a crash at any
    /// instant either all or none are visible. An empty batch changes nothing.
    ///
    /// On error the batch may or may not have been applied; see the module documentation
    /// for what the caller does then.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
}

impl<S: StateStore + ?Sized> StateStore for &S {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list(prefix)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).apply(batch)
    }
}

impl<S: StateStore + ?Sized> StateStore for Box<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list(prefix)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).apply(batch)
    }
}

impl<S: StateStore + ?Sized> StateStore for Arc<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list(prefix)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).apply(batch)
    }
}
