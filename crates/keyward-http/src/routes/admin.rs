//! The management extension API (00-product §3): environments, projects, users, members, personal
//! access tokens, and Apinizer's client-credentials token endpoint.

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::{Form, Json};
use keyward_store::{NewToken, StoreError, TokenKind, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Audit, Declared, Name, Who};
use crate::auth::new_token;
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult, OAuthError};
use crate::permissions::{Action, Category, Need, Principal};
use crate::{AppState, Caller, messages};
use keyward_core::identity::{self, require_sys_admin, user_acting_on};
use keyward_core::{
    check_name, environment_named, iso_ms, one_of, project_for, required, required_name,
};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/environments",
        "create",
        "environment",
        Name::Body("name"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/environments/{environmentName}",
        "delete",
        "environment",
        Name::Path("environmentName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects",
        "create",
        "project",
        Name::Body("name"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}",
        "delete",
        "project",
        Name::Path("projectName"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/projects/{projectName}/members/{username}",
        "update",
        "member",
        Name::Path("username"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}/members/{username}",
        "delete",
        "member",
        Name::Path("username"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/users",
        "create",
        "user",
        Name::Body("username"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/users/{username}",
        "update",
        "user",
        Name::Path("username"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/users/{username}",
        "delete",
        "user",
        Name::Path("username"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/users/{username}/tokens",
        "create",
        "token",
        Name::Body("name"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/users/{username}/tokens/{tokenName}",
        "delete",
        "token",
        Name::Path("tokenName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/auth/token",
        "issue-token",
        "token",
        Name::None,
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_environment, list_environments))
        .routes(routes!(create_project, list_projects))
        .routes(routes!(project_environments))
        .routes(routes!(delete_project))
        .routes(routes!(delete_environment))
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(list_members))
        .routes(routes!(set_members, remove_member))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(client_credentials))
}

const ENV_TYPES: &[&str] = identity::ENVIRONMENT_TYPES;

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
    audit: Audit,
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
            &audit.named(&name),
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
    audit: Audit,
    Json(body): Json<ProjectCreate>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let name = required_name("name", body.name.as_deref())?;
    let p = app
        .store
        .create_project(
            &name,
            body.description.as_deref().unwrap_or_default(),
            &audit.named(&name),
        )
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
    audit: Audit,
    Json(body): Json<UserCreate>,
) -> ApiResult<Success> {
    require_sys_admin(&caller)?;
    let username = required_name("username", body.username.as_deref())?;
    let password = body.password.unwrap_or_default();
    identity::check_password("password", &password)?;
    let phc = crate::auth::hash_password_on(&app.heavy, password).await?;
    let user = app
        .store
        .create_user(&username, &phc, body.sys_admin, &audit.named(&username))
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::user_exists(&username)),
            other => other.into(),
        })?;
    Ok(Success::one(
        json!({"id": user.id, "username": user.username, "sysAdmin": user.sys_admin}),
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
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
    audit: Audit,
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
        .set_permissions(&project.id, &user.id, &grants, &audit.path_named())
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
    audit: Audit,
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
    // A token never outlives the token that created it.
    let (expires_ms, capped) =
        identity::capped_expiry(&caller, expires_at.as_ref().map(|(ms, _)| *ms));
    let expires_at = expires_ms.map(|ms| match expires_at {
        Some((_, text)) if !capped => (ms, text),
        _ => (ms, iso_ms(ms)),
    });
    let token = new_token();
    let new = NewToken {
        id: None,
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
    let rec = audit.named(&name);
    app.store
        .create_token(&new, &rec)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::token_exists(&name)),
            other => other.into(),
        })?;
    let capped_message = capped
        .then(|| expires_at.as_ref().map(|(_, t)| messages::token_capped(t)))
        .flatten();
    let answer = Success::one(json!({
        "name": name,
        "token": token,
        "expiresAt": expires_at.map(|(_, t)| t),
        "environmentName": environment.map(|e| e.name),
    }));
    Ok(match capped_message {
        Some(m) => answer.message(m),
        None => answer,
    })
}

