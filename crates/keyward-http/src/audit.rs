//! Recording the audit trail: one middleware sees every request after its handler answered and,
//! before the answer leaves, appends one record to the store's hash chain for
//!
//! - every `/apiops` request that is not a `GET` (mutations, token issuance — also refused and
//!   failed ones, with their status), and
//! - every `GET` that returns private material: a JWK by name when it carries private members
//!   (the handler marks a public-only answer with [`PublicOnly`]) and every `…/export` and
//!   `…/export-file`.
//!
//! Who is the principal the [`crate::Caller`] extractor resolved (it leaves it in the request's
//! [`AuditSlot`]), or, for the client-credentials endpoint, the user the token was issued to (or
//! the claimed `client_id` of a refused attempt, without user id). What is the route template, the
//! project and the object (its name from the path, or from the body's name field on create:
//! `name`, `certificateName`, …). Never recorded: tokens, passwords, key material, bodies.
//!
//! Requests refused to a caller who never authenticated (no token, a bad one, a failed login, a
//! body refused before any check) are summarised ([`Summary`]): per client address and interval
//! the first is recorded as above, the others are counted and written as one summary record per
//! status when the interval ends — a flood of them cannot write a record per request.
//!
//! Fail closed: if the record cannot be written, the caller gets a 500 envelope instead of the
//! handler's answer — even though a mutation may already be committed (it is then in the store
//! without a record, and the caller was told the request failed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request, State,
};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_store::{AuditEntry, Store};

use crate::AppState;
use crate::error::ApiError;
use crate::permissions::Principal;

/// Left on a response by a handler whose `GET` showed no private material after all (a JWK
/// without private members): the read is not recorded.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

/// Who made the request, as far as the handlers found out.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub token_id: Option<String>,
}

/// Where handlers leave the caller for the audit record (a request extension).
#[derive(Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Who>>);

impl AuditSlot {
    pub fn principal(&self, p: &Principal) {
        self.set(Who {
            user_id: Some(p.user_id.clone()),
            username: Some(p.username.clone()),
            token_id: Some(p.token_id.clone()),
        });
    }

    pub fn set(&self, who: Who) {
        if let Ok(mut w) = self.0.lock() {
            *w = who;
        }
    }

