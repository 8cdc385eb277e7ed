//! OAuth backends against a REAL authorization server: a second `TestGateway` is both the
//! backend (its `/mcp`, in front of an rmcp fixture, checks every token) and its authorization
//! server (client credentials for an operator-registered client with a service user). The
//! gateway under test discovers the token endpoint through the backend's RFC 9728 metadata,
//! obtains tokens, refreshes them ahead of expiry, on demand and after a 401, and reports a
//! failing token endpoint as `failed` with backoff.

use std::time::Duration;

use actors::backend::Credential;
use actors::storage::users::Role;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::oauth_flow::post_form;
use crate::users::{create_mcp_user, create_user, login};

const INITIAL_TOKEN: &str = "initial-access-token-for-tests";
/// Short enough that a refresh ahead of expiry happens within the test.
const ACCESS_TTL: Duration = Duration::from_secs(3);

/// The authorization server + protected backend, and a registered machine client.
pub(crate) struct Upstream {
    pub gw: TestGateway,
    pub client_id: String,
    pub client_secret: String,
    _fixture: HttpFixture,
}

pub(crate) async fn upstream() -> Upstream {
    let fixture = HttpFixture::start_with(0, 1, &["--rich"]);
    let config = format!(
        "[oauth]\ndcr_initial_access_token = {INITIAL_TOKEN:?}\n\n[[backends]]\nname = \"fx\"\nurl = \"{}\"\n",
        fixture.url()
    );
    let gw = TestGateway::start_with(&config, |c| c.auth.access_token_ttl = ACCESS_TTL).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "svc").await;
    let metadata = json!({
        "client_name": "the gateway in front",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "mcp:tools",
        "service_user": "svc",
    });
    let reply = http::post_json(&gw.url("/oauth/register"), Some(INITIAL_TOKEN), &metadata).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    Upstream {
        client_id: reply.body["client_id"].as_str().unwrap().into(),
        client_secret: reply.body["client_secret"].as_str().unwrap().into(),
        gw,
        _fixture: fixture,
    }
}

/// Waits (on the credential's attempt counter) until `condition` holds on its status.
pub(crate) async fn wait_token(
    credential: &Credential,
    attempts: &mut watch::Receiver<u64>,
    what: &str,
    condition: impl Fn(&actors::backend::TokenStatus) -> bool,
) -> actors::backend::TokenStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = credential.token_status().expect("an OAuth backend");
        if condition(&status) {
            return status;
        }
        match tokio::time::timeout_at(deadline, attempts.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; last status {status:?}"),
        }
    }
}

pub(crate) fn current_token(credential: &Credential) -> String {
    let snapshot = credential.load();
    let headers = snapshot.as_ref().as_ref().expect("a token");
    let value = headers[0].1.to_str().unwrap();
    value.strip_prefix("Bearer ").unwrap().to_string()
}

