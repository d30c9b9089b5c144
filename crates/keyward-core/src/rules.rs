//! The rules every operation shares: which project and sources a caller reaches, names, enums,
//! environment lists, and the re-derivation of a source's JWKs before its update.

use keyward_store::{
    Environment, JwkMaterial, JwkUpdateAction, LinkedJwk, Project, Rederived, SourceJwks,
    StoreError,
};

use crate::Core;
use crate::error::{CoreError, CoreResult};
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
    app: &Core,
    caller: &Principal,
    name: &str,
    need: Need,
) -> CoreResult<Project> {
    if name.trim().is_empty() {
        return Err(CoreError::bad_request(messages::empty("projectName")));
    }
    let project = app
        .store
        .project_by_name(name)
        .await
        .map_err(CoreError::internal)?;
    let project = match project {
        Some(p) if caller.is_member(&p.id) => p,
        _ => {
            return Err(CoreError::bad_request(messages::project_not_accessible(
                name,
            )));
        }
    };
    if !caller.may(&project.id, need) {
        return Err(CoreError::denied());
    }
    Ok(project)
}

/// A JWK source (certificate, key, keystore) found for a request, and whether the caller may use
/// its private material.
pub struct InScope<T> {
    pub source: T,
    /// `false` for material of the admin project that the caller may not read there: the JWK
    /// derived from it gets the public members only.
    pub private: bool,
}

/// Looks a JWK source up where a request may use it: in this project, else in the admin project,
/// whose secrets are usable from every project by its members. A caller who is not a member of
/// the admin project learns nothing of what it holds (the answer is "not found", as for a name
/// that exists nowhere); one who may not read private material there gets public members only.
pub async fn source_in_scope<T, F, Fut>(
    app: &Core,
    caller: &Principal,
    project: &Project,
    find: F,
) -> CoreResult<Option<InScope<T>>>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = keyward_store::Result<Option<T>>>,
{
    if let Some(source) = find(project.id.clone())
        .await
        .map_err(CoreError::internal)?
    {
        return Ok(Some(InScope {
            source,
            private: caller.may_read_private(&project.id),
        }));
    }
    if project.name == ADMIN_PROJECT {
        return Ok(None);
    }
    let admin = app
        .store
        .project_by_name(ADMIN_PROJECT)
        .await
        .map_err(CoreError::internal)?;
    let Some(admin) = admin.filter(|a| caller.is_member(&a.id)) else {
        return Ok(None);
    };
    Ok(find(admin.id.clone())
        .await
        .map_err(CoreError::internal)?
        .map(|source| InScope {
            source,
            private: caller.may_read_private(&admin.id),
        }))
}

/// Resolves an environment by name.
pub async fn environment_named(app: &Core, name: &str) -> CoreResult<Environment> {
    app.store
        .environment_by_name(name)
        .await
        .map_err(CoreError::internal)?
        .ok_or_else(|| CoreError::bad_request(messages::environment_not_accessible(name)))
}

/// The environments of an `environmentList` extension, by id: `None` when it is not given (the
/// JWK then follows every environment); each name must exist, and the list must not be empty.
pub async fn environment_list(
    app: &Core,
    names: Option<&[String]>,
) -> CoreResult<Option<Vec<String>>> {
    let Some(names) = names else {
        return Ok(None);
    };
    let mut ids: Vec<String> = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let env = environment_named(app, name).await?;
        if !ids.contains(&env.id) {
            ids.push(env.id);
        }
    }
    if ids.is_empty() {
        return Err(CoreError::bad_request(messages::empty("environmentList")));
    }
    Ok(Some(ids))
}

/// A required, non-blank text field.
pub fn required(field: &str, value: Option<&str>) -> CoreResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(CoreError::bad_request(messages::empty(field))),
    }
}

/// A required object name: non-blank, at most 200 characters, no whitespace, control characters
/// or path separators (names travel in URL paths).
pub fn required_name(field: &str, value: Option<&str>) -> CoreResult<String> {
    let v = required(field, value)?;
    check_name(field, &v)?;
    Ok(v)
}

/// Checks an object name (certificates, keys, keystores, JWKs, projects, environments, users,
/// tokens, agents): at most [`MAX_NAME_CHARS`] characters, all visible — no whitespace, no
/// control character (Cc), no format character (Cf: zero-width and bidirectional controls, which
/// make two different names look alike or reorder what a reader sees, CVE-2021-42574 "Trojan
/// Source"), no path separator.
pub fn check_name(field: &str, v: &str) -> CoreResult<()> {
    let ok = v.chars().count() <= MAX_NAME_CHARS
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_format(c) || c == '/' || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(CoreError::bad_request(messages::invalid_name(field)))
    }
}

