//! Recording the audit trail (issue #11, `SECURITY.md`).
//!
//! Every audited route **declares** what it records beside its handler (a [`Declared`] in its
//! routes file, collected in [`crate::routes::declarations`]): the action, the object kind, and
//! where the object's name comes from. Nothing is inferred from URL strings and no body is read
//! here: a handler names the object from the fields it parsed itself ([`Audit::named`]).
//!
//! - A **mutation** writes its record in its own transaction: the handler passes
//!   [`Audit::named`]'s entry to the store, which writes it beside the change — both commit or
//!   neither does, and a client that leaves mid-request cannot leave a change unrecorded.
//! - A **refused or failed** request, and a **read of private material** (a JWK with private
//!   members, every `…/export` and `…/export-file`, an agent's bundle), are recorded by the
//!   middleware before the answer leaves, in a transaction of their own; if that record cannot be
//!   written the caller gets a 500 instead of the answer (fail closed).
//!
//! Who is the principal the [`crate::Caller`] extractor resolved, or, for the client-credentials
//! endpoint, the user the token was issued to (or the claimed `client_id` of a refused attempt).
//! The client address is the one the edge uses (`--trusted-proxies`). Never recorded: tokens,
//! passwords, key material, bodies.
//!
//! Requests refused to a caller who never authenticated (no token, a bad one, a failed login, a
//! body refused before any check) are summarised ([`Summary`]): per client address and interval
//! the first is recorded as above, the others are counted and written as one summary record per
//! status when the interval ends — a flood of them cannot write a record per request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
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

/// Where a route's object name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// A path parameter.
    Path(&'static str),
    /// A field of the body (or form), as the handler parsed it; the handler reports it.
    Body(&'static str),
    /// The route's object is the caller's own session (`/apiops/auth/token`): none.
    None,
}

/// What one route records (module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    pub method: &'static str,
    /// The route template, as in the OpenAPI document.
    pub route: &'static str,
    pub action: &'static str,
    pub kind: &'static str,
    pub name: Name,
    /// A `GET` that returns private material (recorded before it leaves), not a mutation.
    pub private_read: bool,
}

impl Declared {
    /// A route that changes the store; its record is written in the change's transaction.
    pub const fn mutation(
        method: &'static str,
        route: &'static str,
        action: &'static str,
        kind: &'static str,
        name: Name,
    ) -> Declared {
        Declared {
            method,
            route,
            action,
            kind,
            name,
            private_read: false,
        }
    }

    /// A `GET` that returns private material.
    pub const fn private_read(
        route: &'static str,
        action: &'static str,
        kind: &'static str,
        name: Name,
    ) -> Declared {
        Declared {
            method: "GET",
            route,
            action,
            kind,
            name,
            private_read: true,
        }
    }
}

/// Every declaration by method and route.
static DECLARED: LazyLock<HashMap<(&'static str, &'static str), &'static Declared>> =
    LazyLock::new(|| {
        crate::routes::declarations()
            .map(|d| ((d.method, d.route), d))
            .collect()
    });

/// Who made the request, as far as the handlers found out.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub token_id: Option<String>,
}

/// The audit context of one request (a request extension): the route's declaration, what the
/// edge and the handlers found out, and whether a mutation wrote its record.
#[derive(Clone)]
pub struct Audit(Arc<Context>);

struct Context {
    declared: &'static Declared,
    method: String,
    project: Option<String>,
    client_addr: Option<String>,
    state: Mutex<Found>,
}

#[derive(Default)]
struct Found {
    who: Who,
    name: Option<String>,
    action: Option<&'static str>,
}

impl Audit {
    pub fn principal(&self, p: &Principal) {
        self.set(Who {
            user_id: Some(p.user_id.clone()),
            username: Some(p.username.clone()),
            token_id: Some(p.token_id.clone()),
        });
    }

    pub fn set(&self, who: Who) {
        if let Ok(mut f) = self.0.state.lock() {
            f.who = who;
        }
    }

    /// Names the object (the value the handler parsed and acts on).
    pub fn name(&self, name: &str) {
        if let Ok(mut f) = self.0.state.lock() {
            f.name = Some(name.chars().take(MAX_NAME).collect());
        }
    }

    /// Replaces the declared action (a `DELETE` with `force=true` is a `force-delete`).
    pub fn action(&self, action: &'static str) {
        if let Ok(mut f) = self.0.state.lock() {
            f.action = Some(action);
        }
    }

    /// The record of the mutation about to be made on the object `name`: the store writes it in
    /// the mutation's transaction.
    pub fn named(&self, name: &str) -> AuditEntry {
        self.name(name);
        self.entry(200)
    }

