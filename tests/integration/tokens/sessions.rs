//! `/auth/refresh`, `/auth/logout`, `/auth/me`, `/auth/register`, single session.

use std::time::Duration;

use actors::storage::users::Role;
use serde_json::{Value, json};

use super::{Backend, start};
use crate::harness::TestGateway;
use crate::http::{self, Reply};
use crate::users::{PASSWORD, create_user};

async fn login_pair(gw: &TestGateway, username: &str) -> (String, String) {
    let reply = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({ "username": username, "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    pair(&reply)
}

fn pair(reply: &Reply) -> (String, String) {
    (
        reply.body["access_token"].as_str().unwrap().to_string(),
        reply.body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn refresh(gw: &TestGateway, token: &str) -> Reply {
    http::post_json(
        &gw.url("/auth/refresh"),
        None,
        &json!({ "refresh_token": token }),
    )
    .await
}

async fn mcp_status(gw: &TestGateway, token: &str) -> u16 {
    http::get(&gw.url("/mcp"), Some(token)).await.status
}

async fn refresh_rotates_and_a_reused_token_kills_the_session(backend: Backend) {
    let running = start(backend, |c| c.auth.refresh_reuse_grace = Duration::ZERO).await;
    let gw = &running.gw;
    create_user(gw, "alice", Role::User);
    let (_access, refresh1) = login_pair(gw, "alice").await;
    assert!(refresh1.starts_with("amr_"), "opaque, prefixed");

    let reply = refresh(gw, &refresh1).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 1800);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    let (access2, refresh2) = pair(&reply);
    assert_ne!(refresh2, refresh1);
    assert_ne!(mcp_status(gw, &access2).await, 401);

    let reuse = refresh(gw, &refresh1).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.body["error"], "invalid_grant");
    // The whole family is gone: its newest access token is refused on /mcp at once.
    let refused = http::get(&gw.url("/mcp"), Some(&access2)).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body["detail"].as_str().unwrap().contains("revoked"));
    assert_eq!(refresh(gw, &refresh2).await.status, 401);

    let garbage = refresh(gw, "amr_not-a-token").await;
    assert_eq!(garbage.status, 401);
    assert_eq!(refresh(gw, "").await.status, 401);
    let missing = http::post_json(&gw.url("/auth/refresh"), None, &json!({})).await;
    assert_eq!(missing.status, 400);
    running.stop().await;
}

async fn a_retry_within_the_grace_window_is_answered(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let gw = &running.gw;
    create_user(gw, "alice", Role::User);
    let (_, refresh1) = login_pair(gw, "alice").await;
    let first = refresh(gw, &refresh1).await;
    let retry = refresh(gw, &refresh1).await;
    assert_eq!(first.status, 200);
    assert_eq!(retry.status, 200, "lost response retried: {}", retry.body);
    let (a, _) = pair(&first);
    let (b, _) = pair(&retry);
    assert_ne!(mcp_status(gw, &a).await, 401);
    assert_ne!(mcp_status(gw, &b).await, 401);
    running.stop().await;
}

async fn logout_refuses_the_token_at_once_and_me_shows_the_account(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let gw = &running.gw;
    let id = create_user(gw, "alice", Role::User);
    let (access, refresh_token) = login_pair(gw, "alice").await;
    let me = http::get(&gw.url("/auth/me"), Some(&access)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["email"], "alice@example.test");
    assert_eq!(me.body["role"], "user");
    assert_eq!(me.body["enabled"], true);
    assert!(me.body["created_at"].as_i64().unwrap() > 0);
    assert!(me.body["last_login_at"].as_i64().unwrap() > 0);
    assert!(me.body.get("password_hash").is_none());

    let (other_access, _) = login_pair(gw, "alice").await;
    let out = http::post_raw(
        &gw.url("/auth/logout"),
        Some(&access),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(out.status, 204);
    assert_eq!(mcp_status(gw, &access).await, 401, "refused at once");
    assert_eq!(refresh(gw, &refresh_token).await.status, 401);
    assert_ne!(
        mcp_status(gw, &other_access).await,
        401,
        "another session stays"
    );
    assert_eq!(
        http::post_json(&gw.url("/auth/logout"), None, &json!({}))
            .await
            .status,
        401
    );
    let bad = http::post_raw(
        &gw.url("/auth/logout"),
        Some(&other_access),
        "application/json",
        b"{x".to_vec(),
    )
    .await;
    assert_eq!(bad.status, 400);
    running.stop().await;
}

async fn registration_is_off_by_default(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let reply = http::post_json(
        &running.gw.url("/auth/register"),
        None,
        &json!({ "username": "eve", "email": "eve@example.test", "password": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("switched off")
    );
    running.stop().await;
}

async fn registration_when_allowed_enforces_policy_and_uniqueness(backend: Backend) {
    let running = start(backend, |c| c.auth.allow_registration = true).await;
    let gw = &running.gw;
    let register = |body: Value| {
        let url = gw.url("/auth/register");
        async move { http::post_json(&url, None, &body).await }
    };
    let weak =
        register(json!({ "username": "eve", "email": "eve@example.test", "password": "weak" }))
            .await;
    assert_eq!(weak.status, 422);
    let problems: Vec<String> = serde_json::from_value(weak.body["problems"].clone()).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("at least 8")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("uppercase")),
        "{problems:?}"
    );

    let created =
        register(json!({ "username": "eve", "email": "eve@example.test", "password": PASSWORD }))
            .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["role"], "user");
    let dup =
        register(json!({ "username": "eve", "email": "other@example.test", "password": PASSWORD }))
            .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"], "conflict");
    let same_email =
        register(json!({ "username": "eve2", "email": "EVE@example.test", "password": PASSWORD }))
            .await;
    assert_eq!(same_email.status, 409, "{}", same_email.body);
    assert_eq!(
        same_email.body["detail"],
        "Email `EVE@example.test` is already the address of another account.",
        "{}",
        same_email.body
    );
    let (access, _) = login_pair(gw, "eve").await;
    assert_eq!(
        http::get(&gw.url("/admin/api/api-tokens"), Some(&access))
            .await
            .status,
        403,
        "a user, not an admin"
    );
    running.stop().await;
}

async fn single_session_signs_out_the_same_client_only(backend: Backend) {
    let running = start(backend, |c| c.auth.enforce_single_session = true).await;
    let gw = &running.gw;
    create_user(gw, "alice", Role::User);
    let (first, _) = login_pair(gw, "alice").await;
    let (second, _) = login_pair(gw, "alice").await;
    assert_eq!(mcp_status(gw, &first).await, 401);
    assert_ne!(mcp_status(gw, &second).await, 401);
    running.stop().await;
}

async fn without_single_session_logins_coexist(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let gw = &running.gw;
    create_user(gw, "alice", Role::User);
    let (first, _) = login_pair(gw, "alice").await;
    let (second, _) = login_pair(gw, "alice").await;
    assert_ne!(mcp_status(gw, &first).await, 401);
    assert_ne!(mcp_status(gw, &second).await, 401);
    running.stop().await;
}

crate::on_both_databases!(
    refresh_rotates_and_a_reused_token_kills_the_session,
    a_retry_within_the_grace_window_is_answered,
    logout_refuses_the_token_at_once_and_me_shows_the_account,
    registration_is_off_by_default,
    registration_when_allowed_enforces_policy_and_uniqueness,
    single_session_signs_out_the_same_client_only,
    without_single_session_logins_coexist,
);
