//! Building the task group of an instance from its spec, its assignment (resources, ports,
//! volumes) and rendered templates: a DEFAULT executor and one TaskInfo per task.

use super::state::Instance;
use crate::offer::Assignment;
use crate::spec::{CheckSpec, Goal, PodSpec, ServiceSpec, TaskSpec};
use crate::template::{InstanceAddress, Renderer, TemplateContext, TemplateError};
use herd_mesos_api::{
    CheckInfo, CheckType, CommandCheck, CommandInfo, ContainerInfo, ContainerType, DurationInfo, Environment,
    ExecutorId, ExecutorInfo, ExecutorType, FrameworkId, HealthCheck, HttpCheck, HttpHealthCheck, KillPolicy,
    Labels, SandboxPath, SandboxPathType, TaskId, TaskInfo, TcpCheck, TcpHealthCheck, Uri, Variable, Volume,
    VolumeSource, VolumeSourceType,
};
use std::collections::BTreeMap;

/// Label carrying the target config a task was built from.
pub const CONFIG_LABEL: &str = "target_configuration";
/// Label carrying the instance name.
pub const INSTANCE_LABEL: &str = "instance";

/// Everything needed to build one launch.
#[derive(Debug)]
pub struct LaunchInput<'a> {
    /// The service.
    pub spec: &'a ServiceSpec,
    /// The instance's pod type.
    pub pod: &'a PodSpec,
    /// The instance (its `launches` counter names the tasks).
    pub instance: &'a Instance,
    /// What the offer gave it.
    pub assignment: &'a Assignment,
    /// The framework.
    pub framework_id: &'a FrameworkId,
    /// The target config id.
    pub config_id: &'a str,
    /// Addresses of every instance, for templates.
    pub addresses: BTreeMap<String, Vec<InstanceAddress>>,
    /// Operator plan parameters (task env).
    pub params: BTreeMap<String, String>,
    /// The tasks to launch (names); the others of the pod are not part of this launch.
    pub tasks: Vec<String>,
    /// Join the executor started by this launch number (still running) instead of
    /// starting a new one.
    pub executor_launch: Option<u32>,
}

/// A built launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The DEFAULT executor.
    pub executor: ExecutorInfo,
    /// Task name → task.
    pub tasks: Vec<(String, TaskInfo)>,
}

/// The id of a task: `<service>__<instance>-<task>__<launch>`.
pub fn task_id(service: &str, instance: &Instance, task: &str, launch: u32) -> TaskId {
    TaskId::new(format!("{service}__{}-{task}__{launch}", instance.id))
}

fn secs(s: f64) -> DurationInfo {
    DurationInfo { nanoseconds: (s.max(0.0) * 1e9) as i64 }
}

/// Writes a rendered config file from inside the task's command (works with any Mesos
/// agent: no extra fetch, no quoting problems thanks to base64).
fn write_file_command(dest: &str, content: &str) -> String {
    use base64::Engine;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let dir = std::path::Path::new(dest).parent().map(|p| p.display().to_string()).unwrap_or_default();
    let mkdir = if dir.is_empty() { String::new() } else { format!("mkdir -p '{dir}' && ") };
    format!("{mkdir}printf '%s' '{}' | base64 -d > '{dest}'", encode(content.as_bytes()))
}

fn health_check(c: &CheckSpec, ports: &BTreeMap<String, u16>) -> HealthCheck {
    let mut h = HealthCheck {
        delay_seconds: Some(c.delay_secs),
        interval_seconds: Some(c.interval_secs),
        timeout_seconds: Some(c.timeout_secs),
        consecutive_failures: Some(c.max_consecutive_failures),
        grace_period_seconds: Some(c.grace_period_secs),
        ..HealthCheck::default()
    };
    if let Some(cmd) = &c.command {
        h.kind = Some(CheckType::Command);
        h.command = Some(CommandInfo::shell(cmd));
    } else if let Some(http) = &c.http {
        h.kind = Some(CheckType::Http);
        h.http = Some(HttpHealthCheck {
            port: u32::from(ports.get(&http.port).copied().unwrap_or(0)),
            path: Some(http.path.clone()),
            ..HttpHealthCheck::default()
        });
    } else if let Some(tcp) = &c.tcp {
        h.kind = Some(CheckType::Tcp);
        h.tcp = Some(TcpHealthCheck {
            port: u32::from(ports.get(&tcp.port).copied().unwrap_or(0)),
            protocol: None,
        });
    }
    h
}

