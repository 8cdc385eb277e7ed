//! POST answers streamed as SSE (legacy era): every event has an id naming its answer stream
//! (`p<k>-<n>`), 2025-11-25 clients get a priming event first, a client that drops the stream
//! resumes exactly that answer with `GET` + `Last-Event-ID`, a draining gateway says `retry:`
//! before it closes one, and a session ended while its backend session was opening never
//! uses that backend session and has it closed. Backend: the rmcp fixture with `--gates`,
//! whose `hold` tool waits for the test's `release` instead of a timer.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

/// One SSE event as sent: its id, its data (`None`: no data field) and whether it set `retry`.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: Option<String>,
    data: Option<String>,
    retry: bool,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("")).expect("event data is JSON")
    }
}

/// An open event stream, read event by event.
pub(crate) struct Sse {
    pub(crate) body: LocalBoxStream<'static, Result<Bytes, awc::error::PayloadError>>,
    pub(crate) buffer: String,
}

impl Sse {
    /// The next event; `None` once the stream ended. Fails the test after a generous deadline.
    async fn next(&mut self) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                return Some(SseEvent {
                    id: field("id:"),
                    data: field("data:"),
                    retry: field("retry:").is_some(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("no event within the deadline")?
                .expect("the stream broke");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Every event until the stream ends.
    async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

fn http() -> awc::Client {
    awc::Client::builder().disable_timeout().finish()
}

/// A request POSTed on the client's session, its answer read as it streams.
pub(crate) async fn post_streaming(client: &McpClient, body: Value) -> Sse {
    let mut request = http()
        .post(&client.url)
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"))
        .insert_header(("mcp-protocol-version", client.version.as_str()));
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = &client.session {
        request = request.insert_header(("mcp-session-id", session.as_str()));
    }
    let response = request
        .send_body(body.to_string())
        .await
        .expect("POST failed");
    assert_eq!(response.status().as_u16(), 200);
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
    Sse {
        body: response.boxed_local(),
        buffer: String::new(),
    }
}

/// `GET` with `Last-Event-ID` on `client`'s session, as `token`'s user.
async fn resume(client: &McpClient, token: &str, last_event_id: &str) -> (u16, Option<Sse>) {
    let mut request = http()
        .get(&client.url)
        .bearer_auth(token)
        .insert_header(("accept", "text/event-stream"))
        .insert_header(("mcp-protocol-version", client.version.as_str()))
        .insert_header(("last-event-id", last_event_id));
    if let Some(session) = &client.session {
        request = request.insert_header(("mcp-session-id", session.as_str()));
    }
    let response = request.send().await.expect("GET failed");
    let status = response.status().as_u16();
    let body = (status == 200).then(|| Sse {
        body: response.boxed_local(),
        buffer: String::new(),
    });
    (status, body)
}

/// `initialize` at `version` as the client named `name`, then `notifications/initialized`.
async fn initialize(client: &mut McpClient, version: &str, name: &str) {
    let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": name, "version": "1"}}});
    let reply = client.post(&body.to_string(), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    client.session = reply
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    client.version = reply.json()["result"]["protocolVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(client.version, version);
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(client.post(note, &[]).await.status, 202);
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
        "name": tool, "arguments": arguments, "_meta": {"progressToken": format!("progress-{id}")}}})
}

async fn gateway_with_gates() -> (HttpFixture, TestGateway) {
    let fixture = HttpFixture::start_with(0, 1, &["--rich", "--gates"]);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\ntool_prefix = \"\"\n",
        fixture.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    (fixture, gw)
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_rt::test]
async fn answer_streams_carry_stream_ids_and_prime_only_2025_11_25_clients() {
    let (_fixture, gw) = gateway_with_gates().await;
    create_mcp_user(&gw, "ivy").await;
    let token = login(&gw, "ivy").await;
    let mut new = McpClient::new(&gw.url("/mcp"), Some(&token));
    let mut old = McpClient::new(&gw.url("/mcp"), Some(&token));
    initialize(&mut new, "2025-11-25", "new").await;
    initialize(&mut old, "2025-06-18", "old").await;

    let first = post_streaming(&new, call(1, "chatty", json!({})))
        .await
        .rest()
        .await;
    let ids: Vec<_> = first
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["p1-0", "p1-1", "p1-2"], "{first:?}");
    assert_eq!(
        first[0].data.as_deref(),
        Some(""),
        "the priming event has empty data"
    );
    assert_eq!(first[1].json()["method"], "notifications/progress");
    assert_eq!(first[2].json()["id"], 1);
    assert!(
        first[0].retry,
        "the priming event says how soon to reconnect"
    );
    assert!(
        first[1..].iter().all(|e| !e.retry),
        "an answer that completes ends without retry"
    );

    let second = post_streaming(&new, call(2, "chatty", json!({})))
        .await
        .rest()
        .await;
    let ids: Vec<_> = second
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["p2-0", "p2-1", "p2-2"],
        "each answer is a stream of its own"
    );

    let older = post_streaming(&old, call(1, "chatty", json!({})))
        .await
        .rest()
        .await;
    assert!(
        older
            .iter()
            .all(|e| e.data.as_deref().is_some_and(|d| !d.is_empty())),
        "no priming event (empty data) for a 2025-06-18 client: {older:?}"
    );
    let ids: Vec<_> = older
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["p1-1", "p1-2"]);
    assert_eq!(older[1].json()["id"], 1);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_dropped_answer_resumes_on_get_with_exactly_its_missed_events() {
    let (_fixture, gw) = gateway_with_gates().await;
    create_mcp_user(&gw, "jane").await;
    create_mcp_user(&gw, "karl").await;
    let (token, other_token) = (login(&gw, "jane").await, login(&gw, "karl").await);
    // `/mcp/fx` passes the backend's own list_changed to the session's GET stream: the session
    // then has GET-stream events, other answer streams, and the dropped one.
    let mut client = McpClient::new(&gw.url("/mcp/fx"), Some(&token));
    let mut second_session = McpClient::new(&gw.url("/mcp/fx"), Some(&token));
    initialize(&mut client, "2025-11-25", "resumer").await;
    initialize(&mut second_session, "2025-11-25", "bystander").await;

    let mut held = post_streaming(&client, call(1, "hold", json!({"key": "k1"}))).await;
    let priming = held.next().await.expect("a priming event");
    assert_eq!(priming.id.as_deref(), Some("p1-0"));
    let progress = held.next().await.expect("the first progress event");
    assert_eq!(progress.id.as_deref(), Some("p1-1"));
    assert_eq!(progress.json()["params"]["message"], "held");
    drop(held); // the connection drops before the answer is complete

    // Nobody else can resume it: not another user (the session is not theirs), not another
    // session of the same user (the id is not one of its streams).
    assert_eq!(resume(&client, &other_token, "p1-1").await.0, 404);
    assert_eq!(resume(&second_session, &token, "p1-1").await.0, 400);

    // More traffic on the session: a GET-stream event (the backend's list_changed) and another
    // answer stream. None of it belongs to the dropped answer.
    let grown = client
        .request(2, "tools/call", json!({"name": "grow", "arguments": {}}))
        .await;
    assert!(grown["result"].is_object(), "{grown}");

    // The resume takes the answer over from the dropped connection (whose loss the gateway
    // need not have noticed yet); releasing the held call then completes it.
    let (status, resumed) = resume(&client, &token, "p1-1").await;
    assert_eq!(status, 200);
    let mut resumed = resumed.unwrap();
    let priming = resumed.next().await.expect("a priming event");
    let released = client
        .request(
            3,
            "tools/call",
            json!({"name": "release", "arguments": {"key": "k1"}}),
        )
        .await;
    assert_eq!(text_of(&released), "opened k1");
    let mut events = vec![priming];
    events.extend(resumed.rest().await);
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["p1-1", "p1-2", "p1-3"],
        "priming at the resume point, then exactly the missed events: {events:?}"
    );
    assert_eq!(events[0].data.as_deref(), Some(""));
    assert_eq!(events[1].json()["method"], "notifications/progress");
    assert_eq!(events[1].json()["params"]["message"], "released");
    assert_eq!(events[2].json()["id"], 1);
    assert_eq!(text_of(&events[2].json()), "released k1");
    assert!(
        events[1..].iter().all(|e| !e.retry),
        "the answer is complete: no retry after the priming event"
    );

