//! The console's Settings and Security audit pages over HTTP, as a browser without JavaScript
//! uses them: who may see them, CSRF on every form, a runtime setting set and cleared in the
//! form taking effect (and saying it overrides the file), the reload button, bad values shown as
//! messages; a scan run from the form against the gateway itself, its report grouped with an
//! export link, the token never echoed; a scan of a configured backend chosen from the list.

use actors::storage::users::Role;

use crate::console::{Browser, Page, gateway};
use crate::postgres::Db;
use crate::users::{PASSWORD, create_user, login};

const OVERRIDE_NOTE: &str = "set in the database — overrides the file; SIGHUP keeps it";

async fn signed_in_admin(gw: &crate::harness::TestGateway) -> (Browser, String) {
    create_user(gw, "admin", Role::Admin);
    let mut browser = Browser::new(gw);
    let form = browser.get("/admin/login").await;
    let csrf = form.field("csrf_token");
    let signed_in = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf_token", &csrf),
                ("username", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let page = browser.get("/admin/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.field("csrf_token");
    (browser, csrf)
}

async fn follow(browser: &mut Browser, page: &Page) -> Page {
    assert_eq!(page.status, 303, "{}", page.body);
    browser.get(&page.header("location")).await
}

/// The runtime table's row of `key`.
fn row<'p>(page: &'p Page, key: &str) -> &'p str {
    let start = page
        .body
        .find(&format!("<tr data-key=\"{key}\">"))
        .unwrap_or_else(|| panic!("no row {key}: {}", page.body));
    let end = page.body[start..].find("</tr>").unwrap() + start;
    &page.body[start..end]
}

async fn who_may_see_them(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "alice", Role::User);
    let mut anonymous = Browser::new(&gw);
    let alice = format!("Bearer {}", login(&gw, "alice").await);
    for path in ["/admin/settings", "/admin/mcp-audit"] {
        let page = anonymous.get(path).await;
        assert_eq!(
            (page.status, page.header("location").as_str()),
            (303, "/admin/login"),
            "{path}"
        );
        let page = anonymous
            .send(
                awc::http::Method::GET,
                path,
                &[("authorization", &alice)],
                None,
            )
            .await;
        assert_eq!(page.status, 403, "{path}");
    }
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn only_administrators_see_the_settings_and_audit_pages() {
    who_may_see_them(Db::Sqlite).await;
}