fn readiness_check(c: &CheckSpec, ports: &BTreeMap<String, u16>) -> CheckInfo {
    let mut check = CheckInfo {
        delay_seconds: Some(c.delay_secs),
        interval_seconds: Some(c.interval_secs),
        timeout_seconds: Some(c.timeout_secs),
        ..CheckInfo::default()
    };
    if let Some(cmd) = &c.command {
        check.kind = Some(CheckType::Command);
        check.command = Some(CommandCheck { command: CommandInfo::shell(cmd) });
    } else if let Some(http) = &c.http {
        check.kind = Some(CheckType::Http);
        check.http = Some(HttpCheck {
            port: u32::from(ports.get(&http.port).copied().unwrap_or(0)),
            path: Some(http.path.clone()),
        });
    } else if let Some(tcp) = &c.tcp {
        check.kind = Some(CheckType::Tcp);
        check.tcp = Some(TcpCheck { port: u32::from(ports.get(&tcp.port).copied().unwrap_or(0)) });
    }
    check
}

/// Builds the executor and tasks.
pub fn build(input: &LaunchInput<'_>, renderer: &Renderer) -> Result<Launch, TemplateError> {
    let spec = input.spec;
    let instance = input.instance;
    let placement = &input.assignment.placement;
    let launch_no = instance.launches;
    let executor_no = input.executor_launch.unwrap_or(launch_no);
    let executor_id = ExecutorId::new(format!("{}__{}__{executor_no}", spec.name, instance.id));
    let single_task = input.pod.tasks.len() == 1;
    let mut executor_resources = input.assignment.executor_resources.clone();
    if !single_task {
        // Several tasks share the volumes: they belong to the executor (the agent exposes
        // them in every task's sandbox).
        executor_resources.extend(input.assignment.volumes.iter().cloned());
    }
    let executor = ExecutorInfo {
        kind: Some(ExecutorType::Default),
        executor_id: executor_id.clone(),
        framework_id: Some(input.framework_id.clone()),
        resources: executor_resources,
        name: Some(format!("{}/{}", spec.name, instance.id)),
        ..ExecutorInfo::default()
    };
    let user = input.pod.user.clone().or_else(|| spec.user.clone());
    let mut tasks = Vec::new();
    for name in &input.tasks {
        let Some(task) = input.pod.task(name) else { continue };
        tasks.push((
            name.clone(),
            build_task(input, renderer, task, &executor, single_task, user.clone(), launch_no)?,
        ));
    }
    let _ = placement;
    Ok(Launch { executor, tasks })
}

