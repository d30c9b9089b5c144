//! The audit trail: an append-only, hash-chained record of every mutation and every read of private
//! material. A record says who (user, token id — never the token), when, what (method, route
//! template, project, object), from where and the outcome; never the secret itself.
//!
//! Chain: `hash = HMAC-SHA256(audit key, prev_hash ‖ canonical encoding of the record's fields)`,
//! `prev_hash` being the previous record's hash (32 zero bytes before the first record). The audit
//! key is 32 random bytes kept sealed under the master key in `settings` ([`KEY_SETTING`]), so
//! whoever can write the database but does not hold the master key cannot compute a valid hash:
//! a rewritten chain does not verify. The head of the chain (last `seq` and its hash) is kept in
//! `settings` under [`HEAD_SETTING`]. Because the head is anchored, cutting records off the tail is
//! detected as well as changing or deleting one.
//!
//! Writing (issue #11, `SECURITY.md`): a mutation's record is written **in the mutation's own
//! transaction** ([`Store::stage_audit`]), so both commit or neither does — no audit record, no
//! change. SQLite has one writer: the record is chained right there. On PostgreSQL the record goes
//! to `audit_pending` (an insert, no shared lock), and a sequencer — [`Store::chain_pending`], run by
//! every node, serialised by the head row's lock that only it takes — moves pending records onto the
//! chain in `id` order shortly after they commit. Reading the trail and `keyward audit verify`
//! chain what is pending first.

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use sqlx::Row;
use sqlx::any::AnyRow;

use std::time::Duration;

use crate::{Backend, Result, Store, StoreError, Tx, now_ms};

/// The `settings` key of the chain head: `"<seq>:<hex hash>"`.
pub const HEAD_SETTING: &str = "audit_head";

/// The sealed setting holding the chain's MAC key.
pub const KEY_SETTING: &str = "audit_key";

/// The hash before the first record.
const GENESIS: [u8; 32] = [0; 32];

/// Records read per round by [`Store::verify_audit`].
const VERIFY_BATCH: i64 = 1000;

/// What happened, as the HTTP layer saw it. Times are set by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub token_id: Option<String>,
    pub client_addr: Option<String>,
    pub method: String,
    /// The route template, e.g. `/apiops/projects/{projectName}/jwks/{jwkName}`.
    pub route: String,
    pub project: Option<String>,
    pub object_kind: Option<String>,
    pub object_name: Option<String>,
    pub action: String,
    /// The HTTP status of the answer.
    pub status: i64,
    /// `ok` or `error`.
    pub outcome: String,
}

