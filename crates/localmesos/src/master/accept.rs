//! ACCEPT: offer validation, then RESERVE / UNRESERVE / CREATE / DESTROY / LAUNCH /
//! LAUNCH_GROUP applied in order on the offered resources, validated like Mesos
//! (`src/master/validation.cpp`): an invalid task gets TASK_ERROR with the reason, invalid
//! offers drop the launches (TASK_DROPPED / TASK_LOST), an invalid reservation or volume
//! operation is dropped (logged).

use super::allocator::{add_filter, refuse_duration};
use super::state::{Executor, MasterState, OfferRec, Task};
use super::{Master, state_remove_offer};
use crate::agent::LaunchRequest;
use herd_mesos_api::scheduler::Accept;
use herd_mesos_api::{
    AgentId, ExecutorType, FrameworkId, OfferId, Operation, OperationType, Reason, ReservationType, Resource,
    Resources, TaskInfo, TaskState,
};
use std::sync::Arc;

/// Resources as the master keeps them: refined reservations, no allocation info.
pub(crate) fn internal(resources: &[Resource]) -> Resources {
    resources.iter().map(|r| Resource { allocation_info: None, ..r.upgraded() }).collect()
}

/// Volume operations the agent must carry out on disk.
#[derive(Debug, Default)]
pub(crate) struct VolumeChanges {
    pub(crate) created: Vec<Resource>,
    pub(crate) destroyed: Vec<Resource>,
}

impl Master {
    pub(crate) fn accept(self: &Arc<Self>, framework_id: &FrameworkId, accept: Accept) {
        let mut st = self.lock();
        let Some(fw) = st.frameworks.get(framework_id) else { return };
        let framework_info = fw.info.clone();
        let partition_aware = fw.partition_aware();
        if let Err(reason) = validate_offers(&st, framework_id, &accept.offer_ids) {
            for id in &accept.offer_ids {
                if st.offers.get(id).is_some_and(|o| &o.framework_id == framework_id) {
                    state_remove_offer(&mut st, id);
                }
            }
            let state = if partition_aware { TaskState::TaskDropped } else { TaskState::TaskLost };
            for task in launched_tasks(&accept.operations) {
                self.master_update(
                    &st,
                    framework_id,
                    &task.task_id,
                    state,
                    Reason::ReasonInvalidOffers,
                    format!("Task launched with invalid offers: {reason}"),
                    Some(task.agent_id.clone()),
                );
            }
            return;
        }
        let offers: Vec<OfferRec> =
            accept.offer_ids.iter().filter_map(|id| state_remove_offer(&mut st, id)).collect();
        let agent_id = offers[0].agent_id.clone();
        let role = offers[0].role.clone();
        let mut pool = Resources::new();
        for o in &offers {
            pool.add_all(&o.resources);
        }
        let mut converted = false;
        let mut volumes = VolumeChanges::default();
        let mut launches = Vec::new();
        for op in accept.operations {
            let result = match op.kind {
                OperationType::Reserve => {
                    let resources = op.reserve.map(|r| r.resources).unwrap_or_default();
                    reserve(&mut st, &agent_id, &role, &framework_info, &mut pool, &resources)
                }
                OperationType::Unreserve => {
                    let resources = op.unreserve.map(|r| r.resources).unwrap_or_default();
                    unreserve(&mut st, &agent_id, &mut pool, &resources)
                }
                OperationType::Create => {
                    let vols = op.create.map(|c| c.volumes).unwrap_or_default();
                    create(&mut st, &agent_id, &mut pool, &vols, &mut volumes)
                }
                OperationType::Destroy => {
                    let vols = op.destroy.map(|c| c.volumes).unwrap_or_default();
                    destroy(&mut st, &agent_id, &mut pool, &vols, &mut volumes)
                }
                OperationType::Launch | OperationType::LaunchGroup => {
                    self.launch(&mut st, framework_id, &agent_id, &role, &mut pool, op, &mut launches);
                    continue;
                }
                other => Err(format!("operation {other:?} is not supported by the local cluster")),
            };
            match result {
                Ok(()) => converted = true,
                Err(reason) => {
                    tracing::warn!(framework = %framework_id, %reason, "dropping an invalid operation")
                }
            }
        }
        // The remainder goes back; unless resources were converted (which Mesos re-offers
        // promptly), it is filtered for this framework.
        if !converted {
            add_filter(&mut st, framework_id, &offers[0], pool, refuse_duration(accept.filters));
        }
        let agent = st.agents.get(&agent_id).map(|a| (Arc::clone(&a.handle), a.total.clone()));
        drop(st);
        if let Some((agent, total)) = agent {
            if converted {
                agent.update_resources(total, volumes);
            }
            for launch in launches {
                agent.launch(launch);
            }
        }
        self.allocate_now.notify_one();
    }

