//! Audience binding per path (RFC 8707), and forged or expired tokens, over HTTP.

use std::sync::Arc;
use std::time::Duration;

use actors::auth::keys::SigningKeys;
use actors::auth::tokens::{AccessGrant, TokenKeys};
use actors::storage::users::Role;
use base64::Engine as _;

use super::{Backend, start};
use crate::http::{self, Reply};
use crate::users::create_user;

const SECRET: &str = "binding-test-secret-0123456789abcdef";

/// Mints tokens with the gateway's own secret, as its OAuth endpoints will.
struct Minter {
    keys: TokenKeys,
    base: String,
    user_id: i64,
}

impl Minter {
    fn token(&self, audience: &str, client_id: Option<&str>) -> String {
        self.keys
            .issue_access(&AccessGrant {
                user_id: self.user_id,
                username: "root",
                audience: &format!("{}{audience}", self.base),
                scope: client_id.map(|_| "mcp"),
                client_id,
                sid: "minted",
            })
            .unwrap()
            .token
    }
}

fn refused(reply: &Reply, metadata_suffix: &str) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(&format!(
            "/.well-known/oauth-protected-resource{metadata_suffix}\""
        )),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

fn passed(reply: &Reply) {
    assert_ne!(reply.status, 401, "{}", reply.body);
    assert!(reply.header("www-authenticate").is_none());
}

async fn tokens_only_open_the_resource_they_were_issued_for(backend: Backend) {
    let running = start(backend, |c| c.auth.jwt_secret = Some(SECRET.into())).await;
    let gw = &running.gw;
    let root = create_user(gw, "root", Role::Admin);
    // Logging in once makes the gateway load the new user (as it would within a refresher tick).
    crate::users::login(gw, "root").await;
    let mint = Minter {
        keys: TokenKeys::new(
            Arc::new(SigningKeys::hs256(SECRET.as_bytes())),
            &gw.base_url,
            Duration::from_secs(300),
        ),
        base: gw.base_url.clone(),
        user_id: root,
    };
    let get = |path: &str, token: String| {
        let url = gw.url(path);
        async move { http::get(&url, Some(&token)).await }
    };

    // Login token (no client): /mcp, any /mcp/<server>, the admin API.
    let login = mint.token("/mcp", None);
    passed(&get("/mcp", login.clone()).await);
    passed(&get("/mcp/files", login.clone()).await);
    assert_eq!(
        get("/admin/api/api-tokens", login.clone()).await.status,
        200
    );

    // OAuth token for /mcp/files: that server only.
    let files = mint.token("/mcp/files", Some("client-1"));
    passed(&get("/mcp/files", files.clone()).await);
    refused(&get("/mcp", files.clone()).await, "/mcp");
    refused(&get("/mcp/other", files.clone()).await, "/mcp/other");
    refused(&get("/admin/api/api-tokens", files.clone()).await, "/mcp");

    // OAuth token for /mcp: not a server's endpoint, not the admin API.
    let mcp = mint.token("/mcp", Some("client-1"));
    passed(&get("/mcp", mcp.clone()).await);
    refused(&get("/mcp/files", mcp.clone()).await, "/mcp/files");
    refused(&get("/admin/api/api-tokens", mcp.clone()).await, "/mcp");

    // No token on a server's endpoint: the challenge names that server's metadata.
    let anonymous = http::get(&gw.url("/mcp/files"), None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate").unwrap(),
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/files\", scope=\"mcp\"",
            gw.base_url
        )
    );

    // A token for another gateway's resource never passes the signature/audience check.
    let foreign = mint.token("/../elsewhere", None);
    refused(&get("/mcp", foreign).await, "/mcp");
    running.stop().await;
}

async fn forged_and_expired_tokens_are_refused(backend: Backend) {
    let running = start(backend, |c| c.auth.jwt_secret = Some(SECRET.into())).await;
    let gw = &running.gw;
    let root = create_user(gw, "root", Role::Admin);
    crate::users::login(gw, "root").await;
    let keys = SigningKeys::hs256(SECRET.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": gw.base_url, "sub": root.to_string(), "aud": format!("{}/mcp", gw.base_url),
        "exp": now - 120, "iat": now - 600, "jti": "j", "sid": "s", "username": "root",
    });
    let expired = keys.sign("at+jwt", &claims).unwrap();
    let reply = http::get(&gw.url("/mcp"), Some(&expired)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.body["detail"].as_str().unwrap().contains("expired"));

    let mut live = claims.clone();
    live["exp"] = (now + 600).into();
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&live).unwrap());
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
        keys.active_kid()
    ));
    let reply = http::get(&gw.url("/mcp"), Some(&format!("{none_header}.{payload}."))).await;
    assert_eq!(reply.status, 401);
    // The same claims signed properly pass: the refusals above were about the token alone.
    passed(&http::get(&gw.url("/mcp"), Some(&keys.sign("at+jwt", &live).unwrap())).await);
    running.stop().await;
}

crate::on_both_databases!(
    tokens_only_open_the_resource_they_were_issued_for,
    forged_and_expired_tokens_are_refused,
);
