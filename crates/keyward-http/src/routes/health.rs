//! `GET /healthz`: 200 once the store answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz))
}

/// Liveness and readiness: answers once the store is reachable.
#[utoipa::path(get, path = "/healthz", tag = "Health", security(()),
    responses((status = 200, description = "`{\"status\":\"ok\"}`"), (status = 503, body = crate::openapi::ErrorEnvelope)))]
async fn healthz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    match app.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "The store is not reachable!".into(),
            })
        }
    }
}
