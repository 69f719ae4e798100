//! The master's read-only HTTP endpoints: `/version`, `/health`, `/redirect` (and the state
//! endpoints, in [`crate::master::state_json`] once written).

use super::Master;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use std::sync::Arc;

/// `GET /version`.
pub(crate) async fn version(State(master): State<Arc<Master>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": master.config.version,
        "build_date": "herd local cluster",
        "build_time": master.started.floor(),
        "build_user": "herd",
        "git_sha": "",
        "git_branch": "",
        "git_tag": "",
    }))
}

/// `GET /health`: 200, empty.
pub(crate) async fn health() -> StatusCode {
    StatusCode::OK
}

/// `GET /redirect`: 307 to the leader (this master), protocol-relative like Mesos.
pub(crate) async fn redirect(State(master): State<Arc<Master>>) -> Response {
    let (host, port) = master.info.host_port();
    Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header(header::LOCATION, format!("//{host}:{port}"))
        .body(Body::empty())
        .unwrap_or_default()
}