    /// LAUNCH / LAUNCH_GROUP: validates each task (or the group), takes its resources
    /// from the pool and records it; the agent is called after the lock is released.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        st: &mut MasterState,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        pool: &mut Resources,
        op: Operation,
        launches: &mut Vec<LaunchRequest>,
    ) {
        let group = op.kind == OperationType::LaunchGroup;
        let (executor, tasks) = if group {
            let lg = op.launch_group.unwrap_or_default();
            (Some(lg.executor), lg.task_group.tasks)
        } else {
            (None, op.launch.unwrap_or_default().task_infos)
        };
        let reason = if group { Reason::ReasonTaskGroupInvalid } else { Reason::ReasonTaskInvalid };
        if op.id.is_some() {
            for t in &tasks {
                let msg = "The `id` field cannot be set on LAUNCH operations".to_owned();
                self.master_update(
                    st,
                    framework_id,
                    &t.task_id,
                    TaskState::TaskError,
                    reason,
                    msg,
                    Some(agent_id.clone()),
                );
            }
            return;
        }
        if group {
            let mut executor = executor.unwrap_or_default();
            let mut tasks = tasks;
            let check = validate_group(st, framework_id, agent_id, role, &mut executor, &mut tasks, pool);
            match check {
                Err(msg) => {
                    for t in &tasks {
                        self.master_update(
                            st,
                            framework_id,
                            &t.task_id,
                            TaskState::TaskError,
                            reason,
                            msg.clone(),
                            Some(agent_id.clone()),
                        );
                    }
                }
                Ok(needed_executor) => {
                    let mut needed = needed_executor.clone().unwrap_or_default();
                    for t in &tasks {
                        needed.add_all(&internal(&t.resources));
                    }
                    let _ = pool.subtract_all(&needed);
                    record(st, framework_id, agent_id, role, Some(&executor), needed_executor, &tasks);
                    let framework = st.frameworks[framework_id].info.clone();
                    launches.push(LaunchRequest { framework, executor: Some(executor), tasks, group: true });
                }
            }
            return;
        }
        for mut task in tasks {
            match validate_task(st, framework_id, agent_id, role, &mut task, pool) {
                Err(msg) => {
                    self.master_update(
                        st,
                        framework_id,
                        &task.task_id,
                        TaskState::TaskError,
                        reason,
                        msg,
                        Some(agent_id.clone()),
                    );
                }
                Ok(needed_executor) => {
                    let mut needed = internal(&task.resources);
                    if let Some(e) = &needed_executor {
                        needed.add_all(e);
                    }
                    let _ = pool.subtract_all(&needed);
                    let executor = task.executor.clone();
                    record(
                        st,
                        framework_id,
                        agent_id,
                        role,
                        executor.as_ref(),
                        needed_executor,
                        std::slice::from_ref(&task),
                    );
                    let framework = st.frameworks[framework_id].info.clone();
                    launches.push(LaunchRequest { framework, executor, tasks: vec![task], group: false });
                }
            }
        }
    }
}

