//! End-to-end: encryption at rest. One secret of each kind is stored over HTTP; no plaintext
//! byte sequence of any of them reaches the database (files on SQLite, raw columns on both
//! stores); a wrong or missing master key stops `serve` from starting; `keyward rekey` moves the
//! store to a new key, after which the old key alone no longer opens it.

use std::path::Path;

use crate::common::*;
use keyward_store::seal::{Binding, Record};
use keyward_store::{Kek, Keyring};
use serde_json::{Value, json};
use sqlx::Row;

const KEYS: &str = "/apiops/projects/shop/keys/";
const KEYSTORES: &str = "/apiops/projects/shop/keystores/";
/// A valid master key that is not the one of any store here.
const WRONG_KEY: &str = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3I=";

fn b64(bytes: &[u8]) -> String {
    keyward_jose::b64::standard(bytes)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    let mut b = vec![0u8; n];
    std::io::Read::read_exact(&mut f, &mut b).unwrap();
    b
}

/// A file's bytes as the export endpoints give them.
async fn download(s: &Server, path: &str) -> Vec<u8> {
    let resp = s
        .client
        .get(s.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

/// What a client can read back of every secret (compared before and after restarts).
async fn readback(s: &Server) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for key in ["signing", "shared"] {
        out.push(
            download(
                s,
                &format!("{KEYS}{key}/export-file?environmentName=production"),
            )
            .await,
        );
    }
    for ks in ["p12", "jks"] {
        out.push(
            download(
                s,
                &format!("{KEYSTORES}{ks}/export-file?environmentName=production"),
            )
            .await,
        );
    }
    for jwk in ["gen-ec", "gen-oct"] {
        let (status, body) = s
            .get(&format!("/apiops/projects/shop/jwks/{jwk}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
        out.push(body["resultList"][0]["jwk"].to_string().into_bytes());
    }
    out
}

/// Stores one secret of each kind; returns the plaintext byte sequences that must never reach
/// the database, and the personal token created.
async fn store_every_kind(s: &Server) -> (Vec<(String, Vec<u8>)>, String) {
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    // A private key (PEM upload; stored as PKCS#8 PEM).
    let pem = read_fixture("keys/rsa2048.p8.pem");
    let der = read_fixture("keys/rsa2048.p8.der");
    let (status, body) = s
        .post(
            KEYS,
            Some(ADMIN),
            json!({"name": "signing", "keyType": "PRIVATE_KEY",
                "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": b64(&pem), "alias": "signing"}]}),
        )
        .await;
    assert_success(status, &body);
    needles.push(("private key DER".into(), der.clone()));
    for at in [400, 700, 1000] {
        needles.push((
            format!("private key DER at {at}"),
            der[at..at + 32].to_vec(),
        ));
    }
    let pem_text = String::from_utf8(pem).unwrap();
    let line = pem_text.lines().nth(10).unwrap().to_owned();
    needles.push(("private key PEM line".into(), line.into_bytes()));
    // A secret key.
    let secret = random_bytes(32);
    let (status, body) = s
        .post(
            KEYS,
            Some(ADMIN),
            json!({"name": "shared", "keyType": "SECRET_KEY", "algorithm": "AES",
                "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": b64(&secret), "alias": "shared"}]}),
        )
        .await;
    assert_success(status, &body);
    needles.push(("secret key".into(), secret));
    // A PKCS#12 and a JKS keystore.
    for (name, file, ks_type, password, key_password) in [
        ("p12", "modern.p12", "PKCS12", "p12pass1", "p12pass1"),
        ("jks", "rsa.jks", "JKS", "storepw1", "keypw12"),
    ] {
        let bytes = read_fixture(&format!("keystores/{file}"));
        let (status, body) = s
            .post(
                KEYSTORES,
                Some(ADMIN),
                json!({"name": name, "keyStoreEnvironmentList": [{"environmentName": "production",
                    "file": b64(&bytes), "password": password, "keyPassword": key_password, "keyStoreType": ks_type}]}),
            )
            .await;
        assert_success(status, &body);
        for at in [0, bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
            needles.push((format!("{file} at {at}"), bytes[at..at + 32].to_vec()));
        }
    }
    // JWKs with private members: EC (`d`) and oct (`k`).
    for (name, req) in [
        ("gen-ec", json!({"type":"EC","ec":{"curveType":"P256"}})),
        ("gen-oct", json!({"type":"OCT","oct":{"keySize":256}})),
    ] {
        let mut req = req;
        req["name"] = json!(name);
        let (status, body) = s
            .post("/apiops/projects/shop/jwks/generate", Some(ADMIN), req)
            .await;
        assert_success(status, &body);
        let (status, body) = s
            .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
        let jwk = &body["resultList"][0]["jwk"];
        let member = if name == "gen-ec" { "d" } else { "k" };
        let private = jwk[member].as_str().expect("private member").to_owned();
        needles.push((format!("{name} {member}"), private.into_bytes()));
    }
    // A personal token (only its keyed hash is stored).
    let token = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    needles.push(("personal token".into(), token.clone().into_bytes()));
    (needles, token)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database files of an embedded store, with their bytes.
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["keyward.db", "keyward.db-wal", "keyward.db-shm"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok().map(|b| (f.to_string(), b)))
        .collect()
}

