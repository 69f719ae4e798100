//! A state store in memory, for tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::batch::{Op, prefix_bounds, validate_key, validate_prefix};
use super::{Batch, StateStore, StoreError};

/// A [`StateStore`] in memory, for tests of the core and the runtime: same rules and
/// atomicity as [`crate::store::FileStore`], but nothing survives the process. Share one
/// through an `Arc` to let a "restarted" scheduler find what the last one stored.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // The map is changed only after a batch is validated, by code that cannot panic
        // half-way, so a poisoned lock still guards a consistent map.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        Ok(self.map().get(key).cloned())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_prefix(prefix)?;
        Ok(self.map().range(prefix_bounds(prefix)).map(|(k, _)| k.clone()).collect())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        let mut map = self.map();
        for op in batch.into_ops() {
            match op {
                Op::Put { key, value } => {
                    map.insert(key, value);
                }
                Op::Delete { key } => {
                    map.remove(&key);
                }
                Op::DeletePrefix { prefix } => {
                    let doomed: Vec<String> =
                        map.range(prefix_bounds(&prefix)).map(|(k, _)| k.clone()).collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_invalid_batch_changes_nothing() {
        let store = MemoryStore::new();
        store.apply(Batch::new().put("a", b"1".to_vec())).unwrap();
        let err = store.apply(Batch::new().delete("a").put("b/", b"2".to_vec())).unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{err}");
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.list("").unwrap(), ["a"]);
    }

    #[test]
    fn reads_check_keys() {
        let store = MemoryStore::new();
        assert!(matches!(store.get(""), Err(StoreError::InvalidKey { .. })));
        assert!(matches!(store.list("a/"), Err(StoreError::InvalidKey { .. })));
    }
}
