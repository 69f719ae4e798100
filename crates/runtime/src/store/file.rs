//! The embedded state store: one redb database file in the scheduler's `--state-dir`.
//!
//! Why redb: a pure-Rust, copy-on-write B-tree whose commits are atomic and, with
//! [`redb::Durability::Immediate`], durable when `commit` returns; a crash at any instant
//! leaves the last committed state. That leaves this file small: one table from key to
//! value, `apply` as one write transaction, reads as snapshot reads.
//!
//! Choices made here, and why:
//! - Two-phase commit on: each commit fsyncs its data, then flips the root pointer and
//!   fsyncs again, so recovery never has to trust a checksum to tell a torn commit. It costs
//!   one more fsync per batch; batches come at the pace of Mesos events, not faster.
//! - Integrity checked on every open: the whole file (small: the scheduler's state, not its
//!   tasks' data) is checksummed before use, so a damaged file is an [`StoreError::Open`]
//!   rather than a panic somewhere later.
//! - The directory is created owner-only (0700) and the file 0600: the target config can
//!   hold secrets. The directory is fsynced after the file is created, so the file's name
//!   survives a power loss too.
//! - The lock is redb's: byte-range locks on the file (open file description locks on
//!   Linux), released by the kernel when the process dies, so a SIGKILLed scheduler never
//!   leaves a stale lock. They need a local filesystem: do not put the state directory on
//!   NFS.

use std::fs::{File, OpenOptions};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{Builder, Database, DatabaseError, Durability, ReadableDatabase, TableDefinition};

use super::batch::{Op, prefix_bounds, validate_key, validate_prefix};
use super::{Batch, StateStore, StoreError};

/// The name of the database file in the state directory.
pub const FILE_NAME: &str = "herd-state.redb";

/// The only table: key to value.
const TABLE: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("state");

/// redb's page cache. The state of a scheduler is a few MiB at most; the cache only grows
/// to what is read.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The embedded, crash-safe [`StateStore`]: a redb database in the scheduler's state
/// directory (`--state-dir`).
///
/// After [`StateStore::apply`] returns, the batch survives a crash of the process or the
/// machine; a crash during it leaves all of the batch or none. One process at a time: while
/// a `FileStore` is open, opening the same directory again fails with
/// [`StoreError::Locked`], in this process or another.
pub struct FileStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory and the database file if needed.
    ///
    /// After a crash this also recovers the file to its last commit. Fails with
    /// [`StoreError::Locked`] if another `FileStore` has the directory open.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let path = dir.join(FILE_NAME);
        let dir_error = |source| StoreError::StateDir { path: dir.to_owned(), source };
        create_private_dir(dir).map_err(dir_error)?;
        let open_error =
            |source: redb::Error| StoreError::Open { path: path.clone(), source: Box::new(source) };
        let file = open_private_file(&path).map_err(|e| open_error(e.into()))?;
        let backend = FileBackend::new(file).map_err(|e| open_error(e.into()))?;
        let db = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create_with_backend(backend)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                    StoreError::Locked { path: path.clone() }
                }
                other => open_error(other.into()),
            })?;
        // Create the table once, so that reads never meet a missing one.
        let mut txn = db.begin_write().map_err(|e| open_error(e.into()))?;
        txn.set_two_phase_commit(true);
        txn.open_table(TABLE).map_err(|e| open_error(e.into()))?;
        txn.commit().map_err(|e| open_error(e.into()))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(dir_error)?;
        Ok(Self { db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_error(&self, key: &str, source: redb::Error) -> StoreError {
        StoreError::Read { path: self.path.clone(), key: key.to_owned(), source: Box::new(source) }
    }

    fn write(&self, batch: Batch) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.set_two_phase_commit(true);
        {
            let mut table = txn.open_table(TABLE)?;
            for op in batch.ops() {
                match op {
                    Op::Put { key, value } => {
                        table.insert(key.as_str(), value.as_slice())?;
                    }
                    Op::Delete { key } => {
                        table.remove(key.as_str())?;
                    }
                    Op::DeletePrefix { prefix } => {
                        table.retain_in::<&str, _>(str_bounds(&prefix_bounds(prefix)), |_, _| false)?;
                    }
                }
            }
        }
        // Dropping an uncommitted transaction (on an error above) aborts it.
        txn.commit()?;
        Ok(())
    }
}

impl StateStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let table = self.db.begin_read()?.open_table(TABLE)?;
            Ok(table.get(key)?.map(|v| v.value().to_vec()))
        };
        read().map_err(|e| self.read_error(key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_prefix(prefix)?;
        let read = || -> Result<Vec<String>, redb::Error> {
            let table = self.db.begin_read()?.open_table(TABLE)?;
            let bounds = prefix_bounds(prefix);
            let mut keys = Vec::new();
            for entry in table.range::<&str>(str_bounds(&bounds))? {
                keys.push(entry?.0.value().to_owned());
            }
            Ok(keys)
        };
        read().map_err(|e| self.read_error(prefix, e))
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let ops = batch.len();
        self.write(batch).map_err(|source| StoreError::Write {
            path: self.path.clone(),
            ops,
            source: Box::new(source),
        })
    }
}

fn str_bounds(bounds: &(Bound<String>, Bound<String>)) -> (Bound<&str>, Bound<&str>) {
    (bounds.0.as_ref().map(String::as_str), bounds.1.as_ref().map(String::as_str))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn open_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_second_open_is_locked_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::open(dir.path()).unwrap();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Locked { path } if path == &dir.path().join(FILE_NAME)),
            "{err:?}"
        );
        assert!(err.to_string().contains("another herd scheduler is running"), "{err}");
        drop(first);
        FileStore::open(dir.path()).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"not a redb file, just text").unwrap();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }

    #[test]
    fn a_state_dir_that_is_a_file_is_a_state_dir_error() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("state");
        std::fs::write(&not_a_dir, b"").unwrap();
        let err = FileStore::open(&not_a_dir).unwrap_err();
        assert!(matches!(err, StoreError::StateDir { .. }), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn the_state_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let store = FileStore::open(&state_dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(store.path()), 0o600);
    }
}