fn assert_no_plaintext_in_files(dir: &Path, needles: &[(String, Vec<u8>)], when: &str) {
    let files = database_files(dir);
    assert!(!files.is_empty());
    for (file, bytes) in &files {
        for (what, needle) in needles {
            assert!(
                !contains(bytes, needle),
                "{when}: the {what} appears in plaintext in {file}"
            );
        }
    }
}

async fn raw_pool(data: &DataHome) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match &data.database_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}?mode=ro",
            data.dir.path().join("keyward.db").display()
        ),
    };
    sqlx::AnyPool::connect(&url).await.unwrap()
}

/// Every sealed value in the store (column name, bytes).
async fn sealed_values(pool: &sqlx::AnyPool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (table, column) in [
        ("crypto_key_entries", "content"),
        ("keystore_entries", "file"),
        ("keystore_entries", "extracted"),
        ("jwks", "jwk_private"),
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        for r in rows {
            out.push((format!("{table}.{column}"), r.get::<Vec<u8>, _>(0)));
        }
    }
    // Every setting but the audit chain's head (a public hash anchor) is sealed.
    let rows =
        sqlx::query("SELECT key, value FROM settings WHERE key <> 'audit_head' ORDER BY key")
            .fetch_all(pool)
            .await
            .unwrap();
    for r in rows {
        out.push((
            format!("settings.{}", r.get::<String, _>(0)),
            r.get::<Vec<u8>, _>(1),
        ));
    }
    out
}

/// Checks the raw columns: every secret column is sealed (version byte, key id of `key`), no
/// plaintext needle is in any of them nor in the plaintext JWK column; returns the token pepper,
/// opened with `key`.
async fn check_columns(data: &DataHome, key_text: &str, needles: &[(String, Vec<u8>)]) -> Vec<u8> {
    let key = Kek::from_base64(key_text).unwrap();
    let pool = raw_pool(data).await;
    let values = sealed_values(&pool).await;
    // 2 keys, 2 keystores × 2 columns, 2 private JWKs, pepper, audit key and verifier.
    assert_eq!(
        values.len(),
        11,
        "{:?}",
        values.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    for (column, value) in &values {
        assert_eq!(value[0], 1, "{column} starts with the version byte");
        assert_eq!(
            Keyring::kek_of(value).unwrap(),
            key.id(),
            "{column} is sealed under the expected master key"
        );
        for (what, needle) in needles {
            assert!(!contains(value, needle), "the {what} is in {column}");
        }
    }
    let rows = sqlx::query("SELECT name, jwk_json FROM jwks ORDER BY name")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let public: Value = serde_json::from_str(&r.get::<String, _>(1)).unwrap();
        for member in ["d", "k", "p", "q", "dp", "dq", "qi"] {
            assert!(public.get(member).is_none(), "{public} keeps {member}");
        }
        assert!(public.get("kty").is_some(), "{public}");
    }
    let sealed_pepper = values
        .iter()
        .find(|(c, _)| c == "settings.token_pepper")
        .map(|(_, v)| v.clone())
        .expect("the token pepper is stored");
    let ring = Keyring::new(key, Vec::new());
    let pepper = ring
        .open(
            &Binding {
                record: Record {
                    table: "settings",
                    field: "value",
                    row: "token_pepper",
                },
                project: "",
                environment: "",
                object: "token_pepper",
            },
            &sealed_pepper,
        )
        .expect("the pepper opens with the master key")
        .to_vec();
    assert_eq!(pepper.len(), 32);
    pool.close().await;
    pepper
}

/// The master key of a home: the harness key on PostgreSQL, the key file on SQLite.
fn home_key(data: &DataHome) -> String {
    match data.database_url {
        Some(_) => TEST_MASTER_KEY.to_owned(),
        None => std::fs::read_to_string(data.dir.path().join("master.key"))
            .unwrap()
            .trim()
            .to_owned(),
    }
}

