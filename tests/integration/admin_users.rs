//! `/admin/api/users`: account management through the admin API, on SQLite and PostgreSQL —
//! the original's bodies, validation, sign-out on disable/reset/delete, the last-admin and
//! self-lockout guards, and per-user MCP permissions enforced on `/mcp`.

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::policies::{tools_of, wait_for_tools};
use crate::postgres::{Db, PgDatabase, database_toml};
use crate::users::{PASSWORD, create_user, login};

const USERS: &str = "/admin/api/users";

async fn gateway(db: Db) -> (TestGateway, Option<PgDatabase>, HttpFixture, String) {
    let fixture = HttpFixture::start(3);
    let (database, guard) = database_toml(db);
    let config = format!(
        "{database}[[backends]]\nname = \"local\"\nurl = \"{}\"\nhealth_interval_s = 60\n",
        fixture.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_user(&gw, "root", Role::Admin);
    let root = login(&gw, "root").await;
    (gw, guard, fixture, root)
}

async fn login_with(gw: &TestGateway, username: &str, password: &str) -> http::Reply {
    http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({"username": username, "password": password}),
    )
    .await
}

async fn mcp_status(gw: &TestGateway, token: &str) -> u16 {
    http::get(&gw.url("/mcp"), Some(token)).await.status
}

