//! The management extension API (00-product §3): environments, projects, users, members, personal
//! access tokens, and Apinizer's client-credentials token endpoint.

use std::collections::BTreeSet;

use axum::Extension;
use axum::extract::{Path, State};
use axum::{Form, Json};
use keyward_store::{NewToken, StoreError, TokenKind, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{AuditSlot, Who};
use crate::auth::new_token;
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::permissions::{Action, Category, Need, Principal};
use crate::service::{check_name, environment_named, one_of, project_for, required, required_name};
use crate::{AppState, Caller, messages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_environment, list_environments))
        .routes(routes!(create_project, list_projects))
        .routes(routes!(project_environments))
        .routes(routes!(create_user))
        .routes(routes!(set_members))
        .routes(routes!(create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(client_credentials))
}

fn require_sys_admin(caller: &Principal) -> ApiResult<()> {
    if caller.sys_admin {
        Ok(())
    } else {
        Err(ApiError::denied())
    }
}

const ENV_TYPES: &[&str] = &["PRODUCTION", "SANDBOX", "TEST"];

#[derive(Debug, Deserialize, ToSchema)]
pub struct EnvironmentCreate {
    name: Option<String>,
    description: Option<String>,
    /// `PRODUCTION`, `SANDBOX` or `TEST`.
    #[serde(rename = "type")]
    env_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentItem {
    id: String,
    name: String,
    description: String,
    #[serde(rename = "type")]
    env_type: String,
    /// Bumped on every deploy/undeploy in this environment.
    revision: i64,
}

impl From<&keyward_store::Environment> for EnvironmentItem {
    fn from(e: &keyward_store::Environment) -> EnvironmentItem {
        EnvironmentItem {
            id: e.id.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            env_type: e.env_type.clone(),
            revision: e.revision,
        }
    }
}

/// Create an environment (system admin). Every existing JWK is deployed to it.
#[utoipa::path(post, path = "/apiops/environments", tag = "Management", request_body = EnvironmentCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_environment(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<EnvironmentCreate>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let name = required_name("name", body.name.as_deref())?;
    let env_type = required("type", body.env_type.as_deref())?;
    one_of(
        "type",
        &env_type,
        |t| ENV_TYPES.contains(&t).then_some(()),
        ENV_TYPES,
    )?;
    let (env, deployed) = app
        .store
        .create_environment(
            &name,
            body.description.as_deref().unwrap_or_default(),
            &env_type,
        )
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::environment_exists(&name)),
            other => other.into(),
        })?;
    Ok(Success::one(EnvironmentItem::from(&env)).deployment(app.publisher.settle(&deployed).await))
}

/// List every environment (any authenticated user).
#[utoipa::path(get, path = "/apiops/environments", tag = "Management",
    responses((status = 200, body = crate::openapi::SuccessEnvelope)))]
async fn list_environments(
    State(app): State<AppState>,
    Caller(_caller): Caller,
) -> ApiResult<Success> {
    let envs = app
        .store
        .list_environments()
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(envs.iter().map(EnvironmentItem::from)))
}

/// Environments reachable from a project (any permission in the project).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/environments", tag = "Management",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn project_environments(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    project_for(&app, &caller, &project, Need::Read).await?;
    let envs = app
        .store
        .list_environments()
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(envs.iter().map(EnvironmentItem::from)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectCreate {
    name: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectItem {
    id: String,
    name: String,
    description: String,
}

/// Create a project (system admin).
#[utoipa::path(post, path = "/apiops/projects", tag = "Management", request_body = ProjectCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_project(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<ProjectCreate>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let name = required_name("name", body.name.as_deref())?;
    let p = app
        .store
        .create_project(&name, body.description.as_deref().unwrap_or_default())
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::project_exists(&name)),
            other => other.into(),
        })?;
    Ok(Success::one(ProjectItem {
        id: p.id,
        name: p.name,
        description: p.description,
    }))
}

/// Projects the caller is a member of (a system admin sees all).
#[utoipa::path(get, path = "/apiops/projects", tag = "Management",
    responses((status = 200, body = crate::openapi::SuccessEnvelope)))]
