//! OAuth backends created through the admin API, and rotated refresh tokens that outlive a
//! restart — against REAL authorization servers: a second `TestGateway` is both the backend
//! (its `/mcp` checks every token) and its authorization server. For the refresh-token grant
//! it rotates refresh tokens on every use and, with `auth.refresh_reuse_grace_s = 0`, revokes
//! the whole grant when a used one comes back: a gateway that restarted from its configured
//! (already used) token would fail, so going online again proves the rotated one was kept.

use std::time::Duration;

use actors::backend::{Credential, TokenState, TokenStatus};
use actors::secrets::SecretBox;
use actors::storage::backend_token_state;
use actors::storage::users::Role;
use actors::storage::{Database, backends};
use serde_json::{Value, json};

use crate::backend_oauth::{call_headers, current_token, upstream, wait_token};
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::oauth_flow::{
    AuthRequest, Browser, REDIRECT, Setup, assert_token_error, authorize, post_form, public_client,
    redeem,
};
use crate::postgres::{Db, database_toml};
use crate::users::{create_mcp_user, create_user, login};

fn credential_of(gw: &TestGateway, backend: &str) -> Credential {
    gw.handle()
        .upstream(backend)
        .expect("the backend runs")
        .credential()
        .clone()
}

/// Waits for the credential's first successful token since it started.
async fn first_token(credential: &Credential) -> TokenStatus {
    let mut attempts = credential.subscribe_attempts().expect("an OAuth backend");
    wait_token(credential, &mut attempts, "a first token", |s| {
        s.last_refresh_ms.is_some() || s.last_error.is_some()
    })
    .await
}

