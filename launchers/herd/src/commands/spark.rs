//! `herd spark [--service S] submit|status|list|kill|logs`: Spark applications on a Spark
//! service, through its operator API (herd-spark's `/v1/spark/...` routes). `submit` uploads
//! local files (the application, `--jars`, `--py-files`, `--files`) to the service, which
//! serves them to the agents, and prints the submission id; `logs` reads the driver's
//! stdout (or stderr) from its task's sandbox through the Mesos files API.

use super::Output;
use crate::operator::{Operator, api_of};
use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Arguments of `herd spark`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The Spark service (as `herd run` or `herd up` named it).
    #[arg(long, env = "HERD_SPARK_SERVICE", default_value = "spark", global = true)]
    service: String,
    /// The service's operator API, http://HOST:PORT (default: the one recorded).
    #[arg(long, env = "HERD_API", global = true)]
    api: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Submit an application (a jar or a .py; a URL, or a local file herd uploads): prints its
    /// submission id.
    Submit(Box<SubmitArgs>),
    /// A submission's state and, once it ended, why.
    Status {
        /// The submission id (driver-YYYYMMDDHHMMSS-NNNN).
        id: String,
    },
    /// Every submission, newest first.
    List,
    /// Kill a submission's driver (and so its application).
    Kill {
        /// The submission id.
        id: String,
    },
    /// The driver's stdout (or stderr), through the Mesos files API.
    Logs {
        /// The submission id.
        id: String,
        /// Read stderr instead of stdout (Spark logs there).
        #[arg(long)]
        stderr: bool,
        /// Keep printing what the driver writes (Ctrl-C to stop).
        #[arg(long, short = 'f')]
        follow: bool,
        /// The Mesos master (default: the one recorded for the service).
        #[arg(long, env = "HERD_MASTER")]
        master: Option<String>,
    },
}

/// `herd spark submit`'s arguments, named as spark-submit names them.
#[derive(Debug, clap::Args)]
struct SubmitArgs {
    /// The application's main class (JVM applications).
    #[arg(long = "class")]
    class: Option<String>,
    /// The application's name (spark.app.name).
    #[arg(long)]
    name: Option<String>,
    /// The queue to wait in (default: the service's first).
    #[arg(long)]
    queue: Option<String>,
    /// A Spark property, KEY=VALUE (repeat for several).
    #[arg(short = 'c', long = "conf", value_name = "KEY=VALUE", value_parser = key_value)]
    conf: Vec<(String, String)>,
    /// Driver memory (spark.driver.memory), e.g. 1g.
    #[arg(long)]
    driver_memory: Option<String>,
    /// Driver cores (spark.driver.cores).
    #[arg(long)]
    driver_cores: Option<String>,
    /// Memory per executor (spark.executor.memory).
    #[arg(long)]
    executor_memory: Option<String>,
    /// Cores per executor (spark.executor.cores).
    #[arg(long)]
    executor_cores: Option<String>,
    /// Executor cores of the application (spark.cores.max).
    #[arg(long)]
    total_executor_cores: Option<String>,
    /// Relaunch the driver if it fails (spark.driver.supervise).
    #[arg(long)]
    supervise: bool,
    /// Extra jars, comma-separated (URLs or local files).
    #[arg(long)]
    jars: Option<String>,
    /// Extra Python files, comma-separated (URLs or local files).
    #[arg(long)]
    py_files: Option<String>,
    /// Files for the executors' working directories, comma-separated (URLs or local files).
    #[arg(long)]
    files: Option<String>,
    /// The application: a jar or a .py, as a URL or a local file.
    app_resource: String,
    /// The application's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE (e.g. --conf spark.executor.memory=2g)")),
    }
}

/// `resource` as a URL the agents can fetch: a local file is uploaded to the service.
async fn fetchable(operator: &Operator, resource: &str) -> anyhow::Result<String> {
    if resource.contains("://") {
        return Ok(resource.to_owned());
    }
    let path = resource.strip_prefix("file:").unwrap_or(resource);
    let bytes = std::fs::read(path).with_context(|| format!("reading {path} (a local file to upload)"))?;
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{path} has no file name"))?;
    let answer = operator.post_bytes(&format!("/v1/spark/uploads/{name}"), bytes).await?;
    answer["url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the upload of {path} returned no URL: {answer}"))
}

