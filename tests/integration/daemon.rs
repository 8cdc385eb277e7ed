//! The real `authmcp-gateway` binary as a child process, watched through the sd_notify protocol:
//! the test binds the datagram socket systemd would, passes it as NOTIFY_SOCKET, and waits on the
//! daemon's messages (READY=1 carries the listen address in STATUS) instead of sleeping.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_authmcp-gateway");

pub struct Daemon {
    pub child: Child,
    pub notify: UnixDatagram,
    pub base_url: String,
    pub stderr_path: PathBuf,
    /// Every sd_notify datagram received so far, in order.
    pub messages: Vec<String>,
}

/// `authmcp-gateway <args…>` with its stderr captured into `<dir>/stderr.log`.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

impl Daemon {
    /// Starts `start --config <config> --data-dir <data> --host 127.0.0.1 --port 0` and waits for READY=1.
    pub fn start(dir: &Path, config: &Path, extra_env: &[(&str, &str)]) -> Daemon {
        let socket_path = dir.join(format!("notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket_path);
        let notify = UnixDatagram::bind(&socket_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let data_dir = dir.join("data");
        let mut cmd = command(
            dir,
            &[
                "start",
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
        );
        cmd.env("NOTIFY_SOCKET", &socket_path)
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let mut daemon = Daemon {
            child,
            notify,
            base_url: String::new(),
            stderr_path,
            messages: Vec::new(),
        };
        let ready = daemon.wait_message(|m| m.contains("READY=1"), Duration::from_secs(60));
        let address = ready
            .lines()
            .find_map(|l| l.strip_prefix("STATUS=Serving on "))
            .unwrap_or_else(|| panic!("READY=1 without the listen address: {ready:?}"));
        daemon.base_url = format!("http://{address}");
        daemon
    }

    /// Waits for the next datagram matching `pred` (earlier ones are kept in `messages`).
    pub fn wait_message(&mut self, pred: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    let message = String::from_utf8_lossy(&buf[..n]).to_string();
                    self.messages.push(message.clone());
                    if pred(&message) {
                        return message;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) while waiting; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no matching sd_notify message; got {:?}\nstderr:\n{}",
                self.messages,
                self.stderr()
            );
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits for the process to exit (bounded) and returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
