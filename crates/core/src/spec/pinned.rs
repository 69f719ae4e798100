//! The distributions herd pins (`configs/distributions.toml`): what a framework deploys
//! when its config names no artifact.

use super::ArtifactSpec;
use std::collections::BTreeMap;

/// Where the pinned distributions come from (for messages).
pub const PINNED_ORIGIN: &str = "configs/distributions.toml";

/// The pinned distributions, as shipped.
const DISTRIBUTIONS: &str = include_str!("../../../../configs/distributions.toml");

/// Why a pinned distribution cannot be had: a broken distributions file, or no entry of
/// that name (both are bugs of the build, not of an operator's config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{PINNED_ORIGIN}: {message}")]
pub struct PinnedError {
    /// What is wrong.
    pub message: String,
}

/// The pinned distribution `name` (`kafka`, `cassandra`, `spark4`...).
pub fn pinned_artifact(name: &str) -> Result<ArtifactSpec, PinnedError> {
    let table: BTreeMap<String, ArtifactSpec> =
        toml::from_str(DISTRIBUTIONS).map_err(|e| PinnedError { message: e.to_string() })?;
    table.get(name).cloned().ok_or_else(|| PinnedError { message: format!("has no [{name}] entry") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frameworks_distributions_are_pinned_and_an_unknown_one_is_named() {
        for name in ["kafka", "cassandra", "spark4", "spark35"] {
            let artifact = pinned_artifact(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(artifact.source().is_some(), "{name}: a maven or pypi source {artifact:?}");
        }
        let err = pinned_artifact("kafak").unwrap_err();
        assert_eq!(err.to_string(), "configs/distributions.toml: has no [kafak] entry");
    }
}
