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
}
