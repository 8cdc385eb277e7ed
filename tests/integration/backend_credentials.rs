//! The gateway's own credentials towards its backends, end to end: the real gateway, a real
//! rmcp backend that reports the headers it received, a real client with its own token.

use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

/// What the fixture's `headers` tool saw on the request that reached it.
pub(crate) async fn headers_seen(client: &McpClient, id: u64, tool: &str) -> Value {
    let answer = client
        .request(id, "tools/call", json!({"name": tool, "arguments": {}}))
        .await;
    answer["result"]["structuredContent"].clone()
}

#[actix_rt::test]
async fn backends_get_their_configured_credential_and_never_the_clients_token() {
    let fixture = HttpFixture::start_with(0, 1, &["--rich"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bearer.token");
    std::fs::write(&token_file, "backend-bearer-from-file\n").unwrap();
    let config = format!(
        r#"
        [[backends]]
        name = "bearer"
        url = "{url}"
        auth_token_file = {token_file:?}

        [[backends]]
        name = "basic"
        url = "{url}"
        auth_type = "basic"
        auth_token = "dXNlcjpwdw=="

        [[backends]]
        name = "keyed"
        url = "{url}"
        auth_type = "header"
        auth_header = "X-Api-Key"
        auth_token = "backend-api-key"
        headers = {{ "X-Tenant" = "acme" }}

        [[backends]]
        name = "plain"
        url = "{url}"
        "#,
        url = fixture.url(),
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(4).await;
    create_mcp_user(&gw, "carol").await;
    let token = login(&gw, "carol").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;

    let expectations = [
        (
            "bearer",
            json!("Bearer backend-bearer-from-file"),
            Value::Null,
            Value::Null,
        ),
        (
            "basic",
            json!("Basic dXNlcjpwdw=="),
            Value::Null,
            Value::Null,
        ),
        (
            "keyed",
            Value::Null,
            json!("backend-api-key"),
            json!("acme"),
        ),
        ("plain", Value::Null, Value::Null, Value::Null),
    ];
    for (id, (name, authorization, api_key, tenant)) in expectations.into_iter().enumerate() {
        let seen = headers_seen(&client, id as u64 + 1, &format!("{name}_headers")).await;
        assert_eq!(seen["authorization"], authorization, "{name}: {seen}");
        assert_eq!(seen["x-api-key"], api_key, "{name}: {seen}");
        assert_eq!(seen["x-tenant"], tenant, "{name}: {seen}");
        assert!(
            !seen.to_string().contains(&token),
            "{name}: the client's token reached the backend: {seen}"
        );
    }

    // The same through a single backend's endpoint.
    let mut single = McpClient::new(&gw.url("/mcp/plain"), Some(&token));
    single.initialize("2025-06-18").await;
    let seen = headers_seen(&single, 9, "headers").await;
    assert_eq!(seen["authorization"], Value::Null, "{seen}");
    gw.stop().await.unwrap();
}
