//! Attacks on the authorization server, one test each: PKCE downgrade and missing or wrong
//! verifiers, code replay, redirect mismatch and open redirect, CSRF on both forms, expired
//! codes, foreign resources, disabled users, user enumeration, and X-Forwarded-For spoofing of
//! the login limit.

use actors::spec::IpNet;
use actors::storage::Database as Storage;
use diesel::RunQueryDsl;

use super::*;
use crate::on_both_databases;
use crate::users::{create_mcp_user, set_enabled};

/// An authorization request answered with a redirect carrying `error` (and `iss`, `state`).
fn assert_redirected_error(page: &Page, setup: &Setup, request: &AuthRequest, error: &str) {
    assert_eq!(page.status, 302, "{}", page.body);
    let location = page.location();
    assert!(location.starts_with(&request.redirect_uri), "{location}");
    let query = query_of(&location);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert!(query.contains_key("error_description"), "{location}");
    assert_eq!(query["state"], request.state);
    assert_eq!(query["iss"], setup.gw.base_url);
    assert!(!query.contains_key("code"));
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// An error page: no redirect anywhere.
fn assert_error_page(page: &Page, status: u16) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.header("location").is_none(), "must not redirect");
    assert!(page.body.contains("<h1>"), "{}", page.body);
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
}

async fn pkce_downgrade_to_plain_is_refused(db: Database) {
    let setup = Setup::start(db, "").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    for method in ["plain", ""] {
        let request = AuthRequest::new(&setup, &client_id, REDIRECT)
            .with("code_challenge_method", method)
            .with("code_challenge", &"a".repeat(43));
        let page = browser.get(&request.url(&setup)).await;
        assert_redirected_error(&page, &setup, &request, "invalid_request");
    }
    // No challenge at all.
    let request = AuthRequest::new(&setup, &client_id, REDIRECT).with("code_challenge", "");
    let page = browser.get(&request.url(&setup)).await;
    assert_redirected_error(&page, &setup, &request, "invalid_request");
    setup.stop().await;
}

async fn a_missing_verifier_is_refused(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let reply = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_token_error(&reply, 400, "invalid_request");
    assert!(reply.body.get("access_token").is_none());
    setup.stop().await;
}

async fn a_wrong_verifier_is_refused_and_spends_the_code(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let (wrong, _) = pkce_pair();
    let reply = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &wrong),
        ],
    )
    .await;
    assert_token_error(&reply, 400, "invalid_grant");
    // Single use means a single attempt: the right verifier now comes too late.
    assert_token_error(&redeem(&setup, &request, &code).await, 400, "invalid_grant");
    setup.stop().await;
}

async fn a_replayed_code_fails_and_revokes_the_first_tokens(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let first = redeem(&setup, &request, &code).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let access = first.body["access_token"].as_str().unwrap();
    let refresh = first.body["refresh_token"].as_str().unwrap();
    assert_eq!(call_echo(&setup, "/mcp", access).await.0, 200);

    let replay = redeem(&setup, &request, &code).await;
    assert_token_error(&replay, 400, "invalid_grant");
    assert!(replay.body.get("access_token").is_none());
    // The tokens issued from the code are revoked: access and refresh.
    assert_eq!(call_echo(&setup, "/mcp", access).await.0, 401);
    let refreshed = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_token_error(&refreshed, 400, "invalid_grant");
    setup.stop().await;
}

async fn a_redirect_uri_mismatch_shows_an_error_page(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    // Same host, another path; and another loopback host name.
    for uri in ["http://127.0.0.1:7777/other", "http://localhost:7777/cb"] {
        let request = AuthRequest::new(&setup, &client_id, uri);
        assert_error_page(&browser.get(&request.url(&setup)).await, 400);
    }
    // At the token endpoint the redirect URI must equal the authorization request's.
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &browser, &request, "alice").await["code"].clone();
    let reply = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:7778/cb"),
            ("client_id", &client_id),
            ("code_verifier", &request.verifier),
        ],
    )
    .await;
    assert_token_error(&reply, 400, "invalid_grant");
    setup.stop().await;
}

