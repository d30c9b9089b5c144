//! keyward's HTTP API: the Apinizer-compatible `/apiops/...` surface, its services and rules.
//!
//! Data flows one way: HTTP → route handler (extract, authorise) → service (rules, derivation,
//! cascades) → [`keyward_store::Store`]. Handlers never write SQL; the JOSE work is done by the pure
//! `keyward-jose` crate.

pub mod audit;
pub mod deployment;
pub mod edge;
pub mod envelope;
pub mod error;
pub mod fetch;
pub mod openapi;
pub mod publish;
mod routes;
pub mod server;
pub mod tls;

// The core's rules, under the names the door's modules have always used.
pub use keyward_core::{auth, heavy, messages, permissions};

pub use server::serve;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use keyward_core::Core;
use keyward_store::Store;
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::permissions::Principal;

/// Server settings that handlers need.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// What JWK-by-URL fetches may reach (`fetch.rs`).
    pub fetch: fetch::FetchPolicy,
    /// Request limits and brute-force protection (`edge.rs`).
    pub limits: edge::Limits,
    /// Public JWKS and agent deployments (`publish.rs`).
    pub publish: publish::PublishConfig,
    /// How often refusals of unauthenticated callers are summarised in the audit trail.
    pub audit_summary_interval: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            body_limit: 2 * 1024 * 1024,
            fetch: fetch::FetchPolicy::default(),
            limits: edge::Limits::default(),
            publish: publish::PublishConfig::default(),
            audit_summary_interval: Duration::from_secs(60),
        }
    }
}

/// How often each node chains audit records that no wake-up announced (`keyward_store` audit).
const AUDIT_SEQUENCER_INTERVAL: Duration = Duration::from_secs(1);

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// The core every handler calls (store, resolved callers, heavy-work pool, fetcher).
    pub core: Core,
    pub publisher: Arc<publish::Publisher>,
    pub config: Config,
    /// What the edge refused, logged once a second at most.
    pub overload: Arc<edge::Overload>,
    /// Refusals of unauthenticated callers awaiting their summary record.
    pub audit_summary: Arc<audit::Summary>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A handler passes `&state` where the core is wanted.
impl std::ops::Deref for Inner {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    pub async fn new(store: Store, config: Config) -> Result<AppState, ApiError> {
        let auth = Arc::new(Auth::new(store.clone()).await?);
        auth.watch_other_nodes();
        let publisher = publish::Publisher::new(store.clone(), config.publish.clone());
        let overload = Arc::new(edge::Overload::default());
        let heavy = {
            let overload = overload.clone();
            heavy::HeavyWork::new(
                config.limits.heavy_work,
                config.limits.heavy_work_wait,
                Arc::new(move || overload.note(edge::Refusal::HeavyBusy)),
            )
        };
        // Chains the audit records other nodes (or a node that died) left pending.
        store.spawn_sequencer(AUDIT_SEQUENCER_INTERVAL);
        let audit_summary = Arc::new(audit::Summary::new(config.audit_summary_interval));
        // Ends each summary interval; stops when the state is dropped.
        let summary = Arc::downgrade(&audit_summary);
        let summary_store = store.clone();
        let every = config.audit_summary_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(summary) = summary.upgrade() else {
                    return;
                };
                summary.flush(&summary_store).await;
            }
        });
        let fetcher = Arc::new(fetch::PolicyFetcher::new(config.fetch.clone()));
        Ok(AppState(Arc::new(Inner {
            core: Core {
                store,
                auth,
                heavy,
                fetcher,
            },
            publisher,
            config,
            overload,
            audit_summary,
        })))
    }
}

/// The authenticated caller of a request (401 otherwise). Agent tokens are refused: they may only
/// use [`AgentCaller`] routes.
pub struct Caller(pub Arc<Principal>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let principal = authenticate(parts, state).await?;
        if let Some((_, environment)) = &principal.environment {
            return Err(ApiError::bad_request(messages::agent_token_only(
                environment,
            )));
        }
        Ok(Caller(principal))
    }
}

/// The caller of an agent route: any authenticated token, agent tokens included (the route checks
/// which environment an agent token may follow).
pub struct AgentCaller(pub Arc<Principal>);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<AgentCaller, ApiError> {
        Ok(AgentCaller(authenticate(parts, state).await?))
    }
}

