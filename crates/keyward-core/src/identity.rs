//! The rules of the management extension (00-product §3) beyond creation: who may list, change
//! and delete users, memberships, projects and environments, and what such a change takes along.

use std::collections::BTreeMap;

use keyward_store::{AuditEntry, Membership, User, UserChange, UserRefusal};
use serde_json::{Value, json};

use crate::error::{CoreError, CoreResult};
use crate::messages;
use crate::permissions::{Need, Principal};
use crate::{ADMIN_PROJECT, environment_named, iso_ms, project_for};
use crate::{Core, Mutation};

/// `type` of an environment.
pub const ENVIRONMENT_TYPES: &[&str] = &["PRODUCTION", "SANDBOX", "TEST"];

/// The shortest password accepted anywhere.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Refuses an empty or short password.
pub fn check_password(field: &str, password: &str) -> CoreResult<()> {
    if password.is_empty() {
        return Err(CoreError::bad_request(messages::empty(field)));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CoreError::bad_request(messages::PASSWORD_TOO_SHORT));
    }
    Ok(())
}

pub fn require_sys_admin(caller: &Principal) -> CoreResult<()> {
    if caller.sys_admin {
        Ok(())
    } else {
        Err(CoreError::denied())
    }
}

/// The user an operation is about: the caller themself, or anyone for a system admin.
pub async fn user_acting_on(app: &Core, caller: &Principal, username: &str) -> CoreResult<User> {
    if !caller.sys_admin && caller.username != username {
        return Err(CoreError::denied());
    }
    user_named(app, username).await
}

async fn user_named(app: &Core, username: &str) -> CoreResult<User> {
    app.store
        .user_by_username(username)
        .await
        .map_err(CoreError::internal)?
        .ok_or_else(|| CoreError::bad_request(messages::user_not_found(username)))
}

/// `{category, action}` items of a list of memberships.
fn permissions(of: &[&Membership]) -> Vec<Value> {
    of.iter()
        .map(|m| json!({"category": m.category, "action": m.action}))
        .collect()
}

/// A user as the API shows it: never the password hash.
fn user_item(user: &User, memberships: &[Membership]) -> Value {
    let mut projects: BTreeMap<&str, Vec<&Membership>> = BTreeMap::new();
    for m in memberships.iter().filter(|m| m.user_id == user.id) {
        projects.entry(&m.project_name).or_default().push(m);
    }
    let projects: Vec<Value> = projects
        .into_iter()
        .map(|(name, held)| json!({"projectName": name, "permissions": permissions(&held)}))
        .collect();
    json!({
        "id": user.id,
        "username": user.username,
        "sysAdmin": user.sys_admin,
        "createdAt": iso_ms(user.created_at),
        "projects": projects,
    })
}

/// `GET /apiops/users`: every user for a system admin, the caller alone otherwise.
pub async fn list_users(app: &Core, caller: &Principal) -> CoreResult<Vec<Value>> {
    let users = if caller.sys_admin {
        app.store.list_users().await.map_err(CoreError::internal)?
    } else {
        vec![user_named(app, &caller.username).await?]
    };
    let only = (!caller.sys_admin).then_some(caller.user_id.as_str());
    let memberships = app
        .store
        .memberships(None, only)
        .await
        .map_err(CoreError::internal)?;
    Ok(users.iter().map(|u| user_item(u, &memberships)).collect())
}

pub async fn get_user(app: &Core, caller: &Principal, username: &str) -> CoreResult<Value> {
    let user = user_acting_on(app, caller, username).await?;
    let memberships = app
        .store
        .memberships(None, Some(&user.id))
        .await
        .map_err(CoreError::internal)?;
    Ok(user_item(&user, &memberships))
}

/// What `PUT /apiops/users/{username}` asks for.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub password: Option<String>,
    pub current_password: Option<String>,
    pub sys_admin: Option<bool>,
}

