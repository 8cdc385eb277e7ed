//! The SessionActor under `GatewaySupervisor`: it panics (fault injection), is restarted with
//! backoff, and neither the sessions it held nor the endpoint's use of them are lost.

use actors::backend::BackendState;
use serde_json::json;

use crate::fixture::{DEADLINE, fixture_binary, wait_for};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

#[actix_rt::test]
async fn a_panicking_session_actor_is_restarted_and_keeps_every_session() {
    let config = format!(
        "[[backends]]\nname = \"local\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"3\"]\ntool_prefix = \"loc_\"\n",
        fixture_binary().display()
    );
    let gw = TestGateway::start(&config).await;
    wait_for(gw.handle(), "the backend online", |s| {
        s.iter()
            .all(|b| b.state == BackendState::Online && b.tool_count == 3)
    })
    .await;
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;
    let mut before = McpClient::new(&gw.url("/mcp"), Some(&token));
    before.initialize("2025-06-18").await;
    let mut doomed = McpClient::new(&gw.url("/mcp"), Some(&token));
    doomed.initialize("2025-06-18").await;

    let sessions = gw.handle().sessions();
    let mut incarnations = sessions.subscribe();
    let first = incarnations
        .borrow_and_update()
        .as_ref()
        .map(|a| a.get_id())
        .expect("the session actor runs");
    assert!(gw.handle().inject_session_panic());
    let restarted = tokio::time::timeout(
        DEADLINE,
        incarnations.wait_for(|a| a.as_ref().is_some_and(|a| a.get_id() != first)),
    )
    .await
    .expect("the session actor is restarted")
    .expect("the supervisor keeps the handle");
    drop(restarted);
    assert_eq!(sessions.len(), 2, "no session is lost");

    // An existing session still routes, and can be ended through the new incarnation.
    let reply = before
        .request(
            1,
            "tools/call",
            json!({"name": "loc_echo", "arguments": {"text": "still here"}}),
        )
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "still here");
    assert_eq!(doomed.delete().await, 204);
    assert_eq!(
        doomed
            .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[])
            .await
            .status,
        404
    );

    // A new client can initialize after the restart.
    let mut after = McpClient::new(&gw.url("/mcp"), Some(&token));
    after.initialize("2025-11-25").await;
    let reply = after
        .request(
            2,
            "tools/call",
            json!({"name": "loc_add", "arguments": {"a": 1, "b": 2}}),
        )
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "3");
    gw.stop().await.unwrap();
}
