//! MCP over a child process's stdin/stdout (newline-delimited JSON-RPC).
//!
//! The child runs in its own process group so that stopping the backend kills everything it
//! started (npx, uvx and shell wrappers spawn grandchildren). A reader task routes responses to
//! waiting requests by id (the actor's own and those forwarded for clients, see [`StdioLink`]),
//! routes progress to the request that asked for it, signals `list_changed` notifications, and
//! debug-logs non-JSON lines some servers print. stderr lines go to the log at debug.
//!
//! What else the child sends (its own requests: sampling, elicitation, roots, ping; logging and
//! resource notifications) depends on who it serves:
//! - a per-session child ([`ServerSink`] given) serves one client: it goes to that client, on the
//!   answer stream of the newest request in flight, else on the session's server-message sink
//!   (relayed to the client's GET stream);
//! - the shared child serves every client and cannot tell whose call a request belongs to: it
//!   answers them itself (`ping`: `{}`, `roots/list`: no roots, anything else: -32601) and drops
//!   notifications. It declares only `roots` at initialize (see `backend::capabilities`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, oneshot};

use super::capabilities::is_list_changed;
use super::error::BackendError;
use super::jsonrpc::{Envelope, Response, answer_server_request};
use crate::spec::BackendTransport;

/// Who waits for which response id; a waiter gets the response or why it never comes.
pub(crate) type Waiter = oneshot::Sender<Result<Response, BackendError>>;
type Pending = Rc<RefCell<HashMap<u64, Waiter>>>;

/// Where the messages the child sends while a forwarded request runs go: the request path's
/// channel for that request's answer stream (progress; on a per-session child also the child's
/// own requests and notifications).
pub(crate) type ProgressSender = tokio::sync::mpsc::UnboundedSender<Box<RawValue>>;
/// The (rewritten, gateway-unique) progress token's raw JSON → the forwarded request's id.
type Progress = Rc<RefCell<HashMap<String, u64>>>;
/// A forwarded request's id → its answer stream's channel, while it runs.
type Answers = Rc<RefCell<HashMap<u64, ProgressSender>>>;
/// A per-session child's messages that no request in flight can carry (the client session's
/// server messages, relayed to its GET stream).
pub(crate) type ServerSink = tokio::sync::mpsc::UnboundedSender<Box<RawValue>>;
type SharedStdin = Rc<tokio::sync::Mutex<Option<ChildStdin>>>;

/// The child process and its group. Dropping it kills the group (the panic path); `terminate`
/// is the orderly path that also reaps the child.
pub(crate) struct ChildGroup {
    child: Child,
    pgid: Option<Pid>,
}

impl ChildGroup {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH only means the group is already gone.
            let _ = killpg(pgid, signal);
        }
    }

    /// SIGTERM to the group, wait up to `grace`, then SIGKILL the group and reap the child.
    pub async fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.signal_group(Signal::SIGTERM);
        let exited = tokio::time::timeout(grace, self.child.wait()).await;
        // Grandchildren may ignore SIGTERM or outlive the leader. The group id cannot have been
        // reused this quickly, so killing it once more is safe.
        self.signal_group(Signal::SIGKILL);
        let status = match exited {
            Ok(status) => status.ok(),
            Err(_) => self.child.wait().await.ok(),
        };
        self.pgid = None;
        status
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.signal_group(Signal::SIGKILL);
        // tokio's kill_on_drop + orphan queue reaps the leader.
    }
}

