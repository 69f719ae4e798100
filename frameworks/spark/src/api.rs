//! herd's own Spark routes on the operator API, and what they share with Spark's protocol
//! (`rest.rs`): turning a submission into a job, once.
//!
//! - `POST /v1/spark/submissions` with a [`Submission`] as JSON → 201 `{"id", "state"}`;
//!   400 (with why) when it cannot run, 503 while the Master is not deployed;
//! - `GET /v1/spark/submissions`: the drivers, newest first; `GET
//!   /v1/spark/submissions/{id}`: one, with herd's state and Spark's, and why it ended;
//! - `POST /v1/spark/submissions/{id}/kill`;
//! - `POST /v1/spark/uploads/{file_name}` with the file as the body → 201 `{"url",
//!   "sha256"}`: the file is kept in the service's artifact cache and served to agents at
//!   `url` (what `herd spark submit` does with a local application).

use crate::submission::{
    Cluster, Submission, SubmitDefaults, SubmitError, is_driver, label, spark_state, submission_id,
};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herd_core::scheduler::jobs::Job;
use herd_core::scheduler::{Command, CommandError};
use herd_runtime::commands::CommandFailed;
use herd_runtime::probes::ExtensionContext;
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest upload (an application with its dependencies).
const MAX_UPLOAD: usize = 2 << 30;

/// The Spark framework's API extension.
#[derive(Debug)]
pub struct Submissions;

impl herd_runtime::probes::ApiExtension for Submissions {
    fn router(&self, ctx: ExtensionContext) -> axum::Router {
        let state = Shared(Arc::new(Inner { ctx, submitting: tokio::sync::Mutex::new(0) }));
        axum::Router::new()
            .route("/v1/spark/submissions", get(list).post(create))
            .route("/v1/spark/submissions/{id}", get(show))
            .route("/v1/spark/submissions/{id}/kill", post(kill))
            .route("/v1/spark/uploads/{file_name}", post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
            .merge(crate::rest::routes())
            .with_state(state)
    }
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Shared(Arc<Inner>);

pub(crate) struct Inner {
    ctx: ExtensionContext,
    /// Held while a submission is turned into a job (ids and resent creates stay unique);
    /// counts submissions for ids.
    submitting: tokio::sync::Mutex<u32>,
}

/// Why a submission or kill was not taken.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Bad or impossible request (400).
    Invalid(String),
    /// Not possible now (503).
    Unavailable(String),
    /// No such submission (404).
    NotFound(String),
    /// It already ended (409).
    Conflict(String),
}

impl Refused {
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::Unavailable(m) | Self::NotFound(m) | Self::Conflict(m) => m,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
        }
    }
}

impl From<CommandFailed> for Refused {
    fn from(e: CommandFailed) -> Self {
        match e {
            CommandFailed::Refused(e @ CommandError::Invalid(_)) => Self::Invalid(e.to_string()),
            CommandFailed::Refused(e @ CommandError::NotFound { .. }) => Self::NotFound(e.to_string()),
            CommandFailed::Refused(e @ CommandError::Conflict(_)) => Self::Conflict(e.to_string()),
            CommandFailed::Stopping => Self::Unavailable("the scheduler is stopping".to_owned()),
        }
    }
}

fn error(refused: &Refused) -> Response {
    (refused.status(), Json(json!({ "error": refused.message() }))).into_response()
}

impl Shared {
    fn scheduler(&self) -> std::sync::MutexGuard<'_, herd_core::scheduler::Scheduler> {
        self.0.ctx.scheduler.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The service's submission defaults (its Spark version...).
    pub(crate) fn defaults(&self) -> Option<SubmitDefaults> {
        SubmitDefaults::of(&self.scheduler().state().target.spec)
    }

    /// A job by id, if it is a driver.
    pub(crate) fn driver(&self, id: &str) -> Option<Job> {
        self.scheduler().jobs().get(id).filter(|j| is_driver(j)).cloned()
    }

    /// Where the service stands for planning a driver.
    fn cluster(&self) -> Result<Cluster, Refused> {
        let s = self.scheduler();
        let spec = &s.state().target.spec;
        let defaults = SubmitDefaults::of(spec)
            .ok_or_else(|| Refused::Invalid("this service is not a Spark service".to_owned()))?;
        let master = s
            .state()
            .instances
            .values()
            .filter(|i| i.id.pod == "master" && i.id.index == 0)
            .find_map(|i| {
                let p = i.placement.as_ref()?;
                Some(format!("{}:{}", p.hostname, p.ports.get("master")?))
            })
            .ok_or_else(|| Refused::Unavailable(SubmitError::NotReady.to_string()))?;
        let artifacts = spec.pod("master").map(|p| p.artifacts.as_slice()).unwrap_or_default();
        let distribution: Vec<String> =
            artifacts.iter().filter_map(|a| a.fetch_url().map(str::to_owned)).collect();
        if distribution.len() != artifacts.len() {
            return Err(Refused::Unavailable("the Spark distribution is not resolved yet".to_owned()));
        }
        let default_queue = herd_core::scheduler::jobs::queues(&spec.queues)
            .first()
            .map(|q| q.name.clone())
            .unwrap_or_else(|| herd_core::scheduler::jobs::DEFAULT_QUEUE.to_owned());
        let api_base = self.0.ctx.base_url.clone();
        Ok(Cluster { master, distribution, defaults, default_queue, api_base })
    }

