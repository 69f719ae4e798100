//! Running tasks: the command executor (one process per LAUNCH task), the default
//! executor (LAUNCH_GROUP: tasks share the executor's sandbox root and volumes; one task
//! failing or killed kills the other tasks of its group, not those of other groups) and custom executors (a process of the framework's
//! that speaks the v1 executor API, see `executor_api.rs`).
//!
//! Each executor gets a sandbox under
//! `slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/<container>` in the
//! agent's work dir; persistent volumes are linked in at their `container_path`.

use super::checks;
use super::health::{self, HealthContext, HealthEvent};
use super::process::{self, Outcome, ProcessHandle, ProcessSpec};
use super::{Agent, FrameworkOnAgent, LaunchRequest};
use crate::master::{AgentMessage, now_secs};
use bytes::Bytes;
use herd_mesos_api::executor::{
    Acknowledged, Data, ExecutorEvent, ExecutorEventType, KillTask, LaunchTask, LaunchTaskGroup,
};
use herd_mesos_api::recordio;
use herd_mesos_api::{
    CheckStatusInfo, ContainerId, ContainerStatus, ExecutorId, ExecutorInfo, FrameworkCapabilityType,
    FrameworkId, FrameworkInfo, IpAddress, IpProtocol, KillPolicy, NetworkInfo, Reason, Source,
    TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Mesos' default kill grace period for the built-in executors.
const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// Which executor runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecKind {
    /// The command executor (one task).
    Command,
    /// The default executor (task groups).
    Default,
    /// The framework's own executor.
    Custom,
}

/// A task on this agent.
#[derive(Debug)]
pub(crate) struct TaskRun {
    pub(crate) info: TaskInfo,
    pub(crate) state: TaskState,
    /// The nested container of a task-group task (its parent is the executor's).
    pub(crate) container_id: Option<String>,
    pub(crate) process: Option<ProcessHandle>,
    pub(crate) kill_requested: bool,
    pub(crate) latest: Option<TaskStatus>,
    /// The task group it was launched in (a default executor's task: the group's first
    /// task id), whose other tasks are killed when it fails or is killed.
    pub(crate) group: Option<TaskId>,
}

/// A custom executor's connection.
#[derive(Debug, Default)]
pub(crate) struct CustomExecutor {
    pub(crate) process: Option<ProcessHandle>,
    /// The executor's event stream once it subscribed.
    pub(crate) events: Option<mpsc::UnboundedSender<Bytes>>,
    /// Launches waiting for the executor to subscribe.
    pub(crate) queued: Vec<ExecutorEvent>,
}

/// An executor (container) on this agent.
#[derive(Debug)]
pub(crate) struct ExecutorRun {
    pub(crate) executor_id: ExecutorId,
    pub(crate) kind: ExecKind,
    pub(crate) info: Option<ExecutorInfo>,
    pub(crate) container_id: String,
    pub(crate) sandbox: PathBuf,
    pub(crate) tasks: BTreeMap<TaskId, TaskRun>,
    pub(crate) custom: CustomExecutor,
    /// The executor ended (its tasks may still wait for acknowledgements).
    pub(crate) exited: bool,
}

impl ExecutorRun {
    /// SIGKILLs every process of this executor (host death, framework removal).
    pub(crate) fn kill_everything(&self) {
        for task in self.tasks.values() {
            if let Some(p) = &task.process {
                p.kill_now();
            }
        }
        if let Some(p) = &self.custom.process {
            p.kill_now();
        }
    }

    fn active_tasks(&self) -> usize {
        self.tasks.values().filter(|t| !t.state.is_terminal()).count()
    }
}

/// Writes an executor event to a custom executor's stream.
pub(crate) fn send_event(tx: &mpsc::UnboundedSender<Bytes>, event: &ExecutorEvent) {
    if let Ok(json) = serde_json::to_vec(event) {
        let _ = tx.send(recordio::encode_to_bytes(&json));
    }
}

pub(crate) fn executor_event(kind: ExecutorEventType) -> ExecutorEvent {
    ExecutorEvent {
        kind,
        subscribed: None,
        acknowledged: None,
        launch: None,
        launch_group: None,
        kill: None,
        message: None,
        error: None,
    }
}

fn sandbox_for(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    container_id: &str,
) -> PathBuf {
    agent
        .work_dir
        .join("slaves")
        .join(agent.id.as_str())
        .join("frameworks")
        .join(framework_id.as_str())
        .join("executors")
        .join(executor_id.as_str())
        .join("runs")
        .join(container_id)
}

/// Fields of an update besides task and state.
#[derive(Debug, Default)]
pub(crate) struct UpdateFields {
    pub(crate) message: Option<String>,
    pub(crate) reason: Option<Reason>,
    pub(crate) source: Option<Source>,
    pub(crate) healthy: Option<bool>,
    pub(crate) check_status: Option<CheckStatusInfo>,
    pub(crate) pid: Option<u32>,
}

