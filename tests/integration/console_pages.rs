//! The console's Users and MCP servers pages over HTTP, as a browser without JavaScript uses
//! them: who may see and change them (anonymous → sign-in, a non-administrator's token → 403),
//! CSRF on every form, refusals shown as messages (password policy, self-lockout), and the
//! changes taking effect — a permission set in the editor limits the user's tools on `/mcp`, a
//! backend added in the form goes online with the real rmcp fixture. SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use actors::storage::users::Role;

use crate::console::{Browser, Page, gateway};
use crate::fixture::HttpFixture;
use crate::policies::tools_of;
use crate::postgres::Db;
use crate::users::{PASSWORD, create_user, login};

const NEW_PASSWORD: &str = "Console-Passw0rd!";

pub(crate) async fn sign_in(browser: &mut Browser, username: &str) {
    let form = browser.get("/admin/login").await;
    let csrf = form.field("csrf_token");
    let signed_in = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
}

/// The page a redirect leads to.
pub(crate) async fn follow(browser: &mut Browser, page: &Page) -> Page {
    assert_eq!(page.status, 303, "{}", page.body);
    browser.get(&page.header("location")).await
}

/// The id in the first `{prefix}{id}/…` link after `marker` (a row's `data-…` attribute).
pub(crate) fn id_in(page: &Page, marker: &str, prefix: &str) -> String {
    let row = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker}: {}", page.body));
    let rest = &page.body[row..];
    let start = rest.find(prefix).unwrap() + prefix.len();
    let end = rest[start..].find('/').unwrap() + start;
    rest[start..end].to_string()
}

/// The id in the first `/admin/users/{id}/…` link of `username`'s row.
fn user_id_in(page: &Page, username: &str) -> String {
    id_in(page, &format!("data-user=\"{username}\""), "/admin/users/")
}

