//! Legacy HTTP+SSE (2024-11-05) backends against the fixture's real `sse` mode (an rmcp server
//! behind `GET /sse` + `POST /messages`): the actor's own session, the forwarding API, the
//! gateway's `/mcp`, outages, and the same-origin rule for the `endpoint` event.

use std::process::Child;
use std::time::Duration;

use actors::backend::BackendState;
use actors::spec::{BackendAuth, BackendSpec, BackendTransport, SecretString};
use actors::supervisor::GatewayHandle;
use actors::upstream::{ClientContext, UpstreamError, UpstreamReply};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::fixture::{
    DEADLINE, fixture_binary, http_spec, spawn_listening, status, test_logger, wait_for,
};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

/// The fixture in `sse` mode; killed (and reaped) on drop.
pub(crate) struct SseFixture {
    child: Option<Child>,
    port: u16,
}

impl SseFixture {
    pub(crate) fn start(port: u16, args: &[&str]) -> Self {
        let (child, port) = spawn_listening(
            &fixture_binary(),
            &["sse", "--port", &port.to_string()],
            args,
        );
        SseFixture {
            child: Some(child),
            port,
        }
    }

    pub(crate) fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/sse", self.port)).expect("valid url")
    }

    fn spec(&self, name: &str) -> BackendSpec {
        let mut spec = http_spec(name, self.url());
        spec.transport = BackendTransport::Sse { url: self.url() };
        spec
    }

    /// `{"open", "opened", "posts"}`: sessions open now, opened ever, POSTs received.
    async fn stats(&self) -> Value {
        let mut response = awc::Client::default()
            .get(format!("http://127.0.0.1:{}/stats", self.port))
            .send()
            .await
            .expect("the fixture answers /stats");
        response.json().await.expect("stats are JSON")
    }

    /// Polls `/stats` (no event exists for "the backend saw a stream close") until `key` is
    /// `value`.
    async fn wait_stat(&self, key: &str, value: u64) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let stats = self.stats().await;
            if stats[key] == value {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} never became {value}: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SseFixture {
    fn drop(&mut self) {
        self.kill();
    }
}

fn online_with(name: &str, tools: usize) -> impl Fn(&[actors::backend::BackendStatus]) -> bool {
    let name = name.to_owned();
    move |s| {
        status(s, &name).is_some_and(|b| b.state == BackendState::Online && b.tool_count == tools)
    }
}

fn client_context() -> ClientContext {
    let raw = |text: &str| RawValue::from_string(text.to_owned()).expect("valid JSON");
    ClientContext {
        protocol_version: "2025-06-18".into(),
        capabilities: raw("{}"),
        client_info: raw(r#"{"name":"sse-test","version":"1"}"#),
    }
}

fn tool_call(id: &str, tool: &str, arguments: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    ))
}

/// Every message of a reply, in order, with whether it came as a stream.
async fn messages(reply: UpstreamReply) -> (bool, Vec<Value>) {
    match reply {
        UpstreamReply::Json(bytes) => (false, vec![serde_json::from_slice(&bytes).unwrap()]),
        UpstreamReply::Stream(mut stream) => {
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                out.push(serde_json::from_slice(&item.expect("no error item")).unwrap());
            }
            (true, out)
        }
    }
}