async fn rekey(data: &DataHome, extra: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("rekey")
        .args(data.args())
        .args(extra)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_MASTER_KEY")
        .env_remove("KEYWARD_MASTER_KEY_FILE")
        .env_remove("KEYWARD_PREVIOUS_MASTER_KEYS")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_wrong_key(status: std::process::ExitStatus, err: &str, key_text: &str) {
    assert!(!status.success(), "serve started with a wrong key: {err}");
    assert!(err.contains("wrong master key"), "{err}");
    assert!(err.contains("KEYWARD_MASTER_KEY"), "{err}");
    assert!(!err.contains(key_text), "the key was printed: {err}");
}

#[tokio::test]
async fn no_plaintext_secret_reaches_the_database() {
    let s = Server::with_world().await;
    let data = s.data.clone();
    let embedded = data.database_url.is_none();
    if embedded {
        let key_file = data.dir.path().join("master.key");
        assert!(
            s.log_text().contains("created the master key file"),
            "{}",
            s.log_text()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "key file mode");
        }
    }
    let (needles, token) = store_every_kind(&s).await;
    let before = readback(&s).await;
    if embedded {
        // While the server runs (the WAL holds recent pages) …
        assert_no_plaintext_in_files(data.dir.path(), &needles, "running");
    }
    assert!(s.stop().await.success());

    let old_text = home_key(&data);
    let pepper = check_columns(&data, &old_text, &needles).await;
    let mut all = needles.clone();
    all.push(("token pepper".into(), pepper.clone()));
    if embedded {
        // … and once it stopped.
        assert_no_plaintext_in_files(data.dir.path(), &all, "stopped");
        // The scan does see the database: public, plaintext data is found.
        let files = database_files(data.dir.path());
        assert!(
            files
                .iter()
                .any(|(_, b)| contains(b, b"gen-ec") && contains(b, b"\"kty\":\"EC\"")),
            "the scan finds plaintext columns"
        );
    }

    // A wrong key: `serve` refuses, says what to do, never prints the key.
    let (status, err) = Server::refused(&data, &["--master-key", WRONG_KEY]).await;
    assert_wrong_key(status, &err, WRONG_KEY);
    // Not a key at all.
    let (status, err) = Server::refused(&data, &["--master-key", "short"]).await;
    assert!(!status.success());
    assert!(err.contains("not a usable master key"), "{err}");
    if embedded {
        // The key file missing while the database holds sealed data: refused, nothing created.
        let key_file = data.dir.path().join("master.key");
        let aside = data.dir.path().join("elsewhere.key");
        std::fs::rename(&key_file, &aside).unwrap();
        let (status, err) = Server::refused(&data, &[]).await;
        assert!(!status.success());
        assert!(err.contains("is missing"), "{err}");
        assert!(!key_file.exists(), "no new key file replaces the lost one");
        std::fs::rename(&aside, &key_file).unwrap();
    }

    // The right key: everything reads back the same, the token still works.
    let s = Server::start_with(data.clone(), &[]).await;
    assert_eq!(readback(&s).await, before);
    let (status, body) = s.get("/apiops/projects/shop/keys/", Some(&token)).await;
    assert_success(status, &body);
    assert!(s.stop().await.success());

    // Rotation.
    let (new_text, serve_new): (String, Vec<String>) = if embedded {
        let (ok, err) = rekey(&data, &[]).await;
        assert!(ok, "rekey failed: {err}");
        assert!(err.contains("rekey: 10/10 records"), "{err}");
        assert!(!data.dir.path().join("master.key.previous").exists());
        let new_text = home_key(&data);
        assert_ne!(new_text, old_text, "the key file holds a new key");
        (new_text, Vec::new())
    } else {
        let (_, new_text) = Kek::generate();
        let new_text = new_text.to_string();
        let (ok, err) = rekey(
            &data,
            &[
                "--master-key",
                &new_text,
                "--previous-master-keys",
                &old_text,
            ],
        )
        .await;
        assert!(ok, "rekey failed: {err}");
        assert!(err.contains("rekey: 10/10 records"), "{err}");
        (new_text.clone(), vec!["--master-key".into(), new_text])
    };
    let pepper_after = check_columns(&data, &new_text, &needles).await;
    assert_eq!(pepper_after, pepper, "the pepper itself did not change");
    // Running it again is a no-op that still succeeds (idempotent).
    let again: Vec<&str> = if embedded {
        vec!["--master-key", &new_text]
    } else {
        serve_new.iter().map(String::as_str).collect()
    };
    let (ok, err) = rekey(&data, &again).await;
    assert!(ok && err.contains("0 of 10 records re-wrapped"), "{err}");

    // The old key alone no longer opens the store; the new one does.
    let (status, err) = Server::refused(&data, &["--master-key", &old_text]).await;
    assert_wrong_key(status, &err, &old_text);
    let args: Vec<&str> = serve_new.iter().map(String::as_str).collect();
    let s = Server::start_with(data.clone(), &args).await;
    assert_eq!(readback(&s).await, before);
    let (status, _) = s.get("/apiops/projects/shop/keys/", Some(&token)).await;
    assert_eq!(status, 200);
    assert!(s.stop().await.success());
}

