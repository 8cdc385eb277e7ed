//! Which waiting request a message from the event stream belongs to.
//!
//! The legacy transport has one stream for everything the backend sends, so responses are
//! matched to requests by id. A message that is not a response has no id to go by: progress
//! goes to the request whose `progressToken` it names; any other notification, and any request
//! the backend sends us, goes to the oldest request in flight (most servers talk to us only
//! while they work on one). With nothing in flight the message is handed back to the caller.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::upstream::envelope::Envelope;

/// What a waiting request receives.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A notification or server → client request that arrived while the request was in flight.
    Message(Bytes),
    /// The response; nothing more follows.
    Response(Bytes),
}

/// Why a request could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// Another request with the same id is still waiting.
    DuplicateId,
    /// The event stream is gone; nothing could ever answer.
    Closed,
}

struct Waiter {
    seq: u64,
    id: String,
    progress: Option<String>,
    deliver: mpsc::UnboundedSender<Delivery>,
}

#[derive(Default)]
struct Table {
    /// In registration order, so the first one is the oldest.
    waiters: Vec<Waiter>,
    next_seq: u64,
    closed: bool,
}

/// The requests in flight on one event stream (shared by the reader and the senders).
#[derive(Default)]
pub(crate) struct Routes {
    table: Mutex<Table>,
}

/// One registered request: its deliveries, and its place in the table until dropped.
pub(crate) struct Pending {
    routes: Arc<Routes>,
    seq: u64,
    pub deliveries: mpsc::UnboundedReceiver<Delivery>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.routes.lock().waiters.retain(|w| w.seq != self.seq);
    }
}

impl Routes {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a request by its raw id (and `_meta.progressToken`, if any) before it is sent,
    /// so an answer that overtakes the POST's own reply still finds it.
    pub fn register(
        self: &Arc<Self>,
        id: &RawValue,
        progress: Option<&RawValue>,
    ) -> Result<Pending, RegisterError> {
        let id = id_key(id);
        let mut table = self.lock();
        if table.closed {
            return Err(RegisterError::Closed);
        }
        if table.waiters.iter().any(|w| w.id == id) {
            return Err(RegisterError::DuplicateId);
        }
        let seq = table.next_seq;
        table.next_seq += 1;
        let (deliver, deliveries) = mpsc::unbounded_channel();
        table.waiters.push(Waiter {
            seq,
            id,
            progress: progress.map(id_key),
            deliver,
        });
        Ok(Pending {
            routes: self.clone(),
            seq,
            deliveries,
        })
    }

    /// Hands `message` to the request it belongs to; gives it back if none claims it.
    pub fn route(&self, message: Bytes) -> Option<Bytes> {
        let Ok(envelope) = Envelope::parse(&message) else {
            return Some(message);
        };
        let mut table = self.lock();
        if envelope.is_response() {
            let id = envelope.id.map(id_key)?;
            let index = table.waiters.iter().position(|w| w.id == id)?;
            let waiter = table.waiters.remove(index);
            let _ = waiter.deliver.send(Delivery::Response(message.clone()));
            return None;
        }
        let token = progress_token(&envelope);
        let target = token
            .and_then(|t| {
                table
                    .waiters
                    .iter()
                    .find(|w| w.progress.as_ref() == Some(&t))
            })
            .or_else(|| table.waiters.first());
        match target {
            Some(waiter) => {
                let _ = waiter.deliver.send(Delivery::Message(message.clone()));
                None
            }
            None => Some(message),
        }
    }

    /// The stream ended: every waiter sees its channel close, and nothing new registers.
    pub fn close_all(&self) {
        let mut table = self.lock();
        table.closed = true;
        table.waiters.clear();
    }
}

/// A comparable form of a JSON-RPC id (`"a"` and `"\u0061"` are the same id).
fn id_key(raw: &RawValue) -> String {
    serde_json::from_str::<serde_json::Value>(raw.get())
        .map(|v| v.to_string())
        .unwrap_or_else(|_| raw.get().trim().to_owned())
}

/// The `progressToken` of a `notifications/progress`.
fn progress_token(envelope: &Envelope<'_>) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "progressToken")]
        progress_token: Option<&'a RawValue>,
    }
    if envelope.method_name().as_deref() != Some("notifications/progress") {
        return None;
    }
    let params: Params<'_> = serde_json::from_str(envelope.params?.get()).ok()?;
    params.progress_token.map(id_key)
}

/// The `_meta.progressToken` of a request's params, raw (to register it with the request).
pub(crate) fn request_progress_token(params: Option<&RawValue>) -> Option<Box<RawValue>> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "progressToken")]
        progress_token: Option<&'a RawValue>,
    }
    let params: Params<'_> = serde_json::from_str(params?.get()).ok()?;
    params.meta?.progress_token.map(ToOwned::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn next(pending: &mut Pending) -> Option<Delivery> {
        pending.deliveries.try_recv().ok()
    }

    #[test]
    fn responses_find_their_request_by_id() {
        let routes = Arc::new(Routes::default());
        let mut a = routes.register(&raw("1"), None).unwrap();
        let mut b = routes.register(&raw(r#""b""#), None).unwrap();
        assert_eq!(
            routes.register(&raw(r#""\u0062""#), None).err(),
            Some(RegisterError::DuplicateId)
        );
        assert!(
            routes
                .route(Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":"b","result":{}}"#
                ))
                .is_none()
        );
        assert!(matches!(next(&mut b), Some(Delivery::Response(_))));
        assert!(next(&mut a).is_none());
        // A response nobody waits for is dropped, not handed back.
        assert!(
            routes
                .route(Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":9,"result":{}}"#
                ))
                .is_none()
        );
    }

    #[test]
    fn progress_follows_its_token_and_other_messages_go_to_the_oldest() {
        let routes = Arc::new(Routes::default());
        let mut old = routes.register(&raw("1"), None).unwrap();
        let token = request_progress_token(Some(&raw(r#"{"_meta":{"progressToken":"t"}}"#)));
        let mut young = routes.register(&raw("2"), token.as_deref()).unwrap();
        routes.route(Bytes::from_static(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#,
        ));
        assert!(matches!(next(&mut young), Some(Delivery::Message(_))));
        routes.route(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":7,"method":"roots/list"}"#,
        ));
        assert!(matches!(next(&mut old), Some(Delivery::Message(_))));
        drop(old);
        drop(young);
        let ping = Bytes::from_static(br#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#);
        assert_eq!(routes.route(ping.clone()), Some(ping));
    }

    #[test]
    fn closing_ends_every_waiter_and_refuses_new_ones() {
        let routes = Arc::new(Routes::default());
        let mut pending = routes.register(&raw("1"), None).unwrap();
        routes.close_all();
        assert!(matches!(
            pending.deliveries.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(
            routes.register(&raw("2"), None).err(),
            Some(RegisterError::Closed)
        );
    }
}
