//! Server names as the original gateway's users write them ("GitHub MCP"): the seed README's
//! exact create body through the admin API and a name typed into the console's add form, on
//! SQLite and PostgreSQL. The identifier made from the name (`github-mcp`) is what `/mcp/<name>`,
//! the tool prefix and policies use; the text is kept as the display name.

use actors::storage::Database;
use actors::storage::users::Role;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::admin_api::send;
use crate::console::gateway;
use crate::console_servers::{follow, sign_in};
use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::http;
use crate::mcp_client::McpClient;
use crate::policies::{tools_of, wait_for_tools};
use crate::postgres::Db;
use crate::users::{create_mcp_user, create_user, login};

const SERVERS: &str = "/admin/api/mcp-servers";

/// The body of the seed README's "Via API" example, its URL pointed at a real rmcp server.
fn readme_body(url: &str) -> Value {
    json!({
        "name": "GitHub MCP",
        "url": url,
        "backend_token": "optional-token"
    })
}

/// What the `display_name` column holds for `name`, read straight from the database.
fn stored_display_name(gw: &TestGateway, name: &str) -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        display_name: Option<String>,
    }
    let db = Database::connect(&gw.config.database.url, 1).unwrap();
    let query = format!("SELECT display_name FROM backends WHERE name = '{name}'");
    let rows = db
        .run_blocking(move |c| Ok(diesel::sql_query(query).load::<Row>(c)?))
        .unwrap();
    assert_eq!(rows.len(), 1, "one row named {name}");
    rows.into_iter().next().unwrap().display_name
}

async fn the_readme_body_creates_github_mcp(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "root", Role::Admin);
    let admin = login(&gw, "root").await;
    let fixture = HttpFixture::start(3);
    let url = fixture.url().to_string();

    let created = http::post_json(&gw.url(SERVERS), Some(&admin), &readme_body(&url)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().expect("a database id");
    assert_eq!(created.body["name"], "github-mcp");
    assert_eq!(created.body["display_name"], "GitHub MCP");
    assert_eq!(created.body["tool_prefix"], "github-mcp_");
    assert_eq!(created.body["auth_type"], "bearer");
    let message = created.body["message"].as_str().unwrap();
    assert!(message.contains("`github-mcp`"), "{message}");
    assert!(message.contains("\"GitHub MCP\""), "{message}");
    assert!(!created.body.to_string().contains("optional-token"));
    assert_eq!(
        stored_display_name(&gw, "github-mcp").as_deref(),
        Some("GitHub MCP")
    );

    // Online under its identifier, its tools prefixed like any other backend's.
    let statuses = gw.wait_online(1).await;
    assert_eq!(statuses[0].name, "github-mcp");
    create_mcp_user(&gw, "carol").await;
    let carol = login(&gw, "carol").await;
    wait_for_tools(&gw, &carol, 3).await;
    let tools = tools_of(&gw, &carol).await;
    assert!(
        tools.iter().all(|t| t.starts_with("github-mcp_")),
        "{tools:?}"
    );
    let mut own = McpClient::new(&gw.url("/mcp/github-mcp"), Some(&carol));
    let hello = own.initialize("2025-06-18").await;
    assert_eq!(
        hello["serverInfo"]["title"], "AuthMCP Gateway: github-mcp",
        "{hello}"
    );

    // The same text again makes the same identifier: 409 naming it.
    let again = http::post_json(&gw.url(SERVERS), Some(&admin), &readme_body(&url)).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let text = again.body.to_string();
    assert!(text.contains("`github-mcp`"), "{text}");
    assert!(text.contains("GitHub MCP"), "{text}");

    // Nothing to make an identifier from: 400 saying why.
    let empty = http::post_json(
        &gw.url(SERVERS),
        Some(&admin),
        &json!({ "name": "!!! ???", "url": url }),
    )
    .await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(
        empty
            .body
            .to_string()
            .contains("no ASCII letters or digits"),
        "{}",
        empty.body
    );

    // PATCH changes the display name only; null clears it; a free-text rename is refused.
    let one = gw.url(&format!("{SERVERS}/{id}"));
    let renamed = send(
        "PATCH",
        &one,
        Some(&admin),
        Some(&json!({ "display_name": "GitHub (work)" })),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["display_name"], "GitHub (work)");
    assert_eq!(renamed.body["name"], "github-mcp");
    let shown = http::get(&one, Some(&admin)).await;
    assert_eq!(shown.body["display_name"], "GitHub (work)");
    assert_eq!(
        stored_display_name(&gw, "github-mcp").as_deref(),
        Some("GitHub (work)")
    );
    let cleared = send(
        "PATCH",
        &one,
        Some(&admin),
        Some(&json!({ "display_name": null })),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["display_name"], Value::Null);
    assert_eq!(stored_display_name(&gw, "github-mcp"), None);
    let free_text = send(
        "PATCH",
        &one,
        Some(&admin),
        Some(&json!({ "name": "New Name" })),
    )
    .await;
    assert_eq!(free_text.status, 400, "{}", free_text.body);
    assert!(
        free_text.body.to_string().contains("display_name"),
        "{}",
        free_text.body
    );

    // A name that is already an identifier is used as it is, with no display name.
    let plain = http::post_json(
        &gw.url(SERVERS),
        Some(&admin),
        &json!({ "name": "Plain_Name-2", "url": url }),
    )
    .await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(plain.body["name"], "Plain_Name-2");
    assert_eq!(plain.body["display_name"], Value::Null);
    gw.stop().await.unwrap();
}

