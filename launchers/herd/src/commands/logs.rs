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

async fn master_url(service: &str, master: Option<&str>) -> anyhow::Result<String> {
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

/// The task's sandbox on its agent: (agent URL, sandbox path).
async fn sandbox(
    http: &Operator,
    master: &str,
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
    bail!("agent {address} no longer shows task {task_id} (its sandbox may have been cleaned up)")
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let api = api_of(&args.service, args.api.as_deref())?;
    let operator = Operator::new(&args.service, api)?;
    let (task_id, agent_id) = find_task(&operator, &args.task).await?;
    let master = master_url(&args.service, args.master.as_deref()).await?;
    let (agent, dir) = sandbox(&operator, &master, &agent_id, &task_id).await?;
    let file = format!("{dir}/{}", if args.stderr { "stderr" } else { "stdout" });
    let mut offset: u64 = 0;
    let mut out = std::io::stdout().lock();
    loop {
        let url = format!("{agent}/files/read?path={}&offset={offset}&length=65536", encode(&file));
        let chunk = operator.get_url(&url).await.with_context(|| format!("reading {file} on {agent}"))?;
        let data = chunk["data"].as_str().unwrap_or_default();
        if data.is_empty() {
            if !args.follow {
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
