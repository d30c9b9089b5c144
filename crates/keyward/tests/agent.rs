//! Agents (issue #6, docs/agent.md) with real processes: a server and `keyward agent`s following
//! different environments, writing into temporary directories.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `keyward agent`; killed when dropped.
struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(s: &Server, token: &str, env: &str, name: &str, out: &Path, extra: &[&str]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .arg("agent")
            .args(["--server", &s.base, "--environment", env, "--name", name])
            .arg("--out")
            .arg(out)
            .args(extra)
            .env("KEYWARD_AGENT_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start keyward agent");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log2.lock().unwrap().push(line);
            }
        });
        Agent { child, log }
    }

    async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// An agent token of `env` owned by the system admin.
async fn agent_token(s: &Server, name: &str, env: &str) -> String {
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": name, "environmentName": env}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["environmentName"], env);
    body["resultList"][0]["token"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds, at most `limit`; returns how long it took.
async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The agents of an environment, by name.
async fn agents(s: &Server, env: &str) -> Vec<Value> {
    let (status, body) = s
        .get(&format!("/apiops/environments/{env}/agents"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"].as_array().unwrap().clone()
}

/// Waits until the named agents of `env` are connected (polling).
async fn connected(s: &Server, env: &str, names: &[&str]) {
    let start = Instant::now();
    loop {
        let list = agents(s, env).await;
        let ok = names.iter().all(|n| {
            list.iter()
                .any(|a| a["name"] == *n && a["connected"] == true && a["lastRevision"].is_i64())
        });
        if ok {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "agents {names:?} of {env} never connected: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The detail of agent `name` in a deploymentResult.
fn detail<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["deploymentResult"]["detailList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["podName"] == name)
        .unwrap_or_else(|| panic!("no detail for {name}: {body}"))
}

/// The base64 of a PEM text's blocks, without armour or line breaks.
fn pem_body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

fn pem_b64(name: &str) -> String {
    keyward_jose::b64::standard(&read_fixture(name))
}

#[tokio::test]
async fn two_agents_follow_their_environments_and_catch_up_after_a_restart() {
    let s = Server::with_world().await;
    let prod_token = agent_token(&s, "gw-prod", "production").await;
    let test_token = agent_token(&s, "gw-test", "test").await;
    let dir_prod = tempfile::tempdir().unwrap();
    let dir_test = tempfile::tempdir().unwrap();
    let out_prod = dir_prod.path().join("out");
    let out_test = dir_test.path().join("out");
    let prod = Agent::start(&s, &prod_token, "production", "gw-prod", &out_prod, &[]);
    let test = Agent::start(&s, &test_token, "test", "gw-test", &out_test, &[]);
    connected(&s, "production", &["gw-prod"]).await;
    connected(&s, "test", &["gw-test"]).await;
    assert_eq!(
        read(&out_prod.join(".keyward-revision"))
            .as_deref()
            .map(str::trim),
        Some("0")
    );

    // A certificate in production only; a JWK of it (JWKs live in every environment).
    let started = Instant::now();
    let body = s
        .create_certificate("shop", "api", "api", "production", read_fixture("p256.pem"))
        .await;
    let d = detail(&body, "gw-prod");
    assert_eq!(d["success"], true, "{body}");
    assert_eq!(d["envName"], "production");
    assert_eq!(d["podIp"], "127.0.0.1");
    assert!(d["responseTime"].as_i64().unwrap() < 1000, "{d}");
    assert_eq!(
        body["deploymentResult"]["detailList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let cert = out_prod.join("shop/certificates/api.pem");
    within(Duration::from_secs(1), "certificate written", || {
        cert.exists()
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        pem_body(&read(&cert).unwrap()),
        pem_body(&String::from_utf8(read_fixture("p256.pem")).unwrap())
    );
    assert!(out_prod.join("shop/certificates/api-chain.pem").exists());
    assert_eq!(mode(&cert), 0o644);
    assert!(
        !out_test.join("shop/certificates").exists(),
        "test has no certificate"
    );

    let started = Instant::now();
    let (status, body) = s
        .parse_jwk(
            "shop",
            json!({"name": "api-jwk", "certificateName": "api", "environmentName": "production",
                   "useType": "SIGNATURE", "algorithm": "ES256", "kid": "api-1"}),
        )
        .await;
    assert_success(status, &body);
    // Both agents answered, each for its environment.
    assert_eq!(body["deploymentResult"]["success"], true, "{body}");
    for (name, env) in [("gw-prod", "production"), ("gw-test", "test")] {
        let d = detail(&body, name);
        assert_eq!(
            (d["success"].as_bool(), d["envName"].as_str()),
            (Some(true), Some(env)),
            "{d}"
        );
        assert!(
            d["detail"].as_str().unwrap().contains("Applied revision"),
            "{d}"
        );
    }
    for r in body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            (r["agents"].as_i64(), r["success"].as_bool()),
            (Some(1), Some(true)),
            "{r}"
        );
    }
    for out in [&out_prod, &out_test] {
        let jwks = out.join("shop/jwks.json");
        within(Duration::from_secs(1), "jwks.json written", || {
            read(&jwks).is_some_and(|t| t.contains("api-1"))
        })
        .await;
        let set: Value = serde_json::from_str(&read(&jwks).unwrap()).unwrap();
        assert!(set["keys"][0].get("d").is_none(), "public members only");
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    // A private key: 0600, PEM.
    let (status, body) = s
        .post(
            "/apiops/projects/shop/keys/",
            Some(ADMIN),
            json!({"name": "signer", "description": "", "keyType": "PRIVATE_KEY",
                   "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": pem_b64("p256.key"), "alias": "signer"}]}),
        )
        .await;
    assert_success(status, &body);
    let key = out_prod.join("shop/keys/signer.pem");
    within(Duration::from_secs(1), "key written", || key.exists()).await;
    assert_eq!(mode(&key), 0o600);
    assert!(
        read(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let dir_entries: Vec<String> = std::fs::read_dir(out_prod.join("shop/keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dir_entries,
        ["signer.pem"],
        "no temporary file is left behind"
    );
    // A keystore arrives byte for byte, 0600; a secret key as raw bytes, 0600.
    let (status, body) = s
        .post(
            "/apiops/projects/shop/keystores/",
            Some(ADMIN),
            json!({"name": "tls-store", "description": "", "keyStoreEnvironmentList": [
                {"environmentName": "production", "file": keyward_jose::b64::standard(&read_fixture("keystores/modern.p12")),
                 "password": "p12pass1", "keyStoreType": "PKCS12"}]}),
        )
        .await;
    assert_success(status, &body);
    let secret = [7u8; 32];
    let (status, body) = s
        .post(
            "/apiops/projects/shop/keys/",
            Some(ADMIN),
            json!({"name": "hmac", "description": "", "keyType": "SECRET_KEY", "algorithm": "AES",
                   "cryptoKeyInfoEnvironmentList": [{"environmentName": "production",
                   "content": keyward_jose::b64::standard(&secret), "alias": "hmac"}]}),
        )
        .await;
    assert_success(status, &body);
    let p12 = out_prod.join("shop/keystores/tls-store.p12");
    let raw = out_prod.join("shop/keys/hmac.key");
    within(
        Duration::from_secs(1),
        "keystore and secret key written",
        || p12.exists() && raw.exists(),
    )
    .await;
    assert_eq!(
        std::fs::read(&p12).unwrap(),
        read_fixture("keystores/modern.p12")
    );
    assert_eq!(std::fs::read(&raw).unwrap(), secret);
    assert_eq!((mode(&p12), mode(&raw)), (0o600, 0o600));

    // The production agent goes away; changes made meanwhile reach it when it is back.
    prod.kill().await;
    let (status, body) = s
        .send_method(
            reqwest::Method::DELETE,
            "/apiops/projects/shop/certificates/api?jwkDeleteAction=NULLIFY",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    // Either the server saw the connection close (no agent waited for) or it waited in vain.
    if let Some(d) = body["deploymentResult"]["detailList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["podName"] == "gw-prod")
    {
        assert_eq!(d["success"], false, "{d}");
    }
    s.create_certificate("shop", "web", "web", "production", read_fixture("p384.pem"))
        .await;
    assert!(cert.exists(), "nobody applied the deletion yet");
    let prod = Agent::start(&s, &prod_token, "production", "gw-prod", &out_prod, &[]);
    let web = out_prod.join("shop/certificates/web.pem");
    within(Duration::from_secs(5), "restarted agent catches up", || {
        web.exists() && !cert.exists()
    })
    .await;
    connected(&s, "production", &["gw-prod"]).await;
    // The files are written before the revision is acknowledged, and the row still holds the
    // first agent's last acknowledgement: wait for the new one.
    let start = Instant::now();
    let list = loop {
        let list = agents(&s, "production").await;
        if list[0]["lastRevision"] == list[0]["environmentRevision"] {
            break list;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the restarted agent never acknowledged the current revision: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(list[0]["lastSuccess"], true);
    assert_eq!(list[0]["address"], "127.0.0.1");
    for (agent, token) in [(&prod, &prod_token), (&test, &test_token)] {
        let log = agent.log_text();
        assert!(
            !log.contains(token.as_str()),
            "the token reached the agent's log"
        );
        assert!(
            !log.contains("PRIVATE KEY"),
            "key material reached the agent's log"
        );
    }
    drop((prod, test));
}

#[tokio::test]
async fn a_failing_on_change_command_is_a_failed_deployment() {
    let s = Server::with_world().await;
    let token = agent_token(&s, "gw", "production").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let marker = dir.path().join("ran");
    let on_change = format!(
        "echo \"$KEYWARD_REVISION\" >> {}; echo 'reload refused: bad config' >&2; exit 3",
        marker.display()
    );
    let agent = Agent::start(
        &s,
        &token,
        "production",
        "gw",
        &out,
        &["--on-change", &on_change],
    );
    connected(&s, "production", &["gw"]).await;
    let body = s
        .create_certificate("shop", "api", "api", "production", read_fixture("p256.pem"))
        .await;
    assert_eq!(body["deploymentResult"]["success"], false, "{body}");
    let d = detail(&body, "gw");
    assert_eq!(d["success"], false);
    let text = d["detail"].as_str().unwrap();
    assert!(text.contains("reload refused: bad config"), "{text}");
    assert!(text.contains('3'), "{text}");
    let env = &body["deploymentResult"]["environmentResults"][0];
    assert_eq!(
        (env["success"].as_bool(), env["agents"].as_i64()),
        (Some(false), Some(1))
    );
    // The files were written all the same, and the command saw the revision.
    assert!(out.join("shop/certificates/api.pem").exists());
    let revision = body["deploymentResult"]["environmentResults"][0]["revision"].to_string();
    assert!(
        read(&marker).unwrap().lines().any(|l| l == revision),
        "{:?}",
        read(&marker)
    );
    let list = agents(&s, "production").await;
    assert_eq!(list[0]["lastSuccess"], false);
    assert!(
        list[0]["lastDetail"]
            .as_str()
            .unwrap()
            .contains("bad config")
    );
    // The agent's log says what failed, and never shows its token.
    let log = agent.log_text();
    assert!(log.contains("bad config") || log.contains("exit"), "{log}");
    assert!(!log.contains(&token), "the token reached the agent's log");
    drop(agent);
}

#[tokio::test]
async fn agent_tokens_follow_one_environment_and_nothing_else() {
    let s = Server::with_world().await;
    let token = agent_token(&s, "gw", "production").await;
    // Any other route refuses it, reads included.
    for path in ["/apiops/environments", "/apiops/projects/shop/jwks"] {
        let (status, body) = s.get(path, Some(&token)).await;
        assert_error(
            status,
            &body,
            400,
            "This is an agent token of environment (production): it can only follow that environment through the agent endpoints!",
        );
    }
    // Another environment is refused.
    let (status, body) = s
        .get(
            "/apiops/environments/test/agent/bundle?agent=x",
            Some(&token),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "This agent token follows environment (production), not environment (test)!",
    );
    // An ordinary token of a member may not follow an environment.
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=x",
            Some(&viewer),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    // The agent name is required; acknowledgements cannot name a future revision.
    let (status, body) = s
        .get("/apiops/environments/production/agent/bundle", Some(&token))
        .await;
    assert_error(status, &body, 400, "agent value can not be empty!");
    let (status, body) = s
        .post(
            "/apiops/environments/production/agent/ack",
            Some(&token),
            json!({"agent": "gw", "revision": 99, "success": true}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "revision (99) is not valid! The environment is at revision 0; acknowledge a revision from 0 to 0.",
    );
    // A member's agent token reads only the projects its owner may read.
    s.create_project("hidden").await;
    s.create_certificate(
        "hidden",
        "secret-cert",
        "h",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    s.create_certificate(
        "shop",
        "shop-cert",
        "s",
        "production",
        read_fixture("p384.pem"),
    )
    .await;
    let (status, body) = s
        .post(
            "/apiops/users/viewer/tokens",
            Some(&viewer),
            json!({"name": "viewer-agent", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let member_agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    let (status, body) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=v",
            Some(&member_agent),
        )
        .await;
    assert_success(status, &body);
    let projects: Vec<&str> = body["resultList"][0]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(projects, ["shop"]);
    // Long poll: nothing new within `wait` → 204.
    let revision = body["resultList"][0]["revision"].as_i64().unwrap();
    let started = Instant::now();
    let resp = s
        .client
        .get(s.url(&format!(
            "/apiops/environments/production/agent/bundle?agent=v&after={revision}&wait=1"
        )))
        .bearer_auth(&member_agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// Stopping the server ends open long polls at once (204) instead of holding the drain for up
/// to their whole wait.
#[tokio::test]
async fn a_stopping_server_ends_long_polls_at_once() {
    let s = Server::with_world().await;
    let token = agent_token(&s, "gw", "production").await;
    let poll = s
        .client
        .get(s.url("/apiops/environments/production/agent/bundle?agent=gw&after=0&wait=25"))
        .bearer_auth(&token)
        .send();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let status = s.stop().await;
        (status, started.elapsed())
    };
    let (resp, (status, took)) = tokio::join!(poll, stop);
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    assert_eq!(resp.unwrap().status(), 204);
}
