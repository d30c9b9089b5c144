//! Rows and inputs of the store, in the domain's words.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

/// Booleans are stored as integers 0/1 on every backend.
fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

#[derive(Debug, Clone, FromRow)]
pub struct Environment {
    pub id: String,
    pub name: String,
    pub description: String,
    pub env_type: String,
    pub revision: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub sys_admin: bool,
    pub created_at: i64,
}

/// One `(project, category, action)` grant of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, FromRow)]
pub struct Grant {
    pub project_id: String,
    pub category: String,
    pub action: String,
}

/// A personal (or client-credentials) access token, as stored: never the token itself.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token's id, chosen by the caller (so that an audit record can name it), or made.
    pub id: Option<String>,
    pub user_id: String,
    pub name: String,
    pub kind: TokenKind,
    pub secret_hash: Vec<u8>,
    pub expires_at: Option<i64>,
    /// Set for an agent token: the one environment it may follow.
    pub environment_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Created by a user, named, optionally expiring.
    Personal,
    /// Issued by `POST /apiops/auth/token`, expires after an hour.
    ClientCredentials,
    /// Created by a user for an agent: follows one environment, nothing else (docs/agent.md).
    Agent,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "PERSONAL",
            TokenKind::ClientCredentials => "CLIENT_CREDENTIALS",
            TokenKind::Agent => "AGENT",
        }
    }
}

/// What a presented token resolves to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token_id: String,
    pub expires_at: Option<i64>,
    pub user_id: String,
    pub username: String,
    pub sys_admin: bool,
    /// An agent token's environment (id, name).
    pub environment: Option<(String, String)>,
}

/// A certificate with its per-environment entries.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub entries: Vec<CertificateEntry>,
}

#[derive(Debug, Clone, FromRow)]
pub struct CertificateEntry {
    pub certificate_id: String,
    pub environment_id: String,
    pub environment_name: String,
    pub alias: String,
    /// DER of the leaf certificate.
    pub leaf_der: Vec<u8>,
    /// The whole chain as PEM, leaf first.
    pub chain_pem: String,
    pub subject_dn: String,
    pub sha1_thumbprint: String,
    /// Validity, unix milliseconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// A certificate entry to write for one environment.
#[derive(Debug, Clone)]
pub struct NewCertificateEntry {
    pub environment_id: String,
    pub alias: String,
    pub leaf_der: Vec<u8>,
    pub chain_pem: String,
    pub subject_dn: String,
    pub sha1_thumbprint: String,
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, Clone)]
pub struct Jwk {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub source_type: String,
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    pub source_environment_id: Option<String>,
    pub kty: String,
    pub kid: Option<String>,
    pub key_use: Option<String>,
    pub alg: Option<String>,
    pub kid_given: bool,
    /// The complete RFC 7517 JSON object, private members included where the key has them, exactly
    /// as given (stored sealed when it has private members, see `jwks.rs`).
    pub jwk_json: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A JWK to create.
#[derive(Debug, Clone)]
pub struct NewJwk {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub source_type: String,
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    pub source_environment_id: Option<String>,
    pub material: JwkMaterial,
    pub key_use: Option<String>,
    pub alg: Option<String>,
    pub kid_given: bool,
    /// Where a JWK that is not derived from one environment's material is deployed: `None`, every
    /// environment (new ones included); `Some(ids)`, those only (00-product §1, deploy targets).
    /// A JWK with a `source_environment_id` is deployed to that environment only, whatever this says.
    pub environment_ids: Option<Vec<String>>,
}

/// The derived, key-dependent part of a JWK row.
#[derive(Debug, Clone)]
pub struct JwkMaterial {
    pub kty: String,
    pub kid: Option<String>,
    pub jwk_json: String,
}

/// What happens to JWKs derived from a certificate that is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkUpdateAction {
    /// Keep the JWKs, drop their link to the source.
    Nullify,
    /// Re-derive the JWKs of the same project (or of every project) from the new content;
    /// JWKs outside the scope are unlinked.
    Update { all_projects: bool },
}

/// What happens to JWKs derived from a certificate that is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkDeleteAction {
    Nullify,
    Delete,
}

