//! Tasks (MCP 2025-11-25) used from a session other than the one that created them (the rmcp
//! fixture with `--tasks`, whose `tasks/result` blocks while a task works): a cancelled
//! follow-up reaches the task's backend session; a status the backend sends outside any request
//! after the creating session ended reaches the user's other session, never another user's;
//! and a URL elicitation's completion goes to the session that was sent the elicitation, not to
//! the one whose backend session carries it.

use serde_json::{Value, json};

use crate::elicitation_relay::session_declaring;
use crate::fixture::HttpFixture;
use crate::fixture::gateway_in_front_of;
use crate::get_stream::{Events, answer_events, listening};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::tasks::{client, create_task, task_id, wait_for_tool};
use crate::users::{create_mcp_user, login};

/// The fixture's own control (not MCP): completes its working tasks created with `key`.
async fn finish(backend: &HttpFixture, key: &str) -> Value {
    let url = format!("http://127.0.0.1:{}/tasks/finish", backend.port);
    let mut response = awc::Client::default()
        .post(url)
        .send_json(&json!({"key": key}))
        .await
        .expect("the fixture answers");
    response.json().await.expect("JSON")
}

/// The fixture with `--tasks` behind a gateway, as backend `fx` (no tool prefix).
async fn tasks_gateway() -> (HttpFixture, TestGateway) {
    let backend = HttpFixture::start_with(0, 3, &["--tasks"]);
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    (backend, gw)
}

async fn one_user(gw: &TestGateway, name: &str) -> String {
    create_mcp_user(gw, name).await;
    login(gw, name).await
}

/// `tasks/result` of `task` from `client`, once the backend holds it (its first message, the
/// task's status, has arrived).
async fn waiting_for_result(client: &McpClient, id: &str, task: &str) -> Events {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": "tasks/result",
        "params": {"taskId": task}});
    let mut events = answer_events(client, request).await;
    let status = events.message().await.expect("the task's status");
    assert_eq!(status["method"], "notifications/tasks/status", "{status}");
    assert_eq!(status["params"]["taskId"], task, "the gateway's id");
    events
}

#[actix_rt::test]
async fn a_cancelled_follow_up_from_another_session_reaches_the_tasks_backend_session() {
    let (_backend, gw) = tasks_gateway().await;
    let token = one_user(&gw, "owner").await;
    let (creator, _) = client(&gw, "/mcp", &token).await;
    wait_for_tool(&creator, "slow").await;
    let task = task_id(&create_task(&creator, 1, "slow", json!({"ms": 1})).await);

    // Another session of the same user asks for the result, then gives up on it. Its own
    // backend session (if any) does not know the request: the task's does.
    let (other, _) = client(&gw, "/mcp", &token).await;
    let mut waiting = waiting_for_result(&other, "wait-1", &task).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": "wait-1", "reason": "no longer needed"}});
    assert_eq!(other.post(&cancel.to_string(), &[]).await.status, 202);
    let got = other.request(2, "tasks/get", json!({"taskId": task})).await;
    assert_eq!(
        got["result"]["statusMessage"], "a tasks/result wait was withdrawn",
        "the backend was told: {got}"
    );
    assert_eq!(
        got["result"]["status"], "working",
        "the task itself runs on"
    );
    assert!(
        waiting.message().await.is_none(),
        "a cancelled request gets no response"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_status_after_the_creating_session_ended_reaches_the_users_other_session_only() {
    let (backend, gw) = tasks_gateway().await;
    let alice_token = one_user(&gw, "alice").await;
    let bob_token = one_user(&gw, "bob").await;
    let (alice_first, _) = client(&gw, "/mcp", &alice_token).await;
    wait_for_tool(&alice_first, "slow").await;
    let alice_task = task_id(&create_task(&alice_first, 1, "slow", json!({"key": "alice"})).await);
    let (bob_first, _) = client(&gw, "/mcp", &bob_token).await;
    let bob_task = task_id(&create_task(&bob_first, 1, "slow", json!({"key": "bob"})).await);
    // Each user's second session listens on its GET stream.
    let (alice_second, _) = client(&gw, "/mcp", &alice_token).await;
    let (bob_second, _) = client(&gw, "/mcp", &bob_token).await;
    let mut alice_events = listening(&alice_second, &alice_token).await;
    let mut bob_events = listening(&bob_second, &bob_token).await;
    // The creating sessions end; the tasks keep their backend sessions open.
    assert_eq!(alice_first.delete().await, 204);
    assert_eq!(bob_first.delete().await, 204);

    let finished = finish(&backend, "alice").await;
    assert_eq!(
        finished,
        json!({"finished": 1, "pushed": 1}),
        "sent on a GET stream"
    );
    let status = alice_events
        .message()
        .await
        .expect("Alice hears of her task");
    assert_eq!(status["method"], "notifications/tasks/status", "{status}");
    assert_eq!(
        status["params"]["taskId"],
        alice_task.as_str(),
        "the gateway's id"
    );
    assert_eq!(status["params"]["status"], "completed");
    // The first thing Bob hears of is his own task, never Alice's.
    finish(&backend, "bob").await;
    let status = bob_events.message().await.expect("Bob hears of his task");
    assert_eq!(status["params"]["taskId"], bob_task.as_str(), "{status}");
    let result = alice_second
        .request(2, "tasks/result", json!({"taskId": alice_task}))
        .await;
    assert_eq!(result["result"]["content"][0]["text"], "finished alice");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_url_elicitations_completion_reaches_the_session_it_was_sent_to() {
    let (backend, gw) = tasks_gateway().await;
    let token = one_user(&gw, "owner").await;
    let url = json!({"elicitation": {"form": {}, "url": {}}});
    let creator = session_declaring(&gw, &token, "creator", url.clone()).await;
    wait_for_tool(&creator, "slow").await;
    let arguments = json!({"key": "k", "elicit": "e-1"});
    let task = task_id(&create_task(&creator, 1, "slow", arguments).await);
    let asker = session_declaring(&gw, &token, "asker", url).await;
    let mut creator_events = listening(&creator, &token).await;
    let mut asker_events = listening(&asker, &token).await;

    // The asker's follow-up runs on the creator's backend session; the task needs input.
    let mut waiting = waiting_for_result(&asker, "wait-1", &task).await;
    let ask = waiting.message().await.expect("the elicitation");
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["elicitationId"], "e-1");

    // The backend completes it on the creator's backend session's GET stream.
    finish(&backend, "k").await;
    let complete = asker_events.message().await.expect("the completion");
    assert_eq!(
        complete["method"], "notifications/elicitation/complete",
        "{complete}"
    );
    assert_eq!(complete["params"]["elicitationId"], "e-1");
    let status = creator_events.message().await.expect("the status");
    assert_eq!(
        status["method"], "notifications/tasks/status",
        "the creator hears of its task, not of the asker's elicitation: {status}"
    );
    let result = waiting.message().await.expect("the result");
    assert_eq!(
        result["result"]["content"][0]["text"], "finished k",
        "{result}"
    );
    gw.stop().await.unwrap();
}