/// A comma-separated list with its local files uploaded.
async fn fetchable_list(operator: &Operator, list: &str) -> anyhow::Result<String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        out.push(fetchable(operator, entry).await?);
    }
    Ok(out.join(","))
}

async fn submit(operator: &Operator, a: SubmitArgs) -> anyhow::Result<(Value, String)> {
    let mut conf: BTreeMap<String, String> = a.conf.into_iter().collect();
    let flags = [
        ("spark.app.name", a.name),
        ("spark.driver.memory", a.driver_memory),
        ("spark.driver.cores", a.driver_cores),
        ("spark.executor.memory", a.executor_memory),
        ("spark.executor.cores", a.executor_cores),
        ("spark.cores.max", a.total_executor_cores),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            conf.insert(key.to_owned(), value);
        }
    }
    if a.supervise {
        conf.insert("spark.driver.supervise".to_owned(), "true".to_owned());
    }
    for (key, list) in
        [("spark.jars", a.jars), ("spark.submit.pyFiles", a.py_files), ("spark.files", a.files)]
    {
        if let Some(list) = list {
            conf.insert(key.to_owned(), fetchable_list(operator, &list).await?);
        }
    }
    let app_resource = fetchable(operator, &a.app_resource).await?;
    let body = json!({
        "app_resource": app_resource,
        "main_class": a.class,
        "args": a.args,
        "conf": conf,
        "queue": a.queue,
    });
    let mut answer = operator.post("/v1/spark/submissions", Some(body)).await?;
    answer["app_resource"] = json!(app_resource);
    let text = format!("{}\n", answer["id"].as_str().unwrap_or_default());
    Ok((answer, text))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn status_text(s: &Value) -> String {
    let mut text = format!(
        "{} {} (Spark: {})\n  app {} in queue {}, attempt {}, agent {}\n",
        text_of(&s["id"]),
        text_of(&s["state"]),
        text_of(&s["spark_state"]),
        text_of(&s["app_name"]),
        text_of(&s["queue"]),
        text_of(&s["attempts"]),
        text_of(&s["agent"]),
    );
    if !s["message"].is_null() {
        text += &format!("  {}\n", text_of(&s["message"]));
    }
    text
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let api = api_of(&args.service, args.api.as_deref())?;
    let operator = Operator::new(&args.service, api)?;
    let (answer, text) = match args.action {
        Action::Submit(a) => submit(&operator, *a).await?,
        Action::Status { id } => {
            let status = operator.get(&format!("/v1/spark/submissions/{id}")).await?;
            let text = status_text(&status);
            (status, text)
        }
        Action::List => {
            let list = operator.get("/v1/spark/submissions").await?;
            let text = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    format!(
                        "{}  {:<9} {:<10} {}  {}\n",
                        text_of(&s["id"]),
                        text_of(&s["state"]),
                        text_of(&s["queue"]),
                        text_of(&s["app_name"]),
                        s["message"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            (list, text)
        }
        Action::Kill { id } => {
            let answer = operator.post(&format!("/v1/spark/submissions/{id}/kill"), None).await?;
            (answer, format!("kill of {id} requested\n"))
        }
        Action::Logs { id, stderr, follow, master } => {
            let status = operator.get(&format!("/v1/spark/submissions/{id}")).await?;
            let (Some(task), Some(agent_id)) = (status["task_id"].as_str(), status["agent_id"].as_str())
            else {
                anyhow::bail!("{id} has not been launched yet ({}): no logs", text_of(&status["state"]));
            };
            let master = super::logs::master_url(&args.service, master.as_deref()).await?;
            let (agent, dir) =
                super::logs::sandbox(&operator, &master, &args.service, agent_id, task).await?;
            let file = format!("{dir}/{}", if stderr { "stderr" } else { "stdout" });
            return super::logs::print_file(&operator, &agent, &file, follow).await;
        }
    };
    if matches!(args.output, Output::Json) {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{text}");
    }
    Ok(())
}
