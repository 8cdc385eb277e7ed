//! Resource-server mode: access tokens from configured external issuers (an OpenID Connect
//! provider such as Keycloak, Entra ID, Okta — or another authmcp-gateway).
//!
//! [`ExternalIdentities::check`] sits in front of [`Identity::authenticate`]: a JWT whose
//! (unverified) `iss` names a configured issuer is verified here, anything else goes on to the
//! gateway's own checks. Verification is CPU-only and reads snapshots: the issuer's keys
//! (kept fresh by `fetch`), the local user index and directory, the policy snapshot. An unknown
//! `kid` fails at once (401) and asks the fetch task for a refetch.
//!
//! Two things need the database, and both happen once per change rather than per request — the
//! "login" of an external user: creating the local account (`auto_provision`) and bringing the
//! user's memberships in the mapped local groups in line with the token's groups. `check`
//! answers [`Verdict::Pending`] for those and the caller awaits [`ExternalIdentities::complete`];
//! every later request with the same identity and groups is [`Verdict::Ready`] straight away.
//!
//! | file | what |
//! |---|---|
//! | `spec.rs` | the configured issuer and its field checks |
//! | `jwks.rs` | an issuer's key set and key lookup |
//! | `fetch.rs` | the fetch thread: discovery, refresh, unknown-kid refetch with a cooldown |
//! | `claims.rs` | claims → username, email, role, groups, scopes |
//! | `directory.rs` | username/email → local user index |

mod claims;
mod directory;
mod fetch;
mod jwks;
mod spec;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};
use tokio::sync::watch;

pub use claims::MappedClaims;
pub use spec::{
    ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, IssuerSpec, check_claim_name, check_issuer_url,
    parse_algorithm,
};

use self::directory::UserIndex;
use self::fetch::{Fetcher, IssuerState};
use self::jwks::KeyLookup;
use super::identity::{AuthError, CredentialKind, Identity, Principal};
use super::policy::PolicyService;
use super::snapshot::Polled;
use super::tokens::TokenError;
use crate::storage::users::{self, Role};
use crate::storage::{Database, StorageError};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_S: u64 = 30;
/// How long start-up waits for every issuer's first key fetch.
pub const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);

/// The outcome of [`ExternalIdentities::check`] for an external token that verified.
pub enum Verdict {
    Ready(Principal),
    /// The database must change first (a new account, changed group memberships).
    Pending(Box<ExternalLogin>),
}

/// A verified external token whose user must be provisioned or whose groups must be synced.
pub struct ExternalLogin {
    issuer: Arc<IssuerState>,
    mapped: MappedClaims,
    /// The local user, when one matched.
    user_id: Option<i64>,
    audience: Option<String>,
}

pub struct ExternalIdentities {
    db: Database,
    identity: Arc<Identity>,
    policies: Arc<PolicyService>,
    /// `<public_url>/mcp`: the default audience and the prefix of every resource.
    mcp_resource: String,
    issuers: ArcSwap<HashMap<String, Arc<IssuerState>>>,
    fetcher: Fetcher,
    users: Polled<UserIndex>,
    /// Provisioning and group syncs run one at a time: rare, and the second of two identical
    /// ones then finds nothing left to do.
    logins: tokio::sync::Mutex<()>,
    log: slog::Logger,
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::Token(TokenError::Invalid(reason.into()))
}

