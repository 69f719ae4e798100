//! The frameworks this `herd` knows: their documented default configs, and how a config of
//! each becomes a service spec (`hello` configs are service specs themselves; `kafka`,
//! `cassandra` and `spark` configs are the systems' own, turned into specs by `herd-kafka`,
//! `herd-cassandra` and `herd-spark`).

use anyhow::{Context, bail};
use herd_core::spec::{ServiceSpec, SpecFormat};
use std::path::Path;

/// One framework.
struct Framework {
    name: &'static str,
    default_config: &'static str,
    parse: fn(&str, SpecFormat, &str) -> anyhow::Result<ServiceSpec>,
    probes: fn() -> herd_runtime::probes::Probes,
    extension: Option<fn() -> std::sync::Arc<dyn herd_runtime::probes::ApiExtension>>,
    /// How `herd endpoints` joins the main endpoint's addresses: `,` for what clients take
    /// as one list (Kafka's bootstrap servers), `\n` for one contact point per line.
    separator: &'static str,
}

fn parse_spec(text: &str, format: SpecFormat, origin: &str) -> anyhow::Result<ServiceSpec> {
    Ok(ServiceSpec::parse(text, format, origin)?)
}

fn parse_kafka(text: &str, format: SpecFormat, origin: &str) -> anyhow::Result<ServiceSpec> {
    Ok(herd_kafka::parse(text, format, origin)?)
}

fn parse_cassandra(text: &str, format: SpecFormat, origin: &str) -> anyhow::Result<ServiceSpec> {
    Ok(herd_cassandra::parse(text, format, origin)?)
}

fn parse_spark(text: &str, format: SpecFormat, origin: &str) -> anyhow::Result<ServiceSpec> {
    Ok(herd_spark::parse(text, format, origin)?)
}

/// Every framework, by name.
const FRAMEWORKS: [Framework; 4] = [
    Framework {
        name: "hello",
        default_config: herd_hello::DEFAULT_CONFIG,
        parse: parse_spec,
        probes: herd_runtime::probes::Probes::new,
        extension: None,
        separator: ",",
    },
    Framework {
        name: "kafka",
        default_config: herd_kafka::DEFAULT_CONFIG,
        parse: parse_kafka,
        probes: herd_kafka::probes,
        extension: Some(herd_kafka::extension),
        separator: ",",
    },
    Framework {
        name: "cassandra",
        default_config: herd_cassandra::DEFAULT_CONFIG,
        parse: parse_cassandra,
        probes: herd_cassandra::probes,
        extension: None,
        separator: "\n",
    },
    Framework {
        name: "spark",
        default_config: herd_spark::DEFAULT_CONFIG,
        parse: parse_spark,
        probes: herd_spark::probes,
        extension: Some(herd_spark::extension),
        separator: ",",
    },
];

fn find(framework: &str) -> anyhow::Result<&'static Framework> {
    match FRAMEWORKS.iter().find(|f| f.name == framework) {
        Some(f) => Ok(f),
        None => {
            bail!("unknown framework {framework:?}: herd knows {} (more arrive with their issues)", names())
        }
    }
}

/// The names of the known frameworks, for messages.
pub(crate) fn names() -> String {
    FRAMEWORKS.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// The documented default config of `framework`.
pub(crate) fn default_config(framework: &str) -> anyhow::Result<&'static str> {
    Ok(find(framework)?.default_config)
}

/// Parses a config text of `framework` into its service spec.
pub(crate) fn parse(
    framework: &str,
    text: &str,
    format: SpecFormat,
    origin: &str,
) -> anyhow::Result<ServiceSpec> {
    (find(framework)?.parse)(text, format, origin)
}

/// The spec to run: `config` if given (TOML or YAML by extension), else the default.
pub(crate) fn spec(framework: &str, config: Option<&Path>) -> anyhow::Result<ServiceSpec> {
    let f = find(framework)?;
    match config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let format = SpecFormat::of(path)
                .with_context(|| format!("{}: use a .toml, .yaml or .yml file", path.display()))?;
            (f.parse)(&text, format, &path.display().to_string())
        }
        None => (f.parse)(f.default_config, SpecFormat::Toml, &format!("the default {framework} config")),
    }
}

/// The framework a config file is for, guessed from its name (`kafka.toml`,
/// `kafka-prod.yaml` → kafka); `None` for a plain service spec.
pub(crate) fn guess(path: &Path) -> Option<&'static str> {
    let stem = path.file_name()?.to_str()?;
    FRAMEWORKS.iter().map(|f| f.name).find(|name| {
        stem.strip_prefix(name).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
    })
}

/// The readiness probes `framework` runs from the scheduler (none for an unknown one).
pub(crate) fn probes(framework: &str) -> herd_runtime::probes::Probes {
    find(framework).map(|f| (f.probes)()).unwrap_or_default()
}

/// The operator API routes `framework` adds, if any.
pub(crate) fn extension(framework: &str) -> Option<std::sync::Arc<dyn herd_runtime::probes::ApiExtension>> {
    find(framework).ok().and_then(|f| f.extension).map(|make| make())
}

/// How `herd endpoints` joins the main endpoint's addresses for `framework` (`,` for an
/// unknown one).
pub(crate) fn separator(framework: &str) -> &'static str {
    find(framework).map_or(",", |f| f.separator)
}

/// Validates `spec`; the error lists every problem with its field and fix.
pub(crate) fn validate(spec: &ServiceSpec) -> anyhow::Result<()> {
    if let Err(errors) = herd_core::validation::validate(spec) {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("invalid service spec ({} problem(s)):\n  {}", list.len(), list.join("\n  "));
    }
    Ok(())
}

/// The frameworks, for `herd-testkit` stacks.
pub(crate) struct Known;

impl herd_testkit::Frameworks for Known {
    fn default_config(&self, framework: &str) -> Option<&'static str> {
        default_config(framework).ok()
    }

    fn parse(
        &self,
        framework: &str,
        text: &str,
        format: SpecFormat,
        origin: &str,
    ) -> Result<ServiceSpec, String> {
        parse(framework, text, format, origin).map_err(|e| format!("{e:#}"))
    }

    fn probes(&self, framework: &str) -> herd_runtime::probes::Probes {
        probes(framework)
    }

    fn extension(&self, framework: &str) -> Option<std::sync::Arc<dyn herd_runtime::probes::ApiExtension>> {
        extension(framework)
    }
}
