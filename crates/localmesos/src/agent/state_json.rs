//! The agent's `/state` endpoint (also `/state.json` and `/slave(1)/state`), in the JSON
//! shape a Mesos 1.12 agent answers (see `testdata/mesos-samples/scenario-2/
//! 07-get-agent-state.json`): total, reserved and unreserved resources as maps and (the
//! `*_full` fields) as `Resource` objects in Mesos' endpoint format, what the frameworks'
//! executors and tasks hold (`*_allocated`), the frameworks with their executors and
//! tasks.
//!
//! Where this answer differs from a Mesos agent's:
//! * Build info is the same as the master's `/version` (see `master/state_json.rs`), with
//!   `build_time` the agent's last start (whole seconds).
//! * `capabilities` are the ones the local agents have (3, where Mesos 1.12 lists 8).
//! * `flags` holds only the Mesos agent flags that describe how the local agent behaves:
//!   `hostname`, `ip`, `port`, `work_dir`, `resources`, `attributes` (if any),
//!   `default_role` "*", `executor_shutdown_grace_period`, `fetcher_cache_dir`,
//!   `launcher` "posix", `switch_user` "true" and the `authenticate_http_*` flags
//!   ("false"); flags of features the local agent does not have are left out.
//! * `master_hostname` is the master's address (Mesos writes its reverse-DNS name).
//! * The command executor takes no resources of its own (Mesos adds 0.1 cpus and 32 MB for
//!   it): a command executor's `resources` are its task's.
//! * Tasks have one status, the latest (the agent does not keep the history; the master's
//!   endpoints have it), none before the first update.
//! * Finished work is forgotten once its updates are acknowledged: `completed_tasks` and
//!   `completed_executors` hold only terminal tasks and ended executors still waiting for
//!   acknowledgements, and `completed_frameworks` is always empty.
//! * Tasks of a custom executor that has not subscribed yet are its `queued_tasks` (in
//!   Mesos' TaskInfo form); everything else launched is in `tasks`.
//! * The `jsonp` query parameter is ignored.