fn build_task(
    input: &LaunchInput<'_>,
    renderer: &Renderer,
    task: &TaskSpec,
    executor: &ExecutorInfo,
    single_task: bool,
    user: Option<String>,
    launch_no: u32,
) -> Result<TaskInfo, TemplateError> {
    let spec = input.spec;
    let instance = input.instance;
    let placement = &input.assignment.placement;
    let ports = &placement.ports;
    let task_ports: BTreeMap<String, u16> =
        task.ports.iter().filter_map(|p| ports.get(&p.name).map(|n| (p.name.clone(), *n))).collect();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("HERD_SERVICE".into(), spec.name.clone());
    env.insert("HERD_POD".into(), input.pod.name.clone());
    env.insert("HERD_INDEX".into(), instance.id.index.to_string());
    env.insert("HERD_INSTANCE".into(), instance.id.to_string());
    env.insert("HERD_TASK".into(), task.name.clone());
    env.insert("HERD_CONFIG_ID".into(), input.config_id.to_owned());
    for p in &input.pod.tasks.iter().flat_map(|t| &t.ports).collect::<Vec<_>>() {
        if let Some(n) = ports.get(&p.name) {
            env.insert(p.env_key(), n.to_string());
        }
    }
    env.extend(input.params.clone());
    let ctx = TemplateContext {
        service: spec.name.clone(),
        role: spec.role(),
        pod: input.pod.name.clone(),
        index: instance.id.index,
        instance: instance.id.to_string(),
        task: task.name.clone(),
        host: placement.hostname.clone(),
        hostname: placement.hostname.clone(),
        ports: ports.clone(),
        env: env.clone(),
        params: input.params.clone(),
        instances: input.addresses.clone(),
        attributes: placement
            .attributes
            .iter()
            .filter_map(|a| Some((a.name.clone(), crate::placement::attribute_text(a)?.into_owned())))
            .collect(),
        replaced_host: instance.replaced_host.clone(),
        replaced_ports: instance.replaced_ports.clone(),
    };
    let path = |what: String| format!("pods[{}].tasks[{}].{what}", input.pod.name, task.name);
    for (key, value) in &task.env {
        env.insert(key.clone(), renderer.render(&path(format!("env[{key}]")), value, &ctx)?);
    }
    let mut command = String::new();
    for config in &task.configs {
        let content = renderer.render(&path(format!("configs[{}]", config.name)), &config.template, &ctx)?;
        command.push_str(&write_file_command(&config.dest, &content));
        command.push_str(" && ");
    }
    command.push_str(&renderer.render(&path("command".into()), &task.command, &ctx)?);
    let mut uris = Vec::new();
    for (i, a) in input.pod.artifacts.iter().enumerate() {
        let Some(value) = a.fetch_url() else {
            let kind = a.source().map_or("maven/pypi", |s| s.kind());
            return Err(TemplateError {
                name: format!("pods[{}].artifacts[{i}]", input.pod.name),
                line: None,
                message: format!(
                    "artifact `{}` ({kind}) has not been resolved to a URL: the runtime resolves it at start",
                    a.display_name()
                ),
            });
        };
        uris.push(Uri {
            value: value.to_owned(),
            executable: Some(a.executable),
            extract: Some(a.extract && !a.executable),
            cache: Some(a.cache),
            output_file: a.output_file.clone(),
        });
    }
    let mut resources = input.assignment.task_resources.get(&task.name).cloned().unwrap_or_default();
    if single_task {
        resources.extend(input.assignment.volumes.iter().cloned());
    }
    let labels: Labels =
        [(CONFIG_LABEL, input.config_id.to_owned()), (INSTANCE_LABEL, instance.id.to_string())]
            .into_iter()
            .collect();
    Ok(TaskInfo {
        name: format!("{}-{}", instance.id, task.name),
        task_id: task_id(&spec.name, instance, &task.name, launch_no),
        agent_id: placement.agent_id.clone(),
        resources,
        executor: Some(executor.clone()),
        command: Some(CommandInfo {
            uris,
            environment: Some(Environment {
                variables: env
                    .into_iter()
                    .map(|(name, value)| Variable { name, kind: None, value: Some(value), secret: None })
                    .collect(),
            }),
            shell: Some(true),
            value: Some(command),
            arguments: Vec::new(),
            user,
        }),
        health_check: task
            .health_check
            .as_ref()
            .filter(|_| task.goal == Goal::Running)
            .map(|c| health_check(c, &task_ports)),
        check: task.readiness_check.as_ref().map(|c| readiness_check(c, &task_ports)),
        kill_policy: task.kill_grace_secs.map(|s| KillPolicy { grace_period: Some(secs(s)) }),
        // Tasks sharing the executor's volumes see them through their parent's sandbox.
        container: (!single_task && !input.pod.volumes.is_empty()).then(|| ContainerInfo {
            kind: ContainerType::Mesos,
            volumes: input
                .pod
                .volumes
                .iter()
                .map(|v| Volume {
                    source: Some(VolumeSource {
                        kind: Some(VolumeSourceType::SandboxPath),
                        sandbox_path: Some(SandboxPath {
                            kind: Some(SandboxPathType::Parent),
                            path: v.path.clone(),
                        }),
                        ..VolumeSource::default()
                    }),
                    ..Volume::rw(&v.path)
                })
                .collect(),
            hostname: None,
            docker: None,
            mesos: None,
            network_infos: Vec::new(),
            linux_info: None,
            rlimit_info: None,
            tty_info: None,
        }),
        labels: Some(labels),
        ..TaskInfo::default()
    })
}
