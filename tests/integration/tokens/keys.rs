//! Signing keys over HTTP: the kid in issued tokens, the JWKS, rotation.

use std::sync::Arc;
use std::time::Duration;

use actors::auth::keys::{KeyAlgorithm, SigningKeys};
use actors::auth::tokens::{AccessGrant, TokenKeys};
use actors::storage::users::Role;
use base64::Engine as _;

use super::{Backend, start};
use crate::http;
use crate::users::{create_user, login};

fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

fn header_of(token: &str) -> serde_json::Value {
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn rotation_keeps_old_tokens_and_jwks_lists_both(backend: Backend) {
    let running = start(backend, |c| {
        c.auth.jwt_algorithm = KeyAlgorithm::ES256;
        c.auth.jwt_private_key_file = Some(key_path("es256-b.pem"));
        c.auth.jwt_previous_key_files = vec![key_path("es256-a.pub.pem")];
    })
    .await;
    let gw = &running.gw;
    let alice = create_user(gw, "alice", Role::User);
    let token = login(gw, "alice").await;

    let jwks = http::get(&gw.url("/.well-known/jwks.json"), None).await;
    assert_eq!(jwks.status, 200);
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{}", jwks.body);
    let header = header_of(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(
        header["kid"], keys[0]["kid"],
        "new tokens use the active key"
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );

    // A token the previous key signed (before the rotation) still opens the gateway.
    let old_keys = SigningKeys::asymmetric(
        KeyAlgorithm::ES256,
        "old",
        &std::fs::read(key_path("es256-a.pem")).unwrap(),
        &[],
    )
    .unwrap();
    assert_eq!(keys[1]["kid"], old_keys.active_kid());
    let old = TokenKeys::new(Arc::new(old_keys), &gw.base_url, Duration::from_secs(300))
        .issue_access(&AccessGrant {
            user_id: alice,
            username: "alice",
            audience: &format!("{}/mcp", gw.base_url),
            scope: None,
            client_id: None,
            sid: "issued-before-rotation",
        })
        .unwrap()
        .token;
    let me = http::get(&gw.url("/auth/me"), Some(&old)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["username"], "alice");
    // A key the gateway never had: refused.
    let stranger = SigningKeys::asymmetric(
        KeyAlgorithm::RS256,
        "stranger",
        &std::fs::read(key_path("rs256-a.pem")).unwrap(),
        &[],
    )
    .unwrap();
    let forged = TokenKeys::new(Arc::new(stranger), &gw.base_url, Duration::from_secs(300))
        .issue_access(&AccessGrant {
            user_id: alice,
            username: "alice",
            audience: &format!("{}/mcp", gw.base_url),
            scope: None,
            client_id: None,
            sid: "x",
        })
        .unwrap()
        .token;
    let refused = http::get(&gw.url("/auth/me"), Some(&forged)).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown key id")
    );
    running.stop().await;
}

async fn hs256_publishes_an_empty_key_set(backend: Backend) {
    let running = start(backend, |_| {}).await;
    let jwks = http::get(&running.gw.url("/.well-known/jwks.json"), None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.body, serde_json::json!({ "keys": [] }));
    running.stop().await;
}

crate::on_both_databases!(
    rotation_keeps_old_tokens_and_jwks_lists_both,
    hs256_publishes_an_empty_key_set,
);