/// Records a task's new state and queues the update (sent now if it is the head).
pub(crate) fn update(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    state: TaskState,
    fields: UpdateFields,
) {
    let mut status = TaskStatus::new(task_id.clone(), state);
    status.message = fields.message;
    status.reason = fields.reason;
    status.source = Some(fields.source.unwrap_or(Source::SourceExecutor));
    status.agent_id = Some(agent.id.clone());
    status.executor_id = Some(executor_id.clone());
    status.timestamp = Some(now_secs());
    status.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
    status.healthy = fields.healthy;
    status.check_status = fields.check_status;
    record_and_queue(agent, framework_id, executor_id, status, fields.pid);
}

/// A `TASK_RUNNING` update made from the task's latest status, as Mesos' built-in executors
/// send check and health results (`createTaskStatus(lastTaskStatus, ...)`): what the latest
/// status carries (`healthy`, `check_status`, ...) is kept unless `change` sets it; new uuid and
/// timestamp. Dropped once the task is being killed or no longer runs, as Mesos' executors do.
fn running_update(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    pid: Option<u32>,
    change: impl FnOnce(&mut TaskStatus),
) {
    let latest = {
        let inner = agent.lock();
        inner
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
            .and_then(|r| r.tasks.get(task_id))
            .filter(|t| t.state == TaskState::TaskRunning && !t.kill_requested)
            .and_then(|t| t.latest.clone())
    };
    let Some(mut status) = latest else { return };
    status.timestamp = Some(now_secs());
    status.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
    change(&mut status);
    record_and_queue(agent, framework_id, executor_id, status, pid);
}

/// Queues an update (from a built-in or custom executor) after recording it.
pub(crate) fn record_and_queue(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    mut status: TaskStatus,
    pid: Option<u32>,
) {
    let send = {
        let mut inner = agent.lock();
        let Some(run) = inner.frameworks.get_mut(framework_id).and_then(|f| f.executors.get_mut(executor_id))
        else {
            return;
        };
        let nested = run.tasks.get(&status.task_id).and_then(|t| t.container_id.clone());
        let container_id = match nested {
            Some(value) => ContainerId {
                value,
                parent: Some(Box::new(ContainerId { value: run.container_id.clone(), parent: None })),
            },
            None => ContainerId { value: run.container_id.clone(), parent: None },
        };
        let pid = pid.or_else(|| run.custom.process.as_ref().map(ProcessHandle::pid));
        if status.container_status.is_none() {
            status.container_status = Some(ContainerStatus {
                container_id: Some(container_id),
                network_infos: vec![NetworkInfo {
                    ip_addresses: vec![IpAddress {
                        protocol: Some(IpProtocol::Ipv4),
                        ip_address: Some(agent.ip.to_string()),
                    }],
                    ..NetworkInfo::default()
                }],
                cgroup_info: None,
                executor_pid: pid,
            });
        }
        if let Some(task) = run.tasks.get_mut(&status.task_id) {
            task.state = status.state;
            task.latest = Some(status.clone());
        }
        inner.updates.enqueue(framework_id, status)
    };
    if let Some(status) = send {
        agent.forward(framework_id, status);
    }
}

/// Starts what the master accepted.
pub(crate) fn launch(agent: &Arc<Agent>, request: LaunchRequest) {
    let Some(framework_id) = request.framework.id.clone() else { return };
    let mut inner = agent.lock();
    if !inner.running {
        return; // the host is down; the master will find out
    }
    let fw = inner
        .frameworks
        .entry(framework_id.clone())
        .or_insert_with(|| FrameworkOnAgent { info: request.framework.clone(), executors: BTreeMap::new() });
    fw.info = request.framework.clone();
    let framework = request.framework;
    match (request.executor, request.group) {
        (None, _) => {
            for task in request.tasks {
                let executor_id = ExecutorId::new(task.task_id.value.clone());
                let container_id = uuid::Uuid::new_v4().to_string();
                let sandbox = sandbox_for(agent, &framework_id, &executor_id, &container_id);
                let mut tasks = BTreeMap::new();
                tasks.insert(task.task_id.clone(), task_run(&task));
                fw.executors.insert(
                    executor_id.clone(),
                    ExecutorRun {
                        executor_id: executor_id.clone(),
                        kind: ExecKind::Command,
                        info: None,
                        container_id,
                        sandbox: sandbox.clone(),
                        tasks,
                        custom: CustomExecutor::default(),
                        exited: false,
                    },
                );
                tokio::spawn(run_builtin_task(
                    Arc::clone(agent),
                    framework.clone(),
                    executor_id,
                    task,
                    sandbox,
                    None,
                ));
            }
        }
        (Some(executor), group) if executor.kind == Some(herd_mesos_api::ExecutorType::Custom) || !group => {
            let new = fw.executors.get(&executor.executor_id).is_none_or(|r| r.exited);
            let executor = with_defaults(executor);
            let run = executor_run(agent, fw, &framework_id, &executor, ExecKind::Custom);
            let sandbox = run.sandbox.clone();
            let tasks: Vec<TaskInfo> = request
                .tasks
                .into_iter()
                .map(|mut t| {
                    t.executor = t.executor.map(with_defaults);
                    if let Some(c) = t.command.as_mut() {
                        command_defaults(c);
                    }
                    t
                })
                .collect();
            for task in &tasks {
                run.tasks.insert(task.task_id.clone(), task_run(task));
            }
            let events: Vec<ExecutorEvent> = if group {
                vec![launch_group_event(tasks)]
            } else {
                tasks
                    .into_iter()
                    .map(|task| {
                        let mut event = executor_event(ExecutorEventType::Launch);
                        event.launch = Some(LaunchTask { task });
                        event
                    })
                    .collect()
            };
            for event in events {
                match &run.custom.events {
                    Some(tx) => send_event(tx, &event),
                    None => run.custom.queued.push(event),
                }
            }
            if new {
                tokio::spawn(run_custom_executor(Arc::clone(agent), framework, executor, sandbox));
            }
        }
        (Some(executor), _) => {
            let run = executor_run(agent, fw, &framework_id, &executor, ExecKind::Default);
            let executor_sandbox = run.sandbox.clone();
            let mut started = Vec::new();
            let group = request.tasks.first().map(|t| t.task_id.clone());
            for task in request.tasks {
                let sandbox = executor_sandbox.join("tasks").join(task.task_id.as_str());
                let mut task_run = task_run(&task);
                task_run.container_id = Some(uuid::Uuid::new_v4().to_string());
                task_run.group.clone_from(&group);
                run.tasks.insert(task.task_id.clone(), task_run);
                started.push((task, sandbox));
            }
            for (task, sandbox) in started {
                tokio::spawn(run_builtin_task(
                    Arc::clone(agent),
                    framework.clone(),
                    executor.executor_id.clone(),
                    task,
                    sandbox,
                    Some(executor.clone()),
                ));
            }
        }
    }
}