/// Records launched tasks (TASK_STAGING) and a new executor, and charges the agent.
fn record(
    st: &mut MasterState,
    framework_id: &FrameworkId,
    agent_id: &AgentId,
    role: &str,
    executor: Option<&herd_mesos_api::ExecutorInfo>,
    executor_resources: Option<Resources>,
    tasks: &[TaskInfo],
) {
    let Some(fw) = st.frameworks.get_mut(framework_id) else { return };
    let mut charged = Resources::new();
    if let (Some(info), Some(resources)) = (executor, executor_resources) {
        charged.add_all(&resources);
        fw.executors.insert(
            (agent_id.clone(), info.executor_id.clone()),
            Executor { info: info.clone(), resources, role: role.to_owned() },
        );
    }
    for t in tasks {
        let resources = internal(&t.resources);
        charged.add_all(&resources);
        fw.tasks.insert(
            t.task_id.clone(),
            Task {
                info: t.clone(),
                framework_id: framework_id.clone(),
                agent_id: agent_id.clone(),
                executor_id: Some(
                    executor.map(|e| e.executor_id.clone()).unwrap_or_else(|| t.task_id.value.clone().into()),
                ),
                role: role.to_owned(),
                state: TaskState::TaskStaging,
                status_update_state: None,
                latest: None,
                resources,
                unreachable_time: None,
                statuses: Vec::new(),
            },
        );
    }
    if let Some(agent) = st.agents.get_mut(agent_id) {
        agent.used.add_all(&charged);
    }
}

/// Offer checks; the error reads like Mesos' (`Offer <id> is no longer valid`, ...).
fn validate_offers(st: &MasterState, framework_id: &FrameworkId, ids: &[OfferId]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("No offers specified".to_owned());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut first: Option<&OfferRec> = None;
    for id in ids {
        if !seen.insert(id) {
            return Err(format!("Duplicate offer {id} in the list of offers"));
        }
        let Some(offer) = st.offers.get(id) else {
            return Err(format!("Offer {id} is no longer valid"));
        };
        if &offer.framework_id != framework_id {
            return Err(format!(
                "Offer {id} has invalid framework {} while framework {framework_id} is expected",
                offer.framework_id
            ));
        }
        if let Some(f) = first {
            if f.agent_id != offer.agent_id {
                return Err(format!(
                    "Aggregated offers must belong to one single agent. Offer {id} uses agent {} and agent {}",
                    offer.agent_id, f.agent_id
                ));
            }
            if f.role != offer.role {
                return Err(format!(
                    "Aggregated offers must be allocated to the same role. Offer {id} uses role {} and offer {} uses role {}",
                    offer.role, f.id, f.role
                ));
            }
        }
        first = first.or(Some(offer));
    }
    Ok(())
}

fn launched_tasks(ops: &[Operation]) -> Vec<TaskInfo> {
    let mut out = Vec::new();
    for op in ops {
        if let Some(l) = &op.launch {
            out.extend(l.task_infos.iter().cloned());
        }
        if let Some(g) = &op.launch_group {
            out.extend(g.task_group.tasks.iter().cloned());
        }
    }
    out
}

/// `r` with its top reservation removed (what a RESERVE consumed).
fn pop_reservation(r: &Resource) -> Resource {
    let mut out = r.clone();
    out.reservations.pop();
    out
}

fn reserve(
    st: &mut MasterState,
    agent_id: &AgentId,
    role: &str,
    framework: &herd_mesos_api::FrameworkInfo,
    pool: &mut Resources,
    resources: &[Resource],
) -> Result<(), String> {
    let wanted = internal(resources);
    let mut consumed = Resources::new();
    for r in wanted.iter() {
        let Some(top) = r.reservations.last() else {
            return Err(format!("Invalid RESERVE: {r} is not reserved"));
        };
        if top.kind != Some(ReservationType::Dynamic) {
            return Err(format!("Invalid RESERVE: {r} is not a dynamic reservation"));
        }
        if top.role.as_deref() != Some(role) {
            return Err(format!(
                "Invalid RESERVE: reservation role {} does not match the allocation role {role}",
                top.role.clone().unwrap_or_default()
            ));
        }
        if framework.principal.is_some() && top.principal != framework.principal {
            return Err(format!(
                "Invalid RESERVE: principal of {r} does not match the framework's principal"
            ));
        }
        if r.is_persistent_volume() {
            return Err("Invalid RESERVE: cannot reserve a persistent volume".to_owned());
        }
        consumed.add(&pop_reservation(r));
    }
    if !pool.contains(&consumed) {
        return Err(format!("Invalid RESERVE: {consumed} is not available in {pool}"));
    }
    convert(st, agent_id, pool, &consumed, &wanted)
}

