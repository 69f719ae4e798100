//! Reading a spec from TOML or YAML, with errors that say where.

use super::ServiceSpec;
use std::path::Path;

/// The formats a spec can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl SpecFormat {
    /// The format a file name implies.
    pub fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            _ => None,
        }
    }
}

/// A spec that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Neither .toml nor .yaml.
    #[error("{path}: unknown spec format; name the file .toml, .yaml or .yml")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// Invalid TOML or fields.
    #[error("{origin}: {message}")]
    Toml {
        /// File name or `<string>`.
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// Invalid YAML or fields.
    #[error("{origin}: {message}")]
    Yaml {
        /// File name or `<string>`.
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
}

impl ServiceSpec {
    /// Parses a spec from text.
    pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<Self, SpecError> {
        match format {
            SpecFormat::Toml => toml::from_str(text).map_err(|e| SpecError::Toml {
                origin: origin.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            }),
            SpecFormat::Yaml => serde_norway::from_str(text)
                .map_err(|e| SpecError::Yaml { origin: origin.to_owned(), message: e.to_string() }),
        }
    }

    /// Reads a spec file (format from its extension).
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let shown = path.display().to_string();
        let format = SpecFormat::of(path).ok_or_else(|| SpecError::UnknownFormat { path: shown.clone() })?;
        let text =
            std::fs::read_to_string(path).map_err(|source| SpecError::Io { path: shown.clone(), source })?;
        Self::parse(&text, format, &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Goal, Strategy};

    const HELLO: &str = r#"
name = "hello"

[[pods]]
name = "hello"
count = 3
placement = ["hostname:UNIQUE"]

[[pods.volumes]]
name = "data"
path = "data"
size_mb = 64

[[pods.tasks]]
name = "server"
command = "echo started >> data/starts && python3 -m http.server $PORT_HTTP"
cpus = 0.1
mem_mb = 32

[[pods.tasks.ports]]
name = "http"

[pods.tasks.readiness_check]
http = { port = "http", path = "/" }
"#;

    #[test]
    fn toml_and_yaml_give_the_same_spec() {
        let toml_spec = ServiceSpec::parse(HELLO, SpecFormat::Toml, "hello.toml").unwrap();
        assert_eq!(toml_spec.role(), "hello-role");
        let pod = toml_spec.pod("hello").unwrap();
        assert_eq!(pod.count, 3);
        assert_eq!(pod.strategy, Strategy::Serial);
        assert_eq!(pod.tasks[0].goal, Goal::Running);
        assert_eq!(pod.tasks[0].ports[0].env_key(), "PORT_HTTP");
        let yaml = serde_norway::to_string(&toml_spec).unwrap();
        assert_eq!(ServiceSpec::parse(&yaml, SpecFormat::Yaml, "hello.yaml").unwrap(), toml_spec);
    }

    #[test]
    fn a_typo_is_an_error_naming_the_field_and_line() {
        let text = HELLO.replace("mem_mb = 32", "memory = 32");
        let err = ServiceSpec::parse(&text, SpecFormat::Toml, "hello.toml").unwrap_err().to_string();
        assert!(err.starts_with("hello.toml:"), "{err}");
        assert!(
            err.contains("memory") && err.contains("mem_mb"),
            "names the unknown field and the expected ones: {err}"
        );
        assert!(err.contains("line"), "{err}");
    }
}