async fn the_console_add_form_takes_a_free_text_name(db: Db) {
    let (gw, _pg) = gateway(db).await;
    create_user(&gw, "root", Role::Admin);
    let fixture = HttpFixture::start(2);
    let url = fixture.url().to_string();
    let (mut browser, csrf) = sign_in(&gw, "root").await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "Jira & Confluence"),
        ("url", url.as_str()),
        ("auth_type", "none"),
    ];
    let added = browser.post_form("/admin/mcp-servers", &form).await;
    let page = follow(&mut browser, &added).await;
    assert!(
        page.body
            .contains("Backend jira-confluence (Jira &amp; Confluence) added"),
        "{}",
        page.body
    );
    let row_start = page
        .body
        .find("data-server=\"jira-confluence\"")
        .expect("listed under its identifier");
    let row = &page.body[row_start..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("<span class=\"display-name\">Jira &amp; Confluence</span>"),
        "{row}"
    );
    gw.wait_online(1).await;

    // The detail page shows both; the edit form changes the display name.
    let id = http::get(&gw.url(SERVERS), Some(&login(&gw, "root").await))
        .await
        .body["servers"][0]["id"]
        .clone();
    let detail = browser.get(&format!("/admin/mcp-servers/{id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(
        detail
            .body
            .contains("jira-confluence <span class=\"display-name\">Jira &amp; Confluence</span>"),
        "{}",
        detail.body
    );
    let edited = browser
        .post_form(
            &format!("/admin/mcp-servers/{id}/edit"),
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "jira-confluence"),
                ("display_name", "Atlassian"),
                ("url", url.as_str()),
                ("tool_prefix", "jira-confluence_"),
            ],
        )
        .await;
    let detail = follow(&mut browser, &edited).await;
    assert!(
        detail
            .body
            .contains("<span class=\"display-name\">Atlassian</span>"),
        "{}",
        detail.body
    );

    // The same text again: the form is drawn again with the 409's reason.
    let again = browser.post_form("/admin/mcp-servers", &form).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("`jira-confluence`"), "{}", again.body);
    gw.stop().await.unwrap();
}

crate::on_both_databases!(
    the_readme_body_creates_github_mcp,
    the_console_add_form_takes_a_free_text_name
);
