//! `secrets rotate-key` on SQLite and PostgreSQL: every stored credential is re-sealed under a
//! new key, the key files are swapped, and after a restart every backend still authenticates —
//! with the key in `<data_dir>/secret-key` (the library call) and in a configured
//! `secrets.key_file` (the real binary, `secrets rotate-key --config` on the gateway's file).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use actors::secrets::{KEY_FILE_NAME, Sealed, SecretBox, old_key_file};
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

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The operator's command on the gateway's own configuration file, as a separate process.
fn rotate_with_the_binary(config_file: &Path) {
    let output = std::process::Command::new(crate::daemon::BIN)
        .args(["secrets", "rotate-key", "--config"])
        .arg(config_file)
        .env_remove("AUTHMCP_SECRETS_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Re-encrypted 2 stored credential(s)"),
        "{stderr}"
    );
}

async fn rotation_keeps_every_backend_working(db: Db, configured_key_file: bool) {
    let fixture = HttpFixture::start_with(0, 1, &["--rich"]);
    let (mut config, _pg) = database_toml(db);
    // A key file outside the data directory, in a directory of its own.
    let keys = tempfile::tempdir().unwrap();
    let configured = keys.path().join("backend.key");
    if configured_key_file {
        config.push_str(&format!("[secrets]\nkey_file = {configured:?}\n"));
    }
    let gw = TestGateway::start(&config).await;
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
    let key_file: PathBuf = if configured_key_file {
        // Created (0600) on first start where configured, and nothing in the data directory.
        assert!(!data_dir.join(KEY_FILE_NAME).exists());
        configured.clone()
    } else {
        data_dir.join(KEY_FILE_NAME)
    };
    assert_eq!(mode(&key_file), 0o600);
    let url = gw.config.database.url.clone();
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let rows_before = sealed_rows(&url);
    // The stored credentials are sealed under the key in that file.
    let (in_use, _) = SecretBox::load_or_create(Some(&old_key), &key_file).unwrap();
    assert!(rows_before.iter().all(|row| in_use.open(row).is_ok()));
    // The operator's procedure: stop, rotate, start.
    let config_file = gw.config_path.clone();
    let gw = gw
        .restart_with(|config| {
            if configured_key_file {
                rotate_with_the_binary(&config_file);
            } else {
                let count = authmcp_gateway::commands::secrets::rotate_key(config, None).unwrap();
                assert_eq!(count, 2);
            }
        })
        .await;
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(
        std::fs::read_to_string(old_key_file(&key_file)).unwrap(),
        old_key
    );
    assert_eq!(mode(&key_file), 0o600);
    if configured_key_file {
        assert!(!data_dir.join(KEY_FILE_NAME).exists());
    }
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
    rotation_keeps_every_backend_working(Db::Sqlite, false).await;
}

#[actix_rt::test]
async fn rotation_keeps_every_backend_working_on_postgres() {
    rotation_keeps_every_backend_working(Db::Postgres, false).await;
}

#[actix_rt::test]
async fn a_configured_key_file_is_created_used_and_rotated_on_sqlite() {
    rotation_keeps_every_backend_working(Db::Sqlite, true).await;
}

#[actix_rt::test]
async fn a_configured_key_file_is_created_used_and_rotated_on_postgres() {
    rotation_keeps_every_backend_working(Db::Postgres, true).await;
}
