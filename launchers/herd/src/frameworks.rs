//! The frameworks this `herd` knows: their documented default configs and specs.

use anyhow::bail;
use herd_core::spec::{ServiceSpec, SpecFormat};
use std::path::Path;

/// Every framework, by name, with its documented default config (TOML).
const FRAMEWORKS: [(&str, &str); 1] = [("hello", herd_hello::DEFAULT_CONFIG)];

/// The names of the known frameworks, for messages.
pub(crate) fn names() -> String {
    FRAMEWORKS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The documented default config of `framework`.
pub(crate) fn default_config(framework: &str) -> anyhow::Result<&'static str> {
    match FRAMEWORKS.iter().find(|(n, _)| *n == framework) {
        Some((_, config)) => Ok(config),
        None => {
            bail!("unknown framework {framework:?}: herd knows {} (more arrive with their issues)", names())
        }
    }
}

/// The spec to run: `config` if given (TOML or YAML by extension), else the default.
pub(crate) fn spec(framework: &str, config: Option<&Path>) -> anyhow::Result<ServiceSpec> {
    let default = default_config(framework)?;
    Ok(match config {
        Some(path) => ServiceSpec::load(path)?,
        None => ServiceSpec::parse(default, SpecFormat::Toml, &format!("the default {framework} config"))?,
    })
}

/// Validates `spec`; the error lists every problem with its field and fix.
pub(crate) fn validate(spec: &ServiceSpec) -> anyhow::Result<()> {
    if let Err(errors) = herd_core::validation::validate(spec) {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("invalid service spec ({} problem(s)):\n  {}", list.len(), list.join("\n  "));
    }
    Ok(())
}
