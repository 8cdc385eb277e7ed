//! The first thing a legacy SSE stream says: where to POST messages (the `endpoint` event).
//!
//! The URI is resolved against the SSE URL and must stay on its origin (scheme, host, port):
//! a backend — or anything able to inject an event into its stream — must not be able to point
//! the gateway, which carries the backend's credential, at another host (SSRF).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::super::error::BackendError;
use super::super::jsonrpc::{SseEvent, SseParser};

/// Reads events until `endpoint`; returns its resolved URL and the events that came after it
/// in the same chunk (the reader routes those first).
pub(super) async fn wait_for_endpoint<S, E>(
    body: &mut S,
    parser: &mut SseParser,
    sse_url: &url::Url,
    deadline: Instant,
    timeout: std::time::Duration,
) -> Result<(url::Url, Vec<SseEvent>), BackendError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    loop {
        let chunk = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return Err(BackendError::Timeout(timeout)),
            Ok(None) => {
                return Err(BackendError::Protocol(
                    "its event stream ended before the `endpoint` event".into(),
                ));
            }
            Ok(Some(Err(error))) => {
                return Err(BackendError::Connect(format!(
                    "the event stream broke before the `endpoint` event ({error})"
                )));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = parser
            .feed(&chunk)
            .map_err(|e| BackendError::Protocol(e.to_string()))?;
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            if event.event == "endpoint" {
                let endpoint = resolve_endpoint(sse_url, &event.data)?;
                return Ok((endpoint, events.collect()));
            }
        }
    }
}

/// The message endpoint the backend announced, resolved against the SSE URL; refused when it
/// leaves the SSE URL's origin.
pub(crate) fn resolve_endpoint(sse_url: &url::Url, data: &str) -> Result<url::Url, BackendError> {
    let endpoint = sse_url.join(data.trim()).map_err(|_| {
        BackendError::Protocol("its `endpoint` event does not hold a valid URI".into())
    })?;
    if endpoint.origin() != sse_url.origin() {
        return Err(BackendError::ForeignEndpoint(
            endpoint.origin().ascii_serialization(),
        ));
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse() -> url::Url {
        url::Url::parse("http://127.0.0.1:8080/mcp/sse?x=1").unwrap()
    }

    #[test]
    fn relative_and_same_origin_endpoints_resolve() {
        let cases = [
            (
                "/messages?sessionId=abc",
                "http://127.0.0.1:8080/messages?sessionId=abc",
            ),
            (
                "messages?sessionId=abc",
                "http://127.0.0.1:8080/mcp/messages?sessionId=abc",
            ),
            (
                " http://127.0.0.1:8080/m?s=1\n",
                "http://127.0.0.1:8080/m?s=1",
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(resolve_endpoint(&sse(), data).unwrap().as_str(), expected);
        }
    }

    #[test]
    fn endpoints_on_another_origin_are_refused() {
        for (data, origin) in [
            ("http://169.254.169.254/latest", "http://169.254.169.254"),
            ("//evil.example/messages", "http://evil.example"),
            ("http://127.0.0.1:8081/messages", "http://127.0.0.1:8081"),
            ("https://127.0.0.1:8080/messages", "https://127.0.0.1:8080"),
            ("http://localhost:8080/messages", "http://localhost:8080"),
        ] {
            assert_eq!(
                resolve_endpoint(&sse(), data).unwrap_err(),
                BackendError::ForeignEndpoint(origin.into()),
                "{data}"
            );
        }
        assert!(matches!(
            resolve_endpoint(&sse(), "http://[::1"),
            Err(BackendError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn events_after_the_endpoint_are_kept() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(
                b": hello\n\nevent: endpoint\ndata: /m?s=1\n",
            )),
            Ok(Bytes::from_static(b"\nevent: message\ndata: {}\n\n")),
            Ok(Bytes::from_static(
                b"event: endpoint\ndata: /n\n\nevent: message\ndata: []\n\n",
            )),
        ];
        let mut body = futures_util::stream::iter(chunks);
        let mut parser = SseParser::default();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let (endpoint, rest) =
            wait_for_endpoint(&mut body, &mut parser, &sse(), deadline, Default::default())
                .await
                .unwrap();
        assert_eq!(endpoint.as_str(), "http://127.0.0.1:8080/m?s=1");
        // The endpoint event completes in the chunk that also holds a message: kept.
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].data, "{}");
        let (_, rest) =
            wait_for_endpoint(&mut body, &mut parser, &sse(), deadline, Default::default())
                .await
                .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].data, "[]");
        let ended = wait_for_endpoint(&mut body, &mut parser, &sse(), deadline, Default::default())
            .await
            .err()
            .expect("the stream ended");
        assert!(matches!(ended, BackendError::Protocol(_)), "{ended}");
    }
}
