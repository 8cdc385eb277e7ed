//! Resource-server mode end to end. The "external" identity provider is a second, real
//! authmcp-gateway (its own SQLite, ES256 keys, its JWKS at /.well-known/jwks.json): users log
//! in there and present that token here. Tokens with claims the IdP's login never issues
//! (groups, roles, other audiences, past expiry) are signed with the IdP's own key file by the
//! gateway's signing code, i.e. exactly as the IdP would sign them; the forgeries (HS256 with the
//! public key as secret, `alg: none`, a stranger's key) are built by hand.

use std::time::Duration;

use actors::auth::keys::{KeyAlgorithm, SigningKeys};
use actors::storage::Database;
use actors::storage::users::{self, Role};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::postgres::PgDatabase;
use crate::tokens::Backend;
use crate::users::{create_user, login, set_enabled};

fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

/// The identity provider: a gateway signing with ES256 key `a`.
async fn start_idp() -> TestGateway {
    TestGateway::start_with("", |c| {
        c.auth.jwt_algorithm = KeyAlgorithm::ES256;
        c.auth.jwt_private_key_file = Some(key_path("es256-a.pem"));
    })
    .await
}

/// Signs `claims` with one of the test key files, as the IdP holding it would.
fn sign_with(key_file: &str, claims: &Value) -> String {
    let keys = SigningKeys::asymmetric(
        KeyAlgorithm::ES256,
        key_file,
        &std::fs::read(key_path(key_file)).unwrap(),
        &[],
    )
    .unwrap();
    keys.sign("at+jwt", claims).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An access token from the IdP for `username` with `extra` claims merged in.
fn idp_token(idp: &TestGateway, username: &str, extra: Value) -> String {
    let mut claims = json!({
        "iss": idp.base_url, "sub": "77", "aud": format!("{}/mcp", idp.base_url),
        "exp": now() + 600, "iat": now(), "jti": "t", "sid": "s", "username": username,
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    sign_with("es256-a.pem", &claims)
}

fn issuer_table(idp: &TestGateway, lines: &str) -> String {
    format!(
        "[[auth.external_issuers]]\nissuer = {:?}\njwks_uri = \"{}/.well-known/jwks.json\"\n\
         username_claim = \"username\"\njwks_cooldown_s = 1\n{lines}\n",
        idp.base_url, idp.base_url
    )
}

fn backend(name: &str, fixture: &HttpFixture) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\nhealth_interval_s = 60\n",
        fixture.url()
    )
}

/// `initialize` on `path`: the status and the body.
async fn initialize(gw: &TestGateway, path: &str, token: &str) -> (u16, String) {
    let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let reply = McpClient::new(&gw.url(path), Some(token))
        .post(&body.to_string(), &[])
        .await;
    (reply.status, reply.body)
}

/// Repeats GET `path` until it answers `status` (snapshots follow the database within a poll
/// interval; a refetch of keys happens in the background).
async fn wait_status(gw: &TestGateway, path: &str, token: &str, status: u16) -> http::Reply {
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    loop {
        let reply = http::get(&gw.url(path), Some(token)).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}; last: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn detail(reply: &http::Reply) -> String {
    reply.body["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn tokens_from_another_gateway_are_mapped_to_local_users(database: Backend) {
    let idp = start_idp().await;
    create_user(&idp, "alice", Role::User);
    let from_idp = login(&idp, "alice").await;
    let files = HttpFixture::start(2);
    let policy = "[[policies]]\nsubject = \"group:developers\"\neffect = \"allow\"\nbackends = [\"files\"]\n";
    let issuer = issuer_table(
        &idp,
        &format!(
            "audiences = [\"{}/mcp\"]\ngroup_mapping = {{ \"devs\" = \"developers\" }}",
            idp.base_url
        ),
    );
    let pg = (database == Backend::Postgres).then(PgDatabase::create);
    let db = pg.as_ref().map_or(String::new(), |pg| {
        format!("[database]\nurl = {:?}\n", pg.url)
    });
    let running =
        TestGateway::start(&format!("{db}{}{policy}{issuer}", backend("files", &files))).await;
    let gw = &running;
    gw.wait_online(1).await;

    // No local alice and no auto-provisioning: refused, and the 401 says why.
    let refused = http::get(&gw.url("/auth/me"), Some(&from_idp)).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        detail(&refused).contains("no local user"),
        "{}",
        refused.body
    );

    // The operator creates alice: the IdP's own login token now opens this gateway as her.
    let alice = create_user(gw, "alice", Role::User);
    let me = wait_status(gw, "/auth/me", &from_idp, 200).await;
    assert_eq!(me.body["id"], alice);
    assert_eq!(me.body["credential"], "external");
    // Never the admin API.
    let admin = http::get(&gw.url("/admin/api/policies"), Some(&from_idp)).await;
    assert_eq!(admin.status, 401, "{}", admin.body);

    // Not in `developers` yet: /mcp/files is refused (deny by default).
    assert_eq!(initialize(gw, "/mcp/files", &from_idp).await.0, 403);
    // A token saying she is in the IdP's `devs` group: membership synced, the group's grant applies.
    let with_group = idp_token(&idp, "alice", json!({"groups": ["devs", "other"]}));
    let opened = initialize(gw, "/mcp/files", &with_group).await;
    assert_eq!(opened.0, 200, "{}", opened.1);
    let policies = gw.policies.as_ref().unwrap();
    assert_eq!(
        policies.snapshot().groups_of(alice),
        ["developers".to_string()]
    );
    // Her next token without the group takes it away again.
    let without = idp_token(&idp, "alice", json!({"groups": []}));
    assert_eq!(initialize(gw, "/mcp/files", &without).await.0, 403);
    assert!(policies.snapshot().groups_of(alice).is_empty());

    // Refused: another audience, expired, not yet valid, an issuer nobody configured.
    let wrong_aud = idp_token(
        &idp,
        "alice",
        json!({"aud": "https://elsewhere.example/mcp"}),
    );
    let reply = http::get(&gw.url("/auth/me"), Some(&wrong_aud)).await;
    assert_eq!(reply.status, 401);
    assert!(detail(&reply).contains("wrong audience"), "{}", reply.body);
    let expired = idp_token(&idp, "alice", json!({"exp": now() - 3600}));
    let reply = http::get(&gw.url("/auth/me"), Some(&expired)).await;
    assert_eq!(reply.status, 401);
    assert!(detail(&reply).contains("expired"), "{}", reply.body);
    let early = idp_token(&idp, "alice", json!({"nbf": now() + 3600}));
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&early)).await.status,
        401
    );
    let unknown = idp_token(&idp, "alice", json!({"iss": "http://127.0.0.1:1"}));
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&unknown)).await.status,
        401
    );

    // Forgeries: HS256 "signed" with the IdP's public key, alg none, a key the IdP never had.
    let kid = SigningKeys::asymmetric(
        KeyAlgorithm::ES256,
        "a",
        &std::fs::read(key_path("es256-a.pem")).unwrap(),
        &[],
    )
    .unwrap()
    .active_kid()
    .to_string();
    let claims = json!({"iss": idp.base_url, "sub": "77", "aud": format!("{}/mcp", idp.base_url),
        "exp": now() + 600, "username": "alice"});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let public_pem = std::fs::read(key_path("es256-a.pub.pem")).unwrap();
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let reply = http::get(&gw.url("/auth/me"), Some(&hs256)).await;
    assert_eq!(reply.status, 401);
    assert!(detail(&reply).contains("algorithm"), "{}", reply.body);
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": kid})),
        b64(&claims)
    );
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&none)).await.status,
        401
    );
    let stranger = SigningKeys::asymmetric(
        KeyAlgorithm::ES256,
        "b",
        &std::fs::read(key_path("es256-b.pem")).unwrap(),
        &[],
    )
    .unwrap();
    // The stranger's signature under a header naming the IdP's key.
    let signed = stranger.sign("at+jwt", &claims).unwrap();
    let (_, rest) = signed.split_once('.').unwrap();
    let forged = format!(
        "{}.{rest}",
        b64(&json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}))
    );
    let reply = http::get(&gw.url("/auth/me"), Some(&forged)).await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    // A disabled local user is refused although the IdP still vouches for her.
    set_enabled(gw, "alice", false);
    let reply = wait_status(gw, "/auth/me", &from_idp, 401).await;
    assert!(detail(&reply).contains("disabled"), "{}", reply.body);

    running.stop().await.unwrap();
    drop(pg);
    idp.stop().await.unwrap();
}

