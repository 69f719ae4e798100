//! Jobs: one-off tasks submitted while the service runs (a Spark driver, a batch step),
//! unlike pods, which the spec declares. A job waits in its team's queue, is launched on
//! unreserved resources of the service's role when an offer fits it and its queue's turn
//! comes, and is tracked to its end: QUEUED → LAUNCHING → RUNNING → FINISHED / FAILED /
//! KILLED, with the reason it ended. A failed job is queued again while it has retries.
//! Jobs are durable ([`Action::PersistJobs`]): a restarted scheduler still tracks the
//! running ones (reconciliation) and keeps the history of the others (the latest
//! [`MAX_ENDED_JOBS`]).
//!
//! Queues share the cluster by weight: of the queues with a job waiting and room under
//! their limits (`max_running`, `max_cpus`), the one using the least CPU per unit of weight
//! goes next (weighted fair share over the CPUs each job is charged, its `share_cpus`).
//! A job that asks more than any agent has ever offered is refused at submission.

use super::state::Timestamp;
use super::{Action, CommandError, MAX_BACKOFF_SECS, Scheduler};
use crate::spec::QueueSpec;
use herd_mesos_api::{
    AgentId, CommandInfo, Environment, Labels, Offer, Operation, Range, Resource, Resources, TaskId,
    TaskInfo, TaskState, TaskStatus, Uri, Variable,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Ended jobs kept in the history (the oldest are forgotten first).
pub const MAX_ENDED_JOBS: usize = 1000;

/// The queue of jobs that name none, when the spec declares no queues.
pub const DEFAULT_QUEUE: &str = "default";

/// What a job runs and asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Its name, shown to operators (the task's name).
    pub name: String,
    /// The queue it waits in (default: [`DEFAULT_QUEUE`]).
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Shell command.
    pub command: String,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// CPUs of its task.
    pub cpus: f64,
    /// Memory of its task, MB.
    pub mem_mb: f64,
    /// Named ports it needs from the offer (exported as `PORT_<NAME>`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// What the fetcher puts in its sandbox. A value that is a path (`/v1/artifacts/<sha256>/<file>`)
    /// names a file the scheduler's operator API serves: it becomes a URL on the API's
    /// address when the job launches, so a job still fetches after the scheduler restarted
    /// elsewhere.
    #[serde(default)]
    pub uris: Vec<Uri>,
    /// Unix user (default: the service's).
    #[serde(default)]
    pub user: Option<String>,
    /// Launches after a failure before the job is FAILED for good.
    #[serde(default)]
    pub max_retries: u32,
    /// CPUs counted against its queue's share and `max_cpus` (default: `cpus`); e.g. a Spark
    /// driver is charged the executor cores its application will use as well.
    #[serde(default)]
    pub share_cpus: Option<f64>,
    /// The framework's own data about the job (e.g. the application it runs).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_queue() -> String {
    DEFAULT_QUEUE.to_owned()
}

impl JobSpec {
    /// The CPUs the job is charged in its queue.
    pub fn charged_cpus(&self) -> f64 {
        self.share_cpus.unwrap_or(self.cpus)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    /// Waiting for its turn and an offer that fits.
    Queued,
    /// Launched, not running yet.
    Launching,
    /// Running.
    Running,
    /// Ended with exit code 0.
    Finished,
    /// Ended otherwise, retries used up.
    Failed,
    /// Killed by an operator.
    Killed,
}

impl JobState {
    /// Whether the job has ended.
    pub fn ended(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }

    /// Whether a task of the job is out there.
    fn launched(self) -> bool {
        matches!(self, Self::Launching | Self::Running)
    }
}

/// A submitted job and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id (unique in the service; the framework picks it).
    pub id: String,
    /// What it runs.
    pub spec: JobSpec,
    /// Its state.
    pub state: JobState,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// When its current (or last) task started running.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// Launches so far.
    #[serde(default)]
    pub attempts: u32,
    /// Its current (or last) task.
    #[serde(default)]
    pub task_id: Option<TaskId>,
    /// The agent of that task.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// That agent's hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The ports it got.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    /// Why it ended (or why its last attempt failed).
    #[serde(default)]
    pub message: Option<String>,
    /// An operator asked to kill it.
    #[serde(default)]
    pub kill_requested: bool,
    /// Not launched again before this time (after a failed attempt).
    #[serde(default)]
    pub retry_after: Option<Timestamp>,
}