    // Delivered: nothing is kept any more. Unknown streams and malformed ids are refused.
    for id in ["p1-1", "p9-1", "p1", "garbage"] {
        assert_eq!(resume(&client, &token, id).await.0, 400, "{id}");
    }
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_draining_gateway_ends_an_answer_stream_with_retry() {
    let (_fixture, gw) = gateway_with_gates().await;
    create_mcp_user(&gw, "lena").await;
    let token = login(&gw, "lena").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    initialize(&mut client, "2025-11-25", "drained").await;
    let mut held = post_streaming(&client, call(1, "hold", json!({"key": "never"}))).await;
    assert_eq!(held.next().await.unwrap().id.as_deref(), Some("p1-0"));
    assert_eq!(held.next().await.unwrap().id.as_deref(), Some("p1-1"));

    let stopping = actix_rt::spawn(gw.stop());
    let rest = held.rest().await;
    assert_eq!(
        rest,
        [SseEvent {
            id: None,
            data: None,
            retry: true
        }],
        "the stream ends with retry: and nothing else"
    );
    stopping.await.unwrap().unwrap();
}

/// The race of a request and the end of its session: the session ends while the request is
/// opening the session's backend session (the fixture holds that `initialize`). The request
/// must not use the backend session, and the backend session must be closed.
#[actix_rt::test]
async fn a_session_ended_while_its_backend_session_opens_never_uses_it_and_closes_it() {
    let (_fixture, gw) = gateway_with_gates().await;
    create_mcp_user(&gw, "mona").await;
    let token = login(&gw, "mona").await;
    let mut helper = McpClient::new(&gw.url("/mcp"), Some(&token));
    initialize(&mut helper, "2025-06-18", "helper").await;
    let echo = json!({"name": "echo", "arguments": {"text": "hi"}});
    assert_eq!(
        text_of(&helper.request(1, "tools/call", echo.clone()).await),
        "hi"
    );

    let mut doomed = McpClient::new(&gw.url("/mcp"), Some(&token));
    initialize(&mut doomed, "2025-06-18", "hold-open").await;
    let ender = McpClient {
        url: doomed.url.clone(),
        token: doomed.token.clone(),
        session: doomed.session.clone(),
        version: doomed.version.clone(),
        http: awc::Client::default(),
    };
    let call = actix_rt::spawn(async move { doomed.request(1, "tools/call", echo).await });
    let held = json!({"name": "await_held", "arguments": {"key": "open"}});
    assert_eq!(
        text_of(&helper.request(2, "tools/call", held).await),
        "open is held"
    );

    assert_eq!(ender.delete().await, 204);
    let release = json!({"name": "release", "arguments": {"key": "open"}});
    assert_eq!(
        text_of(&helper.request(3, "tools/call", release).await),
        "opened open"
    );
    let answer = call.await.unwrap();
    assert_eq!(answer["error"]["code"], -32001, "{answer}");

    let closed = json!({"name": "await_closed", "arguments": {"count": 1}});
    let result = helper.request(4, "tools/call", closed).await;
    assert_eq!(text_of(&result), "1 closed", "{result}");
    gw.stop().await.unwrap();
}
