//! The audit trail, read back (system admins only): `GET /apiops/audit` with filters and paging.

use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use keyward_store::{AuditFilter, AuditRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, Caller, messages};

/// Records per page unless `size` says otherwise.
const DEFAULT_SIZE: i64 = 100;
/// Most records per page.
pub const MAX_SIZE: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Filters and paging of `GET /apiops/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records at or after this moment: unix milliseconds or an RFC 3339 date-time.
    from: Option<String>,
    /// Records at or before this moment: unix milliseconds or an RFC 3339 date-time.
    to: Option<String>,
    /// Username of the caller.
    user: Option<String>,
    /// Project name.
    project: Option<String>,
    /// Object name (certificate, JWK, key, keystore, token, user, environment …).
    object: Option<String>,
    /// Zero-based page number (default 0).
    page: Option<String>,
    /// Records per page (default 100, at most 1000).
    size: Option<String>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditItem {
    seq: i64,
    /// Unix milliseconds.
    at: i64,
    /// The same moment, RFC 3339 (UTC).
    time: String,
    user_id: Option<String>,
    username: Option<String>,
    /// The id of the token used (never the token).
    token_id: Option<String>,
    client_address: Option<String>,
    method: String,
    /// Route template, e.g. `/apiops/projects/{projectName}/jwks/{jwkName}`.
    route: String,
    project: Option<String>,
    object_kind: Option<String>,
    object_name: Option<String>,
    action: String,
    /// HTTP status of the answer.
    status: i64,
    /// `ok` or `error`.
    outcome: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRecord> for AuditItem {
    fn from(r: AuditRecord) -> AuditItem {
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.at) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let e = r.entry;
        AuditItem {
            seq: r.seq,
            at: r.at,
            time,
            user_id: e.user_id,
            username: e.username,
            token_id: e.token_id,
            client_address: e.client_addr,
            method: e.method,
            route: e.route,
            project: e.project,
            object_kind: e.object_kind,
            object_name: e.object_name,
            action: e.action,
            status: e.status,
            outcome: e.outcome,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// A moment given as unix milliseconds or RFC 3339.
fn moment(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| ApiError::bad_request(messages::audit_moment_invalid(field, v)))
}

fn number(field: &str, value: Option<&str>, default: i64, min: i64, max: i64) -> ApiResult<i64> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(messages::audit_number_invalid(
            field, v, min, max,
        ))),
    }
}

fn text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The audit trail, newest first (system admin). `X-Total-Count` tells how many records match.
#[utoipa::path(get, path = "/apiops/audit", tag = "Management", params(AuditQuery),
    responses((status = 200, description = "`resultList`: audit records, newest first; header `X-Total-Count`", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 401, body = crate::openapi::ErrorEnvelope)))]
async fn list_audit(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    if !caller.sys_admin {
        return Err(ApiError::denied());
    }
    let filter = AuditFilter {
        from: moment("from", q.from.as_deref())?,
        to: moment("to", q.to.as_deref())?,
        user: text(q.user),
        project: text(q.project),
        object: text(q.object),
    };
    let size = number("size", q.size.as_deref(), DEFAULT_SIZE, 1, MAX_SIZE)?;
    let page = number("page", q.page.as_deref(), 0, 0, i64::MAX / MAX_SIZE)?;
    let (records, total) = app
        .store
        .audit_page(&filter, page * size, size)
        .await
        .map_err(ApiError::internal)?;
    let mut resp = Success::list(records.into_iter().map(AuditItem::from)).into_response();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        resp.headers_mut().insert("x-total-count", v);
    }
    Ok(resp)
}
