//! The fixture's legacy HTTP+SSE (2024-11-05) mode; rmcp 3.11 has no server for it.
//!
//! `GET /sse` opens a session: an rmcp server (the same `Fixture`) runs over an in-memory
//! duplex pipe, the stream first says `event: endpoint` with `/messages?sessionId=<id>` (or
//! `<endpoint-base>/messages?…` to test origin checks), then carries every line the server
//! writes as `event: message`. `POST /messages?sessionId=<id>` writes the body into the pipe
//! and answers 202; 404 for an unknown session. The session ends when its stream is dropped.
//! `GET /stats` → `{"open": n, "opened": n, "posts": n, "authorization": {"get": …, "post": …}}`
//! so tests can count sessions and see the last `Authorization` header each route received.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, WriteHalf};
use tokio::sync::mpsc;

use super::Fixture;

type Pipe = Arc<tokio::sync::Mutex<WriteHalf<tokio::io::DuplexStream>>>;

struct Shared {
    fixture: Fixture,
    endpoint_base: String,
    sessions: Mutex<HashMap<String, Pipe>>,
    opened: AtomicUsize,
    posts: AtomicUsize,
    /// The last `Authorization` header seen by `GET /sse` and by `POST /messages`.
    authorization: Mutex<[Option<String>; 2]>,
}

impl Shared {
    fn note_authorization(&self, route: usize, headers: &HeaderMap) {
        let value = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.authorization.lock().unwrap_or_else(|p| p.into_inner())[route] = value;
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pipe>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the session when its stream is dropped (the client went away).
struct SessionGuard {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.shared.sessions().remove(&self.id);
    }
}

pub fn router(fixture: Fixture, endpoint_base: String) -> axum::Router {
    let shared = Arc::new(Shared {
        fixture,
        endpoint_base,
        sessions: Mutex::default(),
        opened: AtomicUsize::new(0),
        posts: AtomicUsize::new(0),
        authorization: Mutex::default(),
    });
    axum::Router::new()
        .route("/sse", get(open_stream))
        .route("/messages", post(receive))
        .route("/stats", get(stats))
        .with_state(shared)
}

async fn open_stream(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    shared.note_authorization(0, &headers);
    let number = shared.opened.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("session-{number}");
    let (server_side, client_side) = tokio::io::duplex(1 << 20);
    let (from_server, to_server) = tokio::io::split(client_side);
    shared
        .sessions()
        .insert(id.clone(), Arc::new(tokio::sync::Mutex::new(to_server)));
    let fixture = shared.fixture.clone();
    tokio::spawn(async move {
        if let Ok(running) = fixture.serve(server_side).await {
            let _ = running.waiting().await;
        }
    });
    let (events, receiver) = mpsc::unbounded_channel();
    let endpoint = format!("{}/messages?sessionId={id}", shared.endpoint_base);
    let _ = events.send(Event::default().event("endpoint").data(endpoint));
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).lines();
        loop {
            // Stop when the stream is gone, so the pipe closes and the rmcp server ends.
            let line = tokio::select! {
                () = events.closed() => break,
                line = lines.next_line() => line,
            };
            let Ok(Some(line)) = line else { break };
            if events
                .send(Event::default().event("message").data(line))
                .is_err()
            {
                break;
            }
        }
    });
    let guard = SessionGuard { shared, id };
    let stream = futures_util::stream::unfold((receiver, guard), |(mut receiver, guard)| async {
        let event = receiver.recv().await?;
        Some((Ok(event), (receiver, guard)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    shared.posts.fetch_add(1, Ordering::SeqCst);
    shared.note_authorization(1, &headers);
    let pipe = query
        .get("sessionId")
        .and_then(|id| shared.sessions().get(id).cloned());
    let Some(pipe) = pipe else {
        return StatusCode::NOT_FOUND;
    };
    // The pipe is line-delimited; a newline outside a JSON string is only whitespace.
    let mut line: Vec<u8> = body
        .iter()
        .map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b })
        .collect();
    line.push(b'\n');
    let mut pipe = pipe.lock().await;
    match pipe.write_all(&line).await {
        Ok(()) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::GONE,
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> axum::Json<serde_json::Value> {
    let authorization = shared
        .authorization
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    axum::Json(serde_json::json!({
        "open": shared.sessions().len(),
        "opened": shared.opened.load(Ordering::SeqCst),
        "posts": shared.posts.load(Ordering::SeqCst),
        "authorization": {"get": authorization[0], "post": authorization[1]},
    }))
}