async fn accounts_are_created_listed_changed_and_deleted(db: Db) {
    let (gw, _pg, _fixture, root) = gateway(db).await;
    let url = gw.url(USERS);
    // The original's body.
    let created = http::post_json(
        &url,
        Some(&root),
        &json!({"username": "carol", "email": "carol@example.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["role"], "user");
    assert_eq!(created.body["is_active"], true);
    let id = created.body["id"].as_i64().unwrap();
    let carol = login(&gw, "carol").await;

    let again = http::post_json(
        &url,
        Some(&root),
        &json!({"username": "carol", "email": "c2@example.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    // Carol's address in another case: refused, whatever the name.
    let same_email = http::post_json(
        &url,
        Some(&root),
        &json!({"username": "carol2", "email": "CAROL@Example.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(same_email.status, 409, "{}", same_email.body);
    assert_eq!(same_email.body["error"], "conflict", "{}", same_email.body);
    assert_eq!(
        same_email.body["detail"],
        "Email `CAROL@Example.test` is already the address of another account.",
        "{}",
        same_email.body
    );
    let bad = http::post_json(
        &url,
        Some(&root),
        &json!({"username": "d", "email": "nope", "password": "short", "colour": "red"}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.to_string().contains("colour"), "{}", bad.body);
    let weak = http::post_json(
        &url,
        Some(&root),
        &json!({"username": "dave", "email": "dave@example.test", "password": "short"}),
    )
    .await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.to_string().contains("password"), "{}", weak.body);
    // The successful creation is a permission change in the audit trail (the refusals are not).
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    loop {
        let trail = http::get(
            &gw.url("/admin/api/mcp-requests?kind=auth&user=root"),
            Some(&root),
        )
        .await;
        let changes: Vec<&Value> = trail.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["event"] == "permission_change")
            .collect();
        if !changes.is_empty() {
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0]["method"], "POST /admin/api/users");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no permission_change: {}",
            trail.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let listed = http::get(&url, Some(&root)).await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "carol"]);
    assert!(!listed.body.to_string().contains("$2"), "no password hash");

    // Disabling (the original's status route and field) signs carol out at once; enabling does
    // not revive the old token.
    let off = http::post_json(
        &gw.url(&format!("{USERS}/{id}/status")),
        Some(&root),
        &json!({"is_active": false}),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["enabled"], false);
    assert_eq!(mcp_status(&gw, &carol).await, 401);
    assert_eq!(
        login_with(&gw, "carol", PASSWORD).await.status,
        403,
        "disabled"
    );
    let on = send(
        "PATCH",
        &gw.url(&format!("{USERS}/{id}")),
        Some(&root),
        Some(&json!({"enabled": true, "email": "carol@new.example.test"})),
    )
    .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(on.body["email"], "carol@new.example.test");
    assert_eq!(
        mcp_status(&gw, &carol).await,
        401,
        "the old session stays ended"
    );

    // A password reset signs out the new session too and the new password works.
    let carol = login(&gw, "carol").await;
    let reset = http::post_json(
        &gw.url(&format!("{USERS}/{id}/password")),
        Some(&root),
        &json!({"password": "An0ther-Passw0rd!"}),
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.body["revoked_sessions"], 1);
    assert_eq!(mcp_status(&gw, &carol).await, 401);
    assert_eq!(
        login_with(&gw, "carol", "An0ther-Passw0rd!").await.status,
        200
    );

    // Promote, then delete.
    let admin = send(
        "PATCH",
        &gw.url(&format!("{USERS}/{id}")),
        Some(&root),
        Some(&json!({"role": "admin"})),
    )
    .await;
    assert_eq!(admin.body["is_superuser"], true, "{}", admin.body);
    let carol = login_with(&gw, "carol", "An0ther-Passw0rd!").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        http::get(&url, Some(&carol)).await.status,
        200,
        "an admin now"
    );
    let gone = send(
        "DELETE",
        &gw.url(&format!("{USERS}/{id}")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(mcp_status(&gw, &carol).await, 401);
    assert_eq!(
        http::get(&gw.url(&format!("{USERS}/{id}")), Some(&root))
            .await
            .status,
        404
    );
    gw.stop().await.unwrap();
}

async fn administrators_cannot_lock_themselves_or_everyone_out(db: Db) {
    let (gw, _pg, _fixture, root) = gateway(db).await;
    let me = http::get(&gw.url("/auth/me"), Some(&root)).await.body["id"]
        .as_i64()
        .unwrap();
    let mine = gw.url(&format!("{USERS}/{me}"));
    for body in [json!({"enabled": false}), json!({"role": "user"})] {
        let refused = send("PATCH", &mine, Some(&root), Some(&body)).await;
        assert_eq!(refused.status, 409, "{body}: {}", refused.body);
    }
    assert_eq!(send("DELETE", &mine, Some(&root), None).await.status, 409);
    // Another admin may not remove the last enabled one either.
    let other = create_user(&gw, "second", Role::Admin);
    let second = login(&gw, "second").await;
    let off = send(
        "PATCH",
        &mine,
        Some(&second),
        Some(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(off.status, 200, "two admins: one may go: {}", off.body);
    let last = send(
        "PATCH",
        &gw.url(&format!("{USERS}/{other}")),
        Some(&second),
        Some(&json!({"role": "user"})),
    )
    .await;
    assert_eq!(last.status, 409, "{}", last.body);
    // A plain user gets 403 everywhere here.
    create_user(&gw, "plain", Role::User);
    let plain = login(&gw, "plain").await;
    assert_eq!(http::get(&gw.url(USERS), Some(&plain)).await.status, 403);
    let create = http::post_json(
        &gw.url(USERS),
        Some(&plain),
        &json!({"username": "x", "email": "x@example.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(create.status, 403);
    gw.stop().await.unwrap();
}

async fn per_user_permissions_are_enforced_on_mcp(db: Db) {
    let (gw, _pg, _fixture, root) = gateway(db).await;
    wait_for_tools(&gw, &root, 3).await;
    let all = tools_of(&gw, &root).await;
    let id = create_user(&gw, "eve", Role::User);
    let eve = login(&gw, "eve").await;
    assert!(tools_of(&gw, &eve).await.is_empty(), "deny by default");
    let path = gw.url(&format!("{USERS}/{id}/mcp-permissions"));

    let set = send(
        "PUT",
        &path,
        Some(&root),
        Some(&json!({"permissions": [{"server": "local", "tools": [all[0]]}]})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(tools_of(&gw, &eve).await, [all[0].clone()]);
    let shown = http::get(&path, Some(&root)).await;
    assert_eq!(shown.body["policies"][0]["subject"], "user:eve");
    assert_eq!(shown.body["policies"][0]["tools"], json!([all[0]]));

    let bad = send(
        "PUT",
        &path,
        Some(&root),
        Some(&json!({"permissions": [{"tools": ["x"]}, {"server": "local", "effect": "maybe"}]})),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let text = bad.body.to_string();
    assert!(
        text.contains("permissions[0]") && text.contains("permissions[1]"),
        "{text}"
    );
    assert_eq!(
        tools_of(&gw, &eve).await.len(),
        1,
        "a refused change changes nothing"
    );

    let cleared = send("PUT", &path, Some(&root), Some(&json!({"permissions": []}))).await;
    assert_eq!(cleared.status, 200);
    assert!(tools_of(&gw, &eve).await.is_empty());

    // A deleted user's own policies go with the account.
    send(
        "PUT",
        &path,
        Some(&root),
        Some(&json!({"permissions": [{"server": "*"}]})),
    )
    .await;
    send(
        "DELETE",
        &gw.url(&format!("{USERS}/{id}")),
        Some(&root),
        None,
    )
    .await;
    let policies = http::get(&gw.url("/admin/api/policies"), Some(&root)).await;
    let subjects: Vec<&Value> = policies.body["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["subject"])
        .collect();
    assert!(!subjects.contains(&&json!("user:eve")), "{subjects:?}");
    gw.stop().await.unwrap();
}

crate::on_both_databases!(
    accounts_are_created_listed_changed_and_deleted,
    administrators_cannot_lock_themselves_or_everyone_out,
    per_user_permissions_are_enforced_on_mcp,
);