fn unreserve(
    st: &mut MasterState,
    agent_id: &AgentId,
    pool: &mut Resources,
    resources: &[Resource],
) -> Result<(), String> {
    let wanted = internal(resources);
    let mut freed = Resources::new();
    for r in wanted.iter() {
        if r.reservations.last().map(|t| t.kind) != Some(Some(ReservationType::Dynamic)) {
            return Err(format!("Invalid UNRESERVE: {r} is not dynamically reserved"));
        }
        if r.is_persistent_volume() {
            return Err(format!("Invalid UNRESERVE: {r} is a persistent volume; DESTROY it first"));
        }
        freed.add(&pop_reservation(r));
    }
    if !pool.contains(&wanted) {
        return Err(format!("Invalid UNRESERVE: {wanted} is not available in {pool}"));
    }
    convert(st, agent_id, pool, &wanted, &freed)
}

fn create(
    st: &mut MasterState,
    agent_id: &AgentId,
    pool: &mut Resources,
    volumes: &[Resource],
    changes: &mut VolumeChanges,
) -> Result<(), String> {
    let wanted = internal(volumes);
    let mut plain = Resources::new();
    for v in wanted.iter() {
        let disk = v.disk.as_ref().ok_or_else(|| format!("Invalid CREATE: {v} has no disk info"))?;
        let persistence = disk
            .persistence
            .as_ref()
            .ok_or_else(|| format!("Invalid CREATE: {v} is not a persistent volume"))?;
        let volume = disk
            .volume
            .as_ref()
            .ok_or_else(|| "Invalid CREATE: Expecting 'volume' to be set for persistent volume".to_owned())?;
        if volume.mode != herd_mesos_api::VolumeMode::Rw {
            return Err("Invalid CREATE: Persistent volumes must be created with RW mode".to_owned());
        }
        if volume.host_path.is_some() {
            return Err("Invalid CREATE: Persistent volumes cannot have a host path".to_owned());
        }
        if v.reservations.is_empty() {
            return Err(format!("Invalid CREATE: persistent volume {} must be reserved", persistence.id));
        }
        let role = v.reservation_role().unwrap_or_default();
        let total = &st.agents[agent_id].total;
        let clash = total.iter().chain(wanted.iter().filter(|w| !std::ptr::eq(*w, v))).any(|r| {
            r.reservation_role().as_deref() == Some(role.as_str())
                && r.disk.as_ref().and_then(|d| d.persistence.as_ref()).map(|p| &p.id)
                    == Some(&persistence.id)
        });
        if clash {
            return Err(format!(
                "Invalid CREATE: persistence ID '{}' is already in use for role {role}",
                persistence.id
            ));
        }
        plain.add(&v.without_volume());
    }
    if !pool.contains(&plain) {
        return Err(format!("Invalid CREATE: {plain} is not available in {pool}"));
    }
    convert(st, agent_id, pool, &plain, &wanted)?;
    changes.created.extend(wanted.into_vec());
    Ok(())
}

fn destroy(
    st: &mut MasterState,
    agent_id: &AgentId,
    pool: &mut Resources,
    volumes: &[Resource],
    changes: &mut VolumeChanges,
) -> Result<(), String> {
    let wanted = internal(volumes);
    if wanted.iter().any(|v| !v.is_persistent_volume()) {
        return Err("Invalid DESTROY: only persistent volumes can be destroyed".to_owned());
    }
    if !pool.contains(&wanted) {
        return Err("Invalid DESTROY: Persistent volumes not found".to_owned());
    }
    let mut plain = Resources::new();
    for v in wanted.iter() {
        plain.add(&v.without_volume());
    }
    convert(st, agent_id, pool, &wanted, &plain)?;
    changes.destroyed.extend(wanted.into_vec());
    Ok(())
}

