//! Serving cached artifacts to agents over HTTP, so real Mesos agents fetch an assembled
//! distribution like any other URI:
//!
//! - `GET /v1/artifacts/{sha256}` streams the blob (`application/octet-stream`, with its
//!   `Content-Length`; `HEAD` answers the headers only);
//! - `GET /v1/artifacts/{sha256}/{file_name}` is the same blob under a file name: the Mesos
//!   fetcher decides whether to extract from the URI's file name, so a fetch URL ending in
//!   `kafka-3.9.0.tar.gz` is extracted (see [`super::Resolved::url_path`]).
//!
//! Errors are JSON `{"error": "..."}`: 400 for an id that is not 64 lowercase hex digits, 404
//! for a blob the cache does not have.

use super::Cache;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The artifact routes over `cache`; merge them into the operator API.
pub fn router(cache: Arc<Cache>) -> Router {
    Router::new()
        .route("/v1/artifacts/{sha256}", get(blob))
        .route("/v1/artifacts/{sha256}/{file_name}", get(named_blob))
        .with_state(cache)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Whether `id` is a SHA-256 as the cache names blobs: 64 lowercase hex digits.
pub(crate) fn is_blob_id(id: &str) -> bool {
    id.len() == 64 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

async fn named_blob(
    State(cache): State<Arc<Cache>>,
    Path((sha256, _file_name)): Path<(String, String)>,
) -> Response {
    serve(&cache, &sha256).await
}

async fn blob(State(cache): State<Arc<Cache>>, Path(sha256): Path<String>) -> Response {
    serve(&cache, &sha256).await
}

async fn serve(cache: &Cache, sha256: &str) -> Response {
    if !is_blob_id(sha256) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "{sha256:?} is not an artifact id; use the artifact's SHA-256 as 64 lowercase hex digits \
                 (`herd artifacts fetch` prints it)"
            ),
        );
    }
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "no artifact {sha256} in this cache; resolve it first (the scheduler does at start, or \
                 `herd artifacts fetch`), or check the id"
            ),
        )
    };
    let Some(path) = cache.blob_path(sha256) else { return not_found() };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_found(),
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot open a cached artifact: {e}");
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read artifact {sha256}: {e}"));
        }
    };
    let size = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read artifact {sha256}: {e}"));
        }
    };
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()),
        ],
        body,
    )
        .into_response()
}
