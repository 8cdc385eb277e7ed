//! Dynamic client registration end to end: RFC 7591 `POST /oauth/register` and RFC 7592
//! management, against the real gateway on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::harness::TestGateway;
use crate::http::{self, Reply};
use crate::on_both_databases;
use crate::postgres::{Db, PgDatabase, database_toml};

const INITIAL_TOKEN: &str = "initial-access-token-5f2c9b1e";

/// A gateway on `db` with `oauth` appended to its `[oauth]` section.
async fn gateway(db: Db, oauth: &str) -> (TestGateway, Option<PgDatabase>) {
    let (database, guard) = database_toml(db);
    let gw = TestGateway::start(&format!("{database}[oauth]\n{oauth}\n")).await;
    (gw, guard)
}

/// Any method, an optional bearer token and an optional JSON body.
async fn send(method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> Reply {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let mut response = match body {
        Some(body) => request.send_json(body).await,
        None => request.send().await,
    }
    .expect("request failed");
    let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn register(gw: &TestGateway, bearer: Option<&str>, metadata: Value) -> Reply {
    send("POST", &gw.url("/oauth/register"), bearer, Some(&metadata)).await
}

fn public_client() -> Value {
    json!({
        "client_name": "Test CLI",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "mcp offline_access",
        "software_id": "test-cli",
    })
}

fn assert_oauth_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"], code, "{}", reply.body);
    assert!(
        reply.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
}

async fn public_and_confidential_registration_and_management(db: Db) {
    let (gw, _pg) = gateway(db, "").await;

    let public = register(&gw, None, public_client()).await;
    assert_eq!(public.status, 201, "{}", public.body);
    let p = &public.body;
    let client_id = p["client_id"].as_str().unwrap().to_string();
    assert!(client_id.len() >= 20, "{client_id}");
    assert!(p["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(
        p.get("client_secret").is_none(),
        "public clients get no secret: {p}"
    );
    assert!(p.get("client_secret_expires_at").is_none(), "{p}");
    assert_eq!(p["token_endpoint_auth_method"], "none");
    assert_eq!(
        p["redirect_uris"],
        json!(["http://127.0.0.1:33418/callback"])
    );
    assert_eq!(
        p["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(p["response_types"], json!(["code"]));
    assert_eq!(p["client_name"], "Test CLI");
    assert_eq!(p["scope"], "mcp offline_access");
    assert_eq!(
        p["software_id"], "test-cli",
        "unknown-to-us metadata is kept: {p}"
    );
    let rat = p["registration_access_token"].as_str().unwrap().to_string();
    let uri = p["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(uri, gw.url(&format!("/oauth/register/{client_id}")));
    assert_eq!(public.header("cache-control").as_deref(), Some("no-store"));

    let confidential = register(
        &gw,
        None,
        json!({
            "client_name": "Web app",
            "redirect_uris": ["https://app.example.com/oauth/callback"],
            "token_endpoint_auth_method": "client_secret_basic",
        }),
    )
    .await;
    assert_eq!(confidential.status, 201, "{}", confidential.body);
    let c = &confidential.body;
    assert!(c["client_secret"].as_str().unwrap().len() >= 40, "{c}");
    assert_eq!(c["client_secret_expires_at"], 0);
    assert_ne!(c["client_id"], p["client_id"]);

    // The secret is usable through the registry the token endpoint will call.
    let state = gw.state.as_ref().unwrap();
    let conf_id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    use actors::auth::client_metadata::AuthMethod;
    let clients = &state.oauth.clients;
    assert!(
        clients
            .authenticate_client(conf_id, Some(secret), AuthMethod::ClientSecretBasic)
            .await
            .is_ok()
    );
    assert!(
        clients
            .authenticate_client(conf_id, Some("wrong"), AuthMethod::ClientSecretBasic)
            .await
            .is_err()
    );
    assert!(
        clients
            .authenticate_client(&client_id, None, AuthMethod::None)
            .await
            .is_ok()
    );

    // RFC 7592 read: with the registration access token only.
    let read = send("GET", &uri, Some(&rat), None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["client_id"], client_id.as_str());
    assert_eq!(read.body["registration_client_uri"], uri.as_str());
    assert!(read.body.get("registration_access_token").is_none());
    for bearer in [
        None,
        Some("wrong-token"),
        Some(c["registration_access_token"].as_str().unwrap()),
    ] {
        let refused = send("GET", &uri, bearer, None).await;
        assert_oauth_error(&refused, 401, "invalid_token");
        assert!(
            refused
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
    }
    let unknown = send(
        "GET",
        &gw.url("/oauth/register/no-such-client"),
        Some(&rat),
        None,
    )
    .await;
    assert_oauth_error(&unknown, 401, "invalid_token");

    // RFC 7592 update: the body replaces the metadata.
    let mut changed = public_client();
    changed["client_id"] = json!(client_id);
    changed["client_name"] = json!("Renamed CLI");
    changed["redirect_uris"] = json!(["http://localhost:9000/cb", "com.example.cli:/cb"]);
    let updated = send("PUT", &uri, Some(&rat), Some(&changed)).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["client_name"], "Renamed CLI");
    assert_eq!(updated.body["redirect_uris"][1], "com.example.cli:/cb");
    let again = send("GET", &uri, Some(&rat), None).await;
    assert_eq!(again.body["client_name"], "Renamed CLI");
    let client = clients.get(&client_id).await.unwrap().unwrap();
    assert!(client.redirect_uri_allowed("http://localhost:61234/cb"));
    assert!(!client.redirect_uri_allowed("http://127.0.0.1:33418/callback"));

    let wrong_token = send("PUT", &uri, Some("nope"), Some(&changed)).await;
    assert_oauth_error(&wrong_token, 401, "invalid_token");
    let mut other_id = changed.clone();
    other_id["client_id"] = json!("someone-else");
    assert_oauth_error(
        &send("PUT", &uri, Some(&rat), Some(&other_id)).await,
        400,
        "invalid_client_metadata",
    );
    let mut to_confidential = changed.clone();
    to_confidential["token_endpoint_auth_method"] = json!("client_secret_post");
    let refused = send("PUT", &uri, Some(&rat), Some(&to_confidential)).await;
    assert_oauth_error(&refused, 400, "invalid_client_metadata");
    let mut bad_uri = changed.clone();
    bad_uri["redirect_uris"] = json!(["https://app.example.com/*"]);
    assert_oauth_error(
        &send("PUT", &uri, Some(&rat), Some(&bad_uri)).await,
        400,
        "invalid_redirect_uri",
    );

    // RFC 7592 delete: wrong token refused, right token removes it for good.
    assert_oauth_error(
        &send("DELETE", &uri, Some("nope"), None).await,
        401,
        "invalid_token",
    );
    let deleted = send("DELETE", &uri, Some(&rat), None).await;
    assert_eq!(deleted.status, 204);
    assert_oauth_error(
        &send("GET", &uri, Some(&rat), None).await,
        401,
        "invalid_token",
    );
    assert!(clients.get(&client_id).await.unwrap().is_none());
    assert_eq!(
        clients.list().await.unwrap().len(),
        1,
        "the confidential client remains"
    );
    gw.stop().await.unwrap();
}

async fn bad_metadata_is_refused_with_the_rfc_error_code(db: Db) {
    // Enough registrations per IP for every case below.
    let (gw, _pg) = gateway(db, "dcr_max_per_ip = 100").await;
    let with = |field: &str, value: Value| {
        let mut m = public_client();
        m[field] = value;
        m
    };
    let cases = [
        (
            with("redirect_uris", json!(["https://app.example.com/cb#frag"])),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            with("redirect_uris", json!(["http://app.example.com/cb"])),
            "invalid_redirect_uri",
            "non-loopback",
        ),
        (
            with("redirect_uris", json!(["https://*.example.com/cb"])),
            "invalid_redirect_uri",
            "wildcard",
        ),
        (
            with("redirect_uris", json!(["cb"])),
            "invalid_redirect_uri",
            "absolute",
        ),
        (
            with("redirect_uris", json!([])),
            "invalid_redirect_uri",
            "at least one",
        ),
        (
            with("grant_types", json!(["password"])),
            "invalid_client_metadata",
            "password",
        ),
        (
            with("grant_types", json!(["client_credentials"])),
            "invalid_client_metadata",
            "confidential",
        ),
        (
            with("response_types", json!(["token"])),
            "invalid_client_metadata",
            "token",
        ),
        (
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            "invalid_client_metadata",
            "private_key_jwt",
        ),
        (
            with("client_name", json!(42)),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            json!(["not", "an", "object"]),
            "invalid_client_metadata",
            "JSON object",
        ),
    ];
    for (metadata, code, words) in cases {
        let reply = register(&gw, None, metadata.clone()).await;
        assert_oauth_error(&reply, 400, code);
        let detail = reply.body["error_description"].as_str().unwrap();
        assert!(detail.contains(words), "{metadata} → {detail}");
    }
    // Anonymous callers cannot register machine clients, even confidential ones.
    let machine = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"});
    let reply = register(&gw, None, machine).await;
    assert_oauth_error(&reply, 400, "invalid_client_metadata");
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("initial access token")
    );

    let not_json = http::post_raw(
        &gw.url("/oauth/register"),
        None,
        "application/json",
        b"{oops".to_vec(),
    )
    .await;
    assert_oauth_error(&not_json, 400, "invalid_client_metadata");
    let form = http::post_raw(
        &gw.url("/oauth/register"),
        None,
        "application/x-www-form-urlencoded",
        b"a=b".to_vec(),
    )
    .await;
    assert_oauth_error(&form, 400, "invalid_client_metadata");
    // Over the 16 KiB metadata limit, yet small enough to sit in the socket buffer whole.
    let huge = vec![b' '; 20 * 1024];
    let too_big = http::post_raw(&gw.url("/oauth/register"), None, "application/json", huge).await;
    assert_oauth_error(&too_big, 413, "invalid_request");
    assert!(
        gw.state
            .as_ref()
            .unwrap()
            .oauth
            .clients
            .list()
            .await
            .unwrap()
            .is_empty()
    );
    gw.stop().await.unwrap();
}

async fn the_initial_access_token_gates_registration(db: Db) {
    let (gw, _pg) = gateway(db, &format!("dcr_initial_access_token = {INITIAL_TOKEN:?}")).await;
    for bearer in [None, Some("wrong-initial-token-000000")] {
        let reply = register(&gw, bearer, public_client()).await;
        assert_oauth_error(&reply, 401, "invalid_token");
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let ok = register(&gw, Some(INITIAL_TOKEN), public_client()).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // With the token, machine clients may be registered.
    let machine = register(
        &gw,
        Some(INITIAL_TOKEN),
        json!({"client_name": "cron", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    assert_eq!(machine.status, 201, "{}", machine.body);
    assert_eq!(machine.body["grant_types"], json!(["client_credentials"]));
    assert_eq!(machine.body["response_types"], json!([]));
    assert!(machine.body["client_secret"].is_string());
    gw.stop().await.unwrap();
}

async fn registrations_are_rate_limited_per_ip(db: Db) {
    let (gw, _pg) = gateway(db, "dcr_max_per_ip = 2\ndcr_window_s = 3600").await;
    for _ in 0..2 {
        assert_eq!(register(&gw, None, public_client()).await.status, 201);
    }
    let limited = register(&gw, None, public_client()).await;
    assert_oauth_error(&limited, 429, "too_many_requests");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    // Two slots per hour: the next one frees up in about half an hour.
    assert!((1..=1800).contains(&retry_after), "{retry_after}");
    // Malformed bodies count too: the limit is checked before the body is read.
    let still = http::post_raw(
        &gw.url("/oauth/register"),
        None,
        "application/json",
        b"{".to_vec(),
    )
    .await;
    assert_eq!(still.status, 429);
    assert_eq!(
        gw.state
            .as_ref()
            .unwrap()
            .oauth
            .clients
            .list()
            .await
            .unwrap()
            .len(),
        2
    );
    gw.stop().await.unwrap();
}

async fn the_client_cap_and_the_off_switch(db: Db) {
    let (gw, _pg) = gateway(db, "max_clients = 1").await;
    assert_eq!(register(&gw, None, public_client()).await.status, 201);
    let full = register(&gw, None, public_client()).await;
    assert_oauth_error(&full, 403, "access_denied");
    assert!(
        full.body["error_description"]
            .as_str()
            .unwrap()
            .contains("oauth.max_clients")
    );
    gw.stop().await.unwrap();

    let (off, _pg) = gateway(db, "dcr_enabled = false").await;
    let refused = register(&off, None, public_client()).await;
    assert_oauth_error(&refused, 403, "access_denied");
    let metadata = http::get(&off.url("/.well-known/oauth-authorization-server"), None).await;
    assert_eq!(metadata.status, 200);
    assert!(
        metadata.body.get("registration_endpoint").is_none(),
        "{}",
        metadata.body
    );
    off.stop().await.unwrap();
}

on_both_databases!(
    public_and_confidential_registration_and_management,
    bad_metadata_is_refused_with_the_rfc_error_code,
    the_initial_access_token_gates_registration,
    registrations_are_rate_limited_per_ip,
    the_client_cap_and_the_off_switch,
);