    fn take(&self) -> Who {
        self.0.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// Most client addresses tracked per interval; refusals from further ones are summarised
/// without an address.
const MAX_SUMMARISED: usize = 10_000;

/// The action of a summary record; its `objectName` is the number of requests it stands for.
pub const SUMMARY_ACTION: &str = "refused-unauthenticated";

/// Refusals of unauthenticated callers in the current interval (see the module documentation).
pub struct Summary {
    interval: Duration,
    state: Mutex<Interval>,
}

#[derive(Default)]
struct Interval {
    /// Addresses whose first refusal of this interval was recorded on its own.
    recorded: HashSet<IpAddr>,
    /// Further refusals per address (`None`: over [`MAX_SUMMARISED`]) and status.
    counted: BTreeMap<(Option<IpAddr>, u16), u64>,
}

impl Summary {
    pub fn new(interval: Duration) -> Summary {
        Summary {
            interval,
            state: Mutex::new(Interval::default()),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether this refusal is recorded on its own (the address's first of the interval);
    /// otherwise it is counted for the summary.
    fn first(&self, ip: IpAddr, status: u16) -> bool {
        let key = crate::edge::address_key(ip);
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        if !s.recorded.contains(&key) {
            if s.recorded.len() < MAX_SUMMARISED {
                s.recorded.insert(key);
                return true;
            }
            *s.counted.entry((None, status)).or_default() += 1;
            return false;
        }
        *s.counted.entry((Some(key), status)).or_default() += 1;
        false
    }

    /// Ends the interval: one record per address and status for the counted refusals.
    pub async fn flush(&self, store: &Store) {
        let counted = match self.state.lock() {
            Ok(mut s) => {
                s.recorded.clear();
                std::mem::take(&mut s.counted)
            }
            Err(_) => return,
        };
        let mut failed = 0usize;
        for ((ip, status), count) in counted {
            let entry = AuditEntry {
                user_id: None,
                username: None,
                token_id: None,
                client_addr: Some(match ip {
                    Some(IpAddr::V6(net)) => format!("{net}/64"),
                    Some(v4) => v4.to_string(),
                    None => "*".to_owned(),
                }),
                method: "*".into(),
                route: "*".into(),
                project: None,
                object_kind: Some("summary".into()),
                object_name: Some(count.to_string()),
                action: SUMMARY_ACTION.into(),
                status: i64::from(status),
                outcome: "error".into(),
            };
            if store.append_audit(&entry).await.is_err() {
                failed += 1;
            }
        }
        if failed > 0 {
            tracing::error!(
                records = failed,
                "cannot append summaries of refused requests to the audit trail"
            );
        }
    }
}

/// Body fields that name the object a request creates.
const NAME_FIELDS: &[&str] = &[
    "name",
    "certificateName",
    "keyName",
    "keystoreName",
    "jwkName",
];
/// Path parameters that name the object, in order of preference.
const NAME_PARAMS: &[&str] = &[
    "certificateName",
    "jwkName",
    "keyName",
    "keystoreName",
    "tokenName",
    "environmentName",
    "username",
];
/// Longest object name kept from a body.
const MAX_NAME: usize = 200;

/// Whether a request is recorded.
fn audited(method: &Method, route: &str) -> bool {
    if !route.starts_with("/apiops/") {
        return false;
    }
    if *method != Method::GET && *method != Method::HEAD && *method != Method::OPTIONS {
        return true;
    }
    *method == Method::GET
        && (route == "/apiops/projects/{projectName}/jwks/{jwkName}"
            || route.ends_with("/agent/bundle")
            || route.ends_with("/export")
            || route.ends_with("/export-file"))
}

/// The object kind a route is about.
fn object_kind(route: &str) -> Option<&'static str> {
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.as_slice() {
        ["apiops", "projects", "{projectName}", rest @ ..] if !rest.is_empty() => rest,
        ["apiops", "projects", ..] => return Some("project"),
        ["apiops", "users", _, "tokens", ..] => return Some("token"),
        ["apiops", "users", ..] => return Some("user"),
        ["apiops", "auth", "token"] => return Some("token"),
        ["apiops", "environments", ..] => return Some("environment"),
        _ => return None,
    };
    Some(match rest {
        ["certificates", "truststore", ..] => "truststore",
        ["certificates", ..] => "certificate",
        ["jwks", ..] => "jwk",
        ["keys", ..] => "key",
        ["keystores", ..] => "keystore",
        ["members", ..] => "member",
        ["environments", ..] => "environment",
        _ => return None,
    })
}

/// What was done: the route's trailing verb (`export-file`, `parse-from-url`, …) or the method's.
fn action(method: &Method, route: &str) -> String {
    if route == "/apiops/auth/token" {
        return "issue-token".into();
    }
    let last = route
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let verbs = [
        "export",
        "export-file",
        "import-file",
        "generate",
        "parse-from-certificate",
        "parse-from-key",
        "parse-from-keystore",
        "parse-from-clipboard",
        "parse-from-url",
    ];
    if verbs.contains(&last) {
        return last.to_owned();
    }
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::DELETE => "delete",
        Method::PATCH => "update",
        _ => "read",
    }
    .into()
}

/// The object's name given in the body of a create (`name`, `certificateName`, …), and for the
/// client-credentials endpoint the claimed `client_id`. Reads nothing else; values are capped.
async fn names_in_body(headers: &axum::http::HeaderMap, bytes: &Bytes) -> HashMap<String, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let wanted = |k: &str| NAME_FIELDS.contains(&k) || k == "client_id";
    let keep = |v: &str| v.chars().count() <= MAX_NAME;
    let mut out = HashMap::new();
    if content_type.starts_with("application/json") {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes) {
            for (k, v) in map {
                if let Some(s) = v.as_str()
                    && wanted(&k)
                    && keep(s)
                {
                    out.insert(k, s.to_owned());
                }
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let req = rebuilt(headers, bytes.clone());
        if let Ok(axum::Form(map)) =
            axum::Form::<HashMap<String, String>>::from_request(req, &()).await
        {
            out.extend(
                map.into_iter()
                    .filter(|(k, v)| wanted(k) && k != "client_secret" && keep(v)),
            );
        }
    } else if content_type.starts_with("multipart/form-data") {
        let req = rebuilt(headers, bytes.clone());
        if let Ok(mut form) = axum::extract::Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = form.next_field().await {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                if field.file_name().is_none()
                    && NAME_FIELDS.contains(&name.as_str())
                    && let Ok(text) = field.text().await
                    && keep(&text)
                {
                    out.insert(name, text);
                }
            }
        }
    }
    out
}

fn rebuilt(headers: &axum::http::HeaderMap, bytes: Bytes) -> Request {
    let mut req = Request::new(Body::from(bytes));
    // A form is read from the body only for methods other than GET/HEAD.
    *req.method_mut() = Method::POST;
    *req.headers_mut() = headers.clone();
    req
}

/// The middleware (see the module documentation).
pub async fn record(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(route) = route.filter(|r| audited(req.method(), r)) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let peer = parts
        .extensions
        .get::<ConnectInfo<crate::edge::PeerAddr>>()
        .map(|c| c.0.0.ip());
    let client_addr = peer.map(|ip| ip.to_string());
    let method = parts.method.clone();
    let parts_query = parts.uri.query().map(str::to_owned);
    // The body is read here (as the handler would) to learn the name of a created object.
    let (body_names, body) = if method == Method::GET {
        (HashMap::new(), body)
    } else {
        match axum::body::to_bytes(body, app.config.body_limit).await {
            Ok(bytes) => (
                names_in_body(&parts.headers, &bytes).await,
                Body::from(bytes),
            ),
            Err(_) => {
                let resp = ApiError::too_large(app.config.body_limit).into_response();
                let entry = entry_for(
                    &method,
                    &route,
                    &params,
                    &HashMap::new(),
                    Who::default(),
                    client_addr,
                    resp.status().as_u16(),
                );
                return finish(&app, peer, entry, resp).await;
            }
        }
    };
    let slot = AuditSlot::default();
    parts.extensions.insert(slot.clone());
    let resp = next.run(Request::from_parts(parts, body)).await;
    if method == Method::GET && resp.extensions().get::<PublicOnly>().is_some() {
        return resp;
    }
    let mut who = slot.take();
    if who.username.is_none()
        && let Some(claimed) = body_names.get("client_id")
    {
        who.username = Some(claimed.clone());
    }
    let mut entry = entry_for(
        &method,
        &route,
        &params,
        &body_names,
        who,
        client_addr,
        resp.status().as_u16(),
    );
    if method == Method::DELETE && forced(parts_query.as_deref()) {
        // `?force=true`: the project or environment went with everything in it.
        entry.action = "force-delete".into();
    }
    finish(&app, peer, entry, resp).await
}

/// Whether a query string asks for `force=true`.
fn forced(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p.eq_ignore_ascii_case("force=true")))
}