/// Mesos writes the defaults of the proto fields it knows (`shell: true`, `extract: true`)
/// into what it hands executors.
fn command_defaults(cmd: &mut herd_mesos_api::CommandInfo) {
    cmd.shell.get_or_insert(true);
    for uri in &mut cmd.uris {
        uri.extract.get_or_insert(true);
    }
}

fn with_defaults(mut executor: ExecutorInfo) -> ExecutorInfo {
    if let Some(c) = executor.command.as_mut() {
        command_defaults(c);
    }
    executor
}

fn task_run(task: &TaskInfo) -> TaskRun {
    TaskRun {
        info: task.clone(),
        state: TaskState::TaskStaging,
        container_id: None,
        process: None,
        kill_requested: false,
        latest: None,
        group: None,
    }
}

/// The running executor with this id, or a new one.
fn executor_run<'a>(
    agent: &Agent,
    fw: &'a mut FrameworkOnAgent,
    framework_id: &FrameworkId,
    executor: &ExecutorInfo,
    kind: ExecKind,
) -> &'a mut ExecutorRun {
    let fresh = fw.executors.get(&executor.executor_id).is_none_or(|r| r.exited);
    if fresh {
        let container_id = uuid::Uuid::new_v4().to_string();
        let sandbox = sandbox_for(agent, framework_id, &executor.executor_id, &container_id);
        fw.executors.insert(
            executor.executor_id.clone(),
            ExecutorRun {
                executor_id: executor.executor_id.clone(),
                kind,
                info: Some(executor.clone()),
                container_id,
                sandbox,
                tasks: BTreeMap::new(),
                custom: CustomExecutor::default(),
                exited: false,
            },
        );
    }
    fw.executors.get_mut(&executor.executor_id).expect("executor present")
}

/// Links the persistent volumes among `resources` into `sandbox` at their container paths.
fn link_volumes(agent: &Agent, resources: &[herd_mesos_api::Resource], sandbox: &Path) -> Result<(), String> {
    for r in resources {
        let Some(volume) = r.disk.as_ref().and_then(|d| d.volume.as_ref()) else { continue };
        let Some(dir) = agent.volume_dir(r) else { continue };
        let rel = Path::new(&volume.container_path);
        if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!(
                "Persistent volume container path '{}' must be relative to the sandbox",
                volume.container_path
            ));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("Failed to create volume {}: {e}", dir.display()))?;
        let link = sandbox.join(rel);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("Failed to create {}: {e}", parent.display()))?;
        }
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(&dir, &link)
                .map_err(|e| format!("Failed to mount persistent volume at {}: {e}", link.display()))?;
        }
    }
    Ok(())
}

/// The environment Mesos gives a task of a built-in executor.
fn task_env(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    sandbox: &Path,
    directory: &Path,
) -> Vec<(String, String)> {
    let ip = agent.ip.to_string();
    vec![
        ("MESOS_SANDBOX".into(), sandbox.display().to_string()),
        ("MESOS_DIRECTORY".into(), directory.display().to_string()),
        ("MESOS_FRAMEWORK_ID".into(), framework_id.to_string()),
        ("MESOS_EXECUTOR_ID".into(), executor_id.to_string()),
        ("MESOS_AGENT_ENDPOINT".into(), format!("{ip}:{}", agent.port())),
        ("MESOS_SLAVE_ID".into(), agent.id.to_string()),
        ("MESOS_CONTAINER_IP".into(), ip.clone()),
        ("LIBPROCESS_IP".into(), ip),
    ]
}

