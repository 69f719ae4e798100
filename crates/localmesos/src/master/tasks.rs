//! Status updates (agent → master → framework) and acknowledgements (back), reconciliation,
//! KILL / SHUTDOWN / MESSAGE, executors ending, and agents going away and coming back.

use super::state::MasterState;
use super::{AgentMessage, Master, now_secs, state_remove_offer};
use herd_mesos_api::scheduler::{
    Acknowledge, Event, ExecutorMessage, Failure, Kill, Message, ReconcileTask, Rescind, Update,
};
use herd_mesos_api::{
    AgentId, FrameworkId, Reason, Resources, Source, TaskId, TaskState, TaskStatus, TimeInfo,
};
use std::sync::Arc;
use tokio::time::Instant;

impl Master {
    /// A master-generated update: SOURCE_MASTER, no uuid (never acknowledged).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn master_update(
        &self,
        st: &MasterState,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        state: TaskState,
        reason: Reason,
        message: String,
        agent_id: Option<AgentId>,
    ) {
        let Some(fw) = st.frameworks.get(framework_id) else { return };
        let mut status = TaskStatus::new(task_id.clone(), fw.adapt_state(state));
        status.message = Some(message);
        status.source = Some(Source::SourceMaster);
        status.reason = Some(reason);
        status.agent_id = agent_id;
        status.timestamp = Some(now_secs());
        fw.send(&Event::Update(Update { status }));
    }

    pub(crate) fn on_agent_message(&self, msg: AgentMessage) {
        match msg {
            AgentMessage::StatusUpdate { agent_id, framework_id, status } => {
                self.status_update(&agent_id, &framework_id, status)
            }
            AgentMessage::ExecutorExited { agent_id, framework_id, executor_id, status } => {
                let mut st = self.lock();
                let Some(fw) = st.frameworks.get_mut(&framework_id) else { return };
                let removed = fw.executors.remove(&(agent_id.clone(), executor_id.clone()));
                fw.send(&Event::Failure(Failure {
                    agent_id: Some(agent_id.clone()),
                    executor_id: Some(executor_id),
                    status: Some(status),
                }));
                if let (Some(exec), Some(agent)) = (removed, st.agents.get_mut(&agent_id)) {
                    agent.used = agent.used.saturating_sub(&exec.resources);
                    drop(st);
                    self.allocate_now.notify_one();
                }
            }
            AgentMessage::ExecutorMessage { agent_id, framework_id, executor_id, data } => {
                let st = self.lock();
                if let Some(fw) = st.frameworks.get(&framework_id) {
                    fw.send(&Event::Message(ExecutorMessage { agent_id, executor_id, data }));
                }
            }
            AgentMessage::Down { agent_id } => self.agent_down(&agent_id),
            AgentMessage::Up { agent_id, total } => self.agent_up(&agent_id, total),
        }
    }

    fn status_update(&self, agent_id: &AgentId, framework_id: &FrameworkId, status: TaskStatus) {
        let mut st = self.lock();
        let Some(fw) = st.frameworks.get_mut(framework_id) else {
            // The framework is gone: acknowledge for it, so the agent stops retrying.
            let agent = st.agents.get(agent_id).map(|a| Arc::clone(&a.handle));
            drop(st);
            if let (Some(agent), Some(uuid)) = (agent, status.uuid) {
                agent.acknowledge(framework_id, &status.task_id, &uuid);
            }
            return;
        };
        let mut released = None;
        if let Some(task) = fw.tasks.get_mut(&status.task_id) {
            let was_terminal = task.state.is_terminal();
            task.state = status.state;
            task.latest = Some(status.clone());
            if task.statuses.last().is_none_or(|s| s.uuid != status.uuid) {
                task.statuses.push(status.clone());
            }
            if status.state.is_terminal() && !was_terminal {
                released = Some(std::mem::take(&mut task.resources));
            }
            if fw.subscription.is_some() {
                task.status_update_state = Some(status.state);
            }
        }
        let mut forwarded = status;
        forwarded.state = fw.adapt_state(forwarded.state);
        fw.send(&Event::Update(Update { status: forwarded }));
        if let Some(resources) = released {
            if let Some(agent) = st.agents.get_mut(agent_id) {
                agent.used = agent.used.saturating_sub(&resources);
            }
            drop(st);
            self.allocate_now.notify_one();
        }
    }

    pub(crate) fn acknowledge(&self, framework_id: &FrameworkId, ack: Acknowledge) {
        let mut st = self.lock();
        let agent = st.agents.get(&ack.agent_id).map(|a| Arc::clone(&a.handle));
        if let Some(fw) = st.frameworks.get_mut(framework_id) {
            let terminal_acked = fw.tasks.get(&ack.task_id).is_some_and(|t| {
                t.statuses
                    .iter()
                    .any(|s| s.uuid.as_deref() == Some(ack.uuid.as_slice()) && s.state.is_terminal())
            });
            if terminal_acked && let Some(task) = fw.tasks.remove(&ack.task_id) {
                fw.remember_completed(task);
            }
        }
        drop(st);
        if let Some(agent) = agent {
            agent.acknowledge(framework_id, &ack.task_id, &ack.uuid);
        }
    }

    pub(crate) fn reconcile(&self, framework_id: &FrameworkId, tasks: Vec<ReconcileTask>) {
        let st = self.lock();
        let Some(fw) = st.frameworks.get(framework_id) else { return };
        let answer = |task: &super::state::Task, message: &str| {
            let state = task.status_update_state.unwrap_or(task.state);
            let mut status = TaskStatus::new(task.info.task_id.clone(), fw.adapt_state(state));
            status.message = Some(message.to_owned());
            status.source = Some(Source::SourceMaster);
            status.reason = Some(Reason::ReasonReconciliation);
            status.agent_id = Some(task.agent_id.clone());
            // Command tasks (no ExecutorInfo) are answered without an executor, as Mesos does.
            status.executor_id = task.info.executor.as_ref().map(|e| e.executor_id.clone());
            status.timestamp = Some(now_secs());
            status.healthy = task.latest.as_ref().and_then(|s| s.healthy);
            status.check_status = task.latest.as_ref().and_then(|s| s.check_status.clone());
            status.container_status = task.latest.as_ref().and_then(|s| s.container_status.clone());
            status.unreachable_time = task.unreachable_time;
            status
        };
        let mut updates = Vec::new();
        if tasks.is_empty() {
            for task in fw.tasks.values().chain(fw.unreachable.values()) {
                updates.push(answer(task, "Reconciliation: Latest task state"));
            }
        } else {
            for wanted in tasks {
                if let Some(task) =
                    fw.tasks.get(&wanted.task_id).or_else(|| fw.unreachable.get(&wanted.task_id))
                {
                    updates.push(answer(task, "Reconciliation: Latest task state"));
                    continue;
                }
                let agent = wanted.agent_id.as_ref().and_then(|a| st.agents.get(a).map(|rec| (a, rec)));
                let (state, message) = match agent {
                    Some((_, rec)) if rec.reachable => {
                        (TaskState::TaskGone, "Reconciliation: Task is unknown to the agent")
                    }
                    Some(_) => (TaskState::TaskUnreachable, "Reconciliation: Task is unreachable"),
                    None => (TaskState::TaskUnknown, "Reconciliation: Task is unknown"),
                };
                let mut status = TaskStatus::new(wanted.task_id.clone(), fw.adapt_state(state));
                status.message = Some(message.to_owned());
                status.source = Some(Source::SourceMaster);
                status.reason = Some(Reason::ReasonReconciliation);
                status.agent_id = agent.map(|(a, _)| a.clone());
                status.timestamp = Some(now_secs());
                updates.push(status);
            }
        }
        for status in updates {
            fw.send(&Event::Update(Update { status }));
        }
    }

    pub(crate) fn kill(&self, framework_id: &FrameworkId, kill: Kill) {
        let st = self.lock();
        let Some(fw) = st.frameworks.get(framework_id) else { return };
        match fw.tasks.get(&kill.task_id) {
            Some(task) if kill.agent_id.as_ref().is_none_or(|a| a == &task.agent_id) => {
                let agent = st.agents.get(&task.agent_id).map(|a| Arc::clone(&a.handle));
                drop(st);
                if let Some(agent) = agent {
                    agent.kill_task(framework_id, &kill.task_id, kill.kill_policy);
                }
            }
            Some(_) => tracing::warn!(task = %kill.task_id, "KILL with a mismatched agent id: ignored"),
            None => {
                drop(st);
                let tasks = vec![ReconcileTask { task_id: kill.task_id, agent_id: kill.agent_id }];
                self.reconcile(framework_id, tasks);
            }
        }
    }

    pub(crate) fn shutdown_executor(
        &self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        executor_id: &herd_mesos_api::ExecutorId,
    ) {
        let agent = self.lock().agents.get(agent_id).map(|a| Arc::clone(&a.handle));
        if let Some(agent) = agent {
            agent.shutdown_executor(framework_id, executor_id);
        }
    }

    pub(crate) fn message(&self, framework_id: &FrameworkId, message: Message) {
        let agent = self.lock().agents.get(&message.agent_id).map(|a| Arc::clone(&a.handle));
        if let Some(agent) = agent {
            agent.message_executor(framework_id, &message.executor_id, message.data);
        }
    }

    /// The agent went silent: its offers are withdrawn now; it becomes unreachable after
    /// the timeout.
    fn agent_down(&self, agent_id: &AgentId) {
        let mut st = self.lock();
        let Some(agent) = st.agents.get_mut(agent_id) else { return };
        agent.silent_since = Some(Instant::now());
        let offers: Vec<_> =
            st.offers.values().filter(|o| &o.agent_id == agent_id).map(|o| o.id.clone()).collect();
        for id in offers {
            if let Some(offer) = state_remove_offer(&mut st, &id)
                && let Some(fw) = st.frameworks.get(&offer.framework_id)
            {
                fw.send(&Event::Rescind(Rescind { offer_id: id }));
            }
        }
    }

    /// Agents silent for longer than the timeout become unreachable: their tasks are
    /// reported TASK_UNREACHABLE (TASK_LOST without PARTITION_AWARE), then FAILURE.
    pub(crate) fn expire_agents(&self, now: Instant) {
        let timeout = self.config.agent_unreachable_timeout;
        let mut st = self.lock();
        let expired: Vec<AgentId> = st
            .agents
            .iter()
            .filter(|(_, a)| a.reachable && a.silent_since.is_some_and(|t| now.duration_since(t) >= timeout))
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in expired {
            tracing::warn!(agent = %agent_id, "agent unreachable");
            let agent = st.agents.get_mut(&agent_id).expect("agent present");
            agent.reachable = false;
            agent.used = Resources::new();
            let nanos = (now_secs() * 1e9) as i64;
            for fw in st.frameworks.values_mut() {
                let lost: Vec<TaskId> = fw
                    .tasks
                    .values()
                    .filter(|t| t.agent_id == agent_id)
                    .map(|t| t.info.task_id.clone())
                    .collect();
                for id in lost {
                    let Some(mut task) = fw.tasks.remove(&id) else { continue };
                    task.state = TaskState::TaskUnreachable;
                    task.unreachable_time = Some(TimeInfo { nanoseconds: nanos });
                    task.resources = Resources::new();
                    let mut status = TaskStatus::new(id.clone(), fw.adapt_state(TaskState::TaskUnreachable));
                    status.message = Some("health check timed out".to_owned());
                    status.source = Some(Source::SourceMaster);
                    status.reason = Some(Reason::ReasonAgentRemoved);
                    status.agent_id = Some(agent_id.clone());
                    status.timestamp = Some(now_secs());
                    status.unreachable_time = task.unreachable_time;
                    task.statuses.push(status.clone());
                    fw.send(&Event::Update(Update { status }));
                    if fw.partition_aware() {
                        fw.unreachable.insert(id, task);
                    } else {
                        fw.remember_completed(task);
                    }
                }
                fw.executors.retain(|(a, _), _| a != &agent_id);
                fw.send(&Event::Failure(Failure {
                    agent_id: Some(agent_id.clone()),
                    executor_id: None,
                    status: None,
                }));
            }
        }
    }

    /// The agent is back with its checkpointed resources and no tasks.
    fn agent_up(&self, agent_id: &AgentId, total: Resources) {
        let mut st = self.lock();
        let Some(agent) = st.agents.get_mut(agent_id) else { return };
        agent.total = total;
        agent.used = Resources::new();
        agent.offered = Resources::new();
        agent.reachable = true;
        agent.silent_since = None;
        for fw in st.frameworks.values_mut() {
            let gone: Vec<TaskId> = fw
                .tasks
                .values()
                .chain(fw.unreachable.values())
                .filter(|t| &t.agent_id == agent_id)
                .map(|t| t.info.task_id.clone())
                .collect();
            for id in gone {
                let task = fw.tasks.remove(&id).or_else(|| fw.unreachable.remove(&id));
                let mut status = TaskStatus::new(id.clone(), fw.adapt_state(TaskState::TaskGone));
                status.message =
                    Some("Agent re-registered without this task (its host restarted)".to_owned());
                status.source = Some(Source::SourceMaster);
                status.reason = Some(Reason::ReasonAgentReregistered);
                status.agent_id = Some(agent_id.clone());
                status.timestamp = Some(now_secs());
                if let Some(mut task) = task {
                    task.state = TaskState::TaskGone;
                    task.statuses.push(status.clone());
                    fw.remember_completed(task);
                }
                fw.send(&Event::Update(Update { status }));
            }
            fw.executors.retain(|(a, _), _| a != agent_id);
        }
        drop(st);
        self.allocate_now.notify_one();
    }
}