fn entry_for(
    method: &Method,
    route: &str,
    params: &[(String, String)],
    body_names: &HashMap<String, String>,
    who: Who,
    client_addr: Option<String>,
    status: u16,
) -> AuditEntry {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let object_name = NAME_PARAMS
        .iter()
        .find_map(|p| param(p))
        .or_else(|| NAME_FIELDS.iter().find_map(|f| body_names.get(*f).cloned()))
        .or_else(|| {
            // The project itself, when it is what a route creates.
            (object_kind(route) == Some("project"))
                .then(|| param("projectName"))
                .flatten()
        });
    AuditEntry {
        user_id: who.user_id,
        username: who.username,
        token_id: who.token_id,
        client_addr,
        method: method.as_str().to_owned(),
        route: route.to_owned(),
        project: param("projectName"),
        object_kind: object_kind(route).map(str::to_owned),
        object_name,
        action: action(method, route),
        status: i64::from(status),
        outcome: if (200..400).contains(&status) {
            "ok"
        } else {
            "error"
        }
        .into(),
    }
}

/// Appends the record, then lets the answer go; fails closed. A refusal of an unauthenticated
/// caller other than its address's first of the interval is only counted.
async fn finish(
    app: &AppState,
    peer: Option<IpAddr>,
    entry: AuditEntry,
    resp: Response,
) -> Response {
    if entry.user_id.is_none()
        && entry.status >= 400
        && let Some(ip) = peer
        && !app.audit_summary.first(ip, resp.status().as_u16())
    {
        return resp;
    }
    match app.store.append_audit(&entry).await {
        Ok(_) => resp,
        Err(e) => {
            ApiError::internal(format!("cannot append to the audit trail: {e}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_first_refusal_is_recorded_the_rest_counted() {
        let s = Summary::new(Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert!(s.first(a, 401));
        assert!(!s.first(a, 401));
        assert!(!s.first(a, 429));
        assert!(s.first(b, 401));
        // The same /64 is the same client.
        assert!(!s.first("2001:db8:1:2::ffff".parse().unwrap(), 401));
        let state = s.state.lock().unwrap();
        assert_eq!(state.counted.len(), 3);
        assert_eq!(state.counted[&(Some(a), 401)], 1);
    }

    #[test]
    fn mutations_and_private_reads_are_audited() {
        let jwk = "/apiops/projects/{projectName}/jwks/{jwkName}";
        assert!(audited(&Method::GET, jwk));
        assert!(audited(&Method::PUT, jwk));
        assert!(audited(&Method::DELETE, jwk));
        assert!(audited(
            &Method::GET,
            "/apiops/projects/{projectName}/keys/{keyName}/export-file"
        ));
        assert!(audited(
            &Method::GET,
            "/apiops/projects/{projectName}/certificates/{certificateName}/export"
        ));
        assert!(audited(&Method::POST, "/apiops/auth/token"));
        assert!(!audited(
            &Method::GET,
            "/apiops/projects/{projectName}/jwks"
        ));
        assert!(!audited(
            &Method::GET,
            "/apiops/projects/{projectName}/keys/{keyName}"
        ));
        assert!(!audited(&Method::GET, "/apiops/audit"));
        assert!(!audited(&Method::POST, "/healthz"));
    }

    #[test]
    fn routes_name_their_objects_and_actions() {
        assert_eq!(
            object_kind(
                "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/export-file"
            ),
            Some("truststore")
        );
        assert_eq!(
            object_kind("/apiops/users/{username}/tokens/{tokenName}"),
            Some("token")
        );
        assert_eq!(object_kind("/apiops/projects"), Some("project"));
        assert_eq!(
            object_kind("/apiops/projects/{projectName}/members/{username}"),
            Some("member")
        );
        assert_eq!(
            action(
                &Method::POST,
                "/apiops/projects/{projectName}/jwks/parse-from-url"
            ),
            "parse-from-url"
        );
        assert_eq!(
            action(
                &Method::DELETE,
                "/apiops/projects/{projectName}/keys/{keyName}"
            ),
            "delete"
        );
        assert_eq!(action(&Method::POST, "/apiops/auth/token"), "issue-token");
    }

    #[test]
    fn force_is_read_from_the_query() {
        assert!(forced(Some("force=true")));
        assert!(forced(Some("a=b&force=TRUE")));
        assert!(!forced(Some("force=false")));
        assert!(!forced(None));
    }

    #[test]
    fn management_deletes_name_their_objects() {
        let entry = |route: &str, params: &[(&str, &str)]| {
            let params: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            entry_for(
                &Method::DELETE,
                route,
                &params,
                &HashMap::new(),
                Who::default(),
                None,
                200,
            )
        };
        for (route, params, kind, name) in [
            (
                "/apiops/projects/{projectName}",
                &[("projectName", "shop")][..],
                "project",
                "shop",
            ),
            (
                "/apiops/environments/{environmentName}",
                &[("environmentName", "production")][..],
                "environment",
                "production",
            ),
            (
                "/apiops/users/{username}",
                &[("username", "alice")][..],
                "user",
                "alice",
            ),
            (
                "/apiops/projects/{projectName}/members/{username}",
                &[("projectName", "shop"), ("username", "alice")][..],
                "member",
                "alice",
            ),
        ] {
            let e = entry(route, params);
            assert_eq!(e.object_kind.as_deref(), Some(kind), "{route}");
            assert_eq!(e.object_name.as_deref(), Some(name), "{route}");
            assert_eq!(e.action, "delete");
            assert!(audited(&Method::DELETE, route));
        }
        // Listing users, tokens and members is a read, not recorded.
        assert!(!audited(&Method::GET, "/apiops/users"));
        assert!(!audited(&Method::GET, "/apiops/users/{username}/tokens"));
        assert!(!audited(
            &Method::GET,
            "/apiops/projects/{projectName}/members"
        ));
    }
}
