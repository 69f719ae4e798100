//! Kafka's operator API routes, beside the core's: topics through the Kafka admin protocol
//! (rdkafka), and the brokers' addresses with their ids.
//!
//! - `GET /v1/endpoints/broker`: `[{"id", "host", "port"}]` of every placed broker;
//! - `GET /v1/topics`: topic names; `GET /v1/topics/{name}`: partitions (leader, replicas,
//!   in-sync replicas) and configs;
//! - `POST /v1/topics` `{"name", "partitions", "replication", "configs": {..}}` (201);
//! - `DELETE /v1/topics/{name}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herd_runtime::driver::SharedScheduler;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The Kafka framework's API extension.
#[derive(Debug)]
pub struct Topics;

impl herd_runtime::probes::ApiExtension for Topics {
    fn router(&self, ctx: herd_runtime::probes::ExtensionContext) -> axum::Router {
        axum::Router::new()
            .route("/v1/endpoints/broker", get(brokers))
            .route("/v1/topics", get(list).post(create))
            .route("/v1/topics/{name}", get(describe).delete(delete))
            .with_state(ctx.scheduler)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The placed brokers: (id, host, port).
fn placed(scheduler: &SharedScheduler) -> Vec<(u32, String, u16)> {
    let s = scheduler.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    s.state()
        .instances
        .values()
        .filter(|i| i.id.pod == "broker")
        .filter_map(|i| {
            let p = i.placement.as_ref()?;
            Some((i.id.index + 1, p.hostname.clone(), *p.ports.get("broker")?))
        })
        .collect()
}

fn admin(scheduler: &SharedScheduler) -> Result<AdminClient<DefaultClientContext>, Box<Response>> {
    let brokers = placed(scheduler);
    if brokers.is_empty() {
        let message = "no broker is placed yet: wait for the deploy plan";
        return Err(Box::new(error(StatusCode::SERVICE_UNAVAILABLE, message)));
    }
    let bootstrap: Vec<String> = brokers.iter().map(|(_, h, p)| format!("{h}:{p}")).collect();
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap.join(","))
        .set("client.id", "herd-kafka-api")
        .create()
        .map_err(|e| Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, format!("admin client: {e}"))))
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)))
}

async fn brokers(State(s): State<SharedScheduler>) -> Json<Value> {
    Json(json!(
        placed(&s)
            .into_iter()
            .map(|(id, host, port)| json!({ "id": id, "host": host, "port": port }))
            .collect::<Vec<_>>()
    ))
}

/// The cluster's metadata (blocking client call, off the async threads).
async fn metadata(admin: AdminClient<DefaultClientContext>, topic: Option<String>) -> Result<Value, String> {
    tokio::task::spawn_blocking(move || {
        let metadata = admin
            .inner()
            .fetch_metadata(topic.as_deref(), Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let topics: Vec<Value> = metadata
            .topics()
            .iter()
            .map(|t| {
                json!({
                    "name": t.name(),
                    "error": t.error().map(|e| format!("{e:?}")),
                    "partitions": t.partitions().iter().map(|p| json!({
                        "id": p.id(),
                        "leader": p.leader(),
                        "replicas": p.replicas(),
                        "isr": p.isr(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(json!(topics))
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn list(State(s): State<SharedScheduler>) -> Response {
    let admin = match admin(&s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match metadata(admin, None).await {
        Ok(topics) => {
            let mut names: Vec<&str> =
                topics.as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
            names.sort_unstable();
            Json(json!(names)).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("listing topics: {e}")),
    }
}

/// The body of `POST /v1/topics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    #[serde(default)]
    partitions: Option<i32>,
    #[serde(default)]
    replication: Option<i32>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

async fn create(State(s): State<SharedScheduler>, body: axum::body::Bytes) -> Response {
    let request: Create = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be {{\"name\": ..., \"partitions\": N, \"replication\": R, \"configs\": {{..}}}}: {e}"
                ),
            );
        }
    };
    let brokers = i32::try_from(placed(&s).len()).unwrap_or(i32::MAX);
    let partitions = request.partitions.unwrap_or(3);
    let replication = request.replication.unwrap_or(brokers.clamp(1, 3));
    if request.name.is_empty() || partitions < 1 {
        return error(StatusCode::BAD_REQUEST, "name must not be empty and partitions must be at least 1");
    }
    if replication < 1 || replication > brokers {
        return error(
            StatusCode::BAD_REQUEST,
            format!("replication {replication} is not possible with {brokers} broker(s): use 1..={brokers}"),
        );
    }
    let admin = match admin(&s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let mut topic = NewTopic::new(&request.name, partitions, TopicReplication::Fixed(replication));
    for (k, v) in &request.configs {
        topic = topic.set(k, v);
    }
    match admin.create_topics([&topic], &options()).await {
        Ok(results) => match results.into_iter().next() {
            Some(Ok(name)) => (StatusCode::CREATED, Json(json!({ "created": name }))).into_response(),
            Some(Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) => {
                error(StatusCode::CONFLICT, format!("topic {name} exists already"))
            }
            Some(Err((name, code))) => error(StatusCode::BAD_REQUEST, format!("creating {name}: {code}")),
            None => error(StatusCode::BAD_GATEWAY, "no answer from the cluster"),
        },
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("creating {}: {e}", request.name)),
    }
}

async fn describe(State(s): State<SharedScheduler>, Path(name): Path<String>) -> Response {
    let admin = match admin(&s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let configs = match admin.describe_configs(&[ResourceSpecifier::Topic(&name)], &options()).await {
        Ok(results) => match results.into_iter().next() {
            Some(Ok(resource)) => resource
                .entries
                .into_iter()
                .filter(|e| !e.is_default)
                .filter_map(|e| Some((e.name, e.value?)))
                .collect::<BTreeMap<String, String>>(),
            Some(Err(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                return error(StatusCode::NOT_FOUND, format!("no topic {name:?}; see GET /v1/topics"));
            }
            Some(Err(code)) => return error(StatusCode::BAD_GATEWAY, format!("describing {name}: {code}")),
            None => BTreeMap::new(),
        },
        Err(e) => return error(StatusCode::BAD_GATEWAY, format!("describing {name}: {e}")),
    };
    match metadata(admin, Some(name.clone())).await {
        Ok(topics) => {
            let mut topic = topics.as_array().and_then(|t| t.first().cloned()).unwrap_or(Value::Null);
            if topic["error"].is_string() {
                return error(StatusCode::NOT_FOUND, format!("no topic {name:?}; see GET /v1/topics"));
            }
            topic["configs"] = json!(configs);
            Json(topic).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("describing {name}: {e}")),
    }
}

async fn delete(State(s): State<SharedScheduler>, Path(name): Path<String>) -> Response {
    let admin = match admin(&s) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.delete_topics(&[&name], &options()).await {
        Ok(results) => match results.into_iter().next() {
            Some(Ok(_)) => Json(json!({ "deleted": name })).into_response(),
            Some(Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition))) => {
                error(StatusCode::NOT_FOUND, format!("no topic {name:?}; see GET /v1/topics"))
            }
            Some(Err((_, code))) => error(StatusCode::BAD_GATEWAY, format!("deleting {name}: {code}")),
            None => error(StatusCode::BAD_GATEWAY, "no answer from the cluster"),
        },
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("deleting {name}: {e}")),
    }
}
