//! The edge (issue #4): request limits, brute-force lockout, TLS termination, and no secret in
//! any log line. Each test starts the real binary with small limits so nothing waits long.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `host:port` of a server.
fn authority(s: &Server) -> String {
    s.base
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

/// Opens a connection and sends a request whose body never arrives in full; the server holds the
/// request (and its slot) until it gives up or the connection closes.
async fn stalled_request(s: &Server) -> TcpStream {
    let host = authority(s);
    let mut c = TcpStream::connect(&host).await.expect("connect");
    let head = format!(
        "POST /apiops/environments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"name\":"
    );
    c.write_all(head.as_bytes()).await.expect("write");
    c.flush().await.unwrap();
    c
}

/// Reads one HTTP/1.1 response: status, lower-case head, JSON body.
async fn read_response(c: &mut TcpStream) -> (u16, String, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut chunk))
            .await
            .expect("no response within 10 s")
            .expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len || n == 0 {
                let status = head[9..12].parse().unwrap();
                let body = serde_json::from_slice(&buf[end + 4..]).unwrap_or(Value::Null);
                return (status, head, body);
            }
        }
        assert!(n > 0, "connection closed before a response: {text}");
    }
}

#[tokio::test]
async fn limits_refuse_with_the_envelope() {
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--max-multipart-parts",
            "3",
            "--json-max-depth",
            "8",
            "--body-limit",
            "4096",
        ],
    )
    .await;
    s.create_project("shop").await;
    s.create_environment("production").await;

    // Multipart: a fourth part is refused before anything is read further.
    let (status, body) = s
        .upload(
            reqwest::Method::POST,
            "/apiops/projects/shop/certificates/",
            Some(ADMIN),
            &[
                ("certificateName", "c"),
                ("alias", "c"),
                ("environmentList", "production"),
                ("extra", "x"),
            ],
            Some(read_fixture("p256.pem")),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Request body has more than 3 multipart parts!",
    );
    // Three parts are fine.
    let (status, body) = s
        .upload(
            reqwest::Method::POST,
            "/apiops/projects/shop/certificates/",
            Some(ADMIN),
            &[("certificateName", "c"), ("alias", "c")],
            Some(read_fixture("p256.pem")),
        )
        .await;
    assert_ne!(status, 500, "{body}");
    assert_ne!(
        body["resultMessage"],
        "Request body has more than 3 multipart parts!"
    );

    // JSON nesting: 8 levels pass (unknown members are ignored), 9 do not.
    let nested = |levels: usize| {
        let inner = "[".repeat(levels - 1) + "1" + &"]".repeat(levels - 1);
        format!(r#"{{"name":"deep{levels}","type":"TEST","x":{inner}}}"#)
    };
    let (status, body) = s
        .post_raw(
            "/apiops/environments/",
            Some(ADMIN),
            "application/json",
            nested(8).into_bytes(),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post_raw(
            "/apiops/environments/",
            Some(ADMIN),
            "application/json",
            nested(9).into_bytes(),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Request body nests JSON arrays and objects deeper than 8 levels!",
    );
    // Brackets inside strings do not count.
    let (status, body) = s
        .post(
            "/apiops/environments/",
            Some(ADMIN),
            json!({"name": "strings", "type": "TEST", "description": "[[[[[[[[[[[[{{{{{{{{{{"}),
        )
        .await;
    assert_success(status, &body);
    // Nothing of the refused one was created.
    let (_, envs) = s.get("/apiops/environments/", Some(ADMIN)).await;
    let names: Vec<&str> = envs["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"deep8") && !names.contains(&"deep9"),
        "{names:?}"
    );

    // A JSON body over the body limit, announced or chunked, is 413.
    let big = format!(
        r#"{{"name":"big","type":"TEST","description":"{}"}}"#,
        "x".repeat(5000)
    );
    let (status, body) = s
        .post_raw(
            "/apiops/environments/",
            Some(ADMIN),
            "application/json",
            big.clone().into_bytes(),
        )
        .await;
    assert_error(
        status,
        &body,
        413,
        "Request body is larger than the limit of 4096 bytes!",
    );
    let host = authority(&s);
    let mut c = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /apiops/environments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(1000) {
        c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        c.write_all(chunk).await.unwrap();
        c.write_all(b"\r\n").await.unwrap();
    }
    c.write_all(b"0\r\n\r\n").await.unwrap();
    let (status, _, body) = read_response(&mut c).await;
    assert_error(
        status,
        &body,
        413,
        "Request body is larger than the limit of 4096 bytes!",
    );

    // Security headers on every answer, errors included; no HSTS over plain HTTP.
    for path in ["/healthz", "/apiops/nope"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h.get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn a_request_over_its_time_is_stopped_with_503() {
    let s = Server::start_with(DataHome::new(), &["--request-timeout", "1s"]).await;
    let started = Instant::now();
    let mut c = stalled_request(&s).await;
    let (status, head, body) = read_response(&mut c).await;
    assert_eq!(status, 503, "{head}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(body["status"], "FAILURE");
    assert_eq!(body["error"], "server_error");
    assert_eq!(
        body["resultMessage"],
        "The request did not complete within 1 second and was stopped!"
    );
    assert_eq!(body["error_description"], body["resultMessage"]);
    // Nothing was created, and the server still answers.
    let (status, envs) = s.get("/apiops/environments/", Some(ADMIN)).await;
    assert_success(status, &envs);
    assert_eq!(envs["resultCount"], 0);
}

/// Opens a connection holding a long poll of environment `production` (waits `wait` seconds for a
/// revision that never comes): a request in flight that holds its slot.
async fn long_poll(s: &Server, wait: u32) -> TcpStream {
    let host = authority(s);
    let mut c = TcpStream::connect(&host).await.expect("connect");
    let head = format!(
        "GET /apiops/environments/production/agent/bundle?agent=hold&after=1000000&wait={wait} \
         HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    );
    c.write_all(head.as_bytes()).await.expect("write");
    c
}

#[tokio::test]
async fn requests_over_the_concurrency_cap_get_503_at_once() {
    let s = Server::start_with(
        DataHome::new(),
        &["--max-concurrent-requests", "1", "--request-timeout", "60s"],
    )
    .await;
    s.create_environment("production").await;
    // Hold the one slot with a long poll. A request of the harness may still be in flight right
    // after the start, and then the poll is refused at once: try again until one gets no answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let c = long_poll(&s, 50).await;
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(300), c.peek(&mut byte)).await {
            Err(_) => break c,
            Ok(_) => {
                assert!(Instant::now() < deadline, "no request could hold the slot");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // Once the held request has its slot, every other one is refused at once, not queued.
    let mut answered = 0;
    let refused = loop {
        let t = Instant::now();
        let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(t.elapsed() < Duration::from_secs(2), "the refusal waited");
            break resp;
        }
        answered += 1;
        assert!(
            Instant::now() < deadline,
            "never refused ({answered} answers while one request was held); log:\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_error(
        503,
        &body,
        503,
        "The server is handling too many requests at once! Try again in a moment (see Retry-After).",
    );
    // Closing the held connection frees its slot.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = s.get("/healthz", None).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client whose connections come from `ip` (any 127/8 address is loopback on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn password_login(
    s: &Server,
    client: &reqwest::Client,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = client.post(s.url("/apiops/auth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "admin"),
        ("client_secret", password),
    ]);
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap())
}

fn assert_locked(status: u16, retry: Option<String>, body: &Value, seconds: u64) {
    assert_eq!(
        retry.as_deref(),
        Some(seconds.to_string().as_str()),
        "{body}"
    );
    let unit = if seconds == 1 { "second" } else { "seconds" };
    assert_error(
        status,
        body,
        429,
        &format!(
            "Too many failed authentication attempts from this address! Try again in {seconds} {unit} (see Retry-After)."
        ),
    );
}

#[tokio::test]
async fn failed_passwords_lock_an_address_out_with_exponential_backoff() {
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--auth-max-failures",
            "3",
            "--auth-failure-window",
            "60s",
            "--auth-lockout",
            "1s",
            "--auth-lockout-max",
            "2s",
        ],
    )
    .await;
    let me = client_from("127.0.0.1");
    // X-Forwarded-For is not trusted without --trusted-proxies: rotating it changes nothing.
    for i in 0..2 {
        let xff = format!("203.0.113.{i}");
        let (status, _, body) = password_login(&s, &me, "wrong-password", Some(&xff)).await;
        assert_error(status, &body, 401, "Bad credentials");
    }
    let (status, retry, body) =
        password_login(&s, &me, "wrong-password", Some("203.0.113.9")).await;
    assert_locked(status, retry, &body, 1);
    // Locked: even the right password is refused, without being checked.
    let (status, retry, body) = password_login(&s, &me, "admin-password-1", None).await;
    assert_locked(status, retry, &body, 1);
    // A bad token from the same address is refused with 429.
    let (status, body) = s.get("/apiops/environments/", Some("kw_guess")).await;
    assert_eq!(status, 429, "{body}");
    // Another address is not affected.
    let other = client_from("127.0.0.2");
    let (status, _, body) = password_login(&s, &other, "admin-password-1", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("kw_"));

    // After the lockout: on probation, one failure locks again for twice as long (2 s, the cap).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, retry, body) = password_login(&s, &me, "wrong-password", None).await;
    assert_locked(status, retry, &body, 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, retry, body) = password_login(&s, &me, "wrong-password", None).await;
    assert_locked(status, retry, &body, 2);
    // A valid token from the locked address keeps working (the lockout stays in force)...
    let (status, body) = s.get("/apiops/environments/", Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, retry, body) = password_login(&s, &me, "admin-password-1", None).await;
    assert_locked(status, retry, &body, 2);
    // ...and, as a success, resets the schedule: after the lockout, failures count from scratch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = password_login(&s, &me, "wrong-password", None).await;
    assert_error(status, &body, 401, "Bad credentials");
    let (status, _, body) = password_login(&s, &me, "admin-password-1", None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn unknown_expired_and_revoked_tokens_count_as_failures() {
    let s = Server::start_with(
        DataHome::new(),
        &["--auth-max-failures", "4", "--auth-lockout", "30s"],
    )
    .await;
    s.create_project("shop").await;
    let revoked = s.user_with("bob", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s.delete("/apiops/users/bob/tokens/t1/", Some(ADMIN)).await;
    assert_success(status, &body);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = s
        .post(
            "/apiops/users/bob/tokens/",
            Some(ADMIN),
            json!({"name": "short", "expiresAt": soon}),
        )
        .await;
    assert_success(status, &body);
    let expiring = body["resultList"][0]["token"].as_str().unwrap().to_owned();

    // A missing token is no guess: never counted.
    for _ in 0..6 {
        let (status, body) = s.get("/apiops/environments/", None).await;
        assert_error(
            status,
            &body,
            401,
            "Empty Key! Client must be authenticated to access this resource.",
        );
    }
    let (status, body) = s.get("/apiops/environments/", Some("kw_unknown")).await;
    assert_error(status, &body, 401, "Token is not valid!");
    let (status, body) = s.get("/apiops/environments/", Some(&revoked)).await;
    assert_error(status, &body, 401, "Token is not valid!");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = s.get("/apiops/environments/", Some(&expiring)).await;
    assert_error(status, &body, 401, "Token was expired!");
    // The fourth failure locks the address; the answer says for how long.
    let resp = s
        .client
        .get(s.url("/apiops/projects/shop/certificates"))
        .bearer_auth("kw_unknown-2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "30");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    // Unauthenticated routes and valid tokens still work.
    let (status, _) = s.get("/healthz", None).await;
    assert_eq!(status, 200);
    let (status, body) = s.get("/apiops/environments/", Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, _, _) = password_login(&s, &s.client, "admin-password-1", None).await;
    assert_eq!(
        status, 429,
        "the password endpoint is locked for this address"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--auth-max-failures",
            "2",
            "--auth-lockout",
            "30s",
            "--trusted-proxies",
            "127.0.0.1/32",
        ],
    )
    .await;
    let proxy = client_from("127.0.0.1");
    let (status, _, _) = password_login(
        &s,
        &proxy,
        "wrong-password",
        Some("198.51.100.7, 127.0.0.1"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, retry, body) =
        password_login(&s, &proxy, "wrong-password", Some("198.51.100.7")).await;
    assert_locked(status, retry, &body, 30);
    // Another client behind the same proxy is not locked out.
    let (status, _, body) =
        password_login(&s, &proxy, "admin-password-1", Some("198.51.100.8")).await;
    assert_eq!(status, 200, "{body}");
    // A peer that is not a trusted proxy cannot pick its address with the header.
    let direct = client_from("127.0.0.3");
    let (status, _, _) = password_login(&s, &direct, "wrong-password", Some("198.51.100.8")).await;
    assert_eq!(status, 401);
    let (status, _, _) =
        password_login(&s, &direct, "admin-password-1", Some("198.51.100.8")).await;
    assert_eq!(status, 200);
}

fn https_client(trust_ca: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder().https_only(true);
    if trust_ca {
        let ca = reqwest::Certificate::from_pem(&read_fixture("tls/ca.pem")).unwrap();
        b = b.tls_certs_only([ca]);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn https_with_the_given_certificate_and_a_clean_shutdown() {
    for (cert, key) in [
        ("tls/server.pem", "tls/server.key"),
        ("tls/server-rsa.pem", "tls/server-rsa.key"),
    ] {
        let cert = fixture(cert).display().to_string();
        let key = fixture(key).display().to_string();
        let mut s =
            Server::start_with(DataHome::new(), &["--tls-cert", &cert, "--tls-key", &key]).await;
        assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
        s.client = https_client(true);
        let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        s.create_environment("production").await;
        let (status, body) = s.get("/apiops/environments/", Some(ADMIN)).await;
        assert_success(status, &body);
        assert_eq!(body["resultCount"], 1);
        // A client that does not trust the CA, and plain HTTP, get nowhere.
        assert!(
            https_client(false)
                .get(s.url("/healthz"))
                .send()
                .await
                .is_err()
        );
        let plain = s.base.replace("https://", "http://");
        let r = reqwest::Client::new()
            .get(format!("{plain}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(r.is_err() || r.unwrap().status() != 200);
        // The server still serves after the failed handshakes, and drains on SIGTERM.
        let (status, _) = s.get("/healthz", None).await;
        assert_eq!(status, 200);
        let code = s.stop().await;
        assert!(code.success(), "exit status {code:?}");
    }
}

#[tokio::test]
async fn tls_settings_that_do_not_fit_stop_the_start() {
    let home = DataHome::new();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(home.args())
            .args(extra)
            .env("KEYWARD_BOOTSTRAP_TOKEN", ADMIN)
            .env("KEYWARD_MASTER_KEY", TEST_MASTER_KEY)
            .env_remove("KEYWARD_DATABASE_URL")
            .output()
            .unwrap()
    };
    let cert = fixture("tls/server.pem").display().to_string();
    let rsa_key = fixture("tls/server-rsa.key").display().to_string();
    let out = run(&["--tls-cert", &cert, "--tls-key", &rsa_key]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not fit the certificate"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    let out = run(&["--tls-cert", &cert]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[tokio::test]
async fn no_secret_token_or_password_reaches_the_log() {
    // Own process: stdout and stderr both captured, every log level on.
    let home = DataHome::new();
    let logs = tempfile::tempdir().unwrap();
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--log", "trace"])
        .args(home.args())
        .env("KEYWARD_BOOTSTRAP_TOKEN", ADMIN)
        .env("KEYWARD_BOOTSTRAP_PASSWORD", "admin-password-1")
        .env("KEYWARD_MASTER_KEY", TEST_MASTER_KEY)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_LOG")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let text = std::fs::read_to_string(&err_path).unwrap_or_default();
        if let Some(i) = text.find("listening on http://") {
            let rest = &text[i + "listening on ".len()..];
            break rest.lines().next().unwrap().trim().to_owned();
        }
        assert!(Instant::now() < deadline, "no start: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let c = reqwest::Client::new();
    let url = |p: &str| format!("{base}{p}");
    let mut secrets: Vec<String> = vec![
        ADMIN.into(),
        "admin-password-1".into(),
        TEST_MASTER_KEY.into(),
    ];

    // A password login, a wrong password, and the token it buys.
    let resp: Value = c
        .post(url("/apiops/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "admin"),
            ("client_secret", "admin-password-1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = resp["access_token"].as_str().unwrap().to_owned();
    secrets.push(access.clone());
    let wrong = "wrong-password-Zq81xk";
    secrets.push(wrong.into());
    let r = c
        .post(url("/apiops/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "admin"),
            ("client_secret", wrong),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let bad_token = "kw_not-a-real-token-but-secret-all-the-same";
    secrets.push(bad_token.into());
    let r = c
        .get(url("/apiops/environments"))
        .bearer_auth(bad_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let post = |path: &str, body: Value| c.post(url(path)).bearer_auth(&access).json(&body).send();
    assert_eq!(
        post(
            "/apiops/environments",
            json!({"name": "production", "type": "TEST"})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        post("/apiops/projects", json!({"name": "shop"}))
            .await
            .unwrap()
            .status(),
        200
    );
    // A user's password and a new personal token.
    let user_pw = "user-password-Vb93kq";
    secrets.push(user_pw.into());
    assert_eq!(
        post(
            "/apiops/users",
            json!({"username": "carol", "password": user_pw})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let r: Value = post("/apiops/users/carol/tokens", json!({"name": "t"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(r["resultList"][0]["token"].as_str().unwrap().to_owned());

    // A package passphrase header and a query-string password.
    let passphrase = "package-passphrase-Kx72mm";
    secrets.push(passphrase.into());
    let query_pw = "query-password-Pw55tt";
    secrets.push(query_pw.into());
    let r = c
        .get(url(&format!(
            "/apiops/projects/shop/keys?password={query_pw}"
        )))
        .bearer_auth(&access)
        .header("X-Apinizer-Package-Passphrase", passphrase)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A private key (plain and encrypted, with its password) and a secret key.
    let pem = String::from_utf8(read_fixture("keys/p256.p8.pem")).unwrap();
    let key_line = pem.lines().nth(1).unwrap().to_owned();
    secrets.push(key_line);
    let enc = String::from_utf8(read_fixture("keys/ed25519.p8-pbes2-aes256.pem")).unwrap();
    secrets.push(enc.lines().nth(1).unwrap().to_owned());
    let key_pw = "keyward-pw";
    secrets.push(key_pw.into());
    let aes = keyward_jose::b64::standard(b"0123456789abcdef-secret-key-AES!");
    secrets.push(aes.clone());
    for body in [
        json!({"name": "k1", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": pem, "alias": "k1"}]}),
        json!({"name": "k2", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": enc, "password": key_pw, "alias": "k2"}]}),
        json!({"name": "k3", "keyType": "SECRET_KEY", "algorithm": "AES", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": aes, "alias": "k3"}]}),
    ] {
        let r = post("/apiops/projects/shop/keys", body).await.unwrap();
        let status = r.status();
        assert_eq!(status, 200, "{}", r.text().await.unwrap());
    }
    // A wrong key password fails; it is no less secret.
    let bad_key_pw = "bad-key-password-Hy62";
    secrets.push(bad_key_pw.into());
    let r = post(
        "/apiops/projects/shop/keys",
        json!({"name": "k4", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": enc, "password": bad_key_pw, "alias": "k4"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // Drain and stop, so every line is written.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let code = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(code.success());
    let log =
        std::fs::read_to_string(&out_path).unwrap() + &std::fs::read_to_string(&err_path).unwrap();
    // The log is the real thing: every level, every request.
    assert!(log.contains("DEBUG"), "not at debug level or more: {log}");
    assert!(log.contains("/apiops/auth/token") && log.contains("/apiops/projects/shop/keys"));
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds the secret {secret:?}: {}",
            log.lines()
                .filter(|l| l.contains(secret.as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

// ---- issue #13: an edge that holds without credentials -----------------------------------------

/// Reads from `c` until the server closes it (EOF or reset) or `limit` passes; whether it closed.
async fn closed_within(c: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// GET /healthz on a fresh connection: status and how long it took.
async fn timed_health(s: &Server) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let t = Instant::now();
    let status = client
        .get(s.url("/healthz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    (status, t.elapsed())
}

#[tokio::test]
async fn slow_heads_and_bodies_are_cut_and_health_stays_quick() {
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--header-read-timeout",
            "1s",
            "--body-read-timeout",
            "1s",
            "--max-concurrent-requests",
            "16",
        ],
    )
    .await;
    let host = authority(&s);
    let started = Instant::now();
    // 100 heads that never end and 100 bodies that never end, far more than the 16 slots.
    let mut heads = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..100 {
        let mut c = TcpStream::connect(&host).await.unwrap();
        c.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: 1").as_bytes())
            .await
            .unwrap();
        heads.push(c);
        bodies.push(stalled_request(&s).await);
    }
    // The node keeps answering, quickly: slow bodies hold no slot.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let (status, took) = timed_health(&s).await;
        assert_eq!(status, 200, "log:\n{}", s.log_text());
        worst = worst.max(took);
    }
    assert!(worst < Duration::from_secs(1), "healthz took {worst:?}");
    // Every slow head is closed within its deadline (1 s, plus scheduling slack).
    for c in &mut heads {
        assert!(
            closed_within(c, Duration::from_secs(5)).await,
            "a slow head was still open after {:?}",
            started.elapsed()
        );
    }
    // A slow body is answered 408 and its connection closed.
    let (status, head, body) = read_response(&mut bodies[0]).await;
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert_error(
        status,
        &body,
        408,
        "The request body did not arrive within 1 second!",
    );
    for c in &mut bodies[1..] {
        assert!(closed_within(c, Duration::from_secs(5)).await);
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // Nothing was created, and nothing logged a line per refusal.
    let (status, envs) = s.get("/apiops/environments/", Some(ADMIN)).await;
    assert_success(status, &envs);
    assert_eq!(envs["resultCount"], 0);
    let log = s.log_text();
    assert!(log.lines().count() < 40, "{log}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let s = Server::start_with(
        DataHome::new(),
        &["--idle-timeout", "1s", "--header-read-timeout", "20s"],
    )
    .await;
    let host = authority(&s);
    let mut c = TcpStream::connect(&host).await.unwrap();
    for _ in 0..2 {
        c.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (status, _, _) = read_response(&mut c).await;
        assert_eq!(status, 200);
    }
    // Kept alive between requests, then closed after a second of silence.
    let idle = Instant::now();
    assert!(closed_within(&mut c, Duration::from_secs(10)).await);
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let s = Server::start_with(DataHome::new(), &["--max-connections-per-address", "8"]).await;
    let host = authority(&s);
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(&host).await.unwrap();
        // Each one is served: it holds its place.
        c.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (status, _, _) = read_response(&mut c).await;
        assert_eq!(status, 200);
        held.push(c);
    }
    // The ninth from the same address is closed at once, unanswered.
    let t = Instant::now();
    let mut ninth = TcpStream::connect(&host).await.unwrap();
    let _ = ninth
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), ninth.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the ninth connection was not closed");
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    assert!(t.elapsed() < Duration::from_secs(2));
    // Another address is not affected.
    let other = client_from("127.0.0.2");
    let resp = other.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // A closed connection gives its place back.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(&host).await.unwrap();
        let _ = c
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await;
        let mut chunk = [0u8; 12];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), c.read(&mut chunk)).await
            && n > 0
        {
            assert!(chunk.starts_with(b"HTTP/1.1 200"));
            break;
        }
        assert!(Instant::now() < deadline, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn concurrent_password_guesses_cannot_outrun_the_lockout() {
    let s = Server::start_with(
        DataHome::new(),
        &["--auth-max-failures", "5", "--auth-lockout", "60s"],
    )
    .await;
    let me = client_from("127.0.0.1");
    let guesses = (0..80).map(|i| {
        let me = me.clone();
        let s = &s;
        async move { password_login(s, &me, &format!("wrong-password-{i}"), None).await }
    });
    let answers = futures_join_all(guesses).await;
    let checked = answers.iter().filter(|(st, _, _)| *st == 401).count();
    let locked = answers.iter().filter(|(st, _, _)| *st == 429).count();
    assert_eq!(checked + locked, 80, "{answers:?}");
    // At most 5 passwords were checked: 4 answered 401, the fifth began the lockout.
    assert!(checked <= 4, "{checked} guesses were answered 401");
    for (_, retry, _) in answers.iter().filter(|(st, _, _)| *st == 429) {
        assert!(retry.is_some());
    }
    // The right password is refused while the lockout lasts.
    let (status, retry, body) = password_login(&s, &me, "admin-password-1", None).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() > 1);
}

#[tokio::test]
async fn password_checks_beyond_the_cap_get_503_with_retry_after() {
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--password-checks",
            "1",
            "--password-check-wait",
            "1ms",
            "--auth-max-failures",
            "0",
        ],
    )
    .await;
    let logins = (0..24).map(|i| {
        let s = &s;
        async move {
            let me = client_from(&format!("127.0.1.{i}"));
            password_login(s, &me, "admin-password-1", None).await
        }
    });
    let answers = futures_join_all(logins).await;
    let ok = answers.iter().filter(|(st, _, _)| *st == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(st, _, _)| *st == 503).collect();
    assert_eq!(ok + busy.len(), 24, "{answers:?}");
    assert!(ok >= 1, "{answers:?}");
    assert!(
        !busy.is_empty(),
        "no login waited for its turn: {answers:?}"
    );
    let (_, retry, body) = busy[0];
    assert_eq!(retry.as_deref(), Some("1"));
    assert_error(
        503,
        body,
        503,
        "The server is checking too many passwords at once! Try again in a moment (see Retry-After).",
    );
}

#[tokio::test]
async fn a_flood_of_unauthenticated_requests_writes_a_bounded_audit_trail() {
    let data = DataHome::new();
    let s = Server::start_with(data.clone(), &["--audit-summary-interval", "1s"]).await;
    let before = audit_records(&s).await.len();
    let started = Instant::now();
    // In waves of 100: more connections at once from one address would meet its cap (256).
    let mut statuses = Vec::new();
    for wave in 0..3 {
        let flood = (wave * 100..(wave + 1) * 100).map(|i| {
            let s = &s;
            async move {
                let token = (i % 3 == 0).then(|| format!("kw_bad-{i}"));
                s.post(
                    "/apiops/environments/",
                    token.as_deref(),
                    json!({"name": format!("e{i}"), "type": "TEST"}),
                )
                .await
                .0
            }
        });
        statuses.extend(futures_join_all(flood).await);
    }
    assert!(
        statuses.iter().all(|st| *st == 401 || *st == 429),
        "{statuses:?}"
    );
    let intervals = started.elapsed().as_secs() + 2;
    // Within a few intervals every refusal is accounted for: the first of each interval on its
    // own, the others in summary records carrying their count.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (singles, summaries) = loop {
        let records = audit_records(&s).await;
        let new = &records[before..];
        let singles: Vec<&Value> = new
            .iter()
            .filter(|r| r["route"] == "/apiops/environments")
            .collect();
        let summaries: Vec<&Value> = new
            .iter()
            .filter(|r| r["action"] == "refused-unauthenticated")
            .collect();
        let counted: u64 = summaries
            .iter()
            .map(|r| r["objectName"].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        if singles.len() as u64 + counted == 300 {
            break (singles.len(), summaries.len());
        }
        assert!(
            Instant::now() < deadline,
            "{} single records, {counted} counted; records: {new:?}",
            singles.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(singles as u64 <= intervals, "{singles} single records");
    assert!(
        summaries as u64 <= 2 * intervals,
        "{summaries} summary records"
    );
    // The chain still verifies.
    assert!(s.stop().await.success());
    let (ok, out) = data.audit_verify();
    assert!(ok, "{out}");
}

/// Every audit record, oldest first.
async fn audit_records(s: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 0.. {
        let (status, body) = s
            .get(
                &format!("/apiops/audit/?size=1000&page={page}"),
                Some(ADMIN),
            )
            .await;
        assert_success(status, &body);
        let list = body["resultList"].as_array().unwrap().clone();
        let n = list.len();
        out.extend(list);
        if n < 1000 {
            break;
        }
    }
    out.reverse();
    out
}

/// Runs futures concurrently on this task; their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn silent_tls_handshakes_and_slow_heads_over_tls_are_cut() {
    let cert = fixture("tls/server.pem").display().to_string();
    let key = fixture("tls/server.key").display().to_string();
    let mut s = Server::start_with(
        DataHome::new(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-handshake-timeout",
            "1s",
            "--header-read-timeout",
            "1s",
        ],
    )
    .await;
    let host = authority(&s);
    // A client that connects and never says hello is closed after the handshake's time.
    let t = Instant::now();
    let mut silent = TcpStream::connect(&host).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(6)).await);
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    // Many of them do not keep the node from serving others.
    let mut many = Vec::new();
    for _ in 0..50 {
        many.push(TcpStream::connect(&host).await.unwrap());
    }
    s.client = https_client(true);
    let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for c in &mut many {
        assert!(closed_within(c, Duration::from_secs(6)).await);
    }
}
