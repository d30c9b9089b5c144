//! Services: the rules between a parsed request and the store.

pub mod agents;
pub mod certificates;
pub mod file_export;
pub mod identity;
pub mod jwk_sources;
pub mod jwks;
pub mod keys;
pub mod keystores;
pub mod package;

pub use agents::{agent_bundle, environment_revision};

use keyward_store::{Environment, Project};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::messages;
use crate::permissions::{Need, Principal};

/// The longest object name (projects, environments, secrets, users, tokens, agents).
pub const MAX_NAME_CHARS: usize = 200;

/// Name of the project whose secrets are usable from every project.
pub const ADMIN_PROJECT: &str = "admin";

/// Resolves a project the caller may see, then checks the operation's permission.
///
/// A missing project and a project the caller is not a member of give the same answer, so the
/// API does not reveal which projects exist.
pub async fn project_for(
    app: &AppState,
    caller: &Principal,
    name: &str,
    need: Need,
) -> ApiResult<Project> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request(messages::empty("projectName")));
    }
    let project = app
        .store
        .project_by_name(name)
        .await
        .map_err(ApiError::internal)?;
    let project = match project {
        Some(p) if caller.is_member(&p.id) => p,
        _ => {
            return Err(ApiError::bad_request(messages::project_not_accessible(
                name,
            )));
        }
    };
    if !caller.may(&project.id, need) {
        return Err(ApiError::denied());
    }
    Ok(project)
}

/// Resolves an environment by name.
pub async fn environment_named(app: &AppState, name: &str) -> ApiResult<Environment> {
    app.store
        .environment_by_name(name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::environment_not_accessible(name)))
}

/// A required, non-blank text field.
pub fn required(field: &str, value: Option<&str>) -> ApiResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::bad_request(messages::empty(field))),
    }
}

/// A required object name: non-blank, at most 200 characters, no whitespace, control characters
/// or path separators (names travel in URL paths).
pub fn required_name(field: &str, value: Option<&str>) -> ApiResult<String> {
    let v = required(field, value)?;
    check_name(field, &v)?;
    Ok(v)
}

pub fn check_name(field: &str, v: &str) -> ApiResult<()> {
    let ok = v.chars().count() <= MAX_NAME_CHARS
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(messages::invalid_name(field)))
    }
}

/// Parses an enum value given as text, or explains the accepted values.
pub fn one_of<T>(
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: &[&str],
) -> ApiResult<T> {
    parse(value).ok_or_else(|| ApiError::bad_request(messages::not_one_of(field, value, names)))
}

/// Formats unix milliseconds as `2024-01-01T00:00:00.000Z`.
pub fn iso_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_spaces_and_separators() {
        assert!(check_name("n", "my-cert_1.pem").is_ok());
        assert!(check_name("n", "my cert").is_err());
        assert!(check_name("n", "a/b").is_err());
        assert!(check_name("n", &"x".repeat(201)).is_err());
        assert!(required_name("n", Some("  ")).is_err());
    }

    #[test]
    fn iso_dates_have_milliseconds_and_z() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
    }
}