impl AuditEntry {
    /// The record of a change keyward makes on its own, not for a request (first-start
    /// bootstrap, maintenance): no caller, no route.
    pub fn system(action: &str, object_kind: &str, object_name: &str) -> AuditEntry {
        AuditEntry {
            method: "-".into(),
            route: "-".into(),
            object_kind: Some(object_kind.into()),
            object_name: Some(object_name.into()),
            action: action.into(),
            status: 200,
            outcome: "ok".into(),
            ..AuditEntry::default()
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// Which records a query wants; every filter is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Inclusive lower bound, unix ms.
    pub from: Option<i64>,
    /// Inclusive upper bound, unix ms.
    pub to: Option<i64>,
    /// Username.
    pub user: Option<String>,
    /// Project name.
    pub project: Option<String>,
    /// Object name.
    pub object: Option<String>,
}

/// Where the chain breaks first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditBreak {
    /// Record `seq` is missing (deleted, or cut off the tail before the anchored head).
    Missing { seq: i64 },
    /// Record `seq`'s fields do not hash to its stored hash (it was changed).
    Altered { seq: i64 },
    /// Record `seq` does not link to the record before it (its predecessor was replaced).
    Unlinked { seq: i64 },
    /// The anchored head names a record that does not match the last record `seq`
    /// (or is missing although records exist).
    Head { seq: i64 },
    /// Record `seq` follows the anchored head (written behind the chain's back).
    Beyond { seq: i64 },
}

impl AuditBreak {
    /// The record named by the break.
    pub fn seq(&self) -> i64 {
        match *self {
            AuditBreak::Missing { seq }
            | AuditBreak::Altered { seq }
            | AuditBreak::Unlinked { seq }
            | AuditBreak::Head { seq }
            | AuditBreak::Beyond { seq } => seq,
        }
    }
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerdict {
    /// Records checked.
    pub records: i64,
    /// `None` when the chain is intact.
    pub broken: Option<AuditBreak>,
}

const COLUMNS: &str = "seq, at, user_id, username, token_id, client_addr, method, route, project, \
                       object_kind, object_name, action, status, outcome, prev_hash, hash";

fn record(row: &AnyRow) -> std::result::Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        entry: entry_of(row)?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// The chain hash of a record: HMAC-SHA256 under the audit key over the previous hash and a
/// canonical encoding of every field (integers as 8 bytes big-endian; text as a presence byte, a
/// 4-byte big-endian length and the UTF-8 bytes), so no two different records encode alike.
pub fn chain_hash(key: &[u8], prev: &[u8], seq: i64, at: i64, e: &AuditEntry) -> [u8; 32] {
    type HmacSha256 = hmac::Hmac<Sha256>;
    fn text(h: &mut HmacSha256, s: Option<&str>) {
        match s {
            None => h.update(&[0u8]),
            Some(s) => {
                h.update(&[1u8]);
                h.update(&(s.len() as u32).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    let mut h = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    h.update(prev);
    h.update(&seq.to_be_bytes());
    h.update(&at.to_be_bytes());
    for s in [
        e.user_id.as_deref(),
        e.username.as_deref(),
        e.token_id.as_deref(),
        e.client_addr.as_deref(),
        Some(e.method.as_str()),
        Some(e.route.as_str()),
        e.project.as_deref(),
        e.object_kind.as_deref(),
        e.object_name.as_deref(),
        Some(e.action.as_str()),
    ] {
        text(&mut h, s);
    }
    h.update(&e.status.to_be_bytes());
    text(&mut h, Some(&e.outcome));
    h.finalize().into_bytes().into()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn encode_head(seq: i64, hash: &[u8]) -> Vec<u8> {
    format!("{seq}:{}", to_hex(hash)).into_bytes()
}

/// `(seq, hash)` of a stored head, `None` if it is unreadable.
fn decode_head(value: &[u8]) -> Option<(i64, Vec<u8>)> {
    let text = std::str::from_utf8(value).ok()?;
    let (seq, hash) = text.split_once(':')?;
    let hash = from_hex(hash)?;
    (hash.len() == 32).then_some((seq.parse().ok()?, hash))
}

/// Records chained per transaction by [`Store::chain_pending`].
const CHAIN_BATCH: i64 = 500;

/// How long the sequencer waits after being woken before it chains.
const SEQUENCER_BATCH_WAIT: Duration = Duration::from_millis(20);

/// The chain head `(seq, hash)`; with `lock`, under the head row's lock until commit
/// (`UPDATE … SET value = value`, a row lock on PostgreSQL).
async fn read_head(tx: &mut Tx, lock: bool) -> Result<(i64, Vec<u8>)> {
    if lock {
        let locked = sqlx::query("UPDATE settings SET value = value WHERE key = $1")
            .bind(HEAD_SETTING)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if locked != 1 {
            return Err(StoreError::Rejected(
                "the audit chain head is missing; run `keyward audit verify`".into(),
            ));
        }
    }
    let value: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
        .bind(HEAD_SETTING)
        .fetch_optional(&mut **tx)
        .await?;
    value.and_then(|(v,)| decode_head(&v)).ok_or_else(|| {
        StoreError::Rejected(
            "the audit chain head is missing or unreadable; run `keyward audit verify`".into(),
        )
    })
}

async fn write_head(tx: &mut Tx, seq: i64, hash: &[u8]) -> Result<()> {
    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
        .bind(encode_head(seq, hash))
        .bind(HEAD_SETTING)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts record `seq` linked to `prev`; returns its hash.
async fn insert_chained(
    tx: &mut Tx,
    key: &[u8],
    seq: i64,
    prev: &[u8],
    at: i64,
    entry: &AuditEntry,
) -> Result<[u8; 32]> {
    let hash = chain_hash(key, prev, seq, at, entry);
    let q = concat!(
        "INSERT INTO audit_log (at, user_id, username, token_id, client_addr, method, route, project, ",
        "object_kind, object_name, action, status, outcome, seq, prev_hash, hash) ",
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    );
    bind_entry(sqlx::query(q).bind(at), entry)
        .bind(seq)
        .bind(to_hex(prev))
        .bind(to_hex(&hash))
        .execute(&mut **tx)
        .await?;
    Ok(hash)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds an entry's fields, in column order from `user_id` to `outcome`.
fn bind_entry<'q>(q: AnyQuery<'q>, e: &AuditEntry) -> AnyQuery<'q> {
    q.bind(e.user_id.clone())
        .bind(e.username.clone())
        .bind(e.token_id.clone())
        .bind(e.client_addr.clone())
        .bind(e.method.clone())
        .bind(e.route.clone())
        .bind(e.project.clone())
        .bind(e.object_kind.clone())
        .bind(e.object_name.clone())
        .bind(e.action.clone())
        .bind(e.status)
        .bind(e.outcome.clone())
}

fn entry_of(row: &AnyRow) -> std::result::Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        token_id: row.try_get("token_id")?,
        client_addr: row.try_get("client_addr")?,
        method: row.try_get("method")?,
        route: row.try_get("route")?,
        project: row.try_get("project")?,
        object_kind: row.try_get("object_kind")?,
        object_name: row.try_get("object_name")?,
        action: row.try_get("action")?,
        status: row.try_get("status")?,
        outcome: row.try_get("outcome")?,
    })
}

impl Store {
    /// Creates the chain head if the store has none (first start). Idempotent.
    pub(crate) async fn init_audit_head(&self) -> Result<()> {
        self.setting_or_init(HEAD_SETTING, || encode_head(0, &GENESIS))
            .await
            .map(|_| ())
    }

    /// The chain's MAC key: read once (created, sealed, on the first start) and kept. Needs an
    /// unlocked store. A rotation of the master key re-wraps it but never changes it.
    async fn audit_key(&self) -> Result<[u8; 32]> {
        if let Some(k) = self.audit_key.get() {
            return Ok(**k);
        }
        let value = self
            .sealed_setting_or_init(KEY_SETTING, || {
                let mut k = zeroize::Zeroizing::new(vec![0u8; 32]);
                getrandom::fill(&mut k).expect("the operating system's random source failed");
                k
            })
            .await?;
        let key: [u8; 32] = value[..]
            .try_into()
            .map_err(|_| StoreError::Rejected("the audit key is not 32 bytes long".into()))?;
        let _ = self.audit_key.set(zeroize::Zeroizing::new(key));
        Ok(key)
    }

    /// Appends one record in its own transaction (a refused or failed request, a read of private
    /// material). Mutations write theirs with [`Store::stage_audit`] instead.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let mut tx = self.begin().await?;
        self.stage_audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes `entry` in `tx`, the transaction of the mutation it describes: both commit or
    /// neither does. SQLite chains it at once; PostgreSQL leaves it to the sequencer
    /// ([`Store::chain_pending`]), so no write of any node waits for the chain's head.
    pub(crate) async fn stage_audit(&self, tx: &mut Tx, entry: &AuditEntry) -> Result<()> {
        let at = now_ms();
        match self.backend {
            Backend::Sqlite => {
                let key = self.loaded_audit_key()?;
                let (seq, prev) = read_head(tx, false).await?;
                let hash = insert_chained(tx, &key[..], seq + 1, &prev, at, entry).await?;
                write_head(tx, seq + 1, &hash).await?;
            }
            Backend::Postgres => {
                let q = concat!(
                    "INSERT INTO audit_pending (at, user_id, username, token_id, client_addr, method, route, ",
                    "project, object_kind, object_name, action, status, outcome) ",
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                );
                bind_entry(sqlx::query(q).bind(at), entry)
                    .execute(&mut **tx)
                    .await?;
                self.audit_pending.notify_one();
            }
        }
        Ok(())
    }

    /// The audit key, which must have been loaded already (by [`Store::unlock`]): loading it
    /// needs the write connection, which a transaction holds on SQLite.
    fn loaded_audit_key(&self) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        self.audit_key
            .get()
            .map(|k| zeroize::Zeroizing::new(**k))
            .ok_or(StoreError::Sealed(crate::SealError::NoKey))
    }

    /// Loads (creating on the first start) the audit key; called when the store is unlocked.
    pub(crate) async fn load_audit_key(&self) -> Result<()> {
        self.audit_key().await.map(|_| ())
    }

    /// Chains every pending record (see the module documentation), in batches, each batch one
    /// transaction under the head row's lock; returns how many were chained. Any node may run it
    /// at any time: a record is chained exactly once (the batch deletes exactly the rows it
    /// chained, in the same transaction).
    pub async fn chain_pending(&self) -> Result<usize> {
        self.chain(true).await
    }

    /// [`Store::chain_pending`], unless another node is chaining right now (PostgreSQL: the
    /// head row is locked): then that node chains these records too, or the next round does.
    /// Sequencers of several nodes never queue behind each other.
    async fn chain_pending_unless_busy(&self) -> Result<usize> {
        self.chain(false).await
    }

    async fn chain(&self, wait: bool) -> Result<usize> {
        let pending: Option<(i64,)> = sqlx::query_as("SELECT id FROM audit_pending LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        if pending.is_none() {
            return Ok(0);
        }
        let key = zeroize::Zeroizing::new(self.audit_key().await?);
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            if !wait && self.backend == Backend::Postgres {
                let free: Option<(String,)> = sqlx::query_as(
                    "SELECT key FROM settings WHERE key = $1 FOR UPDATE SKIP LOCKED",
                )
                .bind(HEAD_SETTING)
                .fetch_optional(&mut *tx)
                .await?;
                if free.is_none() {
                    tx.rollback().await?;
                    return Ok(total);
                }
            }
            let (mut seq, mut prev) = read_head(&mut tx, true).await?;
            let rows = sqlx::query(concat!(
                "SELECT id, at, user_id, username, token_id, client_addr, method, route, project, ",
                "object_kind, object_name, action, status, outcome FROM audit_pending ORDER BY id LIMIT $1"
            ))
            .bind(CHAIN_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(total);
            }
            for row in &rows {
                let id: i64 = row.try_get("id")?;
                let at: i64 = row.try_get("at")?;
                let entry = entry_of(row)?;
                seq += 1;
                prev = insert_chained(&mut tx, &key[..], seq, &prev, at, &entry)
                    .await?
                    .to_vec();
                sqlx::query("DELETE FROM audit_pending WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            write_head(&mut tx, seq, &prev).await?;
            tx.commit().await?;
            total += rows.len();
            if (rows.len() as i64) < CHAIN_BATCH {
                return Ok(total);
            }
        }
    }

    /// Runs the sequencer for the life of the process: after every staged record (shortly, so
    /// that records committing together share a batch) and every `every` (records of other nodes,
    /// or left by a node that died before chaining them).
    pub fn spawn_sequencer(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(every, store.audit_pending.notified()).await;
                // Let the transaction that staged the record commit, and others join the batch.
                tokio::time::sleep(SEQUENCER_BATCH_WAIT).await;
                if let Err(e) = store.chain_pending_unless_busy().await {
                    tracing::error!(error = %e, "cannot chain pending audit records");
                }
            }
        })
    }

