//! `herd endpoints SVC [NAME]`: where a service's ports are (`/v1/endpoints`): the main
//! endpoint's addresses when the service marks one — as one comma-separated line (Kafka's
//! bootstrap servers), or one per line for frameworks whose clients take a list of contact
//! points (Cassandra) — else every endpoint with its addresses; with NAME, that endpoint's.

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
    // The framework `herd run`/`herd up` recorded for the service says how to join.
    let framework =
        crate::operator::recorded().into_iter().find(|s| s.name == args.service).map(|s| s.framework);
    let separator = framework.as_deref().map_or(",", crate::frameworks::separator);
    match args.output {
        super::Output::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
        super::Output::Text => print!("{}", text(&shown, args.name.as_deref(), separator)),
    }
    Ok(())
}

/// The text output: NAME's addresses, else the main endpoint's (ready to paste), joined
/// with `separator`; else every endpoint with its comma-separated addresses, one a line.
fn text(shown: &serde_json::Value, name: Option<&str>, separator: &str) -> String {
    let primary = shown.as_object().into_iter().flatten().find(|(_, e)| e["primary"] == true);
    match (name, primary) {
        (Some(name), _) => format!("{}\n", addresses(&shown[name]).join(separator)),
        (None, Some((_, e))) => format!("{}\n", addresses(e).join(separator)),
        (None, None) => shown
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, e)| format!("{name}: {}\n", addresses(e).join(",")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn the_main_endpoint_is_one_line_or_one_address_a_line() {
        let endpoints = serde_json::json!({
            "node-native": { "address": ["127.0.1.1:9042", "127.0.1.2:9042"], "primary": true },
            "node-jmx": { "address": ["127.0.1.1:7199"], "primary": false },
        });
        assert_eq!(text(&endpoints, None, ","), "127.0.1.1:9042,127.0.1.2:9042\n");
        assert_eq!(text(&endpoints, None, "\n"), "127.0.1.1:9042\n127.0.1.2:9042\n");
        assert_eq!(text(&endpoints, Some("node-native"), "\n"), "127.0.1.1:9042\n127.0.1.2:9042\n");
        let plain = serde_json::json!({
            "a-http": { "address": ["h:1", "h:2"], "primary": false },
            "b-x": { "address": [], "primary": false },
        });
        assert_eq!(text(&plain, None, "\n"), "a-http: h:1,h:2\nb-x: \n");
    }
}
