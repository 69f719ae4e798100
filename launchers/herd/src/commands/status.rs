//! `herd status`: the services `herd run` recorded on this machine, whether their
//! schedulers answer, and how their deploy plans stand.

use crate::operator::{Operator, recorded};
use serde_json::json;

/// Arguments of `herd status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = super::Output::Text)]
    output: super::Output,
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for service in recorded() {
        let operator = Operator::new(&service.name, service.api.clone())?;
        let (reachable, deploy, error) = match operator.get("/v1/plans/deploy").await {
            Ok(plan) => (true, plan["status"].as_str().unwrap_or("?").to_owned(), None),
            Err(e) => (false, "-".to_owned(), Some(e.to_string())),
        };
        rows.push(json!({
            "name": service.name,
            "framework": service.framework,
            "api": service.api,
            "state": service.state,
            "running": reachable,
            "deploy": deploy,
            "error": error,
        }));
    }
    match args.output {
        super::Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        super::Output::Text if rows.is_empty() => {
            println!(
                "no services recorded in {} (herd run records them)",
                crate::commands::herd_home().display()
            );
        }
        super::Output::Text => {
            println!("{:<16} {:<10} {:<28} {:<8} DEPLOY", "NAME", "FRAMEWORK", "API", "RUNNING");
            for r in &rows {
                println!(
                    "{:<16} {:<10} {:<28} {:<8} {}",
                    r["name"].as_str().unwrap_or("?"),
                    r["framework"].as_str().unwrap_or("?"),
                    r["api"].as_str().unwrap_or("?"),
                    if r["running"] == true { "yes" } else { "no" },
                    r["deploy"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}
