//! `POST /api/v1/executor` on the agent: the v1 executor API for custom executors.
//! SUBSCRIBE opens the event stream (SUBSCRIBED, then the queued LAUNCHes); UPDATE carries
//! the executor's status updates (with its own uuids) into the reliable update stream;
//! MESSAGE goes to the scheduler.

use super::Agent;
use super::containers::{executor_event, record_and_queue, send_event};
use crate::master::AgentMessage;
use crate::master::scheduler_api::{method_not_allowed, text};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use herd_mesos_api::Source;
use herd_mesos_api::executor::{ExecutorCall, ExecutorCallType, ExecutorEventType, ExecutorSubscribed};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;

fn accepted() -> Response {
    Response::builder().status(StatusCode::ACCEPTED).body(Body::empty()).unwrap_or_default()
}

/// The handler.
pub(crate) async fn handle(
    State(agent): State<Arc<Agent>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => return text(400, "Expecting 'Content-Type' to be present"),
        Some("application/json") => {}
        Some(_) => {
            return text(415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
        }
    }
    let call: ExecutorCall = match serde_json::from_slice::<serde_json::Value>(&body) {
        Err(e) => return text(400, format!("Failed to parse body into JSON: {e}")),
        Ok(v) => match serde_json::from_value(v) {
            Ok(c) => c,
            Err(e) => return text(400, format!("Failed to convert JSON into Call protobuf: {e}")),
        },
    };
    let framework_id = call.framework_id.clone();
    let executor_id = call.executor_id.clone();
    match call.kind {
        ExecutorCallType::Subscribe => {
            let (tx, rx) = mpsc::unbounded_channel();
            {
                let mut inner = agent.lock();
                let Some(fw) = inner.frameworks.get_mut(&framework_id) else {
                    return text(400, format!("Framework {framework_id} is not known to this agent"));
                };
                let framework_info = fw.info.clone();
                let Some(run) = fw.executors.get_mut(&executor_id) else {
                    return text(
                        400,
                        format!(
                            "Executor {executor_id} of framework {framework_id} is not known to this agent"
                        ),
                    );
                };
                let Some(info) = run.info.clone() else {
                    return text(400, format!("Executor {executor_id} is a built-in executor"));
                };
                let mut subscribed = executor_event(ExecutorEventType::Subscribed);
                subscribed.subscribed = Some(ExecutorSubscribed {
                    executor_info: info,
                    framework_info,
                    agent_info: agent.info(),
                    container_id: Some(herd_mesos_api::ContainerId {
                        value: run.container_id.clone(),
                        parent: None,
                    }),
                });
                send_event(&tx, &subscribed);
                for event in run.custom.queued.drain(..) {
                    send_event(&tx, &event);
                }
                run.custom.events = Some(tx);
            }
            tracing::info!(executor = %executor_id, "custom executor subscribed");
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_default()
        }
        ExecutorCallType::Update => {
            let Some(update) = call.update else {
                return text(400, "Failed to validate executor::Call: Expecting 'update' to be present");
            };
            let mut status = update.status;
            if status.uuid.as_ref().is_none_or(|u| u.len() != 16) {
                return text(400, "Failed to validate executor::Call: 'uuid' must be a valid UUID");
            }
            if status.state == herd_mesos_api::TaskState::TaskStaging {
                return text(400, "Failed to validate executor::Call: Received TASK_STAGING from executor");
            }
            status.source = Some(Source::SourceExecutor);
            status.agent_id = Some(agent.id.clone());
            status.executor_id = Some(executor_id.clone());
            if status.timestamp.is_none() {
                status.timestamp = Some(crate::master::now_secs());
            }
            let known = agent
                .lock()
                .frameworks
                .get(&framework_id)
                .and_then(|f| f.executors.get(&executor_id))
                .is_some();
            if !known {
                return text(
                    400,
                    format!("Executor {executor_id} of framework {framework_id} is not known to this agent"),
                );
            }
            let pid = None;
            record_and_queue(&agent, &framework_id, &executor_id, status, pid);
            accepted()
        }
        ExecutorCallType::Message => {
            let Some(message) = call.message else {
                return text(400, "Failed to validate executor::Call: Expecting 'message' to be present");
            };
            let _ = agent.to_master.send(AgentMessage::ExecutorMessage {
                agent_id: agent.id.clone(),
                framework_id,
                executor_id,
                data: message.data,
            });
            accepted()
        }
        ExecutorCallType::Heartbeat => accepted(),
        ExecutorCallType::Unknown => {
            text(400, "Failed to validate executor::Call: Expecting 'type' to be present")
        }
    }
}
