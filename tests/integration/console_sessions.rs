//! The console session's lifetime: a session in use is renewed (a new token of the same family)
//! while its token is past half its life, and ends all the same at its absolute maximum
//! (`auth.refresh_token_ttl_s` after sign-in). Short token lifetimes; every wait is on the
//! event (the renewed cookie, the redirect to sign-in), bounded by the shared deadline.

use std::time::{Duration, Instant};

use actors::storage::users::Role;

use crate::console::Browser;
use crate::console_pages::sign_in;
use crate::fixture::DEADLINE;
use crate::harness::TestGateway;
use crate::postgres::{Db, database_toml};
use crate::users::create_user;

/// The session cookie in `page`'s `Set-Cookie` headers, when it sets one.
fn session_cookie_set(page: &crate::console::Page) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("authmcp_console="))
        .map(str::to_string)
}

/// A console session in use is renewed once its token is past half its life: a new session
/// cookie (a new token of the same family, so the CSRF token stays) that keeps working.
#[actix_rt::test]
async fn console_sessions_are_renewed_while_in_use() {
    let (database, _pg) = database_toml(Db::Sqlite);
    let gw = TestGateway::start_with(&database, |c| {
        c.rate_limit.login_max = 1000;
        c.auth.access_token_ttl = Duration::from_secs(2);
    })
    .await;
    create_user(&gw, "root", Role::Admin);
    let mut browser = Browser::new(&gw);
    sign_in(&mut browser, "root").await;
    let csrf = browser.cookie("csrf_token").unwrap().to_string();
    let first = browser.cookie("authmcp_console").unwrap().to_string();
    let deadline = Instant::now() + DEADLINE;
    let renewed = loop {
        let page = browser.get("/admin/mcp-servers").await;
        assert_eq!(page.status, 200, "the session ended: {}", page.body);
        if let Some(renewed) = session_cookie_set(&page) {
            break renewed;
        }
        assert!(Instant::now() < deadline, "the session was never renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(renewed.contains("Max-Age=2"), "{renewed}");
    assert!(renewed.contains("HttpOnly"), "{renewed}");
    let second = browser.cookie("authmcp_console").unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(browser.cookie("csrf_token"), Some(csrf.as_str()));
    // The new cookie works, for pages and for changes with the same CSRF token.
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let tested = browser
        .post_form("/admin/mcp-servers/999/test", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(tested.status, 404, "{}", tested.body);
    gw.stop().await.unwrap();
}

/// A session in constant use is renewed, but only until its maximum lifetime: the token issued
/// last expires on its own, and the next page is the sign-in page. Both a renewal and the end
/// must be seen, or the test fails at the deadline.
#[actix_rt::test]
async fn a_session_in_constant_use_ends_at_its_maximum_lifetime() {
    let (database, _pg) = database_toml(Db::Sqlite);
    let gw = TestGateway::start_with(&database, |c| {
        c.rate_limit.login_max = 1000;
        c.auth.access_token_ttl = Duration::from_secs(2);
        c.auth.refresh_token_ttl = Duration::from_secs(5);
    })
    .await;
    create_user(&gw, "root", Role::Admin);
    let mut browser = Browser::new(&gw);
    sign_in(&mut browser, "root").await;
    let mut renewals = 0;
    let deadline = Instant::now() + DEADLINE;
    let ended = loop {
        let page = browser.get("/admin").await;
        if page.status != 200 {
            break page;
        }
        if session_cookie_set(&page).is_some() {
            renewals += 1;
        }
        assert!(
            Instant::now() < deadline,
            "the session outlived its maximum lifetime ({renewals} renewals)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert_eq!(ended.header("location"), "/admin/login");
    assert!(
        renewals >= 1,
        "the session ended without ever being renewed"
    );
    // Ended for good: the same cookie keeps leading to the sign-in page.
    assert_eq!(browser.get("/admin/users").await.status, 303);
    gw.stop().await.unwrap();
}
