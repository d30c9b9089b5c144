//! One policy for heavy work (issue #11 item 5): key decryptions run on the bounded heavy-work
//! pool, never on an async worker, so reads keep answering at once while the pool is saturated,
//! and a request waiting for (or stuck behind) heavy work still gets its answer in time.
//!
//! On the code before the pool, six concurrent uploads of PBKDF2 keys kept every async worker
//! busy and `GET /healthz` waited 1.5 s; here its p99 must stay under 50 ms.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

const P: &str = "/apiops/projects/shop";
/// PBKDF2-HMAC-SHA256 iterations of the uploaded key: half the server's cap (10 million), about a
/// second of one core.
const ITERATIONS: u32 = 5_000_000;
const PASSWORD: &str = "heavy-pw";
/// More uploading clients than the pool has permits.
const PERMITS: usize = 2;
const CLIENTS: usize = 6;
/// Reads measured while the pool is saturated (each kind).
const SAMPLES: usize = 200;
const P99_BOUND: Duration = Duration::from_millis(50);

/// A P-256 private key as encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256 with `ITERATIONS`,
/// AES-256-CBC), made by openssl.
fn encrypted_key(dir: &Path) -> String {
    let plain = dir.join("plain.pem");
    let encrypted = dir.join("encrypted.pem");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&plain)
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl genpkey failed");
    let iterations = ITERATIONS.to_string();
    let ok = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA256",
        ])
        .args([
            "-iter",
            &iterations,
            "-passout",
            &format!("pass:{PASSWORD}"),
            "-in",
        ])
        .arg(&plain)
        .arg("-out")
        .arg(&encrypted)
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl pkcs8 -topk8 failed");
    std::fs::read_to_string(encrypted).unwrap()
}

fn upload_body(name: &str, pem: &str) -> Value {
    json!({
        "name": name,
        "keyType": "PRIVATE_KEY",
        "cryptoKeyInfoEnvironmentList": [
            {"environmentName": "production", "content": pem, "password": PASSWORD}
        ],
    })
}

/// One upload: its status, `Retry-After`, body, and how long it took.
async fn upload(s: &Server, name: &str, pem: &str) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let resp = s
        .client
        .post(s.url(&format!("{P}/keys/")))
        .bearer_auth(ADMIN)
        .json(&upload_body(name, pem))
        .send()
        .await
        .expect("upload");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, body, started.elapsed())
}

/// How long one GET takes to answer 200.
async fn timed_get(s: &Server, path: &str, token: Option<&str>) -> Duration {
    let started = Instant::now();
    let (status, body) = s.get(path, token).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "GET {path}: {body}");
    took
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64) * 0.99).ceil() as usize;
    samples[i.clamp(1, samples.len()) - 1]
}

