//! Several keyward nodes on one PostgreSQL store behave as one service. These tests need
//! `KEYWARD_TEST_DATABASE_URL` (scripts/test.sh starts a throwaway cluster); under CI they fail
//! without it rather than skip.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn postgres_available() -> bool {
    if on_postgres() {
        return true;
    }
    assert!(
        postgres_phase_follows() || std::env::var_os("CI").is_none(),
        "CI must run the multi-node tests (set KEYWARD_TEST_DATABASE_URL)"
    );
    eprintln!("SKIPPED: multi-node tests need KEYWARD_TEST_DATABASE_URL (a PostgreSQL server)");
    false
}

async fn three_nodes() -> (Server, Server, Server) {
    let home = DataHome::new();
    // All three start at once on an empty database: migrations and bootstrap happen once.
    tokio::join!(
        Server::start_with(home.clone(), &[]),
        Server::start_with(home.clone(), &[]),
        Server::start_with(home, &[])
    )
}

fn cert_fields<'a>(name: &'a str, envs: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("certificateName", name),
        ("alias", name),
        ("environmentList", envs),
    ]
}

/// Everything a client can read, per node, for comparison.
async fn snapshot(s: &Server) -> Value {
    let (_, certs) = s
        .get("/apiops/projects/shop/certificates", Some(ADMIN))
        .await;
    let (_, jwks) = s.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    let mut details = Vec::new();
    for j in jwks["resultList"].as_array().unwrap() {
        let (_, d) = s
            .get(
                &format!("/apiops/projects/shop/jwks/{}", j["name"].as_str().unwrap()),
                Some(ADMIN),
            )
            .await;
        details.push(d);
    }
    let (_, envs) = s.get("/apiops/environments", Some(ADMIN)).await;
    json!({"certificates": certs, "jwks": jwks, "details": details, "environments": envs})
}