/// The queues of a service: its spec's, or the one default queue.
pub fn queues(declared: &[QueueSpec]) -> Vec<QueueSpec> {
    if declared.is_empty() {
        vec![QueueSpec { name: DEFAULT_QUEUE.to_owned(), weight: 1.0, max_running: None, max_cpus: None }]
    } else {
        declared.to_vec()
    }
}

/// Label of a job's task naming the job.
pub const JOB_LABEL: &str = "herd_job";

/// The Mesos task id of a job's attempt.
fn task_id(service: &str, job: &str, attempt: u32) -> TaskId {
    TaskId::new(format!("{service}__job__{job}__{attempt}"))
}

/// What an offer still has while jobs are packed into it.
struct Room {
    free: Resources,
    ports: Vec<u64>,
}

impl Room {
    fn of(offer: &Offer) -> Self {
        let offered: Resources =
            offer.resources.iter().map(|r| Resource { allocation_info: None, ..r.upgraded() }).collect();
        let free = offered.unreserved();
        let ports = free.ports().iter().flat_map(|r: &Range| r.begin..=r.end).collect();
        Self { free, ports }
    }

    fn fits(&self, spec: &JobSpec) -> bool {
        self.free.cpus() + 1e-9 >= spec.cpus
            && self.free.mem() + 1e-9 >= spec.mem_mb
            && self.ports.len() >= spec.ports.len()
    }

    /// Takes a job's resources: what its task gets (allocated to `role`) and its ports.
    fn take(&mut self, spec: &JobSpec, role: &str) -> (Vec<Resource>, BTreeMap<String, u16>) {
        let mut resources = vec![
            Resource::scalar("cpus", spec.cpus).allocated_to(role),
            Resource::scalar("mem", spec.mem_mb).allocated_to(role),
        ];
        // `fits` checked there is enough.
        let _ = self.free.subtract(&Resource::scalar("cpus", spec.cpus));
        let _ = self.free.subtract(&Resource::scalar("mem", spec.mem_mb));
        let mut ports = BTreeMap::new();
        let numbers: Vec<u64> = self.ports.drain(..spec.ports.len()).collect();
        for (name, n) in spec.ports.iter().zip(&numbers) {
            ports.insert(name.clone(), u16::try_from(*n).unwrap_or(0));
        }
        if !numbers.is_empty() {
            let ranges: Vec<(u64, u64)> = numbers.iter().map(|&p| (p, p)).collect();
            resources.push(Resource::ranges("ports", ranges).allocated_to(role));
        }
        (resources, ports)
    }
}

impl Scheduler {
    /// Every job, by id.
    pub fn jobs(&self) -> &BTreeMap<String, Job> {
        &self.state.jobs
    }

