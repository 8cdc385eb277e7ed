//! Sign-in rate limits (`rate_limit.login_*`): counted per client IP before any password is
//! checked, and a forged `X-Forwarded-For` from an untrusted peer does not give a fresh allowance.

use std::time::Duration;

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::harness::TestGateway;
use crate::users::{PASSWORD, create_user};

/// `POST path` with a JSON body and, optionally, an `X-Forwarded-For` header.
async fn post(
    gw: &TestGateway,
    path: &str,
    forwarded_for: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut request = client.post(gw.url(path));
    if let Some(ip) = forwarded_for {
        request = request.insert_header(("x-forwarded-for", ip));
    }
    let mut response = request.send_json(&body).await.expect("request failed");
    let bytes = response.body().await.unwrap_or_default();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        response.status().as_u16(),
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn attempt(password: &str) -> Value {
    json!({ "username": "alice", "password": password })
}

#[actix_rt::test]
async fn sign_in_attempts_are_limited_per_client_ip_and_a_forged_header_does_not_reset_them() {
    let gw = TestGateway::start_with("", |c| {
        c.rate_limit.login_max = 3;
        c.rate_limit.login_window = Duration::from_secs(3600);
        c.auth.allow_registration = true;
    })
    .await;
    create_user(&gw, "alice", Role::User);
    for _ in 0..3 {
        let (status, _, _) = post(&gw, "/auth/login", None, attempt("wrong-Passw0rd!")).await;
        assert_eq!(status, 401);
    }
    // The right password no longer helps: the limit counts attempts, not failures.
    let (status, retry_after, body) = post(&gw, "/auth/login", None, attempt(PASSWORD)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&seconds), "Retry-After {seconds}");
    // The peer (127.0.0.1) is not a trusted proxy: its X-Forwarded-For is ignored.
    for forged in ["203.0.113.9", "198.51.100.7, 203.0.113.10"] {
        let (status, _, _) = post(&gw, "/auth/login", Some(forged), attempt(PASSWORD)).await;
        assert_eq!(
            status, 429,
            "forged X-Forwarded-For {forged} must not reset the limit"
        );
    }
    // Registration shares the allowance.
    let (status, _, _) = post(
        &gw,
        "/auth/register",
        None,
        json!({ "username": "bob", "email": "bob@example.test", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 429);
    // So does the console's sign-in (the form and `POST /admin/api/login` share one check).
    let (status, _, body) = post(&gw, "/admin/api/login", None, attempt(PASSWORD)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let gw = TestGateway::start_with("", |c| {
        c.rate_limit.login_max = 2;
        c.rate_limit.login_window = Duration::from_secs(3600);
        c.server.trusted_proxies = vec![actors::spec::IpNet {
            addr: "127.0.0.1".parse().unwrap(),
            prefix: 32,
        }];
    })
    .await;
    create_user(&gw, "alice", Role::User);
    let first = Some("198.51.100.1");
    for _ in 0..2 {
        let (status, _, _) = post(&gw, "/auth/login", first, attempt("wrong-Passw0rd!")).await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = post(&gw, "/auth/login", first, attempt(PASSWORD)).await;
    assert_eq!(status, 429, "the first client used its allowance");
    let (status, _, body) = post(&gw, "/auth/login", Some("198.51.100.2"), attempt(PASSWORD)).await;
    assert_eq!(
        status, 200,
        "another client behind the proxy is not affected: {body}"
    );
    gw.stop().await.unwrap();
}
