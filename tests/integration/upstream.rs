//! The backend side of the proxy against real rmcp servers: the capability cache and the
//! forwarding API (`actors::upstream`) over Streamable HTTP (SSE and JSON answers) and stdio.

use std::process::Child;

use actors::backend::BackendState;
use actors::spec::{BackendAuth, BackendSpec, SecretString};
use actors::supervisor::GatewayHandle;
use actors::upstream::{ClientContext, Upstream, UpstreamError, UpstreamReply, UpstreamSession};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;

use crate::fixture::*;

/// The fixture with `--rich` over HTTP (optionally stateless JSON answers); killed on drop.
struct RichHttp {
    child: Child,
    port: u16,
}

impl RichHttp {
    fn start(extra: &[&str]) -> Self {
        let (child, port) = spawn_listening(
            &fixture_binary(),
            &["http", "--tools", "3", "--rich"],
            extra,
        );
        RichHttp { child, port }
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/mcp", self.port)).expect("valid url")
    }

    fn spec(&self, name: &str) -> BackendSpec {
        http_spec(name, self.url())
    }
}

impl Drop for RichHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rich_stdio_spec(name: &str) -> BackendSpec {
    let binary = fixture_binary();
    command_spec(
        name,
        binary.to_str().expect("utf-8 path"),
        &["stdio", "--tools", "3", "--rich"],
    )
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

fn client_context() -> ClientContext {
    ClientContext {
        protocol_version: "2025-06-18".into(),
        capabilities: raw(r#"{"roots":{}}"#),
        client_info: raw(r#"{"name":"test-client","version":"1.0"}"#),
    }
}

fn http_client() -> awc::Client {
    awc::Client::default()
}

/// Starts the tree and waits until every named backend is online with its lists.
async fn start_online(specs: Vec<BackendSpec>) -> (GatewayHandle, tokio::task::JoinHandle<()>) {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let (gateway, join) = GatewayHandle::start(specs, test_logger()).await.unwrap();
    wait_for(&gateway, "backends online", |s| {
        names.iter().all(|n| {
            status(s, n).is_some_and(|st| st.state == BackendState::Online && st.tool_count > 0)
        })
    })
    .await;
    (gateway, join)
}

/// Every message of a reply, in order (a JSON reply is one message).
async fn messages(reply: UpstreamReply) -> Vec<Result<String, UpstreamError>> {
    match reply {
        UpstreamReply::Json(bytes) => vec![Ok(String::from_utf8(bytes.to_vec()).unwrap())],
        UpstreamReply::Stream(mut stream) => {
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                out.push(item.map(|b| String::from_utf8(b.to_vec()).unwrap()));
            }
            out
        }
    }
}

/// The final message of a successful reply.
async fn response(reply: UpstreamReply) -> String {
    let all = messages(reply).await;
    all.last()
        .cloned()
        .expect("at least one message")
        .expect("no error item")
}

async fn call(
    upstream: &Upstream,
    session: &UpstreamSession,
    id: &str,
    tool: &str,
    arguments: &str,
) -> Result<UpstreamReply, UpstreamError> {
    let message = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    );
    upstream
        .request(&http_client(), session, Bytes::from(message))
        .await
}

/// The `id` of a message, raw.
fn id_of(message: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    serde_json::from_str::<Id<'_>>(message)
        .expect("a message with an id")
        .id
        .get()
        .to_owned()
}

/// `tools/list` straight from the backend, bypassing the gateway, each tool's raw text.
async fn direct_tool_list(url: &url::Url) -> Vec<String> {
    let client = http_client();
    let post = |session: Option<String>, body: &'static str| {
        let mut request = client
            .post(url.as_str())
            .insert_header(("Accept", "application/json, text/event-stream"))
            .insert_header(("Content-Type", "application/json"));
        if let Some(session) = session {
            request = request
                .insert_header(("Mcp-Session-Id", session))
                .insert_header(("MCP-Protocol-Version", "2025-06-18"));
        }
        request.send_body(body)
    };
    let init = post(
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"direct","version":"1"}}}"#,
    )
    .await
    .unwrap();
    let session = init
        .headers()
        .get("Mcp-Session-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    post(
        session.clone(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await
    .unwrap();
    let mut list = post(session, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await
        .unwrap();
    let body = list.body().await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| d.contains(r#""id":2"#))
        .expect("the tools/list response");
    #[derive(serde::Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        result: Tools<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Tools<'a> {
        #[serde(borrow)]
        tools: Vec<&'a RawValue>,
    }
    let outer: Outer<'_> = serde_json::from_str(data).unwrap();
    outer
        .result
        .tools
        .iter()
        .map(|t| t.get().to_owned())
        .collect()
}

#[actix_rt::test]
async fn capabilities_are_cached_raw_for_http_and_stdio() {
    let server = RichHttp::start(&[]);
    let (gateway, join) = start_online(vec![server.spec("web"), rich_stdio_spec("local")]).await;

    for name in ["web", "local"] {
        let caps = gateway.capabilities(name).expect("capabilities cached");
        assert_eq!(caps.tools.len(), 8, "{name}: 3 basic + 5 rich tools");
        assert_eq!(caps.resources.len(), 1, "{name}");
        assert_eq!(caps.resource_templates.len(), 1, "{name}");
        assert_eq!(caps.prompts.len(), 1, "{name}");
        assert!(caps.server_info.get().contains(r#""name":"rmcp""#));
        assert!(caps.capabilities.get().contains(r#""listChanged":true"#));
        assert!(
            caps.resource_templates[0]
                .get()
                .contains("fixture://item/{id}")
        );
        assert!(caps.prompts[0].get().contains(r#""name":"greet""#));
        assert_eq!(gateway.tools(name).unwrap().len(), 8, "tools() still works");
    }
    // Byte for byte what the backend sends, unknown field and key order included.
    let cached: Vec<String> = gateway
        .capabilities("web")
        .unwrap()
        .tools
        .iter()
        .map(|t| t.get().to_owned())
        .collect();
    assert_eq!(cached, direct_tool_list(&server.url()).await);
    assert!(
        cached
            .iter()
            .any(|t| t.contains(r#""x-custom":{"b":1,"a":2}"#))
    );

    // Health checks keep changing the status; the capability counter stays put.
    let caps_counter = gateway.subscribe_capabilities();
    let seen = *caps_counter.borrow();
    let mut statuses = gateway.subscribe();
    for _ in 0..4 {
        statuses.changed().await.unwrap();
    }
    assert_eq!(*caps_counter.borrow(), seen, "no bump without a change");
    assert!(gateway.capabilities("nope").is_none() && gateway.upstream("nope").is_none());

    gateway.shutdown().await;
    join.await.unwrap();
}

/// Calls `grow` through `name`'s upstream and waits until the cache lists one more tool.
async fn grow_and_wait(gateway: &GatewayHandle, name: &str) {
    let before = gateway.capabilities(name).unwrap().tools.len();
    let mut changes = gateway.subscribe_capabilities();
    let upstream = gateway.upstream(name).unwrap();
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    let answer = response(call(&upstream, &session, "5", "grow", "{}").await.unwrap()).await;
    assert!(
        answer.contains(&format!(r#""text":"{}""#, before + 1)),
        "{answer}"
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while gateway.capabilities(name).unwrap().tools.len() != before + 1 {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("{name}: no refresh after list_changed"))
            .unwrap();
    }
    let grown = gateway.capabilities(name).unwrap();
    assert!(grown.tools.last().unwrap().get().contains("grown_"));
    upstream.close(&http_client(), session).await;
}

#[actix_rt::test]
async fn list_changed_refreshes_the_cache_over_http_and_stdio() {
    let server = RichHttp::start(&[]);
    let (gateway, join) = start_online(vec![server.spec("web"), rich_stdio_spec("local")]).await;
    // HTTP: heard on the actor's GET stream (the fixture notifies every session).
    grow_and_wait(&gateway, "web").await;
    // stdio: heard on the child's stdout.
    grow_and_wait(&gateway, "local").await;
    gateway.shutdown().await;
    join.await.unwrap();
}

async fn open_request_close(extra: &[&str], expect_stream: bool) {
    let server = RichHttp::start(extra);
    let (gateway, join) = start_online(vec![server.spec("web")]).await;
    let upstream = gateway.upstream("web").unwrap();
    assert_eq!(upstream.name(), "web");
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    assert_eq!(session.protocol_version(), Some("2025-06-18"));
    assert_eq!(session.backend_session_id().is_some(), expect_stream);

    let reply = call(
        &upstream,
        &session,
        r#""req-1""#,
        "echo",
        r#"{"text":"hi"}"#,
    )
    .await
    .unwrap();
    assert_eq!(matches!(reply, UpstreamReply::Stream(_)), expect_stream);
    let answer = response(reply).await;
    assert_eq!(id_of(&answer), r#""req-1""#);
    assert!(answer.contains(r#""text":"hi""#), "{answer}");

    // A big integer and keys out of order survive byte for byte.
    let answer = response(call(&upstream, &session, "7", "big", "{}").await.unwrap()).await;
    assert!(
        answer.contains(r#""structuredContent":{"big":12345678901234567890,"z":1,"a":2}"#),
        "{answer}"
    );

    // Notifications reach the backend (202).
    let cancelled =
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"gone"}}"#;
    upstream
        .notify(
            &http_client(),
            &session,
            Bytes::from_static(cancelled.as_bytes()),
        )
        .await
        .unwrap();

    upstream.close(&http_client(), session).await;
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn a_backend_that_forgot_the_session_answers_session_expired() {
    let mut server = RichHttp::start(&[]);
    let (gateway, join) = start_online(vec![server.spec("web")]).await;
    let upstream = gateway.upstream("web").unwrap();
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    // The backend restarts on the same port and no longer knows our session: 404.
    let port = server.port;
    drop(server);
    server = RichHttp::start(&["--port", &port.to_string()]);
    let error = call(&upstream, &session, "8", "echo", r#"{"text":"x"}"#)
        .await
        .unwrap_err();
    assert_eq!(error, UpstreamError::SessionExpired);
    // The caller re-opens once and carries on.
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    let answer = response(
        call(&upstream, &session, "9", "echo", r#"{"text":"again"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert!(answer.contains("again"));
    drop(server);
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn http_open_request_close_with_sse_answers() {
    open_request_close(&[], true).await;
}

#[actix_rt::test]
async fn http_open_request_close_with_json_answers() {
    open_request_close(&["--json-response"], false).await;
}

/// Client-side sockets on this host whose other end is `port`, connected or in TIME_WAIT after
/// the client closed them (read from /proc/net/tcp): the connections opened to it lately.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp is readable");
    let remote_port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            line.split_whitespace()
                .nth(2)
                .is_some_and(|remote| remote.ends_with(&remote_port))
        })
        .count()
}

#[actix_rt::test]
async fn streamed_answers_leave_their_connection_to_be_reused() {
    // rmcp answers every request with an event stream that it ends after the response. The
    // gateway is done with it at the response; the connection is reusable only if the rest is
    // read too (awc closes a connection whose answer was dropped unread).
    let server = RichHttp::start(&[]);
    let (gateway, join) = start_online(vec![server.spec("web")]).await;
    let upstream = gateway.upstream("web").unwrap();
    let http = http_client();
    let session = upstream.open(&http, &client_context()).await.unwrap();
    let before = connections_to(server.port);
    for id in 0..20 {
        let message = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi"}}}}}}"#
        );
        let reply = upstream
            .request(&http, &session, Bytes::from(message))
            .await
            .unwrap();
        assert!(matches!(reply, UpstreamReply::Stream(_)));
        assert_eq!(id_of(&response(reply).await), id.to_string());
    }
    // One or two more while an answer is still being read to its end; without the reading,
    // one per call.
    let opened = connections_to(server.port).saturating_sub(before);
    assert!(
        opened <= 5,
        "20 streamed answers opened {opened} new connections"
    );
    // The backend actor's health checks (every 200 ms here) reuse theirs too.
    let before = connections_to(server.port);
    for _ in 0..5 {
        let last = status(&gateway.statuses(), "web").and_then(|s| s.last_check_ms);
        wait_for(&gateway, "a health check", |s| {
            status(s, "web").and_then(|b| b.last_check_ms) != last
        })
        .await;
    }
    let opened = connections_to(server.port).saturating_sub(before);
    assert!(
        opened <= 1,
        "5 health checks opened {opened} new connections"
    );
    upstream.close(&http, session).await;
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn a_streamed_answer_yields_the_notification_then_the_response() {
    let server = RichHttp::start(&[]);
    let (gateway, join) = start_online(vec![server.spec("web")]).await;
    let upstream = gateway.upstream("web").unwrap();
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    let message = r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"chatty","arguments":{},"_meta":{"progressToken":"tok-1"}}}"#;
    let reply = upstream
        .request(
            &http_client(),
            &session,
            Bytes::from_static(message.as_bytes()),
        )
        .await
        .unwrap();
    let all: Vec<String> = messages(reply)
        .await
        .into_iter()
        .map(|m| m.expect("no error item"))
        .collect();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].contains(r#""method":"notifications/progress""#) && all[0].contains("tok-1"));
    assert_eq!(id_of(&all[1]), "11");
    assert!(all[1].contains(r#""text":"done""#));
    upstream.close(&http_client(), session).await;
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn only_the_specs_credential_reaches_an_http_backend() {
    let server = RichHttp::start(&[]);
    let mut bearer = server.spec("bearer");
    bearer.auth = Some(BackendAuth::Bearer(SecretString::new("backend-secret")));
    let mut keyed = server.spec("keyed");
    keyed.auth = Some(BackendAuth::Header {
        name: "X-Api-Key".into(),
        value: SecretString::new("key-123"),
    });
    let plain = server.spec("plain");
    let (gateway, join) = start_online(vec![bearer, keyed, plain]).await;
    // The worker's client carries nothing of the downstream request; the only auth that
    // may appear is the spec's.
    let expectations = [
        (
            "bearer",
            r#""authorization":"Bearer backend-secret","x-api-key":null"#,
        ),
        ("keyed", r#""authorization":null,"x-api-key":"key-123""#),
        ("plain", r#""authorization":null,"x-api-key":null"#),
    ];
    for (name, expected) in expectations {
        let upstream = gateway.upstream(name).unwrap();
        let session = upstream
            .open(&http_client(), &client_context())
            .await
            .unwrap();
        let answer = response(
            call(&upstream, &session, "1", "headers", "{}")
                .await
                .unwrap(),
        )
        .await;
        assert!(answer.contains(expected), "{name}: {answer}");
        upstream.close(&http_client(), session).await;
    }
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn stdio_multiplexes_colliding_client_ids() {
    let (gateway, join) = start_online(vec![rich_stdio_spec("local")]).await;
    let upstream = gateway.upstream("local").unwrap();
    let client = http_client();
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(upstream.open(&client, &client_context()).await.unwrap());
    }
    // Every client uses id 1 (half of them the string "1"), each with its own text.
    let calls = sessions.iter().enumerate().map(|(n, session)| {
        let upstream = upstream.clone();
        let id = if n % 2 == 0 { "1" } else { r#""1""# };
        async move {
            let reply = call(
                &upstream,
                session,
                id,
                "echo",
                &format!(r#"{{"text":"n{n}"}}"#),
            )
            .await
            .unwrap();
            (n, id, response(reply).await)
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (n, id, answer) in answers {
        assert_eq!(id_of(&answer), id, "original id restored: {answer}");
        assert!(
            answer.contains(&format!(r#""text":"n{n}""#)),
            "{n}: {answer}"
        );
    }
    // Big integers and key order survive the id rewriting too.
    let answer = response(
        call(&upstream, &sessions[0], r#"{"x":1}"#, "big", "{}")
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert!(
        answer.contains(r#"{"big":12345678901234567890,"z":1,"a":2}"#),
        "{answer}"
    );
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn a_killed_stdio_child_fails_in_flight_requests_and_comes_back() {
    let (gateway, join) = start_online(vec![rich_stdio_spec("local")]).await;
    let pid = status(&gateway.statuses(), "local").unwrap().pid.unwrap();
    let upstream = gateway.upstream("local").unwrap();
    let session = upstream
        .open(&http_client(), &client_context())
        .await
        .unwrap();
    let slow = call(&upstream, &session, "1", "slow", r#"{"ms":4000}"#);
    let kill = async {
        // `slow` is polled first, so its message reaches the child before this echo does:
        // once the echo is answered, the child holds the slow request.
        let _ = response(
            call(&upstream, &session, "2", "echo", r#"{"text":"x"}"#)
                .await
                .unwrap(),
        )
        .await;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    };
    let (result, ()) = futures_util::join!(slow, kill);
    let error = result.unwrap_err();
    assert!(
        matches!(&error, UpstreamError::Unavailable(m) if m.contains("backend `local`") && m.contains("exited")),
        "{error:?}"
    );
    wait_for(&gateway, "the child restarted", |s| {
        status(s, "local")
            .is_some_and(|st| st.state == BackendState::Online && st.pid.is_some_and(|p| p != pid))
    })
    .await;
    let answer = response(
        call(&upstream, &session, "3", "echo", r#"{"text":"back"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert!(answer.contains(r#""text":"back""#), "{answer}");
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn https_backends_are_reachable_in_this_build() {
    // Nothing listens there: the failure must be the connection, not missing TLS support.
    let url = url::Url::parse(&format!("https://127.0.0.1:{}/mcp", closed_port())).unwrap();
    let (gateway, join) = GatewayHandle::start(vec![http_spec("tls", url)], test_logger())
        .await
        .unwrap();
    let statuses = wait_for(&gateway, "the https backend to fail", |s| {
        status(s, "tls").is_some_and(|st| st.last_error.is_some())
    })
    .await;
    let last_error = status(&statuses, "tls")
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert!(last_error.contains("connection refused"), "{last_error}");
    let error = gateway
        .upstream("tls")
        .unwrap()
        .open(&http_client(), &client_context())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        UpstreamError::Unavailable("backend `tls`: connection refused".into())
    );
    gateway.shutdown().await;
    join.await.unwrap();
}
