//! The authorization server end to end: `/authorize` with its login and consent forms driven by
//! a plain HTTP client with a cookie jar (no JavaScript, as the form contract promises), the
//! token endpoint, revocation and introspection, against the real gateway on SQLite and on
//! PostgreSQL, with a real MCP backend behind `/mcp`. Each attack has its own test.

mod attacks;
mod code_flow;
mod endpoints;

use std::cell::RefCell;

use actors::auth::authorization::pkce;
use awc::http::header::HeaderMap;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http::{self, Reply};
pub use crate::postgres::Db as Database;
use crate::postgres::{Db, PgDatabase, database_toml};
use crate::users::PASSWORD;

/// A gateway with one real backend (`alpha`) and `extra` TOML appended.
pub struct Setup {
    pub gw: TestGateway,
    /// Kept alive (and killed) with the gateway.
    _backend: HttpFixture,
    _pg: Option<PgDatabase>,
}

impl Setup {
    pub async fn start(db: Db, extra: &str) -> Setup {
        Self::start_with(db, extra, |_| {}).await
    }

    pub async fn start_with(
        db: Db,
        extra: &str,
        tweak: impl FnOnce(&mut authmcp_gateway::config::GatewayConfig),
    ) -> Setup {
        let backend = HttpFixture::start(1);
        let (database, pg) = database_toml(db);
        let config = format!(
            "{database}[[backends]]\nname = \"alpha\"\nurl = \"{}\"\nhealth_interval_s = 60\n{extra}",
            backend.url()
        );
        let gw = TestGateway::start_with(&config, tweak).await;
        gw.wait_online(1).await;
        Setup {
            gw,
            _backend: backend,
            _pg: pg,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.gw.url(path)
    }

    /// Stops the gateway (drained, actors stopped) before its database goes away.
    pub async fn stop(self) {
        self.gw.stop().await.expect("the gateway stops cleanly");
    }

    /// `<public_url>/mcp`.
    pub fn mcp(&self) -> String {
        self.gw.url("/mcp")
    }
}

/// What a request to the authorization endpoint answered.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
    }

    /// A hidden field's value (`<input type="hidden" name="…" value="…">`).
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no hidden field {name} in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// The body with tera's HTML escapes undone, for looking for shown values.
    pub fn text(&self) -> String {
        self.body
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    pub fn is_login(&self) -> bool {
        self.body.contains("name=\"action\" value=\"login\"")
    }

    pub fn is_consent(&self) -> bool {
        self.body.contains("name=\"decision\" value=\"approve\"")
    }
}

/// A browser without JavaScript: follows nothing by itself, keeps the one cookie the
/// authorization server sets, sends it back.
pub struct Browser {
    http: awc::Client,
    cookie: RefCell<Option<String>>,
    /// Sent with every request (e.g. `X-Forwarded-For`).
    pub extra_headers: Vec<(String, String)>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            http: awc::Client::builder()
                .disable_redirects()
                .timeout(std::time::Duration::from_secs(30))
                .finish(),
            cookie: RefCell::new(None),
            extra_headers: Vec::new(),
        }
    }
}

impl Browser {
    pub fn forget_cookie(&self) {
        *self.cookie.borrow_mut() = None;
    }

    async fn send(&self, request: awc::ClientRequest, form: Option<String>) -> Page {
        let mut request = request;
        if let Some(cookie) = self.cookie.borrow().as_deref() {
            request = request.insert_header(("cookie", cookie));
        }
        for (k, v) in &self.extra_headers {
            request = request.insert_header((k.as_str(), v.as_str()));
        }
        let mut response = match form {
            Some(body) => {
                request
                    .insert_header(("content-type", "application/x-www-form-urlencoded"))
                    .send_body(body)
                    .await
            }
            None => request.send().await,
        }
        .expect("request failed");
        if let Some(set) = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
        {
            let pair = set.split(';').next().unwrap().to_string();
            *self.cookie.borrow_mut() = Some(pair);
        }
        let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        self.send(self.http.get(url), None).await
    }

    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(self.http.post(url), Some(body)).await
    }
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    let verifier = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let challenge = pkce::s256_challenge(&verifier);
    (verifier, challenge)
}

/// One authorization request's parameters.
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Option<String>,
    pub resource: String,
    pub state: String,
    pub challenge: String,
    pub verifier: String,
    /// Overrides and additions (a value of "" removes the parameter).
    pub extra: Vec<(String, String)>,
}

