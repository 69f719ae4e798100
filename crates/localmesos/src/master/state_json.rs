//! The master's read-only state endpoints: `/master/state` (also `/state`, `/state.json`,
//! `/master/state.json`), `/master/slaves`, `/master/frameworks` and `/master/tasks`, in
//! the JSON shapes Mesos 1.12 answers (see `testdata/mesos-samples/`): summaries of
//! resources as maps per role (`{"cpus": 0.2, "mem": 64.0, "ports": "[31100-31100]"}`),
//! full `Resource` objects (in Mesos' "endpoint" format: `role` and the legacy
//! `reservation` next to `reservations`) in the `*_full` fields of `/master/slaves`.
//!
//! The JSON helpers shared with the agent's `/state` (resources, tasks, statuses, build
//! info, Mesos duration texts) live here too.
//!
//! Query parameters as in Mesos: `slave_id` (`/master/slaves`), `framework_id`
//! (`/master/frameworks`), and `limit` (default 100), `offset`, `order` (`asc`, default
//! `des`), `framework_id` and `task_id` (`/master/tasks`).
//!
//! Where these answers differ from Mesos' (everything else is computed from the master's
//! state):
//! * Build info (`version`, `build_date`, `build_time`, `build_user`, `git_sha`,
//!   `git_branch`, `git_tag`) is the same as `/version` answers: the configured version,
//!   `build_date` "herd local cluster", `build_time` the master's start (whole seconds),
//!   `build_user` "herd" and empty git fields (Mesos omits unset git fields).
//! * `flags` holds only the Mesos flags that describe how the local cluster behaves:
//!   `hostname`, `ip`, `port`, `work_dir`, `allocation_interval`, `agent_ping_timeout` (the
//!   agent unreachable timeout, with `max_agent_ping_timeouts` "1"), `offer_timeout` and
//!   `zk` when set, `max_completed_frameworks`, `max_completed_tasks_per_framework`,
//!   `framework_sorter` "drf", `registry` "in_memory" and the `authenticate_*` flags
//!   ("false"). Flags of features the local cluster does not have are left out.
//! * `elected_time` is the start time (the only master is elected when it starts).
//! * Agents: `capabilities` are the ones the local agents have (3, where Mesos 1.12 lists
//!   8); `deactivated` (operator deactivation / draining) is always false; an agent whose
//!   host is down but not yet unreachable has `active: false` (counted in
//!   `deactivated_slaves`, as Mesos counts disconnected agents); `reregistered_time` is
//!   never written (the master does not record when a restarted agent came back).
//!   `used_resources(_full)` are computed from the frameworks' tasks and executors, so
//!   that they carry `allocation_info` like Mesos'.
//! * Frameworks: `pid` is never written (all frameworks are HTTP frameworks, as Mesos omits
//!   it for them); `recovered` is always false; `reregistered_time` is written once a framework
//!   re-subscribed; `unregistered_time` is the time a
//!   framework disconnected while it waits for its failover timeout (computed from its
//!   failover deadline) and 0.0 for frameworks removed by TEARDOWN (the master does not
//!   record when); `offer_constraints` is always `{}` (offer constraints are not
//!   implemented).
//! * Tasks: `executor_id` is "" for command tasks, told apart from task-group tasks by
//!   "no ExecutorInfo, executor id = task id and no such executor known to the master" (a
//!   task group whose executor has the task's id and has ended reads as a command task).
//!   `statuses` keep the latest of consecutive statuses with the same state, as Mesos
//!   does; a task that became unreachable gets a TASK_UNREACHABLE status with its
//!   unreachable time (the master records the state but not the status). Status
//!   `container_status` has no `executor_pid`, as in Mesos. `health_check` has Mesos'
//!   protobuf defaults filled in (delay 15, interval 10, timeout 20, 3 failures, grace
//!   10, protocol IPv4), as Mesos' JSON rendering of the stored protobuf shows them.
//! * There are no pending tasks (tasks are recorded as TASK_STAGING when launched), so
//!   nothing is written for them.
//! * The `jsonp` query parameter is ignored.