/// Replaces `from` by `to` in the pool and in the agent's total.
fn convert(
    st: &mut MasterState,
    agent_id: &AgentId,
    pool: &mut Resources,
    from: &Resources,
    to: &Resources,
) -> Result<(), String> {
    let agent = st.agents.get_mut(agent_id).ok_or("agent gone")?;
    let mut total = agent.total.checked_sub(from).map_err(|e| e.to_string())?;
    total.add_all(to);
    let mut new_pool = pool.checked_sub(from).map_err(|e| e.to_string())?;
    new_pool.add_all(to);
    agent.total = total;
    *pool = new_pool;
    Ok(())
}

/// A task id Mesos accepts.
fn validate_task_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".to_owned());
    }
    if id.len() > 255 {
        return Err("ID must not be longer than 255 characters".to_owned());
    }
    if id == "." || id == ".." {
        return Err("'.' and '..' are not allowed".to_owned());
    }
    if let Some(c) = id.chars().find(|c| c.is_control() || *c == '/' || *c == '\\') {
        return Err(format!("'{}' is an invalid character", c.escape_default()));
    }
    Ok(())
}

/// Checks shared by LAUNCH tasks and the tasks of a group.
fn validate_task_common(
    st: &MasterState,
    framework_id: &FrameworkId,
    agent_id: &AgentId,
    task: &TaskInfo,
) -> Result<(), String> {
    validate_task_id(&task.task_id.value)
        .map_err(|e| format!("Task ID '{}' is invalid: {e}", task.task_id))?;
    let fw = &st.frameworks[framework_id];
    if fw.tasks.contains_key(&task.task_id) {
        return Err(format!("Task has duplicate ID: {}", task.task_id));
    }
    if fw.unreachable.contains_key(&task.task_id) {
        return Err(format!("Task reuses the ID of an unreachable task: {}", task.task_id));
    }
    if &task.agent_id != agent_id {
        return Err(format!("Task uses invalid agent {} while agent {agent_id} is expected", task.agent_id));
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".to_owned());
    }
    if task.kill_policy.as_ref().and_then(|k| k.grace_period).is_some_and(|g| g.nanoseconds < 0) {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".to_owned());
    }
    if task.max_completion_time.is_some_and(|d| d.nanoseconds < 0) {
        return Err("Task's 'max_completion_time' must be non-negative".to_owned());
    }
    if let Some(hc) = &task.health_check {
        let kind = hc.kind.or(if hc.command.is_some() {
            Some(herd_mesos_api::CheckType::Command)
        } else if hc.http.is_some() {
            Some(herd_mesos_api::CheckType::Http)
        } else {
            None
        });
        let ok = match kind {
            Some(herd_mesos_api::CheckType::Command) => hc.command.is_some(),
            Some(herd_mesos_api::CheckType::Http) => hc.http.is_some(),
            Some(herd_mesos_api::CheckType::Tcp) => hc.tcp.is_some(),
            _ => false,
        };
        if !ok {
            return Err("Task's health check is invalid: the field for its 'type' must be set".to_owned());
        }
    }
    Ok(())
}

/// Validates a LAUNCH task; returns the resources of its executor if it starts a new one.
fn validate_task(
    st: &MasterState,
    framework_id: &FrameworkId,
    agent_id: &AgentId,
    role: &str,
    task: &mut TaskInfo,
    pool: &Resources,
) -> Result<Option<Resources>, String> {
    validate_task_common(st, framework_id, agent_id, task)?;
    if task.command.is_some() == task.executor.is_some() {
        return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".to_owned()
        );
    }
    let mut executor_resources = None;
    if let Some(executor) = task.executor.as_mut() {
        if executor.kind.is_some_and(|k| k != ExecutorType::Custom) {
            return Err("'ExecutorInfo.type' must be 'CUSTOM' for a LAUNCH operation".to_owned());
        }
        if executor.command.is_none() {
            return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".to_owned());
        }
        match &executor.framework_id {
            Some(f) if f != framework_id => return Err("ExecutorInfo has an invalid FrameworkID".to_owned()),
            Some(_) => {}
            None => executor.framework_id = Some(framework_id.clone()),
        }
        executor_resources = existing_or_new_executor(st, framework_id, agent_id, executor)?;
    }
    let mut needed = internal(&task.resources);
    if let Some(e) = &executor_resources {
        needed.add_all(e);
    }
    if !pool.contains(&needed) {
        return Err(format!(
            "Total resources {} required by task and its executor is more than available {}",
            needed.allocate(role),
            pool.allocate(role)
        ));
    }
    Ok(executor_resources)
}

