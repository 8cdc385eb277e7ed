//! Auth events in the audit trail, on SQLite and PostgreSQL, driven through the real flows:
//! client registration (RFC 7591), `/authorize` with its login and consent forms, the token
//! endpoint (code, then refresh), revocation, and reloads — each leaves its record in
//! `audit_records`, with who and which client, and never a token.

use serde_json::Value;

use actors::storage::users::Role;

use crate::oauth_flow::{
    AuthRequest, Browser, Database, REDIRECT, Setup, authorize, post_form, public_client, redeem,
};
use crate::users::{create_mcp_user, create_user, login};

/// Every auth record, oldest first.
async fn auth_records(setup: &Setup, admin: &str) -> Vec<Value> {
    let audit = setup
        .gw
        .state
        .as_ref()
        .unwrap()
        .audit
        .get()
        .unwrap()
        .clone();
    audit.flush().await;
    let list = crate::http::get(
        &setup.url("/admin/api/mcp-requests?kind=auth&limit=1000"),
        Some(admin),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let mut records = list.body["records"].as_array().unwrap().clone();
    records.reverse();
    records
}

/// The one record of `event` with `outcome`.
fn only<'a>(records: &'a [Value], event: &str, outcome: &str) -> &'a Value {
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == event && r["outcome"] == outcome)
        .collect();
    assert_eq!(found.len(), 1, "{event} {outcome}: {records:#?}");
    found[0]
}

async fn every_auth_flow_leaves_its_record(db: Database) {
    let mut setup = Setup::start(db, "[audit]\nflush_interval_ms = 20\n").await;
    create_mcp_user(&setup.gw, "alice").await;
    create_user(&setup.gw, "root", Role::Admin);
    let admin = login(&setup.gw, "root").await;

    let client_id = public_client(&setup).await;
    let request = AuthRequest::new(&setup, &client_id, REDIRECT);
    let answer = authorize(&setup, &Browser::default(), &request, "alice").await;
    let tokens = redeem(&setup, &request, &answer["code"]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let token_url = setup.url("/oauth/token");
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    let refreshed = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let latest = refreshed.body["refresh_token"].as_str().unwrap();
    let revoked = post_form(
        &setup.url("/oauth/revoke"),
        None,
        &[("token", latest), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    // The token endpoint refuses the revoked token: no second refresh record.
    let refused = post_form(
        &token_url,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", latest),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // One reload that applies (the file unchanged) and one refused (an invalid backend).
    assert_eq!(setup.gw.reload().await.reloads_applied, 1);
    let failed = setup
        .gw
        .reload_with("[[backends]]\nname = \"bad\"\nurl = \"ftp://nope\"\n")
        .await;
    assert_eq!(failed.reloads_failed, 1);

    let records = auth_records(&setup, &admin).await;
    let registered = only(&records, "client_registered", "ok");
    assert_eq!(
        registered["details"]["client_id"],
        client_id.as_str(),
        "{registered}"
    );
    assert_eq!(registered["ip"], "127.0.0.1");
    let consent = only(&records, "consent", "ok");
    let issued = only(&records, "token_issued", "ok");
    let renewed = only(&records, "token_refreshed", "ok");
    for (record, grant) in [
        (consent, None),
        (issued, Some("grant_type=authorization_code")),
        (renewed, Some("grant_type=refresh_token")),
    ] {
        assert_eq!(record["username"], "alice", "{record}");
        assert_eq!(
            record["details"]["client_id"],
            client_id.as_str(),
            "{record}"
        );
        if let Some(grant) = grant {
            assert_eq!(record["details"]["note"], grant, "{record}");
        }
    }
    let revocation = only(&records, "token_revoked", "ok");
    assert_eq!(revocation["details"]["client_id"], client_id.as_str());
    // The client revoked alice's grant: the record names her, as the issuing records do.
    assert_eq!(revocation["username"], "alice", "{revocation}");
    assert!(revocation["user_id"].is_i64(), "{revocation}");
    assert_eq!(revocation["user_id"], renewed["user_id"], "{revocation}");
    only(&records, "token_refused", "failed");
    only(&records, "config_reload", "ok");
    only(&records, "config_reload", "failed");
    // In the order they happened (sign-ins and account changes left aside).
    let flow = [
        "client_registered",
        "consent",
        "token_issued",
        "token_refreshed",
        "token_revoked",
        "token_refused",
        "config_reload",
    ];
    let order: Vec<&str> = records
        .iter()
        .filter_map(|r| r["event"].as_str())
        .filter(|e| flow.contains(e))
        .collect();
    assert_eq!(order, [&flow[..], &["config_reload"]].concat());
    // Never a token or a code in the trail.
    let text = Value::Array(records).to_string();
    for secret in [refresh, latest, answer["code"].as_str()] {
        assert!(!text.contains(secret), "{secret} is in the trail");
    }
    assert!(!text.contains(tokens.body["access_token"].as_str().unwrap()));
    setup.stop().await;
}

crate::on_both_databases!(every_auth_flow_leaves_its_record);
