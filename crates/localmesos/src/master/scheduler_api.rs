//! `POST /api/v1/scheduler`: the checks in the order a Mesos master makes them
//! (`Master::Http::scheduler`), with its status codes and messages, then the call.

use super::Master;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use herd_mesos_api::FrameworkId;
use herd_mesos_api::scheduler::{Call, CallEnvelope};
use std::convert::Infallible;
use std::sync::{Arc, Weak};

/// The `Mesos-Stream-Id` header.
pub(crate) const STREAM_ID: &str = "Mesos-Stream-Id";

/// A plain-text answer, as Mesos gives errors.
pub(crate) fn text(status: u16, body: impl Into<String>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body.into()))
        .unwrap_or_default()
}

/// 405 with `Allow: POST`, worded as Mesos words it.
pub(crate) fn method_not_allowed(method: &Method) -> Response {
    let mut r =
        text(405, format!("405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{method}'."));
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    r
}

/// Parses a call as Mesos would: JSON syntax first, then the Call message, naming the
/// missing required fields by their path.
pub(crate) fn parse_call(body: &[u8]) -> Result<CallEnvelope, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| json_syntax_error(body, &e))?;
    serde_path_to_error::deserialize::<_, CallEnvelope>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let missing = inner.strip_prefix("missing field `").and_then(|s| s.split('`').next());
        match missing {
            Some(field) if path == "." => {
                format!("Failed to convert JSON into Call protobuf: Missing required fields: {field}")
            }
            Some(field) => {
                format!("Failed to convert JSON into Call protobuf: Missing required fields: {path}.{field}")
            }
            None => format!("Failed to convert JSON into Call protobuf: {path}: {inner}"),
        }
    })
}

/// Mesos' wording for a JSON syntax error: `syntax error at line 1 near: <text>`, the text
/// from the start of the offending token to the end of its line.
fn json_syntax_error(body: &[u8], e: &serde_json::Error) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let mut start = e.column().saturating_sub(1).min(line.len());
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let bytes = line.as_bytes();
    while start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
        start -= 1;
    }
    format!(
        "Failed to parse body into JSON: syntax error at line {} near: {}",
        e.line().max(1),
        &line[start..]
    )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an `Accept` header admits JSON (absent or `*/*` does).
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = header_str(headers, "accept") else { return true };
    accept.split(',').map(|part| part.split(';').next().unwrap_or("").trim()).any(|media| {
        media.is_empty() || media == "*/*" || media == "application/*" || media == "application/json"
    })
}

/// Ends the framework's subscription when the HTTP stream is dropped.
struct StreamGuard {
    master: Weak<Master>,
    framework_id: Option<FrameworkId>,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let (Some(master), Some(id)) = (self.master.upgrade(), &self.framework_id) {
            master.stream_closed(id, &self.stream_id);
        }
    }
}

/// The handler.
pub(crate) async fn scheduler(
    State(master): State<Arc<Master>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    let Some(content_type) = header_str(&headers, "content-type") else {
        return text(400, "Expecting 'Content-Type' to be present");
    };
    match content_type.trim() {
        "application/json" => {}
        "application/x-protobuf" => {
            return text(
                415,
                "Expecting 'Content-Type' of application/json: herd's local cluster speaks JSON only (application/x-protobuf is not served)",
            );
        }
        _ => return text(415, "Expecting 'Content-Type' of application/json or application/x-protobuf"),
    }
    let envelope = match parse_call(&body) {
        Ok(e) => e,
        Err(message) => return text(400, message),
    };
    let (framework_id, call) = match envelope.into_call() {
        Ok(ok) => ok,
        Err(e) => return text(400, format!("Failed to validate scheduler::Call: {e}")),
    };
    if let Call::Acknowledge(ack) = &call
        && ack.uuid.len() != 16
    {
        return text(400, "Failed to validate scheduler::Call: Not a valid UUID");
    }
    if let Call::Subscribe(subscribe) = call {
        if !accepts_json(&headers) {
            return text(406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
        }
        if headers.contains_key(STREAM_ID) {
            return text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let (framework_id, rx) = master.subscribe(subscribe, &stream_id);
        let guard =
            StreamGuard { master: Arc::downgrade(&master), framework_id, stream_id: stream_id.clone() };
        let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), (rx, guard)))
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(STREAM_ID, stream_id)
            .body(Body::from_stream(stream))
            .unwrap_or_default();
    }
    let Some(framework_id) = framework_id else {
        return text(400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present");
    };
    if let Err((status, message)) = master.check_caller(&framework_id, header_str(&headers, STREAM_ID)) {
        return text(status, message);
    }
    let synchronous = matches!(call, Call::UpdateFramework(_));
    master.handle_call(&framework_id, call);
    if synchronous {
        text(200, "")
    } else {
        Response::builder().status(StatusCode::ACCEPTED).body(Body::empty()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_fields_are_named_by_path_like_mesos() {
        let body = br#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}]}}"#;
        assert_eq!(
            parse_call(body).unwrap_err(),
            "Failed to convert JSON into Call protobuf: Missing required fields: accept.operations[0].launch.task_infos[0].name"
        );
        assert_eq!(
            parse_call(b"not json").unwrap_err(),
            "Failed to parse body into JSON: syntax error at line 1 near: not json"
        );
    }
}
