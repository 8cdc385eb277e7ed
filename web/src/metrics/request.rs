//! Recording one MCP request: its method (from a fixed list, so a client cannot grow the label
//! set), the backend it was forwarded to, its outcome, the gateway's own time and the backend's.
//!
//! The backend's part is noted by `forward` into a task-local [`BackendExchange`] scoped around
//! the request's handling ([`measure`]), so no signature between the two has to carry it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use prometheus_client::encoding::EncodeLabelSet;

use super::Metrics;

/// The method label values. Anything else is `other`; every notification is `notification` and
/// every response a client sends (to a backend's request) is `response`.
pub(crate) const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "notification",
    "response",
    "other",
];

/// Outcome label values.
pub mod outcome {
    /// A JSON-RPC result.
    pub const OK: &str = "ok";
    /// A JSON-RPC error (from the gateway or the backend).
    pub const ERROR: &str = "error";
    /// A notification or a client's response: 202, nothing to answer.
    pub const ACCEPTED: &str = "accepted";
    /// Refused with a step-up challenge (HTTP 403, `insufficient_scope`).
    pub const STEP_UP: &str = "step_up";
    /// A streamed answer that ended (or was dropped) without its response.
    pub const INCOMPLETE: &str = "incomplete";
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub method: &'static str,
    /// Shared with the routing table's name (an existing series costs no allocation).
    pub backend: Arc<str>,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    pub method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BackendLabels {
    pub backend: Arc<str>,
}

/// The index of a message's method label in [`METHODS`].
pub fn method_index(method: Option<&str>) -> usize {
    let position = |label: &str| METHODS.iter().position(|m| *m == label);
    let other = METHODS.len() - 1;
    match method {
        None => position("response").unwrap_or(other),
        Some(m) if m.starts_with("notifications/") => position("notification").unwrap_or(other),
        Some(m) => position(m).unwrap_or(other),
    }
}

/// What `forward` noted about its exchange with a backend while a request was handled.
#[derive(Debug, Default, Clone)]
pub struct BackendExchange {
    /// The backend the request was forwarded to (`None`: the gateway answered itself).
    pub backend: Option<Arc<str>>,
    /// The backend dispatch resolved the request's tool, prompt or resource to, noted even when
    /// the request was then refused (policy, step-up, a limit) rather than forwarded: the audit
    /// trail names it. Shares the routing table's `Arc`.
    pub routed: Option<Arc<str>>,
    /// Time spent waiting for the backend (opening its session and the request until its
    /// reply or, for a stream, its headers).
    pub waited: Duration,
    /// When the request was first sent to the backend.
    pub sent_at: Option<Instant>,
}

tokio::task_local! {
    static EXCHANGE: RefCell<BackendExchange>;
}

/// Runs a request's handling with a fresh [`BackendExchange`] and returns what it noted.
///
/// A combinator, not an `async fn`: an `async fn` awaiting a future it was given holds that
/// future twice (as its argument and as what it awaits), so every request's handling future —
/// kilobytes — was copied and stored twice here.
pub fn measure<T>(handling: impl Future<Output = T>) -> impl Future<Output = (T, BackendExchange)> {
    // The closure runs inside the scope's poll, while the task-local is set.
    let noted = handling.map(|out| (out, EXCHANGE.with(|e| e.take())));
    EXCHANGE.scope(RefCell::new(BackendExchange::default()), noted)
}

/// Notes which backend the current request goes to (outside [`measure`]: nothing happens).
pub fn note_backend(backend: &str) {
    let _ = EXCHANGE.try_with(|e| {
        let mut e = e.borrow_mut();
        if e.backend.is_none() {
            let name = match &e.routed {
                Some(routed) if **routed == *backend => routed.clone(),
                _ => Arc::from(backend),
            };
            e.backend = Some(name);
        }
    });
}

/// Notes the backend dispatch routed the current request to, before deciding whether to
/// forward it (see [`BackendExchange::routed`]).
pub fn note_route(backend: &Arc<str>) {
    let _ = EXCHANGE.try_with(|e| {
        e.borrow_mut().routed.get_or_insert_with(|| backend.clone());
    });
}

/// Awaits `exchange` (an exchange with a backend) and adds its duration to the backend's time.
pub async fn backend_wait<T>(exchange: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = exchange.await;
    let _ = EXCHANGE.try_with(|e| {
        let mut e = e.borrow_mut();
        e.waited += started.elapsed();
        e.sent_at.get_or_insert(started);
    });
    out
}

/// A request being measured: started when dispatch took it.
pub struct Recorder {
    method: usize,
    started: Instant,
}

impl Recorder {
    pub fn start(method: Option<&str>) -> Self {
        Recorder {
            method: method_index(method),
            started: Instant::now(),
        }
    }

    /// Records a request answered now, with `outcome`.
    pub fn finish(self, metrics: &Metrics, exchange: BackendExchange, outcome: &'static str) {
        self.gateway_part(metrics, &exchange);
        let waited = Some(exchange.waited);
        metrics.count(self.method, exchange.backend, outcome, waited);
    }

    /// Records the gateway's own time for a request whose answer streams on; the rest is
    /// recorded by [`StreamedRequest`] when the response passes.
    pub fn streaming(self, metrics: &Arc<Metrics>, exchange: BackendExchange) -> StreamedRequest {
        self.gateway_part(metrics, &exchange);
        StreamedRequest {
            metrics: metrics.clone(),
            method: self.method,
            exchange,
            recorded: false,
        }
    }

