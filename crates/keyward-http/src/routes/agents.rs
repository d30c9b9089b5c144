//! Agents following an environment (docs/agent.md): the long-polled bundle of what is deployed
//! there, acknowledgements of revisions, and the list of an environment's agents.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_store::{Environment, Store, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Audit, Declared, Name, PublicOnly};
use crate::edge::{PeerAddr, client_ip};
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::{AgentCaller, AppState, Caller, messages};
use keyward_core::agents::{agent_bundle, environment_revision};
use keyward_core::{check_name, environment_named, iso_ms};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::private_read(
        "/apiops/environments/{environmentName}/agent/bundle",
        "read-bundle",
        "environment",
        Name::Path("environmentName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/environments/{environmentName}/agent/ack",
        "agent-ack",
        "agent",
        Name::Body("agent"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bundle))
        .routes(routes!(ack))
        .routes(routes!(list_agents))
}

/// Longest long poll, whatever the agent asks.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Default long poll.
const DEFAULT_WAIT: Duration = Duration::from_secs(25);
/// How long an agent counts as connected after a bundle, while it applies it and acknowledges.
const RECONNECT_SLACK: Duration = Duration::from_secs(10);
/// How long an agent counts as connected after an acknowledgement, before it polls again (at once).
const ACK_SLACK: Duration = Duration::from_secs(3);
/// Longest acknowledgement detail kept.
const MAX_DETAIL: usize = 2_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BundleQuery {
    /// The agent's name (its `podName` in deployment results).
    agent: Option<String>,
    /// Long poll: answer once the environment's revision is greater than this.
    after: Option<i64>,
    /// Long-poll seconds (default 25, at most 60 and below the server's request timeout).
    wait: Option<u64>,
    /// Comma-separated project names to include (default: every readable project).
    projects: Option<String>,
}

/// The environment an agent route is about, once the caller may follow it: an agent token of
/// that environment, or a system admin's token.
async fn followed_environment(
    app: &AppState,
    caller: &crate::permissions::Principal,
    name: &str,
) -> ApiResult<Environment> {
    let env = environment_named(app, name).await?;
    match &caller.environment {
        Some((id, _)) if *id == env.id => Ok(env),
        Some((_, token_env)) => Err(ApiError::bad_request(messages::agent_environment_mismatch(
            token_env, name,
        ))),
        None if caller.sys_admin => Ok(env),
        None => Err(ApiError::denied()),
    }
}

fn agent_name(given: Option<&str>) -> ApiResult<String> {
    let name = given.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request(messages::AGENT_NAME_REQUIRED));
    }
    check_name("agent", name)?;
    Ok(name.to_owned())
}

fn address(
    app: &AppState,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
    headers: &HeaderMap,
) -> String {
    peer.map(|Extension(ConnectInfo(PeerAddr(p)))| {
        client_ip(p.ip(), headers, &app.config.limits.trusted_proxies).to_string()
    })
    .unwrap_or_default()
}

/// `204`: no new revision (nothing private was read, so the audit trail skips it).
fn nothing_new() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.extensions_mut().insert(PublicOnly);
    resp
}

/// Marks the agent gone if its poll ends because the connection closed.
struct PollGuard {
    store: Store,
    environment_id: String,
    agent: String,
    armed: bool,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        if self.armed {
            let store = self.store.clone();
            let (env, agent) = (self.environment_id.clone(), self.agent.clone());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = store.agent_gone(&env, &agent, now_ms()).await {
                        tracing::warn!(error = %e, "cannot record that an agent left");
                    }
                });
            }
        }
    }
}

