//! The loop against an in-process fake server: catch-up, long-poll `204`, backoff and recovery,
//! refused tokens, acknowledgements, `--on-change`, `--once`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::*;

/// What the fake answers to one bundle request.
enum Reply {
    Status(u16, Value),
    Bundle(Value),
    NoContent,
    Garbage,
}

#[derive(Default)]
struct Fake {
    replies: VecDeque<Reply>,
    /// (time, query) of every bundle request.
    requests: Vec<(Instant, std::collections::HashMap<String, String>)>,
    authorizations: Vec<String>,
    /// Every ack body received (also those answered with an error).
    acks: Vec<Value>,
    /// Status codes for the next acks (then 200).
    ack_replies: VecDeque<u16>,
}

type Shared = Arc<Mutex<Fake>>;

async fn bundle_route(
    State(fake): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let reply = {
        let mut f = fake.lock().unwrap();
        f.requests.push((Instant::now(), q));
        f.authorizations.push(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        );
        f.replies.pop_front()
    };
    match reply {
        Some(Reply::Status(code, body)) => {
            (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
        }
        Some(Reply::Bundle(b)) => Json(json!({
            "status": "SUCCESS", "success": true, "resultCount": 1, "resultList": [b]
        }))
        .into_response(),
        Some(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Some(Reply::Garbage) => (StatusCode::OK, "{not json").into_response(),
        None => {
            // Script over: behave like an idle long poll.
            tokio::time::sleep(Duration::from_millis(50)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn ack_route(State(fake): State<Shared>, Json(body): Json<Value>) -> Response {
    let code = {
        let mut f = fake.lock().unwrap();
        f.acks.push(body);
        f.ack_replies.pop_front().unwrap_or(200)
    };
    let status = StatusCode::from_u16(code).unwrap();
    if status.is_success() {
        Json(json!({"status": "SUCCESS", "success": true, "resultCount": 0, "resultList": []}))
            .into_response()
    } else {
        (
            status,
            Json(json!({"status": "FAILURE", "success": false, "resultMessage": "try later"})),
        )
            .into_response()
    }
}

/// Starts the fake; its base URL.
async fn start(fake: Shared) -> Url {
    let app = axum::Router::new()
        .route(
            "/prefix/apiops/environments/{env}/agent/bundle",
            get(bundle_route),
        )
        .route(
            "/prefix/apiops/environments/{env}/agent/ack",
            post(ack_route),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/prefix/").parse().unwrap()
}

fn config(server: &Url, out: &std::path::Path, on_change: Option<String>, once: bool) -> Config {
    let args = AgentArgs {
        server: server.clone(),
        token: "tok-secret".into(),
        environment: "prod env".into(),
        projects: vec!["payments".into(), "billing".into()],
        out: out.to_path_buf(),
        on_change,
        on_change_timeout: Duration::from_secs(5),
        name: Some("worker-1".into()),
        wait: 7,
        ca_file: None,
        once,
        log: "info".into(),
    };
    let mut cfg = Config::from_args(&args).unwrap();
    cfg.backoff_base = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg
}

fn bundle(revision: u64, key_pem: &str) -> Value {
    json!({
        "environmentName": "prod env",
        "revision": revision,
        "projects": [{
            "name": "payments",
            "certificates": [],
            "keys": [{"name": "signer", "keyType": "PRIVATE_KEY", "algorithm": "RSA", "pem": key_pem}],
            "keystores": [],
            "jwks": {"keys": []},
            "privateJwks": null
        }]
    })
}

/// Collects what the agent logs (the test runtime is single-threaded: a thread-local subscriber
/// sees everything).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn wait_for(fake: &Shared, what: &str, done: impl Fn(&Fake) -> bool) {
    let start = Instant::now();
    while !done(&fake.lock().unwrap()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_loop_catches_up_polls_backs_off_and_acknowledges() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("hook.log");
    // Succeeds except for revision 4, which fails with output on stderr.
    let hook = format!(
        "echo \"$KEYWARD_REVISION $KEYWARD_OUT\" >> {}; if [ \"$KEYWARD_REVISION\" = 4 ]; then echo reload failed: bad config >&2; exit 7; fi",
        log.display()
    );
    let fake: Shared = Arc::default();
    {
        let mut f = fake.lock().unwrap();
        f.replies = VecDeque::from([
            Reply::Status(500, json!({"resultMessage": "boom"})),
            Reply::Garbage,
            Reply::Status(
                401,
                json!({"status": "FAILURE", "success": false, "resultMessage": "Invalid token"}),
            ),
            Reply::Bundle(bundle(3, "KEY-3")),
            Reply::NoContent,
            Reply::Bundle(bundle(4, "KEY-4")),
            // Same files: the command failed last time, so it runs again.
            Reply::Bundle(bundle(5, "KEY-4")),
            // Same files, nothing pending: the command does not run.
            Reply::Bundle(bundle(6, "KEY-4")),
        ]);
        f.ack_replies = VecDeque::from([503]);
    }
    let server = start(fake.clone()).await;
    let logs = Captured::default();
    let sink = logs.clone();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    );
    let cfg = config(&server, &out, Some(hook), false);
    let client = cfg.client(None).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // On this task (not spawned): the thread-local log subscriber sees it.
    let agent = async move {
        run(&cfg, &client, async {
            let _ = stopped.await;
        })
        .await
    };
    let driver = async {
        wait_for(&fake, "the ack of revision 6", |f| {
            f.acks.iter().any(|a| a["revision"] == 6)
        })
        .await;
        // A few idle polls after the script.
        wait_for(&fake, "idle polls", |f| f.requests.len() >= 10).await;
        stop.send(()).unwrap();
        Instant::now()
    };
    let (code, asked) = tokio::time::timeout(Duration::from_secs(8), async {
        tokio::join!(agent, driver)
    })
    .await
    .expect("the agent stops promptly");
    assert_eq!(code, 0);
    assert!(asked.elapsed() < Duration::from_secs(1));

    // One line per error, with the server's message; never the token or key material.
    let logged = logs.text();
    assert!(
        logged.contains("the server answered 500 Internal Server Error: boom"),
        "{logged}"
    );
    assert!(logged.contains("the bundle is not valid"), "{logged}");
    assert!(
        logged.contains("the server refused the agent token (401 Unauthorized): Invalid token"),
        "{logged}"
    );
    assert!(logged.contains("cannot acknowledge revision 3"), "{logged}");
    for secret in ["tok-secret", "KEY-3", "KEY-4"] {
        assert!(!logged.contains(secret), "{secret} logged: {logged}");
    }

    let f = fake.lock().unwrap();
    let q = |i: usize| &f.requests[i].1;
    // Catch-up without `after` until a revision is applied (errors included).
    for i in 0..4 {
        assert_eq!(q(i).get("after"), None, "request {i}");
        assert_eq!(q(i).get("agent").map(String::as_str), Some("worker-1"));
        assert_eq!(
            q(i).get("projects").map(String::as_str),
            Some("payments,billing")
        );
    }
    assert_eq!(q(4).get("after").map(String::as_str), Some("3"));
    assert_eq!(q(4).get("wait").map(String::as_str), Some("7"));
    // After the 204, polling again at once with the same `after`.
    assert_eq!(q(5).get("after").map(String::as_str), Some("3"));
    assert_eq!(q(6).get("after").map(String::as_str), Some("4"));
    assert_eq!(q(7).get("after").map(String::as_str), Some("5"));
    assert_eq!(q(8).get("after").map(String::as_str), Some("6"));
    assert!(f.authorizations.iter().all(|a| a == "Bearer tok-secret"));

    // Backoff: 100 ms, 200 ms, 400 ms (±20 %) after the three failures.
    let gap = |i: usize| f.requests[i + 1].0 - f.requests[i].0;
    assert!(gap(0) >= Duration::from_millis(80), "{:?}", gap(0));
    assert!(gap(1) >= Duration::from_millis(160), "{:?}", gap(1));
    assert!(gap(2) >= Duration::from_millis(320), "{:?}", gap(2));
    // The 204 is polled again at once (well under the smallest backoff).
    assert!(gap(4) < Duration::from_millis(80), "{:?}", gap(4));

    // The first ack got a 503 and was sent again.
    let acks: Vec<Value> = f.acks.clone();
    assert_eq!(
        acks,
        [
            json!({"agent": "worker-1", "revision": 3, "success": true, "detail": "Applied revision 3"}),
            json!({"agent": "worker-1", "revision": 3, "success": true, "detail": "Applied revision 3"}),
            json!({"agent": "worker-1", "revision": 4, "success": false,
                   "detail": "on-change command failed (exit status 7): reload failed: bad config"}),
            json!({"agent": "worker-1", "revision": 5, "success": true, "detail": "Applied revision 5 (no file changed)"}),
            json!({"agent": "worker-1", "revision": 6, "success": true, "detail": "Applied revision 6 (no file changed)"}),
        ]
    );
    let ran = std::fs::read_to_string(&log).unwrap();
    let o = out.display();
    assert_eq!(ran, format!("3 {o}\n4 {o}\n5 {o}\n"));
    assert_eq!(
        std::fs::read_to_string(out.join("payments/keys/signer.pem")).unwrap(),
        "KEY-4"
    );
    assert_eq!(writer::applied_revision(&out), Some(6));
}

#[tokio::test]
async fn once_applies_acknowledges_and_exits_with_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let fake: Shared = Arc::default();
    fake.lock().unwrap().replies = VecDeque::from([
        Reply::Bundle(bundle(2, "K")),
        Reply::Bundle(bundle(3, "K2")),
    ]);
    let server = start(fake.clone()).await;

    let cfg = config(&server, &out, Some("true".into()), true);
    let client = cfg.client(None).unwrap();
    assert_eq!(run(&cfg, &client, std::future::pending()).await, 0);

    let cfg = config(&server, &out, Some("echo nope; exit 2".into()), true);
    assert_eq!(run(&cfg, &client, std::future::pending()).await, 1);
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.acks.len(), 2);
        assert_eq!(f.acks[0]["success"], true);
        assert_eq!(f.acks[1]["success"], false);
        assert_eq!(
            f.acks[1]["detail"],
            "on-change command failed (exit status 2): nope"
        );
        assert!(f.requests.iter().all(|(_, q)| q.get("after").is_none()));
    }

    // An unreachable answer in --once mode: status 1 at once, no retry.
    fake.lock().unwrap().replies = VecDeque::from([Reply::Status(503, json!({}))]);
    let cfg = config(&server, &out, None, true);
    let started = Instant::now();
    assert_eq!(run(&cfg, &client, std::future::pending()).await, 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_failed_on_change_command_runs_again_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("hook.log");
    let fake: Shared = Arc::default();
    fake.lock().unwrap().replies = VecDeque::from([
        Reply::Bundle(bundle(2, "K")),
        Reply::Bundle(bundle(3, "K")),
        Reply::Bundle(bundle(4, "K")),
    ]);
    let server = start(fake.clone()).await;
    let failing = config(&server, &out, Some("exit 5".into()), true);
    let client = failing.client(None).unwrap();
    assert_eq!(run(&failing, &client, std::future::pending()).await, 1);
    assert_eq!(writer::on_change_failed(&out), Some(2));

    // A new agent (same files, nothing changed): the command runs again, and now succeeds.
    let hook = format!("echo $KEYWARD_REVISION >> {}", log.display());
    let working = config(&server, &out, Some(hook), true);
    assert_eq!(run(&working, &client, std::future::pending()).await, 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "3\n");
    assert_eq!(writer::on_change_failed(&out), None);
    // Repaired: nothing changed, nothing runs.
    assert_eq!(run(&working, &client, std::future::pending()).await, 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "3\n");
    let f = fake.lock().unwrap();
    let details: Vec<&str> = f
        .acks
        .iter()
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "on-change command failed (exit status 5)",
            "Applied revision 3 (no file changed)",
            "Applied revision 4 (no file changed)",
        ]
    );
}

#[tokio::test]
async fn a_revision_that_cannot_be_written_is_reported_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // A file where the project's directory must go.
    std::fs::write(out.join("payments"), b"in the way").unwrap();
    let fake: Shared = Arc::default();
    fake.lock().unwrap().replies = (0..30).map(|_| Reply::Bundle(bundle(3, "K"))).collect();
    let server = start(fake.clone()).await;
    let cfg = config(&server, &out, None, false);
    let client = cfg.client(None).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(async move {
        run(&cfg, &client, async {
            let _ = stopped.await;
        })
        .await
    });
    wait_for(&fake, "a failed ack", |f| !f.acks.is_empty()).await;
    std::fs::remove_file(out.join("payments")).unwrap();
    wait_for(&fake, "the ack after the fix", |f| {
        f.acks.iter().any(|a| a["success"] == true)
    })
    .await;
    stop.send(()).unwrap();
    agent.await.unwrap();
    let f = fake.lock().unwrap();
    assert_eq!(f.acks[0]["success"], false);
    let detail = f.acks[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Could not apply revision 3: ") && detail.contains("not a directory"),
        "{detail}"
    );
    let n = f.acks.iter().position(|a| a["success"] == true).unwrap();
    assert_eq!(f.acks[n]["detail"], "Applied revision 3");
    assert!(f.acks[..n].iter().all(|a| a["success"] == false));
    // Each retry asked for the same revision again (no `after`), waiting longer each time.
    assert!(
        f.requests[..n]
            .iter()
            .all(|(_, q)| q.get("after").is_none())
    );
    if n >= 3 {
        let gap = |i: usize| f.requests[i + 1].0 - f.requests[i].0;
        assert!(gap(1) >= Duration::from_millis(160), "{:?}", gap(1));
    }
}

#[test]
fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
    let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut nominal = 500.0;
    for _ in 0..12 {
        let d = b.delay().as_secs_f64() * 1000.0;
        assert!(
            d >= nominal * 0.8 - 1e-6 && d <= nominal * 1.2 + 1e-6,
            "{d} vs {nominal}"
        );
        nominal = (nominal * 2.0).min(30_000.0);
    }
    b.reset();
    let d = b.delay();
    assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(600));
}

#[test]
fn endpoints_keep_the_prefix_and_encode_the_environment() {
    let server: Url = "https://k.example:8443/base/?x=1#f".parse().unwrap();
    assert_eq!(
        endpoint(&server, "prod env/1", "bundle").unwrap().as_str(),
        "https://k.example:8443/base/apiops/environments/prod%20env%2F1/agent/bundle"
    );
    let bare: Url = "http://k.example".parse().unwrap();
    assert_eq!(
        endpoint(&bare, "production", "ack").unwrap().as_str(),
        "http://k.example/apiops/environments/production/agent/ack"
    );
    assert!(endpoint(&"ftp://k.example".parse().unwrap(), "p", "ack").is_err());
}
