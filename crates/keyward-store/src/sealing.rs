//! The store's side of encryption at rest: unlocking a store with its master keys (checked
//! against a sealed verifier), sealed settings, and re-wrapping every record under a new master
//! key (`keyward rekey`). The envelope itself is [`crate::seal`].
//!
//! Sealed columns: `crypto_key_entries.content`, `keystore_entries.file`,
//! `keystore_entries.extracted`, `jwks.jwk_private`, and the values of the settings in
//! [`SEALED_SETTINGS`].

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

use crate::seal::{Binding, Keyring, Record, hex};
use crate::{Result, Store, StoreError};

/// The setting holding the verifier: a known value sealed under the current master key.
pub(crate) const KEY_CHECK: &str = "master_key_check";
/// During a rotation: the known value sealed under the master key being rotated in.
pub(crate) const KEY_NEXT: &str = "master_key_next";
const CHECK_VALUE: &[u8] = b"keyward master key check";

/// Settings whose values are sealed (besides the verifiers).
pub(crate) const SEALED_SETTINGS: &[&str] = &["token_pepper", crate::audit::KEY_SETTING];

/// The sealed columns re-wrapped by [`Store::rekey`]: table, primary key, column.
const SEALED_COLUMNS: &[(&str, &str, &str)] = &[
    ("crypto_key_entries", "id", "content"),
    ("keystore_entries", "id", "file"),
    ("keystore_entries", "id", "extracted"),
    ("jwks", "id", "jwk_private"),
];

/// How [`Store::unlock`] found the store's verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The store had none: it is now sealed under the primary key.
    Created,
    /// The store's data is sealed under the primary key.
    Primary,
    /// The store's data is (partly) sealed under a previous key: a rotation is under way and
    /// `keyward rekey` finishes it.
    Rotating,
}

/// What [`Store::rekey`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RekeyReport {
    /// Sealed records in the store.
    pub total: u64,
    /// Records whose DEK was re-wrapped (the others already were under the primary key).
    pub rewrapped: u64,
}

fn setting_binding(key: &str) -> Binding<'_> {
    Binding {
        record: Record {
            table: "settings",
            field: "value",
            row: key,
        },
        project: "",
        environment: "",
        object: key,
    }
}

impl Store {
    /// The keyring records are sealed with.
    pub(crate) fn keys(&self) -> Result<&Keyring> {
        self.keyring
            .as_deref()
            .ok_or(StoreError::Sealed(crate::SealError::NoKey))
    }

