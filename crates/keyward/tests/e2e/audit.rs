//! The audit trail end to end: what is recorded (and what never is), `GET /apiops/audit` with its
//! filters, paging and permission, `keyward audit verify` against tampering, and failing closed.

use crate::common::*;
use serde_json::{Value, json};

const P: &str = "/apiops/projects/shop";

/// Every record matching `query`, oldest first, fetched page by page.
async fn all_records(s: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page = 0;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let (status, body) = s
            .get(
                &format!("/apiops/audit/?{query}{sep}size=7&page={page}"),
                Some(ADMIN),
            )
            .await;
        assert_success(status, &body);
        let list = body["resultList"].as_array().unwrap().clone();
        let n = list.len();
        out.extend(list);
        if n < 7 {
            break;
        }
        page += 1;
    }
    out.reverse();
    out
}

fn find<'a>(records: &'a [Value], method: &str, route_end: &str, object: &str) -> &'a Value {
    records
        .iter()
        .find(|r| {
            r["method"] == method
                && r["route"].as_str().unwrap().ends_with(route_end)
                && r["objectName"] == object
        })
        .unwrap_or_else(|| {
            panic!(
                "no record of {method} …{route_end} on {object} in {}",
                serde_json::to_string_pretty(records).unwrap()
            )
        })
}

