//! Batches of writes, and the rules for keys and prefixes that every backend enforces.

use std::ops::Bound;

use super::StoreError;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The largest batch, in bytes, as counted by [`Batch::size_bytes`]: 900 KiB, under the
/// 1 MiB request limit of a ZooKeeper server with its default `jute.maxbuffer`, since a
/// ZooKeeper store sends a batch as one `multi` request.
pub const MAX_BATCH_BYTES: usize = 900 * 1024;

/// What [`Batch::size_bytes`] counts for each operation besides its key and value: a
/// ZooKeeper `multi` spends about this much per operation on headers, versions and ACLs.
pub const OP_OVERHEAD_BYTES: usize = 64;

/// One operation of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Stores `value` under `key`, replacing any value there.
    Put {
        /// Where to store the value.
        key: String,
        /// The bytes to store.
        value: Vec<u8>,
    },
    /// Removes `key`; nothing happens if it has no value.
    Delete {
        /// The key to remove.
        key: String,
    },
    /// Removes every key under `prefix` (those that [`crate::store::StateStore::list`]
    /// returns for it at that point of the batch), but not `prefix` itself.
    DeletePrefix {
        /// The prefix whose keys to remove; the empty prefix removes every key.
        prefix: String,
    },
}

/// Writes and deletes applied together, in order, by [`crate::store::StateStore::apply`]:
/// after a crash at any instant either all of them are visible or none.
///
/// ```
/// use herd_runtime::store::{Batch, MemoryStore, StateStore};
///
/// let store = MemoryStore::new();
/// store.apply(
///     Batch::new()
///         .put("instances/hello-0", b"{\"agent\":\"a1\"}".to_vec())
///         .put("tasks/hello-0-server", b"TASK_STAGING".to_vec()),
/// )?;
/// store.apply(Batch::new().delete_prefix("instances").delete("tasks/hello-0-server"))?;
/// assert!(store.list("")?.is_empty());
/// # Ok::<(), herd_runtime::store::StoreError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write of `value` under `key`.
    #[must_use]
    pub fn put(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.ops.push(Op::Put { key: key.into(), value: value.into() });
        self
    }

    /// Adds a delete of `key`.
    #[must_use]
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// Adds a delete of every key under `prefix` (see [`Op::DeletePrefix`]).
    #[must_use]
    pub fn delete_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.ops.push(Op::DeletePrefix { prefix: prefix.into() });
        self
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The operations, in the order they apply.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// How many operations the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The size that [`MAX_BATCH_BYTES`] limits: keys, prefixes and values, plus
    /// [`OP_OVERHEAD_BYTES`] per operation.
    pub fn size_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| {
                OP_OVERHEAD_BYTES
                    + match op {
                        Op::Put { key, value } => key.len() + value.len(),
                        Op::Delete { key } => key.len(),
                        Op::DeletePrefix { prefix } => prefix.len(),
                    }
            })
            .sum()
    }

    /// Checks every key and prefix, and the size. Every backend calls this before applying
    /// anything, so an invalid batch changes nothing.
    pub fn validate(&self) -> Result<(), StoreError> {
        for op in &self.ops {
            match op {
                Op::Put { key, .. } | Op::Delete { key } => validate_key(key)?,
                Op::DeletePrefix { prefix } => validate_prefix(prefix)?,
            }
        }
        let bytes = self.size_bytes();
        if bytes > MAX_BATCH_BYTES {
            return Err(StoreError::BatchTooLarge { bytes, max: MAX_BATCH_BYTES });
        }
        Ok(())
    }
}

