//! Agents (issue #6, docs/agent.md) with real processes: a server and `keyward agent`s following
//! different environments, writing into temporary directories.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
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

    // A certificate in production only, then a JWK that lives in every environment.
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
    // A pasted public JWK follows every environment (one derived from the certificate would
    // stay in production: tests of that below).
    let pasted = json!({"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"sig","kid":"api-1"});
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-clipboard",
            Some(ADMIN),
            json!({"name": "api-jwk", "jwkStr": pasted.to_string()}),
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
    let member = s
        .user_with("member", "shop", &["SECRETS:DEPLOY_UNDEPLOY"])
        .await;
    let (status, body) = s
        .post(
            "/apiops/users/member/tokens",
            Some(&member),
            json!({"name": "member-agent", "environmentName": "production"}),
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

/// Every file below `dir`, with its text (lossy), recursively.
fn files_below(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// The kids of a public JWKS.
async fn published_kids(s: &Server, env: &str) -> Vec<String> {
    let (status, body) = s
        .get(
            &format!("/apiops/public/projects/shop/environments/{env}/jwks.json"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue #13 (00-product §1): private material stays in the environment, project and permission
/// it belongs to — over HTTP, in the public JWKS and in the files agents write.
#[tokio::test]
async fn nothing_private_crosses_an_environment_project_or_permission_line() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    // A private key in production only, made into a JWK; a certificate in test only, too.
    let key_pem = String::from_utf8(read_fixture("keys/p256.p8.pem")).unwrap();
    let (status, body) = s
        .post(
            "/apiops/projects/shop/keys/",
            Some(ADMIN),
            json!({"name": "signer", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [
                {"environmentName": "production", "content": key_pem, "alias": "signer"}]}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-key",
            Some(ADMIN),
            json!({"name": "prod-signer", "keyName": "signer", "environmentName": "production",
                "useType": "SIGNATURE", "algorithm": "ES256"}),
        )
        .await;
    assert_success(status, &body);
    let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production"], "deployed to its environment only");
    let prod_kid = body["resultList"][0]["kid"].as_str().unwrap().to_owned();
    let (status, full) = s
        .get("/apiops/projects/shop/jwks/prod-signer", Some(ADMIN))
        .await;
    assert_success(status, &full);
    let d = full["resultList"][0]["jwk"]["d"]
        .as_str()
        .unwrap()
        .to_owned();
    s.create_certificate("shop", "tls", "tls", "test", read_fixture("p384.pem"))
        .await;
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-certificate",
            Some(ADMIN),
            json!({"name": "test-cert", "certificateName": "tls", "environmentName": "test",
                "useType": "SIGNATURE", "algorithm": "ES384"}),
        )
        .await;
    assert_success(status, &body);
    let test_kid = body["resultList"][0]["kid"].as_str().unwrap().to_owned();
    // The public JWKS of each environment holds its own keys only.
    let prod_set = published_kids(&s, "production").await;
    let test_set = published_kids(&s, "test").await;
    assert!(prod_set.contains(&prod_kid) && !prod_set.contains(&test_kid));
    assert!(test_set.contains(&test_kid) && !test_set.contains(&prod_kid));

    // Members of each kind: who reads `d`, who may hold an agent token.
    let deployer = s
        .user_with(
            "deployer",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    for (who, token, sees) in [
        ("deployer", &deployer, true),
        ("exporter", &exporter, true),
        ("viewer", &viewer, false),
    ] {
        let (status, body) = s
            .get("/apiops/projects/shop/jwks/prod-signer", Some(token))
            .await;
        assert_success(status, &body);
        let item = &body["resultList"][0];
        assert_eq!(item["jwk"]["d"].is_string(), sees, "{who}: {body}");
        assert_eq!(item["ec"]["d"].is_string(), sees, "{who}: {body}");
        assert_eq!(body.to_string().contains(&d), sees, "{who}");
    }
    for (who, token) in [("viewer", &viewer), ("exporter", &exporter)] {
        let (status, body) = s
            .post(
                &format!("/apiops/users/{who}/tokens"),
                Some(token),
                json!({"name": "gw", "environmentName": "production"}),
            )
            .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation! An agent token needs SECRETS DEPLOY_UNDEPLOY in at least one project.",
        );
    }
    let mint = |user: &'static str, token: String, env: &'static str| {
        let s = &s;
        async move {
            let (status, body) = s
                .post(
                    &format!("/apiops/users/{user}/tokens"),
                    Some(&token),
                    json!({"name": format!("gw-{env}"), "environmentName": env}),
                )
                .await;
            assert_success(status, &body);
            body["resultList"][0]["token"].as_str().unwrap().to_owned()
        }
    };
    let prod_agent_token = mint("deployer", deployer.clone(), "production").await;
    let test_agent_token = mint("deployer", deployer.clone(), "test").await;

    // Real agents on both environments: the production key reaches production's files only.
    let out_prod = tempfile::tempdir().unwrap();
    let out_test = tempfile::tempdir().unwrap();
    let a = Agent::start(
        &s,
        &prod_agent_token,
        "production",
        "gw-a",
        out_prod.path(),
        &[],
    );
    let b = Agent::start(&s, &test_agent_token, "test", "gw-b", out_test.path(), &[]);
    connected(&s, "production", &["gw-a"]).await;
    connected(&s, "test", &["gw-b"]).await;
    let key_body = pem_body(&key_pem);
    within(Duration::from_secs(10), "production files", || {
        let files = files_below(out_prod.path());
        files.iter().any(|(_, t)| t.contains(&d))
            && files.iter().any(|(_, t)| pem_body(t).contains(&key_body))
    })
    .await;
    within(Duration::from_secs(10), "test files", || {
        files_below(out_test.path())
            .iter()
            .any(|(_, t)| t.contains(&test_kid))
    })
    .await;
    for (path, text) in files_below(out_test.path()) {
        assert!(
            !text.contains(&d) && !pem_body(&text).contains(&key_body) && !text.contains(&prod_kid),
            "production material in the test agent's {}",
            path.display()
        );
    }

    // A member who deploys elsewhere but only views here gets this project's public material.
    let reader = s
        .user_with(
            "reader",
            "other",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, body) = s
        .put(
            "/apiops/projects/shop/members/reader/",
            Some(ADMIN),
            json!({"permissions": [{"category": "SECRETS", "action": "VIEW"}]}),
        )
        .await;
    assert_success(status, &body);
    let reader_agent = mint("reader", reader.clone(), "production").await;
    let (status, body) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=gw-r",
            Some(&reader_agent),
        )
        .await;
    assert_success(status, &body);
    let text = body.to_string();
    assert!(!text.contains(&d) && !text.contains(&key_body), "{body}");
    let shop = body["resultList"][0]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "shop")
        .expect("shop's public material");
    assert!(shop["privateJwks"].is_null() && shop["keys"].as_array().unwrap().is_empty());
    assert!(
        shop["jwks"].to_string().contains(&prod_kid),
        "public JWK Set kept"
    );

    // An agent name belongs to the token that first used it: another token can't poll or ack as it.
    let (status, body) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=gw-a",
            Some(&reader_agent),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Agent (gw-a) is already followed with another token! Give each agent its own name.",
    );
    let (status, body) = s
        .post(
            "/apiops/environments/production/agent/ack",
            Some(&reader_agent),
            json!({"agent": "gw-a", "revision": 1, "success": false, "detail": "forged"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Agent (gw-a) is already followed with another token! Give each agent its own name.",
    );
    let listed = agents(&s, "production").await;
    let gw_a = listed.iter().find(|a| a["name"] == "gw-a").unwrap();
    assert_ne!(gw_a["lastDetail"], "forged", "{gw_a}");

    // Admin-project material: invisible to non-members, public members only to its viewers.
    let (status, body) = s
        .post(
            "/apiops/projects/admin/keys/",
            Some(ADMIN),
            json!({"name": "admin-signer", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [
                {"environmentName": "production", "content": key_pem, "alias": "admin-signer"}]}),
        )
        .await;
    assert_success(status, &body);
    let from_admin = |name: &'static str| {
        json!({"name": name, "keyName": "admin-signer", "environmentName": "production",
            "useType": "SIGNATURE", "algorithm": "ES256", "kid": name})
    };
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-key",
            Some(&deployer),
            from_admin("probe"),
        )
        .await;
    assert_error(status, &body, 400, "Key (name: admin-signer) is not found!");
    let (status, body) = s
        .put(
            "/apiops/projects/admin/members/deployer/",
            Some(ADMIN),
            json!({"permissions": [{"category": "SECRETS", "action": "VIEW"}]}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-key",
            Some(&deployer),
            from_admin("from-admin"),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["sourceType"], "PUBLIC_KEY", "{body}");
    let (status, body) = s
        .get("/apiops/projects/shop/jwks/from-admin", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert!(body["resultList"][0]["jwk"]["d"].is_null(), "{body}");

    a.kill().await;
    b.kill().await;
}
