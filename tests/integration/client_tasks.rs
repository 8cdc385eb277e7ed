//! A backend asking the client about tasks the client runs for it (2025-11-25: task-augmented
//! elicitation, then `tasks/get`, `tasks/list`): relayed when the client declared `tasks` (and
//! `tasks.list` for listing), refused to the backend otherwise; and one backend never reaches,
//! nor lists, a task the client runs for another. Backends: two rmcp fixtures with `--asks`
//! (`ask_raw` sends the client any request).

use serde_json::{Value, json};

use crate::elicitation_relay::{answer_as, call_waiting, declaring, tool_text, wait_for_tool};
use crate::fixture::{HttpFixture, gateway_in_front_of};
use crate::mcp_client::McpClient;

fn ask(method: &str, params: Value) -> Value {
    json!({"method": method, "params": params})
}

/// A call of `tool` that the gateway refuses to relay: the backend's tool reports the failure.
async fn refused(client: &McpClient, tool: &str, arguments: Value) -> String {
    let reply = client
        .request(
            9,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
        .await;
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_string();
    assert!(text.starts_with("ask failed"), "{text}");
    text
}

#[actix_rt::test]
async fn backends_reach_only_the_client_tasks_they_created_and_only_as_declared() {
    let (a, b) = (
        HttpFixture::start_with(0, 3, &["--asks"]),
        HttpFixture::start_with(0, 3, &["--asks"]),
    );
    let gw = gateway_in_front_of(&[("a", "a_", &a), ("b", "b_", &b)]).await;
    let tasks = json!({"elicitation": {}, "tasks": {"list": {}, "cancel": {},
        "requests": {"elicitation": {"create": {}}}}});
    let (client, user, _) = declaring(&gw, "runner", tasks).await;
    wait_for_tool(&client, "a_ask_raw").await;
    wait_for_tool(&client, "b_ask_raw").await;

    // Backend a task-augments an elicitation; the client runs it as task `ct-1`.
    let elicit = ask(
        "elicitation/create",
        json!({"message": "later", "requestedSchema": {"type": "object", "properties": {}},
               "task": {"ttl": 60000}}),
    );
    let waiting = call_waiting(&gw, &client, user, "a_ask_raw", elicit).await;
    let task = json!({"taskId": "ct-1", "status": "working", "createdAt": "2025-11-25T00:00:00Z",
        "lastUpdatedAt": "2025-11-25T00:00:00Z", "ttl": 60000});
    let messages = answer_as(&client, "gw-1", waiting, json!({"task": task})).await;
    assert!(tool_text(&messages).contains("ct-1"), "{messages:?}");

    // Backend b asks about it: refused by the gateway, the client never hears of it.
    let text = refused(
        &client,
        "b_ask_raw",
        ask("tasks/get", json!({"taskId": "ct-1"})),
    )
    .await;
    assert!(text.contains("Unknown task"), "{text}");

    // Backend a asks: relayed under the gateway's next id, answered by the client.
    let get = ask("tasks/get", json!({"taskId": "ct-1"}));
    let waiting = call_waiting(&gw, &client, user, "a_ask_raw", get).await;
    let messages = answer_as(&client, "gw-2", waiting, task.clone()).await;
    assert_eq!(messages[0]["method"], "tasks/get", "{messages:?}");
    assert!(tool_text(&messages).contains("working"), "{messages:?}");

    // Backend a lists: the client's answer is narrowed to a's tasks.
    let waiting = call_waiting(
        &gw,
        &client,
        user,
        "a_ask_raw",
        ask("tasks/list", json!({})),
    )
    .await;
    let other = json!({"taskId": "ct-other", "status": "working",
        "createdAt": "2025-11-25T00:00:00Z", "lastUpdatedAt": "2025-11-25T00:00:00Z", "ttl": 1});
    let messages = answer_as(&client, "gw-3", waiting, json!({"tasks": [task, other]})).await;
    let text = tool_text(&messages);
    assert!(
        text.contains("ct-1") && !text.contains("ct-other"),
        "{text}"
    );

    // Clients that did not declare `tasks`, or not `tasks.list`: refused, naming what is missing.
    let (plain, _, _) = declaring(&gw, "plain", json!({})).await;
    let text = refused(&plain, "a_ask_raw", ask("tasks/list", json!({}))).await;
    assert!(text.contains("`tasks` capability"), "{text}");
    let (partial, _, _) = declaring(&gw, "partial", json!({"tasks": {"cancel": {}}})).await;
    let text = refused(&partial, "a_ask_raw", ask("tasks/list", json!({}))).await;
    assert!(text.contains("tasks.list"), "{text}");
    gw.stop().await.unwrap();
}