    /// The record of the mutation about to be made on the object the path names.
    pub fn path_named(&self) -> AuditEntry {
        self.entry(200)
    }

    fn entry(&self, status: u16) -> AuditEntry {
        let (who, name, action) = match self.0.state.lock() {
            Ok(f) => (f.who.clone(), f.name.clone(), f.action),
            Err(_) => (Who::default(), None, None),
        };
        let d = self.0.declared;
        AuditEntry {
            user_id: who.user_id,
            username: who.username,
            token_id: who.token_id,
            client_addr: self.0.client_addr.clone(),
            method: self.0.method.clone(),
            route: d.route.to_owned(),
            project: self.0.project.clone(),
            object_kind: Some(d.kind.to_owned()),
            object_name: name,
            action: action.unwrap_or(d.action).to_owned(),
            status: i64::from(status),
            outcome: if (200..400).contains(&status) {
                "ok"
            } else {
                "error"
            }
            .into(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Audit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Audit, ApiError> {
        parts.extensions.get::<Audit>().cloned().ok_or_else(|| {
            // `routes::every_mutating_route_declares_its_audit` keeps this from happening.
            ApiError::internal("this route declares no audit record")
        })
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

/// Longest object name kept.
const MAX_NAME: usize = 200;

/// The middleware (see the module documentation).
pub async fn record(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| DECLARED.get(&(req.method().as_str(), m.as_str())))
        .copied();
    let Some(declared) = declared else {
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
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<crate::edge::PeerAddr>>()
        .map(|c| c.0.0.ip());
    let client = peer
        .map(|ip| crate::edge::client_ip(ip, &parts.headers, &app.config.limits.trusted_proxies));
    let audit = Audit(Arc::new(Context {
        declared,
        method: parts.method.as_str().to_owned(),
        project: param("projectName"),
        client_addr: client.map(|ip| ip.to_string()),
        state: Mutex::new(Found {
            name: match declared.name {
                Name::Path(p) => param(p),
                Name::Body(_) | Name::None => None,
            },
            ..Found::default()
        }),
    }));
    parts.extensions.insert(audit.clone());
    let resp = next.run(Request::from_parts(parts, body)).await;
    let status = resp.status();
    if status.is_success() && !declared.private_read {
        // The mutation wrote its record in its own transaction.
        return resp;
    }
    if declared.private_read && resp.extensions().get::<PublicOnly>().is_some() {
        return resp;
    }
    let entry = audit.entry(status.as_u16());
    if entry.user_id.is_none()
        && status.as_u16() >= 400
        && let Some(ip) = client
        && !app.audit_summary.first(ip, status.as_u16())
    {
        return resp;
    }
    match app.store.append_audit(&entry).await {
        Ok(()) => resp,
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

    fn context(declared: &'static Declared, name: Option<&str>) -> Audit {
        Audit(Arc::new(Context {
            declared,
            method: declared.method.to_owned(),
            project: Some("shop".into()),
            client_addr: Some("192.0.2.7".into()),
            state: Mutex::new(Found {
                name: name.map(str::to_owned),
                ..Found::default()
            }),
        }))
    }

    #[test]
    fn a_record_names_what_the_handler_names() {
        static D: Declared = Declared::mutation(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-certificate",
            "parse-from-certificate",
            "jwk",
            Name::Body("name"),
        );
        let audit = context(&D, None);
        let e = audit.named("signing");
        assert_eq!(e.object_name.as_deref(), Some("signing"));
        assert_eq!(e.object_kind.as_deref(), Some("jwk"));
        assert_eq!(e.action, "parse-from-certificate");
        assert_eq!((e.status, e.outcome.as_str()), (200, "ok"));
        assert_eq!(e.client_addr.as_deref(), Some("192.0.2.7"));
        // A failure after the name was parsed still names it.
        let failed = audit.entry(400);
        assert_eq!(failed.object_name.as_deref(), Some("signing"));
        assert_eq!(failed.outcome, "error");
        // Names are capped.
        let long = "n".repeat(500);
        assert_eq!(
            audit.named(&long).object_name.map(|n| n.len()),
            Some(MAX_NAME)
        );
    }

    #[test]
    fn a_forced_delete_says_so() {
        static D: Declared = Declared::mutation(
            "DELETE",
            "/apiops/projects/{projectName}",
            "delete",
            "project",
            Name::Path("projectName"),
        );
        let audit = context(&D, Some("shop"));
        audit.action("force-delete");
        let e = audit.path_named();
        assert_eq!(e.action, "force-delete");
        assert_eq!(e.object_name.as_deref(), Some("shop"));
    }
}