/// Changes a password and/or the system-admin flag. A user changes their own password only, and
/// proves it with `currentPassword` (system admins too, for their own); a system admin sets other
/// users' passwords and anyone's flag, except that the last system admin stays one.
pub async fn update_user(
    app: &Core,
    caller: &Principal,
    username: &str,
    update: UserUpdate,
    audit: &AuditEntry,
) -> CoreResult<Value> {
    let own = caller.username == username;
    if !caller.sys_admin && (!own || update.sys_admin.is_some()) {
        return Err(CoreError::denied());
    }
    let user = user_named(app, username).await?;
    if update.password.is_none() && update.sys_admin.is_none() {
        return Err(CoreError::bad_request(messages::USER_NOTHING_TO_CHANGE));
    }
    let mut change = UserChange {
        sys_admin: update.sys_admin,
        ..UserChange::default()
    };
    if let Some(password) = update.password {
        check_password("password", &password)?;
        if own {
            let current = update.current_password.unwrap_or_default();
            if current.is_empty() {
                return Err(CoreError::bad_request(messages::empty("currentPassword")));
            }
            let phc = user.password_hash.clone();
            // Argon2id under the node's cap on password checks, never on an async worker.
            let ok = crate::auth::verify_password_on(&app.heavy, current, phc).await?;
            if !ok {
                return Err(CoreError::bad_request(messages::CURRENT_PASSWORD_WRONG));
            }
        }
        let phc = crate::auth::hash_password_on(&app.heavy, password).await?;
        change.password_hash = Some(phc);
    }
    match app.store.update_user(&user.id, &change, audit).await? {
        Ok(()) => {}
        Err(UserRefusal::LastSysAdmin) => {
            return Err(CoreError::bad_request(messages::LAST_SYS_ADMIN));
        }
    }
    if change.sys_admin.is_some() {
        app.auth.identity_changed().await;
    }
    get_user(app, &admin_view(caller), username).await
}

/// The caller seen with a system admin's eyes, to read back what they were allowed to change.
fn admin_view(caller: &Principal) -> Principal {
    let mut p = caller.clone();
    p.sys_admin = true;
    p
}

/// Deletes a user: their tokens (and so their sessions) and memberships go with them.
pub async fn delete_user(
    app: &Core,
    caller: &Principal,
    username: &str,
    audit: &AuditEntry,
) -> CoreResult<String> {
    require_sys_admin(caller)?;
    let user = user_named(app, username).await?;
    let tokens = app
        .store
        .tokens_of(&user.id)
        .await
        .map_err(CoreError::internal)?
        .len();
    match app.store.delete_user(&user.id, audit).await {
        Ok(Ok(())) => {}
        Ok(Err(UserRefusal::LastSysAdmin)) => {
            return Err(CoreError::bad_request(messages::LAST_SYS_ADMIN));
        }
        Err(keyward_store::StoreError::NotFound) => {
            return Err(CoreError::bad_request(messages::user_not_found(username)));
        }
        Err(e) => return Err(e.into()),
    }
    app.auth.identity_changed().await;
    Ok(messages::user_deleted(username, tokens))
}

/// A user's personal and agent tokens, never their secrets.
pub async fn list_tokens(app: &Core, caller: &Principal, username: &str) -> CoreResult<Vec<Value>> {
    let user = user_acting_on(app, caller, username).await?;
    let tokens = app
        .store
        .tokens_of(&user.id)
        .await
        .map_err(CoreError::internal)?;
    Ok(tokens
        .into_iter()
        .map(|t| {
            json!({
                "name": t.name,
                "kind": t.kind,
                "environmentName": t.environment_name,
                "createdAt": iso_ms(t.created_at),
                "expiresAt": t.expires_at.map(iso_ms),
                "lastUsedAt": t.last_used_at.map(iso_ms),
            })
        })
        .collect())
}

/// The members of a project with their permissions (any member may look).
pub async fn list_members(app: &Core, caller: &Principal, project: &str) -> CoreResult<Vec<Value>> {
    let project = project_for(app, caller, project, Need::Read).await?;
    let memberships = app
        .store
        .memberships(Some(&project.id), None)
        .await
        .map_err(CoreError::internal)?;
    let mut users: BTreeMap<&str, Vec<&Membership>> = BTreeMap::new();
    for m in &memberships {
        users.entry(&m.username).or_default().push(m);
    }
    Ok(users
        .into_iter()
        .map(|(username, held)| {
            json!({"projectName": project.name, "username": username, "permissions": permissions(&held)})
        })
        .collect())
}

/// Removes a user from a project (system admin).
pub async fn remove_member(
    app: &Core,
    caller: &Principal,
    project: &str,
    username: &str,
    audit: &AuditEntry,
) -> CoreResult<String> {
    require_sys_admin(caller)?;
    let project = project_for(app, caller, project, Need::Read).await?;
    let user = user_named(app, username).await?;
    if !app
        .store
        .remove_member(&project.id, &user.id, audit)
        .await?
    {
        return Err(CoreError::bad_request(messages::not_a_member(
            username,
            &project.name,
        )));
    }
    app.auth.identity_changed().await;
    Ok(messages::member_removed(username, &project.name))
}