/// Checks that `key` is a valid key: one or more '/'-separated segments of ASCII letters,
/// digits and `- _ . ~ : @ + = , %`, none empty, `.` or `..`, at most [`MAX_KEY_BYTES`] in all.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidKey { key: key.to_owned(), reason };
    if key.is_empty() {
        return Err(invalid("a key cannot be empty".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(format!("it is {} bytes long, over the limit of {MAX_KEY_BYTES}", key.len())));
    }
    if let Some(c) = key.chars().find(|&c| !is_key_char(c)) {
        return Err(invalid(format!(
            "it holds {c:?}: keys are made of ASCII letters, digits, '/' and - _ . ~ : @ + = , % \
             (escape other characters with %)"
        )));
    }
    for segment in key.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    "it has an empty segment (a leading, trailing or doubled '/')".to_owned(),
                ));
            }
            "." | ".." => {
                return Err(invalid(format!("it has a {segment:?} segment")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `prefix` is a valid prefix: the empty string or a valid key (so no trailing
/// '/': the keys under `instances` are those that start with `instances/`).
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() { Ok(()) } else { validate_key(prefix) }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/-_.~:@+=,%".contains(c)
}

/// The range of keys under a valid `prefix`: from `prefix/` up to, not including, `prefix0`
/// ('0' is the byte after '/'), or every key for the empty prefix. Keys sort by their bytes in
/// every backend.
pub(crate) fn prefix_bounds(prefix: &str) -> (Bound<String>, Bound<String>) {
    if prefix.is_empty() {
        (Bound::Unbounded, Bound::Unbounded)
    } else {
        (Bound::Included(format!("{prefix}/")), Bound::Excluded(format!("{prefix}0")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn keys_follow_the_rules() {
        for key in [
            "framework_id",
            "instances/hello-0",
            "tasks/hello-0-server__1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "a/b/c/d",
            "x.y",
            "...",
            "agents/a1:5051",
            "labels/k=v,w%2F",
        ] {
            validate_key(key).unwrap();
        }
        for (key, why) in [
            ("", "empty"),
            ("/a", "empty segment"),
            ("a/", "empty segment"),
            ("a//b", "empty segment"),
            ("a/./b", "\".\" segment"),
            ("..", "\"..\" segment"),
            ("a b", "' '"),
            ("é", "'é'"),
            ("a\0b", "'\\0'"),
        ] {
            let err = validate_key(key).unwrap_err();
            assert!(matches!(&err, StoreError::InvalidKey { key: k, .. } if k == key), "{err:?}");
            assert!(err.to_string().contains(why), "{key:?}: {err}");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(validate_key(&long).unwrap_err().to_string().contains("over the limit"));
        validate_key(&long[1..]).unwrap();
    }

    #[test]
    fn prefixes_are_keys_or_empty() {
        validate_prefix("").unwrap();
        validate_prefix("instances").unwrap();
        assert!(validate_prefix("instances/").is_err());
    }

    #[test]
    fn the_prefix_range_holds_exactly_the_keys_under_it() {
        let keys = [
            "instances",
            "instances-old/x",
            "instances.x",
            "instances/a",
            "instances/a/b",
            "instances/~",
            "instances0",
            "instancesz",
        ];
        let (Bound::Included(start), Bound::Excluded(end)) = prefix_bounds("instances") else {
            panic!("a non-empty prefix has a bounded range");
        };
        let under: Vec<_> = keys.iter().filter(|k| **k >= start.as_str() && **k < end.as_str()).collect();
        assert_eq!(under, [&"instances/a", &"instances/a/b", &"instances/~"]);
    }

    #[test]
    fn a_batch_is_checked_whole() {
        Batch::new().validate().unwrap();
        let err = Batch::new().put("ok", b"v".to_vec()).delete("bad/").validate().unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { ref key, .. } if key == "bad/"));
        assert!(Batch::new().delete_prefix("p/").validate().is_err());

        let value = vec![0; MAX_BATCH_BYTES - OP_OVERHEAD_BYTES - 1];
        let fits = Batch::new().put("k", value.clone());
        assert_eq!(fits.size_bytes(), MAX_BATCH_BYTES);
        fits.validate().unwrap();
        let err = Batch::new().put("k", value).delete("k").validate().unwrap_err();
        assert!(matches!(err, StoreError::BatchTooLarge { max: MAX_BATCH_BYTES, .. }));
        assert!(err.to_string().contains("jute.maxbuffer"), "{err}");
    }

    #[test]
    fn builders_keep_the_order() {
        let batch = Batch::new().put("a", b"1".to_vec()).delete_prefix("a").delete("b");
        assert_eq!(batch.len(), 3);
        assert_eq!(
            batch.into_ops(),
            [
                Op::Put { key: "a".into(), value: b"1".to_vec() },
                Op::DeletePrefix { prefix: "a".into() },
                Op::Delete { key: "b".into() },
            ]
        );
    }
}