crate::on_both_databases!(tokens_from_another_gateway_are_mapped_to_local_users);

/// Default audiences: this gateway's resources, each token bound to the path it names; an
/// unknown user is provisioned with the role the token maps to.
#[actix_rt::test]
async fn resource_bound_tokens_and_auto_provisioning() {
    let idp = start_idp().await;
    let files = HttpFixture::start(2);
    let extra = format!(
        "{}{}",
        backend("files", &files),
        issuer_table(
            &idp,
            "auto_provision = true\nrole_claim = \"roles\"\nadmin_values = [\"gw-admin\"]"
        )
    );
    let gw = TestGateway::start(&extra).await;
    gw.wait_online(1).await;
    let for_files = idp_token(
        &idp,
        "carol",
        json!({"aud": gw.url("/mcp/files"), "roles": ["gw-admin"], "email": "carol@example.test"}),
    );
    // Bound to /mcp/files: refused on /mcp, accepted there (carol is admin through the token).
    let reply = http::get(&gw.url("/mcp"), Some(&for_files)).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(
        detail(&reply).contains("another resource"),
        "{}",
        reply.body
    );
    let opened = initialize(&gw, "/mcp/files", &for_files).await;
    assert_eq!(opened.0, 200, "{}", opened.1);
    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    let carol = db
        .run_blocking(|c| users::find_by_username(c, "carol"))
        .unwrap()
        .expect("carol was provisioned");
    assert_eq!(carol.role, Role::Admin);
    assert_eq!(carol.email, "carol@example.test");
    // The provisioned account has no usable password.
    let login = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({"username": "carol", "password": ""}),
    )
    .await;
    assert_ne!(login.status, 200);

    // A token for /mcp, without the admin role: same account, role user, nothing granted.
    let for_mcp = idp_token(&idp, "carol", json!({"aud": gw.url("/mcp")}));
    let me = http::get(&gw.url("/auth/me"), Some(&for_mcp)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], carol.id);
    assert_eq!(
        initialize(&gw, "/mcp/files", &for_mcp).await.0,
        401,
        "bound to /mcp"
    );
    let session = initialize(&gw, "/mcp", &for_mcp).await;
    assert_eq!(session.0, 200, "{}", session.1);
    // Another gateway's resource is not ours.
    let theirs = idp_token(&idp, "carol", json!({"aud": idp.url("/mcp")}));
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&theirs)).await.status,
        401
    );

    gw.stop().await.unwrap();
    idp.stop().await.unwrap();
}

