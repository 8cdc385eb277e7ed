//! Editing accounts and groups in place, from the console (forms, no script) and the admin API:
//! a user's email (valid, not another account's, compared without regard to case; the
//! original's `PUT` as well as `PATCH`), a group's name and description (a name already taken
//! is refused with a message naming it). Each change is a `permission_change` in the audit
//! trail. SQLite and PostgreSQL.

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::console::{Browser, gateway};
use crate::console_pages::{follow, id_in, sign_in};
use crate::harness::TestGateway;
use crate::http;
use crate::postgres::Db;
use crate::users::{create_user, login};

async fn email_of(gw: &TestGateway, root: &str, id: i64) -> Value {
    let user = http::get(&gw.url(&format!("/admin/api/users/{id}")), Some(root)).await;
    assert_eq!(user.status, 200, "{}", user.body);
    user.body["email"].clone()
}

/// The methods (`POST /path`) of the `permission_change` events recorded for `username`, once
/// all of `wanted` are among them (the audit trail is written off the request path).
pub(crate) async fn permission_changes(
    gw: &TestGateway,
    token: &str,
    username: &str,
    wanted: &[String],
) -> Vec<String> {
    let trail = format!("/admin/api/mcp-requests?kind=auth&user={username}");
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    loop {
        let trail = http::get(&gw.url(&trail), Some(token)).await;
        let methods: Vec<String> = trail.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["event"] == "permission_change")
            .map(|r| r["method"].as_str().unwrap_or("").to_string())
            .collect();
        if wanted.iter().all(|w| methods.contains(w)) {
            return methods;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing permission changes: {methods:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn accounts_and_groups_are_edited(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "root", Role::Admin);
    let bob = create_user(&gw, "bob", Role::User);
    create_user(&gw, "carol", Role::User);
    let root = login(&gw, "root").await;
    let mut browser = Browser::new(&gw);
    sign_in(&mut browser, "root").await;
    let page = browser.get("/admin/users").await;
    let csrf = page.field("csrf_token");
    let email_form = format!("/admin/users/{bob}/email");
    assert!(page.body.contains(&email_form), "{}", page.body);

    // A new address: saved, shown, flashed.
    let saved = browser
        .post_form(
            &email_form,
            &[("csrf_token", &csrf), ("email", " bob@new.example ")],
        )
        .await;
    let page = follow(&mut browser, &saved).await;
    assert!(
        page.body.contains("The email of bob changed."),
        "{}",
        page.body
    );
    assert!(page.body.contains("bob@new.example"), "{}", page.body);
    assert_eq!(email_of(&gw, &root, bob).await, "bob@new.example");

    // Carol's address (in other case) and a non-address: refused with the reason, unchanged.
    let taken = browser
        .post_form(
            &email_form,
            &[("csrf_token", &csrf), ("email", "CAROL@example.test")],
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(
        taken.body.contains("already the address of user carol"),
        "{}",
        taken.body
    );
    let invalid = browser
        .post_form(&email_form, &[("csrf_token", &csrf), ("email", "nobody")])
        .await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert!(
        invalid.body.contains("name@example.com"),
        "{}",
        invalid.body
    );
    assert_eq!(email_of(&gw, &root, bob).await, "bob@new.example");

    // The admin API: PUT (the original's method) and PATCH, with the same rules.
    let user_url = gw.url(&format!("/admin/api/users/{bob}"));
    let body = json!({ "email": "carol@EXAMPLE.test" });
    let clash = send("PUT", &user_url, Some(&root), Some(&body)).await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    let body = json!({ "email": "bob@put.example" });
    let put = send("PUT", &user_url, Some(&root), Some(&body)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["email"], "bob@put.example");
    // Keeping one's own address (in another case) is no clash.
    let body = json!({ "email": "BOB@put.example" });
    let same = send("PATCH", &user_url, Some(&root), Some(&body)).await;
    assert_eq!(same.status, 200, "{}", same.body);

    // Groups: renamed and re-described; a taken name is refused and named.
    for name in ["devs", "ops"] {
        let created = browser
            .post_form(
                "/admin/users/groups",
                &[("csrf_token", &csrf), ("name", name), ("description", "")],
            )
            .await;
        assert_eq!(created.status, 303, "{}", created.body);
    }
    let page = browser.get("/admin/users").await;
    let devs = id_in(&page, "data-group=\"devs\"", "/admin/users/groups/");
    let edit = format!("/admin/users/groups/{devs}/edit");
    assert!(page.body.contains(&edit), "{}", page.body);
    let renamed = browser
        .post_form(
            &edit,
            &[
                ("csrf_token", &csrf),
                ("name", "developers"),
                ("description", "Writes the code"),
            ],
        )
        .await;
    let page = follow(&mut browser, &renamed).await;
    assert!(
        page.body.contains("Group developers saved"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-group=\"developers\""));
    assert!(page.body.contains("Writes the code"));
    let clash = browser
        .post_form(
            &edit,
            &[("csrf_token", &csrf), ("name", "ops"), ("description", "")],
        )
        .await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    assert!(clash.body.contains("already exists"), "{}", clash.body);
    assert!(clash.body.contains("ops"), "{}", clash.body);
    let group_url = gw.url(&format!("/admin/api/groups/{devs}"));
    let body = json!({ "name": "ops" });
    let clash = send("PATCH", &group_url, Some(&root), Some(&body)).await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    let group = http::get(&group_url, Some(&root)).await;
    assert_eq!(group.body["name"], "developers", "{}", group.body);

    let wanted = [format!("POST {email_form}"), format!("POST {edit}")];
    permission_changes(&gw, &root, "root", &wanted).await;
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn accounts_and_groups_are_edited_on_sqlite() {
    accounts_and_groups_are_edited(Db::Sqlite).await;
}

#[actix_rt::test]
async fn accounts_and_groups_are_edited_on_postgres() {
    accounts_and_groups_are_edited(Db::Postgres).await;
}
