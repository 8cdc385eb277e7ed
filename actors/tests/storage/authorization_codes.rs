//! Authorization codes and remembered consent (`authorization_codes`, `oauth_consents`): single
//! use under a race, replay marking, the grant recorded after a replay, consent upserts.

use actors::auth::client_metadata;
use actors::auth::client_metadata::ClientSource;
use actors::auth::clients::ClientRegistry;
use actors::storage::authorization_codes::{self, Claim, NewCode};
use actors::storage::oauth_consents;
use actors::storage::users::{self, NewUser, Role};
use serde_json::json;

use crate::fixture::TestDb;

/// A user and a registered client to hang codes on (both are foreign keys).
fn user_and_client(t: &TestDb) -> (i64, String) {
    let user =
        t.db.run_blocking(|c| {
            users::create(
                c,
                NewUser {
                    username: "alice",
                    email: "alice@example.test",
                    password_hash: "x",
                    role: Role::User,
                },
            )
        })
        .unwrap();
    let metadata = client_metadata::validate(
        &json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
        false,
    )
    .unwrap();
    let registry = ClientRegistry::new(t.db.clone(), 10);
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(registry.register(metadata, ClientSource::Dcr))
        .unwrap()
        .client;
    (user.id, client.client_id)
}

fn insert(t: &TestDb, hash: &str, user: i64, client: &str, expires_at_ms: i64) {
    let (hash, client) = (hash.to_string(), client.to_string());
    t.db.run_blocking(move |c| {
        authorization_codes::insert(
            c,
            &NewCode {
                code_hash: &hash,
                client_id: &client,
                user_id: user,
                redirect_uri: "http://127.0.0.1/cb",
                scope: "mcp",
                resource: "https://gw/mcp",
                code_challenge: "challenge",
                nonce: Some("n"),
                auth_time: 1,
                expires_at_ms,
            },
        )
    })
    .unwrap();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn claim(t: &TestDb, hash: &str) -> Claim {
    let hash = hash.to_string();
    t.db.run_blocking(move |c| authorization_codes::claim(c, &hash))
        .unwrap()
}

fn codes_are_single_use_and_replays_are_marked(t: &TestDb) {
    let (user, client) = user_and_client(t);
    insert(t, "h1", user, &client, now_ms() + 60_000);
    let Claim::Claimed(row) = claim(t, "h1") else {
        panic!("first use claims the code");
    };
    assert_eq!(
        (row.user_id, row.client_id.as_str()),
        (user, client.as_str())
    );
    assert_eq!(row.nonce.as_deref(), Some("n"));
    // Replayed before the grant was recorded: no family yet, but the replay is remembered …
    assert_eq!(claim(t, "h1"), Claim::Replayed { family_sid: None });
    // … so recording the grant reports it (the exchange then revokes what it issued).
    let replayed =
        t.db.run_blocking(|c| authorization_codes::record_family(c, "h1", "sid-1"))
            .unwrap();
    assert!(replayed);
    assert_eq!(
        claim(t, "h1"),
        Claim::Replayed {
            family_sid: Some("sid-1".into())
        }
    );

    // A grant recorded before any replay is reported to the replay instead.
    insert(t, "h2", user, &client, now_ms() + 60_000);
    assert!(matches!(claim(t, "h2"), Claim::Claimed(_)));
    let replayed =
        t.db.run_blocking(|c| authorization_codes::record_family(c, "h2", "sid-2"))
            .unwrap();
    assert!(!replayed);
    assert_eq!(
        claim(t, "h2"),
        Claim::Replayed {
            family_sid: Some("sid-2".into())
        }
    );

    insert(t, "h3", user, &client, now_ms() - 1);
    assert_eq!(claim(t, "h3"), Claim::Expired);
    assert_eq!(claim(t, "nope"), Claim::Unknown);
}

fn consent_is_stored_and_replaced(t: &TestDb) {
    let (user, client) = user_and_client(t);
    let find = |resource: &'static str| {
        let client = client.clone();
        t.db.run_blocking(move |c| oauth_consents::find(c, user, &client, resource))
            .unwrap()
    };
    assert_eq!(find("https://gw/mcp"), None);
    for scope in ["mcp", "mcp openid"] {
        let client = client.clone();
        t.db.run_blocking(move |c| {
            oauth_consents::store(c, user, &client, "https://gw/mcp", scope)
        })
        .unwrap();
    }
    assert_eq!(find("https://gw/mcp").as_deref(), Some("mcp openid"));
    assert_eq!(find("https://gw/mcp/alpha"), None, "per resource");
}

crate::on_both_backends!(
    codes_are_single_use_and_replays_are_marked,
    consent_is_stored_and_replaced,
);
