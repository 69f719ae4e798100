//! `herd config validate FILE` (parse and check a service config, listing every problem
//! with its field and fix) and `herd config defaults FRAMEWORK` (print the documented
//! default config, a starting point to edit).

use anyhow::Context;
use herd_core::spec::ServiceSpec;
use std::path::PathBuf;

/// Arguments of `herd config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Check a service config (TOML or YAML): every problem is listed with its field and fix.
    Validate {
        /// The config file.
        file: PathBuf,
        /// The framework it configures (default: guessed from the file name, `kafka.toml` →
        /// kafka; otherwise the file is a plain service spec, like hello's).
        #[arg(long)]
        framework: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = super::Output::Text)]
        output: super::Output,
    },
    /// Print a framework's documented default config.
    Defaults {
        /// The framework.
        framework: String,
    },
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Defaults { framework } => {
            print!("{}", crate::frameworks::default_config(&framework)?);
            Ok(())
        }
        Action::Validate { file, framework, output } => {
            let framework = framework.or_else(|| crate::frameworks::guess(&file).map(str::to_owned));
            let spec = match &framework {
                Some(f) => crate::frameworks::spec(f, Some(&file))?,
                None => ServiceSpec::load(&file).with_context(|| format!("reading {}", file.display()))?,
            };
            let errors = herd_core::validation::validate(&spec).err().unwrap_or_default();
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            match output {
                super::Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "file": file.display().to_string(),
                        "service": spec.name,
                        "valid": problems.is_empty(),
                        "problems": problems,
                    }))?
                ),
                super::Output::Text if problems.is_empty() => println!(
                    "{}: valid (service {}, {} pod type(s), {} operator plan(s))",
                    file.display(),
                    spec.name,
                    spec.pods.len(),
                    spec.plans.len()
                ),
                super::Output::Text => {}
            }
            if !problems.is_empty() {
                anyhow::bail!(
                    "{} is not a valid service config ({} problem(s)):\n  {}",
                    file.display(),
                    problems.len(),
                    problems.join("\n  ")
                );
            }
            Ok(())
        }
    }
}
