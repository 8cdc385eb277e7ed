//! The audit trail against the real app on SQLite and PostgreSQL: one record per MCP request
//! with the right fields, auth events, the admin API's export, stats and live feed; and the real
//! binary under load, stopped with SIGTERM, with every acknowledged request in the table.

use std::time::Duration;

use actors::audit::verify::verify;
use actors::storage::Database;
use actors::storage::audit_records::{self, AuditRow};
use actors::storage::users::Role;
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::daemon::{Daemon, command};
use crate::fixture::fixture_binary;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::postgres::{Db, database_toml};
use crate::users::{create_mcp_user, create_user, login};

pub(crate) fn stdio_backend(name: &str) -> String {
    format!(
        "[[backends]]\nname = {name:?}\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"3\"]\ntool_prefix = \"loc_\"\n",
        fixture_binary().display()
    )
}

/// A session whose tool list includes `loc_echo` (the routing table follows the backend
/// asynchronously: re-list until it does).
pub(crate) async fn session_with_tools(gw: &TestGateway, token: &str) -> McpClient {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
        client.initialize("2025-06-18").await;
        let listed = client.request(1, "tools/list", json!({})).await;
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        if names.contains(&"loc_echo") {
            return client;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no loc_echo: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_text(url: &str, token: &str) -> (u16, String, String) {
    let mut response = awc::Client::default()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request failed");
    let body = response.body().limit(8 << 20).await.unwrap_or_default();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn records_are_written_exported_and_streamed(db: Db) {
    let (database, _pg) = database_toml(db);
    let config = format!(
        "{database}[audit]\nflush_interval_ms = 20\n{}",
        stdio_backend("local")
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let token = login(&gw, "alice").await;
    let wrong = http::post_json(
        &gw.url("/auth/login"),
        None,
        &json!({"username": "alice", "password": "not-her-password"}),
    )
    .await;
    assert_eq!(wrong.status, 401);

    // The live feed, opened before the call it must deliver.
    let mut feed = awc::Client::builder()
        .disable_timeout()
        .finish()
        .get(gw.url("/admin/api/mcp-activity/stream?tool=loc_echo"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("open the feed");
    assert_eq!(feed.status().as_u16(), 200);
    let first = feed.next().await.unwrap().unwrap();
    assert!(first.starts_with(b": audit"), "{first:?}");

    let client = session_with_tools(&gw, &token).await;
    let echoed = client
        .request(
            7,
            "tools/call",
            json!({"name": "loc_echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert!(echoed.get("result").is_some(), "{echoed}");
    let unknown = client
        .request(8, "tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    // 2025-03-26 batches: one record per request in the batch.
    let mut old = McpClient::new(&gw.url("/mcp"), Some(&token));
    old.initialize("2025-03-26").await;
    let batch = old
        .post(
            &json!([
                {"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"loc_echo","arguments":{"text":"b"}}},
                {"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"nope"}},
            ])
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);

    let mut streamed = String::new();
    while !streamed.contains("\"loc_echo\"") {
        let chunk = feed.next().await.expect("the feed stays open").unwrap();
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(streamed.contains("event: audit"), "{streamed}");

    let audit = gw.state.as_ref().unwrap().audit.get().unwrap().clone();
    audit.flush().await;
    let stats = audit.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");

    let list = http::get(
        &gw.url("/admin/api/mcp-requests?tool=loc_echo"),
        Some(&admin),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let records = list.body["records"].as_array().unwrap();
    assert_eq!(
        records.len(),
        2,
        "the call and the batched one: {}",
        list.body
    );
    // Newest first: the batched call, then the single one (whose latency and sizes we check).
    let r = &records[1];
    assert_eq!(r["kind"], "mcp");
    assert_eq!(r["username"], "alice");
    assert_eq!(r["method"], "tools/call");
    assert_eq!(r["backend"], "local");
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["ip"], "127.0.0.1");
    assert!(r["latency_us"].as_i64().unwrap() > 0, "{r}");
    assert!(r["details"]["request_bytes"].as_i64().unwrap() > 0, "{r}");
    assert!(r["details"]["response_bytes"].as_i64().unwrap() > 0, "{r}");
    assert!(r["details"]["session_id"].is_string(), "{r}");
    assert!(
        r["details"].get("request_payload").is_none(),
        "payloads are off by default: {r}"
    );

    let errors = http::get(
        &gw.url("/admin/api/mcp-requests?outcome=error&user=alice"),
        Some(&admin),
    )
    .await;
    let errors = errors.body["records"].as_array().unwrap().clone();
    assert_eq!(
        errors.len(),
        2,
        "the single and the batched unknown tool: {errors:?}"
    );
    assert_eq!(errors[0]["item"], "nope");
    assert_eq!(errors[0]["error_code"], -32602);

    let initialized = http::get(
        &gw.url("/admin/api/mcp-requests?kind=mcp&user=alice&limit=1000"),
        Some(&admin),
    )
    .await;
    let initialize = initialized.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == "initialize")
        .cloned()
        .unwrap_or_else(|| panic!("no initialize record: {}", initialized.body));
    assert_eq!(initialize["outcome"], "ok");
    assert!(
        initialize["details"]["session_id"].is_string(),
        "{initialize}"
    );

    let lists = http::get(
        &gw.url("/admin/api/mcp-requests?kind=mcp&user=alice"),
        Some(&admin),
    )
    .await;
    assert!(
        lists.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["method"] == "tools/list"),
        "{}",
        lists.body
    );

    let auth = http::get(
        &gw.url("/admin/api/mcp-requests?kind=auth&user=alice"),
        Some(&admin),
    )
    .await;
    let events: Vec<(String, String)> = auth.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        events.contains(&("login".into(), "ok".into())),
        "{events:?}"
    );
    assert!(
        events.contains(&("login".into(), "failed".into())),
        "{events:?}"
    );
    // The password is never in the trail.
    assert!(!auth.body.to_string().contains("not-her-password"));

    let (status, content_type, csv) = get_text(
        &gw.url("/admin/api/mcp-requests?format=csv&tool=loc_echo"),
        &admin,
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,at_ms,kind"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains(",alice,tools/call,local,loc_echo,ok,"),
        "{csv}"
    );
    let (_, _, jsonl) = get_text(
        &gw.url("/admin/api/mcp-requests?format=jsonl&kind=mcp"),
        &admin,
    )
    .await;
    for line in jsonl.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["kind"], "mcp");
    }
    let bad = http::get(&gw.url("/admin/api/mcp-requests?format=xml"), Some(&admin)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let stats = http::get(
        &gw.url("/admin/api/mcp-stats?window_minutes=5"),
        Some(&admin),
    )
    .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let window = &stats.body["window"];
    assert!(window["total"].as_u64().unwrap() >= 3, "{window}");
    assert!(window["errors"].as_u64().unwrap() >= 1, "{window}");
    assert_eq!(window["top_tools"][0][0], "loc_echo", "{window}");
    assert!(window["p95_latency_ms"].as_f64().is_some(), "{window}");
    assert_eq!(stats.body["queue"]["dropped"], 0);

    // Users who are not administrators see none of it.
    let refused = http::get(&gw.url("/admin/api/mcp-requests"), Some(&token)).await;
    assert_eq!(refused.status, 403);

    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    let report = db.run_blocking(verify).unwrap();
    assert_eq!(report.first_break, None);
    assert!(report.checked >= 5, "{report:?}");
}

#[actix_rt::test]
async fn records_are_written_exported_and_streamed_on_sqlite() {
    records_are_written_exported_and_streamed(Db::Sqlite).await;
}

#[actix_rt::test]
async fn records_are_written_exported_and_streamed_on_postgres() {
    records_are_written_exported_and_streamed(Db::Postgres).await;
}

fn rows(database_url: &str) -> Vec<AuditRow> {
    let db = Database::connect(database_url, 1).unwrap();
    db.run_blocking(|c| audit_records::page(c, 0, 1_000_000))
        .unwrap()
}

/// The real binary under load: clients call a tool in a loop, the gateway gets SIGTERM, and
/// every call a client got a 2xx answer for is in `audit_records` afterwards. Then `audit
/// verify` passes on that database and fails once a record is edited.
#[test]
fn sigterm_under_load_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nbcrypt_cost = 4\n[audit]\ncapture_payloads = true\nflush_interval_ms = 500\nbatch_size = 10000\n{}",
            stdio_backend("local")
        ),
    )
    .unwrap();
    crate::binary::create_admin(dir.path(), &config, "root");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let base = daemon.base_url.clone();
    let token = crate::binary::login(&base, "root");

    const CLIENTS: usize = 4;
    const BEFORE_SIGNAL: usize = 200;
    let acknowledged: Vec<String> = actix_rt::System::new().block_on(async {
        let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let acks = acks_tx.clone();
            let (base, token) = (base.clone(), token.clone());
            tasks.push(actix_rt::spawn(async move {
                let mut client = McpClient::new(&format!("{base}/mcp"), Some(&token));
                client.initialize("2025-06-18").await;
                for n in 0u64.. {
                    let marker = format!("call-{c}-{n}");
                    let body = json!({"jsonrpc":"2.0","id":n,"method":"tools/call",
                        "params":{"name":"loc_echo","arguments":{"text":marker}}});
                    let sent = client
                        .http
                        .post(&client.url)
                        .insert_header(("content-type", "application/json"))
                        .insert_header(("accept", "application/json, text/event-stream"))
                        .insert_header(("mcp-session-id", client.session.clone().unwrap()))
                        .insert_header(("mcp-protocol-version", client.version.clone()))
                        .bearer_auth(&token)
                        .send_body(body.to_string())
                        .await;
                    let Ok(mut response) = sent else { break };
                    let Ok(answer) = response.body().await else {
                        break;
                    };
                    if !response.status().is_success() {
                        break;
                    }
                    // Only a real tool answer counts (not "unknown tool" while the backend starts).
                    if String::from_utf8_lossy(&answer).contains("\"result\"") {
                        let _ = acks.send(marker);
                    }
                }
            }));
        }
        drop(acks_tx);
        let mut acknowledged = Vec::new();
        let mut signalled = false;
        while let Some(marker) = acks_rx.recv().await {
            acknowledged.push(marker);
            if !signalled && acknowledged.len() >= BEFORE_SIGNAL {
                daemon.signal(Signal::SIGTERM);
                signalled = true;
            }
        }
        assert!(signalled, "the clients stopped before the signal");
        for task in tasks {
            let _ = task.await;
        }
        acknowledged
    });
    assert!(daemon.wait_exit(Duration::from_secs(60)).success());

    let url = format!("sqlite://{}", dir.path().join("data/authmcp.db").display());
    let stored: std::collections::HashSet<String> = rows(&url)
        .into_iter()
        .filter_map(|r| {
            let details: Value = serde_json::from_str(r.details.as_deref()?).ok()?;
            let payload: Value = serde_json::from_str(details["request_payload"].as_str()?).ok()?;
            Some(payload["params"]["arguments"]["text"].as_str()?.to_string())
        })
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|m| !stored.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged calls missing from audit_records, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );

    let verify = |expect_ok: bool| {
        let out = command(
            dir.path(),
            &[
                "audit",
                "verify",
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                dir.path().join("data").to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.success(), expect_ok, "{stdout}");
        stdout
    };
    let ok = verify(true);
    assert!(ok.contains("Audit trail intact"), "{ok}");
    let db = Database::connect(&url, 1).unwrap();
    db.run_blocking(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE audit_records SET outcome = 'error' WHERE id = 5").execute(c)?;
        Ok(())
    })
    .unwrap();
    let broken = verify(false);
    assert!(broken.contains("record 5 was altered"), "{broken}");
}