/// `None` if this executor already runs on the agent with the same info; its resources
/// if it is new; an error if it clashes with a running one.
fn existing_or_new_executor(
    st: &MasterState,
    framework_id: &FrameworkId,
    agent_id: &AgentId,
    executor: &herd_mesos_api::ExecutorInfo,
) -> Result<Option<Resources>, String> {
    validate_task_id(&executor.executor_id.value)
        .map_err(|e| format!("Executor ID '{}' is invalid: {e}", executor.executor_id))?;
    match st.frameworks[framework_id].executors.get(&(agent_id.clone(), executor.executor_id.clone())) {
        Some(existing) if existing.info == *executor => Ok(None),
        Some(_) => Err(format!(
            "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID '{}'",
            executor.executor_id
        )),
        None => Ok(Some(internal(&executor.resources))),
    }
}

/// Validates a task group (all or nothing); returns the new executor's resources.
fn validate_group(
    st: &MasterState,
    framework_id: &FrameworkId,
    agent_id: &AgentId,
    role: &str,
    executor: &mut herd_mesos_api::ExecutorInfo,
    tasks: &mut [TaskInfo],
    pool: &Resources,
) -> Result<Option<Resources>, String> {
    let eid = executor.executor_id.clone();
    let Some(kind) = executor.kind else {
        return Err("'ExecutorInfo.type' must be set".to_owned());
    };
    if kind == ExecutorType::Default && executor.command.is_some() {
        return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".to_owned());
    }
    match &executor.framework_id {
        None => return Err("'ExecutorInfo.framework_id' must be set".to_owned()),
        Some(f) if f != framework_id => return Err("ExecutorInfo has an invalid FrameworkID".to_owned()),
        Some(_) => {}
    }
    let executor_resources = existing_or_new_executor(st, framework_id, agent_id, executor)?;
    if let Some(res) = &executor_resources {
        let cpus = res.cpus();
        let mem = res.mem();
        let show = |v: f64| if v > 0.0 { v.to_string() } else { "None".to_owned() };
        if cpus < 0.01 {
            return Err(format!(
                "Executor '{eid}' uses less CPUs ({}) than the minimum required (0.01)",
                show(cpus)
            ));
        }
        if mem < 32.0 {
            return Err(format!(
                "Executor '{eid}' uses less memory ({}) than the minimum required (32MB)",
                show(mem)
            ));
        }
        if res.disk() <= 0.0 {
            return Err(format!("Executor '{eid}' uses no disk"));
        }
    }
    if tasks.is_empty() {
        return Err("Task group is empty".to_owned());
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut needed = executor_resources.clone().unwrap_or_default();
    for task in tasks.iter_mut() {
        let invalid = |e: String| format!("Task '{}' is invalid: {e}", task.task_id);
        validate_task_common(st, framework_id, agent_id, task).map_err(invalid)?;
        if !ids.insert(task.task_id.clone()) {
            return Err(invalid(format!("Task has duplicate ID: {}", task.task_id)));
        }
        match &task.executor {
            None => task.executor = Some(executor.clone()),
            Some(e) if e == executor => {}
            Some(_) => {
                return Err(invalid("The `ExecutorInfo` of the task must match the group's".to_owned()));
            }
        }
        needed.add_all(&internal(&task.resources));
    }
    if !pool.contains(&needed) {
        return Err(format!(
            "Total resources {} required by task group and its executor are more than available {}",
            needed.allocate(role),
            pool.allocate(role)
        ));
    }
    Ok(executor_resources)
}
