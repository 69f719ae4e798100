//! `herd topic SVC [list|create|describe|delete]`: a Kafka service's topics, through its
//! operator API (which speaks the Kafka admin protocol to the brokers).

use serde_json::{Value, json};

/// Arguments of `herd topic`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: super::ServiceArgs,
    /// What to do (default: list).
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// The topics.
    List,
    /// Create a topic.
    Create {
        /// Its name.
        name: String,
        /// Partitions.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// Replication factor (default: min(3, brokers)).
        #[arg(long)]
        replication: Option<i32>,
        /// A topic config, KEY=VALUE (repeat for several), e.g. -c min.insync.replicas=2.
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// A topic's partitions (leader, replicas, in-sync replicas) and configs.
    Describe {
        /// Its name.
        name: String,
    },
    /// Delete a topic.
    Delete {
        /// Its name.
        name: String,
    },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE (e.g. -c retention.ms=3600000)")),
    }
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let operator = args.target.operator()?;
    let json_out = args.target.json();
    let (answer, text) = match args.action.unwrap_or(Action::List) {
        Action::List => {
            let topics = operator.get("/v1/topics").await?;
            let text = topics
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|t| format!("{t}\n"))
                .collect();
            (topics, text)
        }
        Action::Create { name, partitions, replication, configs } => {
            let configs: serde_json::Map<String, Value> =
                configs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = json!({ "name": name, "partitions": partitions, "replication": replication, "configs": configs });
            let answer = operator.post("/v1/topics", Some(body)).await?;
            (answer, format!("topic {name} created\n"))
        }
        Action::Describe { name } => {
            let topic = operator.get(&format!("/v1/topics/{name}")).await?;
            let mut text = format!("{name}\n");
            for p in topic["partitions"].as_array().into_iter().flatten() {
                text += &format!(
                    "  partition {}  leader {}  replicas {}  isr {}\n",
                    p["id"], p["leader"], p["replicas"], p["isr"]
                );
            }
            for (k, v) in topic["configs"].as_object().into_iter().flatten() {
                text += &format!("  {k}={}\n", v.as_str().unwrap_or_default());
            }
            (topic, text)
        }
        Action::Delete { name } => {
            let answer = operator.delete(&format!("/v1/topics/{name}")).await?;
            (answer, format!("topic {name} deleted\n"))
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{text}");
    }
    Ok(())
}
