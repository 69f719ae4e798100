//! The master: frameworks subscribe to it over the v1 scheduler API ([`scheduler_api`]),
//! it offers the agents' resources ([`allocator`]), validates and applies ACCEPTs
//! ([`accept`]), forwards status updates and acknowledgements between agents and
//! frameworks and answers reconciliation ([`tasks`]).
//!
//! All state sits in one [`MasterState`] behind a mutex that is never held across an
//! await. Agents report to the master through a channel ([`AgentMessage`]), so an agent
//! never waits for the master's lock; the master calls agents directly (their methods
//! only queue work).

pub mod accept;
pub mod allocator;
pub mod endpoints;
pub mod scheduler_api;
pub mod state;
pub mod state_json;
pub mod tasks;
pub mod zk;

use crate::agent::Agent;
use crate::config::ClusterConfig;
use herd_mesos_api::scheduler::{Call, ErrorEvent, Event, Subscribe, Subscribed};
use herd_mesos_api::{
    AgentId, ExecutorId, FrameworkCapabilityType, FrameworkId, FrameworkInfo, MasterInfo, Resources,
    TaskStatus,
};
use state::{Framework, MasterState, Subscription};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The master's HTTP routes.
pub(crate) fn router(master: Arc<Master>) -> axum::Router {
    use axum::routing::{any, get};
    axum::Router::new()
        .route("/api/v1/scheduler", any(scheduler_api::scheduler))
        .route("/master/api/v1/scheduler", any(scheduler_api::scheduler))
        .route("/version", get(endpoints::version))
        .route("/health", get(endpoints::health))
        .route("/master/health", get(endpoints::health))
        .route("/redirect", get(endpoints::redirect))
        .route("/state", get(state_json::state))
        .route("/state.json", get(state_json::state))
        .route("/master/state", get(state_json::state))
        .route("/master/state.json", get(state_json::state))
        .route("/master/slaves", get(state_json::slaves))
        .route("/slaves", get(state_json::slaves))
        .route("/master/frameworks", get(state_json::frameworks))
        .route("/frameworks", get(state_json::frameworks))
        .route("/master/tasks", get(state_json::tasks))
        .route("/tasks", get(state_json::tasks))
        .route("/master/redirect", get(endpoints::redirect))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(master)
}

/// Seconds since the epoch, as Mesos writes timestamps.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// What agents tell the master.
// Status updates dominate and are moved once, through a channel: boxing them would cost
// an allocation per update to shrink the rare variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum AgentMessage {
    /// A status update from an executor or the agent (carries a uuid).
    StatusUpdate { agent_id: AgentId, framework_id: FrameworkId, status: TaskStatus },
    /// An executor (custom or default) ended; `status` is the raw wait status.
    ExecutorExited { agent_id: AgentId, framework_id: FrameworkId, executor_id: ExecutorId, status: i32 },
    /// An executor sent the scheduler a message.
    ExecutorMessage { agent_id: AgentId, framework_id: FrameworkId, executor_id: ExecutorId, data: Vec<u8> },
    /// The agent stopped (its host died): unreachable after the timeout.
    Down { agent_id: AgentId },
    /// The agent is back (same id, checkpointed resources), without tasks.
    Up { agent_id: AgentId, total: Resources },
}

/// The master of a local cluster.
#[derive(Debug)]
pub struct Master {
    pub(crate) config: ClusterConfig,
    pub(crate) info: MasterInfo,
    pub(crate) state: Mutex<MasterState>,
    pub(crate) allocate_now: Notify,
    pub(crate) to_master: mpsc::UnboundedSender<AgentMessage>,
    pub(crate) started: f64,
}

/// Why a SUBSCRIBE is refused on the stream (HTTP 200 + ERROR event + close, as Mesos does).
pub(crate) type SubscribeRefusal = String;