/// The IdP rotates: restarted with a new key (the old one still verifying). Its new tokens name
/// a kid this gateway never saw; the first is refused at once and makes the gateway refetch.
#[actix_rt::test]
async fn a_key_rotation_at_the_idp_is_picked_up_through_the_unknown_kid() {
    let idp = start_idp().await;
    create_user(&idp, "alice", Role::User);
    let before = login(&idp, "alice").await;
    let gw = TestGateway::start(&issuer_table(
        &idp,
        &format!(
            "audiences = [\"{}/mcp\"]\njwks_refresh_s = 3600",
            idp.base_url
        ),
    ))
    .await;
    create_user(&gw, "alice", Role::User);
    wait_status(&gw, "/auth/me", &before, 200).await;

    let idp = idp
        .restart_with(|c| {
            c.auth.jwt_private_key_file = Some(key_path("es256-b.pem"));
            c.auth.jwt_previous_key_files = vec![key_path("es256-a.pub.pem")];
        })
        .await;
    let after = login(&idp, "alice").await;
    let first = http::get(&gw.url("/auth/me"), Some(&after)).await;
    assert_eq!(first.status, 401, "not known yet: {}", first.body);
    assert!(detail(&first).contains("unknown key id"), "{}", first.body);
    wait_status(&gw, "/auth/me", &after, 200).await;
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&before)).await.status,
        200
    );

    gw.stop().await.unwrap();
    idp.stop().await.unwrap();
}

/// RFC 9728: the PRM names this gateway's AS first, then the external issuers; SIGHUP changes
/// both the list and which tokens are accepted.
#[actix_rt::test]
async fn protected_resource_metadata_lists_external_issuers_and_follows_sighup() {
    let idp = start_idp().await;
    create_user(&idp, "alice", Role::User);
    let token = login(&idp, "alice").await;
    let issuer = issuer_table(&idp, &format!("audiences = [\"{}/mcp\"]", idp.base_url));
    let mut gw = TestGateway::start(&issuer).await;
    create_user(&gw, "alice", Role::User);
    let prm = http::get(&gw.url("/.well-known/oauth-protected-resource/mcp"), None).await;
    assert_eq!(
        prm.body["authorization_servers"],
        json!([gw.base_url, idp.base_url])
    );
    wait_status(&gw, "/auth/me", &token, 200).await;

    let outcome = gw
        .reload_with(&format!("{issuer}[oauth]\nenabled = false\n"))
        .await;
    assert_eq!(outcome.reloads_applied, 1);
    let prm = http::get(&gw.url("/.well-known/oauth-protected-resource"), None).await;
    assert_eq!(prm.body["authorization_servers"], json!([idp.base_url]));

    let outcome = gw.reload_with("").await;
    assert_eq!(outcome.reloads_applied, 2);
    let prm = http::get(&gw.url("/.well-known/oauth-protected-resource/mcp"), None).await;
    assert_eq!(prm.body["authorization_servers"], json!([gw.base_url]));
    assert_eq!(
        http::get(&gw.url("/auth/me"), Some(&token)).await.status,
        401
    );

    gw.stop().await.unwrap();
    idp.stop().await.unwrap();
}

/// Without `jwks_uri` the keys' address comes from the issuer's own discovery document
/// (`<issuer>/.well-known/openid-configuration`, here served by the IdP gateway).
#[actix_rt::test]
async fn the_keys_address_is_discovered_from_the_issuers_metadata() {
    let idp = start_idp().await;
    create_user(&idp, "alice", Role::User);
    let token = login(&idp, "alice").await;
    let issuer = format!(
        "[[auth.external_issuers]]\nissuer = {:?}\nusername_claim = \"username\"\n\
         audiences = [\"{}/mcp\"]\n",
        idp.base_url, idp.base_url
    );
    let gw = TestGateway::start(&issuer).await;
    create_user(&gw, "alice", Role::User);
    let me = wait_status(&gw, "/auth/me", &token, 200).await;
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["credential"], "external");
    gw.stop().await.unwrap();
    idp.stop().await.unwrap();
}
