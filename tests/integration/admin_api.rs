//! `/admin/api/mcp-servers` end to end: the real gateway, real rmcp fixture backends over HTTP,
//! the real database underneath, admin and non-admin bearer tokens from the real login.

use actors::backend::BackendState;
use actors::storage::Database;
use actors::storage::users::Role;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::fixture::{HttpFixture, status, wait_for};
use crate::harness::TestGateway;
use crate::http::{self, Reply};
use crate::users::{create_user, login};

const TOKEN: &str = "backend-secret-4d1c8e";

fn file_backend(name: &str, fixture: &HttpFixture) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\nhealth_interval_s = 60\n",
        fixture.url()
    )
}

const SERVERS: &str = "/admin/api/mcp-servers";

/// PATCH and DELETE (the shared helper has GET and POST only).
pub(crate) async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = match body {
        Some(body) => request.send_json(body).await,
        None => request.send().await,
    }
    .expect("request failed");
    let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn admin_gateway(extra: &str) -> (TestGateway, String) {
    let gw = TestGateway::start(extra).await;
    create_user(&gw, "root", Role::Admin);
    let token = login(&gw, "root").await;
    (gw, token)
}

async fn create(gw: &TestGateway, token: &str, body: Value) -> Value {
    let reply = http::post_json(&gw.url(SERVERS), Some(token), &body).await;
    assert_eq!(reply.status, 201, "create failed: {}", reply.body);
    reply.body
}

fn server<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list}"))
}