use super::state::{AgentRec, Framework, MasterState, Task};
use super::{Master, now_secs};
use axum::Json;
use axum::extract::{RawQuery, State};
use herd_mesos_api::{
    Attribute, CommandInfo, ContainerStatus, ExecutorInfo, FrameworkId, HealthCheck, Labels, Range,
    ReservationInfo, ReservationType, Resource, Resources, TaskInfo, TaskState, TaskStatus, ValueType,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// `GET /master/state` (also `/state`, `/state.json`, `/master/state.json`).
pub(crate) async fn state(State(master): State<Arc<Master>>) -> Json<Value> {
    Json(master_state(&master))
}

/// `GET /master/slaves` (`?slave_id=` selects one agent).
pub(crate) async fn slaves(State(master): State<Arc<Master>>, RawQuery(query): RawQuery) -> Json<Value> {
    let query = parse_query(query.as_deref());
    let st = master.lock();
    let usage = Usage::of(&st);
    let slaves: Vec<Value> = registered_agents(&st)
        .filter(|a| {
            query.get("slave_id").is_none_or(|id| a.info.id.as_ref().is_some_and(|a| a.as_str() == id))
        })
        .map(|a| agent_json(&master, a, &usage, true))
        .collect();
    Json(json!({ "slaves": slaves, "recovered_slaves": [] }))
}

/// `GET /master/frameworks` (`?framework_id=` selects one framework).
pub(crate) async fn frameworks(State(master): State<Arc<Master>>, RawQuery(query): RawQuery) -> Json<Value> {
    let query = parse_query(query.as_deref());
    let selected = |fw: &&Framework| query.get("framework_id").is_none_or(|id| fw.id.as_str() == id);
    let st = master.lock();
    let frameworks: Vec<Value> =
        st.frameworks.values().filter(selected).map(|f| framework_json(&st, f, false)).collect();
    let completed: Vec<Value> =
        st.completed_frameworks.iter().filter(selected).map(|f| framework_json(&st, f, true)).collect();
    Json(
        json!({ "frameworks": frameworks, "completed_frameworks": completed, "unregistered_frameworks": [] }),
    )
}

/// `GET /master/tasks`: active, unreachable and completed tasks of all frameworks (also
/// removed ones), newest first; `limit` (100), `offset`, `order` (`asc`/`des`),
/// `framework_id` and `task_id` select.
pub(crate) async fn tasks(State(master): State<Arc<Master>>, RawQuery(query): RawQuery) -> Json<Value> {
    let query = parse_query(query.as_deref());
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(100);
    let offset = query.get("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    let ascending = query.get("order").is_some_and(|o| o == "asc");
    let st = master.lock();
    let mut tasks: Vec<Value> = Vec::new();
    let frameworks =
        st.frameworks.values().map(|f| (f, false)).chain(st.completed_frameworks.iter().map(|f| (f, true)));
    for (fw, _) in frameworks {
        if query.get("framework_id").is_some_and(|id| fw.id.as_str() != id) {
            continue;
        }
        let all = fw
            .tasks
            .values()
            .map(|t| (t, false))
            .chain(fw.unreachable.values().map(|t| (t, true)))
            .chain(fw.completed.iter().map(|t| (t, false)));
        for (task, unreachable) in all {
            if query.get("task_id").is_some_and(|id| task.info.task_id.as_str() != id) {
                continue;
            }
            tasks.push(master_task_json(fw, task, unreachable));
        }
    }
    drop(st);
    // By the timestamp of the first status; tasks without statuses last (first if `asc`).
    let first = |t: &Value| t["statuses"].get(0).and_then(|s| s["timestamp"].as_f64());
    tasks.sort_by(|a, b| match (first(a), first(b), ascending) {
        (None, None, _) => std::cmp::Ordering::Equal,
        (None, Some(_), asc) => {
            if asc {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        }
        (Some(_), None, asc) => {
            if asc {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Less
            }
        }
        (Some(x), Some(y), true) => x.total_cmp(&y),
        (Some(x), Some(y), false) => y.total_cmp(&x),
    });
    let tasks: Vec<Value> = tasks.into_iter().skip(offset).take(limit).collect();
    Json(json!({ "tasks": tasks }))
}

/// The whole `/master/state` document.
fn master_state(master: &Master) -> Value {
    let st = master.lock();
    let usage = Usage::of(&st);
    let mut out = build_info(&master.config.version, master.started);
    let pid = master.info.pid.clone().unwrap_or_default();
    let hostname = master.info.hostname.clone().unwrap_or_default();
    let active = registered_agents(&st).filter(|a| agent_active(a)).count();
    let inactive = registered_agents(&st).filter(|a| !agent_active(a)).count();
    let unreachable = st.agents.values().filter(|a| !a.reachable).count();
    out.insert("start_time".into(), json!(master.started));
    out.insert("elected_time".into(), json!(master.started));
    out.insert("id".into(), json!(master.info.id));
    out.insert("pid".into(), json!(pid));
    out.insert("hostname".into(), json!(hostname));
    out.insert(
        "capabilities".into(),
        Value::Array(master.info.capabilities.iter().map(|c| to_json(&c.kind)).collect()),
    );
    out.insert("activated_slaves".into(), json!(active as f64));
    out.insert("deactivated_slaves".into(), json!(inactive as f64));
    out.insert("unreachable_slaves".into(), json!(unreachable as f64));
    if let Some(domain) = &master.info.domain {
        out.insert("domain".into(), to_json(domain));
    }
    out.insert("leader".into(), json!(pid));
    out.insert(
        "leader_info".into(),
        json!({ "id": master.info.id, "pid": pid, "port": master.info.port.unwrap_or(0), "hostname": hostname }),
    );
    out.insert("flags".into(), master_flags(master));
    out.insert(
        "slaves".into(),
        registered_agents(&st).map(|a| agent_json(master, a, &usage, false)).collect(),
    );
    out.insert("recovered_slaves".into(), json!([]));
    out.insert("frameworks".into(), st.frameworks.values().map(|f| framework_json(&st, f, false)).collect());
    out.insert(
        "completed_frameworks".into(),
        st.completed_frameworks.iter().map(|f| framework_json(&st, f, true)).collect(),
    );
    out.insert("orphan_tasks".into(), json!([]));
    out.insert("unregistered_frameworks".into(), json!([]));
    Value::Object(out)
}

/// The master flags that describe the local cluster (see the module docs).
fn master_flags(master: &Master) -> Value {
    let config = &master.config;
    let (host, port) = master.info.host_port();
    let mut flags = BTreeMap::<&str, String>::new();
    flags.insert("hostname", host.clone());
    flags.insert("ip", host);
    flags.insert("port", port.to_string());
    flags.insert("work_dir", config.work_dir.display().to_string());
    flags.insert("allocation_interval", mesos_duration(config.allocation_interval));
    flags.insert("agent_ping_timeout", mesos_duration(config.agent_unreachable_timeout));
    flags.insert("max_agent_ping_timeouts", "1".into());
    if let Some(timeout) = config.offer_timeout {
        flags.insert("offer_timeout", mesos_duration(timeout));
    }
    if let Some(zk) = &config.zk {
        flags.insert("zk", zk.clone());
    }
    flags.insert("max_completed_frameworks", super::state::MAX_COMPLETED_FRAMEWORKS.to_string());
    flags.insert("max_completed_tasks_per_framework", super::state::MAX_COMPLETED_TASKS.to_string());
    flags.insert("framework_sorter", "drf".into());
    flags.insert("registry", "in_memory".into());
    for flag in [
        "authenticate_agents",
        "authenticate_frameworks",
        "authenticate_http_frameworks",
        "authenticate_http_readonly",
        "authenticate_http_readwrite",
    ] {
        flags.insert(flag, "false".into());
    }
    to_json(&flags)
}

/// Registered agents: all but the unreachable ones (Mesos removes those).
fn registered_agents(st: &MasterState) -> impl Iterator<Item = &AgentRec> {
    st.agents.values().filter(|a| a.reachable)
}

/// Connected: registered and its host not down.
fn agent_active(agent: &AgentRec) -> bool {
    agent.reachable && agent.silent_since.is_none()
}

/// What each agent has allocated and offered, with `allocation_info`, computed from the
/// frameworks' tasks and executors and from the outstanding offers.
struct Usage {
    used: BTreeMap<String, Resources>,
    offered: BTreeMap<String, Resources>,
}

impl Usage {
    fn of(st: &MasterState) -> Self {
        let mut used: BTreeMap<String, Resources> = BTreeMap::new();
        for fw in st.frameworks.values() {
            for task in fw.tasks.values() {
                used.entry(task.agent_id.to_string())
                    .or_default()
                    .add_all(&task.resources.allocate(&task.role));
            }
            for ((agent_id, _), exec) in &fw.executors {
                used.entry(agent_id.to_string()).or_default().add_all(&exec.resources.allocate(&exec.role));
            }
        }
        let mut offered: BTreeMap<String, Resources> = BTreeMap::new();
        for offer in st.offers.values() {
            offered
                .entry(offer.agent_id.to_string())
                .or_default()
                .add_all(&offer.resources.allocate(&offer.role));
        }
        Self { used, offered }
    }
}

/// One agent, as in `slaves` of `/master/state`; `full` adds the `*_full` fields of
/// `/master/slaves`.
fn agent_json(master: &Master, agent: &AgentRec, usage: &Usage, full: bool) -> Value {
    let id = agent.info.id.as_ref().map(|i| i.to_string()).unwrap_or_default();
    let empty = Resources::new();
    let used = usage.used.get(&id).unwrap_or(&empty);
    let offered = usage.offered.get(&id).unwrap_or(&empty);
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("hostname".into(), json!(agent.info.hostname));
    out.insert("port".into(), json!(agent.info.port.unwrap_or(0)));
    out.insert("attributes".into(), attributes_json(&agent.info.attributes));
    if let Some(domain) = &agent.info.domain {
        out.insert("domain".into(), to_json(domain));
    }
    out.insert("pid".into(), json!(format!("slave(1)@{}:{}", agent.handle.ip(), agent.handle.port())));
    out.insert("registered_time".into(), json!(agent.registered_time));
    out.insert("resources".into(), resources_json(&agent.total));
    out.insert("used_resources".into(), resources_json(used));
    out.insert("offered_resources".into(), resources_json(offered));
    out.insert("reserved_resources".into(), reservations_json(&agent.total));
    out.insert("unreserved_resources".into(), resources_json(&agent.total.unreserved()));
    out.insert("active".into(), json!(agent_active(agent)));
    out.insert("deactivated".into(), json!(false));
    out.insert("version".into(), json!(master.config.version));
    out.insert("capabilities".into(), agent.info.capabilities.iter().map(|c| json!(c.kind)).collect());
    if full {
        out.insert("reserved_resources_full".into(), reservations_full_json(&agent.total));
        out.insert("unreserved_resources_full".into(), resources_full_json(&agent.total.unreserved()));
        out.insert("used_resources_full".into(), resources_full_json(used));
        out.insert("offered_resources_full".into(), resources_full_json(offered));
    }
    Value::Object(out)
}

/// One framework (`completed`: removed, in `completed_frameworks`).
fn framework_json(st: &MasterState, fw: &Framework, completed: bool) -> Value {
    let mut used = Resources::new();
    let mut offered = Resources::new();
    let mut offers = Vec::new();
    if !completed {
        for task in fw.tasks.values() {
            used.add_all(&task.resources);
        }
        for exec in fw.executors.values() {
            used.add_all(&exec.resources);
        }
        for offer in st.offers.values().filter(|o| o.framework_id == fw.id) {
            offered.add_all(&offer.resources);
            offers.push(json!({
                "id": offer.id.as_str(),
                "framework_id": fw.id.as_str(),
                "allocation_info": { "role": offer.role },
                "slave_id": offer.agent_id.as_str(),
                "resources": resources_json(&offer.resources),
            }));
        }
    }
    let mut total = used.clone();
    total.add_all(&offered);
    let info = &fw.info;
    let mut out = Map::new();
    out.insert("id".into(), json!(fw.id.as_str()));
    out.insert("name".into(), json!(info.name));
    out.insert("used_resources".into(), resources_json(&used));
    out.insert("offered_resources".into(), resources_json(&offered));
    out.insert("capabilities".into(), info.capabilities.iter().map(|c| to_json(&c.kind)).collect());
    out.insert("hostname".into(), json!(info.hostname.clone().unwrap_or_default()));
    out.insert("webui_url".into(), json!(info.webui_url.clone().unwrap_or_default()));
    let connected = !completed && fw.connected();
    out.insert("active".into(), json!(connected));
    out.insert("connected".into(), json!(connected));
    out.insert("recovered".into(), json!(false));
    out.insert("user".into(), json!(info.user));
    out.insert("failover_timeout".into(), json!(info.failover_timeout.unwrap_or(0.0)));
    out.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    out.insert("registered_time".into(), json!(fw.registered_time));
    if let Some(t) = fw.reregistered_time {
        out.insert("reregistered_time".into(), json!(t));
    }
    out.insert("unregistered_time".into(), json!(unregistered_time(fw)));
    if let Some(principal) = &info.principal {
        out.insert("principal".into(), json!(principal));
    }
    out.insert("resources".into(), resources_json(&total));
    insert_roles(&mut out, info);
    out.insert("tasks".into(), fw.tasks.values().map(|t| master_task_json(fw, t, false)).collect());
    out.insert(
        "unreachable_tasks".into(),
        fw.unreachable.values().map(|t| master_task_json(fw, t, true)).collect(),
    );
    out.insert(
        "completed_tasks".into(),
        fw.completed.iter().map(|t| master_task_json(fw, t, false)).collect(),
    );
    out.insert("offers".into(), Value::Array(offers));
    let executors: Vec<Value> = fw
        .executors
        .iter()
        .map(|((agent_id, _), exec)| {
            let mut e = executor_info_json(&exec.info, &fw.id, &exec.resources, Some(&exec.role));
            e.insert("slave_id".into(), json!(agent_id.as_str()));
            Value::Object(e)
        })
        .collect();
    out.insert("executors".into(), Value::Array(executors));
    if let Some(labels) = &info.labels {
        out.insert("labels".into(), labels_json(labels));
    }
    out.insert("offer_constraints".into(), json!({}));
    Value::Object(out)
}

/// `roles` for MULTI_ROLE frameworks, `role` for the others (as Mesos mirrors the protobuf).
pub(crate) fn insert_roles(out: &mut Map<String, Value>, info: &herd_mesos_api::FrameworkInfo) {
    if info.has_capability(herd_mesos_api::FrameworkCapabilityType::MultiRole) {
        out.insert("roles".into(), json!(info.roles));
    } else {
        out.insert("role".into(), json!(info.role.clone().unwrap_or_else(|| "*".to_owned())));
    }
}

/// When a disconnected framework went away (wall clock), from its failover deadline.
fn unregistered_time(fw: &Framework) -> f64 {
    let Some(deadline) = fw.failover_deadline else { return 0.0 };
    let timeout =
        Duration::try_from_secs_f64(fw.info.failover_timeout.unwrap_or(0.0).min(1e9)).unwrap_or_default();
    match deadline.checked_sub(timeout) {
        Some(disconnected) => {
            now_secs() - Instant::now().saturating_duration_since(disconnected).as_secs_f64()
        }
        None => 0.0,
    }
}

/// An `ExecutorInfo` as Mesos writes it (`executor_id`, `name`, `framework_id`, `command`,
/// `resources`, `role` if it has resources, `labels`, `type`).
pub(crate) fn executor_info_json(
    info: &ExecutorInfo,
    framework_id: &FrameworkId,
    resources: &Resources,
    role: Option<&str>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("executor_id".into(), json!(info.executor_id.as_str()));
    out.insert("name".into(), json!(info.name.clone().unwrap_or_default()));
    let fid = info.framework_id.as_ref().unwrap_or(framework_id);
    out.insert("framework_id".into(), json!(fid.as_str()));
    out.insert("command".into(), command_json(&info.command.clone().unwrap_or_default()));
    out.insert("resources".into(), resources_json(resources));
    if !resources.is_empty()
        && let Some(role) = role
    {
        out.insert("role".into(), json!(role));
    }
    if let Some(labels) = &info.labels {
        out.insert("labels".into(), labels_json(labels));
    }
    if let Some(kind) = info.kind {
        out.insert("type".into(), to_json(&kind));
    }
    out
}

/// A `CommandInfo` as Mesos writes it in state: `shell`, `value`, `argv`, `environment`,
/// `uris` (`value`, `executable`).
fn command_json(cmd: &CommandInfo) -> Value {
    let mut out = Map::new();
    if let Some(shell) = cmd.shell {
        out.insert("shell".into(), json!(shell));
    }
    if let Some(value) = &cmd.value {
        out.insert("value".into(), json!(value));
    }
    out.insert("argv".into(), json!(cmd.arguments));
    if let Some(env) = &cmd.environment {
        out.insert("environment".into(), to_json(env));
    }
    let uris: Vec<Value> = cmd
        .uris
        .iter()
        .map(|u| json!({ "value": u.value, "executable": u.executable.unwrap_or(false) }))
        .collect();
    out.insert("uris".into(), Value::Array(uris));
    Value::Object(out)
}

/// Whether a master task ran under the command executor (see the module docs).
fn is_command_task(fw: &Framework, task: &Task) -> bool {
    let Some(exec) = &task.executor_id else { return true };
    task.info.executor.is_none()
        && exec.as_str() == task.info.task_id.as_str()
        && !fw.executors.contains_key(&(task.agent_id.clone(), exec.clone()))
}

/// A task the master tracks (`unreachable`: in `unreachable_tasks`).
fn master_task_json(fw: &Framework, task: &Task, unreachable: bool) -> Value {
    let mut statuses = collapse_statuses(&task.statuses);
    if unreachable
        && task.state == TaskState::TaskUnreachable
        && statuses.last().is_none_or(|s| s.state != TaskState::TaskUnreachable)
    {
        let mut status = TaskStatus::new(task.info.task_id.clone(), TaskState::TaskUnreachable);
        status.timestamp = task.unreachable_time.map(|t| t.nanoseconds as f64 / 1e9);
        statuses.push(status);
    }
    let executor_id = if is_command_task(fw, task) {
        String::new()
    } else {
        task.executor_id.as_ref().map(|e| e.to_string()).unwrap_or_default()
    };
    task_json(&TaskView {
        info: &task.info,
        framework_id: task.framework_id.as_str(),
        executor_id: &executor_id,
        agent_id: task.agent_id.as_str(),
        state: task.state,
        role: &task.role,
        statuses: &statuses,
    })
}

/// Mesos keeps only the latest of consecutive statuses with the same state.
fn collapse_statuses(statuses: &[TaskStatus]) -> Vec<TaskStatus> {
    let mut out: Vec<TaskStatus> = Vec::with_capacity(statuses.len());
    for s in statuses {
        if out.last().is_some_and(|l| l.state == s.state) {
            out.pop();
        }
        out.push(s.clone());
    }
    out
}

/// What a task JSON is made of.
pub(crate) struct TaskView<'a> {
    /// The task as launched.
    pub(crate) info: &'a TaskInfo,
    /// Its framework.
    pub(crate) framework_id: &'a str,
    /// Its executor, "" for command tasks.
    pub(crate) executor_id: &'a str,
    /// Its agent.
    pub(crate) agent_id: &'a str,
    /// Its latest state.
    pub(crate) state: TaskState,
    /// The role its resources are allocated to.
    pub(crate) role: &'a str,
    /// The statuses to show.
    pub(crate) statuses: &'a [TaskStatus],
}

/// A `Task` as Mesos writes it in state endpoints.
pub(crate) fn task_json(task: &TaskView<'_>) -> Value {
    let info = task.info;
    let mut out = Map::new();
    out.insert("id".into(), json!(info.task_id.as_str()));
    out.insert("name".into(), json!(info.name));
    out.insert("framework_id".into(), json!(task.framework_id));
    out.insert("executor_id".into(), json!(task.executor_id));
    out.insert("slave_id".into(), json!(task.agent_id));
    out.insert("state".into(), to_json(&task.state));
    out.insert("resources".into(), resources_json(&info.resources.iter().cloned().collect()));
    if !info.limits.is_empty() {
        let limits: Map<String, Value> =
            info.limits.iter().map(|(k, v)| (k.clone(), json!(v.value))).collect();
        out.insert("limits".into(), Value::Object(limits));
    }
    out.insert("role".into(), json!(task.role));
    out.insert("statuses".into(), task.statuses.iter().map(status_json).collect());
    let user = info
        .command
        .as_ref()
        .and_then(|c| c.user.clone())
        .or_else(|| info.executor.as_ref().and_then(|e| e.command.as_ref()).and_then(|c| c.user.clone()));
    if let Some(user) = user {
        out.insert("user".into(), json!(user));
    }
    if let Some(labels) = &info.labels {
        out.insert("labels".into(), labels_json(labels));
    }
    if let Some(discovery) = &info.discovery {
        out.insert("discovery".into(), to_json(discovery));
    }
    if let Some(container) = &info.container {
        out.insert("container".into(), to_json(container));
    }
    if let Some(check) = &info.health_check {
        out.insert("health_check".into(), health_check_json(check));
    }
    Value::Object(out)
}

/// The role the first of a task's resources is allocated to, as Mesos reports a task's
/// role.
pub(crate) fn allocation_role(resources: &[Resource]) -> Option<String> {
    resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone())
}

/// A `TaskStatus` as Mesos writes it in state: `state`, `timestamp`, `labels`,
/// `container_status`, `healthy`.
pub(crate) fn status_json(status: &TaskStatus) -> Value {
    let mut out = Map::new();
    out.insert("state".into(), to_json(&status.state));
    out.insert("timestamp".into(), json!(status.timestamp.unwrap_or(0.0)));
    if let Some(labels) = &status.labels {
        out.insert("labels".into(), labels_json(labels));
    }
    if let Some(cs) = &status.container_status {
        out.insert("container_status".into(), container_status_json(cs));
    }
    if let Some(healthy) = status.healthy {
        out.insert("healthy".into(), json!(healthy));
    }
    Value::Object(out)
}

/// `container_id`, `network_infos` (labels as a plain array) and `cgroup_info`.
fn container_status_json(cs: &ContainerStatus) -> Value {
    let mut out = Map::new();
    if let Some(id) = &cs.container_id {
        out.insert("container_id".into(), to_json(id));
    }
    if !cs.network_infos.is_empty() {
        let infos: Vec<Value> = cs
            .network_infos
            .iter()
            .map(|n| {
                let mut v = to_json(n);
                if let (Some(obj), Some(labels)) = (v.as_object_mut(), &n.labels) {
                    obj.insert("labels".into(), labels_json(labels));
                }
                v
            })
            .collect();
        out.insert("network_infos".into(), Value::Array(infos));
    }
    if let Some(cgroup) = &cs.cgroup_info {
        out.insert("cgroup_info".into(), cgroup.clone());
    }
    Value::Object(out)
}

/// A health check with Mesos' protobuf defaults filled in.
fn health_check_json(check: &HealthCheck) -> Value {
    let mut v = to_json(check);
    let Some(obj) = v.as_object_mut() else { return v };
    for (key, default) in [
        ("delay_seconds", json!(15.0)),
        ("interval_seconds", json!(10.0)),
        ("timeout_seconds", json!(20.0)),
        ("consecutive_failures", json!(3)),
        ("grace_period_seconds", json!(10.0)),
    ] {
        obj.entry(key).or_insert(default);
    }
    for kind in ["http", "tcp"] {
        if let Some(Value::Object(probe)) = obj.get_mut(kind) {
            probe.entry("protocol").or_insert(json!("IPv4"));
        }
    }
    v
}

/// Labels as Mesos writes them in state: a plain array of `{key, value}`.
pub(crate) fn labels_json(labels: &Labels) -> Value {
    to_json(&labels.labels)
}

/// Attributes as a map: scalars as numbers, ranges, sets and text as text.
pub(crate) fn attributes_json(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attributes {
        let value = match a.kind {
            ValueType::Scalar => json!(a.scalar.map(|s| s.value).unwrap_or(0.0)),
            ValueType::Ranges => {
                json!(ranges_text(a.ranges.as_ref().map(|r| r.range.as_slice()).unwrap_or(&[])))
            }
            ValueType::Set => json!(set_text(a.set.as_ref().map(|s| s.item.as_slice()).unwrap_or(&[]))),
            ValueType::Text => json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default()),
        };
        out.insert(a.name.clone(), value);
    }
    Value::Object(out)
}