#[tokio::test]
async fn nodes_agree_after_round_robin_writes_and_duplicates_resolve_to_one() {
    if !postgres_available() {
        return;
    }
    let (a, b, c) = three_nodes().await;
    let first_starts = [&a, &b, &c]
        .iter()
        .filter(|s| s.log_text().contains("first start"))
        .count();
    assert_eq!(first_starts, 1, "bootstrap must happen exactly once");
    let nodes = [&a, &b, &c];
    a.create_environment("production").await;
    b.create_environment("test").await;
    c.create_project("shop").await;

    // Round-robin creates, parses, updates and deletes.
    let fixtures = [
        "rsa2048",
        "p256",
        "p384",
        "ed25519",
        "p521",
        "secp256k1",
        "rsa3072",
        "ed448",
        "p256-lz",
    ];
    let algs = [
        "RS256", "ES256", "ES384", "EdDSA", "ES512", "ES256K", "PS256", "EdDSA", "ES256",
    ];
    for (i, (f, alg)) in fixtures.iter().zip(algs).enumerate() {
        let node = nodes[i % 3];
        let (status, body) = node
            .upload(
                Method::POST,
                "/apiops/projects/shop/certificates",
                Some(ADMIN),
                &cert_fields(f, "production,test"),
                Some(read_fixture(&format!("{f}.pem"))),
            )
            .await;
        assert_success(status, &body);
        let node = nodes[(i + 1) % 3];
        let (status, body) = node
            .parse_jwk("shop", json!({"name": f, "certificateName": f, "environmentName": "production", "useType": "SIGNATURE", "algorithm": alg}))
            .await;
        assert_success(status, &body);
    }
    for (i, f) in fixtures.iter().enumerate().step_by(3) {
        let (status, body) = nodes[(i + 2) % 3]
            .put(
                &format!("/apiops/projects/shop/jwks/{f}"),
                Some(ADMIN),
                json!({"description": format!("edited {i}")}),
            )
            .await;
        assert_success(status, &body);
    }
    let (status, body) = c
        .delete(
            "/apiops/projects/shop/certificates/p384?jwkDeleteAction=DELETE",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = a
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/p256?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &cert_fields("p256", "test"),
            Some(read_fixture("p256-lz.pem")),
        )
        .await;
    assert_eq!(
        status, 400,
        "the JWK's environment is gone from the new content: {body}"
    );
    let (status, body) = a
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/p256?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &cert_fields("p256", "production"),
            Some(read_fixture("p256-lz.pem")),
        )
        .await;
    assert_success(status, &body);

    // Every node answers every read identically, at once.
    let (sa, sb, sc) = tokio::join!(snapshot(&a), snapshot(&b), snapshot(&c));
    assert_eq!(sa, sb);
    assert_eq!(sa, sc);
    assert_eq!(sa["jwks"]["resultCount"], fixtures.len() - 1);

    // Concurrent duplicate creates of one name on different nodes: one success, one documented refusal.
    for round in 0..8 {
        let name = format!("dup-{round}");
        let body = json!({"name": name, "certificateName": "rsa2048", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"});
        let (x, y, z) = tokio::join!(
            a.parse_jwk("shop", body.clone()),
            b.parse_jwk("shop", body.clone()),
            c.parse_jwk("shop", body)
        );
        let answers = [x, y, z];
        let ok = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(ok, 1, "exactly one create wins: {answers:?}");
        for (s, body) in answers.iter().filter(|(s, _)| *s != 200) {
            assert_error(
                *s,
                body,
                400,
                &format!(
                    "JWK (name: {name}) is already exist! Try update operation if want to change its value."
                ),
            );
        }
        let cert_name = format!("dupcert-{round}");
        let fields = cert_fields(&cert_name, "production");
        let (x, y) = tokio::join!(
            a.upload(
                Method::POST,
                "/apiops/projects/shop/certificates",
                Some(ADMIN),
                &fields,
                Some(read_fixture("p256.pem"))
            ),
            b.upload(
                Method::POST,
                "/apiops/projects/shop/certificates",
                Some(ADMIN),
                &fields,
                Some(read_fixture("p256.pem"))
            ),
        );
        let answers = [x, y];
        assert_eq!(
            answers.iter().filter(|(s, _)| *s == 200).count(),
            1,
            "{answers:?}"
        );
        let refused = answers.iter().find(|(s, _)| *s != 200).unwrap();
        assert_eq!(refused.0, 400, "{refused:?}");
        let m = refused.1["resultMessage"].as_str().unwrap();
        assert!(
            m == format!("Certificate (name: {cert_name}) is already exist!")
                || m.starts_with("Alias ("),
            "documented duplicate message, got {m}"
        );
    }
    let (_, list) = b.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    let names: Vec<&str> = list["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("dup-")).count(),
        8,
        "never two rows: {names:?}"
    );
}

#[tokio::test]
async fn identity_changes_reach_every_node_within_the_bound() {
    if !postgres_available() {
        return;
    }
    let (a, b, c) = three_nodes().await;
    a.create_environment("production").await;
    a.create_project("shop").await;
    let token = a.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    // Warm every node's cache.
    for n in [&a, &b, &c] {
        let (status, _) = n
            .get("/apiops/projects/shop/certificates", Some(&token))
            .await;
        assert_eq!(status, 200);
    }
    let started = Instant::now();
    let (status, body) = a
        .delete("/apiops/users/viewer/tokens/t1", Some(ADMIN))
        .await;
    assert_success(status, &body);
    let mut worst = Duration::ZERO;
    for n in [&b, &c] {
        loop {
            let (status, _) = n
                .get("/apiops/projects/shop/certificates", Some(&token))
                .await;
            if status == 401 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_millis(2500),
                "a revoked token still works on another node after 2.5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst = worst.max(started.elapsed());
    }
    println!("revocation reached every node in {worst:?}");
    // Permission changes propagate the same way.
    let token = a
        .user_with(
            "writer",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, _) = c.get("/apiops/projects/shop/jwks", Some(&token)).await;
    assert_eq!(status, 200);
    let (status, body) = b
        .put(
            "/apiops/projects/shop/members/writer",
            Some(ADMIN),
            json!({"permissions": []}),
        )
        .await;
    assert_success(status, &body);
    let started = Instant::now();
    loop {
        let (status, _) = c.get("/apiops/projects/shop/jwks", Some(&token)).await;
        if status == 400 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "a removed permission still works on another node after 2.5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Lets `node`'s cached answer of `GET path` expire (the 2 s safety net), then caches it anew;
/// returns when. Without notifications that entry would be served until 2 s later.
async fn cached_now(node: &Server, path: &str) -> Instant {
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let started = Instant::now();
    let (status, body) = node.get(path, Some(ADMIN)).await;
    assert_success(status, &body);
    started
}

/// Polls `node`'s `GET path` until `done(status, body)` holds, failing `deadline` after
/// `started`; returns how long it took.
async fn until(
    node: &Server,
    path: &str,
    started: Instant,
    deadline: Duration,
    what: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> Duration {
    loop {
        let (status, body) = node.get(path, Some(ADMIN)).await;
        if done(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not seen by the other node after {deadline:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Nodes cache projects and JWKs (keyward-store `cache.rs`): a change made through node A is
/// answered by node B once B heard A's announcement. Before each change B's entry is cached anew,
/// and the deadline, 1.5 s from then, is shorter than the cache's 2 s safety net: the test fails
/// if announcements do not work.
#[tokio::test]
async fn cached_projects_and_jwks_follow_changes_made_on_another_node() {
    if !postgres_available() {
        return;
    }
    let home = DataHome::new();
    let (a, b) = tokio::join!(
        Server::start_with(home.clone(), &[]),
        Server::start_with(home, &[])
    );
    let deadline = Duration::from_millis(1500);
    a.create_environment("production").await;
    a.create_project("shop").await;
    a.create_certificate("shop", "c", "c", "production", read_fixture("p256.pem"))
        .await;
    let (status, body) = a
        .parse_jwk("shop", json!({"name": "k", "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"}))
        .await;
    assert_success(status, &body);
    let path = "/apiops/projects/shop/jwks/k";
    let detail = |body: &Value| body["resultList"][0].clone();
    // Warm B's cache (twice: the second answer comes from it).
    for _ in 0..2 {
        let (status, body) = b.get(path, Some(ADMIN)).await;
        assert_success(status, &body);
    }
    let (_, before) = b.get(path, Some(ADMIN)).await;
    let mut worst = Duration::ZERO;

    let t = cached_now(&b, path).await;
    // A re-derives it from a new certificate (the cascade of a certificate update; before the
    // description change below, which detaches it from its source).
    let (status, body) = a
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &cert_fields("c", "production"),
            Some(read_fixture("p256-lz.pem")),
        )
        .await;
    assert_success(status, &body);
    let old_x = detail(&before)["jwk"]["x"].clone();
    let (_, own) = a.get(path, Some(ADMIN)).await;
    assert_ne!(detail(&own)["jwk"]["x"], old_x, "A at once");
    let new_x = detail(&own)["jwk"]["x"].clone();
    worst = worst.max(
        until(&b, path, t, deadline, "re-derived material", |s, body| {
            s == 200 && detail(body)["jwk"]["x"] == new_x
        })
        .await,
    );

    let t = cached_now(&b, path).await;
    // A changes the JWK's description.
    let (status, body) = a
        .put(path, Some(ADMIN), json!({"description": "edited on A"}))
        .await;
    assert_success(status, &body);
    let (_, own) = a.get(path, Some(ADMIN)).await;
    assert_eq!(detail(&own)["description"], "edited on A", "A at once");
    worst = worst.max(
        until(&b, path, t, deadline, "description", |s, body| {
            s == 200 && detail(body)["description"] == "edited on A"
        })
        .await,
    );

    let t = cached_now(&b, path).await;
    // A deletes it.
    let (status, body) = a.delete(path, Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, _) = a.get(path, Some(ADMIN)).await;
    assert_eq!(status, 400, "A at once");
    worst = worst.max(until(&b, path, t, deadline, "JWK deletion", |s, _| s == 400).await);

    // A deletes the project, then makes a new one of the same name with another JWK `k`.
    let (status, body) = a.parse_jwk("shop", json!({"name": "k", "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})).await;
    assert_success(status, &body);
    let t = cached_now(&b, path).await;
    let (status, body) = a
        .delete("/apiops/projects/shop?force=true", Some(ADMIN))
        .await;
    assert_success(status, &body);
    let (status, _) = a.get(path, Some(ADMIN)).await;
    assert_eq!(status, 400, "A at once");
    worst = worst.max(until(&b, path, t, deadline, "project deletion", |s, _| s == 400).await);
    a.create_project("shop").await;
    a.create_certificate("shop", "r", "r", "production", read_fixture("rsa2048.pem"))
        .await;
    let (status, body) = a.parse_jwk("shop", json!({"name": "k", "certificateName": "r", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_success(status, &body);
    worst = worst.max(
        until(
            &b,
            path,
            Instant::now(),
            deadline,
            "the new project's JWK",
            |s, body| s == 200 && detail(body)["type"] == "RSA",
        )
        .await,
    );
    println!(
        "changes on A reached B's cached reads within {worst:?} (from B caching to B seeing the change)"
    );
}

#[tokio::test]
async fn a_node_killed_mid_write_loses_nothing_it_answered() {
    if !postgres_available() {
        return;
    }
    let home = DataHome::new();
    let a = Server::start_with(home.clone(), &[]).await;
    let b = Server::start_with(home, &[]).await;
    a.create_environment("production").await;
    a.create_project("shop").await;
    a.create_certificate("shop", "c", "c", "production", read_fixture("p256.pem"))
        .await;
    let base = a.base.clone();
    let mut writers = Vec::new();
    for w in 0..4 {
        let base = base.clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answered = Vec::new();
            for i in 0.. {
                let name = format!("w{w}-{i}");
                let body = json!({"name": name, "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"});
                match client.post(format!("{base}/apiops/projects/shop/jwks/parse-from-certificate")).bearer_auth(ADMIN).json(&body).send().await {
                    Ok(r) if r.status() == 200 => answered.push(name),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.kill().await;
    let mut answered = Vec::new();
    for w in writers {
        answered.extend(w.await.unwrap());
    }
    assert!(answered.len() > 10, "the load ran: {}", answered.len());
    let (_, list) = b.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    let present: std::collections::HashSet<&str> = list["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    for name in &answered {
        assert!(
            present.contains(name.as_str()),
            "{name} was answered 200 but is gone"
        );
    }
    for name in present.iter().take(5) {
        let (status, body) = b
            .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
        assert!(
            body["resultList"][0]["jwk"]["x"].is_string(),
            "complete rows only"
        );
    }
}

/// Runs one SQL query with psql and returns its unaligned output.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-Atc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn the_store_connection_can_use_tls() {
    if !postgres_available() {
        return;
    }
    let admin = std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap();
    if psql(&admin, "SHOW ssl") != "on" {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's PostgreSQL (scripts/pg.sh) has TLS on"
        );
        eprintln!("SKIPPED: this PostgreSQL server has TLS off");
        return;
    }
    let url = fresh_database(&admin);
    let db = url.rsplit('/').next().unwrap().to_owned();
    let home = std::sync::Arc::new(DataHome {
        dir: tempfile::tempdir().unwrap(),
        database_url: Some(format!("{url}?sslmode=require")),
    });
    let s = Server::start_with(home, &[]).await;
    s.create_environment("production").await;
    let encrypted = psql(
        &admin,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{db}' AND s.ssl"
        ),
    );
    let plain = psql(
        &admin,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{db}' AND NOT s.ssl"
        ),
    );
    assert!(
        encrypted.parse::<i64>().unwrap() >= 1,
        "no TLS connection from keyward"
    );
    assert_eq!(plain, "0", "keyward opened a connection without TLS");
}

#[tokio::test]
async fn the_audit_chain_stays_linear_under_concurrent_writes_on_every_node() {
    if !postgres_available() {
        return;
    }
    let (a, b, c) = three_nodes().await;
    let nodes = [&a, &b, &c];
    let per_node = 15;
    let mut writes = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..per_node {
            writes.push(async move {
                node.post(
                    "/apiops/projects/",
                    Some(ADMIN),
                    json!({"name": format!("p{n}x{i}")}),
                )
                .await
            });
        }
    }
    for (status, body) in futures_join_all(writes).await {
        assert_success(status, &body);
    }
    let (status, body) = a.get("/apiops/audit/?size=1000", Some(ADMIN)).await;
    assert_success(status, &body);
    let projects = body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "/apiops/projects" && r["status"] == 200)
        .count();
    assert_eq!(projects, 3 * per_node);
    let (ok, out) = a.data.audit_verify();
    assert!(ok, "{out}");
}

/// Runs every future concurrently on this task and collects the outputs in order.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
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

/// A JWK created on one node is in every node's public JWKS at once (each node's serialized JWKS
/// is outdated by the change announcement), and a node answering an agent's long poll wakes up for
/// a change written on another node.
#[tokio::test]
async fn deployments_reach_public_jwks_and_long_polls_on_every_node() {
    if !postgres_available() {
        return;
    }
    let (a, b, c) = three_nodes().await;
    a.create_environment("production").await;
    a.create_project("shop").await;
    let path = "/apiops/public/projects/shop/environments/production/jwks.json";
    // Warm every node's cache with the empty set.
    for n in [&a, &b, &c] {
        assert_eq!(n.get(path, None).await.1, json!({"keys": []}));
    }
    let (status, body) = a
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "gw", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    let (_, body) = c
        .get(
            "/apiops/environments/production/agent/bundle?agent=gw",
            Some(&agent),
        )
        .await;
    let revision = body["resultList"][0]["revision"].as_i64().unwrap();
    // The agent waits on node c; the change is written on node a.
    let poll = c
        .client
        .get(c.url(&format!(
            "/apiops/environments/production/agent/bundle?agent=gw&after={revision}&wait=20"
        )))
        .bearer_auth(&agent)
        .send();
    let poll = async { (poll.await, Instant::now()) };
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let (status, body) = a
            .post(
                "/apiops/projects/shop/jwks/generate",
                Some(ADMIN),
                json!({"name": "k", "kid": "k", "type": "EC", "ec": {"curveType": "P256"}}),
            )
            .await;
        assert_success(status, &body);
        started
    };
    // (The write itself waits for the agent's acknowledgement, which never comes here.)
    let ((resp, answered), started) = tokio::join!(poll, write);
    let resp = resp.unwrap();
    assert_eq!(resp.status(), 200);
    let woke = answered.duration_since(started);
    assert!(
        woke < Duration::from_secs(2),
        "the long poll woke after {woke:?}"
    );
    let bundle: Value = resp.json().await.unwrap();
    assert_eq!(bundle["resultList"][0]["revision"], revision + 1);
    // The JWK is in every node's public JWKS well within the shared-cache bound.
    for n in [&b, &c] {
        loop {
            let (_, set) = n.get(path, None).await;
            if set["keys"].as_array().is_some_and(|k| k.len() == 1) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_millis(2500),
                "a node still serves the old JWKS after 2.5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    println!("a long poll on another node woke {woke:?} after the write");
}
