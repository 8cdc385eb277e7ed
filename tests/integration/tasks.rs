//! Tasks (MCP 2025-11-25) through the aggregated `/mcp`: a task-augmented `tools/call` creates
//! a task at the backend (the rmcp fixture with `--tasks`), and `tasks/get`, `tasks/result`,
//! `tasks/cancel`, `tasks/list` reach it only for the user whose session created it.

use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

async fn client(gw: &TestGateway, path: &str, token: &str) -> (McpClient, Value) {
    let mut client = McpClient::new(&gw.url(path), Some(token));
    let result = client.initialize("2025-11-25").await;
    (client, result)
}

async fn wait_for_tool(client: &McpClient, name: &str) {
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

async fn create_task(client: &McpClient, id: u64, tool: &str, arguments: Value) -> Value {
    let reply = client
        .request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments, "task": {"ttl": 60000}}),
        )
        .await;
    reply["result"]["task"].clone()
}

#[actix_rt::test]
async fn tasks_reach_their_backend_for_their_creator_only() {
    let backend = HttpFixture::start_with(0, 3, &["--tasks"]);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\ntool_prefix = \"\"\n",
        backend.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
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

    // Another user learns nothing: the owner's task id answers exactly like a made-up one.
    let (intruder, _) = client(&gw, "/mcp", &intruder_token).await;
    let stolen = intruder
        .request(7, "tasks/get", json!({"taskId": done_id}))
        .await;
    let unknown = intruder
        .request(7, "tasks/get", json!({"taskId": "no-such-task"}))
        .await;
    assert_eq!(stolen["error"]["code"], -32602, "{stolen}");
    assert_eq!(stolen, unknown);
    let stolen_result = intruder
        .request(7, "tasks/result", json!({"taskId": done_id}))
        .await;
    assert_eq!(stolen_result, unknown);
    let none = intruder.request(8, "tasks/list", json!({})).await;
    assert_eq!(none["result"]["tasks"], json!([]), "{none}");

    // The same on the one-backend endpoint.
    let (direct, _) = client(&gw, "/mcp/fx", &intruder_token).await;
    let stolen = direct
        .request(7, "tasks/get", json!({"taskId": done_id}))
        .await;
    assert_eq!(stolen, unknown);

    drop(backend);
    gw.stop().await.unwrap();
}
