//! The session's GET stream: what a backend sends a client session outside any request reaches
//! that session's stream only. Regression test for the original gateway, which broadcast tool
//! results to every listener. Backend: the conformance fixture, whose `test_tool_with_logging`
//! sends its log notifications without tying them to the request (rmcp puts them on the
//! backend session's GET stream), honouring each session's `logging/setLevel`.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use serde_json::{Value, json};

use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::relay::Conformance;
use crate::users::{create_mcp_user, login};

/// An open GET stream, read event by event.
pub(crate) struct Events {
    body: LocalBoxStream<'static, Result<Bytes, awc::error::PayloadError>>,
    buffer: String,
}

/// One SSE event: its id and data.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    data: String,
}

impl Events {
    /// The next event; `None` when the stream ends. Fails the test after a generous deadline.
    async fn next(&mut self) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                // A `retry:`-only event (sent before the stream closes) carries no message.
                if !raw
                    .lines()
                    .any(|l| l.starts_with("id:") || l.starts_with("data:"))
                {
                    continue;
                }
                let field = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                return Some(Event {
                    id: field("id:"),
                    data: field("data:").unwrap_or_default(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("no event within 30 s")?
                .expect("the stream broke");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next JSON-RPC message (skipping nothing: every event after priming carries one).
    pub(crate) async fn message(&mut self) -> Option<Value> {
        let event = self.next().await?;
        assert!(event.id.is_some(), "every event has an id: {event:?}");
        Some(serde_json::from_str(&event.data).expect("event data is JSON"))
    }
}

/// `GET` on the client's endpoint with its session; returns the status and, on 200, the stream.
async fn open(client: &McpClient, token: &str, accept: &str) -> (u16, Option<Events>) {
    open_after(client, token, accept, None).await
}

/// As `open`, resuming after `last_event_id` when given.
async fn open_after(
    client: &McpClient,
    token: &str,
    accept: &str,
    last_event_id: Option<&str>,
) -> (u16, Option<Events>) {
    let http = awc::Client::builder().disable_timeout().finish();
    let mut request = http
        .get(&client.url)
        .bearer_auth(token)
        .insert_header(("accept", accept))
        .insert_header(("mcp-protocol-version", client.version.as_str()));
    if let Some(session) = &client.session {
        request = request.insert_header(("mcp-session-id", session.as_str()));
    }
    if let Some(id) = last_event_id {
        request = request.insert_header(("last-event-id", id));
    }
    let response = request.send().await.expect("GET failed");
    let status = response.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let events = Events {
        body: response.boxed_local(),
        buffer: String::new(),
    };
    (status, Some(events))
}

/// POSTs `body` (a request) on the client's session and returns its answer stream, read event
/// by event, past the priming event a 2025-11-25 client gets first.
pub(crate) async fn answer_events(client: &McpClient, body: Value) -> Events {
    let answer = crate::post_stream_resume::post_streaming(client, body).await;
    let mut events = Events {
        body: answer.body,
        buffer: answer.buffer,
    };
    if client.version == "2025-11-25" {
        let priming = events.next().await.expect("a priming event");
        assert!(priming.data.is_empty(), "{priming:?}");
    }
    events
}

pub(crate) async fn listening(client: &McpClient, token: &str) -> Events {
    let (status, events) = open(client, token, "text/event-stream").await;
    assert_eq!(status, 200);
    let mut events = events.unwrap();
    let priming = events.next().await.expect("a priming event");
    assert!(
        priming.id.is_some() && priming.data.is_empty(),
        "{priming:?}"
    );
    events
}

fn log_call() -> Value {
    json!({"name": "test_tool_with_logging", "arguments": {}})
}

/// The three log lines of one `test_tool_with_logging` call, in order.
async fn expect_logs(events: &mut Events) {
    for expected in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ] {
        let message = events.message().await.expect("a log notification");
        assert_eq!(message["method"], "notifications/message", "{message}");
        assert_eq!(message["params"]["data"], expected, "{message}");
    }
}

#[actix_rt::test]
async fn backend_messages_reach_only_their_own_session_stream() {
    let backend = Conformance::start();
    let config = format!(
        "[[backends]]\nname = \"conf\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntool_prefix = \"\"\n",
        backend.1
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    create_mcp_user(&gw, "bob").await;
    let (alice_token, bob_token) = (login(&gw, "alice").await, login(&gw, "bob").await);
    let mut alice = McpClient::new(&gw.url("/mcp"), Some(&alice_token));
    let mut bob = McpClient::new(&gw.url("/mcp"), Some(&bob_token));
    alice.initialize("2025-06-18").await;
    bob.initialize("2025-06-18").await;

    let mut alice_events = listening(&alice, &alice_token).await;
    let mut bob_events = listening(&bob, &bob_token).await;
    assert_eq!(
        open(&alice, &alice_token, "text/event-stream").await.0,
        409,
        "one GET stream per session"
    );
    assert_eq!(
        open(&alice, &bob_token, "text/event-stream").await.0,
        404,
        "another user's session is not found"
    );
    assert_eq!(open(&bob, &bob_token, "application/json").await.0, 406);

    // Bob's level is remembered before his backend session exists, and applied when it opens.
    let set = |level: &str| json!({"level": level});
    assert_eq!(
        bob.request(1, "logging/setLevel", set("warning")).await["result"],
        json!({})
    );

    let result = alice.request(2, "tools/call", log_call()).await;
    assert!(result["result"].is_object(), "{result}");
    expect_logs(&mut alice_events).await;

    // At `warning`, Bob's call logs nothing; back at `info` (forwarded to his open backend
    // session), his next call logs on his stream only.
    let result = bob.request(3, "tools/call", log_call()).await;
    assert!(result["result"].is_object(), "{result}");
    bob.request(4, "logging/setLevel", set("info")).await;
    bob.request(5, "tools/call", log_call()).await;
    expect_logs(&mut bob_events).await;

    // Ending a session ends its stream: whatever else it carried would show up before the end.
    assert_eq!(bob.delete().await, 204);
    assert!(
        bob_events.message().await.is_none(),
        "Bob's stream carried a message that was not his"
    );
    assert_eq!(alice.delete().await, 204);
    assert!(
        alice_events.message().await.is_none(),
        "Alice's stream carried a message that was not hers"
    );
    drop(backend);
}

/// A backend's `list_changed` reaches a `/mcp/{server}` client's stream as sent; the aggregated
/// `/mcp` does not pass it on (its lists come from the routing table) but sends its own once the
/// table changed. Backend: the rich rmcp fixture, whose `grow` sends `tools/list_changed` to
/// every one of its sessions.
#[actix_rt::test]
async fn list_changed_passes_raw_on_one_backend_and_from_the_gateway_on_the_aggregate() {
    let fixture = crate::fixture::HttpFixture::start_with(0, 1, &["--rich"]);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\ntool_prefix = \"\"\n",
        fixture.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "carol").await;
    let token = login(&gw, "carol").await;
    let mut single = McpClient::new(&gw.url("/mcp/fx"), Some(&token));
    let mut aggregate = McpClient::new(&gw.url("/mcp"), Some(&token));
    single.initialize("2025-06-18").await;
    aggregate.initialize("2025-06-18").await;
    let mut single_events = listening(&single, &token).await;
    let mut aggregate_events = listening(&aggregate, &token).await;

    let grow = json!({"name": "grow", "arguments": {}});
    let result = aggregate.request(1, "tools/call", grow.clone()).await;
    assert!(result["result"].is_object(), "{result}");
    let result = single.request(1, "tools/call", grow).await;
    assert!(result["result"].is_object(), "{result}");
    let message = single_events.message().await.expect("list_changed");
    assert_eq!(message["method"], "notifications/tools/list_changed");

    // On the aggregated endpoint the backend's own list_changed never passes; the gateway says
    // so itself, once its routing table (what this client lists) holds the new tools.
    let message = aggregate_events
        .message()
        .await
        .expect("the gateway's list_changed");
    assert_eq!(message["method"], "notifications/tools/list_changed");
    let listed = aggregate.request(2, "tools/list", json!({})).await;
    assert!(
        listed.to_string().contains("grown_"),
        "list_changed came before the aggregated list changed: {listed}"
    );
    gw.stop().await.unwrap();
}

/// A legacy HTTP+SSE backend: what its event stream carries while no request of this client
/// session is in flight (here another user's `grow`, which the fixture broadcasts to all its
/// sessions) reaches this session's GET stream.
#[actix_rt::test]
async fn legacy_sse_backend_messages_outside_requests_reach_the_get_stream() {
    let server = crate::legacy_sse::SseFixture::start(0, &["--tools", "1", "--rich"]);
    let config = format!(
        "[[backends]]\nname = \"legacy\"\nurl = \"{}\"\ntransport = \"sse\"\ntool_prefix = \"\"\n",
        server.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "dave").await;
    create_mcp_user(&gw, "erin").await;
    let (dave_token, erin_token) = (login(&gw, "dave").await, login(&gw, "erin").await);
    let mut dave = McpClient::new(&gw.url("/mcp/legacy"), Some(&dave_token));
    let mut erin = McpClient::new(&gw.url("/mcp/legacy"), Some(&erin_token));
    dave.initialize("2025-06-18").await;
    erin.initialize("2025-06-18").await;
    let mut dave_events = listening(&dave, &dave_token).await;
    // Dave's backend session opens with his first call.
    let echo = json!({"name": "echo", "arguments": {"text": "hi"}});
    assert!(dave.request(1, "tools/call", echo).await["result"].is_object());

    let grow = json!({"name": "grow", "arguments": {}});
    assert!(erin.request(1, "tools/call", grow).await["result"].is_object());
    let message = dave_events.message().await.expect("list_changed");
    assert_eq!(message["method"], "notifications/tools/list_changed");
    assert_eq!(dave.delete().await, 204);
    assert!(dave_events.message().await.is_none());
}

/// A GET stream dropped mid-flow and reopened with `Last-Event-ID` gets exactly the events it
/// missed, in order, then the live ones; resuming from an id this stream never sent is refused.
#[actix_rt::test]
async fn a_reconnect_with_last_event_id_gets_exactly_the_missed_events() {
    let backend = Conformance::start();
    let config = format!(
        "[[backends]]\nname = \"conf\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntool_prefix = \"\"\n",
        backend.1
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "frank").await;
    let token = login(&gw, "frank").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    assert_eq!(
        client
            .request(1, "logging/setLevel", json!({"level": "info"}))
            .await["result"],
        json!({})
    );

    let mut events = listening(&client, &token).await;
    let result = client.request(2, "tools/call", log_call()).await;
    assert!(result["result"].is_object(), "{result}");
    let first = events.next().await.expect("the first log line");
    let first_id = first.id.clone().expect("an event id");
    assert!(first.data.contains("Tool execution started"), "{first:?}");
    drop(events); // the connection drops; the other two lines are missed

    // Until the listener's loss is noticed the session may still count it as open.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut resumed = loop {
        match open_after(&client, &token, "text/event-stream", Some(&first_id)).await {
            (200, Some(events)) => break events,
            (409, _) => {}
            (status, _) => panic!("resume answered {status}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dropped stream was never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let priming = resumed.next().await.expect("a priming event");
    assert!(priming.data.is_empty(), "{priming:?}");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = resumed.next().await.expect("a missed event");
        seen.push((
            event.id.clone().unwrap(),
            serde_json::from_str::<Value>(&event.data).unwrap()["params"]["data"].clone(),
        ));
    }
    let n = |id: &str| id.trim_start_matches("g-").parse::<u64>().unwrap();
    assert_eq!(seen[0].1, "Tool processing data");
    assert_eq!(seen[1].1, "Tool execution completed");
    assert_eq!(
        n(&seen[0].0),
        n(&first_id) + 1,
        "nothing skipped, nothing repeated"
    );
    assert_eq!(n(&seen[1].0), n(&first_id) + 2);
    drop(resumed);

    let unknown = loop {
        match open_after(&client, &token, "text/event-stream", Some("g-999999"))
            .await
            .0
        {
            409 => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            status => break status,
        }
    };
    assert_eq!(
        unknown, 400,
        "an id this stream never sent cannot be resumed from"
    );
    gw.stop().await.unwrap();
}

/// A policy change tells exactly the users whose lists it changed: `tools/list_changed` on their
/// `/mcp` GET streams, and the next list shows the change. Another user's stream stays quiet
/// until a change concerns them (the next message they get is that one).
#[actix_rt::test]
async fn a_policy_change_notifies_only_the_users_whose_lists_changed() {
    use actors::auth::policy::{PolicyChange, PolicyRule};
    use actors::storage::users::Role;

    let fixture = crate::fixture::HttpFixture::start(3);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\ntool_prefix = \"fx_\"\n",
        fixture.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    crate::users::create_user(&gw, "gina", Role::User);
    crate::users::create_user(&gw, "hugo", Role::User);
    let policies = gw.policies.clone().expect("running");
    let only = |user: &str, tools: &[&str]| {
        let change = PolicyChange {
            subject: Some(format!("user:{user}")),
            effect: Some("allow".into()),
            tools: Some(Some(tools.iter().map(|t| t.to_string()).collect())),
            ..PolicyChange::default()
        };
        change.apply(None).unwrap()
    };
    policies
        .create(only("gina", &["fx_echo"]), "test")
        .await
        .unwrap();
    policies
        .create(only("hugo", &["fx_echo"]), "test")
        .await
        .unwrap();
    let (gina_token, hugo_token) = (login(&gw, "gina").await, login(&gw, "hugo").await);
    let mut gina = McpClient::new(&gw.url("/mcp"), Some(&gina_token));
    let mut hugo = McpClient::new(&gw.url("/mcp"), Some(&hugo_token));
    gina.initialize("2025-06-18").await;
    hugo.initialize("2025-06-18").await;
    let names = |reply: Value| reply["result"]["tools"].to_string();
    // The routing table follows the backend asynchronously.
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    while !names(gina.request(1, "tools/list", json!({})).await).contains("fx_echo") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fx_echo never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(names(hugo.request(1, "tools/list", json!({})).await).contains("fx_echo"));
    let mut gina_events = listening(&gina, &gina_token).await;
    let mut hugo_events = listening(&hugo, &hugo_token).await;

    policies
        .create(only("gina", &["fx_add"]), "test")
        .await
        .unwrap();
    let message = gina_events.message().await.expect("gina's list_changed");
    assert_eq!(message["method"], "notifications/tools/list_changed");
    assert!(names(gina.request(2, "tools/list", json!({})).await).contains("fx_add"));

    policies
        .create(PolicyRule::all_backends_for("hugo"), "test")
        .await
        .unwrap();
    let message = hugo_events.message().await.expect("hugo's list_changed");
    assert_eq!(
        message["method"], "notifications/tools/list_changed",
        "hugo's first message is about his own change, not gina's"
    );
    assert!(names(hugo.request(2, "tools/list", json!({})).await).contains("fx_slow"));
    gw.stop().await.unwrap();
}
