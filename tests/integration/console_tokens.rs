//! The console's OAuth clients and Tokens pages, and `POST /admin/api/access-token`, over HTTP
//! as a browser without JavaScript uses them: who may see them (anonymous → sign-in, a
//! non-administrator → 403), CSRF on every form, and each action taking effect against real
//! parts — a rotated secret is refused at `/oauth/token`, a deleted client's tokens at `/mcp`,
//! "Refresh now" reaches a real authorization server (a second gateway), an API token and an
//! access token from the page list tools on `/mcp`. SQLite and PostgreSQL.

use actors::storage::Database;
use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::admin_oauth_clients::{password_grant, register_confidential};
use crate::backend_oauth::{upstream, wait_token};
use crate::console::{Browser, Page};
use crate::console_pages::follow;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::postgres::{Db, database_toml};
use crate::users::{create_mcp_user, create_user, login};

async fn gateway(db: Db) -> (TestGateway, Option<crate::postgres::PgDatabase>) {
    let (database, pg) = database_toml(db);
    let config = format!("{database}[oauth]\ndcr_enabled = true\npassword_grant_enabled = true\n");
    let gw = TestGateway::start_with(&config, |c| c.rate_limit.login_max = 1000).await;
    (gw, pg)
}

async fn sign_in(gw: &TestGateway, username: &str) -> (Browser, String) {
    let mut browser = Browser::new(gw);
    crate::console_pages::sign_in(&mut browser, username).await;
    let csrf = browser.get("/admin").await.field("csrf_token");
    (browser, csrf)
}

/// The value the shown-once page gives for `name`.
fn shown(page: &Page, name: &str) -> String {
    let marker = format!("data-secret=\"{name}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} shown: {}", page.body))
        + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].to_string()
}

/// The `<tr>` whose attribute `attribute` is `value`.
fn row<'a>(page: &'a Page, attribute: &str, value: &str) -> &'a str {
    let start = page
        .body
        .find(&format!("{attribute}=\"{value}\""))
        .unwrap_or_else(|| panic!("no row {value}: {}", page.body));
    let end = page.body[start..].find("</tr>").unwrap() + start;
    &page.body[start..end]
}

/// `text` as the pages' templates escape it (tera escapes `/` too).
fn html(text: &str) -> String {
    text.replace('/', "&#x2F;")
}