async fn list_projects(State(app): State<AppState>, Caller(caller): Caller) -> ApiResult<Success> {
    let projects = app
        .store
        .list_projects()
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(
        projects
            .into_iter()
            .filter(|p| caller.is_member(&p.id))
            .map(|p| ProjectItem {
                id: p.id,
                name: p.name,
                description: p.description,
            }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserCreate {
    username: Option<String>,
    /// At least 8 characters.
    password: Option<String>,
    #[serde(default)]
    sys_admin: bool,
}

/// Create a user (system admin).
#[utoipa::path(post, path = "/apiops/users", tag = "Management", request_body = UserCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<UserCreate>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let username = required_name("username", body.username.as_deref())?;
    let password = body.password.unwrap_or_default();
    if password.is_empty() {
        return Err(ApiError::bad_request(messages::empty("password")));
    }
    if password.chars().count() < 8 {
        return Err(ApiError::bad_request(messages::PASSWORD_TOO_SHORT));
    }
    let phc = app.passwords.hash(password).await?;
    let user = app
        .store
        .create_user(&username, &phc, body.sys_admin)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::user_exists(&username)),
            other => other.into(),
        })?;
    Ok(Success::one(
        json!({"id": user.id, "username": user.username, "sysAdmin": user.sys_admin}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PermissionItem {
    /// `API_MANAGEMENT`, `CONNECTIONS`, `IDENTITY`, `SECRETS`, `GLOBAL_SETTINGS`, `PROJECT_MANAGEMENT`.
    category: Option<String>,
    /// `VIEW`, `MANAGE`, `DEPLOY_UNDEPLOY`, `EXPORT_IMPORT`.
    action: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MembersPut {
    permissions: Option<Vec<PermissionItem>>,
}

/// Replace a user's permissions in a project (system admin). An empty list removes the user.
#[utoipa::path(put, path = "/apiops/projects/{projectName}/members/{username}", tag = "Management",
    params(("projectName" = String, Path), ("username" = String, Path)), request_body = MembersPut,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn set_members(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, username)): Path<(String, String)>,
    Json(body): Json<MembersPut>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let user = app
        .store
        .user_by_username(&username)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::user_not_found(&username)))?;
    let mut grants = BTreeSet::new();
    for p in body.permissions.unwrap_or_default() {
        let c = required("category", p.category.as_deref())?;
        let a = required("action", p.action.as_deref())?;
        let c = one_of("category", &c, Category::parse, Category::NAMES)?;
        let a = one_of("action", &a, Action::parse, Action::NAMES)?;
        grants.insert((c.as_str().to_owned(), a.as_str().to_owned()));
    }
    let grants: Vec<(String, String)> = grants.into_iter().collect();
    app.store
        .set_permissions(&project.id, &user.id, &grants)
        .await?;
    app.auth.identity_changed().await;
    let list: Vec<Value> = grants
        .iter()
        .map(|(c, a)| json!({"category": c, "action": a}))
        .collect();
    Ok(Success::one(
        json!({"projectName": project.name, "username": user.username, "permissions": list}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreate {
    name: Option<String>,
    /// `null` (never expires) or an RFC 3339 date-time in the future.
    expires_at: Option<String>,
    /// Makes an agent token (docs/agent.md): it can only follow this environment through the
    /// agent endpoints, reading there the projects the user may read.
    environment_name: Option<String>,
}

/// Create a personal API access token for a user (that user, or a system admin); with
/// `environmentName`, an agent token that can only follow that environment. The token is in the
/// answer once and never again.
#[utoipa::path(post, path = "/apiops/users/{username}/tokens", tag = "Management",
    params(("username" = String, Path)), request_body = TokenCreate,
    responses((status = 200, description = "`resultList: [{name, token, expiresAt}]`", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_token(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(username): Path<String>,
    Json(body): Json<TokenCreate>,
) -> ApiResult<Success> {
    let user = user_acting_on(&app, &caller, &username).await?;
    let name = required("name", body.name.as_deref())?;
    check_name("name", &name)?;
    let expires_at = match body.expires_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let t =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| ApiError::bad_request(messages::EXPIRES_AT_INVALID))?;
            let ms = (t.unix_timestamp_nanos() / 1_000_000) as i64;
            if ms <= now_ms() {
                return Err(ApiError::bad_request(messages::EXPIRES_AT_INVALID));
            }
            Some((ms, text.to_owned()))
        }
    };
    let environment = match body.environment_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(env) => Some(environment_named(&app, env).await?),
    };
    // An agent token only for a user who deploys somewhere (00-product §1): its bundle would
    // carry nothing the user may not already read, and its acknowledgements speak for gateways.
    if environment.is_some() {
        let owner = Principal::new(
            user.id.clone(),
            user.username.clone(),
            user.sys_admin,
            String::new(),
            None,
            &app.store.grants_of(&user.id).await?,
        );
        if !owner.deploys_somewhere() {
            return Err(ApiError::bad_request(messages::AGENT_TOKEN_NEEDS_DEPLOY));
        }
    }
    let token = new_token();
    let new = NewToken {
        user_id: user.id,
        name: name.clone(),
        kind: if environment.is_some() {
            TokenKind::Agent
        } else {
            TokenKind::Personal
        },
        secret_hash: app.auth.hash_token(&token).to_vec(),
        expires_at: expires_at.as_ref().map(|(ms, _)| *ms),
        environment_id: environment.as_ref().map(|e| e.id.clone()),
    };
    app.store.create_token(&new).await.map_err(|e| match e {
        StoreError::AlreadyExists => ApiError::bad_request(messages::token_exists(&name)),
        other => other.into(),
    })?;
    Ok(Success::one(json!({
        "name": name,
        "token": token,
        "expiresAt": expires_at.map(|(_, t)| t),
        "environmentName": environment.map(|e| e.name),
    })))
}

/// Revoke a personal API access token (that user, or a system admin); effective on the next request.
#[utoipa::path(delete, path = "/apiops/users/{username}/tokens/{tokenName}", tag = "Management",
    params(("username" = String, Path), ("tokenName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn revoke_token(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((username, token_name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let user = user_acting_on(&app, &caller, &username).await?;
    app.store
        .delete_token(&user.id, &token_name)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::token_not_found(&token_name)),
            other => other.into(),
        })?;
    app.auth.identity_changed().await;
    Ok(Success::empty().message(format!("Token (name: {token_name}) is revoked.")))
}