pub(crate) async fn introspect(up: &Upstream, token: &str) -> Value {
    let reply = post_form(
        &up.gw.url("/oauth/introspect"),
        Some((&up.client_id, &up.client_secret)),
        &[("token", token)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

pub(crate) async fn call_headers(client: &McpClient, id: u64) -> Value {
    client
        .request(
            id,
            "tools/call",
            json!({"name": "remote_fx_headers", "arguments": {}}),
        )
        .await
}

#[actix_rt::test]
async fn client_credentials_tokens_are_discovered_obtained_and_refreshed() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, format!("{}\n", up.client_secret)).unwrap();
    // No token_url: found through <AS>/.well-known/oauth-protected-resource/mcp.
    let config = format!(
        r#"
        [[backends]]
        name = "remote"
        url = "{}"
        auth_type = "oauth_client_credentials"
        client_id = "{}"
        client_secret_file = {secret_file:?}
        scope = "mcp:tools"
        "#,
        up.gw.url("/mcp"),
        up.client_id,
    );
    let gw = TestGateway::start(&config).await;
    let credential = gw
        .handle()
        .upstream("remote")
        .expect("running")
        .credential()
        .clone();
    let mut attempts = credential.subscribe_attempts().expect("an OAuth backend");
    let first = wait_token(&credential, &mut attempts, "a first token", |s| {
        s.last_refresh_ms.is_some()
    })
    .await;
    assert_eq!(credential.stats().refresh_failed, 0, "{first:?}");
    let stats = gw.handle().credential_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].0, "remote");
    assert!(stats[0].1.refresh_ok >= 1);
    gw.wait_online(1).await;
    let token = current_token(&credential);
    let info = introspect(&up, &token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], up.client_id.as_str(), "{info}");

    // Through the gateway: the backend (which checks tokens) answers.
    create_mcp_user(&gw, "carol").await;
    let user_token = login(&gw, "carol").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&user_token));
    client.initialize("2025-06-18").await;
    let answer = call_headers(&client, 1).await;
    assert!(answer["result"].is_object(), "{answer}");

    // The status view: state and times, never the token or the secret.
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let view = http::get(
        &gw.url("/admin/api/mcp-servers/file:remote/token-status"),
        Some(&admin),
    )
    .await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["auth_type"], "oauth_client_credentials");
    assert!(
        view.body["token"]["expires_at_ms"].as_i64().is_some(),
        "{}",
        view.body
    );
    assert!(view.body["token"]["refresh_ok"].as_u64().unwrap() >= 1);
    let list = http::get(&gw.url("/admin/api/mcp-servers"), Some(&admin)).await;
    for text in [view.body.to_string(), list.body.to_string()] {
        assert!(!text.contains(&token), "the access token is shown: {text}");
        assert!(
            !text.contains(&up.client_secret),
            "the secret is shown: {text}"
        );
    }

    // Ahead of expiry: a new token arrives without anyone asking (80 % of a 3 s lifetime).
    let ok_before = credential.stats().refresh_ok;
    wait_token(
        &credential,
        &mut attempts,
        "a refresh ahead of expiry",
        |_| credential.stats().refresh_ok > ok_before,
    )
    .await;

    // On demand.
    let ok_before = credential.stats().refresh_ok;
    let started = http::post_json(
        &gw.url("/admin/api/mcp-servers/file:remote/refresh-token"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(started.status, 202, "{}", started.body);
    wait_token(&credential, &mut attempts, "an on-demand refresh", |_| {
        credential.stats().refresh_ok > ok_before
    })
    .await;

    // After a 401: the token is revoked at the authorization server; the next call is
    // rejected, the gateway gets a new token and sends the call again, once.
    let revoked = current_token(&credential);
    let reply = post_form(
        &up.gw.url("/oauth/revoke"),
        Some((&up.client_id, &up.client_secret)),
        &[("token", revoked.as_str())],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(introspect(&up, &revoked).await["active"], false);
    // The backend's /mcp reads revocations from a snapshot: reload it now (an event, not a
    // wait), then it refuses the token itself, so the next call surely meets a 401.
    let identity = up.gw.state.as_ref().unwrap().identity.clone();
    identity.refresh_revocations().await.unwrap();
    let probe = McpClient::new(&up.gw.url("/mcp"), Some(&revoked))
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[])
        .await;
    assert_eq!(probe.status, 401, "{}", probe.body);
    // (A scheduled refresh may replace the token first, 2.4 s after the last one; the call
    // below comes within milliseconds, so it meets the 401 unless the machine stalls.)
    let rejected_before = credential.stats().rejected;
    let still_revoked = current_token(&credential) == revoked;
    let answer = call_headers(&client, 2).await;
    assert!(
        answer["result"].is_object(),
        "the call was not retried: {answer}"
    );
    assert_ne!(current_token(&credential), revoked);
    if still_revoked {
        assert_eq!(credential.stats().rejected, rejected_before + 1);
    }
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_failing_token_endpoint_shows_failed_and_backs_off() {
    let port = crate::fixture::closed_port();
    let config = format!(
        r#"
        [[backends]]
        name = "broken"
        url = "http://127.0.0.1:{port}/mcp"
        auth_type = "oauth_client_credentials"
        token_url = "http://127.0.0.1:{port}/token"
        client_id = "gw"
        client_secret = "never-shown-secret"
        "#
    );
    let gw = TestGateway::start(&config).await;
    let credential = gw
        .handle()
        .upstream("broken")
        .expect("running")
        .credential()
        .clone();
    let mut attempts = credential.subscribe_attempts().unwrap();
    let failed = wait_token(&credential, &mut attempts, "a failure", |s| {
        s.last_error.is_some()
    })
    .await;
    assert_eq!(failed.state, actors::backend::TokenState::Failed);
    assert!(
        failed.last_error.as_deref().unwrap().contains("/token"),
        "{failed:?}"
    );
    let first_gap = failed.next_attempt_ms.unwrap() - actors_now_ms();
    let failures = credential.stats().refresh_failed;
    let again = wait_token(&credential, &mut attempts, "a second failure", |_| {
        credential.stats().refresh_failed > failures
    })
    .await;
    // The retry interval doubles (1 s, then 2 s): the next attempt is further away.
    let second_gap = again.next_attempt_ms.unwrap() - actors_now_ms();
    assert!(second_gap > first_gap, "{first_gap} then {second_gap}");
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let view = http::get(
        &gw.url("/admin/api/mcp-servers/file:broken/token-status"),
        Some(&admin),
    )
    .await;
    assert_eq!(view.body["token"]["state"], "failed", "{}", view.body);
    assert!(!view.body.to_string().contains("never-shown-secret"));
    gw.stop().await.unwrap();
}

fn actors_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