async fn world(extra: &[&str]) -> Server {
    let s = Server::start_with(DataHome::new(), extra).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let (status, body) = s
        .post(
            &format!("{P}/jwks/generate"),
            Some(ADMIN),
            json!({"name": "reader", "type": "EC", "ec": {"curveType": "P256"}}),
        )
        .await;
    assert_success(status, &body);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_stay_fast_while_key_decryptions_saturate_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let pem = Arc::new(encrypted_key(dir.path()));
    let permits = PERMITS.to_string();
    let s = Arc::new(world(&["--heavy-work", &permits, "--heavy-work-wait", "250ms"]).await);
    // One upload alone: the decryption works, and how long it takes.
    let (status, _, body, alone) = upload(&s, "alone", &pem).await;
    assert_success(status, &body);
    assert!(
        alone > Duration::from_millis(200),
        "one decryption took only {alone:?}: too cheap to saturate anything"
    );

    // CLIENTS clients upload in a loop; reads are measured only while more uploads are in flight
    // than the pool has permits.
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (s, pem, stop, in_flight) =
                (s.clone(), pem.clone(), stop.clone(), in_flight.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let answer = upload(&s, &format!("k-{c}-{i}"), &pem).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    answers.push(answer);
                    i += 1;
                }
                answers
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while in_flight.load(Ordering::SeqCst) < CLIENTS {
        assert!(Instant::now() < deadline, "the uploads never all started");
        tokio::task::yield_now().await;
    }
    let (mut health, mut jwk) = (Vec::new(), Vec::new());
    while health.len() < SAMPLES || jwk.len() < SAMPLES {
        assert!(
            Instant::now() < deadline,
            "no {SAMPLES} reads under saturation in time"
        );
        if in_flight.load(Ordering::SeqCst) <= PERMITS {
            tokio::task::yield_now().await;
            continue;
        }
        health.push(timed_get(&s, "/healthz", None).await);
        jwk.push(timed_get(&s, &format!("{P}/jwks/reader/"), Some(ADMIN)).await);
    }
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }

    let (health_p99, jwk_p99) = (p99(health.clone()), p99(jwk.clone()));
    eprintln!(
        "one decryption alone {alone:?}; under saturation ({} uploads): healthz p99 {health_p99:?} \
         max {:?}, GET JWK p99 {jwk_p99:?} max {:?}",
        answers.len(),
        health.iter().max().unwrap(),
        jwk.iter().max().unwrap(),
    );
    assert!(health_p99 < P99_BOUND, "GET /healthz p99 {health_p99:?}");
    assert!(jwk_p99 < P99_BOUND, "GET JWK p99 {jwk_p99:?}");

    // Every upload got its answer: the key, or 503 busy with Retry-After once its wait for a
    // permit ran out, each well within the request timeout (30 s).
    let created = answers.iter().filter(|a| a.0 == 200).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(created + busy.len(), answers.len(), "{answers:?}");
    assert!(created >= 1, "no upload succeeded: {answers:?}");
    assert!(
        !busy.is_empty(),
        "the pool was never saturated: {answers:?}"
    );
    for (status, retry, body, _) in &busy {
        assert_eq!(retry.as_deref(), Some("1"));
        assert_error(
            *status,
            body,
            503,
            "The server is doing too much costly work at once (key decryption, keystores, packages, key generation)! Try again in a moment (see Retry-After).",
        );
    }
    for (_, _, body, took) in &answers {
        assert!(*took < Duration::from_secs(30), "{took:?}: {body}");
    }
    // A refused upload wrote nothing: one key per success (and the first one).
    let (status, body) = s.get(&format!("{P}/keys/"), Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultList"].as_array().unwrap().len(), created + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_timeout_answers_while_a_decryption_outlives_it() {
    let dir = tempfile::tempdir().unwrap();
    let pem = encrypted_key(dir.path());
    // Measure one decryption on a roomy server first, then give a second server a request
    // timeout shorter than that.
    let alone = {
        let s = world(&[]).await;
        let (status, _, body, took) = upload(&s, "alone", &pem).await;
        assert_success(status, &body);
        took
    };
    let timeout = (alone / 3).max(Duration::from_millis(100));
    let timeout_arg = format!("{}ms", timeout.as_millis());
    let s = Arc::new(world(&["--heavy-work", "1", "--request-timeout", &timeout_arg]).await);
    let uploads: Vec<_> = (0..3)
        .map(|i| {
            let (s, pem) = (s.clone(), pem.clone());
            tokio::spawn(async move { upload(&s, &format!("late-{i}"), &pem).await })
        })
        .collect();
    // Meanwhile reads answer at once.
    let mut health = Vec::new();
    while !uploads.iter().all(|u| u.is_finished()) {
        health.push(timed_get(&s, "/healthz", None).await);
    }
    for u in uploads {
        let (status, retry, body, took) = u.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            took < timeout + Duration::from_millis(500),
            "answered after {took:?}, the request timeout is {timeout:?}: {body}"
        );
        let message = body["resultMessage"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("The request did not complete within"),
            "{body}"
        );
    }
    if !health.is_empty() {
        let p = p99(health);
        assert!(
            p < P99_BOUND,
            "GET /healthz p99 {p:?} during the timed-out uploads"
        );
    }
    // A stopped request changed nothing.
    let (status, body) = s.get(&format!("{P}/keys/"), Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultList"].as_array().unwrap().len(), 0);
}
