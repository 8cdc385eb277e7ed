//! Keeping each external issuer's keys fresh, off the request path.
//!
//! One thread (`jwks-fetch`) runs an actix runtime (awc is `!Send`) with one task per issuer.
//! A task fetches the keys (discovering `jwks_uri` first when it is not configured), publishes
//! them into the issuer's `ArcSwap`, and sleeps until the refresh interval passes or the request
//! path asks for a refetch because a token named an unknown `kid` — the issuer may have rotated.
//! Such requests are coalesced (a `Notify` holds one permit) and rate-limited: two fetches are
//! always at least `jwks_cooldown` apart, so a flood of bogus kids costs the issuer one request
//! per cooldown. A failed fetch keeps the last good keys and retries with backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::jwks::KeySet;
use super::spec::IssuerSpec;

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Each fetch (connect, answer, body) is bounded by this.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// First retry after a failed fetch; doubles up to the refresh interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// One configured issuer: its settings and the keys the request path verifies with.
pub struct IssuerState {
    pub spec: Arc<IssuerSpec>,
    keys: ArcSwap<KeySet>,
    wake: Notify,
    retired: AtomicBool,
    /// Fetch attempts finished (successful or not); start-up waits for the first.
    attempts: watch::Sender<u64>,
}

impl IssuerState {
    pub fn new(spec: IssuerSpec) -> Arc<IssuerState> {
        Arc::new(IssuerState {
            spec: Arc::new(spec),
            keys: ArcSwap::from_pointee(KeySet::default()),
            wake: Notify::new(),
            retired: AtomicBool::new(false),
            attempts: watch::Sender::new(0),
        })
    }

    pub fn keys(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.keys.load()
    }

    /// Asks for a refetch (never waits; coalesced and rate-limited by the fetch task).
    pub fn request_refresh(&self) {
        self.wake.notify_one();
    }

    /// Ends the fetch task (the issuer was removed or changed by a reload).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Waits until at least one fetch finished (or `timeout` passed).
    pub async fn first_attempt(&self, timeout: Duration) {
        let mut attempts = self.attempts.subscribe();
        let _ = tokio::time::timeout(timeout, attempts.wait_for(|n| *n > 0)).await;
    }
}

/// Hands issuers to the fetch thread; the thread ends when `stop` turns true. The thread starts
/// with the first issuer: a gateway without external issuers runs none (one thread and one
/// runtime less in an idle gateway).
pub struct Fetcher {
    log: slog::Logger,
    stop: watch::Receiver<bool>,
    tasks: Mutex<Option<mpsc::UnboundedSender<Arc<IssuerState>>>>,
}

impl Fetcher {
    pub fn new(log: slog::Logger, stop: watch::Receiver<bool>) -> Fetcher {
        Fetcher {
            log,
            stop,
            tasks: Mutex::new(None),
        }
    }

    /// Whether the fetch thread has been started.
    #[cfg(test)]
    pub fn started(&self) -> bool {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Starts fetching `issuer`'s keys, starting the thread first if this is the first issuer.
    pub fn watch(&self, issuer: Arc<IssuerState>) -> std::io::Result<()> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let sender = match &*tasks {
            Some(sender) => sender,
            None => tasks.insert(self.spawn_thread()?),
        };
        // The thread only goes away at shutdown; then there is nothing left to fetch for.
        let _ = sender.send(issuer);
        Ok(())
    }

    fn spawn_thread(&self) -> std::io::Result<mpsc::UnboundedSender<Arc<IssuerState>>> {
        let (tasks, mut incoming) = mpsc::unbounded_channel::<Arc<IssuerState>>();
        let (log, stop) = (self.log.clone(), self.stop.clone());
        std::thread::Builder::new()
            .name("jwks-fetch".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                let mut stopped = stop.clone();
                system.block_on(async move {
                    loop {
                        tokio::select! {
                            issuer = incoming.recv() => match issuer {
                                Some(issuer) => {
                                    actix_rt::spawn(run(issuer, log.clone(), stop.clone()));
                                }
                                None => return,
                            },
                            _ = stopped.wait_for(|s| *s) => return,
                        }
                    }
                });
            })?;
        Ok(tasks)
    }
}