    /// One page of records matching `filter`, newest first, and how many match in all.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AuditRecord>, i64)> {
        self.chain_pending().await?;
        let mut clauses: Vec<String> = Vec::new();
        let mut ints: Vec<(usize, i64)> = Vec::new();
        let mut texts: Vec<(usize, String)> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if let Some(v) = filter.from {
            let i = next();
            clauses.push(format!("at >= ${i}"));
            ints.push((i, v));
        }
        if let Some(v) = filter.to {
            let i = next();
            clauses.push(format!("at <= ${i}"));
            ints.push((i, v));
        }
        for (column, value) in [
            ("username", &filter.user),
            ("project", &filter.project),
            ("object_name", &filter.object),
        ] {
            if let Some(v) = value {
                let i = next();
                clauses.push(format!("{column} = ${i}"));
                texts.push((i, v.clone()));
            }
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        // Binds in placeholder order: ints come first by construction, then texts.
        let count_sql = format!("SELECT COUNT(*) FROM audit_log{filter_sql}");
        let mut count = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count_sql));
        for (_, v) in &ints {
            count = count.bind(*v);
        }
        for (_, v) in &texts {
            count = count.bind(v.clone());
        }
        let (total,) = count.fetch_one(&self.read).await?;
        let page_sql = format!(
            "SELECT {COLUMNS} FROM audit_log{filter_sql} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
        for (_, v) in &ints {
            page = page.bind(*v);
        }
        for (_, v) in &texts {
            page = page.bind(v.clone());
        }
        let rows = page.bind(limit).bind(offset).fetch_all(&self.read).await?;
        let records = rows
            .iter()
            .map(record)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((records, total))
    }

