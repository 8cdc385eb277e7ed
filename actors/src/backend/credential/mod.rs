//! The live credential a backend's requests carry, owned by the backend's supervisor slot and
//! read by every request path from a snapshot (`ArcSwap`): no actor round trip, no lock.
//!
//! Static credentials (`bearer`, `basic`, `header`, custom `headers`) are turned into header
//! values once; the snapshot is what changes when a token is obtained or refreshed. Values are
//! marked sensitive so awc's and our own debug output never show them, and nothing here logs.

mod discovery;
mod oauth;
mod persisted;
mod status;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use awc::http::header::{HeaderName, HeaderValue};
use tokio::sync::{Notify, watch};

pub(crate) use oauth::{TokenLoopTarget, run_token_loop};
pub use persisted::{PersistedTokens, fingerprint as refresh_token_fingerprint};
pub use status::{CredentialStats, CredentialStatsSnapshot, TokenState, TokenStatus};

use crate::spec::{BackendAuth, BackendSpec};

/// Every header a request to the backend carries for its credential (never a client's).
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// The current headers, or why the backend cannot be called with a credential right now (a
/// malformed configured value; a token not obtained yet).
pub type Snapshot = Result<Headers, String>;

/// Cheap to clone; every clone sees the same snapshot.
#[derive(Clone)]
pub struct Credential {
    current: Arc<ArcSwap<Snapshot>>,
    /// OAuth backends only: the token's state, the refresh trigger, and a counter bumped after
    /// every attempt (so a request that saw a 401 can wait for the outcome).
    oauth: Option<Arc<OAuthShared>>,
}

struct OAuthShared {
    status: ArcSwap<TokenStatus>,
    refresh: Notify,
    attempts: watch::Sender<u64>,
    stats: CredentialStats,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(***)")
    }
}

impl Credential {
    /// The spec's static credential and custom headers.
    pub fn from_spec(spec: &BackendSpec) -> Credential {
        let oauth = matches!(spec.auth, Some(BackendAuth::OAuth(_))).then(|| {
            Arc::new(OAuthShared {
                status: ArcSwap::from_pointee(TokenStatus::default()),
                refresh: Notify::new(),
                attempts: watch::Sender::new(0),
                stats: CredentialStats::default(),
            })
        });
        Credential {
            current: Arc::new(ArcSwap::from_pointee(static_headers(spec))),
            oauth,
        }
    }

    /// The token's state (OAuth backends; `None` for static credentials).
    pub fn token_status(&self) -> Option<TokenStatus> {
        let oauth = self.oauth.as_ref()?;
        Some(oauth.status.load().as_ref().clone().observed_now())
    }

    /// Refresh counters, for metrics (zeros for static credentials).
    pub fn stats(&self) -> status::CredentialStatsSnapshot {
        self.oauth
            .as_ref()
            .map(|o| o.stats.snapshot())
            .unwrap_or_default()
    }

    /// Ticks after every token attempt (success or failure), for the console and tests that
    /// wait on the outcome; `None` for static credentials.
    pub fn subscribe_attempts(&self) -> Option<watch::Receiver<u64>> {
        self.oauth.as_ref().map(|o| o.attempts.subscribe())
    }

    /// Asks the token loop for a new token now (on demand); `false` for static credentials.
    pub fn request_refresh(&self) -> bool {
        match &self.oauth {
            Some(oauth) => {
                oauth.refresh.notify_one();
                true
            }
            None => false,
        }
    }

    /// After a 401 from the backend: asks for a new token and waits (at most `bound`) for the
    /// attempt to finish. `true` when a request is worth retrying with the new snapshot.
    pub async fn refresh_after_rejection(&self, bound: Duration) -> bool {
        let Some(oauth) = &self.oauth else {
            return false;
        };
        oauth.stats.record_rejection();
        let mut attempts = oauth.attempts.subscribe();
        attempts.borrow_and_update();
        oauth.refresh.notify_one();
        let finished = tokio::time::timeout(bound, attempts.changed()).await;
        matches!(finished, Ok(Ok(()))) && self.current.load().is_ok()
    }

    /// The headers to send now.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Adds the current headers to `request`; `Err` when the credential is unusable.
    pub fn apply(&self, mut request: awc::ClientRequest) -> Result<awc::ClientRequest, String> {
        let current = self.current.load();
        let headers = current.as_ref().as_ref().map_err(Clone::clone)?;
        for (name, value) in headers {
            request = request.insert_header((name.clone(), value.clone()));
        }
        Ok(request)
    }

    /// Replaces the snapshot (a token obtained or refreshed).
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

/// The spec's static headers: its custom `headers` first, then its auth (which wins on a clash,
/// the validators refusing such a clash anyway).
pub(crate) fn static_headers(spec: &BackendSpec) -> Snapshot {
    let mut headers = Vec::with_capacity(spec.headers.len() + 1);
    for (name, value) in &spec.headers {
        headers.push(header(name, value.expose())?);
    }
    match &spec.auth {
        None => {}
        Some(BackendAuth::Bearer(token)) => {
            headers.push(header(
                "authorization",
                &format!("Bearer {}", token.expose()),
            )?);
        }
        Some(BackendAuth::Header { name, value }) => headers.push(header(name, value.expose())?),
        // Until the token loop has one, requests fail at once with this rather than going out
        // without a credential.
        Some(BackendAuth::OAuth(_)) => {
            return Err("no access token for the backend yet (see its token status)".into());
        }
    }
    Ok(headers)
}

/// One sensitive header; the error names the header, never the value.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("the header name `{name}` is not a valid header name"))?;
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        format!("the value of header `{name}` has characters a header cannot carry")
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BackendTransport, SecretString};

    fn spec(auth: Option<BackendAuth>, headers: &[(&str, &str)]) -> BackendSpec {
        BackendSpec {
            name: "b".into(),
            transport: BackendTransport::StreamableHttp {
                url: url::Url::parse("http://127.0.0.1:1/mcp").unwrap(),
            },
            tool_prefix: "b_".into(),
            enabled: true,
            timeout: std::time::Duration::from_secs(1),
            health_interval: std::time::Duration::from_secs(1),
            auth,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), SecretString::new(*v)))
                .collect(),
            isolation: Default::default(),
            origin: Default::default(),
        }
    }

    #[test]
    fn static_credentials_become_sensitive_headers() {
        let auth = BackendAuth::basic(&SecretString::new("dTpw"));
        let credential = Credential::from_spec(&spec(Some(auth), &[("X-Api-Key", "k1")]));
        let snapshot = credential.load();
        let headers = snapshot.as_ref().as_ref().unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].0, "x-api-key");
        assert_eq!(headers[1].0, "authorization");
        assert_eq!(headers[1].1, "Basic dTpw");
        assert!(headers.iter().all(|(_, v)| v.is_sensitive()));
        assert!(!format!("{credential:?}").contains("dTpw"));
    }

    #[test]
    fn a_value_a_header_cannot_carry_is_an_error_naming_the_header_only() {
        let auth = BackendAuth::Bearer(SecretString::new("bad\nvalue"));
        let error = Credential::from_spec(&spec(Some(auth), &[]))
            .load()
            .as_ref()
            .clone()
            .unwrap_err();
        assert!(error.contains("authorization"), "{error}");
        assert!(!error.contains("bad"), "{error}");
    }
}
