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
    for (grant, id, secret, code, message) in [
        (
            "password",
            "alice",
            "password-123",
            400,
            "GrantType value must be client_credentials!",
        ),
        (
            "client_credentials",
            "alice",
            "wrong-password",
            401,
            "Bad credentials",
        ),
        (
            "client_credentials",
            "nobody",
            "password-123",
            401,
            "Bad credentials",
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
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_error(status, &body, code, message);
    }
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
