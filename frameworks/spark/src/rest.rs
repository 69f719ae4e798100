//! Spark's REST submission protocol, as stock `spark-submit --deploy-mode cluster` speaks it
//! (Spark 4 with `--master spark://HOST:PORT`, Spark 3.5 also with `mesos://HOST:PORT`; both
//! need `--conf spark.master.rest.enabled=true`), served on the operator API's port:
//!
//! - `POST /v1/submissions/create` (`CreateSubmissionRequest`) → `CreateSubmissionResponse`
//!   with the new `submissionId`. The same request sent twice (the JDK resends a POST whose
//!   connection dropped) gets the same id: it is keyed on `spark.app.submitTime`, the app's
//!   name and resource. `file:` URIs name files on the submitting machine: herd reads them
//!   (the scheduler's machine must see them) and serves them to the agents. The queue is
//!   `--conf spark.herd.queue=NAME`.
//! - `GET /v1/submissions/status/{id}` → `SubmissionStatusResponse` with the Spark name of
//!   the driver's state (SUBMITTED, RUNNING, RELAUNCHING, FINISHED, FAILED, KILLED) and, in
//!   `message`, why it ended;
//! - `POST /v1/submissions/kill/{id}` (no body) → `KillSubmissionResponse`.
//!
//! Answers are HTTP 200 JSON with `action` and `serverSparkVersion`, `success: false` for an
//! unknown id (the client only understands 200s). A submission herd refuses (it asks more
//! than the worker pool has, a file it cannot read) gets an `ErrorResponse` with HTTP 400,
//! the one reply whose message the client prints.

use crate::api::{Refused, Shared};
use crate::submission::{Submission, spark_state};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The property naming the queue of a stock `spark-submit` submission.
pub const QUEUE_PROPERTY: &str = "spark.herd.queue";

/// The protocol's routes.
pub(crate) fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/v1/submissions/create", post(create))
        .route("/v1/submissions/status/{id}", get(status))
        .route("/v1/submissions/kill/{id}", post(kill))
}

/// `CreateSubmissionRequest` (unknown fields tolerated, as Spark's servers do).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    #[serde(default)]
    action: Option<String>,
    app_resource: Option<String>,
    #[serde(default)]
    main_class: Option<String>,
    #[serde(default)]
    app_args: Vec<String>,
    #[serde(default)]
    spark_properties: BTreeMap<String, String>,
    #[serde(default)]
    environment_variables: BTreeMap<String, String>,
}

fn reply(s: &Shared, action: &str, mut body: Value) -> Response {
    let version = s.defaults().map(|d| d.spark_version).unwrap_or_else(|| "unknown".to_owned());
    body["action"] = json!(action);
    body["serverSparkVersion"] = json!(version);
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn error_response(s: &Shared, message: &str) -> Response {
    let mut response = reply(s, "ErrorResponse", json!({ "message": message }));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// The local path a `file:` URI names (`file:/x`, `file:///x`, `file://localhost/x`).
fn local_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file:")?;
    let path = match rest.strip_prefix("//") {
        Some(authority_path) => &authority_path[authority_path.find('/')?..],
        None => rest,
    };
    Some(path.to_owned())
}

/// `uri` as agents can fetch it: `file:` URIs are read here and served.
async fn localize(s: &Shared, uri: &str) -> Result<String, Refused> {
    let Some(path) = local_path(uri) else { return Ok(uri.to_owned()) };
    let name = crate::submission::file_name(&path)
        .ok_or_else(|| Refused::Invalid(format!("{uri}: not a usable file name")))?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        Refused::Invalid(format!(
            "{uri} is a file on the submitting machine, which herd's scheduler cannot read ({e}); put it at \
             an http(s) URL, or submit with `herd spark submit`, which uploads it"
        ))
    })?;
    Ok(s.store(&name, bytes.into()).await?.0)
}

/// A comma-separated list of URIs, localized.
async fn localize_list(s: &Shared, list: &str) -> Result<String, Refused> {
    let mut out = Vec::new();
    for uri in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        out.push(localize(s, uri).await?);
    }
    Ok(out.join(","))
}

async fn create(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let request: CreateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&s, &format!("Malformed request: {e}")),
    };
    if request.action.as_deref().is_some_and(|a| a != "CreateSubmissionRequest") {
        return error_response(&s, &format!("Malformed request: unexpected action {:?}", request.action));
    }
    let Some(resource) = request.app_resource.filter(|r| !r.is_empty()) else {
        return error_response(&s, "Malformed request: appResource is missing");
    };
    let mut conf = request.spark_properties;
    let key = conf.get("spark.app.submitTime").map(|t| {
        format!("{t}|{}|{resource}", conf.get("spark.app.name").map(String::as_str).unwrap_or_default())
    });
    let queue = conf.remove(QUEUE_PROPERTY);
    let localized = async {
        let app = localize(&s, &resource).await?;
        for k in ["spark.jars", "spark.files", "spark.submit.pyFiles"] {
            if let Some(list) = conf.get(k).cloned() {
                conf.insert(k.to_owned(), localize_list(&s, &list).await?);
            }
        }
        Ok::<_, Refused>(app)
    };
    let app_resource = match localized.await {
        Ok(app) => app,
        Err(e) => return error_response(&s, e.message()),
    };
    let sub = Submission {
        app_resource,
        main_class: request.main_class,
        args: request.app_args,
        conf,
        queue,
        env: request.environment_variables,
    };
    match s.submit(sub, key).await {
        Ok(id) => reply(
            &s,
            "CreateSubmissionResponse",
            json!({
                "message": format!("Driver successfully submitted as {id}"),
                "submissionId": id,
                "success": true,
            }),
        ),
        Err(e) => error_response(&s, e.message()),
    }
}

async fn status(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(job) = s.driver(&id) else {
        return reply(
            &s,
            "SubmissionStatusResponse",
            json!({ "submissionId": id, "success": false, "message": format!("Driver {id} not found") }),
        );
    };
    let mut body = json!({ "submissionId": id, "success": true, "driverState": spark_state(&job) });
    if let (Some(agent), Some(host)) = (&job.agent_id, &job.hostname) {
        body["workerId"] = json!(agent.as_str());
        body["workerHostPort"] = json!(host);
    }
    if let Some(message) = &job.message {
        body["message"] = json!(message);
    }
    reply(&s, "SubmissionStatusResponse", body)
}

async fn kill(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let (success, message) = match s.kill(&id).await {
        Ok(()) => (true, format!("Kill request for {id} submitted")),
        Err(Refused::NotFound(_) | Refused::Conflict(_)) => {
            (false, format!("Driver {id} has already finished or does not exist"))
        }
        Err(e) => (false, e.message().to_owned()),
    };
    reply(&s, "KillSubmissionResponse", json!({ "submissionId": id, "success": success, "message": message }))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn file_uris_name_local_paths() {
        assert_eq!(local_path("file:/tmp/a.jar").as_deref(), Some("/tmp/a.jar"));
        assert_eq!(local_path("file:///tmp/a.jar").as_deref(), Some("/tmp/a.jar"));
        assert_eq!(local_path("file://localhost/tmp/a.jar").as_deref(), Some("/tmp/a.jar"));
        assert_eq!(local_path("http://h/a.jar"), None);
    }
}