    /// Chains what is pending, then walks the whole chain in `seq` order and checks every link, every hash and the anchored
    /// head; names the first break.
    pub async fn verify_audit(&self) -> Result<AuditVerdict> {
        let key = zeroize::Zeroizing::new(self.audit_key().await?);
        // What is committed but not chained yet joins the chain first (module documentation).
        self.chain_pending().await?;
        let head: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(HEAD_SETTING)
            .fetch_optional(&self.read)
            .await?;
        let head = head.and_then(|(v,)| decode_head(&v));
        let mut expected_seq = 1_i64;
        let mut prev = GENESIS.to_vec();
        let mut records = 0_i64;
        let broken = |records, b| {
            Ok(AuditVerdict {
                records,
                broken: Some(b),
            })
        };
        loop {
            let q =
                format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2");
            let rows = sqlx::query(sqlx::AssertSqlSafe(q))
                .bind(expected_seq)
                .bind(VERIFY_BATCH)
                .fetch_all(&self.read)
                .await?;
            let batch = rows.len() as i64;
            for row in &rows {
                let r = record(row)?;
                records += 1;
                if let Some((head_seq, _)) = &head
                    && r.seq > *head_seq
                {
                    return broken(records, AuditBreak::Beyond { seq: r.seq });
                }
                if r.seq != expected_seq {
                    return broken(records, AuditBreak::Missing { seq: expected_seq });
                }
                if from_hex(&r.prev_hash).as_deref() != Some(&prev[..]) {
                    return broken(records, AuditBreak::Unlinked { seq: r.seq });
                }
                let hash = chain_hash(&key[..], &prev, r.seq, r.at, &r.entry);
                if to_hex(&hash) != r.hash {
                    return broken(records, AuditBreak::Altered { seq: r.seq });
                }
                prev = hash.to_vec();
                expected_seq += 1;
            }
            if batch < VERIFY_BATCH {
                break;
            }
        }
        let last = expected_seq - 1;
        match head {
            None => broken(records, AuditBreak::Head { seq: last }),
            Some((head_seq, _)) if head_seq > last => {
                broken(records, AuditBreak::Missing { seq: last + 1 })
            }
            Some((_, head_hash)) if head_hash != prev => {
                broken(records, AuditBreak::Head { seq: last })
            }
            Some(_) => Ok(AuditVerdict {
                records,
                broken: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            user_id: Some("u1".into()),
            username: Some("admin".into()),
            token_id: Some("t1".into()),
            client_addr: Some("127.0.0.1:5000".into()),
            method: "POST".into(),
            route: "/apiops/projects/{projectName}/jwks".into(),
            project: Some("shop".into()),
            object_kind: Some("jwk".into()),
            object_name: Some("k1".into()),
            action: "create".into(),
            status: 200,
            outcome: "ok".into(),
        }
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let base = chain_hash(&[7; 32], &GENESIS, 1, 10, &entry());
        assert_ne!(base, chain_hash(&[7; 32], &[1; 32], 1, 10, &entry()));
        assert_ne!(base, chain_hash(&[7; 32], &GENESIS, 2, 10, &entry()));
        assert_ne!(base, chain_hash(&[7; 32], &GENESIS, 1, 11, &entry()));
        // Without the key the hash cannot be computed.
        assert_ne!(base, chain_hash(&[8; 32], &GENESIS, 1, 10, &entry()));
        let variants: Vec<fn(&mut AuditEntry)> = vec![
            |e| e.user_id = None,
            |e| e.username = Some("admin2".into()),
            |e| e.token_id = Some("t2".into()),
            |e| e.client_addr = None,
            |e| e.method = "PUT".into(),
            |e| e.route.push('x'),
            |e| e.project = Some(String::new()),
            |e| e.object_kind = None,
            |e| e.object_name = Some("k2".into()),
            |e| e.action = "delete".into(),
            |e| e.status = 400,
            |e| e.outcome = "error".into(),
        ];
        for change in variants {
            let mut e = entry();
            change(&mut e);
            assert_ne!(base, chain_hash(&[7; 32], &GENESIS, 1, 10, &e), "{e:?}");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = entry();
        a.username = Some("ab".into());
        a.token_id = Some("c".into());
        let mut b = entry();
        b.username = Some("a".into());
        b.token_id = Some("bc".into());
        assert_ne!(
            chain_hash(&[7; 32], &GENESIS, 1, 1, &a),
            chain_hash(&[7; 32], &GENESIS, 1, 1, &b)
        );
        let mut c = entry();
        c.project = None;
        let mut d = entry();
        d.project = Some(String::new());
        assert_ne!(
            chain_hash(&[7; 32], &GENESIS, 1, 1, &c),
            chain_hash(&[7; 32], &GENESIS, 1, 1, &d)
        );
    }

    #[test]
    fn heads_round_trip() {
        let h = [7u8; 32];
        assert_eq!(decode_head(&encode_head(42, &h)), Some((42, h.to_vec())));
        assert_eq!(decode_head(b"42:zz"), None);
        assert_eq!(decode_head(b"nonsense"), None);
    }
}
