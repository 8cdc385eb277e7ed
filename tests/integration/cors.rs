//! CORS for browser clients: preflights before authentication, any origin on the OAuth endpoints a
//! browser `fetch`es, only the endpoint's own allowed origins on `/mcp`.

use std::time::Duration;

use awc::http::Method;
use serde_json::json;

use crate::harness::TestGateway;
use crate::users::{create_user, login};
use actors::storage::users::Role;

struct Answer {
    status: u16,
    headers: awc::http::header::HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(
    gw: &TestGateway,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Answer {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut request = client.request(method, gw.url(path));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request failed");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
    }
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        (
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        ),
    ]
}

#[actix_rt::test]
async fn oauth_endpoints_answer_any_origin_and_mcp_only_its_own() {
    let gw = TestGateway::start("").await;
    let web_app = "https://inspector.example";

    // OAuth endpoints a browser client fetches: any origin, preflight before authentication.
    for path in [
        "/oauth/token",
        "/oauth/register",
        "/.well-known/oauth-authorization-server",
    ] {
        let answer = send(
            &gw,
            Method::OPTIONS,
            path,
            &preflight(web_app, "POST"),
            None,
        )
        .await;
        assert_eq!(answer.status, 204, "{path}");
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert!(
            answer
                .header("access-control-allow-headers")
                .is_some_and(|h| h.contains("authorization")),
            "{path}"
        );
    }
    let registered = send(
        &gw,
        Method::POST,
        "/oauth/register",
        &[("origin", web_app)],
        Some(json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"})),
    )
    .await;
    assert_eq!(registered.status, 201);
    assert_eq!(registered.header("access-control-allow-origin"), Some("*"));

    // /mcp: a loopback origin is echoed (with Vary), a foreign one gets no CORS headers at all.
    let local = "http://localhost:6274";
    let answer = send(
        &gw,
        Method::OPTIONS,
        "/mcp",
        &preflight(local, "POST"),
        None,
    )
    .await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("access-control-allow-origin"), Some(local));
    assert_eq!(answer.header("vary"), Some("Origin"));
    let answer = send(
        &gw,
        Method::OPTIONS,
        "/mcp",
        &preflight(web_app, "POST"),
        None,
    )
    .await;
    assert_eq!(answer.header("access-control-allow-origin"), None);

    // A real call from the allowed origin can read the session id and the auth challenge.
    create_user(&gw, "root", Role::Admin);
    let token = login(&gw, "root").await;
    let bearer = format!("Bearer {token}");
    let initialized = send(
        &gw,
        Method::POST,
        "/mcp",
        &[
            ("origin", local),
            ("authorization", &bearer),
            ("accept", "application/json, text/event-stream"),
        ],
        Some(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"web","version":"1"}}})),
    )
    .await;
    assert_eq!(initialized.status, 200);
    assert_eq!(
        initialized.header("access-control-allow-origin"),
        Some(local)
    );
    assert!(
        initialized
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("mcp-session-id") && h.contains("www-authenticate"))
    );
    // Pages and the admin API are not for cross-origin fetches.
    let answer = send(
        &gw,
        Method::OPTIONS,
        "/admin/api/mcp-servers",
        &preflight(local, "GET"),
        None,
    )
    .await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
    gw.stop().await.unwrap();
}
