//! Per-session stdio children (`isolation = "per-session"`), owned by the backend thread.
//!
//! The request path asks for a child with `StdioCommand::Open` on the backend's forwarding
//! channel. This thread spawns it exactly as the shared child is spawned
//! ([`StdioTransport::spawn`]: own process group, minimal environment), runs `initialize` with the
//! *client's* version, capabilities and `clientInfo`, and hands back a [`SessionChild`]: a
//! channel of the child's own, served by a local task with the same forwarding loop as the shared
//! child. The child lives until the first of:
//! - the client session's `Upstream::close` (or the session being dropped) closes the channel;
//! - the child exits by itself (the next request then reopens one);
//! - the backend actor stops (reload, shutdown) or fails: [`SessionChildren::close_all`], or
//!   on the panic path its `Drop`, which aborts every task and so kills every group.
//!
//! Every way out kills the child's process group and reaps the child. At `max_processes` live
//! children a new `Open` fails at once with [`BackendError::ProcessLimit`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::error::{BackendError, SUPPORTED_PROTOCOL_VERSIONS};
use super::forwarding::{CurrentLink, StdioCommandSender, serve_stdio_commands};
use super::session::OFFERED_PROTOCOL_VERSION;
use super::stdio::StdioTransport;
use crate::spec::{BackendSpec, StdioIsolation};
use crate::upstream::ClientContext;

/// How long `close_all` waits for each child beyond its termination grace.
const CLOSE_SLACK: Duration = Duration::from_secs(3);

/// What the request path holds for one client session's child (`Send`).
#[derive(Debug)]
pub(crate) struct SessionChild {
    /// Into the task serving this child; dropping it ends the child.
    pub commands: StdioCommandSender,
    pub pid: Option<u32>,
    /// The version the child agreed to in `initialize`.
    pub protocol_version: String,
    /// Resolves (with an error) once the child is killed and reaped.
    pub done: oneshot::Receiver<()>,
    /// What the child sends while no request of the session is in flight (its requests,
    /// logging, resource updates), taken once by the session's relay to its GET stream.
    pub server_messages: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Box<RawValue>>>>,
}

pub(crate) type OpenReply = oneshot::Sender<Result<SessionChild, BackendError>>;

/// The live per-session children of one backend actor incarnation.
pub(crate) struct SessionChildren {
    spec: BackendSpec,
    log: slog::Logger,
    live: Rc<Cell<usize>>,
    tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    stop: watch::Sender<bool>,
}

/// Counts a child as live from `Open` until its task ends, however it ends.
struct LiveSlot(Rc<Cell<usize>>);

impl Drop for LiveSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl SessionChildren {
    pub fn new(spec: &BackendSpec, log: &slog::Logger) -> Self {
        SessionChildren {
            spec: spec.clone(),
            log: log.clone(),
            live: Rc::default(),
            tasks: RefCell::default(),
            stop: watch::Sender::new(false),
        }
    }

    /// Starts a child for one client session; `reply` gets it once initialized, or why not.
    /// Must run on the backend thread (the child's tasks are local).
    pub fn open(&self, context: ClientContext, reply: OpenReply) {
        let StdioIsolation::PerSession { max_processes } = self.spec.isolation else {
            let _ = reply.send(Err(BackendError::Protocol(
                "this backend shares one child; it has no per-session children".into(),
            )));
            return;
        };
        if *self.stop.borrow() {
            let _ = reply.send(Err(BackendError::NotConnected));
            return;
        }
        if self.live.get() >= max_processes {
            slog::warn!(self.log, "Refused a per-session child: the limit is reached.";
                "max_processes" => max_processes);
            let _ = reply.send(Err(BackendError::ProcessLimit(max_processes)));
            return;
        }
        self.live.set(self.live.get() + 1);
        let slot = LiveSlot(self.live.clone());
        let task = tokio::task::spawn_local(run_child(
            self.spec.clone(),
            self.log.clone(),
            context,
            reply,
            self.stop.subscribe(),
            slot,
        ));
        let mut tasks = self.tasks.borrow_mut();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Kills and reaps every child (backend stopping); bounded per child.
    pub async fn close_all(&self) {
        self.stop.send_replace(true);
        let tasks: Vec<_> = self.tasks.borrow_mut().drain(..).collect();
        let bound = grace(&self.spec) + CLOSE_SLACK;
        let waits = tasks.into_iter().map(|mut task| async move {
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                // Aborting drops the transport, whose process group is then SIGKILLed.
                task.abort();
            }
        });
        futures_util::future::join_all(waits).await;
    }
}

