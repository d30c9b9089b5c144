//! The error envelope: every failure leaves the server as
//! `{"status":"FAILURE","success":false,"resultMessage":M,"error":CODE,"error_description":M}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_store::StoreError;

use crate::messages;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400: validation, duplicates, unknown objects, inaccessible projects, permission denials.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 401: a missing, unknown, expired or revoked token, or bad credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 413: a body over the configured limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: messages::body_too_large(limit),
        }
    }

    /// 500: a real fault. The detail is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: messages::SERVER_ERROR.into(),
        }
    }

    pub fn denied() -> ApiError {
        ApiError::bad_request(messages::PERMISSION_DENIED)
    }
}

/// The OAuth-style code that goes with a status.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized_client",
        413 => "payload_too_large",
        500..=599 => "server_error",
        _ => "bad_request",
    }
}

pub fn envelope(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "status": "FAILURE",
        "success": false,
        "resultMessage": message,
        "error": code_for(status),
        "error_description": message,
    });
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(self.status, &self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Rejected(m) => ApiError::bad_request(m),
            StoreError::AliasInUse(a) => ApiError::bad_request(messages::alias_in_use(&a)),
            StoreError::KidTaken { kid, jwk } => {
                ApiError::bad_request(messages::jwk_kid_taken(&kid, &jwk))
            }
            // NotFound/AlreadyExists carry no name: callers map them with context first.
            other => ApiError::internal(other),
        }
    }
}