/// Revoke a personal API access token (that user, or a system admin); effective on the next request.
#[utoipa::path(delete, path = "/apiops/users/{username}/tokens/{tokenName}", tag = "Management",
    params(("username" = String, Path), ("tokenName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn revoke_token(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((username, token_name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let user = user_acting_on(&app, &caller, &username).await?;
    app.store
        .delete_token(&user.id, &token_name, &audit.path_named())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::token_not_found(&token_name)),
            other => other.into(),
        })?;
    app.auth.identity_changed().await;
    Ok(Success::empty().message(messages::token_revoked(&token_name)))
}

/// `?force=true` of a delete that would otherwise be refused because something is left.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Delete everything the object still holds, and undeploy it.
    force: Option<bool>,
}

/// Delete a project (system admin): refused while it holds certificates, keys, keystores or
/// JWKs, with a message saying what is left; `?force=true` deletes them all and undeploys them.
/// The `admin` project cannot be deleted.
#[utoipa::path(delete, path = "/apiops/projects/{projectName}", tag = "Management",
    params(("projectName" = String, Path), ForceQuery),
    responses((status = 200, description = "Deleted; `deploymentResult` lists the environments that dropped its secrets", body = crate::openapi::SuccessEnvelope)))]
async fn delete_project(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Query(q): Query<ForceQuery>,
) -> ApiResult<Success> {
    let force = q.force.unwrap_or(false);
    if force {
        audit.action("force-delete");
    }
    let deleted =
        identity::delete_project(&app, &caller, &project, force, &audit.path_named()).await?;
    Ok(Success::settled_message(&app.publisher, deleted).await)
}

/// Delete an environment (system admin): refused while certificates, keys or keystores have
/// material there, with a message saying what is left; `?force=true` deletes that material, the
/// JWKs derived from it, and the agents and agent tokens following the environment.
#[utoipa::path(delete, path = "/apiops/environments/{environmentName}", tag = "Management",
    params(("environmentName" = String, Path), ForceQuery),
    responses((status = 200, description = "Deleted", body = crate::openapi::SuccessEnvelope)))]
async fn delete_environment(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(environment): Path<String>,
    Query(q): Query<ForceQuery>,
) -> ApiResult<Success> {
    let force = q.force.unwrap_or(false);
    if force {
        audit.action("force-delete");
    }
    let deleted =
        identity::delete_environment(&app, &caller, &environment, force, &audit.path_named())
            .await?;
    Ok(Success::settled_message(&app.publisher, deleted).await)
}

/// A user as listed: never the password.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UserItem {
    id: String,
    username: String,
    sys_admin: bool,
    /// RFC 3339.
    created_at: String,
    projects: Vec<UserProject>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UserProject {
    project_name: String,
    permissions: Vec<PermissionItem>,
}

/// List users (system admin; any other user sees themself only).
#[utoipa::path(get, path = "/apiops/users", tag = "Management",
    responses((status = 200, description = "`resultList` of users", body = crate::openapi::SuccessEnvelope)))]
async fn list_users(State(app): State<AppState>, Caller(caller): Caller) -> ApiResult<Success> {
    Ok(Success::list(identity::list_users(&app, &caller).await?))
}

/// Get a user with their projects and permissions (system admin, or the user themself).
#[utoipa::path(get, path = "/apiops/users/{username}", tag = "Management",
    params(("username" = String, Path)),
    responses((status = 200, description = "`resultList: [UserItem]`", body = crate::openapi::SuccessEnvelope)))]
async fn get_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(username): Path<String>,
) -> ApiResult<Success> {
    Ok(Success::one(
        identity::get_user(&app, &caller, &username).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    /// The new password, at least 8 characters.
    password: Option<String>,
    /// Required when users change their own password.
    current_password: Option<String>,
    /// Make or unmake a system admin (system admin only; the last one stays).
    sys_admin: Option<bool>,
}

/// Change a user's password or system-admin flag (system admin; a user: their own password,
/// with `currentPassword`). The last system admin cannot be demoted.
#[utoipa::path(put, path = "/apiops/users/{username}", tag = "Management",
    params(("username" = String, Path)), request_body = UserUpdate,
    responses((status = 200, description = "`resultList: [UserItem]`", body = crate::openapi::SuccessEnvelope)))]
async fn update_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(username): Path<String>,
    Json(body): Json<UserUpdate>,
) -> ApiResult<Success> {
    let item = identity::update_user(
        &app,
        &caller,
        &username,
        identity::UserUpdate {
            password: body.password,
            current_password: body.current_password,
            sys_admin: body.sys_admin,
        },
        &audit.path_named(),
    )
    .await?;
    Ok(Success::one(item).message(messages::user_updated(&username)))
}

