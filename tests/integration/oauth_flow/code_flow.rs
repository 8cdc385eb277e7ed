//! The code flow as MCP clients run it: DCR public client, login and consent forms, code,
//! token with PKCE and resource, `/mcp` calls; confidential clients; refresh rotation; loopback
//! redirect ports; `iss`; ID tokens verified with the JWKS.

use serde_json::json;

use super::*;
use crate::on_both_databases;
use crate::users::create_mcp_user;

async fn full_code_flow_with_a_dcr_public_client(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let browser = Browser::default();

    // The login page: a form, a cookie, the security headers.
    let login = browser.get(&request.url(&setup)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.is_login());
    assert!(login.body.contains("Test CLI"), "{}", login.body);
    let csp = login.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self' http://127.0.0.1:7777",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(login.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));
    let cookie = login.header("set-cookie").unwrap();
    assert!(cookie.starts_with("authmcp_as="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The pending request is opaque: not the raw query.
    assert!(!login.hidden("request").contains("code_challenge"));

    let after_login = submit_login(&setup, &browser, &login, "alice", crate::users::PASSWORD).await;
    assert_eq!(after_login.status, 303, "{}", after_login.body);
    let back = after_login.location();
    assert!(
        back.starts_with(&setup.url("/authorize?request=")),
        "{back}"
    );

    let consent = browser.get(&back).await;
    assert!(consent.is_consent(), "{}", consent.body);
    for shown in [
        "Test CLI",
        &client_id,
        REDIRECT,
        &setup.mcp(),
        "mcp",
        "alice",
    ] {
        assert!(
            consent.text().contains(shown),
            "consent page lacks {shown}: {}",
            consent.body
        );
    }
    let approved = submit_consent(&setup, &browser, &consent, "approve").await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let answer = query_of(&approved.location());
    assert_eq!(answer["state"], request.state);
    assert_eq!(answer["iss"], setup.gw.base_url, "RFC 9207 iss");
    let code = &answer["code"];

    let tokens = redeem(&setup, &request, code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["scope"], "mcp");
    assert!(tokens.body["expires_in"].as_u64().unwrap() > 0);
    assert!(
        tokens.body["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("amr_")
    );
    assert!(
        tokens.body.get("id_token").is_none(),
        "no openid, no id_token"
    );
    let access = tokens.body["access_token"].as_str().unwrap();

    let (status, answer) = call_echo(&setup, "/mcp", access).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    // Bound to <p>/mcp: not accepted for another resource.
    let (status, _) = call_echo(&setup, "/mcp/alpha", access).await;
    assert_eq!(status, 401);

    // Consent is remembered: the next authorization skips both pages.
    let again = AuthRequest::new(&setup, &client_id, REDIRECT);
    let direct = browser.get(&again.url(&setup)).await;
    assert_eq!(direct.status, 302, "{}", direct.body);
    assert!(query_of(&direct.location()).contains_key("code"));
    // … but a wider scope asks again.
    let wider = AuthRequest::new(&setup, &client_id, REDIRECT).with("scope", "mcp openid");
    assert!(browser.get(&wider.url(&setup)).await.is_consent());
    setup.stop().await;
}

async fn a_token_for_one_backend_opens_only_that_backend(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let mut request = AuthRequest::new(&setup, &client_id, REDIRECT);
    request.resource = setup.url("/mcp/alpha");
    let browser = Browser::default();
    let code = authorize(&setup, &browser, &request, "alice").await["code"].clone();
    let tokens = redeem(&setup, &request, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.body["access_token"].as_str().unwrap();
    let (status, answer) = call_echo(&setup, "/mcp/alpha", access).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    let (status, _) = call_echo(&setup, "/mcp", access).await;
    assert_eq!(status, 401, "a /mcp/alpha token is refused on /mcp");
    setup.stop().await;
}

async fn confidential_clients_authenticate_with_basic_or_post(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let browser = Browser::default();
    for method in ["client_secret_basic", "client_secret_post"] {
        let registered = register(
            &setup,
            json!({
                "client_name": format!("Web app ({method})"),
                "redirect_uris": ["https://app.example.com/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": method,
            }),
        )
        .await;
        let id = registered["client_id"].as_str().unwrap();
        let secret = registered["client_secret"].as_str().unwrap();
        let request = AuthRequest::new(&setup, id, "https://app.example.com/cb");
        let code = authorize(&setup, &browser, &request, "alice").await["code"].clone();
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://app.example.com/cb"),
            ("code_verifier", request.verifier.as_str()),
        ];
        // Without any client authentication: invalid_client.
        let anonymous = post_form(&setup.url("/oauth/token"), None, &fields).await;
        assert_token_error(&anonymous, 401, "invalid_client");
        // The other method than the registered one: invalid_client as well.
        let wrong_method = if method == "client_secret_basic" {
            post_form(
                &setup.url("/oauth/token"),
                None,
                &[
                    fields.clone(),
                    vec![("client_id", id), ("client_secret", secret)],
                ]
                .concat(),
            )
            .await
        } else {
            post_form(&setup.url("/oauth/token"), Some((id, secret)), &fields).await
        };
        assert_token_error(&wrong_method, 401, "invalid_client");
        if method == "client_secret_basic" {
            assert!(wrong_method.header("www-authenticate").is_none());
            let bad = post_form(&setup.url("/oauth/token"), Some((id, "wrong")), &fields).await;
            assert_token_error(&bad, 401, "invalid_client");
            assert!(bad.header("www-authenticate").unwrap().starts_with("Basic"));
        }
        // Both methods at once: invalid_request.
        let both = post_form(
            &setup.url("/oauth/token"),
            Some((id, secret)),
            &[fields.clone(), vec![("client_secret", secret)]].concat(),
        )
        .await;
        assert_token_error(&both, 400, "invalid_request");

        // The failed attempts never reached the code (client authentication comes first).
        let tokens = if method == "client_secret_basic" {
            post_form(&setup.url("/oauth/token"), Some((id, secret)), &fields).await
        } else {
            fields.extend([("client_id", id), ("client_secret", secret)]);
            post_form(&setup.url("/oauth/token"), None, &fields).await
        };
        assert_eq!(tokens.status, 200, "{method}: {}", tokens.body);
        let access = tokens.body["access_token"].as_str().unwrap();
        assert_eq!(call_echo(&setup, "/mcp", access).await.0, 200);
    }
    setup.stop().await;
}

async fn refresh_tokens_rotate_through_the_token_endpoint(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let other_client = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT).with("scope", "mcp openid");
    let browser = Browser::default();
    let code = authorize(&setup, &browser, &request, "alice").await["code"].clone();
    let first = redeem(&setup, &request, &code).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let refresh = first.body["refresh_token"].as_str().unwrap().to_string();
    let token_url = setup.url("/oauth/token");

    // Another client cannot use it.
    let stolen = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &other_client),
        ],
    )
    .await;
    assert_token_error(&stolen, 400, "invalid_grant");
    // The resource may only stay the same.
    let elsewhere = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("resource", &setup.url("/mcp/alpha")),
        ],
    )
    .await;
    assert_token_error(&elsewhere, 400, "invalid_target");
    // The scope may only narrow.
    let wider = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("scope", "mcp email"),
        ],
    )
    .await;
    assert_token_error(&wider, 400, "invalid_scope");

    let narrowed = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("scope", "mcp"),
            ("resource", &setup.mcp()),
        ],
    )
    .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(narrowed.body["scope"], "mcp");
    let rotated = narrowed.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, refresh, "rotated on use");
    let access = narrowed.body["access_token"].as_str().unwrap();
    assert_eq!(call_echo(&setup, "/mcp", access).await.0, 200);

    // The rotated refresh token keeps the grant's full scope.
    let again = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rotated),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["scope"], "mcp openid");
    setup.stop().await;
}

