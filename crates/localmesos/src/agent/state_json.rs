//! The agent's `/state` endpoint (being filled in).

use super::Agent;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// `GET /state`.
pub(crate) async fn state(State(agent): State<Arc<Agent>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "id": agent.id.to_string(),
        "hostname": agent.ip.to_string(),
        "pid": format!("slave(1)@{}:{}", agent.ip, agent.port()),
    }))
}