impl AuthRequest {
    pub fn new(setup: &Setup, client_id: &str, redirect_uri: &str) -> AuthRequest {
        let (verifier, challenge) = pkce_pair();
        AuthRequest {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scope: Some("mcp".into()),
            resource: setup.mcp(),
            state: format!("st-{:x}", rand::random::<u64>()),
            challenge,
            verifier,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> AuthRequest {
        self.extra.push((key.into(), value.into()));
        self
    }

    pub fn url(&self, setup: &Setup) -> String {
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), self.client_id.clone()),
            ("redirect_uri".into(), self.redirect_uri.clone()),
            ("code_challenge".into(), self.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
            ("resource".into(), self.resource.clone()),
            ("state".into(), self.state.clone()),
        ];
        if let Some(scope) = &self.scope {
            pairs.push(("scope".into(), scope.clone()));
        }
        for (k, v) in &self.extra {
            pairs.retain(|(key, _)| key != k);
            if !v.is_empty() {
                pairs.push((k.clone(), v.clone()));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        setup.url(&format!("/authorize?{query}"))
    }
}

/// The query parameters of a redirect to the client.
pub fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Logs in on the login page `page` (which must be one) as `username`.
pub async fn submit_login(
    setup: &Setup,
    browser: &Browser,
    page: &Page,
    username: &str,
    password: &str,
) -> Page {
    assert!(
        page.is_login(),
        "not the login page ({}): {}",
        page.status,
        page.body
    );
    browser
        .post_form(
            &setup.url("/authorize"),
            &[
                ("request", &page.hidden("request")),
                ("csrf_token", &page.hidden("csrf_token")),
                ("username", username),
                ("password", password),
                ("action", "login"),
            ],
        )
        .await
}

pub async fn submit_consent(setup: &Setup, browser: &Browser, page: &Page, decision: &str) -> Page {
    assert!(
        page.is_consent(),
        "not the consent page ({}): {}",
        page.status,
        page.body
    );
    browser
        .post_form(
            &setup.url("/authorize"),
            &[
                ("request", &page.hidden("request")),
                ("csrf_token", &page.hidden("csrf_token")),
                ("decision", decision),
            ],
        )
        .await
}

/// The whole browser part: authorization request → login form → consent form (approve) → the
/// redirect to the client. Returns the redirect's query.
pub async fn authorize(
    setup: &Setup,
    browser: &Browser,
    request: &AuthRequest,
    username: &str,
) -> std::collections::HashMap<String, String> {
    let mut page = browser.get(&request.url(setup)).await;
    if page.is_login() {
        let login = submit_login(setup, browser, &page, username, PASSWORD).await;
        assert_eq!(login.status, 303, "{}", login.body);
        page = browser.get(&login.location()).await;
    }
    if page.is_consent() {
        page = submit_consent(setup, browser, &page, "approve").await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let location = page.location();
    let target = url::Url::parse(&location).unwrap();
    let expected = url::Url::parse(&request.redirect_uri).unwrap();
    assert_eq!(
        (target.origin(), target.path()),
        (expected.origin(), expected.path()),
        "redirected elsewhere: {location}"
    );
    query_of(&location)
}

/// Registers a client through DCR (RFC 7591); returns the registration answer.
pub async fn register(setup: &Setup, metadata: Value) -> Value {
    let reply = http::post_json(&setup.url("/oauth/register"), None, &metadata).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

pub const REDIRECT: &str = "http://127.0.0.1:7777/cb";

/// A public client (PKCE only) with the refresh_token grant.
pub async fn public_client(setup: &Setup) -> String {
    register(
        setup,
        json!({
            "client_name": "Test CLI",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A form POST to a token-side endpoint, optionally with HTTP Basic credentials.
pub async fn post_form(url: &str, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let mut request = client
        .post(url)
        .insert_header(("content-type", "application/x-www-form-urlencoded"));
    if let Some((id, secret)) = basic {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(id),
            encode(secret)
        ));
        request = request.insert_header(("authorization", format!("Basic {credentials}")));
    }
    let mut response = request.send_body(body).await.expect("request failed");
    let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// The authorization_code grant for a public client.
pub async fn redeem(setup: &Setup, request: &AuthRequest, code: &str) -> Reply {
    post_form(
        &setup.url("/oauth/token"),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &request.redirect_uri),
            ("code_verifier", &request.verifier),
            ("client_id", &request.client_id),
            ("resource", &request.resource),
        ],
    )
    .await
}

/// Asserts an RFC 6749 §5.2 error answer.
pub fn assert_token_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"], code, "{}", reply.body);
    assert!(
        reply.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
}

/// `initialize` + `tools/call alpha_echo` on `path` with `token`: the final HTTP status and
/// JSON-RPC answer of the call.
pub async fn call_echo(setup: &Setup, path: &str, token: &str) -> (u16, Value) {
    let mut client = crate::mcp_client::McpClient::new(&setup.url(path), Some(token));
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let reply = client.post(&init.to_string(), &[]).await;
    if reply.status != 200 {
        return (
            reply.status,
            serde_json::from_str(&reply.body).unwrap_or(Value::Null),
        );
    }
    client.session = reply
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    client.version = "2025-06-18".into();
    let tool = if path == "/mcp" { "alpha_echo" } else { "echo" };
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{"text":"hi"}}});
    let reply = client.post(&call.to_string(), &[]).await;
    let value = if reply.status == 200 {
        reply.json()
    } else {
        serde_json::from_str(&reply.body).unwrap_or(Value::Null)
    };
    (reply.status, value)
}