/// The user a task runs as: the command's, else the framework's; switching only makes
/// sense when it differs from the agent's own user.
fn task_user(framework: &FrameworkInfo, cmd_user: Option<&String>) -> Option<String> {
    let wanted = cmd_user.cloned().unwrap_or_else(|| framework.user.clone());
    let me = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name);
    if wanted.is_empty() || Some(&wanted) == me.as_ref() { None } else { Some(wanted) }
}

/// Gives `path` (recursively) to `user`, so a task switched to that user can write its sandbox.
fn chown_to(path: &Path, user: &str) -> Result<(), String> {
    let Some(u) = nix::unistd::User::from_name(user).ok().flatten() else {
        return Err(format!("Failed to chown sandbox to user '{user}': no such user"));
    };
    fn walk(p: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> std::io::Result<()> {
        std::os::unix::fs::lchown(p, Some(uid.as_raw()), Some(gid.as_raw()))?;
        if p.symlink_metadata()?.is_dir() {
            for entry in std::fs::read_dir(p)? {
                walk(&entry?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(path, u.uid, u.gid)
        .map_err(|e| format!("Failed to chown sandbox {} to '{user}': {e}", path.display()))
}

fn fail_launch(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    message: String,
) {
    tracing::warn!(task = %task_id, %message, "task launch failed");
    update(
        agent,
        framework_id,
        executor_id,
        task_id,
        TaskState::TaskFailed,
        UpdateFields {
            message: Some(message),
            reason: Some(Reason::ReasonContainerLaunchFailed),
            source: Some(Source::SourceAgent),
            ..UpdateFields::default()
        },
    );
}

/// Runs one task of the command executor or of a default executor's group.
async fn run_builtin_task(
    agent: Arc<Agent>,
    framework: FrameworkInfo,
    executor_id: ExecutorId,
    task: TaskInfo,
    sandbox: PathBuf,
    group_executor: Option<ExecutorInfo>,
) {
    let Some(framework_id) = framework.id.clone() else { return };
    let task_id = task.task_id.clone();
    let cmd = task.command.clone().unwrap_or_default();
    let directory = match &group_executor {
        Some(_) => {
            sandbox.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| sandbox.clone())
        }
        None => sandbox.clone(),
    };
    let user = task_user(&framework, cmd.user.as_ref());
    let prepared = async {
        tokio::fs::create_dir_all(&sandbox)
            .await
            .map_err(|e| format!("Failed to create sandbox {}: {e}", sandbox.display()))?;
        let mut volumes = task.resources.clone();
        if let Some(e) = &group_executor {
            volumes.extend(e.resources.iter().cloned());
        }
        link_volumes(&agent, &volumes, &sandbox)?;
        agent.fetcher.fetch_all(&cmd.uris, &sandbox).await.map_err(|e| e.to_string())?;
        if let Some(user) = &user
            && nix::unistd::getuid().is_root()
        {
            chown_to(&directory, user)?;
        }
        Ok::<(), String>(())
    }
    .await;
    if let Err(message) = prepared {
        fail_launch(&agent, &framework_id, &executor_id, &task_id, message);
        builtin_task_ended(&agent, &framework_id, &executor_id, &task_id, TaskState::TaskFailed);
        return;
    }
    let mut spec = ProcessSpec::from_command(&cmd, &sandbox);
    let mut env = task_env(&agent, &framework_id, &executor_id, &sandbox, &directory);
    env.append(&mut spec.env);
    spec.env = env;
    spec.user = user.clone();
    // Spawn under the agent's lock, so a KILL cannot slip between the check and the spawn.
    let spawned = {
        let mut inner = agent.lock();
        let run = inner.frameworks.get_mut(&framework_id).and_then(|f| f.executors.get_mut(&executor_id));
        match run.and_then(|r| r.tasks.get_mut(&task_id)) {
            None => return, // framework removed or host died meanwhile
            Some(t) if t.kill_requested => Err(None),
            Some(t) => match process::spawn(&spec) {
                Ok(handle) => {
                    t.process = Some(handle.clone());
                    Ok(handle)
                }
                Err(e) => Err(Some(format!("Failed to launch task: {e}"))),
            },
        }
    };
    let handle = match spawned {
        Ok(h) => h,
        Err(None) => {
            update(
                &agent,
                &framework_id,
                &executor_id,
                &task_id,
                TaskState::TaskKilled,
                UpdateFields {
                    message: Some("Task killed before it was launched".to_owned()),
                    reason: Some(Reason::ReasonTaskKilledDuringLaunch),
                    ..UpdateFields::default()
                },
            );
            builtin_task_ended(&agent, &framework_id, &executor_id, &task_id, TaskState::TaskKilled);
            return;
        }
        Err(Some(message)) => {
            fail_launch(&agent, &framework_id, &executor_id, &task_id, message);
            builtin_task_ended(&agent, &framework_id, &executor_id, &task_id, TaskState::TaskFailed);
            return;
        }
    };
    let pid = Some(handle.pid());
    let starting_pid = if group_executor.is_none() { pid } else { None };
    // Mesos' executors put the empty status of the task's check on each status made from scratch.
    let empty_check = task.check.as_ref().and_then(checks::empty_status);
    update(
        &agent,
        &framework_id,
        &executor_id,
        &task_id,
        TaskState::TaskStarting,
        UpdateFields { pid: starting_pid, check_status: empty_check.clone(), ..UpdateFields::default() },
    );
    update(
        &agent,
        &framework_id,
        &executor_id,
        &task_id,
        TaskState::TaskRunning,
        UpdateFields { pid, check_status: empty_check.clone(), ..UpdateFields::default() },
    );
    let health = task.health_check.as_ref().map(|check| {
        health::start(
            check,
            HealthContext {
                sandbox: sandbox.clone(),
                env: spec.env.clone(),
                host: agent.ip.into(),
                user: user.clone(),
            },
        )
    });
    let health_task = match health {
        Some(Ok(mut monitor)) => {
            let (agent, framework_id, executor_id, task_id) =
                (Arc::clone(&agent), framework_id.clone(), executor_id.clone(), task_id.clone());
            let grace = grace_of(&task, None);
            Some(tokio::spawn(async move {
                while let Some(event) = monitor.next().await {
                    let healthy = match event {
                        HealthEvent::Healthy => true,
                        HealthEvent::Unhealthy { .. } => false,
                        HealthEvent::Kill { message } => {
                            tracing::warn!(task = %task_id, %message, "health checks failed: killing the task");
                            kill_builtin(&agent, &framework_id, &executor_id, &task_id, grace);
                            return;
                        }
                    };
                    running_update(&agent, &framework_id, &executor_id, &task_id, pid, |status| {
                        status.reason = Some(Reason::ReasonTaskHealthCheckStatusUpdated);
                        status.healthy = Some(healthy);
                    });
                }
            }))
        }
        Some(Err(e)) => {
            tracing::warn!(task = %task_id, error = %e, "invalid health check: not checking");
            None
        }
        None => None,
    };
    let check = task.check.as_ref().map(|check| {
        checks::start(
            check,
            HealthContext { sandbox: sandbox.clone(), env: spec.env.clone(), host: agent.ip.into(), user },
        )
    });
    let check_task = match check {
        Some(Ok(mut monitor)) => {
            let (agent, framework_id, executor_id, task_id) =
                (Arc::clone(&agent), framework_id.clone(), executor_id.clone(), task_id.clone());
            Some(tokio::spawn(async move {
                while let Some(result) = monitor.next().await {
                    running_update(&agent, &framework_id, &executor_id, &task_id, pid, |status| {
                        status.reason = Some(Reason::ReasonTaskCheckStatusUpdated);
                        status.check_status = Some(result);
                    });
                }
            }))
        }
        Some(Err(e)) => {
            tracing::warn!(task = %task_id, error = %e, "invalid check: not checking");
            None
        }
        None => None,
    };
    let exit = handle.wait().await;
    if let Some(h) = health_task {
        h.abort();
    }
    if let Some(c) = check_task {
        c.abort();
    }
    let state = match exit.outcome() {
        Outcome::Finished => TaskState::TaskFinished,
        Outcome::Failed => TaskState::TaskFailed,
        Outcome::Killed => TaskState::TaskKilled,
    };
    update(
        &agent,
        &framework_id,
        &executor_id,
        &task_id,
        state,
        UpdateFields {
            message: Some(exit.message()),
            pid,
            check_status: empty_check,
            ..UpdateFields::default()
        },
    );
    builtin_task_ended(&agent, &framework_id, &executor_id, &task_id, state);
}

/// After a built-in task ended: a group member failing or killed kills the other tasks of
/// its group; an executor with no active task left has exited (the master hears of it for
/// default executors).
fn builtin_task_ended(
    agent: &Arc<Agent>,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    state: TaskState,
) {
    let mut siblings = Vec::new();
    {
        let inner = agent.lock();
        let Some(run) = inner.frameworks.get(framework_id).and_then(|f| f.executors.get(executor_id)) else {
            return;
        };
        if run.kind == ExecKind::Default && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled) {
            // As Mesos' default executor: the failed task's own group only.
            let group = run.tasks.get(task_id).and_then(|t| t.group.clone());
            for (id, t) in run.tasks.iter() {
                if id != task_id && !t.state.is_terminal() && group.is_some() && t.group == group {
                    siblings.push((id.clone(), grace_of(&t.info, None)));
                }
            }
        }
    }
    for (id, grace) in siblings {
        kill_builtin(agent, framework_id, executor_id, &id, grace);
    }
    maybe_exit(agent, framework_id, executor_id);
}

/// How long Mesos' executors linger after their last update is acknowledged, to flush what
/// the executor library still has to send, before terminating.
const EXECUTOR_LINGER: Duration = Duration::from_secs(1);

/// A built-in executor with no active task left exits: the command executor at once, the
/// default executor a second after its tasks' updates are all acknowledged (as Mesos'
/// does); the master hears of the default executor's end (FAILURE to the framework).
fn maybe_exit(agent: &Arc<Agent>, framework_id: &FrameworkId, executor_id: &ExecutorId) {
    let kind = {
        let mut inner = agent.lock();
        let pending = |inner: &super::AgentInner, run: &ExecutorRun| {
            run.tasks.keys().any(|t| inner.updates.has_pending(framework_id, t))
        };
        let Some(run) = inner.frameworks.get(framework_id).and_then(|f| f.executors.get(executor_id)) else {
            return;
        };
        if run.exited || run.kind == ExecKind::Custom || run.active_tasks() > 0 {
            drop(inner);
            return cleanup_if_settled(agent, framework_id, executor_id);
        }
        if run.kind == ExecKind::Default && pending(&inner, run) {
            return;
        }
        let run = inner
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.executors.get_mut(executor_id))
            .expect("executor present");
        if run.kind == ExecKind::Command {
            run.exited = true;
        }
        run.kind
    };
    if kind == ExecKind::Command {
        return cleanup_if_settled(agent, framework_id, executor_id);
    }
    let (agent, framework_id, executor_id) = (Arc::clone(agent), framework_id.clone(), executor_id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(EXECUTOR_LINGER).await;
        let exit = {
            let mut inner = agent.lock();
            match inner.frameworks.get_mut(&framework_id).and_then(|f| f.executors.get_mut(&executor_id)) {
                // A new task group may have arrived meanwhile.
                Some(run) if !run.exited && run.active_tasks() == 0 => {
                    run.exited = true;
                    true
                }
                _ => false,
            }
        };
        if exit {
            let _ = agent.to_master.send(AgentMessage::ExecutorExited {
                agent_id: agent.id.clone(),
                framework_id: framework_id.clone(),
                executor_id: executor_id.clone(),
                status: 0,
            });
            cleanup_if_settled(&agent, &framework_id, &executor_id);
        }
    });
}

/// The kill grace period: the KILL's policy, else the task's, else 3 s.
fn grace_of(task: &TaskInfo, policy: Option<&KillPolicy>) -> Duration {
    policy
        .and_then(|p| p.grace_period)
        .or_else(|| task.kill_policy.as_ref().and_then(|p| p.grace_period))
        .map(|d| d.to_duration())
        .unwrap_or(DEFAULT_GRACE)
}

/// Kills a built-in executor's task: TASK_KILLING first for frameworks that understand
/// it, SIGTERM to its process group, SIGKILL after the grace period.
fn kill_builtin(
    agent: &Arc<Agent>,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    task_id: &TaskId,
    grace: Duration,
) {
    let (process, killing, empty_check) = {
        let mut inner = agent.lock();
        let Some(fw) = inner.frameworks.get_mut(framework_id) else { return };
        let killing_state = fw.info.has_capability(FrameworkCapabilityType::TaskKillingState);
        let Some(task) = fw.executors.get_mut(executor_id).and_then(|r| r.tasks.get_mut(task_id)) else {
            return;
        };
        if task.state.is_terminal() || task.kill_requested {
            return;
        }
        task.kill_requested = true;
        let empty_check = task.info.check.as_ref().and_then(checks::empty_status);
        (task.process.clone(), killing_state && task.process.is_some(), empty_check)
    };
    if let Some(process) = process {
        if killing {
            let pid = Some(process.pid());
            update(
                agent,
                framework_id,
                executor_id,
                task_id,
                TaskState::TaskKilling,
                UpdateFields { pid, check_status: empty_check, ..UpdateFields::default() },
            );
        }
        process.terminate(grace);
    }
}

/// KILL from the framework.
pub(crate) fn kill_task(
    agent: &Arc<Agent>,
    framework_id: &FrameworkId,
    task_id: &TaskId,
    policy: Option<KillPolicy>,
) {
    let target = {
        let mut inner = agent.lock();
        let Some(fw) = inner.frameworks.get_mut(framework_id) else { return };
        fw.executors
            .values_mut()
            .find_map(|run| {
                let task = run.tasks.get(task_id)?;
                Some((
                    run.executor_id.clone(),
                    run.kind,
                    grace_of(&task.info, policy.as_ref()),
                    run.custom.events.clone(),
                    run,
                ))
            })
            .map(|(eid, kind, grace, events, run)| {
                // A custom executor that has not subscribed yet: drop the queued launch.
                let dequeued = kind == ExecKind::Custom && events.is_none() && {
                    let before = run.custom.queued.len();
                    run.custom
                        .queued
                        .retain(|e| e.launch.as_ref().is_none_or(|l| &l.task.task_id != task_id));
                    run.custom.queued.len() != before
                };
                (eid, kind, grace, events, dequeued)
            })
    };
    let Some((executor_id, kind, grace, events, dequeued)) = target else { return };
    match kind {
        ExecKind::Command | ExecKind::Default => {
            kill_builtin(agent, framework_id, &executor_id, task_id, grace)
        }
        ExecKind::Custom if dequeued => {
            update(
                agent,
                framework_id,
                &executor_id,
                task_id,
                TaskState::TaskKilled,
                UpdateFields {
                    message: Some("Task killed before it was launched".to_owned()),
                    reason: Some(Reason::ReasonTaskKilledDuringLaunch),
                    source: Some(Source::SourceAgent),
                    ..UpdateFields::default()
                },
            );
        }
        ExecKind::Custom => {
            if let Some(tx) = events {
                let mut event = executor_event(ExecutorEventType::Kill);
                event.kill = Some(KillTask { task_id: task_id.clone(), kill_policy: policy });
                send_event(&tx, &event);
            }
        }
    }
}

/// SHUTDOWN of an executor: built-in ones kill their tasks; a custom one gets SHUTDOWN
/// and is killed after the shutdown grace period.
pub(crate) fn shutdown_executor(agent: &Arc<Agent>, framework_id: &FrameworkId, executor_id: &ExecutorId) {
    let found = {
        let inner = agent.lock();
        inner.frameworks.get(framework_id).and_then(|f| f.executors.get(executor_id)).map(|run| {
            let tasks: Vec<(TaskId, Duration)> = run
                .tasks
                .iter()
                .filter(|(_, t)| !t.state.is_terminal())
                .map(|(id, t)| (id.clone(), grace_of(&t.info, None)))
                .collect();
            (run.kind, tasks, run.custom.events.clone(), run.custom.process.clone())
        })
    };
    let Some((kind, tasks, events, process)) = found else { return };
    if kind == ExecKind::Custom {
        if let Some(tx) = events {
            send_event(&tx, &executor_event(ExecutorEventType::Shutdown));
        }
        if let Some(p) = process {
            p.terminate(agent.config.executor_shutdown_grace);
        }
    } else {
        for (task_id, grace) in tasks {
            kill_builtin(agent, framework_id, executor_id, &task_id, grace);
        }
    }
}

/// MESSAGE for a custom executor.
pub(crate) fn message_executor(
    agent: &Agent,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    data: Vec<u8>,
) {
    let inner = agent.lock();
    if let Some(tx) = inner
        .frameworks
        .get(framework_id)
        .and_then(|f| f.executors.get(executor_id))
        .and_then(|r| r.custom.events.as_ref())
    {
        let mut event = executor_event(ExecutorEventType::Message);
        event.message = Some(Data { data });
        send_event(tx, &event);
    }
}

/// An acknowledgement reached the agent: custom executors hear of it.
pub(crate) fn acknowledged(agent: &Agent, framework_id: &FrameworkId, task_id: &TaskId, uuid: &[u8]) {
    let inner = agent.lock();
    let Some(fw) = inner.frameworks.get(framework_id) else { return };
    for run in fw.executors.values() {
        if run.kind == ExecKind::Custom
            && run.tasks.contains_key(task_id)
            && let Some(tx) = &run.custom.events
        {
            let mut event = executor_event(ExecutorEventType::Acknowledged);
            event.acknowledged = Some(Acknowledged { task_id: task_id.clone(), uuid: uuid.to_vec() });
            send_event(tx, &event);
        }
    }
}

/// A task's terminal update was acknowledged: forget it, and its executor once empty.
pub(crate) fn task_settled(agent: &Arc<Agent>, framework_id: &FrameworkId, task_id: &TaskId) {
    let executor_id = {
        let mut inner = agent.lock();
        let Some(fw) = inner.frameworks.get_mut(framework_id) else { return };
        let Some(run) =
            fw.executors.values_mut().find(|r| r.tasks.get(task_id).is_some_and(|t| t.state.is_terminal()))
        else {
            return;
        };
        run.tasks.remove(task_id);
        run.executor_id.clone()
    };
    maybe_exit(agent, framework_id, &executor_id);
}

/// Removes an exited executor whose tasks are all acknowledged.
fn cleanup_if_settled(agent: &Agent, framework_id: &FrameworkId, executor_id: &ExecutorId) {
    let mut inner = agent.lock();
    let pending = |inner: &super::AgentInner, run: &ExecutorRun| {
        run.tasks.keys().any(|t| inner.updates.has_pending(framework_id, t))
    };
    let Some(fw) = inner.frameworks.get(framework_id) else { return };
    let Some(run) = fw.executors.get(executor_id) else { return };
    if run.exited && run.active_tasks() == 0 && !pending(&inner, run) {
        let fw = inner.frameworks.get_mut(framework_id).expect("framework present");
        fw.executors.remove(executor_id);
        if fw.executors.is_empty() {
            inner.frameworks.remove(framework_id);
        }
    }
}

/// Starts a custom executor: fetch its URIs, run its command with the variables the v1
/// executor API needs; when it exits, its unfinished tasks fail.
async fn run_custom_executor(
    agent: Arc<Agent>,
    framework: FrameworkInfo,
    executor: ExecutorInfo,
    sandbox: PathBuf,
) {
    let Some(framework_id) = framework.id.clone() else { return };
    let executor_id = executor.executor_id.clone();
    let cmd = executor.command.clone().unwrap_or_default();
    let user = task_user(&framework, cmd.user.as_ref());
    let prepared = async {
        tokio::fs::create_dir_all(&sandbox)
            .await
            .map_err(|e| format!("Failed to create sandbox {}: {e}", sandbox.display()))?;
        link_volumes(&agent, &executor.resources, &sandbox)?;
        agent.fetcher.fetch_all(&cmd.uris, &sandbox).await.map_err(|e| e.to_string())?;
        if let Some(user) = &user
            && nix::unistd::getuid().is_root()
        {
            chown_to(&sandbox, user)?;
        }
        let mut spec = ProcessSpec::from_command(&cmd, &sandbox);
        let ip = agent.ip.to_string();
        let grace = agent.config.executor_shutdown_grace.as_secs().max(1);
        let mut env: Vec<(String, String)> = vec![
            ("MESOS_FRAMEWORK_ID".into(), framework_id.to_string()),
            ("MESOS_EXECUTOR_ID".into(), executor_id.to_string()),
            ("MESOS_DIRECTORY".into(), sandbox.display().to_string()),
            ("MESOS_SANDBOX".into(), sandbox.display().to_string()),
            ("MESOS_AGENT_ENDPOINT".into(), format!("{ip}:{}", agent.port())),
            ("MESOS_SLAVE_ID".into(), agent.id.to_string()),
            ("MESOS_SLAVE_PID".into(), format!("slave(1)@{ip}:{}", agent.port())),
            ("MESOS_CHECKPOINT".into(), if framework.checkpoint == Some(true) { "1" } else { "0" }.into()),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(), format!("{grace}secs")),
            ("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into()),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into()),
            ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into()),
            ("LIBPROCESS_IP".into(), ip),
            ("LIBPROCESS_PORT".into(), "0".into()),
        ];
        env.append(&mut spec.env);
        spec.env = env;
        spec.user = user.clone();
        process::spawn(&spec).map_err(|e| format!("Failed to launch executor: {e}"))
    }
    .await;
    let handle = match prepared {
        Ok(h) => h,
        Err(message) => {
            let tasks = custom_tasks(&agent, &framework_id, &executor_id);
            for task_id in tasks {
                fail_launch(&agent, &framework_id, &executor_id, &task_id, message.clone());
            }
            custom_executor_ended(&agent, &framework_id, &executor_id, 1 << 8);
            return;
        }
    };
    {
        let mut inner = agent.lock();
        match inner.frameworks.get_mut(&framework_id).and_then(|f| f.executors.get_mut(&executor_id)) {
            Some(run) => run.custom.process = Some(handle.clone()),
            None => {
                handle.kill_now();
                return;
            }
        }
    }
    let exit = handle.wait().await;
    tracing::info!(executor = %executor_id, exit = %exit.message(), "custom executor exited");
    let unfinished: Vec<TaskId> = {
        let inner = agent.lock();
        inner
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .map(|r| {
                r.tasks.iter().filter(|(_, t)| !t.state.is_terminal()).map(|(id, _)| id.clone()).collect()
            })
            .unwrap_or_default()
    };
    for task_id in unfinished {
        update(
            &agent,
            &framework_id,
            &executor_id,
            &task_id,
            TaskState::TaskFailed,
            UpdateFields {
                message: Some(format!("Executor terminated: {}", exit.message())),
                reason: Some(Reason::ReasonExecutorTerminated),
                source: Some(Source::SourceAgent),
                ..UpdateFields::default()
            },
        );
    }
    custom_executor_ended(&agent, &framework_id, &executor_id, exit.raw_wait_status());
}