impl ExternalIdentities {
    /// Starts one fetch task per issuer (and the fetch thread with the first); does not wait for the keys (see
    /// [`ExternalIdentities::wait_for_keys`]).
    pub async fn new(
        db: Database,
        identity: Arc<Identity>,
        policies: Arc<PolicyService>,
        public_url: &str,
        specs: Vec<IssuerSpec>,
        log: slog::Logger,
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<ExternalIdentities>, AuthError> {
        let fetcher = Fetcher::new(log.clone(), stop);
        let service = Arc::new(ExternalIdentities {
            db,
            identity,
            policies,
            mcp_resource: format!("{}/mcp", public_url.trim_end_matches('/')),
            issuers: ArcSwap::from_pointee(HashMap::new()),
            fetcher,
            users: Polled::new(UserIndex::default()),
            logins: tokio::sync::Mutex::new(()),
            log,
        });
        service.refresh_users(true).await?;
        service.reload(specs);
        Ok(service)
    }

    /// The configured issuers, in no particular order.
    pub fn issuers(&self) -> Vec<String> {
        self.issuers.load().keys().cloned().collect()
    }

    /// Applies a new issuer list (SIGHUP): unchanged issuers keep their keys and fetch task;
    /// changed or removed ones are retired; new ones start fetching.
    pub fn reload(&self, specs: Vec<IssuerSpec>) {
        let current = self.issuers.load_full();
        let mut next = HashMap::new();
        for spec in specs {
            let state = match current.get(&spec.issuer) {
                Some(state) if *state.spec == spec => state.clone(),
                _ => {
                    let state = IssuerState::new(spec);
                    if let Err(error) = self.fetcher.watch(state.clone()) {
                        // Tokens of this issuer are refused (no keys) until a restart.
                        slog::error!(self.log, "Cannot start the key fetch thread.";
                            "issuer" => &state.spec.issuer, "error" => %error);
                    }
                    state
                }
            };
            next.insert(state.spec.issuer.clone(), state);
        }
        for (name, state) in current.iter() {
            if !next.get(name).is_some_and(|s| Arc::ptr_eq(s, state)) {
                state.retire();
            }
        }
        self.issuers.store(Arc::new(next));
    }

    /// Waits until every issuer's first key fetch finished (successfully or not), at most
    /// `timeout`: so tokens work as soon as the gateway reports ready.
    pub async fn wait_for_keys(&self, timeout: Duration) {
        let issuers = self.issuers.load_full();
        let waits = issuers.values().map(|s| s.first_attempt(timeout));
        futures_util::future::join_all(waits).await;
    }

    /// `None` when `bearer` is not a JWT from a configured external issuer (the gateway's own
    /// checks decide then); otherwise the verdict on it. No I/O, no await.
    pub fn check(&self, bearer: &str) -> Option<Result<Verdict, AuthError>> {
        let issuers = self.issuers.load();
        if issuers.is_empty() {
            return None;
        }
        let issuer = issuers.get(&unverified_issuer(bearer)?)?.clone();
        Some(self.verify(&issuer, bearer))
    }

    fn verify(&self, issuer: &Arc<IssuerState>, bearer: &str) -> Result<Verdict, AuthError> {
        let spec = &issuer.spec;
        let header = decode_header(bearer).map_err(|_| invalid("malformed token"))?;
        // The issuer's configured algorithms decide, never the token (no none, no HS*).
        if !spec.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not accepted"));
        }
        let keys = issuer.keys();
        let key = match keys.find(header.kid.as_deref(), header.alg) {
            Ok(key) => key,
            Err(KeyLookup::Unknown) => {
                issuer.request_refresh();
                return Err(invalid(
                    "unknown key id (the issuer's keys are being refetched)",
                ));
            }
            Err(KeyLookup::WrongAlgorithm) => return Err(invalid("algorithm not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[spec.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Map<String, Value>>(bearer, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    AuthError::Token(TokenError::Expired)
                }
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => invalid("not valid yet"),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid("bad signature"),
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(c) => {
                    invalid(format!("missing claim `{c}`"))
                }
                _ => invalid("malformed token"),
            })?
            .claims;
        let audience = self.bound_audience(spec, &claims::audiences(&claims))?;
        let mapped = claims::map(spec, &claims).map_err(invalid)?;
        let user_id = self
            .users
            .load()
            .find(&mapped.username, mapped.email.as_deref());
        let login = ExternalLogin {
            issuer: issuer.clone(),
            mapped,
            user_id,
            audience,
        };
        let Some(id) = user_id else {
            if spec.auto_provision {
                return Ok(Verdict::Pending(Box::new(login)));
            }
            return Err(invalid(
                "no local user matches the token's user (ask an administrator to create it, or \
                 enable auto_provision for this issuer)",
            ));
        };
        let principal = self.principal(&login, id)?;
        if self.groups_differ(&login, id) {
            return Ok(Verdict::Pending(Box::new(login)));
        }
        Ok(Verdict::Ready(principal))
    }

    /// Creates the account and/or syncs the groups, then answers like [`Verdict::Ready`].
    pub async fn complete(&self, login: Box<ExternalLogin>) -> Result<Principal, AuthError> {
        let _one_at_a_time = self.logins.lock().await;
        let id = match login.user_id {
            Some(id) => id,
            None => self.provision(&login).await?,
        };
        if self.groups_differ(&login, id)
            && let Some(wanted) = login.mapped.groups.clone()
        {
            let managed = managed_groups(&login.issuer.spec);
            self.policies
                .sync_external_memberships(id, managed, wanted)
                .await
                .map_err(|e| {
                    AuthError::Storage(StorageError::Corrupt(format!("group sync: {e}")))
                })?;
        }
        self.principal(&login, id)
    }