#[actix_rt::test]
async fn sse_backend_comes_online_goes_offline_and_back() {
    let mut server = SseFixture::start(0, &["--tools", "4"]);
    let port = server.port;
    let mut spec = server.spec("legacy");
    spec.timeout = Duration::from_secs(2);
    let (gateway, _join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    let statuses = wait_for(&gateway, "online with 4 tools", online_with("legacy", 4)).await;
    let online = status(&statuses, "legacy").unwrap();
    assert_eq!(
        online.protocol_version.as_deref(),
        Some(actors::backend::OFFERED_PROTOCOL_VERSION)
    );
    assert_eq!(gateway.capabilities("legacy").unwrap().tools.len(), 4);
    server.wait_stat("open", 1).await;

    server.kill();
    let offline = wait_for(&gateway, "offline with an error", |s| {
        status(s, "legacy").is_some_and(|b| b.state == BackendState::Offline)
    })
    .await;
    let error = status(&offline, "legacy")
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert!(
        error == "the connection to the backend closed"
            || error == "could not connect to the backend: connection refused",
        "{error}"
    );
    wait_for(&gateway, "the reconnect refused", |s| {
        status(s, "legacy").is_some_and(|b| {
            b.last_error.as_deref() == Some("could not connect to the backend: connection refused")
        })
    })
    .await;

    let back = SseFixture::start(port, &["--tools", "5"]);
    let statuses = wait_for(&gateway, "online again", online_with("legacy", 5)).await;
    assert!(status(&statuses, "legacy").unwrap().last_error.is_none());
    back.wait_stat("open", 1).await;
    gateway.shutdown().await;
}

#[actix_rt::test]
async fn sse_upstream_sessions_answer_stream_and_close() {
    let server = SseFixture::start(0, &["--tools", "3", "--rich"]);
    let mut spec = server.spec("legacy");
    spec.auth = Some(BackendAuth::Bearer(SecretString::new("backend-secret")));
    let (gateway, join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    wait_for(&gateway, "online", online_with("legacy", 8)).await;
    let caps = gateway.capabilities("legacy").unwrap();
    assert_eq!((caps.resources.len(), caps.prompts.len()), (1, 1));

    let upstream = gateway.upstream("legacy").unwrap();
    let http = awc::Client::default();
    let first = upstream.open(&http, &client_context()).await.unwrap();
    let second = upstream.open(&http, &client_context()).await.unwrap();
    assert_eq!(first.protocol_version(), Some("2025-06-18"));
    let (a, b) = (first.backend_session_id(), second.backend_session_id());
    assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
    server.wait_stat("open", 3).await;

    // A plain answer comes back as JSON, the client's id untouched.
    let reply = upstream
        .request(
            &http,
            &first,
            tool_call(r#""req-1""#, "echo", r#"{"text":"hi"}"#),
        )
        .await
        .unwrap();
    let (streamed, all) = messages(reply).await;
    assert!(!streamed);
    assert_eq!(all[0]["id"], "req-1");
    assert_eq!(all[0]["result"]["content"][0]["text"], "hi");

    // Progress before the answer streams through, in order.
    let chatty = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"chatty","arguments":{},"_meta":{"progressToken":"p-1"}}}"#;
    let reply = upstream
        .request(&http, &second, Bytes::from_static(chatty.as_bytes()))
        .await
        .unwrap();
    let (streamed, all) = messages(reply).await;
    assert!(streamed);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["method"], "notifications/progress");
    assert_eq!(all[0]["params"]["progressToken"], "p-1");
    assert_eq!(all[1]["id"], 7);
    assert_eq!(all[1]["result"]["content"][0]["text"], "done");

    // The backend's list_changed reaches the actor's own stream and refreshes the cache.
    let mut changes = gateway.subscribe_capabilities();
    let reply = upstream
        .request(&http, &second, tool_call("8", "grow", "{}"))
        .await
        .unwrap();
    let (_, all) = messages(reply).await;
    assert_eq!(all.last().unwrap()["result"]["content"][0]["text"], "9");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while gateway.capabilities("legacy").unwrap().tools.len() != 9 {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the cache refreshes after list_changed")
            .unwrap();
    }

    // Only the spec's credential, on the stream and on every POST.
    let seen = &server.stats().await["authorization"];
    assert_eq!(seen["get"], "Bearer backend-secret");
    assert_eq!(seen["post"], "Bearer backend-secret");

    // The same id twice in flight cannot be told apart on one stream.
    let slow = tool_call("9", "slow", r#"{"ms":300}"#);
    let (one, two) = futures_util::join!(
        upstream.request(&http, &first, slow.clone()),
        upstream.request(&http, &first, slow)
    );
    let refused = [&one, &two]
        .iter()
        .filter(|r| matches!(r, Err(UpstreamError::Protocol(m)) if m.contains("same id")))
        .count();
    assert_eq!(refused, 1, "{one:?} {two:?}");

    // Closing drops the event stream: the backend sees the session end.
    upstream.close(&http, first).await;
    server.wait_stat("open", 2).await;
    upstream.close(&http, second).await;
    server.wait_stat("open", 1).await;
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn sse_waiting_request_fails_when_the_stream_drops() {
    let mut server = SseFixture::start(0, &["--tools", "3"]);
    let mut spec = server.spec("legacy");
    spec.timeout = Duration::from_secs(30);
    let (gateway, join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    wait_for(&gateway, "online", online_with("legacy", 3)).await;
    let upstream = gateway.upstream("legacy").unwrap();
    let http = awc::Client::default();
    let session = upstream.open(&http, &client_context()).await.unwrap();
    let posts = server.stats().await["posts"].as_u64().unwrap();

    let call = upstream.request(&http, &session, tool_call("1", "slow", r#"{"ms":25000}"#));
    let kill = async {
        server.wait_stat("posts", posts + 1).await;
        server.kill();
    };
    let (result, ()) = futures_util::join!(call, kill);
    match result {
        Err(UpstreamError::Unavailable(message)) => assert_eq!(
            message,
            "backend `legacy`: its event stream closed before the answer arrived"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The session is over; the request path opens a new one on SessionExpired.
    let again = upstream
        .request(&http, &session, tool_call("2", "echo", r#"{"text":"x"}"#))
        .await;
    assert!(
        matches!(again, Err(UpstreamError::SessionExpired)),
        "{again:?}"
    );
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn sse_endpoint_on_another_origin_is_refused() {
    let server = SseFixture::start(0, &["--endpoint-base", "http://127.0.0.2:9"]);
    let (gateway, join) = GatewayHandle::start(vec![server.spec("legacy")], test_logger())
        .await
        .unwrap();
    let expected = "the backend's `endpoint` event points to another origin \
                    (http://127.0.0.2:9); the gateway only posts to the origin of the configured SSE URL";
    let statuses = wait_for(&gateway, "offline with the origin error", |s| {
        status(s, "legacy").is_some_and(|b| b.state == BackendState::Offline)
    })
    .await;
    assert_eq!(
        status(&statuses, "legacy").unwrap().last_error.as_deref(),
        Some(expected)
    );
    let upstream = gateway.upstream("legacy").unwrap();
    let error = upstream
        .open(&awc::Client::default(), &client_context())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        UpstreamError::Unavailable(format!("backend `legacy`: {expected}"))
    );
    // Nothing was ever posted anywhere.
    assert_eq!(server.stats().await["posts"], 0);
    gateway.shutdown().await;
    join.await.unwrap();
}

#[actix_rt::test]
async fn sse_backend_through_the_gateway_gets_a_session_per_client() {
    let server = SseFixture::start(0, &["--tools", "3", "--rich"]);
    let config = format!(
        "[[backends]]\nname = \"legacy\"\nurl = \"{}\"\ntransport = \"sse\"\nhealth_interval_s = 1\n",
        server.url()
    );
    let gw = TestGateway::start(&config).await;
    wait_for(gw.handle(), "online", online_with("legacy", 8)).await;
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;

    let mut one = McpClient::new(&gw.url("/mcp"), Some(&token));
    let mut two = McpClient::new(&gw.url("/mcp"), Some(&token));
    one.initialize("2025-06-18").await;
    two.initialize("2025-06-18").await;
    let echo = json!({"name": "legacy_echo", "arguments": {"text": "through sse"}});
    for client in [&one, &two] {
        let reply = client.request(3, "tools/call", echo.clone()).await;
        assert_eq!(reply["id"], 3);
        assert_eq!(
            reply["result"]["content"][0]["text"], "through sse",
            "{reply}"
        );
    }
    // The actor's own session plus one per client session; the client's token stays here.
    server.wait_stat("open", 3).await;
    let stats = server.stats().await;
    assert_eq!(stats["opened"], 3);
    assert_eq!(stats["authorization"], json!({"get": null, "post": null}));

    let chatty = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "legacy_chatty", "arguments": {}, "_meta": {"progressToken": 11}}});
    let reply = one.post(&chatty.to_string(), &[]).await;
    let all = reply.messages();
    assert_eq!(all.len(), 2, "{}", reply.body);
    assert_eq!(all[0]["method"], "notifications/progress");
    assert_eq!(all[1]["result"]["content"][0]["text"], "done");

    assert_eq!(one.delete().await, 204);
    server.wait_stat("open", 2).await;
    gw.stop().await.unwrap();
}

/// A client session that ends while one of its calls is still being answered: its backend
/// session is closed as soon as that answer lets go of it (not leaked).
#[actix_rt::test]
async fn a_backend_session_in_use_when_its_client_session_ends_is_closed_afterwards() {
    let server = SseFixture::start(0, &["--tools", "3"]);
    let config = format!(
        "[[backends]]\nname = \"legacy\"\nurl = \"{}\"\ntransport = \"sse\"\n",
        server.url()
    );
    let gw = TestGateway::start(&config).await;
    wait_for(gw.handle(), "online", online_with("legacy", 3)).await;
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    let session_id = client.session.clone().unwrap();

    let caller = McpClient {
        session: client.session.clone(),
        ..McpClient::new(&gw.url("/mcp"), Some(&token))
    };
    let slow = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"legacy_slow","arguments":{"ms":1500}}}).to_string();
    let pending = actix_rt::spawn(async move { caller.post(&slow, &[]).await });
    gw.wait_busy(&session_id, 1).await;
    // The actor's own session plus this client's.
    server.wait_stat("open", 2).await;
    assert_eq!(client.delete().await, 204);
    let _ = pending.await.unwrap();
    server.wait_stat("open", 1).await;
    gw.stop().await.unwrap();
}
