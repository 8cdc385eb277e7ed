//! Real MCP peers for tests: the rmcp fixture server (examples/mcp_fixture_server.rs) over HTTP
//! or stdio, plus helpers that wait on the gateway's status changes instead of sleeping.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actors::backend::BackendStatus;
use actors::spec::{BackendSpec, BackendTransport};
use actors::supervisor::GatewayHandle;

/// Overall deadline for any awaited condition: generous, because the machine is shared.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Starts an example server with `args` then `extra`, holding its stdin (it exits when stdin
/// closes), and waits for the `LISTENING <port>` line it prints once bound.
pub fn spawn_listening(binary: &std::path::Path, args: &[&str], extra: &[&str]) -> (Child, u16) {
    let mut child = Command::new(binary)
        .args(args)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("the server prints its port");
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from {}: {line:?}", binary.display()));
    (child, port)
}

/// `cargo test` builds examples next to the test binary's parent directory.
pub fn fixture_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let binary = dir.join("examples").join("mcp_fixture_server");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build --examples` (scripts/test does)",
        binary.display()
    );
    binary
}

/// An HTTP fixture server; killed (and reaped) on drop.
pub struct HttpFixture {
    child: Option<Child>,
    pub port: u16,
}

impl HttpFixture {
    pub fn start(tools: usize) -> Self {
        Self::start_on(0, tools)
    }

    /// Starts on a given port (0 = any) and waits for its `LISTENING <port>` line.
    pub fn start_on(port: u16, tools: usize) -> Self {
        Self::start_with(port, tools, &[])
    }

    /// As `start_on`, with extra fixture flags (`--rich`, `--json-response`, …).
    pub fn start_with(port: u16, tools: usize, extra: &[&str]) -> Self {
        let args = [
            "http",
            "--port",
            &port.to_string(),
            "--tools",
            &tools.to_string(),
        ];
        let (child, port) = spawn_listening(&fixture_binary(), &args, extra);
        HttpFixture {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/mcp", self.port)).expect("valid url")
    }

    pub fn spec(&self, name: &str) -> BackendSpec {
        http_spec(name, self.url())
    }

    /// Kills the server and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for HttpFixture {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spec(name: &str, transport: BackendTransport) -> BackendSpec {
    BackendSpec {
        name: name.to_owned(),
        transport,
        tool_prefix: format!("{name}_"),
        enabled: true,
        timeout: Duration::from_secs(5),
        health_interval: Duration::from_millis(200),
        auth: None,
        headers: Default::default(),
        isolation: Default::default(),
        origin: Default::default(),
    }
}

pub fn http_spec(name: &str, url: url::Url) -> BackendSpec {
    spec(name, BackendTransport::StreamableHttp { url })
}

pub fn command_spec(name: &str, command: &str, args: &[&str]) -> BackendSpec {
    spec(
        name,
        BackendTransport::Stdio {
            command: command.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: BTreeMap::new(),
            cwd: None,
        },
    )
}

/// A stdio backend running the fixture with `tools` tools (paged, with a non-JSON banner).
pub fn stdio_spec(name: &str, tools: usize) -> BackendSpec {
    let binary = fixture_binary();
    let tools = tools.to_string();
    command_spec(
        name,
        binary.to_str().expect("utf-8 path"),
        &["stdio", "--tools", &tools, "--page-size", "2", "--banner"],
    )
}

/// Logs to stderr when `TEST_LOG` is set, otherwise nowhere.
pub fn test_logger() -> slog::Logger {
    use slog::Drain;
    if std::env::var_os("TEST_LOG").is_some() {
        let decorator = slog_term::PlainSyncDecorator::new(std::io::stderr());
        let drain = slog_term::FullFormat::new(decorator).build().fuse();
        slog::Logger::root(drain, slog::o!())
    } else {
        slog::Logger::root(slog::Discard, slog::o!())
    }
}

/// Waits (on status-change notifications) until `condition` holds; panics after [`DEADLINE`].
pub async fn wait_for(
    gateway: &GatewayHandle,
    what: &str,
    condition: impl Fn(&[BackendStatus]) -> bool,
) -> Vec<BackendStatus> {
    let mut changes = gateway.subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let statuses = gateway.statuses();
        if condition(&statuses) {
            return statuses;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("status channel closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; statuses: {statuses:#?}"),
        }
    }
}

pub fn status<'a>(statuses: &'a [BackendStatus], name: &str) -> Option<&'a BackendStatus> {
    statuses.iter().find(|s| s.name == name)
}

/// Whether a process (or zombie) with this pid still exists.
pub fn process_exists(pid: u32) -> bool {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
    nix::sys::signal::kill(pid, None).is_ok()
}

/// Whether any process is left in the process group led by `pgid`.
pub fn process_group_exists(pgid: u32) -> bool {
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(pgid).expect("pid fits i32"));
    nix::sys::signal::killpg(pgid, None).is_ok()
}

/// Polls (no event exists for "a process was reaped") until `pid` is gone.
pub async fn wait_process_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while process_exists(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback port that refuses connections for the whole test run: a socket bound to it but
/// never listening keeps any other test from taking it (a port merely found free and released
/// could be reused by a parallel test's server in between).
pub fn closed_port() -> u16 {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket,
    };
    static RESERVED: std::sync::OnceLock<(std::os::fd::OwnedFd, u16)> = std::sync::OnceLock::new();
    RESERVED
        .get_or_init(|| {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .expect("socket");
            bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &SockaddrIn::new(127, 0, 0, 1, 0),
            )
            .expect("bind");
            let port = getsockname::<SockaddrIn>(std::os::fd::AsRawFd::as_raw_fd(&fd))
                .expect("getsockname")
                .port();
            (fd, port)
        })
        .1
}

/// A gateway in front of HTTP fixtures, each `(name, tool prefix, fixture)`, once all are online.
pub async fn gateway_in_front_of(
    backends: &[(&str, &str, &HttpFixture)],
) -> crate::harness::TestGateway {
    let config: String = backends
        .iter()
        .map(|(name, prefix, fixture)| {
            format!(
                "[[backends]]\nname = \"{name}\"\nurl = \"{}\"\ntool_prefix = \"{prefix}\"\n",
                fixture.url()
            )
        })
        .collect();
    let gw = crate::harness::TestGateway::start(&config).await;
    gw.wait_online(backends.len()).await;
    gw
}
