//! Runtime settings (`/admin/api/settings/runtime`) and the reload API (`/admin/api/reload`) on
//! the real gateway, on SQLite and PostgreSQL: a database override beats the file, is enforced
//! at once, survives a reload and clears back to the file's value; bad values are refused with
//! every problem and store nothing; the reload API reports what the SIGHUP path did.

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::harness::TestGateway;
use crate::http::{self, Reply};
use crate::postgres::{Db, database_toml};
use crate::users::{create_user, login};

const RUNTIME: &str = "/admin/api/settings/runtime";

async fn put(gw: &TestGateway, token: &str, body: Value) -> Reply {
    send("PUT", &gw.url(RUNTIME), Some(token), Some(&body)).await
}

async fn view(gw: &TestGateway, token: &str) -> Value {
    let reply = http::get(&gw.url("/admin/api/settings"), Some(token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// One key of `GET /admin/api/settings/runtime`.
async fn runtime_key(gw: &TestGateway, token: &str, key: &str) -> Value {
    let reply = http::get(&gw.url(RUNTIME), Some(token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} missing: {}", reply.body))
}

/// Token endpoint requests from this client until the first 429; how many passed.
async fn token_requests_before_429(gw: &TestGateway, up_to: u32) -> u32 {
    for n in 0..up_to {
        let reply = http::post_raw(
            &gw.url("/oauth/token"),
            None,
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=nobody".to_vec(),
        )
        .await;
        if reply.status == 429 {
            return n;
        }
    }
    up_to
}

fn limits(database: &str, token_max: u32) -> String {
    format!("{database}[rate_limit]\ntoken_max = {token_max}\ntoken_window_s = 3600\n")
}

async fn override_beats_the_file_survives_a_reload_and_clears(db: Db) {
    let (database, _pg) = database_toml(db);
    let mut gw = TestGateway::start(&limits(&database, 50)).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;

    let before = runtime_key(&gw, &admin, "rate_limit.token_max").await;
    assert_eq!(before["effective"], 50);
    assert!(before["override"].is_null());

    let reply = put(&gw, &admin, json!({ "rate_limit.token_max": 2 })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "applied");
    // Enforced at once: the third request of this client is refused.
    assert_eq!(token_requests_before_429(&gw, 5).await, 2);
    let shown = view(&gw, &admin).await;
    assert_eq!(shown["rate_limit"]["token_max"], 2);
    assert_eq!(shown["sources"]["rate_limit.token_max"]["kind"], "database");
    let set = runtime_key(&gw, &admin, "rate_limit.token_max").await;
    assert_eq!(set["override"]["value"], 2);
    assert_eq!(set["override"]["updated_by"], "root");

    // The SIGHUP path re-reads a changed file; the database override still wins.
    let after = gw.reload_with(&limits(&database, 40)).await;
    assert_eq!(after.reloads_failed, 0);
    assert_eq!(view(&gw, &admin).await["rate_limit"]["token_max"], 2);

    // Cleared: back to the file's (new) value, and the source says so.
    let reply = put(&gw, &admin, json!({ "rate_limit.token_max": null })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "applied");
    let shown = view(&gw, &admin).await;
    assert_eq!(shown["rate_limit"]["token_max"], 40);
    assert_eq!(shown["sources"]["rate_limit.token_max"]["kind"], "file");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn override_beats_the_file_survives_a_reload_and_clears_sqlite() {
    override_beats_the_file_survives_a_reload_and_clears(Db::Sqlite).await;
}

#[actix_rt::test]
async fn override_beats_the_file_survives_a_reload_and_clears_postgres() {
    override_beats_the_file_survives_a_reload_and_clears(Db::Postgres).await;
}

async fn an_override_outlives_a_restart(db: Db) {
    let (database, _pg) = database_toml(db);
    // The base file ends in its `[auth]` table, so the first line lands there.
    let gw = TestGateway::start(&format!("allow_registration = false\n{database}")).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let reply = put(
        &gw,
        &admin,
        json!({ "auth.allow_registration": true, "oauth.dcr_enabled": false }),
    )
    .await;
    assert_eq!(reply.body["outcome"], "applied", "{}", reply.body);
    // Both take effect at once, and again after the restart.
    let registers = |gw: &TestGateway, name: &str| {
        let (url, body) = (
            gw.url("/auth/register"),
            json!({ "username": name, "email": format!("{name}@example.test"),
                    "password": crate::users::PASSWORD }),
        );
        async move { http::post_json(&url, None, &body).await.status }
    };
    let registers_client = |gw: &TestGateway| {
        let url = gw.url("/oauth/register");
        async move {
            let body = json!({ "redirect_uris": ["http://127.0.0.1:4100/cb"],
                               "token_endpoint_auth_method": "none" });
            http::post_json(&url, None, &body).await.status
        }
    };
    assert_eq!(registers(&gw, "eve").await, 201);
    assert_eq!(registers_client(&gw).await, 403, "DCR switched off");
    let gw = gw.restart_with(|_| {}).await;
    let admin = login(&gw, "root").await;
    let shown = view(&gw, &admin).await;
    assert_eq!(shown["auth"]["allow_registration"], true);
    assert_eq!(
        shown["sources"]["auth.allow_registration"]["kind"],
        "database"
    );
    assert_eq!(registers(&gw, "mallory").await, 201);
    assert_eq!(registers_client(&gw).await, 403);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn an_override_outlives_a_restart_sqlite() {
    an_override_outlives_a_restart(Db::Sqlite).await;
}

#[actix_rt::test]
async fn an_override_outlives_a_restart_postgres() {
    an_override_outlives_a_restart(Db::Postgres).await;
}

#[actix_rt::test]
async fn bad_changes_are_refused_with_every_problem_and_store_nothing() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;

    let reply = put(&gw, &admin, json!({ "server.port": 1 })).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["problems"][0]
            .as_str()
            .unwrap()
            .contains("not a runtime setting")
    );

    let reply = put(
        &gw,
        &admin,
        json!({ "rate_limit.login_max": 0, "rate_limit.mcp_window_s": true, "oauth.dcr_max_per_ip": "ten" }),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], "bad_request");
    let problems = reply.body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    for key in [
        "rate_limit.login_max",
        "rate_limit.mcp_window_s",
        "oauth.dcr_max_per_ip",
    ] {
        assert!(
            problems.iter().any(|p| p.as_str().unwrap().contains(key)),
            "{key}: {problems:?}"
        );
    }
    let reply = put(&gw, &admin, json!([1, 2])).await;
    assert_eq!(reply.status, 400);
    let reply = put(&gw, &admin, json!({})).await;
    assert_eq!(reply.status, 400);

    let all = http::get(&gw.url(RUNTIME), Some(&admin)).await;
    assert!(
        all.body["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["override"].is_null()),
        "nothing stored: {}",
        all.body
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_reload_api_applies_a_changed_file_and_reports_a_failed_one() {
    let gw = TestGateway::start("[rate_limit]\nmcp_max = 5\n").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let url = gw.url("/admin/api/reload");
    let empty = json!({});
    let reload = || http::post_json(&url, Some(&admin), &empty);

    crate::harness::write_config(
        &gw.config_path,
        &gw.base_url,
        &gw.config.data_dir,
        "[rate_limit]\nmcp_max = 9\n",
    );
    let reply = reload().await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({ "outcome": "applied" }));
    assert_eq!(view(&gw, &admin).await["rate_limit"]["mcp_max"], 9);

    crate::harness::write_config(
        &gw.config_path,
        &gw.base_url,
        &gw.config.data_dir,
        "[rate_limit]\nmcp_max = \"many\"\n",
    );
    let reply = reload().await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "failed");
    let problems = reply.body["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("rate_limit.mcp_max")),
        "{problems:?}"
    );
    assert_eq!(
        view(&gw, &admin).await["rate_limit"]["mcp_max"],
        9,
        "old config kept"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn non_admins_are_refused() {
    let gw = TestGateway::start("").await;
    create_user(&gw, "alice", Role::User);
    let user = login(&gw, "alice").await;
    assert_eq!(http::get(&gw.url(RUNTIME), Some(&user)).await.status, 403);
    assert_eq!(
        http::get(&gw.url("/admin/api/settings"), Some(&user))
            .await
            .status,
        403
    );
    let reply = put(&gw, &user, json!({ "rate_limit.mcp_max": 1 })).await;
    assert_eq!(reply.status, 403);
    let reply = http::post_json(&gw.url("/admin/api/reload"), Some(&user), &json!({})).await;
    assert_eq!(reply.status, 403);
    assert_eq!(http::get(&gw.url(RUNTIME), None).await.status, 401);
    gw.stop().await.unwrap();
}

/// The real binary: a value from an environment variable shows its variable as the source,
/// secrets stay masked, and a runtime override survives a real SIGHUP.
#[test]
fn the_binary_shows_sources_masks_secrets_and_keeps_overrides_on_sighup() {
    use std::time::Duration;

    use nix::sys::signal::Signal;

    use crate::binary::{create_admin, http as raw, login as raw_login};
    use crate::daemon::Daemon;

    const SECRET: &str = "jwt-secret-marker-7f3a9c0e5b1d2468ace013579bdf";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let file =
        format!("[auth]\nbcrypt_cost = 4\njwt_secret = {SECRET:?}\n[rate_limit]\ntool_max = 3\n");
    std::fs::write(&config, &file).unwrap();
    create_admin(dir.path(), &config, "ops");
    let mut daemon = Daemon::start(dir.path(), &config, &[("RATE_LIMIT_MCP_MAX", "7")]);
    let token = raw_login(&daemon.base_url, "ops");
    let base = daemon.base_url.clone();
    let get = |path: &str| -> Value {
        let reply = raw(
            &base,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert!(!reply.contains(SECRET), "the secret leaked: {reply}");
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap()
    };
    let shown = get("/admin/api/settings");
    assert_eq!(shown["rate_limit"]["mcp_max"], 7);
    assert_eq!(
        shown["sources"]["rate_limit.mcp_max"],
        json!({ "kind": "env", "name": "RATE_LIMIT_MCP_MAX" })
    );
    assert_eq!(shown["sources"]["rate_limit.tool_max"]["kind"], "file");
    assert_eq!(shown["sources"]["rate_limit.login_max"]["kind"], "default");
    assert_eq!(shown["auth"]["jwt_secret"], "********");

    let body = r#"{"rate_limit.tool_max": 1}"#;
    let reply = raw(
        &base,
        &format!(
            "PUT /admin/api/settings/runtime HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(reply.contains("\"outcome\":\"applied\""), "{reply}");

    // A real SIGHUP re-reads the (changed) file; the database value still wins.
    std::fs::write(&config, file.replace("tool_max = 3", "tool_max = 4")).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_message(|m| m.contains("RELOADING=1"), Duration::from_secs(30));
    daemon.wait_message(|m| m.contains("READY=1"), Duration::from_secs(30));
    let shown = get("/admin/api/settings");
    assert_eq!(shown["rate_limit"]["tool_max"], 1);
    assert_eq!(shown["sources"]["rate_limit.tool_max"]["kind"], "database");

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}
