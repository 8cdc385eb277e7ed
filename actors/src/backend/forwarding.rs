//! The backend thread's side of stdio forwarding.
//!
//! A stdio backend runs one child shared by every client session. The request path
//! (`crate::upstream`, on actix worker threads) rewrites each request's id to a gateway-unique
//! number and sends it here through an unbounded channel together with a oneshot for the
//! answer: the one awaited hop of a forwarded request. This loop writes it to the current child
//! and parks the oneshot in the child's pending table, where the stdout reader resolves it.
//! While no child runs (starting, restarting) requests fail at once with a clear cause instead
//! of waiting.
//!
//! With `isolation = "per-session"` the same channel also carries `Open`: this thread starts a
//! child for one client session ([`super::session_children`]), whose own channel is then served
//! by this same loop over that child alone.

use std::cell::RefCell;

use tokio::sync::{mpsc, oneshot};

use super::error::BackendError;
use super::session_children::{OpenReply, SessionChildren};
use super::stdio::{ProgressSender, StdioLink, Waiter};
use crate::upstream::ClientContext;

/// One message from the request path to the shared child.
pub(crate) enum StdioCommand {
    /// A request whose id is already rewritten to `id`; `reply` gets the child's response.
    Request {
        id: u64,
        line: Vec<u8>,
        reply: Waiter,
        /// The request's rewritten progress token, if it asked for progress.
        token: Option<String>,
        /// Where the messages for its answer stream go (progress, and what a per-session child
        /// sends meanwhile); `None`: the answer is the response alone.
        answer: Option<ProgressSender>,
    },
    /// A notification (ids inside already rewritten), or a client's response to a request a
    /// per-session child sent (its id is the child's own).
    Notify {
        line: Vec<u8>,
        reply: oneshot::Sender<Result<(), BackendError>>,
    },
    /// The caller stopped waiting for `id` (timeout, client gone).
    Forget { id: u64 },
    /// Start a child for one client session (per-session isolation only).
    Open {
        context: ClientContext,
        reply: OpenReply,
    },
}

pub(crate) type StdioCommands = mpsc::UnboundedReceiver<StdioCommand>;
pub(crate) type StdioCommandSender = mpsc::UnboundedSender<StdioCommand>;

/// The child currently serving forwarded messages, if one is connected.
#[derive(Default)]
pub(crate) struct CurrentLink(RefCell<Option<StdioLink>>);

impl CurrentLink {
    pub fn set(&self, link: Option<StdioLink>) {
        *self.0.borrow_mut() = link;
    }

    fn get(&self) -> Option<StdioLink> {
        self.0.borrow().clone().filter(|link| !link.is_closed())
    }
}

/// Serves forwarded messages until every sender is gone (the actor incarnation ended, or the
/// client session of a per-session child went away). `children` is where `Open` starts
/// per-session children: `None` on a per-session child's own channel.
pub(crate) async fn serve_stdio_commands(
    mut commands: StdioCommands,
    current: &CurrentLink,
    children: Option<&SessionChildren>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            StdioCommand::Request {
                id,
                line,
                reply,
                token,
                answer,
            } => match current.get() {
                Some(link) => link.forward(id, line, reply, token, answer).await,
                None => {
                    let _ = reply.send(Err(BackendError::NotConnected));
                }
            },
            StdioCommand::Notify { line, reply } => {
                let result = match current.get() {
                    Some(link) => link.notify(line).await,
                    None => Err(BackendError::NotConnected),
                };
                let _ = reply.send(result);
            }
            StdioCommand::Forget { id } => {
                if let Some(link) = current.get() {
                    link.forget(id).await;
                }
            }
            StdioCommand::Open { context, reply } => match children {
                Some(children) => children.open(context, reply),
                None => {
                    let _ = reply.send(Err(BackendError::Protocol(
                        "a per-session child cannot open another".into(),
                    )));
                }
            },
        }
    }
}