    fn gateway_part(&self, metrics: &Metrics, exchange: &BackendExchange) {
        let own = self.started.elapsed().saturating_sub(exchange.waited);
        metrics
            .gateway_histogram(self.method)
            .observe(own.as_secs_f64());
    }
}

/// A streamed answer's request, counted when its response passes (before the client gets
/// it), or as `incomplete` if the stream ends first.
pub struct StreamedRequest {
    metrics: Arc<Metrics>,
    method: usize,
    exchange: BackendExchange,
    recorded: bool,
}

impl StreamedRequest {
    /// Looks at one message of the stream; records the request if it is the response.
    pub fn observe(&mut self, message: &[u8]) {
        if self.recorded {
            return;
        }
        if let Some(outcome) = response_outcome(message) {
            self.recorded = true;
            let waited = self.exchange.sent_at.map(|at| at.elapsed());
            let backend = self.exchange.backend.take();
            self.metrics.count(self.method, backend, outcome, waited);
        }
    }
}

/// The stream ended or was dropped: a request not yet recorded is `incomplete`.
impl Drop for StreamedRequest {
    fn drop(&mut self) {
        if !self.recorded {
            let backend = self.exchange.backend.take();
            self.metrics
                .count(self.method, backend, outcome::INCOMPLETE, None);
        }
    }
}

/// The empty `backend` label (answered by the gateway), allocated once.
static NO_BACKEND: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

impl Metrics {
    fn count(
        &self,
        method: usize,
        backend: Option<Arc<str>>,
        outcome: &'static str,
        backend_time: Option<Duration>,
    ) {
        let backend = backend.unwrap_or_else(|| NO_BACKEND.clone());
        if let (Some(waited), false) = (backend_time, backend.is_empty()) {
            self.backend_seconds
                .get_or_create(&BackendLabels {
                    backend: backend.clone(),
                })
                .observe(waited.as_secs_f64());
        }
        self.requests
            .get_or_create(&RequestLabels {
                method: METHODS[method],
                backend,
                outcome,
            })
            .inc();
    }
}

/// `ok`/`error` when `message` is a JSON-RPC response, `None` for a request or notification.
/// Reads the top-level keys only until the first of `result`, `error` or `method`, so a large
/// result is not scanned (servers write `jsonrpc` and `id` first).
pub fn response_outcome(message: &[u8]) -> Option<&'static str> {
    let mut i = skip_ws(message, 0);
    if message.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(message, i);
        if message.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = end_of_string(message, i)?;
        match &message[i + 1..key_end - 1] {
            b"result" => return Some(outcome::OK),
            b"error" => return Some(outcome::ERROR),
            b"method" => return None,
            _ => {}
        }
        i = skip_ws(message, key_end);
        if message.get(i) != Some(&b':') {
            return None;
        }
        i = skip_value(message, skip_ws(message, i + 1))?;
        i = skip_ws(message, i);
        if message.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index just past the string starting at `start` (its opening quote).
fn end_of_string(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the JSON value starting at `start`.
fn skip_value(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => end_of_string(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = end_of_string(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = start;
            while bytes
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                i += 1;
            }
            Some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_come_from_the_top_level_keys() {
        let ok = br#"{"jsonrpc":"2.0","id":{"a":[1,"}"]},"result":{"error":1}}"#;
        assert_eq!(response_outcome(ok), Some(outcome::OK));
        let error = br#" { "id" : "x\"y", "jsonrpc":"2.0", "error":{"code":-1}}"#;
        assert_eq!(response_outcome(error), Some(outcome::ERROR));
        let request = br#"{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}"#;
        assert_eq!(response_outcome(request), None);
        assert_eq!(response_outcome(b"[1]"), None);
        assert_eq!(response_outcome(br#"{"id":"#), None);
    }

    #[test]
    fn a_streamed_answer_counts_at_its_response_or_as_incomplete() {
        let metrics = Arc::new(Metrics::default());
        let exchange = || BackendExchange {
            backend: Some("files".into()),
            routed: None,
            waited: Duration::ZERO,
            sent_at: Some(Instant::now()),
        };
        let mut answered = Recorder::start(Some("tools/call")).streaming(&metrics, exchange());
        answered.observe(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#);
        answered.observe(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        answered.observe(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        drop(answered);
        drop(Recorder::start(Some("tools/call")).streaming(&metrics, exchange()));
        let text = metrics.render().unwrap();
        let line = |outcome: &str| {
            format!(
                "authmcp_mcp_requests_total{{method=\"tools/call\",backend=\"files\",outcome=\"{outcome}\"}} 1\n"
            )
        };
        assert!(text.contains(&line("ok")), "{text}");
        assert!(text.contains(&line("incomplete")), "{text}");
        assert!(text.contains("authmcp_mcp_backend_seconds_count{backend=\"files\"} 1\n"));
    }

    #[test]
    fn methods_map_to_a_bounded_label_set() {
        assert_eq!(METHODS[method_index(Some("tools/call"))], "tools/call");
        assert_eq!(
            METHODS[method_index(Some("notifications/cancelled"))],
            "notification"
        );
        assert_eq!(METHODS[method_index(Some("made/up"))], "other");
        assert_eq!(METHODS[method_index(None)], "response");
    }
}
