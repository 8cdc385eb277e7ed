//! Client sessions (legacy era): the SessionActor and the store it writes. The actor runs
//! under `GatewaySupervisor` (see `crate::supervisor`); the web layer reaches it through the
//! [`SessionHandle`] that `GatewayHandle::sessions` returns.

mod actor;
mod client_tasks;
mod elicitations;
mod event_stream;
mod outbox;
mod post_streams;
mod store;
mod tasks;

pub use actor::{NewSession, SessionActor, SessionError, SessionHandle, SessionLimits, SessionMsg};
pub use client_tasks::{ClientTasks, MAX_CLIENT_TASKS};
pub use elicitations::{
    Initiator, MAX_URL_ELICITATIONS_PER_USER, URL_ELICITATION_KEEP, UrlElicitations,
};
pub use event_stream::{EventStream, parse_event_id};
pub use outbox::{AttachError, Attached, Event, OUTBOX_CAPACITY, Outbox, Pushed, StreamLimits};
pub use post_streams::{OpenedStream, PostStreams};
pub use store::{
    CancelTarget, ClientSession, InFlight, LookupError, PendingRequest, RequestGuard, SessionScope,
    SessionStore, UpstreamSlot, take_when_free,
};

pub use tasks::{
    FINISHED_TASK_KEEP, MAX_TASK_AGE, MAX_TASKS_PER_USER, TaskRegistry, TaskRoute, is_terminal,
    slot_key,
};

#[cfg(test)]
mod tests;
