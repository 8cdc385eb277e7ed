//! Revocation and introspection, ID tokens (verified against the JWKS like a client would),
//! the machine (`client_credentials`) and `password` grants, and the step-up challenge.

use actors::auth::keys::KeyAlgorithm;
use actors::storage::users::Role;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::Digest;

use super::*;
use crate::on_both_databases;
use crate::users::{create_mcp_user, create_user, login};

const INITIAL_TOKEN: &str = "initial-access-token-for-machines";

async fn confidential_client(setup: &Setup, name: &str) -> (String, String) {
    let registered = register(
        setup,
        json!({
            "client_name": name,
            "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    (
        registered["client_id"].as_str().unwrap().to_string(),
        registered["client_secret"].as_str().unwrap().to_string(),
    )
}

async fn introspect(
    setup: &Setup,
    token: &str,
    client: Option<(&str, &str)>,
    bearer: Option<&str>,
) -> HttpReply {
    let mut fields = vec![("token", token)];
    if let Some((id, secret)) = client {
        fields.extend([("client_id", id), ("client_secret", secret)]);
    }
    match bearer {
        None => post_form(&setup.url("/oauth/introspect"), None, &fields).await,
        Some(bearer) => {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            crate::http::post_raw(
                &setup.url("/oauth/introspect"),
                Some(bearer),
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            )
            .await
        }
    }
}

use crate::http::Reply as HttpReply;

async fn revocation_and_introspection(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    create_user(&setup.gw, "root", Role::Admin);
    let admin = login(&setup.gw, "root").await;
    let alice_login = login(&setup.gw, "alice").await;
    let (id, secret) = confidential_client(&setup, "Owner").await;
    let (other_id, other_secret) = confidential_client(&setup, "Other").await;
    let public = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &id, "https://app.example.com/cb");
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let tokens = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/cb"),
            ("code_verifier", &request.verifier),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.body["access_token"].as_str().unwrap().to_string();
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_string();

    // Introspection: the owner sees its token, an administrator sees every token.
    let own = introspect(&setup, &access, Some((&id, &secret)), None).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(own.body["active"], true);
    assert_eq!(own.body["client_id"], id.as_str());
    assert_eq!(own.body["scope"], "mcp");
    assert_eq!(own.body["aud"], setup.mcp());
    assert_eq!(own.body["iss"], setup.gw.base_url);
    assert_eq!(own.body["token_type"], "Bearer");
    assert_eq!(own.body["username"], "alice");
    assert!(own.body["exp"].as_u64().is_some());
    let by_admin = introspect(&setup, &refresh, None, Some(&admin)).await;
    assert_eq!(by_admin.body["active"], true, "{}", by_admin.body);
    // Another client learns nothing; unauthenticated and public callers are refused.
    let foreign = introspect(&setup, &access, Some((&other_id, &other_secret)), None).await;
    assert_eq!(foreign.body, json!({"active": false}));
    let anonymous = introspect(&setup, &access, None, None).await;
    assert_token_error(&anonymous, 401, "invalid_client");
    let as_public = post_form(
        &setup.url("/oauth/introspect"),
        None,
        &[("token", access.as_str()), ("client_id", public.as_str())],
    )
    .await;
    assert_token_error(&as_public, 401, "invalid_client");
    let non_admin = introspect(&setup, &access, None, Some(&alice_login)).await;
    assert_token_error(&non_admin, 401, "invalid_client");
    let garbage = introspect(&setup, "not-a-token", Some((&id, &secret)), None).await;
    assert_eq!(garbage.body, json!({"active": false}));

    // Revocation: always 200; another client's token is left alone.
    let revoke = |token: String, client: (String, String)| {
        let url = setup.url("/oauth/revoke");
        async move {
            post_form(
                &url,
                None,
                &[
                    ("token", token.as_str()),
                    ("client_id", &client.0),
                    ("client_secret", &client.1),
                ],
            )
            .await
        }
    };
    let unknown = revoke("amr_unknown".into(), (id.clone(), secret.clone())).await;
    assert_eq!(unknown.status, 200);
    let not_theirs = revoke(refresh.clone(), (other_id.clone(), other_secret.clone())).await;
    assert_eq!(not_theirs.status, 200);
    assert_eq!(
        introspect(&setup, &refresh, None, Some(&admin)).await.body["active"],
        true
    );
    assert_eq!(call_echo(&setup, "/mcp", &access).await.0, 200);
    let wrong_secret = revoke(refresh.clone(), (id.clone(), "wrong".into())).await;
    assert_token_error(&wrong_secret, 401, "invalid_client");

    let revoked = revoke(refresh.clone(), (id.clone(), secret.clone())).await;
    assert_eq!(revoked.status, 200);
    // The whole grant is gone: refresh and access token.
    assert_eq!(
        introspect(&setup, &refresh, None, Some(&admin)).await.body,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&setup, &access, Some((&id, &secret)), None)
            .await
            .body,
        json!({"active": false})
    );
    assert_eq!(call_echo(&setup, "/mcp", &access).await.0, 401);

    // Revoking an access token revokes its grant too.
    let request = AuthRequest::new(&setup, &id, "https://app.example.com/cb");
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let tokens = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/cb"),
            ("code_verifier", &request.verifier),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    let access = tokens.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        revoke(access.clone(), (id.clone(), secret.clone()))
            .await
            .status,
        200
    );
    assert_eq!(call_echo(&setup, "/mcp", &access).await.0, 401);
    setup.stop().await;
}

fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

async fn id_tokens_carry_oidc_claims_and_verify_with_the_jwks(db: Database) {
    let setup = Setup::start_with(db, "", |c| {
        c.auth.jwt_algorithm = KeyAlgorithm::ES256;
        c.auth.jwt_private_key_file = Some(key_path("es256-a.pem"));
    })
    .await;
    let alice = create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT)
        .with("scope", "mcp openid profile email")
        .with("nonce", "n-0S6_WzA2Mj");
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let tokens = redeem(&setup, &request, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let id_token = tokens.body["id_token"]
        .as_str()
        .expect("openid gives an id_token");
    let access = tokens.body["access_token"].as_str().unwrap();

    let jwks: JwkSet = serde_json::from_value(
        crate::http::get(&setup.url("/.well-known/jwks.json"), None)
            .await
            .body,
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is in the JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[client_id.as_str()]);
    validation.set_issuer(&[setup.gw.base_url.as_str()]);
    let claims: Value =
        jsonwebtoken::decode(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the signature and claims verify")
            .claims;
    assert_eq!(claims["sub"], alice.to_string());
    assert_eq!(claims["aud"], client_id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["email"], "alice@example.test");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let auth_time = claims["auth_time"].as_u64().unwrap();
    assert!(auth_time <= now && now - auth_time < 600, "{claims}");
    assert!(claims["exp"].as_u64().unwrap() > now);
    let digest = sha2::Sha256::digest(access.as_bytes());
    let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    assert_eq!(claims["at_hash"], at_hash);
    // An ID token is not an access token.
    assert_eq!(call_echo(&setup, "/mcp", id_token).await.0, 401);
    setup.stop().await;
}

async fn client_credentials_need_an_operator_client_with_a_service_user(db: Database) {
    let setup = Setup::start(
        db,
        &format!("[oauth]\ndcr_initial_access_token = {INITIAL_TOKEN:?}\n"),
    )
    .await;
    create_mcp_user(&setup.gw, "svc").await;
    create_user(&setup.gw, "root", Role::Admin);
    let machine = |service_user: Option<&str>| {
        let mut metadata = json!({
            "client_name": "Nightly job",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "mcp:tools",
        });
        if let Some(user) = service_user {
            metadata["service_user"] = json!(user);
        }
        let url = setup.url("/oauth/register");
        async move {
            let reply = crate::http::post_json(&url, Some(INITIAL_TOKEN), &metadata).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            (
                reply.body["client_id"].as_str().unwrap().to_string(),
                reply.body["client_secret"].as_str().unwrap().to_string(),
            )
        }
    };
    let grant = |client: (String, String), scope: Option<&'static str>| {
        let url = setup.url("/oauth/token");
        async move {
            let mut fields = vec![("grant_type", "client_credentials")];
            if let Some(scope) = scope {
                fields.push(("scope", scope));
            }
            post_form(&url, Some((&client.0, &client.1)), &fields).await
        }
    };
    let svc = machine(Some("svc")).await;
    let tokens = grant(svc.clone(), Some("mcp:tools")).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(
        tokens.body.get("refresh_token").is_none(),
        "{}",
        tokens.body
    );
    assert_eq!(tokens.body["scope"], "mcp:tools");
    let access = tokens.body["access_token"].as_str().unwrap();
    let (status, answer) = call_echo(&setup, "/mcp", access).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    // Never more than the client registered, never user-facing scopes.
    assert_token_error(&grant(svc.clone(), Some("mcp")).await, 400, "invalid_scope");
    assert_token_error(
        &grant(svc, Some("mcp:tools openid")).await,
        400,
        "invalid_scope",
    );
    // No service user, or an administrator: refused.
    assert_token_error(
        &grant(machine(None).await, None).await,
        400,
        "unauthorized_client",
    );
    assert_token_error(
        &grant(machine(Some("root")).await, Some("mcp:tools")).await,
        400,
        "unauthorized_client",
    );
    // A user-facing client cannot use the grant at all.
    let public = crate::http::post_json(
        &setup.url("/oauth/register"),
        Some(INITIAL_TOKEN),
        &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let public = public.body["client_id"].as_str().unwrap().to_string();
    let refused = post_form(
        &setup.url("/oauth/token"),
        None,
        &[("grant_type", "client_credentials"), ("client_id", &public)],
    )
    .await;
    assert_token_error(&refused, 400, "unauthorized_client");
    setup.stop().await;
}

async fn the_password_grant_is_off_unless_enabled(db: Database) {
    let off = Setup::start(db, "").await;
    create_mcp_user(&off.gw, "alice").await;
    let client = public_client(&off).await;
    let fields = |client: &str| {
        vec![
            ("grant_type".to_string(), "password".to_string()),
            ("username".to_string(), "alice".to_string()),
            ("password".to_string(), crate::users::PASSWORD.to_string()),
            ("client_id".to_string(), client.to_string()),
        ]
    };
    let as_refs = |v: &[(String, String)]| {
        v.iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    let send = |url: String, v: Vec<(String, String)>| async move {
        let refs: Vec<(&str, &str)> = v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        post_form(&url, None, &refs).await
    };
    let refused = send(off.url("/oauth/token"), as_refs(&fields(&client))).await;
    assert_token_error(&refused, 400, "unsupported_grant_type");

    let metadata =
        crate::http::get(&off.url("/.well-known/oauth-authorization-server"), None).await;
    assert!(
        !metadata.body["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );
    off.stop().await;

    let on = Setup::start(db, "[oauth]\npassword_grant_enabled = true\n").await;
    let metadata = crate::http::get(&on.url("/.well-known/oauth-authorization-server"), None).await;
    assert!(
        metadata.body["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );
    create_mcp_user(&on.gw, "alice").await;
    let client = public_client(&on).await;
    let tokens = send(on.url("/oauth/token"), fields(&client)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(
        call_echo(&on, "/mcp", tokens.body["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    let mut wrong = fields(&client);
    wrong[2].1 = "Wrong-Password-1".into();
    assert_token_error(
        &send(on.url("/oauth/token"), wrong).await,
        400,
        "invalid_grant",
    );
    on.stop().await;
}

async fn a_missing_scope_answers_403_with_a_step_up_challenge(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    let narrow = AuthRequest::new(&setup, &client_id, REDIRECT).with("scope", "mcp:prompts");
    let code = authorize(&setup, &browser, &narrow, "alice").await["code"].clone();
    let tokens = redeem(&setup, &narrow, &code).await;
    let access = tokens.body["access_token"].as_str().unwrap();

    let (status, body) = call_echo(&setup, "/mcp", access).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mcp:tools"),
        "{body}"
    );
    // The challenge itself, read from a raw request.
    let mut client = crate::mcp_client::McpClient::new(&setup.url("/mcp"), Some(access));
    client.initialize("2025-11-25").await;
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"text":"hi"}}});
    let refused = client.post(&call.to_string(), &[]).await;
    assert_eq!(refused.status, 403);
    let challenge = refused
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:prompts\", resource_metadata=\"{}\"",
            setup.url("/.well-known/oauth-protected-resource/mcp")
        )
    );
    // A tool no policy grants is still just unknown (no challenge reveals it).
    let unknown = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"alpha_nope","arguments":{}}});
    assert_eq!(client.post(&unknown.to_string(), &[]).await.status, 200);

    // A token with no MCP scope at all is challenged for `mcp` on /mcp/{server}.
    let openid_only = AuthRequest::new(&setup, &client_id, REDIRECT).with("scope", "openid");
    let mut openid_only = openid_only;
    openid_only.resource = setup.url("/mcp/alpha");
    let code = authorize(&setup, &browser, &openid_only, "alice").await["code"].clone();
    let tokens = redeem(&setup, &openid_only, &code).await;
    let (status, _) = call_echo(
        &setup,
        "/mcp/alpha",
        tokens.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 403);

    // Step up: authorize again with the challenge's scope (consent asked again), then it works.
    let wider =
        AuthRequest::new(&setup, &client_id, REDIRECT).with("scope", "mcp:tools mcp:prompts");
    assert!(browser.get(&wider.url(&setup)).await.is_consent());
    let code = authorize(&setup, &browser, &wider, "alice").await["code"].clone();
    let tokens = redeem(&setup, &wider, &code).await;
    let (status, answer) = call_echo(
        &setup,
        "/mcp",
        tokens.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    setup.stop().await;
}

on_both_databases!(
    revocation_and_introspection,
    id_tokens_carry_oidc_claims_and_verify_with_the_jwks,
    client_credentials_need_an_operator_client_with_a_service_user,
    the_password_grant_is_off_unless_enabled,
    a_missing_scope_answers_403_with_a_step_up_challenge,
);
