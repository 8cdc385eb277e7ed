//! Tasks (MCP 2025-11-25) through the aggregated `/mcp`: a task-augmented `tools/call` creates
//! a task at the backend (the rmcp fixture with `--tasks`), and `tasks/get`, `tasks/result`,
//! `tasks/cancel`, `tasks/list` reach it only for the user whose session created it.

use serde_json::{Value, json};

use crate::fixture::{HttpFixture, gateway_in_front_of};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

pub(crate) async fn client(gw: &TestGateway, path: &str, token: &str) -> (McpClient, Value) {
    let mut client = McpClient::new(&gw.url(path), Some(token));
    let result = client.initialize("2025-11-25").await;
    (client, result)
}

pub(crate) async fn wait_for_tool(client: &McpClient, name: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let list = client.request(90, "tools/list", json!({})).await;
        let tools = list["result"]["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if tools.iter().any(|t| t["name"] == name) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub(crate) async fn create_task(
    client: &McpClient,
    id: u64,
    tool: &str,
    arguments: Value,
) -> Value {
    let reply = client
        .request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments, "task": {"ttl": 60000}}),
        )
        .await;
    reply["result"]["task"].clone()
}

/// Another user learns nothing: `task_id` answers `tasks/get` exactly like a made-up id, and
/// their `tasks/list` is empty. Returns their client and the "unknown task" answer.
async fn nothing_for_another_user(
    gw: &TestGateway,
    token: &str,
    task_id: &str,
) -> (McpClient, Value) {
    let (intruder, _) = client(gw, "/mcp", token).await;
    let stolen = intruder
        .request(7, "tasks/get", json!({"taskId": task_id}))
        .await;
    let unknown = intruder
        .request(7, "tasks/get", json!({"taskId": "no-such-task"}))
        .await;
    assert_eq!(stolen["error"]["code"], -32602, "{stolen}");
    assert_eq!(stolen, unknown);
    let none = intruder.request(8, "tasks/list", json!({})).await;
    assert_eq!(none["result"]["tasks"], json!([]), "{none}");
    (intruder, unknown)
}

#[actix_rt::test]
async fn tasks_reach_their_backend_for_their_creator_only() {
    let backend = HttpFixture::start_with(0, 3, &["--tasks"]);
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    create_mcp_user(&gw, "owner").await;
    create_mcp_user(&gw, "intruder").await;
    let (owner_token, intruder_token) = (login(&gw, "owner").await, login(&gw, "intruder").await);

    let (owner, init) = client(&gw, "/mcp", &owner_token).await;
    assert_eq!(
        init["capabilities"]["tasks"]["requests"]["tools"]["call"],
        json!({}),
        "the backend's tasks capability is advertised: {init}"
    );
    wait_for_tool(&owner, "echo").await;

    let done = create_task(&owner, 1, "echo", json!({"text": "from a task"})).await;
    let done_id = done["taskId"]
        .as_str()
        .expect("a CreateTaskResult")
        .to_string();
    let got = owner
        .request(2, "tasks/get", json!({"taskId": done_id}))
        .await;
    assert_eq!(got["result"]["status"], "completed", "{got}");
    let result = owner
        .request(3, "tasks/result", json!({"taskId": done_id}))
        .await;
    assert_eq!(
        result["result"]["content"][0]["text"], "from a task",
        "{result}"
    );

    let running = create_task(&owner, 4, "slow", json!({"ms": 1})).await;
    let running_id = running["taskId"].as_str().unwrap().to_string();
    assert_eq!(running["status"], "working");
    let cancelled = owner
        .request(5, "tasks/cancel", json!({"taskId": running_id}))
        .await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");

    let listed = owner.request(6, "tasks/list", json!({})).await;
    let mut ids: Vec<&str> = listed["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|t| t["taskId"].as_str())
        .collect();
    ids.sort();
    let mut expected = vec![done_id.as_str(), running_id.as_str()];
    expected.sort();
    assert_eq!(ids, expected);

    let (intruder, unknown) = nothing_for_another_user(&gw, &intruder_token, &done_id).await;
    let stolen_result = intruder
        .request(7, "tasks/result", json!({"taskId": done_id}))
        .await;
    assert_eq!(stolen_result, unknown);

    // The same on the one-backend endpoint.
    let (direct, _) = client(&gw, "/mcp/fx", &intruder_token).await;
    let stolen = direct
        .request(7, "tasks/get", json!({"taskId": done_id}))
        .await;
    assert_eq!(stolen, unknown);

    drop(backend);
    gw.stop().await.unwrap();
}

pub(crate) fn task_id(task: &Value) -> String {
    task["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a CreateTaskResult: {task}"))
        .to_string()
}