/// Resolves the bearer token, tells the brute-force guard and the audit record who called.
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Arc<Principal>, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let result = state.auth.authenticate(header).await;
    // Tell the brute-force guard what the token check found (a missing token is no guess).
    if let Some(outcome) = parts.extensions.get::<edge::AuthOutcome>() {
        match &result {
            Ok(_) => outcome.accepted(),
            Err(e) if e.kind == keyward_core::Kind::Unauthenticated && header.is_some() => {
                outcome.rejected()
            }
            Err(_) => {}
        }
    }
    let principal = result?;
    if let Some(audit) = parts.extensions.get::<audit::Audit>() {
        audit.principal(&principal);
    }
    Ok(principal)
}

/// Request headers whose values never reach a log line.
const SENSITIVE_HEADERS: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::HeaderName::from_static(keyward_core::package::PASSPHRASE_HEADER),
];

/// The complete service: routes, OpenAPI document, limits, error normalisation, and trailing-slash
/// tolerance (every path is accepted with and without its trailing `/`).
pub fn app(state: AppState) -> NormalizePath<Router> {
    let body_limit = state.config.body_limit;
    let limits = state.config.limits.clone();
    let guard = Arc::new(edge::Guard {
        throttle: edge::Throttle::new(limits.brute_force.clone()),
        trusted_proxies: limits.trusted_proxies.clone(),
        overload: state.overload.clone(),
    });
    let capacity = Arc::new(edge::Capacity::new(&limits, state.overload.clone()));
    let body_read = Arc::new(edge::BodyRead {
        timeout: limits.body_read_timeout,
        request_timeout: limits.request_timeout,
        limit: body_limit,
        overload: state.overload.clone(),
    });
    let json_cap = edge::JsonCap {
        max_depth: limits.json_max_depth,
        body_limit,
    };
    let hsts = limits.tls;
    let (router, api) = routes::router().split_for_parts();
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    openapi::finish(&mut doc);
    let api_json: Arc<str> = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|_| "{}".into())
        .into();
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let body = api_json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        body.to_string(),
                    )
                }
            }),
        )
        .fallback(no_route)
        .with_state(state.clone())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(json_cap, edge::json_depth))
        .layer(middleware::from_fn_with_state(guard, edge::brute_force))
        .layer(middleware::map_response(move |r| {
            normalize_errors(r, body_limit)
        }))
        .layer(middleware::from_fn_with_state(state, audit::record))
        // Outside the audit record: an overload refusal is not recorded.
        .layer(middleware::from_fn_with_state(capacity, edge::capacity))
        // Outside the cap: a body is read in full (within its deadline) before the request takes
        // a slot, so a client that trickles its body holds no slot.
        .layer(middleware::from_fn_with_state(body_read, edge::body_deadline))
        .layer(tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new(SENSITIVE_HEADERS))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                // Method and path only: a query string may carry a password.
                .make_span_with(|req: &Request| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
                )
                // Not ERROR per 5xx: an overload would write a line per refused request (the
                // edge's refusals are summarised by `edge::Overload`; real faults log themselves).
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            security_headers(req, next, hsts)
        }));
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

async fn no_route(req: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: messages::no_route(req.method().as_str(), req.uri().path()),
    }
}

/// Headers on every answer: nothing is cached, sniffed, framed, embedded or sent as referrer
/// (the public JWKS alone sets its own caching and cross-origin policy); over TLS, browsers are
/// told to keep using it.
async fn security_headers(req: Request, next: Next, hsts: bool) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Nothing is cached, unless the handler said otherwise (the public JWKS).
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry("cross-origin-resource-policy")
        .or_insert(HeaderValue::from_static("same-origin"));
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// Turns every error the framework answers by itself (bad JSON, wrong content type, oversized
/// body, unknown method, panics) into the documented error envelope.
async fn normalize_errors(resp: Response, body_limit: usize) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let (status, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (status, messages::body_too_large(body_limit)),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => (
            status,
            if text.is_empty() {
                "This endpoint does not accept that method!".to_owned()
            } else {
                text
            },
        ),
        s if s.is_server_error() => (
            StatusCode::INTERNAL_SERVER_ERROR,
            messages::SERVER_ERROR.to_owned(),
        ),
        StatusCode::UNAUTHORIZED => (status, text),
        // 415 (content type) and 422 (JSON shape) are validation failures: 400.
        _ => (
            StatusCode::BAD_REQUEST,
            if text.is_empty() {
                "Bad request!".to_owned()
            } else {
                text
            },
        ),
    };
    error::envelope(status, &message).into_response()
}

/// How long `serve`'s caller should wait for draining before giving up.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