/// The user a token operation is about: the caller themself, or anyone for a system admin.
async fn user_acting_on(
    app: &AppState,
    caller: &Principal,
    username: &str,
) -> ApiResult<keyward_store::User> {
    if !caller.sys_admin && caller.username != username {
        return Err(ApiError::denied());
    }
    app.store
        .user_by_username(username)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::user_not_found(username)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientCredentials {
    /// Must be `client_credentials`.
    grant_type: Option<String>,
    /// The username.
    client_id: Option<String>,
    /// The password.
    client_secret: Option<String>,
}

/// Seconds a client-credentials token lives.
const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// Apinizer's client-credentials token endpoint: a username and password buy a one-hour token.
#[utoipa::path(post, path = "/apiops/auth/token", tag = "Management", security(()),
    request_body(content = ClientCredentials, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{\"access_token\",\"token_type\":\"Bearer\",\"expires_in\":3600}`"),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 401, body = crate::openapi::ErrorEnvelope)))]
async fn client_credentials(
    State(app): State<AppState>,
    audit: Option<Extension<AuditSlot>>,
    Form(form): Form<ClientCredentials>,
) -> ApiResult<Json<Value>> {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(ApiError::bad_request(messages::GRANT_TYPE));
    }
    let username = form.client_id.unwrap_or_default();
    let password = form.client_secret.unwrap_or_default();
    let user = app
        .store
        .user_by_username(&username)
        .await
        .map_err(ApiError::internal)?;
    // Verify against a dummy hash for unknown users too, so timing does not reveal them.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_PHC.to_owned());
    let ok = app.passwords.verify(password, phc).await?;
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(ApiError::unauthorized(messages::BAD_CREDENTIALS)),
    };
    let token = new_token();
    let expires = now_ms() + ACCESS_TOKEN_SECONDS * 1000;
    let token_id = app
        .store
        .create_token(&NewToken {
            user_id: user.id.clone(),
            name: format!("client-credentials-{}", keyward_store::new_id()),
            kind: TokenKind::ClientCredentials,
            secret_hash: app.auth.hash_token(&token).to_vec(),
            expires_at: Some(expires),
            environment_id: None,
        })
        .await?;
    if let Some(Extension(slot)) = audit {
        slot.set(Who {
            user_id: Some(user.id),
            username: Some(user.username),
            token_id: Some(token_id),
        });
    }
    // Opportunistic clean-up of long-expired client-credentials tokens.
    let _ = app
        .store
        .purge_expired_tokens(now_ms() - 24 * 3600 * 1000)
        .await;
    Ok(Json(
        json!({"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS}),
    ))
}

/// Argon2id hash of a random string nobody knows; used to keep unknown-user timing equal.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$dGhpcyBpcyBub3QgYSByZWFsIGhhc2ggb2Yga2V5d2FyZA";
