//! End-to-end: authentication, the permission rules, the management API, restart and shutdown.

use crate::common::*;
use reqwest::Method;
use serde_json::json;

const CERTS: &str = "/apiops/projects/shop/certificates/";

async fn try_create(s: &Server, token: &str, name: &str) -> (u16, serde_json::Value) {
    s.upload(
        Method::POST,
        CERTS,
        Some(token),
        &[
            ("certificateName", name),
            ("alias", name),
            ("environmentList", "production"),
        ],
        Some(read_fixture("p256.pem")),
    )
    .await
}

async fn names(s: &Server) -> Vec<String> {
    let (_, body) = s.get(CERTS, Some(ADMIN)).await;
    body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tokens_missing_invalid_expired_revoked() {
    let s = Server::with_world().await;
    let (status, body) = s.get(CERTS, None).await;
    assert_error(
        status,
        &body,
        401,
        "Empty Key! Client must be authenticated to access this resource.",
    );
    let (status, body) = s.get(CERTS, Some("kw_not-a-real-token")).await;
    assert_error(status, &body, 401, "Token is not valid!");
    let resp = s
        .client
        .get(s.url(CERTS))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s.get(CERTS, Some(&viewer)).await;
    assert_success(status, &body);
    // Revocation takes effect on the next request.
    let (status, body) = s
        .delete("/apiops/users/viewer/tokens/t1/", Some(&viewer))
        .await;
    assert_success(status, &body);
    let (status, body) = s.get(CERTS, Some(&viewer)).await;
    assert_error(status, &body, 401, "Token is not valid!");
    let (status, body) = s
        .delete("/apiops/users/viewer/tokens/t1/", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Token (name: t1) is not found!");

    // An expiring token works, then expires.
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expires = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = s
        .post(
            "/apiops/users/viewer/tokens",
            Some(ADMIN),
            json!({"name": "short", "expiresAt": expires}),
        )
        .await;
    assert_success(status, &body);
    let short = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    assert_eq!(body["resultList"][0]["expiresAt"], expires.as_str());
    let (status, _) = s.get(CERTS, Some(&short)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = s.get(CERTS, Some(&short)).await;
    assert_error(status, &body, 401, "Token was expired!");

    let (status, body) = s
        .post(
            "/apiops/users/viewer/tokens",
            Some(ADMIN),
            json!({"name": "old", "expiresAt": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "expiresAt value must be null or an RFC 3339 date-time in the future (e.g. 2027-01-31T00:00:00Z)!",
    );
    let (status, body) = s
        .post(
            "/apiops/users/viewer/tokens",
            Some(ADMIN),
            json!({"name": "short"}),
        )
        .await;
    assert_error(status, &body, 400, "Token (name: short) is already exist!");
    // Token values never reach the log.
    let log = s.log_text();
    assert!(
        !log.contains(&short) && !log.contains(&viewer) && !log.contains(ADMIN),
        "a token leaked into the log"
    );
}

#[tokio::test]
async fn permission_rules_for_each_role_and_denials_change_nothing() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    s.create_certificate(
        "shop",
        "existing",
        "existing",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let manager = s.user_with("manager", "shop", &["SECRETS:MANAGE"]).await;
    let deployer = s
        .user_with(
            "deployer",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    let outsider = s
        .user_with(
            "outsider",
            "other",
            &["SECRETS:VIEW", "SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let denied = "User does not have required permission for this operation!";
    let hidden = "Project (shop) is not found or user does not have privilege to access it!";

    for token in [&viewer, &manager, &deployer, &exporter] {
        let (status, body) = s.get(CERTS, Some(token)).await;
        assert_success(status, &body);
        let (status, body) = s.get("/apiops/projects/shop/jwks", Some(token)).await;
        assert_success(status, &body);
    }
    let (status, body) = s.get(CERTS, Some(&outsider)).await;
    assert_error(status, &body, 400, hidden);
    let (status, body) = s
        .get("/apiops/projects/nowhere/certificates", Some(&outsider))
        .await;
    assert_error(
        status,
        &body,
        400,
        "Project (nowhere) is not found or user does not have privilege to access it!",
    );

    for token in [&viewer, &manager, &exporter] {
        let (status, body) = try_create(&s, token, "new").await;
        assert_error(status, &body, 400, denied);
        let (status, body) = s
            .delete("/apiops/projects/shop/certificates/existing", Some(token))
            .await;
        assert_error(status, &body, 400, denied);
        let (status, body) = s
            .parse_jwk_as(token, json!({"name": "j", "certificateName": "existing", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"}))
            .await;
        assert_error(status, &body, 400, denied);
    }
    let (status, body) = try_create(&s, &outsider, "new").await;
    assert_error(status, &body, 400, hidden);
    assert_eq!(names(&s).await, ["existing"]);
    let (_, jwks) = s.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    assert_eq!(jwks["resultCount"], 0);

    let (status, body) = try_create(&s, &deployer, "new").await;
    assert_success(status, &body);
    assert_eq!(names(&s).await, ["existing", "new"]);

    // Export needs EXPORT_IMPORT.
    let (status, body) = s
        .get(
            "/apiops/projects/shop/certificates/new/export",
            Some(&deployer),
        )
        .await;
    assert_error(status, &body, 400, denied);
    let resp = s
        .client
        .get(s.url("/apiops/projects/shop/certificates/new/export"))
        .bearer_auth(&exporter)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // System-admin operations.
    let (status, body) = s
        .post(
            "/apiops/environments",
            Some(&deployer),
            json!({"name": "x", "type": "TEST"}),
        )
        .await;
    assert_error(status, &body, 400, denied);
    let (status, body) = s
        .post("/apiops/projects", Some(&deployer), json!({"name": "x"}))
        .await;
    assert_error(status, &body, 400, denied);
    let (status, body) = s
        .post(
            "/apiops/users",
            Some(&deployer),
            json!({"username": "x", "password": "password-1"}),
        )
        .await;
    assert_error(status, &body, 400, denied);
    let (status, body) = s
        .put(
            "/apiops/projects/shop/members/viewer",
            Some(&deployer),
            json!({"permissions": []}),
        )
        .await;
    assert_error(status, &body, 400, denied);
    let (status, body) = s
        .post(
            "/apiops/users/viewer/tokens",
            Some(&deployer),
            json!({"name": "steal"}),
        )
        .await;
    assert_error(status, &body, 400, denied);

    // Project listing shows only memberships.
    let (status, body) = s.get("/apiops/projects", Some(&viewer)).await;
    assert_success(status, &body);
    let projects: Vec<&str> = body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(projects, ["shop"]);
    let (_, body) = s.get("/apiops/projects", Some(ADMIN)).await;
    assert_eq!(body["resultCount"], 3);

    // Removing a permission takes effect at once.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/members/deployer",
            Some(ADMIN),
            json!({"permissions": [{"category": "SECRETS", "action": "VIEW"}]}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = try_create(&s, &deployer, "third").await;
    assert_error(status, &body, 400, denied);
    let (status, body) = s
        .put(
            "/apiops/projects/shop/members/deployer",
            Some(ADMIN),
            json!({"permissions": []}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s.get(CERTS, Some(&deployer)).await;
    assert_error(status, &body, 400, hidden);
    let (status, body) = s
        .put(
            "/apiops/projects/shop/members/deployer",
            Some(ADMIN),
            json!({"permissions": [{"category": "SECRETS", "action": "ADMIN"}]}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "action (ADMIN) is not valid! Accepted values: VIEW, MANAGE, DEPLOY_UNDEPLOY, EXPORT_IMPORT",
    );
}

#[tokio::test]
async fn management_api_validation() {
    let s = Server::start().await;
    let (status, body) = s
        .post(
            "/apiops/environments",
            Some(ADMIN),
            json!({"name": "prod", "type": "LIVE"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "type (LIVE) is not valid! Accepted values: PRODUCTION, SANDBOX, TEST",
    );
    let (status, body) = s
        .post("/apiops/environments", Some(ADMIN), json!({"type": "TEST"}))
        .await;
    assert_error(status, &body, 400, "name value can not be empty!");
    s.create_environment("prod").await;
    let (status, body) = s
        .post(
            "/apiops/environments",
            Some(ADMIN),
            json!({"name": "prod", "type": "TEST"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Environment (name: prod) is already exist!",
    );
    let (status, body) = s.get("/apiops/environments", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "prod");
    let (status, body) = s
        .post("/apiops/projects", Some(ADMIN), json!({"name": "admin"}))
        .await;
    assert_error(
        status,
        &body,
        400,
        "Project (name: admin) is already exist!",
    );
    let (status, body) = s
        .post(
            "/apiops/users",
            Some(ADMIN),
            json!({"username": "u", "password": "short"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "password value must have at least 8 characters!",
    );
    let (status, body) = s
        .post(
            "/apiops/users",
            Some(ADMIN),
            json!({"username": "admin", "password": "long-enough"}),
        )
        .await;
    assert_error(status, &body, 400, "User (name: admin) is already exist!");
    let (status, body) = s
        .put(
            "/apiops/projects/admin/members/ghost",
            Some(ADMIN),
            json!({"permissions": []}),
        )
        .await;
    assert_error(status, &body, 400, "User (name: ghost) is not found!");
    let (status, body) = s
        .get("/apiops/projects/admin/environments/", Some(ADMIN))
        .await;
    assert_success(status, &body);
    // Unknown routes and methods get the envelope.
    let (status, body) = s.get("/apiops/nothing-here", Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "FAILURE");
    let (status, body) = s
        .send_method(Method::PATCH, "/apiops/environments", Some(ADMIN))
        .await;
    assert_eq!(status, 405);
    assert_eq!(body["status"], "FAILURE");
}

#[tokio::test]
async fn client_credentials_token_endpoint() {
    let s = Server::with_world().await;
    s.user_with("alice", "shop", &["SECRETS:VIEW"]).await;
    let form = |grant: &str, id: &str, secret: &str| {
        vec![
            ("grant_type".to_owned(), grant.to_owned()),
            ("client_id".to_owned(), id.to_owned()),
            ("client_secret".to_owned(), secret.to_owned()),
        ]
    };
    let resp = s
        .client
        .post(s.url("/apiops/auth/token"))
        .form(&form("client_credentials", "alice", "password-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = s.get(CERTS, Some(&token)).await;
    assert_eq!(status, 200);
    // RFC 6749 §5.2 error codes; the envelope is the same as everywhere.
    for (grant, id, secret, code, error, message) in [
        (
            "password",
            "alice",
            "password-123",
            400,
            "unsupported_grant_type",
            "GrantType value must be client_credentials!",
        ),
        (
            "client_credentials",
            "alice",
            "wrong-password",
            401,
            "invalid_client",
            "Bad credentials",
        ),
        (
            "client_credentials",
            "nobody",
            "password-123",
            401,
            "invalid_client",
            "Bad credentials",
        ),
        (
            "client_credentials",
            "alice",
            "",
            400,
            "invalid_request",
            "client_secret value can not be empty!",
        ),
    ] {
        let resp = s
            .client
            .post(s.url("/apiops/auth/token/"))
            .form(&form(grant, id, secret))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status == 401 {
            assert_eq!(
                resp.headers()["www-authenticate"],
                r#"Bearer realm="keyward""#
            );
        }
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, code, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["resultMessage"], message, "{body}");
        assert_eq!(body["error_description"], message, "{body}");
        assert_eq!(body["status"], "FAILURE");
    }
    // A repeated parameter and a body that is not a form are invalid requests.
    let mut repeated = form("client_credentials", "alice", "password-123");
    repeated.push(("client_id".to_owned(), "admin".to_owned()));
    let resp = s
        .client
        .post(s.url("/apiops/auth/token"))
        .form(&repeated)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["resultMessage"],
        "client_id value is given more than once!"
    );
    let resp = s
        .client
        .post(s.url("/apiops/auth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // Other routes keep bad_request.
    let (status, body) = s.get("/apiops/projects/nope/jwks", Some(ADMIN)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn data_survives_restart_and_sigterm_exits_cleanly() {
    let data = DataHome::new();
    let s = Server::start_with(data.clone(), &[]).await;
    let (status, body) = s.get("/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    s.create_environment("production").await;
    s.create_project("shop").await;
    s.create_certificate(
        "shop",
        "keep",
        "keep",
        "production",
        read_fixture("rsa2048.pem"),
    )
    .await;
    let (status, body) = s.parse_jwk("shop", json!({"name": "keep", "certificateName": "keep", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_success(status, &body);
    let (_, before) = s.get("/apiops/projects/shop/jwks/keep", Some(ADMIN)).await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let status = s.stop().await;
    assert!(status.success(), "SIGTERM exit status: {status:?}");

    let s = Server::start_with(data, &[]).await;
    let (_, after) = s.get("/apiops/projects/shop/jwks/keep", Some(ADMIN)).await;
    assert_eq!(before, after);
    let (status, body) = s.get(CERTS, Some(&viewer)).await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "keep");
    assert!(!s.log_text().contains("first start"), "bootstrap ran twice");
}

#[tokio::test]
async fn first_start_prints_a_random_token_once_and_openapi_lists_every_route() {
    let data = DataHome::new();
    let out = Server::command(&data, &[])
        .env_remove("KEYWARD_BOOTSTRAP_TOKEN")
        .env_remove("KEYWARD_BOOTSTRAP_PASSWORD")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = out;
    let stderr = out.stderr.take().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut token = None;
    let mut addr = None;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await
    {
        if let Some(t) = line
            .split("(shown once): ")
            .nth(1)
            .filter(|_| line.contains("token"))
        {
            token = Some(t.trim().to_owned());
        }
        if let Some(i) = line.find("listening on http://") {
            addr = Some(line[i + 20..].trim().to_owned());
            break;
        }
    }
    let (token, addr) = (token.expect("token printed"), addr.expect("listening"));
    assert!(token.starts_with("kw_"));
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{addr}/apiops/projects"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let api: serde_json::Value = client
        .get(format!("http://{addr}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = api["paths"].as_object().unwrap();
    for p in [
        "/apiops/projects/{projectName}/certificates",
        "/apiops/projects/{projectName}/certificates/{certificateName}",
        "/apiops/projects/{projectName}/certificates/{certificateName}/export",
        "/apiops/projects/{projectName}/certificates/truststore/{environmentName}",
        "/apiops/projects/{projectName}/jwks",
        "/apiops/projects/{projectName}/jwks/{jwkName}",
        "/apiops/projects/{projectName}/jwks/parse-from-certificate",
        "/apiops/environments",
        "/apiops/users/{username}/tokens",
        "/apiops/auth/token",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    assert!(api["components"]["securitySchemes"]["bearer"].is_object());
}

/// A client-credentials token of `user`.
async fn session(s: &Server, user: &str, password: &str) -> (u16, serde_json::Value) {
    let resp = s
        .client
        .post(s.url("/apiops/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", user),
            ("client_secret", password),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn users_are_listed_changed_and_deleted() {
    let s = Server::with_world().await;
    let alice = s.user_with("alice", "shop", &["SECRETS:VIEW"]).await;

    // A system admin sees every user with their projects; never a password or its hash.
    let (status, body) = s.get("/apiops/users/", Some(ADMIN)).await;
    assert_success(status, &body);
    let names: Vec<&str> = body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
    assert_eq!(body["resultList"][0]["sysAdmin"], true);
    assert_eq!(
        body["resultList"][1]["projects"],
        json!([{"projectName": "shop", "permissions": [{"category": "SECRETS", "action": "VIEW"}]}])
    );
    assert!(!body.to_string().contains("argon2"), "{body}");
    // Anyone else sees themself.
    let (status, body) = s.get("/apiops/users", Some(&alice)).await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 1);
    assert_eq!(body["resultList"][0]["username"], "alice");
    let (status, body) = s.get("/apiops/users/alice/", Some(&alice)).await;
    assert_success(status, &body);
    let (status, body) = s.get("/apiops/users/admin", Some(&alice)).await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );

    // Own password: currentPassword proves it.
    let (status, body) = s
        .put(
            "/apiops/users/alice/",
            Some(&alice),
            json!({"password": "new-password-1"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "currentPassword value can not be empty!",
    );
    let (status, body) = s
        .put(
            "/apiops/users/alice",
            Some(&alice),
            json!({"password": "new-password-1", "currentPassword": "wrong-one-1"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "currentPassword value is not the user's current password!",
    );
    let (status, body) = s
        .put(
            "/apiops/users/alice",
            Some(&alice),
            json!({"password": "new-password-1", "currentPassword": "password-123"}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultMessage"], "User (name: alice) is updated.");
    assert_eq!(session(&s, "alice", "password-123").await.0, 401);
    assert_eq!(session(&s, "alice", "new-password-1").await.0, 200);
    // A user cannot make themself an admin, nor change anyone else.
    for (path, body) in [
        ("/apiops/users/alice", json!({"sysAdmin": true})),
        ("/apiops/users/admin", json!({"password": "taken-over-1"})),
    ] {
        let (status, body) = s.put(path, Some(&alice), body).await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
    }
    let (status, body) = s.put("/apiops/users/alice", Some(ADMIN), json!({})).await;
    assert_error_prefix(status, &body, 400, "Nothing to change");
    let (status, body) = s
        .put(
            "/apiops/users/alice",
            Some(ADMIN),
            json!({"password": "short"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "password value must have at least 8 characters!",
    );

    // The last system admin stays one.
    let last = "The last system admin can not be deleted or lose the system admin role! Make another user a system admin first.";
    let (status, body) = s
        .put(
            "/apiops/users/admin",
            Some(ADMIN),
            json!({"sysAdmin": false}),
        )
        .await;
    assert_error(status, &body, 400, last);
    let (status, body) = s.delete("/apiops/users/admin/", Some(ADMIN)).await;
    assert_error(status, &body, 400, last);
    // A promoted user takes effect at once (the token cache is emptied).
    let (status, body) = s
        .put(
            "/apiops/users/alice",
            Some(ADMIN),
            json!({"sysAdmin": true}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["sysAdmin"], true);
    let (status, body) = s.get("/apiops/users/admin", Some(&alice)).await;
    assert_success(status, &body);
    let (status, body) = s
        .put(
            "/apiops/users/admin",
            Some(&alice),
            json!({"sysAdmin": false}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .put(
            "/apiops/users/admin",
            Some(&alice),
            json!({"sysAdmin": true}),
        )
        .await;
    assert_success(status, &body);

    // Deleting a user revokes every token they hold, sessions included.
    let (status, body) = s
        .put(
            "/apiops/users/alice",
            Some(ADMIN),
            json!({"sysAdmin": false}),
        )
        .await;
    assert_success(status, &body);
    let (_, sess) = session(&s, "alice", "new-password-1").await;
    let sess = sess["access_token"].as_str().unwrap().to_owned();
    let (status, body) = s.delete("/apiops/users/alice", Some(&alice)).await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, body) = s.delete("/apiops/users/alice", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(
        body["resultMessage"],
        "User (name: alice) is deleted; its 1 token(s) are revoked."
    );
    for t in [&alice, &sess] {
        let (status, body) = s.get(CERTS, Some(t)).await;
        assert_error(status, &body, 401, "Token is not valid!");
    }
    let (status, body) = s.get("/apiops/users/alice", Some(ADMIN)).await;
    assert_error(status, &body, 400, "User (name: alice) is not found!");
    let (status, body) = s.delete("/apiops/users/alice", Some(ADMIN)).await;
    assert_error(status, &body, 400, "User (name: alice) is not found!");
}

#[tokio::test]
async fn tokens_are_listed_without_their_secrets() {
    let s = Server::with_world().await;
    // DEPLOY_UNDEPLOY: only deployers may hold agent tokens.
    let alice = s
        .user_with(
            "alice",
            "shop",
            &["SECRETS:VIEW", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, body) = s
        .post(
            "/apiops/users/alice/tokens",
            Some(ADMIN),
            json!({"name": "unused", "expiresAt": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/users/alice/tokens",
            Some(ADMIN),
            json!({"name": "gateway", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    let (status, _) = s.get(CERTS, Some(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(session(&s, "alice", "password-123").await.0, 200);
    // lastUsedAt is written off the request's path.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = s.get("/apiops/users/alice/tokens/", Some(&alice)).await;
    assert_success(status, &body);
    let list = body["resultList"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    // Client-credentials sessions are not listed.
    assert_eq!(names, ["gateway", "t1", "unused"]);
    assert_eq!(list[0]["kind"], "AGENT");
    assert_eq!(list[0]["environmentName"], "production");
    assert_eq!(list[1]["kind"], "PERSONAL");
    assert!(list[1]["lastUsedAt"].is_string(), "{body}");
    assert!(list[2]["lastUsedAt"].is_null(), "{body}");
    assert_eq!(list[2]["expiresAt"], "2099-01-01T00:00:00.000Z");
    assert!(list[1]["createdAt"].is_string());
    assert!(!body.to_string().contains(&alice) && !body.to_string().contains(&agent));
    for t in list {
        assert!(t.get("token").is_none(), "{t}");
    }
    // Another user's tokens are not for everyone.
    let bob = s.user_with("bob", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s.get("/apiops/users/alice/tokens", Some(&bob)).await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, body) = s.get("/apiops/users/alice/tokens", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 3);
}

#[tokio::test]
async fn a_token_never_outlives_the_token_that_created_it() {
    let s = Server::with_world().await;
    let (status, body) = session(&s, "admin", "admin-password-1").await;
    assert_eq!(status, 200, "{body}");
    let hour = body["access_token"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let parse = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    for (name, asked) in [
        ("never", serde_json::Value::Null),
        ("late", json!(rfc(now + time::Duration::days(30)))),
    ] {
        let (status, body) = s
            .post(
                "/apiops/users/admin/tokens",
                Some(&hour),
                json!({"name": name, "expiresAt": asked}),
            )
            .await;
        assert_success(status, &body);
        let expires = parse(&body["resultList"][0]["expiresAt"]);
        assert!(
            expires <= now + time::Duration::seconds(3605)
                && expires >= now + time::Duration::seconds(3500),
            "{body}"
        );
        assert!(
            body["resultMessage"]
                .as_str()
                .unwrap()
                .contains("a token never outlives the token that created it"),
            "{body}"
        );
        // The cap is what the store enforces, too.
        let (_, list) = s.get("/apiops/users/admin/tokens", Some(ADMIN)).await;
        let listed = list["resultList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone();
        assert!(parse(&listed["expiresAt"]) <= now + time::Duration::seconds(3605));
    }
    // An earlier expiry is kept as asked, without a message; a token that never expires creates
    // tokens that never expire.
    let soon = rfc(now + time::Duration::minutes(10));
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(&hour),
            json!({"name": "soon", "expiresAt": soon}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["expiresAt"], soon.as_str());
    assert!(
        body.get("resultMessage").is_none_or(|m| m.is_null()),
        "{body}"
    );
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "forever"}),
        )
        .await;
    assert_success(status, &body);
    assert!(body["resultList"][0]["expiresAt"].is_null());
}

#[tokio::test]
async fn every_401_says_www_authenticate_bearer() {
    let s = Server::with_world().await;
    for (token, challenge) in [
        (None, r#"Bearer realm="keyward""#),
        (
            Some("kw_not-a-real-token"),
            r#"Bearer realm="keyward", error="invalid_token""#,
        ),
    ] {
        let mut req = s.client.get(s.url(CERTS));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], challenge);
    }
}

#[tokio::test]
async fn project_members_are_listed_and_removed() {
    let s = Server::with_world().await;
    let alice = s.user_with("alice", "shop", &["SECRETS:VIEW"]).await;
    let outsider = s.user_with("outsider", "admin", &["SECRETS:VIEW"]).await;
    let (status, body) = s.get("/apiops/projects/shop/members/", Some(&alice)).await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"],
        json!([{"projectName": "shop", "username": "alice", "permissions": [{"category": "SECRETS", "action": "VIEW"}]}])
    );
    let (status, body) = s
        .get("/apiops/projects/shop/members", Some(&outsider))
        .await;
    assert_error(
        status,
        &body,
        400,
        "Project (shop) is not found or user does not have privilege to access it!",
    );
    let (status, body) = s
        .delete("/apiops/projects/shop/members/alice", Some(&alice))
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, body) = s
        .delete("/apiops/projects/shop/members/alice/", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultMessage"],
        "User (name: alice) is removed from project (shop)."
    );
    // At once: the token cache forgot alice's permissions.
    let (status, body) = s.get(CERTS, Some(&alice)).await;
    assert_error(
        status,
        &body,
        400,
        "Project (shop) is not found or user does not have privilege to access it!",
    );
    let (status, body) = s
        .delete("/apiops/projects/shop/members/alice", Some(ADMIN))
        .await;
    assert_error(
        status,
        &body,
        400,
        "User (name: alice) is not a member of project (shop)!",
    );
    let (status, body) = s.get("/apiops/projects/shop/members", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 0);
}

#[tokio::test]
async fn projects_and_environments_are_deleted_only_when_empty_or_forced() {
    let s = Server::with_world().await;
    s.create_project("web").await;
    s.create_certificate("shop", "api", "api", "production", read_fixture("p256.pem"))
        .await;
    let (status, body) = s
        .parse_jwk(
            "shop",
            json!({"name": "api", "certificateName": "api", "environmentName": "production",
                   "useType": "SIGNATURE", "algorithm": "ES256"}),
        )
        .await;
    assert_success(status, &body);
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;

    // Refused while something is left, saying what.
    let (status, body) = s.delete("/apiops/projects/shop/", Some(ADMIN)).await;
    assert_error(
        status,
        &body,
        400,
        "Project (name: shop) is not empty: it still holds 1 certificate, 1 JWK! Delete them first, or add ?force=true to delete the project with everything in it.",
    );
    let (status, body) = s
        .delete("/apiops/environments/production", Some(ADMIN))
        .await;
    assert_error(
        status,
        &body,
        400,
        "Environment (name: production) is not empty: it still holds 1 certificate entry, 1 JWK derived from them! Delete them first, or add ?force=true to delete the environment with everything in it.",
    );
    let (status, body) = s
        .delete("/apiops/projects/shop?force=true", Some(&viewer))
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, body) = s.delete("/apiops/projects/admin", Some(ADMIN)).await;
    assert_error(
        status,
        &body,
        400,
        "Project (admin) can not be deleted: its secrets are usable from every project!",
    );
    let (status, body) = s.delete("/apiops/environments/nowhere", Some(ADMIN)).await;
    assert_error(
        status,
        &body,
        400,
        "Environment (nowhere) is not found or user does not have privilege to access it!",
    );

    // Empty ones go at once.
    let (status, body) = s.delete("/apiops/projects/web", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultMessage"], "Project (name: web) is deleted.");
    let (status, body) = s.delete("/apiops/environments/test/", Some(ADMIN)).await;
    assert_success(status, &body);
    let (_, envs) = s.get("/apiops/environments", Some(ADMIN)).await;
    assert_eq!(envs["resultCount"], 1, "{envs}");

    // Forced: everything goes, the removal is deployed, members lose the project at once.
    let (status, body) = s
        .delete("/apiops/projects/shop?force=true", Some(ADMIN))
        .await;
    assert_success(status, &body);
    let deployed = &body["deploymentResult"]["environmentResults"];
    assert_eq!(deployed[0]["environmentName"], "production", "{body}");
    let (_, projects) = s.get("/apiops/projects", Some(ADMIN)).await;
    assert_eq!(projects["resultList"].as_array().unwrap().len(), 1);
    let (status, _) = s.get(CERTS, Some(&viewer)).await;
    assert_eq!(status, 400);
    let (status, body) = s.get("/apiops/users/viewer", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["projects"], json!([]));

    // An environment with material, forced: the entries and the JWKs derived there go.
    s.create_project("shop").await;
    s.create_certificate("shop", "api", "api", "production", read_fixture("p256.pem"))
        .await;
    let (status, body) = s
        .parse_jwk(
            "shop",
            json!({"name": "api", "certificateName": "api", "environmentName": "production",
                   "useType": "SIGNATURE", "algorithm": "ES256"}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .delete("/apiops/environments/production?force=true", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultMessage"],
        "Environment (name: production) is deleted."
    );
    let (_, jwks) = s.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    assert_eq!(jwks["resultCount"], 0, "{jwks}");
    let (status, body) = s.get(CERTS, Some(ADMIN)).await;
    assert_success(status, &body);

    // Each delete is in the audit trail, with its object.
    let (status, audit) = s.get("/apiops/audit?object=shop", Some(ADMIN)).await;
    assert_eq!(status, 200, "{audit}");
    let records = audit["resultList"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["action"] == "force-delete"
            && r["objectKind"] == "project"
            && r["status"] == 200),
        "{audit}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "delete" && r["status"] == 400),
        "the refused delete is recorded too: {audit}"
    );
    let (_, audit) = s.get("/apiops/audit?object=production", Some(ADMIN)).await;
    assert!(
        audit["resultList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["objectKind"] == "environment" && r["action"] == "force-delete"),
        "{audit}"
    );
}

/// Runs `keyward serve` with its own arguments (not the harness's), stdout and stderr piped.
fn serve_command(data: &DataHome, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.arg("serve")
        .args(data.args())
        .args(args)
        .env("KEYWARD_BOOTSTRAP_TOKEN", ADMIN)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_MASTER_KEY")
        .env_remove("KEYWARD_MASTER_KEY_FILE")
        .env_remove("KEYWARD_PREVIOUS_MASTER_KEYS")
        .env_remove("KEYWARD_LOG_FORMAT")
        .env_remove("KEYWARD_LISTEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if data.database_url.is_some() {
        cmd.env("KEYWARD_MASTER_KEY", TEST_MASTER_KEY);
    }
    cmd
}

#[tokio::test]
async fn start_up_refuses_short_bootstrap_tokens_and_bad_addresses_in_one_line() {
    let data = DataHome::new();
    for (args, env, expected) in [
        (
            vec!["--listen", "127.0.0.1:0"],
            Some("too-short"),
            "KEYWARD_BOOTSTRAP_TOKEN has 9 characters; it needs at least 32",
        ),
        (
            vec!["--listen", "no-port"],
            None,
            "--listen \"no-port\" is not HOST:PORT",
        ),
        (
            vec!["--listen", "256.1.1.1:80"],
            None,
            "cannot listen on 256.1.1.1:80",
        ),
        (
            vec!["--listen", "127.0.0.1:0", "--request-timeout", "soon"],
            None,
            "invalid value 'soon' for '--request-timeout",
        ),
    ] {
        let mut cmd = serve_command(&data, &args);
        cmd.env("RUST_BACKTRACE", "1");
        if let Some(t) = env {
            cmd.env("KEYWARD_BOOTSTRAP_TOKEN", t);
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one line, no backtrace: {stderr}"
        );
        assert!(stderr.starts_with("keyward: error: "), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    // Nothing was created by the refused starts.
    if data.database_url.is_none() {
        assert!(!data.dir.path().join("keyward.db").exists());
    }
}

#[tokio::test]
async fn start_up_names_store_key_and_address_and_warns_of_ignored_bootstrap_variables() {
    let data = DataHome::new();
    let s = Server::start_with(data.clone(), &[]).await;
    let log = s.log_text();
    if data.database_url.is_none() {
        let db = data.dir.path().join("keyward.db");
        assert!(
            log.contains(&format!("store: SQLite database {}", db.display())),
            "{log}"
        );
        assert!(
            log.contains(&format!(
                "master key: created the master key file {}",
                data.dir.path().join("master.key").display()
            )),
            "{log}"
        );
    } else {
        assert!(log.contains("store: PostgreSQL postgres://"), "{log}");
        assert!(log.contains("master key: given by"), "{log}");
    }
    assert!(
        log.contains("admin personal API access token 'bootstrap'"),
        "{log}"
    );
    s.stop().await;
    // Again, on a store that has users: the variables are ignored, and the log says so.
    let s = Server::start_with(data, &[]).await;
    let log = s.log_text();
    assert!(
        log.contains("KEYWARD_BOOTSTRAP_TOKEN and KEYWARD_BOOTSTRAP_PASSWORD ignored: the store already has users"),
        "{log}"
    );
    s.stop().await;
}

#[tokio::test]
async fn listen_on_colon_zero_prints_the_address_and_logs_json() {
    let data = DataHome::new();
    let mut child = serve_command(&data, &["--listen", ":0", "--log-format", "json"])
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut out = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), out.next_line())
        .await
        .expect("an address within 60 s")
        .unwrap()
        .expect("a line on stdout");
    let addr = line
        .strip_prefix("listening on http://0.0.0.0:")
        .unwrap_or_else(|| panic!("{line}"));
    let port: u16 = addr.trim().parse().unwrap();
    assert_ne!(port, 0);
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = child.start_kill();
    let _ = child.wait().await;
    // Every log line is one JSON object.
    let mut err = tokio::io::BufReader::new(stderr).lines();
    let mut objects = 0;
    while let Ok(Some(l)) = err.next_line().await {
        if l.starts_with("keyward: ") {
            continue; // the bootstrap notice, written for a human
        }
        let v: serde_json::Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        objects += 1;
    }
    assert!(objects >= 3, "{objects} log objects");
}

#[tokio::test]
async fn the_openapi_document_passes_openapi_spec_validator() {
    let Some(python) = peer_python() else {
        eprintln!("skipped: no Python with jwcrypto/openapi-spec-validator (run scripts/test.sh)");
        return;
    };
    let has_validator = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_validator {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide openapi-spec-validator (tests/crosscheck/requirements.txt)"
        );
        eprintln!("skipped: {python} cannot import openapi_spec_validator");
        return;
    }
    let s = Server::start().await;
    let text = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the validator does not check: every operation answers 400 and (with a token) 401,
    // every response is described, requests name their required fields and enums.
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}"
                );
            }
            if path.starts_with("/apiops") {
                assert!(responses.contains_key("400"), "{method} {path}");
            }
            let open = op["security"] == json!([{}]);
            if !open {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let body = &schemas["JwkFromCertificate"];
    assert_eq!(
        body["required"],
        json!([
            "name",
            "certificateName",
            "environmentName",
            "useType",
            "algorithm"
        ])
    );
    assert_eq!(
        body["properties"]["useType"]["enum"],
        json!(["SIGNATURE", "ENCRYPTION"])
    );
    let algs = body["properties"]["algorithm"]["enum"].as_array().unwrap();
    for a in ["RS256", "ES256K", "EdDSA", "RSA-OAEP-256", "RSA_OAEP_256"] {
        assert!(algs.contains(&json!(a)), "{a}");
    }
    assert!(schemas["Jwk"]["properties"]["x5t#S256"].is_object());
    let ok = &doc["paths"]["/apiops/projects/{projectName}/jwks/parse-from-certificate"]["post"]["responses"]
        ["200"]["content"]["application/json"]["schema"];
    assert!(
        ok.to_string().contains("#/components/schemas/JwkDetail"),
        "{ok}"
    );
    assert!(
        doc["paths"]["/apiops/projects/{projectName}/jwks/parse-from-certificate"]["post"]
            ["requestBody"]
            .to_string()
            .contains("JwkFromCertificate")
    );
}

#[test]
fn the_command_line_prints_completions_a_manual_and_takes_urls_from_the_environment() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["completions", "bash"]).contains("_keyward()"));
    assert!(run(&["completions", "zsh"]).contains("#compdef keyward"));
    let man = run(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH"), "{man}");
    assert!(man.contains("keyward"));
    // Database passwords stay off the command line; every flag has its variable.
    let copy = run(&["store", "copy", "--help"]);
    for var in ["KEYWARD_SOURCE_DATABASE_URL", "KEYWARD_TARGET_DATABASE_URL"] {
        assert!(copy.contains(var), "{copy}");
    }
    let agent = run(&["agent", "--help"]);
    for var in [
        "KEYWARD_AGENT_SERVER",
        "KEYWARD_AGENT_TOKEN",
        "KEYWARD_AGENT_ENVIRONMENT",
        "KEYWARD_AGENT_PROJECTS",
        "KEYWARD_AGENT_OUT",
        "KEYWARD_AGENT_ON_CHANGE",
        "KEYWARD_AGENT_ON_CHANGE_TIMEOUT",
        "KEYWARD_AGENT_NAME",
        "KEYWARD_AGENT_WAIT",
        "KEYWARD_AGENT_CA_FILE",
        "KEYWARD_AGENT_ONCE",
    ] {
        assert!(agent.contains(var), "{var} missing in {agent}");
    }
    assert!(run(&["serve", "--help"]).contains("KEYWARD_LOG_FORMAT"));
    assert!(run(&["rekey", "--help"]).contains("KEYWARD_REKEY_BATCH"));
}
