//! What the frameworks' own configs (`configs/kafka.toml`, `configs/cassandra.toml`...)
//! share: reading one from TOML or YAML, and the error that names the field and the fix.

use super::{PINNED_ORIGIN, PinnedError, SpecFormat};

/// Why a framework's config is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML/YAML, unknown fields, or a spec the config cannot be turned into.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the config came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{origin}: {field}: {problem}; {fix}")]
    Invalid {
        /// Where the config came from.
        origin: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

impl ConfigError {
    /// A [`ConfigError::Parse`] of the config from `origin`.
    pub fn parse(origin: &str, message: impl std::fmt::Display) -> Self {
        ConfigError::Parse { origin: origin.to_owned(), message: message.to_string() }
    }

    /// A [`ConfigError::Invalid`]: `field` of the config from `origin` has `problem`; `fix`
    /// says what to do.
    pub fn invalid(origin: &str, field: &str, problem: impl Into<String>, fix: &str) -> Self {
        ConfigError::Invalid {
            origin: origin.to_owned(),
            field: field.to_owned(),
            problem: problem.into(),
            fix: fix.to_owned(),
        }
    }
}

impl From<PinnedError> for ConfigError {
    fn from(e: PinnedError) -> Self {
        ConfigError::parse(PINNED_ORIGIN, e.message)
    }
}

/// Reads a framework's config from TOML or YAML text (from `origin`, for messages).
pub fn parse_config<T: serde::de::DeserializeOwned>(
    text: &str,
    format: SpecFormat,
    origin: &str,
) -> Result<T, ConfigError> {
    match format {
        SpecFormat::Toml => toml::from_str(text).map_err(|e| ConfigError::parse(origin, e)),
        SpecFormat::Yaml => serde_norway::from_str(text).map_err(|e| ConfigError::parse(origin, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Small {
        nodes: u32,
    }

    #[test]
    fn both_formats_read_and_errors_name_the_origin_and_the_fix() {
        assert_eq!(parse_config::<Small>("nodes = 3", SpecFormat::Toml, "a.toml"), Ok(Small { nodes: 3 }));
        assert_eq!(parse_config::<Small>("nodes: 3", SpecFormat::Yaml, "a.yaml"), Ok(Small { nodes: 3 }));
        let err = parse_config::<Small>("nodez = 3", SpecFormat::Toml, "a.toml").unwrap_err();
        assert!(err.to_string().starts_with("a.toml: ") && err.to_string().contains("nodez"), "{err}");
        let err = ConfigError::invalid("a.toml", "nodes", "0 is too few", "give 1 or more");
        assert_eq!(err.to_string(), "a.toml: nodes: 0 is too few; give 1 or more");
    }
}