fn custom_tasks(agent: &Agent, framework_id: &FrameworkId, executor_id: &ExecutorId) -> Vec<TaskId> {
    let inner = agent.lock();
    inner
        .frameworks
        .get(framework_id)
        .and_then(|f| f.executors.get(executor_id))
        .map(|r| r.tasks.keys().cloned().collect())
        .unwrap_or_default()
}

fn custom_executor_ended(agent: &Agent, framework_id: &FrameworkId, executor_id: &ExecutorId, status: i32) {
    {
        let mut inner = agent.lock();
        if let Some(run) =
            inner.frameworks.get_mut(framework_id).and_then(|f| f.executors.get_mut(executor_id))
        {
            run.exited = true;
            run.custom.events = None; // closes the executor's stream
        }
    }
    let _ = agent.to_master.send(AgentMessage::ExecutorExited {
        agent_id: agent.id.clone(),
        framework_id: framework_id.clone(),
        executor_id: executor_id.clone(),
        status,
    });
    cleanup_if_settled(agent, framework_id, executor_id);
}

/// A task group as an executor event (kept for executors that receive LAUNCH_GROUP).
pub(crate) fn launch_group_event(tasks: Vec<TaskInfo>) -> ExecutorEvent {
    let mut event = executor_event(ExecutorEventType::LaunchGroup);
    event.launch_group = Some(LaunchTaskGroup { task_group: TaskGroupInfo { tasks } });
    event
}
