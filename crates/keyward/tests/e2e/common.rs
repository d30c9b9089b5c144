//! Test harness: starts the real `keyward` binary on a free port with a fresh data directory and
//! speaks HTTP to it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The admin token every test server is bootstrapped with.
pub const ADMIN: &str = "kw_test-bootstrap-admin-token-0123456789";

/// The master key of test servers on PostgreSQL (base64 of 32 bytes; the embedded store makes
/// its own key file). `--master-key` in a test's extra arguments overrides it.
pub const TEST_MASTER_KEY: &str = "a2V5d2FyZC10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Where a test server keeps its data: a temporary directory (SQLite), or — when
/// `KEYWARD_TEST_DATABASE_URL` names a PostgreSQL server — a fresh database created on it.
pub struct DataHome {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

impl DataHome {
    pub fn new() -> Arc<DataHome> {
        let database_url = std::env::var("KEYWARD_TEST_DATABASE_URL")
            .ok()
            .map(|admin| fresh_database(&admin));
        Arc::new(DataHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url,
        })
    }

    /// The store arguments of `keyward serve` for this home.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.dir.path().display().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }
}

impl DataHome {
    /// Runs one SQL statement directly on this home's database (behind the server's back, as an
    /// attacker with database access would) and returns what it printed.
    pub fn sql(&self, statement: &str) -> String {
        let out = match &self.database_url {
            Some(url) => std::process::Command::new("psql")
                .arg(url)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", statement])
                .output()
                .expect("psql"),
            None => std::process::Command::new("sqlite3")
                .arg("-cmd")
                .arg(".timeout 10000")
                .arg(self.dir.path().join("keyward.db"))
                .arg(statement)
                .output()
                .expect("sqlite3 (the SQLite command line) is needed by this test"),
        };
        assert!(
            out.status.success(),
            "SQL failed: {statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `keyward audit verify` on this home; returns (success, stdout).
    pub fn audit_verify(&self) -> (bool, String) {
        self.audit_verify_with(&[])
    }

    /// `keyward audit verify` with extra arguments (e.g. `--master-key`).
    pub fn audit_verify_with(&self, extra: &[&str]) -> (bool, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.args(["audit", "verify"])
            .args(self.args())
            .args(extra)
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_MASTER_KEY")
            .env_remove("KEYWARD_MASTER_KEY_FILE")
            .env_remove("KEYWARD_PREVIOUS_MASTER_KEYS");
        // The chain's MAC key is sealed: verify needs the master key (the embedded store finds
        // its key file beside the database).
        if self.database_url.is_some() {
            cmd.env("KEYWARD_MASTER_KEY", TEST_MASTER_KEY);
        }
        let out = cmd.output().expect("run keyward audit verify");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

/// Creates a new, empty database on the PostgreSQL server of `admin_url`; returns its URL.
pub fn fresh_database(admin_url: &str) -> String {
    let name = format!(
        "kw_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let out = std::process::Command::new("psql")
        .arg(admin_url)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql (PostgreSQL client) is needed when KEYWARD_TEST_DATABASE_URL is set");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("database URL with a database name");
    format!("{base}/{name}")
}

/// Whether this run is the SQLite pass of `scripts/test.sh`, whose PostgreSQL pass runs the
/// PostgreSQL-only tests right after.
pub fn postgres_phase_follows() -> bool {
    std::env::var("KEYWARD_POSTGRES_PASS").is_ok_and(|v| v == "follows")
}

/// Whether the suite runs against PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("KEYWARD_TEST_DATABASE_URL").is_some()
}

pub struct Server {
    child: Child,
    pub base: String,
    pub data: Arc<DataHome>,
    pub client: reqwest::Client,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(DataHome::new(), &[]).await
    }

    /// The `keyward serve` command of a home with extra arguments.
    pub fn command(data: &DataHome, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(data.args())
            .args(extra)
            .env("KEYWARD_BOOTSTRAP_TOKEN", ADMIN)
            .env("KEYWARD_BOOTSTRAP_PASSWORD", "admin-password-1")
            .env("KEYWARD_LOG", "info")
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_MASTER_KEY")
            .env_remove("KEYWARD_MASTER_KEY_FILE")
            .env_remove("KEYWARD_PREVIOUS_MASTER_KEYS");
        if data.database_url.is_some() {
            cmd.env("KEYWARD_MASTER_KEY", TEST_MASTER_KEY);
        }
        cmd
    }

    /// Runs `keyward serve` expecting it to refuse to start: its exit status and stderr.
    pub async fn refused(data: &DataHome, extra: &[&str]) -> (std::process::ExitStatus, String) {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            Server::command(data, extra)
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("keyward serve did not exit within 60 s: it started although it should not")
        .expect("run keyward");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts a server on an existing data directory with extra arguments.
    pub async fn start_with(data: Arc<DataHome>, extra: &[&str]) -> Server {
        let mut child = Server::command(&data, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start keyward");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let log2 = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                // `listening on http://ADDR` or, with `--tls-cert`, `https://ADDR`.
                if let Some(i) = line.find("listening on http") {
                    let url = line[i + "listening on ".len()..].trim().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let base = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("keyward did not start within 60 s")
            .expect("keyward exited before listening");
        Server {
            child,
            base,
            data,
            client: reqwest::Client::new(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("keyward did not stop within 30 s after SIGTERM")
            .expect("wait")
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn send(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.client.get(self.url(path)), token).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.client.delete(self.url(path)), token).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(self.client.post(self.url(path)).json(&body), token)
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(self.client.put(self.url(path)).json(&body), token)
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
            token,
        )
        .await
    }

    /// Uploads a certificate (multipart) with POST (create) or PUT (replace).
    pub async fn upload(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        fields: &[(&str, &str)],
        file: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut form = Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some(f) = file {
            form = form.part("pemEncodedFile", Part::bytes(f).file_name("cert.pem"));
        }
        self.send(
            self.client.request(method, self.url(path)).multipart(form),
            token,
        )
        .await
    }

    pub async fn create_certificate(
        &self,
        project: &str,
        name: &str,
        alias: &str,
        envs: &str,
        pem: Vec<u8>,
    ) -> Value {
        let (status, body) = self
            .upload(
                reqwest::Method::POST,
                &format!("/apiops/projects/{project}/certificates/"),
                Some(ADMIN),
                &[
                    ("certificateName", name),
                    ("alias", alias),
                    ("environmentList", envs),
                ],
                Some(pem),
            )
            .await;
        assert_eq!(status, 200, "create certificate {name}: {body}");
        body
    }

    pub async fn create_environment(&self, name: &str) {
        let (status, body) = self
            .post(
                "/apiops/environments/",
                Some(ADMIN),
                json!({"name": name, "type": "TEST"}),
            )
            .await;
        assert_eq!(status, 200, "create environment {name}: {body}");
    }

    pub async fn create_project(&self, name: &str) {
        let (status, body) = self
            .post("/apiops/projects/", Some(ADMIN), json!({"name": name}))
            .await;
        assert_eq!(status, 200, "create project {name}: {body}");
    }

    /// Creates a user holding `permissions` (`"SECRETS:VIEW"` …) in `project`; returns a token.
    pub async fn user_with(&self, username: &str, project: &str, permissions: &[&str]) -> String {
        let (status, body) = self
            .post(
                "/apiops/users/",
                Some(ADMIN),
                json!({"username": username, "password": "password-123"}),
            )
            .await;
        assert_eq!(status, 200, "create user: {body}");
        let perms: Vec<Value> = permissions
            .iter()
            .map(|p| {
                let (c, a) = p.split_once(':').unwrap();
                json!({"category": c, "action": a})
            })
            .collect();
        if !perms.is_empty() {
            let (status, body) = self
                .put(
                    &format!("/apiops/projects/{project}/members/{username}/"),
                    Some(ADMIN),
                    json!({"permissions": perms}),
                )
                .await;
            assert_eq!(status, 200, "set permissions: {body}");
        }
        let (status, body) = self
            .post(
                &format!("/apiops/users/{username}/tokens/"),
                Some(ADMIN),
                json!({"name": "t1"}),
            )
            .await;
        assert_eq!(status, 200, "create token: {body}");
        body["resultList"][0]["token"].as_str().unwrap().to_owned()
    }

    /// A standard world: environments `production` and `test`, project `shop`.
    pub async fn with_world() -> Server {
        let s = Server::start().await;
        s.create_environment("production").await;
        s.create_environment("test").await;
        s.create_project("shop").await;
        s
    }

    pub async fn parse_jwk_as(&self, token: &str, body: Value) -> (u16, Value) {
        self.post(
            "/apiops/projects/shop/jwks/parse-from-certificate",
            Some(token),
            body,
        )
        .await
    }

    pub async fn send_method(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.send(self.client.request(method, self.url(path)), token)
            .await
    }

    pub async fn parse_jwk(&self, project: &str, body: Value) -> (u16, Value) {
        self.post(
            &format!("/apiops/projects/{project}/jwks/parse-from-certificate"),
            Some(ADMIN),
            body,
        )
        .await
    }
}

/// Asserts the error envelope: status, both message fields, the code.
pub fn assert_error(status: u16, body: &Value, expected_status: u16, message: &str) {
    assert_eq!(status, expected_status, "status of {body}");
    assert_eq!(body["status"], "FAILURE", "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["resultMessage"], message, "{body}");
    assert_eq!(body["error_description"], message, "{body}");
    let code = match expected_status {
        // The token endpoint answers RFC 6749 §5.2 codes.
        401 if message == "Bad credentials" => "invalid_client",
        401 => "unauthorized_client",
        413 => "payload_too_large",
        500..=599 => "server_error",
        _ => "bad_request",
    };
    assert_eq!(body["error"], code, "{body}");
}

/// Asserts the error envelope and that the message starts with `prefix`.
pub fn assert_error_prefix(status: u16, body: &Value, expected_status: u16, prefix: &str) {
    assert_eq!(status, expected_status, "status of {body}");
    assert_eq!(body["status"], "FAILURE", "{body}");
    let m = body["resultMessage"].as_str().unwrap_or_default();
    assert!(
        m.starts_with(prefix),
        "message {m:?} does not start with {prefix:?}"
    );
    assert_eq!(body["error_description"], body["resultMessage"]);
}

pub fn assert_success(status: u16, body: &Value) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "SUCCESS", "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(
        body["resultCount"].as_u64().unwrap() as usize,
        body["resultList"].as_array().unwrap().len()
    );
}

/// The Python interpreter that has jwcrypto: `KEYWARD_CROSSCHECK_PYTHON`, else `python3` when it
/// can import jwcrypto. Under CI (`CI` set) a missing peer is a failure, not a skip.
pub fn peer_python() -> Option<String> {
    if let Ok(p) = std::env::var("KEYWARD_CROSSCHECK_PYTHON") {
        return Some(p);
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jwcrypto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3".into());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide jwcrypto (set KEYWARD_CROSSCHECK_PYTHON)"
    );
    None
}
