//! The error envelope: every failure leaves the server as
//! `{"status":"FAILURE","success":false,"resultMessage":M,"error":CODE,"error_description":M}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::{CoreError, Kind};
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
    envelope_with_code(status, code_for(status), message)
}

/// The envelope with an explicit `error` code (the token endpoint's RFC 6749 §5.2 codes). Every
/// 401 carries `WWW-Authenticate: Bearer` (RFC 6750 §3), with `error="invalid_token"` when the
/// token given was unknown, revoked or expired.
pub fn envelope_with_code(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "status": "FAILURE",
        "success": false,
        "resultMessage": message,
        "error": code,
        "error_description": message,
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static(www_authenticate(message)),
        );
    }
    resp
}

/// The `WWW-Authenticate` challenge of a 401 with this message.
pub fn www_authenticate(message: &str) -> &'static str {
    if message == messages::TOKEN_INVALID || message == messages::TOKEN_EXPIRED {
        r#"Bearer realm="keyward", error="invalid_token""#
    } else {
        r#"Bearer realm="keyward""#
    }
}

/// An error of `POST /apiops/auth/token`: the same envelope, with an OAuth 2.0 error code
/// (RFC 6749 §5.2) in `error`.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl OAuthError {
    /// 400 `invalid_request`: a parameter missing, repeated or unreadable.
    pub fn invalid_request(message: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code: "unsupported_grant_type",
            message: messages::GRANT_TYPE.into(),
        }
    }

    /// 401 `invalid_client`: unknown user or wrong password.
    pub fn invalid_client() -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            message: messages::BAD_CREDENTIALS.into(),
        }
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> OAuthError {
        OAuthError {
            status: e.status,
            code: code_for(e.status),
            message: e.message,
        }
    }
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> OAuthError {
        ApiError::from(e).into()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        envelope_with_code(self.status, self.code, &self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(self.status, &self.message)
    }
}

/// The core's failures, in HTTP: a refusal is 400 (as Apinizer answers), a bad credential 401,
/// an input over its limit 413, a busy heavy-work pool 503, a fault 500.
impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        let status = match e.kind {
            Kind::Refused => StatusCode::BAD_REQUEST,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.message,
        }
    }
}

impl From<crate::heavy::HeavyError> for ApiError {
    fn from(e: crate::heavy::HeavyError) -> ApiError {
        CoreError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        CoreError::from(e).into()
    }
}
