//! Authorization policies end to end: the real gateway on SQLite and on PostgreSQL, real rmcp
//! fixture backends, users logged in through the real endpoint, policies and groups changed
//! through the admin API and the config file (SIGHUP).

use std::path::Path;

use actors::backend::BackendState;
use actors::storage::users::Role;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::fixture::{HttpFixture, status, wait_for};
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::users::{create_user, login};

fn backend(name: &str, fixture: &HttpFixture) -> String {
    checked_every(name, fixture, 60)
}

fn checked_every(name: &str, fixture: &HttpFixture, health_interval_s: u32) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\nhealth_interval_s = {health_interval_s}\n",
        fixture.url()
    )
}

/// A fresh PostgreSQL database for one gateway, dropped with the guard.
struct PgDatabase {
    url: String,
    name: String,
}

impl PgDatabase {
    fn create() -> PgDatabase {
        let admin_url = std::env::var("AUTHMCP_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let name = format!("authmcp_policy_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::establish(&admin_url).expect("PostgreSQL on 127.0.0.1:5432");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create the test database");
        let (server, _) = admin_url.rsplit_once('/').expect("URL ends in /DATABASE");
        PgDatabase {
            url: format!("{server}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = std::env::var("AUTHMCP_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        if let Ok(mut admin) = PgConnection::establish(&admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// Every item name of a list, walking every page.
async fn list_all(client: &McpClient, method: &str, member: &str) -> Vec<String> {
    let key = if member == "resources" {
        "uri"
    } else if member == "resourceTemplates" {
        "uriTemplate"
    } else {
        "name"
    };
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 100.. {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let reply = client.request(id, method, params).await;
        let result = &reply["result"];
        let items = result[member]
            .as_array()
            .unwrap_or_else(|| panic!("{method}: {reply}"));
        assert!(items.len() <= 4, "pages hold at most page_size items");
        names.extend(items.iter().map(|t| t[key].as_str().unwrap().to_string()));
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    names.sort();
    names
}

async fn session(gw: &TestGateway, path: &str, token: &str) -> McpClient {
    let mut client = McpClient::new(&gw.url(path), Some(token));
    client.initialize("2025-06-18").await;
    client
}

pub(crate) async fn tools_of(gw: &TestGateway, token: &str) -> Vec<String> {
    list_all(&session(gw, "/mcp", token).await, "tools/list", "tools").await
}

/// The routing table follows the backends asynchronously: wait until the admin sees `n` tools.
pub(crate) async fn wait_for_tools(gw: &TestGateway, token: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    while tools_of(gw, token).await.len() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {n} tools"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn names(prefix: &str, items: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|i| format!("{prefix}{i}")).collect();
    names.sort();
    names
}

async fn admin_post(gw: &TestGateway, root: &str, path: &str, body: Value) -> Value {
    let reply = http::post_json(&gw.url(path), Some(root), &body).await;
    assert!(
        reply.status == 201 || reply.status == 200,
        "POST {path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

/// The error a call gets, with the item's name blanked out, so a refused item and a missing one
/// can be compared.
fn shape(reply: &Value, name: &str) -> Value {
    let mut error = reply["error"].clone();
    let message = error["message"]
        .as_str()
        .unwrap_or_default()
        .replace(name, "<name>");
    error["message"] = Value::String(message);
    error
}

async fn two_users_get_what_their_policies_grant(database: Option<&str>) {
    let mut alpha = HttpFixture::start_with(0, 12, &["--rich"]);
    let beta = HttpFixture::start(3);
    let db = database.map_or(String::new(), |url| format!("[database]\nurl = {url:?}\n"));
    let config = format!(
        "{db}[mcp]\npage_size = 4\n{}{}",
        // Checked every second: it is stopped at the end, and three failed checks take it offline.
        checked_every("alpha", &alpha, 1),
        backend("beta", &beta)
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(2).await;
    create_user(&gw, "root", Role::Admin);
    let alice_id = create_user(&gw, "alice", Role::User);
    let bob_id = create_user(&gw, "bob", Role::User);
    let root = login(&gw, "root").await;
    let (alice, bob) = (login(&gw, "alice").await, login(&gw, "bob").await);
    // 12 numbered tools + 5 rich ones on alpha, 3 on beta: the admin sees every one.
    wait_for_tools(&gw, &root, 20).await;

    // Nothing until granted (default_policy = "deny").
    assert!(tools_of(&gw, &alice).await.is_empty());
    let refused = http::post_json(
        &gw.url("/mcp/beta"),
        Some(&bob),
        &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no policy grants it"),
        "{}",
        refused.body
    );

    // alice: some of alpha's tools, no prompts, the item template only.
    let alice_policy = admin_post(
        &gw,
        &root,
        "/admin/api/policies",
        json!({"subject": "user:alice", "effect": "allow", "backends": ["alpha"],
               "tools": ["alpha_echo", "alpha_extra_*"], "prompts": [],
               "resources": ["fixture://item/*"]}),
    )
    .await;
    // Nobody but administrators gets extra_10..extra_12 (deny wins). Absent lists would mean
    // "every prompt / resource", so a tools-only deny names the others as empty.
    let deny = admin_post(
        &gw,
        &root,
        "/admin/api/policies",
        json!({"subject": "role:user", "effect": "deny", "tools": ["*_extra_1?"],
               "prompts": [], "resources": [], "description": "Not for users."}),
    )
    .await;
    // bob: all of beta, through the ops group.
    let ops = admin_post(&gw, &root, "/admin/api/groups", json!({"name": "ops"})).await;
    admin_post(
        &gw,
        &root,
        "/admin/api/policies",
        json!({"subject": "group:ops", "effect": "allow", "backends": ["beta"]}),
    )
    .await;
    let members = send(
        "PUT",
        &gw.url(&format!("/admin/api/groups/{}/members", ops["id"])),
        Some(&root),
        Some(&json!([bob_id])),
    )
    .await;
    assert_eq!(members.status, 200, "{}", members.body);
    assert_eq!(members.body["members"], json!([bob_id]));

    let alice_tools = tools_of(&gw, &alice).await;
    assert_eq!(
        alice_tools,
        names(
            "alpha_",
            &[
                "echo", "extra_4", "extra_5", "extra_6", "extra_7", "extra_8", "extra_9"
            ]
        ),
        "paged through two pages of four"
    );
    assert_eq!(
        tools_of(&gw, &bob).await,
        names("beta_", &["echo", "add", "slow"])
    );
    let a = session(&gw, "/mcp", &alice).await;
    assert!(list_all(&a, "prompts/list", "prompts").await.is_empty());
    assert!(list_all(&a, "resources/list", "resources").await.is_empty());
    assert_eq!(
        list_all(&a, "resources/templates/list", "resourceTemplates").await,
        ["fixture://item/{id}"]
    );

    // A refused call looks exactly like a call of a tool that does not exist, and the backend
    // never sees it (`slow` writes its marker file only when it runs).
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let slow = |name: &str, marker: &Path| json!({"name": name, "arguments": {"ms": 0, "marker": marker.to_str().unwrap()}});
    let denied = a
        .request(1, "tools/call", slow("alpha_slow", &marker))
        .await;
    let missing = a
        .request(2, "tools/call", slow("alpha_nope", &marker))
        .await;
    assert_eq!(
        shape(&denied, "alpha_slow"),
        shape(&missing, "alpha_nope"),
        "{denied}"
    );
    assert_eq!(denied["error"]["code"], -32602);
    assert!(!marker.exists(), "the backend ran a refused call");
    let r = session(&gw, "/mcp", &root).await;
    let ran = r
        .request(3, "tools/call", slow("alpha_slow", &marker))
        .await;
    assert_eq!(ran["result"]["content"][0]["text"], "slept 0 ms", "{ran}");
    assert!(marker.exists(), "the admin's call ran");
    let echo = a
        .request(
            4,
            "tools/call",
            json!({"name": "alpha_echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert_eq!(echo["result"]["content"][0]["text"], "hi", "{echo}");
    let static_read = a
        .request(5, "resources/read", json!({"uri": "fixture://static"}))
        .await;
    let nowhere = a
        .request(6, "resources/read", json!({"uri": "nowhere://x"}))
        .await;
    assert_eq!(
        shape(&static_read, "fixture://static"),
        shape(&nowhere, "nowhere://x")
    );
    let item = a
        .request(7, "resources/read", json!({"uri": "fixture://item/5"}))
        .await;
    assert_eq!(item["result"]["contents"][0]["text"], "item 5", "{item}");
    let prompt = a
        .request(8, "prompts/get", json!({"name": "alpha_greet"}))
        .await;
    assert_eq!(
        prompt["error"]["message"], "Unknown prompt `alpha_greet`.",
        "{prompt}"
    );

    // /mcp/alpha with a partial grant: the backend's own names, filtered the same way.
    let one = session(&gw, "/mcp/alpha", &alice).await;
    assert_eq!(
        list_all(&one, "tools/list", "tools").await,
        names(
            "",
            &[
                "echo", "extra_4", "extra_5", "extra_6", "extra_7", "extra_8", "extra_9"
            ]
        )
    );
    let denied = one
        .request(9, "tools/call", slow("slow", &dir.path().join("one")))
        .await;
    assert_eq!(
        denied["error"]["message"], "Unknown tool `slow`.",
        "{denied}"
    );
    assert!(!dir.path().join("one").exists());
    // A second `name` is refused: the gateway judges the first, a backend's parser may keep
    // the last, and this request is forwarded as it is.
    let marker = dir.path().join("twice");
    let twice = format!(
        r#"{{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{{"name":"echo","arguments":{{"ms":0,"marker":{}}},"name":"slow"}}}}"#,
        serde_json::to_string(marker.to_str().unwrap()).unwrap()
    );
    let refused = one.post(&twice, &[]).await.json();
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    // Refused by the gateway itself (rmcp would refuse a repeated field too, but a backend whose
    // parser keeps the last would run `slow`).
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("more than once"), "{refused}");
    assert!(!marker.exists(), "the denied tool did not run");
    let echo = one
        .request(
            10,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "raw"}}),
        )
        .await;
    assert_eq!(echo["result"]["content"][0]["text"], "raw", "{echo}");
    // bob has all of beta: forwarded as before; alpha is not his at all.
    let b = session(&gw, "/mcp/beta", &bob).await;
    assert_eq!(
        list_all(&b, "tools/list", "tools").await,
        names("", &["echo", "add", "slow"])
    );
    let alpha_for_bob = http::get(&gw.url("/mcp/alpha"), Some(&bob)).await;
    assert_eq!(alpha_for_bob.status, 403);

    // Membership and policy changes apply to the very next request.
    let removed = send(
        "DELETE",
        &gw.url(&format!("/admin/api/groups/{}/members/{bob_id}", ops["id"])),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(tools_of(&gw, &bob).await.is_empty());
    let beta_for_bob = http::get(&gw.url("/mcp/beta"), Some(&bob)).await;
    assert_eq!(beta_for_bob.status, 403, "no longer in ops");
    let patched = send(
        "PATCH",
        &gw.url(&format!("/admin/api/policies/{}", alice_policy["id"])),
        Some(&root),
        Some(&json!({"tools": null})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["tools"], Value::Null);
    let seen = list_all(&a, "tools/list", "tools").await;
    assert!(seen.contains(&"alpha_add".to_string()), "{seen:?}");
    assert!(
        !seen.iter().any(|t| t.starts_with("alpha_extra_1")),
        "{seen:?}"
    );
    let deleted = send(
        "DELETE",
        &gw.url(&format!("/admin/api/policies/{}", deny["id"])),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let seen = list_all(&a, "tools/list", "tools").await;
    assert!(seen.contains(&"alpha_extra_12".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|t| t.starts_with("beta_")), "{seen:?}");

    // The one-click grant.
    let grant = http::post_json(
        &gw.url(&format!("/admin/api/users/{alice_id}/grant-all-backends")),
        Some(&root),
        &json!({}),
    )
    .await;
    assert_eq!(grant.status, 201, "{}", grant.body);
    assert_eq!(grant.body["subject"], "user:alice");
    assert_eq!(grant.body["backends"], json!(["*"]));
    assert_eq!(tools_of(&gw, &alice).await, tools_of(&gw, &root).await);

    // alpha stops: its tools, prompts and resources leave the lists. Whoever may use one is
    // told alpha is down; bob, granted nothing, still learns nothing of them.
    alpha.kill();
    wait_for(gw.handle(), "alpha offline", |s| {
        status(s, "alpha").is_some_and(|b| b.state == BackendState::Offline)
    })
    .await;
    wait_for_tools(&gw, &root, 3).await;
    let a = session(&gw, "/mcp", &alice).await;
    for (id, method, params) in [
        (
            20,
            "tools/call",
            json!({"name": "alpha_echo", "arguments": {"text": "hi"}}),
        ),
        (21, "prompts/get", json!({"name": "alpha_greet"})),
        (22, "resources/read", json!({"uri": "fixture://item/5"})),
    ] {
        let down = a.request(id, method, params).await;
        assert_eq!(down["error"]["code"], -32010, "{down}");
        let message = down["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("Backend `alpha` is not running"), "{down}");
    }
    let b = session(&gw, "/mcp", &bob).await;
    let hidden = b
        .request(
            23,
            "tools/call",
            json!({"name": "alpha_echo", "arguments": {}}),
        )
        .await;
    let missing = b
        .request(
            24,
            "tools/call",
            json!({"name": "alpha_nope", "arguments": {}}),
        )
        .await;
    assert_eq!(shape(&hidden, "alpha_echo"), shape(&missing, "alpha_nope"));
    let hidden = b
        .request(25, "resources/read", json!({"uri": "fixture://static"}))
        .await;
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn two_users_get_what_their_policies_grant_on_sqlite() {
    two_users_get_what_their_policies_grant(None).await;
}

#[actix_rt::test]
async fn two_users_get_what_their_policies_grant_on_postgres() {
    let db = PgDatabase::create();
    two_users_get_what_their_policies_grant(Some(&db.url)).await;
}

#[actix_rt::test]
async fn config_file_policies_follow_sighup() {
    let alpha = HttpFixture::start(3);
    let file = |tools: &str| {
        format!(
            "[mcp]\npage_size = 4\n{}[[policies]]\nsubject = \"user:carol\"\neffect = \"allow\"\nbackends = [\"alpha\"]\ntools = {tools}\n",
            backend("alpha", &alpha)
        )
    };
    let mut gw = TestGateway::start(&file("[\"alpha_echo\"]")).await;
    gw.wait_online(1).await;
    create_user(&gw, "root", Role::Admin);
    create_user(&gw, "carol", Role::User);
    let (root, carol) = (login(&gw, "root").await, login(&gw, "carol").await);
    wait_for_tools(&gw, &root, 3).await;
    assert_eq!(tools_of(&gw, &carol).await, ["alpha_echo"]);

    // Listed read-only with source "file"; the API refuses to change it.
    let listed = http::get(&gw.url("/admin/api/policies"), Some(&root)).await;
    assert_eq!(listed.body["default_policy"], "deny");
    let policy = &listed.body["policies"][0];
    assert_eq!(
        (policy["id"].as_str(), policy["source"].as_str()),
        (Some("file:0"), Some("file"))
    );
    let refused = send(
        "DELETE",
        &gw.url("/admin/api/policies/file:0"),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.body);

    let after = gw
        .reload_with(&file("[\"alpha_echo\", \"alpha_add\"]"))
        .await;
    assert_eq!(after.reloads_failed, 0);
    assert_eq!(tools_of(&gw, &carol).await, ["alpha_add", "alpha_echo"]);

    // default_policy = "allow" (the original's behaviour): everything not denied.
    // The harness's base file ends inside [auth], so a leading key lands in that table.
    let allow = format!("default_policy = \"allow\"\n{}", backend("alpha", &alpha));
    assert_eq!(gw.reload_with(&allow).await.reloads_failed, 0);
    assert_eq!(tools_of(&gw, &carol).await.len(), 3);
    // An invalid [[policies]] table refuses the whole reload and keeps the running rules.
    let bad = format!("{allow}[[policies]]\nsubject = \"carol\"\neffect = \"allow\"\n");
    let after = gw.reload_with(&bad).await;
    assert_eq!(after.reloads_failed, 1);
    assert_eq!(tools_of(&gw, &carol).await.len(), 3);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_admin_api_checks_policies_and_groups() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "root", Role::Admin);
    create_user(&gw, "plain", Role::User);
    let (root, plain) = (login(&gw, "root").await, login(&gw, "plain").await);
    let url = gw.url("/admin/api/policies");

    let forbidden = http::get(&url, Some(&plain)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        http::get(&gw.url("/admin/api/groups"), Some(&plain))
            .await
            .status,
        403
    );

    let bad = http::post_json(
        &url,
        Some(&root),
        &json!({"subject": "team:x", "effect": "maybe", "tools": "all", "colour": 1}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error"], "bad_request");
    let problems = bad.body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "type problems first: {problems:?}");
    let bad = http::post_json(
        &url,
        Some(&root),
        &json!({"subject": "team:x", "effect": "maybe"}),
    )
    .await;
    assert_eq!(
        bad.body["problems"].as_array().unwrap().len(),
        2,
        "{}",
        bad.body
    );
    let bad = http::post_json(
        &url,
        Some(&root),
        &json!({"subject": "user:a", "effect": "allow", "backends": [], "resources": [""]}),
    )
    .await;
    assert_eq!(
        bad.body["problems"].as_array().unwrap().len(),
        2,
        "{}",
        bad.body
    );
    assert_eq!(
        http::get(&gw.url("/admin/api/policies/77"), Some(&root))
            .await
            .status,
        404
    );
    assert_eq!(
        http::get(&gw.url("/admin/api/policies/x"), Some(&root))
            .await
            .status,
        404
    );
    let nobody = http::post_json(
        &gw.url("/admin/api/users/4242/grant-all-backends"),
        Some(&root),
        &json!({}),
    )
    .await;
    assert_eq!(nobody.status, 404, "{}", nobody.body);

    let groups = gw.url("/admin/api/groups");
    let ops = http::post_json(
        &groups,
        Some(&root),
        &json!({"name": "ops", "description": "d"}),
    )
    .await;
    assert_eq!(ops.status, 201, "{}", ops.body);
    let again = http::post_json(&groups, Some(&root), &json!({"name": "ops"})).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let bad_name = http::post_json(&groups, Some(&root), &json!({"name": "a b"})).await;
    assert_eq!(bad_name.status, 400);
    let members = gw.url(&format!("/admin/api/groups/{}/members", ops.body["id"]));
    let unknown = send("PUT", &members, Some(&root), Some(&json!([4242]))).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.body["problems"][0]
            .as_str()
            .unwrap()
            .contains("4242")
    );
    let renamed = send(
        "PATCH",
        &gw.url(&format!("/admin/api/groups/{}", ops.body["id"])),
        Some(&root),
        Some(&json!({"name": "operators"})),
    )
    .await;
    assert_eq!(renamed.body["name"], "operators", "{}", renamed.body);
    let listed = http::get(&groups, Some(&root)).await;
    assert_eq!(listed.body["groups"][0]["description"], "d");
    let gone = send(
        "DELETE",
        &gw.url(&format!("/admin/api/groups/{}", ops.body["id"])),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(gone.status, 200);
    assert_eq!(
        http::get(&groups, Some(&root)).await.body["groups"],
        json!([])
    );
    gw.stop().await.unwrap();
}
