//! `GET /metrics` against the real gateway: who may scrape, and that the numbers follow what
//! really happened — MCP calls through a real rmcp backend, sessions and streams opening and
//! closing, a backend going offline, reloads, sign-in refusals. The exposition text is parsed,
//! not grepped, so a label in the wrong place fails.

use std::collections::BTreeMap;

use actors::backend::BackendState;
use actors::storage::users::Role;
use serde_json::json;

use crate::fixture::{HttpFixture, status, wait_for};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::oauth_flow::{Database, Setup, post_form, public_client};
use crate::users::{PASSWORD, create_mcp_user, create_user, login};

const SCRAPE_TOKEN: &str = "prometheus-scrape-token-0123456789";

fn backend(name: &str, fixture: &HttpFixture) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\nhealth_interval_s = 1\n",
        fixture.url()
    )
}

/// `/metrics` as `token` sees it: (status, body).
async fn scrape_as(gw: &TestGateway, token: Option<&str>) -> (u16, String, String) {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let mut request = client.get(gw.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.expect("request failed");
    let body = response.body().limit(4 << 20).await.unwrap_or_default();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

type Labels = BTreeMap<String, String>;

/// The parsed exposition: sample name → its series (labels, value).
struct Exposition(BTreeMap<String, Vec<(Labels, f64)>>);

impl Exposition {
    fn parse(text: &str) -> Exposition {
        assert!(text.trim_end().ends_with("# EOF"), "no # EOF: {text}");
        let mut samples: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("closing brace");
                    let labels = inner
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.entry(name).or_default().push((labels, value));
        }
        Exposition(samples)
    }

    /// The value of `name` with exactly `labels`; 0 when the series does not exist (yet).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .get(name)
            .and_then(|series| series.iter().find(|(l, _)| *l == wanted))
            .map_or(0.0, |(_, v)| *v)
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

async fn scrape(gw: &TestGateway, token: &str) -> Exposition {
    let (status, content_type, body) = scrape_as(gw, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    Exposition::parse(&body)
}

#[actix_rt::test]
async fn only_admins_and_the_scrape_token_may_scrape() {
    let setup = Setup::start(
        Database::Sqlite,
        &format!(
            "[oauth]\npassword_grant_enabled = true\n[metrics]\nscrape_token = {SCRAPE_TOKEN:?}\n"
        ),
    )
    .await;
    let gw = &setup.gw;
    create_mcp_user(gw, "alice").await;
    create_user(gw, "root", Role::Admin);

    let (status, _, _) = scrape_as(gw, None).await;
    assert_eq!(status, 401, "anonymous");
    let (status, _, _) = scrape_as(gw, Some("not-the-scrape-token-at-all")).await;
    assert_eq!(status, 401, "a wrong token");
    let user = login(gw, "alice").await;
    let (status, _, body) = scrape_as(gw, Some(&user)).await;
    assert_eq!(status, 403, "a user without the admin role: {body}");

    // An OAuth client's token, even an administrator's, is not accepted on /metrics.
    let client = public_client(&setup).await;
    let fields = [
        ("grant_type", "password"),
        ("username", "root"),
        ("password", PASSWORD),
        ("client_id", client.as_str()),
    ];
    let tokens = post_form(&setup.url("/oauth/token"), None, &fields).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let oauth = tokens.body["access_token"].as_str().unwrap();
    let (status, _, _) = scrape_as(gw, Some(oauth)).await;
    assert_eq!(status, 401, "an OAuth client's token");

    let admin = login(gw, "root").await;
    let exposition = scrape(gw, &admin).await;
    assert!(exposition.has("authmcp_mcp_sessions_active"));
    // API tokens: an administrator's opens /metrics, a user's does not.
    let api_token = |username: &'static str| {
        let admin = admin.clone();
        let url = setup.url("/admin/api/api-tokens");
        async move {
            let created = crate::http::post_json(
                &url,
                Some(&admin),
                &json!({ "username": username, "name": "prometheus" }),
            )
            .await;
            assert_eq!(created.status, 201, "{}", created.body);
            created.body["token"].as_str().unwrap().to_string()
        }
    };
    assert!(
        scrape(gw, &api_token("root").await)
            .await
            .has("authmcp_mcp_sessions_active")
    );
    let (status, _, _) = scrape_as(gw, Some(&api_token("alice").await)).await;
    assert_eq!(status, 403, "a user's API token");
    let exposition = scrape(gw, SCRAPE_TOKEN).await;
    assert_eq!(
        exposition.value(
            "authmcp_backend_state",
            &[("backend", "alpha"), ("state", "online")]
        ),
        1.0
    );
    setup.stop().await;
}

#[actix_rt::test]
async fn metrics_can_be_switched_off() {
    let gw = TestGateway::start("[metrics]\nenabled = false\n").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let (status, _, _) = scrape_as(&gw, Some(&admin)).await;
    assert_eq!(status, 404);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn requests_and_latencies_match_the_calls_made() {
    let web = HttpFixture::start(3);
    let gw = TestGateway::start(&backend("web", &web)).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let token = login(&gw, "alice").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    for id in 1..=2 {
        let reply = client.request(id, "tools/list", json!({})).await;
        assert!(reply["result"]["tools"].is_array(), "{reply}");
    }
    for id in 10..13 {
        let reply = client
            .request(
                id,
                "tools/call",
                json!({"name":"web_echo","arguments":{"text":"counted"}}),
            )
            .await;
        assert_eq!(reply["result"]["content"][0]["text"], "counted");
    }
    let reply = client
        .request(20, "tools/call", json!({"name":"nope","arguments":{}}))
        .await;
    assert!(reply["error"].is_object(), "{reply}");
    client.request(21, "ping", json!({})).await;

    let m = scrape(&gw, &admin).await;
    let requests = |method: &str, backend: &str, outcome: &str| {
        m.value(
            "authmcp_mcp_requests_total",
            &[
                ("method", method),
                ("backend", backend),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(requests("initialize", "", "ok"), 1.0);
    assert_eq!(requests("notification", "", "accepted"), 1.0);
    assert_eq!(requests("tools/list", "", "ok"), 2.0);
    assert_eq!(requests("tools/call", "web", "ok"), 3.0);
    assert_eq!(requests("tools/call", "", "error"), 1.0);
    assert_eq!(requests("ping", "", "ok"), 1.0);
    let total: f64 = m.0["authmcp_mcp_requests_total"]
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 9.0, "no other request was counted");
    assert_eq!(
        m.value("authmcp_mcp_backend_seconds_count", &[("backend", "web")]),
        3.0
    );
    assert_eq!(
        m.value(
            "authmcp_mcp_gateway_seconds_count",
            &[("method", "tools/call")]
        ),
        4.0
    );
    assert_eq!(
        m.value(
            "authmcp_mcp_gateway_seconds_count",
            &[("method", "tools/list")]
        ),
        2.0
    );
    // Every observation lands in a bucket: the +Inf bucket equals the count.
    assert_eq!(
        m.value(
            "authmcp_mcp_backend_seconds_bucket",
            &[("backend", "web"), ("le", "+Inf")]
        ),
        3.0
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn session_and_stream_gauges_follow_clients() {
    let web = HttpFixture::start(3);
    let gw = TestGateway::start(&backend("web", &web)).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let token = login(&gw, "alice").await;
    let gauges = |m: &Exposition| {
        (
            m.value("authmcp_mcp_sessions_active", &[]),
            m.value("authmcp_mcp_streams_open", &[("kind", "get")]),
            m.value("authmcp_mcp_streams_open", &[("kind", "answer")]),
        )
    };
    assert_eq!(gauges(&scrape(&gw, &admin).await), (0.0, 0.0, 0.0));

    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-11-25").await;
    let session = client.session.clone().unwrap();
    assert_eq!(gauges(&scrape(&gw, &admin).await), (1.0, 0.0, 0.0));

    // A GET stream, held open.
    let http = awc::Client::builder().disable_timeout().finish();
    let listening = http
        .get(&client.url)
        .bearer_auth(&token)
        .insert_header(("accept", "text/event-stream"))
        .insert_header(("mcp-protocol-version", client.version.as_str()))
        .insert_header(("mcp-session-id", session.as_str()))
        .send()
        .await
        .expect("GET failed");
    assert_eq!(listening.status().as_u16(), 200);
    assert_eq!(gauges(&scrape(&gw, &admin).await), (1.0, 1.0, 0.0));

    // A slow call streamed back: its answer stream is counted from the moment the response
    // headers (and, for 2025-11-25, the priming event) arrive until the answer ends.
    let call = json!({"jsonrpc":"2.0","id":5,"method":"tools/call",
        "params":{"name":"web_slow","arguments":{"ms":3000}}})
    .to_string();
    let mut answer = http
        .post(&client.url)
        .bearer_auth(&token)
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"))
        .insert_header(("mcp-protocol-version", client.version.as_str()))
        .insert_header(("mcp-session-id", session.as_str()))
        .send_body(call)
        .await
        .expect("POST failed");
    assert_eq!(answer.status().as_u16(), 200);
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The fixture (rmcp) answers calls with an event stream: the POST's answer stream.
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(gauges(&scrape(&gw, &admin).await), (1.0, 1.0, 1.0));
    let body = answer.body().limit(1 << 20).await.expect("the answer");
    assert!(String::from_utf8_lossy(&body).contains("\"result\""));

    // Ending the session closes its streams.
    assert_eq!(client.delete().await, 204);
    drop(listening);
    assert_eq!(gauges(&scrape(&gw, &admin).await), (0.0, 0.0, 0.0));
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn backend_health_gauge_follows_a_backend_going_offline() {
    let mut web = HttpFixture::start(1);
    let gw = TestGateway::start(&backend("web", &web)).await;
    gw.wait_online(1).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let state = |m: &Exposition, s: &str| {
        m.value("authmcp_backend_state", &[("backend", "web"), ("state", s)])
    };
    let m = scrape(&gw, &admin).await;
    assert_eq!((state(&m, "online"), state(&m, "offline")), (1.0, 0.0));

    web.kill();
    wait_for(gw.handle(), "web offline", |s| {
        status(s, "web").is_some_and(|b| b.state == BackendState::Offline)
    })
    .await;
    let m = scrape(&gw, &admin).await;
    assert_eq!((state(&m, "online"), state(&m, "offline")), (0.0, 1.0));
    assert_eq!(state(&m, "degraded") + state(&m, "starting"), 0.0);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn reloads_and_sign_in_refusals_are_counted() {
    let mut gw = TestGateway::start("[rate_limit]\nlogin_max = 2\n").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let reloads = |m: &Exposition, outcome: &str| {
        m.value("authmcp_config_reloads_total", &[("outcome", outcome)])
    };
    let m = scrape(&gw, &admin).await;
    assert_eq!((reloads(&m, "applied"), reloads(&m, "failed")), (0.0, 0.0));

    let applied = gw.reload_with("[rate_limit]\nlogin_max = 2\n").await;
    assert_eq!(applied.reloads_applied, 1);
    let failed = gw
        .reload_with("[[backends]]\nname = \"bad\"\nurl = \"ftp://nope\"\n")
        .await;
    assert_eq!(failed.reloads_failed, 1);
    let m = scrape(&gw, &admin).await;
    assert_eq!((reloads(&m, "applied"), reloads(&m, "failed")), (1.0, 1.0));

    // The allowance (2) was used by the admin's login and one more; then refusals.
    assert_eq!(
        m.value("authmcp_rate_limited_total", &[("limit", "login")]),
        0.0
    );
    let wrong = json!({"username":"root","password":"Wrong-Password-1"});
    let first = crate::http::post_json(&gw.url("/auth/login"), None, &wrong).await;
    assert_eq!(first.status, 401);
    for _ in 0..2 {
        let refused = crate::http::post_json(&gw.url("/auth/login"), None, &wrong).await;
        assert_eq!(refused.status, 429);
    }
    let m = scrape(&gw, &admin).await;
    assert_eq!(
        m.value("authmcp_rate_limited_total", &[("limit", "login")]),
        2.0
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn token_refresh_outcomes_are_counted_per_oauth_backend() {
    // `remote` gets tokens from a real authorization server; `broken`'s token endpoint is a
    // closed port, so every attempt fails; `static` has a fixed bearer token (no refreshes).
    let up = crate::backend_oauth::upstream().await;
    let port = crate::fixture::closed_port();
    let config = format!(
        r#"
        [[backends]]
        name = "remote"
        url = "{}"
        auth_type = "oauth_client_credentials"
        client_id = "{}"
        client_secret = "{}"
        scope = "mcp:tools"

        [[backends]]
        name = "broken"
        url = "http://127.0.0.1:{port}/mcp"
        auth_type = "oauth_client_credentials"
        token_url = "http://127.0.0.1:{port}/token"
        client_id = "gw"
        client_secret = "never-shown-secret"

        [[backends]]
        name = "static"
        url = "{}"
        auth_type = "bearer"
        auth_token = "a-static-token"
        "#,
        up.gw.url("/mcp"),
        up.client_id,
        up.client_secret,
        up.gw.url("/mcp"),
    );
    let gw = TestGateway::start(&config).await;
    let credential = |name: &str| {
        gw.handle()
            .upstream(name)
            .expect("running")
            .credential()
            .clone()
    };
    let (remote, broken) = (credential("remote"), credential("broken"));
    let mut remote_attempts = remote.subscribe_attempts().unwrap();
    let mut broken_attempts = broken.subscribe_attempts().unwrap();
    crate::backend_oauth::wait_token(&remote, &mut remote_attempts, "a first token", |s| {
        s.last_refresh_ms.is_some()
    })
    .await;
    crate::backend_oauth::wait_token(&broken, &mut broken_attempts, "a failure", |s| {
        s.last_error.is_some()
    })
    .await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;

    // The token loops keep running (a refresh ahead of expiry, a retry with backoff): every
    // scraped value lies between the counters read just before and just after the scrape.
    let before = [remote.stats(), broken.stats()];
    let m = scrape(&gw, &admin).await;
    let after = [remote.stats(), broken.stats()];
    let series = &m.0["authmcp_backend_token_refreshes_total"];
    assert_eq!(
        series.len(),
        6,
        "two OAuth backends × three outcomes: {series:?}"
    );
    assert!(
        series
            .iter()
            .all(|(labels, _)| labels["backend"] != "static"),
        "a static credential has no refreshes: {series:?}"
    );
    for (i, backend) in ["remote", "broken"].into_iter().enumerate() {
        let outcomes = [
            ("ok", before[i].refresh_ok, after[i].refresh_ok),
            ("failed", before[i].refresh_failed, after[i].refresh_failed),
            ("rejected", before[i].rejected, after[i].rejected),
        ];
        for (outcome, low, high) in outcomes {
            let value = m.value(
                "authmcp_backend_token_refreshes_total",
                &[("backend", backend), ("outcome", outcome)],
            );
            assert!(
                (low as f64..=high as f64).contains(&value),
                "{backend} {outcome}: {value} not within {low}..={high}"
            );
        }
    }
    let value = |backend, outcome| {
        m.value(
            "authmcp_backend_token_refreshes_total",
            &[("backend", backend), ("outcome", outcome)],
        )
    };
    assert!(value("remote", "ok") >= 1.0);
    assert_eq!(value("remote", "failed"), 0.0);
    assert!(value("broken", "failed") >= 1.0);
    assert_eq!(value("broken", "ok"), 0.0);

    // An on-demand refresh shows up at the next scrape.
    let ok_before = remote.stats().refresh_ok;
    let started = crate::http::post_json(
        &gw.url("/admin/api/mcp-servers/file:remote/refresh-token"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(started.status, 202, "{}", started.body);
    crate::backend_oauth::wait_token(&remote, &mut remote_attempts, "a refresh", |_| {
        remote.stats().refresh_ok > ok_before
    })
    .await;
    let m = scrape(&gw, &admin).await;
    assert!(
        m.value(
            "authmcp_backend_token_refreshes_total",
            &[("backend", "remote"), ("outcome", "ok")]
        ) > ok_before as f64
    );
    gw.stop().await.unwrap();
}