/// The rolling rotation: servers get the new key as primary and the old one as previous, `rekey`
/// runs beside them, then the old key is dropped. Explicit keys, both stores.
#[tokio::test]
async fn rotation_while_serving() {
    let data = DataHome::new();
    let (_, a) = Kek::generate();
    let (_, b) = Kek::generate();
    let (_, c) = Kek::generate();
    let (a, b, c) = (a.to_string(), b.to_string(), c.to_string());
    let export = |name: &str| format!("{KEYS}{name}/export-file?environmentName=production");
    let create = |name: &str, bytes: &[u8]| {
        json!({"name": name, "keyType": "SECRET_KEY", "algorithm": "AES",
            "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": b64(bytes), "alias": name}]})
    };
    let (k1, k2, k3) = (random_bytes(16), random_bytes(24), random_bytes(32));

    let s = Server::start_with(data.clone(), &["--master-key", &a]).await;
    if data.database_url.is_none() {
        assert!(
            !data.dir.path().join("master.key").exists(),
            "a given key makes no key file"
        );
    }
    s.create_environment("production").await;
    s.create_project("shop").await;
    let (status, body) = s.post(KEYS, Some(ADMIN), create("k1", &k1)).await;
    assert_success(status, &body);
    assert!(s.stop().await.success());

    // Step 1: the new key as primary, the old one as previous.
    let s = Server::start_with(
        data.clone(),
        &["--master-key", &b, "--previous-master-keys", &a],
    )
    .await;
    assert!(
        s.log_text().contains("rotation under way"),
        "{}",
        s.log_text()
    );
    assert_eq!(download(&s, &export("k1")).await, k1);
    let (status, body) = s.post(KEYS, Some(ADMIN), create("k2", &k2)).await;
    assert_success(status, &body);
    // Another new key cannot join this rotation.
    let (status, err) =
        Server::refused(&data, &["--master-key", &c, "--previous-master-keys", &a]).await;
    assert!(!status.success());
    assert!(err.contains("rotation to the master key"), "{err}");
    assert!(!err.contains(&c));

    // Step 2: rekey beside the running server.
    let (ok, err) = rekey(&data, &["--master-key", &b, "--previous-master-keys", &a]).await;
    assert!(ok, "rekey failed: {err}");
    // k1, k2, the token pepper and the audit chain's key (k2 is already sealed under the new key).
    assert!(err.contains("rekey: 4/4 records"), "{err}");
    assert!(err.contains("remove"), "{err}");
    assert_eq!(download(&s, &export("k1")).await, k1);
    assert_eq!(download(&s, &export("k2")).await, k2);
    let (status, body) = s.post(KEYS, Some(ADMIN), create("k3", &k3)).await;
    assert_success(status, &body);
    assert!(s.stop().await.success());

    // Step 3: the old key is no longer needed, and no longer enough.
    let (status, err) = Server::refused(&data, &["--master-key", &a]).await;
    assert_wrong_key(status, &err, &a);
    let s = Server::start_with(data.clone(), &["--master-key", &b]).await;
    assert!(!s.log_text().contains("rotation under way"));
    assert_eq!(download(&s, &export("k1")).await, k1);
    assert_eq!(download(&s, &export("k2")).await, k2);
    assert_eq!(download(&s, &export("k3")).await, k3);
    assert!(s.stop().await.success());
}

/// The data directory is 0700 and the SQLite files 0600, on a fresh start and after a restart of
/// a store whose files were left readable by others (SECURITY.md, "Files at rest").
#[cfg(unix)]
#[tokio::test]
async fn data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = DataHome::new();
    if data.database_url.is_some() {
        return; // PostgreSQL: no database files here.
    }
    let dir = data.dir.path().to_path_buf();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let db_files = |dir: &Path| -> Vec<std::path::PathBuf> {
        [
            "keyward.db",
            "keyward.db-wal",
            "keyward.db-shm",
            "keyward.db-journal",
        ]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
    };
    let check = |dir: &Path, when: &str| {
        assert_eq!(mode(dir), 0o700, "data directory, {when}");
        let files = db_files(dir);
        assert!(files.len() >= 2, "{files:?}");
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}, {when}", file.display());
        }
        assert_eq!(mode(&dir.join("master.key")), 0o600, "key file, {when}");
    };

    // A fresh store in a directory the server creates.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Server::start_with(data.clone(), &[]).await;
    s.create_environment("production").await;
    check(&dir, "fresh store");
    assert!(s.stop().await.success());

    // A store left readable by others is tightened at start, and says so.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in db_files(&dir) {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let s = Server::start_with(data.clone(), &[]).await;
    s.create_project("shop").await;
    check(&dir, "after a restart");
    let log = s.log_text();
    assert!(
        log.contains("tightened the permissions of the data directory"),
        "{log}"
    );
    assert!(log.contains("keyward.db from 0644 to 0600"), "{log}");
    assert!(s.stop().await.success());
}
