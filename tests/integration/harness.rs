//! `TestGateway`: the real application (`app::run`) in-process on 127.0.0.1:0, configured from
//! TOML text exactly as an operator's file would be, with a throw-away data directory.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::supervisor::GatewayHandle;
use authmcp_gateway::app::{self, Control, Lifecycle, Phase, RunContext};
use authmcp_gateway::config::{self, GatewayConfig, Sources};
use tokio::sync::{mpsc, watch};

pub struct TestGateway {
    pub base_url: String,
    pub config: GatewayConfig,
    pub config_path: PathBuf,
    /// The running supervisor tree, for waiting on backend status changes.
    pub gateway: Option<GatewayHandle>,
    /// The policy service, for granting test users access (see `users::create_mcp_user`).
    pub policies: Option<std::sync::Arc<actors::auth::policy::PolicyService>>,
    /// The application state the gateway handed over when ready (its services, for tests that
    /// call them directly).
    pub state: Option<web::AppState>,
    control: mpsc::Sender<Control>,
    lifecycle: watch::Receiver<Lifecycle>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Keeps the temporary directory alive as long as the gateway.
    _dir: tempfile::TempDir,
}

/// Settings every test gateway shares: cheap bcrypt, no stray env, quiet logs.
fn base_toml(public_url: &str, data_dir: &Path) -> String {
    format!(
        "data_dir = {data_dir:?}\n[server]\npublic_url = {public_url:?}\ndrain_timeout_ms = 2000\nworkers = 1\n[auth]\nbcrypt_cost = 4\n",
    )
}

/// Builds a config from `extra` TOML (sections other than the base ones, e.g. `[[backends]]`).
pub fn write_config(path: &Path, public_url: &str, data_dir: &Path, extra: &str) {
    std::fs::write(
        path,
        format!("{}\n{extra}", base_toml(public_url, data_dir)),
    )
    .unwrap();
}

pub fn load_config(path: &Path) -> GatewayConfig {
    let sources = Sources {
        config_file: Some(path.to_path_buf()),
        ..Sources::default()
    };
    match config::load_with_env(&sources, &HashMap::new()) {
        Ok(cfg) => cfg,
        Err(report) => panic!("test config is invalid:\n{report}"),
    }
}

impl TestGateway {
    /// Starts a gateway whose config file is the base settings plus `extra`, and waits until ready.
    pub async fn start(extra: &str) -> TestGateway {
        Self::start_with(extra, |_| {}).await
    }

    pub async fn start_with(extra: &str, tweak: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let data_dir = dir.path().join("data");
        authmcp_gateway::first_start::ensure_data_dir(&data_dir).unwrap();
        let config_path = dir.path().join("gateway.toml");
        write_config(&config_path, &base_url, &data_dir, extra);
        let mut config = load_config(&config_path);
        tweak(&mut config);
        Self::launch(dir, listener, base_url, config_path, config).await
    }

    /// Stops the gateway and starts it again on the same address, data directory and
    /// configuration (earlier tweaks included), with `tweak` applied: an operator's restart (e.g. after rotating signing keys).
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
        self.control.send(Control::Shutdown).await.unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
        let address = self.base_url.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind(&address).expect("the old port is free again");
        listener.set_nonblocking(true).unwrap();
        let mut config = self.config.clone();
        tweak(&mut config);
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let (base_url, config_path) = (self.base_url.clone(), self.config_path.clone());
        Self::launch(dir, listener, base_url, config_path, config).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        listener: TcpListener,
        base_url: String,
        config_path: PathBuf,
        config: GatewayConfig,
    ) -> TestGateway {
        let (control, control_rx) = mpsc::channel(8);
        let (lifecycle_tx, lifecycle) = watch::channel(Lifecycle::default());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let ctx = RunContext {
            sources: Some(Sources {
                config_file: Some(config_path.clone()),
                ..Sources::default()
            }),
            listener,
            control: control_rx,
            lifecycle: lifecycle_tx,
            notifier: None,
            log: crate::fixture::test_logger(),
            on_ready: Some(ready_tx),
            log_level: None,
        };
        let task = tokio::spawn(app::run(config.clone(), ctx));
        let mut gateway = TestGateway {
            base_url,
            config,
            config_path,
            gateway: None,
            policies: None,
            state: None,
            control,
            lifecycle,
            task: Some(task),
            _dir: dir,
        };
        gateway.wait_phase(Phase::Ready).await;
        let state = ready_rx
            .await
            .expect("the gateway hands over its state when ready");
        gateway.gateway = state.gateway.get().cloned();
        gateway.policies = state.policies.get().cloned();
        gateway.state = Some(state);
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Waits until exactly `count` backends are configured and all of them online; returns them.
    pub async fn wait_online(&self, count: usize) -> Vec<actors::backend::BackendStatus> {
        crate::fixture::wait_for(self.handle(), "backends online", |s| {
            s.len() == count
                && s.iter()
                    .all(|b| b.state == actors::backend::BackendState::Online)
        })
        .await
    }

    /// Waits until the session is busy: the gateway is forwarding one of its requests.
    pub async fn wait_busy(&self, session_id: &str, user_id: i64) {
        let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
        while !self
            .handle()
            .sessions()
            .get(session_id, user_id)
            .map(|s| s.is_busy())
            .unwrap_or(false)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the call never started"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn handle(&self) -> &GatewayHandle {
        self.gateway.as_ref().expect("the gateway is running")
    }

    async fn wait_phase(&mut self, phase: Phase) -> Lifecycle {
        let found = tokio::time::timeout(
            Duration::from_secs(30),
            self.lifecycle.wait_for(|l| l.phase == phase),
        )
        .await
        .unwrap_or_else(|_| panic!("gateway never reached {phase:?}"));
        match found {
            Ok(l) => *l,
            Err(_) => {
                let task = self.task.take().unwrap();
                panic!("gateway exited before {phase:?}: {:?}", task.await);
            }
        }
    }

    /// Rewrites the config file with `extra`, sends a reload and waits for its outcome.
    pub async fn reload_with(&mut self, extra: &str) -> Lifecycle {
        write_config(
            &self.config_path,
            &self.base_url,
            &self.config.data_dir,
            extra,
        );
        self.reload().await
    }

    pub async fn reload(&mut self) -> Lifecycle {
        let before = *self.lifecycle.borrow();
        self.control.send(Control::Reload).await.unwrap();
        let done = before.reloads_applied + before.reloads_failed + 1;
        let after = tokio::time::timeout(
            Duration::from_secs(30),
            self.lifecycle.wait_for(|l| {
                l.phase == Phase::Ready && l.reloads_applied + l.reloads_failed == done
            }),
        )
        .await
        .expect("reload never finished")
        .expect("gateway exited during reload");
        *after
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.control.send(Control::Shutdown).await.unwrap();
        self.task.take().unwrap().await.unwrap()
    }
}