impl Master {
    pub(crate) fn new(
        config: ClusterConfig,
        info: MasterInfo,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<AgentMessage>) {
        let (to_master, from_agents) = mpsc::unbounded_channel();
        let master = Arc::new(Self {
            config,
            info,
            state: Mutex::new(MasterState::default()),
            allocate_now: Notify::new(),
            to_master,
            started: now_secs(),
        });
        (master, from_agents)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MasterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The master's id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Adds an agent (at cluster start).
    pub(crate) fn add_agent(&self, agent: Arc<Agent>, total: Resources) {
        let info = agent.info();
        let rec = state::AgentRec {
            info,
            handle: agent,
            total,
            used: Resources::new(),
            offered: Resources::new(),
            reachable: true,
            silent_since: None,
            registered_time: now_secs(),
        };
        self.lock().agents.insert(rec.info.id.clone().unwrap_or_default(), rec);
        self.allocate_now.notify_one();
    }

    /// Runs the master's own work until `stop`: agent messages, allocation rounds, offer
    /// timeouts, framework failover timeouts and agent reachability.
    pub(crate) async fn run(
        self: Arc<Self>,
        mut from_agents: mpsc::UnboundedReceiver<AgentMessage>,
        stop: CancellationToken,
    ) {
        let interval = self.config.allocation_interval;
        let mut next_round = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                Some(msg) = from_agents.recv() => {
                    self.on_agent_message(msg);
                    // Drain what is queued before allocating, so a burst of updates costs one round.
                    while let Ok(msg) = from_agents.try_recv() {
                        self.on_agent_message(msg);
                    }
                }
                () = tokio::time::sleep_until(next_round) => {
                    self.tick();
                    next_round = Instant::now() + interval;
                }
                () = self.allocate_now.notified() => {
                    // Batch what arrives within a few milliseconds.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    self.allocate();
                }
            }
        }
    }

    /// Periodic work: timeouts, then an allocation round.
    fn tick(&self) {
        let now = Instant::now();
        self.expire_offers(now);
        self.expire_failovers(now);
        self.expire_agents(now);
        self.allocate();
    }

    fn expire_failovers(&self, now: Instant) {
        let expired: Vec<FrameworkId> = self
            .lock()
            .frameworks
            .values()
            .filter(|f| f.failover_deadline.is_some_and(|d| d <= now))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            tracing::info!(framework = %id, "framework failover timeout expired: removing it");
            self.remove_framework(&id);
        }
    }

    /// Handles a SUBSCRIBE; returns the receiving end of the new event stream (which holds
    /// SUBSCRIBED and the first HEARTBEAT, or an ERROR followed by the end of the stream).
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        subscribe: Subscribe,
        stream_id: &str,
    ) -> (Option<FrameworkId>, mpsc::UnboundedReceiver<bytes::Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Subscription { stream_id: stream_id.to_owned(), tx };
        match self.do_subscribe(subscribe, sub) {
            Ok(id) => (Some(id), rx),
            Err((sub, message)) => {
                tracing::info!(%message, "refusing SUBSCRIBE");
                sub.send(&Event::Error(ErrorEvent { message }));
                (None, rx)
            }
        }
    }

    fn do_subscribe(
        self: &Arc<Self>,
        subscribe: Subscribe,
        sub: Subscription,
    ) -> Result<FrameworkId, (Subscription, SubscribeRefusal)> {
        let info = subscribe.framework_info;
        if let Err(message) = validate_framework(&info, &subscribe.suppressed_roles) {
            return Err((sub, message));
        }
        let mut st = self.lock();
        let id = match &info.id {
            Some(id) if st.is_completed(id) => return Err((sub, "Framework has been removed".to_owned())),
            Some(id) => id.clone(),
            None => {
                let id = FrameworkId::new(format!("{}-{:04}", self.info.id, st.next_framework));
                st.next_framework += 1;
                id
            }
        };
        let suppressed: BTreeSet<String> = subscribe.suppressed_roles.into_iter().collect();
        let stream_id = sub.stream_id.clone();
        let mut discarded = Vec::new();
        if let Some(fw) = st.frameworks.get_mut(&id) {
            if fw.info.principal.is_some() && info.principal.is_some() && fw.info.principal != info.principal
            {
                return Err((
                    sub,
                    format!(
                        "Changing framework's principal is not allowed (from '{}' to '{}')",
                        fw.info.principal.clone().unwrap_or_default(),
                        info.principal.clone().unwrap_or_default()
                    ),
                ));
            }
            if let Some(old) = fw.subscription.take() {
                // Scheduler failover: the old stream hears why and is closed.
                old.send(&Event::Error(ErrorEvent { message: "Framework failed over".to_owned() }));
            }
            // `user` and `checkpoint` cannot change on re-subscription; the rest is updated.
            let (user, checkpoint) = (fw.info.user.clone(), fw.info.checkpoint);
            fw.info = FrameworkInfo { id: Some(id.clone()), user, checkpoint, ..info };
            fw.suppressed = suppressed;
            fw.failover_deadline = None;
            fw.reregistered_time = Some(now_secs());
            fw.filters.clear();
            fw.subscription = Some(sub);
            discarded = st.offers.values().filter(|o| o.framework_id == id).map(|o| o.id.clone()).collect();
        } else {
            let fw = Framework {
                id: id.clone(),
                info: FrameworkInfo { id: Some(id.clone()), ..info },
                suppressed,
                subscription: Some(sub),
                failover_deadline: None,
                tasks: Default::default(),
                completed: Default::default(),
                unreachable: Default::default(),
                executors: Default::default(),
                filters: Vec::new(),
                registered_time: now_secs(),
                reregistered_time: None,
            };
            st.frameworks.insert(id.clone(), fw);
        }
        for offer in discarded {
            state_remove_offer(&mut st, &offer);
        }
        let fw = &st.frameworks[&id];
        fw.send(&Event::Subscribed(Subscribed {
            framework_id: id.clone(),
            heartbeat_interval_seconds: Some(self.config.heartbeat_interval.as_secs_f64()),
            master_info: Some(self.info.clone()),
        }));
        fw.send(&Event::Heartbeat);
        tracing::info!(framework = %id, name = %fw.info.name, %stream_id, "framework subscribed");
        // Agents resend unacknowledged updates to the (re)subscribed framework now.
        let agents: Vec<Arc<Agent>> = st.agents.values().map(|a| Arc::clone(&a.handle)).collect();
        drop(st);
        for agent in agents {
            agent.resend_updates(&id);
        }
        self.spawn_heartbeats(id.clone(), stream_id);
        self.allocate_now.notify_one();
        Ok(id)
    }

    fn spawn_heartbeats(self: &Arc<Self>, framework_id: FrameworkId, stream_id: String) {
        let master = Arc::downgrade(self);
        let interval = self.config.heartbeat_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(master) = master.upgrade() else { return };
                let st = master.lock();
                match st.frameworks.get(&framework_id).and_then(|f| f.subscription.as_ref()) {
                    Some(sub) if sub.stream_id == stream_id && !sub.tx.is_closed() => {
                        sub.send(&Event::Heartbeat)
                    }
                    _ => return,
                }
            }
        });
    }

    /// The HTTP stream of a subscription ended (client went away or we closed it).
    pub(crate) fn stream_closed(&self, framework_id: &FrameworkId, stream_id: &str) {
        let remove_now = {
            let mut st = self.lock();
            let Some(fw) = st.frameworks.get_mut(framework_id) else { return };
            if fw.subscription.as_ref().is_none_or(|s| s.stream_id != stream_id) {
                return; // an older stream (failed over) or already disconnected
            }
            fw.subscription = None;
            let timeout = fw.info.failover_timeout.unwrap_or(0.0).max(0.0);
            tracing::info!(framework = %framework_id, failover_timeout = timeout, "framework disconnected");
            let offers: Vec<_> = st
                .offers
                .values()
                .filter(|o| &o.framework_id == framework_id)
                .map(|o| o.id.clone())
                .collect();
            for offer in offers {
                state_remove_offer(&mut st, &offer);
            }
            let fw = st.frameworks.get_mut(framework_id).expect("framework present");
            if timeout > 0.0 {
                fw.failover_deadline = Some(Instant::now() + Duration::from_secs_f64(timeout.min(1e9)));
                false
            } else {
                true
            }
        };
        if remove_now {
            self.remove_framework(framework_id);
        }
        self.allocate_now.notify_one();
    }

    /// Checks a non-SUBSCRIBE call's framework and stream id like Mesos (400/403 texts).
    pub(crate) fn check_caller(
        &self,
        framework_id: &FrameworkId,
        stream_id: Option<&str>,
    ) -> Result<(), (u16, String)> {
        let st = self.lock();
        let Some(fw) = st.frameworks.get(framework_id) else {
            return Err((400, "Framework cannot be found".to_owned()));
        };
        let Some(sub) = &fw.subscription else {
            return Err((403, "Framework is not subscribed".to_owned()));
        };
        let Some(stream_id) = stream_id else {
            return Err((
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header".to_owned(),
            ));
        };
        if stream_id != sub.stream_id {
            return Err((
                400,
                format!(
                    "The stream ID '{stream_id}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                ),
            ));
        }
        Ok(())
    }

    /// Carries out a validated non-SUBSCRIBE call.
    pub(crate) fn handle_call(self: &Arc<Self>, framework_id: &FrameworkId, call: Call) {
        match call {
            Call::Subscribe(_) => {}
            Call::Teardown => self.remove_framework(framework_id),
            Call::Accept(accept) => self.accept(framework_id, accept),
            Call::Decline(decline) => self.decline(framework_id, &decline.offer_ids, decline.filters),
            Call::AcceptInverseOffers(_) | Call::DeclineInverseOffers(_) | Call::Request(_) => {}
            Call::Revive(roles) => self.revive(framework_id, roles.roles),
            Call::Suppress(roles) => self.suppress(framework_id, roles.roles),
            Call::Kill(kill) => self.kill(framework_id, kill),
            Call::Shutdown(shutdown) => {
                self.shutdown_executor(framework_id, &shutdown.agent_id, &shutdown.executor_id)
            }
            Call::Acknowledge(ack) => self.acknowledge(framework_id, ack),
            Call::AcknowledgeOperationStatus(_) | Call::ReconcileOperations(_) => {}
            Call::Reconcile(reconcile) => self.reconcile(framework_id, reconcile.tasks),
            Call::Message(message) => self.message(framework_id, message),
            Call::UpdateFramework(update) => self.update_framework(framework_id, update),
        }
    }

    fn revive(&self, framework_id: &FrameworkId, roles: Vec<String>) {
        let mut st = self.lock();
        let Some(fw) = st.frameworks.get_mut(framework_id) else { return };
        let all = fw.roles();
        if roles.iter().any(|r| !all.contains(r)) {
            tracing::warn!(framework = %framework_id, ?roles, "REVIVE for roles the framework is not subscribed to: dropped");
            return;
        }
        let roles = if roles.is_empty() { all } else { roles };
        for role in &roles {
            fw.suppressed.remove(role);
        }
        fw.filters.retain(|f| !roles.contains(&f.role));
        drop(st);
        self.allocate_now.notify_one();
    }

    fn suppress(&self, framework_id: &FrameworkId, roles: Vec<String>) {
        let mut st = self.lock();
        let Some(fw) = st.frameworks.get_mut(framework_id) else { return };
        let all = fw.roles();
        if roles.iter().any(|r| !all.contains(r)) {
            tracing::warn!(framework = %framework_id, ?roles, "SUPPRESS for roles the framework is not subscribed to: dropped");
            return;
        }
        let roles = if roles.is_empty() { all } else { roles };
        fw.suppressed.extend(roles);
    }

    fn update_framework(&self, framework_id: &FrameworkId, update: Subscribe) {
        let mut st = self.lock();
        let Some(fw) = st.frameworks.get_mut(framework_id) else { return };
        let (user, checkpoint, principal) =
            (fw.info.user.clone(), fw.info.checkpoint, fw.info.principal.clone());
        fw.info = herd_mesos_api::FrameworkInfo {
            id: Some(framework_id.clone()),
            user,
            checkpoint,
            principal,
            ..update.framework_info
        };
        fw.suppressed = update.suppressed_roles.into_iter().collect();
        drop(st);
        self.allocate_now.notify_one();
    }

    /// Removes a framework (TEARDOWN, or failover timeout): its tasks are killed, its
    /// offers withdrawn, its stream closed without an ERROR.
    pub(crate) fn remove_framework(&self, framework_id: &FrameworkId) {
        let mut st = self.lock();
        let Some(mut fw) = st.frameworks.remove(framework_id) else { return };
        tracing::info!(framework = %framework_id, "removing framework");
        fw.subscription = None; // closes the stream
        let offers: Vec<_> =
            st.offers.values().filter(|o| &o.framework_id == framework_id).map(|o| o.id.clone()).collect();
        for offer in offers {
            state_remove_offer(&mut st, &offer);
        }
        // Release what the framework held; the agents kill its tasks and executors.
        for task in fw.tasks.values() {
            if let Some(agent) = st.agents.get_mut(&task.agent_id) {
                agent.used = agent.used.saturating_sub(&task.resources);
            }
        }
        for ((agent_id, _), exec) in &fw.executors {
            if let Some(agent) = st.agents.get_mut(agent_id) {
                agent.used = agent.used.saturating_sub(&exec.resources);
            }
        }
        let agents: Vec<Arc<Agent>> = st.agents.values().map(|a| Arc::clone(&a.handle)).collect();
        let tasks = std::mem::take(&mut fw.tasks);
        for (_, mut task) in tasks {
            if !task.state.is_terminal() {
                task.state = herd_mesos_api::TaskState::TaskKilled;
            }
            fw.remember_completed(task);
        }
        fw.executors.clear();
        st.completed_frameworks.push_back(fw);
        while st.completed_frameworks.len() > state::MAX_COMPLETED_FRAMEWORKS {
            st.completed_frameworks.pop_front();
        }
        drop(st);
        for agent in agents {
            agent.shutdown_framework(framework_id);
        }
        self.allocate_now.notify_one();
    }
}