#[actix_rt::test]
async fn created_backends_come_online_beside_file_backends_and_never_show_their_token() {
    let filed = HttpFixture::start(2);
    let remote = HttpFixture::start(5);
    let (gw, admin) = admin_gateway(&file_backend("filed", &filed)).await;

    let created = create(
        &gw,
        &admin,
        json!({ "name": "remote", "url": remote.url().as_str(), "auth_token": TOKEN,
                "timeout": 20, "health_interval_s": 60 }),
    )
    .await;
    assert!(
        created["id"].is_i64(),
        "database ids are numbers: {created}"
    );
    assert_eq!(created["origin"], "database");
    assert_eq!(created["auth_type"], "bearer");
    assert_eq!(created["has_auth_token"], true);
    assert_eq!(created["timeout"], 20);
    assert_eq!(created["timeout_ms"], 20_000);
    assert_eq!(created["tool_prefix"], "remote_");
    assert!(!created.to_string().contains(TOKEN));

    gw.wait_online(2).await;
    let list = http::get(&gw.url(SERVERS), Some(&admin)).await;
    assert_eq!(list.status, 200);
    assert!(!list.body.to_string().contains(TOKEN), "token leaked");
    let file_row = server(&list.body, "filed");
    assert_eq!(file_row["id"], "file:filed");
    assert_eq!(file_row["origin"], "config");
    assert_eq!(file_row["read_only"], true);
    assert_eq!(file_row["state"], "online");
    assert_eq!(file_row["tool_count"], 2);
    assert_eq!(file_row["has_auth_token"], false);
    let db_row = server(&list.body, "remote");
    assert_eq!(db_row["id"], created["id"]);
    assert_eq!(db_row["state"], "online");
    assert_eq!(db_row["tool_count"], 5);
    assert_eq!(db_row["last_error"], Value::Null);
    assert!(db_row["connected_since_ms"].as_i64().unwrap() > 0);

    // At rest the token is sealed: not in the row, not in clear anywhere in the table.
    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Sealed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        token_ciphertext: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        auth_type: String,
    }
    let rows = db
        .run_blocking(|c| {
            Ok(
                diesel::sql_query("SELECT token_ciphertext, auth_type FROM backend_credentials")
                    .load::<Sealed>(c)?,
            )
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].auth_type, "bearer");
    assert!(!rows[0].token_ciphertext.contains(TOKEN));
    assert!(!rows[0].token_ciphertext.contains("4d1c8e"));
    let key = std::fs::metadata(gw.config.data_dir.join("secret-key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);

    let one = http::get(
        &gw.url(&format!("{SERVERS}/{}", created["id"])),
        Some(&admin),
    )
    .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["name"], "remote");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn patch_restarts_only_the_changed_backend_and_delete_removes_it() {
    let filed = HttpFixture::start(1);
    let first = HttpFixture::start(2);
    let second = HttpFixture::start(3);
    let replacement = HttpFixture::start(4);
    let (gw, admin) = admin_gateway(&file_backend("filed", &filed)).await;
    let a = create(
        &gw,
        &admin,
        json!({ "name": "a", "url": first.url().as_str() }),
    )
    .await;
    let b = create(
        &gw,
        &admin,
        json!({ "name": "b", "url": second.url().as_str() }),
    )
    .await;
    let before = wait_for(gw.handle(), "three online", |s| {
        s.len() == 3 && s.iter().all(|b| b.state == BackendState::Online)
    })
    .await;
    let since = |name: &str| status(&before, name).unwrap().connected_since_ms;

    let patched = send(
        "PATCH",
        &gw.url(&format!("{SERVERS}/{}", a["id"])),
        Some(&admin),
        Some(&json!({ "url": replacement.url().as_str(), "tool_prefix": "alpha_" })),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["tool_prefix"], "alpha_");
    let after = wait_for(gw.handle(), "a restarted on the new url", |s| {
        status(s, "a").is_some_and(|b| b.state == BackendState::Online && b.tool_count == 4)
    })
    .await;
    assert_eq!(status(&after, "b").unwrap().connected_since_ms, since("b"));
    assert_eq!(
        status(&after, "filed").unwrap().connected_since_ms,
        since("filed")
    );

    // Disabling stops it but keeps it listed.
    let url = gw.url(&format!("{SERVERS}/{}", b["id"]));
    let disabled = send(
        "PATCH",
        &url,
        Some(&admin),
        Some(&json!({ "enabled": false })),
    )
    .await;
    assert_eq!(disabled.body["state"], "disabled");
    wait_for(gw.handle(), "b stopped", |s| status(s, "b").is_none()).await;

    let deleted = send("DELETE", &url, Some(&admin), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["name"], "b");
    let list = http::get(&gw.url(SERVERS), Some(&admin)).await;
    let names: Vec<&str> = list.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["filed", "a"]);
    assert_eq!(send("DELETE", &url, Some(&admin), None).await.status, 404);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_api_refuses_what_it_must_with_the_right_status() {
    let filed = HttpFixture::start(1);
    let (gw, admin) = admin_gateway(&file_backend("filed", &filed)).await;
    create_user(&gw, "plain", Role::User);
    let user = login(&gw, "plain").await;
    let url = gw.url(SERVERS);

    assert_eq!(http::get(&url, None).await.status, 401);
    let forbidden = http::get(&url, Some(&user)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.body["error"], "forbidden");
    let body = json!({ "name": "x", "url": "http://127.0.0.1:9/mcp" });
    assert_eq!(http::post_json(&url, Some(&user), &body).await.status, 403);

    let invalid = http::post_json(
        &url,
        Some(&admin),
        &json!({ "name": "?? !!", "url": "ftp://nope", "timeout": -1, "extra": 1 }),
    )
    .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["error"], "bad_request");
    let problems = invalid.body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 4, "every problem listed: {problems:?}");
    let missing = http::post_json(&url, Some(&admin), &json!({})).await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.body["problems"]
            .to_string()
            .contains("name: required")
    );
    let stdio = http::post_json(
        &url,
        Some(&admin),
        &json!({ "name": "sh", "command": "/bin/sh", "url": "http://127.0.0.1:9/mcp" }),
    )
    .await;
    assert_eq!(stdio.status, 400);
    assert!(
        stdio.body["detail"]
            .as_str()
            .unwrap()
            .contains("config file")
    );
    let not_json = http::post_raw(&url, Some(&admin), "application/json", b"{oops".to_vec()).await;
    assert_eq!(not_json.status, 400);

    let taken = http::post_json(
        &url,
        Some(&admin),
        &json!({ "name": "filed", "url": "http://127.0.0.1:9/mcp" }),
    )
    .await;
    assert_eq!(taken.status, 409);
    assert!(
        taken.body["detail"]
            .as_str()
            .unwrap()
            .contains("config file")
    );
    create(
        &gw,
        &admin,
        json!({ "name": "dup", "url": "http://127.0.0.1:9/mcp" }),
    )
    .await;
    let dup = http::post_json(
        &url,
        Some(&admin),
        &json!({ "name": "dup", "url": "http://127.0.0.1:9/mcp" }),
    )
    .await;
    assert_eq!(dup.status, 409);

    let file_patch = send(
        "PATCH",
        &gw.url(&format!("{SERVERS}/file:filed")),
        Some(&admin),
        Some(&json!({ "enabled": false })),
    )
    .await;
    assert_eq!(file_patch.status, 409);
    assert!(
        file_patch.body["detail"]
            .as_str()
            .unwrap()
            .contains("edit the file"),
        "{}",
        file_patch.body
    );
    let file_delete = send(
        "DELETE",
        &gw.url(&format!("{SERVERS}/file:filed")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(file_delete.status, 409);
    for id in ["424242", "file:nope", "abc"] {
        let path = gw.url(&format!("{SERVERS}/{id}"));
        let reply = send(
            "PATCH",
            &path,
            Some(&admin),
            Some(&json!({ "enabled": true })),
        )
        .await;
        assert_eq!(reply.status, 404, "{id}: {}", reply.body);
        assert_eq!(send("DELETE", &path, Some(&admin), None).await.status, 404);
    }
    let need_token = send(
        "PATCH",
        &gw.url(&format!("{SERVERS}/file:filed")),
        Some(&user),
        Some(&json!({})),
    )
    .await;
    assert_eq!(need_token.status, 403, "role checked before anything else");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_reload_that_adds_a_file_backend_named_like_a_database_backend_is_refused() {
    let shared = HttpFixture::start(2);
    let other = HttpFixture::start(3);
    let (mut gw, admin) = admin_gateway("").await;
    create(
        &gw,
        &admin,
        json!({ "name": "shared", "url": shared.url().as_str() }),
    )
    .await;
    wait_for(gw.handle(), "shared online", |s| {
        status(s, "shared").is_some_and(|b| b.state == BackendState::Online)
    })
    .await;

    let refused = gw.reload_with(&file_backend("shared", &other)).await;
    assert_eq!((refused.reloads_applied, refused.reloads_failed), (0, 1));
    let statuses = gw.handle().statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        statuses[0].tool_count, 2,
        "the database backend kept running"
    );

    // A file backend with another name is fine, and the database one is untouched.
    let since = statuses[0].connected_since_ms;
    let applied = gw.reload_with(&file_backend("filed", &other)).await;
    assert_eq!(applied.reloads_applied, 1);
    let after = wait_for(gw.handle(), "filed online", |s| {
        status(s, "filed").is_some_and(|b| b.state == BackendState::Online)
    })
    .await;
    assert_eq!(status(&after, "shared").unwrap().connected_since_ms, since);
    gw.stop().await.unwrap();
}

/// Another process (a second instance on the same database) adds a backend: the running gateway
/// notices the `backends` revision move and starts it without an API call or a reload.
#[actix_rt::test]
async fn backends_written_by_another_process_are_picked_up() {
    use actors::storage::backends::{self, BackendRecord};
    let remote = HttpFixture::start(3);
    let (gw, admin) = admin_gateway("").await;
    let other_process = Database::connect(&gw.config.database.url, 1).unwrap();
    let url = remote.url().to_string();
    other_process
        .run_blocking(move |c| {
            backends::create(
                c,
                &BackendRecord {
                    name: "elsewhere".into(),
                    display_name: None,
                    transport: "streamable-http".into(),
                    url: Some(url),
                    tool_prefix: None,
                    enabled: true,
                    timeout_ms: 5000,
                    health_interval_s: 60,
                    credential: None,
                    oauth: None,
                },
            )
        })
        .unwrap();
    wait_for(gw.handle(), "elsewhere online", |s| {
        status(s, "elsewhere").is_some_and(|b| b.state == BackendState::Online && b.tool_count == 3)
    })
    .await;
    let list = http::get(&gw.url(SERVERS), Some(&admin)).await;
    assert_eq!(server(&list.body, "elsewhere")["origin"], "database");
    gw.stop().await.unwrap();
}

/// `…/tools` (the original's path), `…/prompts` and `…/resources`: the cached lists, each item
/// as the backend sent it, tools and prompts with the name clients see.
#[actix_rt::test]
async fn a_backends_items_are_listed_from_its_cached_capabilities() {
    let fixture = HttpFixture::start_with(0, 2, &["--rich"]);
    let (gw, admin) = admin_gateway(&file_backend("fx", &fixture)).await;
    gw.wait_online(1).await;
    let base = gw.url(&format!("{SERVERS}/file:fx"));
    let tools = http::get(&format!("{base}/tools"), Some(&admin)).await;
    assert_eq!(tools.status, 200, "{}", tools.body);
    let listed = tools.body["tools"].as_array().unwrap();
    assert_eq!(tools.body["count"], listed.len());
    assert!(
        listed.len() > 2,
        "the fixture's tools and the rich ones: {}",
        tools.body
    );
    for tool in listed {
        let name = tool["name"].as_str().unwrap();
        assert_eq!(tool["exposed_as"], format!("fx_{name}"));
        assert!(
            tool["inputSchema"].is_object(),
            "as the backend sent it: {tool}"
        );
    }
    let prompts = http::get(&format!("{base}/prompts"), Some(&admin)).await;
    assert!(
        prompts.body["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["exposed_as"] == "fx_greet"),
        "{}",
        prompts.body
    );
    let resources = http::get(&format!("{base}/resources"), Some(&admin)).await;
    let text = resources.body["resources"].to_string();
    assert!(
        text.contains("fixture://static") && text.contains("fixture://item/{id}"),
        "resources and templates: {text}"
    );
    assert_eq!(
        http::get(&gw.url(&format!("{SERVERS}/file:nope/tools")), Some(&admin))
            .await
            .status,
        404
    );
    create_user(&gw, "plain", Role::User);
    let plain = login(&gw, "plain").await;
    assert_eq!(
        http::get(&format!("{base}/tools"), Some(&plain))
            .await
            .status,
        403
    );
    gw.stop().await.unwrap();
}

/// The original's `POST /admin/api/mcp-servers` bodies — `auth_type` `bearer` / `basic` / `none`
/// with `auth_token` and `tool_prefix`, and its README's `backend_token` — each make a backend
/// whose calls carry exactly that credential.
#[actix_rt::test]
async fn the_originals_server_bodies_reach_the_backend_with_their_credential() {
    let fixture = HttpFixture::start_with(0, 1, &["--rich"]);
    let (gw, admin) = admin_gateway("").await;
    let url = fixture.url().to_string();
    let bodies = [
        json!({ "name": "gh", "url": url, "tool_prefix": "github_", "auth_type": "bearer",
                "auth_token": "orig-bearer" }),
        json!({ "name": "basic", "url": url, "tool_prefix": "b_", "auth_type": "basic",
                "auth_token": "dXNlcjpwdw==" }),
        json!({ "name": "readme", "url": url, "backend_token": "optional-token" }),
        json!({ "name": "open", "url": url, "tool_prefix": "open_", "auth_type": "none" }),
    ];
    for body in &bodies {
        let created = create(&gw, &admin, body.clone()).await;
        assert!(!created.to_string().contains("orig-bearer"), "{created}");
        assert!(!created.to_string().contains("optional-token"), "{created}");
    }
    gw.wait_online(4).await;
    crate::users::create_mcp_user(&gw, "carol").await;
    let token = login(&gw, "carol").await;
    let mut client = crate::mcp_client::McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    let expected = [
        ("github_headers", json!("Bearer orig-bearer")),
        ("b_headers", json!("Basic dXNlcjpwdw==")),
        ("readme_headers", json!("Bearer optional-token")),
        ("open_headers", Value::Null),
    ];
    for (id, (tool, authorization)) in expected.into_iter().enumerate() {
        let seen = crate::backend_credentials::headers_seen(&client, id as u64 + 1, tool).await;
        assert_eq!(seen["authorization"], authorization, "{tool}: {seen}");
    }
    gw.stop().await.unwrap();
}
