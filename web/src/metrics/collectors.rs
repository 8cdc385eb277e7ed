//! Numbers read at scrape time: the `collectors` hook ([`FnCollector`]) and the gateway's own
//! collector (sessions, open streams, backend health, OAuth backends' token refreshes, the
//! rate limiter).

use std::sync::{Arc, OnceLock};

use actors::backend::BackendState;
use actors::ratelimit::RateLimiter;
use actors::supervisor::GatewayHandle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::mcp::McpState;

/// Writes a scrape's numbers; what a [`FnCollector`]'s closure is given.
pub struct Out<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl Out<'_> {
    /// One unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(value);
        let metric = self
            .encoder
            .encode_descriptor(name, help, None, gauge.metric_type())?;
        gauge.encode(metric)
    }

    /// One unlabelled counter (`_total` is appended to `name` in the exposition).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(value);
        let metric = self
            .encoder
            .encode_descriptor(name, help, None, counter.metric_type())?;
        counter.encode(metric)
    }

    /// A gauge with one series per label set.
    pub fn gauges<'l>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Vec<(&'l str, &'l str)>, i64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = self.encoder.encode_descriptor(
            name,
            help,
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, value) in series {
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A counter with one series per label set.
    pub fn counters<'l>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Vec<(&'l str, &'l str)>, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = self.encoder.encode_descriptor(
            name,
            help,
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (labels, value) in series {
            ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

type ReadFn = dyn Fn(&mut Out<'_>) -> Result<(), std::fmt::Error> + Send + Sync;

/// A collector made of a closure that writes its numbers into [`Out`] at every scrape.
pub struct FnCollector {
    read: Box<ReadFn>,
}

impl FnCollector {
    pub fn new(
        read: impl Fn(&mut Out<'_>) -> Result<(), std::fmt::Error> + Send + Sync + 'static,
    ) -> Self {
        FnCollector {
            read: Box::new(read),
        }
    }
}

impl std::fmt::Debug for FnCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnCollector")
    }
}

impl Collector for FnCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        (self.read)(&mut Out { encoder })
    }
}

const STATES: [BackendState; 4] = [
    BackendState::Starting,
    BackendState::Online,
    BackendState::Degraded,
    BackendState::Offline,
];

/// The gateway's own scrape-time numbers. Sessions and streams are counted by walking the
/// session store (O(sessions), only when scraped); backend health is the status board's copy.
pub(crate) struct GatewayCollector {
    pub mcp: Arc<McpState>,
    pub gateway: Arc<OnceLock<GatewayHandle>>,
    pub rate_limiter: Arc<RateLimiter>,
}

impl GatewayCollector {
    pub fn into_collector(self) -> FnCollector {
        FnCollector::new(move |out| self.write(out))
    }

    fn write(&self, out: &mut Out<'_>) -> Result<(), std::fmt::Error> {
        let sessions = self.mcp.sessions.all();
        let get_streams = sessions.iter().filter(|s| s.outbox.has_listener()).count();
        let answer_streams: usize = sessions.iter().map(|s| s.post_streams.listened()).sum();
        out.gauge(
            "authmcp_mcp_sessions_active",
            "Client MCP sessions open now",
            sessions.len() as i64,
        )?;
        out.gauges(
            "authmcp_mcp_streams_open",
            "Event streams open to clients now: `get` (a session's GET stream) or `answer` (a POST answered with text/event-stream)",
            [
                (vec![("kind", "get")], get_streams as i64),
                (vec![("kind", "answer")], answer_streams as i64),
            ],
        )?;
        let statuses = self
            .gateway
            .get()
            .map(GatewayHandle::statuses)
            .unwrap_or_default();
        let names: Vec<String> = statuses.iter().map(|s| s.state.to_string()).collect();
        let labels: Vec<Vec<String>> = STATES.iter().map(|s| vec![s.to_string()]).collect();
        out.gauges(
            "authmcp_backend_state",
            "1 for each backend's current health state, 0 for its other states",
            statuses.iter().zip(&names).flat_map(|(status, current)| {
                labels.iter().map(move |state| {
                    (
                        vec![
                            ("backend", status.name.as_str()),
                            ("state", state[0].as_str()),
                        ],
                        i64::from(state[0] == *current),
                    )
                })
            }),
        )?;
        self.write_token_refreshes(out)?;
        let stats = self.rate_limiter.stats();
        out.counters(
            "authmcp_rate_limited",
            "Requests refused by a rate limit, by limit: login, register, token (per client IP), user, tool, backend (/mcp)",
            stats
                .rejected_by_kind
                .iter()
                .map(|(kind, count)| (vec![("limit", *kind)], *count)),
        )
    }

    /// Token refresh outcomes of every running OAuth backend (the counters of the backend's
    /// current incarnation: a restart starts them at zero, which Prometheus reads as a reset).
    fn write_token_refreshes(&self, out: &mut Out<'_>) -> Result<(), std::fmt::Error> {
        let stats = self
            .gateway
            .get()
            .map(GatewayHandle::credential_stats)
            .unwrap_or_default();
        out.counters(
            "authmcp_backend_token_refreshes",
            "Token attempts of OAuth backends, by outcome: ok, failed (retried with backoff), rejected (the backend answered 401, a new token was fetched and the request sent again)",
            stats.iter().flat_map(|(backend, s)| {
                [
                    ("ok", s.refresh_ok),
                    ("failed", s.refresh_failed),
                    ("rejected", s.rejected),
                ]
                .map(|(outcome, count)| {
                    (vec![("backend", backend.as_str()), ("outcome", outcome)], count)
                })
            }),
        )
    }
}