async fn database_backend_with_client_credentials(db: Db) {
    let up = upstream().await;
    let (database, _pg) = database_toml(db);
    let gw = TestGateway::start(&database).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let body = json!({
        "name": "remote",
        "url": up.gw.url("/mcp"),
        "auth_type": "oauth_client_credentials",
        "client_id": up.client_id,
        "client_secret": up.client_secret,
        "scope": "mcp:tools",
    });
    let created = http::post_json(&gw.url("/admin/api/mcp-servers"), Some(&admin), &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().expect("a database id");
    assert_eq!(created.body["auth_type"], "oauth_client_credentials");
    assert_eq!(created.body["client_id"], up.client_id.as_str());
    assert_eq!(created.body["scope"], "mcp:tools");
    assert_eq!(created.body["token_url"], Value::Null, "discovered");
    assert_eq!(created.body["has_client_secret"], true);
    assert_eq!(created.body["has_refresh_token"], false);
    assert_eq!(created.body["has_auth_token"], false);

    // The backend's actor finds the token endpoint, gets a token, and the backend goes online.
    let credential = credential_of(&gw, "remote");
    let status = first_token(&credential).await;
    assert_eq!(status.state, TokenState::Valid, "{status:?}");
    gw.wait_online(1).await;
    create_mcp_user(&gw, "carol").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&login(&gw, "carol").await));
    client.initialize("2025-06-18").await;
    let answer = call_headers(&client, 1).await;
    assert!(answer["result"].is_object(), "{answer}");

    let view = http::get(
        &gw.url(&format!("/admin/api/mcp-servers/{id}/token-status")),
        Some(&admin),
    )
    .await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["auth_type"], "oauth_client_credentials");
    // The upstream's tokens live 3 s, so on a loaded machine the state may already have moved
    // on to the next refresh; what matters is that a token is held, not which phase it is in.
    let state = view.body["token"]["state"].as_str().unwrap_or_default();
    assert!(
        ["valid", "expiring", "refreshing"].contains(&state),
        "{}",
        view.body
    );
    assert!(view.body["token"]["refresh_ok"].as_u64().unwrap() >= 1);
    let refreshed = http::post_json(
        &gw.url(&format!("/admin/api/mcp-servers/{id}/refresh-token")),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(refreshed.status, 202, "{}", refreshed.body);

    // Secrets are in no answer: not the client secret, not the access token.
    let token = current_token(&credential);
    let list = http::get(&gw.url("/admin/api/mcp-servers"), Some(&admin)).await;
    for text in [
        created.body.to_string(),
        view.body.to_string(),
        list.body.to_string(),
    ] {
        assert!(
            !text.contains(&up.client_secret),
            "the secret is shown: {text}"
        );
        assert!(!text.contains(&token), "the access token is shown: {text}");
    }
    // A wrong field value names the field, never echoes a secret.
    let bad = http::post_json(
        &gw.url("/admin/api/mcp-servers"),
        Some(&admin),
        &json!({"name": "bad", "url": up.gw.url("/mcp"), "auth_type": "oauth_client_credentials",
                "client_secret": "hunter2-secret", "refresh_token": "rt-hunter2"}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let text = bad.body.to_string();
    assert!(text.contains("client_id: required"), "{text}");
    assert!(text.contains("refresh_token: only applies"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_database_backend_with_client_credentials_goes_online_on_sqlite() {
    database_backend_with_client_credentials(Db::Sqlite).await;
}

#[actix_rt::test]
async fn a_database_backend_with_client_credentials_goes_online_on_postgres() {
    database_backend_with_client_credentials(Db::Postgres).await;
}

/// A fresh refresh token of a public client at `setup`'s authorization server.
async fn refresh_token(setup: &Setup, client_id: &str) -> String {
    let request = AuthRequest::new(setup, client_id, REDIRECT);
    let code = authorize(setup, &Browser::default(), &request, "alice").await["code"].clone();
    let tokens = redeem(setup, &request, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    tokens.body["refresh_token"].as_str().unwrap().to_string()
}

/// The latest refresh token stored for `backend`, opened with the gateway's key.
fn stored_refresh_token(gw: &TestGateway, backend: &str) -> String {
    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    let name = backend.to_string();
    let state = db
        .run_blocking(move |c| backend_token_state::find(c, &name))
        .unwrap()
        .unwrap_or_else(|| panic!("no stored refresh token for {backend}"));
    let (secrets, _) = SecretBox::load_or_create(None, &gw.config.secrets_key_file()).unwrap();
    secrets
        .open(&state.refresh_token)
        .unwrap()
        .expose()
        .to_string()
}

async fn rotated_refresh_tokens_survive_a_restart(db: Db) {
    let setup = Setup::start_with(Db::Sqlite, "", |c| {
        c.auth.refresh_reuse_grace = Duration::ZERO;
    })
    .await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let file_token = refresh_token(&setup, &client_id).await;
    let api_token = refresh_token(&setup, &client_id).await;
    let token_url = setup.url("/oauth/token");

    // One backend from the file, one through the admin API: both refresh-token grants.
    let (database, _pg) = database_toml(db);
    let config = format!(
        r#"{database}
        [[backends]]
        name = "filed"
        url = "{}"
        auth_type = "oauth_refresh_token"
        token_url = "{token_url}"
        client_id = "{client_id}"
        refresh_token = "{file_token}"
        "#,
        setup.mcp(),
    );
    let gw = TestGateway::start(&config).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let body = json!({
        "name": "stored", "url": setup.mcp(), "auth_type": "oauth_refresh_token",
        "token_url": token_url, "client_id": client_id, "refresh_token": api_token,
    });
    let created = http::post_json(&gw.url("/admin/api/mcp-servers"), Some(&admin), &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["has_refresh_token"], true);
    assert_eq!(created.body["has_client_secret"], false);
    assert!(!created.body.to_string().contains(&api_token));
    let mut rotated = Vec::new();
    for (backend, configured) in [("filed", &file_token), ("stored", &api_token)] {
        let status = first_token(&credential_of(&gw, backend)).await;
        assert_eq!(status.state, TokenState::Valid, "{backend}: {status:?}");
        // The rotated token is stored (sealed) before the attempt is reported.
        let latest = stored_refresh_token(&gw, backend);
        assert_ne!(&latest, configured, "{backend}: the token endpoint rotates");
        rotated.push(latest);
    }
    gw.wait_online(2).await;
    let list = http::get(&gw.url("/admin/api/mcp-servers"), Some(&admin)).await;
    for secret in [&file_token, &api_token, &rotated[0], &rotated[1]] {
        assert!(!list.body.to_string().contains(secret.as_str()));
    }

    // The operator's restart, with a key rotation in between: the rotated tokens are re-sealed
    // with the stored credentials (the API backend's configured refresh token + two rotated).
    let gw = gw
        .restart_with(|config| {
            let count = authmcp_gateway::commands::secrets::rotate_key(config, None).unwrap();
            assert_eq!(count, 3);
        })
        .await;
    for (i, backend) in ["filed", "stored"].into_iter().enumerate() {
        let credential = credential_of(&gw, backend);
        let status = first_token(&credential).await;
        assert_eq!(
            status.state,
            TokenState::Valid,
            "{backend} restarted from a spent refresh token: {status:?}"
        );
        assert_eq!(credential.stats().refresh_failed, 0, "{backend}");
        let latest = stored_refresh_token(&gw, backend);
        assert_ne!(
            latest, rotated[i],
            "{backend}: rotated again after the restart"
        );
    }
    gw.wait_online(2).await;
    create_mcp_user(&gw, "carol").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&login(&gw, "carol").await));
    client.initialize("2025-06-18").await;
    let tools = client.request(1, "tools/list", json!({})).await;
    let names = tools["result"]["tools"].to_string();
    assert!(
        names.contains("filed_") && names.contains("stored_"),
        "{tools}"
    );

    // The control: the configured tokens are spent, so starting from them would have failed.
    for configured in [&file_token, &api_token] {
        let reply = post_form(
            &token_url,
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", configured),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_token_error(&reply, 400, "invalid_grant");
    }
    let rows = Database::connect(&gw.config.database.url, 1)
        .unwrap()
        .run_blocking(backends::list)
        .unwrap();
    assert!(rows[0].record.oauth.is_some());
    gw.stop().await.unwrap();
    setup.stop().await;
}

#[actix_rt::test]
async fn rotated_refresh_tokens_survive_a_restart_on_sqlite() {
    rotated_refresh_tokens_survive_a_restart(Db::Sqlite).await;
}

#[actix_rt::test]
async fn rotated_refresh_tokens_survive_a_restart_on_postgres() {
    rotated_refresh_tokens_survive_a_restart(Db::Postgres).await;
}