impl FromRow<'_, AnyRow> for User {
    fn from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            sys_admin: flag(row, "sys_admin")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

impl FromRow<'_, AnyRow> for TokenOwner {
    fn from_row(row: &AnyRow) -> Result<TokenOwner, sqlx::Error> {
        Ok(TokenOwner {
            token_id: row.try_get("token_id")?,
            expires_at: row.try_get("expires_at")?,
            user_id: row.try_get("user_id")?,
            username: row.try_get("username")?,
            sys_admin: flag(row, "sys_admin")?,
            environment: match (
                row.try_get::<Option<String>, _>("environment_id")?,
                row.try_get::<Option<String>, _>("environment_name")?,
            ) {
                (Some(id), Some(name)) => Some((id, name)),
                _ => None,
            },
        })
    }
}

impl FromRow<'_, AnyRow> for Jwk {
    fn from_row(row: &AnyRow) -> Result<Jwk, sqlx::Error> {
        Ok(Jwk {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            source_type: row.try_get("source_type")?,
            source_id: row.try_get("source_id")?,
            source_url: row.try_get("source_url")?,
            source_environment_id: row.try_get("source_environment_id")?,
            kty: row.try_get("kty")?,
            kid: row.try_get("kid")?,
            key_use: row.try_get("key_use")?,
            alg: row.try_get("alg")?,
            kid_given: flag(row, "kid_given")?,
            jwk_json: row.try_get("jwk_json")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A crypto key (reference §1.4) with its per-environment entries.
#[derive(Debug, Clone)]
pub struct CryptoKey {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// `SECRET_KEY`, `PRIVATE_KEY` or `PUBLIC_KEY`.
    pub key_type: String,
    /// Secret keys only: `AES`, `DES`, `DESede` or `RSA`.
    pub algorithm: Option<String>,
    pub entries: Vec<CryptoKeyEntry>,
    /// Unix ms of the last change; goes up with every change.
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct CryptoKeyEntry {
    pub key_id: String,
    pub environment_id: String,
    pub environment_name: String,
    pub alias: String,
    /// Private key: unencrypted PKCS#8 PEM; public key: as uploaded; secret key: raw bytes.
    pub content: Vec<u8>,
}

/// The complete new state of a crypto key (create, or replace after a partial update).
#[derive(Debug, Clone)]
pub struct KeyDraft {
    pub name: String,
    pub description: String,
    pub key_type: String,
    pub algorithm: Option<String>,
    pub entries: Vec<NewKeyEntry>,
    /// On replace: the `updated_at` the draft was built from; a different stored value refuses
    /// the change ([`crate::StoreError::Conflict`]).
    pub based_on: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewKeyEntry {
    pub environment_id: String,
    pub alias: String,
    pub content: Vec<u8>,
}

/// A keystore (reference §1.5) with its per-environment entries.
#[derive(Debug, Clone)]
pub struct StoredKeystore {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub entries: Vec<StoredKeystoreEntry>,
    /// Unix ms of the last change; goes up with every change.
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct StoredKeystoreEntry {
    pub keystore_id: String,
    pub environment_id: String,
    pub environment_name: String,
    /// The default alias.
    pub alias: String,
    /// `JKS` or `PKCS12` (as declared).
    pub keystore_type: String,
    /// The file as uploaded.
    pub file: Vec<u8>,
    /// What was extracted when the file was opened at import (JSON; opaque to the store).
    pub extracted: String,
}

/// The complete new state of a keystore (create, or replace after a partial update).
#[derive(Debug, Clone)]
pub struct KeystoreDraft {
    pub name: String,
    pub description: String,
    pub entries: Vec<NewKeystoreEntry>,
    /// On replace: the `updated_at` the draft was built from (see [`KeyDraft::based_on`]).
    pub based_on: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewKeystoreEntry {
    pub environment_id: String,
    pub alias: String,
    pub keystore_type: String,
    pub file: Vec<u8>,
    pub extracted: String,
}

/// A JWK linked to a source, with the keystore alias it was derived from (KEYSTORE sources).
#[derive(Debug, Clone)]
pub struct LinkedJwk {
    pub jwk: Jwk,
    pub source_alias: Option<String>,
}
