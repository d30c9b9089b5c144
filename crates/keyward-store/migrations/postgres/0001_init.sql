-- keyward schema, version 1.
-- PostgreSQL twin of migrations/sqlite (same tables, columns and constraints): ids are TEXT (UUIDv7),
-- times are BIGINT unix milliseconds, booleans are BIGINT 0/1 (as in SQLite), binary is BYTEA.

-- Sealed (see keyward-store/src/seal.rs): the token pepper and the master key verifiers.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    env_type    TEXT NOT NULL,
    -- Bumped on every deploy or undeploy that touches this environment.
    revision    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    sys_admin     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- A user is a member of a project exactly when they hold at least one permission in it.
CREATE TABLE project_permissions (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category   TEXT NOT NULL,
    action     TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id, category, action)
);
CREATE INDEX project_permissions_user ON project_permissions(user_id);

-- Only a keyed hash of each token is kept; the token itself is shown once.
CREATE TABLE access_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    -- Set for an agent token (docs/agent.md): it may only follow this environment.
    environment_id TEXT REFERENCES environments(id) ON DELETE CASCADE,
    UNIQUE (user_id, name)
);

CREATE TABLE certificates (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- One entry per (certificate, environment); an alias is unique within an environment, as in a
-- gateway worker's truststore.
CREATE TABLE certificate_entries (
    id              TEXT PRIMARY KEY,
    certificate_id  TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments(id),
    alias           TEXT NOT NULL,
    leaf_der        BYTEA NOT NULL,
    chain_pem       TEXT NOT NULL,
    subject_dn      TEXT NOT NULL,
    sha1_thumbprint TEXT NOT NULL,
    not_before      BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    UNIQUE (certificate_id, environment_id),
    UNIQUE (environment_id, alias)
);

CREATE TABLE jwks (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id),
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL,
    source_type           TEXT NOT NULL,
    -- The certificate/key/keystore this JWK was derived from, while it stays linked.
    source_id             TEXT,
    source_url            TEXT,
    source_environment_id TEXT REFERENCES environments(id),
    kty                   TEXT NOT NULL,
    kid                   TEXT,
    key_use               TEXT,
    alg                   TEXT,
    -- 1 when the caller chose the kid; re-derivation then keeps it.
    kid_given             BIGINT NOT NULL,
    -- The public members only (no d, p, q, dp, dq, qi, oth; no k of an oct key).
    jwk_json              TEXT NOT NULL,
    -- Sealed: the complete JSON as given, when it has private members.
    jwk_private           BYTEA,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX jwks_source ON jwks(source_id);

-- What each environment currently has deployed, and at which revision of that environment.
CREATE TABLE deployments (
    environment_id TEXT NOT NULL REFERENCES environments(id),
    object_kind    TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    revision       BIGINT NOT NULL,
    PRIMARY KEY (environment_id, object_kind, object_id)
);

-- Crypto keys (reference §1.4): one named object per project, one entry per environment. `content`
-- is the key as it will be used, sealed: PKCS#8 PEM of a private key (decrypted at import, so no
-- password is kept), the public key or certificate as uploaded, or the raw bytes of a secret key.
CREATE TABLE crypto_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    algorithm   TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE crypto_key_entries (
    id             TEXT PRIMARY KEY,
    key_id         TEXT NOT NULL REFERENCES crypto_keys(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    alias          TEXT NOT NULL,
    content        BYTEA NOT NULL,
    UNIQUE (key_id, environment_id)
);

-- Keystores (reference §1.5): the file as uploaded per environment and what was extracted from it
-- when it was opened once at import (JSON, per alias), both sealed. The keystore password is never
-- stored.
CREATE TABLE keystores (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE keystore_entries (
    id             TEXT PRIMARY KEY,
    keystore_id    TEXT NOT NULL REFERENCES keystores(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    alias          TEXT NOT NULL,
    keystore_type  TEXT NOT NULL,
    file           BYTEA NOT NULL,
    extracted      BYTEA NOT NULL,
    UNIQUE (keystore_id, environment_id)
);

-- The keystore alias a KEYSTORE-sourced JWK was derived from (needed to re-derive it).
CREATE TABLE jwk_source_aliases (
    jwk_id TEXT PRIMARY KEY REFERENCES jwks(id) ON DELETE CASCADE,
    alias  TEXT NOT NULL
);

-- The audit trail (00-product, issue #4): one append-only record per mutation and per read of
-- private material, never the secret itself. Each record's `hash` is
-- HMAC-SHA256(audit key, prev_hash || canonical encoding of its fields), `prev_hash` being the previous record's
-- hash (32 zero bytes for the first); the head of the chain (last seq and hash) is anchored in
-- `settings` under `audit_head`, so a changed, deleted or truncated record is detectable.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    user_id     TEXT,
    username    TEXT,
    token_id    TEXT,
    client_addr TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    project     TEXT,
    object_kind TEXT,
    object_name TEXT,
    action      TEXT NOT NULL,
    status      BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);

-- A JWK that left an environment's public JWKS (deleted, or its key material replaced) stays
-- published there for the server's grace period after `retired_at` (docs/agent.md).
CREATE TABLE retired_jwks (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    environment_id TEXT NOT NULL REFERENCES environments(id),
    kid            TEXT,
    jwk_json       TEXT NOT NULL,
    retired_at     BIGINT NOT NULL
);
CREATE INDEX retired_jwks_env ON retired_jwks(environment_id, project_id);

-- Agents following an environment (docs/agent.md): last contact, and the last revision each
-- acknowledged with its result. `connected_until` is pushed forward by every poll.
CREATE TABLE agents (
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    address         TEXT NOT NULL,
    first_contact   BIGINT NOT NULL,
    last_contact    BIGINT NOT NULL,
    connected_until BIGINT NOT NULL,
    acked_revision  BIGINT,
    acked_success   BIGINT,
    acked_detail    TEXT,
    acked_at        BIGINT,
    PRIMARY KEY (environment_id, name)
);