impl Drop for SessionChildren {
    fn drop(&mut self) {
        // The panic path (no close_all): dropping each task's transport kills its group.
        for task in self.tasks.borrow().iter() {
            task.abort();
        }
    }
}

fn grace(spec: &BackendSpec) -> Duration {
    spec.timeout.min(Duration::from_secs(2))
}

async fn run_child(
    spec: BackendSpec,
    log: slog::Logger,
    context: ClientContext,
    reply: OpenReply,
    mut stop: watch::Receiver<bool>,
    _slot: LiveSlot,
) {
    let (done, done_rx) = oneshot::channel::<()>();
    // Per-session children's lists are not cached: the backend actor's own child serves them.
    let lists_changed = Rc::new(Notify::new());
    let (sink, server_messages) = mpsc::unbounded_channel();
    let spawned = StdioTransport::spawn(
        &spec.transport,
        spec.timeout,
        &log,
        lists_changed,
        Some(sink),
    );
    let transport = match spawned {
        Ok(transport) => transport,
        Err(error) => {
            let _ = reply.send(Err(error));
            return;
        }
    };
    let pid = transport.pid();
    let log = log.new(slog::o!("pid" => pid.unwrap_or(0)));
    let initialized = tokio::select! {
        biased;
        _ = stop.wait_for(|stop| *stop) => Err(BackendError::NotConnected),
        error = transport.closed() => Err(error),
        result = initialize(&transport, &context) => result,
    };
    let protocol_version = match initialized {
        Ok(version) => version,
        Err(error) => {
            transport.close(grace(&spec)).await;
            let _ = reply.send(Err(error));
            return;
        }
    };
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let child = SessionChild {
        commands,
        pid,
        protocol_version,
        done: done_rx,
        server_messages: std::sync::Mutex::new(Some(server_messages)),
    };
    if reply.send(Ok(child)).is_err() {
        // The opener gave up (timeout, client gone): nobody will ever use this child.
        transport.close(grace(&spec)).await;
        return;
    }
    slog::debug!(log, "Started a per-session child.");
    let link = CurrentLink::default();
    link.set(Some(transport.link()));
    tokio::select! {
        () = serve_stdio_commands(commands_rx, &link, None) => {
            slog::debug!(log, "Client session ended; stopping its child.");
        }
        error = transport.closed() => {
            slog::info!(log, "A per-session child exited; its session reopens one on its next request."; "error" => %error);
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    link.set(None);
    transport.close(grace(&spec)).await;
    drop(done);
}

/// `initialize` with the client's version (if this gateway supports it), capabilities and
/// `clientInfo`, then `notifications/initialized`. Returns the version the child agreed to.
async fn initialize(
    transport: &StdioTransport,
    context: &ClientContext,
) -> Result<String, BackendError> {
    let offered = if SUPPORTED_PROTOCOL_VERSIONS.contains(&context.protocol_version.as_str()) {
        context.protocol_version.as_str()
    } else {
        OFFERED_PROTOCOL_VERSION
    };
    let params = format!(
        r#"{{"protocolVersion":{},"capabilities":{},"clientInfo":{}}}"#,
        serde_json::to_string(offered).unwrap_or_default(),
        context.capabilities.get(),
        context.client_info.get()
    );
    let params =
        RawValue::from_string(params).map_err(|e| BackendError::Protocol(e.to_string()))?;
    let result = transport
        .request("initialize", Some(&params))
        .await?
        .into_result()?;
    let init: InitializeResult = serde_json::from_str(result.get()).map_err(|_| {
        BackendError::Protocol("the initialize result has no protocolVersion".into())
    })?;
    if !SUPPORTED_PROTOCOL_VERSIONS.contains(&init.protocol_version.as_str()) {
        let mut offered = init.protocol_version;
        offered.truncate(40);
        return Err(BackendError::UnsupportedVersion(offered));
    }
    transport.notify("notifications/initialized", None).await?;
    Ok(init.protocol_version)
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
}
