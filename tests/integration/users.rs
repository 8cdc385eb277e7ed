//! Creating users for tests straight in the gateway's database, as `create-admin` would.

use actors::auth::passwords::PasswordHasher;
use actors::storage::Database;
use actors::storage::users::{self, NewUser, Role};

use crate::harness::TestGateway;
use crate::http;

pub const PASSWORD: &str = "Correct-Horse-9";

pub fn create_user(gateway: &TestGateway, username: &str, role: Role) -> i64 {
    let db = Database::connect(&gateway.config.database.url, 1).unwrap();
    let hash = PasswordHasher::new(4, 1).hash_blocking(PASSWORD).unwrap();
    let email = format!("{username}@example.test");
    db.run_blocking(move |c| {
        users::create(
            c,
            NewUser {
                username,
                email: &email,
                password_hash: &hash,
                role,
            },
        )
    })
    .unwrap()
    .id
}

/// A non-admin user who may use every backend: with `auth.default_policy = "deny"` (the
/// default) a plain user gets nothing, so tests about the MCP endpoint grant it the way an
/// administrator would (the one-click grant), through the running gateway's policy service.
pub async fn create_mcp_user(gateway: &TestGateway, username: &str) -> i64 {
    let id = create_user(gateway, username, Role::User);
    grant_all_backends(gateway, id).await;
    id
}

pub async fn grant_all_backends(gateway: &TestGateway, user_id: i64) {
    gateway
        .policies
        .as_ref()
        .expect("the gateway is running")
        .grant_all_backends(user_id, "test")
        .await
        .expect("grant all backends");
}

pub fn set_enabled(gateway: &TestGateway, username: &str, enabled: bool) {
    let db = Database::connect(&gateway.config.database.url, 1).unwrap();
    db.run_blocking(|c| users::set_enabled(c, username, enabled))
        .unwrap();
}

/// Logs in through the real endpoint and returns the access token.
pub async fn login(gateway: &TestGateway, username: &str) -> String {
    login_with(gateway, username, PASSWORD).await
}

/// As [`login`], with another password.
pub async fn login_with(gateway: &TestGateway, username: &str, password: &str) -> String {
    let reply = http::post_json(
        &gateway.url("/auth/login"),
        None,
        &serde_json::json!({ "username": username, "password": password }),
    )
    .await;
    assert_eq!(reply.status, 200, "login failed: {}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_string()
}
