//! `resources/subscribe` through the aggregated `/mcp` (rmcp fixture with `--rich --asks`): the
//! backend's `notifications/resources/updated` reaches the subscribing client's GET stream only,
//! and `resources/unsubscribe` reaches the backend session that holds the subscription. Two
//! users; every "did not arrive" is shown by the next message on a stream being another one.

use serde_json::{Value, json};

use crate::elicitation_relay::{declaring, wait_for_tool};
use crate::fixture::{HttpFixture, gateway_in_front_of};
use crate::get_stream::{Events, listening};
use crate::mcp_client::McpClient;

async fn touch(client: &McpClient, uri: &str) -> String {
    let reply = client
        .request(
            5,
            "tools/call",
            json!({"name": "touch", "arguments": {"uri": uri}}),
        )
        .await;
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_string()
}

async fn subscription(client: &McpClient, method: &str, uri: &str) {
    let reply = client.request(4, method, json!({"uri": uri})).await;
    assert_eq!(reply["result"], json!({}), "{method} {uri}: {reply}");
}

async fn next_update(events: &mut Events) -> Value {
    let message = events.message().await.expect("the GET stream ended");
    assert_eq!(
        message["method"], "notifications/resources/updated",
        "{message}"
    );
    message["params"]["uri"].clone()
}

#[actix_rt::test]
async fn resource_updates_reach_the_subscriber_only_and_unsubscribe_reaches_its_backend() {
    let backend = HttpFixture::start_with(0, 3, &["--rich", "--asks"]);
    let gw = gateway_in_front_of(&[("fx", "", &backend)]).await;
    let (alice, _, alice_token) = declaring(&gw, "alice", json!({})).await;
    let (bob, _, bob_token) = declaring(&gw, "bob", json!({})).await;
    wait_for_tool(&alice, "touch").await;
    let mut alice_events = listening(&alice, &alice_token).await;
    let mut bob_events = listening(&bob, &bob_token).await;

    subscription(&alice, "resources/subscribe", "fixture://item/1").await;
    assert_eq!(touch(&alice, "fixture://item/1").await, "touched 1");
    assert_eq!(next_update(&mut alice_events).await, "fixture://item/1");

    // Bob's first update is for his own subscription: Alice's never reached him.
    subscription(&bob, "resources/subscribe", "fixture://item/2").await;
    assert_eq!(touch(&bob, "fixture://item/2").await, "touched 1");
    assert_eq!(next_update(&mut bob_events).await, "fixture://item/2");

    // Unsubscribed at the backend itself: nobody is subscribed to item/1 any more.
    subscription(&alice, "resources/unsubscribe", "fixture://item/1").await;
    assert_eq!(touch(&alice, "fixture://item/1").await, "touched 0");
    // And Alice's next update is her new subscription's, not Bob's.
    subscription(&alice, "resources/subscribe", "fixture://item/3").await;
    assert_eq!(touch(&bob, "fixture://item/3").await, "touched 1");
    assert_eq!(next_update(&mut alice_events).await, "fixture://item/3");

    // A URI no backend serves is refused by the gateway, not sent anywhere.
    let unknown = alice
        .request(6, "resources/subscribe", json!({"uri": "nowhere://x"}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    drop(backend);
    gw.stop().await.unwrap();
}