/// A running stdio backend.
pub(crate) struct StdioTransport {
    stdin: SharedStdin,
    pending: Pending,
    progress: Progress,
    answers: Answers,
    closed: Rc<Closed>,
    group: RefCell<Option<ChildGroup>>,
    /// How the process ended, worked out once: the request that saw stdout close and the
    /// `closed` watcher may both ask, and both must get the same answer (the exit code).
    exit_detail: tokio::sync::OnceCell<String>,
    timeout: Duration,
    next_id: Cell<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Set once stdout reaches EOF (the process exited or closed its output).
#[derive(Default)]
pub(crate) struct Closed {
    flag: Cell<bool>,
    notify: Notify,
}

impl Closed {
    fn mark(&self) {
        self.flag.set(true);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        while !self.flag.get() {
            let notified = self.notify.notified();
            if self.flag.get() {
                break;
            }
            notified.await;
        }
    }
}

impl StdioTransport {
    /// Spawns the configured command. Must run inside a `LocalSet` (reader tasks are local).
    /// `sink`: this child serves one client session (per-session isolation), so what it sends
    /// on its own is relayed to that client (see the module doc); `None` for a shared child.
    pub fn spawn(
        transport: &BackendTransport,
        timeout: Duration,
        log: &slog::Logger,
        lists_changed: Rc<Notify>,
        sink: Option<ServerSink>,
    ) -> Result<Self, BackendError> {
        let BackendTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } = transport
        else {
            return Err(BackendError::Spawn("not a stdio backend".into()));
        };
        if let Some(dir) = cwd
            && !dir.is_dir()
        {
            return Err(BackendError::Spawn(format!(
                "the working directory `{}` does not exist",
                dir.display()
            )));
        }
        let mut cmd = Command::new(command);
        // The child gets a minimal inherited environment plus what its spec sets: never the
        // gateway's own secrets (JWT_SECRET_KEY, DATABASE_URL, AUTHMCP__*) nor systemd's
        // NOTIFY_SOCKET/WATCHDOG_* meant for the gateway alone.
        cmd.env_clear()
            .envs(std::env::vars_os().filter(|(key, _)| is_inherited(key)))
            .args(args)
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| spawn_error(command, &e))?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let group = ChildGroup { child, pgid };

        let pending: Pending = Rc::default();
        let progress: Progress = Rc::default();
        let answers: Answers = Rc::default();
        let closed = Rc::new(Closed::default());
        let stdin: SharedStdin = Rc::new(tokio::sync::Mutex::new(stdin));
        let mut tasks = Vec::new();
        if let Some(stdout) = stdout {
            let reader = Reader {
                stdin: stdin.clone(),
                pending: pending.clone(),
                progress: progress.clone(),
                answers: answers.clone(),
                sink,
                lists_changed,
                log: log.clone(),
            };
            tasks.push(tokio::task::spawn_local(reader.run(stdout, closed.clone())));
        } else {
            closed.mark();
        }
        if let Some(stderr) = stderr {
            let log = log.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    slog::debug!(log, "Backend wrote to stderr."; "line" => line);
                }
            }));
        }
        Ok(StdioTransport {
            stdin,
            pending,
            progress,
            answers,
            closed,
            group: RefCell::new(Some(group)),
            exit_detail: tokio::sync::OnceCell::new(),
            timeout,
            next_id: Cell::new(1),
            tasks,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.group.borrow().as_ref().and_then(ChildGroup::pid)
    }

    /// The way in for requests forwarded on behalf of clients.
    pub fn link(&self) -> StdioLink {
        StdioLink {
            stdin: self.stdin.clone(),
            pending: self.pending.clone(),
            progress: self.progress.clone(),
            answers: self.answers.clone(),
            closed: self.closed.clone(),
        }
    }

    pub async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Response, BackendError> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        let outcome = tokio::time::timeout(self.timeout, async {
            self.write(super::jsonrpc::encode(Some(id), method, params))
                .await?;
            rx.await.unwrap_or(Err(BackendError::Closed))
        })
        .await;
        self.pending.borrow_mut().remove(&id);
        match outcome {
            // The reader saw stdout close before the process was reaped: say how it ended
            // (e.g. its exit code), as `closed` would, rather than a bare "exited".
            Ok(Err(BackendError::Exited(detail))) if detail.is_empty() => {
                Err(self.exit_error().await)
            }
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(self.timeout)),
        }
    }

    pub async fn notify(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), BackendError> {
        let message = super::jsonrpc::encode(None, method, params);
        match tokio::time::timeout(self.timeout, self.write(message)).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(self.timeout)),
        }
    }

    async fn write(&self, line: Vec<u8>) -> Result<(), BackendError> {
        write_line(&self.stdin, line).await
    }

    /// Resolves once the process closed its stdout, with why it is gone.
    pub async fn closed(&self) -> BackendError {
        self.closed.wait().await;
        self.exit_error().await
    }

    async fn exit_error(&self) -> BackendError {
        let detail = self
            .exit_detail
            .get_or_init(|| async {
                let group = self.group.borrow_mut().take();
                let Some(mut group) = group else {
                    return String::new();
                };
                // stdout closed: the process is exiting; give it a moment to be reaped.
                let status = tokio::time::timeout(Duration::from_secs(3), group.child.wait()).await;
                let detail = match status {
                    Ok(Ok(status)) => describe_exit(status),
                    _ => " (it closed its output)".to_owned(),
                };
                let _ = group.terminate(Duration::ZERO).await;
                detail
            })
            .await;
        BackendError::Exited(detail.clone())
    }

    /// Closes stdin, then terminates and reaps the process group.
    pub async fn close(&self, grace: Duration) {
        self.stdin.lock().await.take();
        let group = self.group.borrow_mut().take();
        if let Some(mut group) = group {
            group.terminate(grace).await;
        }
    }
}

