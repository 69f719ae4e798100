//! The master's state endpoints (being filled in).

use super::Master;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// `GET /master/state` (also `/state`, `/state.json`, `/master/state.json`).
pub(crate) async fn state(State(master): State<Arc<Master>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": master.info.id }))
}

/// `GET /master/slaves`.
pub(crate) async fn slaves(State(_master): State<Arc<Master>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "slaves": [] }))
}

/// `GET /master/frameworks`.
pub(crate) async fn frameworks(State(_master): State<Arc<Master>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "frameworks": [] }))
}

/// `GET /master/tasks`.
pub(crate) async fn tasks(State(_master): State<Arc<Master>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "tasks": [] }))
}