async fn settings_page(db: Db) {
    let (gw, _pg) = gateway(db).await;
    let (mut admin, csrf) = signed_in_admin(&gw).await;
    let page = admin.get("/admin/settings").await;
    for part in [
        "Runtime settings",
        "Reload configuration",
        "Effective configuration",
        "built-in default",
        "auth.jwt_secret",
    ] {
        assert!(page.body.contains(part), "{part} missing");
    }
    assert!(!row(&page, "rate_limit.mcp_max").contains(OVERRIDE_NOTE));

    // Without the CSRF token nothing changes.
    let forged = admin
        .post_form(
            "/admin/settings/runtime",
            &[("key", "rate_limit.mcp_max"), ("value", "4")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let forged = admin.post_form("/admin/settings/reload", &[]).await;
    assert_eq!(forged.status, 403);

    let set = admin
        .post_form(
            "/admin/settings/runtime",
            &[
                ("csrf_token", &csrf),
                ("key", "rate_limit.mcp_max"),
                ("value", "4"),
            ],
        )
        .await;
    let page = follow(&mut admin, &set).await;
    assert!(
        page.body
            .contains("rate_limit.mcp_max is set in the database"),
        "{}",
        page.body
    );
    let mcp_row = row(&page, "rate_limit.mcp_max");
    assert!(mcp_row.contains(OVERRIDE_NOTE), "{mcp_row}");
    assert!(
        mcp_row.contains("<td class=\"effective\">4</td>"),
        "{mcp_row}"
    );
    assert!(page.body.contains("database (runtime setting)"));
    let api = admin.get("/admin/api/settings").await.json();
    assert_eq!(api["rate_limit"]["mcp_max"], 4);

    // A bad value: the page says why, nothing stored.
    let bad = admin
        .post_form(
            "/admin/settings/runtime",
            &[
                ("csrf_token", &csrf),
                ("key", "rate_limit.login_max"),
                ("value", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("rate_limit.login_max"), "{}", bad.body);
    assert!(!row(&bad, "rate_limit.login_max").contains(OVERRIDE_NOTE));

    let cleared = admin
        .post_form(
            "/admin/settings/runtime",
            &[
                ("csrf_token", &csrf),
                ("key", "rate_limit.mcp_max"),
                ("clear", "1"),
            ],
        )
        .await;
    let page = follow(&mut admin, &cleared).await;
    assert!(page.body.contains("back to the file"), "{}", page.body);
    assert!(!row(&page, "rate_limit.mcp_max").contains(OVERRIDE_NOTE));

    let reloaded = admin
        .post_form("/admin/settings/reload", &[("csrf_token", &csrf)])
        .await;
    let page = follow(&mut admin, &reloaded).await;
    assert!(
        page.body.contains("Configuration reloaded."),
        "{}",
        page.body
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_settings_page_sets_clears_and_reloads_on_sqlite() {
    settings_page(Db::Sqlite).await;
}

#[actix_rt::test]
async fn the_settings_page_sets_clears_and_reloads_on_postgres() {
    settings_page(Db::Postgres).await;
}

#[actix_rt::test]
async fn the_audit_page_scans_groups_findings_and_never_echoes_the_token() {
    let (gw, _pg) = gateway(Db::Sqlite).await;
    let (mut admin, csrf) = signed_in_admin(&gw).await;
    let page = admin.get("/admin/mcp-audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Run the scan"));

    let forged = admin
        .post_form("/admin/mcp-audit", &[("url", &gw.url("/mcp"))])
        .await;
    assert_eq!(forged.status, 403);

    let bad = admin
        .post_form(
            "/admin/mcp-audit",
            &[("csrf_token", &csrf), ("url", "ftp://nowhere")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("is not an http(s) URL"), "{}", bad.body);

    const TOKEN: &str = "scan-token-never-echoed-51c2";
    let report = admin
        .post_form(
            "/admin/mcp-audit",
            &[
                ("csrf_token", &csrf),
                ("url", &gw.url("/mcp")),
                ("token", TOKEN),
                ("timeout_s", "10"),
            ],
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(
        report.body.contains("id=\"audit-report\""),
        "{}",
        report.body
    );
    assert!(report.body.contains("download=\"mcp-audit.json\""));
    assert!(report.body.contains("href=\"data:application/json;base64,"));
    assert!(report.body.contains("(with a token)"));
    assert!(!report.body.contains(TOKEN), "the token was echoed");

    // A configured backend, chosen from the list: the scan runs against its URL.
    let fixture = crate::fixture::HttpFixture::start(1);
    let created = crate::http::post_json(
        &gw.url("/admin/api/mcp-servers"),
        Some(&login(&gw, "admin").await),
        &serde_json::json!({ "name": "fx", "url": fixture.url().as_str() }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].to_string();
    let page = admin.get("/admin/mcp-audit").await;
    assert!(
        page.body.contains(&format!("<option value=\"{id}\">fx — ")),
        "{}",
        page.body
    );
    let report = admin
        .post_form(
            "/admin/mcp-audit",
            &[("csrf_token", &csrf), ("server_id", &id), ("url", "")],
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(
        report.body.contains("id=\"audit-report\""),
        "{}",
        report.body
    );
    let target = fixture.url().to_string().replace('/', "&#x2F;");
    assert!(
        report
            .body
            .contains(&format!("Report for <code>{target}</code>")),
        "{}",
        report.body
    );
    gw.stop().await.unwrap();
}