/// The request path's handle on a running child: writes already-rewritten messages and parks
/// their waiters in the same table the reader routes responses from.
#[derive(Clone)]
pub(crate) struct StdioLink {
    stdin: SharedStdin,
    pending: Pending,
    progress: Progress,
    answers: Answers,
    closed: Rc<Closed>,
}

impl StdioLink {
    pub fn is_closed(&self) -> bool {
        self.closed.flag.get()
    }

    /// Writes a request whose id is already gateway-unique; `reply` gets its response, and
    /// `answer` the messages sent meanwhile for its answer stream: progress for `token` (its
    /// rewritten progress token), and on a per-session child whatever else the child sends.
    pub async fn forward(
        &self,
        id: u64,
        line: Vec<u8>,
        reply: Waiter,
        token: Option<String>,
        answer: Option<ProgressSender>,
    ) {
        if self.is_closed() {
            let _ = reply.send(Err(BackendError::Closed));
            return;
        }
        self.pending.borrow_mut().insert(id, reply);
        if let Some(sender) = answer {
            self.answers.borrow_mut().insert(id, sender);
            if let Some(token) = token {
                self.progress.borrow_mut().insert(token, id);
            }
        }
        if let Err(error) = write_line(&self.stdin, line).await {
            let waiter = self.pending.borrow_mut().remove(&id);
            if let Some(waiter) = waiter {
                let _ = waiter.send(Err(error));
            }
        }
    }

    pub async fn notify(&self, line: Vec<u8>) -> Result<(), BackendError> {
        write_line(&self.stdin, line).await
    }

    /// The caller gave up on `id` (timeout or went away): drop its waiter and tell the child.
    pub async fn forget(&self, id: u64) {
        self.progress
            .borrow_mut()
            .retain(|_, request| *request != id);
        self.answers.borrow_mut().remove(&id);
        if self.pending.borrow_mut().remove(&id).is_some() && !self.is_closed() {
            let cancel = format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"The gateway's client gave up on the request."}}}}"#
            );
            let _ = write_line(&self.stdin, cancel.into_bytes()).await;
        }
    }
}

