//! rmcp's real MCP client through the gateway: initialize, every list (paged across backends),
//! call, read, get, complete, ping, session end. Backends: a rich rmcp fixture over HTTP and a
//! plain one over stdio.

use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientConfig, GetPromptRequestParams, ReadResourceRequestParams,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use crate::fixture::{HttpFixture, fixture_binary};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

fn params<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid params")
}

#[actix_rt::test]
async fn the_rmcp_client_uses_every_feature_through_the_gateway() {
    let rich = HttpFixture::start_with(0, 2, &["--rich"]);
    let config = format!(
        "[mcp]\npage_size = 3\n[[backends]]\nname = \"rich\"\nurl = \"{}\"\ntool_prefix = \"r_\"\n[[backends]]\nname = \"plain\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"3\"]\n",
        rich.url(),
        fixture_binary().display()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(2).await;
    create_mcp_user(&gw, "sdk").await;
    let token = login(&gw, "sdk").await;

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gw.url("/mcp")).auth_header(token.clone()),
    );
    let client = ClientConfig::default()
        .serve(transport)
        .await
        .expect("initialize through the gateway");
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "authmcp-gateway");

    // 2 + 5 rich tools from `rich`, 3 from `plain` (default prefix `plain_`): 10 in pages of 3. The table fills
    // asynchronously after the backends come online, so wait for it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let tools = loop {
        let tools = client.list_all_tools().await.unwrap();
        if tools.len() == 10 || tokio::time::Instant::now() > deadline {
            break tools;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "plain_add",
            "plain_echo",
            "plain_slow",
            "r_add",
            "r_args",
            "r_big",
            "r_chatty",
            "r_echo",
            "r_grow",
            "r_headers"
        ]
    );

    let echo = client
        .call_tool(
            CallToolRequestParams::new("r_echo")
                .with_arguments(json!({"text":"hi"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&echo.content).unwrap()[0]["text"],
        "hi"
    );
    let add = client
        .call_tool(
            CallToolRequestParams::new("plain_add")
                .with_arguments(json!({"a":1,"b":2}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&add.content).unwrap()[0]["text"], "3");
    // The gateway's own client token never reaches the backend.
    let headers = client
        .call_tool(CallToolRequestParams::new("r_headers"))
        .await
        .unwrap();
    assert_eq!(
        headers.structured_content.unwrap()["authorization"],
        serde_json::Value::Null
    );

    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 1);
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    let read = client
        .read_resource(params::<ReadResourceRequestParams>(
            json!({"uri":"fixture://item/7"}),
        ))
        .await
        .unwrap();
    assert!(serde_json::to_string(&read.contents).unwrap().contains('7'));
    let prompts = client.list_all_prompts().await.unwrap();
    assert_eq!(
        prompts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["r_greet"]
    );
    let prompt = client
        .get_prompt(params::<GetPromptRequestParams>(
            json!({"name":"r_greet","arguments":{"name":"Ada"}}),
        ))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&prompt.messages)
            .unwrap()
            .contains("Hello, Ada!")
    );
    // Routed by `ref/prompt` to the backend, with the prompt's own name.
    let completions = client
        .complete_prompt_simple("r_greet", "name", "al")
        .await
        .unwrap();
    assert_eq!(completions, ["alice", "albert"]);
    client.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

/// A gateway in front of one rich fixture (unprefixed names), a user, and an initialized raw
/// client, returned once the routing table lists the backend's tools.
async fn rich_gateway(user: &str) -> (HttpFixture, TestGateway, McpClient, String) {
    let rich = HttpFixture::start_with(0, 1, &["--rich"]);
    let config = format!(
        "[[backends]]\nname = \"rich\"\nurl = \"{}\"\ntool_prefix = \"\"\n",
        rich.url()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, user).await;
    let token = login(&gw, user).await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        client.initialize("2025-06-18").await;
        let reply = client
            .post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[])
            .await;
        if reply.body.contains("\"big\"") {
            return (rich, gw, client, reply.body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rich tools never appeared: {}",
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn big_integers_key_order_and_unknown_fields_survive_the_round_trip() {
    let (_rich, gw, client, listed) = rich_gateway("bytes").await;
    assert!(
        listed.contains(r#""x-custom":{"b":1,"a":2}"#),
        "unknown field or its key order lost: {listed}"
    );
    let reply = client
        .post(r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"big","arguments":{}}}"#, &[])
        .await;
    let raw = reply.messages_raw();
    let last = raw.last().expect("a response");
    assert!(
        last.contains(r#""id":9007199254740993"#),
        "id changed: {last}"
    );
    assert!(
        last.contains("12345678901234567890"),
        "big integer changed: {last}"
    );
    assert!(
        !last.contains("1.2345678901234567e19"),
        "big integer became a float: {last}"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn idempotent_tools_get_an_idempotency_key_that_the_client_may_set() {
    let (_rich, gw, client, _) = rich_gateway("idem").await;
    let reply = client
        .request(1, "tools/call", json!({"name":"args","arguments":{"x":1}}))
        .await;
    let sent = &reply["result"]["structuredContent"]["arguments"];
    assert_eq!(sent["x"], 1);
    assert_eq!(
        sent["idempotency_key"].as_str().map(str::len),
        Some(32),
        "{reply}"
    );
    let kept = client
        .request(
            2,
            "tools/call",
            json!({"name":"args","arguments":{"idempotency_key":"mine"}}),
        )
        .await;
    assert_eq!(
        kept["result"]["structuredContent"]["arguments"]["idempotency_key"],
        "mine"
    );
    // Tools without the hint are forwarded untouched.
    let plain = client
        .request(
            3,
            "tools/call",
            json!({"name":"echo","arguments":{"text":"t"}}),
        )
        .await;
    assert_eq!(plain["result"]["content"][0]["text"], "t");
    gw.stop().await.unwrap();
}
