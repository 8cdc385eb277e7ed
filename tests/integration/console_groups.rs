//! Groups on the console's Users pages over HTTP, as a browser without JavaScript uses them:
//! create a group, put a user in it on their permissions page, and a `group:<name>` policy
//! (made through the admin API) lets that user see the backend's tools on a real `/mcp`
//! `tools/list`; leaving or deleting the group takes them away. CSRF and non-administrators
//! are refused; each change is a `permission_change` in the audit trail. SQLite and PostgreSQL.

use actors::storage::users::Role;
use serde_json::json;

use crate::console::Browser;
use crate::console_accounts::permission_changes;
use crate::console_pages::{follow, id_in, sign_in};
use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::policies::tools_of;
use crate::postgres::{Db, database_toml};
use crate::users::{create_user, login};

async fn groups_pages(db: Db) {
    let mut fixture = HttpFixture::start(2);
    let (database, _pg) = database_toml(db);
    let gw = TestGateway::start_with(
        &format!(
            "{database}[[backends]]\nname = \"gx\"\nurl = \"{}\"\nhealth_interval_s = 60\n",
            fixture.url()
        ),
        |c| c.rate_limit.login_max = 1000,
    )
    .await;
    gw.wait_online(1).await;
    create_user(&gw, "admin", Role::Admin);
    let bob_id = create_user(&gw, "bob", Role::User).to_string();
    let root = login(&gw, "admin").await;
    let bob = login(&gw, "bob").await;
    // The routing table follows the backend asynchronously: wait until the admin sees its tools.
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    let all_tools = loop {
        let tools = tools_of(&gw, &root).await;
        if !tools.is_empty() {
            break tools;
        }
        assert!(tokio::time::Instant::now() < deadline, "gx never listed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(tools_of(&gw, &bob).await.is_empty(), "no rule for bob yet");

    // A non-administrator's bearer token: 403 on every group form, nothing changes.
    let mut outsider = Browser::new(&gw);
    let bearer = format!("Bearer {bob}");
    let form = b"name=sneaky".to_vec();
    for path in [
        "/admin/users/groups".to_string(),
        format!("/admin/users/{bob_id}/groups"),
        "/admin/users/groups/1/delete".to_string(),
    ] {
        let refused = outsider
            .send(
                awc::http::Method::POST,
                &path,
                &[("authorization", &bearer)],
                Some(("application/x-www-form-urlencoded", form.clone())),
            )
            .await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }

    let mut admin = Browser::new(&gw);
    sign_in(&mut admin, "admin").await;
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("No groups yet"), "{}", page.body);
    assert!(!page.body.contains("sneaky"));
    let csrf = page.field("csrf_token");

    // CSRF: without the token nothing is created.
    let devs = [("name", "devs"), ("description", "Developers")];
    let refused = admin.post_form("/admin/users/groups", &devs).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Form expired"), "{}", refused.body);
    let mut fields = devs.to_vec();
    fields.push(("csrf_token", &csrf));
    let created = admin.post_form("/admin/users/groups", &fields).await;
    let page = follow(&mut admin, &created).await;
    assert!(page.body.contains("Group devs created."), "{}", page.body);
    assert!(page.body.contains("Developers"), "{}", page.body);
    let group_id = id_in(&page, "data-group=\"devs\"", "/admin/users/groups/");

    // Refusals from the service, shown next to the form: a bad name, a taken one.
    let bad = admin
        .post_form(
            "/admin/users/groups",
            &[("csrf_token", &csrf), ("name", "no spaces!")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
    assert!(bad.body.contains("value=\"no spaces!\""), "{}", bad.body);
    let taken = admin
        .post_form(
            "/admin/users/groups",
            &[("csrf_token", &csrf), ("name", "devs")],
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);

    // The group's rule, through the admin API; bob is not in the group yet.
    let policy = http::post_json(
        &gw.url("/admin/api/policies"),
        Some(&root),
        &json!({"subject": "group:devs", "effect": "allow", "backends": ["gx"]}),
    )
    .await;
    assert_eq!(policy.status, 201, "{}", policy.body);
    assert!(tools_of(&gw, &bob).await.is_empty());

    // bob's permissions page: every group as a checkbox, with what its rules do.
    let path = format!("/admin/users/{bob_id}/permissions");
    let memberships = format!("/admin/users/{bob_id}/groups");
    let box_name = format!("group_{group_id}");
    let editor = admin.get(&path).await;
    assert_eq!(editor.status, 200, "{}", editor.body);
    assert!(
        editor
            .body
            .contains(&format!("name=\"{box_name}\"> <code>devs</code>")),
        "unchecked: {}",
        editor.body
    );
    assert!(
        editor.body.contains("allow gx: all tools"),
        "{}",
        editor.body
    );
    let refused = admin.post_form(&memberships, &[(&box_name, "on")]).await;
    assert_eq!(refused.status, 403, "without CSRF: {}", refused.body);
    let stale = admin
        .post_form(
            &memberships,
            &[("csrf_token", &csrf), ("group_999999", "on")],
        )
        .await;
    assert_eq!(stale.status, 400, "{}", stale.body);
    assert!(stale.body.contains("no such group"), "{}", stale.body);

    let joined = admin
        .post_form(&memberships, &[("csrf_token", &csrf), (&box_name, "on")])
        .await;
    let page = follow(&mut admin, &joined).await;
    assert!(
        page.body.contains("Group memberships saved"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("name=\"{box_name}\" checked")),
        "{}",
        page.body
    );
    assert!(page.body.contains("groups: devs"), "{}", page.body);
    assert_eq!(tools_of(&gw, &bob).await, all_tools);

    // Unchecked: out of the group, the tools are gone; back in for the deletion below.
    let left = admin
        .post_form(&memberships, &[("csrf_token", &csrf)])
        .await;
    assert_eq!(left.status, 303, "{}", left.body);
    assert!(tools_of(&gw, &bob).await.is_empty());
    let joined = admin
        .post_form(&memberships, &[("csrf_token", &csrf), (&box_name, "on")])
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let page = admin.get("/admin/users").await;
    let row = &page.body[page.body.find("data-group=\"devs\"").unwrap()..];
    assert!(row.contains("<td>1</td>"), "one member: {row}");

    // Delete: a confirm page first, CSRF on the deletion, then bob's tools are gone.
    let delete = format!("/admin/users/groups/{group_id}/delete");
    let confirm = admin.get(&delete).await;
    assert!(
        confirm.body.contains("Delete the group devs (1 members)?"),
        "{}",
        confirm.body
    );
    let refused = admin.post_form(&delete, &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let deleted = admin.post_form(&delete, &[("csrf_token", &csrf)]).await;
    let page = follow(&mut admin, &deleted).await;
    assert!(page.body.contains("Group devs deleted"), "{}", page.body);
    assert!(!page.body.contains("data-group=\"devs\""));
    assert!(tools_of(&gw, &bob).await.is_empty());
    let gone = admin.get(&delete).await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // Each change is a permission change in the audit trail (the refusals are not).
    let wanted = [
        "POST /admin/users/groups".to_string(),
        format!("POST {memberships}"),
        format!("POST {delete}"),
    ];
    let methods = permission_changes(&gw, &root, "admin", &wanted).await;
    let creations = methods.iter().filter(|m| *m == &wanted[0]).count();
    assert_eq!(
        creations, 1,
        "refused creations are not changes: {methods:?}"
    );
    fixture.kill();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn groups_on_the_users_pages_on_sqlite() {
    groups_pages(Db::Sqlite).await;
}

#[actix_rt::test]
async fn groups_on_the_users_pages_on_postgres() {
    groups_pages(Db::Postgres).await;
}
