//! The fast backend: a minimal stateful Streamable HTTP MCP server on hyper 1.
//!
//! It exists to be fronted by the gateway in the benchmark, so it must cost far less per call
//! than the gateway does: the HTTP glue here is thin, [`app::App`] answers from a precomputed
//! `tools/list` result and a hash set of session ids, and replies are always `application/json`.

pub mod app;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use app::{App, Reply};

/// Request bodies above this are refused (413); benchmark calls are a few hundred bytes.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Accepts connections on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or a reset during accept: back off instead of spinning.
                eprintln!("mcp-fast-backend: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(respond(&app, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
    };
    let session = parts
        .headers
        .get("mcp-session-id")
        .map(HeaderValue::as_bytes);
    let reply = app.handle(&parts.method, parts.uri.path(), session, &body);
    to_response(reply)
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(reply.status);
    if let Some(session) = reply.session_id {
        response = response.header("mcp-session-id", session);
    }
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        response = response.header(ALLOW, "POST, DELETE");
    }
    if !reply.body.is_empty() {
        response = response.header(CONTENT_TYPE, "application/json");
    }
    response.body(Full::new(reply.body)).expect("valid parts")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