fn listed_ids(listed: &Value) -> Vec<String> {
    let mut ids: Vec<String> = listed["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|t| t["taskId"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[actix_rt::test]
async fn a_users_tasks_outlive_the_session_that_created_them() {
    let backend = HttpFixture::start_with(0, 3, &["--tasks"]);
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    create_mcp_user(&gw, "owner").await;
    create_mcp_user(&gw, "intruder").await;
    let token = login(&gw, "owner").await;

    let (first, _) = client(&gw, "/mcp", &token).await;
    wait_for_tool(&first, "echo").await;
    let done = create_task(&first, 1, "echo", json!({"text": "kept"})).await;
    let running = create_task(&first, 2, "slow", json!({"ms": 1})).await;
    let (done_id, running_id) = (task_id(&done), task_id(&running));
    for id in [&done_id, &running_id] {
        assert!(
            !id.starts_with("task-"),
            "a gateway id, not the backend's: {id}"
        );
    }
    // The client reconnects: its first session ends, a new one starts.
    assert_eq!(first.delete().await, 204);
    let (second, _) = client(&gw, "/mcp", &token).await;

    let got = second
        .request(3, "tasks/get", json!({"taskId": done_id}))
        .await;
    assert_eq!(got["result"]["status"], "completed", "{got}");
    assert_eq!(got["result"]["taskId"], done_id.as_str());
    let result = second
        .request(4, "tasks/result", json!({"taskId": done_id}))
        .await;
    assert_eq!(result["result"]["content"][0]["text"], "kept", "{result}");
    assert_eq!(
        result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        done_id.as_str(),
        "the related-task id is the gateway's too: {result}"
    );
    let mut expected = vec![done_id.clone(), running_id.clone()];
    expected.sort();
    let listed = second.request(5, "tasks/list", json!({})).await;
    assert_eq!(listed_ids(&listed), expected);
    // The backend streams what it has to say about the task before its answer: the client sees
    // the gateway's id everywhere, and nothing about a task that is not this user's.
    let cancel = json!({"jsonrpc": "2.0", "id": 6, "method": "tasks/cancel",
        "params": {"taskId": running_id}});
    let messages = second.post(&cancel.to_string(), &[]).await.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/tasks/status");
    assert_eq!(messages[0]["params"]["taskId"], running_id.as_str());
    assert_eq!(messages[0]["params"]["status"], "cancelled");
    assert_eq!(messages[1]["method"], "notifications/message");
    assert_eq!(
        messages[1]["params"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        running_id.as_str()
    );
    let cancelled = &messages[2];
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["result"]["taskId"], running_id.as_str());

    // Still nobody else's.
    let intruder_token = login(&gw, "intruder").await;
    nothing_for_another_user(&gw, &intruder_token, &done_id).await;

    drop(backend);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn two_backends_handing_out_the_same_task_id_stay_apart() {
    let (a, b) = (
        HttpFixture::start_with(0, 3, &["--tasks"]),
        HttpFixture::start_with(0, 3, &["--tasks"]),
    );
    let gw = gateway_in_front_of(&[("a", "a_", &a), ("b", "b_", &b)]).await;
    create_mcp_user(&gw, "owner").await;
    let token = login(&gw, "owner").await;
    let (owner, _) = client(&gw, "/mcp", &token).await;
    wait_for_tool(&owner, "a_echo").await;
    wait_for_tool(&owner, "b_echo").await;

    // Each fixture numbers its tasks from 1: both backends say `task-1`.
    let from_a = task_id(&create_task(&owner, 1, "a_echo", json!({"text": "from a"})).await);
    let from_b = task_id(&create_task(&owner, 2, "b_echo", json!({"text": "from b"})).await);
    assert_ne!(from_a, from_b);
    for (id, text) in [(&from_a, "from a"), (&from_b, "from b")] {
        let result = owner
            .request(3, "tasks/result", json!({"taskId": id}))
            .await;
        assert_eq!(result["result"]["content"][0]["text"], text, "{result}");
    }
    let mut expected = vec![from_a.clone(), from_b.clone()];
    expected.sort();
    let listed = owner.request(4, "tasks/list", json!({})).await;
    assert_eq!(listed_ids(&listed), expected);

    // On one backend's own endpoint, the other backend's task is unknown.
    let (direct, _) = client(&gw, "/mcp/a", &token).await;
    let other = direct
        .request(5, "tasks/get", json!({"taskId": from_b}))
        .await;
    assert_eq!(other["error"]["code"], -32602, "{other}");
    let own = direct
        .request(6, "tasks/get", json!({"taskId": from_a}))
        .await;
    assert_eq!(own["result"]["status"], "completed", "{own}");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_task_whose_backend_session_is_gone_gets_a_clear_error() {
    let mut backend = HttpFixture::start_with(0, 3, &["--tasks"]);
    let port = backend.url().port().unwrap();
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    create_mcp_user(&gw, "owner").await;
    let token = login(&gw, "owner").await;
    let (owner, _) = client(&gw, "/mcp", &token).await;
    wait_for_tool(&owner, "echo").await;
    let done = task_id(&create_task(&owner, 1, "echo", json!({"text": "lost"})).await);
    // The backend restarts on the same port: it knows no session of before.
    backend.kill();
    let _restarted = HttpFixture::start_with(port, 3, &["--tasks"]);
    let gone = owner
        .request(2, "tasks/result", json!({"taskId": done}))
        .await;
    assert_eq!(gone["error"]["code"], -32602, "{gone}");
    let message = gone["error"]["message"].as_str().unwrap();
    assert!(message.contains("can no longer be reached"), "{message}");
    // Forgotten: now it is simply unknown.
    let again = owner.request(3, "tasks/get", json!({"taskId": done})).await;
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown task"),
        "{again}"
    );
    gw.stop().await.unwrap();
}
