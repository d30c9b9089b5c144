//! Moving a whole store to another backend (`keyward store copy`): every table, row by row, bytes
//! unchanged (encrypted material stays encrypted), in foreign-key order, into an empty target,
//! then a row count of both sides.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

#[derive(Clone, Copy)]
enum Col {
    Text,
    Int,
    Blob,
}

/// Every table with its columns, parents before children.
const TABLES: &[(&str, &[(&str, Col)])] = &[
    ("settings", &[("key", Col::Text), ("value", Col::Blob)]),
    (
        "environments",
        &[
            ("id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("env_type", Col::Text),
            ("revision", Col::Int),
            ("created_at", Col::Int),
        ],
    ),
    (
        "projects",
        &[
            ("id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("created_at", Col::Int),
        ],
    ),
    (
        "users",
        &[
            ("id", Col::Text),
            ("username", Col::Text),
            ("password_hash", Col::Text),
            ("sys_admin", Col::Int),
            ("created_at", Col::Int),
        ],
    ),
    (
        "project_permissions",
        &[
            ("project_id", Col::Text),
            ("user_id", Col::Text),
            ("category", Col::Text),
            ("action", Col::Text),
        ],
    ),
    (
        "access_tokens",
        &[
            ("id", Col::Text),
            ("user_id", Col::Text),
            ("name", Col::Text),
            ("kind", Col::Text),
            ("secret_hash", Col::Blob),
            ("expires_at", Col::Int),
            ("created_at", Col::Int),
            ("environment_id", Col::Text),
            ("last_used_at", Col::Int),
        ],
    ),
    (
        "certificates",
        &[
            ("id", Col::Text),
            ("project_id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    ),
    (
        "certificate_entries",
        &[
            ("id", Col::Text),
            ("certificate_id", Col::Text),
            ("environment_id", Col::Text),
            ("alias", Col::Text),
            ("leaf_der", Col::Blob),
            ("chain_pem", Col::Text),
            ("subject_dn", Col::Text),
            ("sha1_thumbprint", Col::Text),
            ("not_before", Col::Int),
            ("not_after", Col::Int),
        ],
    ),
    (
        "jwks",
        &[
            ("id", Col::Text),
            ("project_id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("source_type", Col::Text),
            ("source_id", Col::Text),
            ("source_url", Col::Text),
            ("source_environment_id", Col::Text),
            ("kty", Col::Text),
            ("kid", Col::Text),
            ("key_use", Col::Text),
            ("alg", Col::Text),
            ("kid_given", Col::Int),
            ("jwk_json", Col::Text),
            ("jwk_private", Col::Blob),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
            ("all_environments", Col::Int),
        ],
    ),
    (
        "crypto_keys",
        &[
            ("id", Col::Text),
            ("project_id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("key_type", Col::Text),
            ("algorithm", Col::Text),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    ),
    (
        "crypto_key_entries",
        &[
            ("id", Col::Text),
            ("key_id", Col::Text),
            ("environment_id", Col::Text),
            ("alias", Col::Text),
            ("content", Col::Blob),
        ],
    ),
    (
        "keystores",
        &[
            ("id", Col::Text),
            ("project_id", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("created_at", Col::Int),
            ("updated_at", Col::Int),
        ],
    ),
    (
        "keystore_entries",
        &[
            ("id", Col::Text),
            ("keystore_id", Col::Text),
            ("environment_id", Col::Text),
            ("alias", Col::Text),
            ("keystore_type", Col::Text),
            ("file", Col::Blob),
            ("extracted", Col::Blob),
        ],
    ),
    (
        "jwk_source_aliases",
        &[("jwk_id", Col::Text), ("alias", Col::Text)],
    ),
    (
        "deployments",
        &[
            ("environment_id", Col::Text),
            ("object_kind", Col::Text),
            ("object_id", Col::Text),
            ("project_id", Col::Text),
            ("revision", Col::Int),
        ],
    ),
    (
        "audit_log",
        &[
            ("seq", Col::Int),
            ("at", Col::Int),
            ("user_id", Col::Text),
            ("username", Col::Text),
            ("token_id", Col::Text),
            ("client_addr", Col::Text),
            ("method", Col::Text),
            ("route", Col::Text),
            ("project", Col::Text),
            ("object_kind", Col::Text),
            ("object_name", Col::Text),
            ("action", Col::Text),
            ("status", Col::Int),
            ("outcome", Col::Text),
            ("prev_hash", Col::Text),
            ("hash", Col::Text),
        ],
    ),
    (
        // Not yet chained (PostgreSQL). The target numbers them anew (its own sequence), in the
        // order of their time.
        "audit_pending",
        &[
            ("at", Col::Int),
            ("user_id", Col::Text),
            ("username", Col::Text),
            ("token_id", Col::Text),
            ("client_addr", Col::Text),
            ("method", Col::Text),
            ("route", Col::Text),
            ("project", Col::Text),
            ("object_kind", Col::Text),
            ("object_name", Col::Text),
            ("action", Col::Text),
            ("status", Col::Int),
            ("outcome", Col::Text),
        ],
    ),
    (
        "retired_jwks",
        &[
            ("project_id", Col::Text),
            ("environment_id", Col::Text),
            ("kid", Col::Text),
            ("jwk_json", Col::Text),
            ("retired_at", Col::Int),
        ],
    ),
    (
        "agents",
        &[
            ("environment_id", Col::Text),
            ("name", Col::Text),
            ("address", Col::Text),
            ("first_contact", Col::Int),
            ("last_contact", Col::Int),
            ("connected_until", Col::Int),
            ("acked_revision", Col::Int),
            ("acked_success", Col::Int),
            ("acked_detail", Col::Text),
            ("acked_at", Col::Int),
            ("token_id", Col::Text),
        ],
    ),
];

/// Rows copied per transaction.
const BATCH: usize = 500;

/// Rows of one table on both sides after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

impl Store {
    /// Rows per table, in copy order.
    pub async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>> {
        let mut out = Vec::new();
        for (table, _) in TABLES {
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.read)
                    .await?;
            out.push((*table, n));
        }
        Ok(out)
    }

    /// Copies every row of `self` into `target`, which must be empty (freshly migrated).
    /// `progress(table, done, total)` is called as rows land. Returns the counts of both sides;
    /// fails if they differ.
    pub async fn copy_into(
        &self,
        target: &Store,
        mut progress: impl FnMut(&str, i64, i64),
    ) -> Result<Vec<TableCount>> {
        if target
            .row_counts()
            .await?
            .iter()
            .any(|(t, n)| *t != "settings" && *n > 0)
        {
            return Err(StoreError::Rejected(
                "the target store is not empty; copy only into a new store".into(),
            ));
        }
        let totals = self.row_counts().await?;
        for ((table, columns), (_, total)) in TABLES.iter().zip(&totals) {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let select = format!(
                "SELECT {} FROM {table} ORDER BY {}",
                names.join(", "),
                names[0]
            );
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            // The target's settings (its own token pepper, if it created one) give way to the source's.
            let insert = if *table == "settings" {
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                    .to_owned()
            } else {
                format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    placeholders.join(", ")
                )
            };
            let rows: Vec<AnyRow> = sqlx::query(sqlx::AssertSqlSafe(select))
                .fetch_all(&self.read)
                .await?;
            let mut done = 0_i64;
            progress(table, done, *total);
            for chunk in rows.chunks(BATCH) {
                let mut tx = target.begin().await?;
                for row in chunk {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                    for (i, (_, col)) in columns.iter().enumerate() {
                        q = match col {
                            Col::Text => q.bind(row.try_get::<Option<String>, _>(i)?),
                            Col::Int => q.bind(row.try_get::<Option<i64>, _>(i)?),
                            Col::Blob => q.bind(row.try_get::<Option<Vec<u8>>, _>(i)?),
                        };
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                done += chunk.len() as i64;
                progress(table, done, *total);
            }
        }
        let after = target.row_counts().await?;
        let counts: Vec<TableCount> = totals
            .iter()
            .zip(&after)
            .map(|((table, source), (_, target))| TableCount {
                table,
                source: *source,
                target: *target,
            })
            .collect();
        if let Some(bad) = counts.iter().find(|c| c.source != c.target) {
            return Err(StoreError::Rejected(format!(
                "verification failed: table {} has {} rows in the source and {} in the target",
                bad.table, bad.source, bad.target
            )));
        }
        Ok(counts)
    }
}