/// Delete a user and revoke every token and session they hold (system admin). The last system
/// admin cannot be deleted.
#[utoipa::path(delete, path = "/apiops/users/{username}", tag = "Management",
    params(("username" = String, Path)),
    responses((status = 200, description = "Deleted", body = crate::openapi::SuccessEnvelope)))]
async fn delete_user(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(username): Path<String>,
) -> ApiResult<Success> {
    let message = identity::delete_user(&app, &caller, &username, &audit.path_named()).await?;
    Ok(Success::empty().message(message))
}

/// A token as listed: never the token itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct TokenItem {
    name: String,
    /// `PERSONAL` or `AGENT`.
    kind: String,
    /// An agent token's environment.
    environment_name: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    /// Updated at most once a minute.
    last_used_at: Option<String>,
}

/// List a user's personal and agent tokens (that user, or a system admin); never the tokens.
#[utoipa::path(get, path = "/apiops/users/{username}/tokens", tag = "Management",
    params(("username" = String, Path)),
    responses((status = 200, description = "`resultList` of TokenItem", body = crate::openapi::SuccessEnvelope)))]
async fn list_tokens(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(username): Path<String>,
) -> ApiResult<Success> {
    Ok(Success::list(
        identity::list_tokens(&app, &caller, &username).await?,
    ))
}

/// List a project's members with their permissions (any member of the project).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/members", tag = "Management",
    params(("projectName" = String, Path)),
    responses((status = 200, description = "`resultList: [{projectName, username, permissions}]`", body = crate::openapi::SuccessEnvelope)))]
async fn list_members(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    Ok(Success::list(
        identity::list_members(&app, &caller, &project).await?,
    ))
}

/// Remove a user from a project (system admin).
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/members/{username}", tag = "Management",
    params(("projectName" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "Removed", body = crate::openapi::SuccessEnvelope)))]
async fn remove_member(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, username)): Path<(String, String)>,
) -> ApiResult<Success> {
    let message =
        identity::remove_member(&app, &caller, &project, &username, &audit.path_named()).await?;
    Ok(Success::empty().message(message))
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
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
    audit: Audit,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Json<Value>, OAuthError> {
    let Ok(Form(pairs)) = form else {
        return Err(OAuthError::invalid_request(
            messages::TOKEN_REQUEST_NOT_FORM,
        ));
    };
    // RFC 6749 §3.2: parameters must not be repeated; missing ones are an invalid request.
    let param = |name: &str| -> Result<String, OAuthError> {
        let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(messages::parameter_repeated(
                name,
            ))),
            (Some(v), None) if !v.is_empty() => Ok(v.clone()),
            _ => Err(OAuthError::invalid_request(messages::empty(name))),
        }
    };
    let grant_type = param("grant_type")?;
    let username = param("client_id")?;
    // A refused attempt is recorded under the claimed client id.
    audit.set(Who {
        username: Some(username.chars().take(200).collect()),
        ..Who::default()
    });
    let password = param("client_secret")?;
    if grant_type != "client_credentials" {
        return Err(OAuthError::unsupported_grant_type());
    }
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
    let ok = crate::auth::verify_password_on(&app.heavy, password, phc).await?;
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(OAuthError::invalid_client()),
    };
    let token = new_token();
    let expires = now_ms() + ACCESS_TOKEN_SECONDS * 1000;
    let token_name = format!("client-credentials-{}", keyward_store::new_id());
    let token_id = keyward_store::new_id();
    // Recorded as the user the token is issued to, with the new token's id.
    audit.set(Who {
        user_id: Some(user.id.clone()),
        username: Some(user.username.clone()),
        token_id: Some(token_id.clone()),
    });
    let rec = audit.path_named();
    app.store
        .create_token(
            &NewToken {
                id: Some(token_id),
                user_id: user.id.clone(),
                name: token_name,
                kind: TokenKind::ClientCredentials,
                secret_hash: app.auth.hash_token(&token).to_vec(),
                expires_at: Some(expires),
                environment_id: None,
            },
            &rec,
        )
        .await
        .map_err(ApiError::from)?;
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
