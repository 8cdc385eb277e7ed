//! Reload through the real `app::run` (the same path SIGHUP takes), observed through
//! `/health/ready` and the supervisor's status notifications.

use actors::backend::BackendState;
use actors::storage::users::Role;
use serde_json::json;

use crate::fixture::{HttpFixture, fixture_binary, status, wait_for};
use crate::harness::TestGateway;
use crate::http;
use crate::users::{create_user, login};

fn stdio_backend(name: &str, tools: usize) -> String {
    format!(
        "[[backends]]\nname = {name:?}\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"{tools}\"]\n",
        fixture_binary().display()
    )
}

fn http_backend(name: &str, fixture: &HttpFixture) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\nhealth_interval_s = 60\n",
        fixture.url()
    )
}

fn names(ready: &serde_json::Value) -> Vec<&str> {
    ready["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[actix_rt::test]
async fn ready_shows_counts_to_all_and_details_to_admins() {
    let remote = HttpFixture::start(4);
    let mut gw = TestGateway::start(&format!(
        "{}{}",
        http_backend("remote", &remote),
        stdio_backend("local", 2)
    ))
    .await;
    gw.wait_online(2).await;
    create_user(&gw, "admin", Role::Admin);
    create_user(&gw, "user", Role::User);

    let public = http::get(&gw.url("/health/ready"), None).await;
    assert_eq!(public.status, 200);
    assert_eq!(
        public.body["backends"],
        json!({ "total": 2, "online": 2, "degraded": 0, "offline": 0, "starting": 0 })
    );
    assert!(
        public.body.get("servers").is_none(),
        "details are for admins only"
    );
    let user = http::get(&gw.url("/health/ready"), Some(&login(&gw, "user").await)).await;
    assert!(
        user.body.get("servers").is_none(),
        "details are for admins only"
    );

    let admin = http::get(&gw.url("/health/ready"), Some(&login(&gw, "admin").await)).await;
    let servers = admin.body["servers"].as_array().unwrap();
    assert_eq!(names(&admin.body), ["local", "remote"]);
    let remote_row = &servers[1];
    assert_eq!(remote_row["transport"], "streamable-http");
    assert_eq!(remote_row["state"], "online");
    assert_eq!(remote_row["tool_count"], 4);
    assert!(remote_row["last_check_ms"].as_i64().unwrap() > 0);
    assert_eq!(remote_row["last_error"], serde_json::Value::Null);
    assert_eq!(servers[0]["transport"], "stdio");
    assert_eq!(servers[0]["tool_count"], 2);
    gw.reload().await;
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn reload_applies_the_backend_diff_and_keeps_unchanged_backends() {
    let remote = HttpFixture::start(3);
    let mut gw = TestGateway::start(&format!(
        "{}{}",
        http_backend("remote", &remote),
        stdio_backend("old", 1)
    ))
    .await;
    let before = gw.wait_online(2).await;
    let remote_since = status(&before, "remote").unwrap().connected_since_ms;

    let outcome = gw
        .reload_with(&format!(
            "{}{}",
            http_backend("remote", &remote),
            stdio_backend("new", 2)
        ))
        .await;
    assert_eq!(outcome.reloads_applied, 1);
    let after = wait_for(gw.handle(), "new online", |s| {
        status(s, "new").is_some_and(|b| b.state == BackendState::Online)
    })
    .await;
    assert!(
        status(&after, "old").is_none(),
        "removed backend still listed"
    );
    assert_eq!(
        status(&after, "remote").unwrap().connected_since_ms,
        remote_since,
        "unchanged backend was touched"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn an_invalid_or_restart_only_reload_keeps_the_running_config() {
    let mut gw = TestGateway::start(&stdio_backend("keep", 1)).await;
    gw.wait_online(1).await;

    let refused = gw
        .reload_with("[[backends]]\nname = \"bad\"\nurl = \"ftp://nope\"\n")
        .await;
    assert_eq!((refused.reloads_applied, refused.reloads_failed), (0, 1));
    // Changing the public URL (and with it the token issuer) needs a restart.
    std::fs::write(
        &gw.config_path,
        format!("data_dir = {:?}\n[server]\npublic_url = \"http://elsewhere.test\"\n[auth]\nbcrypt_cost = 4\n", gw.config.data_dir),
    )
    .unwrap();
    let refused = gw.reload().await;
    assert_eq!((refused.reloads_applied, refused.reloads_failed), (0, 2));
    let statuses = gw.handle().statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].name, "keep");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn reload_can_switch_authentication_off_and_on() {
    let mut gw = TestGateway::start("").await;
    assert_eq!(http::get(&gw.url("/anything"), None).await.status, 401);
    let data_dir = gw.config.data_dir.clone();
    std::fs::write(
        &gw.config_path,
        format!("data_dir = {data_dir:?}\n[server]\npublic_url = {:?}\ndrain_timeout_ms = 2000\nworkers = 1\n[auth]\nbcrypt_cost = 4\nrequired = false\n", gw.base_url),
    )
    .unwrap();
    assert_eq!(gw.reload().await.reloads_applied, 1);
    assert_eq!(http::get(&gw.url("/anything"), None).await.status, 404);
    assert_eq!(gw.reload_with("").await.reloads_applied, 2);
    assert_eq!(http::get(&gw.url("/anything"), None).await.status, 401);
    gw.stop().await.unwrap();
}