impl Drop for StdioTransport {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Writes one message; the lock keeps concurrent messages from interleaving.
async fn write_line(stdin: &SharedStdin, mut line: Vec<u8>) -> Result<(), BackendError> {
    line.push(b'\n');
    let mut stdin = stdin.lock().await;
    let Some(pipe) = stdin.as_mut() else {
        return Err(BackendError::Closed);
    };
    if pipe.write_all(&line).await.is_err() || pipe.flush().await.is_err() {
        return Err(BackendError::Closed);
    }
    Ok(())
}

/// The stdout reader's state: where each kind of message goes.
struct Reader {
    stdin: SharedStdin,
    pending: Pending,
    progress: Progress,
    answers: Answers,
    /// Set for a per-session child: what it sends on its own is relayed to its client.
    sink: Option<ServerSink>,
    lists_changed: Rc<Notify>,
    log: slog::Logger,
}

impl Reader {
    async fn run(self, stdout: ChildStdout, closed: Rc<Closed>) {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let Ok(message) = serde_json::from_slice::<Box<RawValue>>(text) else {
                slog::debug!(self.log, "Skipped a non-JSON line on the backend's stdout.";
                    "line" => String::from_utf8_lossy(text).chars().take(200).collect::<String>());
                continue;
            };
            self.route(message).await;
        }
        // Fail every waiter (the actor's own requests and forwarded ones) with the cause.
        closed.mark();
        self.progress.borrow_mut().clear();
        self.answers.borrow_mut().clear();
        let waiters: Vec<Waiter> = self.pending.borrow_mut().drain().map(|(_, w)| w).collect();
        for waiter in waiters {
            let _ = waiter.send(Err(BackendError::Exited(String::new())));
        }
    }

    async fn route(&self, message: Box<RawValue>) {
        let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(message.get()) else {
            slog::debug!(
                self.log,
                "Skipped a JSON line that is not a JSON-RPC object."
            );
            return;
        };
        if let Some(id) = envelope.response_id() {
            // No progress (nor anything else) on its answer stream after the final response.
            self.progress
                .borrow_mut()
                .retain(|_, request| *request != id);
            self.answers.borrow_mut().remove(&id);
            let waiter = self.pending.borrow_mut().remove(&id);
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(Ok(Response(message)));
                }
                None => slog::debug!(self.log, "Dropped a response nobody waits for."; "id" => id),
            }
            return;
        }
        let method = envelope.method.clone().unwrap_or_default();
        let request_id = envelope.id.map(|id| id.get().to_owned());
        if method == "notifications/progress"
            && let Some(token) = progress_token(envelope.params)
            && let Some(request) = self.progress.borrow().get(token.get())
            && let Some(sender) = self.answers.borrow().get(request)
        {
            let _ = sender.send(message);
            return;
        }
        if is_list_changed(&method) {
            self.lists_changed.notify_one();
        }
        slog::debug!(self.log, "Received a backend message."; "method" => &method);
        if let Some(sink) = &self.sink {
            // One client: the newest request's answer stream carries it (forwarded ids only
            // grow), else the session's GET stream.
            let answers = self.answers.borrow();
            let newest = answers.keys().max().and_then(|id| answers.get(id));
            let relayed = match newest {
                Some(sender) => sender.send(message).is_ok(),
                None => sink.send(message).is_ok(),
            };
            if relayed {
                return;
            }
        }
        if let Some(id) = request_id.and_then(|id| RawValue::from_string(id).ok()) {
            let _ = write_line(&self.stdin, answer_server_request(&id, &method)).await;
        }
    }
}

fn spawn_error(command: &str, error: &std::io::Error) -> BackendError {
    BackendError::Spawn(match error.kind() {
        std::io::ErrorKind::NotFound => {
            format!("command `{command}` was not found (check the path or PATH)")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("command `{command}` is not executable (permission denied)")
        }
        _ => format!("could not start command `{command}`: {error}"),
    })
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!(" with code {code}"),
        (None, Some(signal)) => format!(" after signal {signal}"),
        _ => String::new(),
    }
}

/// Variables a stdio backend inherits from the gateway: what tools like npx, uvx and Python need
/// to find themselves, their caches and the locale. Anything else must be set in the spec's `env`.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
];

fn is_inherited(key: &std::ffi::OsStr) -> bool {
    key.to_str()
        .is_some_and(|k| INHERITED_ENV.contains(&k) || k.starts_with("LC_"))
}

/// `params.progressToken` of a progress notification, raw.
fn progress_token(params: Option<&RawValue>) -> Option<&RawValue> {
    crate::mcp::json::member(params?, "progressToken")
}