/// Resources summarised as Mesos does: `cpus`, `gpus`, `mem` and `disk` always (0.0 if
/// none), every other name present; scalars summed, ranges as `"[a-b, c-d]"`, sets as
/// `"{a, b}"`; revocable resources under `<name>_revocable`.
pub(crate) fn resources_json(resources: &Resources) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "gpus", "mem", "disk"] {
        out.insert(name.into(), json!(0.0));
    }
    for (suffix, part) in [("", resources.non_revocable()), ("_revocable", resources.revocable())] {
        for name in part.names() {
            let value = match part.iter().find(|r| r.name == name).map(|r| r.kind) {
                Some(ValueType::Scalar) => json!(part.scalar(&name)),
                Some(ValueType::Ranges) => json!(ranges_text(&part.ranges(&name))),
                Some(ValueType::Set) => json!(set_text(&part.set_items(&name))),
                Some(ValueType::Text) | None => continue,
            };
            out.insert(format!("{name}{suffix}"), value);
        }
    }
    Value::Object(out)
}

/// `{role: summary}` of the reserved resources, by the role of their current reservation.
pub(crate) fn reservations_json(resources: &Resources) -> Value {
    let out: Map<String, Value> = resources
        .split_by_role()
        .into_iter()
        .filter_map(|(role, r)| role.map(|role| (role, resources_json(&r))))
        .collect();
    Value::Object(out)
}