use super::containers::{ExecKind, ExecutorRun, TaskRun};
use super::{Agent, FrameworkOnAgent};
use crate::master::state_json::{
    TaskView, allocation_role, attributes_json, build_info, executor_info_json, insert_roles, labels_json,
    mesos_duration, reservations_full_json, reservations_json, resources_full_json, resources_json,
    task_json, to_json,
};
use axum::Json;
use axum::extract::State;
use herd_mesos_api::{FrameworkId, Resources, TaskInfo};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET /state` (also `/state.json`, `/slave(1)/state`).
pub(crate) async fn state(State(agent): State<Arc<Agent>>) -> Json<Value> {
    Json(agent_state(&agent))
}

/// The whole document.
fn agent_state(agent: &Agent) -> Value {
    let info = agent.info();
    let inner = agent.lock();
    let mut out = build_info(&agent.config.version, inner.started);
    out.insert("start_time".into(), json!(inner.started));
    out.insert("id".into(), json!(agent.id.as_str()));
    out.insert("pid".into(), json!(format!("slave(1)@{}:{}", agent.ip, agent.port())));
    out.insert("hostname".into(), json!(info.hostname));
    out.insert("capabilities".into(), info.capabilities.iter().map(|c| json!(c.kind)).collect());
    if let Some(domain) = &info.domain {
        out.insert("domain".into(), to_json(domain));
    }
    let total = &inner.total;
    out.insert("resources".into(), resources_json(total));
    out.insert("reserved_resources".into(), reservations_json(total));
    out.insert("unreserved_resources".into(), resources_json(&total.unreserved()));
    out.insert("reserved_resources_full".into(), reservations_full_json(total));
    out.insert("unreserved_resources_full".into(), resources_full_json(&total.unreserved()));
    let mut allocated = Resources::new();
    for fw in inner.frameworks.values() {
        for run in fw.executors.values().filter(|r| !r.exited) {
            allocated.add_all(&executor_allocated(run));
        }
    }
    out.insert("reserved_resources_allocated".into(), reservations_json(&allocated));
    out.insert("unreserved_resources_allocated".into(), resources_json(&allocated.unreserved()));
    out.insert("resource_providers".into(), json!([]));
    out.insert("attributes".into(), attributes_json(&info.attributes));
    out.insert("master_hostname".into(), json!(agent.config.master_ip.to_string()));
    out.insert("flags".into(), agent_flags(agent));
    let frameworks: Vec<Value> =
        inner.frameworks.iter().map(|(id, fw)| framework_json(agent, id, fw)).collect();
    out.insert("frameworks".into(), Value::Array(frameworks));
    out.insert("completed_frameworks".into(), json!([]));
    Value::Object(out)
}

/// The agent flags that describe the local agent (see the module docs).
fn agent_flags(agent: &Agent) -> Value {
    let spec = &agent.spec;
    let mut resources = format!("cpus:{};mem:{};disk:{}", spec.cpus, spec.mem, spec.disk);
    if !spec.ports.is_empty() {
        let ranges: Vec<String> = spec.ports.iter().map(|(b, e)| format!("{b}-{e}")).collect();
        resources.push_str(&format!(";ports:[{}]", ranges.join(", ")));
    }
    let mut flags = BTreeMap::<&str, String>::new();
    flags.insert("hostname", agent.ip.to_string());
    flags.insert("ip", agent.ip.to_string());
    flags.insert("port", agent.port().to_string());
    flags.insert("work_dir", agent.work_dir.display().to_string());
    flags.insert("resources", resources);
    if let Value::Object(attributes) = attributes_json(&spec.attributes)
        && !attributes.is_empty()
    {
        let text: Vec<String> = attributes
            .iter()
            .map(|(k, v)| format!("{k}:{}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect();
        flags.insert("attributes", text.join(";"));
    }
    flags.insert("default_role", "*".into());
    flags.insert("executor_shutdown_grace_period", mesos_duration(agent.config.executor_shutdown_grace));
    flags.insert("fetcher_cache_dir", agent.config.work_dir.join("fetcher-cache").display().to_string());
    flags.insert("launcher", "posix".into());
    flags.insert("switch_user", "true".into());
    flags.insert("authenticate_http_readonly", "false".into());
    flags.insert("authenticate_http_readwrite", "false".into());
    to_json(&flags)
}

/// One framework with its running and ended executors.
fn framework_json(agent: &Agent, id: &FrameworkId, fw: &FrameworkOnAgent) -> Value {
    let info = &fw.info;
    let mut out = Map::new();
    out.insert("id".into(), json!(id.as_str()));
    out.insert("name".into(), json!(info.name));
    out.insert("user".into(), json!(info.user));
    out.insert("failover_timeout".into(), json!(info.failover_timeout.unwrap_or(0.0)));
    out.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    out.insert("hostname".into(), json!(info.hostname.clone().unwrap_or_default()));
    if let Some(principal) = &info.principal {
        out.insert("principal".into(), json!(principal));
    }
    insert_roles(&mut out, info);
    let default_role =
        info.roles.first().cloned().or_else(|| info.role.clone()).unwrap_or_else(|| "*".to_owned());
    let (ended, running): (Vec<&ExecutorRun>, Vec<&ExecutorRun>) =
        fw.executors.values().partition(|r| r.exited);
    let render = |runs: Vec<&ExecutorRun>| -> Value {
        runs.into_iter().map(|r| executor_json(agent, id, r, &default_role)).collect()
    };
    out.insert("executors".into(), render(running));
    out.insert("completed_executors".into(), render(ended));
    Value::Object(out)
}

/// What an executor holds: its own resources and those of its unfinished tasks.
fn executor_allocated(run: &ExecutorRun) -> Resources {
    let mut r: Resources =
        run.info.as_ref().map(|i| i.resources.iter().cloned().collect()).unwrap_or_default();
    for task in run.tasks.values().filter(|t| !t.state.is_terminal()) {
        r.add_all(&task.info.resources.iter().cloned().collect());
    }
    r
}

/// Whether a task waits for its custom executor to subscribe.
fn queued(run: &ExecutorRun, task: &TaskRun) -> bool {
    run.kind == ExecKind::Custom
        && !run.exited
        && run.custom.events.is_none()
        && task.state == herd_mesos_api::TaskState::TaskStaging
}

/// One executor (container) with its tasks.
fn executor_json(agent: &Agent, framework_id: &FrameworkId, run: &ExecutorRun, default_role: &str) -> Value {
    let command_task = match run.kind {
        ExecKind::Command => run.tasks.values().next().map(|t| &t.info),
        ExecKind::Default | ExecKind::Custom => None,
    };
    let task_role =
        |info: &TaskInfo| allocation_role(&info.resources).unwrap_or_else(|| default_role.to_owned());
    let mut out = Map::new();
    out.insert("id".into(), json!(run.executor_id.as_str()));
    let (name, source) = match (command_task, &run.info) {
        (Some(task), _) => (command_executor_name(task), task.task_id.to_string()),
        (None, Some(info)) => {
            (info.name.clone().unwrap_or_default(), info.source.clone().unwrap_or_default())
        }
        (None, None) => (String::new(), String::new()),
    };
    out.insert("name".into(), json!(name));
    out.insert("source".into(), json!(source));
    out.insert("container".into(), json!(run.container_id));
    out.insert("directory".into(), json!(run.sandbox.display().to_string()));
    out.insert("resources".into(), resources_json(&executor_allocated(run)));
    match (command_task, &run.info) {
        (Some(task), _) => {
            out.insert("role".into(), json!(task_role(task)));
            if let Some(labels) = &task.labels {
                out.insert("labels".into(), labels_json(labels));
            }
        }
        (None, Some(info)) => {
            // Role, labels and type as the master writes the ExecutorInfo.
            let own: Resources = info.resources.iter().cloned().collect();
            let role = allocation_role(&info.resources).unwrap_or_else(|| default_role.to_owned());
            let described = executor_info_json(info, framework_id, &own, Some(&role));
            for key in ["role", "labels", "type"] {
                if let Some(v) = described.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
        }
        (None, None) => {}
    }
    let executor_id = if run.kind == ExecKind::Command { String::new() } else { run.executor_id.to_string() };
    let task = |t: &TaskRun| -> Value {
        let statuses: Vec<herd_mesos_api::TaskStatus> = t.latest.iter().cloned().collect();
        task_json(&TaskView {
            info: &t.info,
            framework_id: framework_id.as_str(),
            executor_id: &executor_id,
            agent_id: agent.id.as_str(),
            state: t.state,
            role: &task_role(&t.info),
            statuses: &statuses,
        })
    };
    let launched: Vec<Value> =
        run.tasks.values().filter(|t| !t.state.is_terminal() && !queued(run, t)).map(task).collect();
    let queued_tasks: Vec<Value> = run
        .tasks
        .values()
        .filter(|t| queued(run, t))
        .map(|t| queued_task_json(&t.info, agent, &task_role(&t.info)))
        .collect();
    let completed: Vec<Value> = run.tasks.values().filter(|t| t.state.is_terminal()).map(task).collect();
    out.insert("tasks".into(), Value::Array(launched));
    out.insert("queued_tasks".into(), Value::Array(queued_tasks));
    out.insert("completed_tasks".into(), Value::Array(completed));
    Value::Object(out)
}

/// A queued `TaskInfo` as a Mesos agent writes it: `id`, `name`, `slave_id`, `resources`,
/// `role`, `command`, `executor_id`, `discovery`.
fn queued_task_json(info: &TaskInfo, agent: &Agent, role: &str) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(info.task_id.as_str()));
    out.insert("name".into(), json!(info.name));
    out.insert("slave_id".into(), json!(agent.id.as_str()));
    out.insert("resources".into(), resources_json(&info.resources.iter().cloned().collect()));
    out.insert("role".into(), json!(role));
    if let Some(command) = &info.command {
        out.insert("command".into(), to_json(command));
    }
    if let Some(executor) = &info.executor {
        out.insert("executor_id".into(), json!(executor.executor_id.as_str()));
    }
    if let Some(discovery) = &info.discovery {
        out.insert("discovery".into(), to_json(discovery));
    }
    Value::Object(out)
}

/// The name a Mesos agent gives the command executor of `task`, e.g.
/// `Command Executor (Task: web) (Command: sh -c 'echo start >...')`.
fn command_executor_name(task: &TaskInfo) -> String {
    let cmd = task.command.clone().unwrap_or_default();
    let short = |text: &str, open: &str, close: &str| -> String {
        if text.chars().count() > 15 {
            format!("{open}{}...{close}", text.chars().take(12).collect::<String>())
        } else {
            format!("{open}{text}{close}")
        }
    };
    let command = match (cmd.shell.unwrap_or(true), &cmd.value) {
        (true, None) => "(Command: NO COMMAND)".to_owned(),
        (true, Some(value)) => short(value, "(Command: sh -c '", "')"),
        (false, None) => "(Command: NO EXECUTABLE)".to_owned(),
        (false, Some(value)) => {
            let args = format!("{value}, {}", cmd.arguments.join(", "));
            short(&args, "(Command: [", "])")
        }
    };
    format!("Command Executor (Task: {}) {command}", task.task_id.as_str())
}