/// Unicode general category Cf (format characters, Unicode 16.0 `DerivedGeneralCategory.txt`):
/// the soft hyphen, Arabic number signs, zero-width space/joiners (U+200B–U+200D), LRM/RLM and
/// ALM (U+200E, U+200F, U+061C), bidi embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), word joiner and invisible operators (U+2060–U+2064), the BOM (U+FEFF),
/// interlinear annotations, tags (U+E0001, U+E0020–U+E007F) and the rest of the category.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Parses an enum value given as text, or explains the accepted values.
pub fn one_of<T>(
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: &[&str],
) -> CoreResult<T> {
    parse(value).ok_or_else(|| CoreError::bad_request(messages::not_one_of(field, value, names)))
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

// ---- re-deriving the JWKs of a source, outside the write transaction -----------------------------

/// How often a source's update re-derives its JWKs when the source or its JWKs changed between
/// the read and the write; then the request is refused (nothing written).
pub const REDERIVE_ATTEMPTS: usize = 3;

/// What re-derives the in-scope JWKs of a source, on the heavy-work pool.
pub trait Derive:
    FnOnce(&[LinkedJwk]) -> Result<Vec<(String, JwkMaterial)>, String> + Send + 'static
{
}
impl<F> Derive for F where
    F: FnOnce(&[LinkedJwk]) -> Result<Vec<(String, JwkMaterial)>, String> + Send + 'static
{
}

/// Derives the new material of the JWKs of `source` that `action` re-derives, on the heavy-work
/// pool: never on an async worker, never inside a write transaction. A refusal of the derivation
/// is the request's answer (400).
pub async fn derive_on_pool(
    app: &Core,
    source: &SourceJwks,
    project_id: &str,
    action: JwkUpdateAction,
    derive: impl Derive,
) -> CoreResult<Rederived> {
    let in_scope = source.in_scope(project_id, action);
    let updates = if in_scope.is_empty() {
        Vec::new()
    } else {
        app.heavy
            .run(move || derive(&in_scope))
            .await?
            .map_err(CoreError::bad_request)?
    };
    Ok(source.derived(updates))
}

/// Runs a source's update (`mutate`) with its JWKs re-derived first: reads the source `name` of
/// `kind` and its JWKs, derives (`derive()` gives the derivation of each attempt) on the pool,
/// and hands the result to `mutate`, whose store call compares it with what it finds. When the
/// source or its JWKs moved in between, it derives again, at most [`REDERIVE_ATTEMPTS`] times.
/// `action` `None` or `Nullify`: nothing is derived and `mutate` gets `None`.
pub async fn with_rederived<T, D, M, Fut>(
    app: &Core,
    kind: &str,
    project_id: &str,
    name: &str,
    action: Option<JwkUpdateAction>,
    mut derive: impl FnMut() -> D,
    mut mutate: M,
) -> CoreResult<Result<T, StoreError>>
where
    D: Derive,
    M: FnMut(Option<Rederived>) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let Some(action @ JwkUpdateAction::Update { .. }) = action else {
        return Ok(mutate(None).await);
    };
    for _ in 0..REDERIVE_ATTEMPTS {
        let source = app
            .store
            .source_jwks(kind, project_id, name)
            .await
            .map_err(CoreError::internal)?;
        let rederived = match source {
            Some(source) => Some(derive_on_pool(app, &source, project_id, action, derive()).await?),
            None => None,
        };
        match mutate(rederived).await {
            Err(StoreError::SourceChanged) => {
                tracing::debug!(kind, name, "JWK source changed during re-derivation; again");
            }
            done => return Ok(done),
        }
    }
    Err(CoreError::bad_request(
        messages::jwks_changed_while_rederiving(kind_word(kind), name),
    ))
}

/// How messages name a source kind.
pub fn kind_word(kind: &str) -> &'static str {
    match kind {
        keyward_store::KIND_KEY => "Key",
        keyward_store::KIND_KEYSTORE => "Keystore",
        _ => "Certificate",
    }
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
        // Zero-width, bidi controls and other format characters (Cf), and controls (Cc).
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{0000}',
            '\u{001B}',
            '\u{007F}',
            '\u{0085}',
            '\u{2028}',
        ] {
            let name = format!("ab{c}cd");
            assert!(
                check_name("name", &name).is_err(),
                "U+{:04X} accepted",
                u32::from(c)
            );
        }
        // Visible non-ASCII letters and symbols stay accepted.
        for ok in ["café", "日本-鍵", "ключ", "عربي", "key™", "emoji-🔑"] {
            assert!(check_name("n", ok).is_ok(), "{ok}");
        }
        assert!(required_name("n", Some("  ")).is_err());
    }

    #[test]
    fn iso_dates_have_milliseconds_and_z() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
    }
}