    /// Queues `sub` as a new driver job; its id. A submission whose `key` was seen before
    /// (a resent create) gets the id it got then.
    pub(crate) async fn submit(&self, sub: Submission, key: Option<String>) -> Result<String, Refused> {
        let mut count = self.0.submitting.lock().await;
        if let Some(key) = &key {
            let s = self.scheduler();
            let seen = s.jobs().values().find(|j| j.spec.labels.get(label::SUBMIT_KEY) == Some(key));
            if let Some(job) = seen {
                return Ok(job.id.clone());
            }
        }
        let cluster = self.cluster()?;
        let mut spec = crate::submission::plan(&sub, &cluster).map_err(|e| match e {
            SubmitError::NotReady => Refused::Unavailable(e.to_string()),
            SubmitError::Invalid(m) | SubmitError::TooBig(m) => Refused::Invalid(m),
        })?;
        if let Some(key) = key {
            spec.labels.insert(label::SUBMIT_KEY.to_owned(), key);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let id = {
            let s = self.scheduler();
            loop {
                let id = submission_id(now, *count);
                *count = count.wrapping_add(1);
                if !s.jobs().contains_key(&id) {
                    break id;
                }
            }
        };
        self.0.ctx.commands.send(Command::SubmitJob { id: id.clone(), spec: Box::new(spec) }).await?;
        tracing::info!(submission = %id, "Spark driver queued");
        Ok(id)
    }

    /// Kills a driver.
    pub(crate) async fn kill(&self, id: &str) -> Result<(), Refused> {
        if self.driver(id).is_none() {
            return Err(Refused::NotFound(format!("no Spark submission {id:?}")));
        }
        self.0.ctx.commands.send(Command::KillJob(id.to_owned())).await?;
        Ok(())
    }

    /// Keeps `bytes` in the artifact cache; the URL agents fetch it at as `file_name`.
    pub(crate) async fn store(
        &self,
        file_name: &str,
        bytes: bytes::Bytes,
    ) -> Result<(String, String), Refused> {
        let (Some(cache), Some(base)) = (&self.0.ctx.artifacts, &self.0.ctx.base_url) else {
            return Err(Refused::Unavailable(
                "this scheduler has no artifact cache to serve uploads from: run it with one, or give the \
                 application as an http(s) URL"
                    .to_owned(),
            ));
        };
        if crate::submission::file_name(&format!("/{file_name}")).is_none() {
            return Err(Refused::Invalid(format!(
                "{file_name:?} is not a usable file name (letters, digits, . _ - +)"
            )));
        }
        let sha256 = cache
            .put_bytes(bytes)
            .await
            .map_err(|e| Refused::Unavailable(format!("storing {file_name}: {e}")))?;
        Ok((format!("{base}/v1/artifacts/{sha256}/{file_name}"), sha256))
    }
}

/// A driver as herd's API shows it.
pub(crate) fn view(job: &Job) -> Value {
    let labels = &job.spec.labels;
    json!({
        "id": job.id,
        "state": job.state,
        "spark_state": spark_state(job),
        "queue": job.spec.queue,
        "app_name": labels.get(label::APP_NAME),
        "app_resource": labels.get(label::APP_RESOURCE),
        "main_class": labels.get(label::MAIN_CLASS),
        "cores": job.spec.cpus,
        "mem_mb": job.spec.mem_mb,
        "executor_cores": labels.get(label::CORES_MAX).and_then(|c| c.parse::<u32>().ok()),
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "attempts": job.attempts,
        "max_retries": job.spec.max_retries,
        "agent": job.hostname,
        "agent_id": job.agent_id.as_ref().map(|a| a.as_str()),
        "task_id": job.task_id.as_ref().map(|t| t.as_str()),
        "ports": job.ports,
        "message": job.message,
    })
}

async fn create(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let sub: Submission = match serde_json::from_slice(&body) {
        Ok(sub) => sub,
        Err(e) => {
            return error(&Refused::Invalid(format!(
                "the body must be {{\"app_resource\": URL, \"main_class\": ..., \"args\": [...], \"conf\": {{...}}, \
                 \"queue\": ...}}: {e}"
            )));
        }
    };
    match s.submit(sub, None).await {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id, "state": "QUEUED" }))).into_response(),
        Err(e) => error(&e),
    }
}

async fn list(State(s): State<Shared>) -> Json<Value> {
    let sched = s.scheduler();
    let mut jobs: Vec<&Job> = sched.jobs().values().filter(|j| is_driver(j)).collect();
    jobs.sort_by(|a, b| b.submitted_at.total_cmp(&a.submitted_at).then_with(|| b.id.cmp(&a.id)));
    Json(json!(jobs.into_iter().map(view).collect::<Vec<_>>()))
}

async fn show(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.driver(&id) {
        Some(job) => Json(view(&job)).into_response(),
        None => {
            error(&Refused::NotFound(format!("no Spark submission {id:?}; see GET /v1/spark/submissions")))
        }
    }
}

async fn kill(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.kill(&id).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "result": "accepted" }))).into_response(),
        Err(e) => error(&e),
    }
}

async fn upload(State(s): State<Shared>, Path(file_name): Path<String>, body: axum::body::Bytes) -> Response {
    match s.store(&file_name, body).await {
        Ok((url, sha256)) => {
            (StatusCode::CREATED, Json(json!({ "url": url, "sha256": sha256 }))).into_response()
        }
        Err(e) => error(&e),
    }
}
