//! `/admin/api/oauth-clients`, `/admin/api/stats`, `/admin/api/settings` and
//! `/admin/api/openapi.json` against the real gateway on SQLite and PostgreSQL: clients
//! registered through `POST /oauth/register`, listed, their secret rotated (the old one stops
//! working), consents listed and forgotten, the client deleted (its tokens stop working at once);
//! a non-admin gets 403 everywhere.

use actors::storage::Database;
use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::harness::TestGateway;
use crate::http;
use crate::oauth_flow::post_form;
use crate::postgres::{Db, PgDatabase, database_toml};
use crate::users::{PASSWORD, create_mcp_user, create_user, login};

const CLIENTS: &str = "/admin/api/oauth-clients";
const JWT_SECRET: &str = "jwt-secret-that-must-never-be-shown-0123456789abcdef";

async fn gateway(db: Db) -> (TestGateway, Option<PgDatabase>, String) {
    let (database, guard) = database_toml(db);
    let config = format!("{database}[oauth]\ndcr_enabled = true\npassword_grant_enabled = true\n");
    let gw = TestGateway::start_with(&config, |c| {
        c.auth.jwt_secret = Some(JWT_SECRET.to_string());
    })
    .await;
    create_user(&gw, "root", Role::Admin);
    let root = login(&gw, "root").await;
    (gw, guard, root)
}