async fn run(issuer: Arc<IssuerState>, log: slog::Logger, mut stop: watch::Receiver<bool>) {
    let log = log.new(slog::o!("issuer" => issuer.spec.issuer.clone()));
    let client = awc::Client::builder()
        .timeout(FETCH_TIMEOUT)
        // A redirect could lead the fetch anywhere; issuers publish their real URLs.
        .disable_redirects()
        .add_default_header((
            "User-Agent",
            concat!("authmcp-gateway/", env!("CARGO_PKG_VERSION")),
        ))
        .finish();
    let mut discovered: Option<String> = None;
    let mut retry = FIRST_RETRY;
    loop {
        if issuer.retired.load(Ordering::Acquire) || *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let wait = match fetch(&client, &issuer.spec, &mut discovered).await {
            Ok(keys) => {
                slog::info!(log, "External issuer keys fetched."; "keys" => keys.count());
                issuer.keys.store(Arc::new(keys));
                retry = FIRST_RETRY;
                issuer.spec.jwks_refresh
            }
            Err(error) => {
                // The last good keys stay in use; a rediscovery may find moved keys.
                discovered = None;
                slog::warn!(log, "Cannot fetch the external issuer's keys; keeping the last good ones.";
                    "error" => %error, "retry_in_ms" => retry.as_millis() as u64);
                let wait = retry;
                retry = (retry * 2).min(issuer.spec.jwks_refresh);
                wait
            }
        };
        issuer.attempts.send_modify(|n| *n += 1);
        let woken = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = issuer.wake.notified() => true,
            _ = stop.wait_for(|s| *s) => return,
        };
        if woken {
            // Rate limit: the next fetch no sooner than a cooldown after the last one began.
            tokio::select! {
                _ = tokio::time::sleep_until(started + issuer.spec.jwks_cooldown) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn fetch(
    client: &awc::Client,
    spec: &IssuerSpec,
    discovered: &mut Option<String>,
) -> Result<KeySet, String> {
    let uri = match (&spec.jwks_uri, discovered.as_ref()) {
        (Some(uri), _) | (None, Some(uri)) => uri.clone(),
        (None, None) => {
            let uri = discover(client, &spec.issuer).await?;
            *discovered = Some(uri.clone());
            uri
        }
    };
    let body = get(client, &uri).await?;
    KeySet::parse(&body).map_err(|e| format!("{uri}: {e}"))
}

/// OpenID Connect discovery, then RFC 8414; the document must name the same issuer.
async fn discover(client: &awc::Client, issuer: &str) -> Result<String, String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut candidates = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Ok(url) = url::Url::parse(issuer) {
        let path = url.path().trim_end_matches('/');
        candidates.push(format!(
            "{}/.well-known/oauth-authorization-server{path}",
            url.origin().ascii_serialization()
        ));
    }
    let mut problems = Vec::new();
    for candidate in candidates {
        match get(client, &candidate).await.and_then(|body| {
            let doc: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("{candidate}: not JSON ({e})"))?;
            if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
                return Err(format!("{candidate}: names another issuer"));
            }
            let jwks = doc
                .get("jwks_uri")
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("{candidate}: no jwks_uri"))?;
            super::spec::check_issuer_url(jwks).map_err(|e| format!("{candidate}: jwks_uri {e}"))
        }) {
            Ok(uri) => return Ok(uri),
            Err(problem) => problems.push(problem),
        }
    }
    Err(format!("discovery failed: {}", problems.join("; ")))
}

async fn get(client: &awc::Client, uri: &str) -> Result<bytes::Bytes, String> {
    let mut response = client
        .get(uri)
        .insert_header(("Accept", "application/json"))
        .send()
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{uri}: HTTP {}", response.status().as_u16()));
    }
    response
        .body()
        .limit(MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| format!("{uri}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> IssuerSpec {
        // Nothing listens there: the fetch task fails fast and retries, which is all this test
        // needs of it.
        IssuerSpec::for_tests("http://127.0.0.1:9")
    }

    #[test]
    fn the_fetch_thread_starts_with_the_first_issuer_only() {
        let (stop_tx, stop) = watch::channel(false);
        let fetcher = Fetcher::new(slog::Logger::root(slog::Discard, slog::o!()), stop);
        assert!(!fetcher.started(), "no issuer, no thread");
        let first = IssuerState::new(spec());
        fetcher.watch(first.clone()).unwrap();
        assert!(fetcher.started());
        fetcher.watch(IssuerState::new(spec())).unwrap();
        // The thread runs the task: its first attempt is counted (failed: nothing listens).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut attempts = first.attempts.subscribe();
            tokio::time::timeout(Duration::from_secs(30), attempts.wait_for(|n| *n > 0))
                .await
                .expect("the fetch thread ran the issuer's task")
                .unwrap();
        });
        stop_tx.send(true).unwrap();
    }
}
