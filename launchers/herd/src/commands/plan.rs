//! `herd plan SVC [list|show|start|stop|pause|resume|force|restart]`: a service's plans
//! through its operator API (`/v1/plans`).

use anyhow::bail;
use serde_json::{Value, json};

/// Arguments of `herd plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: super::ServiceArgs,
    /// What to do (default: show the deploy plan).
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// The service's plans.
    List,
    /// A plan's phases and steps with their status.
    Show {
        /// The plan.
        #[arg(default_value = "deploy")]
        plan: String,
    },
    /// Start an operator plan (e.g. a backup), with its parameters.
    Start {
        /// The plan.
        plan: String,
        /// A parameter, KEY=VALUE (repeat for several); exported to the plan's tasks.
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
        params: Vec<(String, String)>,
    },
    /// Stop an operator plan: its running tasks are killed.
    Stop {
        /// The plan.
        plan: String,
    },
    /// Hold a plan: no new step starts.
    Pause {
        /// The plan.
        #[arg(default_value = "deploy")]
        plan: String,
    },
    /// Let a paused plan (and waiting canaries) go on.
    Resume {
        /// The plan.
        #[arg(default_value = "deploy")]
        plan: String,
    },
    /// Mark a step complete without doing its work.
    Force(StepArgs),
    /// Do a step again.
    Restart(StepArgs),
}

#[derive(Debug, clap::Args)]
struct StepArgs {
    /// The plan.
    plan: String,
    /// The step: a pod instance, e.g. hello-0.
    step: String,
    /// The phase, when several phases have the step.
    #[arg(long)]
    phase: Option<String>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE (e.g. -p TARGET=/backups)")),
    }
}

/// The plan tree as text: the plan, each phase, each step with its status.
pub(crate) fn render(plan: &Value) -> String {
    let mut out =
        format!("{} ({})\n", plan["name"].as_str().unwrap_or("?"), plan["status"].as_str().unwrap_or("?"));
    if let Some(params) = plan["parameters"].as_object().filter(|p| !p.is_empty()) {
        let list: Vec<String> =
            params.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
        out += &format!("  parameters: {}\n", list.join(" "));
    }
    for phase in plan["phases"].as_array().into_iter().flatten() {
        out += &format!(
            "  {} [{}] {}\n",
            phase["name"].as_str().unwrap_or("?"),
            phase["strategy"].as_str().unwrap_or("?"),
            phase["status"].as_str().unwrap_or("?")
        );
        for step in phase["steps"].as_array().into_iter().flatten() {
            out += &format!(
                "    {:<20} {}",
                step["name"].as_str().unwrap_or("?"),
                step["status"].as_str().unwrap_or("?")
            );
            if let Some(message) = step["message"].as_str() {
                out += &format!("  ({message})");
            }
            out.push('\n');
        }
    }
    out
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let operator = args.target.operator()?;
    let json_out = args.target.json();
    let action = args.action.unwrap_or(Action::Show { plan: "deploy".to_owned() });
    let (path, body, done) = match action {
        Action::List => {
            let plans = operator.get("/v1/plans").await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&plans)?);
            } else {
                for name in plans.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let plan = operator.get(&format!("/v1/plans/{name}")).await?;
                    println!("{name:<20} {}", plan["status"].as_str().unwrap_or("?"));
                }
            }
            return Ok(());
        }
        Action::Show { plan } => {
            let plan = operator.get(&format!("/v1/plans/{plan}")).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print!("{}", render(&plan));
            }
            return Ok(());
        }
        Action::Start { plan, params } => {
            let mut seen = std::collections::BTreeMap::new();
            for (k, v) in params {
                if seen.insert(k.clone(), v).is_some() {
                    bail!("parameter {k} is given twice");
                }
            }
            (format!("/v1/plans/{plan}/start"), Some(json!(seen)), format!("plan {plan} started"))
        }
        Action::Stop { plan } => (format!("/v1/plans/{plan}/stop"), None, format!("plan {plan} stopped")),
        Action::Pause { plan } => (format!("/v1/plans/{plan}/pause"), None, format!("plan {plan} paused")),
        Action::Resume { plan } => (format!("/v1/plans/{plan}/resume"), None, format!("plan {plan} resumed")),
        Action::Force(s) => {
            (step_path(&s, "force"), None, format!("step {} of plan {} forced", s.step, s.plan))
        }
        Action::Restart(s) => {
            (step_path(&s, "restart"), None, format!("step {} of plan {} restarted", s.step, s.plan))
        }
    };
    let answer = operator.post(&path, body).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{done}");
    }
    Ok(())
}

fn step_path(s: &StepArgs, action: &str) -> String {
    let phase = s.phase.as_ref().map(|p| format!("&phase={p}")).unwrap_or_default();
    format!("/v1/plans/{}/{action}?step={}{phase}", s.plan, s.step)
}