/// What is deployed in an environment, for an agent: certificates, keys, keystores and JWKs of
/// every project the token's owner may read. With `after`, a long poll: `204` when the revision
/// is still not greater than `after` after `wait` seconds.
#[utoipa::path(get, path = "/apiops/environments/{environmentName}/agent/bundle", tag = "Agents",
    params(("environmentName" = String, Path), BundleQuery),
    responses((status = 200, description = "`resultList: [bundle]` (docs/agent.md)", body = crate::openapi::SuccessEnvelope),
        (status = 204, description = "No new revision within `wait`"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn bundle(
    State(app): State<AppState>,
    AgentCaller(caller): AgentCaller,
    Path(environment): Path<String>,
    Query(q): Query<BundleQuery>,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let env = followed_environment(&app, &caller, &environment).await?;
    let agent = agent_name(q.agent.as_deref())?;
    let ceiling = app
        .config
        .limits
        .request_timeout
        .saturating_sub(Duration::from_secs(5))
        .clamp(Duration::from_secs(1), MAX_WAIT);
    let wait = q
        .wait
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .clamp(Duration::from_secs(1), ceiling);
    let address = address(&app, peer, &headers);
    let now = now_ms();
    let polling = q.after.map_or(Duration::ZERO, |_| wait);
    let claimed = app
        .store
        .agent_contact(
            &env.id,
            &agent,
            &caller.token_id,
            &address,
            now,
            now + (polling + RECONNECT_SLACK).as_millis() as i64,
        )
        .await
        .map_err(ApiError::internal)?;
    if !claimed {
        return Err(ApiError::bad_request(messages::agent_name_taken(&agent)));
    }
    let mut guard = PollGuard {
        store: app.store.clone(),
        environment_id: env.id.clone(),
        agent: agent.clone(),
        armed: true,
    };
    if let Some(after) = q.after {
        let mut changes = app.publisher.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            changes.borrow_and_update();
            let revision = environment_revision(&app, &env.id).await?;
            if revision > after {
                break;
            }
            tokio::select! {
                _ = changes.changed() => {}
                // The server is stopping: end the poll now rather than hold the drain.
                _ = app.publisher.closing() => {
                    return Ok(nothing_new());
                }
                // Changes made on other nodes sharing the store.
                _ = tokio::time::sleep(crate::publish::STORE_RECHECK * 5) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    guard.armed = false;
                    return Ok(nothing_new());
                }
            }
        }
    }
    let projects: Option<Vec<String>> = q.projects.as_deref().map(|p| {
        p.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let bundle = agent_bundle(&app, &caller, &env, projects.as_deref()).await?;
    guard.armed = false;
    Ok(Success::one(bundle).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Ack {
    agent: Option<String>,
    revision: Option<i64>,
    success: Option<bool>,
    detail: Option<String>,
}

/// An agent reports the revision it applied and how that went.
#[utoipa::path(post, path = "/apiops/environments/{environmentName}/agent/ack", tag = "Agents",
    params(("environmentName" = String, Path)), request_body = Ack,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn ack(
    State(app): State<AppState>,
    AgentCaller(caller): AgentCaller,
    audit: Audit,
    Path(environment): Path<String>,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
    headers: HeaderMap,
    Json(body): Json<Ack>,
) -> ApiResult<Success> {
    let env = followed_environment(&app, &caller, &environment).await?;
    let agent = agent_name(body.agent.as_deref())?;
    let current = environment_revision(&app, &env.id).await?;
    let revision = match body.revision {
        Some(r) if (0..=current).contains(&r) => r,
        Some(r) => return Err(ApiError::bad_request(messages::ack_revision(r, current))),
        None => return Err(ApiError::bad_request(messages::empty("revision"))),
    };
    let success = body
        .success
        .ok_or_else(|| ApiError::bad_request(messages::empty("success")))?;
    let detail: String = body
        .detail
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(MAX_DETAIL)
        .collect();
    let now = now_ms();
    let claimed = app
        .store
        .agent_ack(
            &env.id,
            &agent,
            &caller.token_id,
            &address(&app, peer, &headers),
            revision,
            success,
            &detail,
            now,
            now + ACK_SLACK.as_millis() as i64,
            &audit.named(&agent),
        )
        .await
        .map_err(ApiError::internal)?;
    if !claimed {
        return Err(ApiError::bad_request(messages::agent_name_taken(&agent)));
    }
    app.publisher.acknowledged();
    Ok(Success::empty())
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentItem {
    name: String,
    address: String,
    environment_name: String,
    /// Polling now (or answered less than a few seconds ago).
    connected: bool,
    first_contact: String,
    last_contact: String,
    /// The environment's current revision.
    environment_revision: i64,
    /// The revision the agent last acknowledged, its result and detail.
    last_revision: Option<i64>,
    last_success: Option<bool>,
    last_detail: Option<String>,
    last_acknowledged: Option<String>,
}

/// The agents that follow an environment (any authenticated user): their last revision and
/// last contact.
#[utoipa::path(get, path = "/apiops/environments/{environmentName}/agents", tag = "Agents",
    params(("environmentName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn list_agents(
    State(app): State<AppState>,
    Caller(_caller): Caller,
    Path(environment): Path<String>,
) -> ApiResult<Success> {
    let env = environment_named(&app, &environment).await?;
    let revision = environment_revision(&app, &env.id).await?;
    let agents = app
        .store
        .agents(&env.id)
        .await
        .map_err(ApiError::internal)?;
    let now = now_ms();
    Ok(Success::list(agents.into_iter().map(|a| AgentItem {
        connected: a.connected(now),
        name: a.name,
        address: a.address,
        environment_name: env.name.clone(),
        first_contact: iso_ms(a.first_contact),
        last_contact: iso_ms(a.last_contact),
        environment_revision: revision,
        last_revision: a.acked_revision,
        last_success: a.acked_success.map(|s| s != 0),
        last_detail: a.acked_detail,
        last_acknowledged: a.acked_at.map(iso_ms),
    })))
}