async fn an_unregistered_redirect_is_never_followed(db: Database) {
    let setup = Setup::start(db, "").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    // Even a request that is wrong in other ways (which would otherwise be redirected with an
    // error) stays on the gateway when the redirect URI is not the client's.
    let request = AuthRequest::new(&setup, &client_id, "https://evil.example.com/cb")
        .with("response_type", "token");
    assert_error_page(&browser.get(&request.url(&setup)).await, 400);
    // An unknown client, or none: nothing to check the redirect URI against.
    let unknown = AuthRequest::new(&setup, "no-such-client", "https://evil.example.com/cb");
    assert_error_page(&browser.get(&unknown.url(&setup)).await, 400);
    let missing = AuthRequest::new(&setup, &client_id, REDIRECT).with("client_id", "");
    assert_error_page(&browser.get(&missing.url(&setup)).await, 400);
    // A parameter sent twice cannot be trusted either.
    let twice = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb",
        AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup)
    );
    assert_error_page(&browser.get(&twice).await, 400);
    setup.stop().await;
}

async fn csrf_on_the_login_and_consent_forms_is_refused(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let victim = Browser::default();
    let login = victim.get(&request.url(&setup)).await;
    let attacker = Browser::default();
    let attacker_page = attacker.get(&request.url(&setup)).await;
    let url = setup.url("/authorize");
    let login_fields = |csrf: &str| {
        vec![
            ("request".to_string(), login.hidden("request")),
            ("csrf_token".to_string(), csrf.to_string()),
            ("username".to_string(), "alice".to_string()),
            ("password".to_string(), crate::users::PASSWORD.to_string()),
            ("action".to_string(), "login".to_string()),
        ]
    };

    // Missing token, another browser's token, and no cookie at all.
    let missing: Vec<(String, String)> = login_fields("")
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .collect();
    assert_error_page(&victim.post_form(&url, &as_refs(&missing)).await, 403);
    let foreign = login_fields(&attacker_page.hidden("csrf_token"));
    assert_error_page(&victim.post_form(&url, &as_refs(&foreign)).await, 403);
    let cookieless = Browser::default();
    let genuine = login_fields(&login.hidden("csrf_token"));
    assert_error_page(&cookieless.post_form(&url, &as_refs(&genuine)).await, 403);

    // Consent: the victim logs in for real, the forged approvals fail and issue no code.
    let after = victim.post_form(&url, &as_refs(&genuine)).await;
    assert_eq!(after.status, 303, "{}", after.body);
    let consent = victim.get(&after.location()).await;
    assert!(consent.is_consent());
    let forged = [
        ("request", consent.hidden("request")),
        ("csrf_token", attacker_page.hidden("csrf_token")),
        ("decision", "approve".to_string()),
    ];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = victim.post_form(&url, &forged).await;
    assert_error_page(&refused, 403);
    let no_token: Vec<(&str, &str)> = forged
        .iter()
        .filter(|(k, _)| *k != "csrf_token")
        .copied()
        .collect();
    assert_error_page(&victim.post_form(&url, &no_token).await, 403);
    // The attacker's own session (not logged in) cannot approve with the victim's form either.
    let stolen = [
        ("request", consent.hidden("request")),
        ("csrf_token", consent.hidden("csrf_token")),
        ("decision", "approve".to_string()),
    ];
    let stolen: Vec<(&str, &str)> = stolen.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_error_page(&attacker.post_form(&url, &stolen).await, 403);
    // Nothing was remembered: the victim is still asked.
    assert!(victim.get(&request.url(&setup)).await.is_consent());
    setup.stop().await;
}

async fn an_expired_code_is_refused(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    // Age the code in the database instead of waiting for it to expire.
    let storage = Storage::connect(&setup.gw.config.database.url, 1).unwrap();
    storage
        .run_blocking(|c| {
            Ok(
                diesel::sql_query(
                    "UPDATE authorization_codes SET expires_at = expires_at - 120000",
                )
                .execute(c)?,
            )
        })
        .unwrap();
    let reply = redeem(&setup, &request, &code).await;
    assert_token_error(&reply, 400, "invalid_grant");
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    setup.stop().await;
}

