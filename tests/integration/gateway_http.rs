//! The HTTP surface of the foundation: health, readiness, login, bearer checks, well-known.

use std::time::Duration;

use actors::storage::users::Role;
use serde_json::json;

use crate::harness::TestGateway;
use crate::http;
use crate::users::{PASSWORD, create_user, login, set_enabled};

#[actix_rt::test]
async fn health_is_public_seed_compatible_and_carries_a_request_id() {
    let gw = TestGateway::start("").await;
    let reply = http::get(&gw.url("/health"), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({ "status": "ok" }));
    let id = reply.header("x-request-id").expect("X-Request-Id missing");
    assert_eq!(id.len(), 32);
    let again = http::get(&gw.url("/health"), None).await;
    assert_ne!(
        again.header("x-request-id").unwrap(),
        id,
        "request ids must be unique"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn login_issues_bearer_tokens_that_open_protected_routes() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "alice", Role::User);
    let reply = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": "alice", "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 1800);
    let access = reply.body["access_token"].as_str().unwrap();
    assert!(reply.body["refresh_token"].as_str().unwrap().len() > 20);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));

    // A valid token passes authentication; the unknown route then answers a JSON 404.
    let reply = http::get(&gw.url("/no-such-route"), Some(access)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["error"], "not_found");
    // The refresh token is not an access token.
    let refresh = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": "alice", "password": PASSWORD }),
    )
    .await;
    let refresh = refresh.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        http::get(&gw.url("/no-such-route"), Some(&refresh))
            .await
            .status,
        401
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn bad_credentials_get_one_answer_whatever_was_wrong() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "bob", Role::User);
    let wrong = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": "bob", "password": "nope" }),
    )
    .await;
    let unknown = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": "ghost", "password": "nope" }),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body, "no account enumeration");

    let malformed = http::post_raw(
        &gw.url("/auth/login"),
        None,
        "application/json",
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"], "bad_request");
    let missing =
        http::post_json(&gw.url("/auth/login"), None, &json!({ "username": "bob" })).await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{}",
        missing.body
    );
    let huge = http::post_raw(
        &gw.url("/auth/login"),
        None,
        "application/json",
        vec![b' '; 5 << 20],
    )
    .await;
    assert_eq!(huge.status, 413);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn protected_routes_answer_401_with_resource_metadata() {
    let gw = TestGateway::start("").await;
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", gw.base_url);
    for path in ["/mcp", "/admin/api/users", "/anything"] {
        let reply = http::get(&gw.url(path), None).await;
        assert_eq!(reply.status, 401, "{path}");
        let challenge = reply.header("www-authenticate").unwrap();
        assert_eq!(
            challenge,
            format!("Bearer resource_metadata=\"{metadata}\", scope=\"mcp\"")
        );
    }
    let forged = http::get(&gw.url("/mcp"), Some("eyJhbGciOiJub25lIn0.e30.")).await;
    assert_eq!(forged.status, 401);
    assert!(
        forged
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let document = http::get(&metadata, None).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.body["resource"], format!("{}/mcp", gw.base_url));
    assert_eq!(document.body["authorization_servers"], json!([gw.base_url]));
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_disabled_users_token_stops_working() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "carol", Role::User);
    let token = login(&gw, "carol").await;
    assert_eq!(http::get(&gw.url("/x"), Some(&token)).await.status, 404);

    // Disabled from outside the gateway's process path, as `user disable` does.
    set_enabled(&gw, "carol", false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = http::get(&gw.url("/x"), Some(&token)).await;
        if reply.status == 401 {
            assert!(reply.body["detail"].as_str().unwrap().contains("disabled"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "token still accepted after disable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relogin = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": "carol", "password": PASSWORD }),
    )
    .await;
    assert_eq!(relogin.status, 403);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn auth_can_be_switched_off_for_development() {
    let gw = TestGateway::start_with("", |c| c.auth.required = false).await;
    assert_eq!(http::get(&gw.url("/anything"), None).await.status, 404);
    gw.stop().await.unwrap();
}