async fn loopback_redirects_match_on_any_port_and_carry_iss(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await; // registered http://127.0.0.1:7777/cb
    let request = AuthRequest::new(&setup, &client_id, "http://127.0.0.1:49152/cb");
    let browser = Browser::default();
    let answer = authorize(&setup, &browser, &request, "alice").await;
    assert_eq!(answer["iss"], setup.gw.base_url);
    assert_eq!(answer["state"], request.state);
    let tokens = redeem(&setup, &request, &answer["code"]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    setup.stop().await;
}

async fn prompt_none_never_shows_a_page(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    let silent = AuthRequest::new(&setup, &client_id, REDIRECT).with("prompt", "none");
    let page = browser.get(&silent.url(&setup)).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let answer = query_of(&page.location());
    assert_eq!(answer["error"], "login_required");
    assert_eq!(answer["iss"], setup.gw.base_url);
    // Signed in but never approved: consent_required; once approved, a silent code.
    let login = browser
        .get(&AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup))
        .await;
    let after = submit_login(&setup, &browser, &login, "alice", crate::users::PASSWORD).await;
    assert_eq!(after.status, 303);
    let silent = AuthRequest::new(&setup, &client_id, REDIRECT).with("prompt", "none");
    let page = browser.get(&silent.url(&setup)).await;
    assert_eq!(query_of(&page.location())["error"], "consent_required");
    let consent = browser.get(&after.location()).await;
    assert_eq!(
        submit_consent(&setup, &browser, &consent, "approve")
            .await
            .status,
        303
    );
    let page = browser.get(&silent.url(&setup)).await;
    assert!(query_of(&page.location()).contains_key("code"));
    // prompt=login asks for the password again despite the cookie.
    let again = AuthRequest::new(&setup, &client_id, REDIRECT).with("prompt", "login");
    assert!(browser.get(&again.url(&setup)).await.is_login());
    setup.stop().await;
}

on_both_databases!(
    prompt_none_never_shows_a_page,
    full_code_flow_with_a_dcr_public_client,
    a_token_for_one_backend_opens_only_that_backend,
    confidential_clients_authenticate_with_basic_or_post,
    refresh_tokens_rotate_through_the_token_endpoint,
    loopback_redirects_match_on_any_port_and_carry_iss,
);