async fn a_foreign_resource_is_an_invalid_target(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    let mut elsewhere = vec![
        "https://evil.example.com/mcp".to_string(),
        setup.url("/mcp/no-such-backend"),
        setup.url("/admin/api"),
        setup.url("/mcp/"),
    ];
    elsewhere.push(format!("{}#x", setup.mcp()));
    for resource in elsewhere {
        let mut request = AuthRequest::new(&setup, &client_id, REDIRECT);
        request.resource = resource.clone();
        let page = browser.get(&request.url(&setup)).await;
        assert_redirected_error(&page, &setup, &request, "invalid_target");
    }
    let missing = AuthRequest::new(&setup, &client_id, REDIRECT).with("resource", "");
    let page = browser.get(&missing.url(&setup)).await;
    assert_redirected_error(&page, &setup, &missing, "invalid_request");
    // At the token endpoint the resource must be the code's.
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &browser, &request, "alice").await["code"].clone();
    let mut other = AuthRequest::new(&setup, &client_id, REDIRECT);
    other.verifier = request.verifier.clone();
    other.resource = setup.url("/mcp/alpha");
    assert_token_error(&redeem(&setup, &other, &code).await, 400, "invalid_target");
    setup.stop().await;
}

async fn a_disabled_user_can_neither_log_in_nor_refresh(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let code = authorize(&setup, &Browser::default(), &request, "alice").await["code"].clone();
    let tokens = redeem(&setup, &request, &code).await;
    let refresh = tokens.body["refresh_token"].as_str().unwrap();

    set_enabled(&setup.gw, "alice", false);
    let refreshed = post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_token_error(&refreshed, 400, "invalid_grant");

    let browser = Browser::default();
    let login = browser
        .get(&AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup))
        .await;
    let refused = submit_login(&setup, &browser, &login, "alice", crate::users::PASSWORD).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.header("location").is_none());
    assert!(refused.body.contains("disabled"), "{}", refused.body);
    setup.stop().await;
}

async fn unknown_users_and_wrong_passwords_get_identical_answers(db: Database) {
    let setup = Setup::start(db, "").await;
    create_mcp_user(&setup.gw, "alice").await;
    let client_id = public_client(&setup).await;
    let browser = Browser::default();
    let login = browser
        .get(&AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup))
        .await;
    let unknown = submit_login(&setup, &browser, &login, "mallory", "Wrong-Password-1").await;
    let wrong = submit_login(&setup, &browser, &login, "alice", "Wrong-Password-1").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.status, wrong.status);
    assert!(unknown.is_login() && unknown.body.contains("Invalid username or password."));
    assert_eq!(unknown.body, wrong.body, "the pages must not differ");
    assert_eq!(unknown.header("set-cookie"), wrong.header("set-cookie"));
    setup.stop().await;
}

async fn x_forwarded_for_from_an_untrusted_peer_does_not_reset_the_login_limit(db: Database) {
    let limits = "[oauth]\nlogin_max_per_ip = 2\nlogin_window_s = 3600\n";
    let setup = Setup::start(db, limits).await;
    let client_id = public_client(&setup).await;
    let mut browser = Browser::default();
    let login = browser
        .get(&AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup))
        .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        browser.extra_headers = vec![("x-forwarded-for".into(), format!("203.0.113.{i}"))];
        statuses.push(
            submit_login(&setup, &browser, &login, "mallory", "Wrong-Password-1")
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 429],
        "the peer's own address is limited"
    );

    setup.stop().await;

    // Positive control: behind a trusted proxy, each forwarded client has its own budget.
    let setup = Setup::start_with(db, limits, |c| {
        c.server.trusted_proxies = vec![IpNet {
            addr: "127.0.0.1".parse().unwrap(),
            prefix: 32,
        }]
    })
    .await;
    let client_id = public_client(&setup).await;
    browser.forget_cookie();
    browser.extra_headers.clear();
    let login = browser
        .get(&AuthRequest::new(&setup, &client_id, REDIRECT).url(&setup))
        .await;
    for i in 0..4 {
        browser.extra_headers = vec![("x-forwarded-for".into(), format!("203.0.113.{i}"))];
        let page = submit_login(&setup, &browser, &login, "mallory", "Wrong-Password-1").await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    setup.stop().await;
}

on_both_databases!(
    pkce_downgrade_to_plain_is_refused,
    a_missing_verifier_is_refused,
    a_wrong_verifier_is_refused_and_spends_the_code,
    a_replayed_code_fails_and_revokes_the_first_tokens,
    a_redirect_uri_mismatch_shows_an_error_page,
    an_unregistered_redirect_is_never_followed,
    csrf_on_the_login_and_consent_forms_is_refused,
    an_expired_code_is_refused,
    a_foreign_resource_is_an_invalid_target,
    a_disabled_user_can_neither_log_in_nor_refresh,
    unknown_users_and_wrong_passwords_get_identical_answers,
    x_forwarded_for_from_an_untrusted_peer_does_not_reset_the_login_limit,
);
