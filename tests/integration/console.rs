//! The admin console over HTTP, as a browser without JavaScript uses it: the setup wizard
//! (setup token, password policy, CSRF), the cookie session (sign-in, the admin API through the
//! cookie, CSRF on changes, sign-out revokes), who may sign in, and the pages' security headers.
//! SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actors::storage::users::Role;
use awc::http::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::TestGateway;
use crate::postgres::{Db, database_toml};
use crate::users::{PASSWORD, create_user, login, set_enabled};

const ADMIN_PASSWORD: &str = "Setup-Passw0rd!";

/// A cookie-keeping client that does not follow redirects.
pub(crate) struct Browser {
    base: String,
    cookies: BTreeMap<String, String>,
    client: awc::Client,
}

pub(crate) struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of the hidden or text input `name`.
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    pub(crate) fn new(gw: &TestGateway) -> Browser {
        Browser {
            base: gw.base_url.clone(),
            cookies: BTreeMap::new(),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .disable_redirects()
                .finish(),
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub(crate) async fn send(
        &mut self,
        method: awc::http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Page {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.insert_header(("cookie", jar.join("; ")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let mut response = match body {
            Some((content_type, bytes)) => request
                .insert_header(("content-type", content_type))
                .send_body(bytes)
                .await
                .expect("request failed"),
            None => request.send().await.expect("request failed"),
        };
        let bytes = response.body().limit(4 << 20).await.unwrap_or_default();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        self.send(awc::http::Method::GET, path, &[], None).await
    }

    pub(crate) async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            awc::http::Method::POST,
            path,
            &[],
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Page {
        self.send(
            awc::http::Method::POST,
            path,
            headers,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }
}

/// Signs `username` in through `POST /admin/api/login` (the original's JSON sign-in); the
/// answer and its `Set-Cookie` values.
async fn api_sign_in(browser: &mut Browser, username: &str) -> (Page, Vec<String>) {
    let signed_in = browser
        .post_json(
            "/admin/api/login",
            &[],
            json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let set_cookies = signed_in
        .headers
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (signed_in, set_cookies)
}

pub(crate) async fn gateway(db: Db) -> (TestGateway, Option<crate::postgres::PgDatabase>) {
    let (database, pg) = database_toml(db);
    let gw = TestGateway::start_with(&database, |c| {
        // Every test here signs in several times from 127.0.0.1.
        c.rate_limit.login_max = 1000;
    })
    .await;
    (gw, pg)
}

async fn setup_wizard(db: Db) {
    let (gw, _pg) = gateway(db).await;
    let token_file = gw.config.data_dir.join("setup-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let mut browser = Browser::new(&gw);

    let root = browser.get("/").await;
    assert_eq!(
        (root.status, root.header("location").as_str()),
        (303, "/setup")
    );
    // No administrator yet: the sign-in page sends people to the wizard.
    let login = browser.get("/admin/login").await;
    assert_eq!(
        (login.status, login.header("location").as_str()),
        (303, "/setup")
    );

    let form = browser.get(&format!("/setup?token={}", token.trim())).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(
        form.field("setup_token"),
        token.trim(),
        "the ?token= link fills the form"
    );
    let csrf = form.field("csrf_token");
    let fields = |token: &'static str, password: &'static str| {
        vec![
            ("setup_token", token),
            ("username", "root"),
            ("email", "root@example.test"),
            ("password", password),
            ("password_confirm", password),
        ]
    };
    let token: &'static str = Box::leak(token.trim().to_string().into_boxed_str());
    let csrf: &'static str = Box::leak(csrf.into_boxed_str());

    // Without the form's CSRF token: refused before anything else is looked at.
    let refused = browser
        .post_form("/setup", &fields(token, ADMIN_PASSWORD))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Form expired"), "{}", refused.body);

    let with_csrf = |mut f: Vec<(&'static str, &'static str)>| {
        f.push(("csrf_token", csrf));
        f
    };
    let wrong = browser
        .post_form(
            "/setup",
            &with_csrf(fields("not-the-token", ADMIN_PASSWORD)),
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(
        wrong.body.contains("The setup token is wrong"),
        "{}",
        wrong.body
    );
    assert!(token_file.exists());

    let weak = browser
        .post_form("/setup", &with_csrf(fields(token, "short")))
        .await;
    assert_eq!(weak.status, 400, "{}", weak.body);
    assert!(
        weak.body
            .contains("Password must be at least 8 characters long"),
        "{}",
        weak.body
    );
    assert!(
        weak.body.contains("Password must contain a digit"),
        "{}",
        weak.body
    );

    let mut differing = with_csrf(fields(token, ADMIN_PASSWORD));
    differing[4].1 = "Other-Passw0rd!";
    let differing = browser.post_form("/setup", &differing).await;
    assert_eq!(differing.status, 400);
    assert!(
        differing.body.contains("The two passwords differ"),
        "{}",
        differing.body
    );

    // An account (not an administrator) made before setup holds the address in another case.
    create_user(&gw, "early", Role::User);
    let mut clash = with_csrf(fields(token, ADMIN_PASSWORD));
    clash[2].1 = "EARLY@example.test";
    let clash = browser.post_form("/setup", &clash).await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    assert!(
        clash
            .body
            .contains("Email `EARLY@example.test` is already the address of another account."),
        "{}",
        clash.body
    );
    assert!(token_file.exists());

    let done = browser
        .post_form("/setup", &with_csrf(fields(token, ADMIN_PASSWORD)))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), "/admin");
    assert!(
        browser.cookie("authmcp_console").is_some(),
        "signed in at once"
    );
    assert!(!token_file.exists(), "the used setup token is removed");

    let dashboard = browser.get("/admin").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(dashboard.body.contains("Dashboard"));
    assert!(dashboard.body.contains("root"));

    // Setup is over: the wizard is gone, `/` leads to the console.
    let again = browser.get("/setup").await;
    assert_eq!(
        (again.status, again.header("location").as_str()),
        (303, "/admin/login")
    );
    let replay = browser
        .post_form("/setup", &with_csrf(fields(token, ADMIN_PASSWORD)))
        .await;
    assert_eq!(replay.status, 303);
    assert_eq!(replay.header("location"), "/admin/login");
    let root = browser.get("/").await;
    assert_eq!(root.header("location"), "/admin");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn setup_wizard_needs_the_setup_token_on_sqlite() {
    setup_wizard(Db::Sqlite).await;
}

#[actix_rt::test]
async fn setup_wizard_needs_the_setup_token_on_postgres() {
    setup_wizard(Db::Postgres).await;
}

async fn cookie_session_and_csrf(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "admin", Role::Admin);
    create_user(&gw, "alice", Role::User);
    let mut anonymous = Browser::new(&gw);

    // Not signed in: pages lead to the sign-in form, the API answers 401.
    let page = anonymous.get("/admin").await;
    assert_eq!(
        (page.status, page.header("location").as_str()),
        (303, "/admin/login")
    );
    let api = anonymous.get("/admin/api/mcp-servers").await;
    assert_eq!(api.status, 401);

    // No account enumeration: an unknown user and a wrong password get the same answer.
    let unknown = anonymous
        .post_json(
            "/admin/api/login",
            &[],
            json!({"username": "nobody", "password": PASSWORD}),
        )
        .await;
    let wrong = anonymous
        .post_json(
            "/admin/api/login",
            &[],
            json!({"username": "admin", "password": "Wrong-Passw0rd!"}),
        )
        .await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.json(), wrong.json());
    assert_eq!(wrong.json()["detail"], "Invalid username or password.");
    // A non-administrator with the right password is told the console is not for them.
    let user = anonymous
        .post_json(
            "/admin/api/login",
            &[],
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(user.status, 403, "{}", user.body);
    assert!(
        user.json()["detail"]
            .as_str()
            .unwrap()
            .contains("not an administrator")
    );
    assert!(anonymous.cookie("authmcp_console").is_none());

    let mut admin = Browser::new(&gw);
    let (signed_in, set_cookies) = api_sign_in(&mut admin, "admin").await;
    let session = set_cookies
        .iter()
        .find(|c| c.starts_with("authmcp_console="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(session.contains("Path=/"), "{session}");
    let csrf = signed_in.json()["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(admin.cookie("csrf_token"), Some(csrf.as_str()));

    // The cookie opens the admin API; reading needs no CSRF token.
    let servers = admin.get("/admin/api/mcp-servers").await;
    assert_eq!(servers.status, 200, "{}", servers.body);
    // A change through the cookie needs the CSRF token, in the header…
    let delete = |csrf: Option<&str>| {
        let headers: Vec<(&str, String)> = csrf
            .map(|t| vec![("x-csrf-token", t.to_string())])
            .unwrap_or_default();
        headers
    };
    for presented in [None, Some("forged"), Some(csrf.as_str())] {
        let headers = delete(presented);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = admin
            .send(
                awc::http::Method::DELETE,
                "/admin/api/mcp-servers/999",
                &headers,
                None,
            )
            .await;
        let expected = if presented == Some(csrf.as_str()) {
            404
        } else {
            403
        };
        assert_eq!(reply.status, expected, "{presented:?}: {}", reply.body);
        if expected == 403 {
            assert_eq!(reply.json()["error"], "csrf_failed");
        }
    }
    // …or, for a form, in the field `csrf_token`.
    let no_field = admin.post_form("/admin/logout", &[]).await;
    assert_eq!(no_field.status, 403, "{}", no_field.body);
    let wrong_field = admin
        .post_form("/admin/logout", &[("csrf_token", "forged")])
        .await;
    assert_eq!(wrong_field.status, 403);
    assert_eq!(admin.get("/admin").await.status, 200, "still signed in");

    // Bearer-token calls need no CSRF token.
    let bearer = login(&gw, "admin").await;
    let reply = crate::http::get(&gw.url("/admin/api/mcp-servers"), Some(&bearer)).await;
    assert_eq!(reply.status, 200);
    let mut plain = Browser::new(&gw);
    let auth = format!("Bearer {bearer}");
    let reply = plain
        .send(
            awc::http::Method::DELETE,
            "/admin/api/mcp-servers/999",
            &[("authorization", auth.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);

    // Sign-out revokes the session: the old cookie no longer works anywhere.
    let old_cookie = admin.cookie("authmcp_console").unwrap().to_string();
    let out = admin
        .post_form("/admin/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(
        (out.status, out.header("location").as_str()),
        (303, "/admin/login")
    );
    assert!(admin.cookie("authmcp_console").is_none(), "cookie cleared");
    let mut replay = Browser::new(&gw);
    replay.cookies.insert("authmcp_console".into(), old_cookie);
    let page = replay.get("/admin").await;
    assert_eq!(
        (page.status, page.header("location").as_str()),
        (303, "/admin/login")
    );
    assert_eq!(replay.get("/admin/api/mcp-servers").await.status, 401);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn cookie_session_and_csrf_on_sqlite() {
    cookie_session_and_csrf(Db::Sqlite).await;
}

#[actix_rt::test]
async fn cookie_session_and_csrf_on_postgres() {
    cookie_session_and_csrf(Db::Postgres).await;
}

#[actix_rt::test]
async fn the_sign_in_form_the_dashboard_and_a_disabled_administrator() {
    let (gw, _pg) = gateway(Db::Sqlite).await;
    create_user(&gw, "admin", Role::Admin);
    let mut browser = Browser::new(&gw);
    let form = browser.get("/admin/login").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.field("csrf_token");
    let bad = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf_token", &csrf),
                ("username", "admin"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("Invalid username or password."),
        "{}",
        bad.body
    );
    let no_csrf = browser
        .post_form(
            "/admin/login",
            &[("username", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    let good = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf_token", &csrf),
                ("username", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (good.status, good.header("location").as_str()),
        (303, "/admin")
    );
    for window in ["1h", "24h", "7d"] {
        let page = browser.get(&format!("/admin?window={window}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Servers online"), "{}", page.body);
        assert!(page.body.contains("<svg class=\"chart\""), "{}", page.body);
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
    }
    // The stylesheet and script the pages link to, cached for long.
    let page = browser.get("/admin").await;
    let css_start = page.body.find("/admin/static/console.").unwrap();
    let css_end = page.body[css_start..].find('"').unwrap() + css_start;
    let asset = browser.get(&page.body[css_start..css_end]).await;
    assert_eq!(asset.status, 200);
    assert!(asset.header("cache-control").contains("immutable"));
    // Signed in already: the sign-in form leads to the console.
    assert_eq!(
        browser.get("/admin/login").await.header("location"),
        "/admin"
    );

    // A disabled administrator's session stops working once the gateway sees the change.
    set_enabled(&gw, "admin", false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = browser.get("/admin").await;
        if page.status == 303 {
            assert_eq!(page.header("location"), "/admin/login");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disabled admin's cookie still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await.unwrap();
}

/// Served over https (the public URL's scheme), the session cookie is `__Host-authmcp_console`
/// (`Secure`, `HttpOnly`, `Path=/`, no `Domain`), the CSRF cookie is `Secure`, and only the
/// prefixed name opens the console.
#[actix_rt::test]
async fn over_https_the_session_cookie_has_the_host_prefix() {
    let gw = TestGateway::start_with("", |c| {
        c.server.public_url = "https://gw.example.test".parse().unwrap();
    })
    .await;
    create_user(&gw, "admin", Role::Admin);
    let mut admin = Browser::new(&gw);
    let (_, set) = api_sign_in(&mut admin, "admin").await;
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-authmcp_console="))
        .unwrap_or_else(|| panic!("{set:?}"));
    for attribute in ["; Secure", "; HttpOnly", "; Path=/", "; SameSite=Lax"] {
        assert!(session.contains(attribute), "{attribute}: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let csrf = set.iter().find(|c| c.starts_with("csrf_token=")).unwrap();
    assert!(csrf.contains("; Secure"), "{csrf}");
    assert_eq!(admin.get("/admin").await.status, 200);

    // The same token under the plain name is not a session here.
    let token = admin.cookie("__Host-authmcp_console").unwrap().to_string();
    let mut plain = Browser::new(&gw);
    plain.cookies.insert("authmcp_console".into(), token);
    let page = plain.get("/admin").await;
    assert_eq!(
        (page.status, page.header("location").as_str()),
        (303, "/admin/login")
    );
    gw.stop().await.unwrap();
}