    async fn provision(&self, login: &ExternalLogin) -> Result<i64, AuthError> {
        let mapped = &login.mapped;
        // Another request may have provisioned the same user while this one waited its turn.
        self.refresh_users(false).await?;
        if let Some(id) = self
            .users
            .load()
            .find(&mapped.username, mapped.email.as_deref())
        {
            return Ok(id);
        }
        let role = mapped.role.unwrap_or(Role::User);
        let user = self
            .identity
            .provision_external_user(&mapped.username, mapped.email.as_deref(), role)
            .await?;
        slog::info!(self.log, "Local user created for an external issuer's user.";
            "issuer" => &login.issuer.spec.issuer, "user" => &user.username, "role" => role.as_str());
        self.refresh_users(true).await?;
        Ok(user.id)
    }

    /// The principal for local user `id`: the directory decides whether they may come in
    /// (a disabled local user is refused), the token decides the role when the issuer maps one.
    fn principal(&self, login: &ExternalLogin, id: i64) -> Result<Principal, AuthError> {
        let status = self.identity.user_status(id)?;
        let username = self
            .users
            .load()
            .username(id)
            .unwrap_or(&login.mapped.username)
            .to_string();
        Ok(Principal {
            user_id: id,
            username,
            role: login.mapped.role.unwrap_or(status.role),
            client_id: login.mapped.client_id.clone(),
            scopes: login.mapped.scopes.clone(),
            sid: None,
            credential: CredentialKind::External,
            audience: login.audience.clone(),
        })
    }

    /// Whether the user's memberships among the mapped local groups differ from the token's.
    fn groups_differ(&self, login: &ExternalLogin, id: i64) -> bool {
        let Some(wanted) = &login.mapped.groups else {
            return false;
        };
        let spec = &login.issuer.spec;
        let snapshot = self.policies.snapshot();
        let mut current: Vec<&String> = snapshot
            .groups_of(id)
            .iter()
            .filter(|g| spec.group_mapping.values().any(|local| local == *g))
            .collect();
        current.sort_unstable();
        current.dedup();
        !current.iter().copied().eq(wanted.iter())
    }

    /// The resource the token is bound to. With the default audiences, a token must name one
    /// of this gateway's resources (`<p>/mcp`, `<p>/mcp/<server>`) and is bound to it — `<p>/mcp`
    /// preferred when it names several. A configured audience that is not one of those
    /// resources means "this whole gateway": `None`.
    fn bound_audience(
        &self,
        spec: &IssuerSpec,
        token_audiences: &[String],
    ) -> Result<Option<String>, AuthError> {
        let accepted: Vec<&String> = token_audiences
            .iter()
            .filter(|aud| match &spec.audiences {
                Some(list) => list.contains(aud),
                None => self.is_resource(aud),
            })
            .collect();
        if accepted.is_empty() {
            return Err(invalid("wrong audience"));
        }
        if accepted.iter().any(|a| !self.is_resource(a)) {
            return Ok(None);
        }
        let preferred = accepted
            .iter()
            .find(|a| **a == &self.mcp_resource)
            .unwrap_or(&accepted[0]);
        Ok(Some((*preferred).clone()))
    }

    /// `<p>/mcp` or `<p>/mcp/<server>` (one path segment).
    fn is_resource(&self, uri: &str) -> bool {
        match uri.strip_prefix(self.mcp_resource.as_str()) {
            Some("") => true,
            Some(rest) => rest.strip_prefix('/').is_some_and(|server| {
                !server.is_empty()
                    && !server.contains(['/', '?', '#'])
                    && server.chars().all(|c| c.is_ascii_graphic())
            }),
            None => false,
        }
    }

    async fn refresh_users(&self, force: bool) -> Result<bool, AuthError> {
        Ok(self
            .users
            .refresh(&self.db, users::revision, UserIndex::load, force)
            .await?)
    }

    /// Follows the users table (another process's changes) until `stop` turns true.
    pub async fn run_refresher(self: Arc<Self>, every: Duration, stop: watch::Receiver<bool>) {
        let log = self.log.clone();
        crate::storage::refresher::poll_revision("external users", every, log, stop, || {
            self.refresh_users(false)
        })
        .await
    }
}

/// Every local group the issuer's mapping names: memberships in these follow the token.
fn managed_groups(spec: &IssuerSpec) -> Vec<String> {
    let mut groups: Vec<String> = spec.group_mapping.values().cloned().collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// The `iss` of a JWT, read without verifying anything: only to pick the issuer whose keys
/// will verify it. Anything that is not a three-part JWT with a string `iss` gives `None`.
fn unverified_issuer(bearer: &str) -> Option<String> {
    use base64::Engine as _;
    let mut parts = bearer.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    // Tokens are small; a huge payload is not worth decoding just to pick a key set.
    if payload.len() > 64 * 1024 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}