/// Removes an offer and gives its resources back to the agent's available pool.
pub(crate) fn state_remove_offer(
    st: &mut MasterState,
    offer_id: &herd_mesos_api::OfferId,
) -> Option<state::OfferRec> {
    let offer = st.offers.remove(offer_id)?;
    if let Some(agent) = st.agents.get_mut(&offer.agent_id) {
        agent.offered = agent.offered.saturating_sub(&offer.resources);
    }
    Some(offer)
}

/// SUBSCRIBE-time checks whose failure is an ERROR event (not a 4xx), as in Mesos.
fn validate_framework(info: &herd_mesos_api::FrameworkInfo, suppressed: &[String]) -> Result<(), String> {
    let multi_role = info.has_capability(FrameworkCapabilityType::MultiRole);
    if !multi_role && !info.roles.is_empty() {
        return Err("'FrameworkInfo.roles' is set but MULTI_ROLE capability is not".to_owned());
    }
    if multi_role && info.role.is_some() {
        return Err("'FrameworkInfo.role' must not be set when MULTI_ROLE capability is enabled".to_owned());
    }
    let roles: Vec<String> = if multi_role {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".to_owned())]
    };
    let mut seen = BTreeSet::new();
    for role in &roles {
        validate_role(role)?;
        if !seen.insert(role) {
            return Err(format!("'FrameworkInfo.roles' contains duplicate items: {role}"));
        }
    }
    if let Some(bad) = suppressed.iter().find(|r| !roles.contains(r)) {
        return Err(format!("Suppressed role '{bad}' is not contained in the list of roles"));
    }
    if let Some(t) = info.failover_timeout
        && !(t.is_finite() && t >= 0.0)
    {
        return Err(format!("Invalid failover_timeout: {t}"));
    }
    Ok(())
}

/// Mesos' role name rules.
pub(crate) fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    let bad = role.is_empty()
        || role.starts_with('/')
        || role.ends_with('/')
        || role.contains("//")
        || role.chars().any(|c| c.is_whitespace() || c.is_control())
        || role.split('/').any(|part| part == "." || part == ".." || part == "*" || part.starts_with('-'));
    if bad { Err(format!("Role '{role}' is invalid")) } else { Ok(()) }
}
