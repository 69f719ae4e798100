//! `herd pod SVC [list|status|restart|replace] [POD]`: a service's pod instances through
//! its operator API (`/v1/pods`).

use serde_json::Value;

/// Arguments of `herd pod`.
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
    /// The pod instances.
    List,
    /// Where a pod instance (or every one) runs, and its tasks.
    Status {
        /// The instance, e.g. hello-0 (default: all).
        pod: Option<String>,
    },
    /// Restart an instance in place (same agent, same volumes).
    Restart {
        /// The instance.
        pod: String,
    },
    /// Move an instance to another agent with new reservations and volumes (its data is
    /// not moved: the old volume is destroyed).
    Replace {
        /// The instance.
        pod: String,
    },
}

fn render(pod: &Value) -> String {
    let mut out = format!(
        "{}  agent {}  config {}\n",
        pod["name"].as_str().unwrap_or("?"),
        pod["agent"].as_str().unwrap_or("(not placed)"),
        pod["target_config"].as_str().unwrap_or("?")
    );
    for task in pod["tasks"].as_array().into_iter().flatten() {
        out += &format!(
            "  {:<10} {:<16} ready={} config={}  {}\n",
            task["name"].as_str().unwrap_or("?"),
            task["state"].as_str().unwrap_or("?"),
            task["ready"],
            task["config_id"].as_str().unwrap_or("?"),
            task["id"].as_str().unwrap_or("?")
        );
    }
    out
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let operator = args.target.operator()?;
    let json_out = args.target.json();
    let print = |value: &Value, text: String| -> anyhow::Result<()> {
        if json_out {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{text}");
        }
        Ok(())
    };
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let pods = operator.get("/v1/pods").await?;
            let text: String = pods
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|p| format!("{p}\n"))
                .collect();
            print(&pods, text)
        }
        Action::Status { pod: Some(pod) } => {
            let pod = operator.get(&format!("/v1/pods/{pod}")).await?;
            print(&pod, render(&pod))
        }
        Action::Status { pod: None } => {
            let names = operator.get("/v1/pods").await?;
            let mut all = Vec::new();
            for name in names.as_array().into_iter().flatten().filter_map(Value::as_str) {
                all.push(operator.get(&format!("/v1/pods/{name}")).await?);
            }
            let text = all.iter().map(render).collect();
            print(&Value::Array(all), text)
        }
        Action::Restart { pod } => {
            let answer = operator.post(&format!("/v1/pods/{pod}/restart"), None).await?;
            print(&answer, format!("{pod} restarting in place\n"))
        }
        Action::Replace { pod } => {
            let answer = operator.post(&format!("/v1/pods/{pod}/replace"), None).await?;
            print(&answer, format!("{pod} being replaced on another agent\n"))
        }
    }
}
