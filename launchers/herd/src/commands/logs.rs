//! `herd logs SVC TASK [--stderr] [--follow]`: a task's stdout (or stderr), read from its
//! sandbox through the Mesos files API. The task is found through the service's operator
//! API (`hello-0-server` = instance `hello-0`, task `server`; a Mesos task id works too),
//! its agent through the master, its sandbox through the agent's `/state`.

use crate::operator::{Operator, api_of, recorded};
use anyhow::{Context, anyhow, bail};
use herd_mesos_client::MasterUrl;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

/// Arguments of `herd logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service (as `herd run` named it), e.g. hello.
    service: String,
    /// The task: `<instance>-<task>` (e.g. hello-0-server) or its Mesos task id.
    task: String,
    /// Read stderr instead of stdout.
    #[arg(long)]
    stderr: bool,
    /// Keep printing what the task writes (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    follow: bool,
    /// The service's operator API, http://HOST:PORT (default: the one `herd run` recorded).
    #[arg(long, env = "HERD_API")]
    api: Option<String>,
    /// The Mesos master (default: the one `herd run` recorded for the service).
    #[arg(long, env = "HERD_MASTER")]
    master: Option<String>,
}

/// The Mesos task id, and the agent id, of `task` in the service's pods.
async fn find_task(operator: &Operator, task: &str) -> anyhow::Result<(String, String)> {
    let names = operator.get("/v1/pods").await?;
    let mut known = Vec::new();
    for name in names.as_array().into_iter().flatten().filter_map(Value::as_str) {
        let pod = operator.get(&format!("/v1/pods/{name}")).await?;
        for t in pod["tasks"].as_array().into_iter().flatten() {
            let short = format!("{name}-{}", t["name"].as_str().unwrap_or_default());
            let id = t["id"].as_str().unwrap_or_default();
            if short == task || id == task {
                let agent = pod["agent_id"].as_str().ok_or_else(|| anyhow!("{name} is not placed"))?;
                return Ok((id.to_owned(), agent.to_owned()));
            }
            known.push(short);
        }
    }
    bail!("no task {task:?}; tasks: {}", known.join(", "))
}

/// The Mesos master's URL: `master` if given (a `zk://` one is asked for its leader), else
/// the one recorded for `service`.
pub(crate) async fn master_url(service: &str, master: Option<&str>) -> anyhow::Result<String> {
    let given =
        match master {
            Some(m) => m.to_owned(),
            None => recorded().into_iter().find(|s| s.name == service).and_then(|s| s.master).ok_or_else(
                || anyhow!("the master of {service} is not recorded: give it with --master URL"),
            )?,
        };
    Ok(match MasterUrl::parse(&given).with_context(|| format!("--master {given}"))? {
        MasterUrl::Zk(zk) => {
            let info = herd_mesos_client::zk::detect_leader(&zk, Duration::from_secs(10)).await?;
            let (host, port) = info.host_port();
            format!("http://{host}:{port}")
        }
        _ => given.trim_end_matches('/').to_owned(),
    })
}

/// The task's sandbox on its agent: (agent URL, sandbox path). `service` is the task's
/// framework (its name), for a task the agent no longer shows.
pub(crate) async fn sandbox(
    http: &Operator,
    master: &str,
    service: &str,
    agent_id: &str,
    task_id: &str,
) -> anyhow::Result<(String, String)> {
    let slaves = http.get_url(&format!("{master}/master/slaves")).await?;
    let agent = slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == agent_id)
        .ok_or_else(|| anyhow!("the master does not know agent {agent_id} (gone?)"))?;
    let address =
        agent["pid"].as_str().and_then(|p| p.split_once('@')).map(|(_, a)| a.to_owned()).unwrap_or_else(
            || {
                format!(
                    "{}:{}",
                    agent["hostname"].as_str().unwrap_or_default(),
                    agent["port"].as_u64().unwrap_or(5051)
                )
            },
        );
    let agent_url = format!("http://{address}");
    let state = http.get_url(&format!("{agent_url}/state")).await?;
    let has_task = |e: &Value| {
        ["tasks", "completed_tasks", "queued_tasks"]
            .iter()
            .any(|k| e[*k].as_array().into_iter().flatten().any(|t| t["id"] == task_id))
    };
    for framework in
        ["frameworks", "completed_frameworks"].iter().flat_map(|k| state[*k].as_array().into_iter().flatten())
    {
        for executor in ["executors", "completed_executors"]
            .iter()
            .flat_map(|k| framework[*k].as_array().into_iter().flatten())
        {
            if has_task(executor) {
                let dir =
                    executor["directory"].as_str().ok_or_else(|| anyhow!("the agent shows no sandbox"))?;
                // Tasks of the default executor have their own sandbox inside its.
                let nested = executor["type"] == "DEFAULT" || executor["id"] != task_id;
                let path = if nested { format!("{dir}/tasks/{task_id}") } else { dir.to_owned() };
                return Ok((agent_url, path));
            }
        }
    }
    if let Some(dir) = forgotten_sandbox(http, master, service, &agent_url, &state, task_id).await {
        return Ok((agent_url, dir));
    }
    bail!("agent {address} no longer shows task {task_id} (its sandbox may have been cleaned up)")
}