/// Deletes a project (system admin): refused while it holds secrets, unless `force`, which
/// deletes them all and undeploys them. The admin project stays.
pub async fn delete_project(
    app: &Core,
    caller: &Principal,
    name: &str,
    force: bool,
    audit: &AuditEntry,
) -> CoreResult<Mutation<String>> {
    require_sys_admin(caller)?;
    let project = project_for(app, caller, name, Need::Read).await?;
    if project.name == ADMIN_PROJECT {
        return Err(CoreError::bad_request(messages::ADMIN_PROJECT_UNDELETABLE));
    }
    let deployed = match app.store.delete_project(&project.id, force, audit).await? {
        Ok(d) => d,
        Err(left) => {
            return Err(CoreError::bad_request(messages::project_not_empty(
                &project.name,
                &left,
            )));
        }
    };
    // Members lose the project: their cached permissions go.
    app.auth.identity_changed().await;
    Ok(Mutation::new(
        messages::project_deleted(&project.name),
        deployed,
    ))
}

/// Deletes an environment (system admin): refused while it holds material, unless `force`, which
/// deletes that material, the JWKs derived from it, the agents and agent tokens following it.
pub async fn delete_environment(
    app: &Core,
    caller: &Principal,
    name: &str,
    force: bool,
    audit: &AuditEntry,
) -> CoreResult<Mutation<String>> {
    require_sys_admin(caller)?;
    let environment = environment_named(app, name).await?;
    let deployed = match app
        .store
        .delete_environment(&environment.id, force, audit)
        .await?
    {
        Ok(d) => d,
        Err(left) => {
            return Err(CoreError::bad_request(messages::environment_not_empty(
                &environment.name,
                &left,
            )));
        }
    };
    // Its agent tokens are gone.
    app.auth.identity_changed().await;
    Ok(Mutation::new(
        messages::environment_deleted(&environment.name),
        deployed,
    ))
}

/// The latest expiry a token created by `caller` may have: a token never outlives the token
/// that created it. Returns the expiry to store and whether it was capped.
pub fn capped_expiry(caller: &Principal, asked: Option<i64>) -> (Option<i64>, bool) {
    match (caller.expires_at, asked) {
        (None, asked) => (asked, false),
        (Some(limit), None) => (Some(limit), true),
        (Some(limit), Some(asked)) if asked > limit => (Some(limit), true),
        (Some(_), asked) => (asked, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(expires_at: Option<i64>) -> Principal {
        Principal::new("u".into(), "u".into(), false, "t".into(), expires_at, &[])
    }

    #[test]
    fn a_token_never_outlives_its_creator() {
        assert_eq!(capped_expiry(&caller(None), None), (None, false));
        assert_eq!(capped_expiry(&caller(None), Some(5)), (Some(5), false));
        assert_eq!(capped_expiry(&caller(Some(10)), None), (Some(10), true));
        assert_eq!(capped_expiry(&caller(Some(10)), Some(20)), (Some(10), true));
        assert_eq!(capped_expiry(&caller(Some(10)), Some(5)), (Some(5), false));
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(check_password("password", "").is_err());
        assert!(check_password("password", "short").is_err());
        assert!(check_password("password", "long-enough").is_ok());
    }

    #[test]
    fn users_are_shown_with_their_projects_never_their_hash() {
        let user = User {
            id: "u1".into(),
            username: "ci".into(),
            password_hash: "$argon2id$secret".into(),
            sys_admin: false,
            created_at: 0,
        };
        let m = |project: &str, action: &str| Membership {
            user_id: "u1".into(),
            username: "ci".into(),
            project_name: project.into(),
            category: "SECRETS".into(),
            action: action.into(),
        };
        let item = user_item(
            &user,
            &[m("shop", "VIEW"), m("shop", "MANAGE"), m("web", "VIEW")],
        );
        assert!(!item.to_string().contains("argon2"));
        assert_eq!(item["projects"][0]["projectName"], "shop");
        assert_eq!(
            item["projects"][0]["permissions"].as_array().unwrap().len(),
            2
        );
        assert_eq!(item["projects"][1]["projectName"], "web");
    }
}
