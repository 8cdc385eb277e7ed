//! An answer measured for `/metrics`: the request counted by method, backend and outcome, the
//! gateway's own time and the backend's recorded (see `crate::metrics`). A streamed answer is
//! counted when its response passes through, before the client receives it.
//!
//! It also hands back the backend the request was routed to, for the audit record: dispatch
//! already resolved it, so the audit does not route the request a second time.

use std::future::Future;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};

use super::forward::Answer;
use crate::metrics::{self, Recorder, outcome};
use crate::state::AppState;

/// The answer, and the backend the request was routed to (or forwarded to; `None`: the gateway
/// answered it itself).
///
/// A combinator, not an `async fn`, for the reason given at [`metrics::measure`]: `answering`
/// is the whole of a request's handling, and is held once.
pub(super) fn measured<'a>(
    state: &'a AppState,
    method: Option<&str>,
    answering: impl Future<Output = Answer> + 'a,
) -> impl Future<Output = (Answer, Option<Arc<str>>)> + 'a {
    let recorder = Recorder::start(method);
    metrics::measure(answering).map(move |(answer, exchange)| {
        let routed = exchange.routed.clone().or_else(|| exchange.backend.clone());
        let metrics = &state.metrics;
        let finished = match &answer {
            Answer::Json(body) => metrics::response_outcome(body).unwrap_or(outcome::OK),
            // Pages of a list: always a result.
            Answer::JsonParts(_) => outcome::OK,
            Answer::Accepted => outcome::ACCEPTED,
            Answer::InsufficientScope(_) => outcome::STEP_UP,
            Answer::Stream(_) => {
                let Answer::Stream(stream) = answer else {
                    unreachable!("matched above")
                };
                let mut request = recorder.streaming(metrics, exchange);
                let stream = stream
                    .map(move |message| {
                        request.observe(&message);
                        message
                    })
                    .boxed_local();
                return (Answer::Stream(stream), routed);
            }
        };
        recorder.finish(metrics, exchange, finished);
        (answer, routed)
    })
}