/// The sandbox of a finished task the agent no longer lists (an agent forgets ended
/// executors once their updates are acknowledged; the sandbox stays until it is
/// garbage-collected) run by its own command executor (executor id = task id, as for
/// herd's jobs): the newest run under
/// `<work_dir>/slaves/<agent>/frameworks/<framework>/executors/<task>/runs/`, Mesos' layout.
async fn forgotten_sandbox(
    http: &Operator,
    master: &str,
    service: &str,
    agent_url: &str,
    state: &Value,
    task_id: &str,
) -> Option<String> {
    let work_dir = state["flags"]["work_dir"].as_str()?;
    let agent_id = state["id"].as_str()?;
    let frameworks = http.get_url(&format!("{master}/master/frameworks")).await.ok()?;
    let ids: Vec<&str> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| frameworks[*k].as_array().into_iter().flatten())
        .filter(|f| f["name"] == service)
        .filter_map(|f| f["id"].as_str())
        .collect();
    for framework in ids {
        let runs = format!("{work_dir}/slaves/{agent_id}/frameworks/{framework}/executors/{task_id}/runs");
        let Ok(listing) = http.get_url(&format!("{agent_url}/files/browse?path={}", encode(&runs))).await
        else {
            continue;
        };
        let newest = listing
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["mode"].as_str().is_some_and(|m| m.starts_with('d')))
            .max_by(|a, b| a["mtime"].as_f64().unwrap_or(0.0).total_cmp(&b["mtime"].as_f64().unwrap_or(0.0)));
        if let Some(path) = newest.and_then(|e| e["path"].as_str()) {
            return Some(path.to_owned());
        }
    }
    None
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let api = api_of(&args.service, args.api.as_deref())?;
    let operator = Operator::new(&args.service, api)?;
    let (task_id, agent_id) = find_task(&operator, &args.task).await?;
    let master = master_url(&args.service, args.master.as_deref()).await?;
    let (agent, dir) = sandbox(&operator, &master, &args.service, &agent_id, &task_id).await?;
    print_file(
        &operator,
        &agent,
        &format!("{dir}/{}", if args.stderr { "stderr" } else { "stdout" }),
        args.follow,
    )
    .await
}

/// Prints a sandbox file of the agent at `agent` (its files API), and with `follow` keeps
/// printing what is appended.
pub(crate) async fn print_file(
    operator: &Operator,
    agent: &str,
    file: &str,
    follow: bool,
) -> anyhow::Result<()> {
    let mut offset: u64 = 0;
    let mut out = std::io::stdout().lock();
    loop {
        let url = format!("{agent}/files/read?path={}&offset={offset}&length=65536", encode(file));
        let chunk = operator.get_url(&url).await.with_context(|| format!("reading {file} on {agent}"))?;
        let data = chunk["data"].as_str().unwrap_or_default();
        if data.is_empty() {
            if !follow {
                return Ok(());
            }
            out.flush()?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        out.write_all(data.as_bytes())?;
        offset += data.len() as u64;
    }
}

/// Percent-encodes a path for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
