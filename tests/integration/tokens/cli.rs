//! The CLI in another process acting on a running gateway (the real binary, both databases):
//! `user set-password` and `user disable` sign the user's sessions out, `token create|revoke`
//! open and close an API token — each noticed by the gateway's refresher, waited for by polling
//! with a bound (no fixed sleeps).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::PgDatabase;
use crate::binary::{create_admin, http, login, status_of};
use crate::daemon::{Daemon, command};

fn me(base: &str, token: &str) -> String {
    http(
        base,
        &format!(
            "GET /auth/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// Polls `GET /auth/me` until it answers `status` (the refresher ticks every 500 ms).
fn wait_status(base: &str, token: &str, status: u16, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = me(base, token);
        if status_of(&reply) == status {
            return reply;
        }
        assert!(Instant::now() < deadline, "{what}: still {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(dir: &Path, args: &[&str], sources: &[&str]) -> std::process::Output {
    let out = command(dir, &[args, sources].concat()).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cli_changes_reach_a_running_gateway(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let db = database
        .map(|url| format!("[database]\nurl = {url:?}\n"))
        .unwrap_or_default();
    std::fs::write(&config, format!("{db}[auth]\nbcrypt_cost = 4\n")).unwrap();
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let data = dir.path().join("data");
    let sources = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    create_admin(dir.path(), &config, "root");
    create_admin(dir.path(), &config, "alice");
    let root = login(&daemon.base_url, "root");
    let alice = login(&daemon.base_url, "alice");
    let base = daemon.base_url.clone();
    assert_eq!(status_of(&me(&base, &root)), 200);

    // A password change signs every session out, even in the gateway's process.
    let out = run(
        dir.path(),
        &[
            "user",
            "set-password",
            "root",
            "--password",
            "New-Passw0rd!x",
        ],
        &sources,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 session(s) signed out"));
    let refused = wait_status(&base, &root, 401, "token after set-password");
    assert!(refused.contains("revoked"), "{refused}");

    // Disabling too; enabling again does not bring the old session back.
    run(dir.path(), &["user", "disable", "alice"], &sources);
    wait_status(&base, &alice, 401, "token after disable");
    run(dir.path(), &["user", "enable", "alice"], &sources);
    let deadline = Instant::now() + Duration::from_secs(15);
    // Wait until the enable is seen (a fresh login works), then check the old token.
    loop {
        let body = "{\"username\":\"alice\",\"password\":\"Admin-Passw0rd!\"}";
        let reply = http(
            &base,
            &format!(
                "POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        if status_of(&reply) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "enable never applied: {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        status_of(&me(&base, &alice)),
        401,
        "old session stays revoked"
    );

    // API tokens: created and revoked from the CLI.
    let out = run(
        dir.path(),
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "ci",
            "--expires-days",
            "7",
        ],
        &sources,
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        token.starts_with("amk_"),
        "stdout is the token alone: {token:?}"
    );
    let reply = wait_status(&base, &token, 200, "new API token");
    assert!(reply.contains("\"username\":\"alice\""), "{reply}");
    let list = run(dir.path(), &["token", "list"], &sources);
    let listing = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listing.contains("ci") && listing.contains("alice"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "{listing}");
    let id = listing
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    run(dir.path(), &["token", "revoke", &id], &sources);
    wait_status(&base, &token, 401, "revoked API token");
    let missing = command(
        dir.path(),
        &[&["token", "revoke", "999999"][..], &sources[..]].concat(),
    )
    .output()
    .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let unknown_user = command(
        dir.path(),
        &[
            &["token", "create", "--user", "ghost", "--name", "x"][..],
            &sources[..],
        ]
        .concat(),
    )
    .output()
    .unwrap();
    assert_eq!(unknown_user.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown_user.stderr).contains("ghost"));

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn cli_changes_reach_a_running_gateway_sqlite() {
    cli_changes_reach_a_running_gateway(None);
}

#[test]
fn cli_changes_reach_a_running_gateway_postgres() {
    let db = PgDatabase::create();
    cli_changes_reach_a_running_gateway(Some(&db.url));
}