async fn users_page(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "admin", Role::Admin);
    create_user(&gw, "alice", Role::User);
    let mut fixture = HttpFixture::start(2);

    // Not signed in: to the sign-in page; a non-administrator's bearer token: 403, no change.
    let mut anonymous = Browser::new(&gw);
    for path in [
        "/admin/users",
        "/admin/mcp-servers",
        "/admin/users/1/permissions",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(
            (page.status, page.header("location").as_str()),
            (303, "/admin/login"),
            "{path}"
        );
    }
    let alice = format!("Bearer {}", login(&gw, "alice").await);
    for path in ["/admin/users", "/admin/mcp-servers"] {
        let page = anonymous
            .send(
                awc::http::Method::GET,
                path,
                &[("authorization", &alice)],
                None,
            )
            .await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
    let form = b"username=mallory&email=m%40example.com&password=Mallory-Passw0rd%21".to_vec();
    let refused = anonymous
        .send(
            awc::http::Method::POST,
            "/admin/users",
            &[("authorization", &alice)],
            Some(("application/x-www-form-urlencoded", form)),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let mut admin = Browser::new(&gw);
    sign_in(&mut admin, "admin").await;
    let page = admin.get("/admin/users").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/admin/users\" aria-current=\"page\"")
    );
    assert!(page.body.contains("href=\"/admin/mcp-servers\""));
    assert!(page.body.contains("data-user=\"alice\""));
    let csrf = page.field("csrf_token");

    // CSRF: the create form without its token (or with a forged one) changes nothing.
    let bob = [
        ("username", "bob"),
        ("email", "bob@example.com"),
        ("password", NEW_PASSWORD),
        ("role", "user"),
    ];
    for token in [None, Some("forged")] {
        let mut fields = bob.to_vec();
        if let Some(token) = token {
            fields.push(("csrf_token", token));
        }
        let refused = admin.post_form("/admin/users", &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("Form expired"), "{}", refused.body);
    }
    assert!(
        !admin
            .get("/admin/users")
            .await
            .body
            .contains("data-user=\"bob\"")
    );

    // A password the policy refuses: the reason next to the form, the fields kept.
    let mut weak = bob.to_vec();
    weak[2] = ("password", "short");
    weak.push(("csrf_token", &csrf));
    let refused = admin.post_form("/admin/users", &weak).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    assert!(
        refused.body.to_lowercase().contains("password"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"bob@example.com\""));

    let mut good = bob.to_vec();
    good.push(("csrf_token", &csrf));
    let created = admin.post_form("/admin/users", &good).await;
    let page = follow(&mut admin, &created).await;
    assert!(page.body.contains("User bob created."), "{}", page.body);
    let bob_id = user_id_in(&page, "bob");

    // Alice's address in another case: refused with the reason, nothing created.
    let mut same_email = bob.to_vec();
    same_email[0] = ("username", "bob2");
    same_email[1] = ("email", "ALICE@example.test");
    same_email.push(("csrf_token", &csrf));
    let refused = admin.post_form("/admin/users", &same_email).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Email `ALICE@example.test` is already the address of another account."),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("data-user=\"bob2\""),
        "{}",
        refused.body
    );
    let admin_id = user_id_in(&page, "admin");

    // Self-lockout is refused with the service's reason.
    let refused = admin
        .post_form(
            &format!("/admin/users/{admin_id}/status"),
            &[("csrf_token", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);

    // A backend added in the console goes online.
    let url = fixture.url().to_string();
    let added = admin
        .post_form(
            "/admin/mcp-servers",
            &[
                ("csrf_token", &csrf),
                ("name", "fx"),
                ("url", &url),
                ("auth_type", "bearer"),
                ("auth_token", "never-shown-secret"),
            ],
        )
        .await;
    let page = follow(&mut admin, &added).await;
    assert!(page.body.contains("Backend fx added"), "{}", page.body);
    assert!(!page.body.contains("never-shown-secret"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let page = admin.get("/admin/mcp-servers").await;
        let start = page.body.find("data-server=\"fx\"").expect("fx listed");
        let link_start = page.body[start..].find("/admin/mcp-servers/").unwrap() + start;
        let link_end = page.body[link_start..].find('"').unwrap() + link_start;
        if page.body[start..].contains("state-online") {
            break page.body[link_start..link_end].to_string();
        }
        assert!(
            Instant::now() < deadline,
            "fx never went online: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The fixture speaks without auth; the stored token is not echoed on the detail page.
    let tools = admin.get(&detail).await;
    assert_eq!(tools.status, 200, "{}", tools.body);
    assert!(
        tools.body.contains("<code>fx_echo</code>"),
        "{}",
        tools.body
    );
    assert!(!tools.body.contains("never-shown-secret"));

    // The permissions editor: bob may use `fx_echo` only (the API gives database backends the prefix `<name>_`).
    let editor = admin
        .get(&format!("/admin/users/{bob_id}/permissions"))
        .await;
    assert_eq!(editor.status, 200, "{}", editor.body);
    assert!(
        editor.body.contains("<option value=\"fx\">"),
        "{}",
        editor.body
    );
    let path = format!("/admin/users/{bob_id}/permissions");
    let rows = [
        ("rows", "2"),
        ("server_0", "fx"),
        ("tools_0", "fx_echo"),
        ("effect_0", "allow"),
        ("server_1", ""),
    ];
    let refused = admin.post_form(&path, &rows).await;
    assert_eq!(refused.status, 403, "without CSRF: {}", refused.body);
    let mut fields = rows.to_vec();
    fields.push(("csrf_token", &csrf));
    let saved = admin.post_form(&path, &fields).await;
    let page = follow(&mut admin, &saved).await;
    assert!(page.body.contains("Permissions saved"), "{}", page.body);
    assert!(page.body.contains("value=\"fx_echo\""), "{}", page.body);
    let bad = [
        ("rows", "1"),
        ("server_0", "fx"),
        ("effect_0", "maybe"),
        ("csrf_token", &csrf),
    ];
    let refused = admin.post_form(&path, &bad).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("Row 1"), "{}", refused.body);

    let bob_token = crate::users::login_with(&gw, "bob", NEW_PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let seen = tools_of(&gw, &bob_token).await;
        if !seen.is_empty() {
            break seen;
        }
        assert!(Instant::now() < deadline, "bob never saw a tool");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen, vec!["fx_echo".to_string()]);

    // Disable, then delete the backend (a confirm page first).
    let server_path = detail.clone();
    let disabled = admin
        .post_form(
            &format!("{server_path}/status"),
            &[("csrf_token", &csrf), ("enabled", "false")],
        )
        .await;
    let page = follow(&mut admin, &disabled).await;
    assert!(page.body.contains("Backend fx disabled."), "{}", page.body);
    let confirm = admin.get(&format!("{server_path}/delete")).await;
    assert!(
        confirm.body.contains("Delete the backend fx?"),
        "{}",
        confirm.body
    );
    let refused = admin.post_form(&format!("{server_path}/delete"), &[]).await;
    assert_eq!(refused.status, 403);
    let deleted = admin
        .post_form(&format!("{server_path}/delete"), &[("csrf_token", &csrf)])
        .await;
    let page = follow(&mut admin, &deleted).await;
    assert!(page.body.contains("Backend fx deleted."), "{}", page.body);
    assert!(!page.body.contains("data-server=\"fx\""));

    // Reset bob's password, revoke his sessions, then delete him (confirm page first).
    let reset = admin
        .post_form(
            &format!("/admin/users/{bob_id}/password"),
            &[("csrf_token", &csrf), ("password", "x")],
        )
        .await;
    assert_eq!(reset.status, 400, "{}", reset.body);
    let reset = admin
        .post_form(
            &format!("/admin/users/{bob_id}/password"),
            &[("csrf_token", &csrf), ("password", "Another-Passw0rd!")],
        )
        .await;
    assert!(
        follow(&mut admin, &reset)
            .await
            .body
            .contains("password of bob was reset")
    );
    let revoked = admin
        .post_form(
            &format!("/admin/users/{bob_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(
        follow(&mut admin, &revoked)
            .await
            .body
            .contains("Every session and token of bob")
    );
    let confirm = admin.get(&format!("/admin/users/{bob_id}/delete")).await;
    assert!(
        confirm.body.contains("Delete the user bob"),
        "{}",
        confirm.body
    );
    let self_delete = admin
        .post_form(
            &format!("/admin/users/{admin_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(self_delete.status, 409, "{}", self_delete.body);
    let deleted = admin
        .post_form(
            &format!("/admin/users/{bob_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    let page = follow(&mut admin, &deleted).await;
    assert!(page.body.contains("User bob deleted"), "{}", page.body);
    assert!(!page.body.contains("data-user=\"bob\""));
    fixture.kill();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn users_and_servers_pages_on_sqlite() {
    users_page(Db::Sqlite).await;
}

#[actix_rt::test]
async fn users_and_servers_pages_on_postgres() {
    users_page(Db::Postgres).await;
}

/// A config-file backend is listed read-only (no change forms) with the file it comes from, its
/// detail page is reached by its `file:<name>` id, and a forged change is refused with 409 and
/// the reason. A backend that cannot be reached is listed offline with its last error.
#[actix_rt::test]
async fn config_file_backends_are_read_only() {
    let fixture = HttpFixture::start(2);
    let closed = crate::fixture::closed_port();
    let gw = crate::harness::TestGateway::start_with(
        &format!(
            "[[backends]]\nname = \"ff\"\nurl = \"{}\"\nhealth_interval_s = 60\n\
             [[backends]]\nname = \"gone\"\nurl = \"http://127.0.0.1:{closed}/mcp\"\n",
            fixture.url()
        ),
        |c| c.rate_limit.login_max = 1000,
    )
    .await;
    crate::fixture::wait_for(gw.handle(), "ff online, gone offline with an error", |s| {
        use actors::backend::BackendState::{Offline, Online};
        let gone = crate::fixture::status(s, "gone");
        crate::fixture::status(s, "ff").is_some_and(|f| f.state == Online)
            && gone.is_some_and(|g| g.state == Offline && g.last_error.is_some())
    })
    .await;
    create_user(&gw, "admin", Role::Admin);
    let mut admin = Browser::new(&gw);
    sign_in(&mut admin, "admin").await;
    let page = admin.get("/admin/mcp-servers").await;
    let row_of = |name: &str| {
        let start = page
            .body
            .find(&format!("data-server=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} listed: {}", page.body));
        page.body[start..page.body[start..].find("</tr>").unwrap() + start].to_string()
    };
    let gone = row_of("gone");
    assert!(gone.contains("state-offline"), "{gone}");
    assert!(
        gone.contains("connection refused"),
        "the last error: {gone}"
    );
    let row = row_of("ff");
    let row = row.as_str();
    assert!(row.contains("config file"), "{row}");
    let file = gw.config_path.display().to_string().replace('/', "&#x2F;");
    assert!(row.contains(&file), "the file it comes from: {row}");
    assert!(
        !row.contains("<form"),
        "no change forms for a file backend: {row}"
    );
    assert!(
        row.contains("href=\"/admin/mcp-servers/file%3Aff\""),
        "{row}"
    );
    let detail = admin.get("/admin/mcp-servers/file%3Aff").await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(detail.body.contains("config file (read-only)"));
    let csrf = page.field("csrf_token");
    let refused = admin
        .post_form(
            "/admin/mcp-servers/file%3Aff/status",
            &[("csrf_token", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    let missing = admin.get("/admin/mcp-servers/12345").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    gw.stop().await.unwrap();
}