pub(crate) async fn register_confidential(gw: &TestGateway) -> (String, String) {
    let reply = send(
        "POST",
        &gw.url("/oauth/register"),
        None,
        Some(&json!({
            "client_name": "Backup robot",
            "redirect_uris": ["https://robot.example.test/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
        })),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    (
        reply.body["client_id"].as_str().unwrap().to_string(),
        reply.body["client_secret"].as_str().unwrap().to_string(),
    )
}

/// The password grant authenticating as the client: 200 with tokens, or the error reply.
pub(crate) async fn password_grant(gw: &TestGateway, client_id: &str, secret: &str) -> http::Reply {
    post_form(
        &gw.url("/oauth/token"),
        Some((client_id, secret)),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await
}

fn client_in<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
}

async fn clients_are_listed_rotated_and_deleted_with_their_grants(db: Db) {
    let (gw, _pg, root) = gateway(db).await;
    let alice_id = create_mcp_user(&gw, "alice").await;
    let (client_id, old_secret) = register_confidential(&gw).await;
    let public = send(
        "POST",
        &gw.url("/oauth/register"),
        None,
        Some(&json!({
            "redirect_uris": ["http://127.0.0.1:4100/cb"],
            "token_endpoint_auth_method": "none",
        })),
    )
    .await;
    assert_eq!(public.status, 201, "{}", public.body);
    let public_id = public.body["client_id"].as_str().unwrap();

    // The list shows what was registered and how, never a secret or its digest.
    let list = send("GET", &gw.url(CLIENTS), Some(&root), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let shown = client_in(&list.body, &client_id).expect("client listed");
    assert_eq!(shown["client_name"], "Backup robot");
    assert_eq!(shown["client_type"], "confidential");
    assert_eq!(shown["registered_by"], "dcr");
    assert_eq!(shown["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        shown["redirect_uris"],
        json!(["https://robot.example.test/cb"])
    );
    assert_eq!(
        client_in(&list.body, public_id).unwrap()["client_type"],
        "public"
    );
    let text = list.body.to_string();
    assert!(!text.contains(&old_secret), "{text}");
    assert!(!text.contains(&actors::auth::clients::sha256_hex(&old_secret)));
    assert!(!text.contains("secret_hash"), "{text}");
    let one = send(
        "GET",
        &gw.url(&format!("{CLIENTS}/{client_id}")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["client_id"], client_id.as_str());
    let none = send(
        "GET",
        &gw.url(&format!("{CLIENTS}/nope")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(none.status, 404, "{}", none.body);
    assert_eq!(none.body["error"], "not_found");

    // Rotation: the new secret works, the old one no longer does; public clients have none.
    assert_eq!(
        password_grant(&gw, &client_id, &old_secret).await.status,
        200
    );
    let rotated = send(
        "POST",
        &gw.url(&format!("{CLIENTS}/{client_id}/rotate-secret")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    let refused = password_grant(&gw, &client_id, &old_secret).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.body["error"], "invalid_client");
    let granted = password_grant(&gw, &client_id, &new_secret).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    let access = granted.body["access_token"].as_str().unwrap().to_string();
    let no_secret = send(
        "POST",
        &gw.url(&format!("{CLIENTS}/{public_id}/rotate-secret")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(no_secret.status, 409, "{}", no_secret.body);

    // Consents: one remembered, as the consent page stores it; listed, then forgotten.
    let db_handle = Database::connect(&gw.config.database.url, 1).unwrap();
    let (cid, resource) = (client_id.clone(), gw.url("/mcp"));
    db_handle
        .run_blocking(move |c| {
            actors::storage::oauth_consents::store(c, alice_id, &cid, &resource, "mcp")
        })
        .unwrap();
    let consents_url = gw.url(&format!("{CLIENTS}/{client_id}/consents"));
    let consents = send("GET", &consents_url, Some(&root), None).await;
    assert_eq!(consents.status, 200, "{}", consents.body);
    assert_eq!(consents.body["consents"][0]["username"], "alice");
    assert_eq!(consents.body["consents"][0]["scope"], "mcp");
    let forgotten = send("DELETE", &consents_url, Some(&root), None).await;
    assert_eq!(forgotten.body["forgotten"], 1, "{}", forgotten.body);
    let after = send("GET", &consents_url, Some(&root), None).await;
    assert_eq!(after.body["consents"], json!([]));

    // Deleting the client revokes what was issued to it before the call returns, and takes
    // its remembered consents with it.
    let (cid, resource) = (client_id.clone(), gw.url("/mcp"));
    db_handle
        .run_blocking(move |c| {
            actors::storage::oauth_consents::store(c, alice_id, &cid, &resource, "mcp")
        })
        .unwrap();
    assert_ne!(http::get(&gw.url("/mcp"), Some(&access)).await.status, 401);
    let deleted = send(
        "DELETE",
        &gw.url(&format!("{CLIENTS}/{client_id}")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(
        deleted.body["revoked_sessions"].as_u64().unwrap() >= 2,
        "{}",
        deleted.body
    );
    assert_eq!(http::get(&gw.url("/mcp"), Some(&access)).await.status, 401);
    let (cid, resource) = (client_id.clone(), gw.url("/mcp"));
    let left = db_handle
        .run_blocking(move |c| actors::storage::oauth_consents::find(c, alice_id, &cid, &resource))
        .unwrap();
    assert_eq!(left, None, "the client's consents outlived it");
    let gone = send(
        "GET",
        &gw.url(&format!("{CLIENTS}/{client_id}")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    let again = send(
        "DELETE",
        &gw.url(&format!("{CLIENTS}/{client_id}")),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    gw.stop().await.unwrap();
}

async fn stats_settings_and_the_openapi_document(db: Db) {
    let (gw, _pg, root) = gateway(db).await;
    create_user(&gw, "bob", Role::User);

    let stats = send("GET", &gw.url("/admin/api/stats"), Some(&root), None).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let s = &stats.body;
    assert_eq!(s["users"], json!({"total": 2, "enabled": 2, "admins": 1}));
    assert_eq!(s["backends"]["total"], 0);
    assert!(s["sessions"]["active"].as_i64().unwrap() >= 1, "{s}");
    assert!(s["requests_24h"]["total"].is_u64(), "{s}");
    assert!(
        s["security_events_24h"]["by_severity"]["high"].is_u64(),
        "{s}"
    );
    assert_eq!(s["backend_tokens_expiring_24h"]["count"], 0);
    assert_eq!(s["unavailable"], json!([]));

    let settings = send("GET", &gw.url("/admin/api/settings"), Some(&root), None).await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert_eq!(settings.body["auth"]["jwt_secret"], "********");
    assert_eq!(settings.body["oauth"]["dcr_enabled"], true);
    // Where each value came from (the runtime_settings tests check the kinds themselves).
    assert!(
        settings.body["sources"]["oauth.dcr_enabled"]["kind"].is_string(),
        "{}",
        settings.body
    );
    let text = settings.body.to_string();
    assert!(!text.contains(JWT_SECRET), "{text}");
    if db == Db::Postgres {
        assert!(
            settings.body["database"]["url"]
                .as_str()
                .unwrap()
                .starts_with("postgres")
        );
    }

    let doc = send("GET", &gw.url("/admin/api/openapi.json"), Some(&root), None).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/admin/api/oauth-clients/{id}/rotate-secret"]["post"].is_object());

    // A non-admin gets 403 on every new route.
    let bob = login(&gw, "bob").await;
    for (method, path) in [
        ("GET", CLIENTS.to_string()),
        ("GET", format!("{CLIENTS}/x")),
        ("DELETE", format!("{CLIENTS}/x")),
        ("POST", format!("{CLIENTS}/x/rotate-secret")),
        ("GET", format!("{CLIENTS}/x/consents")),
        ("DELETE", format!("{CLIENTS}/x/consents")),
        ("GET", "/admin/api/stats".into()),
        ("GET", "/admin/api/settings".into()),
        ("GET", "/admin/api/openapi.json".into()),
    ] {
        let reply = send(method, &gw.url(&path), Some(&bob), None).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
        let anonymous = send(method, &gw.url(&path), None, None).await;
        assert_eq!(anonymous.status, 401, "{method} {path}: {}", anonymous.body);
    }
    // And on every route the OpenAPI document lists (a unit test keeps that document equal to
    // the registered routes), so a route added later cannot forget the admin check.
    let paths = doc.body["paths"].as_object().expect("paths");
    assert!(paths.len() > 40, "{}", doc.body);
    let mut checked = 0;
    for (template, operations) in paths {
        if template == "/admin/api/login" {
            continue; // the console's sign-in: public by design
        }
        let path = template
            .replace("{id}", "1")
            .replace("{user_id}", "1")
            .replace("{name}", "x");
        for method in operations.as_object().expect("operations").keys() {
            let method = method.to_uppercase();
            let reply = send(&method, &gw.url(&path), Some(&bob), Some(&json!({}))).await;
            assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
            let anonymous = send(&method, &gw.url(&path), None, Some(&json!({}))).await;
            assert_eq!(anonymous.status, 401, "{method} {path}: {}", anonymous.body);
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} operations checked");
    gw.stop().await.unwrap();
}

/// `GET /admin/api/settings` shows the configuration a SIGHUP reload applied.
async fn settings_follow_a_reload(db: Db) {
    let (database, _pg) = database_toml(db);
    let mut gw = TestGateway::start(&database).await;
    create_user(&gw, "root", Role::Admin);
    let root = login(&gw, "root").await;
    let before = send("GET", &gw.url("/admin/api/settings"), Some(&root), None).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_ne!(before.body["rate_limit"]["login_max"], 7);
    let outcome = gw
        .reload_with(&format!("{database}[rate_limit]\nlogin_max = 7\n"))
        .await;
    assert_eq!(outcome.reloads_applied, 1, "{outcome:?}");
    let after = send("GET", &gw.url("/admin/api/settings"), Some(&root), None).await;
    assert_eq!(after.body["rate_limit"]["login_max"], 7, "{}", after.body);
    gw.stop().await.unwrap();
}

crate::on_both_databases!(
    clients_are_listed_rotated_and_deleted_with_their_grants,
    stats_settings_and_the_openapi_document,
    settings_follow_a_reload,
);
