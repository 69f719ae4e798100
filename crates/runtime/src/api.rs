//! The operator HTTP API (REST, JSON): plans, pods, endpoints, config, offer outcomes,
//! health and Prometheus metrics.

use crate::commands::{CommandFailed, Commands};
use crate::driver::{SharedScheduler, lock};
use crate::metrics::Metrics;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herd_core::scheduler::plan::Plan;
use herd_core::scheduler::{Command, CommandError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": what }))).into_response()
}

fn bad_request(what: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": what }))).into_response()
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    scheduler: SharedScheduler,
    commands: Commands,
    metrics: Arc<Metrics>,
}

impl axum::extract::FromRef<ApiState> for SharedScheduler {
    fn from_ref(s: &ApiState) -> Self {
        s.scheduler.clone()
    }
}

/// Sends a command to the driver and answers like the operator API does.
async fn command(state: &ApiState, command: Command) -> Response {
    command_response(&state.commands, command, StatusCode::ACCEPTED).await
}

/// Carries out `command` and answers `success` (with `{"result": "accepted"}`), or the
/// refusal as 404, 409 or 400, or 503 when the scheduler is stopping.
pub async fn command_response(commands: &Commands, command: Command, success: StatusCode) -> Response {
    match commands.send(command).await {
        Ok(()) => (success, Json(json!({ "result": "accepted" }))).into_response(),
        Err(CommandFailed::Refused(e @ CommandError::NotFound { .. })) => not_found(e.to_string()),
        Err(CommandFailed::Refused(e @ CommandError::Conflict(_))) => {
            (StatusCode::CONFLICT, Json(json!({ "error": e.to_string() }))).into_response()
        }
        Err(CommandFailed::Refused(e @ CommandError::Invalid(_))) => bad_request(e.to_string()),
        Err(CommandFailed::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "the scheduler is stopping" })))
                .into_response()
        }
    }
}

/// `?step=<instance>[&phase=<phase>]` of the step actions.
#[derive(serde::Deserialize)]
struct StepQuery {
    step: Option<String>,
    phase: Option<String>,
}

/// The parameters of `start`: a JSON object of strings (`{"KEYSPACE": "shop"}`), or
/// nothing.
fn start_parameters(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    serde_json::from_slice(body).map_err(|e| {
        format!("the body must be a JSON object of string parameters, e.g. {{\"KEYSPACE\": \"shop\"}}: {e}")
    })
}

async fn plan_action(
    State(s): State<ApiState>,
    Path((plan, action)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<StepQuery>,
    body: axum::body::Bytes,
) -> Response {
    let step = match (query.phase, query.step) {
        (Some(phase), Some(step)) => Some(format!("{phase}/{step}")),
        (_, step) => step,
    };
    match (action.as_str(), step) {
        ("start", _) => match start_parameters(&body) {
            Ok(params) => command(&s, Command::Start { plan, params }).await,
            Err(e) => bad_request(e),
        },
        ("stop", _) => command(&s, Command::Stop(plan)).await,
        ("pause", _) => command(&s, Command::Pause(plan)).await,
        ("resume", _) => command(&s, Command::Resume(plan)).await,
        ("force", Some(step)) => command(&s, Command::ForceStep { plan, step }).await,
        ("restart", Some(step)) => command(&s, Command::RestartStep { plan, step }).await,
        ("force" | "restart", None) => bad_request(format!(
            "{action} needs ?step=<pod instance>, e.g. ?step=hello-0 (and &phase=<phase> when several phases have it)"
        )),
        (other, _) => not_found(format!(
            "no plan action {other:?}; actions: start, stop, pause, resume, force, restart"
        )),
    }
}

async fn pod_action(State(s): State<ApiState>, Path((pod, action)): Path<(String, String)>) -> Response {
    match action.as_str() {
        "restart" => command(&s, Command::RestartPod(pod)).await,
        "replace" => command(&s, Command::ReplacePod(pod)).await,
        other => not_found(format!("no pod action {other:?}; actions: restart, replace")),
    }
}

/// The jobs, newest first (their specs left out).
async fn jobs(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    let mut jobs: Vec<&herd_core::scheduler::jobs::Job> = s.jobs().values().collect();
    jobs.sort_by(|a, b| b.submitted_at.total_cmp(&a.submitted_at).then_with(|| b.id.cmp(&a.id)));
    Json(json!(jobs.iter().map(|j| job_summary(j)).collect::<Vec<_>>()))
}

/// A job without its spec's command and environment.
pub fn job_summary(j: &herd_core::scheduler::jobs::Job) -> Value {
    json!({
        "id": j.id,
        "name": j.spec.name,
        "queue": j.spec.queue,
        "state": j.state,
        "submitted_at": j.submitted_at,
        "started_at": j.started_at,
        "ended_at": j.ended_at,
        "attempts": j.attempts,
        "agent": j.hostname,
        "task_id": j.task_id,
        "message": j.message,
        "labels": j.spec.labels,
    })
}

async fn job(State(s): State<SharedScheduler>, Path(id): Path<String>) -> Response {
    match lock(&s).jobs().get(&id) {
        Some(job) => Json(json!(job)).into_response(),
        None => not_found(format!("no job {id:?}")),
    }
}

/// `POST /v1/jobs` with `{"id": ..., "spec": {...}}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    id: String,
    spec: herd_core::scheduler::jobs::JobSpec,
}

