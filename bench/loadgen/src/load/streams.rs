//! Idle GET streams: C sessions, each on its own connection (an open GET stream holds its
//! HTTP/1.1 connection), then each opens its session's `GET /mcp` stream and leaves it idle, so
//! a driver can read the server's memory before and after and divide by C.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use tokio::task::JoinHandle;

use super::Failures;
use super::sessions::PhaseReport;
use crate::client::{ClientError, Connection, Session, Target};

/// Sessions opened one per connection, ready for their GET streams.
pub struct StreamSessions {
    sessions: Vec<(Connection, Session)>,
}

/// Open GET streams, each drained by its own task until the stream or this value ends.
pub struct OpenStreams {
    readers: Vec<JoinHandle<()>>,
}

impl Drop for OpenStreams {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Opens `count` sessions concurrently, each on its own connection.
pub async fn open_sessions(target: Arc<Target>, count: usize) -> (StreamSessions, PhaseReport) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut conn = Connection::new(target);
                conn.initialize().await.map(|session| (conn, session))
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(count);
    let mut failures = Failures::default();
    for task in tasks {
        match task.await.expect("session tasks do not panic") {
            Ok(pair) => sessions.push(pair),
            Err(e) => failures.record(&e),
        }
    }
    let report = PhaseReport {
        phase: "open",
        requested: count,
        ok: sessions.len(),
        failures,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    (StreamSessions { sessions }, report)
}

impl StreamSessions {
    /// Opens every session's GET stream; a stream counts once its 2xx headers arrived.
    pub async fn open_streams(self) -> (OpenStreams, PhaseReport) {
        let started = Instant::now();
        let requested = self.sessions.len();
        let tasks: Vec<_> = self
            .sessions
            .into_iter()
            .map(|(mut conn, session)| {
                tokio::spawn(async move {
                    let response = conn.send(Method::GET, Some(&session), Bytes::new()).await?;
                    let status = response.status().as_u16();
                    if !(200..300).contains(&status) {
                        let body = response.into_body().collect().await?.to_bytes();
                        let body = String::from_utf8_lossy(&body[..body.len().min(200)]);
                        return Err(ClientError::Status {
                            status,
                            body: body.into_owned(),
                        });
                    }
                    let mut body = response.into_body();
                    Ok(tokio::spawn(async move {
                        let _keep = (conn, session);
                        while let Some(Ok(_)) = body.frame().await {}
                    }))
                })
            })
            .collect();
        let mut readers = Vec::with_capacity(requested);
        let mut failures = Failures::default();
        for task in tasks {
            match task.await.expect("stream tasks do not panic") {
                Ok(reader) => readers.push(reader),
                Err(e) => failures.record(&e),
            }
        }
        let report = PhaseReport {
            phase: "streams",
            requested,
            ok: readers.len(),
            failures,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        (OpenStreams { readers }, report)
    }
}