/// `{role: [Resource]}` of the reserved resources, in endpoint format.
pub(crate) fn reservations_full_json(resources: &Resources) -> Value {
    let out: Map<String, Value> = resources
        .split_by_role()
        .into_iter()
        .filter_map(|(role, r)| role.map(|role| (role, resources_full_json(&r))))
        .collect();
    Value::Object(out)
}

/// `[Resource]` in endpoint format.
pub(crate) fn resources_full_json(resources: &Resources) -> Value {
    resources.iter().map(|r| to_json(&endpoint_format(r))).collect()
}

/// Mesos' "endpoint" resource format: the refined `reservations` plus, where it can be
/// expressed, the pre-refinement `role` (`*` if unreserved) and `reservation`
/// (principal and labels of a dynamic reservation).
pub(crate) fn endpoint_format(resource: &Resource) -> Resource {
    let mut r = resource.upgraded();
    match r.reservations.as_slice() {
        [] => r.role = Some("*".to_owned()),
        [only] => {
            r.role = only.role.clone();
            if only.kind == Some(ReservationType::Dynamic) {
                r.reservation = Some(ReservationInfo {
                    kind: None,
                    role: None,
                    principal: only.principal.clone(),
                    labels: only.labels.clone(),
                });
            }
        }
        _ => {}
    }
    r
}

