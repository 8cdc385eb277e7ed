//! Elicitation through the gateway (rmcp fixture with `--asks`): form mode relayed to a client
//! that declared `elicitation`; URL mode refused to the backend unless the client declared
//! `elicitation.url`, relayed when it did; and the backend's `notifications/elicitation/complete`
//! reaching the initiating client only (two users, each listening on a GET stream).

use serde_json::{Value, json};

use crate::fixture::{DEADLINE, HttpFixture, gateway_in_front_of};
use crate::get_stream::{Events, listening};
use crate::harness::TestGateway;
use crate::mcp_client::{McpClient, Raw};
use crate::users::{create_mcp_user, login};

/// A session of a new user `name` on `/mcp` whose client declared `capabilities`; returns it,
/// the user's id and token.
pub(crate) async fn declaring(
    gw: &TestGateway,
    name: &str,
    capabilities: Value,
) -> (McpClient, i64, String) {
    let user = create_mcp_user(gw, name).await;
    let token = login(gw, name).await;
    let client = session_declaring(gw, &token, name, capabilities).await;
    (client, user, token)
}

/// A new session on `/mcp` with `token`, its client (named `name`) declaring `capabilities`.
pub(crate) async fn session_declaring(
    gw: &TestGateway,
    token: &str,
    name: &str,
    capabilities: Value,
) -> McpClient {
    let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":capabilities,
        "clientInfo":{"name":name,"version":"1"}}});
    let reply = client.post(&init.to_string(), &[]).await;
    client.session = reply
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(client.session.is_some(), "{}", reply.body);
    client.version = reply.json()["result"]["protocolVersion"]
        .as_str()
        .unwrap()
        .to_string();
    client
}

/// Waits until the routing table lists `tool` for this client.
pub(crate) async fn wait_for_tool(client: &McpClient, tool: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let list = client.request(90, "tools/list", json!({})).await;
        if list["result"]["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["name"] == tool))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tool} never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Starts `tools/call` of `tool`; returns once the gateway holds the backend's request for the
/// client (it is then waiting for the client's answer).
pub(crate) async fn call_waiting(
    gw: &TestGateway,
    client: &McpClient,
    user: i64,
    tool: &str,
    arguments: Value,
) -> actix_rt::task::JoinHandle<Raw> {
    let caller = McpClient {
        session: client.session.clone(),
        version: client.version.clone(),
        ..McpClient::new(&client.url, client.token.as_deref())
    };
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
        "name":tool,"arguments":arguments}})
    .to_string();
    let waiting = actix_rt::spawn(async move { caller.post(&call, &[]).await });
    let session = client.session.clone().unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while gw
        .handle()
        .sessions()
        .get(&session, user)
        .map(|s| s.pending_count())
        .unwrap_or(0)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never relayed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    waiting
}

/// Answers the session's first relayed request (`gw-1`) with `result`; returns the call's
/// messages (the relayed request, then the tool's result).
async fn answer(
    client: &McpClient,
    waiting: actix_rt::task::JoinHandle<Raw>,
    result: Value,
) -> Vec<Value> {
    answer_as(client, "gw-1", waiting, result).await
}

/// Answers the relayed request the client sees as `id`; returns the call's messages.
pub(crate) async fn answer_as(
    client: &McpClient,
    id: &str,
    waiting: actix_rt::task::JoinHandle<Raw>,
    result: Value,
) -> Vec<Value> {
    let answer = json!({"jsonrpc":"2.0","id":id,"result":result});
    assert_eq!(client.post(&answer.to_string(), &[]).await.status, 202);
    waiting.await.unwrap().messages()
}

pub(crate) fn tool_text(messages: &[Value]) -> String {
    let last = messages.last().expect("a response");
    last["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{last}"))
        .to_string()
}

async fn gateway() -> (HttpFixture, TestGateway) {
    let backend = HttpFixture::start_with(0, 3, &["--asks"]);
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    (backend, gw)
}

