//! The dashboard and the console's record pages over HTTP, as a browser without JavaScript uses them — MCP
//! activity (with one record in full), security events and the audit log: who may see them,
//! the filters reaching the rows (and the live stream's URL, the export links), pages by id,
//! and "Verify hash chain" (and `POST /admin/api/audit/verify`) reporting an intact chain, then
//! the record altered directly in the database. SQLite and PostgreSQL, real stdio backend.

use actors::storage::Database;
use actors::storage::users::Role;
use serde_json::json;

use crate::audit::{session_with_tools, stdio_backend};
use crate::console::{Browser, Page};
use crate::console_pages::sign_in;
use crate::harness::TestGateway;
use crate::http;
use crate::postgres::{Db, database_toml};
use crate::users::{create_mcp_user, create_user, login};

const PAGES: [&str; 4] = [
    "/admin/mcp-activity",
    "/admin/mcp-activity/1",
    "/admin/security-logs",
    "/admin/logs",
];

/// The ids of the table rows (`<tr data-id="…">`) on `page`, in order.
fn row_ids(page: &Page) -> Vec<i64> {
    page.body
        .split("<tr data-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The page with the entities tera writes in attributes decoded.
fn unescaped(page: &Page) -> String {
    page.body.replace("&#x2F;", "/").replace("&amp;", "&")
}

/// The `href` of the element with `id`, unescaped.
fn href(page: &Page, id: &str) -> String {
    let body = unescaped(page);
    let marker = "href=\"";
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {body}"));
    let start = body[..at].rfind(marker).unwrap() + marker.len();
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_string()
}

async fn verify_api(gw: &TestGateway, token: &str) -> serde_json::Value {
    let reply = http::post_json(&gw.url("/admin/api/audit/verify"), Some(token), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

async fn record_pages(db: Db) {
    let (database, _pg) = database_toml(db);
    let config = format!(
        "{database}[audit]\nflush_interval_ms = 20\n[rate_limit]\nlogin_max = 1000\n{}",
        stdio_backend("local")
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    create_mcp_user(&gw, "bob").await;
    create_user(&gw, "admin", Role::Admin);

    // Not signed in: to the sign-in page; a non-administrator's token: 403.
    let mut anonymous = Browser::new(&gw);
    let alice_token = login(&gw, "alice").await;
    let alice_bearer = format!("Bearer {alice_token}");
    for path in PAGES {
        let page = anonymous.get(path).await;
        assert_eq!(
            (page.status, page.header("location").as_str()),
            (303, "/admin/login"),
            "{path}"
        );
        let page = anonymous
            .send(
                awc::http::Method::GET,
                path,
                &[("authorization", &alice_bearer)],
                None,
            )
            .await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
    let refused = http::post_json(
        &gw.url("/admin/api/audit/verify"),
        Some(&alice_token),
        &json!({}),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // Traffic: alice calls a tool 55 times (more than a page), bob an unknown tool; a bad
    // token makes a security event.
    let alice = session_with_tools(&gw, &alice_token).await;
    for n in 0..55 {
        let answer = alice
            .request(
                100 + n,
                "tools/call",
                json!({"name": "loc_echo", "arguments": {"text": format!("call {n}")}}),
            )
            .await;
        assert!(answer.get("result").is_some(), "{answer}");
    }
    let bob = session_with_tools(&gw, &login(&gw, "bob").await).await;
    let unknown = bob
        .request(9, "tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let bad_token = http::get(&gw.url("/admin/api/stats"), Some("not-a-token")).await;
    assert_eq!(bad_token.status, 401);
    let state = gw.state.as_ref().unwrap();
    state.audit.get().unwrap().flush().await;
    state.security.get().unwrap().flush().await;

    let mut admin = Browser::new(&gw);
    sign_in(&mut admin, "admin").await;

    // The dashboard over the same traffic: the figures, servers online, top tools and users
    // (with their counts), the bad token's security event, no token warning (no OAuth backend).
    let dash = admin.get("/admin?window=1h").await;
    assert_eq!(dash.status, 200, "{}", dash.body);
    let figure = |id: &str| {
        let start = dash
            .body
            .find(&format!("id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no #{id}: {}", dash.body))
            + id.len()
            + 6;
        dash.body[start..start + dash.body[start..].find('<').unwrap()].to_string()
    };
    let requests: u64 = figure("stat-requests").parse().unwrap();
    assert!(requests >= 56, "alice's 55 calls and bob's: {requests}");
    let success = figure("stat-success");
    assert!(
        success.ends_with(" %") && success != "100.0 %",
        "bob's call failed: {success}"
    );
    assert_eq!(figure("stat-servers"), "1 / 1");
    for expected in [
        "<td>loc_echo</td><td class=\"num\">55</td>",
        "<td>nope</td><td class=\"num\">1</td>",
        "<td>alice</td><td class=\"num\">",
        "<td>bob</td><td class=\"num\">",
        "<td>invalid_token</td>",
        "No backend token is failing or expiring within 24 hours.",
    ] {
        assert!(dash.body.contains(expected), "{expected}: {}", dash.body);
    }
    for card in ["p50 latency", "p95 latency"] {
        let marker = format!("{card}</div><div class=\"value\">");
        let start = dash.body.find(&marker).unwrap() + marker.len();
        let value = &dash.body[start..start + dash.body[start..].find('<').unwrap()];
        assert!(
            value.ends_with(" ms"),
            "{card}: a latency, not a dash: {value}"
        );
    }

    // MCP activity: the figures, per server, the latest rows; filters reach rows and stream.
    let page = admin.get("/admin/mcp-activity?window=1h").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/admin/mcp-activity\" aria-current=\"page\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"per-server\""), "{}", page.body);
    assert!(page.body.contains("<td>local</td>"), "{}", page.body);
    assert!(page.body.contains("loc_echo"));
    assert!(
        unescaped(&page).contains("data-live-stream=\"/admin/api/mcp-activity/stream?kind=mcp\"")
    );
    let only_bob = admin
        .get("/admin/mcp-activity?user=bob&outcome=error")
        .await;
    assert_eq!(only_bob.status, 200, "{}", only_bob.body);
    assert!(only_bob.body.contains("<td>nope</td>"), "{}", only_bob.body);
    assert!(!only_bob.body.contains("loc_echo"), "{}", only_bob.body);
    assert!(
        unescaped(&only_bob).contains(
            "data-live-stream=\"/admin/api/mcp-activity/stream?user=bob&outcome=error&kind=mcp\""
        ),
        "{}",
        only_bob.body
    );
    let bob_ids = row_ids(&only_bob);
    assert_eq!(bob_ids.len(), 1, "{}", only_bob.body);

    // One record in full: every field, no payloads (not captured by default).
    let record = admin
        .get(&format!("/admin/mcp-activity/{}", bob_ids[0]))
        .await;
    assert_eq!(record.status, 200, "{}", record.body);
    for expected in [
        "nope",
        "bob",
        "-32602",
        "session id",
        "request bytes",
        "Hash",
    ] {
        assert!(
            record.body.contains(expected),
            "{expected}: {}",
            record.body
        );
    }
    assert!(record.body.contains("Payloads are not stored"));
    assert_eq!(admin.get("/admin/mcp-activity/99999999").await.status, 404);
    assert_eq!(admin.get("/admin/mcp-activity/abc").await.status, 400);

    // Security events: filter by type, a bad type refused, the CSV export carries the filter.
    let events = admin.get("/admin/security-logs?type=invalid_token").await;
    assert_eq!(events.status, 200, "{}", events.body);
    assert!(!row_ids(&events).is_empty(), "{}", events.body);
    assert!(!events.body.contains("<td>unauthorized</td>"));
    assert!(
        unescaped(&events)
            .contains("data-live-stream=\"/admin/api/security-events/stream?type=invalid_token\"")
    );
    let csv = admin.get(&href(&events, "export-csv")).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(
        lines[0].starts_with("id,at_ms,event_type,severity"),
        "{}",
        csv.body
    );
    assert!(lines.len() > 1 && lines[1..].iter().all(|l| l.contains(",invalid_token,")));
    let jsonl = admin.get(&href(&events, "export-jsonl")).await;
    for line in jsonl.body.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["event_type"], "invalid_token");
    }
    let none = admin.get("/admin/security-logs?type=brute_force").await;
    assert!(
        none.body.contains("No security events match"),
        "{}",
        none.body
    );
    let bad = admin.get("/admin/security-logs?type=bogus").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
    // Severity, user and time reach the rows too (the bad token's event: medium, no user).
    let medium = admin
        .get("/admin/security-logs?type=invalid_token&severity=medium")
        .await;
    assert_eq!(row_ids(&medium), row_ids(&events), "{}", medium.body);
    for filter in [
        "severity=critical",
        "user=alice",
        "from=2999-01-01T00%3A00",
        "to=2000-01-01",
    ] {
        let page = admin
            .get(&format!("/admin/security-logs?type=invalid_token&{filter}"))
            .await;
        assert_eq!(page.status, 200, "{filter}: {}", page.body);
        assert!(row_ids(&page).is_empty(), "{filter}: {}", page.body);
    }
    let today = admin
        .get("/admin/security-logs?type=invalid_token&from=2000-01-01&to=2999-01-01")
        .await;
    assert_eq!(row_ids(&today), row_ids(&events), "{}", today.body);

    // The audit log: a page of 50, the next page older, a bad time refused.
    let logs = admin.get("/admin/logs?user=alice&tool=loc_echo").await;
    assert_eq!(logs.status, 200, "{}", logs.body);
    let first = row_ids(&logs);
    assert_eq!(first.len(), 50, "{}", logs.body);
    let older = admin.get(&href(&logs, "older")).await;
    let second = row_ids(&older);
    assert_eq!(second.len(), 5, "{}", older.body);
    assert!(second.iter().all(|id| id < first.last().unwrap()));
    assert!(!older.body.contains("id=\"older\""));
    let export = href(&logs, "export-csv");
    assert!(
        export.contains("user=alice") && export.contains("tool=loc_echo"),
        "{export}"
    );
    let bad = admin.get("/admin/logs?from=yesterday").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("is not a UTC time"), "{}", bad.body);

    // Verify: refused without the CSRF field, OK with it; then a record altered in the database.
    let csrf = logs.field("csrf_token");
    let refused = admin.post_form("/admin/logs/verify", &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let verified = admin
        .post_form("/admin/logs/verify?user=alice", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(
        verified.body.contains("Hash chain intact:"),
        "{}",
        verified.body
    );
    let admin_token = login(&gw, "admin").await;
    let report = verify_api(&gw, &admin_token).await;
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["checked"].as_u64().unwrap() >= 57, "{report}");

    let altered = first[10];
    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    db.run_blocking(move |c| {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "UPDATE audit_records SET outcome = 'error' WHERE id = {altered}"
        ))
        .execute(c)?;
        Ok(())
    })
    .unwrap();
    let report = verify_api(&gw, &admin_token).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_break"]["kind"], "altered", "{report}");
    assert_eq!(report["first_break"]["id"], altered, "{report}");
    let verified = admin
        .post_form("/admin/logs/verify", &[("csrf_token", &csrf)])
        .await;
    assert!(
        verified
            .body
            .contains(&format!("Hash chain broken: record {altered} was altered")),
        "{}",
        verified.body
    );
    gw.stop().await.unwrap();
}

crate::on_both_databases!(record_pages);