    /// Queues a job (its id must be new); refused when its queue is unknown, its asks are
    /// not positive, or no agent has ever offered enough for it.
    pub(super) fn submit_job(
        &mut self,
        id: String,
        spec: JobSpec,
        now: Timestamp,
    ) -> Result<Vec<Action>, CommandError> {
        if id.is_empty() || self.state.jobs.contains_key(&id) {
            return Err(CommandError::Conflict(format!(
                "job id {id:?} is empty or taken: submit with a new id"
            )));
        }
        let known = queues(&self.state.target.spec.queues);
        if !known.iter().any(|q| q.name == spec.queue) {
            return Err(CommandError::Invalid(format!(
                "queue {:?} does not exist; queues: {}",
                spec.queue,
                known.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if !(spec.cpus > 0.0 && spec.mem_mb > 0.0 && spec.cpus.is_finite() && spec.mem_mb.is_finite()) {
            return Err(CommandError::Invalid(format!(
                "a job needs cpus and mem_mb above 0 (got {} cpus, {} MB)",
                spec.cpus, spec.mem_mb
            )));
        }
        let largest =
            self.capacity.values().fold((0.0f64, 0.0f64), |(c, m), (cpus, mem)| (c.max(*cpus), m.max(*mem)));
        let fits_one =
            self.capacity.values().any(|(cpus, mem)| *cpus + 1e-9 >= spec.cpus && *mem + 1e-9 >= spec.mem_mb);
        if !self.capacity.is_empty() && !fits_one {
            return Err(CommandError::Invalid(format!(
                "the job asks {} cpus and {} MB, but no agent has more than {} cpus and {} MB for this \
                 service: it could never run; ask for less",
                spec.cpus, spec.mem_mb, largest.0, largest.1
            )));
        }
        let job = Job {
            id: id.clone(),
            spec,
            state: JobState::Queued,
            submitted_at: now,
            started_at: None,
            ended_at: None,
            attempts: 0,
            task_id: None,
            agent_id: None,
            hostname: None,
            ports: BTreeMap::new(),
            message: None,
            kill_requested: false,
            retry_after: None,
        };
        self.state.jobs.insert(id.clone(), job);
        let mut actions = vec![Action::PersistJobs(vec![id])];
        actions.extend(self.step(super::Input::Tick, now));
        Ok(actions)
    }

    /// Kills a job: a queued one ends at once, a launched one when Mesos reports its task
    /// killed.
    pub(super) fn kill_job(&mut self, id: &str, now: Timestamp) -> Result<Vec<Action>, CommandError> {
        let Some(job) = self.state.jobs.get_mut(id) else {
            return Err(CommandError::NotFound { what: format!("job {id:?}"), known: self.recent_job_ids() });
        };
        let mut actions = Vec::new();
        match job.state {
            JobState::Queued => {
                job.state = JobState::Killed;
                job.ended_at = Some(now);
                job.message = Some("killed while queued".to_owned());
            }
            JobState::Launching | JobState::Running => {
                job.kill_requested = true;
                if let Some(task_id) = job.task_id.clone() {
                    self.killing.insert(task_id.clone());
                    actions.push(Action::Kill { task_id, agent_id: job.agent_id.clone() });
                }
            }
            ended => return Err(CommandError::Conflict(format!("job {id} has already ended ({ended:?})"))),
        }
        actions.insert(0, Action::PersistJobs(vec![id.to_owned()]));
        Ok(actions)
    }

    /// The latest job ids, for "not found" messages.
    fn recent_job_ids(&self) -> String {
        let mut jobs: Vec<&Job> = self.state.jobs.values().collect();
        jobs.sort_by(|a, b| b.submitted_at.total_cmp(&a.submitted_at));
        jobs.iter().take(10).map(|j| j.id.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Remembers the most each agent has had for jobs (for refusing jobs that can never
    /// fit): what it offers now plus what this service's jobs use there.
    pub(super) fn note_capacity(&mut self, offer: &Offer) {
        let offered: Resources =
            offer.resources.iter().map(|r| Resource { allocation_info: None, ..r.upgraded() }).collect();
        let free = offered.unreserved();
        let (mut cpus, mut mem) = (free.cpus(), free.mem());
        for job in self.state.jobs.values() {
            if job.state.launched() && job.agent_id.as_ref() == Some(&offer.agent_id) {
                cpus += job.spec.cpus;
                mem += job.spec.mem_mb;
            }
        }
        let entry = self.capacity.entry(offer.agent_id.clone()).or_insert((0.0, 0.0));
        entry.0 = entry.0.max(cpus);
        entry.1 = entry.1.max(mem);
    }

    /// Where agents reach the operator API (`http://host:port`): job URIs that are paths
    /// on it are resolved against it at launch.
    pub fn set_api_base(&mut self, base: Option<String>) {
        self.api_base = base;
    }

    /// Whether a queued job waits for offers.
    pub(super) fn jobs_waiting(&self) -> bool {
        self.state.jobs.values().any(|j| j.state == JobState::Queued)
    }

    /// The launched jobs' tasks (for reconciliation).
    pub(super) fn job_tasks(&self) -> Vec<(TaskId, Option<AgentId>)> {
        self.state
            .jobs
            .values()
            .filter(|j| j.state.launched())
            .filter_map(|j| Some((j.task_id.clone()?, j.agent_id.clone())))
            .collect()
    }

    /// Queued jobs in the order they should launch: weighted fair share between queues
    /// (least charged CPU per weight first), FIFO inside a queue, limits respected.
    fn job_order(&self, now: Timestamp) -> Vec<String> {
        let queues = queues(&self.state.target.spec.queues);
        let mut used: BTreeMap<&str, (u32, f64)> = BTreeMap::new();
        for job in self.state.jobs.values().filter(|j| j.state.launched()) {
            let entry = used.entry(job.spec.queue.as_str()).or_default();
            entry.0 += 1;
            entry.1 += job.spec.charged_cpus();
        }
        let mut waiting: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
        for job in self.state.jobs.values() {
            if job.state == JobState::Queued && !job.retry_after.is_some_and(|t| t > now) {
                waiting.entry(job.spec.queue.as_str()).or_default().push(job);
            }
        }
        for jobs in waiting.values_mut() {
            jobs.sort_by(|a, b| a.submitted_at.total_cmp(&b.submitted_at).then_with(|| a.id.cmp(&b.id)));
            jobs.reverse(); // pop() takes the oldest
        }
        let mut order = Vec::new();
        loop {
            let next = queues
                .iter()
                .filter_map(|q| {
                    let head = waiting.get(q.name.as_str())?.last()?;
                    let (running, cpus) = used.get(q.name.as_str()).copied().unwrap_or_default();
                    let room_running = q.max_running.is_none_or(|max| running < max);
                    let room_cpus =
                        q.max_cpus.is_none_or(|max| cpus + head.spec.charged_cpus() <= max + 1e-9);
                    (room_running && room_cpus).then_some((q, cpus / q.weight))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((queue, _)) = next else { break };
            let Some(job) = waiting.get_mut(queue.name.as_str()).and_then(Vec::pop) else { break };
            let entry = used.entry(queue.name.as_str()).or_default();
            entry.0 += 1;
            entry.1 += job.spec.charged_cpus();
            order.push(job.id.clone());
        }
        order
    }

    /// Packs queued jobs into an offer no pod needed: the jobs launched (to persist first)
    /// and the ACCEPT that launches them, or `None`. `order` loses the jobs launched.
    pub(super) fn launch_jobs(
        &mut self,
        offer: &Offer,
        order: &mut Vec<String>,
    ) -> Option<(Vec<String>, Action)> {
        let framework_role = self.state.target.spec.role();
        let mut room = Room::of(offer);
        let mut tasks = Vec::new();
        let mut launched = BTreeSet::new();
        for id in order.iter() {
            let Some(job) = self.state.jobs.get(id) else { continue };
            if !room.fits(&job.spec) {
                continue;
            }
            let (resources, ports) = room.take(&job.spec, &framework_role);
            tasks.push(self.job_task(id, offer, resources, &ports));
            let job = self.state.jobs.get_mut(id).expect("job present");
            job.state = JobState::Launching;
            job.attempts += 1;
            job.task_id = tasks.last().map(|t: &TaskInfo| t.task_id.clone());
            job.agent_id = Some(offer.agent_id.clone());
            job.hostname = Some(offer.hostname.clone());
            job.ports = ports;
            job.retry_after = None;
            job.started_at = None;
            launched.insert(id.clone());
        }
        order.retain(|id| !launched.contains(id));
        if tasks.is_empty() {
            return None;
        }
        let accept =
            Action::Accept { offer_ids: vec![offer.id.clone()], operations: vec![Operation::launch(tasks)] };
        Some((launched.into_iter().collect(), accept))
    }

    /// The task of a job's next attempt.
    fn job_task(
        &self,
        id: &str,
        offer: &Offer,
        resources: Vec<Resource>,
        ports: &BTreeMap<String, u16>,
    ) -> TaskInfo {
        let spec = &self.state.target.spec;
        let job = &self.state.jobs[id];
        let mut env = job.spec.env.clone();
        env.insert("HERD_SERVICE".into(), spec.name.clone());
        env.insert("HERD_JOB".into(), id.to_owned());
        // The agent's address, for what the job must bind or advertise (a Spark driver).
        env.insert("HERD_HOST".into(), offer.hostname.clone());
        for (name, port) in ports {
            env.insert(format!("PORT_{}", name.to_uppercase().replace('-', "_")), port.to_string());
        }
        let labels: Labels = [(JOB_LABEL, id.to_owned())].into_iter().collect();
        TaskInfo {
            name: job.spec.name.clone(),
            task_id: task_id(&spec.name, id, job.attempts + 1),
            agent_id: offer.agent_id.clone(),
            resources,
            command: Some(CommandInfo {
                uris: job
                    .spec
                    .uris
                    .iter()
                    .map(|u| match (&self.api_base, u.value.starts_with('/')) {
                        (Some(base), true) => Uri { value: format!("{base}{}", u.value), ..u.clone() },
                        _ => u.clone(),
                    })
                    .collect(),
                environment: Some(Environment {
                    variables: env
                        .into_iter()
                        .map(|(name, value)| Variable { name, kind: None, value: Some(value), secret: None })
                        .collect(),
                }),
                shell: Some(true),
                value: Some(job.spec.command.clone()),
                arguments: Vec::new(),
                user: job.spec.user.clone().or_else(|| spec.user.clone()),
            }),
            labels: Some(labels),
            ..TaskInfo::default()
        }
    }

    /// A status update of a job's task, if it is one: the job moves on, is persisted, and
    /// the update acknowledged. `None` when the task is no job's current task.
    pub(super) fn job_update(&mut self, status: &TaskStatus, now: Timestamp) -> Option<Vec<Action>> {
        let id = self
            .state
            .jobs
            .values()
            .find(|j| j.task_id.as_ref() == Some(&status.task_id) && j.state.launched())
            .map(|j| j.id.clone())?;
        let job = self.state.jobs.get_mut(&id).expect("job present");
        let detail = || {
            let mut m = format!("{:?}", status.state);
            if let Some(reason) = status.reason {
                m += &format!(" ({reason:?})");
            }
            if let Some(text) = status.message.as_deref().filter(|t| !t.is_empty()) {
                m += &format!(": {text}");
            }
            m
        };
        match status.state {
            TaskState::TaskStaging | TaskState::TaskStarting => {}
            TaskState::TaskRunning => {
                if job.state != JobState::Running {
                    job.state = JobState::Running;
                    job.started_at = Some(now);
                }
            }
            TaskState::TaskFinished => {
                job.state = JobState::Finished;
                job.ended_at = Some(now);
                job.message = None;
            }
            TaskState::TaskKilled | TaskState::TaskKilling if job.kill_requested => {
                if status.state == TaskState::TaskKilled {
                    job.state = JobState::Killed;
                    job.ended_at = Some(now);
                    job.message = Some("killed by an operator".to_owned());
                }
            }
            TaskState::TaskKilling => {}
            _ if job.kill_requested => {
                job.state = JobState::Killed;
                job.ended_at = Some(now);
                job.message = Some(format!("killed by an operator; its task ended {}", detail()));
            }
            _ => {
                if job.attempts <= job.spec.max_retries {
                    job.state = JobState::Queued;
                    job.message = Some(format!("attempt {} failed: {}; retrying", job.attempts, detail()));
                    let backoff =
                        2f64.powi(i32::try_from(job.attempts).unwrap_or(30) - 1).min(MAX_BACKOFF_SECS);
                    job.retry_after = Some(now + backoff);
                } else {
                    job.state = JobState::Failed;
                    job.ended_at = Some(now);
                    job.message = Some(detail());
                }
            }
        }
        if status.state.is_terminal() {
            self.killing.remove(&status.task_id);
        }
        let mut persist = vec![id];
        persist.extend(self.forget_old_jobs());
        Some(vec![Action::PersistJobs(persist), Action::Acknowledge(status.clone())])
    }

    /// Forgets the oldest ended jobs beyond [`MAX_ENDED_JOBS`]; their ids (to delete).
    fn forget_old_jobs(&mut self) -> Vec<String> {
        let mut ended: Vec<(Timestamp, String)> = self
            .state
            .jobs
            .values()
            .filter(|j| j.state.ended())
            .map(|j| (j.ended_at.unwrap_or(j.submitted_at), j.id.clone()))
            .collect();
        if ended.len() <= MAX_ENDED_JOBS {
            return Vec::new();
        }
        ended.sort_by(|a, b| a.0.total_cmp(&b.0));
        let excess = ended.len() - MAX_ENDED_JOBS;
        let drop: Vec<String> = ended.into_iter().take(excess).map(|(_, id)| id).collect();
        for id in &drop {
            self.state.jobs.remove(id);
        }
        drop
    }

    /// Jobs to kill on uninstall: queued ones end at once; the launched ones' kills.
    pub(super) fn kill_all_jobs(&mut self, now: Timestamp) -> Vec<Action> {
        let ids: Vec<String> =
            self.state.jobs.values().filter(|j| !j.state.ended()).map(|j| j.id.clone()).collect();
        let mut actions = Vec::new();
        for id in ids {
            if let Ok(more) = self.kill_job(&id, now) {
                actions.extend(more);
            }
        }
        actions
    }

    /// The jobs' order for the offers of one batch.
    pub(super) fn jobs_to_launch(&self, now: Timestamp) -> Vec<String> {
        if self.state.operator.uninstalling { Vec::new() } else { self.job_order(now) }
    }
}