fn encoded(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn oauth_clients_page(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "root", Role::Admin);
    let alice_id = create_mcp_user(&gw, "alice").await;
    let (client_id, old_secret) = register_confidential(&gw).await;
    let public = http::post_json(
        &gw.url("/oauth/register"),
        None,
        &json!({"redirect_uris": ["http://127.0.0.1:4100/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(public.status, 201, "{}", public.body);
    let public_id = public.body["client_id"].as_str().unwrap().to_string();
    let page_of = |id: &str| format!("/admin/oauth-clients/{}", encoded(id));

    // Not signed in: the sign-in page; a non-administrator: 403 and no change.
    let mut anonymous = Browser::new(&gw);
    for path in ["/admin/oauth-clients".to_string(), page_of(&client_id)] {
        let page = anonymous.get(&path).await;
        assert_eq!(
            (page.status, page.header("location").as_str()),
            (303, "/admin/login"),
            "{path}"
        );
    }
    let alice = format!("Bearer {}", login(&gw, "alice").await);
    let as_alice = anonymous
        .send(
            awc::http::Method::GET,
            "/admin/oauth-clients",
            &[("authorization", &alice)],
            None,
        )
        .await;
    assert_eq!(as_alice.status, 403, "{}", as_alice.body);
    let as_alice = anonymous
        .send(
            awc::http::Method::POST,
            &format!("{}/rotate-secret", page_of(&client_id)),
            &[("authorization", &alice)],
            Some(("application/x-www-form-urlencoded", Vec::new())),
        )
        .await;
    assert_eq!(as_alice.status, 403, "{}", as_alice.body);

    // A token issued to the client (its last use) and a consent alice gave it.
    let granted = password_grant(&gw, &client_id, &old_secret).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    let access = granted.body["access_token"].as_str().unwrap().to_string();
    let db_handle = Database::connect(&gw.config.database.url, 1).unwrap();
    let (cid, resource) = (client_id.clone(), gw.url("/mcp"));
    db_handle
        .run_blocking(move |c| {
            actors::storage::oauth_consents::store(c, alice_id, &cid, &resource, "mcp")
        })
        .unwrap();

    let (mut admin, csrf) = sign_in(&gw, "root").await;
    // Last use is written off the request path: wait until the list shows it.
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    let list = loop {
        let list = admin.get("/admin/oauth-clients").await;
        assert_eq!(list.status, 200, "{}", list.body);
        if !row(&list, "data-client", &client_id).contains("never") {
            break list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "last use never shown: {}",
            list.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        list.body
            .contains("href=\"/admin/oauth-clients\" aria-current=\"page\"")
    );
    let line = row(&list, "data-client", &client_id);
    assert!(line.contains("Backup robot"), "{line}");
    assert!(line.contains("confidential"), "{line}");
    assert!(
        line.contains(&html("https://robot.example.test/cb")),
        "{line}"
    );
    assert!(
        line.contains("<td class=\"num\">1</td>"),
        "one consent: {line}"
    );
    let line = row(&list, "data-client", &public_id);
    assert!(line.contains("public"), "{line}");
    assert!(line.contains("never"), "{line}");
    assert!(!list.body.contains(&old_secret));

    let detail = admin.get(&page_of(&client_id)).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let consent = row(&detail, "data-consent-user", "alice");
    assert!(consent.contains(&html(&gw.url("/mcp"))), "{consent}");
    assert!(detail.body.contains("Rotate secret"));
    let public_detail = admin.get(&page_of(&public_id)).await;
    assert!(!public_detail.body.contains("Rotate secret"));
    assert_eq!(admin.get(&page_of("nope")).await.status, 404);

    // CSRF: without the token (or with a forged one) nothing changes.
    let rotate = format!("{}/rotate-secret", page_of(&client_id));
    for fields in [vec![], vec![("csrf_token", "forged")]] {
        let refused = admin.post_form(&rotate, &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("Form expired"), "{}", refused.body);
    }
    assert_eq!(
        password_grant(&gw, &client_id, &old_secret).await.status,
        200
    );

    // Rotation: the new secret on the answer page only; the old one stops working.
    let rotated = admin.post_form(&rotate, &[("csrf_token", &csrf)]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = shown(&rotated, "client_secret");
    assert_ne!(new_secret, old_secret);
    let refused = password_grant(&gw, &client_id, &old_secret).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(
        password_grant(&gw, &client_id, &new_secret).await.status,
        200
    );
    let again = admin.get(&page_of(&client_id)).await;
    assert!(
        !again.body.contains(&new_secret),
        "the secret is shown again"
    );
    assert!(
        !admin
            .get("/admin/oauth-clients")
            .await
            .body
            .contains(&new_secret)
    );
    let public_rotate = admin
        .post_form(
            &format!("{}/rotate-secret", page_of(&public_id)),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(public_rotate.status, 409, "{}", public_rotate.body);

    // Forget consents.
    let forgotten = admin
        .post_form(
            &format!("{}/forget-consents", page_of(&client_id)),
            &[("csrf_token", &csrf)],
        )
        .await;
    let page = follow(&mut admin, &forgotten).await;
    assert!(page.body.contains("were forgotten"), "{}", page.body);
    assert!(!page.body.contains("data-consent-user"), "{}", page.body);

    // Delete: a confirm page first, then its tokens stop working at once.
    let delete = format!("{}/delete", page_of(&client_id));
    let confirm = admin.get(&delete).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm
            .body
            .contains("Delete the OAuth client Backup robot"),
        "{}",
        confirm.body
    );
    assert_eq!(admin.post_form(&delete, &[]).await.status, 403);
    assert_ne!(http::get(&gw.url("/mcp"), Some(&access)).await.status, 401);
    let deleted = admin.post_form(&delete, &[("csrf_token", &csrf)]).await;
    let page = follow(&mut admin, &deleted).await;
    assert!(
        page.body.contains("OAuth client Backup robot deleted"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&format!("data-client=\"{client_id}\"")));
    assert_eq!(http::get(&gw.url("/mcp"), Some(&access)).await.status, 401);
    assert_eq!(admin.get(&page_of(&client_id)).await.status, 404);
    gw.stop().await.unwrap();
}

/// How many tools `token` gets from one `tools/list` on `/mcp`.
async fn tools_listed(gw: &TestGateway, token: &str) -> usize {
    let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
    client.initialize("2025-06-18").await;
    let reply = client.request(2, "tools/list", json!({})).await;
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {reply}"))
        .len()
}

/// Waits until `token` lists at least one tool on `/mcp` (the routing table follows the
/// backends asynchronously).
async fn wait_for_some_tools(gw: &TestGateway, token: &str) {
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    while tools_listed(gw, token).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never saw a tool");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn tokens_page(db: Db) {
    let up = upstream().await;
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "root", Role::Admin);
    create_user(&gw, "bob", Role::User);
    let root = login(&gw, "root").await;
    // An OAuth backend whose authorization server is the upstream gateway.
    let created = http::post_json(
        &gw.url("/admin/api/mcp-servers"),
        Some(&root),
        &json!({
            "name": "remote",
            "url": up.gw.url("/mcp"),
            "auth_type": "oauth_client_credentials",
            "client_id": up.client_id,
            "client_secret": up.client_secret,
            "scope": "mcp:tools",
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let credential = gw
        .handle()
        .upstream("remote")
        .expect("the backend runs")
        .credential()
        .clone();
    let mut attempts = credential.subscribe_attempts().expect("an OAuth backend");
    wait_token(&credential, &mut attempts, "a first token", |s| {
        s.last_refresh_ms.is_some()
    })
    .await;

    // Not signed in / not an administrator.
    let mut anonymous = Browser::new(&gw);
    let page = anonymous.get("/admin/mcp-tokens").await;
    assert_eq!(page.status, 303);
    let bob = format!("Bearer {}", login(&gw, "bob").await);
    for (method, path) in [
        (awc::http::Method::GET, "/admin/mcp-tokens"),
        (awc::http::Method::POST, "/admin/mcp-tokens/access-token"),
        (awc::http::Method::POST, "/admin/mcp-tokens/api-tokens"),
    ] {
        let body = (method == awc::http::Method::POST)
            .then(|| ("application/x-www-form-urlencoded", b"name=x".to_vec()));
        let page = anonymous
            .send(method, path, &[("authorization", &bob)], body)
            .await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }

    let (mut admin, csrf) = sign_in(&gw, "root").await;
    let page = admin.get("/admin/mcp-tokens").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/admin/mcp-tokens\" aria-current=\"page\"")
    );
    let line = row(&page, "data-credential", "remote");
    assert!(line.contains("oauth_client_credentials"), "{line}");
    // The state itself moves every few seconds (short-lived upstream tokens): shown, whatever it is.
    assert!(line.contains("class=\"state state-"), "{line}");
    // The upstream's tokens live seconds: well within a day, so highlighted.
    assert!(line.contains("expiring-soon"), "{line}");
    assert!(line.contains("Refresh now"), "{line}");
    assert!(!page.body.contains(&up.client_secret));
    // The dashboard warns about the same token.
    let dash = admin.get("/admin").await;
    let warnings = &dash.body[dash.body.find("<h2>Token expiry warnings</h2>").unwrap()..];
    let warnings = &warnings[..warnings.find("</section>").unwrap()];
    assert!(warnings.contains("<tr><td>remote</td>"), "{warnings}");
    assert!(!dash.body.contains(&up.client_secret));

    // Refresh now: CSRF first, then the token loop asks the real authorization server again.
    let refresh = format!(
        "/admin/mcp-tokens/servers/{}/refresh",
        created.body["id"].as_i64().unwrap()
    );
    assert_eq!(admin.post_form(&refresh, &[]).await.status, 403);
    let before = credential.stats().refresh_ok;
    let asked = admin.post_form(&refresh, &[("csrf_token", &csrf)]).await;
    let page = follow(&mut admin, &asked).await;
    assert!(
        page.body.contains("Token refresh of remote started"),
        "{}",
        page.body
    );
    wait_token(&credential, &mut attempts, "a refreshed token", |_| {
        credential.stats().refresh_ok > before
    })
    .await;
    let missing = admin
        .post_form(
            "/admin/mcp-tokens/servers/12345/refresh",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    // Get an access token: shown once, works on /mcp.
    assert_eq!(
        admin
            .post_form("/admin/mcp-tokens/access-token", &[])
            .await
            .status,
        403
    );
    let issued = admin
        .post_form("/admin/mcp-tokens/access-token", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert!(
        issued.body.contains(&html(&gw.url("/mcp"))),
        "{}",
        issued.body
    );
    let access = shown(&issued, "access_token");
    wait_for_some_tools(&gw, &access).await;
    assert!(!admin.get("/admin/mcp-tokens").await.body.contains(&access));

    // API tokens: a bad lifetime is refused with the reason; a good one is shown once and
    // works on /mcp until revoked.
    let refused = admin
        .post_form(
            "/admin/mcp-tokens/api-tokens",
            &[("csrf_token", &csrf), ("name", "ci"), ("expires_days", "0")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("Expires_days"), "{}", refused.body);
    assert_eq!(
        admin
            .post_form("/admin/mcp-tokens/api-tokens", &[("name", "ci")])
            .await
            .status,
        403
    );
    let made = admin
        .post_form(
            "/admin/mcp-tokens/api-tokens",
            &[("csrf_token", &csrf), ("name", "ci"), ("expires_days", "7")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let api_token = shown(&made, "api_token");
    wait_for_some_tools(&gw, &api_token).await;
    let page = admin.get("/admin/mcp-tokens").await;
    let line = row(&page, "data-api-token", "ci").to_string();
    assert!(line.contains("active"), "{line}");
    assert!(!page.body.contains(&api_token), "the token is listed");
    let start = line.find("/admin/mcp-tokens/api-tokens/").unwrap();
    let end = line[start..].find('"').unwrap() + start;
    let revoke = line[start..end].to_string();
    // Another user's token is not revoked from this page.
    let bob_id = created_token_of(&gw, &root, "bob").await;
    let others = admin
        .post_form(
            &format!("/admin/mcp-tokens/api-tokens/{bob_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(others.status, 404, "{}", others.body);
    let revoked = admin.post_form(&revoke, &[("csrf_token", &csrf)]).await;
    let page = follow(&mut admin, &revoked).await;
    assert!(page.body.contains("API token ci revoked"), "{}", page.body);
    assert!(row(&page, "data-api-token", "ci").contains("revoked"));
    assert_eq!(
        http::get(&gw.url("/mcp"), Some(&api_token)).await.status,
        401
    );

    // The admin API's access-token: bearer, cookie with CSRF, never a non-admin.
    let api = http::post_json(&gw.url("/admin/api/access-token"), Some(&root), &json!({})).await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(api.body["token_type"], "Bearer");
    assert!(api.body["expires_in"].as_u64().unwrap() > 0, "{}", api.body);
    assert!(api.body["refresh_token"].is_string(), "{}", api.body);
    wait_for_some_tools(&gw, api.body["access_token"].as_str().unwrap()).await;
    let no_csrf = admin
        .post_json("/admin/api/access-token", &[], json!({}))
        .await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    assert_eq!(no_csrf.json()["error"], "csrf_failed");
    let cookie_csrf = admin.cookie("csrf_token").unwrap().to_string();
    let with_csrf = admin
        .post_json(
            "/admin/api/access-token",
            &[("x-csrf-token", &cookie_csrf)],
            json!({}),
        )
        .await;
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.body);
    let as_bob = http::post_json(
        &gw.url("/admin/api/access-token"),
        Some(bob.trim_start_matches("Bearer ")),
        &json!({}),
    )
    .await;
    assert_eq!(as_bob.status, 403, "{}", as_bob.body);

    // Each issuance is a token_issued auth event of root (the page's, the API's twice).
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    loop {
        let trail = http::get(
            &gw.url("/admin/api/mcp-requests?kind=auth&user=root"),
            Some(&root),
        )
        .await;
        let issued: Vec<&Value> = trail.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["event"] == "token_issued")
            .collect();
        if issued.len() >= 3 {
            assert_eq!(issued.len(), 3, "{issued:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "token_issued missing: {}",
            trail.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    gw.stop().await.unwrap();
}

/// Creates an API token for `username` through the admin API; its id.
async fn created_token_of(gw: &TestGateway, root: &str, username: &str) -> i64 {
    let made = http::post_json(
        &gw.url("/admin/api/api-tokens"),
        Some(root),
        &json!({"username": username, "name": "theirs"}),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body["id"].as_i64().unwrap()
}

crate::on_both_databases!(oauth_clients_page, tokens_page);