#[actix_rt::test]
async fn form_elicitation_reaches_the_client_and_its_answer_the_backend() {
    let (_backend, gw) = gateway().await;
    let (client, user, _) = declaring(&gw, "former", json!({"elicitation": {}})).await;
    wait_for_tool(&client, "ask_form").await;
    let waiting = call_waiting(&gw, &client, user, "ask_form", json!({})).await;
    let messages = answer(
        &client,
        waiting,
        json!({"action": "accept", "content": {"name": "Ada"}}),
    )
    .await;
    let request = &messages[0];
    assert_eq!(request["method"], "elicitation/create", "{messages:?}");
    assert_eq!(request["id"], "gw-1", "the gateway's id, not the backend's");
    assert_eq!(
        request["params"]["requestedSchema"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        tool_text(&messages),
        r#"action="accept" content={"name":"Ada"}"#
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn url_elicitation_needs_elicitation_url_and_its_completion_reaches_only_its_client() {
    let (_backend, gw) = gateway().await;
    // Form mode only: the backend is refused at once, naming what is missing.
    let (plain, _, _) = declaring(&gw, "plain", json!({"elicitation": {}})).await;
    wait_for_tool(&plain, "ask_url").await;
    let refused = plain
        .request(
            1,
            "tools/call",
            json!({"name": "ask_url", "arguments": {"id": "e-0"}}),
        )
        .await;
    let text = refused["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(
        text.starts_with("ask failed") && text.contains("elicitation.url"),
        "{refused}"
    );

    let url = json!({"elicitation": {"form": {}, "url": {}}});
    let (alice, alice_id, alice_token) = declaring(&gw, "alice", url.clone()).await;
    let (bob, bob_id, bob_token) = declaring(&gw, "bob", url).await;
    let mut alice_events = listening(&alice, &alice_token).await;
    let mut bob_events = listening(&bob, &bob_token).await;

    let waiting = call_waiting(&gw, &alice, alice_id, "ask_url", json!({"id": "e-alice"})).await;
    let messages = answer(&alice, waiting, json!({"action": "accept"})).await;
    assert_eq!(messages[0]["params"]["mode"], "url", "{messages:?}");
    assert_eq!(messages[0]["params"]["elicitationId"], "e-alice");
    assert_eq!(tool_text(&messages), r#"action="accept""#);
    let complete = completion(&messages, &mut alice_events).await;
    assert_eq!(complete["params"]["elicitationId"], "e-alice", "{complete}");

    // Bob's own elicitation: the first completion he hears of is his, never Alice's.
    let waiting = call_waiting(&gw, &bob, bob_id, "ask_url", json!({"id": "e-bob"})).await;
    let messages = answer(&bob, waiting, json!({"action": "accept"})).await;
    let complete = completion(&messages, &mut bob_events).await;
    assert_eq!(complete["params"]["elicitationId"], "e-bob", "{complete}");
    gw.stop().await.unwrap();
}

/// A backend that answers `-32042` (URL elicitation required) names the elicitation in the
/// error; its completion belongs to the session that got that answer, even when the backend
/// sends it on another session of the same user. One the gateway never saw named stays where
/// it arrives.
#[actix_rt::test]
async fn a_url_elicitation_named_in_an_error_completes_at_the_session_that_got_it() {
    let (_backend, gw) = gateway().await;
    let url = json!({"elicitation": {"form": {}, "url": {}}});
    let (first, _, token) = declaring(&gw, "carol", url.clone()).await;
    let second = session_declaring(&gw, &token, "carol-second", url).await;
    wait_for_tool(&first, "require_url").await;
    let mut first_events = listening(&first, &token).await;
    let mut second_events = listening(&second, &token).await;

    let required = first
        .request(
            1,
            "tools/call",
            json!({"name": "require_url", "arguments": {"id": "e-required"}}),
        )
        .await;
    assert_eq!(required["error"]["code"], -32042, "{required}");
    let named = &required["error"]["data"]["elicitations"][0];
    assert_eq!(named["elicitationId"], "e-required", "{required}");

    // The backend announces the completion on the second session: it reaches the first.
    let complete = |id: &str| json!({"name": "complete", "arguments": {"id": id}});
    let sent = second
        .request(2, "tools/call", complete("e-required"))
        .await;
    assert_eq!(tool_text(std::slice::from_ref(&sent)), "sent", "{sent}");
    let message = first_events.message().await.expect("the GET stream ended");
    assert_eq!(
        message["method"], "notifications/elicitation/complete",
        "{message}"
    );
    assert_eq!(
        message["params"]["elicitationId"], "e-required",
        "{message}"
    );

    // Unknown to the gateway: the second session keeps it, and it is the first completion
    // that session hears of (the other one never came its way).
    second.request(3, "tools/call", complete("e-unknown")).await;
    let message = second_events.message().await.expect("the GET stream ended");
    assert_eq!(message["params"]["elicitationId"], "e-unknown", "{message}");
    gw.stop().await.unwrap();
}

/// The `notifications/elicitation/complete` the client received: the backend sends it outside
/// the request, so it comes on the client's GET stream (its next message there).
async fn completion(call: &[Value], events: &mut Events) -> Value {
    let method = "notifications/elicitation/complete";
    assert!(
        !call.iter().any(|m| m["method"] == method),
        "not in the answer: {call:?}"
    );
    let message = events.message().await.expect("the GET stream ended");
    assert_eq!(message["method"], method, "{message}");
    message
}
