//! Tests against real datagram sockets, bound where systemd would bind them.

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use super::*;

/// A socket standing in for systemd's, with a generous deadline on every receive.
fn listener_at(addr: &SocketAddr) -> UnixDatagram {
    let socket = UnixDatagram::bind_addr(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let len = socket
        .recv(&mut buf)
        .expect("a notification within the deadline");
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

#[test]
fn sends_each_state_to_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let listener = listener_at(&SocketAddr::from_pathname(&path).unwrap());
    let notifier = Notifier::connect(path.as_os_str()).unwrap();

    notifier.ready();
    assert_eq!(receive(&listener), "READY=1");
    notifier.stopping();
    assert_eq!(receive(&listener), "STOPPING=1");
    notifier.watchdog();
    assert_eq!(receive(&listener), "WATCHDOG=1");
    notifier.status("Serving 3 backends\nREADY=1");
    assert_eq!(receive(&listener), "STATUS=Serving 3 backends READY=1");
    notifier.notify("EXTEND_TIMEOUT_USEC=5000000").unwrap();
    assert_eq!(receive(&listener), "EXTEND_TIMEOUT_USEC=5000000");
}

#[test]
fn reloading_carries_the_current_monotonic_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let listener = listener_at(&SocketAddr::from_pathname(&path).unwrap());
    let notifier = Notifier::connect(path.as_os_str()).unwrap();

    let before = monotonic_usec().unwrap();
    notifier.reloading();
    let after = monotonic_usec().unwrap();
    let message = receive(&listener);
    let (first, second) = message.split_once('\n').unwrap();
    assert_eq!(first, "RELOADING=1");
    let usec: u64 = second
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        before <= usec && usec <= after,
        "{before} <= {usec} <= {after}"
    );
}

#[test]
fn sends_to_an_abstract_socket() {
    let name = format!(
        "authmcp-gateway-test-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    );
    let listener = listener_at(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap());
    let notifier = Notifier::connect(OsStr::new(&format!("@{name}"))).unwrap();
    notifier.ready();
    assert_eq!(receive(&listener), "READY=1");
}

#[test]
fn clones_share_the_socket_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let listener = listener_at(&SocketAddr::from_pathname(&path).unwrap());
    let notifier = Notifier::connect(path.as_os_str()).unwrap();
    let clone = notifier.clone();
    std::thread::spawn(move || clone.watchdog()).join().unwrap();
    assert_eq!(receive(&listener), "WATCHDOG=1");
}

#[test]
fn unsupported_socket_values_are_refused() {
    for value in ["relative/notify.sock", "vsock:2:1234", "x"] {
        let error = Notifier::connect(OsStr::new(value)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{value}");
    }
    let too_long = format!("/{}", "a".repeat(200));
    assert!(Notifier::connect(OsStr::from_bytes(too_long.as_bytes())).is_err());
}

#[test]
fn a_missing_listener_is_an_error_for_notify_and_silent_for_the_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let notifier = Notifier::connect(dir.path().join("gone.sock").as_os_str()).unwrap();
    assert!(notifier.notify("READY=1").is_err());
    notifier.ready();
    notifier.reloading();
    notifier.stopping();
    notifier.watchdog();
    notifier.status("still running");
}

#[test]
fn watchdog_interval_is_half_of_watchdog_usec_for_this_process() {
    let me = 4242;
    assert_eq!(
        watchdog_interval_from(Some("30000000"), None, me),
        Some(Duration::from_secs(15))
    );
    assert_eq!(
        watchdog_interval_from(Some("30000000"), Some("4242"), me),
        Some(Duration::from_secs(15))
    );
    assert_eq!(
        watchdog_interval_from(Some("30000000"), Some("1"), me),
        None
    );
    assert_eq!(
        watchdog_interval_from(Some("30000000"), Some("pid"), me),
        None
    );
    assert_eq!(watchdog_interval_from(None, Some("4242"), me), None);
    assert_eq!(watchdog_interval_from(Some("0"), None, me), None);
    assert_eq!(watchdog_interval_from(Some("-5"), None, me), None);
    assert_eq!(watchdog_interval_from(Some("soon"), None, me), None);
    assert_eq!(watchdog_interval_from(Some(""), None, me), None);
}

#[tokio::test]
async fn run_watchdog_pings_repeatedly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let listener = listener_at(&SocketAddr::from_pathname(&path).unwrap());
    let notifier = Notifier::connect(path.as_os_str()).unwrap();
    let task = tokio::spawn(run_watchdog(notifier, Duration::from_millis(5)));
    let received =
        tokio::task::spawn_blocking(move || (0..3).map(|_| receive(&listener)).collect::<Vec<_>>())
            .await
            .unwrap();
    task.abort();
    assert_eq!(received, ["WATCHDOG=1"; 3]);
}
