//! Prometheus metrics: the registry the app owns, what the request path records, and the
//! `GET /metrics` exposition (OpenMetrics text, `prometheus-client`).
//!
//! Two kinds of numbers, kept apart on purpose:
//! - **Recorded** on the `/mcp` path (`request.rs`): a counter and two histograms per request,
//!   atomics and short uncontended locks, no allocation beyond the backend label, no actor.
//! - **Collected** at scrape time (`collectors`): sessions, open streams, backend health, reload
//!   outcomes, limiter rejections, and whatever other parts expose through a `stats()` method.
//!   They cost nothing per request: a scrape reads them where they already live.
//!
//! # The `collectors` hook
//! Any part with plain counters plugs them in at boot, before or after the server starts:
//! ```ignore
//! // e.g. the audit actor's handle exposing `stats() -> AuditStats { queued, dropped, .. }`:
//! let audit = audit_handle.clone();
//! state.metrics.add_collector(FnCollector::new(move |out| {
//!     let stats = audit.stats();
//!     out.gauge("authmcp_audit_queue_depth", "Audit records waiting to be written", stats.queued)?;
//!     out.counter("authmcp_audit_dropped", "Audit records dropped by the overflow policy", stats.dropped)
//! }));
//! ```
//! A collector is any `prometheus_client::collector::Collector`; [`FnCollector`] covers the
//! usual case of a few unlabelled or labelled numbers read from a closure.

mod collectors;
mod request;
mod route;

use std::sync::{Arc, Mutex, OnceLock};

use actors::auth::clients::ConfiguredSecret;
use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use collectors::{FnCollector, Out};
pub use request::{
    BackendExchange, Recorder, backend_wait, measure, note_backend, note_route, outcome,
    response_outcome,
};
pub use route::{Scraper, configure};

use collectors::GatewayCollector;
use request::{BackendLabels, METHODS, MethodLabels, RequestLabels};

/// Reloadable settings of `/metrics` (`[metrics]`).
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// `metrics.enabled`: when false `/metrics` answers 404.
    pub enabled: bool,
    /// `metrics.scrape_token[_file]`, kept only as its SHA-256 (compared in constant time).
    pub scrape_token: Option<ConfiguredSecret>,
}

/// Latency buckets from 25 µs doubling to ~13 s: the gateway's own overhead sits at the low end,
/// slow tools at the high end.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(25e-6, 2.0, 20)
}

/// The app's metrics: the registry (locked only while scraping or registering) and the handles
/// the request path records into (cloned out of the registry at construction).
pub struct Metrics {
    registry: Mutex<Registry>,
    settings: ArcSwap<MetricsSettings>,
    requests: Family<RequestLabels, Counter>,
    backend_seconds: Family<BackendLabels, Histogram>,
    gateway_family: Family<MethodLabels, Histogram>,
    /// Each method label's histogram (index = position in `METHODS`), resolved on its first
    /// use: recording the gateway's own time is then an index, not a map lookup, and methods
    /// never called add no empty series to the exposition.
    gateway_seconds: Vec<OnceLock<Histogram>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(MetricsSettings {
            enabled: true,
            scrape_token: None,
        })
    }
}

impl Metrics {
    pub fn new(settings: MetricsSettings) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "authmcp_mcp_requests",
            "MCP requests answered, by JSON-RPC method, backend (empty: answered by the gateway) and outcome",
            requests.clone(),
        );
        let gateway_family = Family::<MethodLabels, Histogram>::new_with_constructor(
            new_latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "authmcp_mcp_gateway_seconds",
            "Time the gateway itself added to an MCP request (its whole handling minus the wait for the backend), by method",
            gateway_family.clone(),
        );
        let gateway_seconds = METHODS.iter().map(|_| OnceLock::new()).collect();
        let backend_seconds = Family::<BackendLabels, Histogram>::new_with_constructor(
            new_latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "authmcp_mcp_backend_seconds",
            "Time spent waiting for a backend's answer to a forwarded MCP request (a streamed answer: until its response), by backend",
            backend_seconds.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            settings: ArcSwap::from_pointee(settings),
            requests,
            backend_seconds,
            gateway_family,
            gateway_seconds,
        }
    }

    /// The gateway-time histogram of the method label at `index` in `METHODS`.
    fn gateway_histogram(&self, index: usize) -> &Histogram {
        self.gateway_seconds[index].get_or_init(|| {
            self.gateway_family.get_or_create_owned(&MethodLabels {
                method: METHODS[index],
            })
        })
    }

    pub fn settings(&self) -> Arc<MetricsSettings> {
        self.settings.load_full()
    }

    /// Replaces the settings (boot and SIGHUP reload).
    pub fn configure(&self, settings: MetricsSettings) {
        self.settings.store(Arc::new(settings));
    }

    /// Registers numbers read at every scrape (see the module docs for an example).
    pub fn add_collector(&self, collector: impl Collector) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(collector));
    }

    /// The OpenMetrics text exposition of everything registered.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// The gateway's own scrape-time numbers (sessions, streams, backend health, sign-in limiter),
/// read from `state`'s services; boot registers it with [`Metrics::add_collector`].
pub fn gateway_collector(state: &crate::AppState) -> FnCollector {
    GatewayCollector {
        mcp: state.mcp.clone(),
        gateway: state.gateway.clone(),
        rate_limiter: state.oauth.rate_limiter.clone(),
    }
    .into_collector()
}

fn new_latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}