/// Mesos' text for ranges: `[31000-31099, 31101-32000]`.
fn ranges_text(ranges: &[Range]) -> String {
    let parts: Vec<String> = ranges.iter().map(|r| format!("{}-{}", r.begin, r.end)).collect();
    format!("[{}]", parts.join(", "))
}

/// Mesos' text for a set: `{a, b}`.
fn set_text(items: &[String]) -> String {
    format!("{{{}}}", items.join(", "))
}

/// Build info as `/version` answers it (see the module docs).
pub(crate) fn build_info(version: &str, started: f64) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("version".into(), json!(version));
    out.insert("git_sha".into(), json!(""));
    out.insert("git_branch".into(), json!(""));
    out.insert("git_tag".into(), json!(""));
    out.insert("build_date".into(), json!("herd local cluster"));
    out.insert("build_time".into(), json!(started.floor()));
    out.insert("build_user".into(), json!("herd"));
    out
}

/// A duration as Mesos prints flags: in the largest unit that is not more than it,
/// e.g. `50ms`, `1secs`, `1.25mins`, `10mins`, `6hrs`, `2weeks`.
pub(crate) fn mesos_duration(d: Duration) -> String {
    const UNITS: [(f64, &str); 8] = [
        (1.0, "ns"),
        (1e3, "us"),
        (1e6, "ms"),
        (1e9, "secs"),
        (60e9, "mins"),
        (3600e9, "hrs"),
        (86400e9, "days"),
        (604800e9, "weeks"),
    ];
    let ns = d.as_nanos() as f64;
    let (factor, unit) = UNITS.iter().rev().find(|(f, _)| ns >= *f).copied().unwrap_or(UNITS[0]);
    format!("{}{unit}", ns / factor)
}

/// Serialises with the API types' own (Mesos) JSON form.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `a=1&b=2` into a map (percent-decoding `%XX` and `+`).
pub(crate) fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
