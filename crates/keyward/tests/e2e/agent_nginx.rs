//! A real gateway fed by the agent (issue #6, docs/agent.md): nginx terminates TLS with the
//! certificate chain and private key that `keyward agent` wrote, and a renewal made through the API
//! reaches new TLS connections through the agent's `--on-change` reload.
//!
//! Needs nginx: without it the test is skipped with a message, unless `CI` is set (then it fails;
//! `.ci/run` installs nginx).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;
use serde_json::json;

/// The nginx binary, if installed (`/usr/sbin` is not on every user's `PATH`).
fn nginx_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// nginx and the agent, stopped when the test ends, also on panic.
struct Processes {
    nginx: Option<std::process::Child>,
    agent: Option<tokio::process::Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            // SIGTERM to the master: it stops its workers (a SIGKILL would orphan them).
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &nginx.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(nginx.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nginx.kill();
            let _ = nginx.wait();
        }
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.start_kill();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The DER of the first certificate of a PEM fixture.
fn leaf_der(fixture_name: &str) -> Vec<u8> {
    keyward_jose::pem::scan(&read_fixture(fixture_name)).unwrap()[0]
        .der
        .clone()
}

/// The leaf certificate nginx presents on a new TLS connection (the client trusts only the test
/// CA and checks the name 127.0.0.1), or why there is none.
async fn served_leaf(port: u16) -> Result<Vec<u8>, String> {
    let ca = reqwest::Certificate::from_pem(&read_fixture("tls/ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let resp = client
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let der = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or("no peer certificate")?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if status != 200 || body != "keyward-agent-test\n" {
        return Err(format!("{status} {body:?}"));
    }
    Ok(der)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Two PEM fixtures, one after the other (a certificate followed by its chain).
fn chain(leaf: &str) -> Vec<u8> {
    let mut pem = read_fixture(leaf);
    pem.extend_from_slice(&read_fixture("tls/ca.pem"));
    pem
}

#[tokio::test]
async fn nginx_serves_what_the_agent_wrote_and_reloads_on_renewal() {
    let Some(nginx) = nginx_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is needed by this test on CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED agent_nginx: nginx is not installed (apt-get install nginx-light)");
        return;
    };
    let s = Server::start().await;
    s.create_environment("production").await;
    s.create_project("gw").await;

    // The certificate with its chain, and its private key, both deployed to production.
    s.create_certificate("gw", "site", "site", "production", chain("tls/server.pem"))
        .await;
    let key_content = |name: &str| keyward_jose::b64::standard(&read_fixture(name));
    let (status, body) = s
        .post(
            "/apiops/projects/gw/keys/",
            Some(ADMIN),
            json!({"name": "site", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [
                {"environmentName": "production", "content": key_content("tls/server.key"), "alias": "site"}]}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens/",
            Some(ADMIN),
            json!({"name": "gw-1", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let agent_token = body["resultList"][0]["token"].as_str().unwrap().to_owned();

    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let prefix = work.path().join("nginx");
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let conf = prefix.join("nginx.conf");
    let pid_file = prefix.join("nginx.pid");
    let error_log = prefix.join("error.log");
    let chain_file = out.join("gw/certificates/site-chain.pem");
    let key_file = out.join("gw/keys/site.pem");
    let port = free_port();
    let p = |path: &Path| path.display().to_string();
    std::fs::write(
        &conf,
        format!(
            "daemon off;
worker_processes 1;
pid {pid};
error_log {err} info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {chain};
    ssl_certificate_key {key};
    location / {{ default_type text/plain; return 200 \"keyward-agent-test\\n\"; }}
  }}
}}
",
            pid = p(&pid_file),
            err = p(&error_log),
            tmp = p(&prefix.join("tmp")),
            chain = p(&chain_file),
            key = p(&key_file),
        ),
    )
    .unwrap();
    let nginx_args = format!(
        "-c '{}' -p '{}' -e '{}'",
        p(&conf),
        p(&prefix),
        p(&error_log)
    );
    // Reload once nginx runs (before, there is nothing to reload: it reads the files at start).
    // `nginx -s reload` loads the configuration and its files before it signals the master: a
    // certificate whose key does not match makes it fail.
    let on_change = format!(
        "if [ -s '{pid}' ]; then '{nginx}' {nginx_args} -s reload; fi",
        pid = p(&pid_file),
        nginx = p(&nginx),
    );

    let agent_log = work.path().join("agent.log");
    let agent_said = || std::fs::read_to_string(&agent_log).unwrap_or_default();
    let mut procs = Processes {
        nginx: None,
        agent: None,
    };
    procs.agent = Some(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["agent", "--server", &s.base, "--environment", "production"])
            .args([
                "--name",
                "gw-1",
                "--out",
                &p(&out),
                "--on-change",
                &on_change,
            ])
            .env("KEYWARD_AGENT_TOKEN", &agent_token)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start keyward agent"),
    );
    let revision_file = out.join(".keyward-revision");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !revision_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the agent wrote nothing within 30 s: {}",
            agent_said()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read(&chain_file).unwrap(),
        chain("tls/server.pem"),
        "the chain file is the certificate followed by its chain"
    );
    assert_eq!(mode(&key_file), 0o600, "private key file mode");
    assert_eq!(mode(&chain_file), 0o644, "certificate file mode");

    procs.nginx = Some(
        std::process::Command::new(&nginx)
            .args(["-c", &p(&conf), "-p", &p(&prefix), "-e", &p(&error_log)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    let log = || std::fs::read_to_string(&error_log).unwrap_or_default();
    let original = leaf_der("tls/server.pem");
    let deadline = Instant::now() + Duration::from_secs(15);
    let served = loop {
        match served_leaf(port).await {
            Ok(der) => break der,
            Err(e) => {
                if let Some(status) = procs.nginx.as_mut().unwrap().try_wait().unwrap() {
                    panic!("nginx exited ({status}): {}", log());
                }
                assert!(
                    Instant::now() < deadline,
                    "no TLS answer from nginx: {e}\n{}",
                    log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(served == original, "nginx serves the uploaded certificate");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "nginx wrote no pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Renewal: a new certificate and key from the same CA replace the pair. Certificate and key are
    // two writes, hence two revisions: in between, the files hold the new certificate with the old
    // key; nginx refuses to reload them, the agent reports the failure with nginx's words, and
    // nginx keeps serving the old pair.
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/gw/certificates/site/",
            Some(ADMIN),
            &[("alias", "site"), ("environmentList", "production")],
            Some(chain("tls/server-renewed.pem")),
        )
        .await;
    assert_success(status, &body);
    let result = &body["deploymentResult"];
    assert_eq!(result["success"], false, "mismatched pair: {result}");
    let detail = result["detailList"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        result["detailList"][0]["podName"] == "gw-1" && detail.contains("key values mismatch"),
        "the agent reports nginx's refusal: {result}"
    );
    assert!(
        served_leaf(port).await.unwrap() == original,
        "between the two writes nginx keeps the old pair"
    );
    let (status, body) = s
        .put(
            "/apiops/projects/gw/keys/site",
            Some(ADMIN),
            json!({"cryptoKeyInfoEnvironmentList": [
                {"environmentName": "production", "content": key_content("tls/server-renewed.key"), "alias": "site"}]}),
        )
        .await;
    assert_success(status, &body);
    let result = &body["deploymentResult"];
    assert_eq!(
        result["success"],
        true,
        "the reload succeeded: {result}\n{}",
        agent_said()
    );
    let agents = result["detailList"].as_array().cloned().unwrap_or_default();
    assert!(
        agents
            .iter()
            .any(|a| a["podName"] == "gw-1" && a["success"] == true),
        "the agent acknowledged the renewal: {result}"
    );
    assert_eq!(
        mode(&key_file),
        0o600,
        "private key file mode after renewal"
    );

    // A new TLS connection gets the renewed certificate (old workers may finish first).
    let renewed = leaf_der("tls/server-renewed.pem");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = served_leaf(port).await;
        if served.as_ref().is_ok_and(|der| *der == renewed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nginx still does not serve the renewed certificate: {}\n{}\n{}",
            served
                .map(|_| "the old one".to_owned())
                .unwrap_or_else(|e| e),
            log(),
            agent_said()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(procs);
    s.stop().await;
}