    /// Whether the store's data is already sealed under some master key (it has a verifier).
    pub async fn has_key_check(&self) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT key FROM settings WHERE key = $1")
            .bind(KEY_CHECK)
            .fetch_optional(&self.write)
            .await?;
        Ok(row.is_some())
    }

    /// Gives the store its master keys, after checking them against the store's verifier (created
    /// under the primary key on first use). Fails with [`StoreError::WrongMasterKey`] when no key
    /// of `keyring` opens it, and with [`StoreError::RotationPending`] when a rotation to another
    /// primary key is under way.
    pub async fn unlock(mut self, keyring: Keyring) -> Result<(Store, KeyCheck)> {
        let check = keyring.seal(&setting_binding(KEY_CHECK), CHECK_VALUE);
        let inserted = sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(KEY_CHECK)
        .bind(check)
        .execute(&self.write)
        .await?
        .rows_affected()
            == 1;
        let stored = self.setting(KEY_CHECK).await?.unwrap_or_default();
        let kek = Keyring::kek_of(&stored)?;
        let opened = keyring.open(&setting_binding(KEY_CHECK), &stored);
        match opened {
            Ok(v) if v.as_slice() == CHECK_VALUE => {}
            _ => {
                return Err(StoreError::WrongMasterKey {
                    expected: hex(&kek),
                });
            }
        }
        let state = if kek == keyring.primary().id() {
            if inserted {
                KeyCheck::Created
            } else {
                KeyCheck::Primary
            }
        } else {
            // A rotation: the first node with the new primary key claims it; another new key is
            // refused until `keyward rekey` finishes (or undoes) that rotation.
            let next = keyring.seal(&setting_binding(KEY_NEXT), CHECK_VALUE);
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(KEY_NEXT)
            .bind(next)
            .execute(&self.write)
            .await?;
            let stored = self.setting(KEY_NEXT).await?.unwrap_or_default();
            let pending = Keyring::kek_of(&stored)?;
            if pending != keyring.primary().id() {
                return Err(StoreError::RotationPending {
                    pending: hex(&pending),
                });
            }
            KeyCheck::Rotating
        };
        self.keyring = Some(Arc::new(keyring));
        // Mutations chain their audit records inside their transaction: the key must be at hand.
        self.load_audit_key().await?;
        Ok((self, state))
    }

    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.write)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Returns the plaintext of a sealed setting, creating it (sealed) with `init()` first if it
    /// is absent. Safe when several nodes start at once: the first insert wins and everyone
    /// reads it back.
    pub async fn sealed_setting_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        debug_assert!(SEALED_SETTINGS.contains(&key));
        let keys = self.keys()?;
        let binding = setting_binding(key);
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(keys.seal(&binding, &init()))
        .execute(&self.write)
        .await?;
        let stored = self.setting(key).await?.unwrap_or_default();
        Ok(keys.open(&binding, &stored)?)
    }

    /// Re-wraps the DEK of every sealed record under the primary key (payloads untouched), in
    /// batches of `batch` records, one transaction each, calling `progress(done, total)` as they
    /// land; then seals the verifier under the primary key, which ends the rotation. Records
    /// already under the primary key are skipped, so an interrupted run is simply run again.
    /// Safe while servers run, provided they all have the new key as primary.
    pub async fn rekey(
        &self,
        batch: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<RekeyReport> {
        let keys = self.keys()?;
        let primary = keys.primary().id();
        let batch = batch.max(1);
        let mut total = 0u64;
        for (table, _, column) in SEALED_COLUMNS {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_one(&self.write)
            .await?;
            total += n as u64;
        }
        for key in SEALED_SETTINGS {
            total += u64::from(self.setting(key).await?.is_some());
        }
        let mut done = 0u64;
        let mut rewrapped = 0u64;
        progress(done, total);
        for (table, id, column) in SEALED_COLUMNS {
            let mut after = String::new();
            loop {
                let rows: Vec<AnyRow> = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {id}, {column} FROM {table} WHERE {column} IS NOT NULL AND {id} > $1 \
                     ORDER BY {id} LIMIT {batch}"
                )))
                .bind(&after)
                .fetch_all(&self.write)
                .await?;
                let Some(last) = rows.last() else { break };
                after = last.try_get(0)?;
                let mut tx = self.begin().await?;
                for row in &rows {
                    let row_id: String = row.try_get(0)?;
                    let sealed: Vec<u8> = row.try_get(1)?;
                    let record = Record {
                        table,
                        field: column,
                        row: &row_id,
                    };
                    if let Some(new) = keys.rewrap(&record, &sealed)? {
                        // Compare-and-set: a row rewritten meanwhile is already under the
                        // primary key (servers seal with it) and is left alone.
                        let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE {table} SET {column} = $1 WHERE {id} = $2 AND {column} = $3"
                        )))
                        .bind(new)
                        .bind(&row_id)
                        .bind(&sealed)
                        .execute(&mut *tx)
                        .await?;
                        rewrapped += changed.rows_affected();
                    }
                }
                tx.commit().await?;
                done += rows.len() as u64;
                progress(done.min(total), total);
            }
        }
        for key in SEALED_SETTINGS {
            if let Some(sealed) = self.setting(key).await? {
                if let Some(new) = keys.rewrap(&setting_binding(key).record, &sealed)? {
                    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
                        .bind(new)
                        .bind(*key)
                        .bind(&sealed)
                        .execute(&self.write)
                        .await?;
                    rewrapped += 1;
                }
                done += 1;
                progress(done.min(total), total);
            }
        }
        // Anything still under another key was written by a node whose primary key is the old
        // one: refuse to declare the rotation done.
        let left = self.records_not_under(&primary).await?;
        if left > 0 {
            return Err(StoreError::RekeyIncomplete(left));
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
            .bind(keys.seal(&setting_binding(KEY_CHECK), CHECK_VALUE))
            .bind(KEY_CHECK)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(KEY_NEXT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(RekeyReport { total, rewrapped })
    }

    /// Sealed records whose DEK is not wrapped under `kek`.
    async fn records_not_under(&self, kek: &crate::seal::KekId) -> Result<u64> {
        let mut left = 0u64;
        for (table, _, column) in SEALED_COLUMNS {
            let rows: Vec<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(&self.write)
            .await?;
            left += rows
                .iter()
                .filter(|(v,)| Keyring::kek_of(v).ok().as_ref() != Some(kek))
                .count() as u64;
        }
        for key in SEALED_SETTINGS {
            if let Some(v) = self.setting(key).await?
                && Keyring::kek_of(&v).ok().as_ref() != Some(kek)
            {
                left += 1;
            }
        }
        Ok(left)
    }
}
