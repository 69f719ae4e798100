//! `herd endpoints SVC [NAME]`: where a service's ports are (`/v1/endpoints`): the main
//! endpoint's addresses as one comma-separated line (what clients take as bootstrap servers
//! or contact points) when the service marks one, else every endpoint with its addresses;
//! with NAME, that endpoint's line.

use crate::operator::{Operator, api_of};
use anyhow::bail;

/// Arguments of `herd endpoints`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service (as `herd run` named it), e.g. hello.
    service: String,
    /// One endpoint (e.g. hello-http): print only its addresses, comma-separated.
    name: Option<String>,
    /// The service's operator API, http://HOST:PORT (default: the one `herd run` recorded).
    #[arg(long, env = "HERD_API")]
    api: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = super::Output::Text)]
    output: super::Output,
}

fn addresses(endpoint: &serde_json::Value) -> Vec<&str> {
    endpoint["address"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect()
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let api = api_of(&args.service, args.api.as_deref())?;
    let endpoints = Operator::new(&args.service, api)?.get("/v1/endpoints").await?;
    let shown = match &args.name {
        Some(name) => match endpoints.get(name) {
            Some(e) => serde_json::json!({ name: e }),
            None => {
                let known: Vec<&String> =
                    endpoints.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                bail!("{} has no endpoint {name:?}; it has: {known:?}", args.service);
            }
        },
        None => endpoints,
    };
    match (args.output, &args.name) {
        (super::Output::Json, _) => println!("{}", serde_json::to_string_pretty(&shown)?),
        (super::Output::Text, Some(name)) => println!("{}", addresses(&shown[name]).join(",")),
        (super::Output::Text, None) => {
            let primary = shown.as_object().into_iter().flatten().find(|(_, e)| e["primary"] == true);
            match primary {
                // The main endpoint (Kafka's bootstrap servers): one line, ready to paste.
                Some((_, e)) => println!("{}", addresses(e).join(",")),
                None => {
                    for (name, e) in shown.as_object().into_iter().flatten() {
                        println!("{name}: {}", addresses(e).join(","));
                    }
                }
            }
        }
    }
    Ok(())
}
