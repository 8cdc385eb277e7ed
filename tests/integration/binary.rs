//! Tests against the real binary: first start, restart, check-config, SIGHUP, SIGTERM, sd_notify.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::daemon::{Daemon, command};
use crate::fixture::fixture_binary as fixture_server;

fn stdio_backend(name: &str, tools: u32) -> String {
    format!(
        "[[backends]]\nname = {name:?}\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"{tools}\"]\n",
        fixture_server().display()
    )
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// `create-admin` through the CLI, password on stdin, against the same config/data dir.
pub(crate) fn create_admin(dir: &Path, config: &Path, username: &str) {
    let data = dir.join("data");
    // Each account needs its own address.
    let email = format!("{username}@example.test");
    let mut child = command(
        dir,
        &[
            "create-admin",
            "--username",
            username,
            "--email",
            &email,
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Admin-Passw0rd!\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "create-admin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A blocking HTTP/1.1 exchange on a raw socket (lets a test hold a request half-sent).
pub(crate) fn http(base: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

pub(crate) fn login(base: &str, username: &str) -> String {
    let body = format!("{{\"username\":\"{username}\",\"password\":\"Admin-Passw0rd!\"}}");
    let reply = http(
        base,
        &format!(
            "POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let json = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|_| panic!("login: {reply}"));
    value["access_token"].as_str().unwrap().to_string()
}

fn ready(base: &str, token: &str) -> serde_json::Value {
    let reply = http(
        base,
        &format!(
            "GET /health/ready HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap_or_default()
}

fn server_names(ready: &serde_json::Value) -> Vec<String> {
    ready["servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn first_start_creates_database_and_secret_and_restart_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "[auth]\nbcrypt_cost = 4\n");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let data = dir.path().join("data");
    let secret = std::fs::read_to_string(data.join("jwt-secret")).unwrap();
    assert!(secret.len() >= 64);
    assert!(data.join("authmcp.db").exists());
    let token = std::fs::read_to_string(data.join("setup-token")).unwrap();
    assert!(
        daemon.stderr().contains(&format!("/setup?token={token}")),
        "setup URL not printed"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
    // The token went to the terminal only, never into the log files.
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            text.contains("Gateway ready"),
            "log file has no startup line"
        );
        assert!(
            !text.contains(&token),
            "setup token leaked into the log file"
        );
    }

    create_admin(dir.path(), &config, "root");
    let mut again = Daemon::start(dir.path(), &config, &[]);
    assert_eq!(
        std::fs::read_to_string(data.join("jwt-secret")).unwrap(),
        secret
    );
    assert!(
        !data.join("setup-token").exists(),
        "setup token must go once an admin exists"
    );
    // The admin created while stopped can log in: same database.
    assert!(!login(&again.base_url, "root").is_empty());
    again.signal(Signal::SIGTERM);
    assert!(again.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn check_config_reports_every_error_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    write(
        &config,
        "[server]\nprot = 1\n[[backends]]\nname = \"a\"\nurl = \"ftp://x\"\n[[backends]]\nname = \"a\"\ntransport = \"stdio\"\n",
    );
    let out = command(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["prot", "ftp", "duplicate", "command"] {
        assert!(
            stderr.to_lowercase().contains(needle),
            "`{needle}` missing from:\n{stderr}"
        );
    }
    let good = dir.path().join("good.toml");
    write(&good, "");
    let out = command(
        dir.path(),
        &["check-config", "--config", good.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sighup_applies_backend_changes_and_refuses_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let base = "[auth]\nbcrypt_cost = 4\n";
    write(&config, &format!("{base}{}", stdio_backend("alpha", 2)));
    create_admin(dir.path(), &config, "ops");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let token = login(&daemon.base_url, "ops");
    assert_eq!(server_names(&ready(&daemon.base_url, &token)), ["alpha"]);

    // Replace alpha with beta: beta started, alpha stopped.
    write(&config, &format!("{base}{}", stdio_backend("beta", 3)));
    daemon.signal(Signal::SIGHUP);
    let reloading = daemon.wait_message(|m| m.contains("RELOADING=1"), Duration::from_secs(30));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    daemon.wait_message(|m| m.contains("READY=1"), Duration::from_secs(30));
    assert_eq!(server_names(&ready(&daemon.base_url, &token)), ["beta"]);

    // An invalid file is refused and the running config stays.
    write(&config, "[server]\nprot = 1\n");
    daemon.signal(Signal::SIGHUP);
    daemon.wait_message(|m| m.contains("RELOADING=1"), Duration::from_secs(30));
    daemon.wait_message(|m| m.contains("READY=1"), Duration::from_secs(30));
    assert_eq!(server_names(&ready(&daemon.base_url, &token)), ["beta"]);

    daemon.signal(Signal::SIGTERM);
    daemon.wait_message(|m| m.contains("STOPPING=1"), Duration::from_secs(30));
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
    // Logs are written asynchronously; after exit they are flushed.
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("Reload refused"),
        "no log line for the refused reload:\n{stderr}"
    );
    assert!(
        stderr.contains("server.prot"),
        "the bad key is not named:\n{stderr}"
    );
}

#[test]
fn sigterm_drains_an_in_flight_request_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "[auth]\nbcrypt_cost = 4\n");
    create_admin(dir.path(), &config, "drainer");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let mut stream = TcpStream::connect(daemon.base_url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // `Expect: 100-continue` makes the server say when it has parsed the request head: from then
    // on the request is in flight, and its body is still to come when SIGTERM lands.
    let body = "{\"username\":\"drainer\",\"password\":\"Admin-Passw0rd!\"}";
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nHost: t\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"),
        "no 100 Continue"
    );
    daemon.signal(Signal::SIGTERM);
    daemon.wait_message(|m| m.contains("STOPPING=1"), Duration::from_secs(30));
    stream.write_all(body.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "in-flight request was not drained: {reply}"
    );
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn watchdog_pings_at_half_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "");
    let mut daemon = Daemon::start(dir.path(), &config, &[("WATCHDOG_USEC", "400000")]);
    daemon.wait_message(|m| m.contains("WATCHDOG=1"), Duration::from_secs(30));
    daemon.signal(Signal::SIGINT);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = dir.path().join("data");
    let out = command(
        dir.path(),
        &[
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = command(
        dir.path(),
        &["init-db", "--data-dir", data.to_str().unwrap()],
    )
    .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("postgres"), "{stderr}");
    assert!(!stderr.contains("multiconnection"), "{stderr}");
}

/// The status code of a raw HTTP reply.
pub(crate) fn status_of(reply: &str) -> u16 {
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn cli_user_commands_act_on_a_running_gateway_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "[auth]\nbcrypt_cost = 4\n");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let data = dir.path().join("data");
    let sources = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];

    // Created while the gateway runs, usable immediately.
    create_admin(dir.path(), &config, "live");
    let token = login(&daemon.base_url, "live");
    let ready_reply = ready(&daemon.base_url, &token);
    assert!(
        ready_reply["servers"].is_array(),
        "fresh admin token not accepted: {ready_reply}"
    );
    let list = command(dir.path(), &[&["user", "list"][..], &sources[..]].concat())
        .output()
        .unwrap();
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("live"));

    // A second admin, so the first can be disabled; then its token stops working.
    create_admin(dir.path(), &config, "spare");
    let out = command(
        dir.path(),
        &[&["user", "disable", "live"][..], &sources[..]].concat(),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = format!(
        "GET /anything HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status_of(&http(&daemon.base_url, &probe)) != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "disabled user's token still works"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing = command(
        dir.path(),
        &[&["user", "enable", "nobody"][..], &sources[..]].concat(),
    )
    .output()
    .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nobody"));

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn healthcheck_and_request_ids_in_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    write(&config, "");
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let health_url = format!("{}/health", daemon.base_url);
    let ok = command(dir.path(), &["healthcheck", "--url", &health_url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let reply = http(
        &daemon.base_url,
        "GET /not-public HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 401);
    let request_id = reply
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("X-Request-Id header")
        .trim()
        .to_string();
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
    let log = std::fs::read_to_string(dir.path().join("data/logs/gateway.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(&request_id))
        .expect("request id missing from the log file");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["path"], "/not-public");
    assert_eq!(record["status"], 401);

    // Nothing answers any more: exit 1 with a readable reason.
    let down = command(
        dir.path(),
        &["healthcheck", "--url", &health_url, "--timeout", "2"],
    )
    .output()
    .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("no gateway answers"));
}

/// Backend secrets never reach the log file or the terminal, even at debug level and while
/// the backends fail (the paths that log errors); `secrets rotate-key` runs as a CLI command.
#[test]
fn backend_secrets_never_reach_the_logs_and_the_key_rotates_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::fixture::closed_port();
    let token_file = dir.path().join("bearer.token");
    write(&token_file, "file-token-3f9a71\n");
    let config = dir.path().join("gw.toml");
    write(
        &config,
        &format!(
            r#"[logging]
level = "debug"

[[backends]]
name = "static"
url = "http://127.0.0.1:{closed}/mcp"
auth_token_file = {token_file:?}
headers = {{ "X-Api-Key" = "header-secret-5d2c" }}

[[backends]]
name = "oauth"
url = "http://127.0.0.1:{closed}/mcp"
auth_type = "oauth_client_credentials"
token_url = "http://127.0.0.1:{closed}/token"
client_id = "gateway"
client_secret_env = "OAUTH_SECRET"
"#
        ),
    );
    let mut daemon = Daemon::start(
        dir.path(),
        &config,
        &[("OAUTH_SECRET", "client-secret-8e04b6")],
    );
    let log_path = dir.path().join("data/logs/gateway.log");
    // Wait (bounded) until the token loop has failed and said so: the error path is logged.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("cannot obtain a backend access token")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no token failure logged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
    let logs = [
        std::fs::read_to_string(&log_path).unwrap(),
        std::fs::read_to_string(&daemon.stderr_path).unwrap(),
    ];
    for text in &logs {
        for secret in [
            "file-token-3f9a71",
            "header-secret-5d2c",
            "client-secret-8e04b6",
        ] {
            assert!(!text.contains(secret), "{secret} logged:\n{text}");
        }
    }

    let data = dir.path().join("data");
    let key_before = std::fs::read_to_string(data.join("secret-key")).unwrap();
    let out = command(
        dir.path(),
        &[
            "secrets",
            "rotate-key",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
    .env("OAUTH_SECRET", "client-secret-8e04b6")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(data.join("secret-key.old")).unwrap(),
        key_before
    );
    assert_ne!(
        std::fs::read_to_string(data.join("secret-key")).unwrap(),
        key_before
    );
}
