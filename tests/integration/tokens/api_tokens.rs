//! API tokens through the admin API, and `STATIC_BEARER_TOKENS` mapped to their user.

use actors::auth::opaque;
use actors::storage::users::Role;
use serde_json::json;

use super::{Backend, start};
use crate::admin_api::send;
use crate::http;
use crate::users::{create_user, login};

async fn admin_creates_uses_lists_and_revokes_api_tokens(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let gw = &running.gw;
    let admin = running.admin().await;
    let bot = create_user(gw, "bot", Role::User);
    let url = gw.url("/admin/api/api-tokens");

    let created = http::post_json(
        &url,
        Some(&admin),
        &json!({ "username": "bot", "name": "ci", "expires_days": 30 }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("amk_"));
    assert_eq!(created.body["user_id"], bot);
    assert!(created.body["expires_at"].as_i64().is_some());

    // It acts as `bot`, with bot's role: the admin API stays closed to it.
    let me = http::get(&gw.url("/auth/me"), Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "bot");
    assert_eq!(me.body["credential"], "api_token");
    assert_eq!(http::get(&url, Some(&token)).await.status, 403);
    assert_ne!(http::get(&gw.url("/mcp"), Some(&token)).await.status, 401);

    let listed = http::get(&url, Some(&admin)).await;
    assert_eq!(listed.status, 200);
    let text = listed.body.to_string();
    assert!(!text.contains(&token), "the token is shown once only");
    assert!(!text.contains(&opaque::sha256_hex(&token)), "nor its hash");
    assert_eq!(listed.body["tokens"][0]["name"], "ci");

    let bad = http::post_json(
        &url,
        Some(&admin),
        &json!({ "username": "ghost", "expires_days": 0 }),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["problems"].as_array().unwrap().len(),
        3,
        "{}",
        bad.body
    );
    let user_token = login(gw, "bot").await;
    assert_eq!(
        http::post_json(
            &url,
            Some(&user_token),
            &json!({ "username": "bot", "name": "x" })
        )
        .await
        .status,
        403
    );

    let id = created.body["id"].as_i64().unwrap();
    let revoked = send("DELETE", &format!("{url}/{id}"), Some(&admin), None).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].as_i64().is_some());
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&token)).await.status,
        401,
        "refused at once"
    );
    assert_eq!(
        send("DELETE", &format!("{url}/999999"), Some(&admin), None)
            .await
            .status,
        404
    );

    // Admin revoke of every session and API token of a user.
    let session = login(gw, "bot").await;
    let second = http::post_json(
        &url,
        Some(&admin),
        &json!({ "username": "bot", "name": "ci2" }),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let second = second.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&second)).await.status,
        200
    );
    let out = http::post_json(
        &gw.url(&format!("/admin/api/users/{bot}/revoke-sessions")),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body["api_tokens_revoked"], 1, "{}", out.body);
    assert_eq!(http::get(&gw.url("/mcp"), Some(&session)).await.status, 401);
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&second)).await.status,
        401
    );
    running.stop().await;
}

async fn static_bearer_tokens_act_as_their_user(backend: Backend) {
    let running = start(backend, |c| {
        c.auth.static_bearer_token_hashes = vec![opaque::sha256("static-token-for-the-ci-bot")];
        c.auth.static_bearer_tokens_user = Some("ci-bot".into());
    })
    .await;
    let gw = &running.gw;
    // Until the named user exists the token opens nothing.
    let url = gw.url("/auth/me");
    assert_eq!(
        http::get(&url, Some("static-token-for-the-ci-bot"))
            .await
            .status,
        401
    );
    let id = create_user(gw, "ci-bot", Role::User);
    // Created by another connection (as the CLI would): wait for the directory refresher.
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    let me = loop {
        let reply = http::get(&url, Some("static-token-for-the-ci-bot")).await;
        if reply.status == 200 {
            break reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "static token never accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["credential"], "api_token");
    assert_eq!(
        http::get(
            &gw.url("/admin/api/api-tokens"),
            Some("static-token-for-the-ci-bot")
        )
        .await
        .status,
        403,
        "the user's role, not admin"
    );
    assert_eq!(
        http::get(&url, Some("static-token-for-the-ci-box"))
            .await
            .status,
        401
    );
    running.stop().await;
}

crate::on_both_databases!(
    admin_creates_uses_lists_and_revokes_api_tokens,
    static_bearer_tokens_act_as_their_user,
);
