//! Client ID Metadata Documents through the gateway's own resolver (the one `/authorize` uses),
//! fetched from a real HTTP server the test starts on loopback — which the SSRF guard refuses
//! unless `oauth.cimd_allow_private` is on.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actors::auth::cimd::{CimdError, ResolveError};
use actors::auth::client_metadata::{AuthMethod, ClientSource};
use serde_json::json;

use crate::harness::TestGateway;
use crate::on_both_databases;
use crate::postgres::{Db, PgDatabase, database_toml};

/// A canned answer for one path.
#[derive(Clone)]
struct Canned {
    status: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Never answer: hold the connection until the client gives up.
    stall: bool,
}

fn json_doc(body: serde_json::Value) -> Canned {
    Canned {
        status: "200 OK",
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        stall: false,
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 (a thread per connection) serving canned documents and
/// counting the requests it receives.
struct DocumentServer {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl DocumentServer {
    fn start(routes: impl FnOnce(&str) -> Vec<(&'static str, Canned)>) -> DocumentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<HashMap<&'static str, Canned>> =
            Arc::new(routes(&base).into_iter().collect());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = routes.clone();
                let counter = counter.clone();
                std::thread::spawn(move || serve(stream, &routes, &counter));
            }
        });
        DocumentServer { base, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn port(&self) -> &str {
        self.base.rsplit(':').next().unwrap()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, routes: &HashMap<&'static str, Canned>, hits: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/");
    let Some(canned) = routes.get(path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    if canned.stall {
        // Blocks until the client closes the connection.
        let _ = stream.read(&mut [0u8; 1]);
        return;
    }
    let mut response = format!(
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        canned.status,
        canned.body.len()
    );
    for (name, value) in &canned.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(&canned.body);
}

fn client_document(client_id: &str) -> serde_json::Value {
    json!({
        "client_id": client_id,
        "client_name": "Document Client",
        "client_uri": "https://client.example.com",
        "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

async fn gateway(db: Db, oauth: &str) -> (TestGateway, Option<PgDatabase>) {
    let (database, guard) = database_toml(db);
    let gw = TestGateway::start(&format!("{database}[oauth]\n{oauth}\n")).await;
    (gw, guard)
}

async fn a_document_is_fetched_checked_stored_and_cached(db: Db) {
    let server = DocumentServer::start(|base| {
        vec![(
            "/client.json",
            json_doc(client_document(&format!("{base}/client.json"))),
        )]
    });
    let (gw, _pg) = gateway(db, "cimd_allow_private = true").await;
    let oauth = &gw.state.as_ref().unwrap().oauth;
    let id = server.url("/client.json");

    let client = oauth
        .resolver
        .resolve(&id)
        .await
        .expect("the document resolves");
    assert_eq!(client.client_id, id);
    assert_eq!(client.source, ClientSource::Cimd);
    assert_eq!(client.client_name.as_deref(), Some("Document Client"));
    assert_eq!(client.token_endpoint_auth_method, AuthMethod::None);
    assert!(client.redirect_uri_allowed("http://127.0.0.1:49152/callback"));
    assert!(!client.redirect_uri_allowed("https://evil.example.com/callback"));
    assert_eq!(server.hits(), 1);

    // Stored in the registry with source `cimd` (a public client: no secret, no RFC 7592 token).
    let stored = oauth.clients.get(&id).await.unwrap().expect("stored");
    assert_eq!(stored.source, ClientSource::Cimd);
    assert!(
        oauth
            .clients
            .authenticate_client(&id, None, AuthMethod::None)
            .await
            .is_ok()
    );
    assert!(
        oauth
            .clients
            .check_registration_token(&id, Some("anything"))
            .await
            .is_err()
    );

    // Cached: the second resolve does not fetch again.
    let again = oauth.resolver.resolve(&id).await.unwrap();
    assert_eq!(again.client_id, id);
    assert_eq!(server.hits(), 1);
    // Forgetting it fetches (and updates) again.
    oauth.resolver.forget(&id);
    oauth.resolver.resolve(&id).await.unwrap();
    assert_eq!(server.hits(), 2);
    assert_eq!(oauth.clients.list().await.unwrap().len(), 1);
    gw.stop().await.unwrap();
}

async fn private_hosts_are_refused_without_the_test_switch(db: Db) {
    let server = DocumentServer::start(|base| {
        vec![(
            "/client.json",
            json_doc(client_document(&format!("{base}/client.json"))),
        )]
    });
    let (gw, _pg) = gateway(db, "").await;
    let resolver = &gw.state.as_ref().unwrap().oauth.resolver;
    let port = server.port();
    for id in [
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://localhost:{port}/client.json"),
        // IPv4-mapped IPv6, written the canonical way the URL parser prints it.
        format!("https://[::ffff:7f00:1]:{port}/client.json"),
    ] {
        let err = resolver.resolve(&id).await.unwrap_err();
        assert!(
            matches!(err, ResolveError::Cimd(CimdError::Blocked { .. })),
            "{id}: {err}"
        );
        assert!(err.to_string().contains("loopback"), "{err}");
    }
    let plain = resolver
        .resolve(&server.url("/client.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(plain, ResolveError::Cimd(CimdError::PlainHttp)),
        "{plain}"
    );
    assert_eq!(server.hits(), 0, "the guard refuses before connecting");
    assert!(
        gw.state
            .as_ref()
            .unwrap()
            .oauth
            .clients
            .list()
            .await
            .unwrap()
            .is_empty()
    );
    gw.stop().await.unwrap();
}

async fn bad_documents_are_refused_with_the_rule_that_failed(db: Db) {
    let server = DocumentServer::start(|base| {
        let mut oversize = client_document(&format!("{base}/big.json"));
        oversize["padding"] = json!("x".repeat(6000));
        let mut secret = client_document(&format!("{base}/secret.json"));
        secret["client_secret"] = json!("s3cret");
        vec![
            (
                "/other.json",
                json_doc(client_document(
                    "https://someone-else.example.com/client.json",
                )),
            ),
            ("/big.json", json_doc(oversize)),
            ("/secret.json", json_doc(secret)),
            (
                "/moved.json",
                Canned {
                    status: "302 Found",
                    headers: vec![("Location".into(), format!("{base}/other.json"))],
                    body: Vec::new(),
                    stall: false,
                },
            ),
            (
                "/page.json",
                Canned {
                    status: "200 OK",
                    headers: vec![("Content-Type".into(), "text/html".into())],
                    body: b"<html></html>".to_vec(),
                    stall: false,
                },
            ),
            (
                "/slow.json",
                Canned {
                    status: "200 OK",
                    headers: Vec::new(),
                    body: Vec::new(),
                    stall: true,
                },
            ),
        ]
    });
    let (gw, _pg) = gateway(db, "cimd_allow_private = true\ncimd_timeout_ms = 300").await;
    let resolver = &gw.state.as_ref().unwrap().oauth.resolver;
    let resolve = |path: &str| {
        let id = server.url(path);
        async move { resolver.resolve(&id).await.unwrap_err() }
    };

    let err = resolve("/other.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::ClientIdMismatch { .. })),
        "{err}"
    );
    let err = resolve("/big.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::TooLarge(5120))),
        "{err}"
    );
    let err = resolve("/secret.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::SecretNotAllowed(_))),
        "{err}"
    );
    let hits = server.hits();
    let err = resolve("/moved.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::Redirect(302))),
        "{err}"
    );
    assert_eq!(server.hits(), hits + 1, "the redirect was not followed");
    let err = resolve("/page.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::ContentType(_))),
        "{err}"
    );
    let err = resolve("/missing.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::Status(404))),
        "{err}"
    );
    let err = resolve("/slow.json").await;
    assert!(
        matches!(err, ResolveError::Cimd(CimdError::Timeout(_))),
        "{err}"
    );
    assert!(
        gw.state
            .as_ref()
            .unwrap()
            .oauth
            .clients
            .list()
            .await
            .unwrap()
            .is_empty()
    );
    gw.stop().await.unwrap();
}

async fn url_client_ids_need_cimd_switched_on(db: Db) {
    let (gw, _pg) = gateway(db, "cimd_enabled = false").await;
    let resolver = &gw.state.as_ref().unwrap().oauth.resolver;
    let err = resolver
        .resolve("https://client.example.com/client.json")
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::CimdDisabled(_)), "{err}");
    let err = resolver.resolve("never-registered").await.unwrap_err();
    assert!(matches!(err, ResolveError::UnknownClient(_)), "{err}");
    gw.stop().await.unwrap();
}

on_both_databases!(
    a_document_is_fetched_checked_stored_and_cached,
    private_hosts_are_refused_without_the_test_switch,
    bad_documents_are_refused_with_the_rule_that_failed,
    url_client_ids_need_cimd_switched_on,
);
