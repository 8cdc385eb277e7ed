//! `secrets rotate-key` on SQLite and PostgreSQL: every stored credential is re-sealed under a
//! new key, the key files are swapped, and after a restart every backend still authenticates.

use serde_json::{Value, json};

use actors::secrets::{KEY_FILE_NAME, OLD_KEY_FILE_NAME, Sealed, SecretBox};
use actors::storage::users::Role;
use actors::storage::{Database, backends};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::postgres::{Db, database_toml};
use crate::users::{create_mcp_user, create_user, login};

const BEARER: &str = "rotated-bearer-7c1e";
const API_KEY: &str = "rotated-api-key-93ab";

fn sealed_rows(url: &str) -> Vec<Sealed> {
    let db = Database::connect(url, 1).unwrap();
    db.run_blocking(backends::list)
        .unwrap()
        .into_iter()
        .filter_map(|b| b.record.credential.map(|c| c.token))
        .collect()
}

async fn headers_through_gateway(gw: &TestGateway, token: &str) -> Vec<Value> {
    let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
    client.initialize("2025-06-18").await;
    let mut seen = Vec::new();
    for (id, tool) in ["bearer_headers", "keyed_headers"].into_iter().enumerate() {
        let answer = client
            .request(
                id as u64 + 1,
                "tools/call",
                json!({"name": tool, "arguments": {}}),
            )
            .await;
        seen.push(answer["result"]["structuredContent"].clone());
    }
    seen
}

async fn rotation_keeps_every_backend_working(db: Db) {
    let fixture = HttpFixture::start_with(0, 1, &["--rich"]);
    let (database, _pg) = database_toml(db);
    let gw = TestGateway::start(&database).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    for body in [
        json!({"name": "bearer", "url": fixture.url().as_str(), "auth_token": BEARER}),
        json!({"name": "keyed", "url": fixture.url().as_str(), "auth_type": "header",
               "auth_header": "X-Api-Key", "auth_token": API_KEY}),
    ] {
        let reply = http::post_json(&gw.url("/admin/api/mcp-servers"), Some(&admin), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    gw.wait_online(2).await;
    create_mcp_user(&gw, "carol").await;
    let before = headers_through_gateway(&gw, &login(&gw, "carol").await).await;
    assert_eq!(before[0]["authorization"], format!("Bearer {BEARER}"));
    assert_eq!(before[1]["x-api-key"], API_KEY);

    let data_dir = gw.config.data_dir.clone();
    let url = gw.config.database.url.clone();
    let old_key = std::fs::read_to_string(data_dir.join(KEY_FILE_NAME)).unwrap();
    let rows_before = sealed_rows(&url);
    // The operator's procedure: stop, rotate, start.
    let gw = gw
        .restart_with(|config| {
            let count = authmcp_gateway::commands::secrets::rotate_key(config, None).unwrap();
            assert_eq!(count, 2);
        })
        .await;
    let new_key = std::fs::read_to_string(data_dir.join(KEY_FILE_NAME)).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(
        std::fs::read_to_string(data_dir.join(OLD_KEY_FILE_NAME)).unwrap(),
        old_key
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(data_dir.join(KEY_FILE_NAME))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let rows_after = sealed_rows(&url);
    assert_eq!(rows_after.len(), 2);
    let (old_box, _) = SecretBox::load_or_create(Some(&old_key), &data_dir).unwrap();
    let (new_box, _) = SecretBox::load_or_create(Some(&new_key), &data_dir).unwrap();
    for (before, after) in rows_before.iter().zip(&rows_after) {
        assert_ne!(before, after);
        assert!(
            old_box.open(after).is_err(),
            "the old key still opens a row"
        );
        assert!(new_box.open(after).is_ok());
    }

    gw.wait_online(2).await;
    let after = headers_through_gateway(&gw, &login(&gw, "carol").await).await;
    assert_eq!(after[0]["authorization"], format!("Bearer {BEARER}"));
    assert_eq!(after[1]["x-api-key"], API_KEY);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn rotation_keeps_every_backend_working_on_sqlite() {
    rotation_keeps_every_backend_working(Db::Sqlite).await;
}

#[actix_rt::test]
async fn rotation_keeps_every_backend_working_on_postgres() {
    rotation_keeps_every_backend_working(Db::Postgres).await;
}