#[tokio::test]
async fn audit_trail_records_checks_and_verifies() {
    let s = Server::with_world().await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;

    // Mutations and private reads by the admin.
    let key_pem = String::from_utf8(read_fixture("keys/p256.p8.pem")).unwrap();
    let (status, body) = s
        .post(
            &format!("{P}/keys/"),
            Some(ADMIN),
            json!({"name": "signer", "description": "d", "keyType": "PRIVATE_KEY",
                   "cryptoKeyInfoEnvironmentList": [{"environmentName": "test", "content": key_pem, "alias": "a"}]}),
        )
        .await;
    assert_success(status, &body);
    s.create_certificate("shop", "web", "web", "test", read_fixture("p256.pem"))
        .await;
    // A JWK of a certificate holds no private member: reading it is not recorded.
    let (status, body) = s
        .parse_jwk(
            "shop",
            json!({"name": "webjwk", "certificateName": "web", "environmentName": "test", "useType": "SIGNATURE", "algorithm": "ES256"}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s.get(&format!("{P}/jwks/webjwk"), Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            &format!("{P}/jwks/generate"),
            Some(ADMIN),
            json!({"name": "gen", "type": "EC", "ec": {"curveType": "P256"}}),
        )
        .await;
    assert_success(status, &body);
    let (status, jwk) = s.get(&format!("{P}/jwks/gen/"), Some(ADMIN)).await;
    assert_success(status, &jwk);
    let private_d = jwk["resultList"][0]["jwk"]["d"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s
        .get(
            &format!("{P}/keys/signer/export-file?environmentName=test"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200);
    // Reads of public material are not recorded.
    let (status, _) = s.get(&format!("{P}/keys/"), Some(ADMIN)).await;
    assert_eq!(status, 200);

    // A refused mutation by a viewer, a failed and a successful client-credentials login.
    let (status, body) = s.delete(&format!("{P}/keys/signer/"), Some(&viewer)).await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let login = |secret: &'static str| {
        s.client.post(s.url("/apiops/auth/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "viewer"),
            ("client_secret", secret),
        ])
    };
    assert_eq!(
        login("wrong-password-9").send().await.unwrap().status(),
        401
    );
    let resp = login("password-123").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let issued: Value = resp.json().await.unwrap();
    let issued = issued["access_token"].as_str().unwrap().to_owned();

    // Only system admins read the trail.
    let (status, body) = s.get("/apiops/audit/", Some(&viewer)).await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, _) = s.get("/apiops/audit/", None).await;
    assert_eq!(status, 401);

    let records = all_records(&s, "").await;
    // seq strictly increasing, chained.
    for w in records.windows(2) {
        assert_eq!(
            w[1]["seq"].as_i64().unwrap(),
            w[0]["seq"].as_i64().unwrap() + 1
        );
        assert_eq!(w[1]["prevHash"], w[0]["hash"]);
    }
    let key = find(&records, "POST", "/keys", "signer");
    assert_eq!(key["username"], "admin");
    assert_eq!(key["project"], "shop");
    assert_eq!(key["objectKind"], "key");
    assert_eq!(key["action"], "create");
    assert_eq!(key["status"], 200);
    assert_eq!(key["outcome"], "ok");
    assert_eq!(key["clientAddress"], "127.0.0.1");
    assert_eq!(key["route"], "/apiops/projects/{projectName}/keys");
    let admin_token_id = key["tokenId"].as_str().unwrap().to_owned();
    assert!(!admin_token_id.is_empty());
    let cert = find(&records, "POST", "/certificates", "web");
    assert_eq!(cert["objectKind"], "certificate");
    assert_eq!(cert["tokenId"], admin_token_id.as_str());
    let read = find(&records, "GET", "/jwks/{jwkName}", "gen");
    assert_eq!(read["action"], "read");
    assert!(
        !records
            .iter()
            .any(|r| r["method"] == "GET" && r["objectName"] == "webjwk"),
        "a public JWK read was recorded"
    );
    let export = find(&records, "GET", "/export-file", "signer");
    assert_eq!(export["action"], "export-file");
    assert!(
        !records
            .iter()
            .any(|r| r["method"] == "GET" && r["route"] == "/apiops/projects/{projectName}/keys"),
        "a list of keys was recorded"
    );
    let denied = find(&records, "DELETE", "/keys/{keyName}", "signer");
    assert_eq!(denied["username"], "viewer");
    assert_eq!(denied["status"], 400);
    assert_eq!(denied["outcome"], "error");
    assert_ne!(denied["tokenId"], admin_token_id.as_str());
    let logins: Vec<&Value> = records
        .iter()
        .filter(|r| r["route"] == "/apiops/auth/token")
        .collect();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert_eq!(logins[0]["status"], 401);
    assert_eq!(logins[0]["username"], "viewer");
    assert_eq!(logins[0]["userId"], Value::Null);
    assert_eq!(logins[1]["status"], 200);
    assert_eq!(logins[1]["username"], "viewer");
    assert!(logins[1]["userId"].is_string() && logins[1]["tokenId"].is_string());

    // Never a secret.
    let text = serde_json::to_string(&records).unwrap();
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for secret in [
        ADMIN,
        viewer.as_str(),
        issued.as_str(),
        "password-123",
        "wrong-password-9",
        "admin-password-1",
        private_d.as_str(),
        &key_body[..40],
    ] {
        assert!(!text.contains(secret), "a secret reached the audit trail");
    }
    let raw = s.data.sql("SELECT * FROM audit_log");
    for secret in [
        ADMIN,
        viewer.as_str(),
        issued.as_str(),
        "password-123",
        private_d.as_str(),
    ] {
        assert!(!raw.contains(secret), "a secret reached the audit table");
    }

    // Filters.
    let by_viewer = all_records(&s, "user=viewer").await;
    assert!(by_viewer.len() >= 3);
    assert!(by_viewer.iter().all(|r| r["username"] == "viewer"));
    let on_signer = all_records(&s, "object=signer").await;
    assert_eq!(on_signer.len(), 3, "{on_signer:?}"); // create, export, refused delete
    assert!(
        all_records(&s, "project=shop")
            .await
            .iter()
            .all(|r| r["project"] == "shop")
    );
    assert_eq!(all_records(&s, "project=nowhere").await.len(), 0);
    let t_key = key["at"].as_i64().unwrap();
    let t_denied = denied["at"].as_i64().unwrap();
    let window = all_records(&s, &format!("from={t_key}&to={t_denied}")).await;
    assert!(window.iter().all(|r| {
        let at = r["at"].as_i64().unwrap();
        at >= t_key && at <= t_denied
    }));
    assert!(window.iter().any(|r| r["seq"] == key["seq"]));
    let (status, body) = s
        .get("/apiops/audit/?from=2999-01-01T00:00:00Z", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 0);
    let (status, body) = s.get("/apiops/audit/?from=yesterday", Some(ADMIN)).await;
    assert_error_prefix(status, &body, 400, "from (yesterday) is not valid!");
    let (status, body) = s.get("/apiops/audit/?size=5000", Some(ADMIN)).await;
    assert_error_prefix(status, &body, 400, "size (5000) is not valid!");

    // Paging: newest first, disjoint pages, the total in X-Total-Count.
    let resp = s
        .client
        .get(s.url("/apiops/audit/?size=3&page=1"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let total: usize = resp.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, records.len());
    let page1: Value = resp.json().await.unwrap();
    let newest = records.last().unwrap()["seq"].as_i64().unwrap();
    let seqs: Vec<i64> = page1["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![newest - 3, newest - 4, newest - 5]);

    // The chain verifies; tampering is named.
    let (ok, out) = s.data.audit_verify();
    assert!(ok && out.contains("OK"), "{out}");
    let n = records.len() as i64;
    let victim = key["seq"].as_i64().unwrap();
    s.data.sql(&format!(
        "UPDATE audit_log SET username = 'someone-else' WHERE seq = {victim}"
    ));
    let (ok, out) = s.data.audit_verify();
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("record {victim} ")), "{out}");
    s.data.sql(&format!(
        "UPDATE audit_log SET username = 'admin' WHERE seq = {victim}"
    ));
    let (ok, out) = s.data.audit_verify();
    assert!(ok, "{out}");
    // Re-hashing a changed record does not help: the next record no longer links to it.
    s.data.sql(&format!(
        "UPDATE audit_log SET hash = '{}' WHERE seq = {victim}",
        "ab".repeat(32)
    ));
    let (ok, out) = s.data.audit_verify();
    assert!(!ok && out.contains(&format!("record {victim} ")), "{out}");
    s.data.sql(&format!(
        "UPDATE audit_log SET hash = '{}' WHERE seq = {victim}",
        key["hash"].as_str().unwrap()
    ));
    assert!(s.data.audit_verify().0);

    // Stop the server, then cut the tail off: the anchored head names the missing record.
    let home = s.data.clone();
    s.stop().await;
    let last: i64 = home.sql("SELECT MAX(seq) FROM audit_log").parse().unwrap();
    assert!(last >= n);
    home.sql(&format!("DELETE FROM audit_log WHERE seq = {last}"));
    let (ok, out) = home.audit_verify();
    assert!(
        !ok && out.contains(&format!("record {last} is missing")),
        "{out}"
    );
    // A record deleted in the middle is named first.
    home.sql(&format!("DELETE FROM audit_log WHERE seq = {victim}"));
    let (ok, out) = home.audit_verify();
    assert!(
        !ok && out.contains(&format!("record {victim} is missing")),
        "{out}"
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_recorded_fails() {
    let s = Server::start().await;
    s.create_project("before").await;
    assert!(s.data.audit_verify().0);
    // Someone breaks the trail behind the server's back: the record of the next change cannot be
    // written (SQLite chains it in the change's transaction and the head is gone; PostgreSQL
    // stages it in `audit_pending`, which is gone), so the change fails and nothing is stored.
    if on_postgres() {
        s.data
            .sql("ALTER TABLE audit_pending RENAME TO audit_pending_gone");
    } else {
        s.data.sql("DELETE FROM settings WHERE key = 'audit_head'");
    }
    let (status, body) = s
        .post("/apiops/projects/", Some(ADMIN), json!({"name": "after"}))
        .await;
    assert_error_prefix(status, &body, 500, "An unexpected error occurred");
    let (ok, out) = s.data.audit_verify();
    assert!(!ok, "{out}");
    if !on_postgres() {
        assert!(out.contains("anchored head"), "{out}");
    }
    let (_, projects) = s.get("/apiops/projects/", Some(ADMIN)).await;
    assert!(
        !projects.to_string().contains("\"after\""),
        "a change whose record could not be written is stored: {projects}"
    );
    // Reads of public material are not recorded, so they still work.
    let (status, _) = s.get("/apiops/projects/", Some(ADMIN)).await;
    assert_eq!(status, 200);
}

/// The records of one object, once they are there (polling with a deadline).
async fn records_of(s: &Server, object: &str, at_least: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = s
            .get(
                &format!("/apiops/audit?object={object}&size=1000"),
                Some(ADMIN),
            )
            .await;
        assert_success(status, &body);
        let list = body["resultList"].as_array().unwrap().clone();
        if list.len() >= at_least || std::time::Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Issue #11: a mutation that waits for a silent agent, whose client leaves during the wait, is
/// committed together with its record — creates and deletes alike.
#[tokio::test]
async fn a_client_that_leaves_during_the_deployment_wait_leaves_no_change_unrecorded() {
    let home = DataHome::new();
    let s = Server::start_with(home, &["--deploy-wait", "20s"]).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "silent", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    // The agent polls once and never acknowledges anything.
    let (status, _) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=silent",
            Some(&agent),
        )
        .await;
    assert_eq!(status, 200);
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let gone = impatient
        .post(s.url(&format!("{P}/jwks/generate")))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "left", "type": "EC", "ec": {"curveType": "P256"}}))
        .send()
        .await;
    assert!(
        gone.is_err(),
        "the create did not wait for the silent agent"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let created = records_of(&s, "left", 1).await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["action"], "generate");
    assert_eq!(created[0]["objectKind"], "jwk");
    assert_eq!(created[0]["status"], 200);
    let (status, _) = s.get(&format!("{P}/jwks/left"), Some(ADMIN)).await;
    assert_eq!(status, 200);

    let gone = impatient
        .delete(s.url(&format!("{P}/jwks/left")))
        .bearer_auth(ADMIN)
        .send()
        .await;
    assert!(
        gone.is_err(),
        "the delete did not wait for the silent agent"
    );
    let records = records_of(&s, "left", 2).await;
    let deletes: Vec<&Value> = records.iter().filter(|r| r["action"] == "delete").collect();
    assert_eq!(deletes.len(), 1, "{records:?}");
    assert_eq!(deletes[0]["status"], 200);
    let (status, _) = s.get(&format!("{P}/jwks/left"), Some(ADMIN)).await;
    assert_eq!(status, 400, "the JWK should be gone");
    assert!(s.data.audit_verify().0);
}

/// Issue #11: the record names the object the handler acted on, whatever the request's shape —
/// a name given in the query string, decoy fields beside the real one, a repeated field.
#[tokio::test]
async fn the_record_names_the_object_the_handler_changed() {
    let s = Server::start().await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let pem = String::from_utf8(read_fixture("p256.pem")).unwrap();
    // The certificate's name in the query string, a decoy `name` field in the form.
    let (status, body) = s
        .upload(
            reqwest::Method::POST,
            &format!("{P}/certificates/?certificateName=real-cert"),
            Some(ADMIN),
            &[
                ("name", "decoy"),
                ("jwkName", "decoy"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            Some(pem.clone().into_bytes()),
        )
        .await;
    assert_success(status, &body);
    let real = records_of(&s, "real-cert", 1).await;
    assert_eq!(real.len(), 1, "{real:?}");
    assert_eq!(real[0]["objectKind"], "certificate");
    assert_eq!(real[0]["action"], "create");
    assert!(records_of(&s, "decoy", 0).await.is_empty());
    // A repeated name field is refused, and the refusal names no decoy.
    let (status, _) = s
        .upload(
            reqwest::Method::POST,
            &format!("{P}/certificates/"),
            Some(ADMIN),
            &[
                ("certificateName", "first"),
                ("certificateName", "second"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            Some(pem.into_bytes()),
        )
        .await;
    assert_eq!(status, 400);
    assert!(records_of(&s, "first", 0).await.is_empty());
    assert!(records_of(&s, "second", 0).await.is_empty());
    // A JWK made from the certificate is recorded under its own name, as a derivation.
    let (status, body) = s
        .post(
            &format!("{P}/jwks/parse-from-certificate"),
            Some(ADMIN),
            json!({"name": "from-cert", "certificateName": "real-cert", "environmentName": "production",
                   "useType": "SIGNATURE", "algorithm": "ES256", "keyName": "decoy"}),
        )
        .await;
    assert_success(status, &body);
    let derived = records_of(&s, "from-cert", 1).await;
    assert_eq!(derived.len(), 1, "{derived:?}");
    assert_eq!(derived[0]["action"], "parse-from-certificate");
    assert_eq!(derived[0]["objectKind"], "jwk");
    // An agent acknowledgement is an agent's record, not an environment's creation.
    let agent = {
        let (status, body) = s
            .post(
                "/apiops/users/admin/tokens",
                Some(ADMIN),
                json!({"name": "gw", "environmentName": "production"}),
            )
            .await;
        assert_success(status, &body);
        body["resultList"][0]["token"].as_str().unwrap().to_owned()
    };
    let (status, body) = s
        .post(
            "/apiops/environments/production/agent/ack",
            Some(&agent),
            json!({"agent": "gw-1", "revision": 0, "success": true}),
        )
        .await;
    assert_success(status, &body);
    let acks = records_of(&s, "gw-1", 1).await;
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["action"], "agent-ack");
    assert_eq!(acks[0]["objectKind"], "agent");
}