async fn submit_job(State(s): State<ApiState>, body: axum::body::Bytes) -> Response {
    let submission: Submission = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return bad_request(format!("the body must be {{\"id\": \"...\", \"spec\": {{...}}}}: {e}"));
        }
    };
    command_response(
        &s.commands,
        Command::SubmitJob { id: submission.id, spec: Box::new(submission.spec) },
        StatusCode::CREATED,
    )
    .await
}

async fn kill_job(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    command(&s, Command::KillJob(id)).await
}

async fn uninstall(State(s): State<ApiState>) -> Response {
    command(&s, Command::Uninstall).await
}

async fn orphans(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    Json(json!({
        "released": s.orphans().map(|o| json!({
            "time": o.time,
            "agent": o.hostname,
            "reservation_id": o.reservation_id,
            "resources": o.resources,
        })).collect::<Vec<_>>(),
        "pending": s.pending_releases().iter().map(|p| json!({
            "agent": p.hostname,
            "reservation_id": p.reservation_id,
            "volumes": p.volumes.iter().filter_map(|v| v.disk.as_ref()?.persistence.as_ref().map(|x| x.id.clone())).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

/// The routes.
pub(crate) fn router(scheduler: SharedScheduler, commands: Commands, metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route("/v1/plans/{plan}/{action}", axum::routing::post(plan_action))
        .route("/v1/pods/{pod}/{action}", axum::routing::post(pod_action))
        .route("/v1/uninstall", axum::routing::post(uninstall))
        .route("/v1/jobs", get(jobs).post(submit_job))
        .route("/v1/jobs/{id}", get(job))
        .route("/v1/jobs/{id}/kill", axum::routing::post(kill_job))
        .route("/v1/orphans", get(orphans))
        .route("/v1/health", get(health))
        .route("/v1/plans", get(plans))
        .route("/v1/plans/{plan}", get(plan))
        .route("/v1/pods", get(pods))
        .route("/v1/pods/{pod}", get(pod))
        .route("/v1/endpoints", get(endpoints))
        .route("/v1/config", get(config))
        .route("/v1/offer-outcomes", get(outcomes))
        .route("/metrics", get(prometheus))
        .with_state(ApiState { scheduler, commands, metrics })
}

fn all_plans(s: &SharedScheduler) -> Vec<Plan> {
    lock(s).plans()
}

async fn health(State(s): State<SharedScheduler>) -> Json<Value> {
    let deploy = lock(&s).deploy_plan();
    Json(json!({ "healthy": true, "deploy": deploy.status }))
}

async fn plans(State(s): State<SharedScheduler>) -> Json<Value> {
    Json(json!(all_plans(&s).iter().map(|p| p.name.clone()).collect::<Vec<_>>()))
}

async fn plan(State(s): State<SharedScheduler>, Path(name): Path<String>) -> Response {
    let plans = all_plans(&s);
    let known = plans.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    match plans.iter().find(|p| p.name == name) {
        Some(plan) => {
            let mut body = json!(plan);
            if let Some(params) = lock(&s).plan_parameters(&name) {
                body["parameters"] = json!(params);
            }
            Json(body).into_response()
        }
        None => not_found(format!("no plan {name:?}; plans: {known}")),
    }
}

fn pod_json(s: &herd_core::scheduler::Scheduler, instance: &herd_core::scheduler::state::Instance) -> Value {
    json!({
        "name": instance.id.to_string(),
        "agent": instance.placement.as_ref().map(|p| p.hostname.clone()),
        "agent_id": instance.placement.as_ref().map(|p| p.agent_id.to_string()),
        "ports": instance.placement.as_ref().map(|p| p.ports.clone()),
        "tasks": instance.tasks.iter().map(|(name, t)| json!({
            "name": name,
            "id": t.task_id.to_string(),
            "state": t.state,
            "ready": t.ready,
            "config_id": t.config_id,
        })).collect::<Vec<_>>(),
        "target_config": s.state().target.id,
    })
}

async fn pods(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    Json(json!(s.state().instances.keys().map(ToString::to_string).collect::<Vec<_>>()))
}

async fn pod(State(s): State<SharedScheduler>, Path(name): Path<String>) -> Response {
    let s = lock(&s);
    match s.state().instances.values().find(|i| i.id.to_string() == name) {
        Some(instance) => Json(pod_json(&s, instance)).into_response(),
        None => not_found(format!("no pod instance {name:?}; see GET /v1/pods")),
    }
}

async fn endpoints(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    let primary = crate::primary_endpoint(&s);
    let all = crate::endpoints(&s);
    Json(Value::Object(
        all.into_iter()
            .map(|(name, addresses)| {
                let main = primary.as_deref() == Some(name.as_str());
                (name, json!({ "address": addresses, "primary": main }))
            })
            .collect(),
    ))
}

async fn config(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    Json(json!({ "id": s.state().target.id, "spec": s.state().target.spec }))
}

async fn outcomes(State(s): State<SharedScheduler>) -> Json<Value> {
    let s = lock(&s);
    Json(json!(
        s.outcomes()
            .map(|o| json!({
                "time": o.time,
                "offer_id": o.offer_id.to_string(),
                "agent": o.hostname,
                "instance": o.instance.as_ref().map(ToString::to_string),
                "accepted": o.rejection.is_none(),
                "reason": o.rejection,
            }))
            .collect::<Vec<_>>()
    ))
}

async fn prometheus(State(s): State<ApiState>) -> String {
    crate::metrics::render(&lock(&s.scheduler), &s.metrics)
}
